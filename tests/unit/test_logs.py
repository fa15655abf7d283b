"""Log lines are JSON, carry the remediation's id and type, and never a configured secret."""

from __future__ import annotations

import json
import logging

from canary.logs import JsonFormatter


def test_json_lines_with_workflow_context_and_no_secrets() -> None:
    formatter = JsonFormatter(secrets=["sk_test_supersecret", "xoxb-secret-token"])
    record = logging.LogRecord(
        "activities",
        logging.INFO,
        __file__,
        1,
        "calling Stripe with sk_test_supersecret",
        None,
        None,
    )
    record.temporal_activity = {  # what temporalio's activity.logger attaches
        "workflow_id": "payment_failed:invoice:in_1",
        "run_id": "r1",
        "activity_type": "canary.run_step",
    }
    line = json.loads(formatter.format(record))
    assert line["workflow_id"] == "payment_failed:invoice:in_1"
    assert line["error_type"] == "payment_failed"
    assert line["activity"] == "canary.run_step"
    assert "sk_test_supersecret" not in json.dumps(line) and "[redacted]" in line["message"]
