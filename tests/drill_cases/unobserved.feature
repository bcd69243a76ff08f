Feature: A fault that does not land
  Used by tests/integration/test_drill_verdicts.py, not part of the drills:
  killing Redis twice, the second kill has nothing to kill.

  @drill
  Scenario: Redis is killed when it is already gone
    Given the Calendar Assistant is running with 3 replicas
    And the prober watches every replica's health and data path
    When the Redis server is killed
    And the Redis server is killed
    Then every replica answers 5 consecutive probes within the database RTO
