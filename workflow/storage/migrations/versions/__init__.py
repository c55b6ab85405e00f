"""The revisions of the :mod:`workflow.storage` schema, oldest first by name."""
