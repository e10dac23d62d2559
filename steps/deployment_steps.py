"""Given steps: which deployment, and how it differs from the shipped one."""

from behave import given


@given("a {backend:w} {topology:w} deployment")
def a_deployment(context, backend, topology):
    """A deployment this project ships: backend vllm|trtllm|sglang|mocker, topology agg|disagg."""
    context.ft.use_backend(backend, topology)


@given("a {backend:w} {topology:w} deployment with {n:d} replicas")
def a_deployment_with_replicas(context, backend, topology, n):
    """A shipped deployment whose every worker service has n replicas."""
    context.ft.use_backend(backend, topology, n)


@given('the deployment "{path}"')
def the_deployment_file(context, path):
    """A DynamoGraphDeployment YAML file, relative to the repository root."""
    context.ft.use_file(path)


@given("the {service} service has {n:d} replicas")
def service_replicas(context, service, n):
    """Set one service's replica count (service: exact name or role word)."""
    context.ft.set_replicas(service, n)


@given('the {service} service has the environment variable "{name}" set to "{value}"')
def service_env(context, service, name, value):
    """Set an environment variable in one service's container."""
    context.ft.set_env(service, name, value)


@given('the {service} service is started with the extra arguments "{args}"')
def service_args(context, service, args):
    """Append arguments (split like a shell would, never run by one) to a service's command."""
    context.ft.add_args(service, args)


@given("request migration is enabled with a limit of {n:d}")
def migration_enabled(context, n):
    """The frontend retries a request on another worker up to n times (--migration-limit n)."""
    context.ft.set_migration_limit(n)


@given("request migration is disabled")
def migration_disabled(context):
    """The frontend does not migrate requests (--migration-limit 0)."""
    context.ft.set_migration_limit(0)


@given("the deployment is ready")
def deployment_ready(context):
    """Apply the deployment now and wait until every replica is ready."""
    context.ft.make_ready()
