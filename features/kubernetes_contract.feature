@contract @mocker
Feature: faults and waits with no load: what a platform must carry out
  The step language's faults and waits on their own, with no load and so no request to judge:
  deletion and replacement of a pod, a SIGKILLed and a SIGTERMed engine restarting, a freeze and
  a rolling upgrade, each seen by the platform's timeline. It runs on any platform; it is the
  kubernetes platform's contract with a cluster, and what `./run cluster up` can run (nothing
  serves requests there): KUBECONFIG=<its kubeconfig> ./run behave -D platform=kubernetes
  -D image=<image> --tags @contract (tests/test_platform_kubernetes_controlplane.py).

  Scenario: delete, kill, freeze and upgrade on kubernetes
    Given a mocker agg deployment
    And the deployment is ready
    When one decode worker pod is deleted
    And the deployment recovers within 30 seconds
    And the "dynamo.mocker" process of one decode worker pod is killed
    And the deployment recovers within 30 seconds
    And the "dynamo.mocker" process of the decode worker receives SIGTERM
    And the deployment recovers within 30 seconds
    And the "dynamo.mocker" process of the decode worker is frozen for 2 seconds
    And the decode worker service is rolling-upgraded
    Then the deployment recovered within 30 seconds
