"""The Celery application the test workers run (``-A tests.contrib.celery_app``).

The broker, the result backend and the workflow database come from
environment variables set by the fixtures in ``conftest.py``. The redis
visibility timeout is a few seconds, so that a message whose worker was
killed comes back quickly. The result backend is redis, through
:class:`tests.contrib.chaos.ChaosRedisBackend`, so that a test can have the
worker killed at an exact moment (``WORKFLOW_TEST_CHAOS``).
"""

from __future__ import annotations

import json
import os

from celery import Celery

from tests.contrib import (
    celery_definitions,  # noqa: F401  (registers definitions)
    chaos,
)
from workflow.contrib.celery import recommended_settings, register_tasks

QUEUE = "workflow-tests"
VISIBILITY_TIMEOUT = 5

broker_url = os.environ.get("WORKFLOW_TEST_BROKER_URL", "redis://127.0.0.1:6379/0")

app = Celery("workflow_celery_tests", set_as_current=False)
app.conf.update(recommended_settings())
app.conf.update(
    broker_url=broker_url,
    result_backend=f"{chaos.__name__}:{chaos.ChaosRedisBackend.__name__}+{broker_url}",
    broker_connection_retry_on_startup=True,
    broker_transport_options={
        "visibility_timeout": VISIBILITY_TIMEOUT,
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    },
)

chaos.install()

tasks = register_tasks(
    app,
    os.environ.get("WORKFLOW_TEST_STORE_URL", "sqlite:///workflow-tests.db"),
    queue=QUEUE,
    routing_key=QUEUE,
    prefix="wftest",
    max_retries=int(os.environ.get("WORKFLOW_TEST_MAX_RETRIES", "5")),
    retry_backoff=0.2,
    retry_backoff_max=1.0,
    store_options=json.loads(os.environ.get("WORKFLOW_TEST_STORE_OPTIONS", "{}")),
)
