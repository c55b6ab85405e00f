"""Exceptions of the workflow engine.

Two families live here:

* :class:`WorkflowTransition` and its subclasses are *control flow*: tasks
  raise them (usually through the engine's methods such as
  :meth:`~workflow.engine.GenericWorkflowEngine.halt`) to move the engine, and
  the engine's :class:`~workflow.engine.TransitionActions` handle them.
* :class:`WorkflowError` and its siblings report failures to the caller.

Every exception pickles and unpickles with its attributes, because they cross
process boundaries in task queues.
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

__all__ = (
    "AbortProcessing",
    "BreakFromThisLoop",
    "ContinueNextToken",
    "HaltProcessing",
    "JumpCall",
    "JumpCallBack",
    "JumpCallForward",
    "JumpToken",
    "JumpTokenBack",
    "JumpTokenForward",
    "SkipToken",
    "StopProcessing",
    "WorkflowAPIError",
    "WorkflowDefinitionError",
    "WorkflowError",
    "WorkflowObjectStatusError",
    "WorkflowTransition",
    "with_str",
)

_C = TypeVar("_C", bound=type)


def with_str(spec: tuple[str, tuple[str, ...]]) -> Callable[[_C], _C]:
    """Class decorator giving an exception a readable ``__str__``.

    ``spec`` is ``(attr, (kw1, kw2, ...))``; the decorated class then prints
    as ``ClassName(<attr>, kw1=<kw1>, kw2=<kw2>)``, each value rendered with
    :func:`str`::

        @with_str(("message", ("code",)))
        class MyError(Exception): ...

        str(err)  # "MyError(boom, code=3)"
    """
    main_attr, keyword_attrs = spec

    def decorate(cls: _C) -> _C:
        def __str__(self: Any) -> str:
            parts = [str(getattr(self, main_attr))]
            parts.extend(f"{name}={getattr(self, name)}" for name in keyword_attrs)
            return f"{type(self).__name__}({', '.join(parts)})"

        cls.__str__ = __str__  # type: ignore[assignment]
        return cls

    return decorate


class WorkflowTransition(Exception):
    """Base of the exceptions that move the engine rather than report errors."""


class StopProcessing(WorkflowTransition):
    """Stop processing: leave the object loop (``after_processing`` still runs)."""


@with_str(("message", ("action", "payload")))
class HaltProcessing(WorkflowTransition):
    """Halt the engine and hand control back to the caller.

    The engine keeps its state, so the caller can inspect it and later
    :meth:`~workflow.engine.GenericWorkflowEngine.restart` it.

    :param message: why the engine halted.
    :param action: name of what should be done about it (for the application).
    :param payload: any data the application wants to attach.
    """

    # Defaults of the attributes, so that the engine's halt() can build a
    # halt without calling __init__ (see GenericWorkflowEngine.halt).
    message: str = ""
    action: Any = None
    payload: Any = None

    def __init__(
        self, message: str = "", action: Any = None, payload: Any = None
    ) -> None:
        # What Exception.__init__(message) does, without the call: halts are
        # frequent, and each one builds this exception.
        self.args: tuple[Any, ...] = (message,)
        self.message = message
        self.action = action
        self.payload = payload

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, self.action, self.payload), self.__dict__)


class ContinueNextToken(WorkflowTransition):
    """End the current object and go on with the next one."""


class JumpToken(WorkflowTransition):
    """Jump ``args[0]`` objects away (``1`` is the next object)."""


class JumpTokenForward(JumpToken):
    """Deprecated: jump a non-negative number of objects forward."""


class JumpTokenBack(JumpToken):
    """Deprecated: jump a non-positive number of objects back."""


class JumpCall(WorkflowTransition):
    """Jump ``args[0]`` tasks away in the current block (``1`` is the next)."""


class JumpCallForward(JumpCall):
    """Deprecated: jump a non-negative number of tasks forward."""


class JumpCallBack(JumpCall):
    """Deprecated: jump a non-positive number of tasks back."""


class BreakFromThisLoop(WorkflowTransition):
    """Leave the block being run; the enclosing block goes on."""


class SkipToken(WorkflowTransition):
    """Skip the current object without saving it; go on with the next one."""


class AbortProcessing(WorkflowTransition):
    """Abort processing without saving the current object."""


@with_str(("message", ("id_workflow", "id_object", "payload")))
class WorkflowError(Exception):
    """A failure while running a workflow.

    :param message: what went wrong (for a task's error, the traceback text).
    :param id_workflow: the identifier of the workflow, when it has one.
    :param id_object: the position or identifier of the object concerned.
    :param payload: any data worth attaching.
    """

    def __init__(
        self,
        message: str,
        id_workflow: Any = None,
        id_object: Any = None,
        payload: Any = None,
    ):
        super().__init__(message)
        self.message = message
        self.id_workflow = id_workflow
        self.id_object = id_object
        self.payload = payload

    def __reduce__(self) -> tuple[Any, ...]:
        arguments = (self.message, self.id_workflow, self.id_object, self.payload)
        return (type(self), arguments, self.__dict__)


@with_str(("message", ("workflow_name", "payload")))
class WorkflowDefinitionError(Exception):
    """A workflow definition is missing or malformed.

    :param message: what is wrong with it.
    :param workflow_name: the name of the definition.
    :param payload: any data worth attaching.
    """

    def __init__(self, message: str, workflow_name: Any, payload: Any = None):
        super().__init__(message)
        self.message = message
        self.workflow_name = workflow_name
        self.payload = payload

    def __reduce__(self) -> tuple[Any, ...]:
        arguments = (self.message, self.workflow_name, self.payload)
        return (type(self), arguments, self.__dict__)


@with_str(("message", ("obj_status", "id_object")))
class WorkflowObjectStatusError(Exception):
    """An object is in a status that does not allow the requested operation.

    :param message: what was attempted and why it is refused.
    :param id_object: the identifier of the object.
    :param obj_status: the status the object is in.
    """

    def __init__(self, message: str, id_object: Any, obj_status: Any):
        super().__init__(message)
        self.message = message
        self.id_object = id_object
        self.obj_status = obj_status

    def __reduce__(self) -> tuple[Any, ...]:
        arguments = (self.message, self.id_object, self.obj_status)
        return (type(self), arguments, self.__dict__)


class WorkflowAPIError(Exception):
    """An API was called with arguments it cannot work with.

    :param message: which argument was wrong and what to pass instead.
    """

    def __init__(self, message: str = "", *args: Any):
        super().__init__(message, *args)
        self.message = message
