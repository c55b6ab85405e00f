"""Kill a test worker's pool process at an exact moment, as a chaos test would.

A worker started with ``WORKFLOW_TEST_CHAOS="<moment>:<task name>"`` kills its
own pool process (SIGKILL, nothing cleaned up) the first time a message of
that task reaches the moment; later messages, including the redelivered one,
run normally. The moments:

``before-run``
    the ``task_prerun`` signal: the message was received, nothing of the task
    body ran (so nothing was claimed or written).
``workflow-started``
    the engine's ``workflow_started`` signal: the run's claim is committed,
    no object was saved yet.
``before-result``
    the task body returned (every database write of the run is committed)
    and Celery is about to store the result: the client never gets it.

Either way the worker's main process sees its pool process die and, as the
tasks are ``reject_on_worker_lost``, puts the message back on the queue: it
comes back redelivered, with the same task id. Each kill appends
``"<moment> <task name> <task id> <pid>"`` to :data:`CHAOS_LOG` in
``WORKFLOW_TEST_DIR``.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from celery import current_task
from celery.backends.redis import RedisBackend
from celery.signals import task_prerun

from workflow.signals import workflow_started

CHAOS_VARIABLE = "WORKFLOW_TEST_CHAOS"
CHAOS_LOG = "chaos.log"
MOMENTS = ("before-run", "workflow-started", "before-result")


def _planned() -> tuple[str, str] | None:
    value = os.environ.get(CHAOS_VARIABLE)
    if not value:
        return None
    moment, _, task_name = value.partition(":")
    if moment not in MOMENTS or not task_name:
        raise ValueError(
            f"{CHAOS_VARIABLE}={value!r}: use <moment>:<task name>, with moment"
            f" one of {', '.join(MOMENTS)}"
        )
    return moment, task_name


def maybe_kill(moment: str, task_name: str, task_id: str) -> None:
    """SIGKILL this process if the plan names this moment and task, once."""
    if _planned() != (moment, task_name):
        return
    directory = Path(os.environ["WORKFLOW_TEST_DIR"])
    try:
        # Created exclusively: of the deliveries, only the first one dies.
        (directory / "chaos-fired").open("x").close()
    except FileExistsError:
        return
    with open(directory / CHAOS_LOG, "a", encoding="utf-8") as log:
        log.write(f"{moment} {task_name} {task_id} {os.getpid()}\n")
    os.kill(os.getpid(), signal.SIGKILL)


def killed(directory: Path) -> list[list[str]]:
    """The kills so far: ``[moment, task name, task id, pid]`` each."""
    path = directory / CHAOS_LOG
    return (
        [line.split() for line in path.read_text().splitlines()]
        if path.exists()
        else []
    )


def _before_run(sender: Any = None, task_id: str = "", **_: Any) -> None:
    maybe_kill("before-run", getattr(sender, "name", ""), task_id)


def _workflow_started(sender: Any = None, **_: Any) -> None:
    if current_task and current_task.request.id is not None:
        maybe_kill("workflow-started", current_task.name, current_task.request.id)


def install() -> None:
    """Connect the signal receivers, in a worker that has a plan only.

    Other processes (the tests' own) keep the signals without receivers.
    """
    if _planned() is not None:
        task_prerun.connect(_before_run)
        workflow_started.connect(_workflow_started)


class ChaosRedisBackend(RedisBackend):
    """The redis result backend, with the ``before-result`` moment."""

    def mark_as_done(  # type: ignore[no-untyped-def]
        self, task_id, result, request=None, *args, **kwargs
    ):
        """Store a task's result, unless the plan kills this process first."""
        maybe_kill("before-result", getattr(request, "task", "") or "", task_id)
        return super().mark_as_done(task_id, result, request, *args, **kwargs)
