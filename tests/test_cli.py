"""Tests of the ``workflow`` command line.

Every command runs as a real subprocess (``python -m workflow ...``) against
a SQLite file in the test's temporary directory; the stored state is then
read back through :mod:`workflow.storage`.
"""

from __future__ import annotations

import datetime
import fcntl
import io
import json
import logging
import os
import re
import runpy
import select
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import sysconfig
import termios
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, update

import workflow
from workflow._progress import Progress
from workflow.cli import CommandError, load_definition, main, parse_data, read_data
from workflow.engine_db import WorkflowStatus
from workflow.errors import HaltProcessing
from workflow.storage import (
    DEFAULT_LEASE,
    Registry,
    StoredWorkflowEngine,
    WorkflowRecord,
    WorkflowStore,
    list_objects,
    list_workflows,
)

TIMEOUT = 60
REPOSITORY = Path(__file__).resolve().parent.parent
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

FLOWS = """
import time

from workflow.patterns.controlflow import IF, HALT


def failing_grade(obj, eng):
    return obj.data < 5


def retake(obj, eng):
    eng.halt(f"grade {obj.data} fails")


def explode(obj, eng):
    if obj.data == 2:
        raise ValueError("bad grade")


def nothing(obj, eng):
    pass


def pause(obj, eng):
    time.sleep(0.15)


def logged_pause(obj, eng):
    with open("ran.txt", "a") as ran:
        ran.write(f"{obj.data} ")
    time.sleep(0.05)


halting = [IF(failing_grade, [retake])]
failing = [nothing, explode]
completing = [nothing]
slow = [pause]
logged_slow = [logged_pause]
plain_halt = [HALT()]
not_a_definition = 42
empty = []
not_tasks = [nothing, 1]


def long_halt(obj, eng):
    eng.halt("a very long halt message " * 4)


long_halting = [long_halt]


def ask(obj, eng):
    eng.halt("needs review", action="review", payload={"grade": obj.data})


asking = [ask]


def note_a(obj, eng):
    with open("notes.txt", "a") as notes:
        notes.write(f"a{obj.data} ")


def note_b(obj, eng):
    with open("notes.txt", "a") as notes:
        notes.write(f"b{obj.data} ")


noting = [note_a, note_b]


class Grading:
    workflow = [nothing]
"""


def cli(*args, cwd, stdin=None, env=None, db=True):
    """Run ``python -m workflow ARGS`` in ``cwd``, on ``cwd/wf.db`` by default."""
    command = [sys.executable, "-m", "workflow", *args]
    if db:
        command += ["--db", f"sqlite:///{cwd}/wf.db"]
    full_env = dict(os.environ)
    full_env.pop("WORKFLOW_DB", None)
    full_env.update(env or {})
    return subprocess.run(
        command,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=full_env,
        check=False,
    )


@pytest.fixture
def work(tmp_path):
    """A directory holding ``flows.py`` and the data files of the tests."""
    (tmp_path / "flows.py").write_text(FLOWS)
    (tmp_path / "grades.jsonl").write_text("6\n4\n2\n")
    (tmp_path / "grades.json").write_text("[6, 5, 7]")
    return tmp_path


def stored(work, db="wf.db"):
    store = WorkflowStore(f"sqlite:///{work}/{db}")
    try:
        infos = list_workflows(store)
        return infos, {info.uuid: list_objects(info.uuid, store) for info in infos}
    finally:
        store.dispose()


def started(work, definition="flows:halting", data="grades.jsonl"):
    """Run ``definition`` over ``data`` and return the new workflow's uuid."""
    return uuid_of(cli("run", definition, "--data", data, cwd=work).stdout)


def uuid_of(stdout):
    return re.search(rf"^uuid: ({UUID})$", stdout, re.MULTILINE).group(1)


def when(moment):
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


# --------------------------------------------------------------------------
# run: exit codes and output


def test_run_completed_prints_uuid_and_status(work):
    done = cli("run", "flows:completing", "--data", "grades.json", cwd=work)
    # Piped, the progress display stays silent.
    assert (done.returncode, done.stderr) == (0, "")
    uuid = uuid_of(done.stdout)
    assert done.stdout == f"uuid: {uuid}\nstatus: COMPLETED\n"


def test_run_halted_exits_3_with_the_halt_message(work):
    done = cli("run", "flows:halting", "--data", "grades.jsonl", cwd=work)
    uuid = uuid_of(done.stdout)
    assert (done.returncode, done.stderr) == (3, "")
    assert done.stdout == f"uuid: {uuid}\nstatus: HALTED\nhalted: grade 4 fails\n"


def test_run_error_exits_4_with_the_error_line(work):
    done = cli("run", "flows:failing", "--data", "grades.jsonl", cwd=work)
    uuid = uuid_of(done.stdout)
    assert (done.returncode, done.stderr) == (4, "")
    assert done.stdout == (
        f"uuid: {uuid}\nstatus: ERROR\nerror: ValueError: bad grade\n"
    )


def test_run_saves_the_data_and_the_absolute_definition_path(work):
    done = cli("run", "flows.py:halting", "--data", "grades.jsonl", cwd=work)
    infos, objects = stored(work)
    assert [(info.uuid, info.name) for info in infos] == [
        (uuid_of(done.stdout), f"{work}/flows.py:halting")
    ]
    assert [obj.data for obj in objects[infos[0].uuid]] == [6, 4, 2]


def test_run_reads_json_lines_from_stdin(work):
    lines = '{"grade": 6}\n\n[1, 2]\n"text"\nnull\n'
    done = cli("run", "flows:completing", "--data", "-", cwd=work, stdin=lines)
    assert done.returncode == 0
    infos, objects = stored(work)
    assert [obj.data for obj in objects[infos[0].uuid]] == [
        {"grade": 6},
        [1, 2],
        "text",
        None,
    ]


def test_run_without_data_runs_no_object(work):
    done = cli("run", "flows:completing", cwd=work)
    assert (done.returncode, done.stdout.splitlines()[1]) == (0, "status: COMPLETED")
    assert stored(work)[1] == {uuid_of(done.stdout): []}


def test_run_a_class_with_a_workflow_attribute(work):
    done = cli("run", "flows:Grading", "--data", "grades.json", cwd=work)
    assert (done.returncode, stored(work)[0][0].status.name) == (0, "COMPLETED")


def test_run_default_database_is_workflow_db_in_the_current_directory(work):
    done = cli("run", "flows:completing", cwd=work, db=False)
    assert done.returncode == 0
    assert [info.uuid for info in stored(work, "workflow.db")[0]] == [
        uuid_of(done.stdout)
    ]


def test_run_database_from_the_environment(work):
    env = {"WORKFLOW_DB": f"sqlite:///{work}/env.db"}
    done = cli("run", "flows:completing", cwd=work, db=False, env=env)
    assert done.returncode == 0
    assert [info.uuid for info in stored(work, "env.db")[0]] == [uuid_of(done.stdout)]
    assert not (work / "workflow.db").exists()


def test_db_option_before_the_command(work):
    command = [sys.executable, "-m", "workflow", "--db", f"sqlite:///{work}/a.db"]
    done = subprocess.run(
        [*command, "run", "flows:completing"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0
    assert len(stored(work, "a.db")[0]) == 1


@pytest.mark.postgresql
def test_run_and_list_on_postgresql(work, postgresql_url):
    done = cli("run", "flows:halting", "--data", "grades.jsonl", "--db", postgresql_url,
               cwd=work, db=False)  # fmt: skip
    listed = cli("list", "--db", postgresql_url, cwd=work, db=False)
    assert (done.returncode, listed.returncode) == (3, 0)
    assert listed.stdout.splitlines()[1].split()[:6] == [
        uuid_of(done.stdout),
        "flows:halting",
        "HALTED",
        "3",
        "1",
        "0",
    ]


# --------------------------------------------------------------------------
# list and show: exact tables


def test_list_table(work):
    first = cli("run", "flows:halting", "--data", "grades.jsonl", cwd=work)
    second = cli("run", "flows:completing", "--data", "grades.json", cwd=work)
    infos, _ = stored(work)
    done = cli("list", cwd=work)
    assert (done.returncode, done.stderr) == (0, "")
    halted, completed = infos
    assert [halted.uuid, completed.uuid] == [
        uuid_of(first.stdout),
        uuid_of(second.stdout),
    ]
    assert done.stdout == (
        "uuid                                  name              status     objects"
        "  halted  errors  modified\n"
        f"{halted.uuid}  flows:halting     HALTED           3       1       0"
        f"  {when(halted.modified)}\n"
        f"{completed.uuid}  flows:completing  COMPLETED        3       0       0"
        f"  {when(completed.modified)}\n"
    )


def test_list_filtered_by_status(work):
    cli("run", "flows:halting", "--data", "grades.jsonl", cwd=work)
    cli("run", "flows:completing", "--data", "grades.json", cwd=work)
    infos, _ = stored(work)
    done = cli("list", "--status", "completed", cwd=work)
    completed = infos[1]
    assert done.stdout == (
        "uuid                                  name              status     objects"
        "  halted  errors  modified\n"
        f"{completed.uuid}  flows:completing  COMPLETED        3       0       0"
        f"  {when(completed.modified)}\n"
    )


def test_list_of_an_empty_database_prints_the_header(work):
    cli("run", "flows:completing", cwd=work)
    done = cli("list", "--status", "ERROR", cwd=work)
    assert done.stdout == "uuid  name  status  objects  halted  errors  modified\n"


def test_show_table_of_a_halted_workflow(work):
    uuid = uuid_of(
        cli("run", "flows:halting", "--data", "grades.jsonl", cwd=work).stdout
    )
    info = stored(work)[0][0]
    done = cli("show", uuid, cwd=work)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (
        f"uuid:     {uuid}\n"
        "name:     flows:halting\n"
        "status:   HALTED\n"
        f"created:  {when(info.created)}\n"
        f"modified: {when(info.modified)}\n"
        "objects:  3 (1 INITIAL, 1 COMPLETED, 1 HALTED)\n"
        "\n"
        "position  status     task              halt message   error\n"
        "       0  COMPLETED  -                 -              -\n"
        "       1  HALTED     [0, 1, 0] retake  grade 4 fails  -\n"
        "       2  INITIAL    -                 -              -\n"
    )


def test_show_table_of_a_failed_workflow(work):
    uuid = uuid_of(
        cli("run", "flows:failing", "--data", "grades.jsonl", cwd=work).stdout
    )
    done = cli("show", uuid, cwd=work)
    assert done.stdout.split("\n\n")[1] == (
        "position  status     task         halt message  error\n"
        "       0  COMPLETED  -            -             -\n"
        "       1  COMPLETED  -            -             -\n"
        "       2  ERROR      [1] explode  -             ValueError: bad grade\n"
    )


def test_show_names_the_exception_line_of_a_message_going_on_indented(work):
    (work / "wordy.py").write_text(
        "def explain(obj, eng):\n"
        "    raise ValueError('bad grade\\n  see the grading rules')\n"
        "\n"
        "flow = [explain]\n"
    )
    uuid = started(work, "wordy:flow", "grades.json")
    done = cli("show", uuid, cwd=work)
    assert done.stdout.split("\n\n")[1] == (
        "position  status   task         halt message  error\n"
        "       0  ERROR    [0] explain  -             ValueError: bad grade\n"
        "       1  INITIAL  -            -             -\n"
        "       2  INITIAL  -            -             -\n"
    )


NEEDS_EXCEPTION_GROUP = pytest.mark.skipif(
    sys.version_info < (3, 11), reason="ExceptionGroup is new in Python 3.11"
)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        pytest.param(
            'raise ValueError("bad grade\\nsee the rules")',
            "ValueError: bad grade",
            id="multi-line-message",
        ),
        # The cause is printed first, without a traceback: it was never raised.
        pytest.param(
            'raise ValueError("bad grade") from KeyError("grade")',
            "ValueError: bad grade",
            id="cause-never-raised",
        ),
        pytest.param(
            'raise ExceptionGroup("several grades", [ValueError("a"), KeyError("b")])',
            "ExceptionGroup: several grades (2 sub-exceptions)",
            marks=NEEDS_EXCEPTION_GROUP,
            id="exception-group",
        ),
        pytest.param(
            "try:\n"
            '        raise ExceptionGroup("several grades", [ValueError("a")])\n'
            "    except ExceptionGroup:\n"
            '        raise RuntimeError("grading stopped")',
            "RuntimeError: grading stopped",
            marks=NEEDS_EXCEPTION_GROUP,
            id="raised-while-handling-a-group",
        ),
        pytest.param(
            "try:\n"
            '        raise KeyError("grade")\n'
            "    except KeyError:\n"
            '        raise ExceptionGroup("several grades", [ValueError("a")])',
            "ExceptionGroup: several grades (1 sub-exception)",
            marks=NEEDS_EXCEPTION_GROUP,
            id="group-raised-while-handling",
        ),
    ],
)
def test_show_names_the_exception_line_of_the_last_traceback(work, body, error):
    (work / "wordy.py").write_text(
        f"def explain(obj, eng):\n    {body}\n\nflow = [explain]\n"
    )
    (work / "one.json").write_text("[1]")
    uuid = started(work, "wordy:flow", "one.json")
    done = cli("show", uuid, cwd=work)
    assert done.stdout.split("\n\n")[1] == (
        "position  status  task         halt message  error\n"
        f"       0  ERROR   [0] explain  -             {error}\n"
    )


HALTED_WITHOUT_TASK_NAME = (
    "position  status     task       halt message   error\n"
    "       0  COMPLETED  -          -              -\n"
    "       1  HALTED     [0, 1, 0]  grade 4 fails  -\n"
    "       2  INITIAL    -          -              -\n"
)


@pytest.mark.parametrize(
    "change",
    [
        # The saved position [0, 1, 0] now runs into a task, not a block.
        lambda flows: flows.write_text(
            FLOWS.replace(
                "halting = [IF(failing_grade, [retake])]", "halting = [retake]"
            )
        ),
        lambda flows: flows.unlink(),
    ],
    ids=["position-gone-from-the-definition", "definition-file-deleted"],
)
def test_show_prints_the_bare_position_when_it_names_no_task_any_more(work, change):
    uuid = started(work, "flows.py:halting")
    change(work / "flows.py")
    done = cli("show", uuid, cwd=work)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.split("\n\n")[1] == HALTED_WITHOUT_TASK_NAME


# --------------------------------------------------------------------------
# resume and restart


def test_resume_goes_on_after_the_halt_until_completed(work):
    uuid = uuid_of(
        cli("run", "flows:halting", "--data", "grades.jsonl", cwd=work).stdout
    )
    again = cli("resume", uuid, cwd=work)
    last = cli("resume", uuid, cwd=work)
    assert (again.returncode, again.stdout) == (
        3,
        f"uuid: {uuid}\nstatus: HALTED\nhalted: grade 2 fails\n",
    )
    assert (last.returncode, last.stdout) == (0, f"uuid: {uuid}\nstatus: COMPLETED\n")


def test_resume_from_another_directory_reimports_the_definition_file(
    work, tmp_path_factory
):
    uuid = uuid_of(
        cli("run", "flows.py:halting", "--data", "grades.jsonl", cwd=work).stdout
    )
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    done = cli(
        "resume", uuid, "--db", f"sqlite:///{work}/wf.db", cwd=elsewhere, db=False
    )
    assert (done.returncode, done.stdout.splitlines()[-1]) == (
        3,
        "halted: grade 2 fails",
    )


@pytest.mark.parametrize(
    ("words", "code", "last_line"),
    [
        (["--object", "current", "--task", "first"], 3, "halted: grade 4 fails"),
        ([], 3, "halted: grade 4 fails"),
        (["--object", "next", "--task", "first"], 3, "halted: grade 2 fails"),
        (["--object", "current", "--task", "next"], 3, "halted: grade 2 fails"),
        (["--object", "first", "--task", "first"], 3, "halted: grade 4 fails"),
    ],
)
def test_restart_words(work, words, code, last_line):
    uuid = uuid_of(
        cli("run", "flows:halting", "--data", "grades.jsonl", cwd=work).stdout
    )
    done = cli("restart", uuid, *words, cwd=work)
    assert (done.returncode, done.stdout.splitlines()[-1]) == (code, last_line)


@pytest.mark.parametrize("flag", ["--allow-changed-definition", "--force"])
def test_resume_of_a_changed_definition_needs_allowing(work, flag):
    uuid = uuid_of(
        cli("run", "flows.py:halting", "--data", "grades.jsonl", cwd=work).stdout
    )
    source = (work / "flows.py").read_text()
    (work / "flows.py").write_text(source.replace("[retake]", "[nothing, retake]"))
    refused = cli("resume", uuid, cwd=work)
    taken = cli("resume", uuid, "--take-over", cwd=work)
    allowed = cli("resume", uuid, flag, cwd=work)
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr == (
        f"workflow: error: the definition '{work}/flows.py:halting' changed since"
        f" workflow {uuid} was saved: pass --allow-changed-definition to run it"
        " with the new definition anyway\n"
    )
    assert (taken.returncode, taken.stderr) == (1, refused.stderr)
    assert allowed.returncode == 3


def test_resume_of_a_running_workflow_takes_it_over_only_as_asked(work):
    uuid = started(work)
    beat = datetime.datetime.now(datetime.timezone.utc)
    store = WorkflowStore(f"sqlite:///{work}/wf.db")
    try:
        with store.engine.begin() as connection:
            connection.execute(
                update(WorkflowRecord)
                .where(WorkflowRecord.uuid == uuid)
                .values(status=WorkflowStatus.RUNNING.value, heartbeat=beat)
            )
    finally:
        store.dispose()
    expires = beat + DEFAULT_LEASE
    refused = cli("resume", uuid, cwd=work)
    live = cli("resume", uuid, "--take-over", cwd=work)
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr == (
        f"workflow: error: workflow {uuid} is RUNNING in another process (last"
        f" heartbeat {beat:%Y-%m-%d %H:%M:%S} UTC, lease until"
        f" {expires:%Y-%m-%d %H:%M:%S} UTC); if that process died, take it over"
        " with --take-over once its lease has expired, or with --force at once\n"
    )
    assert (live.returncode, live.stderr) == (1, refused.stderr)
    forced = cli("resume", uuid, "--force", cwd=work)
    assert (forced.returncode, forced.stdout.splitlines()[-1]) == (
        3,
        "halted: grade 2 fails",
    )


# --------------------------------------------------------------------------
# Progress on a terminal and on a pipe


def run_on_terminal(args, cwd, stream="stdout", env=None):
    """Run the command with a 100-column pseudo-terminal as ``stream``.

    :returns: the exit status, what the terminal received and what the
        other of stdout and stderr (a pipe) received.
    """
    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    full_env = dict(os.environ)
    full_env.pop("WORKFLOW_DB", None)
    full_env.update(env or {})
    streams = {"stdout": follower, "stderr": subprocess.PIPE}
    if stream == "stderr":
        streams = {"stdout": subprocess.PIPE, "stderr": follower}
    process = subprocess.Popen(
        [sys.executable, "-m", "workflow", *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        env=full_env,
        **streams,
    )
    os.close(follower)
    piped = process.stdout if stream == "stderr" else process.stderr
    chunks = []
    deadline = time.monotonic() + TIMEOUT
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not chunk:
                break
            chunks.append(chunk)
        code = process.wait(timeout=max(1, deadline - time.monotonic()))
        other = piped.read().decode()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        piped.close()
        os.close(leader)
    return code, b"".join(chunks).decode(), other


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def frames(output):
    """The successive states of a line redrawn with carriage returns."""
    return [frame for frame in re.split(r"\r\n|\r", ANSI.sub("", output)) if frame]


def test_progress_with_rich_on_a_terminal(work):
    (work / "five.json").write_text("[1, 2, 3, 4, 5]")
    code, terminal, stdout = run_on_terminal(
        ["run", "flows:slow", "--data", "five.json", "--db", f"sqlite:///{work}/wf.db"],
        work,
        stream="stderr",
    )
    assert (code, stdout) == (0, f"uuid: {uuid_of(stdout)}\nstatus: COMPLETED\n")
    # rich hides the cursor while it draws, and shows it again at the end.
    assert terminal.startswith("\x1b[?25l")
    assert terminal.endswith("\r\n\x1b[?25h")
    shown = frames(terminal)
    counts = [int(re.search(r" (\d)/5 ", frame).group(1)) for frame in shown]
    assert counts == sorted(counts)
    assert counts[0] == 0
    assert re.fullmatch(r"run ━{40} 5/5 \d+\.\d/s 0:00:0\d 0:00:00", shown[-1])


@pytest.fixture
def without_rich(tmp_path_factory):
    """A PYTHONPATH on which ``import rich`` fails, as when it is not installed."""
    shadow = tmp_path_factory.mktemp("no_rich")
    (shadow / "rich").mkdir()
    (shadow / "rich" / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'rich'\", name='rich')\n"
    )
    return {"PYTHONPATH": str(shadow)}


PLAIN_FRAME = (
    r"\r{command}: {done}/{total} objects, \d+\.\d/s, elapsed 0:00:0\d, ETA {eta} *"
)


def test_progress_without_rich_is_one_plain_line_redrawn(work, without_rich):
    (work / "five.json").write_text("[1, 2, 3, 4, 5]")
    code, terminal, stdout = run_on_terminal(
        ["run", "flows:slow", "--data", "five.json", "--db", f"sqlite:///{work}/wf.db"],
        work,
        stream="stderr",
        env=without_rich,
    )
    assert (code, stdout) == (0, f"uuid: {uuid_of(stdout)}\nstatus: COMPLETED\n")
    assert terminal.startswith(
        "\rrun: 0/5 objects, 0.0/s, elapsed 0:00:00, ETA -:--:--"
    )
    middle = PLAIN_FRAME.format(command="run", done=r"[0-5]", total=5, eta=r"\S+")
    last = PLAIN_FRAME.format(command="run", done=5, total=5, eta="0:00:00")
    # The terminal turns the final "\n" into "\r\n".
    assert re.fullmatch(f"(?:{middle})*{last}\r\n", terminal)
    counts = [int(frame.split()[1].split("/")[0]) for frame in frames(terminal)]
    assert counts == sorted(counts)
    assert len(counts) >= 3


def test_progress_of_a_resume_counts_from_where_it_goes_on(work, without_rich):
    uuid = started(work)
    code, terminal, stdout = run_on_terminal(
        ["resume", uuid[:8], "--db", f"sqlite:///{work}/wf.db"],
        work,
        stream="stderr",
        env=without_rich,
    )
    assert (code, stdout) == (
        3,
        f"uuid: {uuid}\nstatus: HALTED\nhalted: grade 2 fails\n",
    )
    assert re.fullmatch(
        PLAIN_FRAME.format(command="resume", done=1, total=3, eta="-:--:--")
        + PLAIN_FRAME.format(command="resume", done=2, total=3, eta=r"0:00:0\d")
        + "\r\n",
        terminal,
    )


def test_progress_counts_the_stored_workflow_not_engines_run_by_its_tasks(
    work, without_rich
):
    (work / "nested.py").write_text(
        "from workflow.engine import GenericWorkflowEngine\n"
        "\n"
        "def nothing(obj, eng):\n"
        "    pass\n"
        "\n"
        "def spell(obj, eng):\n"
        "    inner = GenericWorkflowEngine()\n"
        "    inner.callbacks.replace([nothing])\n"
        "    inner.process(list('abcde'))\n"
        "\n"
        "flow = [spell]\n"
    )
    code, terminal, _ = run_on_terminal(
        [
            "run",
            "nested:flow",
            "--data",
            "grades.json",
            "--db",
            f"sqlite:///{work}/wf.db",
        ],
        work,
        stream="stderr",
        env=without_rich,
    )
    assert code == 0
    assert [frame.split()[1] for frame in frames(terminal)] == ["0/3", "3/3"]


@pytest.mark.parametrize("command", ["run", "resume", "restart"])
def test_progress_is_silent_on_a_pipe(work, command):
    uuid = started(work, "flows:slow", "grades.json")
    args = ["run", "flows:slow", "--data", "grades.json"]
    if command != "run":
        args = [command, uuid, "--force"]
    done = cli(*args, cwd=work)
    assert (done.returncode, done.stderr) == (0, "")


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_redraws_from_the_counter_at_most_ten_times_a_second(
    monkeypatch,
):
    # The plain display, with a clock the test moves: exact output.
    monkeypatch.setitem(sys.modules, "rich.progress", None)
    now = [100.0]
    terminal = FakeTerminal()
    with Progress(terminal, "run", clock=lambda: now[0]) as progress:
        progress.begin(1000, 0)
        for done in range(1, 11):
            now[0] += 0.0625
            progress.at(done)
        progress.begin(5, 5)  # a nested run's start changes nothing
        now[0] = 160.0
        progress.at(400)
    assert terminal.getvalue() == (
        "\rrun: 0/1000 objects, 0.0/s, elapsed 0:00:00, ETA -:--:--"
        "\rrun: 2/1000 objects, 16.0/s, elapsed 0:00:00, ETA 0:01:02"
        "\rrun: 4/1000 objects, 16.0/s, elapsed 0:00:00, ETA 0:01:02"
        "\rrun: 6/1000 objects, 16.0/s, elapsed 0:00:00, ETA 0:01:02"
        "\rrun: 8/1000 objects, 16.0/s, elapsed 0:00:00, ETA 0:01:02"
        "\rrun: 10/1000 objects, 16.0/s, elapsed 0:00:00, ETA 0:01:01"
        "\rrun: 400/1000 objects, 6.7/s, elapsed 0:01:00, ETA 0:01:30"
        "\rrun: 400/1000 objects, 6.7/s, elapsed 0:01:00, ETA 0:01:30\n"
    )


def test_progress_of_an_unknown_total_has_no_eta(monkeypatch):
    monkeypatch.setitem(sys.modules, "rich.progress", None)
    now = [0.0]
    terminal = FakeTerminal()
    with Progress(terminal, "run", clock=lambda: now[0]) as progress:
        progress.begin(None, 0)
        now[0] = 3725.0
        progress.at(7450)
    assert terminal.getvalue() == (
        "\rrun: 0 objects, 0.0/s, elapsed 0:00:00"
        "\rrun: 7450 objects, 2.0/s, elapsed 1:02:05"
        "\rrun: 7450 objects, 2.0/s, elapsed 1:02:05\n"
    )


def test_progress_draws_nothing_off_a_terminal():
    out = io.StringIO()
    with Progress(out, "run") as progress:
        progress.begin(3, 0)
        progress.at(3)
    assert (out.getvalue(), progress.done) == ("", 3)


# --------------------------------------------------------------------------
# graph


GRAPH_OF_HALTING = """\
flowchart TD
    wf_start(("Start"))
    n0_0{"failing_grade"}
    subgraph b0_1 ["[0, 1]"]
        n0_1_0["retake"]
    end
    wf_end(("End"))
    wf_start --> n0_0
    n0_0 -->|yes| n0_1_0
    n0_0 -->|no| wf_end
    n0_1_0 --> wf_end
"""


def test_graph_of_a_definition_in_mermaid(work):
    done = cli("graph", "flows:halting", cwd=work, db=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, GRAPH_OF_HALTING, "")
    assert not (work / "workflow.db").exists()


def test_graph_of_a_stored_workflow_highlights_where_it_halted(work):
    uuid = uuid_of(
        cli("run", "flows:halting", "--data", "grades.jsonl", cwd=work).stdout
    )
    done = cli("graph", uuid, cwd=work)
    assert (done.returncode, done.stdout) == (
        0,
        GRAPH_OF_HALTING
        + "    classDef halted fill:#ffd8a8,stroke:#d9480f,stroke-width:3px\n"
        + "    class n0_1_0 halted\n",
    )


def test_graph_of_a_completed_workflow_highlights_nothing(work):
    uuid = uuid_of(
        cli("run", "flows:halting", "--data", "grades.json", cwd=work).stdout
    )
    done = cli("graph", uuid, cwd=work)
    assert (done.returncode, done.stdout) == (0, GRAPH_OF_HALTING)


def test_graph_in_dot_to_a_file(work):
    done = cli("graph", "flows:plain_halt", "--format", "dot", "--output", "g.dot",
               cwd=work, db=False)  # fmt: skip
    assert (done.returncode, done.stdout) == (0, "")
    assert (work / "g.dot").read_text().splitlines()[5] == (
        '    n0 [label="HALT", shape=octagon];'
    )


def test_graph_png_is_a_valid_image(work):
    done = cli("graph", "flows:halting", "--format", "png", "--output", "g.png",
               cwd=work, db=False)  # fmt: skip
    data = (work / "g.png").read_bytes()
    assert (done.returncode, data[:8]) == (0, b"\x89PNG\r\n\x1a\n")
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 0 and height > 0


def test_graph_png_without_graphviz_is_one_line_and_exit_1(work):
    bare = work / "bin"
    bare.mkdir()
    done = cli("graph", "flows:halting", "--format", "png", "--output", "g.png",
               cwd=work, db=False, env={"PATH": str(bare)})  # fmt: skip
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        "workflow: error: PNG output needs Graphviz's 'dot' program, which is not"
        " on PATH: install Graphviz, or use --format mermaid or dot\n"
    )


# --------------------------------------------------------------------------
# Bad input: one line on stderr, exit status 1 (2 for the command line)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "missing.py:flow"], "definition file 'missing.py' does not exist"),
        (
            ["run", "no_such_module:flow"],
            "cannot import module 'no_such_module': no module named 'no_such_module'"
            " (is it installed, or in the current directory?)",
        ),
        (["run", "flows:nowhere"], "'flows' has no attribute 'nowhere'"),
        (
            ["run", "flows:not_a_definition"],
            "the definition 'flows:not_a_definition' is int 42, not a workflow"
            " definition: point at a list of tasks, or at a class whose `workflow`"
            " attribute is one",
        ),
        (
            ["run", "flows:empty"],
            "the definition 'flows:empty' is empty: give it at least one task",
        ),
        (
            ["run", "flows:not_tasks"],
            "the definition 'flows:not_tasks' is not valid: Workflow definition item"
            " at position [1] is 1 (int), which is neither a task (a callable taking"
            " (obj, eng)) nor a list of tasks",
        ),
        (
            ["run", "./notes.txt:flow"],
            "definition file './notes.txt' is not a Python file",
        ),
        (
            ["run", "needs_missing:flow"],
            "error while importing 'needs_missing': ModuleNotFoundError: No module"
            " named 'not_installed_anywhere'",
        ),
        (
            ["run", "flows:completing", "--data", "nan.jsonl"],
            "Cannot store data[1] is nan, which JSON cannot hold: workflow data must"
            " be JSON values (dict with string keys, list, str, int, float, bool,"
            " None); convert it before handing it over",
        ),
        (
            ["graph", "flows:halting", "--output", "no/such/dir/g.mmd"],
            "cannot write 'no/such/dir/g.mmd': No such file or directory",
        ),
        (
            ["run", "flows"],
            "definition 'flows' must be 'package.module:attribute' or"
            " 'path/to/file.py:attribute'",
        ),
        (
            ["run", "broken:flow"],
            "error while importing 'broken': ZeroDivisionError: division by zero",
        ),
        (
            ["run", "flows:completing", "--data", "missing.jsonl"],
            "cannot read data file 'missing.jsonl': No such file or directory",
        ),
        (
            ["run", "flows:completing", "--data", "bad.jsonl"],
            "bad.jsonl line 3: invalid JSON (Expecting property name enclosed in"
            " double quotes, column 2)",
        ),
        (
            ["run", "flows:completing", "--data", "bad.json"],
            "bad.json line 3: invalid JSON (Expecting ',' delimiter, column 5)",
        ),
        (
            ["run", "flows:completing", "--data", "latin1.jsonl"],
            "latin1.jsonl line 2: not UTF-8 text",
        ),
        (
            ["show", "8d7f6e5d-0000-4000-8000-000000000000"],
            "no workflow with uuid '8d7f6e5d-0000-4000-8000-000000000000' in this"
            " database (see `workflow list`)",
        ),
        (
            ["resume", "8D7F6E5D"],
            "no workflow with uuid '8d7f6e5d' in this database (see `workflow list`)",
        ),
        (
            ["restart", "8d7f-"],
            "no workflow with uuid '8d7f-' in this database (see `workflow list`)",
        ),
        (
            ["delete", "8d7f6e5d", "--yes"],
            "no workflow with uuid '8d7f6e5d' in this database (see `workflow list`)",
        ),
        (
            ["graph", "flows"],
            "TARGET 'flows' is neither a definition ('package.module:attribute' or"
            " 'path/to/file.py:attribute') nor a workflow uuid (or its first"
            " characters)",
        ),
        (
            ["graph", "8d7f6e5d-0000-4000-8000-000000000000"],
            "no workflow with uuid '8d7f6e5d-0000-4000-8000-000000000000' in this"
            " database (see `workflow list`)",
        ),
    ],
)
def test_bad_input_is_one_line_on_stderr(work, args, message):
    (work / "broken.py").write_text("flow = [1 / 0]\n")
    (work / "notes.txt").write_text("flow = []\n")
    (work / "needs_missing.py").write_text("import not_installed_anywhere\n")
    (work / "nan.jsonl").write_text("1\nNaN\n")
    (work / "bad.jsonl").write_text('1\n{"a": 2}\n{oops}\n')
    (work / "bad.json").write_text("[\n  1,\n  2 3\n]\n")
    (work / "latin1.jsonl").write_bytes('"a"\n"\xe9"\n'.encode("latin-1"))
    cli("run", "flows:completing", cwd=work)  # so that the database exists
    done = cli(*args, cwd=work)
    assert (done.returncode, done.stdout, done.stderr) == (
        1,
        "",
        f"workflow: error: {message}\n",
    )


def test_a_definition_file_with_a_syntax_error(work):
    (work / "syntax.py").write_text("flow = [\n")
    done = cli("run", "syntax.py:flow", cwd=work)
    # The rest of the line is Python's own message, which varies by version.
    assert (done.returncode, done.stdout, done.stderr.count("\n")) == (1, "", 1)
    assert done.stderr.startswith(
        "workflow: error: error while loading 'syntax.py': SyntaxError: "
    )
    assert done.stderr.endswith("(syntax.py, line 1)\n")


def test_a_missing_sqlite_database_is_not_created_by_list(work):
    done = cli("list", cwd=work)
    assert (done.returncode, done.stderr) == (
        1,
        f"workflow: error: no workflow database at '{work}/wf.db': run a workflow"
        " first, or point --db (or WORKFLOW_DB) at the right database\n",
    )
    assert not (work / "wf.db").exists()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "sqlite:///{work}/no/such/dir/wf.db",
            "workflow: error: cannot use database 'sqlite:///{work}/no/such/dir/wf.db':"
            " (sqlite3.OperationalError) unable to open database file\n",
        ),
        (
            "postgresql+psycopg://someone:secret@127.0.0.1:9/db",
            "workflow: error: cannot use database"
            " 'postgresql+psycopg://someone:***@127.0.0.1:9/db':"
            " (psycopg.OperationalError)"
            ' connection failed: connection to server at "127.0.0.1", port 9 failed:'
            " Connection refused\n",
        ),
        (
            "not a url",
            "workflow: error: bad database URL 'not a url': WorkflowStore url 'not a"
            " url' is not a database URL; use e.g. 'sqlite:///workflow.db' or"
            " 'postgresql+psycopg://user@host/db'\n",
        ),
    ],
)
def test_an_unusable_database_is_one_line(work, url, message):
    done = cli(
        "run", "flows:completing", "--db", url.format(work=work), cwd=work, db=False
    )
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.startswith(message.format(work=work).rstrip("\n"))
    assert done.stderr.count("\n") == 1


def test_a_database_error_while_running_is_one_line(work):
    cli("run", "flows:completing", cwd=work)
    read_only = f"sqlite:///file:{work}/wf.db?mode=ro&uri=true"
    done = cli("run", "flows:completing", "--data", "grades.json", "--db", read_only,
               cwd=work, db=False)  # fmt: skip
    assert (done.returncode, done.stdout, done.stderr) == (
        1,
        "",
        "workflow: error: database error: (sqlite3.OperationalError) attempt to"
        " write a readonly database\n",
    )
    assert len(stored(work)[0]) == 1


def test_debug_shows_the_traceback(work):
    (work / "broken.py").write_text("flow = [1 / 0]\n")
    done = cli("run", "broken:flow", "--debug", cwd=work)
    assert done.returncode == 1
    assert "Traceback (most recent call last):" in done.stderr
    assert done.stderr.endswith(
        "workflow: error: error while importing 'broken': ZeroDivisionError:"
        " division by zero\n"
    )


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["frobnicate"],
        ["run"],
        ["run", "flows:halting", "--bogus"],
        ["list", "--status", "sleeping"],
        ["restart", "some-uuid", "--object", "last"],
        ["restart", "8d7f6e5d", "--object", "last"],
        ["graph", "flows:halting", "--format", "gif"],
        ["show", "nope"],
        ["show", "8d7f6e5d", "--limit", "-1"],
        ["list", "--since", "yesterday"],
        ["prune", "--status", "completed"],
        ["prune", "--older-than", "soon", "--status", "completed"],
        ["delete"],
    ],
)
def test_bad_command_lines_exit_2(work, args):
    done = cli(*args, cwd=work, db=False)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.splitlines()[0].startswith("usage: workflow")


@pytest.mark.parametrize(
    "command", ["run", "list", "show", "resume", "restart", "graph", "delete", "prune"]
)
def test_help_of_every_command_has_an_example(work, command):
    done = cli(command, "--help", cwd=work, db=False)
    assert (done.returncode, done.stderr) == (0, "")
    assert f"usage: workflow {command}" in done.stdout
    assert "\nexample:\n  workflow " in done.stdout


def test_main_help_lists_the_exit_codes(work):
    done = cli("--help", cwd=work, db=False)
    assert done.returncode == 0
    assert (
        "exit status: 0 completed, 1 failure, 2 bad command line, 3 halted, 4 error,\n"
        "130 interrupted.\n" in done.stdout
    )


def test_version_prints_the_installed_version(work):
    done = cli("--version", cwd=work, db=False)
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        f"workflow {workflow.__version__}\n",
        "",
    )


def test_the_workflow_console_script(work):
    script = shutil.which("workflow", path=sysconfig.get_path("scripts"))
    assert script is not None, "the workflow console script is not installed"
    done = subprocess.run(
        [script, "run", "flows:halting", "--data", "grades.jsonl",
         "--db", f"sqlite:///{work}/wf.db"],
        cwd=work, capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    assert (done.returncode, done.stdout.splitlines()[-1]) == (
        3,
        "halted: grade 4 fails",
    )


# --------------------------------------------------------------------------
# The example of the README, from a copy of the checkout


def test_the_grades_example_halts_twice_then_completes(tmp_path):
    shutil.copytree(REPOSITORY / "examples", tmp_path / "examples")
    done = cli("run", "examples/grades.py:workflow", "--data", "examples/grades.jsonl",
               cwd=tmp_path, db=False)  # fmt: skip
    uuid = uuid_of(done.stdout)
    first = cli("resume", uuid, cwd=tmp_path, db=False)
    second = cli("resume", uuid, cwd=tmp_path, db=False)
    assert (done.returncode, done.stdout.splitlines()[-1]) == (
        3,
        "halted: Zack P. Hacker failed test 3 with 4: retake it tomorrow",
    )
    assert (first.returncode, first.stdout.splitlines()[-1]) == (
        3,
        "halted: Zack P. Hacker failed test 5 with 2: retake it tomorrow",
    )
    assert (second.returncode, second.stdout.splitlines()[-1]) == (
        0,
        "status: COMPLETED",
    )


# --------------------------------------------------------------------------
# In-process: data formats and definition loading


@pytest.mark.parametrize(
    ("text", "objects"),
    [
        ("[1, 2, 3]", [1, 2, 3]),
        ('  \n[\n  {"a": 1},\n  [2]\n]\n', [{"a": 1}, [2]]),
        ("[]", []),
        ("1\n2\n", [1, 2]),
        ("[1, 2]\n[3]\n", [[1, 2], [3]]),
        ('{"a": [1]}\n\n  \n"b"\n', [{"a": [1]}, "b"]),
        ("", []),
        (" \n\n", []),
    ],
)
def test_parse_data_formats(text, objects):
    assert parse_data(text) == objects


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1\n2\n{\n", "data line 3: invalid JSON (Expecting property name enclosed"
                      " in double quotes, column 2)"),
        ("[1,\n2,,\n]", "data line 2: invalid JSON (Expecting value, column 3)"),
        ("[1]\n[2\n", "data line 2: invalid JSON (Expecting ',' delimiter, column 3)"),
    ],
)  # fmt: skip
def test_parse_data_errors_name_the_line(text, message):
    with pytest.raises(CommandError) as raised:
        parse_data(text, "data")
    assert str(raised.value) == message


def test_a_loaded_file_definition_is_the_one_the_registry_imports(work):
    # Same module, so same task names and fingerprint in any process.
    name, tasks = load_definition(str(work / "flows.py") + ":halting")
    assert Registry().get(name) == tasks


def test_read_data_skips_a_utf8_byte_order_mark(tmp_path):
    (tmp_path / "bom.json").write_bytes("\ufeff[1, 2]".encode())
    assert read_data(str(tmp_path / "bom.json")) == [1, 2]


# --------------------------------------------------------------------------
# A run interrupted, a workflow left RUNNING, a definition not importable


def interrupt(command, work):
    """Start ``workflow COMMAND`` (on ``flows:logged_slow``), Ctrl-C it mid-run.

    :returns: the exit status and stderr.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "workflow", *command, "--db", f"sqlite:///{work}/wf.db"],
        cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    ran = work / "ran.txt"
    already = len(ran.read_text().split()) if ran.exists() else 0
    try:
        deadline = time.monotonic() + TIMEOUT
        while not ran.exists() or len(ran.read_text().split()) < already + 3:
            assert process.poll() is None, "the run ended too early"
            assert time.monotonic() < deadline, "the run never got going"
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return process.returncode, stderr


INTERRUPTED = re.compile(
    rf"workflow: interrupted: workflow ({UUID}) is HALTED at object (\d+);"
    r" `workflow resume \1` goes on from there\n"
)


def test_ctrl_c_leaves_a_workflow_that_a_plain_resume_continues(work):
    (work / "many.json").write_text(json.dumps(list(range(40))))
    code, stderr = interrupt(["run", "flows:logged_slow", "--data", "many.json"], work)
    found = INTERRUPTED.fullmatch(stderr)
    assert (code, found is not None) == (130, True), stderr
    uuid, position = found.group(1), int(found.group(2))
    infos, objects = stored(work)
    assert [(info.uuid, info.status.name) for info in infos] == [(uuid, "HALTED")]
    assert [obj.status.name for obj in objects[uuid]] == (
        ["COMPLETED"] * position + ["HALTED"] + ["INITIAL"] * (39 - position)
    )
    assert (
        objects[uuid][position].halt_message,
        objects[uuid][position].callback_pos,
    ) == (
        "Interrupted; a resume runs this object again from task [0]",
        [0],
    )
    shown = cli("show", uuid, "--status", "halted", cwd=work)
    assert shown.stdout.split("\n\n")[1] == (
        "position  status  task              halt message"
        "                                                error\n"
        f"{position:>8}  HALTED  [0] logged_pause  Interrupted; a resume runs this"
        " object again from task [0]  -\n"
    )
    # Ctrl-C during a resume too.
    code, stderr = interrupt(["resume", uuid], work)
    again = INTERRUPTED.fullmatch(stderr)
    assert (code, again is not None) == (130, True), stderr
    assert (again.group(1), int(again.group(2)) > position) == (uuid, True)
    done = cli("resume", uuid, cwd=work)
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        f"uuid: {uuid}\nstatus: COMPLETED\n",
        "",
    )
    # Completed objects never ran again; only an interrupted one may have.
    ran = [int(number) for number in (work / "ran.txt").read_text().split()]
    assert sorted(set(ran)) == list(range(40))
    assert len(ran) <= 42
    assert ran == sorted(ran)


def test_png_to_a_terminal_is_refused(work):
    code, output, stderr = run_on_terminal(
        ["graph", "flows:halting", "--format", "png"], work
    )
    assert (code, output, stderr) == (
        1,
        "",
        "workflow: error: PNG output is binary: write it to a file with --output\n",
    )


def store_registered_workflow(work):
    """Store a halted workflow whose definition is registered by name only."""
    registry = Registry()
    registry.register("grading", [lambda obj, eng: eng.halt("stop here")])
    store = WorkflowStore(f"sqlite:///{work}/wf.db")
    try:
        store.create_all()
        eng = StoredWorkflowEngine.with_name(
            "grading", store, data=[1], registry=registry
        )
        with pytest.raises(HaltProcessing):
            eng.process()
        return eng.db_obj.uuid
    finally:
        store.dispose()


def test_show_names_no_task_when_the_definition_cannot_be_imported(work):
    uuid = store_registered_workflow(work)
    done = cli("show", uuid, cwd=work)
    assert done.stdout.split("\n\n")[1] == (
        "position  status  task  halt message  error\n"
        "       0  HALTED  [0]   stop here     -\n"
    )


NOT_REGISTERED = (
    "workflow: error: no workflow definition is registered under 'grading' in"
    " this process: import the module that registers it with --import MODULE"
    " (or $WORKFLOW_IMPORTS)\n"
)


def test_graph_of_a_workflow_whose_definition_is_not_importable(work):
    uuid = store_registered_workflow(work)
    done = cli("graph", uuid, cwd=work)
    assert (done.returncode, done.stdout, done.stderr) == (1, "", NOT_REGISTERED)


@pytest.mark.parametrize("command", ["resume", "restart"])
def test_rerunning_a_workflow_whose_definition_is_not_importable(work, command):
    uuid = store_registered_workflow(work)
    done = cli(command, uuid, cwd=work)
    assert (done.returncode, done.stdout, done.stderr) == (1, "", NOT_REGISTERED)
    assert [info.status.name for info in stored(work)[0]] == ["HALTED"]


def test_show_shortens_long_halt_messages(work):
    uuid = started(work, "flows:long_halting", "grades.json")
    done = cli("show", uuid, cwd=work)
    assert done.stdout.split("\n\n")[1].splitlines()[1] == (
        "       0  HALTED   [0] long_halt  a very long halt message a very long halt"
        " message a very ...  -"
    )


@pytest.fixture
def without_sqlalchemy(tmp_path_factory):
    """A PYTHONPATH on which ``import sqlalchemy`` fails, as when not installed."""
    shadow = tmp_path_factory.mktemp("shadow")
    (shadow / "sqlalchemy").mkdir()
    (shadow / "sqlalchemy" / "__init__.py").write_text(
        "raise ImportError('No module named sqlalchemy')\n"
    )
    return {"PYTHONPATH": str(shadow)}


def test_without_sqlalchemy_the_database_commands_say_what_to_install(
    work, without_sqlalchemy
):
    done = cli("list", cwd=work, env=without_sqlalchemy)
    assert (done.returncode, done.stderr) == (
        1,
        "workflow: error: the workflow database needs SQLAlchemy (No module named"
        " sqlalchemy): install it with pip install 'workflow[sqlalchemy]'\n",
    )


def test_without_sqlalchemy_a_definition_is_still_drawn(work, without_sqlalchemy):
    done = cli("graph", "flows:halting", cwd=work, db=False, env=without_sqlalchemy)
    assert (done.returncode, done.stdout) == (0, GRAPH_OF_HALTING)


LAZY = """
def __getattr__(name):
    if name == "flow":
        raise RuntimeError("the flow needs the grading service\\nstart it first")
    raise AttributeError(name)
"""


@pytest.mark.parametrize("sqlalchemy", ["installed", "missing"])
def test_an_unexpected_error_is_its_type_and_first_line(work, request, sqlalchemy):
    # A module computing its attributes (PEP 562) may raise anything.
    (work / "lazy.py").write_text(LAZY)
    env = (
        request.getfixturevalue("without_sqlalchemy")
        if sqlalchemy == "missing"
        else None
    )
    done = cli("graph", "lazy:flow", cwd=work, db=False, env=env)
    assert (done.returncode, done.stdout, done.stderr) == (
        1,
        "",
        "workflow: error: RuntimeError: the flow needs the grading service\n",
    )


# --------------------------------------------------------------------------
# In-process: main() called as a function


@pytest.fixture
def workflow_logger():
    """The ``workflow`` logger, its handlers, level and propagation restored after."""
    logger = logging.getLogger("workflow")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield logger
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


def test_importing_workflow_main_runs_no_command():
    # Only `python -m workflow` runs the command line, not an import.
    namespace = runpy.run_module("workflow.__main__", run_name="workflow.__main__")
    assert namespace["main"] is main


def test_main_writes_the_drawing_to_a_text_only_stdout(work, monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    code = main(["graph", f"{work}/flows.py:halting"])
    assert (code, out.getvalue()) == (0, GRAPH_OF_HALTING)


PNG_TO_TEXT_REFUSED = (
    "workflow: error: PNG output is binary and this output takes only text:"
    " write it to a file with --output\n"
)


def test_main_refuses_png_to_a_text_only_stdout(work, capsys, monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    code = main(["graph", f"{work}/flows.py:halting", "--format", "png"])
    assert (code, out.getvalue(), capsys.readouterr().err) == (
        1,
        "",
        PNG_TO_TEXT_REFUSED,
    )


def test_main_refuses_png_to_a_text_only_stdout_before_drawing(
    work, capsys, monkeypatch
):
    # Without Graphviz, drawing would fail: the refusal comes first.
    bare = work / "bin"
    bare.mkdir()
    monkeypatch.setenv("PATH", str(bare))
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    code = main(["graph", f"{work}/flows.py:halting", "--format", "png"])
    assert (code, capsys.readouterr().err) == (1, PNG_TO_TEXT_REFUSED)


def test_main_leaves_the_logging_an_application_set_up(
    work, workflow_logger, monkeypatch
):
    messages = []

    class Keep(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    handler = Keep()
    workflow_logger.addHandler(handler)
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    code = main(["run", f"{work}/flows.py:halting", "--data", f"{work}/grades.jsonl",
                 "--db", f"sqlite:///{work}/wf.db"])  # fmt: skip
    assert code == 3
    assert (workflow_logger.handlers, workflow_logger.propagate) == ([handler], True)
    assert messages == [
        f"Workflow '{work}/flows.py:halting' halted at task retake with message:"
        " grade 4 fails"
    ]


COMPLETING_DEBUG_LOG = "".join(
    "workflow.storage.engine.StoredWorkflowEngine: Running task nothing at [0]"
    f" on object {number}\n"
    for number in range(3)
)


def run_completing(work, *options):
    """Run ``flows:completing`` over ``grades.json`` (3 objects) in-process."""
    return main(["run", f"{work}/flows.py:completing", "--data", f"{work}/grades.json",
                 "--db", f"sqlite:///{work}/wf.db", *options])  # fmt: skip


def test_main_called_twice_with_debug_logs_each_line_once(work, capsys):
    run_completing(work, "--debug")
    capsys.readouterr()
    code = run_completing(work, "--debug")
    assert (code, capsys.readouterr().err) == (0, COMPLETING_DEBUG_LOG)


def test_main_without_debug_after_a_call_with_debug_logs_nothing(work, capsys):
    run_completing(work, "--debug")
    capsys.readouterr()
    code = run_completing(work)
    assert (code, capsys.readouterr().err) == (0, "")


@pytest.mark.parametrize("options", [[], ["--debug"]], ids=["plain", "debug"])
def test_main_leaves_the_workflow_logger_as_it_found_it(work, options):
    logger = logging.getLogger("workflow")
    before = (list(logger.handlers), logger.level, logger.propagate)
    run_completing(work, *options)
    assert (list(logger.handlers), logger.level, logger.propagate) == before


# --------------------------------------------------------------------------
# Operating stored workflows: --json, uuid prefixes, show, list filters,
# delete and prune, --import, --definition, clear errors


def test_json_of_run_resume_and_restart(work):
    done = cli("run", "flows:halting", "--data", "grades.jsonl", "--json", cwd=work)
    uuid = json.loads(done.stdout)["uuid"]
    assert (done.returncode, done.stderr, json.loads(done.stdout)) == (
        3,
        "",
        {
            "uuid": uuid,
            "name": "flows:halting",
            "status": "HALTED",
            "halted_message": "grade 4 fails",
            "error": None,
            "replayed": False,
        },
    )
    assert done.stdout.count("\n") == 1
    resumed = cli("resume", uuid, "--json", cwd=work)
    assert (resumed.returncode, json.loads(resumed.stdout)["halted_message"]) == (
        3,
        "grade 2 fails",
    )
    restarted = cli("restart", uuid, "--task", "next", "--json", cwd=work)
    assert (restarted.returncode, json.loads(restarted.stdout)) == (
        0,
        {
            "uuid": uuid,
            "name": "flows:halting",
            "status": "COMPLETED",
            "halted_message": None,
            "error": None,
            "replayed": False,
        },
    )


def test_json_of_list(work):
    started(work)
    infos, _ = stored(work)
    done = cli("list", "--json", cwd=work)
    info = infos[0]
    assert (done.returncode, json.loads(done.stdout)) == (
        0,
        [
            {
                "uuid": info.uuid,
                "name": "flows:halting",
                "status": "HALTED",
                "created": info.created.isoformat(),
                "modified": info.modified.isoformat(),
                "object_count": 3,
                "halted_count": 1,
                "error_count": 0,
            }
        ],
    )


def test_json_of_show_and_of_one_object(work):
    uuid = started(work)
    info = stored(work)[0][0]
    done = cli("show", uuid, "--limit", "2", "--json", cwd=work)
    shown = json.loads(done.stdout)
    assert (done.returncode, shown["workflow"], shown["object_counts"]) == (
        0,
        info.to_dict(),
        {"INITIAL": 1, "COMPLETED": 1, "HALTED": 1, "RUNNING": 0, "ERROR": 0},
    )
    assert [obj["position"] for obj in shown["objects"]] == [0, 1]
    assert shown["objects_matching"] == 3
    one = cli("show", uuid, "--object", "1", "--json", cwd=work)
    assert json.loads(one.stdout) == {
        **stored(work)[1][uuid][1].to_dict(),
        "halt_message": "grade 4 fails",
        "callback_pos": [0, 1, 0],
    }


def test_delete_and_prune_json(work):
    uuid = started(work)
    deleted = cli("delete", uuid, "--yes", "--json", cwd=work)
    pruned = cli("prune", "--older-than", "1d", "--status", "completed", "--json",
                 cwd=work)  # fmt: skip
    assert (deleted.returncode, json.loads(deleted.stdout)) == (0, {"deleted": [uuid]})
    assert (pruned.returncode, json.loads(pruned.stdout)) == (0, {"deleted": []})


def set_uuids(work, *uuids):
    """Give the stored workflows (objectless ones) these uuids, oldest first."""
    with sqlite3.connect(work / "wf.db") as connection:
        rows = connection.execute(
            "SELECT uuid FROM workflow_workflow ORDER BY created, uuid"
        ).fetchall()
        for (old,), new in zip(rows, uuids):
            connection.execute(
                "UPDATE workflow_workflow SET uuid = ? WHERE uuid = ?", (new, old)
            )
    connection.close()


def test_a_uuid_prefix_in_any_case_names_the_workflow(work):
    uuid = started(work)
    prefix = uuid[:6].upper()
    shown = cli("show", prefix, cwd=work)
    drawn = cli("graph", prefix, cwd=work)
    resumed = cli("resume", prefix, cwd=work)
    whole = cli("restart", uuid.upper(), cwd=work)
    assert (shown.returncode, shown.stdout.splitlines()[0]) == (0, f"uuid:     {uuid}")
    assert (drawn.returncode, drawn.stdout.splitlines()[-1]) == (
        0,
        "    class n0_1_0 halted",
    )
    assert (resumed.returncode, resumed.stdout.splitlines()[0]) == (3, f"uuid: {uuid}")
    assert (whole.returncode, whole.stdout.splitlines()[0]) == (3, f"uuid: {uuid}")


def test_an_ambiguous_uuid_prefix_is_refused_with_the_candidates(work):
    for _ in range(3):
        cli("run", "flows:completing", cwd=work)
    first = "abcd0000-0000-4000-8000-000000000000"
    second = "abcd1111-0000-4000-8000-000000000000"
    set_uuids(work, first, second, "bbbb0000-0000-4000-8000-000000000000")
    for command in (["show"], ["resume"], ["graph"], ["delete"]):
        done = cli(*command, "ABCD", cwd=work)
        assert (done.returncode, done.stdout, done.stderr) == (
            1,
            "",
            f"workflow: error: 'abcd' is the start of several workflow uuids:"
            f" {first}, {second}; give more of the uuid\n",
        )
    assert cli("show", "abcd1", cwd=work).stdout.splitlines()[0] == (
        f"uuid:     {second}"
    )
    assert len(stored(work)[0]) == 3


def test_show_object_prints_the_full_traceback(work):
    (work / "wordy.py").write_text(
        "def check(grade):\n"
        "    raise ValueError(f'bad grade {grade}')\n"
        "\n"
        "def explain(obj, eng):\n"
        "    try:\n"
        "        check(obj.data)\n"
        "    except ValueError as exc:\n"
        "        raise RuntimeError('grading stopped') from exc\n"
        "\n"
        "flow = [explain]\n"
    )
    uuid = started(work, "wordy.py:flow", "grades.json")
    done = cli("show", uuid, "--object", "0", cwd=work)
    traceback_text = stored(work)[1][uuid][0].error_message
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (
        f"workflow:     {uuid}\n"
        "position:     0\n"
        "status:       ERROR\n"
        "task:         [0] explain\n"
        "halt message: -\n"
        "halt action:  -\n"
        "halt payload: -\n"
        "data:         6\n"
        "extra data:   {}\n"
        f"error:\n{traceback_text}"
    )
    # The whole traceback, both exceptions and every frame, not one line.
    assert traceback_text.startswith("Traceback (most recent call last):\n")
    assert (
        f'  File "{work}/wordy.py", line 2, in check\n'
        "    raise ValueError(f'bad grade {grade}')\n"
        "ValueError: bad grade 6\n"
        "\n"
        "The above exception was the direct cause of the following exception:\n"
    ) in traceback_text
    assert traceback_text.endswith("RuntimeError: grading stopped\n")


def test_show_object_of_a_halt_with_its_action_and_payload(work):
    uuid = started(work, "flows:asking", "grades.json")
    done = cli("show", uuid, "--object", "0", cwd=work)
    assert done.stdout == (
        f"workflow:     {uuid}\n"
        "position:     0\n"
        "status:       HALTED\n"
        "task:         [0] ask\n"
        "halt message: needs review\n"
        "halt action:  review\n"
        'halt payload: {"grade": 6}\n'
        "data:         6\n"
        "extra data:   {}\n"
        "error:        -\n"
    )
    missing = cli("show", uuid, "--object", "3", cwd=work)
    assert (missing.returncode, missing.stderr) == (
        1,
        f"workflow: error: Workflow {uuid} has no object at position 3: it has"
        " positions 0 to 2\n",
    )


def test_show_of_100000_objects_prints_a_summary_and_the_first_rows(work):
    registry = Registry()
    registry.register("big", [lambda obj, eng: None])
    store = WorkflowStore(f"sqlite:///{work}/wf.db")
    try:
        store.create_all()
        uuid = StoredWorkflowEngine.with_name(
            "big", store, data=list(range(100_000)), registry=registry
        ).db_obj.uuid
        with store.engine.begin() as connection:
            connection.exec_driver_sql(
                "UPDATE workflow_object SET status = 2, callback_pos = '[0]',"
                " halt_message = 'check ' || position"
                " WHERE position % 25000 = 7"
            )
    finally:
        store.dispose()
    done = cli("show", uuid, cwd=work)
    lines = done.stdout.splitlines()
    assert (done.returncode, len(lines)) == (0, 7 + 1 + 20 + 2)
    assert lines[5:8] == [
        "objects:  100000 (99996 INITIAL, 4 HALTED)",
        "",
        ("position  status   task  halt message  error"),
    ]
    assert lines[8:10] == [
        "       0  INITIAL  -     -             -",
        "       1  INITIAL  -     -             -",
    ]
    assert lines[15] == "       7  HALTED   [0]   check 7       -"
    assert lines[-2:] == [
        "",
        "20 of 100000 objects shown: --limit N shows more (0: all), --status"
        " STATUS some, --object POSITION one in full",
    ]
    halted = cli("show", uuid, "--status", "halted", "--limit", "3", cwd=work)
    assert halted.stdout.split("\n\n", 1)[1] == (
        "position  status  task  halt message  error\n"
        "       7  HALTED  [0]   check 7       -\n"
        "   25007  HALTED  [0]   check 25007   -\n"
        "   50007  HALTED  [0]   check 50007   -\n"
        "\n"
        "3 of 4 HALTED objects shown: --limit N shows more (0: all), --status"
        " STATUS some, --object POSITION one in full\n"
    )
    error = cli("show", uuid, "--status", "error", cwd=work)
    assert error.stdout.split("\n\n", 1)[1] == (
        "position  status  task  halt message  error\n"
    )


def test_list_limit_name_and_since(work):
    for definition in ("flows:halting", "flows:completing", "flows:halting"):
        cli("run", definition, "--data", "grades.jsonl", cwd=work)
    old, middle, new = stored(work)[0]
    with sqlite3.connect(work / "wf.db") as connection:
        connection.execute(
            "UPDATE workflow_workflow SET modified = '2020-01-01 10:00:00.000000'"
            " WHERE uuid = ?",
            (old.uuid,),
        )
    connection.close()

    def listed(*options):
        done = cli("list", *options, "--json", cwd=work)
        assert done.returncode == 0, done.stderr
        return [info["uuid"] for info in json.loads(done.stdout)]

    assert listed("--limit", "2") == [middle.uuid, new.uuid]
    assert listed("--limit", "0") == []
    assert listed("--name", "halt") == [old.uuid, new.uuid]
    assert listed("--name", "%") == []
    assert listed("--since", "1h") == [middle.uuid, new.uuid]
    assert listed("--since", "2019-12-31") == [old.uuid, middle.uuid, new.uuid]
    assert listed("--since", "2020-01-01T11:00:00+02:00") == [
        old.uuid,
        middle.uuid,
        new.uuid,
    ]
    assert listed("--since", "2020-01-01T10:00:01") == [middle.uuid, new.uuid]
    assert listed("--name", "halting", "--status", "halted", "--limit", "1") == [
        new.uuid
    ]
    table = cli("list", "--limit", "1", cwd=work)
    assert table.stdout.splitlines()[1].endswith(f"  {when(new.modified)}")
    assert when(new.modified).endswith(" UTC")


def test_delete_asks_first(work):
    uuid = started(work)
    refused = cli("delete", uuid[:8], cwd=work, stdin="n\n")
    question = f"delete workflow {uuid} (flows:halting, HALTED, 3 objects)? [y/N] "
    assert (refused.returncode, refused.stdout, refused.stderr) == (
        1,
        "",
        question + "n\nworkflow: error: not confirmed: nothing deleted (answer y, or"
        " pass --yes)\n",
    )
    silent = cli("delete", uuid, cwd=work, stdin="")
    assert (silent.returncode, len(stored(work)[0])) == (1, 1)
    done = cli("delete", uuid, cwd=work, stdin="y\n")
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        f"deleted: {uuid}\n",
        question + "y\n",
    )
    assert stored(work) == ([], {})
    with sqlite3.connect(work / "wf.db") as connection:
        left = connection.execute("SELECT count(*) FROM workflow_object").fetchone()
    connection.close()
    assert left == (0,)


def test_delete_of_a_running_workflow_needs_force(work):
    uuid = started(work)
    with sqlite3.connect(work / "wf.db") as connection:
        connection.execute("UPDATE workflow_workflow SET status = 1")
    connection.close()
    refused = cli("delete", uuid, "--yes", cwd=work)
    assert (refused.returncode, refused.stderr) == (
        1,
        f"workflow: error: workflow {uuid} is RUNNING: it is not deleted; if its"
        " process died, delete it with --force\n",
    )
    assert [obj.position for obj in stored(work)[1][uuid]] == [0, 1, 2]
    forced = cli("delete", uuid, "--yes", "--force", cwd=work)
    assert (forced.returncode, forced.stdout, stored(work)) == (
        0,
        f"deleted: {uuid}\n",
        ([], {}),
    )


def test_prune_deletes_old_workflows_of_one_status(work):
    for definition in ("flows:completing", "flows:completing", "flows:halting"):
        cli("run", definition, "--data", "grades.jsonl", cwd=work)
    old, recent, halted = stored(work)[0]
    with sqlite3.connect(work / "wf.db") as connection:
        connection.execute(
            "UPDATE workflow_workflow SET modified = '2020-01-01 10:00:00.000000'"
            " WHERE uuid IN (?, ?)",
            (old.uuid, halted.uuid),
        )
    connection.close()
    refused = cli("prune", "--older-than", "30d", "--status", "completed", cwd=work,
                  stdin="no\n")  # fmt: skip
    question = re.escape("delete 1 COMPLETED workflow last saved before ")
    assert refused.returncode == 1
    assert re.fullmatch(
        question + r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\? \[y/N\] no\n"
        r"workflow: error: not confirmed: nothing deleted \(answer y, or pass"
        r" --yes\)\n",
        refused.stderr,
    )
    done = cli("prune", "--older-than", "30d", "--status", "COMPLETED", cwd=work,
               stdin="y\n")  # fmt: skip
    assert (done.returncode, done.stdout) == (0, "deleted 1 workflow\n")
    assert [info.uuid for info in stored(work)[0]] == [recent.uuid, halted.uuid]
    again = cli("prune", "--older-than", "2w", "--status", "completed", cwd=work)
    assert (again.returncode, again.stdout, again.stderr) == (
        0,
        "deleted 0 workflows\n",
        "",
    )
    halted_pruned = cli("prune", "--older-than", "1d12h", "--status", "halted",
                        "--yes", cwd=work)  # fmt: skip
    assert (halted_pruned.stdout, [i.uuid for i in stored(work)[0]]) == (
        "deleted 1 workflow\n",
        [recent.uuid],
    )


GRADING_MODULE = """
from workflow.storage import registry


def stop_here(obj, eng):
    eng.halt("stop here")


def finish(obj, eng):
    pass


registry.register("grading", [stop_here, finish])
"""

STARTER = """
import sys

import grading_defs
from workflow.storage import WorkflowStore, start

store = WorkflowStore(sys.argv[1])
store.create_all()
print(start("grading", [1], store).uuid)
store.dispose()
"""


def started_by_a_worker(work):
    """Start a 'grading' workflow, registered by name, as a worker would."""
    (work / "grading_defs.py").write_text(GRADING_MODULE)
    (work / "starter.py").write_text(STARTER)
    done = subprocess.run(
        [sys.executable, "starter.py", f"sqlite:///{work}/wf.db"],
        cwd=work, capture_output=True, text=True, timeout=TIMEOUT, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def test_import_reaches_definitions_registered_by_name(work):
    uuid = started_by_a_worker(work)
    shown = cli("show", uuid, "--import", "grading_defs", cwd=work)
    drawn = cli("graph", uuid, cwd=work, env={"WORKFLOW_IMPORTS": "grading_defs"})
    resumed = cli("resume", uuid, "--import", "grading_defs", cwd=work)
    assert shown.stdout.split("\n\n")[1] == (
        "position  status  task           halt message  error\n"
        "       0  HALTED  [0] stop_here  stop here     -\n"
    )
    assert (drawn.returncode, drawn.stdout) == (
        0,
        "flowchart TD\n"
        '    wf_start(("Start"))\n'
        '    n0["stop_here"]\n'
        '    n1["finish"]\n'
        '    wf_end(("End"))\n'
        "    wf_start --> n0\n"
        "    n0 --> n1\n"
        "    n1 --> wf_end\n"
        "    classDef halted fill:#ffd8a8,stroke:#d9480f,stroke-width:3px\n"
        "    class n0 halted\n",
    )
    assert (resumed.returncode, resumed.stdout) == (
        0,
        f"uuid: {uuid}\nstatus: COMPLETED\n",
    )


def test_workflow_imports_takes_several_modules(work):
    uuid = started_by_a_worker(work)
    (work / "other.py").write_text("IMPORTED = True\n")
    env = {"WORKFLOW_IMPORTS": " other, grading_defs "}
    done = cli("resume", uuid, cwd=work, env=env)
    assert (done.returncode, done.stderr) == (0, "")


@pytest.mark.parametrize(
    ("options", "env", "message"),
    [
        (
            ["--import", "no_such_module"],
            {},
            "--import no_such_module: cannot import module 'no_such_module': no"
            " module named 'no_such_module' (is it installed, or in the current"
            " directory?)",
        ),
        (
            [],
            {"WORKFLOW_IMPORTS": "exits"},
            "WORKFLOW_IMPORTS exits: error while importing 'exits': it called"
            " sys.exit(7)",
        ),
    ],
)
def test_import_errors_name_the_module_and_where_it_came_from(
    work, options, env, message
):
    (work / "exits.py").write_text("import sys\n\nsys.exit(7)\n")
    done = cli("list", *options, cwd=work, env=env)
    assert (done.returncode, done.stdout, done.stderr) == (
        1,
        "",
        f"workflow: error: {message}\n",
    )


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ("exits:flow", "error while importing 'exits': it called sys.exit(7)"),
        ("exits.py:flow", "error while loading 'exits.py': it called sys.exit(7)"),
        ("quits:flow", "error while importing 'quits': it called sys.exit()"),
    ],
)
def test_a_definition_module_calling_sys_exit_is_an_error(work, definition, message):
    (work / "exits.py").write_text("import sys\n\nsys.exit(7)\n")
    (work / "quits.py").write_text("import sys\n\nsys.exit()\n")
    done = cli("run", definition, cwd=work)
    assert (done.returncode, done.stdout, done.stderr) == (
        1,
        "",
        f"workflow: error: {message}\n",
    )


def test_resume_with_the_definition_of_a_moved_file(work):
    (work / "old").mkdir()
    (work / "old" / "grading.py").write_text(FLOWS)
    uuid = started(work, "old/grading.py:halting")
    (work / "new").mkdir()
    (work / "old" / "grading.py").rename(work / "new" / "grading.py")
    lost = cli("resume", uuid, cwd=work)
    assert (lost.returncode, lost.stderr) == (
        1,
        f"workflow: error: definition file '{work}/old/grading.py' does not exist\n",
    )
    done = cli("resume", uuid, "--definition", "new/grading.py:halting", cwd=work)
    assert (done.returncode, done.stdout) == (
        3,
        f"uuid: {uuid}\nstatus: HALTED\nhalted: grade 2 fails\n",
    )
    restarted = cli("restart", uuid, "--task", "next", "--definition",
                    f"{work}/new/grading.py:halting", cwd=work)  # fmt: skip
    assert (restarted.returncode, restarted.stdout.splitlines()[1]) == (
        0,
        "status: COMPLETED",
    )


def test_resume_with_another_definition_needs_force(work):
    uuid = started(work, "flows.py:halting")
    (work / "moved.py").write_text(FLOWS.replace("[retake]", "[nothing, retake]"))
    refused = cli("resume", uuid, "--definition", "moved.py:halting", cwd=work)
    assert (refused.returncode, refused.stdout, refused.stderr) == (
        1,
        "",
        "workflow: error: --definition 'moved.py:halting' is not the definition"
        f" workflow {uuid} was saved with (its tasks or their nesting differ):"
        " pass --allow-changed-definition to run it anyway\n",
    )
    assert stored(work)[0][0].status.name == "HALTED"
    forced = cli("resume", uuid, "--definition", "moved.py:halting", "--force",
                 cwd=work)  # fmt: skip
    assert forced.returncode == 3


def test_resume_and_restart_of_a_completed_workflow_differ(work):
    (work / "two.json").write_text("[1, 2]")
    uuid = started(work, "flows:noting", "two.json")
    notes = work / "notes.txt"
    assert notes.read_text() == "a1 b1 a2 b2 "
    resumed = cli("resume", uuid, cwd=work)
    assert (resumed.returncode, resumed.stdout) == (
        0,
        f"uuid: {uuid}\nstatus: COMPLETED\n",
    )
    assert notes.read_text() == "a1 b1 a2 b2 "
    restarted = cli("restart", uuid, "--object", "current", "--task", "next", cwd=work)
    assert (restarted.returncode, restarted.stdout) == (
        0,
        f"uuid: {uuid}\nstatus: COMPLETED\n",
    )
    # The last object's next task ran again.
    assert notes.read_text() == "a1 b1 a2 b2 b2 "


@pytest.fixture
def without_psycopg(tmp_path_factory):
    """A PYTHONPATH on which ``import psycopg`` fails, as when not installed."""
    shadow = tmp_path_factory.mktemp("no_psycopg")
    for name in ("psycopg", "psycopg2"):
        (shadow / name).mkdir()
        (shadow / name / "__init__.py").write_text(
            f"raise ModuleNotFoundError(\"No module named '{name}'\", name='{name}')\n"
        )
    return {"PYTHONPATH": str(shadow)}


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "postgresql+psycopg://someone:secret@127.0.0.1/db",
            "the database URL 'postgresql+psycopg://someone:***@127.0.0.1/db' needs"
            " the PostgreSQL driver psycopg, which is not installed: install it"
            " with pip install 'workflow[postgresql]'",
        ),
        (
            "postgresql+psycopg2://someone@127.0.0.1/db",
            "the database URL 'postgresql+psycopg2://someone@127.0.0.1/db' needs"
            " the PostgreSQL driver 'psycopg2', which is not installed: install the"
            " driver the storage is tested with, pip install"
            " 'workflow[postgresql]', and write the URL as"
            " 'postgresql+psycopg://...'",
        ),
    ],
)
def test_a_postgresql_url_without_its_driver_names_the_extra(
    work, without_psycopg, url, message
):
    done = cli("run", "flows:completing", "--db", url, cwd=work, db=False,
               env=without_psycopg)  # fmt: skip
    assert (done.returncode, done.stdout, done.stderr) == (
        1,
        "",
        f"workflow: error: {message}\n",
    )


@pytest.mark.postgresql
def test_operator_commands_on_postgresql(work, postgresql_url):
    def on_postgresql(*args, stdin=None):
        return cli(*args, "--db", postgresql_url, cwd=work, db=False, stdin=stdin)

    uuid = uuid_of(
        on_postgresql("run", "flows:failing", "--data", "grades.jsonl").stdout
    )
    shown = on_postgresql("show", uuid[:8].upper(), "--status", "error")
    assert shown.stdout.split("\n\n")[1] == (
        "position  status  task         halt message  error\n"
        "       2  ERROR   [1] explode  -             ValueError: bad grade\n"
    )
    one = on_postgresql("show", uuid[:8], "--object", "2", "--json")
    assert json.loads(one.stdout)["error_message"].endswith("ValueError: bad grade\n")
    listed = on_postgresql("list", "--since", "1h", "--name", "fail", "--json")
    assert [info["uuid"] for info in json.loads(listed.stdout)] == [uuid]
    pruned = on_postgresql("prune", "--older-than", "1h", "--status", "error", "--yes")
    assert pruned.stdout == "deleted 0 workflows\n"
    deleted = on_postgresql("delete", uuid[:8], stdin="yes\n")
    assert (deleted.returncode, deleted.stdout) == (0, f"deleted: {uuid}\n")
    assert on_postgresql("list", "--json").stdout == "[]\n"


def test_show_reads_objects_only_with_count_and_limit(work, monkeypatch):
    # However many objects a workflow has, show never reads them all.
    uuid = started(work)
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(" ".join(statement.split()))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        monkeypatch.setattr(sys, "stdout", io.StringIO())
        code = main(["show", uuid, "--limit", "2", "--db", f"sqlite:///{work}/wf.db"])
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    object_reads = [text for text in statements if "FROM workflow_object" in text]
    assert code == 0
    assert len(object_reads) == 3
    assert [
        text for text in object_reads if "count(" not in text and "LIMIT" not in text
    ] == []
