"""Memory of stored runs: a batch of objects in memory, whatever their number.

The garbage collector is switched off in these tests: what they check must
hold by reference counting alone (no cycles keep objects alive).
Peak memory is compared between runs of N and 10 N objects (ratios, never
absolute sizes).
"""

from __future__ import annotations

import gc
import io
import tracemalloc
import weakref

import pytest

from workflow.cli import CommandError, iter_data
from workflow.signals import workflow_started
from workflow.storage import (
    StoredWorkflowEngine,
    UnserializableDataError,
    WorkflowStore,
    list_workflows,
    registry,
    start,
)
from workflow.storage.engine import BATCH_SIZE

# Peak memory of a run of 10 N objects may exceed that of N objects by this
# factor at most (a growth with the object count would be about 10).
PEAK_RATIO_LIMIT = 1.5


@pytest.fixture
def store(store_url):
    store = WorkflowStore(store_url)
    try:
        yield store
    finally:
        store.dispose()


@pytest.fixture
def sqlite_store(sqlite_url):
    store = WorkflowStore(sqlite_url)
    try:
        yield store
    finally:
        store.dispose()


@pytest.fixture
def no_gc():
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def bump(obj, eng):
    obj.data["n"] = obj.data.get("n", 0) + 1


registry.register("memory-bump", [bump, bump])


def records(count, size=0):
    """A generator of ``count`` records of about ``size`` bytes of text each."""
    return ({"i": index, "text": "x" * size} for index in range(count))


def test_a_processed_object_is_freed_during_the_run_without_gc(store, no_gc):
    watched = {}

    def watch(obj, eng):
        if obj.position in (0, BATCH_SIZE + 1):
            watched[obj.position] = weakref.ref(obj)

    registry.register("memory-watch", [watch, bump])
    eng = StoredWorkflowEngine.with_name(
        "memory-watch", store, data=records(3 * BATCH_SIZE)
    )
    eng.process()
    assert {position: ref() for position, ref in watched.items()} == {
        0: None,
        BATCH_SIZE + 1: None,
    }


def test_the_engine_is_freed_when_start_returns_without_gc(store, no_gc):
    engines = []

    def remember(sender, **kwargs):
        engines.append(weakref.ref(sender))

    workflow_started.connect(remember)
    try:
        result = start("memory-bump", records(10), store)
    finally:
        workflow_started.disconnect(remember)
    assert result.status.name == "COMPLETED"
    assert [ref() for ref in engines] == [None]


def test_iterating_the_objects_keeps_one_batch_in_memory(store, no_gc):
    eng = StoredWorkflowEngine.with_name(
        "memory-bump", store, data=records(3 * BATCH_SIZE)
    )
    seen = [weakref.ref(obj) for obj in eng.database_objects]
    assert len(seen) == 3 * BATCH_SIZE
    assert sum(ref() is not None for ref in seen) == BATCH_SIZE


def test_the_objects_index_slice_and_iterate_like_a_list(store):
    eng = StoredWorkflowEngine.with_name("memory-bump", store, data=records(600))
    objects = eng.objects
    assert (len(objects), objects[0].position, objects[-1].position) == (600, 0, 599)
    assert [obj.position for obj in objects[297:300]] == [297, 298, 299]
    assert [obj.data["i"] for obj in objects] == list(range(600))
    assert objects[5] in objects
    with pytest.raises(IndexError) as raised:
        objects[600]
    assert str(raised.value) == (
        "object index 600 out of range: the workflow has 600 objects"
    )


def test_an_object_held_elsewhere_comes_back_itself_with_its_changes(store):
    eng = StoredWorkflowEngine.with_name("memory-bump", store, data=records(600))
    held = eng.objects[0]
    held.data["note"] = "kept"
    eng.objects[599]  # the window moves past the held object
    assert eng.objects[0] is held
    assert eng.objects[0].data["note"] == "kept"


def test_a_loaded_workflow_reads_its_objects_a_batch_at_a_time(store):
    result = start("memory-bump", records(600), store)
    eng = StoredWorkflowEngine.from_uuid(result.uuid, store)
    assert [obj.data["n"] for obj in eng.objects[::100]] == [2] * 6
    assert eng.status_counts() == {
        "INITIAL": 0,
        "COMPLETED": 600,
        "HALTED": 0,
        "RUNNING": 0,
        "ERROR": 0,
    }


def test_data_from_a_generator_failing_after_a_batch_writes_nothing(store):
    def failing():
        yield from records(BATCH_SIZE + 5)
        yield {"when": object()}

    with pytest.raises(UnserializableDataError) as raised:
        start("memory-bump", failing(), store)
    assert raised.value.path == f"data[{BATCH_SIZE + 5}]['when']"
    assert list_workflows(store) == []


def run_peak(store, count, size):
    """Peak traced memory of start() over a generator of ``count`` records."""
    tracemalloc.start()
    try:
        result = start("memory-bump", records(count, size), store)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.status.name == "COMPLETED"
    return peak


@pytest.mark.parametrize("size", [0, 4600])
def test_peak_memory_of_a_stored_run_does_not_grow_with_the_object_count(
    sqlite_store, size
):
    # A first run fills the caches (compiled statements, imports).
    run_peak(sqlite_store, BATCH_SIZE // 4, size)
    small = run_peak(sqlite_store, BATCH_SIZE, size)
    large = run_peak(sqlite_store, 10 * BATCH_SIZE, size)
    assert large / small <= PEAK_RATIO_LIMIT


def test_json_lines_are_read_one_line_at_a_time(tmp_path):
    (tmp_path / "data.jsonl").write_text('{"a": 1}\n2\n{oops}\n')
    values = iter_data(str(tmp_path / "data.jsonl"))
    assert [next(values), next(values)] == [{"a": 1}, 2]
    with pytest.raises(CommandError) as raised:
        next(values)
    assert str(raised.value).startswith(f"{tmp_path / 'data.jsonl'} line 3:")


def test_iter_data_gives_what_read_data_gives_for_an_array_over_lines():
    assert list(iter_data("-", io.StringIO("[\n 1,\n 2\n]\n"))) == [1, 2]
