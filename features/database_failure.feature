Feature: Database failure
  The DR plan's "Database Failure" scenario with its "MongoDB Recovery"
  procedure: the database is lost, the application is stopped, MongoDB is
  restored from the latest backup, its integrity verified, and the
  application started again. Writes acknowledged after the backup are lost;
  the drill measures how many, and how far back the restored data reaches.

  @plan:scenario/database-failure @plan:backup/mongodb-backup @plan:recovery/mongodb-recovery
  @plan:testing/test-data-recovery @plan:checklist/data-recovery-checklist
  @drill @database_failure
  Scenario: MongoDB is killed and restored from the latest backup
    Given the Calendar Assistant is running with 3 replicas
    And the prober watches every replica's health and data path
    And writers track users, calendar events and settings through the app
    And 50 users are using the calendar
    When a MongoDB backup is taken
    And the writers keep writing for 2 seconds
    And the MongoDB server is killed
    And the MongoDB recovery procedure runs from the latest backup
    Then every replica answers 5 consecutive probes within the database RTO
    And p95 latency is back under its budget within 30 seconds of recovery
    And the acknowledged writes lost are within each data class's RPO

  @plan:scenario/database-failure @plan:backup/mongodb-backup @plan:recovery/mongodb-recovery
  @drill @database_failure
  Scenario: Scheduled backups keep the data lost within the RPO
    Given the Calendar Assistant is running with 3 replicas
    And the prober watches every replica's health and data path
    And writers track users and calendar events through the app
    And MongoDB is backed up every half of the calendar events RPO
    When the writers keep writing for longer than the calendar events RPO
    And the MongoDB server is killed
    And the MongoDB recovery procedure runs from the latest scheduled backup
    Then every replica answers 5 consecutive probes within the database RTO
    And the acknowledged writes lost are within each data class's RPO

  @plan:scenario/database-failure @plan:recovery/mongodb-recovery
  @drill @database_failure
  Scenario: MongoDB's data files are corrupted on disk and it is restored from the latest backup
    Given the Calendar Assistant is running with 3 replicas
    And the prober watches every replica's health and data path
    And writers track users and calendar events through the app
    When a MongoDB backup is taken
    And the writers keep writing for 2 seconds
    And the MongoDB server is stopped
    And the stopped MongoDB server's data files are flipped
    And the MongoDB recovery procedure runs from the latest backup
    Then every replica answers 5 consecutive probes within the database RTO
    And the acknowledged writes lost are within each data class's RPO

  @plan:scenario/database-failure
  @drill @database_failure
  Scenario: The MongoDB server hangs and the service comes back when it resumes
    Given the Calendar Assistant is running with 3 replicas
    And the prober watches every replica's health and data path
    And writers track users and calendar events through the app
    When the MongoDB server hangs for 3 seconds
    Then every replica answers 5 consecutive probes within the database RTO
    And no acknowledged write is lost
