Feature: Data corruption
  Documents are corrupted behind the app's back. The plan's integrity check
  must find it; the "Data Recovery Checklist" then restores from the latest
  verified backup and verifies integrity again. Writes acknowledged after the
  backup are lost, and the drill measures how far back that reaches.

  @plan:recovery/mongodb-recovery @plan:testing/test-data-recovery @plan:checklist/data-recovery-checklist
  @drill @data_corruption
  Scenario: Garbled calendar events are found and restored from the latest backup
    Given the Calendar Assistant is running with 3 replicas
    And the prober watches every replica's health and data path
    And writers track users and calendar events through the app
    And 50 users are using the calendar
    When a MongoDB backup is taken
    And the writers keep writing for 2 seconds
    And 20% of the calendar events documents are garbled
    Then verify-data-integrity reports the corruption
    When the MongoDB recovery procedure runs from the latest backup
    Then the data is intact again within the database RTO
    And p95 latency is back under its budget within 30 seconds of recovery
    And the acknowledged writes lost are within each data class's RPO
