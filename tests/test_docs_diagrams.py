"""Tests of the documentation's ``workflow-diagram`` directive (``docs/_ext``).

A tiny Sphinx project is built with the directive; the DOT it hands to
``sphinx.ext.graphviz`` must be exactly what :func:`workflow.graph.to_dot`
returns for the same definition, so the docs always show the package's own
drawing. The HTML build runs Graphviz's ``dot``, as the docs build does.
"""

from __future__ import annotations

import ast
import io
import re
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from docutils import nodes
from sphinx.application import Sphinx
from sphinx.ext.graphviz import graphviz
from sphinx.util.docutils import docutils_namespace, patch_docutils

from workflow.graph import to_dot
from workflow.patterns import controlflow, utils

pytestmark = pytest.mark.timeout(120)

REPOSITORY = Path(__file__).resolve().parent.parent
EXTENSIONS = REPOSITORY / "docs" / "_ext"
PATTERNS_PAGE = REPOSITORY / "docs" / "patterns.rst"

HELPERS = """\
from workflow.patterns import IF_ELSE, WHILE


def is_new(obj, eng): ...
def create(obj, eng): ...
def update(obj, eng): ...
"""

FIRST = HELPERS + "\n[IF_ELSE(is_new, create, update)]\n"
# The second diagram uses the helpers the first one defined.
SECOND = "[is_new, WHILE(is_new, [create, update]), update]\n"

PAGE = f"""\
Diagrams
========

.. workflow-diagram::

{textwrap.indent(FIRST, "   ")}
.. workflow-diagram::
   :caption: A *loop*.
   :highlight: 1, 1

{textwrap.indent(SECOND, "   ")}
"""


def definitions() -> tuple[list[Any], list[Any]]:
    """The two definitions of :data:`PAGE`, built outside Sphinx."""
    namespace: dict[str, Any] = {}
    exec(HELPERS, namespace)
    return (
        eval("[IF_ELSE(is_new, create, update)]", namespace),
        eval(SECOND, namespace),
    )


@dataclass
class Build:
    """A finished build of a one-page project: its doctree and its output."""

    doctree: nodes.document
    html: str
    images: Path
    warnings: str


def build(tmp_path: Path, page: str, builder: str = "html", **others: str) -> Build:
    """Build a project whose ``index.rst`` is ``page``, with the directive.

    ``others`` are more pages, by name; the index should list them in a
    toctree.
    """
    source = tmp_path / "source"
    source.mkdir()
    (source / "conf.py").write_text(
        'extensions = ["workflow_diagram"]\ngraphviz_output_format = "svg"\n',
        encoding="utf-8",
    )
    (source / "index.rst").write_text(page, encoding="utf-8")
    for name, text in others.items():
        (source / f"{name}.rst").write_text(text, encoding="utf-8")
    output = tmp_path / "html"
    warnings = io.StringIO()
    with patch_docutils(str(source)), docutils_namespace():
        app = Sphinx(
            str(source),
            str(source),
            str(output),
            str(tmp_path / "doctrees"),
            builder,
            status=None,
            warning=warnings,
            freshenv=True,
        )
        app.build()
        doctree = app.env.get_doctree("index")
    html = output / "index.html"
    return Build(
        doctree,
        html.read_text(encoding="utf-8") if html.exists() else "",
        output / "_images",
        warnings.getvalue(),
    )


@pytest.fixture
def extension_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``docs/_ext`` importable, as ``docs/conf.py`` does."""
    monkeypatch.syspath_prepend(str(EXTENSIONS))


@pytest.fixture(scope="module")
def page_build(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Build]:
    """The HTML build of :data:`PAGE`, made once for the module."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.syspath_prepend(str(EXTENSIONS))
        yield build(tmp_path_factory.mktemp("diagrams"), PAGE)


def test_the_build_is_clean(page_build: Build) -> None:
    assert page_build.warnings == ""


def test_the_embedded_dot_is_exactly_workflow_graph_to_dot(page_build: Build) -> None:
    first, second = definitions()
    embedded = [node["code"] for node in page_build.doctree.findall(graphviz)]
    assert embedded == [to_dot(first), to_dot(second, highlight=[1, 1])]


def test_alt_text_names_the_drawn_expression(page_build: Build) -> None:
    assert [node["alt"] for node in page_build.doctree.findall(graphviz)] == [
        "Flowchart of [IF_ELSE(is_new, create, update)]",
        "Flowchart of [is_new, WHILE(is_new, [create, update]), update]",
    ]


def test_a_caption_makes_a_figure(page_build: Build) -> None:
    figures = list(page_build.doctree.findall(nodes.figure))
    assert len(figures) == 1
    assert isinstance(figures[0][0], graphviz)
    assert figures[0][1].astext() == "A loop."


def test_the_html_shows_svg_drawn_by_dot(page_build: Build) -> None:
    shown = re.findall(
        r'<object data="_images/([^"]+\.svg)" type="image/svg\+xml"'
        r' class="graphviz workflow-diagram">',
        page_build.html,
    )
    assert len(shown) == 2
    first = (page_build.images / shown[0]).read_text(encoding="utf-8")
    # dot keeps the graph's and the nodes' identifiers as SVG titles.
    titles = re.findall(r"<title>([^<]+)</title>", first)
    assert [title for title in titles if "&gt;" not in title] == [
        "workflow",
        "wf_start",
        "n0_0",
        "n0_1",
        "n0_3",
        "wf_end",
    ]
    assert ">is_new</text>" in first


@pytest.mark.usefixtures("extension_path")
@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("x = [print]", "the code must end with an expression"),
        ("1 +", "SyntaxError"),
        ("[undefined_task]", "NameError: name 'undefined_task' is not defined"),
        ("'not a list'", "TypeError: definition must be a list of tasks, not str"),
    ],
)
def test_code_that_draws_nothing_is_an_error(
    tmp_path: Path, content: str, message: str
) -> None:
    page = f"Page\n====\n\n.. workflow-diagram::\n\n   {content}\n"
    result = build(tmp_path, page, "dummy")
    assert "ERROR: workflow-diagram: " in result.warnings
    assert message in result.warnings
    assert list(result.doctree.findall(graphviz)) == []


@pytest.mark.usefixtures("extension_path")
def test_a_highlight_that_is_not_a_position_is_an_error(tmp_path: Path) -> None:
    page = "Page\n====\n\n.. workflow-diagram::\n   :highlight: first\n\n   []\n"
    result = build(tmp_path, page, "dummy")
    assert "a task position is integers separated by commas, not 'first'" in (
        result.warnings
    )


@pytest.mark.usefixtures("extension_path")
def test_each_page_has_its_own_namespace(tmp_path: Path) -> None:
    diagram = "\n.. workflow-diagram::\n\n   {}\n"
    index = "Index\n=====\n" + diagram.format("task = print\n   [task]")
    index += "\n.. toctree::\n\n   other\n"
    other = "Other\n=====\n" + diagram.format("[task]")
    result = build(tmp_path, index, "dummy", other=other)
    assert "index.rst" not in result.warnings
    assert "other.rst:4: ERROR: workflow-diagram: NameError: name 'task'" in (
        result.warnings
    )


# ---------------------------------------------------------------------------
# docs/patterns.rst


def diagram_sources(text: str) -> list[str]:
    """The Python content of the ``workflow-diagram`` blocks of ``text``."""
    sources = []
    lines = text.splitlines()
    for index, line in enumerate(lines):
        match = re.match(r"^( *)\.\. workflow-diagram::\s*$", line)
        if match is None:
            continue
        indent = len(match.group(1))
        block = []
        for following in lines[index + 1 :]:
            if following.strip() and len(following) - len(following.lstrip()) <= indent:
                break
            block.append(following)
        code = [item for item in block if not item.strip().startswith(":")]
        sources.append(textwrap.dedent("\n".join(code)))
    return sources


def test_every_pattern_on_the_patterns_page_is_drawn() -> None:
    patterns = (set(controlflow.__all__) | set(utils.__all__)) - {
        "MAX_TIMEOUT",  # a number, not a pattern
        "with_nice_docs",  # a decorator for factories
    }
    used = {
        node.id
        for source in diagram_sources(PATTERNS_PAGE.read_text(encoding="utf-8"))
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Name)
    }
    assert sorted(patterns - used) == []
