"""The ``workflow`` command line: run, inspect, resume and draw workflows.

Installed as the ``workflow`` console script and runnable as
``python -m workflow``. Workflows are kept in a :mod:`workflow.storage`
database: ``--db URL`` or the ``WORKFLOW_DB`` environment variable, else
``sqlite:///workflow.db`` in the current directory. Every command but
``graph DEFINITION`` needs the ``sqlalchemy`` extra.

Exit status: ``0`` success (the workflow COMPLETED), ``1`` failure (bad
definition, data or uuid, database error), ``2`` bad command line, ``3`` the
workflow HALTED, ``4`` a task failed (the workflow is in ERROR).
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import importlib.util
import itertools
import json
import logging
import os
import re
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from . import graph
from ._loading import NotAPythonFileError, import_file, is_file_path
from .engine import Callbacks
from .engine_db import WorkflowStatus
from .errors import WorkflowAPIError

__all__ = (
    "DEFAULT_DB",
    "EXIT_ERROR",
    "EXIT_FAILURE",
    "EXIT_HALTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "CommandError",
    "build_parser",
    "format_table",
    "iter_data",
    "load_definition",
    "main",
    "parse_data",
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

DEFAULT_DB = "sqlite:///workflow.db"
"""The database used without ``--db`` and ``WORKFLOW_DB``."""

_STATUS_EXIT = {
    "COMPLETED": EXIT_OK,
    "HALTED": EXIT_HALTED,
    "ERROR": EXIT_ERROR,
}
_RESTART_WORDS = ("prev", "current", "next", "first")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_CELL_WIDTH = 60
_NO_DATA = object()
# The first line of a top-level traceback, and the margin of its lines.
_TRACEBACK_HEADERS = {
    "Traceback (most recent call last):": "",
    "  + Exception Group Traceback (most recent call last):": "  | ",
}


class CommandError(Exception):
    """A failure the command reports as one line on stderr (exit status 1)."""


# --------------------------------------------------------------------------
# Definitions


def _import_file(absolute: str, shown: str) -> Any:
    if not os.path.isfile(absolute):
        raise CommandError(f"definition file {shown!r} does not exist")
    try:
        return import_file(absolute)
    except NotAPythonFileError as exc:
        raise CommandError(f"definition file {shown!r} is not a Python file") from exc
    except Exception as exc:
        raise CommandError(
            f"error while loading {shown!r}: {_exception_line(exc)}"
        ) from exc


def _import_module(module_part: str) -> Any:
    # Like `python -m`, let definitions live in the current directory.
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(module_part)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (
            module_part == exc.name or module_part.startswith(exc.name + ".")
        ):
            raise CommandError(
                f"cannot import module {module_part!r}: no module named {exc.name!r}"
                " (is it installed, or in the current directory?)"
            ) from exc
        raise CommandError(
            f"error while importing {module_part!r}: {_exception_line(exc)}"
        ) from exc
    except Exception as exc:
        raise CommandError(
            f"error while importing {module_part!r}: {_exception_line(exc)}"
        ) from exc


def _as_task_list(spec: str, value: Any) -> list[Any]:
    tasks = value
    if not isinstance(tasks, (list, tuple)):
        tasks = getattr(value, "workflow", None)
    if not isinstance(tasks, (list, tuple)):
        raise CommandError(
            f"{spec!r} is {type(value).__name__}, not a workflow definition:"
            " point at a list of tasks, or at a class whose `workflow`"
            " attribute is one"
        )
    if not tasks:
        raise CommandError(f"the definition {spec!r} is empty: give it a task")
    try:
        Callbacks().replace(tasks)
    except TypeError as exc:
        raise CommandError(f"the definition {spec!r} is not valid: {exc}") from exc
    return list(tasks)


def load_definition(spec: str) -> tuple[str, list[Any]]:
    """Import the definition named by ``spec`` and return its name and tasks.

    :param spec: ``"package.module:attribute"`` or
        ``"path/to/file.py:attribute"``; the attribute may be dotted
        (``"module:Class.workflow"``) and must be a list of tasks, or a class
        (any object) whose ``workflow`` attribute is one. Modules are also
        looked for in the current directory.
    :returns: the name to save with a workflow (``spec`` with the file path
        made absolute, so that another process can import it again) and the
        task list.
    :raises CommandError: naming what is wrong with ``spec``.
    """
    module_part, _, attribute = spec.rpartition(":")
    if not module_part or not attribute:
        raise CommandError(
            f"definition {spec!r} must be 'package.module:attribute' or"
            " 'path/to/file.py:attribute'"
        )
    if is_file_path(module_part):
        absolute = os.path.abspath(module_part)
        module = _import_file(absolute, module_part)
        name = f"{absolute}:{attribute}"
    else:
        module = _import_module(module_part)
        name = spec
    value = module
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise CommandError(
                f"{module_part!r} has no attribute {attribute!r}"
            ) from None
    return name, _as_task_list(spec, value)


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


def _open_store(url: str, *, create: bool, prepare: bool = True) -> Any:
    """Open the store at ``url``; only ``create`` may create a new SQLite file.

    ``prepare`` creates the tables of an empty database and checks the
    schema revision of any other (the ``db`` commands look at it themselves).
    """
    storage = _storage()
    try:
        store = storage.WorkflowStore(url)
    except Exception as exc:
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


def _preload(name: str) -> None:
    """Import a saved definition name shaped like an import path, clearly.

    The registry would import it too; loading it here first gives the
    command line's one-line errors, and registers the very list loaded.
    """
    if ":" not in name:
        return
    _, tasks = load_definition(name)
    _storage().registry.register(name, tasks)


# --------------------------------------------------------------------------
# Output


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _exception_line(exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


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


def _when(moment: Any) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


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


def _print_result(result: Any, out: TextIO) -> int:
    status = result.status.name
    out.write(f"uuid: {result.uuid}\nstatus: {status}\n")
    if result.halted_message:
        out.write(f"halted: {' '.join(result.halted_message.split())}\n")
    if result.error:
        out.write(f"error: {result.error}\n")
    out.flush()
    return _STATUS_EXIT.get(status, EXIT_FAILURE)


class _Progress:
    """Shows how far a run is: objects done / total, halted, errors.

    On a terminal the line is redrawn in place (``\\r``) several times a
    second; otherwise a plain line is written at most every few seconds,
    and once at the end. The engine is found through the
    ``workflow_started`` signal, which the stored engine sends with itself
    as sender.
    """

    def __init__(self, out: TextIO, interactive: bool) -> None:
        self.out = out
        self.interactive = interactive
        self.interval = 0.1 if interactive else 2.0
        self.engine: Any = None
        self.shown = ""
        self.width = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def started(self, sender: Any, **kwargs: Any) -> None:
        if self.engine is None and hasattr(sender, "status_counts"):
            self.engine = sender

    def text(self) -> str | None:
        engine = self.engine
        if engine is None:
            return None
        # The stored engine counts its objects by status as it saves them:
        # reading them from this thread would load them all, under its feet.
        counts = engine.status_counts()
        total = sum(counts.values())
        return (
            f"progress: {counts['COMPLETED']}/{total} done,"
            f" halted: {counts['HALTED']}, errors: {counts['ERROR']}"
        )

    def draw(self, final: bool = False) -> None:
        with self.lock:
            text = self.text()
            if text is None or (text == self.shown and not final):
                return
            if self.interactive:
                self.out.write("\r" + text.ljust(self.width))
                self.width = max(self.width, len(text))
                if final:
                    self.out.write("\n")
            elif text != self.shown:
                self.out.write(text + "\n")
            self.shown = text
            self.out.flush()

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            self.draw()

    @contextmanager
    def watching(self) -> Iterator[None]:
        from .signals import workflow_started

        workflow_started.connect(self.started, weak=False)
        thread = threading.Thread(
            target=self.run, name="workflow progress", daemon=True
        )
        thread.start()
        try:
            yield
        finally:
            self.stop.set()
            thread.join(5)
            workflow_started.disconnect(self.started)
            self.draw(final=True)


def _run_with_progress(action: Any, out: TextIO) -> Any:
    progress = _Progress(out, out.isatty())
    with progress.watching():
        return action()


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
        storage = _storage()
        storage.registry.register(name, tasks)
        result = _run_with_progress(lambda: storage.start(name, data, store), out)
        return _print_result(result, out)
    finally:
        store.dispose()


def _run_stored(args: argparse.Namespace, out: TextIO, run: Any) -> int:
    """Run ``run(storage, store)`` on the stored workflow ``args.uuid``.

    Its definition is loaded first, so that a file-path name resolves in
    this process; the result is printed and turned into the exit status.
    """
    store = _open_store(args.db, create=False)
    try:
        storage = _storage()
        _preload(storage.get_workflow(args.uuid, store).name)
        result = _run_with_progress(lambda: run(storage, store), out)
        return _print_result(result, out)
    finally:
        store.dispose()


def _cmd_resume(args: argparse.Namespace, out: TextIO) -> int:
    return _run_stored(
        args,
        out,
        lambda storage, store: storage.resume(args.uuid, store, force=args.force),
    )


def _cmd_restart(args: argparse.Namespace, out: TextIO) -> int:
    return _run_stored(
        args,
        out,
        lambda storage, store: storage.restart(
            args.uuid, store, obj=args.object, task=args.task, force=args.force
        ),
    )


def _cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    store = _open_store(args.db, create=False)
    try:
        infos = _storage().list_workflows(store, status=args.status)
    finally:
        store.dispose()
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


def _task_names(name: str) -> list[Any] | None:
    """The definition's tasks, to name positions; ``None`` when not loadable."""
    try:
        return load_definition(name)[1] if ":" in name else None
    except CommandError:
        return None


def _cmd_show(args: argparse.Namespace, out: TextIO) -> int:
    store = _open_store(args.db, create=False)
    try:
        storage = _storage()
        info = storage.get_workflow(args.uuid, store)
        objects = storage.list_objects(args.uuid, store)
    finally:
        store.dispose()
    tasks = _task_names(info.name)
    summary = [
        ["uuid", info.uuid],
        ["name", info.name],
        ["status", info.status.name],
        ["created", _when(info.created)],
        ["modified", _when(info.modified)],
    ]
    for label, value in summary:
        out.write(f"{label + ':':<10}{value}\n")
    out.write("\n")
    rows = []
    for obj in objects:
        task = "-"
        if obj.status.name in ("HALTED", "ERROR"):
            task = str(obj.callback_pos)
            found = _task_at(tasks, obj.callback_pos) if tasks else None
            if found is not None:
                task += " " + graph.task_label(found)
        rows.append(
            [
                str(obj.position),
                obj.status.name,
                task,
                _cell(obj.halt_message),
                _cell(_error_summary(obj.error_message)),
            ]
        )
    headers = ["position", "status", "task", "halt message", "error"]
    out.write(format_table(headers, rows, right=(0,)))
    return EXIT_OK


def _stopped_position(objects: Sequence[Any]) -> list[int] | None:
    """Where a stored workflow stopped: its last halted (or failed) object's task."""
    for wanted in (("HALTED", "ERROR"), ("RUNNING",)):
        stopped = [obj for obj in objects if obj.status.name in wanted]
        if stopped:
            return list(stopped[-1].callback_pos)
    return None


def _cmd_graph(args: argparse.Namespace, out: TextIO) -> int:
    target = args.target
    highlight = None
    if _UUID.match(target.lower()):
        store = _open_store(args.db, create=False)
        try:
            storage = _storage()
            info = storage.get_workflow(target, store)
            highlight = _stopped_position(storage.list_objects(target, store))
            if ":" in info.name:
                tasks = load_definition(info.name)[1]
            else:
                tasks = storage.registry.get(info.name)
        finally:
            store.dispose()
    else:
        tasks = load_definition(target)[1]
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
inspect, resume, restart or draw them.
"""

_MAIN_EPILOG = """\
example:
  workflow run examples/grades.py:workflow --data examples/grades.jsonl
  workflow list --status halted
  workflow resume 0b6f6a1e-8a4c-4b7e-9d0c-2f1e5a3b7c9d

exit status: 0 completed, 1 failure, 2 bad command line, 3 halted, 4 error.
database: --db URL, else $WORKFLOW_DB, else sqlite:///workflow.db (here).
"""

_RUN_EPILOG = """\
DEFINITION is 'package.module:attribute' or 'path/to/file.py:attribute': a
list of tasks, or a class whose `workflow` attribute is one.

DATA is a JSON array (the text starts with '[' and is one JSON value) or JSON
Lines (one JSON value per line); '-' reads stdin. Each value is one object.

example:
  workflow run examples/grades.py:workflow --data examples/grades.jsonl
  printf '6\\n4\\n' | workflow run mypackage.flows:grading --data -
"""

_LIST_EPILOG = """\
example:
  workflow list
  workflow list --status halted
"""

_SHOW_EPILOG = """\
example:
  workflow show 0b6f6a1e-8a4c-4b7e-9d0c-2f1e5a3b7c9d
"""

_RESUME_EPILOG = """\
Continues after the task that halted (or failed). --force takes over a
workflow left RUNNING by a process that died, or runs a changed definition.

example:
  workflow resume 0b6f6a1e-8a4c-4b7e-9d0c-2f1e5a3b7c9d
"""

_RESTART_EPILOG = """\
Moves relative to where the workflow stopped: --object picks the object
(default: current), --task the task in it (default: first).

example:
  workflow restart 0b6f6a1e-8a4c-4b7e-9d0c-2f1e5a3b7c9d --object current --task first
"""

_GRAPH_EPILOG = """\
TARGET is a definition ('module:attribute' or 'file.py:attribute') or the
uuid of a stored workflow, whose halted (or failed) task is highlighted.
png and svg need Graphviz's `dot` program.

example:
  workflow graph examples/grades.py:workflow
  workflow graph examples/grades.py:workflow --format png --output grades.png
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
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show tracebacks and debug logging",
    )
    parser = argparse.ArgumentParser(
        prog="workflow",
        description=_DESCRIPTION,
        epilog=_MAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(db=default_db, debug=False)
    parser.add_argument(
        "--db", metavar="URL", default=default_db, help=argparse.SUPPRESS
    )
    parser.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    def add(name: str, summary: str, epilog: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=summary,
            description=summary,
            epilog=epilog,
            parents=[common],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    run = add("run", "run a definition over data and save it", _RUN_EPILOG)
    run.add_argument("definition", metavar="DEFINITION")
    run.add_argument(
        "--data", metavar="FILE", help="JSON array or JSON Lines file; '-' for stdin"
    )
    run.set_defaults(handler=_cmd_run)

    listing = add("list", "list the stored workflows", _LIST_EPILOG)
    listing.add_argument(
        "--status",
        type=str.upper,
        choices=[status.name for status in WorkflowStatus],
        help="only the workflows with this status",
    )
    listing.set_defaults(handler=_cmd_list)

    show = add("show", "show a workflow and its objects", _SHOW_EPILOG)
    show.add_argument("uuid", metavar="UUID")
    show.set_defaults(handler=_cmd_show)

    resume = add("resume", "continue a halted or failed workflow", _RESUME_EPILOG)
    resume.add_argument("uuid", metavar="UUID")
    resume.add_argument("--force", action="store_true", help="take over or run anyway")
    resume.set_defaults(handler=_cmd_resume)

    restart = add("restart", "restart a workflow at a chosen place", _RESTART_EPILOG)
    restart.add_argument("uuid", metavar="UUID")
    restart.add_argument("--object", choices=_RESTART_WORDS, default="current")
    restart.add_argument("--task", choices=_RESTART_WORDS, default="first")
    restart.add_argument("--force", action="store_true", help="take over or run anyway")
    restart.set_defaults(handler=_cmd_restart)

    drawing = add("graph", "draw a definition as a flowchart", _GRAPH_EPILOG)
    drawing.add_argument("target", metavar="TARGET")
    drawing.add_argument("--format", choices=graph.FORMATS, default="mermaid")
    drawing.add_argument("--output", metavar="FILE", help="write here, not to stdout")
    drawing.set_defaults(handler=_cmd_graph)

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


def _storage_error_message(exc: BaseException) -> str | None:
    """The command line's wording of the storage errors, or ``None``."""
    # Such an error can only have been raised once the storage was imported.
    errors = sys.modules.get("workflow.storage.errors")
    if errors is None:
        return None
    uuid = getattr(exc, "uuid", None)
    if isinstance(exc, errors.WorkflowNotFoundError):
        return f"no workflow with uuid {uuid!r} in this database (see `workflow list`)"
    if isinstance(exc, errors.DefinitionChangedError):
        return (
            f"the definition {exc.name!r} changed since workflow {uuid} was saved:"
            " pass --force to run it with the new definition anyway"
        )
    if isinstance(exc, errors.WorkflowBusyError):
        return (
            f"workflow {uuid} is RUNNING in another process; if that process"
            " died, take it over with --force"
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``workflow`` command line and return its exit status.

    The ``workflow`` logger's handlers, level and propagation are set for
    the command and restored when it returns.

    :param argv: the arguments (default: ``sys.argv[1:]``).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    with _command_logging(args.debug):
        out = sys.stdout
        try:
            return int(args.handler(args, out))
        except KeyboardInterrupt:
            sys.stderr.write(
                "workflow: interrupted; a workflow left RUNNING can be taken over"
                " with `workflow resume --force UUID`\n"
            )
            return 130
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
