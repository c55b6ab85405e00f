"""``workflow serve``: the command that serves the holding pen."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.web.server import free_port, serve, wait_until_listening

ROOT = Path(__file__).resolve().parents[2]


def test_serve_prints_a_generated_token_that_logs_in(sqlite_url):
    port = free_port()
    with serve(sqlite_url, port, token=None) as process:
        wait_until_listening(port, process)
        assert process.stdout is not None
        first = process.stdout.readline()
        second = process.stdout.readline()
    assert first == f"workflow: holding pen at http://127.0.0.1:{port}/\n"
    found = re.fullmatch(r"workflow: log in with the token (\S+)\n", second)
    assert found is not None


def test_served_api_accepts_the_generated_token(sqlite_url):
    port = free_port()
    with serve(sqlite_url, port, token=None) as process:
        wait_until_listening(port, process)
        assert process.stdout is not None
        process.stdout.readline()
        token = process.stdout.readline().split()[-1]
        response = httpx.get(
            f"http://127.0.0.1:{port}/api/workflows",
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 200
    assert response.json()["total"] == 0


def test_served_pages_need_a_login(sqlite_url):
    port = free_port()
    with serve(sqlite_url, port, token="given") as process:
        wait_until_listening(port, process)
        response = httpx.get(f"http://127.0.0.1:{port}/")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2F"
    assert "server" not in response.headers


def test_serve_reports_a_module_it_cannot_import(sqlite_url):
    done = subprocess.run(
        [sys.executable, "-m", "workflow", "serve", "--db", sqlite_url]
        + ["--import", "no_such_module_here"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr == (
        "workflow: error: --import no_such_module_here: cannot import module"
        " 'no_such_module_here': no module named 'no_such_module_here' (is it"
        " installed, or in the current directory?)\n"
    )


def test_serve_refuses_equal_tokens(sqlite_url):
    env = dict(os.environ, WORKFLOW_WEB_TOKEN="same")
    done = subprocess.run(
        [sys.executable, "-m", "workflow", "serve", "--db", sqlite_url]
        + ["--read-only-token", "same"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr == (
        "workflow: error: The read-only token must be non-empty and differ from"
        " the token\n"
    )


@pytest.mark.parametrize("option", ["--token", "--read-only-token", "--import"])
def test_serve_help_lists_its_options(option):
    done = subprocess.run(
        [sys.executable, "-m", "workflow", "serve", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert option in done.stdout


def test_server_stops_on_interrupt(sqlite_url):
    port = free_port()
    with serve(sqlite_url, port, token="given") as process:
        wait_until_listening(port, process)
        process.send_signal(signal.SIGINT)
        started = time.monotonic()
        process.wait(timeout=30)
    assert time.monotonic() - started < 30
    assert process.returncode == 0


def test_serve_help_has_an_example():
    done = subprocess.run(
        [sys.executable, "-m", "workflow", "serve", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert "\nexample:\n  workflow serve --db sqlite:///workflow.db" in done.stdout


def test_serve_without_the_web_extra_says_what_to_install(tmp_path):
    code = (
        "import sys; sys.modules['uvicorn'] = None\n"
        "from workflow.cli import main\n"
        f"sys.exit(main(['serve', '--db', 'sqlite:///{tmp_path}/x.db']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 1
    assert done.stderr.startswith("workflow: error: the holding pen needs the web")
    assert done.stderr.endswith(": install it with pip install 'workflow[web]'\n")
