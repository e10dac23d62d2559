@fault_tolerance @e2e @mocker
Feature: The rest of the step language: deployment files, service settings, named and stopped loads, signals

  Sentences the other features do not use, run for real so that each one is known to work and
  to take effect.

  Scenario: a deployment file with edited services serves a named load that is stopped early
    Given the deployment "ftlib/specs/mocker-agg.yaml"
    And the decode service has 2 replicas
    And the decode service has the environment variable "DYN_LOG" set to "debug"
    And the Frontend service is started with the extra arguments "--router-mode round-robin"
    And the deployment is ready
    When a load "background" at concurrency 2 is started for 2 minutes
    And 5 seconds pass
    And load "background" is stopped
    Then load "background" was cancelled
    And load "background" has no errors
    And at least 10 requests of load "background" succeed
    And the decode log contains "DEBUG"
    And the frontend log does not contain "DEBUG"

  Scenario: a worker that receives SIGTERM drains and is restarted
    Measured: 0 of 150 requests failed in 2 runs. The budget allows a few because a request
    routed to the worker at the very moment it gets SIGTERM can be lost without migration
    (seen once per 6 SIGTERMs or so during rolling upgrades).
    Given a mocker agg deployment with 2 replicas
    When a load of 150 requests at concurrency 4 is started
    And 3 seconds pass
    And the "dynamo.mocker" process of one decode pod receives SIGTERM
    And the deployment recovers within 30 seconds
    And the load completes within 120 seconds
    Then errors are at most 5
    And at least 140 requests succeed
    And the load was not cancelled
