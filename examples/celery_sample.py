"""Run a workflow inside a Celery task (the workflow 2.0 documentation sample).

Start a worker in one terminal, from this directory::

    celery -A celery_sample worker --loglevel=info

then queue a run from another terminal::

    python celery_sample.py

The worker prints 12, 22 and 32. The broker is ``CELERY_BROKER_URL`` from the
environment, or a redis server on localhost.
"""

from __future__ import annotations

import os

from celery import Celery

# The worker finds `app` with `-A celery_sample`. The first argument must be
# the module's name: run as a script, this module is `__main__`, and Celery
# then names its tasks after it, so sender and worker agree on
# "celery_sample.run_workflow".
app = Celery(
    "celery_sample",
    broker=os.environ.get("CELERY_BROKER_URL", "redis://localhost:6379/0"),
)


def add(obj, eng):
    """Add 2 to the object's value."""
    obj["value"] += 2


def print_res(obj, eng):
    """Print the object's value; the worker log shows it."""
    print(obj.get("value"))


flow = [add, print_res]


@app.task
def run_workflow(data):
    """Run ``flow`` over ``data``, a list of ``{"value": number}`` dicts."""
    # The engine is imported where it is used: the worker imports this module
    # to find the task, and only the task needs the engine.
    from workflow.engine import GenericWorkflowEngine

    wfe = GenericWorkflowEngine()
    # workflow 2.0 spelled this wfe.setWorkflow(flow), which still works but
    # warns that it is deprecated.
    wfe.callbacks.replace(flow)
    wfe.process(data)


if __name__ == "__main__":
    # Queue one run; start this script as often as you like and the worker(s)
    # share the runs.
    run_workflow.delay([{"value": 10}, {"value": 20}, {"value": 30}])
