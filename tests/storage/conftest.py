"""The fixture most storage tests share: a store with its schema created."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from workflow.storage import WorkflowStore


@pytest.fixture
def store(store_url: str) -> Iterator[WorkflowStore]:
    """A store with the schema created, on SQLite and on PostgreSQL.

    Modules that need a store without a schema define their own ``store``.
    """
    store = WorkflowStore(store_url)
    try:
        store.create_all()
        yield store
    finally:
        store.dispose()
