"""Retry policies and timeouts of every activity the workflows call, by what it does.

Permanent failures are raised non-retryable by the activities, so the policies only govern
transient trouble (timeouts, 5xx, 429 with Retry-After).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

#: Looking things up to diagnose: the catalog, Stripe, Salesforce, Slack's directory.
DIAGNOSIS_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=6,
)
DIAGNOSIS_TIMEOUT = timedelta(seconds=30)

#: One SOP step (a payment retry, a CRM write, a link); its timeout is the config's.
STEP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=8,
)

#: Posting to Slack, looking people up in it, the digest and e-mail.
SLACK_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=10,
)
SLACK_TIMEOUT = timedelta(seconds=20)


def alert_retry_delay(failures: int) -> timedelta:
    """How long a first alert that could not be posted waits before it is tried again: a
    durable timer after the activity's own retries gave up, doubling from a minute to half
    an hour, for as long as the remediation is open (Slack may be down for hours)."""
    return min(timedelta(minutes=1) * 2 ** max(failures - 1, 0), timedelta(minutes=30))


#: Reading the quiet windows before a first alert: a quick local lookup; when Temporal's
#: visibility cannot answer, the alert goes out as usual (a missed mute, never a missed alert).
WINDOWS_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=5),
    maximum_attempts=3,
)
WINDOWS_TIMEOUT = timedelta(seconds=10)

#: Telling the worker that people's Homes changed: it only queues their publishing, so one
#: quick try; a Home missed is rebuilt whenever its person opens it.
HOME_RETRY = RetryPolicy(maximum_attempts=1)
HOME_TIMEOUT = timedelta(seconds=5)


#: Routing a payment attempt to its remediation: a Stripe lookup and a signal-with-start,
#: tried for as long as it takes (Stripe down for hours loses no failed payment).
ROUTE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
)
ROUTE_TIMEOUT = timedelta(seconds=60)

#: A detector's query of Stripe, Salesforce or the warehouse, and the account team lookup.
QUERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=5,
)
QUERY_TIMEOUT = timedelta(minutes=2)

#: Raising a detector's finding: signal-with-start of the subject's remediation.
RAISE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=8,
)
RAISE_TIMEOUT = timedelta(seconds=30)

#: The longest snooze a person may choose in Slack's form or with ``canary signal``.
MAX_SNOOZE = timedelta(days=30)

#: Temporal may suggest continuing as new because of the history's size (a big carried
#: timeline): a run this short continues only at its own event bound, never in a loop.
MIN_RUN_EVENTS = 100


def cause(err: BaseException) -> str:
    """The innermost message of an activity failure, which is what a person needs to read.
    A local activity's failure may arrive unwrapped (the ApplicationError or timeout)."""
    while isinstance(err, ActivityError) and err.cause is not None:
        err = err.cause
    if isinstance(err, ApplicationError):
        return err.message
    return str(err)
