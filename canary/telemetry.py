"""Tracing: one trace from the Stripe webhook through the gateway, the workflow and its
activities to the Slack call. Exported over OTLP only when OTEL_EXPORTER_OTLP_ENDPOINT is
set (or when whoever runs Canary installs a tracer provider of their own); otherwise the
gateway's and Temporal's instrumentation is left out, and Canary's own few spans go nowhere."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from temporalio.contrib.opentelemetry import TracingInterceptor

from canary.settings import Settings

log = logging.getLogger("canary.telemetry")
tracer = trace.get_tracer("canary")
_configured = False


def configure_tracing(settings: Settings, service: str) -> bool:
    """Install an OTLP exporter if an endpoint is configured. Idempotent per process."""
    global _configured
    endpoint = settings.otel_exporter_otlp_endpoint
    if not endpoint or _configured:
        return _configured
    provider = TracerProvider(resource=Resource.create({"service.name": f"canary-{service}"}))
    url = endpoint.rstrip("/")
    if not url.endswith("/v1/traces"):
        url += "/v1/traces"
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
    trace.set_tracer_provider(provider)
    _configured = True
    log.info("exporting traces to %s", url)
    return True


def tracing_on() -> bool:
    """Whether spans go anywhere: a tracer provider of the SDK is installed."""
    return isinstance(trace.get_tracer_provider(), TracerProvider)


def temporal_interceptors() -> list[TracingInterceptor]:
    """Carries the trace context through workflow starts, signals, updates and activities,
    when spans go anywhere. Without a provider the interceptor only makes spans nobody
    keeps, around every activation and activity: a twentieth of a worker's CPU in a burst."""
    return [TracingInterceptor()] if tracing_on() else []


@contextmanager
def span(name: str, **attributes: str | int | bool) -> Iterator[trace.Span]:
    with tracer.start_as_current_span(name, attributes=attributes) as current:
        yield current
