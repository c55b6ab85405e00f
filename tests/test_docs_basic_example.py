"""The "Basic workflow use" example of the 2.0 documentation, in Python 3."""

from __future__ import annotations

from functools import wraps

from workflow.engine import GenericWorkflowEngine


def print_data(obj, eng):
    """Print the data found in the token."""
    print(obj.data)


def add_data(number_to_add):
    """Return a task adding ``number_to_add`` to ``obj.data``."""

    @wraps(add_data)
    def _add_data(obj, eng):
        obj.data += number_to_add

    return _add_data


class MyObject:
    """A token wrapping immutable data."""

    def __init__(self, data):
        self.data = data


def _example_engine():
    my_engine = GenericWorkflowEngine()
    my_engine.callbacks.replace([add_data(1), print_data])
    return my_engine


def test_first_run_prints_one_then_two(capsys):
    my_engine = _example_engine()
    my_object0, my_object1 = MyObject(0), MyObject(1)
    my_engine.process([my_object0, my_object1])
    assert capsys.readouterr().out == "1\n2\n"
    assert (my_object0.data, my_object1.data) == (1, 2)


def test_the_engine_is_reused_for_a_second_run(capsys):
    my_engine = _example_engine()
    my_object0, my_object1 = MyObject(0), MyObject(1)
    my_engine.process([my_object0, my_object1])
    capsys.readouterr()
    my_engine.process([my_object0, my_object1])
    assert capsys.readouterr().out == "2\n3\n"
    assert (my_object0.data, my_object1.data) == (2, 3)
    assert my_engine.has_completed is True
