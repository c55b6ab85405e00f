"""The ``workflow-diagram`` directive: flowcharts drawn by :mod:`workflow.graph`.

The directive's content is Python code whose last statement is an
expression giving a workflow definition. The code runs when the page is
read; the definition is passed to :func:`workflow.graph.to_dot` and the DOT
text it returns is handed, unchanged, to :mod:`sphinx.ext.graphviz`, which
runs Graphviz's ``dot`` to draw it. A change in how the package draws a
definition therefore shows in the documentation at the next build.

.. code-block:: rst

   .. workflow-diagram::
      :caption: A decision between two tasks.

      from workflow.patterns import IF_ELSE

      def is_new(obj, eng): ...
      def create(obj, eng): ...
      def update(obj, eng): ...

      [IF_ELSE(is_new, create, update)]

The diagrams of one page share a namespace, in page order, so a later
diagram can use the helpers an earlier one defined, or draw a definition it
built by naming it. Options:

``caption``
   a caption under the diagram (reStructuredText inline markup allowed);
``highlight``
   a task position, such as ``1`` or ``0, 2``, whose node is highlighted
   (``highlight`` of :func:`workflow.graph.to_dot`).

The alternative text of the image is the source of the drawn expression.
"""

from __future__ import annotations

import ast
import weakref
from typing import Any, ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.ext.graphviz import figure_wrapper, graphviz
from sphinx.util.docutils import SphinxDirective
from sphinx.util.typing import OptionSpec

from workflow.graph import to_dot
from workflow.version import __version__

_NAMESPACES: weakref.WeakKeyDictionary[nodes.document, dict[str, Any]] = (
    weakref.WeakKeyDictionary()
)
"""The namespace the diagrams of each page being read share."""


def position(argument: str) -> list[int]:
    """Convert the ``highlight`` option (``"0, 2"``) to a task position.

    :raises ValueError: if the option is not integers separated by commas;
        docutils reports it as an invalid option value.
    """
    try:
        return [int(step) for step in argument.split(",")]
    except ValueError:
        raise ValueError(
            f"a task position is integers separated by commas, not {argument!r}"
        ) from None


def evaluate(source: str, namespace: dict[str, Any], filename: str) -> tuple[Any, str]:
    """Run ``source`` in ``namespace`` and evaluate its last expression.

    :param source: Python code whose last statement is an expression.
    :param namespace: the globals the code runs in; it keeps what the code
        defines.
    :param filename: where the code comes from, for tracebacks.
    :returns: the value of the last expression, and its source on one line.
    :raises ValueError: if the code does not end with an expression.
    """
    module = ast.parse(source, filename)
    last = module.body.pop() if module.body else None
    if not isinstance(last, ast.Expr):
        raise ValueError(
            "the code must end with an expression giving the definition to draw"
        )
    text = " ".join((ast.get_source_segment(source, last) or "").split())
    exec(compile(module, filename, "exec"), namespace)
    return eval(compile(ast.Expression(last.value), filename, "eval"), namespace), text


class WorkflowDiagram(SphinxDirective):
    """Draw the definition that the directive's Python content builds."""

    has_content = True
    option_spec: ClassVar[OptionSpec] = {
        "caption": directives.unchanged_required,
        "highlight": position,
    }

    def run(self) -> list[nodes.Node]:
        """Run the code, draw its definition and return the graphviz node."""
        namespace = _NAMESPACES.setdefault(self.state.document, {})
        try:
            definition, expression = evaluate(
                "\n".join(self.content), namespace, self.get_location()
            )
            dot = to_dot(definition, self.options.get("highlight"))
        except Exception as error:  # the page's code may raise anything
            raise self.error(
                f"workflow-diagram: {type(error).__name__}: {error}"
            ) from error
        node = graphviz()
        node["code"] = dot
        node["options"] = {"docname": self.env.docname}
        node["alt"] = f"Flowchart of {expression}"
        node["classes"] = ["workflow-diagram"]
        if "caption" not in self.options:
            return [node]
        return [figure_wrapper(self, node, self.options["caption"])]


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the directive and the Graphviz extension it relies on."""
    app.setup_extension("sphinx.ext.graphviz")
    app.add_directive("workflow-diagram", WorkflowDiagram)
    return {
        "version": __version__,
        "parallel_read_safe": True,
        "parallel_write_safe": True,
    }
