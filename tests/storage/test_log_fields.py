"""The log records of a stored engine carry the workflow's uuid and name."""

from __future__ import annotations

import logging
import uuid as uuid_module

from workflow.engine_db import WorkflowStatus
from workflow.storage import registry, start

from . import wfdefs

FIELDS = ("workflow_uuid", "workflow_name", "object_position", "task_name")


def _fields(record: logging.LogRecord) -> tuple[object, ...]:
    return tuple(getattr(record, name, "missing") for name in FIELDS)


def test_halt_and_error_records_name_the_stored_workflow(store, caplog):
    name = f"log-fields-{uuid_module.uuid4()}"
    registry.register(name, wfdefs.REVIEW)
    caplog.set_level(logging.WARNING)
    halted = start(name, [{"id": 0}, {"id": 1, "review": True}], store)
    assert halted.status is WorkflowStatus.HALTED
    records = [r for r in caplog.records if r.name.startswith("workflow.")]
    # The halt is HALT() inside IF(needs_review, ...): the record names it.
    assert [(r.levelno, *_fields(r)) for r in records] == [
        (logging.WARNING, halted.uuid, name, 1, "HALT")
    ]

    caplog.clear()
    failing = f"log-fields-{uuid_module.uuid4()}"
    registry.register(failing, wfdefs.FAILING)
    failed = start(failing, [{"id": 0, "fail": True}], store)
    assert failed.status is WorkflowStatus.ERROR
    records = [r for r in caplog.records if r.name.startswith("workflow.")]
    assert [(r.levelno, *_fields(r)) for r in records] == [
        (logging.ERROR, failed.uuid, failing, 0, "fail_if_asked")
    ]


def test_debug_records_of_a_stored_run_name_the_condition(store, caplog):
    name = f"log-fields-{uuid_module.uuid4()}"
    registry.register(name, wfdefs.REVIEW)
    caplog.set_level(logging.DEBUG, logger="workflow")
    result = start(name, [{"id": 0}], store)
    running = [r for r in caplog.records if r.getMessage().startswith("Running task")]
    assert [_fields(r) for r in running] == [
        (result.uuid, name, 0, "bump"),
        (result.uuid, name, 0, "needs_review"),
        (result.uuid, name, 0, "finish"),
    ]
