"""The holding pen: a Starlette application over a workflow store.

Build it with :func:`create_app` and serve it with any ASGI server, or mount
it in a host application (FastAPI or Starlette)::

    from workflow.storage import WorkflowStore
    from workflow.web.app import create_app

    pen = create_app(
        WorkflowStore("sqlite:///workflow.db"),
        get_user=lambda request: request.session.get("user"),
        authorize=lambda user, permission, workflow: True,
        secret_key="...",
    )
    host.mount("/holding-pen", pen)

Every page and JSON answer needs a user; every change needs ``POST`` and,
unless the request carries a bearer token, the session's CSRF token.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import math
import re
import secrets
import shutil
from collections.abc import Awaitable, Mapping
from pathlib import Path
from typing import Any, Callable, TypeVar
from urllib.parse import urlencode

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import graph
from ..engine_db import ObjectStatus, WorkflowStatus
from ..storage import api
from ..storage.engine import to_json
from ..storage.errors import (
    DefinitionChangedError,
    UnknownWorkflowError,
    UnserializableDataError,
    WorkflowBusyError,
    WorkflowNotFoundError,
)
from ..storage.models import WorkflowStore, utcnow
from ..storage.registry import registry
from . import _queries as queries
from .actions import ActionRequest, HaltActions, Outcome, halt_actions
from .auth import Authorizer, TokenAuth, UserGetter, WorkflowRef, allow_any_user

__all__ = ("ActionError", "create_app", "safe_next")

_logger = logging.getLogger("workflow.web")

_HERE = Path(__file__).parent
_RESTART_WORDS = ("prev", "current", "next", "first")
_CSRF_KEY = "workflow_csrf"
_FLASH_KEY = "workflow_flash"
_MAX_PAGE_SIZE = 200
# Events of the run history on a page; the JSON API takes history_limit.
_HISTORY_SIZE = 50
# Relative paths inside the application: a slash, then no second slash or
# backslash (which browsers read as another host), and no scheme.
_SAFE_NEXT = re.compile(r"^/(?![/\\])[^\\\s]*$")
_SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; img-src 'self'; style-src 'self'; form-action 'self';"
        b" frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


# Graphviz styles its SVG inline; nothing else may load or run.
_SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'"


class ActionError(Exception):
    """A request the holding pen refuses, with the HTTP status to answer.

    :ivar status_code: the HTTP status.
    :ivar message: the explanation shown to the person (or in the JSON).
    """

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


@dataclasses.dataclass
class _Settings:
    store: WorkflowStore
    halt_actions: HaltActions
    get_user: UserGetter
    authorize: Authorizer
    token_auth: TokenAuth | None
    login_url: str | None
    page_size: int
    data_limit: int
    templates: jinja2.Environment


class _SecurityHeaders:
    """Add the security headers to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name for name, _ in headers}
                headers.extend(
                    item for item in _SECURITY_HEADERS if item[0] not in present
                )
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


# --------------------------------------------------------------------------
# Helpers


def _settings(request: Request) -> _Settings:
    settings: _Settings = request.app.state.holding_pen
    return settings


def _is_api(request: Request) -> bool:
    return _app_path(request).startswith("/api/")


def _app_path(request: Request) -> str:
    """The request's path inside the application (without its mount path)."""
    root = request.scope.get("root_path", "")
    path = request.url.path
    return path[len(root) :] if root and path.startswith(root) else path


def _url(request: Request, path: str, **params: Any) -> str:
    """An absolute path to ``path`` inside the application, with a query."""
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    root: str = request.scope.get("root_path", "")
    return root + path + (f"?{query}" if query else "")


def safe_next(value: str | None, default: str = "/") -> str:
    """Return ``value`` if it is a path inside the application, else ``default``.

    Only relative targets such as ``/objects/3`` pass: no scheme, no host,
    no ``//`` or backslash that a browser would read as another host.
    """
    if value and _SAFE_NEXT.match(value) and ":" not in value.split("?", 1)[0]:
        return value
    return default


def _csrf_token(request: Request) -> str:
    token = request.session.get(_CSRF_KEY)
    if isinstance(token, str):
        return token
    new = secrets.token_urlsafe(32)
    request.session[_CSRF_KEY] = new
    return new


def _has_bearer(request: Request) -> bool:
    # Browsers never add a bearer token by themselves (they do resend
    # cookies and Basic credentials), so such a request is no forgery.
    return request.headers.get("authorization", "").lower().startswith("bearer ")


def _check_csrf(request: Request, sent: str | None) -> None:
    if _has_bearer(request):
        return
    expected = request.session.get(_CSRF_KEY)
    if not (
        isinstance(expected, str)
        and isinstance(sent, str)
        and secrets.compare_digest(expected.encode(), sent.encode())
    ):
        raise ActionError(
            403,
            "The form has expired or did not come from this site (missing or"
            " wrong CSRF token): reload the page and try again",
        )


def _cross_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        return True
    return request.headers.get("sec-fetch-site") == "cross-site"


def _user(request: Request) -> Any:
    """The request's user; refuses anonymous requests."""
    user = _settings(request).get_user(request)
    if user is None:
        raise ActionError(401, "Log in first")
    return user


def _require(
    request: Request, user: Any, permission: str, workflow: WorkflowRef | None
) -> None:
    if not _settings(request).authorize(user, permission, workflow):
        target = f" workflow {workflow.uuid}" if workflow else " the lists"
        raise ActionError(403, f"You may not {permission}{target}")


def _flash(request: Request, kind: str, text: str) -> None:
    request.session[_FLASH_KEY] = [kind, text]


def _page_number(request: Request, name: str = "page") -> int:
    try:
        return max(1, int(request.query_params.get(name, "1")))
    except ValueError:
        return 1


def _page_size(request: Request) -> int:
    default = _settings(request).page_size
    try:
        size = int(request.query_params.get("per_page", default))
    except ValueError:
        return default
    return min(max(size, 1), _MAX_PAGE_SIZE)


def _json_text(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _plain(value: Any) -> Any:
    """A dataclass of the queries module as JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: _plain(getattr(value, field.name))
            for field in dataclasses.fields(value)
        }
    if isinstance(value, (WorkflowStatus, ObjectStatus)):
        return value.name
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _load_definition(name: str) -> tuple[list[Any] | None, str | None]:
    """The definition's tasks (importing it registers its halt actions too)."""
    try:
        return registry.get(name), None
    except Exception as exc:
        # Shown on the page: the definition's module may be missing here.
        return None, f"{type(exc).__name__}: {str(exc).splitlines()[0]}"


def _parse_status(value: str | None) -> WorkflowStatus | None:
    if value and value.upper() in WorkflowStatus.__members__:
        return WorkflowStatus[value.upper()]
    return None


def _pages(total: int, size: int) -> int:
    return max(1, math.ceil(total / size))


_Found = TypeVar("_Found", queries.WorkflowDetail, queries.ObjectDetail)


async def _viewed(
    request: Request,
    lookup: Callable[[WorkflowStore, Any], _Found | None],
    key: str,
    missing: str,
) -> tuple[_Settings, Any, _Found, WorkflowRef]:
    """The settings, the user and what the path's ``key`` names, once the
    user may view it (else 401, 404 with ``missing``, or 403)."""
    settings = _settings(request)
    user = _api_user(request) if _is_api(request) else _user(request)
    value = request.path_params[key]
    found = await run_in_threadpool(lookup, settings.store, value)
    if found is None:
        raise ActionError(404, f"{missing} {value!r}")
    if isinstance(found, queries.WorkflowDetail):
        ref = WorkflowRef(found.uuid, found.name)
    else:
        ref = WorkflowRef(found.workflow_uuid, found.workflow_name)
    _require(request, user, "view", ref)
    return settings, user, found, ref


async def _viewed_workflow(
    request: Request,
) -> tuple[_Settings, Any, queries.WorkflowDetail, WorkflowRef]:
    return await _viewed(request, queries.get_workflow, "uuid", "No workflow with uuid")


async def _viewed_object(
    request: Request,
) -> tuple[_Settings, Any, queries.ObjectDetail, WorkflowRef]:
    return await _viewed(request, queries.get_object, "object_id", "No object with id")


def _history_before(request: Request) -> int | None:
    """The history cursor asked for (``history_before``), or ``None``."""
    text = request.query_params.get("history_before")
    if text is None or text == "":
        return None
    try:
        before = int(text)
    except ValueError:
        before = 0
    if before < 1:
        if _is_api(request):
            raise ActionError(400, "history_before must be an event id (1 or more)")
        return None
    return before


def _history_limit(request: Request) -> int:
    text = request.query_params.get("history_limit")
    if text is None or not _is_api(request):
        return _HISTORY_SIZE
    try:
        return min(max(int(text), 1), _MAX_PAGE_SIZE)
    except ValueError:
        raise ActionError(400, "history_limit must be a whole number") from None


async def _history(
    request: Request, settings: _Settings, uuid: str, position: int | None = None
) -> queries.HistoryPage:
    before = _history_before(request)
    limit = _history_limit(request)
    return await run_in_threadpool(
        lambda: queries.history_page(
            settings.store, uuid, position=position, before=before, limit=limit
        )
    )


def _plain_history(page: queries.HistoryPage) -> dict[str, Any]:
    return {
        "events": [entry.to_dict() for entry in page.events],
        "older": page.older,
    }


# --------------------------------------------------------------------------
# Actions (run in a worker thread: they run workflows)


def _actor(user: Any) -> str:
    """The name the run history records for ``user``."""
    return str(user)


def _acted_on(
    settings: _Settings, user: Any, uuid: str, permission: str
) -> queries.WorkflowDetail:
    """The workflow ``uuid``, once ``user`` may do ``permission`` on it."""
    found = queries.get_workflow(settings.store, uuid)
    if found is None:
        raise ActionError(404, f"No workflow with uuid {uuid!r}")
    if not settings.authorize(user, permission, WorkflowRef(found.uuid, found.name)):
        raise ActionError(
            403, f"You may not {permission.replace('_', ' ')} workflow {uuid}"
        )
    return found


def _refuse_running(workflow: queries.WorkflowDetail, doing: str) -> None:
    # Checked before the action is recorded: a refused request is no action.
    if workflow.status is WorkflowStatus.RUNNING:
        raise ActionError(
            409,
            f"Workflow {workflow.uuid} is RUNNING in another process: it cannot"
            f" be {doing} while it runs (take it over if that process is gone)",
        )


def _run(action: Callable[[], api.WorkflowResult]) -> api.WorkflowResult:
    """Run ``action``; its refusals become :class:`ActionError`."""
    try:
        return action()
    except WorkflowNotFoundError as exc:
        raise ActionError(
            404, f"No workflow with uuid {getattr(exc, 'uuid', '')!r}"
        ) from exc
    except WorkflowBusyError as exc:
        raise ActionError(
            409,
            f"Workflow {getattr(exc, 'uuid', '')} is RUNNING in another process"
            " (or was just claimed by one): wait for it to stop",
        ) from exc
    except DefinitionChangedError as exc:
        raise ActionError(
            409,
            f"The definition {getattr(exc, 'name', '')!r} changed since workflow"
            f" {getattr(exc, 'uuid', '')} was saved: resume it from the command"
            " line with --allow-changed-definition if the new definition fits",
        ) from exc
    except UnknownWorkflowError as exc:
        raise ActionError(
            409,
            f"The definition {getattr(exc, 'name', '')!r} is not loaded in the"
            " holding pen's process: start it with --import MODULE",
        ) from exc


def _result(result: api.WorkflowResult) -> dict[str, Any]:
    return result.to_dict()


def _do_resume(settings: _Settings, user: Any, uuid: str) -> dict[str, Any]:
    workflow = _acted_on(settings, user, uuid, "resume")
    _refuse_running(workflow, "resumed")
    queries.record_action(
        settings.store, uuid, queries.Action(_actor(user), {"action": "resume"})
    )
    return _result(_run(lambda: api.resume(uuid, settings.store)))


def _do_restart(
    settings: _Settings, user: Any, uuid: str, obj: str, task: str
) -> dict[str, Any]:
    for what, word in (("object", obj), ("task", task)):
        if word not in _RESTART_WORDS:
            raise ActionError(
                400,
                f"Unknown {what} position {word!r}: use {', '.join(_RESTART_WORDS)}",
            )
    workflow = _acted_on(settings, user, uuid, "restart")
    _refuse_running(workflow, "restarted")
    details = {"action": "restart", "object": obj, "task": task}
    queries.record_action(settings.store, uuid, queries.Action(_actor(user), details))
    return _result(_run(lambda: api.restart(uuid, settings.store, obj=obj, task=task)))


def _do_take_over(settings: _Settings, user: Any, uuid: str) -> dict[str, Any]:
    workflow = _acted_on(settings, user, uuid, "take_over")
    if workflow.status is not WorkflowStatus.RUNNING:
        raise ActionError(
            409,
            f"Workflow {uuid} is {workflow.status.name}, not RUNNING: there is no"
            " run to take over (resume or restart it instead)",
        )
    queries.record_action(
        settings.store, uuid, queries.Action(_actor(user), {"action": "take_over"})
    )

    def take_over() -> api.WorkflowResult:
        try:
            return api.resume(uuid, settings.store, take_over=True)
        except WorkflowBusyError as exc:
            raise ActionError(409, _still_alive(uuid, exc)) from exc

    return _result(_run(take_over))


def _still_alive(uuid: str, refusal: WorkflowBusyError) -> str:
    """Why a take-over was refused: its owner's lease runs."""
    text = f"Workflow {uuid} is RUNNING in a process that may still be alive"
    heartbeat = getattr(refusal, "heartbeat", None)
    expires = getattr(refusal, "lease_expires", None)
    if heartbeat is not None and expires is not None:
        text += (
            f" (its last heartbeat was at {heartbeat:%Y-%m-%d %H:%M:%S} UTC):"
            f" it can be taken over once its lease ends, at"
            f" {expires:%Y-%m-%d %H:%M:%S} UTC"
        )
    return text + "; it is not taken over"


def _do_delete(settings: _Settings, user: Any, uuid: str) -> dict[str, Any]:
    workflow = _acted_on(settings, user, uuid, "delete")
    _refuse_running(workflow, "deleted")
    try:
        # Its objects and history go with it: no action is recorded.
        api.delete_workflow(uuid, settings.store)
    except WorkflowBusyError as exc:
        raise ActionError(
            409, f"Workflow {uuid} is RUNNING: it cannot be deleted while it runs"
        ) from exc
    except WorkflowNotFoundError as exc:
        raise ActionError(404, f"No workflow with uuid {uuid!r}") from exc
    return {"uuid": uuid, "deleted": True}


def _do_workflow_action(
    settings: _Settings,
    user: Any,
    uuid: str,
    kind: str,
    words: Mapping[str, Any],
) -> dict[str, Any]:
    """Run the workflow action ``kind`` (one of :data:`_WORKFLOW_ACTIONS`)."""
    if kind == "resume":
        return _do_resume(settings, user, uuid)
    if kind == "restart":
        return _do_restart(
            settings,
            user,
            uuid,
            str(words.get("object") or "current"),
            str(words.get("task") or "first"),
        )
    if kind == "take_over":
        return _do_take_over(settings, user, uuid)
    return _do_delete(settings, user, uuid)


def _do_act(
    settings: _Settings,
    user: Any,
    object_id: int,
    choice_name: str,
    params: Mapping[str, Any],
) -> dict[str, Any]:
    obj = queries.get_object(settings.store, object_id)
    if obj is None:
        raise ActionError(404, f"No object with id {object_id}")
    if obj.status is not ObjectStatus.HALTED:
        raise ActionError(
            409, f"Object {object_id} is not halted (it is {obj.status.name})"
        )
    _load_definition(obj.workflow_name)
    choice = settings.halt_actions.get(obj.halt_action, obj.workflow_name, choice_name)
    if choice is None:
        raise ActionError(
            404,
            f"The halt action {obj.halt_action!r} of object {object_id} has no"
            f" choice {choice_name!r}",
        )
    ref = WorkflowRef(obj.workflow_uuid, obj.workflow_name)
    permission = f"act:{choice.action}:{choice.name}"
    if not settings.authorize(user, permission, ref):
        raise ActionError(
            403,
            f"You may not {choice.label.lower()} object {object_id} (workflow"
            f" {ref.uuid})",
        )
    request = ActionRequest(
        workflow_uuid=obj.workflow_uuid,
        workflow_name=obj.workflow_name,
        object_id=obj.id,
        position=obj.position,
        data=copy.deepcopy(obj.data),
        message=obj.halt_message,
        action=choice.action,
        payload=copy.deepcopy(obj.halt_payload),
        choice=choice.name,
        params={field: str(params.get(field, "")) for field in choice.fields},
        user=user,
    )
    try:
        outcome = choice.handler(request)
    except Exception as exc:
        _logger.exception("halt action %s/%s failed", choice.action, choice.name)
        raise ActionError(
            500,
            f"The {choice.action}/{choice.name} handler failed; the server log"
            " has the details",
        ) from exc
    if not isinstance(outcome, Outcome):
        _logger.error(
            "halt action %s/%s returned %r, not an Outcome",
            choice.action,
            choice.name,
            outcome,
        )
        raise ActionError(
            500,
            f"The {choice.action}/{choice.name} handler returned no outcome"
            " (RESUME, LEAVE or restart())",
        )
    if outcome.kind != "leave" and obj.position != obj.workflow_token_pos:
        raise ActionError(
            409,
            f"Workflow {obj.workflow_uuid} stopped at object"
            f" {obj.workflow_token_pos}, not at this one ({obj.position}): it"
            " cannot go on from here",
        )
    try:
        new_json = to_json(request.data, "the handler's data")
    except UnserializableDataError as exc:
        _logger.error("halt action %s/%s: %s", choice.action, choice.name, exc)
        raise ActionError(
            500, f"The {choice.action}/{choice.name} handler left data JSON cannot hold"
        ) from exc
    data_changed = new_json != to_json(obj.data, "data")
    details: dict[str, Any] = {
        "action": "choice",
        "halt_action": choice.action,
        "choice": choice.name,
        "outcome": outcome.kind,
        "data_changed": data_changed,
    }
    if choice.fields:
        details["params"] = {
            field: str(params.get(field, "")) for field in choice.fields
        }
    if outcome.kind == "restart":
        details.update(object=outcome.obj, task=outcome.task)
    action = queries.Action(_actor(user), details, obj.position)
    if not data_changed:
        queries.record_action(settings.store, obj.workflow_uuid, action)
    elif not queries.save_object_data(settings.store, obj, request.data, action):
        raise ActionError(
            409,
            f"Object {object_id} changed since it was read (its workflow was"
            " claimed or resumed meanwhile): reload the page",
        )
    answer: dict[str, Any] = {
        "object": object_id,
        "action": choice.action,
        "choice": choice.name,
        "outcome": outcome.kind,
        "data_changed": data_changed,
    }
    if outcome.kind == "resume":
        answer["result"] = _result(
            _run(lambda: api.resume(obj.workflow_uuid, settings.store))
        )
    elif outcome.kind == "restart":
        answer["result"] = _result(
            _run(
                lambda: api.restart(
                    obj.workflow_uuid,
                    settings.store,
                    obj=outcome.obj,
                    task=outcome.task,
                )
            )
        )
    return answer


# --------------------------------------------------------------------------
# Pages


def _render(
    request: Request, template: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    settings = _settings(request)
    # An unexpected error is answered outside the session middleware, and
    # without asking the host who the user is (that may be what failed).
    has_session = "session" in request.scope and status_code != 500
    body = settings.templates.get_template(template).render(
        user=settings.get_user(request) if has_session else None,
        csrf_token=_csrf_token(request) if has_session else "",
        flash=request.session.pop(_FLASH_KEY, None) if has_session else None,
        url=lambda path, **params: _url(request, path, **params),
        token_login=settings.token_auth is not None,
        **context,
    )
    return HTMLResponse(body, status_code=status_code)


async def _workflows_page(request: Request) -> Response:
    settings = _settings(request)
    user = _user(request)
    _require(request, user, "view", None)
    status = _parse_status(request.query_params.get("status"))
    name = request.query_params.get("name", "").strip() or None
    search = request.query_params.get("q", "").strip()
    prefix = queries.normalise_uuid_prefix(search) if search else None
    size = _page_size(request)
    number = _page_number(request)
    if search and prefix is None:
        page = queries.WorkflowPage([], 0, {})
    else:
        page = await run_in_threadpool(
            queries.workflow_page,
            settings.store,
            status=status,
            name=name,
            uuid_prefix=prefix,
            limit=size,
            offset=(number - 1) * size,
        )
    return _render(
        request,
        "workflows.html",
        page=page,
        statuses=[s.name for s in WorkflowStatus],
        status=status.name if status else "",
        name=name or "",
        q=search,
        bad_search=bool(search and prefix is None),
        names=registry.names(),
        number=number,
        pages=_pages(page.total, size),
        per_page=size if size != settings.page_size else None,
    )


async def _waiting_page(request: Request) -> Response:
    settings = _settings(request)
    user = _user(request)
    _require(request, user, "view", None)
    action = request.query_params.get("action")
    size = _page_size(request)
    number = _page_number(request)
    page = await run_in_threadpool(
        queries.halted_page,
        settings.store,
        action=action,
        limit=size,
        offset=(number - 1) * size,
    )
    groups: list[tuple[str | None, list[queries.HaltedObject]]] = []
    for row in page.rows:
        if not groups or groups[-1][0] != row.action:
            groups.append((row.action, []))
        groups[-1][1].append(row)
    return _render(
        request,
        "waiting.html",
        page=page,
        groups=groups,
        action=action,
        number=number,
        pages=_pages(page.total, size),
        per_page=size if size != settings.page_size else None,
        preview=lambda data: _preview(data, 120),
    )


def _preview(data: Any, limit: int) -> str:
    text = json.dumps(data, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def _workflow_page(request: Request) -> Response:
    settings, user, workflow, ref = await _viewed_workflow(request)
    size = _page_size(request)
    number = _page_number(request)
    objects = await run_in_threadpool(
        lambda: queries.workflow_objects(
            settings.store, workflow.uuid, limit=size, offset=(number - 1) * size
        )
    )
    history = await _history(request, settings, workflow.uuid)
    tasks, definition_error = await run_in_threadpool(_load_definition, workflow.name)
    mermaid = None
    if tasks is not None and shutil.which("dot") is None:
        mermaid = graph.to_mermaid(tasks, workflow.stopped_at)
    per_page = size if size != settings.page_size else None
    lease_ends = (
        None
        if workflow.heartbeat is None
        else workflow.heartbeat + settings.store.lease
    )
    return _render(
        request,
        "workflow.html",
        workflow=workflow,
        lease_ends=lease_ends,
        lease_over=lease_ends is None or lease_ends <= utcnow(),
        extra_text=_json_text(workflow.extra_data),
        objects=objects,
        definition_error=definition_error,
        has_diagram=tasks is not None,
        mermaid=mermaid,
        number=number,
        pages=_pages(workflow.object_count, size),
        per_page=per_page,
        history=history,
        history_path=f"/workflows/{workflow.uuid}",
        history_params={"page": number if number > 1 else None, "per_page": per_page},
        history_from=_history_before(request),
        details=_details_text,
        restart_words=_RESTART_WORDS,
        may=lambda permission: settings.authorize(user, permission, ref),
    )


def _details_text(details: Any) -> str:
    return "" if details is None else _preview(details, 300)


async def _diagram(request: Request) -> Response:
    settings, _, workflow, _ = await _viewed_workflow(request)
    tasks, error = await run_in_threadpool(_load_definition, workflow.name)
    if tasks is None:
        raise ActionError(404, f"No diagram: {error}")
    try:
        svg = await run_in_threadpool(
            graph.render, tasks, "svg", None, workflow.stopped_at
        )
    except graph.GraphvizNotFoundError as exc:
        raise ActionError(404, "No diagram: Graphviz is not installed") from exc
    return Response(
        svg,
        media_type="image/svg+xml",
        # An SVG may hold scripts: this one is an image, never a document.
        headers={"content-security-policy": _SVG_POLICY},
    )


async def _object_page(request: Request) -> Response:
    settings, user, obj, ref = await _viewed_object(request)
    choices = []
    if obj.status is ObjectStatus.HALTED and obj.halt_action is not None:
        await run_in_threadpool(_load_definition, obj.workflow_name)
        choices = [
            choice
            for choice in settings.halt_actions.choices(
                obj.halt_action, obj.workflow_name
            )
            if settings.authorize(user, f"act:{choice.action}:{choice.name}", ref)
        ]
    history = await _history(request, settings, obj.workflow_uuid, obj.position)
    full = request.query_params.get("full") == "1"
    data_text = _json_text(obj.data)
    truncated = not full and len(data_text) > settings.data_limit
    return _render(
        request,
        "object.html",
        obj=obj,
        data_text=data_text[: settings.data_limit] if truncated else data_text,
        data_size=len(data_text),
        truncated=truncated,
        extra_text=_json_text(obj.extra_data),
        payload_text=(
            None if obj.halt_payload is None else _json_text(obj.halt_payload)
        ),
        choices=choices,
        at_position=obj.position == obj.workflow_token_pos,
        history=history,
        history_path=f"/objects/{obj.id}",
        history_params={"full": "1" if full else None},
        history_from=_history_before(request),
        details=_details_text,
        may=lambda permission: settings.authorize(user, permission, ref),
    )


async def _login_page(request: Request) -> Response:
    settings = _settings(request)
    if settings.token_auth is None:
        raise ActionError(404, "This holding pen has no login page")
    return _render(
        request,
        "login.html",
        next=safe_next(request.query_params.get("next")),
        error=None,
    )


async def _login(request: Request) -> Response:
    settings = _settings(request)
    if settings.token_auth is None:
        raise ActionError(404, "This holding pen has no login page")
    form = await request.form()
    _check_csrf(request, _form_text(form, "csrf_token"))
    target = safe_next(_form_text(form, "next"))
    user = settings.token_auth.check(_form_text(form, "token") or "")
    if user is None:
        return _render(
            request, "login.html", status_code=401, next=target, error="Wrong token"
        )
    settings.token_auth.log_in(request, user)
    # A new CSRF token for the new session owner.
    request.session[_CSRF_KEY] = secrets.token_urlsafe(32)
    return RedirectResponse(_url(request, target), status_code=303)


async def _logout(request: Request) -> Response:
    settings = _settings(request)
    form = await request.form()
    _check_csrf(request, _form_text(form, "csrf_token"))
    if settings.token_auth is not None:
        settings.token_auth.log_out(request)
    return RedirectResponse(_url(request, "/login"), status_code=303)


def _form_text(form: Any, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


def _describe(answer: dict[str, Any]) -> str:
    result = answer.get("result")
    if result is None:
        return "Done"
    text = f"Workflow {result['uuid']} is {result['status']}"
    if result.get("halted_message"):
        text += f": {result['halted_message']}"
    if result.get("error"):
        text += f": {result['error']}"
    return text


async def _form_action(request: Request) -> Response:
    """Run a POSTed form's action, then redirect with a message."""
    settings = _settings(request)
    user = _user(request)
    form = await request.form()
    _check_csrf(request, _form_text(form, "csrf_token"))
    kind = request.path_params["kind"]
    default = "/"
    if "uuid" in request.path_params:
        uuid = request.path_params["uuid"]
        default = f"/workflows/{uuid}"
        if kind == "take_over" and _form_text(form, "confirm") != "yes":
            raise ActionError(
                400,
                "Taking over needs your confirmation: tick the box saying the"
                " process running the workflow is gone, then try again",
            )
        words = {key: _form_text(form, key) for key in ("object", "task")}
        answer = await run_in_threadpool(
            _do_workflow_action, settings, user, uuid, kind, words
        )
        if kind == "delete":
            _flash(request, "ok", f"Workflow {uuid} deleted")
            return RedirectResponse(_url(request, "/"), status_code=303)
        _flash(request, "ok", _describe({"result": answer}))
    else:
        object_id = request.path_params["object_id"]
        default = f"/objects/{object_id}"
        params = {key: value for key, value in form.items() if isinstance(value, str)}
        answer = await run_in_threadpool(
            _do_act, settings, user, object_id, request.path_params["choice"], params
        )
        label = f"{answer['action']}/{answer['choice']}"
        _flash(request, "ok", f"{label}: {_describe(answer)}")
    target = safe_next(_form_text(form, "next"), default)
    return RedirectResponse(_url(request, target), status_code=303)


# --------------------------------------------------------------------------
# JSON API


def _api_user(request: Request) -> Any:
    if _cross_origin(request) and not _has_bearer(request):
        raise ActionError(
            403, "Cross-origin requests need a bearer token (Authorization header)"
        )
    return _user(request)


async def _api_workflows(request: Request) -> Response:
    settings = _settings(request)
    user = _api_user(request)
    _require(request, user, "view", None)
    status_text = request.query_params.get("status")
    status = _parse_status(status_text)
    if status_text and status is None:
        raise ActionError(400, f"Unknown status {status_text!r}")
    search = request.query_params.get("q", "").strip()
    prefix = queries.normalise_uuid_prefix(search) if search else None
    if search and prefix is None:
        raise ActionError(400, f"{search!r} is not a uuid prefix")
    size = _page_size(request)
    offset = _offset(request)
    page = await run_in_threadpool(
        queries.workflow_page,
        settings.store,
        status=status,
        name=request.query_params.get("name") or None,
        uuid_prefix=prefix,
        limit=size,
        offset=offset,
    )
    return JSONResponse(
        {
            "total": page.total,
            "counts": page.counts,
            "limit": size,
            "offset": offset,
            "workflows": [_plain(row) for row in page.rows],
        }
    )


def _offset(request: Request) -> int:
    try:
        return max(0, int(request.query_params.get("offset", "0")))
    except ValueError:
        raise ActionError(400, "offset must be a whole number") from None


async def _api_workflow(request: Request) -> Response:
    settings, _, workflow, _ = await _viewed_workflow(request)
    size = _page_size(request)
    offset = _offset(request)
    objects = await run_in_threadpool(
        lambda: queries.workflow_objects(
            settings.store, workflow.uuid, limit=size, offset=offset
        )
    )
    history = await _history(request, settings, workflow.uuid)
    answer = _plain(workflow)
    answer["objects"] = [_plain(obj) for obj in objects]
    answer["history"] = _plain_history(history)
    return JSONResponse(answer)


async def _api_object(request: Request) -> Response:
    settings, _, obj, _ = await _viewed_object(request)
    answer = _plain(obj)
    await run_in_threadpool(_load_definition, obj.workflow_name)
    answer["choices"] = (
        [
            {"name": c.name, "label": c.label, "fields": list(c.fields)}
            for c in settings.halt_actions.choices(obj.halt_action, obj.workflow_name)
        ]
        if obj.status is ObjectStatus.HALTED
        else []
    )
    history = await _history(request, settings, obj.workflow_uuid, obj.position)
    answer["history"] = _plain_history(history)
    return JSONResponse(answer)


async def _api_waiting(request: Request) -> Response:
    settings = _settings(request)
    user = _api_user(request)
    _require(request, user, "view", None)
    size = _page_size(request)
    offset = _offset(request)
    page = await run_in_threadpool(
        queries.halted_page,
        settings.store,
        action=request.query_params.get("action"),
        limit=size,
        offset=offset,
    )
    return JSONResponse(
        {
            "total": page.total,
            "counts": [
                {"action": action, "count": count} for action, count in page.counts
            ],
            "limit": size,
            "offset": offset,
            "objects": [_plain(row) for row in page.rows],
        }
    )


async def _json_body(request: Request) -> dict[str, Any]:
    body = await request.body()
    if not body:
        return {}
    try:
        value = json.loads(body)
    except ValueError:
        raise ActionError(400, "The request body is not JSON") from None
    if not isinstance(value, dict):
        raise ActionError(400, "The request body must be a JSON object")
    return value


async def _api_action(request: Request) -> Response:
    settings = _settings(request)
    user = _api_user(request)
    _check_csrf(request, request.headers.get("x-csrf-token"))
    body = await _json_body(request)
    kind = request.path_params["kind"]
    if "uuid" in request.path_params:
        answer = await run_in_threadpool(
            _do_workflow_action,
            settings,
            user,
            request.path_params["uuid"],
            kind,
            body,
        )
    else:
        params = body.get("params", {})
        if not isinstance(params, dict):
            raise ActionError(400, "params must be a JSON object")
        answer = await run_in_threadpool(
            _do_act,
            settings,
            user,
            request.path_params["object_id"],
            request.path_params["choice"],
            params,
        )
    return JSONResponse(answer)


async def _api_csrf(request: Request) -> Response:
    _api_user(request)
    return JSONResponse({"csrf_token": _csrf_token(request)})


# --------------------------------------------------------------------------
# Errors


async def _action_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ActionError)
    return _error_response(request, exc.status_code, exc.message)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _error_response(request, exc.status_code, exc.detail)


async def _server_error(request: Request, exc: Exception) -> Response:
    _logger.error("holding pen: unexpected error", exc_info=exc)
    return _error_response(
        request, 500, "Something went wrong on the server; its log has the details"
    )


def _error_response(request: Request, status_code: int, message: str) -> Response:
    if _is_api(request):
        return JSONResponse({"error": message}, status_code=status_code)
    settings = _settings(request)
    if status_code == 401 and request.method == "GET":
        if settings.token_auth is not None:
            return RedirectResponse(
                _url(request, "/login", next=safe_next(_current(request))),
                status_code=303,
            )
        if settings.login_url is not None:
            return RedirectResponse(settings.login_url, status_code=303)
    return _render(
        request,
        "error.html",
        status_code=status_code,
        message=message,
        code=status_code,
    )


def _current(request: Request) -> str:
    path = _app_path(request)
    return path + (f"?{request.url.query}" if request.url.query else "")


# --------------------------------------------------------------------------
# The application


def create_app(
    store: WorkflowStore,
    *,
    get_user: UserGetter | None = None,
    authorize: Authorizer | None = None,
    token_auth: TokenAuth | None = None,
    secret_key: str | None = None,
    login_url: str | None = None,
    actions: HaltActions = halt_actions,
    page_size: int = 50,
    data_limit: int = 20_000,
    https_only: bool = False,
    debug: bool = False,
) -> Starlette:
    """Return the holding pen as a Starlette (ASGI) application.

    Give either ``token_auth`` (standalone: a login page and bearer tokens)
    or ``get_user`` (inside a host application that authenticates people):
    there is no anonymous access.

    :param store: the workflows to show.
    :param get_user: ``get_user(request)`` returns the request's user, or
        ``None`` (refused: 401, or a redirect to ``login_url`` for a page).
    :param authorize: ``authorize(user, permission, workflow)`` says whether
        the user may do it (see :mod:`workflow.web.auth`); default: any
        user may do anything (with ``token_auth``: its own rule, readers
        only view).
    :param token_auth: log in with tokens (:class:`~workflow.web.auth.TokenAuth`).
    :param secret_key: signs the session cookie (which holds the CSRF token
        and, with ``token_auth``, the role). Default: a random key, so
        sessions end when the process does. Give the same key to every
        process serving the pen.
    :param login_url: where to send a person who is not logged in (host
        applications).
    :param actions: the halt action choices offered.
    :param page_size: rows per page unless ``per_page`` asks otherwise (at
        most 200).
    :param data_limit: characters of an object's JSON shown before "show
        all".
    :param https_only: send the session cookie over HTTPS only.
    :param debug: show tracebacks of unexpected errors in the browser (never
        in production).
    :raises ValueError: when neither or both of ``get_user`` and
        ``token_auth`` are given, or ``authorize`` is given with
        ``token_auth``.
    """
    if (get_user is None) == (token_auth is None):
        raise ValueError(
            "create_app() needs exactly one of get_user= (a host application's"
            " users) or token_auth= (log in with a token): anonymous access is"
            " not offered"
        )
    if token_auth is not None and authorize is not None:
        raise ValueError("authorize= goes with get_user=; token_auth has its own rule")
    if token_auth is not None:
        user_getter: UserGetter = token_auth.get_user
        authorizer: Authorizer = token_auth.authorize
    else:
        assert get_user is not None
        user_getter = get_user
        authorizer = authorize if authorize is not None else allow_any_user
    templates = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_HERE / "templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    settings = _Settings(
        store=store,
        halt_actions=actions,
        get_user=user_getter,
        authorize=authorizer,
        token_auth=token_auth,
        login_url=login_url,
        page_size=page_size,
        data_limit=data_limit,
        templates=templates,
    )
    workflow_action = "/workflows/{uuid}/{kind:str}"
    object_action = "/objects/{object_id:int}/act/{choice:str}"
    routes = [
        Route("/", _workflows_page),
        Route("/waiting", _waiting_page),
        Route("/login", _login_page, methods=["GET"]),
        Route("/login", _login, methods=["POST"]),
        Route("/logout", _logout, methods=["POST"]),
        Route("/workflows/{uuid}", _workflow_page),
        Route("/workflows/{uuid}/diagram.svg", _diagram),
        Route("/objects/{object_id:int}", _object_page),
        Route(object_action, _act_form, methods=["POST"]),
        Route(workflow_action, _workflow_form, methods=["POST"]),
        Route("/api/csrf", _api_csrf),
        Route("/api/workflows", _api_workflows),
        Route("/api/workflows/{uuid}", _api_workflow),
        Route("/api/objects/{object_id:int}", _api_object),
        Route("/api/waiting", _api_waiting),
        Route("/api" + object_action, _api_act, methods=["POST"]),
        Route("/api" + workflow_action, _api_workflow_action, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static"),
    ]
    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        ActionError: _action_error,
        HTTPException: _http_error,
        Exception: _server_error,
    }
    app = Starlette(
        debug=debug,
        routes=routes,
        middleware=[
            Middleware(_SecurityHeaders),
            Middleware(
                SessionMiddleware,
                secret_key=secret_key or secrets.token_urlsafe(32),
                session_cookie="workflow_session",
                same_site="lax",
                https_only=https_only,
                max_age=12 * 3600,
            ),
        ],
        exception_handlers=handlers,
    )
    app.state.holding_pen = settings
    return app


_WORKFLOW_ACTIONS = ("resume", "restart", "take_over", "delete")


async def _workflow_form(request: Request) -> Response:
    if request.path_params["kind"] not in _WORKFLOW_ACTIONS:
        raise ActionError(404, "No such action")
    return await _form_action(request)


async def _act_form(request: Request) -> Response:
    request.path_params["kind"] = "act"
    return await _form_action(request)


async def _api_workflow_action(request: Request) -> Response:
    if request.path_params["kind"] not in _WORKFLOW_ACTIONS:
        raise ActionError(404, "No such action")
    return await _api_action(request)


async def _api_act(request: Request) -> Response:
    request.path_params["kind"] = "act"
    return await _api_action(request)
