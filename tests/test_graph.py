"""Tests of workflow.graph: the flowcharts drawn for each pattern, and rendering.

Each pattern's drawing is compared, in full, with the Mermaid and DOT text
expected for it.
"""

from __future__ import annotations

import functools
import struct

import pytest

from workflow import graph
from workflow.graph import GraphvizNotFoundError, render, task_label, to_dot, to_mermaid
from workflow.patterns.controlflow import (
    CHOICE,
    CMP,
    FOR,
    HALT,
    IF,
    IF_ELSE,
    IF_NOT,
    PARALLEL_SPLIT,
    SIMPLE_MERGE,
    STOP,
    SYNCHRONIZE,
    TASK_JUMP_BWD,
    WHILE,
)
from workflow.patterns.utils import ENG_SET


def check(obj, eng):
    return True


def first(obj, eng):
    pass


def second(obj, eng):
    pass


def third(obj, eng):
    pass


def kind(obj, eng):
    return "a"


DEFINITIONS = {
    "sequence": lambda: [first, [second, third]],
    "IF": lambda: [IF(check, [first]), second],
    "IF_NOT": lambda: [IF_NOT(check, first)],
    "IF_ELSE": lambda: [IF_ELSE(check, [first], second)],
    "WHILE": lambda: [WHILE(check, [first, second])],
    "FOR": lambda: [FOR([1, 2], "value", first)],
    "CHOICE": lambda: [CHOICE(kind, ("a", first), b=[second, third])],
    "PARALLEL_SPLIT": lambda: [PARALLEL_SPLIT(first, [second, third])],
    "SYNCHRONIZE": lambda: [SYNCHRONIZE(first, [second], third)],
    "SIMPLE_MERGE": lambda: [SIMPLE_MERGE(first, second, third)],
    "HALT": lambda: [first, HALT()],
    "STOP": lambda: [IF(check, [STOP()])],
}

DOT_HEADER = """\
digraph workflow {
    graph [fontname="Helvetica", style=rounded, color="#888888"];
    node [fontname="Helvetica"];
    edge [fontname="Helvetica"];
"""

# name: (Mermaid text, DOT text after DOT_HEADER)
EXPECTED = {
    "sequence": (
        """\
flowchart TD
    wf_start(("Start"))
    n0["first"]
    subgraph b1 ["[1]"]
        n1_0["second"]
        n1_1["third"]
    end
    wf_end(("End"))
    wf_start --> n0
    n0 --> n1_0
    n1_0 --> n1_1
    n1_1 --> wf_end
""",
        """\
    wf_start [label="Start", shape=circle];
    n0 [label="first", shape=box, style="rounded"];
    subgraph cluster_b1 {
        label="[1]";
        n1_0 [label="second", shape=box, style="rounded"];
        n1_1 [label="third", shape=box, style="rounded"];
    }
    wf_end [label="End", shape=circle];
    wf_start -> n0;
    n0 -> n1_0;
    n1_0 -> n1_1;
    n1_1 -> wf_end;
}
""",
    ),
    "IF": (
        """\
flowchart TD
    wf_start(("Start"))
    n0_0{"check"}
    subgraph b0_1 ["[0, 1]"]
        n0_1_0["first"]
    end
    n1["second"]
    wf_end(("End"))
    wf_start --> n0_0
    n0_0 -->|yes| n0_1_0
    n0_0 -->|no| n1
    n0_1_0 --> n1
    n1 --> wf_end
""",
        """\
    wf_start [label="Start", shape=circle];
    n0_0 [label="check", shape=diamond];
    subgraph cluster_b0_1 {
        label="[0, 1]";
        n0_1_0 [label="first", shape=box, style="rounded"];
    }
    n1 [label="second", shape=box, style="rounded"];
    wf_end [label="End", shape=circle];
    wf_start -> n0_0;
    n0_0 -> n0_1_0 [label="yes"];
    n0_0 -> n1 [label="no"];
    n0_1_0 -> n1;
    n1 -> wf_end;
}
""",
    ),
    "IF_NOT": (
        """\
flowchart TD
    wf_start(("Start"))
    n0_0{"check"}
    n0_1["first"]
    wf_end(("End"))
    wf_start --> n0_0
    n0_0 -->|no| n0_1
    n0_0 -->|yes| wf_end
    n0_1 --> wf_end
""",
        """\
    wf_start [label="Start", shape=circle];
    n0_0 [label="check", shape=diamond];
    n0_1 [label="first", shape=box, style="rounded"];
    wf_end [label="End", shape=circle];
    wf_start -> n0_0;
    n0_0 -> n0_1 [label="no"];
    n0_0 -> wf_end [label="yes"];
    n0_1 -> wf_end;
}
""",
    ),
    "IF_ELSE": (
        """\
flowchart TD
    wf_start(("Start"))
    n0_0{"check"}
    subgraph b0_1 ["[0, 1]"]
        n0_1_0["first"]
    end
    n0_3["second"]
    wf_end(("End"))
    wf_start --> n0_0
    n0_0 -->|yes| n0_1_0
    n0_0 -->|no| n0_3
    n0_1_0 --> wf_end
    n0_3 --> wf_end
""",
        """\
    wf_start [label="Start", shape=circle];
    n0_0 [label="check", shape=diamond];
    subgraph cluster_b0_1 {
        label="[0, 1]";
        n0_1_0 [label="first", shape=box, style="rounded"];
    }
    n0_3 [label="second", shape=box, style="rounded"];
    wf_end [label="End", shape=circle];
    wf_start -> n0_0;
    n0_0 -> n0_1_0 [label="yes"];
    n0_0 -> n0_3 [label="no"];
    n0_1_0 -> wf_end;
    n0_3 -> wf_end;
}
""",
    ),
    "WHILE": (
        """\
flowchart TD
    wf_start(("Start"))
    n0_0{"check"}
    n0_1["first"]
    n0_2["second"]
    wf_end(("End"))
    wf_start --> n0_0
    n0_0 -->|yes| n0_1
    n0_1 --> n0_2
    n0_2 -.-> n0_0
    n0_0 -->|no| wf_end
""",
        """\
    wf_start [label="Start", shape=circle];
    n0_0 [label="check", shape=diamond];
    n0_1 [label="first", shape=box, style="rounded"];
    n0_2 [label="second", shape=box, style="rounded"];
    wf_end [label="End", shape=circle];
    wf_start -> n0_0;
    n0_0 -> n0_1 [label="yes"];
    n0_1 -> n0_2;
    n0_2 -> n0_0 [style=dashed];
    n0_0 -> wf_end [label="no"];
}
""",
    ),
    "FOR": (
        """\
flowchart TD
    wf_start(("Start"))
    n0_0{{"FOR value in [1, 2]"}}
    n0_1["first"]
    wf_end(("End"))
    wf_start --> n0_0
    n0_0 -->|next| n0_1
    n0_1 -.-> n0_0
    n0_0 -->|done| wf_end
""",
        """\
    wf_start [label="Start", shape=circle];
    n0_0 [label="FOR value in [1, 2]", shape=hexagon];
    n0_1 [label="first", shape=box, style="rounded"];
    wf_end [label="End", shape=circle];
    wf_start -> n0_0;
    n0_0 -> n0_1 [label="next"];
    n0_1 -> n0_0 [style=dashed];
    n0_0 -> wf_end [label="done"];
}
""",
    ),
    "CHOICE": (
        """\
flowchart TD
    wf_start(("Start"))
    n0_0{"kind"}
    subgraph b0_1 ["[0, 1]"]
        n0_1_0["first"]
    end
    subgraph b0_3 ["[0, 3]"]
        n0_3_0["second"]
        n0_3_1["third"]
    end
    wf_end(("End"))
    wf_start --> n0_0
    n0_0 -->|'a'| n0_1_0
    n0_0 -->|'b'| n0_3_0
    n0_3_0 --> n0_3_1
    n0_1_0 --> wf_end
    n0_3_1 --> wf_end
""",
        """\
    wf_start [label="Start", shape=circle];
    n0_0 [label="kind", shape=diamond];
    subgraph cluster_b0_1 {
        label="[0, 1]";
        n0_1_0 [label="first", shape=box, style="rounded"];
    }
    subgraph cluster_b0_3 {
        label="[0, 3]";
        n0_3_0 [label="second", shape=box, style="rounded"];
        n0_3_1 [label="third", shape=box, style="rounded"];
    }
    wf_end [label="End", shape=circle];
    wf_start -> n0_0;
    n0_0 -> n0_1_0 [label="'a'"];
    n0_0 -> n0_3_0 [label="'b'"];
    n0_3_0 -> n0_3_1;
    n0_1_0 -> wf_end;
    n0_3_1 -> wf_end;
}
""",
    ),
    "PARALLEL_SPLIT": (
        """\
flowchart TD
    wf_start(("Start"))
    n0[/"PARALLEL_SPLIT"\\]
    n0_p0["first"]
    subgraph b0_p1 ["branch 2"]
        n0_p1_0["second"]
        n0_p1_1["third"]
    end
    wf_end(("End"))
    wf_start --> n0
    n0 --> n0_p0
    n0 --> n0_p1_0
    n0_p1_0 --> n0_p1_1
    n0 --> wf_end
""",
        """\
    wf_start [label="Start", shape=circle];
    n0 [label="PARALLEL_SPLIT", shape=trapezium];
    n0_p0 [label="first", shape=box, style="rounded"];
    subgraph cluster_b0_p1 {
        label="branch 2";
        n0_p1_0 [label="second", shape=box, style="rounded"];
        n0_p1_1 [label="third", shape=box, style="rounded"];
    }
    wf_end [label="End", shape=circle];
    wf_start -> n0;
    n0 -> n0_p0;
    n0 -> n0_p1_0;
    n0_p1_0 -> n0_p1_1;
    n0 -> wf_end;
}
""",
    ),
    "SYNCHRONIZE": (
        """\
flowchart TD
    wf_start(("Start"))
    n0[/"SYNCHRONIZE"\\]
    n0_s0["first"]
    subgraph b0_s1 ["branch 2"]
        n0_s1_0["second"]
    end
    n0_join[\\"join"/]
    n0_last["third"]
    wf_end(("End"))
    wf_start --> n0
    n0 --> n0_s0
    n0 --> n0_s1_0
    n0_s0 --> n0_join
    n0_s1_0 --> n0_join
    n0_join --> n0_last
    n0_last --> wf_end
""",
        """\
    wf_start [label="Start", shape=circle];
    n0 [label="SYNCHRONIZE", shape=trapezium];
    n0_s0 [label="first", shape=box, style="rounded"];
    subgraph cluster_b0_s1 {
        label="branch 2";
        n0_s1_0 [label="second", shape=box, style="rounded"];
    }
    n0_join [label="join", shape=invtrapezium];
    n0_last [label="third", shape=box, style="rounded"];
    wf_end [label="End", shape=circle];
    wf_start -> n0;
    n0 -> n0_s0;
    n0 -> n0_s1_0;
    n0_s0 -> n0_join;
    n0_s1_0 -> n0_join;
    n0_join -> n0_last;
    n0_last -> wf_end;
}
""",
    ),
    "SIMPLE_MERGE": (
        """\
flowchart TD
    wf_start(("Start"))
    n0_0["first"]
    n0_2["second"]
    n0_4["third"]
    wf_end(("End"))
    wf_start --> n0_0
    n0_0 --> n0_4
    n0_2 --> n0_4
    n0_4 --> wf_end
""",
        """\
    wf_start [label="Start", shape=circle];
    n0_0 [label="first", shape=box, style="rounded"];
    n0_2 [label="second", shape=box, style="rounded"];
    n0_4 [label="third", shape=box, style="rounded"];
    wf_end [label="End", shape=circle];
    wf_start -> n0_0;
    n0_0 -> n0_4;
    n0_2 -> n0_4;
    n0_4 -> wf_end;
}
""",
    ),
    "HALT": (
        """\
flowchart TD
    wf_start(("Start"))
    n0["first"]
    n1(["HALT"])
    wf_end(("End"))
    wf_start --> n0
    n0 --> n1
    n1 -.->|resume| wf_end
""",
        """\
    wf_start [label="Start", shape=circle];
    n0 [label="first", shape=box, style="rounded"];
    n1 [label="HALT", shape=octagon];
    wf_end [label="End", shape=circle];
    wf_start -> n0;
    n0 -> n1;
    n1 -> wf_end [label="resume", style=dashed];
}
""",
    ),
    "STOP": (
        """\
flowchart TD
    wf_start(("Start"))
    n0_0{"check"}
    subgraph b0_1 ["[0, 1]"]
        n0_1_0(["STOP"])
    end
    wf_end(("End"))
    wf_start --> n0_0
    n0_0 -->|yes| n0_1_0
    n0_0 -->|no| wf_end
""",
        """\
    wf_start [label="Start", shape=circle];
    n0_0 [label="check", shape=diamond];
    subgraph cluster_b0_1 {
        label="[0, 1]";
        n0_1_0 [label="STOP", shape=octagon];
    }
    wf_end [label="End", shape=circle];
    wf_start -> n0_0;
    n0_0 -> n0_1_0 [label="yes"];
    n0_0 -> wf_end [label="no"];
}
""",
    ),
}


@pytest.mark.parametrize("name", list(DEFINITIONS))
def test_mermaid_of_each_pattern(name):
    assert to_mermaid(DEFINITIONS[name]()) == EXPECTED[name][0]


@pytest.mark.parametrize("name", list(DEFINITIONS))
def test_dot_of_each_pattern(name):
    assert to_dot(DEFINITIONS[name]()) == DOT_HEADER + EXPECTED[name][1]


def test_nested_patterns_draw_inside_their_branch():
    definition = [IF_ELSE(check, [IF(kind, [first])], second)]
    assert (
        to_mermaid(definition)
        == """\
flowchart TD
    wf_start(("Start"))
    n0_0{"check"}
    subgraph b0_1 ["[0, 1]"]
        n0_1_0_0{"kind"}
        subgraph b0_1_0_1 ["[0, 1, 0, 1]"]
            n0_1_0_1_0["first"]
        end
    end
    n0_3["second"]
    wf_end(("End"))
    wf_start --> n0_0
    n0_0 -->|yes| n0_1_0_0
    n0_1_0_0 -->|yes| n0_1_0_1_0
    n0_0 -->|no| n0_3
    n0_1_0_0 -->|no| wf_end
    n0_1_0_1_0 --> wf_end
    n0_3 --> wf_end
"""
    )


def test_a_pattern_block_as_the_whole_definition_is_recognised():
    assert (
        to_mermaid(IF(check, first))
        == """\
flowchart TD
    wf_start(("Start"))
    n0{"check"}
    n1["first"]
    wf_end(("End"))
    wf_start --> n0
    n0 -->|yes| n1
    n0 -->|no| wf_end
    n1 --> wf_end
"""
    )


def test_tuples_are_flattened_and_none_dropped_as_the_engine_does():
    # Node ids follow the positions the engine uses (callback_pos).
    assert (
        to_mermaid([first, (second, (third,)), None])
        == """\
flowchart TD
    wf_start(("Start"))
    n0["first"]
    n1["second"]
    n2["third"]
    wf_end(("End"))
    wf_start --> n0
    n0 --> n1
    n1 --> n2
    n2 --> wf_end
"""
    )


def test_a_halt_inside_a_loop_resumes_at_the_loop_test():
    assert (
        to_mermaid([WHILE(check, [first, HALT()])])
        == """\
flowchart TD
    wf_start(("Start"))
    n0_0{"check"}
    n0_1["first"]
    n0_2(["HALT"])
    wf_end(("End"))
    wf_start --> n0_0
    n0_0 -->|yes| n0_1
    n0_1 --> n0_2
    n0_2 -.->|resume| n0_0
    n0_0 -->|no| wf_end
"""
    )


def test_without_a_way_to_the_end_no_end_is_drawn():
    assert (
        to_mermaid([STOP()])
        == """\
flowchart TD
    wf_start(("Start"))
    n0(["STOP"])
    wf_start --> n0
"""
    )


def test_a_block_not_shaped_like_its_pattern_is_drawn_as_plain_tasks():
    # An IF block with an extra task is no longer what IF returned.
    definition = [first, [*IF(check, [second]), third]]
    assert (
        to_mermaid(definition)
        == """\
flowchart TD
    wf_start(("Start"))
    n0["first"]
    subgraph b1 ["[1]"]
        n1_0["IF"]
        subgraph b1_1 ["[1, 1]"]
            n1_1_0["second"]
        end
        n1_2["third"]
    end
    wf_end(("End"))
    wf_start --> n0
    n0 --> n1_0
    n1_0 --> n1_1_0
    n1_1_0 --> n1_2
    n1_2 --> wf_end
"""
    )


def borrowing_names(task):
    """Wrap ``task`` as a decorator copying only its names does (no ``__wrapped__``)."""

    def run(obj, eng):
        return task(obj, eng)

    for attribute in ("__name__", "__qualname__", "__module__"):
        setattr(run, attribute, getattr(task, attribute))
    return run


def test_a_wrapper_borrowing_only_the_names_of_a_pattern_task_is_an_ordinary_task():
    # Patterns are recognised by their description, never by their names.
    wrapped = [borrowing_names(IF(check, [first])[0]), [first]]
    assert (
        to_mermaid([wrapped])
        == """\
flowchart TD
    wf_start(("Start"))
    subgraph b0 ["[0]"]
        n0_0["IF"]
        subgraph b0_1 ["[0, 1]"]
            n0_1_0["first"]
        end
    end
    wf_end(("End"))
    wf_start --> n0_0
    n0_0 --> n0_1_0
    n0_1_0 --> wf_end
"""
    )


def decorated(task):
    """Wrap ``task`` as a :func:`functools.wraps` decorator does."""

    @functools.wraps(task)
    def run(obj, eng):
        return task(obj, eng)

    return run


@pytest.mark.parametrize(
    ("definition", "expected"),
    [
        (
            lambda: [IF(decorated(CMP(score, 5, "<")), first)],
            """\
flowchart TD
    wf_start(("Start"))
    n0_0{"score #lt; 5"}
    n0_1["first"]
    wf_end(("End"))
    wf_start --> n0_0
    n0_0 -->|yes| n0_1
    n0_0 -->|no| wf_end
    n0_1 --> wf_end
""",
        ),
        (
            lambda: [decorated(SYNCHRONIZE(first, [second], third))],
            EXPECTED["SYNCHRONIZE"][0],
        ),
        (
            lambda: [decorated(PARALLEL_SPLIT(first, [second, third]))],
            EXPECTED["PARALLEL_SPLIT"][0],
        ),
    ],
    ids=["CMP", "SYNCHRONIZE", "PARALLEL_SPLIT"],
)
def test_a_decorated_pattern_task_is_drawn_as_the_task_it_wraps(definition, expected):
    assert to_mermaid(definition()) == expected


HALTED_MERMAID = """\
flowchart TD
    wf_start(("Start"))
    n0_0{"check"}
    subgraph b0_1 ["[0, 1]"]
        n0_1_0(["HALT"])
    end
    wf_end(("End"))
    wf_start --> n0_0
    n0_0 -->|yes| n0_1_0
    n0_0 -->|no| wf_end
    n0_1_0 -.->|resume| wf_end
    classDef halted fill:#ffd8a8,stroke:#d9480f,stroke-width:3px
    class n0_1_0 halted
"""


def test_mermaid_highlights_the_node_at_the_position():
    assert to_mermaid([IF(check, [HALT()])], highlight=[0, 1, 0]) == HALTED_MERMAID


def test_dot_highlights_the_node_at_the_position():
    assert (
        to_dot([first, [second]], highlight=[1, 0])
        == DOT_HEADER
        + """\
    wf_start [label="Start", shape=circle];
    n0 [label="first", shape=box, style="rounded"];
    subgraph cluster_b1 {
        label="[1]";
        n1_0 [label="second", shape=box, style="rounded,filled,bold", \
fillcolor="#ffd8a8", color="#d9480f", penwidth=3];
    }
    wf_end [label="End", shape=circle];
    wf_start -> n0;
    n0 -> n1_0;
    n1_0 -> wf_end;
}
"""
    )


def test_a_position_matching_no_node_highlights_nothing():
    assert to_mermaid([first], highlight=[3, 1]) == to_mermaid([first])


def score(obj, eng):
    return 3


def named(name):
    def task(obj, eng):
        pass

    task.__name__ = name
    return task


class Callable:
    def __call__(self, obj, eng):
        pass


@pytest.mark.parametrize(
    ("task", "label"),
    [
        (first, "first"),
        (lambda obj, eng: None, "<lambda>"),
        (functools.partial(second), "second"),
        (Callable(), "Callable"),
        (named("inner"), "inner"),
        (ENG_SET("key", 1), "ENG_SET"),
        (HALT(), "HALT"),
        (TASK_JUMP_BWD(-2), "TASK_JUMP_BWD"),
        (CMP(score, 5, "<"), "score < 5"),
        (CMP(score, 5, "gte"), "score >= 5"),
        (CMP(score, "x", "in"), "'x' in score"),
        (CMP(1, 2, "=="), "1 == 2"),
    ],
)
def test_task_label(task, label):
    assert task_label(task) == label


def test_a_cmp_condition_is_drawn_as_its_comparison():
    assert to_mermaid([IF(CMP(score, 5, "<"), first)]).splitlines()[2] == (
        '    n0_0{"score #lt; 5"}'
    )


def test_mermaid_escapes_label_characters():
    task = named('say "hi" <b> | #1')
    assert to_mermaid([task]).splitlines()[2] == (
        '    n0["say #quot;hi#quot; #lt;b#gt; #124; #35;1"]'
    )


def test_dot_escapes_label_characters():
    task = named('say "hi" \\ there')
    assert to_dot([task]).splitlines()[5] == (
        '    n0 [label="say \\"hi\\" \\\\ there", shape=box, style="rounded"];'
    )


@pytest.mark.parametrize("definition", [first, "first", None, {"a": first}])
def test_a_definition_that_is_not_a_list_is_refused(definition):
    with pytest.raises(TypeError, match="definition must be a list of tasks"):
        to_mermaid(definition)


@pytest.mark.parametrize("fmt", ["mermaid", "dot"])
def test_render_text_formats_returns_and_writes_the_text(tmp_path, fmt):
    output = tmp_path / f"graph.{fmt}"
    result = render([first], fmt, output)
    expected = (to_mermaid if fmt == "mermaid" else to_dot)([first]).encode()
    assert (result, output.read_bytes()) == (expected, expected)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, chunk = struct.unpack(">I4s", data[8:16])
    assert (length, chunk) == (13, b"IHDR")
    return struct.unpack(">II", data[16:24])


def test_render_png_with_graphviz(tmp_path):
    output = tmp_path / "graph.png"
    data = render([IF(check, [HALT()])], "png", output, highlight=[0, 1, 0])
    width, height = png_size(data)
    assert data == output.read_bytes()
    assert width > 0 and height > 0


def test_render_svg_with_graphviz():
    svg = render([first, second], "svg").decode()
    assert "<svg" in svg
    assert [">first</text>" in svg, ">second</text>" in svg] == [True, True]


def test_render_refuses_an_unknown_format():
    with pytest.raises(ValueError, match="unknown graph format 'gif': use one of"):
        render([first], "gif")


def test_render_png_without_graphviz(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(GraphvizNotFoundError, match="needs Graphviz's 'dot' program"):
        render([first], "png", tmp_path / "out.png")
    assert not (tmp_path / "out.png").exists()


def test_render_reports_a_failing_dot(monkeypatch):
    monkeypatch.setattr(graph, "to_dot", lambda definition, highlight=None: "digraph {")
    with pytest.raises(RuntimeError, match="^Graphviz 'dot' failed: "):
        render([first], "svg")


def test_graphviz_can_lay_out_every_pattern(tmp_path):
    # Each pattern's DOT text is accepted by Graphviz itself.
    for name, definition in DEFINITIONS.items():
        output = tmp_path / f"{name}.png"
        render(definition(), "png", output)
        assert png_size(output.read_bytes())[0] > 0, name


def store_value(obj, eng, step, value):
    pass


def values(obj, eng):
    return [1, 2]


@pytest.mark.parametrize(
    ("loop", "label"),
    [
        (FOR(values, store_value, first), "FOR store_value in values"),
        (FOR(range(2), "i", first, order="DSC"), "FOR i in range(0, 2)"),
        (
            FOR(list(range(30)), "i", first),
            "FOR i in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11...",
        ),
    ],
)
def test_for_loop_label(loop, label):
    assert to_mermaid([loop]).splitlines()[2] == f'    n0_0{{{{"{label}"}}}}'


def test_an_empty_block_draws_nothing():
    assert (
        to_mermaid([first, [], second])
        == """\
flowchart TD
    wf_start(("Start"))
    n0["first"]
    n2["second"]
    wf_end(("End"))
    wf_start --> n0
    n0 --> n2
    n2 --> wf_end
"""
    )
