"""The ``workflow`` command line: run, inspect, resume, draw and clean up workflows.

Installed as the ``workflow`` console script and runnable as
``python -m workflow``. Workflows are kept in a :mod:`workflow.storage`
database: ``--db URL`` or the ``WORKFLOW_DB`` environment variable, else
``sqlite:///workflow.db`` in the current directory. Every command but
``graph DEFINITION`` needs the ``sqlalchemy`` extra; the ``cli`` extra adds
``rich`` for the progress display.

Exit status: ``0`` success (the workflow COMPLETED), ``1`` failure (bad
definition, data or uuid, database error), ``2`` bad command line, ``3`` the
workflow HALTED, ``4`` a task failed (the workflow is in ERROR), ``130``
interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import datetime
import functools
import itertools
import json
import logging
import os
import re
import signal
import sys
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, TextIO

from . import graph
from ._loading import (
    DefinitionNotFoundError,
    absolute_name,
    definition_tasks,
    file_module_name,
    import_module,
    is_file_path,
    split_name,
)
from ._loading import load_definition as _load_value
from ._progress import Progress
from ._vocabulary import RESTART_WORDS, parse_uuid_prefix
from .engine import Callbacks, get_logger
from .engine_db import ObjectStatus, WorkflowStatus
from .errors import WorkflowAPIError, WorkflowDefinitionError
from .utils import classproperty
from .version import __version__

__all__ = (
    "DEFAULT_DB",
    "EXIT_ERROR",
    "EXIT_FAILURE",
    "EXIT_HALTED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "IMPORTS_VARIABLE",
    "CommandError",
    "build_parser",
    "format_table",
    "iter_data",
    "load_definition",
    "main",
    "parse_data",
    "parse_duration",
    "parse_moment",
    "read_data",
)

EXIT_OK = 0
"""The command succeeded; a workflow it ran is COMPLETED."""
EXIT_FAILURE = 1
"""The command failed (bad definition, data or uuid; database error)."""
EXIT_USAGE = 2
"""The command line could not be parsed."""
EXIT_HALTED = 3
"""The workflow the command ran is HALTED."""
EXIT_ERROR = 4
"""A task of the workflow the command ran failed: it is in ERROR."""
EXIT_INTERRUPTED = 130
"""The command was interrupted (Ctrl-C, ``SIGINT``)."""

DEFAULT_DB = "sqlite:///workflow.db"
"""The database used without ``--db`` and ``WORKFLOW_DB``."""

IMPORTS_VARIABLE = "WORKFLOW_IMPORTS"
"""The environment variable naming modules to import first, like ``--import``."""

SHOW_LIMIT = 20
"""How many objects ``show`` lists without ``--limit``."""

_STATUS_EXIT = {
    "COMPLETED": EXIT_OK,
    "HALTED": EXIT_HALTED,
    "ERROR": EXIT_ERROR,
}
_CELL_WIDTH = 60
_NO_DATA = object()
# The first line of a top-level traceback, and the margin of its lines.
_TRACEBACK_HEADERS = {
    "Traceback (most recent call last):": "",
    "  + Exception Group Traceback (most recent call last):": "  | ",
}
_DURATION_PART = re.compile(r"(\d+)([smhdw])")
_DURATION = re.compile(r"^(?:\d+[smhdw])+$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class CommandError(Exception):
    """A failure the command reports as one line on stderr (exit status 1)."""


# --------------------------------------------------------------------------
# Definitions


def load_definition(spec: str, module_name: str | None = None) -> tuple[str, list[Any]]:
    """Import the definition named by ``spec`` and return its name and tasks.

    :param spec: ``"package.module:attribute"`` or
        ``"path/to/file.py:attribute"``; the attribute may be dotted
        (``"module:Class.workflow"``) and must be a list of tasks, or a class
        (any object) whose ``workflow`` attribute is one. Modules are also
        looked for in the current directory.
    :param module_name: for a file, the module name to import it under
        (a moved file keeps the module name of its old path).
    :returns: the name to save with a workflow (``spec`` with the file path
        made absolute, so that another process can import it again) and the
        task list.
    :raises CommandError: naming what is wrong with ``spec``.
    """
    _allow_current_directory()
    try:
        value = _load_value(spec, module_name=module_name)
        return absolute_name(spec), definition_tasks(spec, value)
    except WorkflowDefinitionError as exc:
        raise CommandError(exc.message) from exc


def _import_modules(names: Sequence[str], origin: str) -> None:
    """Import the modules that register definitions by name.

    :param origin: how to name where the names came from, in errors.
    :raises CommandError: naming the module and why it did not import.
    """
    for name in names:
        try:
            import_module(name)
        except DefinitionNotFoundError as exc:
            raise CommandError(f"{origin} {name}: {exc.message}") from exc


def _imports_of_environment() -> list[str]:
    """The modules ``WORKFLOW_IMPORTS`` names, separated by commas or spaces."""
    return [
        name
        for name in re.split(r"[,\s]+", os.environ.get(IMPORTS_VARIABLE, ""))
        if name
    ]


# --------------------------------------------------------------------------
# Data


def _decode(raw: bytes, shown: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CommandError(f"{shown} line {line}: not UTF-8 text") from exc


def _json_lines(text: str, shown: str) -> list[Any]:
    items = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise CommandError(
                f"{shown} line {number}: invalid JSON ({exc.msg}, column {exc.colno})"
            ) from exc
    return items


def parse_data(text: str, shown: str = "<data>") -> list[Any]:
    """Return the objects given as JSON text: a JSON array, or JSON Lines.

    The text is a JSON array when its first non-blank character is ``[`` and
    the whole text is one JSON value; the array's items are the objects.
    Otherwise it is JSON Lines: each non-blank line is one JSON value, one
    object. Blank text gives no objects.

    :param text: the data.
    :param shown: how to name the data in errors (a file name).
    :raises CommandError: naming the line of the first invalid JSON.
    """
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as whole:
            first_line = stripped.splitlines()[0]
            try:
                json.loads(first_line)
            except json.JSONDecodeError:
                # Not JSON Lines either: report where the array breaks.
                raise CommandError(
                    f"{shown} line {whole.lineno}: invalid JSON"
                    f" ({whole.msg}, column {whole.colno})"
                ) from whole
        else:
            return list(value)
    return _json_lines(text, shown)


def read_data(source: str | None, stdin: TextIO | None = None) -> list[Any]:
    """Read the objects to process from a file, or from stdin for ``"-"``.

    See :func:`parse_data` for the formats. ``None`` gives no objects.

    :param source: a file path, ``"-"`` or ``None``.
    :param stdin: the stream ``"-"`` reads (default :data:`sys.stdin`).
    :raises CommandError: when the file cannot be read or holds invalid JSON.
    """
    if source is None:
        return []
    if source == "-":
        stream = stdin if stdin is not None else sys.stdin
        raw = stream.buffer.read() if hasattr(stream, "buffer") else stream.read()
        shown = "<stdin>"
    else:
        shown = source
        try:
            raw = Path(source).read_bytes()
        except OSError as exc:
            raise CommandError(
                f"cannot read data file {source!r}: {exc.strerror or exc}"
            ) from exc
    text = raw if isinstance(raw, str) else _decode(raw, shown)
    return parse_data(text, shown)


def _numbered_lines(stream: Any, shown: str) -> Iterator[tuple[int, str]]:
    """Yield ``(line number, text)`` for each line of a text or binary stream.

    The text comes without its line ending, so that JSON errors name the
    column on that line.
    """
    for number, raw in enumerate(stream, start=1):
        if isinstance(raw, str):
            line = raw
        else:
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise CommandError(f"{shown} line {number}: not UTF-8 text") from exc
        if line.endswith("\n"):
            line = line[:-1]
        if line.endswith("\r"):
            line = line[:-1]
        yield number, line


def _stream_values(stream: Any, shown: str) -> Iterator[Any]:
    """Yield the objects of ``stream``, with the formats of :func:`parse_data`.

    JSON Lines are read one line at a time. A text whose first line is an
    unfinished JSON value (an array over several lines) is one JSON value,
    so it is read whole, and what was read so far goes with it.
    """
    lines = _numbered_lines(stream, shown)
    consumed = []
    for number, line in lines:
        consumed.append(line)
        if not line.strip():
            continue
        if line.lstrip().startswith("["):
            try:
                first = json.loads(line)
            except json.JSONDecodeError:
                consumed.extend(text for _, text in lines)
                yield from parse_data("\n".join(consumed), shown)
                return
            following = next(((n, text) for n, text in lines if text.strip()), None)
            if following is None:
                # The whole text is this one array: its items are the objects.
                yield from first
                return
            yield first
            number, line = following
        yield _json_line(line, number, shown)
        break
    for number, line in lines:
        if line.strip():
            yield _json_line(line, number, shown)


def _json_line(line: str, number: int, shown: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        raise CommandError(
            f"{shown} line {number}: invalid JSON ({exc.msg}, column {exc.colno})"
        ) from exc


def iter_data(source: str | None, stdin: TextIO | None = None) -> Iterator[Any]:
    """Yield the objects to process from a file, or from stdin for ``"-"``.

    The formats are those of :func:`parse_data` and :func:`read_data`, but
    JSON Lines are read as a stream, a line at a time, so that a file of
    any length is never held in memory whole. ``None`` gives no objects.

    :param source: a file path, ``"-"`` or ``None``.
    :param stdin: the stream ``"-"`` reads (default :data:`sys.stdin`).
    :raises CommandError: when the file cannot be read or holds invalid JSON
        (raised as the iteration gets there).
    """
    if source is None:
        return
    if source == "-":
        stream = stdin if stdin is not None else sys.stdin
        yield from _stream_values(getattr(stream, "buffer", stream), "<stdin>")
        return
    try:
        data_file = open(source, "rb")  # noqa: SIM115 (closed below, as it ends)
    except OSError as exc:
        raise CommandError(
            f"cannot read data file {source!r}: {exc.strerror or exc}"
        ) from exc
    with data_file:
        yield from _stream_values(data_file, source)


# --------------------------------------------------------------------------
# Storage


def _storage() -> Any:
    try:
        import workflow.storage as storage
    except ImportError as exc:
        raise CommandError(
            f"the workflow database needs SQLAlchemy ({exc}): install it with"
            " pip install 'workflow[sqlalchemy]'"
        ) from exc
    return storage


def _shown_url(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def _database_error(exc: BaseException) -> bool:
    try:
        from sqlalchemy.exc import SQLAlchemyError
    except ImportError:
        return False
    return isinstance(exc, SQLAlchemyError)


def _missing_driver(url: str, exc: BaseException) -> str | None:
    """What to install when opening ``url`` failed for want of its driver."""
    missing = exc if isinstance(exc, ModuleNotFoundError) else exc.__cause__
    if not isinstance(missing, ModuleNotFoundError) or missing.name is None:
        return None
    shown = _shown_url(url)
    if not shown.startswith("postgresql"):
        return (
            f"the database URL {shown!r} needs the Python module"
            f" {missing.name!r}, which is not installed: install it"
        )
    if missing.name.split(".")[0] == "psycopg":
        return (
            f"the database URL {shown!r} needs the PostgreSQL driver psycopg,"
            " which is not installed: install it with"
            " pip install 'workflow[postgresql]'"
        )
    return (
        f"the database URL {shown!r} needs the PostgreSQL driver"
        f" {missing.name!r}, which is not installed: install the driver the"
        " storage is tested with, pip install 'workflow[postgresql]', and"
        " write the URL as 'postgresql+psycopg://...'"
    )


def _open_store(url: str, *, create: bool, prepare: bool = True) -> Any:
    """Open the store at ``url``; only ``create`` may create a new SQLite file.

    ``prepare`` creates the tables of an empty database and checks the
    schema revision of any other (the ``db`` commands look at it themselves).
    """
    storage = _storage()
    try:
        store = storage.WorkflowStore(url)
    except Exception as exc:
        message = _missing_driver(url, exc)
        if message is not None:
            raise CommandError(message) from exc
        raise CommandError(f"bad database URL {_shown_url(url)!r}: {exc}") from exc
    database = store.url.database
    if (
        not create
        and store.url.get_backend_name() == "sqlite"
        and database not in (None, "", ":memory:")
        and not database.startswith("file:")
        and not os.path.exists(database)
    ):
        raise CommandError(
            f"no workflow database at {database!r}: run a workflow first, or"
            " point --db (or WORKFLOW_DB) at the right database"
        )
    if not prepare:
        return store
    try:
        store.create_all()
    except Exception as exc:
        store.dispose()
        if _database_error(exc):
            raise CommandError(
                f"cannot use database {_shown_url(url)!r}: {_first_line(exc)}"
            ) from exc
        raise
    return store


def _allow_current_directory() -> None:
    # Like `python -m`, let definitions live in the current directory.
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())


def _preload(name: str) -> None:
    """Import a saved definition name shaped like an import path, clearly.

    The registry would import it too; loading it here first gives the
    command line's one-line errors, and registers the very list loaded.
    """
    if ":" not in name:
        return
    _, tasks = load_definition(name)
    _storage().registry.register(name, tasks)


def _use_definition(stored_name: str, spec: str) -> None:
    """Register the definition ``spec`` under a stored workflow's name.

    A file that moved is imported under the module name of its old path, so
    that its tasks keep the qualified names the stored fingerprint was
    computed from.
    """
    module_name = None
    try:
        new_module, _ = split_name(spec)
        old_module, _ = split_name(stored_name)
    except DefinitionNotFoundError:
        old_module = new_module = ""
    if is_file_path(new_module) and is_file_path(old_module):
        module_name = file_module_name(os.path.abspath(old_module))
    _, tasks = load_definition(spec, module_name)
    _storage().registry.register(stored_name, tasks)


def _resolve(storage: Any, store: Any, text: str) -> str:
    """The uuid of the stored workflow that ``text`` (a uuid or its start) names."""
    return str(storage.resolve_uuid(text, store))


def _definition_for(name: str) -> list[Any] | None:
    """The definition's tasks, to name positions; ``None`` when not loadable."""
    if ":" in name:
        try:
            return load_definition(name)[1]
        except CommandError:
            return None
    registry = _storage().registry
    return list(registry.get(name)) if name in registry else None


@functools.cache
def _engine_class() -> Any:
    """The stored engine, telling the run's :class:`Progress` where it is.

    Made once per process (engines keep their loggers and compiled
    definitions by class).

    Each engine of this class has a ``progress`` attribute; engines a task
    makes of the same class (``PARALLEL_SPLIT``) have none and count nothing.
    """
    _storage()
    from .storage.engine import StoredProcessingFactory, StoredWorkflowEngine

    def counted(eng: Any, done: int, total: int | None = None) -> None:
        progress = getattr(eng, "progress", None)
        if progress is None:
            return
        if total is None:
            progress.at(done)
        else:
            progress.begin(total, done)

    class CountingFactory(StoredProcessingFactory):
        @staticmethod
        def before_processing(eng: Any, objects: Any) -> None:
            StoredProcessingFactory.before_processing(eng, objects)
            counted(eng, eng.state.token_pos + 1, len(objects))

        @staticmethod
        def before_object(eng: Any, objects: Any, obj: Any) -> None:
            StoredProcessingFactory.before_object(eng, objects, obj)
            counted(eng, eng.state.token_pos)

        @staticmethod
        def after_object(eng: Any, objects: Any, obj: Any) -> None:
            StoredProcessingFactory.after_object(eng, objects, obj)
            counted(eng, eng.state.token_pos + 1)

    class CommandLineEngine(StoredWorkflowEngine):
        @classproperty
        def processing_factory(cls) -> Any:
            return CountingFactory

        def init_logger(self) -> logging.Logger:
            # Log as the stored engine: the counting is no business of the
            # application's logging configuration.
            stored = StoredWorkflowEngine
            return get_logger(f"{stored.__module__}.{stored.__qualname__}")

    return CommandLineEngine


# --------------------------------------------------------------------------
# Output


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _exception_line(exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _write_json(out: TextIO, value: Any) -> None:
    out.write(json.dumps(value, ensure_ascii=False) + "\n")


def _error_summary(text: str | None) -> str:
    """The line of a saved traceback that names the exception.

    It is the first line past the frames of the last top-level traceback:
    chained exceptions print theirs first, and an exception group prints
    its own in a ``|`` margin, its sub-exceptions further in. Text that is
    no traceback gives its first line.
    """
    if not text:
        return "-"
    # Not stripped: an exception group's header starts with spaces.
    lines = [line for line in text.splitlines() if line.strip()]
    headers = [index for index, line in enumerate(lines) if line in _TRACEBACK_HEADERS]
    if headers:
        start = headers[-1]
        margin = _TRACEBACK_HEADERS[lines[start]]
        for line in lines[start + 1 :]:
            rest = line[len(margin) :]
            if line.startswith(margin) and rest[:1].strip():
                return rest
    return lines[0] if lines else "-"


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    text = " ".join(str(value).split())
    if len(text) > _CELL_WIDTH:
        return text[: _CELL_WIDTH - 3] + "..."
    return text


def _when(moment: datetime.datetime) -> str:
    """A moment in UTC, labelled as such."""
    utc = moment.astimezone(datetime.timezone.utc)
    return utc.strftime("%Y-%m-%d %H:%M:%S UTC")


def format_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()
) -> str:
    """Return rows as a plain-text table: a header line, then one line per row.

    Columns are as wide as their widest cell and separated by two spaces;
    the columns whose indexes are in ``right`` are right-aligned; trailing
    spaces are removed.
    """
    widths = [
        max(len(header), *(len(row[index]) for row in rows)) if rows else len(header)
        for index, header in enumerate(headers)
    ]
    lines = []
    for row in [list(headers), *rows]:
        cells = [
            cell.rjust(width) if index in right else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(row, widths))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def _task_at(tasks: list[Any], position: Sequence[int]) -> Any:
    item: Any = list(Callbacks.cleanup_callables(tasks))
    for index in position:
        if not isinstance(item, (list, tuple)) or not 0 <= index < len(item):
            return None
        item = item[index]
    return None if isinstance(item, (list, tuple)) else item


def _task_label(tasks: list[Any] | None, obj: Any) -> str:
    """Where a halted or failed object stopped: its position and task name."""
    if obj.status.name not in ("HALTED", "ERROR"):
        return "-"
    label = str(obj.callback_pos)
    found = _task_at(tasks, obj.callback_pos) if tasks else None
    if found is not None:
        label += " " + graph.task_label(found)
    return label


def _print_result(result: Any, out: TextIO, as_json: bool) -> int:
    status = result.status.name
    if as_json:
        _write_json(out, result.to_dict())
    else:
        out.write(f"uuid: {result.uuid}\nstatus: {status}\n")
        if result.halted_message:
            out.write(f"halted: {' '.join(result.halted_message.split())}\n")
        if result.error:
            out.write(f"error: {result.error}\n")
    out.flush()
    return _STATUS_EXIT.get(status, EXIT_FAILURE)


def parse_duration(text: str) -> datetime.timedelta:
    """Return a duration written as ``30s``, ``15m``, ``2h``, ``7d``, ``2w``, ``1h30m``.

    :raises argparse.ArgumentTypeError: for anything else.
    """
    compact = text.strip().lower()
    if not _DURATION.match(compact):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration: write a number and a unit, s, m, h, d"
            " or w (e.g. 30m, 12h, 7d, 1h30m)"
        )
    seconds = sum(
        int(number) * _UNIT_SECONDS[unit]
        for number, unit in _DURATION_PART.findall(compact)
    )
    return datetime.timedelta(seconds=seconds)


def parse_moment(text: str) -> datetime.datetime:
    """Return the moment a duration ago (``2h``), or at an ISO 8601 date and time.

    A date or time without a zone is taken as UTC.

    :raises argparse.ArgumentTypeError: when ``text`` is neither.
    """
    try:
        return datetime.datetime.now(datetime.timezone.utc) - parse_duration(text)
    except argparse.ArgumentTypeError:
        pass
    try:
        moment = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a duration (e.g. 30m, 12h, 7d) nor a date and"
            " time (e.g. 2026-11-27 or 2026-11-27T08:00:00+01:00)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment


def _uuid_argument(text: str) -> str:
    try:
        return parse_uuid_prefix(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _confirm(question: str) -> None:
    """Ask ``question`` on stderr; go on only if stdin answers yes.

    :raises CommandError: for any other answer, or none.
    """
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline() if sys.stdin is not None else ""
    if sys.stdin is None or not sys.stdin.isatty():
        # A terminal echoes the answer; show a piped one the same way.
        sys.stderr.write(answer.strip() + "\n")
    if answer.strip().lower() not in ("y", "yes"):
        raise CommandError("not confirmed: nothing deleted (answer y, or pass --yes)")


# --------------------------------------------------------------------------
# Running


def _interrupted(storage: Any, eng: Any) -> int:
    """Report a run cut short by Ctrl-C, leaving its workflow resumable."""
    if eng is None:
        sys.stderr.write("workflow: interrupted before the workflow was stored\n")
        return EXIT_INTERRUPTED
    uuid = eng.db_obj.uuid
    try:
        # A second Ctrl-C must not cut the release short.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: no signal handling there
        previous = None
    try:
        position = storage.release_interrupted(eng)
        status = storage.get_workflow(uuid, eng.db_obj.store).status.name
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    where = "" if position is None else f" at object {position}"
    sys.stderr.write(
        f"workflow: interrupted: workflow {uuid} is {status}{where};"
        f" `workflow resume {uuid}` goes on from there\n"
    )
    return EXIT_INTERRUPTED


def _run_engine(
    args: argparse.Namespace,
    out: TextIO,
    make: Callable[[Any], Any],
    action: Callable[[Any], object],
) -> int:
    """Build an engine with ``make(engine_class)`` and run ``action(engine)``.

    The progress display follows the run on stderr; Ctrl-C leaves the
    workflow so that a plain ``resume`` goes on with it.
    """
    storage = _storage()
    progress = Progress(sys.stderr, args.command)
    eng = None
    try:
        eng = make(_engine_class())
        eng.progress = progress
        with progress:
            result = storage.run_engine(eng, lambda: action(eng))
    except KeyboardInterrupt:
        return _interrupted(storage, eng)
    return _print_result(result, out, args.json)


# --------------------------------------------------------------------------
# Commands


def _cmd_run(args: argparse.Namespace, out: TextIO) -> int:
    name, tasks = load_definition(args.definition)
    # The data are streamed into the database; the first object is read
    # now, so that a missing or unreadable file is refused before a
    # database is created for it.
    values = iter_data(args.data)
    first = next(values, _NO_DATA)
    data = iter(()) if first is _NO_DATA else itertools.chain([first], values)
    store = _open_store(args.db, create=True)
    try:
        _storage().registry.register(name, tasks)
        return _run_engine(
            args,
            out,
            lambda engine: engine.with_name(name, store, data=data),
            lambda eng: eng.process(),
        )
    finally:
        store.dispose()


def _rerun(
    args: argparse.Namespace, out: TextIO, action: Callable[[Any], object]
) -> int:
    """Run ``action(engine)`` on the stored workflow ``args.uuid``.

    Its definition is loaded first (from ``--definition`` when given), so
    that a file-path name resolves in this process.
    """
    store = _open_store(args.db, create=False)
    try:
        storage = _storage()
        uuid = _resolve(storage, store, args.uuid)
        name = storage.get_workflow(uuid, store).name
        if args.definition is None:
            _preload(name)
        else:
            _use_definition(name, args.definition)
        try:
            return _run_engine(
                args, out, lambda engine: engine.from_uuid(uuid, store), action
            )
        except storage.DefinitionChangedError as exc:
            if args.definition is None:
                raise
            raise CommandError(
                f"--definition {args.definition!r} is not the definition workflow"
                f" {uuid} was saved with (its tasks or their nesting differ):"
                " pass --allow-changed-definition to run it anyway"
            ) from exc
    finally:
        store.dispose()


def _claim_options(args: argparse.Namespace) -> dict[str, bool]:
    """The take-over options of ``resume`` and ``restart``, as keywords."""
    return {
        "take_over": args.take_over,
        "allow_changed_definition": args.allow_changed_definition,
        "force": args.force,
    }


def _cmd_resume(args: argparse.Namespace, out: TextIO) -> int:
    return _rerun(args, out, lambda eng: eng.resume(**_claim_options(args)))


def _cmd_restart(args: argparse.Namespace, out: TextIO) -> int:
    return _rerun(
        args,
        out,
        lambda eng: eng.restart(args.object, args.task, **_claim_options(args)),
    )


def _add_claim_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--take-over",
        action="store_true",
        help="take over a RUNNING workflow whose process stopped showing it is"
        " alive (its lease expired)",
    )
    parser.add_argument(
        "--allow-changed-definition",
        action="store_true",
        help="run it even if its definition changed since it was saved",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="both, and take over a RUNNING workflow even while its lease runs",
    )


def _cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    store = _open_store(args.db, create=False)
    try:
        infos = _storage().list_workflows(
            store,
            status=args.status,
            name=args.name,
            since=args.since,
            limit=args.limit,
        )
    finally:
        store.dispose()
    if args.json:
        _write_json(out, [info.to_dict() for info in infos])
        return EXIT_OK
    rows = [
        [
            info.uuid,
            info.name,
            info.status.name,
            str(info.object_count),
            str(info.halted_count),
            str(info.error_count),
            _when(info.modified),
        ]
        for info in infos
    ]
    headers = ["uuid", "name", "status", "objects", "halted", "errors", "modified"]
    out.write(format_table(headers, rows, right=(3, 4, 5)))
    return EXIT_OK


def _show_object(
    storage: Any, store: Any, uuid: str, args: argparse.Namespace, out: TextIO
) -> int:
    info = storage.get_workflow(uuid, store)
    obj = storage.get_object(uuid, args.object, store)
    if args.json:
        _write_json(out, obj.to_dict())
        return EXIT_OK

    def shown(value: Any) -> str:
        return "-" if value is None else json.dumps(value, ensure_ascii=False)

    fields = [
        ("workflow", uuid),
        ("position", str(obj.position)),
        ("status", obj.status.name),
        ("task", _task_label(_definition_for(info.name), obj)),
        ("halt message", "-" if obj.halt_message is None else obj.halt_message),
        ("halt action", "-" if obj.halt_action is None else obj.halt_action),
        ("halt payload", shown(obj.halt_payload)),
        ("data", shown(obj.data)),
        ("extra data", shown(obj.extra_data)),
    ]
    for label, value in fields:
        out.write(f"{label + ':':<14}{value}\n")
    if obj.error_message:
        out.write("error:\n" + obj.error_message.rstrip("\n") + "\n")
    else:
        out.write(f"{'error:':<14}-\n")
    return EXIT_OK


_BARE_DETAIL = re.compile(r"^[\w.:/@+-]+$")


def _detail(value: Any) -> str:
    """A detail's value: a plain word as it is, anything else as compact JSON."""
    if isinstance(value, str) and _BARE_DETAIL.match(value):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _details(details: Any) -> str:
    """An event's details on one line: ``key=value`` pairs, ``-`` when none.

    JSON escapes the line breaks of a value, so each event stays one line.
    """
    if not details:
        return "-"
    if not isinstance(details, dict):
        return _detail(details)
    return " ".join(f"{key}={_detail(value)}" for key, value in details.items())


def _event_time(moment: datetime.datetime) -> str:
    """An event's time in UTC to the millisecond, labelled as such."""
    utc = moment.astimezone(datetime.timezone.utc)
    return utc.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def _show_history(
    storage: Any, store: Any, uuid: str, args: argparse.Namespace, out: TextIO
) -> int:
    if args.status is not None:
        raise CommandError(
            "--status picks objects to list, not events: drop it, or use"
            " --object POSITION for one object's events"
        )
    if args.object is not None:
        # Refuses a position the workflow does not have, naming those it has.
        storage.get_object(uuid, args.object, store)
    limit = SHOW_LIMIT if args.limit is None else (args.limit or None)
    # The newest events, which say where the workflow is now; one event
    # more than shown tells whether older ones were left out.
    entries = storage.workflow_history(
        uuid,
        store,
        position=args.object,
        limit=None if limit is None else limit + 1,
        latest=True,
    )
    more = limit is not None and len(entries) > limit
    if more:
        entries = entries[1:]
    if args.json:
        _write_json(out, [entry.to_dict() for entry in entries])
        return EXIT_OK
    rows = [
        [
            _event_time(entry.time),
            entry.event,
            "-" if entry.position is None else str(entry.position),
            _cell(entry.actor),
            _cell(entry.message_id),
            _details(entry.details),
        ]
        for entry in entries
    ]
    headers = ["time", "event", "position", "actor", "message id", "details"]
    out.write(format_table(headers, rows, right=(2,)))
    if more:
        out.write(
            f"\nthe last {_count(len(entries), 'event')} shown: --limit N shows"
            " more (0: all), --object POSITION one object's\n"
        )
    return EXIT_OK


def _cmd_show(args: argparse.Namespace, out: TextIO) -> int:
    store = _open_store(args.db, create=False)
    try:
        storage = _storage()
        uuid = _resolve(storage, store, args.uuid)
        if args.history:
            return _show_history(storage, store, uuid, args, out)
        if args.object is not None:
            return _show_object(storage, store, uuid, args, out)
        info = storage.get_workflow(uuid, store)
        counts = storage.count_objects(uuid, store)
        limit = SHOW_LIMIT if args.limit is None else (args.limit or None)
        objects = storage.list_objects(uuid, store, status=args.status, limit=limit)
    finally:
        store.dispose()
    if args.status is None:
        matching = sum(counts.values())
    else:
        matching = counts[ObjectStatus[args.status]]
    if args.json:
        _write_json(
            out,
            {
                "workflow": info.to_dict(),
                "object_counts": {
                    status.name: count for status, count in counts.items()
                },
                "objects": [obj.to_dict() for obj in objects],
                "objects_matching": matching,
            },
        )
        return EXIT_OK
    tasks = _definition_for(info.name)
    by_status = ", ".join(
        f"{count} {status.name}" for status, count in counts.items() if count
    )
    total = sum(counts.values())
    summary = [
        ["uuid", info.uuid],
        ["name", info.name],
        ["status", info.status.name],
        ["created", _when(info.created)],
        ["modified", _when(info.modified)],
        ["objects", f"{total} ({by_status})" if total else "0"],
    ]
    for label, value in summary:
        out.write(f"{label + ':':<10}{value}\n")
    out.write("\n")
    rows = [
        [
            str(obj.position),
            obj.status.name,
            _task_label(tasks, obj),
            _cell(obj.halt_message),
            _cell(_error_summary(obj.error_message)),
        ]
        for obj in objects
    ]
    headers = ["position", "status", "task", "halt message", "error"]
    out.write(format_table(headers, rows, right=(0,)))
    if len(objects) < matching:
        which = f" {args.status}" if args.status else ""
        out.write(
            f"\n{len(objects)} of {matching}{which} objects shown: --limit N shows"
            " more (0: all), --status STATUS some, --object POSITION one in full\n"
        )
    return EXIT_OK


def _stopped_position(storage: Any, store: Any, uuid: str) -> list[int] | None:
    """Where a stored workflow stopped: its last halted (or failed) object's task."""
    for wanted in (("HALTED", "ERROR"), ("RUNNING",)):
        stopped: list[Any] = []
        for status in wanted:
            stopped += storage.list_objects(uuid, store, status=status)
        if stopped:
            last = max(stopped, key=lambda obj: obj.position)
            return list(last.callback_pos)
    return None


def _cmd_graph(args: argparse.Namespace, out: TextIO) -> int:
    target = args.target
    highlight = None
    if ":" in target:
        tasks = load_definition(target)[1]
    else:
        try:
            target = parse_uuid_prefix(target)
        except ValueError:
            raise CommandError(
                f"TARGET {target!r} is neither a definition"
                " ('package.module:attribute' or 'path/to/file.py:attribute')"
                " nor a workflow uuid (or its first characters)"
            ) from None
        store = _open_store(args.db, create=False)
        try:
            storage = _storage()
            uuid = _resolve(storage, store, target)
            info = storage.get_workflow(uuid, store)
            highlight = _stopped_position(storage, store, uuid)
            if ":" in info.name:
                tasks = load_definition(info.name)[1]
            else:
                tasks = storage.registry.get(info.name)
        finally:
            store.dispose()
    if args.format == "png" and args.output is None:
        if out.isatty():
            raise CommandError("PNG output is binary: write it to a file with --output")
        if getattr(out, "buffer", None) is None:
            raise CommandError(
                "PNG output is binary and this output takes only text: write it"
                " to a file with --output"
            )
    try:
        drawing = graph.render(tasks, args.format, args.output, highlight=highlight)
    except graph.GraphvizNotFoundError as exc:
        raise CommandError(str(exc)) from exc
    except OSError as exc:
        raise CommandError(
            f"cannot write {args.output!r}: {exc.strerror or exc}"
        ) from exc
    if args.output is None:
        out.flush()
        buffer = getattr(out, "buffer", None)
        if buffer is not None:
            buffer.write(drawing)
            buffer.flush()
        else:
            out.write(drawing.decode())
    return EXIT_OK


def _cmd_delete(args: argparse.Namespace, out: TextIO) -> int:
    store = _open_store(args.db, create=False)
    try:
        storage = _storage()
        uuid = _resolve(storage, store, args.uuid)
        info = storage.get_workflow(uuid, store)
        if not args.yes:
            _confirm(
                f"delete workflow {uuid} ({info.name}, {info.status.name},"
                f" {_count(info.object_count, 'object')})?"
            )
        try:
            storage.delete_workflow(uuid, store, force=args.force)
        except storage.WorkflowBusyError as exc:
            raise CommandError(
                f"workflow {uuid} is RUNNING: it is not deleted; if its process"
                " died, delete it with --force"
            ) from exc
    finally:
        store.dispose()
    if args.json:
        _write_json(out, {"deleted": [uuid]})
    else:
        out.write(f"deleted: {uuid}\n")
    return EXIT_OK


def _cmd_prune(args: argparse.Namespace, out: TextIO) -> int:
    before = datetime.datetime.now(datetime.timezone.utc) - args.older_than
    store = _open_store(args.db, create=False)
    try:
        storage = _storage()
        matching = storage.list_workflows(store, status=args.status, before=before)
        deleted: list[str] = []
        if matching:
            if not args.yes:
                _confirm(
                    f"delete {_count(len(matching), args.status + ' workflow')}"
                    f" last saved before {_when(before)}?"
                )
            deleted = storage.prune_workflows(store, status=args.status, before=before)
    finally:
        store.dispose()
    if args.json:
        _write_json(out, {"deleted": deleted})
    else:
        out.write(f"deleted {_count(len(deleted), 'workflow')}\n")
    return EXIT_OK


def _print_schema(store: Any, status: Any, out: TextIO) -> int:
    out.write(
        f"database: {store.url.render_as_string(hide_password=True)}\n"
        f"current: {status.shown_current}\nhead: {status.head}\n"
        f"state: {status.state}\n"
    )
    return EXIT_OK


def _cmd_db(args: argparse.Namespace, out: TextIO) -> int:
    action = args.db_command
    store = _open_store(args.db, create=action == "upgrade", prepare=False)
    try:
        schema = _storage().schema
        if action == "current":
            status = schema.schema_status(store)
        elif action == "upgrade":
            status = schema.upgrade(store, args.revision)
        else:
            try:
                status = schema.downgrade(store, args.revision)
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
        return _print_schema(store, status, out)
    finally:
        store.dispose()


# --------------------------------------------------------------------------
# Command line


_DESCRIPTION = """\
Run workflow definitions over JSON data, keep them in a database, and
inspect, resume, restart, draw or delete them.
"""

_MAIN_EPILOG = """\
example:
  workflow run examples/grades.py:workflow --data examples/grades.jsonl
  workflow list --status halted
  workflow resume 0b6f6a1e

exit status: 0 completed, 1 failure, 2 bad command line, 3 halted, 4 error,
130 interrupted.
database: --db URL, else $WORKFLOW_DB, else sqlite:///workflow.db (here).
definitions registered by name: --import MODULE, or $WORKFLOW_IMPORTS.
UUID: a workflow's uuid, or enough of its first characters to tell it apart.
"""

_RUN_EPILOG = """\
DEFINITION is 'package.module:attribute' or 'path/to/file.py:attribute': a
list of tasks, or a class whose `workflow` attribute is one.

DATA is a JSON array (the text starts with '[' and is one JSON value) or JSON
Lines (one JSON value per line); '-' reads stdin. Each value is one object.

On a terminal, progress is shown on stderr. Ctrl-C stops the run and leaves
the workflow HALTED at the object it was at: `workflow resume UUID` runs
that object again from its start and goes on.

example:
  workflow run examples/grades.py:workflow --data examples/grades.jsonl
  printf '6\\n4\\n' | workflow run mypackage.flows:grading --data -
"""

_LIST_EPILOG = """\
WHEN is a duration ago (30m, 12h, 7d, 1h30m) or an ISO 8601 date and time
(2026-11-27, 2026-11-27T08:00:00+01:00; UTC when no zone is given).

example:
  workflow list
  workflow list --status halted --since 1d
  workflow list --name grades --limit 10 --json
"""

_SHOW_EPILOG = """\
example:
  workflow show 0b6f6a1e
  workflow show 0b6f6a1e --status halted --limit 100
  workflow show 0b6f6a1e --object 2
  workflow show 0b6f6a1e --history
  workflow show 0b6f6a1e --history --object 2 --json
"""

_RESUME_EPILOG = """\
Continues after the task that halted (or failed); a COMPLETED workflow is
left as it is. A RUNNING workflow is refused: --take-over takes it over
once the process running it stopped showing it is alive (its lease, 5
minutes by default, expired), --force at once (that process, if alive,
stops at its next save). --allow-changed-definition runs a definition that
changed since the workflow was saved; --force does that too.
--definition names the definition to use when its file or module moved; it
must be the one the workflow was saved with (same tasks and nesting),
unless --allow-changed-definition.

example:
  workflow resume 0b6f6a1e
  workflow resume 0b6f6a1e --definition new/place/grades.py:workflow
"""

_RESTART_EPILOG = """\
Moves relative to where the workflow stopped: --object picks the object
(default: current), --task the task in it (default: first). Unlike resume,
it runs a COMPLETED workflow again from there. --take-over,
--allow-changed-definition and --force are those of resume.

example:
  workflow restart 0b6f6a1e --object current --task first
"""

_GRAPH_EPILOG = """\
TARGET is a definition ('module:attribute' or 'file.py:attribute') or the
uuid of a stored workflow, whose halted (or failed) task is highlighted.
png and svg need Graphviz's `dot` program.

example:
  workflow graph examples/grades.py:workflow
  workflow graph examples/grades.py:workflow --format png --output grades.png
"""

_DELETE_EPILOG = """\
Deletes the workflow and its objects, after asking (answer y on stdin), or
at once with --yes. A RUNNING workflow is refused unless --force.

example:
  workflow delete 0b6f6a1e
  workflow delete 0b6f6a1e --yes
"""

_PRUNE_EPILOG = """\
Deletes the workflows with STATUS last saved longer than DURATION ago (30m,
12h, 7d, 2w, 1h30m) and their objects, after asking, or at once with --yes.

example:
  workflow prune --older-than 30d --status completed
  workflow prune --older-than 7d --status error --yes
"""


def _status_name(enum: Any) -> Callable[[str], str]:
    names = list(enum.__members__)

    def parse(text: str) -> str:
        if text.upper() not in names:
            raise argparse.ArgumentTypeError(
                f"invalid choice: {text!r} (choose from {', '.join(names)}, in"
                " any case)"
            )
        return text.upper()

    return parse


def _count_argument(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = -1
    if number < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a count (0, 1, 2, ...)")
    return number


_SERVE_EPILOG = """\
Serves the holding pen, where people resolve halted workflows, until
interrupted. Without --token a token is generated and printed. Options that
hold secrets are better given through their environment variables.

example:
  workflow serve --db sqlite:///workflow.db --import myapp.flows
"""


_DB_EPILOG = """\
The workflow tables carry a schema revision (in the table
workflow_alembic_version). A new version of the package may need a newer
one: the other commands then refuse the database and name the command to
run. `upgrade` also adopts a database made by workflow 2.2.0.

example:
  workflow db current
  workflow db upgrade
  workflow db downgrade 0001
"""


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``workflow`` command."""
    default_db = os.environ.get("WORKFLOW_DB") or DEFAULT_DB
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--db",
        metavar="URL",
        default=argparse.SUPPRESS,
        help=f"database URL (default: $WORKFLOW_DB or {DEFAULT_DB})",
    )
    common.add_argument(
        "--import",
        metavar="MODULE",
        dest="imports",
        action="append",
        default=argparse.SUPPRESS,
        help="import this module first, e.g. one that registers definitions by"
        f" name (repeatable; also ${IMPORTS_VARIABLE}, comma separated)",
    )
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show tracebacks and debug logging",
    )
    json_option = argparse.ArgumentParser(add_help=False)
    json_option.add_argument(
        "--json", action="store_true", help="print JSON instead of text"
    )
    parser = argparse.ArgumentParser(
        prog="workflow",
        description=_DESCRIPTION,
        epilog=_MAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(db=default_db, debug=False, imports=[], json=False)
    parser.add_argument(
        "--db", metavar="URL", default=default_db, help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--import", dest="imports", action="append", help=argparse.SUPPRESS
    )
    parser.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--version",
        action="version",
        version=f"%(prog)s {__version__}",
        help="show the installed version and exit",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    def add(
        name: str, summary: str, epilog: str, *, prints_data: bool = True
    ) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=summary,
            description=summary,
            epilog=epilog,
            parents=[common, json_option] if prints_data else [common],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    workflow_status = _status_name(WorkflowStatus)

    run = add("run", "run a definition over data and save it", _RUN_EPILOG)
    run.add_argument("definition", metavar="DEFINITION")
    run.add_argument(
        "--data", metavar="FILE", help="JSON array or JSON Lines file; '-' for stdin"
    )
    run.set_defaults(handler=_cmd_run)

    listing = add("list", "list the stored workflows", _LIST_EPILOG)
    listing.add_argument(
        "--status",
        type=workflow_status,
        help="only the workflows with this status",
    )
    listing.add_argument(
        "--name", metavar="TEXT", help="only those whose definition name contains TEXT"
    )
    listing.add_argument(
        "--since",
        metavar="WHEN",
        type=parse_moment,
        help="only those saved since WHEN (a duration ago, or a date)",
    )
    listing.add_argument(
        "--limit",
        metavar="N",
        type=_count_argument,
        help="only the N most recently created (listed oldest first)",
    )
    listing.set_defaults(handler=_cmd_list)

    show = add("show", "show a workflow and its objects", _SHOW_EPILOG)
    show.add_argument("uuid", metavar="UUID", type=_uuid_argument)
    show.add_argument(
        "--object",
        metavar="POSITION",
        type=_count_argument,
        help="show this object in full: data, halt, error traceback",
    )
    show.add_argument(
        "--status",
        type=_status_name(ObjectStatus),
        help="only the objects with this status",
    )
    show.add_argument(
        "--limit",
        metavar="N",
        type=_count_argument,
        help=f"list at most N objects, or events (default: {SHOW_LIMIT}; 0: all)",
    )
    show.add_argument(
        "--history",
        action="store_true",
        help="list the workflow's latest events (with --object, that object's),"
        " oldest first",
    )
    show.set_defaults(handler=_cmd_show)

    resume = add("resume", "continue a halted or failed workflow", _RESUME_EPILOG)
    resume.add_argument("uuid", metavar="UUID", type=_uuid_argument)
    _add_claim_options(resume)
    resume.add_argument(
        "--definition",
        metavar="DEFINITION",
        help="the workflow's definition, where it is now",
    )
    resume.set_defaults(handler=_cmd_resume)

    restart = add("restart", "restart a workflow at a chosen place", _RESTART_EPILOG)
    restart.add_argument("uuid", metavar="UUID", type=_uuid_argument)
    restart.add_argument("--object", choices=RESTART_WORDS, default="current")
    restart.add_argument("--task", choices=RESTART_WORDS, default="first")
    _add_claim_options(restart)
    restart.add_argument(
        "--definition",
        metavar="DEFINITION",
        help="the workflow's definition, where it is now",
    )
    restart.set_defaults(handler=_cmd_restart)

    drawing = add(
        "graph", "draw a definition as a flowchart", _GRAPH_EPILOG, prints_data=False
    )
    drawing.add_argument("target", metavar="TARGET")
    drawing.add_argument("--format", choices=graph.FORMATS, default="mermaid")
    drawing.add_argument("--output", metavar="FILE", help="write here, not to stdout")
    drawing.set_defaults(handler=_cmd_graph)

    deleting = add("delete", "delete a workflow and its objects", _DELETE_EPILOG)
    deleting.add_argument("uuid", metavar="UUID", type=_uuid_argument)
    deleting.add_argument("--yes", action="store_true", help="do not ask")
    deleting.add_argument(
        "--force", action="store_true", help="delete it even if it is RUNNING"
    )
    deleting.set_defaults(handler=_cmd_delete)

    prune = add("prune", "delete old workflows of one status", _PRUNE_EPILOG)
    prune.add_argument(
        "--older-than",
        metavar="DURATION",
        type=parse_duration,
        required=True,
        help="last saved longer ago than this",
    )
    prune.add_argument(
        "--status",
        type=workflow_status,
        required=True,
        help="only the workflows with this status",
    )
    prune.add_argument("--yes", action="store_true", help="do not ask")
    prune.set_defaults(handler=_cmd_prune)
    serving = add(
        "serve", "serve the holding pen web page", _SERVE_EPILOG, prints_data=False
    )
    serving.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    serving.add_argument("--port", type=int, default=8000, help="default: 8000")
    serving.add_argument(
        "--token", help="the operator's login token (default: $WORKFLOW_WEB_TOKEN)"
    )
    serving.add_argument(
        "--read-only-token",
        help="a token that may only look (default: $WORKFLOW_WEB_READ_ONLY_TOKEN)",
    )
    serving.add_argument(
        "--secret-key", help="signs the session cookie (default: $WORKFLOW_WEB_SECRET)"
    )
    serving.set_defaults(handler=_cmd_serve)
    database = add("db", "show, upgrade or downgrade the database schema", _DB_EPILOG)
    actions = database.add_subparsers(dest="db_command", metavar="ACTION")
    actions.required = True
    for action, summary in (
        ("current", "show the database's schema revision and the one needed"),
        ("upgrade", "upgrade the schema (default: to the newest revision)"),
        ("downgrade", "downgrade the schema to an older revision"),
    ):
        parser_of_action = actions.add_parser(
            action, help=summary, description=summary, parents=[common]
        )
        if action == "upgrade":
            parser_of_action.add_argument(
                "revision", metavar="REVISION", nargs="?", default="head"
            )
        elif action == "downgrade":
            parser_of_action.add_argument("revision", metavar="REVISION")
    database.set_defaults(handler=_cmd_db)
    return parser


def _cmd_serve(args: argparse.Namespace, out: TextIO) -> int:
    # The web extra is optional: only this command needs it.
    try:
        from .web.serve import serve
    except ImportError as exc:
        raise CommandError(
            f"the holding pen needs the web extra ({exc}): install it with"
            " pip install 'workflow[web]'"
        ) from exc
    try:
        return serve(args, out)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc


def _storage_error_message(exc: BaseException) -> str | None:
    """The command line's wording of the storage errors, or ``None``."""
    # Such an error can only have been raised once the storage was imported.
    errors = sys.modules.get("workflow.storage.errors")
    if errors is None:
        return None
    uuid = getattr(exc, "uuid", None)
    if isinstance(exc, errors.AmbiguousUuidError):
        return str(exc)
    if isinstance(exc, errors.WorkflowNotFoundError):
        return f"no workflow with uuid {uuid!r} in this database (see `workflow list`)"
    if isinstance(exc, errors.DefinitionChangedError):
        return (
            f"the definition {exc.name!r} changed since workflow {uuid} was saved:"
            " pass --allow-changed-definition to run it with the new definition"
            " anyway"
        )
    if isinstance(exc, errors.WorkflowBusyError):
        if exc.lease_expires is None:
            alive = ""
        else:
            alive = (
                f" (last heartbeat {exc.heartbeat:%Y-%m-%d %H:%M:%S} UTC, lease"
                f" until {exc.lease_expires:%Y-%m-%d %H:%M:%S} UTC)"
            )
        return (
            f"workflow {uuid} is RUNNING in another process{alive}; if that"
            " process died, take it over with --take-over once its lease has"
            " expired, or with --force at once"
        )
    if isinstance(exc, errors.UnknownWorkflowError) and ":" not in str(exc.name):
        return (
            f"no workflow definition is registered under {exc.name!r} in this"
            " process: import the module that registers it with --import MODULE"
            f" (or ${IMPORTS_VARIABLE})"
        )
    return None


@contextmanager
def _command_logging(debug: bool) -> Iterator[None]:
    """Set up the ``workflow`` logger for one command, and restore it after.

    An application calling :func:`main` keeps its own logging, and one call
    does not change what the next one logs.
    """
    logger = logging.getLogger("workflow")
    level, propagate = logger.level, logger.propagate
    handler: logging.Handler | None = None
    if debug:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        logger.setLevel(logging.DEBUG)
    elif not logger.handlers:
        # The engine logs halts and errors itself; the command reports them.
        handler = logging.NullHandler()
        logger.propagate = False
    if handler is not None:
        logger.addHandler(handler)
    try:
        yield
    finally:
        if handler is not None:
            logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def _handle(args: argparse.Namespace) -> int:
    imports = _imports_of_environment()
    if imports or args.imports:
        _allow_current_directory()
        _import_modules(imports, IMPORTS_VARIABLE)
        _import_modules(args.imports, "--import")
    return int(args.handler(args, sys.stdout))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``workflow`` command line and return its exit status.

    The ``workflow`` logger's handlers, level and propagation are set for
    the command and restored when it returns.

    :param argv: the arguments (default: ``sys.argv[1:]``).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    with _command_logging(args.debug):
        try:
            return _handle(args)
        except KeyboardInterrupt:
            sys.stderr.write("workflow: interrupted\n")
            return EXIT_INTERRUPTED
        except Exception as exc:
            if args.debug:
                traceback.print_exc()
            message = _storage_error_message(exc)
            if message is None:
                if isinstance(exc, CommandError):
                    message = str(exc)
                elif _database_error(exc):
                    message = f"database error: {_first_line(exc)}"
                elif isinstance(exc, WorkflowAPIError):
                    message = _first_line(exc)
                else:
                    message = _exception_line(exc)
            sys.stderr.write(f"workflow: error: {message}\n")
            return EXIT_FAILURE
