"""WorkflowStore: schema, sessions and connection settings on real databases."""

from __future__ import annotations

import datetime

import pytest
from sqlalchemy import inspect, select, text

from workflow.storage import ObjectRecord, WorkflowRecord, WorkflowStore


@pytest.fixture
def store(store_url):
    store = WorkflowStore(store_url)
    try:
        yield store
    finally:
        store.dispose()


def test_create_all_creates_the_tables_and_indexes_and_can_run_again(store):
    store.create_all()
    store.create_all()
    inspector = inspect(store.engine)
    assert sorted(inspector.get_table_names()) == [
        "workflow_alembic_version",
        "workflow_history",
        "workflow_object",
        "workflow_workflow",
    ]
    indexes = {
        index["name"]: index["column_names"]
        for table in ("workflow_history", "workflow_object", "workflow_workflow")
        for index in inspector.get_indexes(table)
        if not index.get("duplicates_constraint")
    }
    assert indexes == {
        "ix_workflow_history_message": ["message_id"],
        "ix_workflow_history_workflow": ["workflow_uuid", "id"],
        "ix_workflow_object_status": ["status"],
        "ix_workflow_object_status_action": [
            "status",
            "halt_action",
            "modified",
            "id",
        ],
        "ix_workflow_workflow_created_uuid": ["created", "uuid"],
        "ix_workflow_workflow_status": ["status"],
    }
    assert [
        constraint["column_names"]
        for constraint in inspector.get_unique_constraints("workflow_object")
    ] == [["workflow_uuid", "position"]]


def make_record(uuid):
    return WorkflowRecord(uuid=uuid, name="n", fingerprint="f")


def test_session_commits_when_the_block_ends(store):
    store.create_all()
    with store.session() as session:
        session.add(make_record("kept"))
    with store.session() as session:
        assert session.scalars(select(WorkflowRecord.uuid)).all() == ["kept"]


def test_session_rolls_back_when_the_block_raises(store):
    store.create_all()
    with pytest.raises(RuntimeError), store.session() as session:
        session.add(make_record("dropped"))
        session.flush()
        raise RuntimeError("give up")
    with store.session() as session:
        assert session.scalars(select(WorkflowRecord.uuid)).all() == []


def test_a_new_record_gets_its_defaults(store):
    store.create_all()
    with store.session() as session:
        session.add(make_record("defaults"))
    with store.session() as session:
        record = session.get(WorkflowRecord, "defaults")
        assert (
            record.status,
            record.token_pos,
            record.callback_pos,
            record.extra_data,
            record.version,
        ) == (0, -1, [0], {}, 0)
        assert record.created.tzinfo is not None


def test_a_naive_datetime_is_stored_as_utc_on_sqlite(sqlite_url):
    naive = datetime.datetime(2024, 1, 2, 12, 30)
    with WorkflowStore(sqlite_url) as store:
        store.create_all()
        with store.session() as session:
            session.add(
                WorkflowRecord(uuid="naive", name="n", fingerprint="f", created=naive)
            )
        with store.session() as session:
            created = session.get(WorkflowRecord, "naive").created
    assert created == naive.replace(tzinfo=datetime.timezone.utc)
    assert created.tzinfo is datetime.timezone.utc


@pytest.fixture
def paris_store(postgresql_url):
    """A PostgreSQL store whose sessions use a time zone other than UTC."""
    store = WorkflowStore(
        postgresql_url, connect_args={"options": "-c timezone=Europe/Paris"}
    )
    store.create_all()
    try:
        yield store
    finally:
        store.dispose()


@pytest.mark.postgresql
def test_a_naive_datetime_is_stored_as_utc_whatever_the_session_time_zone(
    paris_store,
):
    with paris_store.session() as session:
        session.add(
            WorkflowRecord(
                uuid="naive",
                name="n",
                fingerprint="f",
                created=datetime.datetime(2024, 1, 2, 12, 0),
            )
        )
    with paris_store.engine.connect() as connection:
        stored = connection.execute(
            text(
                "SELECT created AT TIME ZONE 'UTC' FROM workflow_workflow"
                " WHERE uuid = 'naive'"
            )
        ).scalar_one()
    assert stored == datetime.datetime(2024, 1, 2, 12, 0)


@pytest.mark.postgresql
def test_a_datetime_is_read_back_in_utc_whatever_the_session_time_zone(
    paris_store,
):
    noon = datetime.datetime(2024, 1, 2, 12, 0, tzinfo=datetime.timezone.utc)
    with paris_store.session() as session:
        session.add(
            WorkflowRecord(uuid="aware", name="n", fingerprint="f", created=noon)
        )
    with paris_store.session() as session:
        created = session.get(WorkflowRecord, "aware").created
    assert (created.isoformat(), created.tzinfo) == (
        "2024-01-02T12:00:00+00:00",
        datetime.timezone.utc,
    )


def test_a_workflow_record_repr_names_it_and_its_status(store):
    store.create_all()
    with store.session() as session:
        session.add(make_record("kept"))
    with store.session() as session:
        assert repr(session.get(WorkflowRecord, "kept")) == (
            "<WorkflowRecord kept 'n' status=0>"
        )


def test_an_object_record_repr_names_its_workflow_position_and_status(store):
    store.create_all()
    with store.session() as session:
        session.add(make_record("kept"))
        session.flush()
        session.add(ObjectRecord(workflow_uuid="kept", position=3, data=1, status=2))
    with store.session() as session:
        record = session.scalars(select(ObjectRecord)).one()
        assert repr(record) == (
            f"<ObjectRecord {record.id} of kept position=3 status=2>"
        )


@pytest.mark.parametrize(
    ("pragma", "value"),
    [
        ("journal_mode", "wal"),
        ("synchronous", 1),
        ("foreign_keys", 1),
        ("busy_timeout", 30000),
    ],
)
def test_sqlite_connections_get_wal_and_sensible_pragmas(sqlite_url, pragma, value):
    with WorkflowStore(sqlite_url) as store, store.engine.connect() as connection:
        assert connection.exec_driver_sql(f"PRAGMA {pragma}").scalar() == value


def test_a_bad_url_is_refused_naming_it():
    with pytest.raises(ValueError) as raised:
        WorkflowStore("not a url")
    assert str(raised.value).startswith(
        "WorkflowStore url 'not a url' is not a database URL"
    )


def test_repr_hides_the_password():
    store = WorkflowStore("postgresql+psycopg://user:secret@127.0.0.1:1/db")
    assert repr(store) == "<WorkflowStore postgresql+psycopg://user:***@127.0.0.1:1/db>"
    store.dispose()
