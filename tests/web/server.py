"""Start ``workflow serve`` as a child process on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60


def free_port() -> int:
    """Return a TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve(
    url: str,
    port: int,
    *,
    token: str | None,
    read_only_token: str | None = None,
    imports: tuple[str, ...] = (),
) -> Iterator[subprocess.Popen[str]]:
    """Run ``workflow serve`` over ``url``; stop it (by its pid) at the end."""
    command = [sys.executable, "-m", "workflow", "serve", "--db", url]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    if token is not None:
        command += ["--token", token]
    if read_only_token is not None:
        command += ["--read-only-token", read_only_token]
    for module in imports:
        command += ["--import", module]
    # Tokens the tester's shell may hold must not leak into the server.
    env = {**os.environ, "WORKFLOW_WEB_TOKEN": "", "WORKFLOW_WEB_READ_ONLY_TOKEN": ""}
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def wait_until_listening(port: int, process: subprocess.Popen[str]) -> None:
    """Wait until the server accepts connections; fail if it exits first."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            error = process.stderr.read() if process.stderr else ""
            raise RuntimeError(f"workflow serve exited {process.returncode}: {error}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"workflow serve did not listen on port {port} in time")
