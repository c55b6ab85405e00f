"""``Callbacks``: the definitions of an engine under string keys (SPEC 5)."""

from __future__ import annotations

import re

import pytest

from workflow.engine import Callbacks


def f(obj, eng):
    """A task."""


def g(obj, eng):
    """A task."""


def h(obj, eng):
    """A task."""


def i(obj, eng):
    """A task."""


def j(obj, eng):
    """A task."""


def test_cleanup_callables_spec_example():
    assert Callbacks.cleanup_callables([f, (g, (h, None)), [i, (j,)], None]) == [
        f,
        g,
        h,
        [i, j],
    ]


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([], []),
        ([None, None], []),
        ([[f, [g, [h]]]], [[f, [g, [h]]]]),
        ([((f,), ((g,),))], [f, g]),
        ([[(f, None), [None]]], [[f, []]]),
        ((f, g), [f, g]),
    ],
    ids=["empty", "only None", "deep lists", "deep tuples", "None in lists", "tuple"],
)
def test_cleanup_callables_keeps_lists_and_flattens_tuples(items, expected):
    assert Callbacks.cleanup_callables(items) == expected


def test_a_new_store_is_empty():
    callbacks = Callbacks()
    assert callbacks.empty() is True
    assert callbacks.get(None) == {}


def test_add_appends_under_the_default_key():
    callbacks = Callbacks()
    callbacks.add(f)
    callbacks.add([g, h])
    assert callbacks.get() == [f, [g, h]]
    assert callbacks.get("*") is callbacks.get()
    assert callbacks.empty() is False


def test_add_creates_the_key_when_missing():
    callbacks = Callbacks()
    callbacks.add(f, "x")
    assert callbacks.get(None) == {"x": [f]}


@pytest.mark.parametrize("item", [None, [], ()], ids=["None", "[]", "()"])
def test_add_ignores_a_falsy_item_and_creates_nothing(item):
    callbacks = Callbacks()
    callbacks.add(item, "x")
    assert callbacks.empty() is True
    assert callbacks.get(None) == {}


def test_add_many_cleans_then_adds_each():
    callbacks = Callbacks()
    callbacks.add(f, "x")
    callbacks.add_many([g, (h, None), [i, (j,)], None], "x")
    assert callbacks.get("x") == [f, g, h, [i, j]]


def test_replace_cleans_and_replaces_only_its_key():
    callbacks = Callbacks()
    callbacks.add_many([f, g])
    callbacks.add_many([f], "other")
    callbacks.replace([h, (i, None)])
    assert callbacks.get(None) == {"*": [h, i], "other": [f]}


def test_replace_with_an_empty_definition_removes_the_key():
    callbacks = Callbacks()
    callbacks.add(f, "x")
    callbacks.replace([None], "x")
    assert callbacks.empty() is True


def test_clear_drops_one_key_if_present():
    callbacks = Callbacks()
    callbacks.add(f, "x")
    callbacks.add(g, "y")
    callbacks.clear("x")
    callbacks.clear("missing")
    assert callbacks.get(None) == {"y": [g]}


def test_clear_defaults_to_the_default_key():
    callbacks = Callbacks()
    callbacks.add(f)
    callbacks.add(g, "y")
    callbacks.clear()
    assert callbacks.get(None) == {"y": [g]}


def test_clear_all_drops_every_key():
    callbacks = Callbacks()
    callbacks.add(f)
    callbacks.add(g, "y")
    callbacks.clear_all()
    assert callbacks.empty() is True
    assert callbacks.get(None) == {}


@pytest.mark.parametrize("key", [None, "", 0, False], ids=repr)
def test_get_with_a_falsy_key_returns_the_whole_mapping(key):
    callbacks = Callbacks()
    callbacks.add(f)
    callbacks.add(g, "y")
    assert callbacks.get(key) == {"*": [f], "y": [g]}


@pytest.mark.parametrize("key", ["*", "missing"])
def test_get_of_a_missing_key_raises_key_error_with_the_message(key):
    callbacks = Callbacks()
    callbacks.add(f, "other")
    with pytest.raises(KeyError) as info:
        callbacks.get(key)
    message = info.value.args[0]
    assert message.startswith(f"No workflow is registered for the key: {key}. ")
    assert "loaded" in message
    assert "empty" in message


class _Marker:
    def __repr__(self):
        return "<the bad item>"


@pytest.mark.parametrize(
    ("call", "bad"),
    [
        (lambda c: c.add(42), "42"),
        (lambda c: c.add([f, "text"]), "'text'"),
        (lambda c: c.add_many([f, [g, 3.5]]), "3.5"),
        (lambda c: c.replace([f, (g, _Marker())]), "<the bad item>"),
        (lambda c: c.replace([[[{"k": 1}]]]), "{'k': 1}"),
    ],
    ids=["add int", "add list with str", "add_many", "replace", "deep dict"],
)
def test_an_item_neither_callable_nor_list_raises_type_error_naming_it(call, bad):
    callbacks = Callbacks()
    with pytest.raises(TypeError) as info:
        call(callbacks)
    assert bad in str(info.value)
    assert callbacks.empty() is True


def test_a_bad_replace_keeps_the_old_definition():
    callbacks = Callbacks()
    callbacks.replace([f, g])
    with pytest.raises(TypeError):
        callbacks.replace([h, 1])
    assert callbacks.get() == [f, g]


def test_repr_shows_the_definitions():
    callbacks = Callbacks()
    callbacks.add(f)
    assert repr(callbacks) == f"<Callbacks {{'*': [{f!r}]}}>"


def test_add_appends_a_block_as_it_is():
    callbacks = Callbacks()
    block = [f, None, (g,)]
    callbacks.add(block)
    assert callbacks.get() == [block]
    assert callbacks.get()[0] is block


class RecordingCallbacks(Callbacks):
    """Overrides ``add``: ``replace`` and ``add_many`` must go through it."""

    def __init__(self):
        super().__init__()
        self.added = []

    def add(self, func, key="*"):
        self.added.append((func, key))
        super().add(func, key)


def test_replace_goes_through_an_overridden_add():
    callbacks = RecordingCallbacks()
    callbacks.replace([f, (g, None), [h]], key="k")
    assert callbacks.added == [(f, "k"), (g, "k"), ([h], "k")]
    assert callbacks.get("k") == [f, g, [h]]


def test_add_many_goes_through_an_overridden_add():
    callbacks = RecordingCallbacks()
    callbacks.add_many([f, (g,)])
    assert callbacks.added == [(f, "*"), (g, "*")]
    assert callbacks.get() == [f, g]


@pytest.mark.parametrize(
    ("call", "position"),
    [
        (lambda c: c.add(1), "[0]"),
        (lambda c: (c.add(f), c.add(1)), "[1]"),
        (lambda c: c.add([f, [g, "x"]]), "[0, 1, 1]"),
        (lambda c: c.replace([f, [g, "x"]]), "[1, 1]"),
        (lambda c: c.add_many([f, (g, "x")]), "[2]"),
    ],
    ids=["first add", "second add", "nested add", "replace", "add_many"],
)
def test_the_type_error_gives_the_position_of_the_bad_item(call, position):
    with pytest.raises(TypeError, match=rf"at position {re.escape(position)} is"):
        call(Callbacks())


def test_add_many_of_nothing_but_none_creates_no_key():
    callbacks = Callbacks()
    callbacks.add_many([None, (None,)], key="k")
    assert callbacks.empty() is True


def test_replace_stores_a_copy_of_a_plain_list_of_functions():
    funcs = [f, g]
    callbacks = Callbacks()
    callbacks.replace(funcs)
    funcs.append(h)
    assert callbacks.get() == [f, g]
    assert callbacks.get() is not funcs


class ClearRecordingCallbacks(Callbacks):
    """Records each key it is asked to clear."""

    def __init__(self):
        super().__init__()
        self.cleared = []

    def clear(self, key="*"):
        self.cleared.append(key)
        super().clear(key)


def test_replace_goes_through_an_overridden_clear():
    callbacks = ClearRecordingCallbacks()
    callbacks.replace([f], key="k")
    callbacks.replace([g], key="k")
    assert callbacks.cleared == ["k", "k"]
    assert callbacks.get("k") == [g]


class CleaningCallbacks(Callbacks):
    """Drops every ``g`` while cleaning."""

    @classmethod
    def cleanup_callables(cls, callbacks):
        return [item for item in super().cleanup_callables(callbacks) if item is not g]


def test_replace_goes_through_an_overridden_cleanup_even_for_plain_functions():
    callbacks = CleaningCallbacks()
    callbacks.replace([f, g, h])
    assert callbacks.get() == [f, h]
