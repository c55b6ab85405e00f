"""A :class:`~workflow.engine_db.DbWorkflowEngine` that stores itself in SQL.

:class:`StoredWorkflowEngine` keeps a workflow and its objects in the tables
of :mod:`workflow.storage.models`, so that any process can pick the workflow
up where another one left it:

* :meth:`StoredWorkflowEngine.with_name` creates a new workflow (and its
  objects); :meth:`StoredWorkflowEngine.from_uuid` loads a stored one.
* While it runs, the engine saves the workflow's position and the object's
  status before and after each object, and on halt (message, action,
  payload) or error (traceback). An object's completion is committed
  together with the start of the next object (or the end of the run): one
  commit per object boundary. Data a task changed is written with the
  object's next save; unchanged data is not written again.
* Before it runs, the engine *claims* the workflow
  (:meth:`UnitOfWork.claim`): in one transaction it locks the workflow's
  row, reads the workflow and its objects from that snapshot, and writes
  the claim (status RUNNING, the version moved on, a claim token, a
  heartbeat, the message id) with its history event. Of two processes
  claiming the same workflow at once, one wins and the other gets
  :class:`~workflow.storage.errors.WorkflowBusyError`. Every later save is
  conditioned on the claim's version, so a process whose workflow was
  taken over stops at its next save instead of writing over the new owner.
* A RUNNING workflow is taken over only with ``take_over=True`` once its
  owner's heartbeat is older than the store's lease, or with
  ``force=True``; a ``message_id`` whose earlier attempt holds the
  workflow carries it on, and one that ran already runs nothing.
* The engine's objects are a :class:`StoredObjects` sequence that loads
  them a batch at a time, and the objects and the workflow record link back
  to the engine only weakly: a run holds a batch of objects, not all of
  them, and frees each as soon as nothing else holds it.
* A process killed in the middle of an object leaves the workflow RUNNING,
  the objects done before COMPLETED and the interrupted one RUNNING at the
  task position saved when it started. A take-over runs the interrupted
  object again from that position.
"""

from __future__ import annotations

import itertools
import json
import json.encoder
import math
import re
import sys
import threading
import traceback
import uuid as uuid_module
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from enum import Enum
from typing import Any, Callable, NoReturn, cast, overload

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from .._vocabulary import OBJECT_MOVES, TASK_MOVES, check_restart_words, parse_uuid
from ..engine import ActionMapper, ProcessingFactory, TransitionActions
from ..engine_db import (
    DbProcessingFactory,
    DbTransitionAction,
    DbWorkflowEngine,
    ObjectStatus,
    WorkflowStatus,
    _log_failure,
    _log_halt,
    _raise_failure,
)
from ..errors import WorkflowAPIError, WorkflowError
from ..utils import classproperty
from .errors import (
    DefinitionChangedError,
    UnserializableDataError,
    WorkflowBusyError,
    WorkflowExistsError,
    WorkflowNotFoundError,
)
from .history import CLAIM_EVENTS, message_has_event, record_event
from .models import HistoryRecord, ObjectRecord, WorkflowRecord, WorkflowStore, utcnow
from .registry import Registry, fingerprint, fingerprint_matches, registry

__all__ = (
    "BATCH_SIZE",
    "MAX_ACTION_LENGTH",
    "MAX_DEPTH",
    "Claim",
    "StoredActionMapper",
    "StoredObject",
    "StoredObjects",
    "StoredProcessingFactory",
    "StoredTransitionActions",
    "StoredWorkflow",
    "StoredWorkflowEngine",
    "UnitOfWork",
    "check_restart_words",
    "error_line",
    "storable_text",
    "to_json",
)

# Tables, not the FromClause the declarative attribute is typed as.
_WF = cast(Table, WorkflowRecord.__table__)
_OBJ = cast(Table, ObjectRecord.__table__)
_HISTORY = cast(Table, HistoryRecord.__table__)

_SELECT_OBJECTS = (
    select(_OBJ)
    .where(
        _OBJ.c.workflow_uuid == bindparam("uuid"),
        _OBJ.c.position.between(bindparam("first"), bindparam("last")),
    )
    .order_by(_OBJ.c.position)
)


class _DriverStatements:
    """The saves of a run, as SQL for the database driver itself.

    A run writes the same few statements at every object boundary. Sent
    through :meth:`~sqlalchemy.engine.Connection.exec_driver_sql`, they
    skip SQLAlchemy's per-statement compilation and type processing, while
    SQLAlchemy still owns the connection, its transaction and its events.
    The JSON columns get the text the data check already made (encoded
    once), except ``callback_pos`` and ``halt_payload``, encoded here; the
    timestamps go through the column type's own processing, so rows are
    the same as SQLAlchemy writes them.
    """

    _JSON_ENCODED_HERE = frozenset({"callback_pos", "halt_payload"})

    def __init__(self, dialect: Any) -> None:
        self.marker = "?" if dialect.paramstyle in ("qmark", "numeric") else "%s"
        self.timestamp: Callable[[Any], Any] = _OBJ.c.modified.type.bind_processor(
            dialect
        ) or (lambda value: value)
        self._sql: dict[tuple[str, tuple[str, ...]], str] = {}
        columns = (
            "workflow_uuid, position, data, extra_data, status, callback_pos,"
            " created, modified"
        )
        self.insert_objects = (
            f"INSERT INTO workflow_object ({columns})"
            f" VALUES ({', '.join([self.marker] * 8)})"
        )
        self._insert_history_head = (
            "INSERT INTO workflow_history (workflow_uuid, time, event, position,"
            " actor, message_id, details)"
        )
        self.insert_history = (
            f"{self._insert_history_head} VALUES ({', '.join([self.marker] * 7)})"
        )
        # In a SELECT, parameters have no column to take their types from.
        types = ("varchar", "timestamptz", "varchar", "integer", "varchar")
        self._history_values = (
            f"({', '.join(f'{self.marker}::{name}' for name in types)},"
            f" {self.marker}::varchar, {self.marker}::json)"
        )

    def _update(
        self, table: str, where: tuple[str, ...], values: dict[str, Any]
    ) -> tuple[str, tuple[Any, ...]]:
        columns = tuple(name for name in values if name not in _ROW_KEY_NAMES)
        sql = self._sql.get((table, columns))
        if sql is None:
            marker = self.marker
            assignments = ", ".join(f"{name}={marker}" for name in columns)
            conditions = " AND ".join(f"{name} = {marker}" for name in where)
            sql = f"UPDATE {table} SET {assignments} WHERE {conditions}"
            self._sql[(table, columns)] = sql
        parameters = []
        for name in columns:
            value = values[name]
            if name == "modified" or name == "heartbeat":
                value = self.timestamp(value)
            elif name in self._JSON_ENCODED_HERE and value is not None:
                value = _encoder.encode(value)
            parameters.append(value)
        parameters.extend(values[_ROW_KEYS[name]] for name in where)
        return sql, tuple(parameters)

    def update_workflow(self, values: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
        """The workflow's save, conditioned on its uuid and version."""
        return self._update("workflow_workflow", ("uuid", "version"), values)

    def update_object(self, values: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
        """An object's save."""
        return self._update("workflow_object", ("id",), values)

    def boundary(
        self,
        workflow_values: dict[str, Any],
        objects: list[dict[str, Any]],
        history: list[tuple[Any, ...]],
    ) -> tuple[str, tuple[Any, ...]]:
        """A whole save as one PostgreSQL statement: one round trip.

        Data-modifying ``WITH`` clauses update the workflow row
        (conditioned on its version), then the objects and the history,
        each only when the workflow's update matched: the statement returns
        1, or 0 when the workflow was taken over, and then writes nothing.
        In autocommit it is its own transaction. Each object is in
        ``objects`` once (PostgreSQL applies only one update of a row per
        statement).
        """
        sql, parameters = self.update_workflow(workflow_values)
        parts = [f"w AS ({sql} RETURNING 1)"]
        values = list(parameters)
        for index, object_values in enumerate(objects):
            sql, parameters = self.update_object(object_values)
            parts.append(f"o{index} AS ({sql} AND EXISTS (SELECT 1 FROM w))")
            values.extend(parameters)
        if history:
            rows = ", ".join([self._history_values] * len(history))
            parts.append(
                f"h AS ({self._insert_history_head} SELECT * FROM (VALUES {rows})"
                " AS v WHERE EXISTS (SELECT 1 FROM w))"
            )
            for row in history:
                values.extend(row)
        return f"WITH {', '.join(parts)} SELECT count(*) FROM w", tuple(values)

    def history_rows(
        self,
        uuid: str,
        message_id: str | None,
        now: Any,
        events: list[tuple[str, int | None, Any]],
    ) -> list[tuple[Any, ...]]:
        """The parameters of :attr:`insert_history` for ``events``."""
        stamp = self.timestamp(now)
        encode = _encoder.encode
        return [
            (
                uuid,
                stamp,
                event,
                position,
                None,
                message_id,
                None if details is None else encode(details),
            )
            for event, position, details in events
        ]


# The keys of a save's values that name the row it updates, by column.
_ROW_KEYS = {"uuid": "w_uuid", "version": "w_version", "id": "o_id"}
_ROW_KEY_NAMES = frozenset(_ROW_KEYS.values())
_driver_statements: dict[tuple[type, str], _DriverStatements] = {}


def _statements(dialect: Any) -> _DriverStatements:
    key = (type(dialect), dialect.paramstyle)
    statements = _driver_statements.get(key)
    if statements is None:
        statements = _driver_statements[key] = _DriverStatements(dialect)
    return statements


_JSON_ADVICE = (
    ": workflow data must be JSON values (dict with string keys, list, str, int,"
    " float, bool, None); convert it before handing it over"
)


def _find_unserializable(
    value: Any, where: str, ancestors: dict[int, str]
) -> tuple[str, str] | None:
    """Return the path of the first value JSON cannot hold, and the error message.

    :param ancestors: the paths of the containers that hold ``value``, by id.
    :raises RecursionError: when ``value`` is nested too deeply.
    """
    if value is None or isinstance(value, (str, bool, int)):
        return None
    if isinstance(value, float):
        if math.isfinite(value):
            return None
        return where, f"{where} is {value!r}, which JSON cannot hold{_JSON_ADVICE}"
    if not isinstance(value, (list, tuple, dict)):
        return where, f"{where} is {type(value).__name__} {value!r:.60}{_JSON_ADVICE}"
    if id(value) in ancestors:
        return where, (
            f"{where}: it is {ancestors[id(value)]} itself (the value contains"
            " itself), which JSON cannot hold; break the cycle before handing it"
            " over"
        )
    ancestors[id(value)] = where
    try:
        is_dict = isinstance(value, dict)
        items: Iterable[tuple[Any, Any]] = (
            value.items() if isinstance(value, dict) else enumerate(value)
        )
        for key, item in items:
            # json.dumps would turn 1, 1.5, True and None keys into strings,
            # silently merging keys that collide ({1: ..., "1": ...}).
            if is_dict and not isinstance(key, str):
                return where, (
                    f"{where} has the key {key!r} ({type(key).__name__}), which"
                    f" is not a string{_JSON_ADVICE}"
                )
            # Plain values need no path (nor a call): most data is only those.
            if item is None or isinstance(item, (str, bool, int)):
                continue
            found = _find_unserializable(item, f"{where}[{key!r}]", ancestors)
            if found:
                return found
        return None
    finally:
        del ancestors[id(value)]


class _Encoder(threading.local):
    """The C JSON encoder, made once per thread and reused.

    ``json.dumps`` with options builds an encoder (and ``JSONEncoder.encode``
    a C encoder) per call, which costs more than encoding a small value.
    The C encoder keeps its cycle markers between calls, so each thread has
    its own, and one that failed halfway is replaced.
    """

    def __init__(self) -> None:
        self.encode = self._make()

    @staticmethod
    def _make() -> Callable[[Any], str]:
        options = json.JSONEncoder(
            allow_nan=False, ensure_ascii=False, separators=(",", ":")
        )
        make = getattr(json.encoder, "c_make_encoder", None)
        if make is None:
            return options.encode
        encoder = make(
            {},
            options.default,
            json.encoder.encode_basestring,
            None,
            ":",
            ",",
            False,
            False,
            False,
        )

        def encode(value: Any) -> str:
            return "".join(encoder(value, 0))

        return encode

    def reset(self) -> None:
        self.encode = self._make()


_encoder = _Encoder()
# What the encoder makes of an int, float, bool or None key (the separators
# are fixed above). A string key may read so too (then the value is scanned
# for nothing), never the other way round. The text is searched with
# character classes only (an alternation tried at every quote would cost
# half an encoding); the rare candidates are then matched exactly.
_KEY_LIKE_CONVERTED = re.compile(r'"[-0-9tfn][0-9.eE+rulsa-]*":')
_CONVERTED_KEY = re.compile(r'"(?:-?[0-9][0-9.eE+-]*|true|false|null)":')


def _may_have_converted_key(text: str) -> bool:
    """Whether the encoded ``text`` holds a key that may not have been a string."""
    return any(
        _CONVERTED_KEY.fullmatch(candidate.group())
        for candidate in _KEY_LIKE_CONVERTED.finditer(text)
    )


_PLAIN_TYPES = frozenset({str, int, float, bool, type(None)})


def _has_non_string_key(value: Any) -> bool:
    """Whether a dict in ``value`` has a key that is not a string.

    The JSON encoder turns ``1``, ``1.5``, ``True`` and ``None`` keys into
    strings without a word, so this is the one problem it cannot report.
    ``value`` was encoded already, so it holds no cycle and only JSON types.
    The scan goes a level of nesting at a time, and leaves the loops over
    keys to C: ``str.join`` refuses any key that is not a string.
    """
    level = [value]
    while level:
        dicts = [item for item in level if isinstance(item, dict)]
        if dicts:
            try:
                "".join(itertools.chain.from_iterable(dicts))
            except TypeError:
                return True
        children = itertools.chain(
            itertools.chain.from_iterable(map(dict.values, dicts)),
            itertools.chain.from_iterable(
                item for item in level if isinstance(item, (list, tuple))
            ),
        )
        level = [child for child in children if type(child) not in _PLAIN_TYPES]
    return False


MAX_DEPTH = 100
"""The deepest nesting of lists and dicts (within each other) that stored
data may have: ``[[1]]`` is nested 2 deep. Deeper data is refused, with its
path, when it is handed over (:func:`to_json`), so that everything stored
can be read back and resumed, far from Python's recursion limit."""

# A JSON string, with its escapes; what remains once these are gone holds
# brackets of the structure only.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_BRACKET_STEPS = {"[": 1, "{": 1, "]": -1, "}": -1}
_NOT_BRACKETS = str.maketrans(
    "", "", "".join(chr(code) for code in range(128) if chr(code) not in "[]{}")
)


def _text_depth(text: str) -> int:
    """How deep the lists and dicts of the JSON ``text`` are nested."""
    brackets = _JSON_STRING.sub("", text).translate(_NOT_BRACKETS)
    # Characters beyond ASCII can only have been in strings, gone already.
    return max(
        itertools.accumulate(map(_BRACKET_STEPS.__getitem__, brackets)), default=0
    )


def _too_deep(value: Any, where: str, depth: int) -> str | None:
    """The path of the first list or dict in ``value`` nested beyond :data:`MAX_DEPTH`.

    :param depth: how deep ``value`` itself is nested (1 at the top).
    """
    if depth > MAX_DEPTH:
        return where
    items: Iterable[tuple[Any, Any]] = (
        value.items() if isinstance(value, dict) else enumerate(value)
    )
    for key, item in items:
        if isinstance(item, (list, tuple, dict)):
            found = _too_deep(item, f"{where}[{key!r}]", depth + 1)
            if found:
                return found
    return None


def to_json(value: Any, where: str) -> str:
    """Return ``value`` as JSON text, or raise a clear error.

    :param value: the value to store.
    :param where: how to name the value in the error, e.g. ``"data[3]"``.
    :raises UnserializableDataError: naming the first value JSON cannot hold
        (an object of another type, NaN or infinity, a dict key that is not a
        string, a value that contains itself), or the first list or dict
        nested deeper than :data:`MAX_DEPTH`, with its path (e.g.
        ``data[3]['when']``) as ``path``.
    """
    # The C encoder checks almost everything at once; the walk in Python
    # runs only to explain a failure, or when a key needs it.
    try:
        text = _encoder.encode(value)
    except (TypeError, ValueError, RecursionError) as failure:
        _encoder.reset()
        _explain(value, where, failure)
    # A key the encoder converted reads "1":, "true": ... in the text: only
    # then (or for string keys that look so) is the value scanned.
    if _may_have_converted_key(text) and _has_non_string_key(value):
        _explain(value, where, None)
    # Fewer brackets than the limit cannot nest beyond it: most data stops
    # at these two counts.
    if text.count("[") + text.count("{") > MAX_DEPTH and _text_depth(text) > MAX_DEPTH:
        _explain(value, where, None)
    return text


def _explain(value: Any, where: str, failure: BaseException | None) -> NoReturn:
    """Raise the :class:`UnserializableDataError` naming what JSON cannot hold."""
    if isinstance(value, (list, tuple, dict)) and not isinstance(failure, ValueError):
        # A cycle fails as a ValueError: it is no deep nesting.
        path = _too_deep(value, where, 1)
        if path is not None:
            raise UnserializableDataError(
                f"Cannot store {where}: {path} is nested more than {MAX_DEPTH}"
                f" lists and dicts deep, the most the storage keeps; flatten it"
                " before handing it over",
                path,
            ) from None
    try:
        found = _find_unserializable(value, where, {})
    except RecursionError:
        # The recursion's traceback would only bury the message.
        raise UnserializableDataError(
            f"Cannot store {where}: it is nested too deeply to be converted to"
            " JSON (beyond Python's recursion limit); flatten it before handing"
            " it over",
            where,
        ) from None
    if found is None:
        # Only a value of an exotic type (a float subclass whose repr is not
        # a number, say) fails the encoder and passes the walk.
        raise UnserializableDataError(
            f"Cannot store {where}: {failure}{_JSON_ADVICE}", where
        ) from failure
    path, message = found
    raise UnserializableDataError(f"Cannot store {message}", path) from None


class StoredObject:
    """An object of a stored workflow, as tasks see it.

    :ivar id: the object's row id.
    :ivar position: its index in the workflow.
    :ivar data: the JSON value being processed; tasks may change or replace
        it, and the change is saved with the object's next save.
    :ivar extra_data: a dict of JSON values kept with the object.
    :ivar status: an :class:`~workflow.engine_db.ObjectStatus`.
    :ivar callback_pos: the task position saved with the object.
    :ivar halt_message: the message of the halt it stopped at, if any.
    :ivar halt_action: the action named by that halt, if any.
    :ivar halt_payload: the payload of that halt, if any.
    :ivar error_message: the traceback of the error it stopped at, if any.
    """

    known_statuses = ObjectStatus
    """The status enum of stored objects."""

    def __init__(
        self,
        engine: StoredWorkflowEngine,
        id: int,
        position: int,
        data: Any,
        extra_data: dict[str, Any],
        status: ObjectStatus,
        callback_pos: list[int],
        data_json: str,
        extra_json: str,
        halt_message: str | None = None,
        halt_action: str | None = None,
        halt_payload: Any = None,
        error_message: str | None = None,
    ) -> None:
        # A weak link: the engine holds its objects only while it works on
        # them, and a strong one back would keep every object of a run alive
        # (in a cycle) until the garbage collector runs.
        self._engine_ref = weakref.ref(engine)
        self.id: int = id
        self.position: int = position
        self.data: Any = data
        self.extra_data: dict[str, Any] = extra_data
        self.status: ObjectStatus = status
        self.callback_pos: list[int] = callback_pos
        self.halt_message: str | None = halt_message
        self.halt_action: str | None = halt_action
        self.halt_payload: Any = halt_payload
        self.error_message: str | None = error_message
        self._saved_data_json = data_json
        self._saved_extra_json = extra_json
        self._pending_json: tuple[str, str] | None = None
        self._halt_pending = False
        self._error_pending = False

    @property
    def _engine(self) -> StoredWorkflowEngine:
        engine = self._engine_ref()
        if engine is None:
            raise WorkflowAPIError(
                f"Object {self.position} outlived its StoredWorkflowEngine: load"
                " the workflow again (StoredWorkflowEngine.from_uuid) to save it"
            )
        return engine

    def set_error_message(self, text: str | None) -> None:
        """Record an error message, written with the object's next save.

        A NUL character in it is kept as the four characters ``\\x00``
        (:func:`storable_text`).
        """
        self.error_message = None if text is None else storable_text(text)
        self._error_pending = True

    def set_halt(self, message: str, action: Any, payload: Any) -> None:
        """Record the halt details, written with the object's next save.

        A NUL character in the message or the action is kept as the four
        characters ``\\x00`` (:func:`storable_text`).
        """
        self.halt_message = (
            storable_text(message) if isinstance(message, str) else message
        )
        self.halt_action = None if action is None else storable_text(str(action))
        self.halt_payload = payload
        self._halt_pending = True

    def reuse_saved_json(self) -> None:
        """Save the data as last stored, unless :meth:`serialize` runs before the save.

        The engine calls it as an object starts: the data are serialized
        after its tasks anyway, and any change is written then.
        """
        self._pending_json = (self._saved_data_json, self._saved_extra_json)

    def serialize(self) -> None:
        """Check that ``data`` and ``extra_data`` can be stored, and keep their JSON.

        :raises UnserializableDataError: when either holds a non-JSON value.
        """
        where = f"object {self.position}"
        self._pending_json = (
            to_json(self.data, f"{where} data"),
            to_json(self.extra_data, f"{where} extra_data"),
        )

    def save(
        self,
        status: ObjectStatus | None = None,
        callback_pos: list[int] | None = None,
        id_workflow: Any = None,
    ) -> None:
        """Commit the object's status, position and changed data.

        The workflow's position is committed in the same transaction. The
        data are those of the last :meth:`serialize`, or serialized here when
        none is pending.

        :param status: the new status, or ``None`` to keep it.
        :param callback_pos: the task position to keep, or ``None``.
        :param id_workflow: accepted for the
            :class:`~workflow.engine_db.DbWorkflowEngine` protocol; a stored
            object always belongs to its own workflow.
        :raises WorkflowBusyError: when another process took the workflow over.
        :raises UnserializableDataError: when ``data`` or ``extra_data`` holds
            a non-JSON value; nothing is written then. A save as ERROR keeps
            the data last stored instead.
        """
        values: dict[str, Any] = {"o_id": self.id, "modified": utcnow()}
        if status is not None:
            values["status"] = status.value
            if status is ObjectStatus.RUNNING and (
                self.halt_message is not None
                or self.halt_action is not None
                or self.error_message is not None
            ):
                self.halt_message = self.halt_action = self.halt_payload = None
                self.error_message = None
                self._halt_pending = self._error_pending = True
        state = self._engine.state
        if callback_pos is None and self.position == state.token_pos:
            # The engine's own saves pass no position before and after an
            # object; keep where the object starts or ended all the same.
            callback_pos = state.callback_pos
        if callback_pos is not None:
            values["callback_pos"] = list(callback_pos)
        if self._pending_json is None:
            try:
                self.serialize()
            except UnserializableDataError:
                # Recording a failure must not fail in turn: the failure may
                # be this very data. The data last stored stay as they are.
                if status is not ObjectStatus.ERROR:
                    raise
        pending = self._pending_json
        if pending is not None:
            # The JSON text goes to the database as it is: encoded once.
            if pending[0] != self._saved_data_json:
                values["data"] = pending[0]
            if pending[1] != self._saved_extra_json:
                values["extra_data"] = pending[1]
        if self._halt_pending:
            values["halt_message"] = self.halt_message
            values["halt_action"] = self.halt_action
            values["halt_payload"] = self.halt_payload
        if self._error_pending:
            values["error_message"] = self.error_message
        self._engine.unit_of_work.save_object(values, self.status, status)
        if status is not None:
            self.status = status
        if callback_pos is not None:
            self.callback_pos = list(callback_pos)
        if pending is not None:
            self._saved_data_json, self._saved_extra_json = pending
            self._pending_json = None
        self._halt_pending = self._error_pending = False

    def __repr__(self) -> str:
        return (
            f"<StoredObject {self.id} position={self.position}"
            f" status={self.status.name} data={self.data!r:.60}>"
        )


class StoredWorkflow:
    """The ``db_obj`` of a :class:`StoredWorkflowEngine`: its row, in memory.

    :ivar uuid: the workflow's uuid (a string).
    :ivar name: the name of its definition in the registry.
    :ivar status: a :class:`~workflow.engine_db.WorkflowStatus`.
    :ivar objects: the :class:`StoredObjects` sequence, by position.
    :ivar fingerprint: the fingerprint of the definition it last ran.
    :ivar version: the version counter seen by this process.
    """

    def __init__(
        self,
        store: WorkflowStore,
        uuid: str,
        name: str,
        status: WorkflowStatus,
        fingerprint: str,
        version: int,
        extra_json: str,
    ) -> None:
        self.store = store
        self.uuid = uuid
        self.name = name
        self.status = status
        self.fingerprint = fingerprint
        self.version = version
        self.objects: Sequence[StoredObject] = ()
        self._saved_extra_json = extra_json
        # Weak, as the objects' link: the engine owns this record.
        self._engine_ref: Callable[[], StoredWorkflowEngine | None] = lambda: None

    def save(self, status: WorkflowStatus | None = None) -> None:
        """Commit the workflow's status (unless ``None``), position and extra_data."""
        engine = self._engine_ref()
        if engine is None:
            raise WorkflowAPIError(
                f"StoredWorkflow {self.uuid} has no engine: build it through"
                " StoredWorkflowEngine.with_name() or from_uuid()"
            )
        engine.unit_of_work.save_workflow(status)

    def __repr__(self) -> str:
        return f"<StoredWorkflow {self.uuid} {self.name!r} {self.status.name}>"


BATCH_SIZE = 256
"""How many objects a stored run loads, or inserts, in one statement."""


class StoredObjects(Sequence[StoredObject]):
    """The objects of a stored workflow, loaded from the database as needed.

    It is what ``eng.objects`` (and ``eng.database_objects``) of a
    :class:`StoredWorkflowEngine` is: a sequence that code written for
    workflow 2.x can index, slice, iterate and measure. Only a window of
    objects is held in memory: reading a position outside it loads the
    :data:`BATCH_SIZE` objects from there on in one query, and lets the
    window's other objects go, except the one the engine is at. So a run
    over a million objects holds a batch of them, not a million.

    An object that something else still holds (a task, a list of the
    caller's) is not loaded again: reading its position returns that very
    object, with whatever changes it carries. A change made to an object
    that nobody holds any more, and that was not saved, is gone: the
    engine saves the object it works on, and :meth:`StoredObject.save`
    saves any other.
    """

    def __init__(self, engine: StoredWorkflowEngine, length: int) -> None:
        self._engine_ref = weakref.ref(engine)
        self._length = length
        self._window: dict[int, StoredObject] = {}
        self._alive: weakref.WeakValueDictionary[int, StoredObject] = (
            weakref.WeakValueDictionary()
        )

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> StoredObject: ...

    @overload
    def __getitem__(self, index: slice) -> list[StoredObject]: ...

    def __getitem__(self, index: int | slice) -> StoredObject | list[StoredObject]:
        if isinstance(index, slice):
            return [self[position] for position in range(*index.indices(self._length))]
        if index < 0:
            index += self._length
        obj = self._window.get(index)
        if obj is not None:
            return obj
        if not 0 <= index < self._length:
            raise IndexError(
                f"object index {index} out of range: the workflow has"
                f" {self._length} objects"
            )
        obj = self._alive.get(index)
        if obj is None:
            self._load(index)
            return self._window[index]
        self._window[index] = obj
        return obj

    def __iter__(self) -> Iterator[StoredObject]:
        for position in range(self._length):
            yield self[position]

    def __repr__(self) -> str:
        return f"<StoredObjects of {self._length}, {len(self._window)} in memory>"

    def _owner(self) -> StoredWorkflowEngine:
        engine = self._engine_ref()
        if engine is None:
            raise WorkflowAPIError(
                "These objects outlived their StoredWorkflowEngine: load the"
                " workflow again (StoredWorkflowEngine.from_uuid)"
            )
        return engine

    def _load(self, start: int, connection: Any = None) -> None:
        engine = self._owner()
        current = self._window.get(engine.state.token_pos)
        self._window = {} if current is None else {current.position: current}
        parameters = {
            "uuid": engine.db_obj.uuid,
            "first": start,
            "last": start + BATCH_SIZE - 1,
        }
        if connection is None:
            # A run reads on the connection it writes on: no second one.
            connection = engine.unit_of_work.connection
        if connection is not None:
            rows = connection.execute(_SELECT_OBJECTS, parameters).all()
        else:
            # Closing the connection ends its read-only transaction.
            with engine.db_obj.store.connect() as own_connection:
                rows = own_connection.execute(_SELECT_OBJECTS, parameters).all()
        for row in rows:
            obj = self._alive.get(row.position)
            if obj is None:
                obj = self._object_from_row(engine, row)
                self._alive[row.position] = obj
            self._window[row.position] = obj

    @staticmethod
    def _object_from_row(engine: StoredWorkflowEngine, row: Any) -> StoredObject:
        extra = row.extra_data if row.extra_data is not None else {}
        return StoredObject(
            engine,
            row.id,
            row.position,
            row.data,
            extra,
            ObjectStatus(row.status),
            list(row.callback_pos),
            to_json(row.data, "data"),
            to_json(extra, "extra_data"),
            row.halt_message,
            row.halt_action,
            row.halt_payload,
            row.error_message,
        )

    def reload(self, length: int, position: int, connection: Any) -> None:
        """Forget every object read so far and read those from ``position`` on.

        A claim calls it in its transaction, so that the run starts from
        what the database holds then, not from objects read before.

        :param length: how many objects the workflow has now.
        """
        self._length = length
        self._window = {}
        self._alive = weakref.WeakValueDictionary()
        if 0 <= position < length:
            self._load(position, connection)

    def extend_stored(self, objects: list[StoredObject]) -> None:
        """Add objects just stored after the others."""
        for obj in objects:
            self._alive[obj.position] = obj
        self._length += len(objects)


MAX_ACTION_LENGTH = 255
"""The longest halt action the storage records, in characters; a longer one
fails the halting task (:meth:`StoredTransitionActions.HaltProcessing`)."""


def storable_text(text: str) -> str:
    """``text`` with each NUL character written as the four characters ``\\x00``.

    PostgreSQL text cannot hold NUL; halt messages and actions and error
    texts are stored so on every database, so that any halt or error can
    be recorded, and reads the same everywhere.
    """
    return text.replace("\x00", "\\x00") if "\x00" in text else text


def error_line(error: BaseException) -> str:
    """The first line of what ``error`` says, after its type: ``"ValueError: bad"``.

    For a :class:`~workflow.errors.WorkflowError` raised for a task's error,
    the task's error (its ``__cause__``) is described.
    """
    cause = error.__cause__ or error
    # A WorkflowError's str() lists its ids and payload too: its message is
    # what says what went wrong.
    text = str(cause.message if isinstance(cause, WorkflowError) else cause).strip()
    name = type(cause).__name__
    return storable_text(f"{name}: {text.splitlines()[0]}" if text else name)


class StoredActionMapper(ActionMapper):
    """Checks, after each object's tasks, that what they left can be stored.

    Doing it here, while the engine still handles the object's exceptions,
    turns unstorable data into an ERROR of that object (with a clear
    :class:`~workflow.storage.errors.UnserializableDataError`) instead of a
    failure outside the engine.
    """

    @staticmethod
    def after_callbacks(obj: Any, eng: Any) -> None:
        """Serialize the object's data and the engine's extra_data."""
        obj.serialize()
        eng.unit_of_work.extra_json()


class StoredTransitionActions(DbTransitionAction):
    """:class:`~workflow.engine_db.DbTransitionAction`, plus stored details.

    Halts also save their message, action and payload; a halt or an error
    is committed in one transaction (object, workflow and history event).
    Objects that the engine leaves early without error
    (``continue_next_token``, ``skip_token``, ``jump_token``) are saved as
    COMPLETED; ``stop`` and ``abort`` save the object as HALTED, so it is
    listed as needing action.
    """

    @staticmethod
    def HaltProcessing(obj: Any, eng: Any, callbacks: Any, exc_info: Any) -> None:
        """Record the halt's message, action and payload, then save and re-raise.

        A halt whose action is longer than :data:`MAX_ACTION_LENGTH` cannot
        be recorded: it fails the object instead, as its task's error, and
        the workflow is left so that a resume runs that task again.
        """
        halt = exc_info[1]
        action = halt.action
        if action is not None and len(str(action)) > MAX_ACTION_LENGTH:
            state = eng.state
            state.callback_pos[-1] -= 1
            try:
                raise ValueError(
                    f"The halt's action is {len(str(action))} characters long;"
                    f" the storage keeps actions of at most {MAX_ACTION_LENGTH}:"
                    " name the action shortly and put its details in the halt's"
                    " payload (a resume runs the halting task again)"
                ) from halt
            except ValueError:
                StoredTransitionActions.Exception(obj, eng, callbacks, sys.exc_info())
        payload = halt.payload
        try:
            to_json(payload, "halt payload")
        except UnserializableDataError:
            payload = repr(payload)
        obj.set_halt(halt.message, halt.action, payload)
        work = eng.unit_of_work
        with work.deferred():
            obj.save(
                status=obj.known_statuses.HALTED,
                callback_pos=list(eng.state.callback_pos),
            )
        work.record(
            "halted",
            obj.position,
            {"message": obj.halt_message, "action": obj.halt_action},
        )
        eng.save(WorkflowStatus.HALTED)
        _log_halt(eng, callbacks, halt)
        TransitionActions.HaltProcessing(obj, eng, callbacks, exc_info)

    @staticmethod
    def Exception(obj: Any, eng: Any, callbacks: Any, exc_info: Any) -> None:
        """Save the error on the object and the workflow at once, then raise it wrapped.

        :raises WorkflowError: as
            :meth:`~workflow.engine_db.DbTransitionAction.Exception` does.
        """
        traceback_text = "".join(traceback.format_exception(*exc_info))
        _log_failure(eng, callbacks, traceback_text)
        obj.set_error_message(traceback_text)
        work = eng.unit_of_work
        with work.deferred():
            obj.save(
                status=obj.known_statuses.ERROR,
                callback_pos=list(eng.state.callback_pos),
            )
        work.record("error", obj.position, {"error": error_line(exc_info[1])})
        eng.save(WorkflowStatus.ERROR)
        _raise_failure(eng, traceback_text, exc_info[1])

    @staticmethod
    def _save_with_next(eng: Any, obj: Any, status: Any, callback_pos: Any) -> None:
        # Committed with the next save (the next object's start or the end of
        # the run), so a crash in between leaves this object as it was when
        # it started, and recovery runs it again: never half of the move.
        work = eng.unit_of_work
        with work.deferred():
            obj.save(status=status, callback_pos=callback_pos)
        if work.object_history:
            work.record("object_finished", obj.position, {"status": status.name})

    @staticmethod
    def _leave_completed(obj: Any, eng: Any) -> None:
        StoredTransitionActions._save_with_next(
            eng, obj, obj.known_statuses.COMPLETED, eng.state.callback_pos
        )

    @staticmethod
    def _leave_halted(obj: Any, eng: Any, message: str) -> None:
        work = eng.unit_of_work
        work.left_halted = True
        obj.set_halt(message, None, None)
        StoredTransitionActions._save_with_next(
            eng, obj, obj.known_statuses.HALTED, eng.state.callback_pos
        )
        work.record("halted", obj.position, {"message": message, "action": None})

    @staticmethod
    def ContinueNextToken(obj: Any, eng: Any, callbacks: Any, exc_info: Any) -> None:
        """Save the object as completed and go on with the next one."""
        StoredTransitionActions._leave_completed(obj, eng)
        TransitionActions.ContinueNextToken(obj, eng, callbacks, exc_info)

    @staticmethod
    def SkipToken(obj: Any, eng: Any, callbacks: Any, exc_info: Any) -> None:
        """Save the object as completed and go on with the next one."""
        StoredTransitionActions._leave_completed(obj, eng)
        TransitionActions.SkipToken(obj, eng, callbacks, exc_info)

    @staticmethod
    def JumpToken(obj: Any, eng: Any, callbacks: Any, exc_info: Any) -> None:
        """Save the object as completed and jump (a jump to itself reruns it)."""
        StoredTransitionActions._leave_completed(obj, eng)
        TransitionActions.JumpToken(obj, eng, callbacks, exc_info)

    @staticmethod
    def _jump_or_fail(
        jump: Any, obj: Any, eng: Any, callbacks: Any, exc_info: Any
    ) -> None:
        # The generic handler refuses a jump in the wrong direction by raising
        # WorkflowError itself, and the engine handles no exception raised by
        # a handler: handle the refusal here as the task's error, so that the
        # object and the workflow end ERROR as after any failing task.
        try:
            jump(obj, eng, callbacks, exc_info)
        except WorkflowError:
            eng.processing_factory.transition_exception_mapper.Exception(
                obj, eng, callbacks, sys.exc_info()
            )

    @staticmethod
    def JumpTokenForward(obj: Any, eng: Any, callbacks: Any, exc_info: Any) -> None:
        """As :meth:`JumpToken`; a backward offset fails the object instead."""
        if exc_info[1].args[0] >= 0:
            StoredTransitionActions._leave_completed(obj, eng)
        StoredTransitionActions._jump_or_fail(
            TransitionActions.JumpTokenForward, obj, eng, callbacks, exc_info
        )

    @staticmethod
    def JumpTokenBack(obj: Any, eng: Any, callbacks: Any, exc_info: Any) -> None:
        """As :meth:`JumpToken`; a forward offset fails the object instead."""
        if exc_info[1].args[0] <= 0:
            StoredTransitionActions._leave_completed(obj, eng)
        StoredTransitionActions._jump_or_fail(
            TransitionActions.JumpTokenBack, obj, eng, callbacks, exc_info
        )

    @staticmethod
    def StopProcessing(obj: Any, eng: Any, callbacks: Any, exc_info: Any) -> None:
        """Save the object as halted ("stopped") and leave the object loop."""
        StoredTransitionActions._leave_halted(obj, eng, "Processing was stopped")
        TransitionActions.StopProcessing(obj, eng, callbacks, exc_info)

    @staticmethod
    def AbortProcessing(obj: Any, eng: Any, callbacks: Any, exc_info: Any) -> None:
        """Save the object as halted ("aborted") and leave the object loop."""
        StoredTransitionActions._leave_halted(obj, eng, "Processing was aborted")
        TransitionActions.AbortProcessing(obj, eng, callbacks, exc_info)


class StoredProcessingFactory(DbProcessingFactory):
    """:class:`~workflow.engine_db.DbProcessingFactory` with the stored hooks.

    The claim already saved the workflow as RUNNING, so a run starts with no
    save of its own. A workflow without objects ends COMPLETED (the generic
    rule would call it HALTED, since no object was ever processed). A run
    that ``stop`` or ``abort`` ended is HALTED, like the object it left,
    even on the last object (where the generic rule, through
    ``has_completed``, would call it COMPLETED and hide the object that
    needs action). The final status is committed before
    ``workflow_finished`` is sent, so that a receiver that raises leaves the
    database showing how the run ended.
    """

    @staticmethod
    def before_processing(eng: Any, objects: Any) -> None:
        """Start as the generic engine does; the run has left no object halted yet."""
        eng.unit_of_work.left_halted = False
        ProcessingFactory.before_processing(eng, objects)

    @staticmethod
    def before_object(eng: Any, objects: Any, obj: Any) -> None:
        """As the parent, leaving the object's data to the save after its tasks.

        Those are serialized after the tasks anyway, and any change since the
        data were last stored is written then: serializing them here as well
        would only cost time.
        """
        obj.reuse_saved_json()
        work = eng.unit_of_work
        if work.object_history:
            work.record("object_started", obj.position)
        DbProcessingFactory.before_object(eng, objects, obj)

    @staticmethod
    def after_processing(eng: Any, objects: Any) -> None:
        """Save the final status, then send ``workflow_finished``."""
        eng.state.current_object_processed = True
        work = eng.unit_of_work
        if work.left_halted or (len(objects) and not eng.has_completed):
            eng.save(WorkflowStatus.HALTED)
        else:
            work.record("completed")
            eng.save(WorkflowStatus.COMPLETED)
        eng.signal.workflow_finished(eng)

    @staticmethod
    def after_object(eng: Any, objects: Any, obj: Any) -> None:
        """As the parent; the completion is committed with the next save."""
        work = eng.unit_of_work
        with work.deferred():
            DbProcessingFactory.after_object(eng, objects, obj)
        if work.object_history:
            work.record(
                "object_finished", obj.position, {"status": ObjectStatus.COMPLETED.name}
            )

    @classproperty
    def action_mapper(cls) -> Any:
        """:class:`StoredActionMapper`."""
        return StoredActionMapper

    @classproperty
    def transition_exception_mapper(cls) -> Any:
        """:class:`StoredTransitionActions`."""
        return StoredTransitionActions


# Taking the workflow row's lock first makes every read of a claim one
# consistent snapshot: on SQLite the first write of a transaction takes the
# database's write lock (and the reads after it see the last commit); on
# PostgreSQL it locks the row, and since every save of a run updates that
# row first, no run commits anything until the claim's transaction ends.
_LOCK_WORKFLOW = (
    update(_WF).where(_WF.c.uuid == bindparam("w_uuid")).values(version=_WF.c.version)
)
_SELECT_WORKFLOW = select(_WF).where(_WF.c.uuid == bindparam("w_uuid"))
_COUNT_OBJECTS = (
    select(_OBJ.c.status, func.count())
    .where(_OBJ.c.workflow_uuid == bindparam("w_uuid"))
    .group_by(_OBJ.c.status)
)
_LAST_RUN_EVENT = (
    select(_HISTORY.c.event, _HISTORY.c.message_id)
    .where(
        _HISTORY.c.workflow_uuid == bindparam("w_uuid"),
        _HISTORY.c.event.in_(
            (*CLAIM_EVENTS, "interrupted", "halted", "error", "completed", "action")
        ),
    )
    .order_by(_HISTORY.c.id.desc())
    .limit(1)
)


def _restart_start(
    token_pos: int, callback_pos: list[int], obj: str, task: str
) -> tuple[int, list[int]]:
    """The object a restart by the words ``obj`` and ``task`` runs first, and
    the task position it starts at, as the engine's ``restart`` moves them.

    The engine's restart leaves ``token_pos`` one before that object (its
    run goes to the next object first); the stored position names the
    object itself.
    """
    object_move, task_move = OBJECT_MOVES[obj], TASK_MOVES[task]
    token = -1 if object_move is None else max(-1, token_pos + object_move)
    if task_move is None:
        return token + 1, [0]
    position = list(callback_pos)
    position[-1] += task_move
    return token + 1, position


class Claim(str, Enum):
    """What a claim found, and so what the run does (:meth:`UnitOfWork.claim`)."""

    RUN = "run"
    """The workflow is this run's: run as asked."""
    CARRY_ON = "carry_on"
    """The same message's earlier attempt was interrupted: go on from where
    it stopped, whatever was asked."""
    REPLAY = "replay"
    """The same message ran already: its outcome is stored; run nothing."""
    DONE = "done"
    """The workflow is COMPLETED and a resume has nothing to do."""


def _iso(moment: Any) -> str | None:
    return None if moment is None else moment.isoformat()


class UnitOfWork:
    """The writes of a :class:`StoredWorkflowEngine`: its claim, connection and saves.

    Each engine has one, as ``eng.unit_of_work``. From the claim that starts
    a run to the end of the run it owns a connection, the claim (the
    version it set, its token and message id), the object saves staged to
    go with the next save, and the history events waiting for it. Each
    save is one transaction: an ``UPDATE`` of the workflow row conditioned
    on the version the claim set (so that a process whose workflow was taken
    over writes nothing, and gets
    :class:`~workflow.storage.errors.WorkflowBusyError`), the staged object
    rows, the object's own row, the history events, and the commit; a
    failure rolls all of it back. Outside a run, a save (of an object, by a
    caller) is the same transaction on a connection of its own.

    :ivar connection: the run's connection, or ``None`` outside a run.
    :ivar claim_token: the token of the run's claim (stored in
        ``workflow_workflow.claim_token``), or ``None``.
    :ivar message_id: the message id the run was claimed with, or ``None``.
    :ivar previous_status: the workflow's status before the claim.
    :ivar left_halted: whether the run left an object HALTED (by ``stop``
        or ``abort``), so that it ends HALTED.
    :ivar object_history: whether per-object events are recorded (the
        store's ``object_history``).
    """

    def __init__(self, engine: StoredWorkflowEngine) -> None:
        self._engine_ref = weakref.ref(engine)
        self.connection: Any = None
        self.claim_token: str | None = None
        self.message_id: str | None = None
        self.previous_status: WorkflowStatus | None = None
        self.left_halted: bool = False
        self.object_history: bool = getattr(
            engine.db_obj.store, "object_history", False
        )
        # How many objects have each status, kept up to date by the saves,
        # so that progress reports need not load the objects.
        self.status_counts: dict[int, int] = {
            status.value: 0 for status in ObjectStatus
        }
        self.saved_state: tuple[int, list[int]] | None = None
        self._staged: list[dict[str, Any]] = []
        self._events: list[tuple[str, int | None, Any]] = []
        self._deferring = 0
        # On PostgreSQL a run's connection is in autocommit, and each save
        # is one statement: one round trip per object boundary.
        self._one_statement = False

    @property
    def _engine(self) -> StoredWorkflowEngine:
        engine = self._engine_ref()
        if engine is None:
            raise WorkflowAPIError("The engine of this unit of work is gone")
        return engine

    # -- saves ---------------------------------------------------------------

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Stage the object saves of the block, to be committed with the next save.

        Outside a run there is nothing to stage them for: they commit at once.
        """
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1

    def record(
        self, event: str, position: int | None = None, details: Any = None
    ) -> None:
        """Add a history event, written in the transaction of the next save."""
        self._events.append((event, position, details))

    def extra_json(self) -> str:
        """The engine's ``extra_data`` as JSON, checked (:func:`to_json`)."""
        return to_json(self._engine.extra_data, "engine extra_data")

    def save_object(
        self, values: dict[str, Any], old_status: Any, new_status: Any
    ) -> None:
        """Save an object's ``values`` (staged in a :meth:`deferred` block).

        :param values: the columns to write, with the row's id as ``o_id``.
        :param old_status: the object's status before the save.
        :param new_status: its new status, or ``None``.
        """
        if self._deferring and self.connection is not None:
            self._staged.append(values)
        else:
            self._commit(values)
        if new_status is not None:
            counts = self.status_counts
            old, new = old_status.value, new_status.value
            if old in counts and new in counts:
                counts[old] -= 1
                counts[new] += 1

    def save_workflow(self, status: WorkflowStatus | None = None) -> None:
        """Commit the workflow's status (unless ``None``), position and extra_data.

        What was staged and recorded goes with it.
        """
        self._commit(None, status)

    def flush(self) -> None:
        """Commit what is staged or recorded, if anything."""
        if self._staged or self._events:
            self._commit(None)

    def _commit(self, object_values: dict[str, Any] | None, status: Any = None) -> None:
        """Commit the workflow's state (and an object's values) at once.

        :raises WorkflowBusyError: when the workflow's version moved on (it
            was taken over by another process); nothing is written then.
        """
        engine = self._engine
        db_obj = engine.db_obj
        state = engine.state
        now = utcnow()
        values: dict[str, Any] = {
            "w_uuid": db_obj.uuid,
            "w_version": db_obj.version,
            "modified": now,
        }
        connection = self.connection
        if connection is not None:
            values["heartbeat"] = now
        saved_state = (state.token_pos, state.callback_pos)
        if saved_state != self.saved_state:
            values["token_pos"] = state.token_pos
            values["callback_pos"] = list(state.callback_pos)
        if status is not None:
            values["status"] = status.value
        try:
            extra_json = self.extra_json()
        except UnserializableDataError:
            if not _records_error(status, object_values):
                raise
            # Recording a failure must not fail in turn: the failure may be
            # this very extra_data. The extra_data last stored stay as they are.
            extra_json = db_obj._saved_extra_json
        if extra_json != db_obj._saved_extra_json:
            values["extra_data"] = extra_json
        if connection is None:
            with db_obj.store.connect() as own_connection:
                self._execute(own_connection, values, object_values, now)
        else:
            self._execute(connection, values, object_values, now)
        self.saved_state = (state.token_pos, list(state.callback_pos))
        db_obj._saved_extra_json = extra_json
        if status is not None:
            db_obj.status = status

    def _execute(
        self,
        connection: Any,
        workflow_values: dict[str, Any],
        object_values: dict[str, Any] | None,
        now: Any,
    ) -> None:
        statements = _statements(connection.dialect)
        staged, self._staged = self._staged, []
        events, self._events = self._events, []
        uuid = workflow_values["w_uuid"]
        if self._one_statement and connection is self.connection:
            self._execute_at_once(
                connection, statements, workflow_values, staged, object_values, events
            )
            return
        try:
            sql, parameters = statements.update_workflow(workflow_values)
            if connection.exec_driver_sql(sql, parameters).rowcount != 1:
                raise WorkflowBusyError(
                    f"Workflow {uuid} was taken over by another process; this"
                    " process stops running it",
                    uuid,
                )
            for values in staged:
                connection.exec_driver_sql(*statements.update_object(values))
            if object_values is not None:
                connection.exec_driver_sql(*statements.update_object(object_values))
            if events:
                rows = statements.history_rows(uuid, self.message_id, now, events)
                if len(rows) == 1:
                    connection.exec_driver_sql(statements.insert_history, rows[0])
                else:
                    connection.exec_driver_sql(statements.insert_history, rows)
            connection.commit()
        except BaseException:
            # Completions not yet committed are dropped: the database then
            # shows those objects as started, not done, and a resume runs
            # them again, as after a crash.
            _roll_back(connection)
            raise

    def _execute_at_once(
        self,
        connection: Any,
        statements: _DriverStatements,
        workflow_values: dict[str, Any],
        staged: list[dict[str, Any]],
        object_values: dict[str, Any] | None,
        events: list[tuple[str, int | None, Any]],
    ) -> None:
        """The save as one statement, in autocommit (see ``boundary``)."""
        objects: dict[Any, dict[str, Any]] = {}
        for values in staged if object_values is None else [*staged, object_values]:
            # Later saves of the same object win, as they would one by one.
            objects.setdefault(values["o_id"], {}).update(values)
        uuid = workflow_values["w_uuid"]
        rows = (
            statements.history_rows(
                uuid, self.message_id, workflow_values["modified"], events
            )
            if events
            else []
        )
        sql, parameters = statements.boundary(
            workflow_values, list(objects.values()), rows
        )
        try:
            matched = connection.exec_driver_sql(sql, parameters).scalar()
        except BaseException:
            # Nothing to undo (the statement was its own transaction): this
            # ends SQLAlchemy's, and drops a connection that is broken.
            _roll_back(connection)
            raise
        if matched != 1:
            raise WorkflowBusyError(
                f"Workflow {uuid} was taken over by another process; this"
                " process stops running it",
                uuid,
            )

    # -- claims --------------------------------------------------------------

    def claim(
        self,
        event: str | None,
        *,
        details: dict[str, Any] | None = None,
        take_over: bool = False,
        allow_changed_definition: bool = False,
        force: bool = False,
        message_id: str | None = None,
        resuming: bool = False,
    ) -> Claim:
        """Claim the workflow for a run, reading it in one consistent snapshot.

        The workflow's row is locked first; then its status, position,
        ``extra_data``, object counts and the objects from its position on
        are read into the engine, the claim is written (status RUNNING, the
        version moved on, a new ``claim_token``, the ``heartbeat``, the
        ``message_id``) with its history event, and all is committed. A
        process that ran the workflow until then writes nothing more.

        :param event: the history event of the claim (``"resumed"``,
            ``"restarted"``); ``None`` for ``"started"`` (a NEW workflow)
            or else ``"restarted"`` from the first object.
        :param details: the event's details.
        :param take_over: take over a RUNNING workflow whose owner's lease
            expired.
        :param allow_changed_definition: run a definition that changed
            since the workflow was saved.
        :param force: both, and take over a RUNNING workflow whose owner's
            lease has not expired.
        :param message_id: the id of the message asking for the run: a
            workflow RUNNING under a claim with this id is carried on (its
            lease not waited for), and one whose history has a claim with
            it is left as it is (:attr:`Claim.REPLAY`).
        :param resuming: a COMPLETED workflow is left as it is
            (:attr:`Claim.DONE`).
        :raises WorkflowNotFoundError: when the workflow was deleted.
        :raises WorkflowBusyError: when it is RUNNING and may not be taken
            over, or was claimed since this engine loaded it.
        :raises DefinitionChangedError: when its definition changed, unless
            allowed.
        """
        store = self._engine.db_obj.store
        connection = store.connect()
        try:
            outcome = self._claim(
                connection,
                event,
                details,
                take_over=take_over or force,
                take_over_live=force,
                allow_changed_definition=allow_changed_definition or force,
                message_id=message_id,
                resuming=resuming,
            )
        except BaseException:
            _roll_back(connection)
            connection.close()
            raise
        if outcome is Claim.RUN or outcome is Claim.CARRY_ON:
            if connection.dialect.name == "postgresql":
                connection.execution_options(isolation_level="AUTOCOMMIT")
                self._one_statement = True
            self.connection = connection
            self.message_id = message_id
            self.left_halted = False
        else:
            connection.close()
        return outcome

    def _claim(
        self,
        connection: Any,
        event: str | None,
        details: dict[str, Any] | None,
        *,
        take_over: bool,
        take_over_live: bool,
        allow_changed_definition: bool,
        message_id: str | None,
        resuming: bool,
    ) -> Claim:
        engine = self._engine
        db_obj = engine.db_obj
        uuid = db_obj.uuid
        key = {"w_uuid": uuid}
        if connection.execute(_LOCK_WORKFLOW, key).rowcount != 1:
            raise WorkflowNotFoundError(
                f"Workflow {uuid} is no longer stored (it was deleted)", uuid
            )
        row = connection.execute(_SELECT_WORKFLOW, key).one()
        status = WorkflowStatus(row.status)
        running = status is WorkflowStatus.RUNNING
        outcome = Claim.RUN
        if message_id is not None:
            if running and row.message_id == message_id:
                outcome = Claim.CARRY_ON
            elif message_has_event(connection, uuid, message_id, CLAIM_EVENTS):
                last = connection.execute(_LAST_RUN_EVENT, key).first()
                # This message's own run, stopped by an error (a database
                # error its task retries, say) and released, with nothing
                # run since: its retry carries it on, as if it had stayed
                # RUNNING under its claim.
                own_interruption = (
                    last is not None
                    and last.event == "interrupted"
                    and last.message_id == message_id
                    and status is WorkflowStatus.HALTED
                )
                outcome = Claim.CARRY_ON if own_interruption else Claim.REPLAY
        if outcome is Claim.RUN and row.version != db_obj.version:
            raise WorkflowBusyError(
                f"Workflow {uuid} was claimed by another process since it was"
                " loaded; load it again to see its new status",
                uuid,
            )
        if outcome is Claim.RUN and resuming and status is WorkflowStatus.COMPLETED:
            outcome = Claim.DONE
        if outcome is Claim.REPLAY or outcome is Claim.DONE:
            self._read(connection, row)
            connection.rollback()
            return outcome
        definition = engine.callbacks.get("*")
        # A fingerprint stored by 2.2.0 has the old format: the claim below
        # stores the current one.
        if not allow_changed_definition and not fingerprint_matches(
            row.fingerprint, definition
        ):
            raise DefinitionChangedError(
                f"The definition {row.name!r} changed since workflow {uuid} was"
                " saved; its saved position may no longer fit. Pass"
                " allow_changed_definition=True to run it with the new"
                " definition anyway",
                uuid,
                row.name,
            )
        now = utcnow()
        previous = None
        if running:
            heartbeat = row.heartbeat
            expires = None if heartbeat is None else heartbeat + db_obj.store.lease
            if outcome is not Claim.CARRY_ON:
                _check_take_over(
                    uuid, heartbeat, expires, now, take_over, take_over_live
                )
            previous = {
                "claim": row.claim_token,
                "message_id": row.message_id,
                "heartbeat": _iso(heartbeat),
            }
        if event is None:
            if status is WorkflowStatus.NEW or outcome is Claim.CARRY_ON:
                event = "started"
            else:
                event, details = "restarted", {"object": "first", "task": "first"}
        if previous is not None:
            details = {**(details or {}), "as": event, "previous": previous}
            event = "taken_over"
        token = str(uuid_module.uuid4())
        current = fingerprint(definition)
        values: dict[str, Any] = {
            "status": WorkflowStatus.RUNNING.value,
            "version": row.version + 1,
            "claim_token": token,
            "heartbeat": now,
            "message_id": message_id,
            "fingerprint": current,
            "modified": now,
        }
        restart_at = None
        if event == "restarted" and outcome is Claim.RUN and details:
            # The restart's own start position is part of its claim: a
            # message cut short before the first object's save is carried
            # on from there, not from where the workflow was before.
            restart_at = _restart_start(
                row.token_pos, row.callback_pos, details["object"], details["task"]
            )
            values["token_pos"], values["callback_pos"] = restart_at
            connection.execute(
                update(_OBJ)
                .where(
                    _OBJ.c.workflow_uuid == uuid,
                    _OBJ.c.position == restart_at[0],
                )
                .values(
                    status=ObjectStatus.RUNNING.value,
                    callback_pos=restart_at[1],
                    modified=now,
                )
            )
        connection.execute(update(_WF).where(_WF.c.uuid == uuid).values(**values))
        position = row.token_pos if row.token_pos >= 0 else None
        record_event(
            connection,
            uuid,
            event,
            position=position,
            message_id=message_id,
            details=details,
            time=now,
        )
        self._read(connection, row)
        connection.commit()
        self.previous_status = status
        self.claim_token = token
        db_obj.version = row.version + 1
        db_obj.status = WorkflowStatus.RUNNING
        db_obj.fingerprint = current
        return outcome

    def _read(self, connection: Any, row: Any) -> None:
        """Take the workflow as ``row`` and the database (in this snapshot) hold it."""
        engine = self._engine
        db_obj = engine.db_obj
        extra = row.extra_data or {}
        db_obj.status = WorkflowStatus(row.status)
        db_obj.version = row.version
        db_obj.fingerprint = row.fingerprint
        db_obj._saved_extra_json = to_json(extra, "extra_data")
        engine.extra_data.clear()
        engine.extra_data.update(extra)
        engine.state.token_pos = row.token_pos
        engine.state.callback_pos = list(row.callback_pos)
        self.saved_state = (row.token_pos, list(row.callback_pos))
        counts = self.status_counts = {status.value: 0 for status in ObjectStatus}
        for status, count in connection.execute(_COUNT_OBJECTS, {"w_uuid": row.uuid}):
            counts[status] = count
        cast(StoredObjects, db_obj.objects).reload(
            sum(counts.values()), max(row.token_pos, 0), connection
        )

    def release(self, error: BaseException | None = None) -> int | None:
        """Leave the workflow RUNNING under this claim so that a plain resume goes on.

        The object it was at is marked HALTED with a message, so that a
        resume (no take-over needed) runs that object again from the task
        position it started at; objects already completed are not run
        again. A workflow no longer RUNNING under the claim is left as it
        is. Writes the ``interrupted`` event.

        :param error: the exception that stopped the run, named in the
            object's message and the event, or ``None`` for an interruption
            from outside (Ctrl-C).
        :returns: the position of the object a resume starts with, or
            ``None`` when nothing was changed or no object is left to run.
        """
        engine = self._engine
        db_obj = engine.db_obj
        uuid = db_obj.uuid
        reason = "Interrupted" if error is None else f"Stopped by {error_line(error)}"
        with db_obj.store.begin() as connection:
            connection.execute(_LOCK_WORKFLOW, {"w_uuid": uuid})
            row = connection.execute(
                select(
                    _WF.c.status, _WF.c.version, _WF.c.token_pos, _WF.c.callback_pos
                ).where(_WF.c.uuid == uuid)
            ).first()
            if (
                row is None
                or row.status != WorkflowStatus.RUNNING.value
                or row.version != db_obj.version
            ):
                return None
            position, callback_pos = row.token_pos, list(row.callback_pos)

            def object_at(position: int) -> Any:
                return connection.execute(
                    select(_OBJ.c.id, _OBJ.c.status).where(
                        _OBJ.c.workflow_uuid == uuid, _OBJ.c.position == position
                    )
                ).first()

            current = object_at(position) if position >= 0 else None
            details: dict[str, Any] = {} if error is None else {"error": reason}

            def leave(status: WorkflowStatus, values: dict[str, Any]) -> None:
                now = utcnow()
                connection.execute(
                    update(_WF)
                    .where(_WF.c.uuid == uuid)
                    .values(
                        status=status.value,
                        version=db_obj.version + 1,
                        modified=now,
                        **values,
                    )
                )
                record_event(
                    connection,
                    uuid,
                    "interrupted",
                    position=position if position >= 0 else None,
                    message_id=self.message_id,
                    details={**details, "status": status.name},
                    time=now,
                )
                db_obj.version += 1
                db_obj.status = status

            if current is not None and current.status == ObjectStatus.COMPLETED.value:
                # Stopped between two objects: the next one starts from its start.
                position, callback_pos = position + 1, [0]
                current = object_at(position)
                if current is None:
                    leave(WorkflowStatus.COMPLETED, {})
                    return None
            if current is None:
                # No object had started: a resume runs the workflow from the start.
                leave(WorkflowStatus.HALTED, {})
                return 0 if position < 0 else None
            if current.status in (ObjectStatus.HALTED.value, ObjectStatus.ERROR.value):
                # The object's halt (or error) was saved, the workflow's was not.
                leave(
                    WorkflowStatus.HALTED
                    if current.status == ObjectStatus.HALTED.value
                    else WorkflowStatus.ERROR,
                    {},
                )
                return int(position)
            connection.execute(
                update(_OBJ)
                .where(_OBJ.c.id == current.id)
                .values(
                    status=ObjectStatus.HALTED.value,
                    callback_pos=callback_pos,
                    halt_message=(
                        f"{reason}; a resume runs this object again from task"
                        f" {callback_pos}"
                    ),
                    halt_action=None,
                    halt_payload=None,
                    error_message=None,
                    modified=utcnow(),
                )
            )
            # A resume goes on after the task the workflow stopped at: one
            # before the interrupted object's start is that start.
            leave(
                WorkflowStatus.HALTED,
                {
                    "token_pos": position,
                    "callback_pos": [*callback_pos[:-1], callback_pos[-1] - 1],
                },
            )
            return int(position)

    def close(self) -> None:
        """End the run's hold: drop what is staged, close the connection."""
        self._staged = []
        self._events = []
        self._deferring = 0
        self._one_statement = False
        connection, self.connection = self.connection, None
        if connection is not None:
            connection.close()


def _check_take_over(
    uuid: str,
    heartbeat: Any,
    expires: Any,
    now: Any,
    take_over: bool,
    take_over_live: bool,
) -> None:
    """Refuse to take over a RUNNING workflow unless allowed, saying what to do."""
    if heartbeat is None:
        alive = "it has no heartbeat (it was claimed by an older version)"
    else:
        alive = (
            f"its owner's last heartbeat was at {heartbeat:%Y-%m-%d %H:%M:%S} UTC,"
            f" its lease runs until {expires:%Y-%m-%d %H:%M:%S} UTC"
        )
    if not take_over:
        raise WorkflowBusyError(
            f"Workflow {uuid} is RUNNING in another process ({alive}). If that"
            " process died, take the workflow over with take_over=True once"
            " the lease has expired, or with force=True at once (the other"
            " process, if alive, stops at its next save)",
            uuid,
            heartbeat,
            expires,
        )
    if expires is not None and expires > now and not take_over_live:
        raise WorkflowBusyError(
            f"Workflow {uuid} is RUNNING and its owner may be alive ({alive})."
            " take_over=True takes over only a run whose lease has expired:"
            " wait until then, or pass force=True to take it over now (the"
            " other process, if alive, stops at its next save)",
            uuid,
            heartbeat,
            expires,
        )


class StoredWorkflowEngine(DbWorkflowEngine):
    """A :class:`~workflow.engine_db.DbWorkflowEngine` kept in a :class:`WorkflowStore`.

    Build it with :meth:`with_name` (a new workflow) or :meth:`from_uuid` (a
    stored one), then call :meth:`process`, :meth:`resume` or
    :meth:`restart`. Those raise
    :class:`~workflow.errors.HaltProcessing` and
    :class:`~workflow.errors.WorkflowError` as any engine does; the
    functions of :mod:`workflow.storage.api` turn them into results.

    :param db_obj: the :class:`StoredWorkflow`.
    :param kwargs: passed on to :class:`~workflow.engine_db.DbWorkflowEngine`.

    :ivar unit_of_work: the :class:`UnitOfWork` making the engine's writes.
    :ivar replayed: whether the last call of :meth:`process`,
        :meth:`resume` or :meth:`restart` ran nothing because its
        ``message_id`` had run already (its outcome is what is stored).
    """

    def __init__(self, db_obj: StoredWorkflow, **kwargs: Any) -> None:
        super().__init__(db_obj, **kwargs)
        db_obj._engine_ref = weakref.ref(self)
        self._stored_objects = StoredObjects(self, 0)
        self.objects: StoredObjects = self._stored_objects
        db_obj.objects = self._stored_objects
        self.unit_of_work: UnitOfWork = UnitOfWork(self)
        self.replayed: bool = False
        self._depth = 0

    @classproperty
    def processing_factory(cls) -> Any:
        """:class:`StoredProcessingFactory`."""
        return StoredProcessingFactory

    @property
    def _connection(self) -> Any:
        """The connection of the run in progress (``unit_of_work.connection``)."""
        return self.unit_of_work.connection

    # -- creating and loading ------------------------------------------------

    @classmethod
    def with_name(
        cls,
        name: str,
        store: WorkflowStore,
        *,
        data: Iterable[Any] | None = None,
        extra_data: dict[str, Any] | None = None,
        registry: Registry = registry,
        uuid: str | None = None,
        message_id: str | None = None,
    ) -> StoredWorkflowEngine:
        """Create and store a new workflow running the definition ``name``.

        The workflow and its objects are inserted in one transaction, with
        status NEW, :data:`BATCH_SIZE` objects per statement: ``data`` may be
        an iterator (a generator reading a file, say), which is read once
        and never held in memory whole. Anything that cannot be stored rolls
        the whole transaction back, so nothing is written then. The history
        gets a ``created`` event.

        :param name: the definition's name in ``registry``.
        :param store: where to store the workflow.
        :param data: one JSON value per object to create: a list, a tuple or
            an iterator.
        :param extra_data: the engine's initial ``extra_data`` (JSON values).
        :param registry: the registry to look ``name`` up in.
        :param uuid: the new workflow's uuid (any spelling
            :class:`uuid.UUID` accepts); a new random one by default.
        :param message_id: the id of the message asking for it, recorded
            with the ``created`` event.
        :raises UnknownWorkflowError: when ``name`` is not known.
        :raises UnserializableDataError: when ``data`` or ``extra_data`` holds
            a non-JSON value.
        :raises WorkflowExistsError: when a workflow with ``uuid`` is stored.
        :raises ValueError: when ``uuid`` is not a uuid.
        """
        definition = registry.get(name)
        items = _checked_data(data)
        extra = dict(extra_data or {})
        extra_json = to_json(extra, "extra_data")
        new_uuid = str(uuid_module.uuid4()) if uuid is None else parse_uuid(uuid)
        db_obj = StoredWorkflow(
            store,
            new_uuid,
            name,
            WorkflowStatus.NEW,
            "",
            0,
            extra_json,
        )
        eng = cls(db_obj)
        eng.callbacks.replace(definition)
        db_obj.fingerprint = fingerprint(eng.callbacks.get("*"))
        eng.extra_data.update(extra)
        eng.unit_of_work.saved_state = (-1, [0])
        now = utcnow()
        try:
            with store.begin() as conn:
                conn.execute(
                    insert(_WF),
                    {
                        "uuid": db_obj.uuid,
                        "name": name,
                        "status": WorkflowStatus.NEW.value,
                        "created": now,
                        "modified": now,
                        "extra_data": extra,
                        "token_pos": -1,
                        "callback_pos": [0],
                        "fingerprint": db_obj.fingerprint,
                        "version": 0,
                    },
                )
                record_event(
                    conn, db_obj.uuid, "created", message_id=message_id, time=now
                )
                count = eng._insert_objects(conn, items, now, 0)
        except IntegrityError:
            if uuid is None or not _is_stored(store, db_obj.uuid):
                raise
            raise WorkflowExistsError(
                f"A workflow with uuid {db_obj.uuid} is stored already: resume"
                " or restart it, or start the new one with another uuid",
                db_obj.uuid,
            ) from None
        eng._stored_objects._length = count
        eng.unit_of_work.status_counts[ObjectStatus.INITIAL.value] = count
        return eng

    @classmethod
    def from_uuid(
        cls, uuid: str, store: WorkflowStore, *, registry: Registry = registry
    ) -> StoredWorkflowEngine:
        """Load the stored workflow ``uuid`` and its position.

        Its objects are loaded when the run (or the caller) reads them, a
        batch at a time (see :class:`StoredObjects`). Loading writes nothing.
        A run's claim reads the workflow again, in its own transaction.

        :param uuid: the workflow's uuid.
        :param store: where it is stored.
        :param registry: the registry to look its definition up in.
        :raises WorkflowNotFoundError: when no workflow has that uuid.
        :raises UnknownWorkflowError: when its definition's name is not known
            to this process.
        """
        uuid = str(uuid)
        with store.connect() as conn:
            row = conn.execute(_SELECT_WORKFLOW, {"w_uuid": uuid}).first()
            if row is None:
                raise WorkflowNotFoundError(
                    f"No workflow with uuid {uuid!r} in {store!r}; list the stored"
                    " ones with workflow.storage.list_workflows()",
                    uuid,
                )
            counts = conn.execute(_COUNT_OBJECTS, {"w_uuid": uuid}).all()
            conn.rollback()
        definition = registry.get(row.name)
        extra = row.extra_data or {}
        db_obj = StoredWorkflow(
            store,
            row.uuid,
            row.name,
            WorkflowStatus(row.status),
            row.fingerprint,
            row.version,
            to_json(extra, "extra_data"),
        )
        eng = cls(db_obj)
        eng.callbacks.replace(definition)
        eng.extra_data.update(extra)
        eng.state.token_pos = row.token_pos
        eng.state.callback_pos = list(row.callback_pos)
        work = eng.unit_of_work
        work.saved_state = (row.token_pos, list(row.callback_pos))
        for status, count in counts:
            work.status_counts[status] = count
        eng._stored_objects._length = sum(count for _, count in counts)
        return eng

    def status_counts(self) -> dict[str, int]:
        """How many of the workflow's objects have each status, by status name.

        Kept up to date by the saves of this engine, without reading the
        objects: what progress reports use. A status that is not an
        :class:`~workflow.engine_db.ObjectStatus` is named by its value.
        """
        names = {status.value: status.name for status in ObjectStatus}
        # An application's own statuses are stored as their values.
        return {
            names.get(value, str(value)): count
            for value, count in self.unit_of_work.status_counts.items()
        }

    def add_objects(self, data: list[Any]) -> list[StoredObject]:
        """Store one new object per JSON value of ``data``, after the others.

        :returns: the new objects (also appended to ``database_objects``).
        :raises UnserializableDataError: before anything is written, when an
            item is not a JSON value.
        """
        items = list(_checked_data(data))
        start = len(self.db_obj.objects)
        encoded = [to_json(item, f"data[{index}]") for index, item in enumerate(items)]
        with self.db_obj.store.begin() as conn:
            self._insert_objects(conn, iter(items), utcnow(), start)
            ids = conn.execute(
                select(_OBJ.c.id)
                .where(
                    _OBJ.c.workflow_uuid == self.db_obj.uuid,
                    _OBJ.c.position >= start,
                )
                .order_by(_OBJ.c.position)
            ).scalars()
            new = [
                StoredObject(
                    self,
                    object_id,
                    start + index,
                    json.loads(text),
                    {},
                    ObjectStatus.INITIAL,
                    [0],
                    text,
                    "{}",
                )
                for index, (object_id, text) in enumerate(zip(ids, encoded))
            ]
        self._stored_objects.extend_stored(new)
        self.unit_of_work.status_counts[ObjectStatus.INITIAL.value] += len(new)
        return new

    def _insert_objects(
        self, conn: Any, items: Iterator[Any], now: Any, start: int
    ) -> int:
        """Insert the objects of ``items`` from position ``start``, a batch at a time.

        :returns: how many were inserted.
        """
        uuid = self.db_obj.uuid
        statements = _statements(conn.dialect)
        stamp = statements.timestamp(now)
        initial = ObjectStatus.INITIAL.value
        position = start
        while True:
            batch = []
            for item in itertools.islice(items, BATCH_SIZE):
                # Checked here, as each batch is read (the caller's
                # transaction undoes the batches before a bad item), and
                # the checked text is what is stored.
                text = to_json(item, f"data[{position}]")
                batch.append((uuid, position, text, "{}", initial, "[0]", stamp, stamp))
                position += 1
            if not batch:
                return position - start
            conn.exec_driver_sql(statements.insert_objects, batch)

    # -- running -------------------------------------------------------------

    def process(
        self,
        objects: Any = None,
        stop_on_error: bool = True,
        stop_on_halt: bool = True,
        initial_run: bool = True,
        reset_state: bool = True,
        *,
        take_over: bool = False,
        allow_changed_definition: bool = False,
        force: bool = False,
        message_id: str | None = None,
    ) -> None:
        """Run the workflow over its stored objects.

        :param objects: ``None`` (or the workflow's own object list) runs the
            stored objects; a list of JSON values is accepted only while the
            workflow has no objects yet, and is stored first.
        :param take_over: take over a RUNNING workflow whose owner's lease
            expired (see :class:`~workflow.storage.WorkflowStore`).
        :param allow_changed_definition: run even if the definition changed
            since the workflow was saved.
        :param force: both, and take over a RUNNING workflow even while its
            owner's lease runs (the owner stops at its next save).
        :param message_id: the id of the message asking for the run (a task
            queue's): when the workflow is RUNNING under a claim with this
            id (the message's earlier attempt was cut short), the run goes on
            from where that attempt stopped; when its history has a claim
            with it, nothing runs and ``replayed`` is set.

        The other parameters are those of
        :meth:`~workflow.engine.GenericWorkflowEngine.process`.

        :raises WorkflowBusyError: when another process runs the workflow.
        :raises DefinitionChangedError: when the definition changed since the
            workflow was saved, unless allowed.
        """
        own = self.db_obj.objects
        if objects is None or objects is own or objects is self.objects:
            objects = own
        elif self._depth == 0 and not own:
            objects = self.add_objects(list(objects))
        elif [getattr(item, "id", None) for item in objects] != [o.id for o in own]:
            raise WorkflowAPIError(
                "A stored workflow processes its own objects: call process() with"
                " no objects (add new ones with add_objects() first)"
            )
        with self._claimed(
            None,
            None,
            take_over=take_over,
            allow_changed_definition=allow_changed_definition,
            force=force,
            message_id=message_id,
        ) as outcome:
            if outcome is Claim.CARRY_ON:
                self._go_on(stop_on_error, stop_on_halt)
            elif outcome is Claim.RUN:
                super().process(
                    objects,
                    stop_on_error=stop_on_error,
                    stop_on_halt=stop_on_halt,
                    initial_run=initial_run,
                    reset_state=reset_state,
                )

    def restart(
        self,
        obj: str,
        task: str,
        objects: Any = None,
        stop_on_error: bool = True,
        stop_on_halt: bool = True,
        *,
        take_over: bool = False,
        allow_changed_definition: bool = False,
        force: bool = False,
        message_id: str | None = None,
    ) -> None:
        """Restart the stored workflow from a position relative to where it stopped.

        The words are those of
        :meth:`~workflow.engine.GenericWorkflowEngine.restart`; they are
        checked before the workflow is claimed, and apply to the position
        the claim reads.

        :param take_over: as for :meth:`process`.
        :param allow_changed_definition: as for :meth:`process`.
        :param force: as for :meth:`process`.
        :param message_id: as for :meth:`process`: a restart whose message's
            earlier attempt was cut short goes on from where it stopped (it
            does not restart again).
        :raises WorkflowError: for an unknown word.
        """
        if self._depth:
            super().restart(obj, task, objects, stop_on_error, stop_on_halt)
            return
        check_restart_words(obj, task)
        with self._claimed(
            "restarted",
            {"object": obj, "task": task},
            take_over=take_over,
            allow_changed_definition=allow_changed_definition,
            force=force,
            message_id=message_id,
        ) as outcome:
            if outcome is Claim.CARRY_ON:
                self._go_on(stop_on_error, stop_on_halt)
            elif outcome is Claim.RUN:
                super().restart(obj, task, objects, stop_on_error, stop_on_halt)

    def resume(
        self,
        force: bool = False,
        stop_on_error: bool = True,
        stop_on_halt: bool = True,
        *,
        take_over: bool = False,
        allow_changed_definition: bool = False,
        message_id: str | None = None,
    ) -> None:
        """Go on from where the stored workflow stopped.

        Where it stopped is read by the claim, in its transaction:

        * HALTED or ERROR: after the task that stopped it
          (``restart('current', 'next')``).
        * NEW: from the start.
        * COMPLETED: nothing to do; returns at once, claiming nothing.
        * RUNNING (its process died; needs ``take_over`` or ``force``): when
          the object it was at is COMPLETED, with the next object; when that
          object HALTED or failed, after the task that stopped it; otherwise
          that object again, from the task position saved when it started.

        :param force: as for :meth:`process`.
        :param take_over: as for :meth:`process`.
        :param allow_changed_definition: as for :meth:`process`.
        :param message_id: as for :meth:`process`.
        :raises WorkflowBusyError: when the workflow is RUNNING and may not be
            taken over, or another process claims it first.
        """
        with self._claimed(
            "resumed",
            None,
            take_over=take_over,
            allow_changed_definition=allow_changed_definition,
            force=force,
            message_id=message_id,
            resuming=True,
        ) as outcome:
            if outcome is Claim.RUN or outcome is Claim.CARRY_ON:
                self._go_on(stop_on_error, stop_on_halt)

    def _go_on(self, stop_on_error: bool, stop_on_halt: bool) -> None:
        """Run on from where the workflow stopped, as the claim read it."""
        status = self.unit_of_work.previous_status
        if status is WorkflowStatus.NEW or self.state.token_pos < 0:
            super().process(
                self.db_obj.objects,
                stop_on_error=stop_on_error,
                stop_on_halt=stop_on_halt,
            )
            return
        words = ("current", "next")
        if status is WorkflowStatus.RUNNING:
            objects = self.db_obj.objects
            position = self.state.token_pos
            current = objects[position].status if position < len(objects) else None
            if current in (None, ObjectStatus.COMPLETED):
                words = ("next", "first")
            elif current not in (ObjectStatus.HALTED, ObjectStatus.ERROR):
                words = ("current", "current")
        elif status is WorkflowStatus.COMPLETED:
            # A message's own completed run, carried on: nothing is left.
            return
        super().restart(*words, None, stop_on_error, stop_on_halt)

    @contextmanager
    def _claimed(
        self,
        event: str | None,
        details: dict[str, Any] | None,
        **claim: Any,
    ) -> Iterator[Claim]:
        """Hold the workflow for the outermost run, and end the hold after it.

        An exception other than a halt or a task's error (both recorded)
        that leaves the workflow RUNNING under this claim (a signal
        receiver's, say) releases it (:meth:`UnitOfWork.release`), so that
        the database shows where the run stopped and a plain resume goes
        on; the exception then goes on to the caller.
        """
        if self._depth:
            self._depth += 1
            try:
                yield Claim.RUN
            finally:
                self._depth -= 1
            return
        work = self.unit_of_work
        # Refused before the claim: unstorable extra_data would fail the
        # run's first save.
        work.extra_json()
        self.replayed = False
        outcome = work.claim(event, details=details, **claim)
        if outcome is Claim.REPLAY or outcome is Claim.DONE:
            self.replayed = outcome is Claim.REPLAY
            yield outcome
            return
        try:
            self._depth = 1
            yield outcome
            work.flush()
        except Exception as failure:
            if self.db_obj.status is WorkflowStatus.RUNNING and not isinstance(
                failure, WorkflowBusyError
            ):
                work.close()
                # The database may be what failed: the claim's lease then
                # lets another process take the workflow over.
                with suppress(Exception):
                    work.release(failure)
            raise
        finally:
            self._depth = 0
            work.close()


def _records_error(status: Any, object_values: dict[str, Any] | None) -> bool:
    """Whether a commit marks the workflow, or the object it writes, as ERROR."""
    if status is WorkflowStatus.ERROR:
        return True
    return (
        object_values is not None
        and object_values.get("status") == ObjectStatus.ERROR.value
    )


def _is_stored(store: WorkflowStore, uuid: str) -> bool:
    with store.connect() as connection:
        found = connection.execute(_SELECT_WORKFLOW, {"w_uuid": uuid}).first()
    return found is not None


def _roll_back(connection: Any) -> None:
    """Roll back after a failure, keeping the failure as the error to report."""
    try:
        connection.rollback()
    except Exception:
        # The connection is unusable (the database went away, say): make
        # sure the pool never hands it out again. The caller still gets the
        # original failure.
        connection.invalidate()


def _checked_data(data: Any) -> Iterator[Any]:
    """``data`` as an iterator over the objects' values, or a clear error."""
    if data is None:
        return iter(())
    if isinstance(data, (list, tuple, Iterator)) and not isinstance(
        data, (str, bytes, dict)
    ):
        return iter(data)
    raise UnserializableDataError(
        f"data must be a list with one JSON value per object, not"
        f" {type(data).__name__} {data!r:.60}",
        "data",
    )
