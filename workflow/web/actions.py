"""Halt actions: what a person can do about an object halted with an action.

A task halts an object to ask a person for a decision::

    eng.halt("Check the grade", action="approval", payload={"grade": 4})

A definition registers, next to its tasks, a *handler* for each choice that
action offers. The holding pen (:mod:`workflow.web.app`) shows these choices
on every object halted with that action, and its JSON API accepts them::

    from workflow.web.actions import RESUME, ActionRequest, Outcome, halt_actions


    @halt_actions.handler("approval", "approve", label="Approve")
    def approve(request: ActionRequest) -> Outcome:
        request.data["approved_by"] = request.user_name
        return RESUME

This module needs neither Starlette nor a database: a definition module can
declare its handlers without the ``web`` extra installed.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Mapping
from typing import Any, Callable

__all__ = (
    "LEAVE",
    "RESUME",
    "ActionRequest",
    "Choice",
    "HaltActions",
    "Handler",
    "Outcome",
    "halt_actions",
    "restart",
)

_RESTART_WORDS = ("prev", "current", "next", "first")
# Choice and field names go into URLs and form field names.
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What happens to the workflow once a handler has run.

    Use :data:`RESUME`, :data:`LEAVE` or :func:`restart` rather than building
    one by hand.

    :ivar kind: ``"resume"``, ``"restart"`` or ``"leave"``.
    :ivar obj: for ``"restart"``, the object word (``'prev'``, ``'current'``,
        ``'next'`` or ``'first'``).
    :ivar task: for ``"restart"``, the task word (same words).
    """

    kind: str
    obj: str = "current"
    task: str = "first"

    def __post_init__(self) -> None:
        if self.kind not in ("resume", "restart", "leave"):
            raise ValueError(
                f"Unknown outcome {self.kind!r}: use RESUME, LEAVE or restart()"
            )
        for what, word in (("object", self.obj), ("task", self.task)):
            if word not in _RESTART_WORDS:
                raise ValueError(
                    f"Unknown {what} position {word!r} for restart(); use"
                    f" {', '.join(map(repr, _RESTART_WORDS))}"
                )


RESUME = Outcome("resume")
"""Save the handler's data changes, then resume the workflow after the halt."""

LEAVE = Outcome("leave")
"""Save the handler's data changes and leave the object halted."""


def restart(obj: str = "current", task: str = "first") -> Outcome:
    """Save the handler's data changes, then restart the workflow.

    :param obj: ``'prev'``, ``'current'``, ``'next'`` or ``'first'`` object,
        relative to where the workflow stopped (as ``workflow restart``).
    :param task: ``'prev'``, ``'current'``, ``'next'`` or ``'first'`` task.
    :raises ValueError: for another word.
    """
    return Outcome("restart", obj, task)


@dataclasses.dataclass
class ActionRequest:
    """What a handler gets: the halted object, who acts, and what they typed.

    :ivar workflow_uuid: the uuid of the object's workflow.
    :ivar workflow_name: the name of that workflow's definition.
    :ivar object_id: the object's row id.
    :ivar position: the object's position in its workflow.
    :ivar data: a copy of the object's data. Change it in place or assign a
        new JSON value: it is saved when it differs from the stored data.
    :ivar message: the halt's message.
    :ivar action: the halt's action name.
    :ivar payload: the halt's payload (a JSON value or ``None``).
    :ivar choice: the name of the chosen :class:`Choice`.
    :ivar params: the values typed into the choice's fields, by field name
        (only the declared fields; a missing one is ``""``).
    :ivar user: the user acting, as returned by the application's
        ``get_user`` callable.
    """

    workflow_uuid: str
    workflow_name: str
    object_id: int
    position: int
    data: Any
    message: str | None
    action: str
    payload: Any
    choice: str
    params: dict[str, str]
    user: Any

    @property
    def user_name(self) -> str:
        """The acting user as text (``str(user)``), e.g. to record who decided."""
        return str(self.user)


Handler = Callable[[ActionRequest], Outcome]
"""A halt action handler: takes an :class:`ActionRequest`, returns an
:class:`Outcome`."""


@dataclasses.dataclass(frozen=True)
class Choice:
    """One choice offered on objects halted with an action.

    :ivar action: the halt action name (``eng.halt(..., action=...)``).
    :ivar name: the choice's name, used in URLs (``approve``).
    :ivar handler: the function run when a person picks it.
    :ivar label: the button's text (default: the name, capitalised).
    :ivar fields: names of text fields the person fills in before choosing
        (e.g. ``("reason",)``); their values reach the handler in
        the ``params`` of the :class:`ActionRequest`.
    :ivar workflow: the definition name the choice is limited to, or ``None``
        for every workflow halting with this action.
    """

    action: str
    name: str
    handler: Handler
    label: str
    fields: tuple[str, ...] = ()
    workflow: str | None = None


class HaltActions:
    """A registry of :class:`Choice` objects by halt action name.

    A choice registered with ``workflow=NAME`` applies only to workflows of
    that definition, and hides the choices registered for every workflow
    under the same action: two definitions can give one action name
    different meanings.
    """

    def __init__(self) -> None:
        self._choices: dict[tuple[str | None, str], dict[str, Choice]] = {}
        self._lock = threading.Lock()

    def register(
        self,
        action: str,
        name: str,
        handler: Handler,
        *,
        label: str | None = None,
        fields: tuple[str, ...] = (),
        workflow: str | None = None,
    ) -> Choice:
        """Offer the choice ``name`` on objects halted with ``action``.

        Registering the same action, name and workflow again replaces the
        earlier choice. Choices are shown in registration order.

        :param action: the halt action name.
        :param name: the choice's name: letters, digits, ``_``, ``.`` and
            ``-``, at most 64 characters.
        :param handler: called with an :class:`ActionRequest`; returns an
            :class:`Outcome`.
        :param label: the button's text (default: ``name`` capitalised).
        :param fields: names of text fields to ask for (same rule as
            ``name``).
        :param workflow: limit the choice to this definition name.
        :returns: the registered :class:`Choice`.
        :raises ValueError: for an empty action or a badly formed name.
        :raises TypeError: when ``handler`` is not callable.
        """
        if not isinstance(action, str) or not action:
            raise ValueError(f"A halt action name must be a non-empty str: {action!r}")
        for what, value in (("choice", name), *(("field", f) for f in fields)):
            if not isinstance(value, str) or not _NAME.match(value):
                raise ValueError(
                    f"Bad {what} name {value!r}: use letters, digits, '_', '.'"
                    " and '-' (at most 64 characters)"
                )
        if not callable(handler):
            raise TypeError(f"The handler of {action}/{name} is not callable")
        choice = Choice(
            action,
            name,
            handler,
            label if label is not None else name[:1].upper() + name[1:],
            tuple(fields),
            workflow,
        )
        with self._lock:
            self._choices.setdefault((workflow, action), {})[name] = choice
        return choice

    def handler(
        self,
        action: str,
        name: str,
        *,
        label: str | None = None,
        fields: tuple[str, ...] = (),
        workflow: str | None = None,
    ) -> Callable[[Handler], Handler]:
        """Decorator form of :meth:`register`; returns the function unchanged.

        ::

            @halt_actions.handler("approval", "reject", fields=("reason",))
            def reject(request):
                request.data["rejected"] = request.params["reason"]
                return RESUME
        """

        def decorate(function: Handler) -> Handler:
            self.register(
                action, name, function, label=label, fields=fields, workflow=workflow
            )
            return function

        return decorate

    def choices(self, action: str | None, workflow: str) -> list[Choice]:
        """Return the choices offered on an object halted with ``action``.

        :param action: the halt's action (``None`` offers nothing).
        :param workflow: the definition name of the object's workflow.
        """
        if action is None:
            return []
        with self._lock:
            found: Mapping[str, Choice] = self._choices.get(
                (workflow, action)
            ) or self._choices.get((None, action), {})
            return list(found.values())

    def get(self, action: str | None, workflow: str, name: str) -> Choice | None:
        """Return the choice ``name`` offered for ``action``, or ``None``."""
        for choice in self.choices(action, workflow):
            if choice.name == name:
                return choice
        return None

    def clear(self) -> None:
        """Forget every registered choice (for tests)."""
        with self._lock:
            self._choices.clear()


halt_actions: HaltActions = HaltActions()
"""The registry the holding pen uses unless given another one."""
