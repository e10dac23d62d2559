@smoke @e2e
Feature: Smoke: a deployment serves a fixed number of requests without errors

  A quick proof that a graph comes up and serves traffic end to end: the frontend, the
  workers, the load client and the verdicts.

  @mocker
  Scenario: mocker aggregated deployment serves 50 requests
    Given a mocker agg deployment
    When a load of 50 requests at concurrency 4 is started
    And the load completes
    Then there are no errors
    And at least 50 requests succeed
    And the load was not cancelled

  @vllm
  Scenario: vllm disaggregated deployment serves 50 requests
    Given a vllm disagg deployment
    When a load of 50 requests at concurrency 4 is started
    And the load completes
    Then there are no errors
    And at least 50 requests succeed
    And the load was not cancelled
