"""Run the examples of ``docs/cli.rst`` and ``docs/celery.rst``.

The doctest builder runs the Python examples of the other pages; these two
pages show shell sessions and Celery modules, which this module runs.

Console sessions (``docs/cli.rst``)
-----------------------------------

* Every ``.. code-block:: console`` block of the page belongs to one shell
  session, run in page order in an empty temporary directory that holds a
  copy of ``examples/grades.py`` and ``examples/grades.jsonl`` under
  ``examples/``, as in a source checkout. The page calls that directory
  :data:`DOC_DIRECTORY`.
* A block is not run when the last non-blank line before its directive is a
  comment ``.. not-run: REASON``, at the directive's indentation. The reason
  is required (for example ``installation`` or ``needs a broker``).
* In a block, a line starting with ``$ `` is a command; the lines after it,
  up to the next command or the end of the block, are what it prints
  (standard output and standard error together, as a terminal shows them).
* The runner knows three commands; anything else fails the test (mark the
  block ``not-run`` or teach the runner):

  - ``workflow ARGS`` runs ``python -m workflow ARGS`` with this Python. The
    environment has no ``WORKFLOW_DB``, so the page's default database,
    ``workflow.db`` in the current directory, is used.
  - ``printf 'TEXT' | workflow ARGS`` gives ``TEXT``, with its ``\\n``
    escapes, to the command's standard input.
  - ``echo $?`` prints the exit status of the previous command: a page
    states an exit status by showing it.

* Values that change from run to run are normalised before the exact
  comparison:

  - uuids: the page writes them as real uuids. The first time a uuid of the
    page is met in an expected output, it is bound to the uuid printed at
    the same place; later commands get the bound uuid, and outputs show the
    page's uuid in its place. A page uuid that is bound twice, or used
    before it is printed, is an error. A command may give a uuid's first
    eight hex digits instead: they become those of the bound uuid.
  - timestamps (``YYYY-MM-DD hh:mm:ss``) of both sides become a placeholder.
  - the session directory is written as :data:`DOC_DIRECTORY`. When their
    lengths differ, the padding of an output that showed the directory
    (table columns are as wide as their longest cell) is compared as one
    gap: runs of two or more spaces between two cells count as two spaces.

Celery (``docs/celery.rst``)
----------------------------

The page shows its Python code with ``literalinclude`` from ``examples/``;
this module imports the stored-workflow application and checks what it
registers, and ``tests/contrib/test_celery_docs.py`` runs it on a real
worker. Its shell commands (starting workers) stay instructions, marked
``not-run``. Neither page may show code any other way: every
``code-block`` is ``console`` or ``text``, and there is no ``::`` literal
block.
"""

from __future__ import annotations

import importlib
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from workflow.contrib.celery import recommended_settings
from workflow.storage import registry

pytestmark = pytest.mark.timeout(120)

REPOSITORY = Path(__file__).resolve().parent.parent
DOCS = REPOSITORY / "docs"
EXAMPLES = REPOSITORY / "examples"
CLI_PAGE = DOCS / "cli.rst"
CELERY_PAGE = DOCS / "celery.rst"

DOC_DIRECTORY = "/home/zack/workflow"
"""The directory the console sessions of ``docs/cli.rst`` run in."""

SESSION_FILES = ("grades.py", "grades.jsonl")
COMMAND_TIMEOUT = 60

UUID_RE = re.compile(
    r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"
)
UUID_PREFIX_RE = re.compile(r"(?<![0-9a-f-])[0-9a-f]{8}(?![0-9a-f-])")
# A history's event times carry milliseconds.
TIMESTAMP_RE = re.compile(r"\b\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d{3})?\b")
TIMESTAMP = "YYYY-MM-DD hh:mm:ss"
PADDING_RE = re.compile(r"(?<=\S) {2,}(?=\S)")
CONSOLE_RE = re.compile(r"^( *)\.\. code-block:: console\s*$")
NOT_RUN_RE = re.compile(r"^( *)\.\. not-run:(.*)$")


# ---------------------------------------------------------------------------
# Reading the pages


class PageError(Exception):
    """A console block that breaks the conventions of this module."""


@dataclass(frozen=True)
class Command:
    """One ``$ `` line of a console block and the output shown after it."""

    page: str
    line: int
    text: str
    expected: str

    @property
    def where(self) -> str:
        """``page:line``, to name the command in test ids and messages."""
        return f"{self.page}:{self.line}"


@dataclass(frozen=True)
class ConsoleBlock:
    """A ``.. code-block:: console`` block, its commands and its skip reason."""

    line: int
    not_run: str | None
    commands: tuple[Command, ...]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _skip_reason(lines: list[str], directive: int, indent: int) -> str | None:
    before = directive - 1
    while before >= 0 and not lines[before].strip():
        before -= 1
    match = NOT_RUN_RE.match(lines[before]) if before >= 0 else None
    if match is None or len(match.group(1)) != indent:
        return None
    reason = match.group(2).strip()
    if not reason:
        raise PageError(
            f"line {before + 1}: '.. not-run:' needs a reason after the colon"
        )
    return reason


def _block_content(
    lines: list[str], directive: int, indent: int
) -> list[tuple[int, str]]:
    content = []
    index = directive + 1
    while index < len(lines):
        line = lines[index]
        if line.strip() and _indent(line) <= indent:
            break
        content.append((index + 1, line))
        index += 1
    while content and not content[0][1].strip():
        content.pop(0)
    while content and not content[-1][1].strip():
        content.pop()
    if content and content[0][1].lstrip().startswith(":"):
        raise PageError(
            f"line {content[0][0]}: console blocks take no options here"
            f" ({content[0][1].strip()!r})"
        )
    margin = min((_indent(text) for _, text in content if text.strip()), default=0)
    return [(number, text[margin:]) for number, text in content]


def _commands(page: str, content: list[tuple[int, str]]) -> tuple[Command, ...]:
    commands: list[Command] = []
    current: tuple[int, str] | None = None
    output: list[str] = []

    def close() -> None:
        if current is not None:
            expected = "".join(line + "\n" for line in output)
            commands.append(Command(page, current[0], current[1], expected))

    for number, text in content:
        if text.startswith("$ "):
            close()
            current, output = (number, text[2:].strip()), []
        elif current is None:
            raise PageError(f"{page}:{number}: output {text!r} before any '$ ' command")
        else:
            output.append(text)
    close()
    return tuple(commands)


def console_blocks(text: str, page: str = "page") -> list[ConsoleBlock]:
    """Return the console blocks of the reStructuredText ``text``, in order.

    :raises PageError: for a ``not-run`` comment without a reason, a block
        with options, or output shown before any command.
    """
    lines = text.splitlines()
    blocks = []
    for index, line in enumerate(lines):
        match = CONSOLE_RE.match(line)
        if match is None:
            continue
        indent = len(match.group(1))
        content = _block_content(lines, index, indent)
        blocks.append(
            ConsoleBlock(
                index + 1,
                _skip_reason(lines, index, indent),
                _commands(page, content),
            )
        )
    return blocks


def session_commands(path: Path) -> list[Command]:
    """The commands of the page's console blocks that are not marked not-run."""
    blocks = console_blocks(path.read_text(encoding="utf-8"), path.name)
    return [cmd for block in blocks if block.not_run is None for cmd in block.commands]


# ---------------------------------------------------------------------------
# Running a session


class SessionError(Exception):
    """A command of the page the runner cannot run as written."""


class UuidMap:
    """The binding of the page's uuids to the uuids a session printed."""

    def __init__(self) -> None:
        self.real_of: dict[str, str] = {}
        self.page_of: dict[str, str] = {}

    def command(self, text: str) -> str:
        """Return ``text`` with each page uuid replaced by its bound uuid.

        A word of eight hex digits that starts a bound page uuid is that
        uuid's prefix (commands take one): it becomes the bound uuid's.
        """

        def real(match: re.Match[str]) -> str:
            try:
                return self.real_of[match.group(0)]
            except KeyError:
                raise SessionError(
                    f"uuid {match.group(0)} is used before a command printed it"
                ) from None

        def real_prefix(match: re.Match[str]) -> str:
            prefix = match.group(0)
            for page_uuid, real_uuid in self.real_of.items():
                if page_uuid.startswith(prefix):
                    return real_uuid[: len(prefix)]
            return prefix

        return UUID_PREFIX_RE.sub(real_prefix, UUID_RE.sub(real, text))

    def output(self, expected: str, actual: str) -> str:
        """Bind new page uuids of ``expected``; show ``actual`` with page uuids."""
        for page_uuid, real_uuid in zip(
            UUID_RE.findall(expected), UUID_RE.findall(actual)
        ):
            if page_uuid in self.real_of or real_uuid in self.page_of:
                continue
            self.real_of[page_uuid] = real_uuid
            self.page_of[real_uuid] = page_uuid
        return UUID_RE.sub(lambda m: self.page_of.get(m.group(0), m.group(0)), actual)


def printf_text(fmt: str) -> str:
    """What ``printf FMT`` prints, for formats with ``\\n`` and ``\\\\`` only."""
    if "%" in fmt or re.search(r"\\[^n\\]", fmt):
        raise SessionError(
            f"printf format {fmt!r}: only the escapes \\n and \\\\ are supported"
        )
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else "\\", fmt)


@dataclass
class Session:
    """A shell session in ``directory``: the state carried between commands."""

    directory: Path
    uuids: UuidMap = field(default_factory=UuidMap)
    status: int = 0

    def environment(self) -> dict[str, str]:
        """The environment of the commands: this one, without ``WORKFLOW_DB``."""
        env = dict(os.environ)
        env.pop("WORKFLOW_DB", None)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def execute(self, text: str) -> str:
        """Run the command line ``text``; return what it printed."""
        words = shlex.split(self.uuids.command(text))
        if words == ["echo", "$?"]:
            shown, self.status = self.status, 0
            return f"{shown}\n"
        stdin = None
        if "|" in words:
            bar = words.index("|")
            if len(words[:bar]) != 2 or words[0] != "printf":
                raise SessionError(
                    f"{text!r}: only 'printf TEXT | workflow ...' pipes are supported"
                )
            stdin = printf_text(words[1])
            words = words[bar + 1 :]
        if not words or words[0] != "workflow":
            raise SessionError(
                f"{text!r}: the runner knows 'workflow ...', 'printf ... |"
                " workflow ...' and 'echo $?'; mark the block '.. not-run:'"
                " or teach the runner"
            )
        done = subprocess.run(
            [sys.executable, "-m", "workflow", *words[1:]],
            cwd=self.directory,
            env=self.environment(),
            input=stdin,
            stdin=subprocess.DEVNULL if stdin is None else None,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=COMMAND_TIMEOUT,
        )
        self.status = done.returncode
        return done.stdout

    def directories(self) -> list[str]:
        """How the session directory can appear in output, longest first."""
        shown = {str(self.directory), os.path.realpath(self.directory)}
        return sorted(shown, key=len, reverse=True)

    def compare(self, expected: str, actual: str) -> tuple[str, str]:
        """Return ``(expected, actual)`` normalised for the exact comparison."""
        actual = self.uuids.output(expected, actual)
        moved = False
        for directory in self.directories():
            if directory in actual:
                actual = actual.replace(directory, DOC_DIRECTORY)
                moved = moved or len(directory) != len(DOC_DIRECTORY)
        expected = TIMESTAMP_RE.sub(TIMESTAMP, expected)
        actual = TIMESTAMP_RE.sub(TIMESTAMP, actual)
        if moved:
            expected = PADDING_RE.sub("  ", expected)
            actual = PADDING_RE.sub("  ", actual)
        return expected, actual


@dataclass(frozen=True)
class Outcome:
    """What one command of the page printed, next to what the page shows."""

    expected: str
    actual: str
    error: str | None = None


CLI_COMMANDS = session_commands(CLI_PAGE)


@pytest.fixture(scope="module")
def cli_session(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """Run the whole session of ``docs/cli.rst`` once; outcomes by position."""
    directory = tmp_path_factory.mktemp("checkout")
    (directory / "examples").mkdir()
    for name in SESSION_FILES:
        shutil.copy(EXAMPLES / name, directory / "examples" / name)
    session = Session(directory)
    outcomes = {}
    for command in CLI_COMMANDS:
        try:
            actual = session.execute(command.text)
        except (SessionError, subprocess.TimeoutExpired) as exc:
            outcomes[command.where] = Outcome(command.expected, "", str(exc))
            continue
        outcomes[command.where] = Outcome(*session.compare(command.expected, actual))
    return outcomes


# ---------------------------------------------------------------------------
# docs/cli.rst


@pytest.mark.parametrize(
    "command", CLI_COMMANDS, ids=[command.where for command in CLI_COMMANDS]
)
def test_cli_page_command_prints_what_the_page_shows(
    cli_session: dict[str, Outcome], command: Command
) -> None:
    outcome = cli_session[command.where]
    if outcome.error is not None:
        pytest.fail(f"{command.where}: $ {command.text}: {outcome.error}")
    assert outcome.actual == outcome.expected, f"$ {command.text}"


def test_cli_page_skips_only_the_installation_block() -> None:
    blocks = console_blocks(CLI_PAGE.read_text(encoding="utf-8"), CLI_PAGE.name)
    assert [block.not_run for block in blocks if block.not_run] == ["installation"]


def test_cli_page_session_uses_every_command() -> None:
    # A command may take its input from a pipe: `printf ... | workflow ...`.
    words = [shlex.split(command.text) for command in CLI_COMMANDS]
    used = {line[line.index("workflow") + 1] for line in words if "workflow" in line}
    assert used == {
        "run",
        "list",
        "show",
        "resume",
        "restart",
        "graph",
        "delete",
        "prune",
        "db",
    }


# ---------------------------------------------------------------------------
# The conventions themselves

SAMPLE_PAGE = """\
Intro.

.. not-run: installation

.. code-block:: console

   $ pip install thing

Text.

   .. code-block:: console

      $ workflow list
      uuid  name
      $ echo $?
      0

      $ workflow show x
"""


def test_console_blocks_split_commands_and_outputs() -> None:
    blocks = console_blocks(SAMPLE_PAGE, "sample.rst")
    assert blocks == [
        ConsoleBlock(
            5,
            "installation",
            (Command("sample.rst", 7, "pip install thing", ""),),
        ),
        ConsoleBlock(
            11,
            None,
            (
                Command("sample.rst", 13, "workflow list", "uuid  name\n"),
                Command("sample.rst", 15, "echo $?", "0\n\n"),
                Command("sample.rst", 18, "workflow show x", ""),
            ),
        ),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            ".. not-run:\n\n.. code-block:: console\n\n   $ ls\n",
            "line 1: '.. not-run:' needs a reason",
        ),
        (
            ".. code-block:: console\n\n   output\n   $ ls\n",
            "page:3: output 'output' before any '$ ' command",
        ),
        (
            ".. code-block:: console\n   :caption: x\n\n   $ ls\n",
            "line 2: console blocks take no options here",
        ),
    ],
)
def test_console_blocks_refuse_broken_conventions(text: str, message: str) -> None:
    with pytest.raises(PageError, match=re.escape(message)):
        console_blocks(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ls -l", "the runner knows 'workflow ...'"),
        ("echo hello", "the runner knows 'workflow ...'"),
        ("printf 'a' | cat", "the runner knows 'workflow ...'"),
        ("printf '%s' x | workflow list", "only 'printf TEXT | workflow ...' pipes"),
        ("printf '%s\\n' | workflow list", "only the escapes"),
        ("printf 'a\\tb' | workflow list", "only the escapes"),
    ],
)
def test_the_runner_refuses_commands_it_does_not_know(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(SessionError, match=re.escape(message)):
        Session(tmp_path).execute(text)


def test_a_page_uuid_used_before_it_is_printed_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SessionError, match="is used before a command printed it"):
        Session(tmp_path).execute("workflow show db5c1588-03b4-443f-8590-3872a317955b")


def test_uuids_are_bound_once_and_shown_as_the_page_writes_them() -> None:
    uuids = UuidMap()
    page, real, other = (
        "db5c1588-03b4-443f-8590-3872a317955b",
        "e54177dd-9aa8-44a7-ba03-1cfa6e97fc91",
        "5d571a7f-15e7-4620-afad-ba18207d931a",
    )
    assert uuids.output(f"uuid: {page}\n", f"uuid: {real}\n") == f"uuid: {page}\n"
    assert uuids.command(f"workflow show {page}") == f"workflow show {real}"
    # A later output with another uuid where the page shows the bound one
    # keeps the other uuid, so the comparison fails.
    assert uuids.output(f"uuid: {page}\n", f"uuid: {other}\n") == f"uuid: {other}\n"


def test_padding_is_loosened_only_when_the_directory_length_differs(
    tmp_path: Path,
) -> None:
    session = Session(tmp_path)
    table = f"name{' ' * len(str(tmp_path))}  status\n{tmp_path}/f.py  HALTED\n"
    expected = f"name{' ' * len(DOC_DIRECTORY)}  status\n{DOC_DIRECTORY}/f.py  HALTED\n"
    loosened = f"name  status\n{DOC_DIRECTORY}/f.py  HALTED\n"
    assert session.compare(expected, table) == (loosened, loosened)
    assert session.compare("a   b\n", "a   b\n") == ("a   b\n", "a   b\n")


# ---------------------------------------------------------------------------
# Both pages: code comes from tested files


def literal_blocks(text: str) -> list[int]:
    """Line numbers of ``::`` literal blocks (a paragraph ending in ``::``)."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.endswith("::") and not re.match(r"^\.\. [\w:-]+::", stripped):
            found.append(number)
    return found


@pytest.mark.parametrize("page", [CLI_PAGE, CELERY_PAGE], ids=lambda p: p.name)
def test_page_has_no_literal_blocks(page: Path) -> None:
    assert literal_blocks(page.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("page", [CLI_PAGE, CELERY_PAGE], ids=lambda p: p.name)
def test_page_code_blocks_are_console_or_text(page: Path) -> None:
    languages = re.findall(
        r"^\s*\.\. code-block::\s*(\S+)", page.read_text(encoding="utf-8"), re.M
    )
    assert set(languages) <= {"console", "text"}


def test_literal_blocks_are_found() -> None:
    text = "Run this::\n\n    ls\n\n.. code-block:: text\n\n::\n\n    x\n"
    assert literal_blocks(text) == [1, 7]


def test_celery_page_includes_the_tested_examples() -> None:
    included = re.findall(
        r"^\s*\.\. literalinclude:: \.\./examples/(\S+)",
        CELERY_PAGE.read_text(encoding="utf-8"),
        re.M,
    )
    assert sorted(set(included)) == [
        "celery_app.py",
        "celery_client.py",
        "celery_sample.py",
        "grading_definitions.py",
    ]


def test_celery_page_runs_no_console_block() -> None:
    blocks = console_blocks(CELERY_PAGE.read_text(encoding="utf-8"), "celery.rst")
    assert [block.not_run for block in blocks] == [
        "installation",
        "needs a broker",
        "needs a broker",
        "needs a broker",
    ]


# ---------------------------------------------------------------------------
# docs/celery.rst: the stored-workflow application

EXAMPLE_MODULES = ("celery_client", "celery_app", "grading_definitions")


@pytest.fixture
def celery_example(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[ModuleType]:
    """``examples/celery_app.py``, imported as a worker imports it."""
    monkeypatch.setenv("BROKER_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("RESULT_BACKEND_URL", "redis://127.0.0.1:6379/1")
    monkeypatch.setenv("WORKFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'wf.db'}")
    monkeypatch.syspath_prepend(str(EXAMPLES))
    # The example registers "grading" in the global registry; give the test
    # a copy so that the registration does not outlive it.
    monkeypatch.setattr(registry, "_definitions", dict(registry._definitions))
    for name in EXAMPLE_MODULES:
        monkeypatch.delitem(sys.modules, name, raising=False)
    module = importlib.import_module("celery_app")
    try:
        yield module
    finally:
        module.app.close()
        for name in EXAMPLE_MODULES:
            sys.modules.pop(name, None)


def test_celery_example_registers_the_three_tasks(celery_example: Any) -> None:
    # Celery adds tasks that other apps in the process declared as shared
    # (the default of @app.task) to every app: look at this example's prefix.
    names = [name for name in celery_example.app.tasks if name.startswith("workflow.")]
    assert sorted(names) == [
        "workflow.restart",
        "workflow.resume",
        "workflow.start",
    ]


def test_celery_example_tasks_have_the_documented_options(
    celery_example: Any,
) -> None:
    workflows = celery_example.workflows
    assert [
        (task.name, task.serializer, task.acks_late, task.reject_on_worker_lost)
        for task in (workflows.start, workflows.resume, workflows.restart)
    ] == [
        ("workflow.start", "json", True, True),
        ("workflow.resume", "json", True, True),
        ("workflow.restart", "json", True, True),
    ]


def test_celery_example_applies_the_recommended_settings(celery_example: Any) -> None:
    conf = celery_example.app.conf
    assert {key: conf[key] for key in recommended_settings()} == recommended_settings()


def test_celery_example_takes_its_urls_from_the_environment(
    celery_example: Any, tmp_path: Path
) -> None:
    assert (
        celery_example.app.conf.broker_url,
        celery_example.app.conf.result_backend,
        celery_example.workflows.store_url,
    ) == (
        "redis://127.0.0.1:6379/0",
        "redis://127.0.0.1:6379/1",
        f"sqlite:///{tmp_path / 'wf.db'}",
    )


def test_celery_example_registers_the_grading_definition(celery_example: Any) -> None:
    definitions = sys.modules["grading_definitions"]
    assert registry.get("grading") == [definitions.check, definitions.record]
