"""The stored-workflow example of ``docs/celery.rst``, on a real worker.

The page includes ``examples/grading_definitions.py``,
``examples/celery_app.py`` and ``examples/celery_client.py``; here a real
``celery -A celery_app worker -Q workflows`` runs in ``examples/`` against a
real redis and a SQLite file, and the client module drives it exactly as the
page says a web application does.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.contrib.conftest import REPO_ROOT, WorkerPool, empty_redis_db
from workflow.storage import WorkflowStore, list_objects, registry

EXAMPLES = REPO_ROOT / "examples"
EXAMPLE_MODULES = ("celery_client", "celery_app", "grading_definitions")
RESULT_BACKEND_DB = 6

pytestmark = [pytest.mark.celery, pytest.mark.timeout(90)]


@pytest.fixture
def documented_worker(
    worker_pool: WorkerPool,
    redis_server: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[ModuleType, str]]:
    """A worker of ``examples/celery_app.py`` and the imported client module.

    Yields the client module and the workflow database URL.
    """
    store_url = f"sqlite:///{tmp_path / 'workflows.db'}"
    urls = {
        "BROKER_URL": worker_pool.broker_url,
        "RESULT_BACKEND_URL": empty_redis_db(redis_server, RESULT_BACKEND_DB),
        "WORKFLOW_DATABASE_URL": store_url,
    }
    for name, value in urls.items():
        monkeypatch.setenv(name, value)
    monkeypatch.syspath_prepend(str(EXAMPLES))
    # The example registers "grading" in this process too; keep that
    # registration to this test.
    monkeypatch.setattr(registry, "_definitions", dict(registry._definitions))
    for name in EXAMPLE_MODULES:
        monkeypatch.delitem(sys.modules, name, raising=False)
    client = importlib.import_module("celery_client")
    try:
        client.create_tables()
        worker = worker_pool.start(
            "documented",
            store_url,
            app="celery_app",
            queue="workflows",
            cwd=EXAMPLES,
            extra_env=urls,
        )
        worker_pool.wait_ready(worker)
        yield client, store_url
    finally:
        sys.modules["celery_app"].app.close()
        for name in EXAMPLE_MODULES:
            sys.modules.pop(name, None)


def test_grade_exam_halts_on_the_low_grade(documented_worker) -> None:
    client, _ = documented_worker
    outcome = client.grade_exam([6, 3])
    assert outcome == {
        "uuid": outcome["uuid"],
        "name": "grading",
        "status": "HALTED",
        "halted_message": "needs a human look",
        "error": None,
        "skipped": None,
        "replayed": False,
    }


def test_after_review_completes_the_workflow(documented_worker) -> None:
    client, store_url = documented_worker
    outcome = client.after_review(client.grade_exam([6, 3]))
    assert (outcome["status"], outcome["halted_message"], outcome["skipped"]) == (
        "COMPLETED",
        None,
        None,
    )
    store = WorkflowStore(store_url)
    try:
        objects = list_objects(outcome["uuid"], store)
    finally:
        store.dispose()
    assert [obj.data for obj in objects] == [
        {"grade": 6, "recorded": True},
        {"grade": 3, "recorded": True},
    ]


def test_after_review_leaves_a_completed_workflow_alone(documented_worker) -> None:
    client, _ = documented_worker
    outcome = client.grade_exam([6, 5])
    assert outcome["status"] == "COMPLETED"
    assert client.after_review(outcome) == outcome
