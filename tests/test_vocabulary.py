"""One vocabulary, one validator: restart words, uuids and definition loading.

The engine, the storage, the registry, Celery and the command line all use
the same definitions from ``workflow._vocabulary`` and ``workflow._loading``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import workflow.cli
import workflow.contrib.celery
import workflow.engine
import workflow.storage.api
import workflow.storage.engine
from workflow import _loading, _vocabulary
from workflow.engine import GenericWorkflowEngine
from workflow.errors import WorkflowDefinitionError, WorkflowError
from workflow.storage import Registry, UnknownWorkflowError, restart, resume, start

WORDS_REFUSED = (
    "Unknown {kind} position for restart(): {word!r}; use 'prev', 'current',"
    " 'next' or 'first'"
)


def test_every_entry_point_uses_the_one_set_of_restart_words():
    assert _vocabulary.RESTART_WORDS == ("prev", "current", "next", "first")
    assert workflow.contrib.celery.RESTART_WORDS is _vocabulary.RESTART_WORDS
    assert workflow.cli.RESTART_WORDS is _vocabulary.RESTART_WORDS
    assert workflow.engine.OBJECT_MOVES is _vocabulary.OBJECT_MOVES
    assert workflow.engine.TASK_MOVES is _vocabulary.TASK_MOVES
    checks = {
        workflow.engine.check_restart_words,
        workflow.storage.engine.check_restart_words,
        workflow.storage.api.check_restart_words,
        workflow.contrib.celery.check_restart_words,
    }
    assert checks == {_vocabulary.check_restart_words}


@pytest.mark.parametrize(
    ("obj", "task", "kind", "word"),
    [
        ("last", "first", "object", "last"),
        ("current", "again", "task", "again"),
        (None, "first", "object", None),
        ("first", 1, "task", 1),
    ],
)
def test_an_unknown_restart_word_is_refused_by_name(obj, task, kind, word):
    message = WORDS_REFUSED.format(kind=kind, word=word)
    with pytest.raises(WorkflowError) as raised:
        _vocabulary.check_restart_words(obj, task)
    assert raised.value.args == (message,)
    eng = GenericWorkflowEngine()
    eng.callbacks.replace([lambda obj, eng: None])
    with pytest.raises(WorkflowError) as from_engine:
        eng.restart(obj, task)
    assert from_engine.value.args == (message,)


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        (
            "0B6F6A1E-8A4C-4B7E-9D0C-2F1E5A3B7C9D",
            "0b6f6a1e-8a4c-4b7e-9d0c-2f1e5a3b7c9d",
        ),
        ("0b6f6a1e8a4c4b7e9d0c2f1e5a3b7c9d", "0b6f6a1e-8a4c-4b7e-9d0c-2f1e5a3b7c9d"),
        (
            "{0b6f6a1e-8a4c-4b7e-9d0c-2f1e5a3b7c9d}",
            "0b6f6a1e-8a4c-4b7e-9d0c-2f1e5a3b7c9d",
        ),
        (
            " 0b6f6a1e-8a4c-4b7e-9d0c-2f1e5a3b7c9d\n",
            "0b6f6a1e-8a4c-4b7e-9d0c-2f1e5a3b7c9d",
        ),
    ],
)
def test_parse_uuid_gives_the_stored_spelling(given, stored):
    assert _vocabulary.parse_uuid(given) == stored
    assert _vocabulary.parse_uuid_prefix(given) == stored


def test_parse_uuid_refuses_what_is_no_uuid():
    with pytest.raises(ValueError) as raised:
        _vocabulary.parse_uuid("0b6f6a1e")
    assert str(raised.value) == "uuid '0b6f6a1e' is not a valid UUID"
    with pytest.raises(TypeError) as typed:
        _vocabulary.parse_uuid(42)
    assert str(typed.value) == "uuid must be a workflow uuid string, got int 42"


@pytest.mark.parametrize(
    ("given", "prefix"), [("0B6F", "0b6f"), ("0b6f6a1e-8A", "0b6f6a1e-8a"), ("f", "f")]
)
def test_parse_uuid_prefix_takes_the_first_characters(given, prefix):
    assert _vocabulary.parse_uuid_prefix(given) == prefix


@pytest.mark.parametrize("given", ["", "nope", "0b6f%", "0" * 37])
def test_parse_uuid_prefix_refuses_what_cannot_start_a_uuid(given):
    with pytest.raises(ValueError) as raised:
        _vocabulary.parse_uuid_prefix(given)
    assert str(raised.value) == (
        f"{given!r} is not a workflow uuid nor the start of one: use the uuid"
        " `workflow list` shows, or its first characters (hex digits and"
        " hyphens)"
    )


def test_celery_runs_engines_with_the_public_storage_functions():
    # It calls start, resume and restart of workflow.storage, nothing private.
    assert workflow.contrib.celery.start is start
    assert workflow.contrib.celery.resume is resume
    assert workflow.contrib.celery.restart is restart
    source = Path(workflow.contrib.celery.__file__).read_text(encoding="utf-8")
    assert "storage.api import" not in source
    assert "_run import" not in source


def test_the_registry_and_the_command_line_load_definitions_alike(tmp_path):
    # The package's `registry` attribute is the Registry, not the module.
    registry_module = sys.modules["workflow.storage.registry"]
    assert registry_module.load_definition is _loading.load_definition
    assert registry_module.definition_tasks is _loading.definition_tasks
    assert workflow.cli.definition_tasks is _loading.definition_tasks
    (tmp_path / "defs.py").write_text("import sys\n\nnumber = 42\nsys.exit(3)\n")
    (tmp_path / "tasks.py").write_text("number = 42\n")
    sys.path.insert(0, str(tmp_path))
    try:
        with pytest.raises(UnknownWorkflowError) as by_registry:
            Registry().get("defs:flow")
        with pytest.raises(workflow.cli.CommandError) as by_cli:
            workflow.cli.load_definition("defs:flow")
        with pytest.raises(WorkflowDefinitionError) as not_tasks:
            Registry().get("tasks:number")
        with pytest.raises(workflow.cli.CommandError) as not_tasks_cli:
            workflow.cli.load_definition("tasks:number")
    finally:
        sys.path.remove(str(tmp_path))
        for name in ("defs", "tasks"):
            sys.modules.pop(name, None)
    reason = "error while importing 'defs': it called sys.exit(3)"
    assert str(by_cli.value) == reason
    assert str(by_registry.value) == (
        f"Cannot load the workflow definition 'defs:flow': {reason}"
    )
    wrong = (
        "the definition 'tasks:number' is int 42, not a workflow definition:"
        " point at a list of tasks, or at a class whose `workflow` attribute is one"
    )
    assert (not_tasks.value.message, str(not_tasks_cli.value)) == (wrong, wrong)


def test_the_core_imports_nothing_of_the_storage_celery_or_cli():
    code = (
        "import sys, workflow._vocabulary, workflow._loading, workflow.engine;"
        " print(sorted(m for m in sys.modules if m.startswith(('workflow.storage',"
        " 'workflow.contrib', 'workflow.cli', 'sqlalchemy', 'rich'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert done.stdout == "[]\n"
