"""The `authd` command: serve, init, and the operator groups (relying parties, identities,
VIDs, keys, faces, the audit log), one module each, registered here. Exit codes: 0 done,
1 refused or failed check, 2 usage error."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from contextlib import suppress
from typing import Annotated

import typer
from sqlalchemy.exc import IntegrityError

from authd.audit.events import AuditRecord
from authd.cli import audit, faces, keys, registry
from authd.cli.common import DataDir, cli_audit, opened
from authd.errors import Conflict
from authd.faces.models import plan_models
from authd.http.state import AppState, dev_master_key_path
from authd.registry import clients
from authd.storage.db import transaction

app = typer.Typer(help="authd: identity authentication server.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
registry.register(app)  # `authd rp …`, `authd identity …`, `authd vid …`
audit.register(app)  # `authd audit …`
keys.register(app)  # `authd keys …`, `authd token verify`
faces.register(app)  # `authd faces …`, `authd enroll-batch`


def ensure_first_client(state: AppState) -> clients.IssuedKey | None:
    """On a fresh data dir: a `default` relying party with every scope, its key printed once."""
    now = state.clock.now()
    try:
        return _create_first_client(state, now)
    except (IntegrityError, Conflict):  # another replica starting at the same moment made it
        return None


FIRST_HOLDER = "initial operator"


def _create_first_client(state: AppState, now: int) -> clients.IssuedKey | None:
    with transaction(state.db) as session:
        if clients.list_relying_parties(session):
            return None
        clients.add_relying_party(
            session, rp_id="default", name="Default (created by authd init)",
            factors=list(clients.FACTORS), min_acr=1,
            token_ttl_seconds=state.settings.token_ttl_default_seconds, uin_in_token=False, now=now)
        session.flush()
        key = clients.issue_key(session, rp_id="default", scopes=list(clients.SCOPES),
                                ttl_days=state.settings.api_key_ttl_days, now=now,
                                holder=FIRST_HOLDER)
        cli_audit(state, session, AuditRecord("rp.create", "success", detail={"rp": "default"}))
        return key


def print_first_key(key: clients.IssuedKey | None) -> None:
    if key is None:
        return
    typer.echo("Created relying party 'default' with scopes enroll, auth, introspect, admin.")
    typer.echo("Its API key, shown once (store it now):")
    typer.secho(f"  {key.api_key}", bold=True)
    typer.echo(f"Its holder is '{FIRST_HOLDER}'. A second admin (four eyes) is another person "
               "with a key of their own:\n  authd rp add-key default --scopes admin,enroll "
               "--holder NAME")


@app.command()
def init(data_dir: DataDir = None) -> None:
    """Create the data directory, database schema, keys and a first relying-party key."""
    with opened(data_dir) as state:
        print_first_key(ensure_first_client(state))
        typer.echo(f"Ready: {state.settings.resolved_database_url.split('@')[-1]}")


@app.command()
def serve(
    data_dir: DataDir = None,
    host: Annotated[str | None, typer.Option(help="overrides AUTHD_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="overrides AUTHD_PORT")] = None,
    workers: Annotated[int | None, typer.Option(help="overrides AUTHD_WORKERS")] = None,
) -> None:
    """Run the HTTP service (initializing the data directory on first start)."""
    import uvicorn

    for name, value in (("HOST", host), ("PORT", port), ("WORKERS", workers)):
        if value is not None:
            os.environ[f"AUTHD_{name}"] = str(value)
    with opened(data_dir) as state:
        print_first_key(ensure_first_client(state))
        settings = state.settings
        if settings.faces_enabled:  # a gallery of another model: say what to do, now
            with state.db_read() as session:
                plan_models(settings, session)
    if settings.master_key is None:
        typer.secho(f"development mode: the master key is the file {dev_master_key_path(settings)}"
                    " (outside the data dir); this layout is for development only, production "
                    "sets AUTHD_MASTER_KEY", fg="yellow", err=True)
    announce_when_ready(settings.host, settings.port)
    uvicorn.run("authd.http.asgi:app", factory=True, host=settings.host, port=settings.port,
                workers=settings.workers, log_config=None, access_log=False)


def announce_when_ready(host: str, port: int, poll_seconds: float = 0.5) -> threading.Thread:
    """Print "authd listening" once /readyz answers 200 (models loaded, keys and database
    open), not when uvicorn is merely asked to start: a thread polls it on loopback."""
    import httpx

    logging.getLogger("httpx").setLevel(logging.WARNING)  # its polls are not requests to log
    bind_all = host in ("0.0.0.0", "::", "")  # noqa: S104 (compares, does not bind)
    probe = "127.0.0.1" if bind_all else host
    url = f"http://{f'[{probe}]' if ':' in probe else probe}:{port}/readyz"

    def poll() -> None:
        while True:
            with suppress(httpx.HTTPError):
                if httpx.get(url, timeout=2).status_code == 200:
                    typer.echo(f"authd listening on http://{host}:{port}")
                    return
            time.sleep(poll_seconds)

    thread = threading.Thread(target=poll, name="announce-ready", daemon=True)
    thread.start()
    return thread


def main() -> None:
    os.umask(0o077)  # what authd creates (data dir, reports, servers it spawns) is private
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
