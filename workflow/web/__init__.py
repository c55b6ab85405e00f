"""The holding pen: a web page where people resolve halted workflows.

* :mod:`workflow.web.app`: :func:`~workflow.web.app.create_app`, the
  Starlette application (needs the ``web`` extra).
* :mod:`workflow.web.actions`: the halt action registry that definitions
  use to offer choices such as "approve" and "reject" (needs nothing).
* :mod:`workflow.web.auth`: who may look and act.

This package's own module imports nothing from Starlette, so a definition
can import :mod:`workflow.web.actions` without the ``web`` extra.
"""
