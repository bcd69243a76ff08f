Feature: Application failure
  The DR plan's "Application Failure" scenario: application errors, pods lost.
  A replica dies; its supervisor (a Deployment's job) replaces it while the
  other replicas keep serving, and nothing acknowledged is lost. A bad release
  fails every health check; the plan's remedy is to roll back to the previous
  release.

  @plan:scenario/application-failure
  @drill @application_failure
  Scenario Outline: <which> killed with <signal> while the others keep serving
    Given the Calendar Assistant is running with 3 replicas
    And the prober watches every replica's health and data path
    And writers track users and calendar events through the app
    And 50 users are using the calendar
    When <which> killed with <signal>
    Then every replica answers 5 consecutive probes within the application RTO
    And the other replicas kept answering throughout
    And the error rate during recovery stays below 5 %
    And p95 latency is back under its budget within 30 seconds of recovery
    And no acknowledged write is lost

    Examples:
      | which                 | signal  |
      | one app replica is    | SIGKILL |
      | one app replica is    | SIGTERM |

  @plan:scenario/application-failure
  @drill @application_failure
  Scenario: One app pod is deleted and its ReplicaSet replaces it while the others keep serving
    Given the Calendar Assistant is running with 3 replicas
    And the prober watches every replica's health and data path
    And writers track users and calendar events through the app
    When one app pod is deleted
    Then every replica answers 5 consecutive probes within the application RTO
    And the other replicas kept answering throughout
    And no acknowledged write is lost

  @plan:scenario/application-failure @plan:recovery/application-recovery
  @drill @application_failure
  Scenario Outline: A bad release that <behaviour> is rolled back
    Given the Calendar Assistant is running with 3 replicas
    And the prober watches every replica's health and data path
    And writers track users and calendar events through the app
    When a bad release 1.1.0 that <behaviour> is deployed
    And the release is rolled back
    Then every replica answers 5 consecutive probes within the application RTO
    And no acknowledged write is lost

    Examples:
      | behaviour        |
      | returns errors   |
      | crashes at start |
