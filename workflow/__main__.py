"""Run the ``workflow`` command line: ``python -m workflow --help``."""

from workflow.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
