"""Measure the workflow engine's overhead against plain Python loops.

Usage::

    python benchmarks/bench_engine.py            # full run (under a minute)
    python benchmarks/bench_engine.py --quick    # small sizes, for CI
    python benchmarks/bench_engine.py --json     # machine-readable output
    python benchmarks/bench_engine.py --profile flat   # where the time goes

Every workload is written twice: once as a definition run by
:class:`~workflow.engine.GenericWorkflowEngine`, once as a hand-written
"twin", a plain Python loop making the same task calls on the same objects.
Both are timed in the same run, repeat after repeat, alternating which goes
first, with the garbage collector off while the clock runs; the best repeat
of each is kept. The ratio of the two is the engine's overhead, which is
far steadier from one machine to another than either time alone.

Missing a target never makes the script fail (shared machines are noisy);
it exits non-zero only when something crashes, for instance when the engine
and its twin disagree about the work done.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import math
import os
import platform
import pstats
import statistics
import sys
import tempfile
import time
import tracemalloc
from _thread import get_ident
from dataclasses import dataclass
from typing import Any, Callable

from workflow._vocabulary import OBJECT_MOVES, TASK_MOVES
from workflow.engine import _RUN_OWNER, GenericWorkflowEngine, HaltProcessing

FULL = {
    "repeats": 25,
    "flat_objects": 4_000,
    "nested_objects": 4_000,
    "halt_objects": 2_000,
    "startup_engines": 5_000,
    "storage_objects": 1_000,
    "storage_repeats": 5,
    "scale_objects": (1_000, 10_000, 100_000),
    "scale_repeats": 9,
    "depth_objects": 4_000,
    "depths": (1, 5, 20),
    "memory_objects": (1_000, 100_000),
}
QUICK = {
    "repeats": 7,
    "flat_objects": 2_000,
    "nested_objects": 2_000,
    "halt_objects": 500,
    "startup_engines": 1_000,
    "storage_objects": 100,
    "storage_repeats": 1,
    "scale_objects": (300, 3_000, 30_000),
    "scale_repeats": 3,
    "depth_objects": 1_000,
    "depths": (1, 5, 20),
    "memory_objects": (1_000, 10_000),
}

TASKS_PER_OBJECT = 20
TARGETS = {"flat": 2.0, "nested": 5.0, "halt_resume": 4.5, "startup": 15.0}
# The whole start-up run against its floor (see startup_part_sides): what the
# engine's own work per run may add to the least any engine with this API costs.
STARTUP_FLOOR_TARGET = 1.7
STORAGE_TARGET_US = 1_000.0
WORKLOAD_NAMES = (
    "flat",
    "nested",
    "halt_resume",
    "startup",
    "signals",
    "storage",
    "scale",
)
# A series counts as flat when its change over the whole range stays within
# the measured noise or within this share of its mean.
FLAT_TOLERANCE = 0.10
# The engine's own memory "does not grow" when the larger run's peak stays
# within this many bytes of the smaller one's.
MEMORY_GROWTH_LIMIT = 64 * 1024


# --------------------------------------------------------------------------
# Objects and tasks shared by the engine runs and their twins


class Token:
    """An object flowing through the benchmark's tasks."""

    __slots__ = ("calls", "halted", "index", "rounds")

    def __init__(self, index: int) -> None:
        self.index = index
        self.calls = 0
        self.rounds = 0
        self.halted = False


class Record:
    """An object holding a JSON value, as the storage engine hands to tasks."""

    __slots__ = ("data",)

    def __init__(self, data: Any) -> None:
        self.data = data


def make_tokens(count: int) -> list[Token]:
    """Return ``count`` fresh tokens."""
    return [Token(index) for index in range(count)]


def reset_tokens(tokens: list[Token]) -> list[Token]:
    """Zero the counters of ``tokens`` (outside the timed region) and return them."""
    for token in tokens:
        token.calls = 0
        token.rounds = 0
        token.halted = False
    return tokens


def make_task(number: int) -> Callable[[Any, Any], None]:
    """Return a trivial task: it counts its call on the object."""

    def task(obj: Token, eng: Any) -> None:
        obj.calls += 1

    task.__name__ = task.__qualname__ = f"task_{number}"
    return task


def make_tasks(count: int) -> list[Callable[[Any, Any], None]]:
    """Return ``count`` distinct trivial tasks."""
    return [make_task(number) for number in range(count)]


def make_data_task(number: int) -> Callable[[Any, Any], None]:
    """Return a task bumping ``obj.data["n"]`` (saved by the storage engine)."""

    def task(obj: Any, eng: Any) -> None:
        obj.data["n"] += 1

    task.__name__ = task.__qualname__ = f"data_task_{number}"
    return task


def is_even(obj: Token, eng: Any) -> bool:
    """Condition: the object's index is even."""
    obj.calls += 1
    return obj.index % 2 == 0


def more_rounds(obj: Token, eng: Any) -> bool:
    """Condition: the object has had fewer than three rounds."""
    obj.calls += 1
    return obj.rounds < 3


def next_round(obj: Token, eng: Any) -> None:
    """Count one round of the loop."""
    obj.calls += 1
    obj.rounds += 1


def reset_rounds(obj: Token, eng: Any) -> None:
    """Start the object's rounds from zero."""
    obj.calls += 1
    obj.rounds = 0


def halt_once(obj: Token, eng: Any) -> None:
    """Halt the first time this object is seen; do nothing afterwards."""
    obj.calls += 1
    if not obj.halted:
        obj.halted = True
        eng.halt("waiting for the benchmark")


def nested_definition(depth: int, tasks: list[Any]) -> list[Any]:
    """Return ``tasks`` wrapped in ``depth`` nested lists (1: the plain list)."""
    definition = list(tasks)
    for _ in range(depth - 1):
        definition = [definition]
    return definition


def new_engine(definition: list[Any]) -> GenericWorkflowEngine:
    """Return a generic engine holding ``definition``."""
    eng = GenericWorkflowEngine()
    eng.callbacks.replace(definition)
    return eng


# --------------------------------------------------------------------------
# Timing


@dataclass
class Side:
    """One way of doing a workload: a preparation and the timed run.

    ``prepare()`` runs untimed and returns the tokens; ``run(tokens)`` is
    timed. After a run, the tokens' ``calls`` counters add up to the number
    of task calls made.
    """

    prepare: Callable[[], Any]
    run: Callable[[Any], Any]


def time_once(side: Side) -> int:
    """Return the nanoseconds one ``side.run`` takes (gc must be off)."""
    tokens = side.prepare()
    gc.collect()
    start = time.perf_counter_ns()
    side.run(tokens)
    return time.perf_counter_ns() - start


def count_calls(side: Side) -> int:
    """Run ``side`` once, untimed, and return the task calls it made."""
    tokens = side.prepare()
    side.run(tokens)
    return sum(token.calls for token in tokens)


def interleaved(sides: list[Side], repeats: int) -> list[list[int]]:
    """Time each side ``repeats`` times, alternating their order.

    Returns one list of samples (nanoseconds) per side. The collector is
    off while timing, so no collection lands inside one side's run.
    """
    samples: list[list[int]] = [[] for _ in sides]
    order = list(range(len(sides)))
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            for index in order:
                samples[index].append(time_once(sides[index]))
            order.reverse()
    finally:
        if was_enabled:
            gc.enable()
        gc.collect()
    return samples


def noise(samples: list[int]) -> float:
    """How far the typical repeat is above the best one (nanoseconds)."""
    return statistics.median(samples) - min(samples)


def compare(name: str, engine: Side, twin: Side, repeats: int) -> dict[str, Any]:
    """Time ``engine`` against ``twin`` and return the per-task figures.

    :raises RuntimeError: when the two sides do not make the same task calls.
    """
    engine_calls = count_calls(engine)
    twin_calls = count_calls(twin)
    if engine_calls != twin_calls or engine_calls == 0:
        raise RuntimeError(
            f"{name}: the engine made {engine_calls} task calls but its twin"
            f" {twin_calls}; the two must do the same work"
        )
    engine_samples, twin_samples = interleaved([engine, twin], repeats)
    engine_ns = min(engine_samples) / engine_calls
    twin_ns = min(twin_samples) / twin_calls
    return {
        "task_calls": engine_calls,
        "engine_ns_per_task": engine_ns,
        "twin_ns_per_task": twin_ns,
        "ratio": engine_ns / twin_ns,
        "engine_noise_ns_per_task": noise(engine_samples) / engine_calls,
        "twin_noise_ns_per_task": noise(twin_samples) / twin_calls,
    }


def with_target(result: dict[str, Any], target: float) -> dict[str, Any]:
    """Add the ratio target and whether it is met to ``result``."""
    result["target_ratio"] = target
    result["met"] = result["ratio"] <= target
    return result


# --------------------------------------------------------------------------
# Workloads


def flat_sides(objects: int, definition: list[Any]) -> tuple[Side, Side]:
    """Every task on every object, engine and twin.

    An empty ``definition`` stands for 20 trivial tasks; a nested one runs
    its tasks in order, which the twin does from a flattened copy.
    """
    definition = definition or make_tasks(TASKS_PER_OBJECT)
    tokens = make_tokens(objects)
    eng = new_engine(definition)
    flat_tasks = _flatten(definition)

    def prepare() -> list[Token]:
        return reset_tokens(tokens)

    def twin(objs: list[Token]) -> None:
        for obj in objs:
            for task in flat_tasks:
                task(obj, eng)

    return Side(prepare, eng.process), Side(prepare, twin)


def _flatten(definition: list[Any]) -> list[Any]:
    flat: list[Any] = []
    for item in definition:
        if isinstance(item, list):
            flat.extend(_flatten(item))
        else:
            flat.append(item)
    return flat


def bench_flat(config: dict[str, Any]) -> dict[str, Any]:
    """Workload 1: 20 trivial tasks over many objects."""
    engine, twin = flat_sides(config["flat_objects"], [])
    result = compare("flat", engine, twin, config["repeats"])
    result["objects"] = config["flat_objects"]
    return with_target(result, TARGETS["flat"])


def nested_sides(objects: int) -> tuple[Side, Side]:
    """Nested blocks, IF_ELSE and WHILE, engine and twin."""
    from workflow.patterns.controlflow import IF_ELSE, WHILE

    t = make_tasks(8)
    definition = [
        reset_rounds,
        t[0],
        [t[1], [t[2], t[3]]],
        IF_ELSE(is_even, [t[4], t[5]], t[6]),
        WHILE(more_rounds, [t[7], next_round]),
    ]
    eng = new_engine(definition)
    tokens = make_tokens(objects)

    def prepare() -> list[Token]:
        return reset_tokens(tokens)

    def twin(objs: list[Token]) -> None:
        for obj in objs:
            reset_rounds(obj, eng)
            t[0](obj, eng)
            t[1](obj, eng)
            t[2](obj, eng)
            t[3](obj, eng)
            if is_even(obj, eng):
                t[4](obj, eng)
                t[5](obj, eng)
            else:
                t[6](obj, eng)
            while more_rounds(obj, eng):
                t[7](obj, eng)
                next_round(obj, eng)

    return Side(prepare, eng.process), Side(prepare, twin)


def bench_nested(config: dict[str, Any]) -> dict[str, Any]:
    """Workload 2: nested blocks and the IF_ELSE and WHILE patterns."""
    try:
        engine, twin = nested_sides(config["nested_objects"])
    except ImportError as exc:
        return {"available": False, "reason": str(exc)}
    result = compare("nested", engine, twin, config["repeats"])
    result["available"] = True
    result["objects"] = config["nested_objects"]
    return with_target(result, TARGETS["nested"])


def halt_sides(objects: int) -> tuple[Side, Side]:
    """Each object halts once mid-way and is resumed, engine and twin."""
    tasks = make_tasks(9)
    definition = [*tasks[:5], halt_once, *tasks[5:]]
    eng = new_engine(definition)
    twin_eng = GenericWorkflowEngine()

    def prepare() -> list[Token]:
        return make_tokens(objects)

    def run(objs: list[Token]) -> None:
        try:
            eng.process(objs)
            return
        except HaltProcessing:
            pass
        while True:
            try:
                eng.restart("current", "next")
                return
            except HaltProcessing:
                pass

    def twin(objs: list[Token]) -> None:
        for obj in objs:
            for task in definition:
                # try/except, not contextlib.suppress: a hand-written loop
                # would not pay for a context manager per call.
                try:  # noqa: SIM105
                    task(obj, twin_eng)
                except HaltProcessing:
                    pass

    return Side(prepare, run), Side(prepare, twin)


def least_halt_side(objects: int, checked: bool = False) -> Side:
    """The halt_resume workload run by :func:`least_run` and :func:`least_restart`."""
    tasks = make_tasks(9)
    eng = new_engine([*tasks[:5], halt_once, *tasks[5:]])

    def prepare() -> list[Token]:
        return make_tokens(objects)

    def run(objs: list[Token]) -> None:
        try:
            least_run(eng, objs, True, checked)
            return
        except HaltProcessing:
            pass
        while True:
            try:
                least_restart(eng, "current", "next", checked)
                return
            except HaltProcessing:
                pass

    return Side(prepare, run)


def bench_halt_resume(config: dict[str, Any]) -> dict[str, Any]:
    """Workload 3: every object halts once and is resumed.

    ``least_ratio`` times the same workload run by :func:`least_run`
    against the same twin: the ratio no engine keeping the contract goes
    below here; ``least_checked_ratio`` the same with the run's hooks
    checked as the engine checks them.
    """
    objects = config["halt_objects"]
    repeats = config["repeats"]
    engine, twin = halt_sides(objects)
    result = compare("halt_resume", engine, twin, repeats)
    result["objects"] = objects
    for key, checked in (("least_ratio", False), ("least_checked_ratio", True)):
        least_side = least_halt_side(objects, checked)
        result[key] = compare("halt_resume least", least_side, twin, repeats)["ratio"]
    result["engine_to_least_ratio"] = result["ratio"] / result["least_ratio"]
    return with_target(result, TARGETS["halt_resume"])


# --------------------------------------------------------------------------
# The least a faithful run costs


def least_run(
    eng: Any, objects: list[Any], reset_state: bool, checked: bool = False
) -> None:
    """Run a flat definition over ``objects`` doing only what the contract asks.

    This is a reference, not an engine: it measures the least any engine
    keeping the contract can cost a run of this benchmark's workloads on
    this machine. It takes every hook of :class:`ProcessingFactory`,
    ``ActionMapper`` and the engine to be its default *without checking
    any*, runs only flat definitions of plain functions, and keeps no
    token for a run started by a task. What it does do, because the
    contract or the issue asks it of each run: refuse a second thread
    (SPEC issue 14), reset the state (6.2), read ``processing_factory`` and
    its ``action_mapper`` (6.3), send ``workflow_started`` and
    ``workflow_finished`` through ``eng.signal``, whose methods run
    ``import workflow.signals`` (6.7, 7), ask whether each object has
    ``getFeature`` (6.9), keep ``token_pos`` and ``callback_pos`` at the
    task being run (6.4), hand an exception to the handler named after it
    on ``transition_exception_mapper`` with the ``exc_info`` triple (6.3d),
    and reset the task position after each object (6.3f).

    With ``checked``, the run also decides its plan as the engine does
    (``eng._plan()``, which reads the two class properties itself): it
    checks every hook and override the contract lets a subclass or a test
    replace between two runs, and still calls none of them.
    """
    ident = get_ident()
    attributes = eng.__dict__
    if attributes.setdefault(_RUN_OWNER, ident) != ident:
        raise RuntimeError("least_run: the engine is running in another thread")
    try:
        state = eng.state
        if reset_state:
            state._token_pos = -1
            state.callback_pos = [0]
            state.current_object_processed = False
        if checked:
            factory = eng._plan()[0]
        else:
            factory = eng.processing_factory
            factory.action_mapper  # noqa: B018 (the read is what is measured)
        eng.signal.workflow_started(eng)
        state.current_object_processed = False
        eng.objects = objects
        definitions = eng.callbacks._definitions
        while True:
            token_pos = state._token_pos + 1
            if token_pos >= len(objects):
                break
            state._token_pos = token_pos
            obj = objects[token_pos]
            hasattr(obj, "getFeature")
            callbacks = definitions["*"]
            pos = state.callback_pos
            try:
                start = index = pos[0]
                for index in range(start, len(callbacks)):
                    pos[0] = index
                    callbacks[index](obj, eng)
                pos[0] = index
            except Exception:
                exc_info = sys.exc_info()
                try:
                    actions = factory.transition_exception_mapper
                    handler = getattr(actions, type(exc_info[1]).__name__, None)
                    (handler or actions.Exception)(obj, eng, callbacks, exc_info)
                finally:
                    del exc_info
            state.callback_pos = [0]
        eng.signal.workflow_finished(eng)
        state.current_object_processed = True
    finally:
        del attributes[_RUN_OWNER]


def least_restart(eng: Any, obj: str, task: str, checked: bool = False) -> None:
    """Restart as the contract asks (6.8), with :func:`least_run`."""
    object_move, task_move = OBJECT_MOVES[obj], TASK_MOVES[task]
    state = eng.state
    if object_move is None:
        state._token_pos = -1
    else:
        state._token_pos = max(-1, state._token_pos + object_move)
    if task_move is None:
        state.callback_pos = [0]
    else:
        state.callback_pos[-1] += task_move
    least_run(eng, eng.objects, False, checked)


def startup_sides(engines: int) -> tuple[Side, Side]:
    """Many short-lived engines, one object each, three tasks."""
    sides = startup_part_sides(engines)
    return sides["engine"], sides["twin"]


def startup_part_sides(engines: int) -> dict[str, Side]:
    """The start-up workload, the same cut short at three points, and its twin.

    ``engine`` is the workload: a new engine per object, its definition
    replaced, the object processed. ``create`` only creates the engines;
    ``replace`` also sets their definition; ``floor`` goes on with the four
    class-property reads that every run of the object loop makes (the
    processing factory, its action mapper, and ``signal`` for each of the
    two signals the default factory sends), then makes the three task calls
    by hand. ``floor`` is what a run costs before any of the engine's own
    work. ``least`` creates the engines and replaces their definition as
    ``engine`` does, then runs them with :func:`least_run`: the least a run
    doing what the contract asks can cost.
    """
    tasks = make_tasks(3)
    first, second, third = tasks
    tokens = make_tokens(engines)
    twin_eng = GenericWorkflowEngine()

    def prepare() -> list[Token]:
        return reset_tokens(tokens)

    def engine(objs: list[Token]) -> None:
        for obj in objs:
            eng = GenericWorkflowEngine()
            eng.callbacks.replace(tasks)
            eng.process([obj])

    def create(objs: list[Token]) -> None:
        for _ in objs:
            GenericWorkflowEngine()

    def replace(objs: list[Token]) -> None:
        for _ in objs:
            GenericWorkflowEngine().callbacks.replace(tasks)

    def floor(objs: list[Token]) -> None:
        for obj in objs:
            eng = GenericWorkflowEngine()
            eng.callbacks.replace(tasks)
            # Read, not used: the cost of reading is what is measured.
            eng.processing_factory.action_mapper  # noqa: B018
            eng.signal  # noqa: B018
            eng.signal  # noqa: B018
            first(obj, eng)
            second(obj, eng)
            third(obj, eng)

    def least(objs: list[Token]) -> None:
        for obj in objs:
            eng = GenericWorkflowEngine()
            eng.callbacks.replace(tasks)
            least_run(eng, [obj], True)

    def least_checked(objs: list[Token]) -> None:
        for obj in objs:
            eng = GenericWorkflowEngine()
            eng.callbacks.replace(tasks)
            least_run(eng, [obj], True, checked=True)

    def twin(objs: list[Token]) -> None:
        for obj in objs:
            first(obj, twin_eng)
            second(obj, twin_eng)
            third(obj, twin_eng)

    return {
        name: Side(prepare, run)
        for name, run in (
            ("engine", engine),
            ("create", create),
            ("replace", replace),
            ("floor", floor),
            ("least", least),
            ("least_checked", least_checked),
            ("twin", twin),
        )
    }


def startup_parts(engines: int, repeats: int) -> dict[str, Any]:
    """Nanoseconds per engine of each part of the start-up workload.

    ``floor_ratio`` is the floor's time over the twin's: the start-up ratio
    no engine reading its class properties on each run can go below.
    """
    sides = startup_part_sides(engines)
    # The workload itself is timed against its twin in bench_startup.
    del sides["engine"]
    samples = interleaved(list(sides.values()), repeats)
    per_engine = {
        name: min(side_samples) / engines for name, side_samples in zip(sides, samples)
    }
    parts = {f"{name}_ns_per_engine": value for name, value in per_engine.items()}
    parts["floor_ratio"] = per_engine["floor"] / per_engine["twin"]
    return parts


def bench_startup(config: dict[str, Any]) -> dict[str, Any]:
    """Workload 4: a new engine per object, as a task-queue worker makes."""
    engines = config["startup_engines"]
    engine, twin = startup_sides(engines)
    result = compare("startup", engine, twin, config["repeats"])
    result["engines"] = engines
    parts = result["parts"] = startup_parts(engines, config["repeats"])
    whole = result["engine_ns_per_task"] * result["task_calls"] / engines
    parts["whole_to_floor_ratio"] = whole / parts["floor_ns_per_engine"]
    parts["whole_to_floor_target"] = STARTUP_FLOOR_TARGET
    parts["whole_to_floor_met"] = parts["whole_to_floor_ratio"] <= STARTUP_FLOOR_TARGET
    parts["least_to_floor_ratio"] = (
        parts["least_ns_per_engine"] / parts["floor_ns_per_engine"]
    )
    parts["whole_to_least_ratio"] = whole / parts["least_ns_per_engine"]
    parts["least_checked_to_floor_ratio"] = (
        parts["least_checked_ns_per_engine"] / parts["floor_ns_per_engine"]
    )
    return with_target(result, TARGETS["startup"])


def signals_sides(engines: int) -> dict[str, Side]:
    """The start-up workload with the per-object and per-task signals unheard.

    ``unarmed``: no receiver was ever connected to them, so a run does not
    look at them; ``armed``: one was connected and disconnected, so each
    run checks their receivers; ``elsewhere``: a receiver listens to
    another engine, so each run also asks whether it listens to this one.
    No side has a receiver for the engines that run: every ratio to
    ``unarmed`` is what those signals cost a run nobody listens to.
    """
    from workflow import _observe, signals

    tasks = make_tasks(3)
    tokens = make_tokens(engines)
    armed = (signals.object_started, signals.object_finished, signals.task_finished)
    watched = GenericWorkflowEngine()

    def ignore(sender: Any, **kwargs: Any) -> None:
        """A receiver of the signals of another engine."""

    def prepare_with(observed: Any, elsewhere: bool) -> Callable[[], list[Token]]:
        def prepare() -> list[Token]:
            for signal in armed:
                signal.disconnect(ignore)
                if elsewhere:
                    signal.connect(ignore, sender=watched, weak=False)
            _observe.SIGNALS = observed
            return reset_tokens(tokens)

        return prepare

    def run(objs: list[Token]) -> None:
        for obj in objs:
            eng = GenericWorkflowEngine()
            eng.callbacks.replace(tasks)
            eng.process([obj])

    return {
        "unarmed": Side(prepare_with(None, False), run),
        "armed": Side(prepare_with(armed, False), run),
        "elsewhere": Side(prepare_with(armed, True), run),
    }


def bench_signals(config: dict[str, Any]) -> dict[str, Any]:
    """Workload 5: what the per-object and per-task signals cost unheard."""
    try:
        from workflow import _observe
    except ImportError as exc:
        return {"available": False, "reason": str(exc)}
    engines = config["startup_engines"]
    saved = _observe.SIGNALS
    sides = signals_sides(engines)
    try:
        samples = interleaved(list(sides.values()), config["repeats"])
    finally:
        sides["unarmed"].prepare()
        _observe.SIGNALS = saved
    per_engine = {
        name: min(side_samples) / engines for name, side_samples in zip(sides, samples)
    }
    result: dict[str, Any] = {"available": True, "engines": engines}
    result.update({f"{name}_ns_per_engine": ns for name, ns in per_engine.items()})
    result["armed_ratio"] = per_engine["armed"] / per_engine["unarmed"]
    result["elsewhere_ratio"] = per_engine["elsewhere"] / per_engine["unarmed"]
    return result


def bench_storage(config: dict[str, Any]) -> dict[str, Any]:
    """Workload 6: the SQLite-backed engine against the plain one."""
    try:
        from workflow.storage import WorkflowStore, list_objects, registry, start
    except ImportError as exc:
        return {"available": False, "reason": str(exc)}
    objects = config["storage_objects"]
    definition = [make_data_task(number) for number in range(TASKS_PER_OBJECT)]
    name = "benchmark-storage"
    registry.register(name, definition)
    plain = new_engine(definition)
    with tempfile.TemporaryDirectory() as tmp:
        store = WorkflowStore("sqlite:///" + os.path.join(tmp, "bench.db"))
        try:
            store.create_all()
            result = start(name, [{"n": 0} for _ in range(objects)], store)
            saved = [info.data for info in list_objects(result.uuid, store)]
            expected = [{"n": TASKS_PER_OBJECT}] * objects
            if result.status.name != "COMPLETED" or saved != expected:
                raise RuntimeError(
                    f"storage: the stored run ended {result.status.name} with"
                    f" {saved[:3]}...; expected COMPLETED with {expected[:1]}..."
                )
            stored = Side(
                lambda: [{"n": 0} for _ in range(objects)],
                lambda data: start(name, data, store),
            )
            in_memory = Side(
                lambda: [Record({"n": 0}) for _ in range(objects)], plain.process
            )
            stored_samples, plain_samples = interleaved(
                [stored, in_memory], config["storage_repeats"]
            )
        finally:
            store.dispose()
    stored_us = min(stored_samples) / objects / 1000
    plain_us = min(plain_samples) / objects / 1000
    return {
        "available": True,
        "objects": objects,
        "tasks_per_object": TASKS_PER_OBJECT,
        "storage_us_per_object": stored_us,
        "plain_us_per_object": plain_us,
        "ratio": stored_us / plain_us,
        "target_us_per_object": STORAGE_TARGET_US,
        "met": stored_us <= STORAGE_TARGET_US,
    }


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ``ys`` against ``xs``."""
    mean_x = statistics.fmean(xs)
    mean_y = statistics.fmean(ys)
    num = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys))
    den = sum((x - mean_x) ** 2 for x in xs)
    return num / den


def flatness(
    points: list[dict[str, Any]], xs: list[float], unit: str
) -> dict[str, Any]:
    """Fit the engine's overhead per task (engine minus twin) against ``xs``.

    The overhead, not the engine's raw time, is judged: both sides slow
    down alike when the objects outgrow the CPU caches, and that is not the
    engine's doing.
    """
    engine = [p["engine_ns_per_task"] for p in points]
    twin = [p["twin_ns_per_task"] for p in points]
    overhead = [e - t for e, t in zip(engine, twin)]
    overhead_slope = slope(xs, overhead)
    change = overhead_slope * (max(xs) - min(xs))
    point_noise = max(
        p["engine_noise_ns_per_task"] + p["twin_noise_ns_per_task"] for p in points
    )
    mean = statistics.fmean(engine)
    within_noise = abs(change) <= point_noise
    flat = within_noise or abs(change) <= FLAT_TOLERANCE * mean
    if within_noise:
        verdict = "flat (within noise)"
    elif flat:
        verdict = f"flat (changes {change / mean:+.0%} of the time per task)"
    else:
        direction = "grows" if change > 0 else "falls"
        verdict = f"{direction} ({change / mean:+.0%} of the time per task)"
    return {
        f"engine_slope_ns_per_{unit}": slope(xs, engine),
        f"twin_slope_ns_per_{unit}": slope(xs, twin),
        f"overhead_slope_ns_per_{unit}": overhead_slope,
        "noise_ns_per_task": point_noise,
        "flat": flat,
        "verdict": verdict,
    }


def engine_peak_bytes(objects: int) -> int:
    """Peak memory the engine allocates while processing ``objects`` tokens.

    The tokens and the engine exist before tracing starts, so the peak is
    the engine's own working memory.
    """
    eng = new_engine(make_tasks(TASKS_PER_OBJECT))
    tokens = make_tokens(objects)
    # A first run settles one-off allocations (caches, the logger).
    eng.process(tokens[:1])
    gc.collect()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        eng.process(tokens)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak - baseline


def bench_scale(config: dict[str, Any]) -> dict[str, Any]:
    """Workload 7: the flat workload over more objects and deeper nesting."""
    repeats = config["scale_repeats"]
    by_objects = []
    for objects in config["scale_objects"]:
        engine, twin = flat_sides(objects, [])
        point = compare(f"scale {objects} objects", engine, twin, repeats)
        point["objects"] = objects
        by_objects.append(point)
    by_depth = []
    tasks = make_tasks(TASKS_PER_OBJECT)
    for depth in config["depths"]:
        definition = nested_definition(depth, tasks)
        engine, twin = flat_sides(config["depth_objects"], definition)
        point = compare(f"scale depth {depth}", engine, twin, repeats)
        point["depth"] = depth
        by_depth.append(point)
    memory = [
        {"objects": objects, "peak_bytes": engine_peak_bytes(objects)}
        for objects in config["memory_objects"]
    ]
    growth = memory[-1]["peak_bytes"] - memory[0]["peak_bytes"]
    depth_fit = flatness(by_depth, [p["depth"] for p in by_depth], "level")
    # Entering a block costs once per object, not per task: say what one
    # more level costs each object.
    depth_fit["overhead_ns_per_object_per_level"] = (
        depth_fit["overhead_slope_ns_per_level"] * TASKS_PER_OBJECT
    )
    return {
        "by_objects": by_objects,
        "objects_fit": flatness(
            by_objects,
            [math.log10(p["objects"]) for p in by_objects],
            "decade",
        ),
        "by_depth": by_depth,
        "depth_fit": depth_fit,
        "memory": memory,
        "memory_growth_bytes": growth,
        "memory_flat": growth <= MEMORY_GROWTH_LIMIT,
    }


BENCHMARKS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "flat": bench_flat,
    "nested": bench_nested,
    "halt_resume": bench_halt_resume,
    "startup": bench_startup,
    "signals": bench_signals,
    "storage": bench_storage,
    "scale": bench_scale,
}


# --------------------------------------------------------------------------
# Reporting


def cpu_model() -> str:
    """The CPU model from ``/proc/cpuinfo``, or what :mod:`platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith(("model name", "Hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine() -> dict[str, Any]:
    """Python version, platform and CPU of this run."""
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
    }


def yes_no(flag: bool) -> str:
    return "yes" if flag else "NO"


def render(report: dict[str, Any]) -> str:
    """The human-readable report."""
    info = report["machine"]
    work = report["workloads"]
    lines = [
        f"workflow engine benchmark ({report['mode']} run)",
        f"Python {info['python']} ({info['implementation']}) on {info['platform']}",
        f"CPU: {info['cpu']} ({info['cpu_count']} logical CPUs)",
        "",
        f"{'workload':<14}{'engine ns/task':>16}{'twin ns/task':>14}"
        f"{'ratio':>8}{'target':>9}{'met':>5}",
    ]
    for name in ("flat", "nested", "halt_resume", "startup"):
        row = work[name]
        if not row.get("available", True):
            lines.append(f"{name:<14}not available")
            continue
        lines.append(
            f"{name:<14}{row['engine_ns_per_task']:>16.1f}"
            f"{row['twin_ns_per_task']:>14.1f}{row['ratio']:>8.2f}"
            f"{'<= ' + format(row['target_ratio'], 'g'):>9}{yes_no(row['met']):>5}"
        )
    lines += _startup_parts_lines(work["startup"])
    lines += ["", _halt_least_line(work["halt_resume"])]
    lines.append("")
    lines.append(_signals_line(work["signals"]))
    lines.append("")
    storage = work["storage"]
    if storage["available"]:
        lines.append(
            f"storage: {storage['objects']} objects x {storage['tasks_per_object']}"
            f" tasks on SQLite: {storage['storage_us_per_object']:.1f} us/object"
            f" (plain engine {storage['plain_us_per_object']:.2f} us/object,"
            f" ratio {storage['ratio']:.0f});"
            f" target <= {storage['target_us_per_object']:g} us/object:"
            f" {yes_no(storage['met'])}"
        )
    else:
        lines.append("storage: not available")
    scale = work["scale"]
    lines += ["", "scale, 20 tasks per object:"]
    lines.append(f"{'':<14}{'engine ns/task':>16}{'twin ns/task':>14}{'ratio':>8}")
    for point in scale["by_objects"]:
        lines.append(_scale_row(f"{point['objects']:,} objects", point))
    lines.append(_fit_line("per 10x objects", scale["objects_fit"], "decade"))
    for point in scale["by_depth"]:
        lines.append(_scale_row(f"depth {point['depth']}", point))
    lines.append(_fit_line("per depth level", scale["depth_fit"], "level"))
    lines.append(
        "  (each level costs every object"
        f" {scale['depth_fit']['overhead_ns_per_object_per_level']:.0f} ns)"
    )
    memory = ", ".join(
        f"{m['peak_bytes']:,} bytes at {m['objects']:,} objects"
        for m in scale["memory"]
    )
    lines.append(
        f"engine peak memory: {memory}; "
        + ("does not grow" if scale["memory_flat"] else "GROWS")
        + " with the number of objects"
    )
    return "\n".join(lines)


def _startup_parts_lines(startup: dict[str, Any]) -> list[str]:
    parts = startup["parts"]
    whole = startup["engine_ns_per_task"] * startup["task_calls"] / startup["engines"]
    return [
        "",
        f"startup, ns per engine: the whole run {whole:,.0f};"
        f" GenericWorkflowEngine() {parts['create_ns_per_engine']:,.0f};"
        f" with callbacks.replace() {parts['replace_ns_per_engine']:,.0f}",
        f"  floor: those, the run's four class-property reads and the three"
        f" calls {parts['floor_ns_per_engine']:,.0f}"
        f" = {parts['floor_ratio']:.1f}x the twin"
        f" ({parts['twin_ns_per_engine']:,.0f})",
        f"  the whole run = {parts['whole_to_floor_ratio']:.2f}x the floor;"
        f" target <= {parts['whole_to_floor_target']:g}:"
        f" {yes_no(parts['whole_to_floor_met'])}",
        f"  least faithful run (every hook taken as its default, none checked)"
        f" {parts['least_ns_per_engine']:,.0f}"
        f" = {parts['least_to_floor_ratio']:.2f}x the floor"
        f" ({parts['least_checked_to_floor_ratio']:.2f}x with the hooks checked"
        " as the engine checks them);"
        f" the whole run = {parts['whole_to_least_ratio']:.2f}x that",
    ]


def _halt_least_line(halt: dict[str, Any]) -> str:
    return (
        "halt_resume: least faithful halt and resume (every hook taken as its"
        f" default, none checked) = {halt['least_ratio']:.2f}x the twin"
        f" ({halt['least_checked_ratio']:.2f}x with the hooks checked as the"
        f" engine checks them); the engine = {halt['engine_to_least_ratio']:.2f}x"
        " the first"
    )


def _signals_line(signals: dict[str, Any]) -> str:
    if not signals["available"]:
        return "signals: not available"
    return (
        "signals: the startup run with object_started, object_finished and"
        " task_finished unheard, ns per engine: never listened to"
        f" {signals['unarmed_ns_per_engine']:,.0f}; checked, no receiver"
        f" {signals['armed_ns_per_engine']:,.0f}"
        f" ({signals['armed_ratio']:.2f}x); a receiver for another engine"
        f" {signals['elsewhere_ns_per_engine']:,.0f}"
        f" ({signals['elsewhere_ratio']:.2f}x)"
    )


def _scale_row(label: str, point: dict[str, Any]) -> str:
    return (
        f"{label:<14}{point['engine_ns_per_task']:>16.1f}"
        f"{point['twin_ns_per_task']:>14.1f}{point['ratio']:>8.2f}"
    )


def _fit_line(label: str, fit: dict[str, Any], unit: str) -> str:
    return (
        f"  slope {label}: engine {fit[f'engine_slope_ns_per_{unit}']:+.1f},"
        f" twin {fit[f'twin_slope_ns_per_{unit}']:+.1f},"
        f" overhead {fit[f'overhead_slope_ns_per_{unit}']:+.1f} ns/task"
        f" (noise {fit['noise_ns_per_task']:.1f}); target flat: {fit['verdict']}"
    )


def profile(workload: str, config: dict[str, Any]) -> None:
    """Print a :mod:`cProfile` report of the engine side of ``workload``."""
    makers: dict[str, Callable[[], tuple[Side, Side]]] = {
        "flat": lambda: flat_sides(config["flat_objects"], []),
        "nested": lambda: nested_sides(config["nested_objects"]),
        "halt_resume": lambda: halt_sides(config["halt_objects"]),
        "startup": lambda: startup_sides(config["startup_engines"]),
    }
    engine, _ = makers[workload]()
    # An unprofiled run first, so one-off imports and caches do not count.
    engine.run(engine.prepare())
    tokens = engine.prepare()
    profiler = cProfile.Profile()
    profiler.runcall(engine.run, tokens)
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(25)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the process exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--quick", action="store_true", help="small sizes and few repeats (CI)"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--profile",
        choices=("flat", "nested", "halt_resume", "startup"),
        help="profile the engine side of one workload instead of timing",
    )
    args = parser.parse_args(argv)
    config = QUICK if args.quick else FULL
    if args.profile:
        profile(args.profile, config)
        return 0
    report = {
        "mode": "quick" if args.quick else "full",
        "machine": machine(),
        "workloads": {name: BENCHMARKS[name](config) for name in WORKLOAD_NAMES},
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
