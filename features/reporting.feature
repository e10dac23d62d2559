Feature: Reports: what clients saw around a fault, and how long recovery took

  A scenario tagged @report writes fault_tolerance_report.md and .json into its evidence
  folder after teardown, even when a check fails: requests that succeeded and failed before and
  after each fault, their latency, startup and recovery seconds, and whether the load covered
  the fault and the recovery. Every scenario also keeps resource_history.json (CPU and memory
  of every pod, once a second). With the Allure formatter the reports, the aiperf summary and,
  for a scenario that did not pass, the pods' logs are attached to the scenario.

  @report @mocker @fault_tolerance @e2e
  Scenario: one of two decode pods is deleted under load and the report shows the recovery
    Given a mocker agg deployment with 2 replicas
    When a load at concurrency 4 is started for 25 seconds
    And 6 seconds pass
    And one decode pod is deleted
    And the deployment recovers within 60 seconds
    And the load completes
    Then a fault tolerance report is written
    And errors are at most 10
