"""The Alembic migrations of :mod:`workflow.storage`, shipped with the package.

``env.py`` and ``versions/`` are read by Alembic through
:mod:`workflow.storage.schema`, which is the way to run them (or the
``workflow db`` commands). Each revision module in ``versions/`` changes the
schema by one step; the first one creates the tables of workflow 2.2.0.
"""
