Feature: Network failure
  The DR plan's "Network Failure" scenario: connection timeouts, network errors,
  service unavailability. The app's links to its data stores go through
  Toxiproxy: a link is cut or slowed, then healed. While it lasts the app may
  fail requests but must never corrupt data; after the heal it must recover
  within the application RTO, and no acknowledged write may be lost.

  @plan:scenario/network-failure
  @drill @network_failure
  Scenario Outline: The app's link to <store> is cut, then healed
    Given the Calendar Assistant is running with 3 replicas
    And the prober watches every replica's health and data path
    And writers track users, calendar events and sessions through the app
    And 50 users are using the calendar
    When the link to <store> is cut for 3 seconds
    Then every replica answers 5 consecutive probes within the application RTO
    And no acknowledged write is lost

    Examples:
      | store   |
      | MongoDB |
      | Redis   |

  @plan:scenario/network-failure
  @drill @network_failure
  Scenario: A slow link to MongoDB keeps the service within its latency budget
    Given the Calendar Assistant is running with 3 replicas
    And the prober watches every replica's health and data path
    And writers track users and calendar events through the app
    When the writers keep writing for 2 seconds
    And the link to MongoDB is slowed by 5 ms with 1 ms of jitter for 3 seconds
    Then the service stayed up, answering health checks within 40 ms at the 95th percentile
    And no acknowledged write is lost

  @plan:scenario/network-failure
  @drill @network_failure
  Scenario Outline: The <store> server is taken off its network, then put back
    Given the Calendar Assistant is running with 3 replicas
    And the prober watches every replica's health and data path
    And writers track users, calendar events and sessions through the app
    When the <store> server is taken off its network for 3 seconds
    Then every replica answers 5 consecutive probes within the application RTO
    And no acknowledged write is lost

    Examples:
      | store   |
      | MongoDB |
      | Redis   |
