"""Run persisted workflows as Celery tasks, on any number of workers.

:func:`register_tasks` adds three tasks to *your* Celery application:
``<prefix>.start``, ``<prefix>.resume`` and ``<prefix>.restart``. They call
:func:`workflow.storage.start`, :func:`workflow.storage.resume` and
:func:`workflow.storage.restart` on a shared database, so any worker can
start, resume or restart any workflow: the state lives in the database, not
in the worker.

Every task returns a JSON dict with the keys of
:meth:`workflow.storage.WorkflowResult.to_dict` plus ``"skipped"``:

* a finished run: ``status`` is the workflow's status name (``"COMPLETED"``,
  ``"HALTED"``, ``"ERROR"``, ...), ``error`` the first line of a workflow
  error, ``skipped`` is ``None``;
* a run that was not needed (a resume of a workflow that already completed,
  or that another worker is running right now): ``status`` is the
  workflow's current status and ``skipped`` says why;
* bad input (a workflow name not registered in the worker, an unknown
  uuid, data that is not a JSON list, a definition that changed, an unknown
  restart word): ``status`` is :data:`FAILED` and ``error`` reads
  ``"<ErrorClass>: <message>"``. Such a task is not retried, and the worker
  goes on serving.

The start task runs registered definitions only: it never imports the
``"module:attribute"`` or ``"file.py:attribute"`` names that
:data:`workflow.storage.registry` would import on demand, since a message
naming one would make the worker run code chosen by whoever writes to the
broker.

A resume or restart delivered again after its worker died (or retried
after a database error) finds the workflow RUNNING, as the interrupted
attempt left it, and takes it over: completed objects are not run again, the
interrupted object runs again from where it started. A start retried after
a database error goes on with the workflow its first attempt created, in the
same way.

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
    DefinitionChangedError,
    StoredWorkflowEngine,
    UnknownWorkflowError,
    WorkflowBusyError,
    WorkflowResult,
    WorkflowStore,
    fingerprint,
    get_workflow,
    registry,
    restart,
    resume,
    run_engine,
)

__all__ = (
    "FAILED",
    "RESTART_WORDS",
    "WorkflowTask",
    "WorkflowTasks",
    "is_transient_error",
    "recommended_settings",
    "register_tasks",
    "retry_delay",
)

log: logging.Logger = logging.getLogger(__name__)

FAILED = "FAILED"
"""The ``status`` of a task result whose input was refused (no run happened)."""

SKIPPED_COMPLETED = "already completed"
SKIPPED_RUNNING = "already running"
SKIPPED_STOPPED = "already stopped"

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
) -> dict[str, Any]:
    return {
        "uuid": uuid,
        "name": name,
        "status": status,
        "halted_message": halted_message,
        "error": error,
        "skipped": skipped,
    }


def _failed(
    uuid: str | None,
    name: str | None,
    exc: WorkflowAPIError | WorkflowDefinitionError,
) -> dict[str, Any]:
    # The message alone: a WorkflowDefinitionError's str() lists its fields.
    return _result(uuid, name, FAILED, error=f"{type(exc).__name__}: {exc.message}")


def _ran(outcome: WorkflowResult) -> dict[str, Any]:
    return {**outcome.to_dict(), "skipped": None}


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

    :ivar start: ``start(name, data, stop_on_halt=True, stop_on_error=True)``;
        ``name`` must be registered in the worker. Its retries add
        ``uuid=<the workflow its first attempt stored>``, to go on with it.
    :ivar resume: ``resume(uuid, force=False)``; idempotent (see the module
        documentation).
    :ivar restart: ``restart(uuid, obj="current", task="first", force=False)``.
    :ivar store_url: the database URL the workers use.
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

    A resume or restart knows its uuid from its arguments; a start learns it
    once it has stored the new workflow.
    """

    uuid: str | None
    name: str | None


def _guarded(
    task: Task,
    target: _Target,
    call: Callable[[WorkflowStore], dict[str, Any]],
    *,
    retry_with_uuid: bool = False,
) -> dict[str, Any]:
    """Run ``call``; map refusals to results and retry transient errors.

    :param retry_with_uuid: once ``target.uuid`` is known, send it to the
        retry as the ``uuid`` keyword argument.
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
        kwargs = None
        if retry_with_uuid and target.uuid is not None:
            kwargs = {**(task.request.kwargs or {}), "uuid": target.uuid}
        raise task.retry(exc=exc, countdown=countdown, kwargs=kwargs) from exc


def _is_second_attempt(task: Task) -> bool:
    """Whether an earlier attempt of this very task may have been cut short.

    The broker marks a message it delivers again (its worker died, or did
    not acknowledge it in time) as redelivered; a retry after a transient
    database error has ``retries > 0``. Either way, an earlier attempt may
    have claimed the workflow and left it RUNNING with nobody running it.
    """
    delivery_info = task.request.delivery_info or {}
    return bool(delivery_info.get("redelivered")) or task.request.retries > 0


def _take_over(
    eng: StoredWorkflowEngine, *, stop_on_halt: bool = True, stop_on_error: bool = True
) -> dict[str, Any]:
    """Resume a RUNNING workflow whose run was this task's interrupted attempt.

    ``force=True`` both takes the workflow over and ignores a changed
    definition; only the first is wanted here, so the definition is checked
    first, as an ordinary resume would.
    """
    uuid = eng.db_obj.uuid
    if fingerprint(eng.callbacks.get("*")) != eng.db_obj.fingerprint:
        raise DefinitionChangedError(
            f"The definition {eng.db_obj.name!r} changed since workflow {uuid}"
            " was saved; resume it with force=True to run the new definition",
            uuid,
            eng.db_obj.name,
        )
    log.warning("Taking over workflow %s, left RUNNING by an interrupted attempt", uuid)
    return _ran(
        run_engine(
            eng,
            lambda: eng.resume(
                force=True, stop_on_error=stop_on_error, stop_on_halt=stop_on_halt
            ),
        )
    )


def _go_on_with_start(
    task: Task,
    store: WorkflowStore,
    uuid: str,
    stop_on_halt: bool,
    stop_on_error: bool,
) -> dict[str, Any]:
    """Go on with the workflow ``uuid`` an earlier attempt of this start stored.

    That attempt stopped on a database error: before its claim (the workflow
    is NEW), during its run (RUNNING), or after its last save went through
    (the run is over, and is not run further).
    """
    eng = StoredWorkflowEngine.from_uuid(uuid, store)
    status = eng.db_obj.status
    if status is WorkflowStatus.NEW:
        return _ran(
            run_engine(
                eng,
                lambda: eng.process(
                    stop_on_error=stop_on_error, stop_on_halt=stop_on_halt
                ),
            )
        )
    if status is WorkflowStatus.RUNNING and _is_second_attempt(task):
        return _take_over(eng, stop_on_halt=stop_on_halt, stop_on_error=stop_on_error)
    skipped = {
        WorkflowStatus.RUNNING: SKIPPED_RUNNING,
        WorkflowStatus.COMPLETED: SKIPPED_COMPLETED,
    }.get(status, SKIPPED_STOPPED)
    return _result(uuid, eng.db_obj.name, status.name, skipped=skipped)


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

    ``uuid`` is set by the task's own retries: the workflow its first
    attempt stored, to go on with instead of storing another one.
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
        _check_registered(name)
        if uuid is not None:
            target.uuid = _check_uuid(uuid)
            return _go_on_with_start(self, store, target.uuid, halt_flag, error_flag)
        eng = StoredWorkflowEngine.with_name(name, store, data=data)
        target.uuid = eng.db_obj.uuid
        return _ran(
            run_engine(
                eng,
                lambda: eng.process(stop_on_error=error_flag, stop_on_halt=halt_flag),
            )
        )

    return _guarded(self, target, call, retry_with_uuid=True)


def _resume_body(self: Task, uuid: str, force: bool = False) -> dict[str, Any]:
    """Go on with the stored workflow ``uuid`` from where it stopped."""
    target = _Target(uuid if isinstance(uuid, str) else None, None)

    def call(store: WorkflowStore) -> dict[str, Any]:
        target.uuid = _check_uuid(uuid)
        force_flag = _check_flag("force", force)
        info = get_workflow(target.uuid, store)
        if info.status is WorkflowStatus.COMPLETED:
            return _result(
                target.uuid, info.name, info.status.name, skipped=SKIPPED_COMPLETED
            )
        if info.status is WorkflowStatus.RUNNING and not force_flag:
            if _is_second_attempt(self):
                return _take_over(StoredWorkflowEngine.from_uuid(target.uuid, store))
            return _result(
                target.uuid, info.name, info.status.name, skipped=SKIPPED_RUNNING
            )
        return _ran(resume(target.uuid, store, force=force_flag))

    return _guarded(self, target, call)


def _restart_body(
    self: Task,
    uuid: str,
    obj: str = "current",
    task: str = "first",
    force: bool = False,
) -> dict[str, Any]:
    """Restart the stored workflow ``uuid`` relative to where it stopped."""
    target = _Target(uuid if isinstance(uuid, str) else None, None)

    def call(store: WorkflowStore) -> dict[str, Any]:
        target.uuid = _check_uuid(uuid)
        try:
            check_restart_words(obj, task)
        except WorkflowError as exc:
            raise _BadInput(exc.args[0]) from None
        force_flag = _check_flag("force", force)
        if not force_flag and _is_second_attempt(self):
            # The interrupted attempt's run is this restart's run: carry it
            # on rather than restart again relative to where it got to.
            eng = StoredWorkflowEngine.from_uuid(target.uuid, store)
            if eng.db_obj.status is WorkflowStatus.RUNNING:
                return _take_over(eng)
        return _ran(restart(target.uuid, store, obj=obj, task=task, force=force_flag))

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
