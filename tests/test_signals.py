"""Signals sent by the engine (SPEC 7, 6.6, 6.7, 12.8).

Real blinker receivers are connected to :mod:`workflow.signals`; every
connection is undone when its test ends.
"""

from __future__ import annotations

import logging
import sys

import pytest

from tests.helpers import task, trace_of
from workflow import signals
from workflow.engine import GenericWorkflowEngine, Signal, _Signal
from workflow.errors import HaltProcessing, WorkflowError
from workflow.utils import classproperty

SIGNAL_NAMES = (
    "workflow_started",
    "workflow_finished",
    "workflow_halted",
    "workflow_error",
)
MISSING = "Could not import signals lib; ignoring all future signal calls."


class Listener:
    """Receives every workflow signal, recording (name, sender, tasks run so far)."""

    def __init__(self):
        self.received = []
        self._receivers = {}

    def connect(self, sender=None):
        for name in SIGNAL_NAMES:

            def receive(eng, _name=name, **kwargs):
                self.received.append((_name, eng, len(trace_of(eng)), kwargs))

            self._receivers[name] = receive
            if sender is None:
                getattr(signals, name).connect(receive, weak=False)
            else:
                getattr(signals, name).connect(receive, sender=sender, weak=False)

    def disconnect(self):
        for name, receive in self._receivers.items():
            getattr(signals, name).disconnect(receive)


@pytest.fixture
def listen():
    listeners = []

    def start(sender=None):
        listener = Listener()
        listener.connect(sender)
        listeners.append(listener)
        return listener

    yield start
    for listener in listeners:
        listener.disconnect()


def _engine(*tasks):
    eng = GenericWorkflowEngine()
    eng.callbacks.replace(list(tasks) or [task("t1"), task("t2")])
    return eng


def test_signals_live_in_one_blinker_namespace():
    from blinker import Namespace

    assert isinstance(signals._signals, Namespace)
    assert [getattr(signals, name).name for name in SIGNAL_NAMES] == list(SIGNAL_NAMES)
    assert all(
        signals._signals[name] is getattr(signals, name) for name in SIGNAL_NAMES
    )


def test_engine_signal_is_the_one_signal_instance():
    assert isinstance(Signal, _Signal)
    assert GenericWorkflowEngine.signal is Signal


def test_a_run_sends_started_before_and_finished_after_the_tasks(listen):
    listener = listen()
    eng = _engine()
    eng.process(["A", "B"])
    assert listener.received == [
        ("workflow_started", eng, 0, {}),
        ("workflow_finished", eng, 4, {}),
    ]


def test_a_halt_sends_halted_and_no_finished(listen):
    listener = listen()
    eng = _engine(task("t1"), task("H", lambda obj, eng: eng.halt()), task("t3"))
    with pytest.raises(HaltProcessing):
        eng.process(["A", "B"])
    assert listener.received == [
        ("workflow_started", eng, 0, {}),
        ("workflow_halted", eng, 2, {}),
    ]


@pytest.mark.parametrize("exception", [ValueError("boom"), WorkflowError("bad")])
def test_an_unexpected_exception_sends_error_not_halted(listen, exception):
    def fail(obj, eng):
        raise exception

    listener = listen()
    eng = _engine(task("t1"), task("E", fail))
    with pytest.raises(type(exception)):
        eng.process(["A", "B"])
    assert listener.received == [
        ("workflow_started", eng, 0, {}),
        ("workflow_error", eng, 2, {}),
    ]


def test_halts_with_stop_on_halt_false_send_halted_each_and_finish(listen):
    listener = listen()
    eng = _engine(task("H", lambda obj, eng: obj == "A" and eng.halt()))
    eng.process(["A", "B"], stop_on_halt=False)
    assert [name for name, *_ in listener.received] == [
        "workflow_started",
        "workflow_halted",
        "workflow_started",
        "workflow_finished",
    ]


@pytest.mark.parametrize(
    "control",
    [
        lambda eng: eng.stop(),
        lambda eng: eng.abort(),
        lambda eng: eng.skip_token(),
        lambda eng: eng.continue_next_token(),
        lambda eng: eng.jump_token(1),
    ],
    ids=["stop", "abort", "skip_token", "continue_next_token", "jump_token"],
)
def test_other_transitions_send_no_halted_or_error(listen, control):
    listener = listen()
    eng = _engine(task("X", lambda obj, eng: control(eng)))
    eng.process(["A", "B"])
    assert [name for name, *_ in listener.received] == [
        "workflow_started",
        "workflow_finished",
    ]


def test_a_receiver_connected_for_one_engine_hears_only_that_engine(listen):
    first, second = _engine(), _engine()
    only_first = listen(sender=first)
    everyone = listen()
    first.process(["A"])
    second.process(["B"])
    assert [(name, sender) for name, sender, *_ in only_first.received] == [
        ("workflow_started", first),
        ("workflow_finished", first),
    ]
    assert [(name, sender) for name, sender, *_ in everyone.received] == [
        ("workflow_started", first),
        ("workflow_finished", first),
        ("workflow_started", second),
        ("workflow_finished", second),
    ]


@pytest.mark.parametrize("name", SIGNAL_NAMES)
def test_signal_methods_pass_extra_arguments_to_receivers(listen, name):
    listener = listen()
    eng = _engine()
    signal = _Signal()
    getattr(signal, name)(eng, reason="test")
    assert listener.received == [(name, eng, 0, {"reason": "test"})]


@pytest.mark.parametrize("name", SIGNAL_NAMES)
def test_signal_methods_without_receivers_do_nothing(name):
    eng = _engine()
    assert not getattr(signals, name).receivers
    getattr(_Signal(), name)(eng)


# -- blinker missing --------------------------------------------------------------


@pytest.fixture
def no_blinker(monkeypatch):
    """Make ``import workflow.signals`` raise ImportError for the test."""
    monkeypatch.setitem(sys.modules, "workflow.signals", None)


def _engine_with_fresh_signal():
    fresh = _Signal()

    class Engine(GenericWorkflowEngine):
        @classproperty
        def signal(cls):
            return fresh

    eng = Engine()
    eng.callbacks.replace(
        [task("t1"), task("H", lambda obj, eng: obj == "B" and eng.halt())]
    )
    return eng


def test_without_blinker_the_engine_warns_once_and_runs(no_blinker, caplog):
    eng = _engine_with_fresh_signal()
    caplog.set_level(logging.DEBUG, logger=eng.log.name)
    eng.process(["A"])
    eng.process(["C", "D"])
    with pytest.raises(HaltProcessing):
        eng.process(["A", "B"])
    eng.signal.workflow_error(eng)
    warnings = [
        (r.name, r.levelno, r.getMessage())
        for r in caplog.records
        if r.levelno >= logging.WARNING
    ]
    assert warnings == [(eng.log.name, logging.WARNING, MISSING)]
    assert [obj for obj, name in trace_of(eng) if name == "t1"] == [
        "A",
        "C",
        "D",
        "A",
        "B",
    ]


def test_without_blinker_and_without_engine_the_root_logger_warns(no_blinker, caplog):
    caplog.set_level(logging.WARNING)
    signal = _Signal()
    signal.workflow_started(None)
    signal.workflow_finished(None)
    assert caplog.record_tuples == [("root", logging.WARNING, MISSING)]


def test_each_signal_instance_warns_once_for_itself(no_blinker, caplog):
    caplog.set_level(logging.WARNING)
    _Signal().workflow_halted(None)
    _Signal().workflow_halted(None)
    assert caplog.record_tuples == [("root", logging.WARNING, MISSING)] * 2


def test_signals_are_found_at_call_time_once_blinker_is_back(
    monkeypatch, listen, caplog
):
    signal = _Signal()
    eng = _engine()
    monkeypatch.setitem(sys.modules, "workflow.signals", None)
    signal.workflow_started(eng)
    monkeypatch.undo()
    listener = listen()
    signal.workflow_started(eng)
    assert listener.received == [("workflow_started", eng, 0, {})]
    assert [r.getMessage() for r in caplog.records] == [MISSING]


def _refusing_import(real_import):
    def refuse(name, *args, **kwargs):
        if name == "workflow.signals":
            raise ImportError("refused at call time")
        return real_import(name, *args, **kwargs)

    return refuse


@pytest.mark.parametrize("name", SIGNAL_NAMES)
def test_an_import_refused_at_call_time_warns_once(monkeypatch, caplog, listen, name):
    import builtins

    # workflow.signals is imported (cached in sys.modules) and listened to:
    # only the import statement run by the call can notice the refusal.
    listener = listen()
    eng = _engine()
    caplog.set_level(logging.WARNING)
    signal = _Signal()
    monkeypatch.setattr(builtins, "__import__", _refusing_import(builtins.__import__))
    getattr(signal, name)(eng)
    getattr(signal, name)(eng)
    monkeypatch.undo()
    assert caplog.record_tuples == [(eng.log.name, logging.WARNING, MISSING)]
    assert listener.received == []


def test_a_run_whose_signals_import_is_refused_warns_once_and_completes(
    monkeypatch, caplog
):
    import builtins

    eng = _engine_with_fresh_signal()
    caplog.set_level(logging.WARNING)
    monkeypatch.setattr(builtins, "__import__", _refusing_import(builtins.__import__))
    eng.process(["A", "C"])
    monkeypatch.undo()
    assert caplog.record_tuples == [(eng.log.name, logging.WARNING, MISSING)]
    assert eng.has_completed is True
