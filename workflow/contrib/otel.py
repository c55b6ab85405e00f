"""OpenTelemetry traces and metrics of workflow runs (the ``otel`` extra).

:func:`instrument` connects receivers to the signals of
:mod:`workflow.signals`; from then on every engine of the process (plain or
stored, in any thread) reports:

* a span per run, ``workflow.run``, from ``workflow_started`` to
  ``workflow_finished``, ``workflow_halted`` or ``workflow_error``;
* a span per object, ``workflow.object``, child of its run's span;
* with ``tasks=True``, a span per task, ``workflow.task``, child of its
  object's span;
* a counter of the objects that left the tasks, ``workflow.objects``, by
  outcome, and with ``tasks=True`` a histogram of the tasks' durations,
  ``workflow.task.duration`` (seconds).

Each span carries the workflow's uuid and name (for stored workflows), the
object's position and the task's name and position as attributes (the
``ATTRIBUTE_*`` constants), and ``workflow.outcome``: ``completed``,
``halted`` or ``error``. An error sets the span's status to ERROR (its
description is the exception line) and records the exception as an event; a
halt is an outcome, not a failure: the status stays unset, and a
``workflow.halted`` event carries the halt's message and action.

A run that goes on past a halt or an error (``stop_on_halt=False``) sends
``workflow_started`` again: each stretch gets its own run span. A run that a
task starts on its own engine is a child of that task's object span, and
the run it supersedes ends with it (outcome ``superseded``).

The run's span is the current span while it runs, and the object's while
its tasks run: spans that tasks open (an HTTP call, a database query) are
children of the object's span. A run started in a Celery task is a child of
the task's span, so with Celery's own instrumentation
(``opentelemetry-instrumentation-celery``, in the sender and in the
workers) a workflow run by a worker is in the trace of the code that sent
the task.

Only the OpenTelemetry API is needed; the application chooses the SDK, its
exporters and its providers (the global ones by default).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

try:
    from opentelemetry import context, metrics, trace
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import Span, Status, StatusCode, TracerProvider
except ImportError as _missing:
    raise ImportError(
        f"workflow.contrib.otel needs the OpenTelemetry API ({_missing}): install"
        " it with pip install 'workflow[otel]'"
    ) from _missing

from .. import signals
from ..version import __version__

if TYPE_CHECKING:
    from contextvars import Token

    from opentelemetry.context import Context

__all__ = (
    "ATTRIBUTE_NAME",
    "ATTRIBUTE_OUTCOME",
    "ATTRIBUTE_POSITION",
    "ATTRIBUTE_TASK",
    "ATTRIBUTE_TASK_POSITION",
    "ATTRIBUTE_UUID",
    "HALT_EVENT",
    "OBJECT_SPAN",
    "RUN_SPAN",
    "TASK_SPAN",
    "instrument",
    "is_instrumented",
    "uninstrument",
)

ATTRIBUTE_UUID = "workflow.uuid"
"""The stored workflow's uuid."""
ATTRIBUTE_NAME = "workflow.name"
"""The stored workflow's definition name."""
ATTRIBUTE_POSITION = "workflow.object.position"
"""The object's position among the workflow's objects (from 0)."""
ATTRIBUTE_TASK = "workflow.task.name"
"""The task's name: its function's, or for a pattern's task the name of the
function it was given (``grade_is_not_passing`` for
``IF(grade_is_not_passing, ...)``), as in the log records."""
ATTRIBUTE_TASK_POSITION = "workflow.task.position"
"""The task's position in the definition, as ``callback_pos`` (a list of ints)."""
ATTRIBUTE_OUTCOME = "workflow.outcome"
"""How the run, object or task ended: ``completed``, ``halted`` or ``error``,
or another outcome of :data:`workflow.signals.object_finished`."""

RUN_SPAN = "workflow.run"
"""The name of a run's span."""
OBJECT_SPAN = "workflow.object"
"""The name of an object's span."""
TASK_SPAN = "workflow.task"
"""The name of a task's span."""
HALT_EVENT = "workflow.halted"
"""The name of the event a halt adds to its object's and its run's spans, with
the attributes ``workflow.halt.message`` and ``workflow.halt.action`` (when
the halt has them)."""

_RUN = "run"
_OBJECT = "object"
_SUPERSEDED = "superseded"


class _Frame(NamedTuple):
    """An open span of one engine, and what ends it."""

    kind: str
    span: Span
    token: Token[Context]
    """The context token that made ``span`` current, to detach when it ends."""
    attributes: dict[str, Any]
    """The workflow's attributes (uuid and name), shared by its spans."""


def _workflow_attributes(eng: Any) -> dict[str, Any]:
    """The uuid and name of a stored workflow's engine; nothing for a plain one."""
    attributes: dict[str, Any] = {}
    # Only the database engines have them, kept on the engine: reading them
    # queries nothing.
    uuid = getattr(eng, "uuid", None)
    if uuid is not None:
        attributes[ATTRIBUTE_UUID] = str(uuid)
    name = getattr(eng, "name", None)
    if name is not None:
        attributes[ATTRIBUTE_NAME] = str(name)
    return attributes


def _exception_line(exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


class _Instrumentation:
    """The receivers of one :func:`instrument` call, and the spans they keep open."""

    def __init__(
        self,
        tracer_provider: TracerProvider | None,
        meter_provider: MeterProvider | None,
        tasks: bool,
    ) -> None:
        self.tracer = trace.get_tracer(
            "workflow", __version__, tracer_provider=tracer_provider
        )
        meter = metrics.get_meter(
            "workflow", __version__, meter_provider=meter_provider
        )
        self.objects = meter.create_counter(
            "workflow.objects",
            unit="{object}",
            description="Objects that left the tasks, by outcome",
        )
        self.task_duration = meter.create_histogram(
            "workflow.task.duration",
            unit="s",
            description="How long each task ran, by task name and outcome",
        )
        self.tasks = tasks
        # The open spans of each running engine, innermost last, by id():
        # an engine runs in one thread at a time, so each list is only
        # touched by the thread running its engine.
        self.frames: dict[int, list[_Frame]] = {}
        self.connections: list[tuple[Any, Callable[..., None]]] = [
            (signals.workflow_started, self.run_started),
            (signals.workflow_finished, self.run_finished),
            (signals.workflow_halted, self.run_halted),
            (signals.workflow_error, self.run_failed),
            (signals.object_started, self.object_started),
            (signals.object_finished, self.object_finished),
        ]
        if tasks:
            self.connections.append((signals.task_finished, self.task_finished))

    def connect(self) -> None:
        for signal, receiver in self.connections:
            signal.connect(receiver, weak=False)

    def disconnect(self) -> None:
        for signal, receiver in self.connections:
            signal.disconnect(receiver)

    def _open(
        self, eng: Any, kind: str, name: str, attributes: dict[str, Any], shared: Any
    ) -> None:
        span = self.tracer.start_span(name, attributes=attributes)
        token = context.attach(trace.set_span_in_context(span))
        self.frames.setdefault(id(eng), []).append(_Frame(kind, span, token, shared))

    # -- runs ----------------------------------------------------------------

    def run_started(self, eng: Any, **_: Any) -> None:
        # A run started by a task of a run of the same engine nests in it:
        # the outer run ends when this one does (it is superseded).
        attributes = _workflow_attributes(eng)
        self._open(eng, _RUN, RUN_SPAN, attributes, attributes)

    def run_finished(self, eng: Any, **_: Any) -> None:
        self._end_run(eng, "completed", None)

    def run_halted(self, eng: Any, **_: Any) -> None:
        self._end_run(eng, "halted", sys.exc_info()[1])

    def run_failed(self, eng: Any, **_: Any) -> None:
        self._end_run(eng, "error", sys.exc_info()[1])

    def _end_run(self, eng: Any, outcome: str, exc: BaseException | None) -> None:
        """End every open span of ``eng``: its innermost run ended.

        The runs it is nested in (a task of theirs started it) end with it,
        and so do their objects: they were ``superseded``, as the engine
        reports those objects, and get no signal of their own.
        """
        frames = self.frames.pop(id(eng), None)
        if not frames:
            return
        for frame in reversed(frames):
            span = frame.span
            if span.is_recording():
                span.set_attribute(ATTRIBUTE_OUTCOME, outcome)
                _mark(span, outcome, exc)
            span.end()
            context.detach(frame.token)
            if frame.kind == _RUN:
                outcome, exc = _SUPERSEDED, None

    # -- objects -------------------------------------------------------------

    def object_started(self, eng: Any, *, position: int, **_: Any) -> None:
        frames = self.frames.get(id(eng))
        shared = frames[-1].attributes if frames else _workflow_attributes(eng)
        attributes = dict(shared)
        attributes[ATTRIBUTE_POSITION] = position
        self._open(eng, _OBJECT, OBJECT_SPAN, attributes, shared)

    def object_finished(
        self, eng: Any, *, position: int, outcome: str, **_: Any
    ) -> None:
        frames = self.frames.get(id(eng))
        shared: dict[str, Any] = {}
        if frames and frames[-1].kind == _OBJECT:
            frame = frames.pop()
            shared = frame.attributes
            span = frame.span
            if span.is_recording():
                span.set_attribute(ATTRIBUTE_OUTCOME, outcome)
                _mark(span, outcome, sys.exc_info()[1])
            span.end()
            context.detach(frame.token)
        elif frames:
            shared = frames[-1].attributes
        else:
            # Its run ended first: a task's own run of the engine superseded it.
            shared = _workflow_attributes(eng)
        labels = {ATTRIBUTE_OUTCOME: outcome}
        name = shared.get(ATTRIBUTE_NAME)
        if name is not None:
            labels[ATTRIBUTE_NAME] = name
        self.objects.add(1, labels)

    # -- tasks ---------------------------------------------------------------

    def task_finished(
        self,
        eng: Any,
        *,
        position: int,
        callback_pos: Any,
        task: Any,
        duration: float,
        outcome: str,
        **_: Any,
    ) -> None:
        name = signals.task_name(task)
        self.task_duration.record(
            duration, {ATTRIBUTE_TASK: name, ATTRIBUTE_OUTCOME: outcome}
        )
        end = time.time_ns()
        frames = self.frames.get(id(eng))
        attributes = dict(frames[-1].attributes) if frames else {}
        attributes[ATTRIBUTE_POSITION] = position
        attributes[ATTRIBUTE_TASK] = name
        attributes[ATTRIBUTE_TASK_POSITION] = [int(index) for index in callback_pos]
        attributes[ATTRIBUTE_OUTCOME] = outcome
        # The signal comes once the task is over: the span is dated back.
        span = self.tracer.start_span(
            TASK_SPAN, attributes=attributes, start_time=end - int(duration * 1e9)
        )
        _mark(span, outcome, sys.exc_info()[1])
        span.end(end_time=end)


def _mark(span: Span, outcome: str, exc: BaseException | None) -> None:
    """Set the span's status and events for a halt or an error."""
    if outcome == "error":
        if exc is not None:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, _exception_line(exc)))
        else:
            span.set_status(Status(StatusCode.ERROR))
    elif outcome == "halted":
        event: dict[str, Any] = {}
        message = getattr(exc, "message", None)
        if message:
            event["workflow.halt.message"] = str(message)
        action = getattr(exc, "action", None)
        if action is not None:
            event["workflow.halt.action"] = str(action)
        span.add_event(HALT_EVENT, event)


_lock = threading.Lock()
_active: _Instrumentation | None = None


def instrument(
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    tasks: bool = False,
) -> None:
    """Report every workflow run of this process to OpenTelemetry.

    :param tracer_provider: where the spans go; the global tracer provider
        by default.
    :param meter_provider: where the metrics go; the global meter provider
        by default.
    :param tasks: also report each task: a span per task and the
        ``workflow.task.duration`` histogram. Every task then sends a signal
        and is timed, which costs time in each task: off by default.
    :raises RuntimeError: when the process is already instrumented (call
        :func:`uninstrument` first to change the set-up).
    """
    global _active
    with _lock:
        if _active is not None:
            raise RuntimeError(
                "workflow.contrib.otel is already instrumented; call"
                " uninstrument() first to instrument it again with other settings"
            )
        instrumentation = _Instrumentation(tracer_provider, meter_provider, tasks)
        instrumentation.connect()
        _active = instrumentation


def uninstrument() -> None:
    """Stop reporting to OpenTelemetry: disconnect the receivers.

    Does nothing when the process is not instrumented.
    """
    global _active
    with _lock:
        if _active is not None:
            _active.disconnect()
            _active = None


def is_instrumented() -> bool:
    """Whether :func:`instrument` was called (and not undone)."""
    return _active is not None
