"""The package's version and distribution metadata."""

import importlib.metadata

import workflow
from workflow import version


def test_version_is_a_plain_2x_string():
    assert workflow.__version__ == version.__version__ == "2.2.0"


def test_distribution_metadata_matches_the_module():
    assert importlib.metadata.version("workflow") == workflow.__version__


def test_distribution_requires_blinker_and_before_313_typing_extensions():
    requirements = importlib.metadata.requires("workflow") or []
    runtime = [r for r in requirements if "extra ==" not in r]
    assert runtime == [
        "blinker>=1.4",
        'typing_extensions>=4.5; python_version < "3.13"',
    ]
