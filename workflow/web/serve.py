"""``workflow serve``: the holding pen on its own, through uvicorn.

The command line (:mod:`workflow.cli`) parses the options and imports this
module only when ``serve`` runs, so the other commands need no ``web``
extra.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import secrets
from typing import TextIO

import uvicorn

from ..storage.models import WorkflowStore
from .app import create_app
from .auth import TokenAuth

__all__ = ("TOKEN_ENV", "READ_ONLY_TOKEN_ENV", "SECRET_ENV", "serve")

TOKEN_ENV = "WORKFLOW_WEB_TOKEN"
"""The environment variable read for ``--token``."""
READ_ONLY_TOKEN_ENV = "WORKFLOW_WEB_READ_ONLY_TOKEN"
"""The environment variable read for ``--read-only-token``."""
SECRET_ENV = "WORKFLOW_WEB_SECRET"
"""The environment variable read for ``--secret-key``."""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(args: argparse.Namespace, out: TextIO) -> int:
    """Serve the holding pen as ``args`` say, until interrupted.

    :param args: the parsed ``workflow serve`` options (``db``, ``host``,
        ``port``, ``token``, ``read_only_token``, ``secret_key``, ``debug``);
        the command line has already imported the modules of ``--import``.
    :param out: where to print the address and a generated token.
    :returns: the exit status (0).
    :raises ValueError: for bad tokens.
    """
    token = args.token or os.environ.get(TOKEN_ENV) or None
    generated = token is None
    if token is None:
        token = secrets.token_urlsafe(24)
    read_only = args.read_only_token or os.environ.get(READ_ONLY_TOKEN_ENV) or None
    auth = TokenAuth(token, read_only)
    store = WorkflowStore(args.db)
    try:
        store.create_all()
        app = create_app(
            store,
            token_auth=auth,
            secret_key=args.secret_key or os.environ.get(SECRET_ENV) or None,
            debug=args.debug,
        )
        host = f"[{args.host}]" if ":" in args.host else args.host
        out.write(f"workflow: holding pen at http://{host}:{args.port}/\n")
        if generated:
            out.write(f"workflow: log in with the token {token}\n")
        if not _is_loopback(args.host):
            out.write(
                "workflow: warning: serving beyond this machine over plain HTTP;"
                " put it behind an HTTPS proxy\n"
            )
        out.flush()
        uvicorn.run(
            app,
            host=args.host,
            port=args.port,
            log_level="debug" if args.debug else "warning",
            server_header=False,
        )
    finally:
        store.dispose()
    return 0
