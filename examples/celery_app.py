"""The Celery application of the stored-workflow example (``docs/celery.rst``).

Workers load it with ``-A celery_app``, from this directory::

    celery -A celery_app worker -Q workflows --concurrency=4

The broker, the result backend and the workflow database come from the
environment variables ``BROKER_URL``, ``RESULT_BACKEND_URL`` and
``WORKFLOW_DATABASE_URL``.
"""

import os

import grading_definitions  # noqa: F401  (registers "grading")
from celery import Celery

from workflow.contrib.celery import recommended_settings, register_tasks

app = Celery(
    "celery_app",
    broker=os.environ["BROKER_URL"],  # e.g. redis://redis-host:6379/0
    backend=os.environ["RESULT_BACKEND_URL"],  # e.g. redis://redis-host:6379/1
)
app.conf.update(recommended_settings())
workflows = register_tasks(
    app,
    os.environ["WORKFLOW_DATABASE_URL"],  # e.g. postgresql+psycopg://...
    queue="workflows",
)
