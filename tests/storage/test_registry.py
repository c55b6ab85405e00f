"""The definition registry, fingerprints and the storage errors (no database)."""

from __future__ import annotations

import functools
import pickle

import pytest

from tests.fingerprint_definitions import definitions as fixed_definitions
from workflow.errors import WorkflowAPIError, WorkflowDefinitionError
from workflow.patterns.controlflow import (
    CHOICE,
    FOR,
    HALT,
    IF,
    IF_ELSE,
    IF_NOT,
    TASK_JUMP_BWD,
    TASK_JUMP_FWD,
    TASK_JUMP_IF,
)
from workflow.storage import (
    DefinitionChangedError,
    Registry,
    UnknownWorkflowError,
    UnserializableDataError,
    WorkflowBusyError,
    WorkflowNotFoundError,
    fingerprint,
)
from workflow.storage.registry import (
    FINGERPRINT_VERSION,
    fingerprint_matches,
    legacy_fingerprint,
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


def test_a_fingerprint_is_versioned_and_fits_the_stored_column():
    value = fingerprint([task_a])
    assert (value[:3], len(value), FINGERPRINT_VERSION) == ("v2:", 64, 2)
    assert int(value[3:], 16) >= 0


# Computed once from tests/fingerprint_definitions.py: a refactoring of the
# package's private names must leave every value as it is.
PINNED_FINGERPRINTS = {
    "plain": "v2:9ea37362e5986d91794189a63203df0b6643fc3b7f041f1069982b50b62a1",
    "nested": "v2:c6de2d606ac14dc8f4af055c3d69931505d2d79b2c659fbe74474ef8695ae",
    "if": "v2:ad85b69076718224952c4d295bc9f93310dd4799552a61766f7f7cc3a68ff",
    "if_not": "v2:184743534efb73e313675c4809a9b9a2765f5db4ab83b4eaa4de2d4c9af1d",
    "if_else": "v2:927eb2e00ca30514bd4030db0e6135bc808132dff2e1f72e9d6b908ec5ce1",
    "while": "v2:e62461c87b940f02261a5723a2efa32d1e7175eab63bc7e4f7b2ac4effb5a",
    "for_key": "v2:672006cea3e5a103ecdc50c487ad3f849a75c808967df65a7e379347e0dfe",
    "for_setter": "v2:683535bab402e1874fffaa76ef6c9d2eb8e87f4cdd1b68a94303e01059dd7",
    "choice": "v2:094230792e995e8326c33850a62ecdca2e2797cf7c85276f2a4a5816aadd3",
    "simple_merge": "v2:81beba32969c2d86fb02830e5c8a05733d73ea7caac47fc2366d5de2e48e6",
    "jumps": "v2:cbe02fcf52cfe4790b0e4b90a8257fd7b134fca8457adfea200724cba6819",
    "objects": "v2:54ece28e243c1b237abd159a904eb6f4103ec7dd9f76b248d9829f7eb0e5a",
    "cmp": "v2:fb05548b92f03c40a05463a68111099da47b8a7fdd0795507a3dc3a7ceaaa",
    "threads": "v2:f62b1f0979f9f6d47366dd2f1939b665356429d6bd7cb45efff1cf6e7a4c2",
    "utils": "v2:b88ae21545f6ec55b7038ccc981dfb9ba47b3553376960b689ffbc12a7a3c",
}

# What workflow 2.2.0 stored for the same definitions (its fingerprint code,
# run on tests/fingerprint_definitions.py).
FINGERPRINTS_OF_2_2_0 = {
    "plain": "9ea37362e5986d91794189a63203df0b6643fc3b7f041f1069982b50b62a1bf5",
    "nested": "c6de2d606ac14dc8f4af055c3d69931505d2d79b2c659fbe74474ef8695aed5a",
    "if": "81a3bfc0b27231de54ac4a5edab042be3297c6190af915109829487b6bb8f634",
    "if_not": "608870381f62226e988600bbefa8993d3573ce03ca33b83950e612348cb26711",
    "if_else": "58073b173f3f533b9a2bfd4432b45243f212a7b0051b387de5d88d87fc7e3f4a",
    "while": "6bbd22bc78486f64ac14b4e349f5cfd81d9221365c1fc7a03e9c8496fb8d6030",
    "for_key": "37425374b5ecdeb7df05ffcc2161c08d53e3b2c44b5d75b5e2a1f57c49fbe5cd",
    "for_setter": "8ae79a17ccde9a035c75ed7a2aed9faa9fcdefc3eb9a8b14becc5202e04ecb6b",
    "choice": "0ec90640df498e35178a8ac940439a30d9ff82a60c691196e822c44b9842c31d",
    "simple_merge": "9452700b3f14cd2d70eb5b1267ef0f15d8d004f376e8fc568dc47fb0babefda6",
    "jumps": "ed5875cbadb2c6b415793bd19678f61fa7356806585e0a6e6585fef382a54fec",
    "objects": "0daa2deec745ea732a3e8835fda529ff4a270cef6bdabd7753d1bbe7cacabd95",
    "cmp": "5f5a10115498997a1cad34f6cda5b472c4978d1a44332d2e5f2fcecca8dc44cc",
    "threads": "f0bac245cb8ff387f2ad8f1f7e29c5c5c24267088ebc30359789aef44fd8e279",
    "utils": "50697454a0cb008bc50fe8f9f6f0a2be0344470a760741b6e19f0d110d4d8088",
}


@pytest.mark.parametrize("name", sorted(PINNED_FINGERPRINTS))
def test_fingerprints_of_fixed_definitions_are_pinned(name):
    assert fingerprint(fixed_definitions()[name]) == PINNED_FINGERPRINTS[name]


@pytest.mark.parametrize("name", sorted(FINGERPRINTS_OF_2_2_0))
def test_the_2_2_0_fingerprint_of_fixed_definitions_is_recomputed(name):
    assert legacy_fingerprint(fixed_definitions()[name]) == FINGERPRINTS_OF_2_2_0[name]


@pytest.mark.parametrize("name", sorted(FINGERPRINTS_OF_2_2_0))
def test_a_2_2_0_fingerprint_matches_its_definition(name):
    stored = FINGERPRINTS_OF_2_2_0[name]
    assert fingerprint_matches(stored, fixed_definitions()[name])


@pytest.mark.parametrize(
    "stored",
    [
        FINGERPRINTS_OF_2_2_0["plain"],
        PINNED_FINGERPRINTS["plain"],
        "v3:" + "0" * 61,
    ],
    ids=["2.2.0", "v2", "unknown-version"],
)
def test_a_fingerprint_of_another_definition_does_not_match(stored):
    assert not fingerprint_matches(stored, fixed_definitions()["nested"])


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (lambda: [TASK_JUMP_IF(task_a, 2)], lambda: [TASK_JUMP_IF(task_a, 3)]),
        (lambda: [TASK_JUMP_FWD(1)], lambda: [TASK_JUMP_FWD(2)]),
        (lambda: [TASK_JUMP_FWD(1)], lambda: [TASK_JUMP_BWD(1)]),
        (
            lambda: [FOR([1], "i", task_a)],
            lambda: [FOR([1], "i", task_a, order="DSC")],
        ),
        (
            lambda: [CHOICE(task_a, ("x", task_b), ("y", [task_b]))],
            lambda: [CHOICE(task_a, ("y", task_b), ("x", [task_b]))],
        ),
        (lambda: [IF(task_a, task_b)], lambda: [IF_NOT(task_a, task_b)]),
    ],
    ids=["jump-if-step", "jump-step", "jump-kind", "for-order", "choice", "if-not"],
)
def test_definitions_that_move_differently_get_different_fingerprints(first, second):
    assert fingerprint(first()) != fingerprint(second())


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
