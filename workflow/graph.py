"""Draw a workflow definition as a flowchart (Mermaid, Graphviz DOT, PNG, SVG).

Tasks become nodes named after their functions, nested blocks become
subgraphs, and the blocks built by :mod:`workflow.patterns` are drawn as the
control flow they implement:

* ``IF``, ``IF_NOT`` and ``IF_ELSE``: a decision with ``yes``/``no`` edges;
* ``WHILE``: a decision whose ``yes`` edge runs the body, with a back edge;
* ``FOR``: a loop node whose ``next`` edge runs the body, with a back edge,
  and a ``done`` edge out of the loop;
* ``CHOICE``: a decision with one edge per value of the arbiter;
* ``PARALLEL_SPLIT``: a fork into branches that run on their own;
* ``SYNCHRONIZE``: a fork into branches that meet again before the last task;
* ``HALT`` and ``STOP``: terminal shapes (a halted object resumes at the next
  task, hence the dashed ``resume`` edge after ``HALT``).

Pattern tasks are recognised, and their details read, by the description
each carries (its ``workflow_pattern`` attribute, see
:mod:`workflow.patterns`), also behind a :func:`functools.wraps` decorator
(followed through ``__wrapped__``), which is drawn as the task itself;
anything else callable is an ordinary task. Node identifiers follow the
task's position in the definition (``n0_1_2`` is the task at
``callback_pos == [0, 1, 2]``), so a saved position can be highlighted.

Only the standard library is used; PNG and SVG need Graphviz's ``dot``
program on ``PATH``.
"""

from __future__ import annotations

import inspect
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from ._pattern import Pattern, pattern_of
from .engine import Callbacks

__all__ = (
    "FORMATS",
    "GraphvizNotFoundError",
    "to_dot",
    "to_mermaid",
    "render",
    "task_label",
)

FORMATS = ("mermaid", "dot", "png", "svg")
"""The output formats :func:`render` accepts."""

_DECISIONS = ("IF", "IF_NOT", "IF_ELSE", "WHILE", "CHOICE")
_BLOCK_PATTERNS = (*_DECISIONS, "FOR")

_MERMAID_SHAPES = {
    "task": ('["', '"]'),
    "decision": ('{"', '"}'),
    "loop": ('{{"', '"}}'),
    "terminal": ('(["', '"])'),
    "fork": ('[/"', '"\\]'),
    "join": ('[\\"', '"/]'),
    "endpoint": ('(("', '"))'),
}
_DOT_SHAPES = {
    "task": ("box", "rounded"),
    "decision": ("diamond", ""),
    "loop": ("hexagon", ""),
    "terminal": ("octagon", ""),
    "fork": ("trapezium", ""),
    "join": ("invtrapezium", ""),
    "endpoint": ("circle", ""),
}
_MERMAID_HIGHLIGHT = "fill:#ffd8a8,stroke:#d9480f,stroke-width:3px"
_DOT_HIGHLIGHT = 'fillcolor="#ffd8a8", color="#d9480f", penwidth=3'

Path_ = Sequence[Union[int, str]]


class GraphvizNotFoundError(RuntimeError):
    """Raised by :func:`render` when PNG or SVG output needs a missing ``dot``."""


# --------------------------------------------------------------------------
# The graph model


@dataclass
class _Node:
    id: str
    label: str
    shape: str


@dataclass
class _Cluster:
    id: str
    title: str
    members: list[_Node | _Cluster] = field(default_factory=list)


@dataclass
class _Edge:
    src: str
    dst: str
    label: str | None
    dashed: bool


# An edge waiting for the node that comes next: (source id, label, dashed).
_Pending = list[tuple[str, Union[str, None], bool]]


def _path_id(prefix: str, path: Path_) -> str:
    return prefix + "_".join(str(step) for step in path)


def _cluster_title(path: Path_) -> str:
    """Title a nested block by its position; a pattern's branches by number."""
    named = [index for index, step in enumerate(path) if isinstance(step, str)]
    if not named:
        return str(list(path))
    step = str(path[named[-1]])
    title = "then" if step == "last" else f"branch {int(step[1:]) + 1}"
    rest = list(path[named[-1] + 1 :])
    return f"{title} {rest}" if rest else title


def _pattern(task: Any) -> Pattern | None:
    """The description of the pattern task ``task`` is, or wraps, if any."""
    try:
        function = inspect.unwrap(task)
    except ValueError:
        # A chain of __wrapped__ that loops: take the task as it is.
        function = task
    return pattern_of(function)


def _factory_name(task: Any) -> str | None:
    """Return the pattern factory that made ``task`` (``"IF_ELSE"``), if any."""
    pattern = _pattern(task)
    return None if pattern is None else pattern.name


def _value_label(value: Any) -> str:
    if callable(value):
        return task_label(value)
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def task_label(task: Any) -> str:
    """Return the name a task is drawn (and listed) under.

    A task made by a :mod:`workflow.patterns` factory is named after the
    factory (``HALT``), a ``CMP`` condition after its comparison
    (``score < 5``), a :func:`functools.partial` after its function, and any
    other callable after its ``__name__`` (or its class name).

    :param task: a task of a definition.
    """
    pattern = _pattern(task)
    if pattern is not None:
        if pattern.name == "CMP":
            params = pattern.params
            symbol = _OPERATOR_SYMBOLS[params["op"]]
            left, right = _value_label(params["a"]), _value_label(params["b"])
            if symbol == "in":
                left, right = right, left
            return f"{left} {symbol} {right}"
        return pattern.name
    name = getattr(task, "__name__", None)
    if isinstance(name, str):
        return name
    func = getattr(task, "func", None)
    if func is not None:
        return task_label(func)
    return type(task).__name__


_OPERATOR_SYMBOLS = {
    "eq": "==",
    "==": "==",
    "gt": ">",
    ">": ">",
    "gte": ">=",
    ">=": ">=",
    "lt": "<",
    "<": "<",
    "lte": "<=",
    "<=": "<=",
    "in": "in",
}


def _condition_label(test: Any) -> str:
    """Name the condition a decision task evaluates."""
    pattern = _pattern(test)
    if pattern is not None:
        for key in ("cond", "arbiter"):
            if callable(pattern.params.get(key)):
                return task_label(pattern.params[key])
    return task_label(test)


class _Builder:
    def __init__(self, highlight: Sequence[int] | None) -> None:
        self.root = _Cluster("", "")
        self.edges: list[_Edge] = []
        self.highlight = _path_id("n", highlight) if highlight is not None else None
        self.highlighted: str | None = None

    def add_node(self, cluster: _Cluster, node_id: str, label: str, shape: str) -> str:
        cluster.members.append(_Node(node_id, label, shape))
        if node_id == self.highlight:
            self.highlighted = node_id
        return node_id

    def connect(self, pending: _Pending, dst: str, *, dashed: bool = False) -> None:
        for src, label, was_dashed in pending:
            self.edges.append(_Edge(src, dst, label, dashed or was_dashed))

    def build(self, definition: Sequence[Any]) -> None:
        start = self.add_node(self.root, "wf_start", "Start", "endpoint")
        pending: _Pending = [(start, None, False)]
        drawn = self.pattern_block(definition, (), self.root, pending)
        pending = (
            self.block(definition, (), self.root, pending) if drawn is None else drawn
        )
        if pending:
            # Without a way to the end (a STOP), the end is not drawn.
            end = self.add_node(self.root, "wf_end", "End", "endpoint")
            self.connect(pending, end)

    def block(
        self,
        items: Sequence[Any],
        path: Path_,
        cluster: _Cluster,
        pending: _Pending,
        first: int = 0,
    ) -> _Pending:
        for index, item in enumerate(items[first:], start=first):
            pending = self.item(item, (*path, index), cluster, pending)
        return pending

    def item(
        self, item: Any, path: Path_, cluster: _Cluster, pending: _Pending
    ) -> _Pending:
        if isinstance(item, (list, tuple)):
            if not item:
                return pending
            drawn = self.pattern_block(item, path, cluster, pending)
            if drawn is not None:
                return drawn
            sub = _Cluster(_path_id("b", path), _cluster_title(path))
            cluster.members.append(sub)
            return self.block(item, path, sub, pending)
        factory = _factory_name(item)
        node_id = _path_id("n", path)
        if factory in ("HALT", "STOP"):
            self.add_node(cluster, node_id, factory, "terminal")
            self.connect(pending, node_id)
            return [(node_id, "resume", True)] if factory == "HALT" else []
        if factory == "PARALLEL_SPLIT":
            return self.parallel_split(item, node_id, path, cluster, pending)
        if factory == "SYNCHRONIZE":
            return self.synchronize(item, node_id, path, cluster, pending)
        self.add_node(cluster, node_id, task_label(item), "task")
        self.connect(pending, node_id)
        return [(node_id, None, False)]

    def pattern_block(
        self, items: Sequence[Any], path: Path_, cluster: _Cluster, pending: _Pending
    ) -> _Pending | None:
        """Draw a block made by a pattern factory; ``None`` if it is not one."""
        size = len(items)
        if (
            size >= 3
            and size % 2 == 1
            and all(
                _factory_name(items[i]) == "SIMPLE_MERGE" for i in range(1, size, 2)
            )
        ):
            return self.simple_merge(items, path, cluster, pending)
        kind = _factory_name(items[0])
        if kind not in _BLOCK_PATTERNS:
            return None
        breaks = [_factory_name(items[i]) == "BREAK" for i in range(2, size, 2)]
        shaped = {
            "IF": size == 2,
            "IF_NOT": size == 2,
            "IF_ELSE": size == 4 and all(breaks),
            "WHILE": size >= 2 and _factory_name(items[-1]) == "TASK_JUMP_BWD",
            "FOR": size >= 2 and _factory_name(items[-1]) == "TASK_JUMP_BWD",
            "CHOICE": size >= 3 and size % 2 == 1 and all(breaks),
        }[kind]
        if not shaped:
            return None
        head_id = _path_id("n", (*path, 0))
        if kind == "FOR":
            self.add_node(cluster, head_id, _for_label(items[0]), "loop")
        else:
            self.add_node(cluster, head_id, _condition_label(items[0]), "decision")
        self.connect(pending, head_id)
        if kind in ("IF", "IF_NOT"):
            taken, skipped = ("yes", "no") if kind == "IF" else ("no", "yes")
            out = self.item(items[1], (*path, 1), cluster, [(head_id, taken, False)])
            return [(head_id, skipped, False), *out]
        if kind == "IF_ELSE":
            yes = self.item(items[1], (*path, 1), cluster, [(head_id, "yes", False)])
            no = self.item(items[3], (*path, 3), cluster, [(head_id, "no", False)])
            return [*yes, *no]
        if kind == "CHOICE":
            return self.choice(items, path, head_id, cluster)
        enter, leave = ("yes", "no") if kind == "WHILE" else ("next", "done")
        body = self.block(items[:-1], path, cluster, [(head_id, enter, False)], 1)
        self.connect(body, head_id, dashed=True)
        return [(head_id, leave, False)]

    def choice(
        self, items: Sequence[Any], path: Path_, head_id: str, cluster: _Cluster
    ) -> _Pending:
        # The choose task maps each value to the jump offset of its branch,
        # which is the branch's index in the block.
        pattern = _pattern(items[0])
        offsets = {} if pattern is None else pattern.params["offsets"]
        values: dict[Any, list[str]] = {}
        for value, index in offsets.items():
            values.setdefault(index, []).append(repr(value))
        out: _Pending = []
        for index in range(1, len(items), 2):
            label = ", ".join(values.get(index, ())) or None
            entry: _Pending = [(head_id, label, False)]
            out.extend(self.item(items[index], (*path, index), cluster, entry))
        return out

    def simple_merge(
        self, items: Sequence[Any], path: Path_, cluster: _Cluster, pending: _Pending
    ) -> _Pending:
        # The first branch runs, then the last item; the other branches are
        # only reached by a jump from elsewhere, so nothing leads into them.
        merged = self.item(items[0], (*path, 0), cluster, pending)
        for index in range(2, len(items) - 1, 2):
            merged.extend(self.item(items[index], (*path, index), cluster, []))
        last = len(items) - 1
        return self.item(items[last], (*path, last), cluster, merged)

    def parallel_split(
        self, task: Any, node_id: str, path: Path_, cluster: _Cluster, pending: _Pending
    ) -> _Pending:
        self.add_node(cluster, node_id, "PARALLEL_SPLIT", "fork")
        self.connect(pending, node_id)
        pattern = _pattern(task)
        branches = () if pattern is None else pattern.params["branches"]
        for number, branch in enumerate(branches):
            # Branches run on in their own threads; nothing waits for them.
            self.item(branch, (*path, f"p{number}"), cluster, [(node_id, None, False)])
        return [(node_id, None, False)]

    def synchronize(
        self, task: Any, node_id: str, path: Path_, cluster: _Cluster, pending: _Pending
    ) -> _Pending:
        self.add_node(cluster, node_id, "SYNCHRONIZE", "fork")
        self.connect(pending, node_id)
        pattern = _pattern(task)
        if pattern is None:
            return [(node_id, None, False)]
        names = pattern.params
        joined: _Pending = []
        for number, branch in enumerate(names["branches"]):
            entry: _Pending = [(node_id, None, False)]
            joined.extend(self.item(branch, (*path, f"s{number}"), cluster, entry))
        join_id = self.add_node(cluster, node_id + "_join", "join", "join")
        self.connect(joined, join_id)
        return self.item(
            names["last"], (*path, "last"), cluster, [(join_id, None, False)]
        )


def _for_label(task: Any) -> str:
    pattern = _pattern(task)
    if pattern is None:
        return "FOR"
    params = pattern.params
    key = params["key"]
    target = str(key) if key is not None else task_label(params["setter"])
    return f"FOR {target} in {_value_label(params['source'])}"


def _build(definition: Any, highlight: Sequence[int] | None) -> _Builder:
    if not isinstance(definition, (list, tuple)):
        raise TypeError(
            "definition must be a list of tasks, not "
            f"{type(definition).__name__}: pass the workflow list itself"
        )
    builder = _Builder(highlight)
    # The engine runs the cleaned definition (tuples flattened, None dropped),
    # so positions are counted in it, as callback_pos counts them.
    builder.build(list(Callbacks.cleanup_callables(definition)))
    return builder


# --------------------------------------------------------------------------
# Mermaid


def _mermaid_text(text: str) -> str:
    return (
        text.replace("#", "#35;")
        .replace('"', "#quot;")
        .replace("<", "#lt;")
        .replace(">", "#gt;")
        .replace("|", "#124;")
    )


def _mermaid_members(cluster: _Cluster, depth: int, lines: list[str]) -> None:
    indent = "    " * depth
    for member in cluster.members:
        if isinstance(member, _Node):
            opening, closing = _MERMAID_SHAPES[member.shape]
            lines.append(
                f"{indent}{member.id}{opening}{_mermaid_text(member.label)}{closing}"
            )
        else:
            lines.append(
                f'{indent}subgraph {member.id} ["{_mermaid_text(member.title)}"]'
            )
            _mermaid_members(member, depth + 1, lines)
            lines.append(f"{indent}end")


def to_mermaid(
    definition: Sequence[Any], highlight: Sequence[int] | None = None
) -> str:
    """Return a Mermaid ``flowchart`` of ``definition``.

    :param definition: a workflow definition (a nested list of tasks).
    :param highlight: a task position (a saved ``callback_pos``, such as
        ``[0, 1, 0]``) whose node is drawn highlighted, e.g. where a workflow
        halted.
    :returns: the Mermaid source, ending with a newline.
    :raises TypeError: if ``definition`` is not a list or tuple.
    """
    builder = _build(definition, highlight)
    lines = ["flowchart TD"]
    _mermaid_members(builder.root, 1, lines)
    for edge in builder.edges:
        arrow = "-.->" if edge.dashed else "-->"
        label = f"|{_mermaid_text(edge.label)}|" if edge.label else ""
        lines.append(f"    {edge.src} {arrow}{label} {edge.dst}")
    if builder.highlighted is not None:
        lines.append(f"    classDef halted {_MERMAID_HIGHLIGHT}")
        lines.append(f"    class {builder.highlighted} halted")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# Graphviz


def _dot_text(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot_members(
    cluster: _Cluster, depth: int, lines: list[str], highlighted: str | None
) -> None:
    indent = "    " * depth
    for member in cluster.members:
        if isinstance(member, _Node):
            shape, style = _DOT_SHAPES[member.shape]
            attributes = f"label={_dot_text(member.label)}, shape={shape}"
            if member.id == highlighted:
                style = ",".join(filter(None, (style, "filled", "bold")))
            if style:
                attributes += f', style="{style}"'
            if member.id == highlighted:
                attributes += f", {_DOT_HIGHLIGHT}"
            lines.append(f"{indent}{member.id} [{attributes}];")
        else:
            lines.append(f"{indent}subgraph cluster_{member.id} {{")
            lines.append(f"{indent}    label={_dot_text(member.title)};")
            _dot_members(member, depth + 1, lines, highlighted)
            lines.append(f"{indent}}}")


def to_dot(definition: Sequence[Any], highlight: Sequence[int] | None = None) -> str:
    """Return a Graphviz DOT ``digraph`` of ``definition``.

    :param definition: a workflow definition (a nested list of tasks).
    :param highlight: a task position (a saved ``callback_pos``) whose node
        is drawn highlighted.
    :returns: the DOT source, ending with a newline.
    :raises TypeError: if ``definition`` is not a list or tuple.
    """
    builder = _build(definition, highlight)
    lines = [
        "digraph workflow {",
        '    graph [fontname="Helvetica", style=rounded, color="#888888"];',
        '    node [fontname="Helvetica"];',
        '    edge [fontname="Helvetica"];',
    ]
    _dot_members(builder.root, 1, lines, builder.highlighted)
    for edge in builder.edges:
        attributes = []
        if edge.label:
            attributes.append(f"label={_dot_text(edge.label)}")
        if edge.dashed:
            attributes.append("style=dashed")
        suffix = f" [{', '.join(attributes)}]" if attributes else ""
        lines.append(f"    {edge.src} -> {edge.dst}{suffix};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(
    definition: Sequence[Any],
    fmt: str,
    output: str | Path | None = None,
    highlight: Sequence[int] | None = None,
) -> bytes:
    """Draw ``definition`` in ``fmt`` and return (and optionally save) the result.

    :param definition: a workflow definition (a nested list of tasks).
    :param fmt: one of :data:`FORMATS`: ``"mermaid"`` and ``"dot"`` give the
        source text (UTF-8), ``"png"`` and ``"svg"`` run Graphviz's ``dot``.
    :param output: a file to write the result to, if given.
    :param highlight: a task position whose node is drawn highlighted.
    :returns: the drawing, as bytes.
    :raises ValueError: for an unknown ``fmt``.
    :raises GraphvizNotFoundError: for ``png``/``svg`` when ``dot`` is not on ``PATH``.
    :raises RuntimeError: when ``dot`` fails.
    """
    if fmt not in FORMATS:
        raise ValueError(
            f"unknown graph format {fmt!r}: use one of {', '.join(FORMATS)}"
        )
    if fmt == "mermaid":
        result = to_mermaid(definition, highlight).encode()
    elif fmt == "dot":
        result = to_dot(definition, highlight).encode()
    else:
        result = _run_dot(to_dot(definition, highlight), fmt)
    if output is not None:
        Path(output).write_bytes(result)
    return result


def _run_dot(source: str, fmt: str) -> bytes:
    program = shutil.which("dot")
    if program is None:
        raise GraphvizNotFoundError(
            f"{fmt.upper()} output needs Graphviz's 'dot' program, which is not "
            "on PATH: install Graphviz, or use --format mermaid or dot"
        )
    done = subprocess.run(
        [program, f"-T{fmt}"], input=source.encode(), capture_output=True, check=False
    )
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        detail = message[0] if message else f"exit status {done.returncode}"
        raise RuntimeError(f"Graphviz 'dot' failed: {detail}")
    return done.stdout
