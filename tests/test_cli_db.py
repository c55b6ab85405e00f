"""Tests of ``workflow db``: the schema revision from the command line.

Every command runs as a real subprocess against a SQLite file in the
test's temporary directory.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from alembic import command
from sqlalchemy import inspect, text

from workflow.storage import WorkflowStore, list_workflows
from workflow.storage.models import SCHEMA_REVISION
from workflow.storage.schema import BASELINE_REVISION, VERSION_TABLE, alembic_config
from workflow.version import __version__

TIMEOUT = 60


def cli(work, *args):
    """Run ``python -m workflow ARGS --db sqlite:///work/wf.db`` in ``work``."""
    return subprocess.run(
        [sys.executable, "-m", "workflow", *args, "--db", f"sqlite:///{work}/wf.db"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def status_lines(work, current, state):
    return (
        f"database: sqlite:///{work}/wf.db\ncurrent: {current}\n"
        f"head: {SCHEMA_REVISION}\nstate: {state}\n"
    )


@pytest.fixture
def old_database(tmp_path):
    """A database made by workflow 2.2.0 (no version table), with a workflow."""
    store = WorkflowStore(f"sqlite:///{tmp_path}/wf.db")
    with store, store.engine.begin() as connection:
        command.upgrade(alembic_config(connection), BASELINE_REVISION)
        connection.execute(text(f"DROP TABLE {VERSION_TABLE}"))
        connection.execute(
            text(
                "INSERT INTO workflow_workflow VALUES ('w1', 'n', 4,"
                " '2024-01-01 00:00:00', '2024-01-01 00:00:00', '{}', -1,"
                " '[0]', 'f', 0)"
            )
        )
    return tmp_path


def test_db_current_on_an_empty_database_says_so_and_creates_nothing(tmp_path):
    (tmp_path / "wf.db").touch()
    done = cli(tmp_path, "db", "current")
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        status_lines(tmp_path, "none (no workflow tables)", "empty"),
        "",
    )
    with WorkflowStore(f"sqlite:///{tmp_path}/wf.db") as store:
        assert inspect(store.engine).get_table_names() == []


def test_db_upgrade_creates_a_new_database_at_the_head_revision(tmp_path):
    done = cli(tmp_path, "db", "upgrade")
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        status_lines(tmp_path, SCHEMA_REVISION, "up to date"),
        "",
    )


def test_db_current_names_a_2_2_0_database(old_database):
    done = cli(old_database, "db", "current")
    assert done.stdout == status_lines(
        old_database,
        "none (the workflow 2.2.0 schema, without a version table)",
        "unversioned",
    )


def test_db_upgrade_adopts_a_2_2_0_database_keeping_its_workflows(old_database):
    done = cli(old_database, "db", "upgrade")
    assert (done.returncode, done.stdout) == (
        0,
        status_lines(old_database, SCHEMA_REVISION, "up to date"),
    )
    with WorkflowStore(f"sqlite:///{old_database}/wf.db") as store:
        assert [info.uuid for info in list_workflows(store)] == ["w1"]


def test_other_commands_refuse_a_2_2_0_database_naming_the_upgrade(old_database):
    done = cli(old_database, "list")
    url = f"sqlite:///{old_database}/wf.db"
    assert (done.returncode, done.stdout, done.stderr) == (
        1,
        "",
        f"workflow: error: The workflow database {url} is at schema revision none"
        " (the workflow 2.2.0 schema, without a version table), but workflow"
        f" {__version__} needs revision {SCHEMA_REVISION}: upgrade it with"
        f" `workflow db upgrade --db {url}` (or"
        " workflow.storage.schema.upgrade(store))\n",
    )


def test_db_downgrade_below_the_baseline_is_refused(tmp_path):
    cli(tmp_path, "db", "upgrade")
    done = cli(tmp_path, "db", "downgrade", "base")
    assert (done.returncode, done.stderr) == (
        1,
        f"workflow: error: Cannot downgrade to 'base': the revisions of workflow"
        f" {__version__} are {BASELINE_REVISION}, {SCHEMA_REVISION}; going below"
        f" {BASELINE_REVISION}"
        " would drop every workflow, so it is not offered\n",
    )


def test_db_downgrade_to_the_current_revision_changes_nothing(tmp_path):
    cli(tmp_path, "db", "upgrade")
    done = cli(tmp_path, "db", "downgrade", SCHEMA_REVISION)
    assert (done.returncode, done.stdout) == (
        0,
        status_lines(tmp_path, SCHEMA_REVISION, "up to date"),
    )


def test_db_needs_an_action(tmp_path):
    done = cli(tmp_path, "db")
    assert done.returncode == 2
    assert "the following arguments are required: ACTION" in done.stderr
