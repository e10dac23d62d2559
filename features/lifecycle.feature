@fault_tolerance @mocker
Feature: Lifecycle: rolling upgrades, frozen workers, logs and recovery windows

  Faults that are not a plain kill, and checks that lay the fault, the platform's timeline and
  every request on one clock: how fast the deployment recovered, how fast clients saw requests
  succeed again, and whether anything failed outside the fault's window.

  Scenario: decode and prefill workers are rolling-upgraded under load without losing a request
    Given a mocker disagg deployment with 2 replicas
    And request migration is enabled with a limit of 3
    When a load at concurrency 4 is started for 30 seconds
    And 3 seconds pass
    And the decode service is rolling-upgraded
    And the prefill service is rolling-upgraded
    And the load completes
    Then there are no errors
    And the fault hit at least 1 requests in flight
    And the load was not cancelled
    And the decode log contains "Runtime shutdown initiated"
    And the prefill log contains "Runtime shutdown initiated"

  Scenario: a frozen worker holds requests up, then requests succeed again
    Given a mocker agg deployment
    When a load "chat" at concurrency 2 is started for 20 seconds
    And 3 seconds pass
    And the "dynamo.mocker" process of the worker is frozen for 5 seconds
    And load "chat" completes
    Then requests of load "chat" succeed again within 10 seconds of the fault
    And the fault hit at least 1 requests of load "chat" in flight
    And the success rate of load "chat" is at least 90 percent
    And the deployment recovered within 10 seconds

  Scenario: worker logs can be waited on and checked
    While a worker starts, its health endpoint answers the platform's readiness probe with 503,
    which Dynamo's HTTP layer logs at ERROR level ("response failed ... 503 Service
    Unavailable"): that line is the probe's, not a fault of the worker, and is left out.
    Given a mocker agg deployment
    When a load of 20 requests at concurrency 2 is started
    And the decode log shows "request completed request_id=[0-9a-f-]+" within 30 seconds
    And the load completes
    Then the decode log contains "request received"
    And the decode log does not contain "panicked at|\bERROR\b(?!.*503 Service Unavailable)"
    And the Frontend log contains "Chat completions is ready"
    And the frontend log does not contain "panicked at"
    And at least 20 requests succeed

  Scenario: a killed worker: recovery, client recovery and the fault window
    Without migration, requests the frontend still routes to the killed worker's stale
    discovery entry fail (503) for seconds after the platform sees the deployment ready again.
    Given a mocker agg deployment with 2 replicas
    And request migration is enabled with a limit of 3
    When a load at concurrency 4 is started for 30 seconds
    And 3 seconds pass
    And the "dynamo.mocker" process of one decode pod is killed
    And the deployment recovers within 30 seconds
    And the load completes
    Then the deployment recovered within 30 seconds
    And the fault hit at least 1 requests in flight
    And requests succeed again within 15 seconds of the fault
    And no request fails outside the fault window
    And the success rate is at least 80 percent
