"""Canary's payload converter: the same JSON as temporalio's pydantic converter, with the
adapters that read it shared by the whole process."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from temporalio.contrib.pydantic import pydantic_data_converter

from canary.converter import adapter, canary_data_converter
from canary.models import Detection, RemediationInput
from canary.models.detection import Subject


def detection() -> Detection:
    return Detection(
        source="stripe",
        subject=Subject(kind="invoice", id="in_Converter1"),
        occurred_at=datetime(2026, 12, 5, 9, 30, tzinfo=UTC),
        message="Card declined <@U0EVIL> & more",
        facts={"amount_due": 480000, "nested": {"list": [1, "two", None]}},
    )


def test_payloads_read_both_ways_with_temporalios_pydantic_converter() -> None:
    """Histories recorded with the SDK's pydantic converter replay here, and the other way
    round: the same encodings and values; a model's payload is theirs less the fields at
    their defaults, which either converter fills in again when it reads it."""
    ours, theirs = (
        canary_data_converter.payload_converter,
        pydantic_data_converter.payload_converter,
    )
    values: list[Any] = [RemediationInput(detection=detection()), {"a": [1, 2]}, "text", None, 7]
    written = ours.to_payloads(values)
    whole = theirs.to_payloads(values)
    assert [p.metadata for p in written] == [p.metadata for p in whole]
    assert [p.SerializeToString() for p in written[1:]] == [
        p.SerializeToString() for p in whole[1:]
    ]
    model, model_whole = json.loads(written[0].data), json.loads(whole[0].data)
    assert set(model) < set(model_whole)
    assert "config" in model_whole and "config" not in model
    hints: list[Any] = [RemediationInput, dict[str, list[int]], str, type(None), int]
    assert ours.from_payloads(theirs.to_payloads(values), hints) == values
    assert theirs.from_payloads(written, hints) == values


def test_a_payload_without_a_type_or_with_an_unhashable_one_is_still_read() -> None:
    converter = canary_data_converter.payload_converter
    [payload] = converter.to_payloads([detection()])
    untyped = converter.from_payloads([payload], None)[0]
    assert untyped["subject"] == {"kind": "invoice", "id": "in_Converter1"}

    unhashable = Annotated[list[int], {"what": "metadata that cannot be hashed"}]
    [numbers] = converter.to_payloads([[1, 2, 3]])
    assert converter.from_payloads([numbers], [unhashable])[0] == [1, 2, 3]


def test_converters_built_per_workflow_share_one_adapter_per_type() -> None:
    """The SDK builds a converter per workflow instance and per serialization context; none
    of them builds or keeps an adapter of its own."""
    [payload] = canary_data_converter.payload_converter.to_payloads([detection()])
    adapter.cache_clear()
    read = [
        canary_data_converter._new_payload_converter().from_payloads([payload], [Detection])[0]
        for _ in range(50)
    ]
    assert all(r == detection() for r in read)
    info = adapter.cache_info()
    assert (info.misses, info.hits, info.currsize) == (1, 49, 1)
