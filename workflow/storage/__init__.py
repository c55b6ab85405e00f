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
    count_objects,
    delete_workflow,
    get_object,
    get_workflow,
    list_halted_objects,
    list_objects,
    list_workflows,
    prune_workflows,
    release_interrupted,
    resolve_uuid,
    restart,
    resume,
    run_engine,
    start,
)
from .engine import (
    MAX_ACTION_LENGTH,
    MAX_DEPTH,
    StoredObject,
    StoredWorkflow,
    StoredWorkflowEngine,
    UnitOfWork,
)
from .errors import (
    AmbiguousUuidError,
    DefinitionChangedError,
    SchemaVersionError,
    UnknownWorkflowError,
    UnserializableDataError,
    WorkflowBusyError,
    WorkflowExistsError,
    WorkflowNotFoundError,
)
from .history import EVENTS, HistoryEntry, record_event, workflow_history
from .models import (
    DEFAULT_LEASE,
    HistoryRecord,
    ObjectRecord,
    WorkflowRecord,
    WorkflowStore,
)
from .registry import Registry, fingerprint, registry
from .schema import downgrade, schema_status, upgrade

__all__ = (
    "DEFAULT_LEASE",
    "AmbiguousUuidError",
    "DefinitionChangedError",
    "EVENTS",
    "HistoryEntry",
    "HistoryRecord",
    "MAX_ACTION_LENGTH",
    "MAX_DEPTH",
    "ObjectInfo",
    "ObjectRecord",
    "Registry",
    "SchemaVersionError",
    "StoredObject",
    "StoredWorkflow",
    "StoredWorkflowEngine",
    "UnknownWorkflowError",
    "UnitOfWork",
    "UnserializableDataError",
    "WorkflowBusyError",
    "WorkflowExistsError",
    "WorkflowInfo",
    "WorkflowNotFoundError",
    "WorkflowRecord",
    "WorkflowResult",
    "WorkflowStore",
    "count_objects",
    "delete_workflow",
    "downgrade",
    "fingerprint",
    "get_object",
    "get_workflow",
    "list_halted_objects",
    "list_objects",
    "list_workflows",
    "prune_workflows",
    "record_event",
    "registry",
    "release_interrupted",
    "resolve_uuid",
    "restart",
    "resume",
    "run_engine",
    "schema_status",
    "start",
    "upgrade",
    "workflow_history",
)
