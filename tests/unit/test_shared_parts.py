"""A pinned diagnosis's SOP parts are one copy per process: remediations of one SOP share
them, payloads are unchanged, and nothing that reads or shows a diagnosis changes them."""

from __future__ import annotations

from canary.catalog import diagnose, load_catalog, plan
from canary.converter import dumped
from canary.models import Detection, Diagnosis
from canary.models.home import home_entry
from canary.models.shared_parts import SHARED_FIELDS, share_constant_parts
from tests.unit.test_state import open_state, payment


def diagnosed(detection: Detection) -> Diagnosis:
    catalog = load_catalog()
    return diagnose(detection, plan(detection, catalog), catalog, detection.facts)


def test_two_diagnoses_of_one_sop_share_its_parts_and_write_the_same_payloads() -> None:
    first, second = diagnosed(payment("evt_1")), diagnosed(payment("evt_2"))
    before = dumped(first), dumped(second)
    assert first.actions is not second.actions
    share_constant_parts(first)
    share_constant_parts(second)
    assert (dumped(first), dumped(second)) == before
    for name in SHARED_FIELDS:
        if getattr(first, name) not in (None, []):
            assert getattr(first, name) is getattr(second, name), name


def test_parts_that_differ_are_kept_as_they_are() -> None:
    soft, hard = diagnosed(payment("evt_1")), diagnosed(payment("evt_2", "stolen_card"))
    assert dumped(soft.retry_plan) != dumped(hard.retry_plan)
    share_constant_parts(soft)
    share_constant_parts(hard)
    assert soft.retry_plan is not hard.retry_plan
    assert soft.decline_class != hard.decline_class


def test_showing_a_shared_diagnosis_leaves_it_as_it_was() -> None:
    """A Home entry empties the buttons' steps and reasons in its copy, never the shared ones."""
    state, other = open_state(payment("evt_1")), open_state(payment("evt_2"))
    assert state.diagnosis is not None and other.diagnosis is not None
    share_constant_parts(state.diagnosis)
    share_constant_parts(other.diagnosis)
    assert state.diagnosis.actions is other.diagnosis.actions
    before = dumped(other.diagnosis)
    entry = home_entry(state.status("payment_failed:invoice:in_1", payment("evt_1")))
    assert entry.diagnosis is not None and all(not a.steps for a in entry.diagnosis.actions)
    assert dumped(other.diagnosis) == before
    assert any(a.steps for a in other.diagnosis.actions)
