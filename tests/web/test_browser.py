"""The holding pen in a real Chromium, through Playwright, against ``workflow serve``.

Uses Debian's ``chromium`` (``/usr/bin/chromium``, or ``$CHROMIUM``), which
``run-tests.sh`` installs; without it the tests fail, naming the package.
Screenshots at desktop (1280 px) and phone (390 px) widths are taken in
every run; they replace the documentation's, in ``docs/_static/holding-pen/``,
only when ``WORKFLOW_UPDATE_SCREENSHOTS=1`` is set, so that running the
tests leaves the working tree as it was.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright import sync_api

from tests.web.conftest import dead_run, object_id, object_row, start_halted
from tests.web.server import free_port, serve, wait_until_listening
from workflow.engine_db import ObjectStatus
from workflow.storage import WorkflowStore

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or ""
DOC_SHOTS = Path(__file__).resolve().parents[2] / "docs" / "_static" / "holding-pen"
UPDATE_SHOTS = os.environ.get("WORKFLOW_UPDATE_SCREENSHOTS") == "1"
TOKEN = "browser-operator"
READ_ONLY_TOKEN = "browser-reader"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
HOSTILE = "<script>document.title='owned'</script>"

pytestmark = [
    pytest.mark.timeout(300),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """``workflow serve`` over a store with five workflows halted for approval."""
    url = f"sqlite:///{tmp_path_factory.mktemp('pen') / 'pen.db'}"
    with WorkflowStore(url) as store:
        store.create_all()
        students = ["Ann Lee", "Bob Stone", "Cy Young", "Dee Park", HOSTILE]
        uuids = {
            name: start_halted(store, name, grade)
            for grade, name in enumerate(students, start=3)
        }
        uuids["dead"] = dead_run(store, "Eve Dorn")
        port = free_port()
        with serve(
            url,
            port,
            token=TOKEN,
            read_only_token=READ_ONLY_TOKEN,
            imports=("tests.web.approval_flow",),
        ) as process:
            wait_until_listening(port, process)
            yield {"base": f"http://127.0.0.1:{port}", "store": store, "uuids": uuids}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM:
        pytest.fail(
            "no chromium on PATH: the browser tests drive a real Chromium. Install"
            " Debian's chromium package (run-tests.sh does as root) or set $CHROMIUM.",
            pytrace=False,
        )
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            yield launched
        finally:
            launched.close()


def _page(browser: Any, site: dict[str, Any], token: str, viewport: dict[str, int]):
    context = browser.new_context(viewport=viewport)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(site["base"] + "/")
    # Not logged in: the page sends us to the login form.
    assert page.url == site["base"] + "/login?next=%2F"
    page.fill("#token", token)
    page.click("button:has-text('Log in')")
    page.wait_for_url(site["base"] + "/")
    return page


@functools.cache
def _shots_dir() -> Path:
    """Where screenshots go: the documentation's folder, or a temporary one."""
    if UPDATE_SHOTS:
        DOC_SHOTS.mkdir(parents=True, exist_ok=True)
        return DOC_SHOTS
    return Path(tempfile.mkdtemp(prefix="workflow-screenshots-"))


def _shot(page: Any, name: str) -> None:
    """Save a screenshot of the whole page (or of one element: a locator)."""
    path = _shots_dir() / f"{name}.png"
    if isinstance(page, sync_api.Locator):
        page.screenshot(path=str(path))
    else:
        page.screenshot(path=str(path), full_page=True)
    assert path.read_bytes().startswith(b"\x89PNG"), path


def _open_from_waiting_list(page: Any, site: dict[str, Any], student: str) -> int:
    page.click("text=Waiting for me")
    page.wait_for_url(site["base"] + "/waiting")
    row = page.locator("tr", has_text=f"Approve the grade of {student}?")
    row.locator("a", has_text="#").click()
    oid = object_id(site["store"], site["uuids"][student])
    page.wait_for_url(f"{site['base']}/objects/{oid}")
    return oid


def test_operator_approves_an_object(browser, site):
    page = _page(browser, site, TOKEN, DESKTOP)
    _shot(page, "workflows-desktop")
    page.click("text=Waiting for me")
    _shot(page, "waiting-desktop")
    _open_from_waiting_list(page, site, "Ann Lee")
    _shot(page, "object-desktop")
    page.click("button:has-text('Approve')")
    flash = page.locator(".flash")
    uuid = site["uuids"]["Ann Lee"]
    assert flash.inner_text() == f"approval/approve: Workflow {uuid} is COMPLETED"
    assert page.locator("h1 .status").inner_text() == "COMPLETED"
    row = object_row(site["store"], uuid)
    assert row.status == ObjectStatus.COMPLETED.value
    assert row.data["decision"] == "approved"
    # The object's history names who approved, and how.
    action = page.locator("section.history tr", has=page.locator(".event-action"))
    assert action.locator("td.actor").inner_text() == "operator"
    assert action.locator("td.data").inner_text() == (
        '{"action": "choice", "halt_action": "approval", "choice": "approve",'
        ' "outcome": "resume", "data_changed": true}'
    )
    page.goto(f"{site['base']}/workflows/{uuid}")
    _shot(page.locator("#history"), "history-desktop")
    page.context.close()


def test_operator_rejects_an_object_with_a_reason(browser, site):
    page = _page(browser, site, TOKEN, DESKTOP)
    _open_from_waiting_list(page, site, "Bob Stone")
    page.fill("input[name=reason]", "grade not final")
    page.click("button:has-text('Reject')")
    assert page.locator("h1 .status").inner_text() == "COMPLETED"
    row = object_row(site["store"], site["uuids"]["Bob Stone"])
    assert row.status == ObjectStatus.COMPLETED.value
    assert (row.data["decision"], row.data["reason"]) == (
        "rejected",
        "grade not final",
    )
    # A workflow still halted: its diagram marks the task it stopped at.
    page.goto(f"{site['base']}/workflows/{site['uuids']['Cy Young']}")
    assert page.locator("figure.diagram img").get_attribute("alt") == (
        "Diagram of approval, task [0] highlighted"
    )
    _shot(page, "workflow-desktop")
    page.context.close()


def test_reader_is_refused_an_action(browser, site):
    page = _page(browser, site, READ_ONLY_TOKEN, DESKTOP)
    oid = _open_from_waiting_list(page, site, "Cy Young")
    assert page.locator("button:has-text('Approve')").count() == 0
    # The page offers nothing: post the operator's form by hand, with the
    # reader's own session and CSRF token.
    page.evaluate(
        """(oid) => {
            const form = document.createElement('form');
            form.method = 'post';
            form.action = '/objects/' + oid + '/act/approve';
            const csrf = document.querySelector('input[name=csrf_token]').cloneNode();
            form.appendChild(csrf);
            document.body.appendChild(form);
            form.submit();
        }""",
        oid,
    )
    page.wait_for_selector("h1:has-text('Error 403')")
    uuid = site["uuids"]["Cy Young"]
    expected = f"You may not approve object {oid} (workflow {uuid})"
    assert page.locator(".error-message").inner_text() == expected
    _shot(page, "refused-desktop")
    assert object_row(site["store"], uuid).status == ObjectStatus.HALTED.value
    page.context.close()


def test_operator_takes_over_a_dead_run(browser, site):
    page = _page(browser, site, TOKEN, DESKTOP)
    uuid = site["uuids"]["dead"]
    page.goto(f"{site['base']}/workflows/{uuid}")
    assert page.locator("h1 + .facts .status").inner_text() == "RUNNING"
    _shot(page, "take-over-desktop")
    # Unconfirmed, the browser does not send the form.
    page.click("button:has-text('Take over')")
    assert page.url == f"{site['base']}/workflows/{uuid}"
    assert object_row(site["store"], uuid).status == ObjectStatus.RUNNING.value
    page.check("input[name=confirm]")
    page.click("button:has-text('Take over')")
    assert page.locator(".flash").inner_text() == f"Workflow {uuid} is COMPLETED"
    assert object_row(site["store"], uuid).status == ObjectStatus.COMPLETED.value
    action = page.locator("section.history tr", has=page.locator(".event-action"))
    assert action.locator("td.actor").inner_text() == "operator"
    assert action.locator("td.data").inner_text() == '{"action": "take_over"}'
    page.context.close()


def test_hostile_data_is_text_in_the_browser(browser, site):
    page = _page(browser, site, TOKEN, DESKTOP)
    _open_from_waiting_list(page, site, HOSTILE)
    assert page.title() != "owned"
    assert page.locator(".halt .message").inner_text() == (
        f"Approve the grade of {HOSTILE}?"
    )
    page.context.close()


def test_phone_screenshots(browser, site):
    page = _page(browser, site, TOKEN, PHONE)
    _shot(page, "workflows-phone")
    page.click("text=Waiting for me")
    _shot(page, "waiting-phone")
    _open_from_waiting_list(page, site, "Dee Park")
    _shot(page, "object-phone")
    # Nothing is wider than the screen: tables scroll inside their frame.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]
    page.context.close()
