Feature: Complete system failure
  The DR plan's "Complete System Failure": all services down, no access to
  data, the infrastructure unavailable. Every process of the stack is killed
  at once and nothing restarts on its own. The plan's recovery steps run as
  recover-all: restore the infrastructure (the proxies with their links,
  monitoring), restore MongoDB and Redis from the latest backups, deploy the
  application and verify it. Writes acknowledged after the backups are lost;
  the drill measures how many, per data class, and how long the service and
  its monitoring were gone.

  @plan:scenario/complete-system-failure @plan:backup/mongodb-backup @plan:backup/redis-backup
  @plan:backup/kubernetes-resources @plan:backup/application-configuration @plan:recovery/infrastructure-recovery
  @plan:recovery/mongodb-recovery @plan:recovery/redis-recovery @plan:recovery/application-recovery
  @plan:testing/test-system-recovery @plan:checklist/system-recovery-checklist
  @drill @complete_system_failure
  Scenario: Every component is killed and the system is rebuilt from the latest backups
    Given the Calendar Assistant is running with 3 replicas
    And the prober watches every replica's health and data path
    And writers track users, calendar events, settings and sessions through the app
    And 50 users are using the calendar
    When the writers keep writing for 2 seconds
    And every backup is taken
    And the writers keep writing for 2 seconds
    And every component of the system is killed
    And the complete system recovery procedure runs from the latest backups
    Then every replica answers 5 consecutive probes within the application RTO
    And the acknowledged writes lost are within each data class's RPO

  @plan:scenario/complete-system-failure @plan:recovery/infrastructure-recovery
  @drill @complete_system_failure @monitoring
  Scenario: Monitoring scrapes every replica again after a complete system failure
    Given the Calendar Assistant is running with 3 replicas
    And Prometheus scrapes every replica's metrics
    When every backup is taken
    And every component of the system is killed
    And the complete system recovery procedure runs from the latest backups
    Then Prometheus scrapes every replica successfully again within the monitoring RTO
