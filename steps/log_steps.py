"""Steps on service logs: wait for a line (When) and judge what was logged (Then).

Patterns are regular expressions, matched against the whole log of every pod the service had
(current and previous containers, deleted pods included) with terminal colour codes removed.
"""

from behave import then, when

from ftlib.checks import ServiceLogContains, ServiceLogNotContains
from ftlib.events import WaitForLogPattern


@when('the {service} log shows "{pattern}" within {t:g} seconds')
def log_shows(context, service, pattern, t):
    """Wait until any pod of the service, including pods created after this step started,
    logs a line matching the pattern; fail after t seconds."""
    context.ft.event(WaitForLogPattern(service, pattern, timeout=t))


@then('the {service} log contains "{pattern}"')
def log_contains(context, service, pattern):
    """Some pod of the service logged a line matching the pattern."""
    context.ft.check(ServiceLogContains(service, pattern))


@then('the {service} log does not contain "{pattern}"')
def log_does_not_contain(context, service, pattern):
    """No pod of the service logged a line matching the pattern."""
    context.ft.check(ServiceLogNotContains(service, pattern))
