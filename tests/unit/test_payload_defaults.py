"""A model's defaults are part of Canary's payload format (payloads leave them out), so a
changed default is caught here before it changes what recorded histories decode to."""

from __future__ import annotations

import json

from canary.converter import canary_data_converter
from canary.models import Detection, RemediationInput
from tests.payload_defaults import PINNED, changes, defaults


def test_no_default_changed_since_it_was_pinned() -> None:
    changed = changes(json.loads(PINNED.read_text()), defaults())
    assert not changed, (
        "These defaults changed, which changes what payloads already recorded mean (Canary "
        "leaves defaults out of payloads). Keep the old default and add a field, or, before "
        "the first release, run `python -m tests.payload_defaults` and `make histories`:\n"
        + "\n".join(changed)
    )


def test_a_changed_default_is_reported_and_a_new_field_is_not() -> None:
    pinned = {"canary.models.X": {"retries": "3", "label": '""'}}
    now = {"canary.models.X": {"retries": "5", "label": '""', "added": "null"}}
    assert changes(pinned, now) == ["canary.models.X.retries: 3 → 5"]


def test_the_pins_cover_the_models_a_remediation_carries() -> None:
    pinned = json.loads(PINNED.read_text())
    for model in ("RemediationInput", "RemediationState", "Diagnosis", "HumanAction"):
        assert any(name.endswith(f".{model}") for name in pinned), model


def test_a_payload_leaves_defaults_out_and_reads_back_whole() -> None:
    detection = Detection.model_validate(
        {"source": "monitor", "subject": {"kind": "job_run", "id": "run-1"}, "message": "failed"}
    )
    given = RemediationInput(detection=detection)
    (payload,) = canary_data_converter.payload_converter.to_payloads([given])
    written = json.loads(payload.data)
    assert "signed_by_stripe" not in written and "config" not in written
    (read,) = canary_data_converter.payload_converter.from_payloads([payload], [RemediationInput])
    assert read == given
    # Values that are not models are written whole.
    (listed,) = canary_data_converter.payload_converter.to_payloads([[1, None]])
    assert json.loads(listed.data) == [1, None]
