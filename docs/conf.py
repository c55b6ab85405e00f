"""Sphinx configuration for the workflow documentation."""

import os
import sys

# Let the docs build from a source checkout even before the package is
# installed; an installed copy works just as well.
sys.path.insert(0, os.path.abspath(".."))

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
]

nitpicky = True
autodoc_member_order = "bysource"
exclude_patterns = ["_build"]

html_theme = "alabaster"
