"""The definition registry, fingerprints and the storage errors (no database)."""

from __future__ import annotations

import functools
import pickle

import pytest

from workflow.errors import WorkflowAPIError, WorkflowDefinitionError
from workflow.patterns.controlflow import HALT, IF, IF_ELSE
from workflow.storage import (
    DefinitionChangedError,
    Registry,
    UnknownWorkflowError,
    UnserializableDataError,
    WorkflowBusyError,
    WorkflowNotFoundError,
    fingerprint,
)

from . import wfdefs


def task_a(obj, eng):
    pass


def task_b(obj, eng):
    pass


def above(limit):
    def check(obj, eng):
        return obj.data > limit

    return check


def test_register_and_get_a_list():
    registry = Registry()
    registry.register("first", [task_a, [task_b]])
    assert registry.get("first") == [task_a, [task_b]]


def test_register_as_a_decorator_on_a_class_with_a_workflow():
    registry = Registry()

    @registry.register("invenio-style")
    class Grading:
        workflow = [task_a, task_b]

    assert Grading.workflow == [task_a, task_b]
    assert registry.get("invenio-style") == [task_a, task_b]


def test_names_lists_registered_names_sorted():
    registry = Registry()
    registry.register("zeta", [task_a])
    registry.register("alpha", [task_b])
    assert registry.names() == ["alpha", "zeta"]


def test_registering_again_replaces_the_definition():
    registry = Registry()
    registry.register("name", [task_a])
    registry.register("name", [task_b])
    assert registry.get("name") == [task_b]


def test_an_unknown_name_is_refused_listing_the_known_ones():
    registry = Registry()
    registry.register("known", [task_a])
    with pytest.raises(UnknownWorkflowError) as raised:
        registry.get("unknown")
    assert raised.value.name == "unknown"
    assert str(raised.value).startswith(
        "No workflow definition is registered under 'unknown'. Registered: known."
    )


def test_a_module_path_is_imported_on_demand_and_cached():
    registry = Registry()
    assert registry.get("tests.storage.wfdefs:FAILING") == wfdefs.FAILING
    assert registry.names() == ["tests.storage.wfdefs:FAILING"]


def test_a_file_path_is_imported_on_demand(tmp_path):
    source = tmp_path / "definitions.py"
    source.write_text(
        "def step(obj, eng):\n    obj.data += 1\n\n"
        "class Counting:\n    workflow = [step, [step]]\n"
    )
    registry = Registry()
    definition = registry.get(f"{source}:Counting")
    assert [type(item).__name__ for item in definition] == ["function", "list"]
    assert definition[0].__name__ == "step"


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        (
            "tests.storage.no_such_module:X",
            "no module named 'tests.storage.no_such_module'",
        ),
        ("tests.storage.wfdefs:NO_SUCH", "has no attribute 'NO_SUCH'"),
        ("/nonexistent/dir/defs.py:X", "'/nonexistent/dir/defs.py' does not exist"),
    ],
)
def test_an_import_path_that_does_not_load_is_unknown(name, problem):
    with pytest.raises(UnknownWorkflowError) as raised:
        Registry().get(name)
    assert str(raised.value).startswith(f"Cannot load the workflow definition {name!r}")
    assert problem in str(raised.value)
    assert raised.value.__cause__ is not None


@pytest.mark.parametrize(
    ("definition", "problem"),
    [
        (task_a, "point at a list of tasks, or at a class whose `workflow`"),
        ([], "is empty"),
        ([task_a, "not a task"], "neither a task"),
    ],
)
def test_a_malformed_definition_is_refused(definition, problem):
    with pytest.raises(WorkflowDefinitionError) as raised:
        Registry().register("bad", definition)
    assert problem in raised.value.message
    assert raised.value.workflow_name == "bad"


def test_contains_tells_the_registered_and_imported_names():
    registry = Registry()
    registry.register("known", [task_a])
    imported = "tests.storage.wfdefs:KEEP"
    assert ("known" in registry, "unknown" in registry, imported in registry) == (
        True,
        False,
        False,
    )
    registry.get(imported)
    assert imported in registry


@pytest.mark.parametrize("name", ["", None, 3])
def test_a_name_must_be_a_non_empty_string(name):
    with pytest.raises(TypeError) as raised:
        Registry().register(name, [task_a])
    assert "A workflow name must be a non-empty str" in str(raised.value)


# -- fingerprints --------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ([task_a, task_b], [task_a, task_b]),
        ([task_a, (task_b, (task_a,))], [task_a, task_b, task_a]),
        ([IF(wfdefs.needs_review, [HALT()])], [IF(wfdefs.needs_review, [HALT()])]),
        ([above(1)], [above(2)]),
    ],
)
def test_same_structure_and_tasks_give_the_same_fingerprint(first, second):
    assert fingerprint(first) == fingerprint(second)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ([task_a, task_b], [task_b, task_a]),
        ([task_a, task_b], [task_a, [task_b]]),
        ([task_a, task_a], [task_a]),
        ([task_a, task_b, task_a], [task_a, task_b, task_b]),
        ([IF(wfdefs.needs_review, [HALT()])], [IF(wfdefs.needs_review, [task_a])]),
        (
            [IF_ELSE(wfdefs.needs_review, [task_a], [task_b])],
            [IF_ELSE(wfdefs.needs_review, [task_b], [task_a])],
        ),
    ],
)
def test_a_different_structure_or_task_changes_the_fingerprint(first, second):
    assert fingerprint(first) != fingerprint(second)


def test_a_partial_is_fingerprinted_by_its_function_not_its_arguments():
    assert fingerprint([functools.partial(task_a, 1)]) == fingerprint(
        [functools.partial(task_a, 2)]
    )
    assert fingerprint([functools.partial(task_a, 1)]) != fingerprint(
        [functools.partial(task_b, 1)]
    )


def helper_caller(helper, unset=False):
    def call_helper(obj, eng):
        helper(obj, eng)

    if unset:
        del helper
    return call_helper


def test_an_unset_closure_variable_counts_as_no_value():
    empty_cell = fingerprint([helper_caller(task_a, unset=True)])
    assert empty_cell == fingerprint([helper_caller(1)])
    assert empty_cell != fingerprint([helper_caller(task_a)])


def closing_over(value):
    def uses_value(obj, eng):
        return value

    return uses_value


def self_containing_list():
    loop = [task_a]
    loop.append(loop)
    return loop


def test_a_list_that_contains_itself_in_a_closure_is_fingerprinted():
    cyclic = fingerprint([closing_over(self_containing_list())])
    assert cyclic == fingerprint([closing_over(self_containing_list())])
    assert cyclic != fingerprint([closing_over([task_a, [task_a]])])


def test_a_fingerprint_is_a_sha256_hex_digest():
    value = fingerprint([task_a])
    assert len(value) == 64
    assert int(value, 16) >= 0


def test_a_self_referencing_closure_does_not_recurse_forever():
    def outer(obj, eng):
        return outer(obj, eng)

    assert fingerprint([outer]) == fingerprint([outer])


# -- errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "attributes"),
    [
        (UnknownWorkflowError("no such name", "x"), {"name": "x"}),
        (WorkflowNotFoundError("no such uuid", "u-1"), {"uuid": "u-1"}),
        (WorkflowBusyError("busy", "u-2"), {"uuid": "u-2"}),
        (
            DefinitionChangedError("changed", "u-3", "grading"),
            {"uuid": "u-3", "name": "grading"},
        ),
        (UnserializableDataError("bad data", "data[1]"), {"path": "data[1]"}),
    ],
)
def test_storage_errors_pickle_with_their_attributes(error, attributes):
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert isinstance(copy, WorkflowAPIError)
    assert (str(copy), copy.message, copy.args) == (error.message,) * 2 + (
        (error.message,),
    )
    assert {key: getattr(copy, key) for key in attributes} == attributes


@pytest.mark.parametrize(
    ("error", "attributes"),
    [
        (UnknownWorkflowError("no such name"), {"name": None}),
        (
            DefinitionChangedError("changed", "u-3"),
            {"uuid": "u-3", "name": None},
        ),
    ],
)
def test_a_storage_error_given_fewer_values_sets_the_others_to_none(error, attributes):
    assert {key: getattr(error, key) for key in attributes} == attributes
    copy = pickle.loads(pickle.dumps(error))
    assert {key: getattr(copy, key) for key in attributes} == attributes
