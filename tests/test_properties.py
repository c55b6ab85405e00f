"""Property-based tests of the engine's guarantees (see docs/reliability.rst).

Random definitions and object lists come from :mod:`tests.strategies`. Each
property runs a bounded number of examples by default (the ``workflow-ci``
profile, derandomized so that CI runs are reproducible); set
``WORKFLOW_HYPOTHESIS_PROFILE=long`` for a long, randomized search.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from tests.runs import (
    Outcome,
    check_end_state,
    check_stopped_at_last_entry,
    check_token_bounds,
    kind_of,
    reference_run,
    restarter,
    resume_from_pickle,
    run_to_end,
    task_at_position,
)
from tests.strategies import (
    LEAF_KINDS,
    PROFILE,
    SLOW_PROFILE,
    STEP_BUDGET,
    StepBudgetExceeded,
    count_recording_calls,
    definitions,
    definitions_with_halt,
    new_engine,
    objects,
    payload_of,
)
from workflow.engine import (
    ActionMapper,
    GenericWorkflowEngine,
    ProcessingFactory,
)
from workflow.errors import HaltProcessing, WorkflowError
from workflow.storage import WorkflowRecord, WorkflowStore, list_objects, start
from workflow.utils import classproperty

THREAD_TIMEOUT = 60.0
"""Seconds a thread of the thread-safety property may take before it fails."""

_REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# --------------------------------------------------------------------------
# Fixed examples, run before the generated ones on every run: shapes found
# while writing these tests (kept as regressions) and hand-picked edge cases.

ONE_HALT = [("halt", 1)]
"""The smallest halt: the halting task's own trace entry must not change."""

HALT_IN_FOR = [("for", 2, False, "ASC", [("task",), ("halt", 2)]), ("task",)]
"""A halt inside a FOR body: the loop's state in extra_data must survive."""

HALT_LAST_IN_NESTED_BLOCK = [
    ("block", [("task",), ("block", [("halt", 1)])]),
    ("task",),
]
"""Resuming after the last task of nested blocks climbs out of both."""

HALT_THEN_JUMP_BACK = [("halt", 1), ("jump_token", -1, 1), ("task",)]
"""A halted object later re-run by a backward token jump."""

STOP_AT_LAST_OBJECT = [("stop", 1)]
"""Found by the storage property: a stop at the last object left the stored
workflow COMPLETED (``has_completed``) with the object HALTED "stopped"; the
workflow is now HALTED like its object."""

THREE = [{"id": 0}, {"id": 1}, {"id": 2}]


def with_fixed_examples(test: Callable[..., None]) -> Callable[..., None]:
    """Add the fixed examples above to a ``(spec, objs)`` property."""
    for spec in (
        ONE_HALT,
        HALT_IN_FOR,
        HALT_LAST_IN_NESTED_BLOCK,
        HALT_THEN_JUMP_BACK,
        STOP_AT_LAST_OBJECT,
    ):
        test = example(spec=spec, objs=THREE)(test)
    return example(spec=STOP_AT_LAST_OBJECT, objs=[{"id": 0}])(test)


# --------------------------------------------------------------------------
# 1. Resume equivalence


@PROFILE
@with_fixed_examples
@given(spec=definitions_with_halt(), objs=objects())
def test_resuming_each_halt_equals_a_run_without_halts(spec, objs):
    expected = reference_run(spec, objs)
    got = run_to_end(new_engine(spec), copy.deepcopy(objs))
    event(f"halts per run: {got.halts if got.halts < 5 else '5 or more'}")
    assert got == expected


@PROFILE
@with_fixed_examples
@given(spec=definitions_with_halt(), objs=objects())
def test_resuming_from_a_pickled_state_equals_a_run_without_halts(spec, objs):
    expected = reference_run(spec, objs)
    got = run_to_end(new_engine(spec), copy.deepcopy(objs), resume_from_pickle(spec))
    assert got == expected


@PROFILE
@given(
    spec=definitions(),
    objs=objects(),
    stop_on_halt=st.booleans(),
    stop_on_error=st.booleans(),
)
def test_not_stopping_equals_restarting_at_the_next_object(
    spec, objs, stop_on_halt, stop_on_error
):
    """``stop_on_halt``/``stop_on_error`` false act as ``restart('next', 'first')``."""
    eng = new_engine(spec)
    try:
        eng.process(
            copy.deepcopy(objs), stop_on_halt=stop_on_halt, stop_on_error=stop_on_error
        )
        expected_end = "returned"
    except (HaltProcessing, ValueError, WorkflowError) as exc:
        expected_end = type(exc).__name__

    manual = new_engine(spec)
    go_on: Callable[[], None] = lambda: manual.process(copy.deepcopy(objs))  # noqa: E731
    while True:
        try:
            go_on()
            end = "returned"
        except HaltProcessing:
            if not stop_on_halt:
                go_on = restarter(manual, "next", "first")
                continue
            end = "HaltProcessing"
        except WorkflowError:
            if not stop_on_error:
                go_on = restarter(manual, "next", "first")
                continue
            end = "WorkflowError"
        except ValueError:
            end = "ValueError"
        break
    assert (eng.extra_data, eng.objects, expected_end) == (
        manual.extra_data,
        manual.objects,
        end,
    )


# The resume side of the storage property: a fresh process loads the
# workflow from the database and resumes it after each halt of a ``halt``
# task, until it completes, stops, fails, or halts for another reason.
_RESUME_IN_CHILD = """
import json, sys
from workflow.storage import WorkflowStore, resume
store = WorkflowStore(sys.argv[1])
try:
    while True:
        result = resume(sys.argv[2], store)
        message = result.halted_message or ""
        if result.status.name != "HALTED" or not message.startswith("halt"):
            break
finally:
    store.dispose()
print(json.dumps(result.to_dict()))
"""

CHILD_TIMEOUT = 120
"""Seconds the resuming process may take."""


def _storage_end(result: dict[str, Any], objects: list[Any]) -> str:
    """The :class:`Outcome` ``end`` that a stored workflow's result stands for.

    A ``stop`` leaves its object HALTED with the message below; the
    workflow itself is COMPLETED when that was the last object (the
    engine's ``has_completed`` rule), HALTED otherwise.
    """
    if any(info.halt_message == "Processing was stopped" for info in objects):
        return "stopped"
    if result["status"] == "COMPLETED":
        return "finished"
    if result["status"] == "ERROR":
        return result["error"]
    return f"{result['status']}: {result['halted_message']}"


@settings(PROFILE, max_examples=max(10, PROFILE.max_examples // 25))
@with_fixed_examples
@given(spec=definitions_with_halt(), objs=objects())
def test_resuming_in_another_process_through_storage_equals_a_run_without_halts(
    spec, objs
):
    expected = reference_run(spec, objs)
    with tempfile.TemporaryDirectory() as directory:
        module = os.path.join(directory, "generated_definition.py")
        with open(module, "w", encoding="utf-8") as file:
            file.write(
                "from tests.strategies import build\n\n"
                f"definition = build({spec!r}).definition\n"
            )
        url = f"sqlite:///{os.path.join(directory, 'wf.db')}"
        store = WorkflowStore(url)
        try:
            store.create_all()
            result = start(f"{module}:definition", copy.deepcopy(objs), store)
            halted = result.status.name == "HALTED"
            event(f"resumed in another process: {halted}")
            if halted and result.halted_message.startswith("halt"):
                child = subprocess.run(
                    [sys.executable, "-c", _RESUME_IN_CHILD, url, result.uuid],
                    capture_output=True,
                    text=True,
                    timeout=CHILD_TIMEOUT,
                    cwd=_REPOSITORY,
                    env={**os.environ, "PYTHONPATH": _REPOSITORY},
                )
                assert child.returncode == 0, child.stderr
                final = json.loads(child.stdout)
            else:
                final = result.to_dict()
            stored_objects = list_objects(result.uuid, store)
            with store.session() as session:
                extra_data = session.get(WorkflowRecord, result.uuid).extra_data
        finally:
            store.dispose()
    end = _storage_end(final, stored_objects)
    data = [info.data for info in stored_objects]
    assert (extra_data.get("trace", []), data, extra_data, end) == (
        expected.trace,
        expected.objects,
        expected.extra_data,
        expected.end,
    )


# --------------------------------------------------------------------------
# 2. Positions (checked inside run_to_end at every halt and end) and
# 3. exceptions


def _frames(exc: BaseException) -> list[Any]:
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    return frames


@PROFILE
@given(
    spec=definitions(),
    objs=objects(),
    stop_on_halt=st.booleans(),
    stop_on_error=st.booleans(),
    hooked=st.booleans(),
)
def test_only_documented_exceptions_leave_process(
    spec, objs, stop_on_halt, stop_on_error, hooked
):
    raised: list[BaseException] = []
    engine_class = HookedEngine if hooked else GenericWorkflowEngine
    eng = new_engine(spec, engine_class, sink=raised)
    try:
        eng.process(objs, stop_on_halt=stop_on_halt, stop_on_error=stop_on_error)
    except HaltProcessing:
        assert stop_on_halt, "a halt left process() with stop_on_halt=False"
        check_stopped_at_last_entry(eng, "halt")
        escaped = None
    except (ValueError, WorkflowError) as exc:
        escaped = exc
    except BaseException as exc:  # the property: nothing else may escape
        pytest.fail(f"process() let an undocumented exception out: {exc!r}")
    else:
        escaped = None
        check_end_state(eng)
    check_token_bounds(eng)

    # Every exception a task raised is accounted for: WorkflowErrors that
    # stop_on_error=False moved past, then at most one that escaped.
    absorbed = raised[:-1] if escaped is not None else raised
    assert all(type(exc) is WorkflowError for exc in absorbed)
    assert not absorbed or not stop_on_error
    if escaped is None:
        return
    assert escaped is raised[-1], "the task's exception was replaced"
    check_stopped_at_last_entry(eng, "raise")
    task = task_at_position(eng)
    assert any(
        frame.f_code is task.__code__ and frame.f_locals.get("label") == task.label
        for frame in _frames(escaped)
    ), "the raising task's frame is missing from the traceback"


# --------------------------------------------------------------------------
# 4. Hooks


def _hook_name(callback: Any) -> str:
    # Pattern tasks carry no label; their identity tells them apart.
    return getattr(callback, "label", None) or f"<{callback.__name__}@{id(callback)}>"


class RecordingMapper(ActionMapper):
    """Records each per-task hook call into the trace, between the tasks' entries."""

    @staticmethod
    def before_each_callback(eng: Any, callback: Any, obj: Any) -> None:
        """Record ``["before", task, object id]``."""
        eng.extra_data.setdefault("trace", []).append(
            ["before", _hook_name(callback), payload_of(obj)["id"]]
        )

    @staticmethod
    def after_each_callback(eng: Any, callback: Any, obj: Any) -> None:
        """Record ``["after", task, object id]``."""
        eng.extra_data.setdefault("trace", []).append(
            ["after", _hook_name(callback), payload_of(obj)["id"]]
        )


class RecordingFactory(ProcessingFactory):
    """A processing factory whose action mapper is :class:`RecordingMapper`."""

    @classproperty
    def action_mapper(cls) -> Any:
        """:class:`RecordingMapper`."""
        return RecordingMapper


class HookedEngine(GenericWorkflowEngine):
    """An engine that records its per-task hooks."""

    @classproperty
    def processing_factory(cls) -> Any:
        """:class:`RecordingFactory`."""
        return RecordingFactory


def check_hook_pairs(trace: list[Any]) -> None:
    """Each task entry sits inside one before/after pair made for its task."""
    opened = None
    inside: list[Any] = []
    for entry in trace:
        if entry[0] == "before":
            assert opened is None, f"{entry} inside the hooks of {opened}"
            opened, inside = entry, []
        elif entry[0] == "after":
            assert opened is not None, f"{entry} without a before hook"
            assert entry[1:] == opened[1:], f"{entry} closes {opened}"
            name, obj_id = entry[1], entry[2]
            if not name.startswith("<") and kind_of(name) in LEAF_KINDS:
                assert [e[:2] for e in inside] == [[name, obj_id]], (
                    f"hooks of {name} enclose {inside}"
                )
            else:
                assert all(
                    kind_of(e[0]) in ("if", "while", "for") and e[1] == obj_id
                    for e in inside
                ), f"hooks of the pattern task {name} enclose {inside}"
            opened = None
        else:
            assert opened is not None, f"{entry} was recorded outside any hooks"
            inside.append(entry)
    assert opened is None, f"{opened} never got its after hook"


@PROFILE
@with_fixed_examples
@given(spec=definitions(), objs=objects())
def test_hooks_pair_around_every_task_run(spec, objs):
    hooked = run_to_end(new_engine(spec, HookedEngine), copy.deepcopy(objs))
    check_hook_pairs(hooked.trace)


@PROFILE
@with_fixed_examples
@given(spec=definitions(), objs=objects())
def test_hooked_engine_runs_the_same_tasks_as_plain_engine(spec, objs):
    """The engine's lean loop (no hooks) and hooked loop agree."""
    hooked = run_to_end(new_engine(spec, HookedEngine), copy.deepcopy(objs))
    hooked.trace = [e for e in hooked.trace if e[0] not in ("before", "after")]
    if hooked.trace:
        hooked.extra_data["trace"] = hooked.trace
    else:
        hooked.extra_data.pop("trace", None)
    assert hooked == run_to_end(new_engine(spec), copy.deepcopy(objs))


# --------------------------------------------------------------------------
# 5. Threads


@contextlib.contextmanager
def fast_thread_switching() -> Iterator[None]:
    """Switch threads as often as CPython allows, so that runs interleave."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


@SLOW_PROFILE
@given(
    runs=st.lists(st.tuples(definitions(), objects()), min_size=2, max_size=4),
)
def test_engines_on_threads_match_their_runs_alone(runs):
    rounds = 3
    alone = [run_to_end(new_engine(spec), copy.deepcopy(objs)) for spec, objs in runs]
    barrier = threading.Barrier(len(runs), timeout=THREAD_TIMEOUT)
    results: list[list[Outcome]] = [[] for _ in runs]
    failures: list[BaseException] = []

    def work(index: int) -> None:
        spec, objs = runs[index]
        engines = [new_engine(spec) for _ in range(rounds)]
        try:
            barrier.wait()
            for eng in engines:
                results[index].append(run_to_end(eng, copy.deepcopy(objs)))
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)
            barrier.abort()

    threads = [
        threading.Thread(target=work, args=(i,), daemon=True) for i in range(len(runs))
    ]
    with fast_thread_switching():
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(THREAD_TIMEOUT)
    assert not any(t.is_alive() for t in threads), "a thread did not finish in time"
    assert not failures, failures
    assert results == [[outcome] * rounds for outcome in alone]


# --------------------------------------------------------------------------
# 6. Termination


@PROFILE
@given(spec=definitions(loops=False, halts=False), objs=objects())
def test_loop_free_definitions_run_each_task_at_most_once_per_object(spec, objs):
    outcome = run_to_end(new_engine(spec), objs)
    steps = outcome.extra_data.get("steps", 0)
    assert steps <= count_recording_calls(spec) * len(objs)


@PROFILE
@with_fixed_examples
@given(spec=definitions(), objs=objects())
def test_bounded_loops_finish_within_the_step_budget(spec, objs):
    try:
        outcome = reference_run(spec, objs)
    except StepBudgetExceeded as exc:
        pytest.fail(f"the run did not terminate: {exc}")
    assert outcome.extra_data.get("steps", 0) <= STEP_BUDGET
