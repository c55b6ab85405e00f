"""Ready-made SQL storage for workflows (needs the ``sqlalchemy`` extra).

Store workflows and their objects in SQLite or PostgreSQL, and start,
resume, restart and list them from any process::

    from workflow.storage import WorkflowStore, registry, start, resume

    registry.register("grading", [check_grade, notify])
    store = WorkflowStore("sqlite:///workflow.db")  # tables made on first use
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
    SchemaVersionError,
    UnknownWorkflowError,
    UnserializableDataError,
    WorkflowBusyError,
    WorkflowNotFoundError,
)
from .models import ObjectRecord, WorkflowRecord, WorkflowStore
from .registry import Registry, fingerprint, registry
from .schema import downgrade, schema_status, upgrade

__all__ = (
    "DefinitionChangedError",
    "ObjectInfo",
    "ObjectRecord",
    "Registry",
    "SchemaVersionError",
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
    "downgrade",
    "fingerprint",
    "get_workflow",
    "list_halted_objects",
    "list_objects",
    "list_workflows",
    "registry",
    "restart",
    "resume",
    "schema_status",
    "start",
    "upgrade",
)
