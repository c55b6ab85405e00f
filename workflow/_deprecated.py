"""The 2.x camelCase names of :class:`~workflow.engine.GenericWorkflowEngine`.

Each warns :class:`DeprecationWarning`, then does what its new name does.
They live in this mixin so that the engine's own module holds its current
API; the engine inherits them, so ``eng.haltProcessing()`` works as in 2.x.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Callable, NoReturn

from ._run import checked_offset
from .errors import (
    AbortProcessing,
    JumpCallBack,
    JumpCallForward,
    JumpTokenBack,
    JumpTokenForward,
    SkipToken,
    WorkflowError,
)

# PEP 702's marker, so that type checkers flag these names in users' code. At
# run time it warns exactly as workflow.deprecation.deprecated does: the
# message as a DeprecationWarning, pointed at the caller's line.
if sys.version_info >= (3, 13):
    from warnings import deprecated
else:
    from typing_extensions import deprecated

if TYPE_CHECKING:
    from .engine import Callbacks, MachineState

__all__ = ("DeprecatedNames",)


class DeprecatedNames:
    """The deprecated 2.x names of the engine (SPEC 6.10), mixed into it."""

    callbacks: Callbacks
    state: MachineState
    extra_data: dict[Any, Any]

    # Defined by the engine this class is mixed into.
    halt: Callable[..., NoReturn]
    continue_next_token: Callable[[], NoReturn]
    stop: Callable[[], NoReturn]
    break_current_loop: Callable[[], NoReturn]
    jump_token: Callable[[int], NoReturn]
    jump_call: Callable[[int], NoReturn]

    @deprecated("setWorkflow() is deprecated; use callbacks.replace()")
    def setWorkflow(self, workflow_def: Any) -> None:
        """Deprecated: use ``callbacks.replace(workflow_def)``."""
        self.callbacks.replace(workflow_def)

    @deprecated("getCallbacks() is deprecated; use callbacks.get()")
    def getCallbacks(self, key: Any = "*") -> Any:
        """Deprecated: use ``callbacks.get(key)``."""
        return self.callbacks.get(key)

    @deprecated("addCallback() is deprecated; use callbacks.add()")
    def addCallback(
        self,
        key: Any,
        func: Any,
        before: Any = None,
        after: Any = None,
        relative_weight: Any = None,
    ) -> None:
        """Deprecated: use ``callbacks.add(func, key)``.

        ``before``, ``after`` and ``relative_weight`` were never implemented
        in 2.x either; they are accepted and ignored.
        """
        self.callbacks.add(func, key)

    @deprecated("addManyCallbacks() is deprecated; use callbacks.add_many()")
    def addManyCallbacks(self, key: Any, list_or_tuple: Any) -> None:
        """Deprecated: use ``callbacks.add_many(list_or_tuple, key)``."""
        self.callbacks.add_many(list_or_tuple, key)

    @deprecated("removeAllCallbacks() is deprecated; use callbacks.clear_all()")
    def removeAllCallbacks(self) -> None:
        """Deprecated: use ``callbacks.clear_all()``."""
        self.callbacks.clear_all()

    @deprecated("removeCallbacks() is deprecated; use callbacks.clear()")
    def removeCallbacks(self, key: Any) -> None:
        """Deprecated: use ``callbacks.clear(key)``."""
        self.callbacks.clear(key)

    @deprecated("replaceCallbacks() is deprecated; use callbacks.replace()")
    def replaceCallbacks(self, key: Any, funcs: Any) -> None:
        """Deprecated: use ``callbacks.replace(funcs, key)``."""
        self.callbacks.replace(funcs, key)

    @deprecated("setPosition() is deprecated; set state.token_pos/callback_pos")
    def setPosition(self, token_pos: int, callback_pos: list[int]) -> None:
        """Deprecated: set ``state.token_pos`` and ``state.callback_pos``."""
        self.state.token_pos = token_pos
        self.state.callback_pos = callback_pos

    @deprecated("getCurrObjId() is deprecated; use state.token_pos")
    def getCurrObjId(self) -> int:
        """Deprecated: use ``state.token_pos``."""
        token_pos: int = self.state.token_pos
        return token_pos

    @deprecated("getCurrTaskId() is deprecated; use state.callback_pos")
    def getCurrTaskId(self) -> list[int]:
        """Deprecated: use ``state.callback_pos``."""
        callback_pos: list[int] = self.state.callback_pos
        return callback_pos

    @deprecated("duplicate() is deprecated; create a new engine instead")
    def duplicate(self) -> Any:
        """Deprecated: return a new engine of the same class (nothing copied)."""
        return type(self)()

    @property
    @deprecated("store is deprecated; use extra_data")
    def store(self) -> dict[Any, Any]:
        """Deprecated: the very same dict as ``extra_data``.

        See :attr:`~workflow.engine.GenericWorkflowEngine.extra_data`.
        """
        return self.extra_data

    @deprecated("setVar() is deprecated; use extra_data[key] = value")
    def setVar(self, key: Any, value: Any) -> None:
        """Deprecated: use ``extra_data[key] = value``."""
        self.extra_data[key] = value

    @deprecated("getVar() is deprecated; use extra_data.get() or setdefault()")
    def getVar(self, key: Any, default: Any = None) -> Any:
        """Deprecated: return ``extra_data[key]``.

        A missing key with a non-``None`` default stores and returns it.
        """
        if key in self.extra_data:
            return self.extra_data[key]
        if default is not None:
            self.extra_data[key] = default
        return default

    @deprecated("hasVar() is deprecated; use `key in extra_data`")
    def hasVar(self, key: Any) -> bool:
        """Deprecated: use ``key in extra_data``."""
        return key in self.extra_data

    @deprecated("delVar() is deprecated; use extra_data.pop(key, None)")
    def delVar(self, key: Any) -> None:
        """Deprecated: use ``extra_data.pop(key, None)``."""
        self.extra_data.pop(key, None)

    @deprecated("haltProcessing() is deprecated; use halt()")
    def haltProcessing(
        self, msg: str = "", action: Any = None, payload: Any = None
    ) -> NoReturn:
        """Deprecated: use :meth:`~workflow.engine.GenericWorkflowEngine.halt`."""
        self.halt(msg, action=action, payload=payload)

    @deprecated("continueNextToken() is deprecated; use continue_next_token()")
    def continueNextToken(self) -> NoReturn:
        """Deprecated: use ``continue_next_token()``.

        See :meth:`~workflow.engine.GenericWorkflowEngine.continue_next_token`.
        """
        self.continue_next_token()

    @deprecated("stopProcessing() is deprecated; use stop()")
    def stopProcessing(self) -> NoReturn:
        """Deprecated: use :meth:`~workflow.engine.GenericWorkflowEngine.stop`."""
        self.stop()

    @deprecated("breakFromThisLoop() is deprecated; use break_current_loop()")
    def breakFromThisLoop(self) -> NoReturn:
        """Deprecated: use ``break_current_loop()``.

        See :meth:`~workflow.engine.GenericWorkflowEngine.break_current_loop`.
        """
        self.break_current_loop()

    @deprecated("jumpToken() is deprecated; use jump_token()")
    def jumpToken(self, offset: int) -> NoReturn:
        """Deprecated: use :meth:`~workflow.engine.GenericWorkflowEngine.jump_token`."""
        self.jump_token(offset)

    @deprecated("jumpCall() is deprecated; use jump_call()")
    def jumpCall(self, offset: int) -> NoReturn:
        """Deprecated: use :meth:`~workflow.engine.GenericWorkflowEngine.jump_call`."""
        self.jump_call(offset)

    @deprecated("jumpTokenForward() is deprecated; use jump_token()")
    def jumpTokenForward(self, offset: int) -> NoReturn:
        """Deprecated: jump ``offset`` (not negative) objects forward."""
        raise JumpTokenForward(checked_offset(offset, "jumpTokenForward"))

    @deprecated("jumpTokenBack() is deprecated; use jump_token()")
    def jumpTokenBack(self, offset: int) -> NoReturn:
        """Deprecated: jump ``offset`` (not positive) objects back."""
        raise JumpTokenBack(checked_offset(offset, "jumpTokenBack"))

    @deprecated("jumpCallForward() is deprecated; use jump_call()")
    def jumpCallForward(self, offset: int) -> NoReturn:
        """Deprecated: jump ``offset`` tasks forward; negative raises."""
        if checked_offset(offset, "jumpCallForward") < 0:
            raise WorkflowError(
                f"jumpCallForward() cannot jump backwards (offset {offset});"
                " use jump_call() with a negative offset"
            )
        raise JumpCallForward(offset)

    @deprecated("jumpCallBack() is deprecated; use jump_call()")
    def jumpCallBack(self, offset: int) -> NoReturn:
        """Deprecated: jump ``offset`` tasks back; positive raises."""
        if checked_offset(offset, "jumpCallBack") > 0:
            raise WorkflowError(
                f"jumpCallBack() cannot jump forwards (offset {offset});"
                " use jump_call() with a positive offset"
            )
        raise JumpCallBack(offset)

    @staticmethod
    @deprecated("abortProcessing() is deprecated; use abort()")
    def abortProcessing() -> NoReturn:
        """Deprecated: use :meth:`~workflow.engine.GenericWorkflowEngine.abort`."""
        raise AbortProcessing

    @staticmethod
    @deprecated("skipToken() is deprecated; use skip_token()")
    def skipToken() -> NoReturn:
        """Deprecated: use :meth:`~workflow.engine.GenericWorkflowEngine.skip_token`."""
        raise SkipToken
