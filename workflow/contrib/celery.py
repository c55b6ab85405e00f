"""Run persisted workflows as Celery tasks, on any number of workers.

:func:`register_tasks` adds three tasks to *your* Celery application:
``<prefix>.start``, ``<prefix>.resume`` and ``<prefix>.restart``. They call
:func:`workflow.storage.start`, :func:`workflow.storage.resume` and
:func:`workflow.storage.restart` on a shared database, so any worker can
start, resume or restart any workflow: the state lives in the database, not
in the worker.

Every task returns a JSON dict with the keys of
:meth:`workflow.storage.WorkflowResult.to_dict` (``uuid``, ``name``,
``status``, ``halted_message``, ``error``, ``replayed``) plus ``"skipped"``:

* a finished run: ``status`` is the workflow's status name (``"COMPLETED"``,
  ``"HALTED"``, ``"ERROR"``, ...), ``error`` the first line of a workflow
  error, ``skipped`` is ``None``;
* a message delivered again after its run was over (its worker died
  before Celery stored the result): nothing runs again, ``replayed`` is
  true and the rest describes the workflow as it is;
* a run that was not needed (a resume of a workflow that already completed,
  or that another worker is running right now): ``status`` is the
  workflow's current status and ``skipped`` says why;
* bad input (a workflow name not registered in the worker, an unknown
  uuid, data that is not a JSON list, a definition that changed, an unknown
  restart word, a uuid given to a start that another message's workflow
  has): ``status`` is :data:`FAILED` and ``error`` reads
  ``"<ErrorClass>: <message>"``. Such a task is not retried, and the worker
  goes on serving.

The start task runs registered definitions only: it never imports the
``"module:attribute"`` or ``"file.py:attribute"`` names that
:data:`workflow.storage.registry` would import on demand, since a message
naming one would make the worker run code chosen by whoever writes to the
broker.

Each task hands its message (task) id to the storage, which records it with
the claim and with the outcome of the run, so that a message runs its
work once however often it is delivered or retried:

* a delivery that finds the run of its own earlier attempt still RUNNING
  (the worker died, or the attempt failed on a database error) takes it
  over and carries it on: completed objects are not run again, and a
  restart does not restart twice;
* a delivery that finds the outcome of its own earlier attempt (a halt, an
  error, a completion) returns it, ``replayed``, without running anything:
  it never goes past a halt or an error it produced;
* a start given no uuid names its workflow :func:`workflow_uuid_for` its
  message id, so all deliveries of one start message work on one workflow.

A delivery never takes over a run that another message claimed, unless it
is asked to: ``take_over=True`` when the owner's heartbeat lease expired
(that process is taken as dead), ``force=True`` even while it runs. The
Celery page of the documentation lists the guarantees, and the cases they
do not cover yet.

Transient database errors (lost connection, serialization failure, deadlock,
a locked SQLite file) are retried with capped exponential backoff; see
:func:`is_transient_error` and :func:`retry_delay`. The ``celery`` extra
installs what this module needs: ``pip install 'workflow[celery]'``.
"""

from __future__ import annotations

import logging
import os
import random
import sqlite3
import sys
import threading
import uuid as uuid_module
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Callable

import sqlalchemy.exc
from celery import Celery, Task

from workflow._vocabulary import RESTART_WORDS, check_restart_words, parse_uuid
from workflow.engine_db import WorkflowStatus
from workflow.errors import WorkflowAPIError, WorkflowDefinitionError, WorkflowError
from workflow.storage import (
    UnknownWorkflowError,
    WorkflowBusyError,
    WorkflowResult,
    WorkflowStore,
    get_workflow,
    registry,
    restart,
    resume,
    start,
)

__all__ = (
    "FAILED",
    "RESTART_WORDS",
    "START_UUID_NAMESPACE",
    "WorkflowTask",
    "WorkflowTasks",
    "is_transient_error",
    "recommended_settings",
    "register_tasks",
    "retry_delay",
    "workflow_uuid_for",
)

log: logging.Logger = logging.getLogger(__name__)

FAILED = "FAILED"
"""The ``status`` of a task result whose input was refused (no run happened)."""

SKIPPED_COMPLETED = "already completed"
SKIPPED_RUNNING = "already running"

START_UUID_NAMESPACE: uuid_module.UUID = uuid_module.UUID(
    "75539ba3-36a7-4488-9a06-36659ff07852"
)
"""The namespace of the uuids the start task derives from message ids.

It is fixed: changing it would give a message delivered across an upgrade
a second workflow. See :func:`workflow_uuid_for`.
"""

# PostgreSQL SQLSTATEs worth a retry: the same statements may well succeed a
# moment later. Class 08 (connection exceptions) is matched by prefix.
_TRANSIENT_SQLSTATES = frozenset(
    {
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
        "55P03",  # lock_not_available
        "57P01",  # admin_shutdown
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now
    }
)

_POOL_ERRORS = (sqlalchemy.exc.DisconnectionError, sqlalchemy.exc.TimeoutError)

_PICKLE_CONTENT = {"pickle", "application/x-python-serialize"}


def workflow_uuid_for(message_id: str) -> str:
    """Return the uuid the start task gives the workflow of message ``message_id``.

    It is ``uuid5(START_UUID_NAMESPACE, message_id)``: every delivery and
    retry of one start message (they share its task id) works on this one
    workflow, and the sender knows the workflow's uuid as soon as it sent
    the message, ``workflow_uuid_for(tasks.start.delay(...).id)``. A start
    given its own ``uuid`` uses that one instead.

    :param message_id: the task id of a start message.
    :raises TypeError: when ``message_id`` is not a string.
    """
    if not isinstance(message_id, str):
        raise TypeError(
            f"message_id must be a task id string, got {type(message_id).__name__}"
        )
    return str(uuid_module.uuid5(START_UUID_NAMESPACE, message_id))


def recommended_settings() -> dict[str, Any]:
    """Return the Celery settings under which the documented guarantees hold.

    Apply them with ``app.conf.update(recommended_settings())``. They make
    messages JSON only, acknowledge a message only after its task returned
    (so a crashed worker's message is delivered again), let each worker
    process reserve one message at a time, and skip a redelivered message
    whose task already succeeded (this needs a result backend).
    """
    return {
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "worker_deduplicate_successful_tasks": True,
    }


def _links(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, its causes and contexts, and the DBAPI errors they wrap."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        err = pending.pop()
        if err is None or id(err) in seen:
            continue
        seen.add(id(err))
        yield err
        pending.extend((err.__cause__, err.__context__))
        orig = getattr(err, "orig", None)
        if isinstance(orig, BaseException):
            pending.append(orig)


def _is_transient_link(err: BaseException) -> bool:
    if isinstance(err, sqlalchemy.exc.DBAPIError) and err.connection_invalidated:
        return True
    if isinstance(
        err, (sqlalchemy.exc.DisconnectionError, sqlalchemy.exc.TimeoutError)
    ):
        return True
    # psycopg 3 names it sqlstate, psycopg2 pgcode.
    sqlstate = getattr(err, "sqlstate", None) or getattr(err, "pgcode", None)
    if isinstance(sqlstate, str):
        return sqlstate in _TRANSIENT_SQLSTATES or sqlstate.startswith("08")
    if isinstance(err, sqlite3.OperationalError):
        message = str(err).lower()
        return "locked" in message or "busy" in message
    psycopg = sys.modules.get("psycopg")
    # Without a SQLSTATE, a psycopg OperationalError is a failed connection.
    return psycopg is not None and isinstance(err, psycopg.OperationalError)


def is_transient_error(exc: BaseException) -> bool:
    """Tell whether ``exc`` is a database error worth retrying.

    True when ``exc`` or any exception it was raised from (its cause, its
    context, or the driver error a SQLAlchemy error wraps) is one of:

    * a SQLAlchemy error whose connection was invalidated, a
      :class:`~sqlalchemy.exc.DisconnectionError`, or a connection pool
      :class:`~sqlalchemy.exc.TimeoutError`;
    * a PostgreSQL error with SQLSTATE class ``08`` (connection exception),
      ``40001`` (serialization failure), ``40P01`` (deadlock detected),
      ``55P03`` (lock not available) or ``57P01``-``57P03`` (server shutting
      down or starting up), from psycopg 3 or psycopg2;
    * a psycopg ``OperationalError`` without SQLSTATE (no connection);
    * a SQLite "database is locked" / "busy" error.

    Anything else, such as a missing table or a constraint violation, is not
    transient: retrying cannot fix it.

    :param exc: the exception a task caught.
    """
    return any(_is_transient_link(err) for err in _links(exc))


def retry_delay(
    retries: int,
    base: float,
    maximum: float,
    rng: Callable[[], float] = random.random,
) -> float:
    """Return the seconds to wait before the next try, with jitter.

    The ceiling doubles with each retry, ``base * 2 ** retries``, and never
    exceeds ``maximum``; the delay is drawn between half the ceiling and the
    ceiling, so that workers that failed together do not retry together.

    :param retries: how many retries happened so far (0 before the first).
    :param base: the ceiling of the first delay, in seconds.
    :param maximum: the largest delay, in seconds.
    :param rng: returns a float in ``[0, 1)``; :func:`random.random` by
        default.
    """
    ceiling = min(maximum, base * 2.0 ** min(retries, 64))
    return ceiling / 2 + rng() * ceiling / 2


def _result(
    uuid: str | None,
    name: str | None,
    status: str,
    *,
    halted_message: str | None = None,
    error: str | None = None,
    skipped: str | None = None,
    replayed: bool = False,
) -> dict[str, Any]:
    return {
        "uuid": uuid,
        "name": name,
        "status": status,
        "halted_message": halted_message,
        "error": error,
        "skipped": skipped,
        "replayed": replayed,
    }


def _failed(
    uuid: str | None,
    name: str | None,
    exc: WorkflowAPIError | WorkflowDefinitionError,
) -> dict[str, Any]:
    # The message alone: a WorkflowDefinitionError's str() lists its fields.
    return _result(uuid, name, FAILED, error=f"{type(exc).__name__}: {exc.message}")


def _ran(outcome: WorkflowResult) -> dict[str, Any]:
    return _result(
        outcome.uuid,
        outcome.name,
        outcome.status.name,
        halted_message=outcome.halted_message,
        error=outcome.error,
        replayed=outcome.replayed,
    )


class _BadInput(ValueError):
    """Task arguments refused before the database is touched."""


def _check_uuid(value: Any) -> str:
    try:
        return parse_uuid(value)
    except (TypeError, ValueError) as exc:
        raise _BadInput(str(exc)) from None


def _check_registered(name: str) -> None:
    # The registry would import a "module:attribute" or "file.py:attribute"
    # name on demand: from a message, that is code chosen by its sender.
    if name not in registry:
        raise UnknownWorkflowError(
            f"No workflow definition is registered under {name!r}. Registered:"
            f" {', '.join(registry.names()) or 'none'}. The start task runs"
            " registered definitions only, never an import path: register it"
            " with workflow.storage.registry.register(name, definition) in a"
            " module every worker imports",
            name,
        )


def _check_flag(argument: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _BadInput(f"{argument} must be true or false, got {value!r:.80}")
    return value


class _StoreHolder:
    """One :class:`WorkflowStore` per process, created on first use.

    Database connections must not cross a ``fork()``: a prefork pool child
    that finds a store made by another process makes its own.
    """

    def __init__(self, url: str, options: dict[str, Any]) -> None:
        self.url = url
        self.options = options
        self._lock = threading.Lock()
        self._store: WorkflowStore | None = None
        self._pid = 0

    def get(self) -> WorkflowStore:
        pid = os.getpid()
        with self._lock:
            if self._store is None or self._pid != pid:
                self._store = WorkflowStore(self.url, **self.options)
                self._pid = pid
            return self._store


class WorkflowTask(Task):
    """Base class of the tasks :func:`register_tasks` registers.

    It sends each message to the queue and routing key given to
    :func:`register_tasks`, unless the call names its own (``queue=``,
    ``routing_key=`` of :meth:`apply_async`). Celery 6 drops the ``queue``
    and ``routing_key`` task attributes, hence this method.
    """

    _workflow_route: dict[str, str] = {}

    def apply_async(
        self,
        args: Any = None,
        kwargs: Any = None,
        *positional: Any,
        **options: Any,
    ) -> Any:
        """Send the task, with the registered routing as default options."""
        options = {**self._workflow_route, **options}
        return super().apply_async(args, kwargs, *positional, **options)


@dataclass(frozen=True)
class WorkflowTasks:
    """The tasks :func:`register_tasks` added to a Celery application.

    Call them as any Celery task, e.g. ``tasks.start.delay("name", [1, 2])``,
    ``tasks.resume.delay(uuid)``, ``tasks.restart.delay(uuid, "first",
    "first")``.

    :ivar start: ``start(name, data, stop_on_halt=True, stop_on_error=True,
        *, uuid=None)``; ``name`` must be registered in the worker. The new
        workflow's uuid is ``uuid`` when given, else
        :func:`workflow_uuid_for` the message's task id.
    :ivar resume: ``resume(uuid, force=False, *, take_over=False,
        allow_changed_definition=False)``.
    :ivar restart: ``restart(uuid, obj="current", task="first", force=False,
        *, take_over=False, allow_changed_definition=False)``.
    :ivar store_url: the database URL the workers use.

    ``take_over=True`` takes over a RUNNING workflow whose owner's lease
    expired (no heartbeat for the store's ``lease``: that process is taken
    as dead); ``allow_changed_definition=True`` runs a workflow whose
    definition changed since it was saved; ``force=True`` means both, and
    takes over even a live owner's workflow. All three tasks are idempotent
    per message (see the module documentation).
    """

    start: Task
    resume: Task
    restart: Task
    store_url: str

    def store(self) -> WorkflowStore:
        """The calling process's :class:`~workflow.storage.WorkflowStore`."""
        store: WorkflowStore = self.start._workflow_store.get()
        return store


def _busy_result(store: WorkflowStore, uuid: str) -> dict[str, Any]:
    info = get_workflow(uuid, store)
    return _result(uuid, info.name, info.status.name, skipped=SKIPPED_RUNNING)


@dataclass
class _Target:
    """The workflow a task works on, as far as the task knows it yet.

    It names the workflow in a result that refuses the input.
    """

    uuid: str | None
    name: str | None


def _guarded(
    task: Task,
    target: _Target,
    call: Callable[[WorkflowStore], dict[str, Any]],
) -> dict[str, Any]:
    """Run ``call``; map refusals to results and retry transient errors.

    A retry keeps the task id, so the retried call hands the storage the
    same message id: it carries on what the failed attempt left, if
    anything.
    """
    store = task._workflow_store.get()
    try:
        return call(store)
    except _BadInput as exc:
        return _result(target.uuid, target.name, FAILED, error=f"ValueError: {exc}")
    except WorkflowBusyError as exc:
        # Only a claim or a save raises it, of a workflow the task knows.
        uuid = exc.uuid
        return _guarded(task, target, lambda store: _busy_result(store, uuid))
    except (WorkflowAPIError, WorkflowDefinitionError) as exc:
        log.warning("Task %s refused its input: %s", task.name, exc)
        return _failed(target.uuid, target.name, exc)
    except Exception as exc:
        if not is_transient_error(exc):
            raise
        retries = task.request.retries
        if retries >= task.max_retries:
            log.error(
                "Task %s gave up after %d retries on a database error: %s",
                task.name,
                retries,
                exc,
            )
            raise
        countdown = retry_delay(retries, task._retry_backoff, task._retry_backoff_max)
        log.warning(
            "Task %s hit a transient database error, retry %d in %.1f s: %s",
            task.name,
            retries + 1,
            countdown,
            exc,
        )
        raise task.retry(exc=exc, countdown=countdown) from exc


def _message_id(task: Task) -> str | None:
    """The id of the message being run (``None`` for a direct call)."""
    message_id = task.request.id
    return message_id if isinstance(message_id, str) else None


def _claim_flags(
    force: Any, take_over: Any, allow_changed_definition: Any
) -> dict[str, bool]:
    return {
        "force": _check_flag("force", force),
        "take_over": _check_flag("take_over", take_over),
        "allow_changed_definition": _check_flag(
            "allow_changed_definition", allow_changed_definition
        ),
    }


def _start_body(
    self: Task,
    name: str,
    data: list[Any],
    stop_on_halt: bool = True,
    stop_on_error: bool = True,
    *,
    uuid: str | None = None,
) -> dict[str, Any]:
    """Start a new stored workflow running the definition ``name`` over ``data``.

    The workflow's uuid is ``uuid`` when given, else derived from the
    message id (:func:`workflow_uuid_for`).
    """
    target = _Target(None, name if isinstance(name, str) else None)

    def call(store: WorkflowStore) -> dict[str, Any]:
        if not isinstance(name, str) or not name:
            raise _BadInput(f"name must be a workflow name string, got {name!r:.80}")
        if not isinstance(data, list):
            raise _BadInput(
                "data must be a JSON list with one item per object, got"
                f" {type(data).__name__} {data!r:.80}"
            )
        halt_flag = _check_flag("stop_on_halt", stop_on_halt)
        error_flag = _check_flag("stop_on_error", stop_on_error)
        message_id = _message_id(self)
        workflow_uuid = None
        if uuid is not None:
            # A refused uuid is named in the result as it was given.
            target.uuid = uuid if isinstance(uuid, str) else None
            target.uuid = workflow_uuid = _check_uuid(uuid)
        elif message_id is not None:
            workflow_uuid = workflow_uuid_for(message_id)
        _check_registered(name)
        return _ran(
            start(
                name,
                data,
                store,
                uuid=workflow_uuid,
                message_id=message_id,
                stop_on_halt=halt_flag,
                stop_on_error=error_flag,
            )
        )

    return _guarded(self, target, call)


def _resume_body(
    self: Task,
    uuid: str,
    force: bool = False,
    *,
    take_over: bool = False,
    allow_changed_definition: bool = False,
) -> dict[str, Any]:
    """Go on with the stored workflow ``uuid`` from where it stopped."""
    target = _Target(uuid if isinstance(uuid, str) else None, None)

    def call(store: WorkflowStore) -> dict[str, Any]:
        target.uuid = _check_uuid(uuid)
        flags = _claim_flags(force, take_over, allow_changed_definition)
        before = get_workflow(target.uuid, store).status
        outcome = resume(target.uuid, store, message_id=_message_id(self), **flags)
        if (
            before is WorkflowStatus.COMPLETED
            and outcome.status is WorkflowStatus.COMPLETED
            and not outcome.replayed
        ):
            return _result(
                outcome.uuid,
                outcome.name,
                outcome.status.name,
                skipped=SKIPPED_COMPLETED,
            )
        return _ran(outcome)

    return _guarded(self, target, call)


def _restart_body(
    self: Task,
    uuid: str,
    obj: str = "current",
    task: str = "first",
    force: bool = False,
    *,
    take_over: bool = False,
    allow_changed_definition: bool = False,
) -> dict[str, Any]:
    """Restart the stored workflow ``uuid`` relative to where it stopped."""
    target = _Target(uuid if isinstance(uuid, str) else None, None)

    def call(store: WorkflowStore) -> dict[str, Any]:
        target.uuid = _check_uuid(uuid)
        try:
            check_restart_words(obj, task)
        except WorkflowError as exc:
            raise _BadInput(exc.args[0]) from None
        flags = _claim_flags(force, take_over, allow_changed_definition)
        return _ran(
            restart(
                target.uuid,
                store,
                obj=obj,
                task=task,
                message_id=_message_id(self),
                **flags,
            )
        )

    return _guarded(self, target, call)


def register_tasks(
    app: Celery,
    store_url: str,
    *,
    queue: str | None = None,
    routing_key: str | None = None,
    prefix: str = "workflow",
    max_retries: int = 5,
    retry_backoff: float = 1.0,
    retry_backoff_max: float = 60.0,
    store_options: dict[str, Any] | None = None,
) -> WorkflowTasks:
    """Register the start, resume and restart tasks on ``app``.

    :param app: your :class:`celery.Celery` application.
    :param store_url: the SQLAlchemy URL of the database every worker
        shares, e.g. ``"postgresql+psycopg://user@db/workflows"``. Each worker
        process opens it on first use; the schema must exist (see
        :meth:`workflow.storage.WorkflowStore.create_all`).
    :param queue: the queue the tasks are sent to (Celery's default queue
        when ``None``); start the workers with ``-Q <queue>``.
    :param routing_key: the routing key of the tasks' messages.
    :param prefix: the tasks are named ``<prefix>.start``, ``<prefix>.resume``
        and ``<prefix>.restart``.
    :param max_retries: how many times a transient database error is retried
        before the task fails with it.
    :param retry_backoff: the ceiling, in seconds, of the first retry's
        delay; it doubles with each retry (see :func:`retry_delay`).
    :param retry_backoff_max: the largest delay between retries, in seconds.
    :param store_options: keyword arguments for
        :class:`~workflow.storage.WorkflowStore` (SQLAlchemy engine options).
    :returns: the registered tasks.
    :raises TypeError: for an argument of the wrong type.
    :raises ValueError: for an empty name or a negative number.

    The tasks send and accept JSON only, are acknowledged after they return
    (``acks_late``) and are requeued if their worker process dies
    (``reject_on_worker_lost``). A warning is issued if ``app`` accepts
    pickle: the tasks never need it, and a worker that accepts it runs code
    chosen by whoever can write to the broker.
    """
    if not isinstance(app, Celery):
        raise TypeError(
            f"app must be a celery.Celery application, got {type(app).__name__}"
        )
    for argument, value, required in (
        ("store_url", store_url, True),
        ("prefix", prefix, True),
        ("queue", queue, False),
        ("routing_key", routing_key, False),
    ):
        if value is None and not required:
            continue
        if not isinstance(value, str) or not value:
            raise TypeError(f"{argument} must be a non-empty string, got {value!r}")
    if isinstance(max_retries, bool) or not isinstance(max_retries, int):
        raise TypeError(f"max_retries must be an int, got {max_retries!r}")
    if max_retries < 0:
        raise ValueError(f"max_retries must be 0 or more, got {max_retries}")
    for argument, seconds in (
        ("retry_backoff", retry_backoff),
        ("retry_backoff_max", retry_backoff_max),
    ):
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise TypeError(f"{argument} must be a number of seconds, got {seconds!r}")
        # "not >" refuses NaN too, which compares false to everything.
        if not seconds > 0:
            raise ValueError(f"{argument} must be positive, got {seconds!r}")
    if store_options is not None and not isinstance(store_options, dict):
        raise TypeError(f"store_options must be a dict, got {store_options!r}")

    accepted = set(app.conf.accept_content or ())
    if accepted & _PICKLE_CONTENT:
        warnings.warn(
            "The Celery app accepts pickle messages (accept_content="
            f"{sorted(accepted)!r}). The workflow tasks send and accept JSON"
            " only; set accept_content=['json'] so that no worker unpickles"
            " what arrives from the broker.",
            UserWarning,
            stacklevel=2,
        )

    holder = _StoreHolder(store_url, dict(store_options or {}))
    route = {}
    if queue is not None:
        route["queue"] = queue
    if routing_key is not None:
        route["routing_key"] = routing_key
    options: dict[str, Any] = {
        "base": WorkflowTask,
        "bind": True,
        "serializer": "json",
        "acks_late": True,
        "reject_on_worker_lost": True,
        "max_retries": max_retries,
        "_workflow_store": holder,
        "_retry_backoff": float(retry_backoff),
        "_retry_backoff_max": float(retry_backoff_max),
        "_workflow_route": route,
    }
    bodies = {"start": _start_body, "resume": _resume_body, "restart": _restart_body}
    registered = {
        kind: app.task(name=f"{prefix}.{kind}", **options)(body)
        for kind, body in bodies.items()
    }
    return WorkflowTasks(store_url=store_url, **registered)
