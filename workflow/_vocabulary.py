"""The words and identifiers shared by the engine, the storage, Celery and the CLI.

One definition and one validator each for the restart words and for
workflow uuids, so that every entry point accepts exactly the same values
and refuses the others with the same message. This module is part of the
core: it imports nothing from :mod:`workflow.storage`,
:mod:`workflow.contrib` or :mod:`workflow.cli`.
"""

from __future__ import annotations

import re
import uuid as uuid_module

from .errors import WorkflowError

__all__ = (
    "OBJECT_MOVES",
    "RESTART_WORDS",
    "TASK_MOVES",
    "check_restart_words",
    "parse_uuid",
    "parse_uuid_prefix",
)

RESTART_WORDS = ("prev", "current", "next", "first")
"""The words a restart takes for the object and for the task."""

OBJECT_MOVES: dict[str, int | None] = {
    "prev": -2,
    "current": -1,
    "next": 0,
    "first": None,
}
"""How each word moves ``token_pos`` (``None``: back to the start)."""

TASK_MOVES: dict[str, int | None] = {
    "prev": -1,
    "current": 0,
    "next": 1,
    "first": None,
}
"""How each word moves the last index of ``callback_pos`` (``None``: ``[0]``)."""

_WORDS_SHOWN = ", ".join(repr(word) for word in RESTART_WORDS[:-1])
_UUID_PREFIX = re.compile(r"^[0-9a-f-]{1,36}$")


def check_restart_words(obj: object, task: object) -> None:
    """Check the two words of a restart.

    :param obj: the object word.
    :param task: the task word.
    :raises WorkflowError: naming the first word that is not one of
        ``prev``, ``current``, ``next`` or ``first``.
    """
    for kind, word in (("object", obj), ("task", task)):
        if not isinstance(word, str) or word not in RESTART_WORDS:
            raise WorkflowError(
                f"Unknown {kind} position for restart(): {word!r};"
                f" use {_WORDS_SHOWN} or {RESTART_WORDS[-1]!r}"
            )


def parse_uuid(value: object) -> str:
    """Return a workflow uuid in its stored spelling: lower case, with hyphens.

    Upper case, no hyphens, braces and a ``urn:uuid:`` prefix are accepted,
    as :class:`uuid.UUID` accepts them.

    :param value: the uuid as given.
    :raises TypeError: when ``value`` is not a string.
    :raises ValueError: when it is not a uuid.
    """
    if not isinstance(value, str):
        raise TypeError(
            f"uuid must be a workflow uuid string, got {type(value).__name__}"
            f" {value!r:.80}"
        )
    try:
        return str(uuid_module.UUID(value.strip()))
    except ValueError:
        raise ValueError(f"uuid {value!r:.80} is not a valid UUID") from None


def parse_uuid_prefix(value: str) -> str:
    """Return the start of a uuid, as typed by a person, in its stored spelling.

    :param value: a whole uuid (in any spelling :func:`parse_uuid` takes) or
        its first characters (hex digits and hyphens, in any case).
    :returns: the whole uuid, or the prefix in lower case.
    :raises ValueError: when ``value`` is neither.
    """
    try:
        return parse_uuid(value)
    except ValueError:
        pass
    prefix = value.strip().lower()
    if not _UUID_PREFIX.match(prefix):
        raise ValueError(
            f"{value!r:.80} is not a workflow uuid nor the start of one: use the"
            " uuid `workflow list` shows, or its first characters (hex digits"
            " and hyphens)"
        )
    return prefix
