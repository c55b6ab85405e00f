"""Ready-made SQL storage for workflows (needs the ``sqlalchemy`` extra).

Store workflows and their objects in SQLite or PostgreSQL, and start,
resume, restart and list them from any process::

    from workflow.storage import WorkflowStore, registry, start, resume

    registry.register("grading", [check_grade, notify])
    store = WorkflowStore("sqlite:///workflow.db")
    store.create_all()
    result = start("grading", [6, 5, 4], store)
    if result.status.name == "HALTED":
        result = resume(result.uuid, store)

The core package never imports this one.
"""

from .api import (
    ObjectInfo,
    WorkflowInfo,
    WorkflowResult,
    get_workflow,
    list_halted_objects,
    list_objects,
    list_workflows,
    restart,
    resume,
    start,
)
from .engine import StoredObject, StoredWorkflow, StoredWorkflowEngine
from .errors import (
    DefinitionChangedError,
    UnknownWorkflowError,
    UnserializableDataError,
    WorkflowBusyError,
    WorkflowNotFoundError,
)
from .models import ObjectRecord, WorkflowRecord, WorkflowStore
from .registry import Registry, fingerprint, registry

__all__ = (
    "DefinitionChangedError",
    "ObjectInfo",
    "ObjectRecord",
    "Registry",
    "StoredObject",
    "StoredWorkflow",
    "StoredWorkflowEngine",
    "UnknownWorkflowError",
    "UnserializableDataError",
    "WorkflowBusyError",
    "WorkflowInfo",
    "WorkflowNotFoundError",
    "WorkflowRecord",
    "WorkflowResult",
    "WorkflowStore",
    "fingerprint",
    "get_workflow",
    "list_halted_objects",
    "list_objects",
    "list_workflows",
    "registry",
    "restart",
    "resume",
    "start",
)
