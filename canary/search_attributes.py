"""Custom search attributes that make remediations filterable in the Temporal UI.

Registered by ``canary up``, by the tests and by docker-compose; names are a contract.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

ERROR_TYPE = SearchAttributeKey.for_keyword("CanaryErrorType")
ACCOUNT = SearchAttributeKey.for_keyword("CanaryAccount")
SEVERITY = SearchAttributeKey.for_keyword("CanarySeverity")
STATE = SearchAttributeKey.for_keyword("CanaryState")
ESCALATION_LEVEL = SearchAttributeKey.for_int("CanaryEscalationLevel")
OWNER = SearchAttributeKey.for_keyword("CanaryOwner")
SUBJECT = SearchAttributeKey.for_keyword("CanarySubject")
SIGNATURE = SearchAttributeKey.for_keyword("CanarySignature")

ALL: tuple[SearchAttributeKey, ...] = (
    ERROR_TYPE,
    ACCOUNT,
    SEVERITY,
    STATE,
    ESCALATION_LEVEL,
    OWNER,
    SUBJECT,
    SIGNATURE,
)


def cli_flags() -> list[str]:
    """``--search-attribute Name=Type`` arguments for ``temporal server start-dev``."""
    kinds = {"KEYWORD": "Keyword", "INT": "Int"}
    flags: list[str] = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}={kinds[key.indexed_value_type.name]}"]
    return flags
