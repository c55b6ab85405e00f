"""Finite state machine with memory over a list of objects.

:mod:`workflow` runs a (possibly nested) list of tasks over a list of
objects, and lets its caller halt, inspect, resume, restart and persist that
processing. It reimplements the 2.x API of Invenio's ``workflow`` library on
Python 3.9 and newer.
"""

from .version import __version__

__all__ = ("__version__",)
