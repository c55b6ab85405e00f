"""Sphinx configuration for the workflow documentation.

Every example in these pages is executed by ``sphinx.ext.doctest``
(``python -m sphinx -b doctest docs docs/_build/doctest``), and the HTML build
runs in nitpicky mode, so a stale example or a broken cross-reference fails
the build. The flowcharts are drawn at build time by the package itself
(``docs/_ext/workflow_diagram.py``), which needs Graphviz's ``dot``.
"""

import os
import sys

# Let the docs build from a source checkout even before the package is
# installed; an installed copy works just as well.
sys.path.insert(0, os.path.abspath(".."))
# The documentation's own extension: the workflow-diagram directive.
sys.path.insert(0, os.path.abspath("_ext"))

from workflow.version import __version__  # noqa: E402

project = "workflow"
author = "the workflow contributors"
copyright = "2011-2016 CERN; 2026 the workflow contributors"
version = __version__
release = __version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "sphinx.ext.viewcode",
    "sphinx_copybutton",
    "workflow_diagram",
]

exclude_patterns = ["_build"]

# -- HTML -------------------------------------------------------------------

html_theme = "furo"
html_title = f"workflow {release}"
html_static_path = ["_static"]
html_css_files = ["workflow.css"]

# The "On this page" column lists API members by their own names
# (``halt()``), not by their dotted paths, which would wrap mid-word.
toc_object_entries_show_parents = "hide"

# Diagrams as SVG, sharp at any zoom (docs/_static/workflow.css sizes them).
graphviz_output_format = "svg"

# The copy button copies commands, not their prompts or their output: in
# ``$ cmd`` and ``>>> code`` blocks only the prompted lines are copied,
# without the prompt; a block without prompts is copied whole.
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True
copybutton_only_copy_prompt_lines = True
copybutton_remove_prompts = True

# -- autodoc ----------------------------------------------------------------

autodoc_member_order = "bysource"
# Type hints go next to each parameter's description rather than into long
# signatures; the signature stays readable and every type is still shown.
autodoc_typehints = "description"

# -- nitpicky cross-references -----------------------------------------------

nitpicky = True

# The build runs without network access, so intersphinx cannot fetch the
# inventories of Python and of the optional libraries. References to those
# are therefore left unresolved on purpose. Only outside names are listed:
# every reference to a ``workflow`` name must resolve.
_STDLIB = getattr(  # sys.stdlib_module_names is new in Python 3.10
    sys,
    "stdlib_module_names",
    (
        "abc", "collections", "contextlib", "cProfile", "dataclasses",
        "datetime", "enum", "functools", "importlib", "json", "logging", "os",
        "pathlib", "pickle", "pstats", "queue", "random", "sqlite3",
        "subprocess", "sys", "threading", "types", "typing", "uuid",
        "warnings",
    ),
)  # fmt: skip
_THIRD_PARTY = (
    "alembic",
    "blinker",
    "sqlalchemy",
    "celery",
    "kombu",
    "opentelemetry",
    "psycopg",
    "redis",
)
_OUTSIDE_MODULES = "({})".format(
    "|".join(
        name.replace(".", r"\.")
        for name in sorted({*_STDLIB, *_THIRD_PARTY, "typing_extensions"})
    )
)
nitpick_ignore_regex = [
    ("py:.*", _OUTSIDE_MODULES + r"(\..*)?"),
]
_BUILTINS = (
    "Any",
    "Callable",
    "Iterable",
    "Iterator",
    "Mapping",
    "Sequence",
    "NoReturn",
    "Optional",
    "Union",
    "TypeVar",
    "Generic",
    "None",
    "bool",
    "bytes",
    "dict",
    "float",
    "int",
    "list",
    "object",
    "set",
    "str",
    "tuple",
    "type",
    "BaseException",
    "Exception",
    "KeyError",
    "TypeError",
    "ValueError",
    "AttributeError",
    "ImportError",
    "RuntimeError",
    "Warning",
    "DeprecationWarning",
)
nitpick_ignore = [
    (role, name)
    for name in _BUILTINS
    for role in ("py:class", "py:exc", "py:obj", "py:func", "py:data")
]


# -- re-exported names --------------------------------------------------------


def _locate(target, context_module):
    """Return where the object named ``target`` is defined, or ``None``.

    ``target`` is a dotted name (``workflow.storage.WorkflowStore.create_all``)
    or, inside a module's docstrings, a bare one (``WorkflowError``).
    """
    import importlib

    parts = target.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            module = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        rest = parts[split:]
        break
    else:
        if not context_module:
            return None
        try:
            module = importlib.import_module(context_module)
        except ImportError:
            return None
        rest = parts
    if not module.__name__.startswith("workflow"):
        return None
    obj = getattr(module, rest[0], None)
    defined_in = getattr(obj, "__module__", None)
    if defined_in is None or defined_in == module.__name__:
        return None
    return ".".join([defined_in, obj.__qualname__, *rest[1:]])


def _resolve_reexport(app, env, node, contnode):
    """Resolve a reference to a name that a module re-exports.

    ``workflow.engine`` re-exports the exceptions of ``workflow.errors``,
    ``workflow.patterns`` the patterns and ``workflow.storage`` the names of
    its submodules. Docstrings may name them through the re-exporting module
    (``workflow.storage.WorkflowStore``) or briefly (``WorkflowError`` in
    ``workflow.engine``); such references are sent to where the object is
    documented, under its defining module, instead of documenting every
    object twice.
    """
    if node.get("refdomain") != "py":
        return None
    canonical = _locate(node["reftarget"], node.get("py:module"))
    if canonical is None:
        return None
    return env.get_domain("py").resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], canonical, node, contnode
    )


def setup(app):
    app.connect("missing-reference", _resolve_reexport)
