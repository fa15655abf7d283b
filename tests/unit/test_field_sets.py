"""The models a remediation keeps share one set of field names per class: nothing a model
says or writes changes, and no change to one model reaches another through the shared set."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from canary.converter import dumped
from canary.models import Detection, RemediationState
from canary.models.field_sets import AllFields, share_field_sets, shared_fields, walked_fields
from canary.models.remediation import TimelineEntry


def detection(n: int) -> Detection:
    return Detection.model_validate(
        {
            "source": "hubspot",
            "subject": {"kind": "job_run", "id": f"job-{n}"},
            "account": {"name": "Acme", "owner_email": "alice@acme.example"},
            "message": f"Sync job {n} failed",
            "custom_field": {"kept": True},
        }
    )


def state(n: int) -> RemediationState:
    return RemediationState.begin(
        detection(n), datetime(2026, 12, 6, tzinfo=UTC), "alice@acme.example", False
    )


def test_models_of_a_class_share_one_set_and_write_the_same_payloads() -> None:
    first, second = state(1), state(2)
    before = dumped(first), dumped(second)
    share_field_sets(first, second)
    assert (dumped(first), dumped(second)) == before
    entries = [e.__pydantic_fields_set__ for e in first.timeline + second.timeline]
    assert all(fields is entries[0] for fields in entries)
    assert entries[0] == set(TimelineEntry.model_fields)


def test_setting_a_field_changes_only_that_model() -> None:
    first, second = state(1), state(2)
    share_field_sets(first, second)
    mine, theirs = first.timeline[0], second.timeline[0]
    mine.text = "changed"
    assert (mine.text, theirs.text) == ("changed", "hubspot reported an error on job_run job-2")
    assert mine.__pydantic_fields_set__ is theirs.__pydantic_fields_set__
    assert theirs.__pydantic_fields_set__ == set(TimelineEntry.model_fields)
    copied = mine.model_copy(update={"text": "copied"})
    assert (copied.text, mine.text) == ("copied", "changed")


def test_a_model_with_extra_fields_keeps_its_own_set() -> None:
    """An extra field's name would be added to the set: a report's own fields (a detection
    accepts them) must never appear on another report through a shared one."""
    first, second = detection(1), detection(2)
    share_field_sets(first, second)
    assert first.__pydantic_fields_set__ is not second.__pydantic_fields_set__
    first.planted = "by an attacker"  # type: ignore[attr-defined]
    assert "planted" in first.__pydantic_fields_set__
    assert "planted" not in second.__pydantic_fields_set__
    assert "planted" not in second.model_dump()
    # Its parts without extra fields share theirs; its account, which takes extras, does not.
    assert first.subject.__pydantic_fields_set__ is second.subject.__pydantic_fields_set__
    assert first.account.__pydantic_fields_set__ is not second.account.__pydantic_fields_set__


def test_the_shared_set_refuses_any_change() -> None:
    shared = AllFields({"at", "kind"})
    shared.add("at")
    shared.update(["kind"])
    shared |= {"at"}
    for change in (
        lambda: shared.add("planted"),
        lambda: shared.update(["planted"]),
        lambda: shared.discard("at"),
        lambda: shared.remove("at"),
        shared.pop,
        shared.clear,
        lambda: shared.__iand__({"at"}),
        lambda: shared.__isub__({"at"}),
        lambda: shared.__ixor__({"at"}),
        lambda: shared.__ior__({"planted"}),
        lambda: shared.intersection_update({"at"}),
        lambda: shared.difference_update({"at"}),
        lambda: shared.symmetric_difference_update({"at"}),
    ):
        with pytest.raises(TypeError, match="cannot change"):
            change()
    assert shared == {"at", "kind"}


class Leaf(BaseModel):
    name: str = "leaf"


class Holder(BaseModel):
    kind: Literal["leaf", "branch"] = "leaf"  # strings, not names of models
    label: str = ""
    one: Leaf | None = None
    many: list[Leaf] = []
    pairs: tuple[Leaf, ...] = ()
    anything: Any = None
    by_name: dict[str, Leaf] = {}


def test_the_walk_reaches_models_in_fields_lists_tuples_and_untyped_fields_only() -> None:
    """Each wait walks only the fields whose type can hold a model."""
    holder = Holder(
        one=Leaf(),
        many=[Leaf()],
        pairs=(Leaf(),),
        anything=[Leaf()],
        by_name={"kept": Leaf()},
    )
    share_field_sets(holder)
    shared = shared_fields(Leaf)
    reached = [holder.one, holder.many[0], holder.pairs[0], holder.anything[0]]
    assert all(leaf is not None and leaf.__pydantic_fields_set__ is shared for leaf in reached)
    assert holder.by_name["kept"].__pydantic_fields_set__ is not shared
    assert walked_fields(Holder) == ("one", "many", "pairs", "anything")
    assert walked_fields(TimelineEntry) == ()  # text, times and JSON data: nothing to walk
