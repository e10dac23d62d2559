@fault_tolerance @e2e
Feature: Worker failures under load

  When a worker pod is deleted or a worker's engine process is killed while requests are in
  flight, the graph must recover on its own, and the damage clients see must stay bounded.
  Error budgets below were measured on the local platform (README, "Measurements"): twice the
  worst error count seen, rounded up to 5, and three quarters of the fewest successes seen.

  @vllm
  Scenario: a vllm worker pod is deleted under load and replaced
    Given a vllm agg deployment with 2 replicas
    When a load at concurrency 4 is started for 25 seconds
    And 6 seconds pass
    And one worker pod is deleted
    And the deployment recovers within 60 seconds
    And the load completes
    Then errors are at most 10
    And the fault hit at least 1 requests in flight
    And at least 100 requests succeed

  @vllm
  Scenario: the vllm engine of the decode worker is killed under load
    Given a vllm disagg deployment
    When a load at concurrency 4 is started for 25 seconds
    And 6 seconds pass
    And the "dynamo.vllm" process of the decode worker is killed
    And the deployment recovers within 60 seconds
    And the load completes
    Then errors are at most 35
    And the fault hit at least 1 requests in flight
    And at least 100 requests succeed

  @mocker @migration
  Scenario: without request migration, killing one of two workers fails the requests it carried
    Given a mocker agg deployment with 2 replicas
    And request migration is disabled
    When a load is started with:
      | concurrency        | 8   |
      | duration_seconds   | 20  |
      | output_tokens_mean | 200 |
    And 6 seconds pass
    And the "dynamo.mocker" process of one worker pod is killed while at least 4 requests are in flight
    And the deployment recovers within 60 seconds
    And the load completes
    Then at least 1 requests fail
    And the fault hit at least 4 requests in flight

  @mocker @migration
  Scenario: with request migration, killing one of two workers fails no request
    Given a mocker agg deployment with 2 replicas
    And request migration is enabled with a limit of 3
    When a load is started with:
      | concurrency        | 8   |
      | duration_seconds   | 20  |
      | output_tokens_mean | 200 |
    And 6 seconds pass
    And the "dynamo.mocker" process of one worker pod is killed
    And the deployment recovers within 60 seconds
    And the load completes
    Then there are no errors
    And the fault hit at least 1 requests in flight
    And at least 50 requests succeed
