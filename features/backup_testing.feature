Feature: Backup testing
  The DR plan's "Testing Procedures": backups are verified, and restored
  somewhere that is not production to prove they restore — MongoDB into a
  scratch database compared document by document, Redis into a scratch server.

  @plan:backup/mongodb-backup @plan:backup/redis-backup @plan:testing/verify-backups @plan:testing/test-restore
  @drill @backup_testing
  Scenario: Every backup verifies and restores into scratch targets
    Given the Calendar Assistant is running with 3 replicas
    And writers track users, calendar events and sessions through the app
    When the writers keep writing for 2 seconds
    And every backup is taken
    Then every backup verifies
    And a test restore into a scratch database matches the backup document for document
    And a test restore of the Redis snapshot loads every key
