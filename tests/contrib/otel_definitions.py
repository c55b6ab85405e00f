"""Definitions run by the OpenTelemetry tests, in this process and in workers.

Importing this module registers them by name in :data:`workflow.storage.registry`
(Celery workers run registered definitions only).
"""

from __future__ import annotations

from opentelemetry import trace

from workflow.patterns.controlflow import IF
from workflow.storage import registry


def record(obj, eng):
    # A span of the task's own: it nests in the object's span.
    with trace.get_tracer("grades").start_as_current_span("look up grade"):
        pass


def grade_is_not_passing(obj, eng):
    return obj.data < 5


def ask_for_retake(obj, eng):
    eng.halt(f"grade {obj.data} fails", action="retake")


def explode(obj, eng):
    if obj.data == 0:
        raise ValueError("no grade")


grading = [record, IF(grade_is_not_passing, [ask_for_retake])]
failing = [explode]

registry.register("otel_grading", grading)
