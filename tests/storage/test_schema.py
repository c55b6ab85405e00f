"""Schema versions: creation at the head revision, upgrades, downgrades, refusals.

Every test runs on a real SQLite file and on the suite's real PostgreSQL.
A "2.2.0 database" is built in the test from the baseline revision, which
is that schema, with rows in every table.
"""

from __future__ import annotations

import datetime
import multiprocessing

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from workflow.storage import (
    SchemaVersionError,
    WorkflowStore,
    downgrade,
    list_workflows,
    schema_status,
    start,
    upgrade,
)
from workflow.storage.models import SCHEMA_REVISION, Base
from workflow.storage.schema import (
    BASELINE_REVISION,
    VERSION_TABLE,
    alembic_config,
    head_revision,
    include_object,
    is_workflow_object,
)
from workflow.version import __version__

WHEN = datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.timezone.utc)


@pytest.fixture
def store(store_url):
    store = WorkflowStore(store_url)
    try:
        yield store
    finally:
        store.dispose()


def migrate(store, action, revision):
    """Run an Alembic command of our migrations on the store, committed."""
    with store.engine.begin() as connection:
        action(alembic_config(connection), revision)


def fill_every_table(store):
    """Insert a workflow and two objects with every column set; return them."""
    with store.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO workflow_workflow (uuid, name, status, created,"
                " modified, extra_data, token_pos, callback_pos, fingerprint,"
                " version) VALUES ('w1', 'grading', 2, :when, :when,"
                " '{\"seen\": 3}', 1, '[1, 0]', 'f00d', 4)"
            ),
            {"when": WHEN},
        )
        connection.execute(
            text(
                "INSERT INTO workflow_object (id, workflow_uuid, position, data,"
                " extra_data, status, callback_pos, halt_message, halt_action,"
                " halt_payload, error_message, created, modified) VALUES"
                " (1, 'w1', 0, '{\"grade\": 6}', '{}', 1, '[2]', NULL, NULL, NULL,"
                " NULL, :when, :when),"
                " (2, 'w1', 1, '[4, \"é\"]', '{\"k\": [1]}', 2, '[1, 0]', 'check',"
                " 'approve', '{\"p\": 1}', 'Traceback', :when, :when)"
            ),
            {"when": WHEN},
        )
    return rows(store)


BASELINE_COLUMNS = {
    "workflow_workflow": (
        "uuid, name, status, created, modified, extra_data, token_pos,"
        " callback_pos, fingerprint, version"
    ),
    "workflow_object": (
        "id, workflow_uuid, position, data, extra_data, status, callback_pos,"
        " halt_message, halt_action, halt_payload, error_message, created,"
        " modified"
    ),
}


def rows(store):
    """Every row of the 2.2.0 tables (their 2.2.0 columns), in a stable order."""
    with store.engine.connect() as connection:
        return {
            table: [
                tuple(row)
                for row in connection.execute(
                    text(f"SELECT {columns} FROM {table} ORDER BY 1")
                )
            ]
            for table, columns in BASELINE_COLUMNS.items()
        }


def added_values(store):
    """The columns and table that revision 0002 added, as filled after an upgrade."""
    with store.engine.connect() as connection:
        return (
            connection.execute(
                text(
                    "SELECT uuid, claim_token, heartbeat, message_id"
                    " FROM workflow_workflow ORDER BY uuid"
                )
            ).all(),
            connection.execute(text("SELECT count(*) FROM workflow_history")).scalar(),
        )


def revisions_oldest_first():
    with create_engine("sqlite://").connect() as connection:
        script = ScriptDirectory.from_config(alembic_config(connection))
        return [item.revision for item in reversed(list(script.walk_revisions()))]


def schema_snapshot(store):
    """Tables, columns, indexes, unique and foreign keys (not the version table)."""
    inspector = inspect(store.engine)
    snapshot = {}
    for table in sorted(set(inspector.get_table_names()) - {VERSION_TABLE}):
        snapshot[table] = (
            [
                (column["name"], str(column["type"]), column["nullable"])
                for column in inspector.get_columns(table)
            ],
            sorted(
                (index["name"], tuple(index["column_names"]))
                for index in inspector.get_indexes(table)
            ),
            sorted(
                tuple(constraint["column_names"])
                for constraint in inspector.get_unique_constraints(table)
            ),
            [
                (key["referred_table"], key["options"].get("ondelete"))
                for key in inspector.get_foreign_keys(table)
            ],
        )
    return snapshot


def version_rows(store):
    with store.engine.connect() as connection:
        return connection.execute(
            text(f"SELECT version_num FROM {VERSION_TABLE}")
        ).all()


def shown(store):
    return store.url.render_as_string(hide_password=True)


# -- creation -------------------------------------------------------------------


def test_an_empty_database_is_created_at_the_head_revision_on_first_use(store):
    assert list_workflows(store) == []
    assert version_rows(store) == [(SCHEMA_REVISION,)]


def test_the_schema_revision_of_the_models_is_the_newest_shipped():
    assert head_revision() == SCHEMA_REVISION


def test_the_models_and_the_head_revision_agree(store):
    store.create_all()
    with store.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "include_object": is_workflow_object,
                "version_table": VERSION_TABLE,
            },
        )
        assert compare_metadata(context, Base.metadata) == []


def test_schema_status_of_an_empty_database_changes_nothing(store):
    status = schema_status(store)
    assert (status.current, status.head, status.state) == (
        None,
        SCHEMA_REVISION,
        "empty",
    )
    assert inspect(store.engine).get_table_names() == []


def create_concurrently(url, barrier, results):
    store = WorkflowStore(url)
    try:
        barrier.wait(timeout=60)
        result = start("tests.storage.wfdefs:KEEP", [1], store)
        results.put(result.status.name)
    except BaseException as error:
        results.put(repr(error))
        raise
    finally:
        store.dispose()


def test_several_processes_creating_one_database_at_once_all_succeed(store_url):
    processes = 4
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    results = context.Queue()
    workers = [
        context.Process(target=create_concurrently, args=(store_url, barrier, results))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(60)
    assert outcomes == ["COMPLETED"] * processes
    with WorkflowStore(store_url) as store:
        assert version_rows(store) == [(SCHEMA_REVISION,)]
        assert len(list_workflows(store)) == processes


# -- upgrades and downgrades ------------------------------------------------------


def test_a_database_at_the_baseline_revision_upgrades_with_every_row_intact(store):
    migrate(store, command.upgrade, BASELINE_REVISION)
    before = fill_every_table(store)
    upgrade(store)
    assert rows(store) == before
    assert version_rows(store) == [(SCHEMA_REVISION,)]


def test_an_upgraded_workflow_has_no_claim_and_an_empty_history(store):
    migrate(store, command.upgrade, BASELINE_REVISION)
    fill_every_table(store)
    upgrade(store)
    assert added_values(store) == ([("w1", None, None, None)], 0)


def test_a_2_2_0_database_without_a_version_table_upgrades_with_every_row_intact(
    store,
):
    migrate(store, command.upgrade, BASELINE_REVISION)
    with store.engine.begin() as connection:
        connection.execute(text(f"DROP TABLE {VERSION_TABLE}"))
    before = fill_every_table(store)
    status = upgrade(store)
    assert (status.current, status.state) == (SCHEMA_REVISION, "up to date")
    assert rows(store) == before


def test_every_revision_upgrades_and_downgrades_cleanly(store):
    revisions = revisions_oldest_first()
    snapshots = [schema_snapshot(store)]
    for revision in revisions:
        migrate(store, command.upgrade, revision)
        snapshots.append(schema_snapshot(store))
        assert version_rows(store) == [(revision,)]
    for previous in reversed(["base", *revisions[:-1]]):
        snapshots.pop()
        migrate(store, command.downgrade, previous)
        assert schema_snapshot(store) == snapshots[-1]
    assert snapshots == [{}]


def test_upgrade_leaves_an_applications_own_tables_and_alembic_version_alone(store):
    with store.engine.begin() as connection:
        connection.execute(text("CREATE TABLE alembic_version (version_num TEXT)"))
        connection.execute(text("INSERT INTO alembic_version VALUES ('app0042')"))
        connection.execute(text("CREATE TABLE app_things (id INTEGER PRIMARY KEY)"))
    upgrade(store)
    with store.engine.connect() as connection:
        assert connection.execute(text("SELECT * FROM alembic_version")).all() == [
            ("app0042",)
        ]
    assert sorted(inspect(store.engine).get_table_names()) == [
        "alembic_version",
        "app_things",
        VERSION_TABLE,
        "workflow_history",
        "workflow_object",
        "workflow_workflow",
    ]


def test_upgrade_of_an_up_to_date_database_changes_nothing(store):
    store.create_all()
    before = fill_every_table(store)
    status = upgrade(store)
    assert (status.current, status.state, rows(store)) == (
        SCHEMA_REVISION,
        "up to date",
        before,
    )


def test_downgrade_below_the_baseline_is_refused(store):
    store.create_all()
    with pytest.raises(ValueError) as raised:
        downgrade(store, "base")
    assert str(raised.value) == (
        f"Cannot downgrade to 'base': the revisions of workflow {__version__} are"
        f" {', '.join(revisions_oldest_first())}; going below {BASELINE_REVISION}"
        " would drop every workflow, so it is not offered"
    )
    assert version_rows(store) == [(SCHEMA_REVISION,)]


def test_downgrade_to_the_current_revision_keeps_every_row(store):
    store.create_all()
    before = fill_every_table(store)
    status = downgrade(store, SCHEMA_REVISION)
    assert (status.current, rows(store)) == (SCHEMA_REVISION, before)


def test_an_applications_include_object_hook_leaves_the_workflow_tables_out(store):
    store.create_all()
    tables = {
        name: Base.metadata.tables.get(name)
        for name in inspect(store.engine).get_table_names()
    }
    assert {
        name: include_object(table, name, "table", True, None)
        for name, table in tables.items()
    } == {
        VERSION_TABLE: False,
        "workflow_history": False,
        "workflow_object": False,
        "workflow_workflow": False,
    }
    index = next(iter(Base.metadata.tables["workflow_object"].indexes))
    assert include_object(index, index.name, "index", False, None) is False


# -- refusals -----------------------------------------------------------------------


def test_a_2_2_0_database_is_refused_naming_both_revisions_and_the_command(store):
    migrate(store, command.upgrade, BASELINE_REVISION)
    with store.engine.begin() as connection:
        connection.execute(text(f"DROP TABLE {VERSION_TABLE}"))
    with pytest.raises(SchemaVersionError) as raised:
        list_workflows(store)
    assert str(raised.value) == (
        f"The workflow database {shown(store)} is at schema revision none (the"
        " workflow 2.2.0 schema, without a version table), but workflow"
        f" {__version__} needs revision {SCHEMA_REVISION}: upgrade it with"
        f" `workflow db upgrade --db {shown(store)}` (or"
        " workflow.storage.schema.upgrade(store))"
    )
    assert (raised.value.current, raised.value.head) == (None, SCHEMA_REVISION)


def set_revision(store, revision):
    store.create_all()
    with store.engine.begin() as connection:
        connection.execute(
            text(f"UPDATE {VERSION_TABLE} SET version_num = :revision"),
            {"revision": revision},
        )


def test_a_database_ahead_of_the_code_is_refused_naming_both_revisions(store_url):
    with WorkflowStore(store_url) as first:
        set_revision(first, "9999")
    with WorkflowStore(store_url) as store, pytest.raises(SchemaVersionError) as raised:
        list_workflows(store)
    assert str(raised.value) == (
        f"The workflow database {shown(store)} is at schema revision 9999, newer"
        f" than workflow {__version__} knows (its newest is {SCHEMA_REVISION}):"
        " upgrade the workflow package, or downgrade the database with the newer"
        f" one (`workflow db downgrade {SCHEMA_REVISION} --db {shown(store)}`)"
    )
    assert (raised.value.current, raised.value.head) == ("9999", SCHEMA_REVISION)


def test_a_database_ahead_is_not_upgraded(store_url):
    with WorkflowStore(store_url) as first:
        set_revision(first, "9999")
    with WorkflowStore(store_url) as store, pytest.raises(SchemaVersionError):
        upgrade(store)
    with WorkflowStore(store_url) as store:
        assert version_rows(store) == [("9999",)]


def test_a_refused_database_gets_nothing_written(store_url):
    with WorkflowStore(store_url) as first:
        set_revision(first, "9999")
    with WorkflowStore(store_url) as store:
        with pytest.raises(SchemaVersionError):
            start("tests.storage.wfdefs:KEEP", [1], store)
        with store.engine.connect() as connection:
            assert (
                connection.execute(
                    text("SELECT count(*) FROM workflow_workflow")
                ).scalar()
                == 0
            )
