"""Blinker signals sent by the engines.

Every signal is sent with the engine as sender, so a receiver can listen to
every engine or to one::

    from workflow.signals import workflow_halted

    @workflow_halted.connect
    def on_halt(eng):
        print("halted at", eng.state.token_pos)

The four 2.x signals (:data:`workflow_started`, :data:`workflow_finished`,
:data:`workflow_halted`, :data:`workflow_error`) are sent once per run.
:data:`object_started`, :data:`object_finished` and :data:`task_finished`
follow each object and each task; a run checks once, when it starts,
whether anything listens to them for its engine, and when nothing does it
runs exactly as if they did not exist (they cost nothing). Either way the
run itself, its tasks, positions and exceptions, is the same.
:func:`task_name` names a task as the engine's log records do.

This module is the only one of the package that needs :mod:`blinker`.
"""

from __future__ import annotations

from typing import Any

from blinker import NamedSignal, Namespace

from ._observe import register, task_name

__all__ = (
    "object_finished",
    "object_started",
    "task_finished",
    "task_name",
    "workflow_error",
    "workflow_finished",
    "workflow_halted",
    "workflow_started",
)

_signals = Namespace()

workflow_started: NamedSignal = _signals.signal(
    "workflow_started", doc="Sent when an engine starts processing its objects."
)
workflow_finished: NamedSignal = _signals.signal(
    "workflow_finished", doc="Sent when an engine has processed all its objects."
)
workflow_halted: NamedSignal = _signals.signal(
    "workflow_halted", doc="Sent when a task halts the engine."
)
workflow_error: NamedSignal = _signals.signal(
    "workflow_error", doc="Sent when a task raises an unexpected exception."
)

object_started: NamedSignal = _signals.signal(
    "object_started",
    doc="""Sent when an object starts its tasks.

    Sent for every object the object loop takes, after
    ``processing_factory.before_object`` and ``callback_chooser`` and before
    ``action_mapper.before_callbacks``; an object is taken again when a
    restart or a backward token jump comes back to it.

    :param sender: the engine.
    :param obj: the object.
    :param position: the object's index in the engine's objects
        (``eng.state.token_pos``).
    """,
)

object_finished: NamedSignal = _signals.signal(
    "object_finished",
    doc="""Sent when an object leaves its tasks, once per :data:`object_started`.

    Sent after ``action_mapper.after_callbacks`` and before whatever follows
    (``processing_factory.after_object``, or the transition action of the
    exception that ended the object's tasks).

    :param sender: the engine.
    :param obj: the object.
    :param position: the object's index, as :data:`object_started` gave it.
    :param outcome: how the object left its tasks, one of:

        ``"completed"``
            its tasks ran to their end (an object without tasks has none
            to run);
        ``"halted"``
            ``HaltProcessing`` (``eng.halt()``, ``HALT()``);
        ``"stopped"``
            ``StopProcessing`` (``eng.stop()``, ``STOP()``);
        ``"aborted"``
            ``AbortProcessing`` (``eng.abort()``);
        ``"skipped"``
            ``SkipToken`` (``eng.skip_token()``);
        ``"continued"``
            ``ContinueNextToken`` (``eng.continue_next_token()``,
            ``OBJ_NEXT()``);
        ``"jumped"``
            ``JumpToken``, ``JumpTokenForward`` or ``JumpTokenBack``
            (``eng.jump_token()``, ``OBJ_JUMP_FWD()``, ``OBJ_JUMP_BWD()``);
        ``"superseded"``
            a task started a new run of the same engine (``eng.restart()``
            or ``eng.process()``), which carried the work on; that run sent
            its own signals;
        ``"error"``
            any other exception, ``WorkflowError`` included.

        The exception is recognised by its class name, as the engine looks
        up its transition action.
    :param duration: seconds (a float) from :data:`object_started` to this
        signal.
    """,
)

task_finished: NamedSignal = _signals.signal(
    "task_finished",
    doc="""Sent after each task has run, however it ended.

    Sent after ``action_mapper.after_each_callback``, and before the engine
    acts on the task's exception (a jump, a break, a halt...). While
    anything listens to it for an engine, that engine calls every task
    through the per-task hooks, including the control tasks of the patterns
    (an ``IF`` condition, a loop's jump back) that it otherwise moves by
    without calling them; the run goes exactly the same way.

    :param sender: the engine.
    :param obj: the object.
    :param position: the object's index (``eng.state.token_pos``).
    :param callback_pos: a copy of ``eng.state.callback_pos`` at the task.
    :param task: the task (the callable).
    :param duration: seconds (a float) the task took, its hooks included.
    :param outcome: ``"ok"`` when the task returned, the class name of the
        control-flow exception it raised (``"HaltProcessing"``,
        ``"JumpCall"``, ``"BreakFromThisLoop"``... any
        :class:`~workflow.errors.WorkflowTransition`), or ``"error"`` for
        any other exception.
    """,
)


def _receiver_connected(signal: Any, **kwargs: Any) -> None:
    """Make the three signals known to the engine's runs (see above)."""
    register(object_started, object_finished, task_finished)


# The engine's runs look at these signals only once a receiver has been
# connected to one of them: until then a run does not even check them.
for _signal in (object_started, object_finished, task_finished):
    _signal.receiver_connected.connect(_receiver_connected, weak=False)
del _signal
