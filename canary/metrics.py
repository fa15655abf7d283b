"""Canary's own metrics (OpenTelemetry metrics API) and Temporal's runtime metrics.

Canary's instruments, and where each is recorded:

- ``canary.detections`` {error_type, source}: every detection handed to Temporal
  (starter.intake, for the gateway, the API, the CLI and the detectors alike);
- ``canary.actions`` {action, source, accepted}: button clicks and ``canary signal``, accepted
  or refused (intake again, from the update's answer);
- ``canary.remediations.opened`` {error_type}, ``canary.escalations`` {error_type, level},
  ``canary.remediations.resolved`` {error_type, outcome} and the histogram
  ``canary.remediation.time_to_resolution`` (seconds) {error_type, outcome}: recorded by a
  worker interceptor that watches the remediation workflow from outside its code (resolved
  when the run returns its ResolutionRecord, so after any cooldown; escalations from the
  CanaryEscalationLevel search attribute, so not where search attributes are off). It adds
  no command, so histories are unchanged, and its meter is Temporal's
  ``ReplaySafeMeterProvider``, which drops recordings while a workflow replays history, so a
  worker restart or a cache eviction does not count anything twice.

Export: over OTLP to ``OTEL_EXPORTER_OTLP_ENDPOINT`` when set (nothing otherwise). Temporal's
runtime metrics (workflow task latency, schedule-to-start, poller counts, …) are served on a
Prometheus endpoint when ``CANARY_PROMETHEUS_BIND`` (``host:port``) is set.
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry import metrics as otel_metrics
from opentelemetry.metrics import Meter, MeterProvider
from temporalio import workflow
from temporalio.contrib.opentelemetry import ReplaySafeMeterProvider
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import (
    ExecuteWorkflowInput,
    Interceptor,
    StartActivityInput,
    StartLocalActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)
from temporalio.workflow import ActivityHandle

from canary import search_attributes as sa
from canary.settings import Settings

log = logging.getLogger("canary.metrics")
REMEDIATION_WORKFLOW = "RemediationWorkflow"


class CanaryMetrics:
    """The instruments, created from one meter."""

    def __init__(self, meter: Meter) -> None:
        self.detections = meter.create_counter(
            "canary.detections", unit="{detection}", description="Detections submitted."
        )
        self.actions = meter.create_counter(
            "canary.actions",
            unit="{action}",
            description="People's actions (button clicks, canary signal), accepted or refused.",
        )
        self.opened = meter.create_counter(
            "canary.remediations.opened", unit="{remediation}", description="New remediations."
        )
        self.resolved = meter.create_counter(
            "canary.remediations.resolved",
            unit="{remediation}",
            description="Remediations finished, by outcome.",
        )
        self.escalations = meter.create_counter(
            "canary.escalations", unit="{escalation}", description="Escalation steps taken."
        )
        self.time_to_resolution = meter.create_histogram(
            "canary.remediation.time_to_resolution",
            unit="s",
            description="From detection to resolution.",
        )

    def detection(self, error_type: str, source: str) -> None:
        self.detections.add(1, {"error_type": error_type, "source": source})

    def action(self, action: str, source: str, accepted: bool) -> None:
        self.actions.add(1, {"action": action, "source": source, "accepted": accepted})


_provider: MeterProvider | None = None
_metrics: CanaryMetrics | None = None
_runtimes: dict[str, Runtime] = {}
_exporting = False


def use_meter_provider(provider: MeterProvider) -> CanaryMetrics:
    """Record Canary's metrics through this provider (wrapped to be replay-safe) from now on.

    The global OpenTelemetry provider can be set only once per process; Canary keeps its
    own binding so an exporter configured late, or a test's in-memory reader, still gets
    every instrument."""
    global _provider, _metrics
    _provider = ReplaySafeMeterProvider(provider)
    _metrics = CanaryMetrics(_provider.get_meter("canary"))
    return _metrics


def metrics() -> CanaryMetrics:
    global _metrics
    if _metrics is None:
        _metrics = use_meter_provider(otel_metrics.get_meter_provider())
    return _metrics


def configure_metrics(settings: Settings, service: str) -> bool:
    """Export Canary's metrics over OTLP/HTTP when an endpoint is configured."""
    global _exporting
    endpoint = settings.otel_exporter_otlp_endpoint
    if not endpoint or _exporting:
        return _exporting
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource

    url = endpoint.rstrip("/")
    if url.endswith("/v1/traces"):
        url = url[: -len("/v1/traces")]
    if not url.endswith("/v1/metrics"):
        url += "/v1/metrics"
    provider = SdkMeterProvider(
        metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=url))],
        resource=Resource.create({"service.name": f"canary-{service}"}),
    )
    use_meter_provider(provider)
    _exporting = True
    log.info("exporting metrics to %s", url)
    return True


def temporal_runtime(settings: Settings) -> Runtime | None:
    """A Temporal runtime serving its metrics for Prometheus, or None for the default one.

    One per bind address per process: a runtime owns its HTTP listener, and every client
    (worker and gateway alike) in the process shares it."""
    bind = settings.prometheus_bind
    if not bind:
        return None
    runtime = _runtimes.get(bind)
    if runtime is None:
        runtime = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=bind)))
        _runtimes[bind] = runtime
        log.info("Temporal runtime metrics for Prometheus on http://%s/metrics", bind)
    return runtime


# -- the worker interceptor -----------------------------------------------------------------


def _escalation_level() -> int:
    return workflow.info().typed_search_attributes.get(sa.ESCALATION_LEVEL) or 0


def _error_type() -> str:
    info = workflow.info()
    return info.typed_search_attributes.get(sa.ERROR_TYPE) or info.workflow_id.split(":", 1)[0]


class _Outbound(WorkflowOutboundInterceptor):
    """Notices escalations: each step raises the CanaryEscalationLevel search attribute.

    Upserts do not pass through interceptors, but the escalation's own Slack post (and the
    alert update that follows it) does, in the same workflow task; the level is compared
    there and once more when the workflow returns."""

    def __init__(self, next: WorkflowOutboundInterceptor) -> None:
        super().__init__(next)
        # The workflow's runtime is not set up yet while interceptors are built.
        self._level = next.info().typed_search_attributes.get(sa.ESCALATION_LEVEL) or 0

    def observe(self) -> None:
        level = _escalation_level()
        for step in range(self._level + 1, level + 1):
            metrics().escalations.add(1, {"error_type": _error_type(), "level": step})
        self._level = max(self._level, level)

    def start_activity(self, input: StartActivityInput) -> ActivityHandle[Any]:
        self.observe()
        return super().start_activity(input)

    def start_local_activity(self, input: StartLocalActivityInput) -> ActivityHandle[Any]:
        self.observe()
        return super().start_local_activity(input)


class _Inbound(WorkflowInboundInterceptor):
    _outbound: _Outbound | None = None

    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        if outbound.info().workflow_type == REMEDIATION_WORKFLOW:
            self._outbound = _Outbound(outbound)
            outbound = self._outbound
        super().init(outbound)

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        info = workflow.info()
        if info.workflow_type != REMEDIATION_WORKFLOW:
            return await super().execute_workflow(input)
        if info.continued_run_id is None:
            metrics().opened.add(1, {"error_type": _error_type()})
        result = await super().execute_workflow(input)
        if self._outbound is not None:
            self._outbound.observe()
        outcome = getattr(result, "outcome", None)
        elapsed = getattr(result, "time_to_resolution", None)
        if outcome is not None:
            attributes = {
                "error_type": getattr(result, "error_type", _error_type()),
                "outcome": outcome,
            }
            metrics().resolved.add(1, attributes)
            if elapsed is not None:
                metrics().time_to_resolution.record(elapsed.total_seconds(), attributes)
        return result


class MetricsInterceptor(Interceptor):
    """Counts remediations opened, escalated and resolved on the worker that runs them."""

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        return _Inbound
