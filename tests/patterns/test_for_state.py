"""When FOR's loop state lives and dies (SPEC 10), on the plain and stored engines.

The state belongs to one pass of one object through the loop: a halt in the
branch resumed with ``restart('current', 'next')`` goes on with the same
value; a pass left early in any other way is forgotten, and the next entry
starts from the first value.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

import pytest

from workflow.engine import GenericWorkflowEngine
from workflow.errors import HaltProcessing
from workflow.patterns.controlflow import FOR, WHILE


def _data(obj: Any) -> Any:
    return getattr(obj, "data", obj)


def seen(obj: Any, eng: Any) -> None:
    _data(obj).setdefault("seen", []).append(eng.extra_data["v"])


def seen_after(obj: Any, eng: Any) -> None:
    _data(obj).setdefault("after", []).append(eng.extra_data["v"])


LEAVES = {
    "break": lambda eng: eng.break_current_loop(),
    "jump out": lambda eng: eng.jump_call(10),
    "obj_next": lambda eng: eng.continue_next_token(),
    "stop": lambda eng: eng.stop(),
    "halt": lambda eng: eng.halt("leave"),
}


def leave_once(how: str) -> Any:
    def leave(obj: Any, eng: Any) -> None:
        if not eng.extra_data.get("left"):
            eng.extra_data["left"] = True
            LEAVES[how](eng)

    return leave


def halt_at_2_once(obj: Any, eng: Any) -> None:
    if eng.extra_data["v"] == 2 and not eng.extra_data.get("halted"):
        eng.extra_data["halted"] = True
        eng.halt("at 2")


class Plain:
    """Runs a definition on a generic engine."""

    def __init__(self, definition: list[Any]) -> None:
        self.eng = GenericWorkflowEngine()
        self.eng.callbacks.replace(definition)
        self.objects: list[Any] = []

    def start(self, data: list[Any], stop_on_halt: bool = True) -> None:
        self.objects = data
        with contextlib.suppress(HaltProcessing):
            self.eng.process(data, stop_on_halt=stop_on_halt)

    def restart(self, obj: str, task: str) -> None:
        with contextlib.suppress(HaltProcessing):
            self.eng.restart(obj, task)

    def datas(self) -> list[Any]:
        return self.objects


class Stored:
    """Runs a definition through the SQLite storage; each restart loads it anew."""

    def __init__(self, definition: list[Any], store: Any) -> None:
        from workflow.storage import registry

        self.name = f"for-state-{uuid.uuid4()}"
        registry.register(self.name, definition)
        self.store = store
        self.uuid = ""

    def start(self, data: list[Any], stop_on_halt: bool = True) -> None:
        from workflow.storage import start

        result = start(self.name, data, self.store, stop_on_halt=stop_on_halt)
        self.uuid = result.uuid

    def restart(self, obj: str, task: str) -> None:
        from workflow.storage import restart

        restart(self.uuid, self.store, obj=obj, task=task)

    def datas(self) -> list[Any]:
        from workflow.storage import list_objects

        return [info.data for info in list_objects(self.uuid, self.store)]


@pytest.fixture(params=["plain", "stored"])
def runner(request: pytest.FixtureRequest, tmp_path: Any) -> Any:
    if request.param == "plain":
        yield Plain
        return
    storage = pytest.importorskip("workflow.storage", exc_type=ImportError)
    store = storage.WorkflowStore(f"sqlite:///{tmp_path / 'for.db'}")
    store.create_all()
    try:
        yield lambda definition: Stored(definition, store)
    finally:
        store.dispose()


def _objects() -> list[dict[str, Any]]:
    return [{"id": 0}, {"id": 1}]


@pytest.mark.parametrize("how", ["break", "jump out", "obj_next"])
def test_a_pass_left_early_is_forgotten_by_the_next_object(runner, how):
    run = runner([FOR([1, 2, 3], "v", [seen, leave_once(how)])])
    run.start(_objects())
    assert [data.get("seen") for data in run.datas()] == [[1], [1, 2, 3]]


@pytest.mark.parametrize("how", ["stop", "halt"])
def test_a_pass_left_by_a_stop_or_halt_is_forgotten_after_moving_on(runner, how):
    run = runner([FOR([1, 2, 3], "v", [seen, leave_once(how)])])
    run.start(_objects())
    run.restart("next", "first")
    assert [data.get("seen") for data in run.datas()] == [[1], [1, 2, 3]]


def test_a_pass_left_by_a_halt_without_stopping_is_forgotten(runner):
    run = runner([FOR([1, 2, 3], "v", [seen, leave_once("halt")])])
    run.start(_objects(), stop_on_halt=False)
    assert [data.get("seen") for data in run.datas()] == [[1], [1, 2, 3]]


def test_a_pass_left_early_is_forgotten_by_the_next_round_of_an_enclosing_loop(
    runner,
):
    def two_rounds(obj: Any, eng: Any) -> bool:
        rounds = eng.extra_data.get("rounds", 0)
        eng.extra_data["rounds"] = rounds + 1
        return rounds < 2

    inner = FOR([1, 2, 3], "v", [seen, leave_once("break")])
    run = runner([WHILE(two_rounds, [inner])])
    run.start([{"id": 0}])
    assert [data.get("seen") for data in run.datas()] == [[1, 1, 2, 3]]


def test_a_halt_in_the_branch_resumed_at_the_next_task_keeps_the_value(runner):
    run = runner([FOR([1, 2, 3], "v", [seen, halt_at_2_once, seen_after])])
    run.start([{"id": 0}])
    assert run.datas() == [{"id": 0, "seen": [1, 2], "after": [1]}]
    run.restart("current", "next")
    assert run.datas() == [{"id": 0, "seen": [1, 2, 3], "after": [1, 2, 3]}]
