"""Custom search attributes that make remediations filterable in the Temporal UI.

Registered by ``canary up``, by the tests and by docker-compose; names are a contract.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

from canary.models import OPEN_STATES

ERROR_TYPE = SearchAttributeKey.for_keyword("CanaryErrorType")
ACCOUNT = SearchAttributeKey.for_keyword("CanaryAccount")
SEVERITY = SearchAttributeKey.for_keyword("CanarySeverity")
STATE = SearchAttributeKey.for_keyword("CanaryState")
ESCALATION_LEVEL = SearchAttributeKey.for_int("CanaryEscalationLevel")
OWNER = SearchAttributeKey.for_keyword("CanaryOwner")
SUBJECT = SearchAttributeKey.for_keyword("CanarySubject")
SIGNATURE = SearchAttributeKey.for_keyword("CanarySignature")
#: What a Canary workflow is, so the Temporal UI tells them apart at a glance (a column, a
#: filter): set where each is started (the intake, the detectors' schedules and runs, the
#: digest activity), never by the workflows themselves.
KIND = SearchAttributeKey.for_keyword("CanaryKind")
REMEDIATION, DETECTOR, DIGEST = "remediation", "detector", "digest"
#: A failed payment attempt on its way to its remediation (``PaymentAttemptWorkflow``).
PAYMENT_ATTEMPT = "payment_attempt"
#: A customer's new card on its way to their failed payments (``CardUpdateWorkflow``).
CARD_UPDATE = "card_update"
#: A quiet window (``QuietWindowWorkflow``).
QUIET_WINDOW = "quiet_window"

ALL: tuple[SearchAttributeKey, ...] = (
    ERROR_TYPE,
    ACCOUNT,
    SEVERITY,
    STATE,
    ESCALATION_LEVEL,
    OWNER,
    SUBJECT,
    SIGNATURE,
    KIND,
)


#: Every remediation, once: the latest run of each (a run that continued as new hands its
#: whole story to the next one).
REMEDIATIONS = "WorkflowType = 'RemediationWorkflow' AND ExecutionStatus != 'ContinuedAsNew'"


def is_open(running: bool, state: str | None) -> bool:
    """Whether a remediation is open: its run is going and it has not closed. One that closed
    and cools down (folding repeats in quietly) still runs, in a closed state: not open.
    ``canary list --open``, the report and the Temporal UI's saved view agree on this."""
    return running and (state is None or state in OPEN_STATES)


def open_remediations() -> str:
    """The visibility query of open remediations (``is_open`` as Temporal filters it): the
    query of `canary list --open` and of the Temporal UI's saved view in the README."""
    states = ", ".join(f"'{state}'" for state in sorted(OPEN_STATES))
    return (
        "WorkflowType = 'RemediationWorkflow' AND ExecutionStatus = 'Running'"
        f" AND {STATE.name} IN ({states})"
    )


def cli_flags() -> list[str]:
    """``--search-attribute Name=Type`` arguments for ``temporal server start-dev``."""
    kinds = {"KEYWORD": "Keyword", "INT": "Int"}
    flags: list[str] = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}={kinds[key.indexed_value_type.name]}"]
    return flags
