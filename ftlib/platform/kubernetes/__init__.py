"""The kubernetes platform: DynamoGraphDeployments applied through the Kubernetes API."""
