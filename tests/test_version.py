"""The package's version and distribution metadata."""

import importlib.metadata

import workflow
from workflow import version


def test_version_is_a_plain_2x_string():
    assert workflow.__version__ == version.__version__ == "2.2.0"


def test_distribution_metadata_matches_the_module():
    assert importlib.metadata.version("workflow") == workflow.__version__


def test_distribution_requires_only_blinker_at_runtime():
    requirements = importlib.metadata.requires("workflow") or []
    runtime = [r for r in requirements if "extra ==" not in r]
    assert [r.split(">")[0].split("=")[0].strip() for r in runtime] == ["blinker"]
