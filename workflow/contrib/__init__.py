"""Integrations of :mod:`workflow` with other software.

Each submodule needs its own optional extra and is never imported by the core
package; for example :mod:`workflow.contrib.celery` needs
``pip install 'workflow[celery]'``.
"""
