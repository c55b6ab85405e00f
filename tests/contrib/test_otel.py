"""workflow.contrib.otel: spans and metrics, read back from the OpenTelemetry SDK.

Every test sets up a real SDK tracer provider with the in-memory span
exporter and a real meter provider with the in-memory metric reader, runs
real engines (plain ones, and stored ones on SQLite), and compares the
exact span trees, attributes, statuses, events and metric points. The last
test runs a workflow in a real Celery worker.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)

from tests.contrib import otel_definitions
from tests.contrib.conftest import wait_until
from workflow import signals
from workflow.contrib import otel
from workflow.engine import GenericWorkflowEngine
from workflow.errors import HaltProcessing
from workflow.patterns.controlflow import IF
from workflow.storage import WorkflowStore, resume, start

pytestmark = pytest.mark.timeout(60)

NAME = "tests.contrib.otel_definitions:grading"


# The tasks make their own spans with the global tracer provider, as
# application code does: it is this one, set once, emptied by each test.
PROVIDER = TracerProvider()
EXPORTER = InMemorySpanExporter()
PROVIDER.add_span_processor(SimpleSpanProcessor(EXPORTER))


class Telemetry:
    """The SDK tracer provider, and a meter provider, that keep what they get."""

    def __init__(self) -> None:
        if trace.get_tracer_provider() is not PROVIDER:
            trace.set_tracer_provider(PROVIDER)
        assert trace.get_tracer_provider() is PROVIDER
        EXPORTER.clear()
        self.exporter = EXPORTER
        self.tracer_provider = PROVIDER
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def spans(self):
        return self.exporter.get_finished_spans()

    def tree(self):
        """The finished spans as nested dicts, children in the order they ended.

        (Task spans are dated back from their end: the end orders them.)
        """
        spans = sorted(self.spans(), key=lambda span: span.end_time)
        ids = {span.context.span_id for span in spans}
        children: dict = {}
        roots = []
        for span in spans:
            if span.parent is not None and span.parent.span_id in ids:
                children.setdefault(span.parent.span_id, []).append(span)
            else:
                roots.append(span)

        def node(span):
            shown = {"name": span.name, "attributes": dict(span.attributes)}
            if span.status.status_code.name != "UNSET":
                shown["status"] = (
                    span.status.status_code.name,
                    span.status.description,
                )
            if span.events:
                shown["events"] = [event_of(event) for event in span.events]
            kids = children.get(span.context.span_id)
            if kids:
                shown["children"] = [node(kid) for kid in kids]
            return shown

        return [node(root) for root in roots]

    def points(self, metric_name):
        """The metric's data points: attributes (sorted items) -> value or count."""
        data = self.reader.get_metrics_data()
        found = {}
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name != metric_name:
                        continue
                    for point in metric.data.data_points:
                        key = tuple(sorted(point.attributes.items()))
                        found[key] = getattr(point, "value", None)
                        if found[key] is None:
                            found[key] = (point.count, point.sum)
        return found


def event_of(event):
    attributes = dict(event.attributes)
    if event.name == "exception":
        return (
            "exception",
            attributes["exception.type"],
            attributes["exception.message"],
        )
    return (event.name, attributes)


@pytest.fixture
def telemetry():
    telemetry = Telemetry()
    otel.instrument(
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
    )
    try:
        yield telemetry
    finally:
        otel.uninstrument()


@pytest.fixture
def task_telemetry():
    telemetry = Telemetry()
    otel.instrument(
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
        tasks=True,
    )
    try:
        yield telemetry
    finally:
        otel.uninstrument()


@pytest.fixture
def store(tmp_path):
    store = WorkflowStore(f"sqlite:///{tmp_path}/wf.db")
    try:
        yield store
    finally:
        store.dispose()


# Plain engines: the objects are the grades themselves.


def note(obj, eng):
    with trace.get_tracer("grades").start_as_current_span("look up grade"):
        pass


def grade_is_not_passing(obj, eng):
    return obj < 5


def ask_for_retake(obj, eng):
    eng.halt(f"grade {obj} fails", action="retake")


def explode(obj, eng):
    if obj == 0:
        raise ValueError("no grade")


def engine(definition):
    eng = GenericWorkflowEngine()
    eng.callbacks.replace(definition)
    return eng


def run(name="workflow.run", children=(), **attributes):
    shown = {"name": name, "attributes": attributes}
    if children:
        shown["children"] = list(children)
    return shown


def obj_span(position, outcome, children=(), **more):
    shown = {
        "name": "workflow.object",
        "attributes": {
            **more.pop("workflow", {}),
            "workflow.object.position": position,
            "workflow.outcome": outcome,
        },
        **more,
    }
    if children:
        shown["children"] = list(children)
    return shown


LOOKUP = {"name": "look up grade", "attributes": {}}


def test_a_completed_run_is_a_run_span_over_an_object_span_per_object(telemetry):
    engine([note]).process([6, 7])
    assert telemetry.tree() == [
        run(
            children=[
                obj_span(0, "completed", [LOOKUP]),
                obj_span(1, "completed", [LOOKUP]),
            ],
            **{"workflow.outcome": "completed"},
        )
    ]
    assert telemetry.points("workflow.objects") == {
        (("workflow.outcome", "completed"),): 2
    }
    # Without tasks=True no task is timed or reported.
    assert telemetry.points("workflow.task.duration") == {}
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_a_halt_is_an_outcome_and_an_event_not_an_error(telemetry):
    eng = engine([note, IF(grade_is_not_passing, [ask_for_retake])])
    with pytest.raises(HaltProcessing):
        eng.process([6, 4, 7])
    halt = (
        "workflow.halted",
        {"workflow.halt.message": "grade 4 fails", "workflow.halt.action": "retake"},
    )
    assert telemetry.tree() == [
        {
            **run(
                children=[
                    obj_span(0, "completed", [LOOKUP]),
                    obj_span(1, "halted", [LOOKUP], events=[halt]),
                ],
                **{"workflow.outcome": "halted"},
            ),
            "events": [halt],
        }
    ]
    # The run's spans are no longer current once the halt reaches the caller.
    assert trace.get_current_span() is trace.INVALID_SPAN
    eng.restart("current", "next")
    [_, again] = telemetry.tree()
    assert again == run(
        children=[obj_span(1, "completed"), obj_span(2, "completed", [LOOKUP])],
        **{"workflow.outcome": "completed"},
    )
    assert telemetry.points("workflow.objects") == {
        (("workflow.outcome", "completed"),): 3,
        (("workflow.outcome", "halted"),): 1,
    }


def test_a_run_going_on_past_halts_has_a_run_span_per_stretch(telemetry):
    # The engine sends workflow_started again after each halt it goes past.
    eng = engine([IF(grade_is_not_passing, [ask_for_retake])])
    eng.process([4, 6, 3], stop_on_halt=False)

    def halt(grade):
        return (
            "workflow.halted",
            {
                "workflow.halt.message": f"grade {grade} fails",
                "workflow.halt.action": "retake",
            },
        )

    halted = {"workflow.outcome": "halted"}
    assert telemetry.tree() == [
        {
            **run(children=[obj_span(0, "halted", events=[halt(4)])], **halted),
            "events": [halt(4)],
        },
        {
            **run(
                children=[
                    obj_span(1, "completed"),
                    obj_span(2, "halted", events=[halt(3)]),
                ],
                **halted,
            ),
            "events": [halt(3)],
        },
        run(**{"workflow.outcome": "completed"}),
    ]


def test_an_error_sets_the_error_status_and_records_the_exception(telemetry):
    eng = engine([explode])
    with pytest.raises(ValueError, match="no grade"):
        eng.process([3, 0, 8])
    failed = {
        "status": ("ERROR", "ValueError: no grade"),
        "events": [("exception", "ValueError", "no grade")],
    }
    assert telemetry.tree() == [
        {
            **run(
                children=[obj_span(0, "completed"), obj_span(1, "error", **failed)],
                **{"workflow.outcome": "error"},
            ),
            **failed,
        }
    ]
    assert telemetry.points("workflow.objects") == {
        (("workflow.outcome", "completed"),): 1,
        (("workflow.outcome", "error"),): 1,
    }
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_a_run_joins_the_callers_trace(telemetry):
    tracer = telemetry.tracer_provider.get_tracer("grading service")
    with tracer.start_as_current_span("grade the class"):
        engine([note]).process([6])
    assert telemetry.tree() == [
        {
            "name": "grade the class",
            "attributes": {},
            "children": [
                run(
                    children=[obj_span(0, "completed", [LOOKUP])],
                    **{"workflow.outcome": "completed"},
                )
            ],
        }
    ]


def test_task_spans_and_durations_when_asked_for(task_telemetry):
    eng = engine([note, IF(grade_is_not_passing, [ask_for_retake])])
    with pytest.raises(HaltProcessing):
        eng.process([6, 4])

    def task(name, position, callback_pos, outcome):
        return {
            "name": "workflow.task",
            "attributes": {
                "workflow.object.position": position,
                "workflow.task.name": name,
                "workflow.task.position": callback_pos,
                "workflow.outcome": outcome,
            },
        }

    halt = (
        "workflow.halted",
        {"workflow.halt.message": "grade 4 fails", "workflow.halt.action": "retake"},
    )
    [tree] = task_telemetry.tree()
    assert tree["children"] == [
        obj_span(
            0,
            "completed",
            [
                LOOKUP,
                task("note", 0, (0,), "ok"),
                # IF's condition is false: it leaves the IF's block.
                task("grade_is_not_passing", 0, (1, 0), "BreakFromThisLoop"),
            ],
        ),
        obj_span(
            1,
            "halted",
            [
                LOOKUP,
                task("note", 1, (0,), "ok"),
                task("grade_is_not_passing", 1, (1, 0), "ok"),
                task("ask_for_retake", 1, (1, 1, 0), "HaltProcessing"),
            ],
            events=[halt],
        ),
    ]
    durations = task_telemetry.points("workflow.task.duration")
    assert {key: count for key, (count, _) in durations.items()} == {
        (("workflow.outcome", "ok"), ("workflow.task.name", "note")): 2,
        (
            ("workflow.outcome", "BreakFromThisLoop"),
            ("workflow.task.name", "grade_is_not_passing"),
        ): 1,
        (("workflow.outcome", "ok"), ("workflow.task.name", "grade_is_not_passing")): 1,
        (
            ("workflow.outcome", "HaltProcessing"),
            ("workflow.task.name", "ask_for_retake"),
        ): 1,
    }
    assert all(total >= 0 for _, total in durations.values())
    # Each task span lasts what the signal measured, inside its object's span.
    for obj in [s for s in task_telemetry.spans() if s.name == "workflow.object"]:
        for span in task_telemetry.spans():
            if span.parent is not None and span.parent.span_id == obj.context.span_id:
                assert obj.start_time <= span.end_time <= obj.end_time


def test_a_task_error_on_its_task_span(task_telemetry):
    with pytest.raises(ValueError, match="no grade"):
        engine([explode]).process([0])
    [task_span] = [s for s in task_telemetry.spans() if s.name == "workflow.task"]
    assert (task_span.status.status_code.name, task_span.status.description) == (
        "ERROR",
        "ValueError: no grade",
    )
    assert [event_of(e) for e in task_span.events] == [
        ("exception", "ValueError", "no grade")
    ]


def test_stored_workflows_carry_their_uuid_and_name(telemetry, store):
    halted = start(NAME, [6, 4], store)
    assert halted.status.name == "HALTED"
    done = resume(halted.uuid, store)
    assert done.status.name == "COMPLETED"
    workflow = {"workflow.uuid": halted.uuid, "workflow.name": NAME}
    halt = (
        "workflow.halted",
        {"workflow.halt.message": "grade 4 fails", "workflow.halt.action": "retake"},
    )
    assert telemetry.tree() == [
        {
            **run(
                children=[
                    obj_span(0, "completed", [LOOKUP], workflow=workflow),
                    obj_span(1, "halted", [LOOKUP], workflow=workflow, events=[halt]),
                ],
                **workflow,
                **{"workflow.outcome": "halted"},
            ),
            "events": [halt],
        },
        run(
            children=[obj_span(1, "completed", workflow=workflow)],
            **workflow,
            **{"workflow.outcome": "completed"},
        ),
    ]
    assert telemetry.points("workflow.objects") == {
        (("workflow.name", NAME), ("workflow.outcome", "completed")): 2,
        (("workflow.name", NAME), ("workflow.outcome", "halted")): 1,
    }


def test_a_run_a_task_starts_nests_in_its_object_and_supersedes_its_run(telemetry):
    def again(obj, eng):
        if obj == 1 and not eng.extra_data.get("again"):
            eng.extra_data["again"] = True
            eng.restart("current", "next")

    engine([again]).process([0, 1, 2])
    done = {"workflow.outcome": "completed"}
    assert telemetry.tree() == [
        run(
            children=[
                obj_span(0, "completed"),
                obj_span(
                    1,
                    "superseded",
                    [
                        run(
                            children=[
                                obj_span(1, "completed"),
                                obj_span(2, "completed"),
                            ],
                            **done,
                        )
                    ],
                ),
            ],
            **{"workflow.outcome": "superseded"},
        )
    ]
    assert telemetry.points("workflow.objects") == {
        (("workflow.outcome", "completed"),): 3,
        (("workflow.outcome", "superseded"),): 1,
    }
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_a_stored_workflows_error(telemetry, store):
    failed = start("tests.contrib.otel_definitions:failing", [1, 0], store)
    assert (failed.status.name, failed.error) == ("ERROR", "ValueError: no grade")
    workflow = {
        "workflow.uuid": failed.uuid,
        "workflow.name": "tests.contrib.otel_definitions:failing",
    }
    error = {
        "status": ("ERROR", "ValueError: no grade"),
        "events": [("exception", "ValueError", "no grade")],
    }
    assert telemetry.tree() == [
        {
            **run(
                children=[
                    obj_span(0, "completed", workflow=workflow),
                    obj_span(1, "error", workflow=workflow, **error),
                ],
                **workflow,
                **{"workflow.outcome": "error"},
            ),
            **error,
        }
    ]


def test_instrument_once_and_uninstrument_disconnects_every_receiver():
    telemetry = Telemetry()
    every = [name for name in signals.__all__ if name != "task_name"]
    before = {name: dict(getattr(signals, name).receivers) for name in every}
    assert not otel.is_instrumented()
    otel.instrument(tracer_provider=telemetry.tracer_provider, tasks=True)
    try:
        assert otel.is_instrumented()
        with pytest.raises(RuntimeError, match="already instrumented; call"):
            otel.instrument()
    finally:
        otel.uninstrument()
    assert not otel.is_instrumented()
    after = {name: dict(getattr(signals, name).receivers) for name in every}
    assert after == before
    engine([note]).process([1])
    # Only the task's own span: the engine reported nothing.
    assert [s.name for s in telemetry.spans()] == ["look up grade"]
    otel.uninstrument()


def test_the_definitions_module_registers_its_definition():
    # The Celery workers start it by this name.
    from workflow.storage import registry

    assert registry.get("otel_grading") == otel_definitions.grading


# A real Celery worker.


@pytest.mark.celery
@pytest.mark.timeout(90)
def test_a_workflow_run_by_a_celery_worker_joins_the_senders_trace(
    worker_pool, tmp_path: Path
) -> None:
    from opentelemetry.instrumentation.celery import CeleryInstrumentor

    from tests.contrib.test_celery import client_app, client_tasks

    spans_file = tmp_path / "worker-spans.jsonl"
    store_url = f"sqlite:///{tmp_path}/wf.db"
    WorkflowStore(store_url).create_all()
    worker = worker_pool.start(
        "otel",
        store_url,
        app="tests.contrib.otel_celery_app",
        pool="solo",
        extra_env={"WORKFLOW_TEST_SPANS": str(spans_file)},
    )
    telemetry = Telemetry()
    instrumentor = CeleryInstrumentor()
    instrumentor.instrument(tracer_provider=telemetry.tracer_provider)
    app = client_app(worker_pool.broker_url)
    try:
        worker_pool.wait_ready(worker)
        tasks = client_tasks(app)
        tracer = telemetry.tracer_provider.get_tracer("grading service")
        with tracer.start_as_current_span("grade the class") as sender:
            message = tasks.start.delay("otel_grading", [6, 7])
        result = message.get(timeout=30)
        assert result["status"] == "COMPLETED"
    finally:
        instrumentor.uninstrument()
        app.close()
    trace_id = format(sender.get_span_context().trace_id, "032x")
    sent = {
        span.name: format(span.context.span_id, "016x") for span in telemetry.spans()
    }
    assert sorted(sent) == ["apply_async/wftest.start", "grade the class"]

    def worker_spans():
        if not spans_file.exists():
            return []
        return [json.loads(line) for line in spans_file.read_text().splitlines()]

    # The worker ends its task's span after sending the result.
    wait_until(lambda: len(worker_spans()) == 6, 10, "the worker's six spans")
    by_id = {span["context"]["span_id"][2:]: span for span in worker_spans()}

    def parent_name(span):
        parent = span["parent_id"][2:]
        return by_id[parent]["name"] if parent in by_id else parent

    uuid = result["uuid"]
    shown = sorted(
        (
            (
                span["name"],
                parent_name(span),
                span["context"]["trace_id"][2:],
                {
                    k: v
                    for k, v in span["attributes"].items()
                    if k.startswith("workflow.")
                },
            )
            for span in worker_spans()
        ),
        key=lambda shown: (shown[:3], json.dumps(shown[3], sort_keys=True)),
    )
    workflow = {"workflow.uuid": uuid, "workflow.name": "otel_grading"}
    assert shown == [
        ("look up grade", "workflow.object", trace_id, {}),
        ("look up grade", "workflow.object", trace_id, {}),
        ("run/wftest.start", sent["apply_async/wftest.start"], trace_id, {}),
        (
            "workflow.object",
            "workflow.run",
            trace_id,
            {
                **workflow,
                "workflow.object.position": 0,
                "workflow.outcome": "completed",
            },
        ),
        (
            "workflow.object",
            "workflow.run",
            trace_id,
            {
                **workflow,
                "workflow.object.position": 1,
                "workflow.outcome": "completed",
            },
        ),
        (
            "workflow.run",
            "run/wftest.start",
            trace_id,
            {**workflow, "workflow.outcome": "completed"},
        ),
    ]


# Imports.


def python(code):
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )


def test_without_the_api_the_import_says_which_extra_to_install():
    done = python(
        "import sys; sys.modules['opentelemetry'] = None\nimport workflow.contrib.otel"
    )
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        "ImportError: workflow.contrib.otel needs the OpenTelemetry API (import of"
        " opentelemetry halted; None in sys.modules): install it with"
        " pip install 'workflow[otel]'"
    )


def test_the_rest_of_the_package_never_imports_opentelemetry():
    done = python(
        "import sys\n"
        "import workflow.cli, workflow.contrib.celery, workflow.engine,"
        " workflow.signals, workflow.storage\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))"
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "[]\n", "")
