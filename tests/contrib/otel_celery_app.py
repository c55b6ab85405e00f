"""The test workers' Celery app, reporting spans (``-A tests.contrib.otel_celery_app``).

It is :mod:`tests.contrib.celery_app` with OpenTelemetry set up at import:
Celery's instrumentation and :mod:`workflow.contrib.otel`, whose spans (and
the tasks' own) the global tracer provider writes as JSON lines to the file
``$WORKFLOW_TEST_SPANS`` as each ends.
Workers run it with the ``solo`` pool, so the process that imports it runs
the tasks.
"""

from __future__ import annotations

import os

from opentelemetry import trace
from opentelemetry.instrumentation.celery import CeleryInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

from tests.contrib import otel_definitions  # noqa: F401  (registers definitions)
from tests.contrib.celery_app import app, tasks
from workflow.contrib import otel

__all__ = ("app", "tasks")

provider = TracerProvider()
provider.add_span_processor(
    SimpleSpanProcessor(
        ConsoleSpanExporter(
            out=open(os.environ["WORKFLOW_TEST_SPANS"], "a"),  # noqa: SIM115
            formatter=lambda span: span.to_json(indent=None) + "\n",
        )
    )
)
trace.set_tracer_provider(provider)
CeleryInstrumentor().instrument()
otel.instrument()
