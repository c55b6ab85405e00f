"""Blinker signals sent by the engines.

Every signal is sent with the engine as sender, so a receiver can listen to
every engine or to one::

    from workflow.signals import workflow_halted

    @workflow_halted.connect
    def on_halt(eng):
        print("halted at", eng.state.token_pos)

This module is the only one of the package that needs :mod:`blinker`.
"""

from __future__ import annotations

from blinker import NamedSignal, Namespace

__all__ = (
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
