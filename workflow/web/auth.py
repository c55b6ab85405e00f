"""Who may use the holding pen, and what they may do.

A host application passes two callables to
:func:`~workflow.web.app.create_app`:

``get_user(request) -> user or None``
    the user making the request (any object; ``str(user)`` is shown), or
    ``None`` for an anonymous request, which is refused.

``authorize(user, permission, workflow) -> bool``
    whether ``user`` may do ``permission`` on ``workflow`` (a
    :class:`WorkflowRef`, or ``None`` for the lists). The permissions are
    ``"view"``, ``"resume"``, ``"restart"``, ``"take_over"`` (run a RUNNING
    workflow whose process is gone), ``"delete"`` and, for a halt action
    choice, ``"act:ACTION:CHOICE"`` (e.g. ``"act:approval:approve"``).

``workflow serve`` uses :class:`TokenAuth` instead: a person logs in with a
token, and a session cookie remembers the role that token gives.
"""

from __future__ import annotations

import dataclasses
import hmac
from typing import Any, Callable, Optional

__all__ = (
    "PERMISSIONS",
    "Authorizer",
    "TokenAuth",
    "TokenUser",
    "UserGetter",
    "WorkflowRef",
    "allow_any_user",
)

PERMISSIONS = ("view", "resume", "restart", "take_over", "delete")
"""The permissions other than halt action choices (``"act:ACTION:CHOICE"``)."""


@dataclasses.dataclass(frozen=True)
class WorkflowRef:
    """The workflow a permission is asked for.

    :ivar uuid: its uuid.
    :ivar name: its definition's name.
    """

    uuid: str
    name: str


UserGetter = Callable[[Any], Any]
"""``get_user(request)``: the request's user, or ``None`` when anonymous."""

Authorizer = Callable[[Any, str, Optional[WorkflowRef]], bool]
"""``authorize(user, permission, workflow)``: whether the user may do it."""


def allow_any_user(user: Any, permission: str, workflow: WorkflowRef | None) -> bool:
    """The default ``authorize``: every logged-in user may do everything."""
    return True


@dataclasses.dataclass(frozen=True)
class TokenUser:
    """A user logged in with a :class:`TokenAuth` token.

    :ivar role: ``"operator"`` (may act) or ``"reader"`` (may only look).
    """

    role: str

    @property
    def read_only(self) -> bool:
        """Whether this user may only look."""
        return self.role == "reader"

    def __str__(self) -> str:
        return self.role


_SESSION_ROLE = "workflow_role"


class TokenAuth:
    """Log in with a shared token; a read-only token gives a reader.

    Browsers log in once through the login page, which keeps the role in
    the signed session cookie. Other tools send ``Authorization: Bearer
    TOKEN`` with each request.

    :param token: the operator's token: may view and act.
    :param read_only_token: the reader's token: may only view (``None``: no
        reader).
    :raises ValueError: for an empty token, or two equal tokens.
    """

    def __init__(self, token: str, read_only_token: str | None = None) -> None:
        if not token:
            raise ValueError("The holding pen's token must not be empty")
        if read_only_token is not None and (
            not read_only_token or hmac.compare_digest(token, read_only_token)
        ):
            raise ValueError(
                "The read-only token must be non-empty and differ from the token"
            )
        self._tokens = {"operator": token}
        if read_only_token is not None:
            self._tokens["reader"] = read_only_token

    def check(self, token: str) -> TokenUser | None:
        """Return the user ``token`` logs in, or ``None`` for a wrong token."""
        found = None
        for role, expected in self._tokens.items():
            # Every token is compared, in constant time, so the time taken
            # tells nothing about which one (nearly) matched.
            if hmac.compare_digest(token.encode(), expected.encode()):
                found = TokenUser(role)
        return found

    def log_in(self, request: Any, user: TokenUser) -> None:
        """Remember ``user`` in the request's session."""
        request.session[_SESSION_ROLE] = user.role

    def log_out(self, request: Any) -> None:
        """Forget the session's user."""
        request.session.pop(_SESSION_ROLE, None)

    def get_user(self, request: Any) -> TokenUser | None:
        """Return the user of a bearer token or of the session, else ``None``."""
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return self.check(value.strip())
        role = request.session.get(_SESSION_ROLE)
        return TokenUser(role) if role in self._tokens else None

    def authorize(
        self, user: Any, permission: str, workflow: WorkflowRef | None
    ) -> bool:
        """Readers may only ``"view"``; operators may do everything."""
        return isinstance(user, TokenUser) and (
            permission == "view" or not user.read_only
        )
