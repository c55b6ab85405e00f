"""``MachineState``: where the engine is (SPEC 4)."""

from __future__ import annotations

import copy
import pickle

import pytest

from workflow.engine import MachineState


def test_defaults():
    state = MachineState()
    assert (state.token_pos, state.callback_pos, state.current_object_processed) == (
        -1,
        [0],
        False,
    )


def test_constructor_sets_both_positions():
    state = MachineState(3, [1, 2])
    assert (state.token_pos, state.callback_pos) == (3, [1, 2])


def test_each_state_has_its_own_callback_pos():
    assert MachineState().callback_pos is not MachineState().callback_pos


@pytest.mark.parametrize("value", [-1, 0, 7])
def test_token_pos_accepts_minus_one_and_up(value):
    state = MachineState()
    state.token_pos = value
    assert state.token_pos == value


@pytest.mark.parametrize("value", [-2, -100])
def test_token_pos_below_minus_one_raises_attribute_error(value):
    state = MachineState(token_pos=4)
    with pytest.raises(AttributeError) as info:
        state.token_pos = value
    assert str(value) in str(info.value)
    assert state.token_pos == 4


def test_constructor_rejects_token_pos_below_minus_one():
    with pytest.raises(AttributeError):
        MachineState(token_pos=-2)


@pytest.mark.parametrize("value", ["1", 1.0, True, None], ids=repr)
def test_token_pos_must_be_an_int(value):
    state = MachineState()
    with pytest.raises(TypeError) as info:
        state.token_pos = value
    assert repr(value) in str(info.value)
    assert state.token_pos == -1


def test_token_pos_accepts_an_int_subclass():
    class Position(int):
        pass

    state = MachineState()
    state.token_pos = Position(2)
    assert state.token_pos == 2


def test_reset_resets_positions_and_the_processed_flag():
    state = MachineState(5, [2, 3])
    state.current_object_processed = True
    state.reset()
    assert (state.token_pos, state.callback_pos, state.current_object_processed) == (
        -1,
        [0],
        False,
    )


def test_token_pos_reset_leaves_the_rest():
    state = MachineState(5, [2, 3])
    state.token_pos_reset()
    assert (state.token_pos, state.callback_pos) == (-1, [2, 3])


def test_callback_pos_reset_gives_a_fresh_list():
    state = MachineState(5, [2, 3])
    old = state.callback_pos
    state.callback_pos_reset()
    assert (state.token_pos, state.callback_pos) == (5, [0])
    assert old == [2, 3]


def test_pickled_state_is_exactly_the_three_fields():
    state = MachineState(2, [1, 0])
    state.current_object_processed = True
    assert state.__getstate__() == {
        "token_pos": 2,
        "callback_pos": [1, 0],
        "current_object_processed": True,
    }


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickle_round_trip(protocol):
    state = MachineState(2, [1, 0])
    state.current_object_processed = True
    clone = pickle.loads(pickle.dumps(state, protocol=protocol))
    assert (clone.token_pos, clone.callback_pos, clone.current_object_processed) == (
        2,
        [1, 0],
        True,
    )


def test_deepcopy_copies_the_callback_pos():
    state = MachineState(2, [1, 0])
    clone = copy.deepcopy(state)
    clone.callback_pos.append(9)
    assert state.callback_pos == [1, 0]


def test_a_state_takes_no_other_attribute():
    with pytest.raises(AttributeError):
        MachineState().position = 3


def test_repr():
    assert repr(MachineState(1, [2])) == (
        "MachineState(token_pos=1, callback_pos=[2], current_object_processed=False)"
    )


def test_an_engine_moves_a_state_subclass_through_its_property():
    from tests.helpers import task, trace_of
    from workflow.engine import GenericWorkflowEngine

    class RecordingState(MachineState):
        __slots__ = ("moves",)

        def __init__(self):
            self.moves = []
            super().__init__()

        @MachineState.token_pos.setter
        def token_pos(self, value):
            self.moves.append(value)
            MachineState.token_pos.fset(self, value)

    eng = GenericWorkflowEngine()
    eng.state = RecordingState()
    eng.callbacks.replace([task("t1")])
    eng.process(["A", "B"])
    assert eng.state.moves == [0, 1]
    assert trace_of(eng) == [("A", "t1"), ("B", "t1")]
