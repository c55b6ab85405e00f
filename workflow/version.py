"""Version of the :mod:`workflow` package, as a plain string."""

__version__ = "2.2.0"
