"""The in-memory org behind the sandbox's Salesforce API.

All writes go through one path that behaves like Salesforce's save order, as far as Canary can
observe it: unknown fields, read-only fields, type coercion, references, required fields,
derived fields (Opportunity IsClosed/IsWon/Probability from the stage, Name from first/last),
then validation rules. Canary's remediations confirm every write by reading it back, so a
refusal here must look exactly like the refusal a real org would send.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from . import soql
from .errors import SalesforceApiError, api_error, json_parser_error, no_such_column, not_found
from .ids import looks_like_id, make_id, normalize
from .schema import (
    CASE_CLOSED_STATUSES,
    ID_TYPES,
    NUMBER_TYPES,
    SCHEMA,
    STAGES,
    TASK_CLOSED_STATUSES,
    TEXT_TYPES,
    FieldDef,
    SObjectDef,
    sobject,
    type_of_id,
)
from .seed import INTEGRATION_USER_ID, ORG_ID, integration_user, organization, seed_records

Record = dict[str, Any]

API_VERSION = "59.0"
DEFAULT_BATCH_SIZE = 2000
SANDBOX_PASSWORD = "canary-sandbox"
SANDBOX_SECURITY_TOKEN = "SANDBOXTOKEN"
_MAX_CURSORS = 200
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# A plain callable rule gets (sobject name, new record, old record or None) and returns an
# error message when the record must be refused, None when it may be saved.
RuleFunction = Callable[[str, Record, Record | None], str | None]


def format_datetime(moment: datetime) -> str:
    """Salesforce's own datetime format: ``2026-11-23T10:00:00.000+0000``."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


@dataclass
class ValidationRule:
    """A validation rule: refuse a save when ``check`` (or the SOQL-style ``condition``) holds.

    ``check(new, old)`` sees the record as it would be saved and the stored one (None on
    insert), which is how Salesforce's ISNEW()/ISCHANGED()/PRIORVALUE() formulas reason.
    """

    name: str
    sobject: str
    message: str
    check: Callable[[Record, Record | None], bool] | None = None
    condition: str | None = None
    enabled: bool = True
    error_field: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        self._condition = (
            soql.parse_condition(self.sobject, self.condition) if self.condition else None
        )

    def violated(self, new: Record, old: Record | None, ctx: soql.Context) -> bool:
        if self._condition is not None:
            return soql.evaluate(self._condition, new, ctx)
        return bool(self.check and self.check(new, old))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "sobject": self.sobject,
            "message": self.message,
            "enabled": self.enabled,
            "condition": self.condition,
            "errorField": self.error_field,
            "description": self.description,
        }


def _becomes_closed_won_without_contract(new: Record, old: Record | None) -> bool:
    becoming_won = new.get("StageName") == "Closed Won" and (
        old is None or old.get("StageName") != "Closed Won"
    )
    return becoming_won and new.get("Contract_Signed__c") is not True


def default_rules() -> list[ValidationRule | RuleFunction]:
    return [
        ValidationRule(
            name="closed_won_requires_contract",
            sobject="Opportunity",
            message="Closed Won requires a signed contract (Contract_Signed__c).",
            check=_becomes_closed_won_without_contract,
            description="(ISNEW() || ISCHANGED(StageName)) && "
            "ISPICKVAL(StageName, 'Closed Won') && NOT(Contract_Signed__c)",
        )
    ]


@dataclass
class _Cursor:
    records: list[Record]
    batch_size: int


class SalesforceState:
    """One org: records by sObject type, recorded requests, validation rules, sessions."""

    def __init__(self, seed: bool = True, *, clock: Callable[[], datetime] | None = None) -> None:
        self.seed = seed
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.password = SANDBOX_PASSWORD
        self.security_token = SANDBOX_SECURITY_TOKEN
        self.org_id = ORG_ID
        self._lock = threading.RLock()
        self.records: dict[str, dict[str, Record]] = {}
        self.requests: list[dict[str, Any]] = []
        self.validation_rules: list[ValidationRule | RuleFunction] = []
        self.tokens: dict[str, str] = {}
        self.revoked_tokens: set[str] = set()
        self.api_calls = 0  # REST calls so far, reported in Sforce-Limit-Info like an org's
        self.reset()

    # -- lifecycle --------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget everything and load the demo org again (same ids every time)."""
        with self._lock:
            self.records = {definition.name: {} for definition in SCHEMA.values()}
            # Cleared in place: the host app or a test may hold on to these containers.
            self.requests.clear()
            self.validation_rules[:] = default_rules()
            self.tokens.clear()
            self.revoked_tokens.clear()
            self.api_calls = 0
            self._counters: dict[str, int] = {}
            self._cursors: OrderedDict[str, _Cursor] = OrderedDict()
            self._cursor_counter = 0
            self._case_number = 1000
            self._request_seq = 0
            today = self.today()
            self._load("Organization", organization(today))
            if self.seed:
                for sobject_name, rows in seed_records(today):
                    for row in rows:
                        self._load(sobject_name, row)
            else:
                # Even an empty org has the API user that owns what Canary creates.
                self._load("User", integration_user(today))

    def now(self) -> datetime:
        return self.clock()

    def today(self) -> date:
        return self.clock().astimezone(UTC).date()

    def context(self) -> soql.Context:
        return soql.Context(lookup=self.lookup, today=self.today())

    # -- reading ----------------------------------------------------------------------------

    def _definition(self, sobject_name: str) -> SObjectDef:
        definition = sobject(sobject_name)
        if definition is None:
            raise not_found()
        return definition

    def lookup(self, record_id: str) -> Record | None:
        """A live (not deleted) record of any type, by 15- or 18-character id."""
        if not looks_like_id(record_id):
            return None
        type_name = type_of_id(record_id)
        if type_name is None:
            return None
        record = self.records[type_name].get(normalize(record_id))
        if record is None or record.get("IsDeleted"):
            return None
        return record

    def get(self, sobject_name: str, record_id: str) -> Record | None:
        """A copy of a live record (plain field values, no ``attributes``), or None."""
        with self._lock:
            definition = sobject(sobject_name)
            record = self.lookup(record_id)
            if definition is None or record is None or type_of_id(record["Id"]) != definition.name:
                return None
            return dict(record)

    def fetch(self, sobject_name: str, record_id: str) -> Record:
        """Like :meth:`get`, but refuses as the REST API does (NOT_FOUND, ENTITY_IS_DELETED)."""
        with self._lock:
            return dict(self._existing(self._definition(sobject_name), record_id))

    def all(self, sobject_name: str, *, include_deleted: bool = False) -> list[Record]:
        with self._lock:
            definition = self._definition(sobject_name)
            return [
                dict(r)
                for r in self.records[definition.name].values()
                if include_deleted or not r.get("IsDeleted")
            ]

    def render(
        self, record: Record, version: str = API_VERSION, fields: Iterable[str] | None = None
    ) -> Record:
        """The REST shape of a record: ``attributes`` first, then every (or the asked) field."""
        definition = self._definition(type_of_id(record["Id"]) or "")
        out: Record = {"attributes": soql.attributes(record, version)}
        if fields is None:
            names = [f.name for f in definition.fields.values()]
        else:
            names = []
            for name in fields:
                found = definition.field(name)
                if found is None:
                    raise api_error(
                        400,
                        "INVALID_FIELD",
                        f"No such column '{name}' on entity '{definition.name}'. If you are "
                        "attempting to use a custom field, be sure to append the '__c' after the "
                        "custom field name. Please reference your WSDL or the describe call for "
                        "the appropriate names.",
                    )
                names.append(found.name)
        for name in names:
            out[name] = record.get(name)
        return out

    def find(self, sobject_name: str, field_name: str, value: str) -> list[Record]:
        """Live records whose external-id field equals ``value`` (Salesforce: case-insensitive)."""
        definition = self._definition(sobject_name)
        field = definition.field(field_name)
        if field is None:
            return []
        wanted = normalize(value) if field.type in ID_TYPES else value.casefold()
        found = []
        for record in self.records[definition.name].values():
            current = record.get(field.name)
            if record.get("IsDeleted") or current is None:
                continue
            current = normalize(current) if field.type in ID_TYPES else str(current).casefold()
            if current == wanted:
                found.append(record)
        return found

    # -- writing ----------------------------------------------------------------------------

    def insert(
        self, sobject_name: str, fields: dict[str, Any], *, user_id: str | None = None
    ) -> str:
        """Create a record through the same checks as ``POST .../sobjects/{Type}/``."""
        with self._lock:
            definition = self._definition(sobject_name)
            if not definition.createable:
                raise api_error(
                    400,
                    "INVALID_TYPE_FOR_OPERATION",
                    f"entity type cannot be inserted: {definition.name}",
                )
            values = self._coerce(definition, fields, inserting=True)
            record: Record = {name.name: name.default for name in definition.fields.values()}
            record.update(values)
            if "OwnerId" in record and record["OwnerId"] is None:
                record["OwnerId"] = user_id or INTEGRATION_USER_ID
            self._derive(definition, record, None, set(values))
            self._check_required(definition, record, None, set(values))
            self._check_rules(definition, record, None)
            record_id = self._next_id(definition)
            now = format_datetime(self.now())
            actor = user_id or INTEGRATION_USER_ID
            record.update(
                {
                    "Id": record_id,
                    "IsDeleted": False,
                    "CreatedDate": now,
                    "CreatedById": actor,
                    "LastModifiedDate": now,
                    "LastModifiedById": actor,
                    "SystemModstamp": now,
                }
            )
            if definition.name == "Case":
                record["CaseNumber"] = self._next_case_number()
            self.records[definition.name][record_id] = record
            return record_id

    def update(
        self,
        sobject_name: str,
        record_id: str,
        fields: dict[str, Any],
        *,
        user_id: str | None = None,
    ) -> None:
        """Change a record through the same checks as ``PATCH .../sobjects/{Type}/{Id}``."""
        with self._lock:
            definition = self._definition(sobject_name)
            old = self._existing(definition, record_id)
            if not definition.updateable:
                raise api_error(
                    400,
                    "INVALID_TYPE_FOR_OPERATION",
                    f"entity type cannot be updated: {definition.name}",
                )
            values = self._coerce(definition, fields, inserting=False, record_id=old["Id"])
            record = {**old, **values}
            self._derive(definition, record, old, set(values))
            self._check_required(definition, record, set(values), set(values))
            self._check_rules(definition, record, old)
            now = format_datetime(self.now())
            record.update(
                {
                    "LastModifiedDate": now,
                    "LastModifiedById": user_id or INTEGRATION_USER_ID,
                    "SystemModstamp": now,
                }
            )
            self.records[definition.name][old["Id"]] = record

    def delete(self, sobject_name: str, record_id: str) -> None:
        """Soft delete: the record moves to the recycle bin (``queryAll`` still sees it)."""
        with self._lock:
            definition = self._definition(sobject_name)
            old = self._existing(definition, record_id)
            if not definition.deletable:
                raise api_error(
                    405,
                    "METHOD_NOT_ALLOWED",
                    "HTTP Method 'DELETE' not allowed. Allowed are HEAD,GET,PATCH",
                )
            now = format_datetime(self.now())
            old.update({"IsDeleted": True, "LastModifiedDate": now, "SystemModstamp": now})

    def upsert(
        self,
        sobject_name: str,
        field_name: str,
        value: str,
        fields: dict[str, Any],
        *,
        user_id: str | None = None,
    ) -> tuple[str, bool]:
        """Upsert by external id: (id, created). Several matches → 300 like Salesforce."""
        with self._lock:
            definition = self._definition(sobject_name)
            field = self.external_id_field(definition, field_name)
            matches = self.find(definition.name, field.name, value)
            if len(matches) > 1:
                raise self.multiple_choices(matches)
            body = {k: v for k, v in fields.items() if k.lower() != field.name.lower()}
            if matches:
                self.update(definition.name, matches[0]["Id"], body, user_id=user_id)
                return matches[0]["Id"], False
            if field.name == "Id":
                raise not_found()
            return self.insert(definition.name, {**body, field.name: value}, user_id=user_id), True

    def external_id_field(self, definition: SObjectDef, field_name: str) -> FieldDef:
        field = definition.field(field_name)
        if field is None or not (field.external_id or field.name == "Id"):
            raise not_found(
                f"Provided external ID field does not exist or is not accessible: {field_name}"
            )
        return field

    def multiple_choices(self, matches: list[Record]) -> SalesforceApiError:
        return SalesforceApiError(
            300,
            [soql.attributes(r, API_VERSION)["url"] for r in matches],
        )

    def _existing(self, definition: SObjectDef, record_id: str) -> Record:
        if not looks_like_id(record_id) or type_of_id(record_id) != definition.name:
            raise not_found()
        record = self.records[definition.name].get(normalize(record_id))
        if record is None:
            raise not_found()
        if record.get("IsDeleted"):
            raise api_error(404, "ENTITY_IS_DELETED", "entity is deleted", [])
        return record

    def _next_id(self, definition: SObjectDef) -> str:
        counter = self._counters.get(definition.key_prefix, 0) + 1
        self._counters[definition.key_prefix] = counter
        return make_id(definition.key_prefix, counter)

    def _next_case_number(self) -> str:
        self._case_number += 1
        return f"{self._case_number:08d}"

    def _load(self, sobject_name: str, row: Record) -> None:
        """Seed loading: fixed ids and creation dates, derived fields, no validation rules."""
        definition = self._definition(sobject_name)
        record: Record = {f.name: f.default for f in definition.fields.values()}
        record.update(row)
        if "OwnerId" in record and record["OwnerId"] is None:
            record["OwnerId"] = INTEGRATION_USER_ID
        self._derive(definition, record, None, set(row))
        created = record.get("CreatedDate") or format_datetime(self.now())
        record.update(
            {
                "IsDeleted": False,
                "CreatedDate": created,
                "CreatedById": record.get("CreatedById") or INTEGRATION_USER_ID,
                "LastModifiedDate": created,
                "LastModifiedById": record.get("CreatedById") or INTEGRATION_USER_ID,
                "SystemModstamp": created,
            }
        )
        if definition.name == "Case":
            record["CaseNumber"] = self._next_case_number()
        record_id = record["Id"]
        counter = int(record_id[5:15])
        prefix = definition.key_prefix
        self._counters[prefix] = max(self._counters.get(prefix, 0), counter)
        self.records[definition.name][record_id] = record

    def _coerce(
        self,
        definition: SObjectDef,
        fields: dict[str, Any],
        *,
        inserting: bool,
        record_id: str | None = None,
    ) -> Record:
        if not isinstance(fields, dict):
            raise json_parser_error(
                "Cannot deserialize instance of SObject from non-object value or request may be "
                "missing a required field at [line:1, column:1]"
            )
        values: Record = {}
        read_only: list[str] = []
        for key, raw in fields.items():
            if key == "attributes":
                continue
            field = definition.field(key)
            if field is None:
                raise no_such_column(key, definition.name)
            if field.name == "Id" and not inserting and normalize(str(raw)) == record_id:
                continue
            if not (field.createable if inserting else field.updateable):
                read_only.append(field.name)
                continue
            values[field.name] = self._coerce_value(field, raw)
        if read_only:
            raise api_error(
                400,
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(read_only)}. Please check the "
                "security settings of this field and verify that it is read/write for your "
                "profile or permission set.",
                read_only,
            )
        return values

    def _coerce_value(self, field: FieldDef, raw: Any) -> Any:
        # Salesforce stores an empty string as null.
        if raw is None or raw == "":
            return False if field.type == "boolean" else None

        def refuse(kind: str) -> SalesforceApiError:
            token = (
                "VALUE_STRING"
                if isinstance(raw, str)
                else (
                    "VALUE_TRUE"
                    if raw is True
                    else "VALUE_FALSE"
                    if raw is False
                    else "START_OBJECT"
                    if isinstance(raw, dict)
                    else "START_ARRAY"
                    if isinstance(raw, list)
                    else "VALUE_NUMBER_INT"
                )
            )
            return json_parser_error(
                f"Cannot deserialize instance of {kind} from {token} value {raw} or request may "
                "be missing a required field at [line:1, column:1]"
            )

        if isinstance(raw, dict | list):
            raise refuse(field.type)
        if field.type in TEXT_TYPES:
            value = str(raw).lower() if isinstance(raw, bool) else str(raw)
            if len(value) > field.length:
                raise api_error(
                    400,
                    "STRING_TOO_LONG",
                    f"{field.label}: data value too large: {value[:40]}... "
                    f"(max length={field.length})",
                    [field.name],
                )
            if field.type == "email" and value and not _EMAIL.match(value):
                raise api_error(
                    400,
                    "INVALID_EMAIL_ADDRESS",
                    f"{field.label}: invalid email address: {value}",
                    [field.name],
                )
            if field.restricted and value not in field.picklist:
                raise api_error(
                    400,
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{field.label}: bad value for restricted picklist field: {value}",
                    [field.name],
                )
            return value
        if field.type in ID_TYPES:
            if not looks_like_id(raw):
                raise api_error(
                    400,
                    "MALFORMED_ID",
                    f"{field.label}: id value of incorrect type: {raw}",
                    [field.name],
                )
            target_type = type_of_id(raw)
            if target_type not in field.reference_to:
                raise api_error(
                    400,
                    "FIELD_INTEGRITY_EXCEPTION",
                    f"{field.label}: id value of incorrect type: {raw}",
                    [field.name],
                )
            if self.lookup(raw) is None:
                raise api_error(
                    400,
                    "INVALID_CROSS_REFERENCE_KEY",
                    f"invalid cross reference id: {raw}",
                    [field.name],
                )
            return normalize(raw)
        if field.type in NUMBER_TYPES:
            if isinstance(raw, bool):
                raise refuse("double")
            try:
                number = float(raw)
            except (TypeError, ValueError):
                raise refuse("double") from None
            return int(number) if field.type == "int" else number
        if field.type == "boolean":
            if isinstance(raw, bool):
                return raw
            if isinstance(raw, str) and raw.lower() in {"true", "false"}:
                return raw.lower() == "true"
            raise refuse("boolean")
        if field.type == "date":
            try:
                return date.fromisoformat(str(raw)[:10]).isoformat()
            except ValueError:
                raise refuse("date") from None
        if field.type == "datetime":
            try:
                return format_datetime(soql.parse_api_datetime(str(raw)))
            except ValueError:
                raise refuse("datetime") from None
        return raw

    def _derive(
        self, definition: SObjectDef, record: Record, old: Record | None, changed: set[str]
    ) -> None:
        """Fields Salesforce computes itself, so Canary never has to (or may) write them."""
        name = definition.name
        if name in {"User", "Contact"}:
            record["Name"] = (
                " ".join(p for p in (record.get("FirstName"), record.get("LastName")) if p) or None
            )
        elif name == "Opportunity":
            stage = STAGES.get(record.get("StageName") or "")
            if stage:
                probability, forecast, closed, won = stage
                record["IsClosed"], record["IsWon"] = closed, won
                stage_changed = old is None or old.get("StageName") != record.get("StageName")
                if stage_changed and "Probability" not in changed:
                    record["Probability"] = probability
                if stage_changed and "ForecastCategoryName" not in changed:
                    record["ForecastCategoryName"] = forecast
        elif name == "Task":
            record["IsClosed"] = record.get("Status") in TASK_CLOSED_STATUSES
            record["AccountId"] = self._task_account(record)
        elif name == "Case":
            closed = record.get("Status") in CASE_CLOSED_STATUSES
            record["IsClosed"] = closed
            if closed and not record.get("ClosedDate"):
                record["ClosedDate"] = format_datetime(self.now())
            elif not closed:
                record["ClosedDate"] = None

    def _task_account(self, record: Record) -> str | None:
        for key in ("WhatId", "WhoId"):
            related = self.lookup(record.get(key) or "")
            if related is None:
                continue
            if type_of_id(related["Id"]) == "Account":
                return str(related["Id"])
            if related.get("AccountId"):
                return str(related["AccountId"])
        return None

    def _check_required(
        self,
        definition: SObjectDef,
        record: Record,
        changed: set[str] | None,
        written: set[str],
    ) -> None:
        """Required fields left empty, and fields that may not be null written as null (a
        defaulted ``Status`` too: the default applies only when the field is left out)."""
        missing = [
            f.name
            for f in definition.fields.values()
            if record.get(f.name) in (None, "")
            and (
                (f.required and (changed is None or f.name in changed))
                or (not f.nillable and f.type != "boolean" and f.name in written)
            )
        ]
        if missing:
            raise api_error(
                400,
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                missing,
            )

    def _check_rules(self, definition: SObjectDef, record: Record, old: Record | None) -> None:
        errors: list[dict[str, Any]] = []
        ctx = self.context()
        for rule in self.validation_rules:
            if isinstance(rule, ValidationRule):
                if not rule.enabled or rule.sobject.lower() != definition.name.lower():
                    continue
                if rule.violated(record, old, ctx):
                    errors.append(
                        {
                            "errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                            "message": rule.message,
                            "fields": [rule.error_field] if rule.error_field else [],
                        }
                    )
            else:
                message = rule(definition.name, dict(record), dict(old) if old else None)
                if message:
                    errors.append(
                        {
                            "errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                            "message": message,
                            "fields": [],
                        }
                    )
        if errors:
            raise SalesforceApiError(400, errors)

    # -- validation rules -------------------------------------------------------------------

    def rule(self, name: str) -> ValidationRule | None:
        return next(
            (r for r in self.validation_rules if isinstance(r, ValidationRule) and r.name == name),
            None,
        )

    def set_rule_enabled(self, name: str, enabled: bool) -> ValidationRule:
        with self._lock:
            found = self.rule(name)
            if found is None:
                raise KeyError(name)
            found.enabled = enabled
            return found

    def add_rule(self, rule: ValidationRule) -> None:
        with self._lock:
            self.validation_rules = [
                r
                for r in self.validation_rules
                if not (isinstance(r, ValidationRule) and r.name == rule.name)
            ]
            self.validation_rules.append(rule)

    # -- SOQL -------------------------------------------------------------------------------

    def query(
        self,
        statement: str,
        *,
        include_deleted: bool = False,
        batch_size: int | None = None,
        version: str = API_VERSION,
    ) -> dict[str, Any]:
        """The first page of a SOQL query, as ``GET .../query?q=`` answers it."""
        with self._lock:
            parsed = soql.parse(statement)
            rows = [
                r
                for r in self.records[parsed.sobject.name].values()
                if include_deleted or not r.get("IsDeleted")
            ]
            result = soql.run(parsed, rows, self.context(), version)
            if parsed.is_count_only:
                return {"totalSize": result.total, "done": True, "records": []}
            size = batch_size if batch_size and batch_size > 0 else DEFAULT_BATCH_SIZE
            if len(result.records) <= size:
                return {"totalSize": result.total, "done": True, "records": result.records}
            self._cursor_counter += 1
            locator = f"01gHx{self._cursor_counter:010d}"
            self._cursors[locator] = _Cursor(result.records, size)
            while len(self._cursors) > _MAX_CURSORS:
                self._cursors.popitem(last=False)
            return self._page(locator, 0, version)

    def query_more(self, locator: str, version: str = API_VERSION) -> dict[str, Any]:
        """A later page: ``GET .../query/01g…-2000`` (the suffix is the next row's offset)."""
        with self._lock:
            cursor_id, _, offset = locator.rpartition("-")
            if cursor_id not in self._cursors or not offset.isdigit():
                raise api_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
            return self._page(cursor_id, int(offset), version)

    def _page(self, locator: str, offset: int, version: str) -> dict[str, Any]:
        cursor = self._cursors[locator]
        end = offset + cursor.batch_size
        page: dict[str, Any] = {
            "totalSize": len(cursor.records),
            "done": end >= len(cursor.records),
        }
        if not page["done"]:
            page["nextRecordsUrl"] = f"/services/data/v{version}/query/{locator}-{end}"
        page["records"] = cursor.records[offset:end]
        return page

    # -- sessions ---------------------------------------------------------------------------

    def user_by_username(self, username: str) -> Record | None:
        wanted = username.strip().casefold()
        for user in self.records["User"].values():
            if str(user.get("Username") or "").casefold() == wanted and user.get("IsActive"):
                return user
        return None

    def check_password(self, username: str, password: str) -> Record | None:
        """Password login: the sandbox password, alone or followed by the security token."""
        user = self.user_by_username(username)
        if user is None:
            return None
        if password in {self.password, self.password + self.security_token}:
            return user
        return None

    def issue_token(self, user_id: str) -> str:
        with self._lock:
            token = f"{self.org_id[:15]}!{secrets.token_urlsafe(48)}"
            self.tokens[token] = user_id
            return token

    def running_user(self, token: str) -> str:
        return self.tokens.get(token, INTEGRATION_USER_ID)

    # -- recorded requests ------------------------------------------------------------------

    def record_request(self, entry: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._request_seq += 1
            if str(entry.get("path", "")).startswith("/services/data/v"):
                self.api_calls += 1
            recorded = {"seq": self._request_seq, "service": "salesforce", **entry}
            self.requests.append(recorded)
            return recorded

    def requests_matching(
        self, method: str | None = None, path_prefix: str | None = None
    ) -> list[dict[str, Any]]:
        with self._lock:
            return [
                r
                for r in self.requests
                if (method is None or r["method"].upper() == method.upper())
                and (path_prefix is None or r["path"].startswith(path_prefix))
            ]
