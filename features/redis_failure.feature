Feature: Redis failure
  The DR plan's "Database Failure" for the cache and session store: Redis is
  killed under load and restarted on its own data, as a pod with its volume
  would be. With an append-only file no acknowledged session is lost; with
  snapshots only, the loss reaches back at most one snapshot interval.

  @plan:scenario/database-failure
  @drill @redis_failure
  Scenario Outline: Redis is killed under load with <persistence> persistence
    Given the Calendar Assistant is running with 3 replicas
    And Redis persists with <persistence>
    And the prober watches every replica's health and data path
    And writers track sessions and calendar events through the app
    When the writers keep writing for 3 seconds
    And the Redis server is killed
    And the Redis server is restarted on its own data after 1 seconds
    Then every replica answers 5 consecutive probes within the database RTO
    And the acknowledged sessions lost reach back at most <bound> seconds

    Examples:
      | persistence | bound |
      | aof         | 0     |
      | snapshot    | 3     |
