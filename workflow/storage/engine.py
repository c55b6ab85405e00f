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
* Before it runs, the engine *claims* the workflow with one conditional
  ``UPDATE`` on its status and version: of two processes claiming the same
  workflow at once, one wins and the other gets
  :class:`~workflow.storage.errors.WorkflowBusyError`. Every later save
  checks the version again, so a process whose workflow was taken over
  (``force=True``) stops at its next save instead of writing over the new
  owner.
* The engine's objects are a :class:`StoredObjects` sequence that loads
  them a batch at a time, and the objects and the workflow record link back
  to the engine only weakly: a run holds a batch of objects, not all of
  them, and frees each as soon as nothing else holds it.
* A process killed in the middle of an object leaves the workflow RUNNING,
  the objects done before COMPLETED and the interrupted one RUNNING at the
  task position saved when it started. ``resume(force=True)`` takes such a
  workflow over and runs the interrupted object again from that position.
"""

from __future__ import annotations

import itertools
import json
import json.encoder
import math
import re
import sys
import threading
import uuid as uuid_module
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Callable, NoReturn, cast, overload

from sqlalchemy import Table, bindparam, func, insert, select, update

from .._vocabulary import check_restart_words
from ..engine import ActionMapper, ProcessingFactory, TransitionActions
from ..engine_db import (
    DbProcessingFactory,
    DbTransitionAction,
    DbWorkflowEngine,
    ObjectStatus,
    WorkflowStatus,
)
from ..errors import WorkflowAPIError, WorkflowError
from ..utils import classproperty
from .errors import (
    DefinitionChangedError,
    UnserializableDataError,
    WorkflowBusyError,
    WorkflowNotFoundError,
)
from .models import ObjectRecord, WorkflowRecord, WorkflowStore, utcnow
from .registry import Registry, fingerprint, fingerprint_matches, registry

__all__ = (
    "BATCH_SIZE",
    "StoredActionMapper",
    "StoredObject",
    "StoredObjects",
    "StoredProcessingFactory",
    "StoredTransitionActions",
    "StoredWorkflow",
    "StoredWorkflowEngine",
    "check_restart_words",
    "to_json",
)

# Tables, not the FromClause the declarative attribute is typed as.
_WF = cast(Table, WorkflowRecord.__table__)
_OBJ = cast(Table, ObjectRecord.__table__)

# Statements compiled once; the SET clause comes from the parameter keys.
_CLAIM_WORKFLOW = update(_WF).where(
    _WF.c.uuid == bindparam("w_uuid"),
    _WF.c.version == bindparam("w_version"),
    _WF.c.status == bindparam("w_status"),
)
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
            if name == "modified":
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


def to_json(value: Any, where: str) -> str:
    """Return ``value`` as JSON text, or raise a clear error.

    :param value: the value to store.
    :param where: how to name the value in the error, e.g. ``"data[3]"``.
    :raises UnserializableDataError: naming the first value JSON cannot hold
        (an object of another type, NaN or infinity, a dict key that is not a
        string, a value that contains itself), or the value nested too deeply,
        with its path (e.g. ``data[3]['when']``) as ``path``.
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
    return text


def _explain(value: Any, where: str, failure: BaseException | None) -> NoReturn:
    """Raise the :class:`UnserializableDataError` naming what JSON cannot hold."""
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
        """Record an error message, written with the object's next save."""
        self.error_message = text
        self._error_pending = True

    def set_halt(self, message: str, action: Any, payload: Any) -> None:
        """Record the halt details, written with the object's next save."""
        self.halt_message = message
        self.halt_action = None if action is None else str(action)
        self.halt_payload = payload
        self._halt_pending = True

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
        engine = self._engine
        engine._commit(values)
        if status is not None:
            engine._count(self.status, status)
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
        engine._commit(None, status)

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

    def _load(self, start: int) -> None:
        engine = self._engine_ref()
        if engine is None:
            raise WorkflowAPIError(
                "These objects outlived their StoredWorkflowEngine: load the"
                " workflow again (StoredWorkflowEngine.from_uuid)"
            )
        current = self._window.get(engine.state.token_pos)
        self._window = {} if current is None else {current.position: current}
        parameters = {
            "uuid": engine.db_obj.uuid,
            "first": start,
            "last": start + BATCH_SIZE - 1,
        }
        if engine._connection is not None:
            # A run reads on the connection it writes on: no second one.
            rows = engine._connection.execute(_SELECT_OBJECTS, parameters).all()
        else:
            # Closing the connection ends its read-only transaction.
            with engine.db_obj.store.connect() as connection:
                rows = connection.execute(_SELECT_OBJECTS, parameters).all()
        for row in rows:
            obj = self._alive.get(row.position)
            if obj is None:
                obj = engine._object_from_row(row)
                self._alive[row.position] = obj
            self._window[row.position] = obj

    def _append(self, objects: list[StoredObject]) -> None:
        for obj in objects:
            self._alive[obj.position] = obj
        self._length += len(objects)


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
        eng._extra_json()


class StoredTransitionActions(DbTransitionAction):
    """:class:`~workflow.engine_db.DbTransitionAction`, plus stored details.

    Halts also save their message, action and payload. Objects that the
    engine leaves early without error (``continue_next_token``,
    ``skip_token``, ``jump_token``) are saved as COMPLETED; ``stop`` and
    ``abort`` save the object as HALTED, so it is listed as needing action.
    """

    @staticmethod
    def HaltProcessing(obj: Any, eng: Any, callbacks: Any, exc_info: Any) -> None:
        """Record the halt's message, action and payload, then save and re-raise."""
        halt = exc_info[1]
        payload = halt.payload
        try:
            to_json(payload, "halt payload")
        except UnserializableDataError:
            payload = repr(payload)
        obj.set_halt(halt.message, halt.action, payload)
        DbTransitionAction.HaltProcessing(obj, eng, callbacks, exc_info)

    @staticmethod
    def _save_with_next(eng: Any, obj: Any, status: Any, callback_pos: Any) -> None:
        # Committed with the next save (the next object's start or the end of
        # the run), so a crash in between leaves this object as it was when
        # it started, and recovery runs it again: never half of the move.
        eng._deferring = True
        try:
            obj.save(status=status, callback_pos=callback_pos)
        finally:
            eng._deferring = False

    @staticmethod
    def _leave_completed(obj: Any, eng: Any) -> None:
        StoredTransitionActions._save_with_next(
            eng, obj, obj.known_statuses.COMPLETED, eng.state.callback_pos
        )

    @staticmethod
    def _leave_halted(obj: Any, eng: Any, message: str) -> None:
        eng._left_halted = True
        obj.set_halt(message, None, None)
        StoredTransitionActions._save_with_next(
            eng, obj, obj.known_statuses.HALTED, eng.state.callback_pos
        )

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

    A workflow without objects ends COMPLETED (the generic rule would call it
    HALTED, since no object was ever processed). A run that ``stop`` or
    ``abort`` ended is HALTED, like the object it left, even on the last
    object (where the generic rule, through ``has_completed``, would call it
    COMPLETED and hide the object that needs action).
    """

    @staticmethod
    def before_processing(eng: Any, objects: Any) -> None:
        """As the parent; the run has left no object halted yet."""
        eng._left_halted = False
        DbProcessingFactory.before_processing(eng, objects)

    @staticmethod
    def before_object(eng: Any, objects: Any, obj: Any) -> None:
        """As the parent, leaving the object's data to the save after its tasks.

        Those are serialized after the tasks anyway, and any change since the
        data were last stored is written then: serializing them here as well
        would only cost time.
        """
        obj._pending_json = (obj._saved_data_json, obj._saved_extra_json)
        DbProcessingFactory.before_object(eng, objects, obj)

    @staticmethod
    def after_processing(eng: Any, objects: Any) -> None:
        """As the parent, with the two exceptions above."""
        if len(objects) and not eng._left_halted:
            DbProcessingFactory.after_processing(eng, objects)
            return
        ProcessingFactory.after_processing(eng, objects)
        if eng._left_halted:
            eng.save(WorkflowStatus.HALTED)
        else:
            eng.save(WorkflowStatus.COMPLETED)

    @staticmethod
    def after_object(eng: Any, objects: Any, obj: Any) -> None:
        """As the parent; the completion is committed with the next save."""
        eng._deferring = True
        try:
            DbProcessingFactory.after_object(eng, objects, obj)
        finally:
            eng._deferring = False

    @classproperty
    def action_mapper(cls) -> Any:
        """:class:`StoredActionMapper`."""
        return StoredActionMapper

    @classproperty
    def transition_exception_mapper(cls) -> Any:
        """:class:`StoredTransitionActions`."""
        return StoredTransitionActions


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
    """

    def __init__(self, db_obj: StoredWorkflow, **kwargs: Any) -> None:
        super().__init__(db_obj, **kwargs)
        db_obj._engine_ref = weakref.ref(self)
        self._stored_objects = StoredObjects(self, 0)
        self.objects: StoredObjects = self._stored_objects
        db_obj.objects = self._stored_objects
        # How many objects have each status, kept up to date by the saves,
        # so that progress reports need not load the objects.
        self._status_counts = {status.value: 0 for status in ObjectStatus}
        self._depth = 0
        self._connection: Any = None
        self._saved_state: tuple[int, list[int]] | None = None
        # Completions are committed with the next save (the next object's
        # start, or the end of the run): one commit per object boundary.
        self._deferring = False
        self._staged: list[dict[str, Any]] = []
        self._left_halted = False

    @classproperty
    def processing_factory(cls) -> Any:
        """:class:`StoredProcessingFactory`."""
        return StoredProcessingFactory

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
    ) -> StoredWorkflowEngine:
        """Create and store a new workflow running the definition ``name``.

        The workflow and its objects are inserted in one transaction, with
        status NEW, :data:`BATCH_SIZE` objects per statement: ``data`` may be
        an iterator (a generator reading a file, say), which is read once
        and never held in memory whole. Anything that cannot be stored rolls
        the whole transaction back, so nothing is written then.

        :param name: the definition's name in ``registry``.
        :param store: where to store the workflow.
        :param data: one JSON value per object to create: a list, a tuple or
            an iterator.
        :param extra_data: the engine's initial ``extra_data`` (JSON values).
        :param registry: the registry to look ``name`` up in.
        :raises UnknownWorkflowError: when ``name`` is not known.
        :raises UnserializableDataError: when ``data`` or ``extra_data`` holds
            a non-JSON value.
        """
        definition = registry.get(name)
        items = _checked_data(data)
        extra = dict(extra_data or {})
        extra_json = to_json(extra, "extra_data")
        db_obj = StoredWorkflow(
            store,
            str(uuid_module.uuid4()),
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
        eng._saved_state = (-1, [0])
        now = utcnow()
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
            count = eng._insert_objects(conn, items, now, 0)
        eng._stored_objects._length = count
        eng._status_counts[ObjectStatus.INITIAL.value] = count
        return eng

    @classmethod
    def from_uuid(
        cls, uuid: str, store: WorkflowStore, *, registry: Registry = registry
    ) -> StoredWorkflowEngine:
        """Load the stored workflow ``uuid`` and its position.

        Its objects are loaded when the run (or the caller) reads them, a
        batch at a time (see :class:`StoredObjects`). Loading writes nothing.

        :param uuid: the workflow's uuid.
        :param store: where it is stored.
        :param registry: the registry to look its definition up in.
        :raises WorkflowNotFoundError: when no workflow has that uuid.
        :raises UnknownWorkflowError: when its definition's name is not known
            to this process.
        """
        uuid = str(uuid)
        with store.connect() as conn:
            row = conn.execute(select(_WF).where(_WF.c.uuid == uuid)).first()
            if row is None:
                raise WorkflowNotFoundError(
                    f"No workflow with uuid {uuid!r} in {store!r}; list the stored"
                    " ones with workflow.storage.list_workflows()",
                    uuid,
                )
            counts = conn.execute(
                select(_OBJ.c.status, func.count())
                .where(_OBJ.c.workflow_uuid == uuid)
                .group_by(_OBJ.c.status)
            ).all()
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
        eng._saved_state = (row.token_pos, list(row.callback_pos))
        for status, count in counts:
            eng._status_counts[status] = count
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
            for value, count in self._status_counts.items()
        }

    def _count(self, old: Any, new: Any) -> None:
        counts = self._status_counts
        old, new = old.value, new.value
        if old in counts and new in counts:
            counts[old] -= 1
            counts[new] += 1

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
        self._stored_objects._append(new)
        self._status_counts[ObjectStatus.INITIAL.value] += len(new)
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

    def _object_from_row(self, row: Any) -> StoredObject:
        extra = row.extra_data if row.extra_data is not None else {}
        return StoredObject(
            self,
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

    # -- running -------------------------------------------------------------

    def process(
        self,
        objects: Any = None,
        stop_on_error: bool = True,
        stop_on_halt: bool = True,
        initial_run: bool = True,
        reset_state: bool = True,
        *,
        force: bool = False,
    ) -> None:
        """Run the workflow over its stored objects.

        :param objects: ``None`` (or the workflow's own object list) runs the
            stored objects; a list of JSON values is accepted only while the
            workflow has no objects yet, and is stored first.
        :param force: run even if the stored workflow is RUNNING (taking over
            from a process that died) or its definition changed.

        The other parameters are those of
        :meth:`~workflow.engine.GenericWorkflowEngine.process`.

        :raises WorkflowBusyError: when another process runs the workflow.
        :raises DefinitionChangedError: when the definition changed since the
            workflow was saved, unless ``force``.
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
        with self._claimed(force):
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
        force: bool = False,
    ) -> None:
        """Restart the stored workflow from a position relative to where it stopped.

        The words are those of
        :meth:`~workflow.engine.GenericWorkflowEngine.restart`; they are
        checked before the workflow is claimed.

        :param force: as for :meth:`process`.
        :raises WorkflowError: for an unknown word.
        """
        if self._depth:
            super().restart(obj, task, objects, stop_on_error, stop_on_halt)
            return
        check_restart_words(obj, task)
        with self._claimed(force):
            super().restart(obj, task, objects, stop_on_error, stop_on_halt)

    def resume(
        self,
        force: bool = False,
        stop_on_error: bool = True,
        stop_on_halt: bool = True,
    ) -> None:
        """Go on from where the stored workflow stopped.

        * HALTED or ERROR: after the task that stopped it
          (``restart('current', 'next')``).
        * NEW: from the start.
        * COMPLETED: nothing to do; returns at once.
        * RUNNING (its process died; needs ``force=True``): when the object
          it was at is COMPLETED, with the next object; when that object
          HALTED or failed, after the task that stopped it; otherwise that
          object again, from the task position saved when it started.

        :param force: take over a RUNNING workflow, or run a changed
            definition.
        :raises WorkflowBusyError: when the workflow is RUNNING and ``force``
            is false, or another process claims it first.
        """
        status = self.db_obj.status
        if status is WorkflowStatus.COMPLETED:
            return
        if status is WorkflowStatus.NEW or self.state.token_pos < 0:
            self.process(
                stop_on_error=stop_on_error, stop_on_halt=stop_on_halt, force=force
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
        self.restart(*words, None, stop_on_error, stop_on_halt, force=force)

    @contextmanager
    def _claimed(self, force: bool) -> Iterator[None]:
        """Hold the workflow for the outermost run, and release it at the end."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._extra_json()
        try:
            self._claim(force)
            self._depth = 1
            yield
            if self._staged:
                self._commit(None)
        finally:
            # After a failure, completions not yet committed are dropped: the
            # database then shows those objects as started, not done, and a
            # resume runs them again, as after a crash.
            self._depth = 0
            self._staged = []
            connection, self._connection = self._connection, None
            if connection is not None:
                connection.close()

    def _claim(self, force: bool) -> None:
        db_obj = self.db_obj
        definition = self.callbacks.get("*")
        current = fingerprint(definition)
        # A fingerprint stored by 2.2.0 has the old format: the claim below
        # stores the current one.
        if not fingerprint_matches(db_obj.fingerprint, definition) and not force:
            raise DefinitionChangedError(
                f"The definition {db_obj.name!r} changed since workflow"
                f" {db_obj.uuid} was saved; its saved position may no longer fit."
                " Pass force=True to run it with the new definition anyway",
                db_obj.uuid,
                db_obj.name,
            )
        if db_obj.status is WorkflowStatus.RUNNING and not force:
            raise WorkflowBusyError(
                f"Workflow {db_obj.uuid} is RUNNING in another process. If that"
                " process died, take the workflow over with force=True",
                db_obj.uuid,
            )
        self._connection = connection = db_obj.store.connect()
        try:
            result = connection.execute(
                _CLAIM_WORKFLOW,
                {
                    "w_uuid": db_obj.uuid,
                    "w_version": db_obj.version,
                    "w_status": db_obj.status.value,
                    "status": WorkflowStatus.RUNNING.value,
                    "version": db_obj.version + 1,
                    "fingerprint": current,
                    "modified": utcnow(),
                },
            )
            if result.rowcount != 1:
                raise WorkflowBusyError(
                    f"Workflow {db_obj.uuid} was claimed by another process since"
                    " it was loaded; load it again to see its new status",
                    db_obj.uuid,
                )
            connection.commit()
        except BaseException:
            _roll_back(connection)
            raise
        db_obj.version += 1
        db_obj.status = WorkflowStatus.RUNNING
        db_obj.fingerprint = current

    def _extra_json(self) -> str:
        return to_json(self.extra_data, "engine extra_data")

    def _commit(self, object_values: dict[str, Any] | None, status: Any = None) -> None:
        """Commit the workflow's state (and an object's values) at once.

        :raises WorkflowBusyError: when the workflow's version moved on (it
            was taken over by another process); nothing is written then.
        """
        connection = self._connection
        if self._deferring and connection is not None and object_values is not None:
            self._staged.append(object_values)
            return
        db_obj = self.db_obj
        state = self.state
        values: dict[str, Any] = {
            "w_uuid": db_obj.uuid,
            "w_version": db_obj.version,
            "modified": utcnow(),
        }
        saved_state = (state.token_pos, state.callback_pos)
        # The stored position always names the object being (or last)
        # processed, as of an object's save. At the start of a run the
        # engine's position is the one a restart computed, before any object
        # was taken: storing it would make a crash right there look like a
        # different position, so the RUNNING save at the start leaves it out.
        keeps_position = object_values is None and status is WorkflowStatus.RUNNING
        if saved_state != self._saved_state and not keeps_position:
            values["token_pos"] = state.token_pos
            values["callback_pos"] = list(state.callback_pos)
        if status is not None:
            values["status"] = status.value
        try:
            extra_json = self._extra_json()
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
                self._execute(own_connection, values, object_values)
        else:
            self._execute(connection, values, object_values)
        self._saved_state = (state.token_pos, list(state.callback_pos))
        db_obj._saved_extra_json = extra_json
        if status is not None:
            db_obj.status = status

    def _execute(
        self,
        connection: Any,
        workflow_values: dict[str, Any],
        object_values: dict[str, Any] | None,
    ) -> None:
        statements = _statements(connection.dialect)
        try:
            sql, parameters = statements.update_workflow(workflow_values)
            if connection.exec_driver_sql(sql, parameters).rowcount != 1:
                raise WorkflowBusyError(
                    f"Workflow {self.db_obj.uuid} was taken over by another"
                    " process; this process stops running it",
                    self.db_obj.uuid,
                )
            for staged in self._staged:
                connection.exec_driver_sql(*statements.update_object(staged))
            if object_values is not None:
                connection.exec_driver_sql(*statements.update_object(object_values))
            self._staged = []
            connection.commit()
        except BaseException:
            self._staged = []
            _roll_back(connection)
            raise


def _records_error(status: Any, object_values: dict[str, Any] | None) -> bool:
    """Whether a commit marks the workflow, or the object it writes, as ERROR."""
    if status is WorkflowStatus.ERROR:
        return True
    return (
        object_values is not None
        and object_values.get("status") == ObjectStatus.ERROR.value
    )


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
