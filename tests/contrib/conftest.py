"""Real redis and real Celery workers for the Celery integration tests.

Everything here starts real processes: one ``redis-server`` per test session
(loopback only, no persistence, in a temporary directory) and Celery workers
as subprocesses in their own process groups. Every fixture stops what it
started in a ``finally`` block, so a failing test leaves no process behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from tests.servers import redis_server_binary

REPO_ROOT = Path(__file__).resolve().parents[2]
TEST_QUEUE = "workflow-tests"
WORKER_APP = "tests.contrib.celery_app"
STARTUP_TIMEOUT = 30.0


def free_port() -> int:
    """Return a TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL ``proc``'s whole process group (pool children too) and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def wait_until(predicate, timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll ``predicate`` until it returns true; fail naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private ``redis-server`` on a free loopback port; yields its base URL."""
    binary = redis_server_binary()
    workdir = tmp_path_factory.mktemp("redis")
    port = free_port()
    proc = subprocess.Popen(
        [
            str(binary),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=(workdir / "redis.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        client = redis.Redis(host="127.0.0.1", port=port)

        def answers() -> bool:
            if proc.poll() is not None:
                log = (workdir / "redis.log").read_text(errors="replace")
                pytest.fail(f"redis-server exited with {proc.returncode}:\n{log}")
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

        wait_until(answers, 15, "redis-server to answer PING")
        client.close()
        yield f"redis://127.0.0.1:{port}"
    finally:
        kill_group(proc)


def empty_redis_db(redis_server: str, db: int) -> str:
    """Empty redis database ``db`` and return its URL."""
    url = f"{redis_server}/{db}"
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()
    return url


@pytest.fixture
def broker_url(redis_server: str) -> str:
    """The URL of an emptied redis database, so no message outlives its test.

    Database 0 serves the function-scoped tests; module-scoped workers use
    other numbers.
    """
    return empty_redis_db(redis_server, 0)


@dataclass
class Worker:
    """A running ``celery worker`` subprocess and its log file."""

    name: str
    proc: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        """The worker's output so far."""
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the worker and its pool children at once (a crash)."""
        kill_group(self.proc)


@dataclass
class WorkerPool:
    """Starts Celery workers for one test and kills them all at teardown."""

    broker_url: str
    directory: Path
    workers: list[Worker] = field(default_factory=list)

    def start(
        self,
        name: str,
        store_url: str,
        *,
        app: str = WORKER_APP,
        queue: str | None = TEST_QUEUE,
        cwd: Path = REPO_ROOT,
        pool: str = "prefork",
        extra_env: dict[str, str] | None = None,
    ) -> Worker:
        """Start a worker named ``name`` and return it without waiting."""
        log_path = self.directory / f"{name}.log"
        env = dict(os.environ)
        env.update(
            {
                "WORKFLOW_TEST_BROKER_URL": self.broker_url,
                "WORKFLOW_TEST_STORE_URL": store_url,
                "WORKFLOW_TEST_WORKER": name,
                "WORKFLOW_TEST_DIR": str(self.directory),
                "CELERY_BROKER_URL": self.broker_url,
                "PYTHONPATH": os.pathsep.join(
                    p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p
                ),
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(extra_env or {})
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            app,
            "worker",
            f"--pool={pool}",
            "--concurrency=1",
            "--prefetch-multiplier=1",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel=INFO",
            "-n",
            f"{name}@%h",
        ]
        if queue is not None:
            command += ["-Q", queue]
        proc = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_path.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        worker = Worker(name, proc, log_path)
        self.workers.append(worker)
        return worker

    def wait_ready(self, *workers: Worker) -> None:
        """Wait until each worker has logged that it is ready to consume."""
        for worker in workers:

            def ready(worker: Worker = worker) -> bool:
                if worker.proc.poll() is not None:
                    pytest.fail(
                        f"worker {worker.name} exited with {worker.proc.returncode}:"
                        f"\n{worker.log()}"
                    )
                return " ready." in worker.log()

            wait_until(ready, STARTUP_TIMEOUT, f"worker {worker.name} to be ready")

    def stop_all(self) -> None:
        """Kill every worker this pool started."""
        for worker in self.workers:
            worker.kill()


@pytest.fixture
def worker_pool(broker_url: str, tmp_path: Path) -> Iterator[WorkerPool]:
    """A :class:`WorkerPool` on a fresh broker; its workers die with the test."""
    pool = WorkerPool(broker_url, tmp_path)
    try:
        yield pool
    finally:
        pool.stop_all()
