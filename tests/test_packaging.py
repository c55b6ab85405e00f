"""The distributions carry what they should: the sdist all, the wheel the package.

Both are built from this source tree with ``python -m build --no-isolation``
(the build tools are test dependencies), so the checks need no network.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# What a build or a test run leaves in the tree and no distribution carries.
GENERATED_PARTS = {
    "__pycache__",
    ".pytest_cache",
    ".hypothesis",
    ".ruff_cache",
    ".mypy_cache",
    "_build",
    "build",
    "dist",
}
# What setuptools adds to every sdist.
SDIST_METADATA = {"PKG-INFO", "setup.cfg"}


def source_files() -> set[str]:
    """The files of the source tree, as paths relative to its root.

    In a git checkout these are the files git tracks; in an unpacked sdist,
    every file but what a build or a test run generates.
    """
    if (REPO_ROOT / ".git").exists():
        listed = subprocess.run(
            ["git", "ls-files", "-z"],
            cwd=REPO_ROOT,
            check=True,
            capture_output=True,
        ).stdout.decode()
        return {name for name in listed.split("\0") if name}
    files = set()
    for folder, subfolders, names in os.walk(REPO_ROOT):
        subfolders[:] = [
            name
            for name in subfolders
            if name not in GENERATED_PARTS and not name.endswith(".egg-info")
        ]
        for name in names:
            relative = Path(folder, name).relative_to(REPO_ROOT).as_posix()
            if name.startswith(".coverage") or relative in SDIST_METADATA:
                continue
            files.add(relative)
    return files


@pytest.fixture(scope="module")
def distributions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Build the sdist, then the wheel from that sdist, as a release would.

    Building the wheel from the unpacked sdist (``build``'s default) keeps a
    stale ``build/`` folder in the tree out of it.
    """
    outdir = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(outdir)],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
    )
    (sdist,) = outdir.glob("*.tar.gz")
    (wheel,) = outdir.glob("*.whl")
    return {"sdist": sdist, "wheel": wheel}


@pytest.fixture(scope="module")
def sdist_members(distributions: dict[str, Path]) -> set[str]:
    with tarfile.open(distributions["sdist"]) as tar:
        members = [m.name for m in tar.getmembers() if m.isfile()]
    # Every member sits below one "workflow-<version>/" folder.
    return {name.split("/", 1)[1] for name in members}


def test_sdist_contains_every_source_file(sdist_members: set[str]) -> None:
    assert sorted(source_files() - sdist_members) == []


def test_sdist_contains_nothing_but_source_files_and_metadata(
    sdist_members: set[str],
) -> None:
    extra = {
        name
        for name in sdist_members - source_files()
        if name not in SDIST_METADATA and not name.startswith("workflow.egg-info/")
    }
    assert sorted(extra) == []


def test_wheel_contains_exactly_the_package_files(
    distributions: dict[str, Path],
) -> None:
    with zipfile.ZipFile(distributions["wheel"]) as archive:
        packaged = {
            name
            for name in archive.namelist()
            if not name.split("/", 1)[0].endswith(".dist-info")
        }
    expected = {name for name in source_files() if name.startswith("workflow/")}
    assert sorted(packaged ^ expected) == []
    assert "workflow/py.typed" in packaged
