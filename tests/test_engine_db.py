"""DbWorkflowEngine: which saves it makes, in which order, with which arguments."""

from __future__ import annotations

import logging
import pickle
from typing import Any

import pytest

import workflow.signals
from tests.helpers import task
from workflow.engine import (
    ActionMapper,
    GenericWorkflowEngine,
    HaltProcessing,
    TransitionActions,
)
from workflow.engine_db import (
    DbProcessingFactory,
    DbTransitionAction,
    DbWorkflowEngine,
    EnumLabel,
    ObjectStatus,
    WorkflowStatus,
)
from workflow.errors import WorkflowError
from workflow.utils import classproperty

UUID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


class InvenioObjectStatus(EnumLabel):
    """An application's own object statuses, with an extra WAITING member."""

    INITIAL = 0
    COMPLETED = 1
    HALTED = 2
    RUNNING = 3
    ERROR = 4
    WAITING = 5

    @classproperty
    def labels(cls):
        return {
            0: "New",
            1: "Done",
            2: "Need action",
            3: "In process",
            4: "Error",
            5: "Waiting",
        }


class FakeWorkflow:
    """A db object recording every save into a shared log."""

    def __init__(self, log):
        self.log = log
        self.name = "grading"
        self.uuid = UUID
        self.status = WorkflowStatus.NEW
        self.objects = []

    def save(self, *args, **kwargs):
        self.log.append(("workflow", args, kwargs))
        if args and args[0] is not None:
            self.status = args[0]


class FakeObject:
    """A stored object recording every save; its statuses are the app's own."""

    known_statuses = InvenioObjectStatus

    def __init__(self, log, id, data):
        self.log = log
        self.id = id
        self.data = data
        self.status = InvenioObjectStatus.INITIAL
        self.error_message = None

    def save(self, *args, **kwargs):
        if "callback_pos" in kwargs:
            kwargs["callback_pos"] = list(kwargs["callback_pos"])
        self.log.append((f"object {self.id}", args, kwargs))
        if "status" in kwargs:
            self.status = kwargs["status"]

    def set_error_message(self, text):
        self.log.append((f"object {self.id}", "set_error_message", text))
        self.error_message = text


def record(obj, eng):
    obj.data.append("ran")


def halt_on_two(obj, eng):
    if obj.id == 2 and "halted" not in obj.data:
        obj.data.append("halted")
        eng.halt("needs a look", action="review")


def fail_on_two(obj, eng):
    if obj.id == 2:
        raise ValueError("bad grade 2")


def make_engine(definition, count=3):
    log = []
    db_obj = FakeWorkflow(log)
    db_obj.objects = [FakeObject(log, index, []) for index in range(1, count + 1)]
    eng = DbWorkflowEngine(db_obj)
    eng.callbacks.replace(definition)
    return eng, db_obj, log


def running(i):
    return (
        f"object {i}",
        (),
        {"status": InvenioObjectStatus.RUNNING, "id_workflow": UUID},
    )


def completed(i):
    return (
        f"object {i}",
        (),
        {"status": InvenioObjectStatus.COMPLETED, "id_workflow": UUID},
    )


def workflow_saved(status):
    return ("workflow", (status,), {})


def test_creating_the_engine_saves_nothing():
    log = []
    DbWorkflowEngine(FakeWorkflow(log))
    assert log == []


def test_a_completed_run_saves_running_each_object_and_completed():
    eng, db_obj, log = make_engine([record])
    eng.process(db_obj.objects)
    assert log == [
        workflow_saved(WorkflowStatus.RUNNING),
        running(1),
        completed(1),
        running(2),
        completed(2),
        running(3),
        completed(3),
        workflow_saved(WorkflowStatus.COMPLETED),
    ]


def test_a_completed_run_leaves_every_status_completed():
    eng, db_obj, log = make_engine([record])
    eng.process(db_obj.objects)
    assert db_obj.status is WorkflowStatus.COMPLETED
    assert [obj.status for obj in db_obj.objects] == [InvenioObjectStatus.COMPLETED] * 3


def test_a_halting_run_saves_the_object_halted_with_its_position():
    eng, db_obj, log = make_engine([record, [record, halt_on_two]])
    with pytest.raises(HaltProcessing) as halted:
        eng.process(db_obj.objects)
    assert halted.value.message == "needs a look"
    assert log == [
        workflow_saved(WorkflowStatus.RUNNING),
        running(1),
        completed(1),
        running(2),
        (
            "object 2",
            (),
            {
                "status": InvenioObjectStatus.HALTED,
                "callback_pos": [1, 1],
                "id_workflow": UUID,
            },
        ),
        workflow_saved(WorkflowStatus.HALTED),
    ]


def test_a_halt_logs_a_warning_naming_workflow_task_and_message(caplog):
    eng, db_obj, log = make_engine([record, halt_on_two])
    capturing = caplog.at_level(logging.WARNING, logger=eng.log.name)
    with capturing, pytest.raises(HaltProcessing):
        eng.process(db_obj.objects)
    assert [r.getMessage() for r in caplog.records if r.name == eng.log.name] == [
        "Workflow 'grading' halted at task halt_on_two with message: needs a look"
    ]


def test_restart_after_a_halt_saves_on_and_records_completed():
    eng, db_obj, log = make_engine([record, halt_on_two, record])
    with pytest.raises(HaltProcessing):
        eng.process(db_obj.objects)
    del log[:]
    eng.restart("current", "next")
    assert log == [
        workflow_saved(WorkflowStatus.RUNNING),
        running(2),
        completed(2),
        running(3),
        completed(3),
        workflow_saved(WorkflowStatus.COMPLETED),
    ]
    assert [obj.data for obj in db_obj.objects] == [
        ["ran", "ran"],
        ["ran", "halted", "ran"],
        ["ran", "ran"],
    ]


def stop_on_two(obj, eng):
    if obj.id == 2:
        eng.stop()


def test_a_run_stopped_before_the_last_object_saves_the_workflow_halted():
    eng, db_obj, log = make_engine([record, stop_on_two])
    eng.process(db_obj.objects)
    assert log == [
        workflow_saved(WorkflowStatus.RUNNING),
        running(1),
        completed(1),
        running(2),
        workflow_saved(WorkflowStatus.HALTED),
    ]
    assert [obj.data for obj in db_obj.objects] == [["ran"], ["ran"], []]


def test_an_error_saves_the_message_the_object_and_the_workflow():
    eng, db_obj, log = make_engine([record, fail_on_two])
    with pytest.raises(WorkflowError) as raised:
        eng.process(db_obj.objects)
    traceback_text = raised.value.message
    assert log == [
        workflow_saved(WorkflowStatus.RUNNING),
        running(1),
        completed(1),
        running(2),
        ("object 2", "set_error_message", traceback_text),
        (
            "object 2",
            (),
            {
                "status": InvenioObjectStatus.ERROR,
                "callback_pos": [1],
                "id_workflow": UUID,
            },
        ),
        workflow_saved(WorkflowStatus.ERROR),
    ]


def test_an_error_becomes_a_workflow_error_chained_from_the_original():
    eng, db_obj, log = make_engine([record, fail_on_two])
    with pytest.raises(WorkflowError) as raised:
        eng.process(db_obj.objects)
    error = raised.value
    assert isinstance(error.__cause__, ValueError)
    assert error.__cause__.args == ("bad grade 2",)
    assert error.message.startswith("Traceback (most recent call last):\n")
    assert error.message.endswith("ValueError: bad grade 2\n")
    assert "in fail_on_two" in error.message
    assert error.args == (error.message,)
    assert (error.id_workflow, error.id_object) == (UUID, 1)


def test_an_error_is_logged_with_its_traceback(caplog):
    eng, db_obj, log = make_engine([fail_on_two])
    capturing = caplog.at_level(logging.ERROR, logger=eng.log.name)
    with capturing, pytest.raises(WorkflowError) as raised:
        eng.process(db_obj.objects)
    records = [r for r in caplog.records if r.name == eng.log.name]
    assert [(r.levelno, r.getMessage()) for r in records] == [
        (
            logging.ERROR,
            f"Workflow 'grading' failed on object 1:\n{raised.value.message}",
        )
    ]


def test_an_error_sends_the_error_signal_once_with_the_engine():
    eng, db_obj, log = make_engine([fail_on_two])
    senders = []

    def receiver(sender, **kwargs):
        senders.append(sender)

    workflow.signals.workflow_error.connect(receiver)
    try:
        with pytest.raises(WorkflowError):
            eng.process(db_obj.objects)
    finally:
        workflow.signals.workflow_error.disconnect(receiver)
    assert senders == [eng]


def test_errors_with_stop_on_error_false_go_on_and_complete():
    eng, db_obj, log = make_engine([fail_on_two])
    eng.process(db_obj.objects, stop_on_error=False)
    assert [entry for entry in log if entry[1] != "set_error_message"] == [
        workflow_saved(WorkflowStatus.RUNNING),
        running(1),
        completed(1),
        running(2),
        (
            "object 2",
            (),
            {
                "status": InvenioObjectStatus.ERROR,
                "callback_pos": [0],
                "id_workflow": UUID,
            },
        ),
        workflow_saved(WorkflowStatus.ERROR),
        workflow_saved(WorkflowStatus.RUNNING),
        running(3),
        completed(3),
        workflow_saved(WorkflowStatus.COMPLETED),
    ]


def test_the_halt_handler_defers_to_the_generic_one_looked_up_at_call_time(
    monkeypatch,
):
    calls = []

    def generic_halt(obj, eng, callbacks, exc_info):
        calls.append((obj.id, type(exc_info[1]).__name__))

    monkeypatch.setattr(TransitionActions, "HaltProcessing", staticmethod(generic_halt))
    eng, db_obj, log = make_engine([halt_on_two])
    eng.process(db_obj.objects)
    assert calls == [(2, "HaltProcessing")]


def test_object_filters_read_statuses_from_the_objects():
    eng, db_obj, log = make_engine([record], count=5)
    statuses = [
        InvenioObjectStatus.COMPLETED,
        InvenioObjectStatus.HALTED,
        InvenioObjectStatus.RUNNING,
        InvenioObjectStatus.WAITING,
        InvenioObjectStatus.COMPLETED,
    ]
    for obj, status in zip(db_obj.objects, statuses):
        obj.status = status
    assert [obj.id for obj in eng.final_objects] == [1, 5]
    assert [obj.id for obj in eng.halted_objects] == [2]
    assert [obj.id for obj in eng.running_objects] == [3]
    assert eng.database_objects is db_obj.objects


def test_properties_read_the_db_object():
    eng, db_obj, log = make_engine([record])
    db_obj.status = WorkflowStatus.HALTED
    assert (eng.name, eng.uuid, eng.status) == ("grading", UUID, WorkflowStatus.HALTED)


def test_save_passes_the_status_positionally():
    eng, db_obj, log = make_engine([record])
    eng.save()
    eng.save(WorkflowStatus.ERROR)
    assert log == [workflow_saved(None), workflow_saved(WorkflowStatus.ERROR)]


def test_class_properties_name_the_db_classes():
    assert DbWorkflowEngine.known_statuses is WorkflowStatus
    assert DbWorkflowEngine.processing_factory is DbProcessingFactory
    assert DbProcessingFactory.transition_exception_mapper is DbTransitionAction
    assert DbProcessingFactory.action_mapper is ActionMapper
    assert issubclass(DbWorkflowEngine, GenericWorkflowEngine)


def test_repr_and_str_describe_the_workflow():
    eng, db_obj, log = make_engine([record, halt_on_two])
    with pytest.raises(HaltProcessing):
        eng.process(db_obj.objects)
    assert repr(eng) == (
        f"<DbWorkflowEngine name='grading' uuid={UUID} status=HALTED"
        " objects=3 token_pos=1 callback_pos=[1]>"
    )
    assert str(eng) == (f"Workflow 'grading' ({UUID}): Halted, object 2 of 3, task [1]")


@pytest.mark.parametrize(
    ("member", "value", "label"),
    [
        (WorkflowStatus.NEW, 0, "New"),
        (WorkflowStatus.RUNNING, 1, "Running"),
        (WorkflowStatus.HALTED, 2, "Halted"),
        (WorkflowStatus.ERROR, 3, "Error"),
        (WorkflowStatus.COMPLETED, 4, "Completed"),
        (ObjectStatus.INITIAL, 0, "New"),
        (ObjectStatus.COMPLETED, 1, "Done"),
        (ObjectStatus.HALTED, 2, "Need action"),
        (ObjectStatus.RUNNING, 3, "In process"),
        (ObjectStatus.ERROR, 4, "Error"),
        (InvenioObjectStatus.WAITING, 5, "Waiting"),
    ],
)
def test_status_members_have_values_and_labels(member, value, label):
    assert (member.value, member.label) == (value, label)


@pytest.mark.parametrize(
    ("enum", "names"),
    [
        (WorkflowStatus, ["NEW", "RUNNING", "HALTED", "ERROR", "COMPLETED"]),
        (ObjectStatus, ["INITIAL", "COMPLETED", "HALTED", "RUNNING", "ERROR"]),
    ],
)
def test_labels_is_a_class_property_not_a_member(enum, names):
    assert list(enum.__members__) == names
    assert enum.labels == {member.value: member.label for member in enum}


def test_an_enum_member_without_a_label_is_refused_at_definition():
    with pytest.raises(ValueError) as raised:

        class Incomplete(EnumLabel):
            KNOWN = 0
            UNKNOWN = 1

            @classproperty
            def labels(cls):
                return {0: "Known"}

    assert str(raised.value) == (
        "Incomplete.UNKNOWN (value 1) has no label: add it to the class's"
        " `labels` mapping"
    )


@pytest.mark.parametrize("member", list(WorkflowStatus) + list(ObjectStatus))
def test_status_members_pickle_to_themselves(member):
    assert pickle.loads(pickle.dumps(member)) is member


def test_an_enum_without_a_labels_mapping_refuses_its_members():
    with pytest.raises(ValueError) as raised:

        class Unlabelled(EnumLabel):
            ONLY = 7

    assert str(raised.value) == (
        "Unlabelled.ONLY (value 7) has no label: add it to the class's `labels` mapping"
    )


# --------------------------------------------------------------------------
# A definition not under '*', and the halt position handed to the object


class _Obj:
    """A minimal object for DbWorkflowEngine (section 8)."""

    known_statuses = ObjectStatus

    def __init__(self, n: int) -> None:
        self.n = n
        self.status = ObjectStatus.INITIAL
        self.saves: list[tuple[Any, Any, Any]] = []
        self.callback_pos: Any = None
        self.error = None

    def save(self, status=None, callback_pos=None, id_workflow=None) -> None:
        # Keep what we are handed, as an in-memory model (or an ORM attribute
        # assigned before the flush) does.
        self.saves.append((status, callback_pos, id_workflow))
        if status is not None:
            self.status = status
        if callback_pos is not None:
            self.callback_pos = callback_pos

    def set_error_message(self, text: str) -> None:
        self.error = text

    def __repr__(self) -> str:
        return f"_Obj({self.n})"


class _DbObj:
    name = "audit"
    uuid = "uuid-1"
    status = None

    def __init__(self) -> None:
        self.objects: list[Any] = []
        self.saves: list[Any] = []

    def save(self, status=None) -> None:
        self.saves.append(status)


class _KeyedDbEngine(DbWorkflowEngine):
    """Chooses its definition under another key than '*' (SPEC 6.9)."""

    def callback_chooser(self, obj: Any) -> Any:
        return self.callbacks.get("grades")


def test_db_halt_with_a_definition_not_under_star_reaches_the_caller_as_a_halt():
    # The halt's log line names eng.current_taskname, which reads '*'.
    halted: list[Any] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        halted.append(sender)

    workflow.signals.workflow_halted.connect(receiver)
    try:
        eng = _KeyedDbEngine(_DbObj())
        eng.callbacks.replace([lambda obj, eng: eng.halt("needs review")], "grades")
        obj = _Obj(0)
        with pytest.raises(HaltProcessing):
            eng.process([obj])
    finally:
        workflow.signals.workflow_halted.disconnect(receiver)
    assert obj.status is ObjectStatus.HALTED
    assert eng.db_obj.saves == [WorkflowStatus.RUNNING, WorkflowStatus.HALTED]
    assert halted == [eng]


@pytest.mark.parametrize("engine_class", [DbWorkflowEngine], ids=["db"])
def test_saved_halt_position_is_not_changed_by_the_restart(engine_class):
    # The object keeps the list it is given, as an ORM attribute does: the
    # engine must hand over a copy, not the list it goes on changing.
    eng = engine_class(_DbObj())

    def halt_once(obj: Any, eng: Any) -> None:
        if not eng.extra_data.get("halted"):
            eng.extra_data["halted"] = True
            eng.halt("wait")

    eng.callbacks.replace([task("a"), [task("b"), halt_once, task("c")], task("d")])
    obj = _Obj(0)
    with pytest.raises(HaltProcessing):
        eng.process([obj])
    assert obj.callback_pos == [1, 1]
    eng.restart("current", "next")
    assert obj.status is ObjectStatus.COMPLETED
    halted_saves = [s for s in obj.saves if s[0] is ObjectStatus.HALTED]
    assert halted_saves == [(ObjectStatus.HALTED, [1, 1], "uuid-1")]
    assert obj.callback_pos == [1, 1]
