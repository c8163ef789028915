"""The `authd` command: serve, init, and operator tasks on relying parties, identities, VIDs,
keys and the audit log. Exit codes: 0 done, 1 refused or failed check, 2 usage error."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from authd.audit import events as audit
from authd.audit import search as audit_search
from authd.audit.events import AuditContext, AuditRecord
from authd.audit.search import AuditQuery
from authd.cli import faces as cli_faces
from authd.cli import keys as cli_keys
from authd.errors import AuthdError
from authd.faces.models import plan_models
from authd.http.state import AppState, dev_master_key_path, open_state
from authd.registry import clients, identities
from authd.settings import Settings
from authd.storage.db import DatabaseUnreachable, transaction

app = typer.Typer(help="authd: identity authentication server.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
rp_app = typer.Typer(help="Relying parties (programs) and their API keys.", no_args_is_help=True)
identity_app = typer.Typer(help="Identities in the registry.", no_args_is_help=True)
vid_app = typer.Typer(help="Virtual IDs (revocable aliases of a UIN).", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
app.add_typer(rp_app, name="rp")
app.add_typer(identity_app, name="identity")
app.add_typer(vid_app, name="vid")
app.add_typer(audit_app, name="audit")
cli_keys.register(app)  # `authd keys …`, `authd token verify`
app.command("enroll-batch")(cli_faces.enroll_batch)
app.add_typer(cli_faces.faces_app, name="faces")

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="overrides AUTHD_DATA_DIR")]


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(f"error: {message}", fg="red", err=True)
    return typer.Exit(code)


def load_settings(data_dir: Path | None = None) -> Settings:
    if data_dir is not None:
        os.environ["AUTHD_DATA_DIR"] = str(data_dir)
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(str(e.get("msg")) for e in exc.errors())
        raise fail(f"invalid settings: {problems}", 2) from None


@contextmanager
def opened(data_dir: Path | None) -> Iterator[AppState]:
    try:
        state = open_state(load_settings(data_dir))
    except DatabaseUnreachable as exc:
        raise fail(str(exc)) from None
    try:
        yield state
    except AuthdError as exc:
        raise fail(exc.message) from None
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    finally:
        state.close()


def cli_audit(state: AppState, session: Session, record: AuditRecord) -> None:
    ctx = AuditContext(request_id=f"cli-{uuid.uuid4().hex[:12]}", rp_id="cli",
                       subject_key=state.secrets.subject_key)
    audit.append(session, ctx, record, state.clock.now())


def ensure_first_client(state: AppState) -> clients.IssuedKey | None:
    """On a fresh data dir: a `default` relying party with every scope, its key printed once."""
    now = state.clock.now()
    try:
        return _create_first_client(state, now)
    except IntegrityError:  # another replica starting at the same moment created it
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


Holder = Annotated[str | None, typer.Option(
    help="the person holding the key (required with scope admin: four eyes compare holders)")]


def _holder(holder: str | None, scopes: str) -> str | None:
    if holder is None and "admin" in _split(scopes):
        raise fail("a key with scope admin needs --holder NAME (the person who holds it)", 2)
    return holder


@rp_app.command("add")
def rp_add(
    rp_id: Annotated[str, typer.Argument(help="short id, e.g. cash-transfer")],
    name: Annotated[str, typer.Option(help="display name")],
    factors: Annotated[str, typer.Option(help="comma list of otp,face")] = "otp,face",
    scopes: Annotated[str, typer.Option(help="comma list of " + ",".join(clients.SCOPES))] = "auth",
    min_acr: Annotated[int, typer.Option(help="1: one factor, 2: two factors")] = 1,
    token_ttl: Annotated[int, typer.Option(help="token lifetime in seconds")] = 300,
    uin_in_token: Annotated[bool, typer.Option(help="may its tokens carry the UIN")] = False,
    holder: Holder = None,
    data_dir: DataDir = None,
) -> None:
    """Add a relying party and print its first API key (shown once)."""
    with opened(data_dir) as state:
        if not 30 <= token_ttl <= state.settings.token_ttl_max_seconds:
            raise fail(f"--token-ttl must be 30..{state.settings.token_ttl_max_seconds}", 2)
        now = state.clock.now()
        with transaction(state.db) as session:
            clients.add_relying_party(
                session, rp_id=rp_id, name=name, factors=_split(factors), min_acr=min_acr,
                token_ttl_seconds=token_ttl, uin_in_token=uin_in_token, now=now)
            session.flush()
            key = clients.issue_key(session, rp_id=rp_id, scopes=_split(scopes),
                                    ttl_days=state.settings.api_key_ttl_days, now=now,
                                    holder=_holder(holder, scopes))
            cli_audit(state, session, AuditRecord("rp.create", "success", detail={
                "rp": rp_id, "key_id": key.key_id, "holder": holder}))
        typer.echo(f"relying party {rp_id} added; API key (shown once):\n  {key.api_key}")


@rp_app.command("add-key")
def rp_add_key(
    rp_id: str,
    scopes: Annotated[str, typer.Option(help="comma list of scopes")] = "auth",
    holder: Holder = None,
    data_dir: DataDir = None,
) -> None:
    """Issue another API key for a relying party (shown once). A second admin is a second
    person: give their key its own --holder."""
    with opened(data_dir) as state, transaction(state.db) as session:
        key = clients.issue_key(session, rp_id=rp_id, scopes=_split(scopes),
                                ttl_days=state.settings.api_key_ttl_days, now=state.clock.now(),
                                holder=_holder(holder, scopes))
        cli_audit(state, session, AuditRecord("apikey.create", "success", detail={
            "rp": rp_id, "key_id": key.key_id, "holder": holder}))
    typer.echo(f"API key for {rp_id} (shown once):\n  {key.api_key}")


@rp_app.command("list")
def rp_list(data_dir: DataDir = None) -> None:
    """List relying parties and their keys (ids, scopes, state; never secrets)."""
    with opened(data_dir) as state, transaction(state.db) as session:
        now = state.clock.now()
        for rp, keys in clients.list_relying_parties(session):
            typer.echo(f"{rp.id}\t{rp.name}\tfactors={','.join(rp.allowed_factors)}"
                       f"\tmin_acr={rp.min_acr}\tttl={rp.token_ttl_seconds}s"
                       f"\tuin_in_token={rp.uin_in_token}")
            for k in keys:
                state_ = "revoked" if k.revoked_at else ("expired" if k.expires_at <= now
                                                          else "active")
                typer.echo(f"  key {k.key_id}\t{','.join(k.scopes)}\t{state_}"
                           f"\tholder={k.holder or '-'}")


@rp_app.command("revoke-key")
def rp_revoke_key(key_id: str, data_dir: DataDir = None) -> None:
    """Revoke an API key by its key id (the part after `authd_`)."""
    with opened(data_dir) as state, transaction(state.db) as session:
        clients.revoke_key(session, key_id, state.clock.now())
        cli_audit(state, session, AuditRecord("apikey.revoke", "success",
                                              detail={"key_id": key_id}))
    typer.echo(f"key {key_id} revoked")


@identity_app.command("add")
def identity_add(
    uin: Annotated[str | None, typer.Option(help="issued when absent")] = None,
    name: Annotated[str | None, typer.Option()] = None,
    dob: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    sex: Annotated[str | None, typer.Option(help="F, M or X")] = None,
    phone: Annotated[str | None, typer.Option()] = None,
    email: Annotated[str | None, typer.Option()] = None,
    data_dir: DataDir = None,
) -> None:
    """Add an identity (no face) and print its UIN."""
    from authd.http.schemas import IdentityIn

    try:
        body = IdentityIn(uin=uin, name=name, date_of_birth=date.fromisoformat(dob) if dob
                          else None, sex=sex, phone=phone, email=email)
    except (ValidationError, ValueError) as exc:
        raise fail(f"invalid identity: {str(exc).splitlines()[0]}", 2) from None
    with opened(data_dir) as state, transaction(state.db) as session:
        identity = identities.create_identity(
            session, identities.NewIdentity(**body.model_dump(exclude_none=True)),
            state.clock.now())
        cli_audit(state, session, AuditRecord("identity.create", "success", uin=identity.uin))
    typer.echo(identity.uin)


@identity_app.command("show")
def identity_show(uin: str, data_dir: DataDir = None) -> None:
    """Show an identity, contacts masked."""
    from authd.http.schemas import IdentityOut

    with opened(data_dir) as state, transaction(state.db) as session:
        typer.echo(IdentityOut.of(identities.get_by_uin(session, uin)).model_dump_json(indent=2))


@identity_app.command("deactivate")
def identity_deactivate(uin: str, data_dir: DataDir = None) -> None:
    """Deactivate an identity: it no longer authenticates."""
    with opened(data_dir) as state, transaction(state.db) as session:
        identities.deactivate(session, uin, state.clock.now())
        cli_audit(state, session, AuditRecord("identity.deactivate", "success", uin=uin))
    typer.echo(f"{uin} deactivated")


@identity_app.command("reset-failures")
def identity_reset_failures(
    uin: str,
    rp: Annotated[str | None, typer.Option("--rp", help="only at this relying party")] = None,
    data_dir: DataDir = None,
) -> None:
    """Clear an identity's consecutive authentication failures (counted per relying party and
    purpose; a lock at AUTHD_MAX_CONSECUTIVE_FAILURES also lifts by itself after
    AUTHD_FAILURE_LOCK_SECONDS), once the person has been checked."""
    with opened(data_dir) as state, transaction(state.db) as session:
        identity = identities.get_by_uin(session, uin)
        cleared = state.otps.reset(session, identity.id, rp)
        cli_audit(state, session, AuditRecord("identity.reset_failures", "success", uin=uin,
                                              detail={"rp_id": rp, "counters": cleared}))
    where = f" at {rp}" if rp else ""
    typer.echo(f"{uin}: {cleared} failure counter(s) cleared{where}")


@vid_app.command("create")
def vid_create(
    uin: str,
    ttl: Annotated[int | None, typer.Option(help="seconds; omit for a perpetual VID")] = None,
    data_dir: DataDir = None,
) -> None:
    """Create a VID for a UIN and print it."""
    kind = "temporary" if ttl else "perpetual"
    with opened(data_dir) as state, transaction(state.db) as session:
        vid = identities.create_vid(session, uin, kind, ttl, state.clock.now())
        cli_audit(state, session, AuditRecord("vid.create", "success", uin=uin,
                                              detail={"kind": kind}))
    typer.echo(vid.vid)


@vid_app.command("revoke")
def vid_revoke(vid: str, data_dir: DataDir = None) -> None:
    """Revoke a VID: it resolves to nothing from now on."""
    with opened(data_dir) as state, transaction(state.db) as session:
        _, identity = identities.revoke_vid(session, vid, state.clock.now())
        cli_audit(state, session, AuditRecord("vid.revoke", "success", uin=identity.uin))
    typer.echo("revoked")


@audit_app.command("verify")
def audit_verify(data_dir: DataDir = None) -> None:
    """Check the hash chain, its head and every signed checkpoint; exit 1 naming the first bad
    event. Events not yet linked by the sequencer are listed, not counted as faults."""
    from authd.audit.verify import verify

    with opened(data_dir) as state, transaction(state.db_read) as session:
        report = verify(session, state.keyring.public_key)
    for problem in report.problems:
        typer.secho(problem, fg="red", err=True)
    typer.echo(f"{report.linked} events linked; {report.checkpoints_verified} signed "
               f"checkpoints verified" + (f", {report.checkpoints_unverifiable} signed by keys "
                                          "since pruned" if report.checkpoints_unverifiable
                                          else ""))
    if report.unlinked:
        ids = report.unlinked
        typer.echo(f"{len(ids)} events not yet linked (ids {ids[0]}..{ids[-1]}): committed, "
                   "not yet covered by the chain")
    if not report.intact:
        typer.secho(f"first bad event: {report.first_bad}", fg="red", err=True)
        raise typer.Exit(1)
    typer.echo("audit log intact")


@audit_app.command("link")
def audit_link(data_dir: DataDir = None) -> None:
    """Link every committed event into the chain and sign a checkpoint of its head, unless a
    running server is the sequencer (then it does so itself)."""
    from authd import sequencer

    with opened(data_dir) as state:
        election = sequencer.Election(state.engine)
        if not election.try_lead():
            typer.echo("another process (a running server) is the audit sequencer: it links")
            return
        try:
            done = sequencer.one_round(state, sign=True)
        finally:
            election.release()
    typer.echo(f"linked {done.linked} events; chain size {done.head.size}; "
               + (f"checkpoint signed by {done.checkpoint.kid}" if done.checkpoint
                  else "checkpoint already current"))


Opt = Annotated[str | None, typer.Option()]
When = Annotated[str | None,
                 typer.Option(help="ISO 8601 time (UTC when no offset) or epoch seconds")]


@audit_app.command("show")
def audit_show(
    uin: Opt = None, vid: Opt = None,
    rp: Annotated[str | None, typer.Option(help="relying party id")] = None,
    action: Opt = None, outcome: Opt = None,
    reason: Annotated[str | None, typer.Option(help="reason code, e.g. otp_mismatch")] = None,
    since: When = None, until: When = None,
    limit: Annotated[int, typer.Option(help="events per page")] = 50,
    cursor: Annotated[str | None, typer.Option(help="next_cursor of the previous page")] = None,
    json_lines: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
    data_dir: DataDir = None,
) -> None:
    """Audit events, newest first, with the same filters as GET /v1/audit/events."""
    query = AuditQuery(uin=uin, vid=vid, rp_id=rp, action=action, outcome=outcome,
                       reason=reason, since=_epoch(since), until=_epoch(until), cursor=cursor,
                       limit=limit)
    with opened(data_dir) as state, transaction(state.db_read) as session:
        # An operator at the command line holds the database: an admin for the masking rule.
        page = audit_search.search(session, query, subject_key=state.secrets.subject_key,
                                   reveal=audit_search.may_reveal({"admin"}))
    for line in (_json_line(e) for e in page.events) if json_lines else _table(page.events):
        typer.echo(line)
    if page.next_cursor:
        typer.echo(f"more: --cursor {page.next_cursor}", err=True)


def _epoch(text: str | None) -> int | None:
    if text is None or text.isdigit():
        return int(text) if text else None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise fail(f"not a time: {text!r} (use ISO 8601 or epoch seconds)", 2) from None
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json_line(event: audit_search.AuditEntry) -> str:
    return json.dumps({**vars(event), "time": _iso(event.at)}, sort_keys=True)


def _table(events: tuple[audit_search.AuditEntry, ...]) -> list[str]:
    head = ("SEQ", "TIME", "RP", "ACTION", "OUTCOME", "REASON", "SUBJECT", "FACTOR")
    rows = [head] + [(str(e.seq), _iso(e.at), e.rp_id or "-", e.action, e.outcome,
                      e.reason or "-", e.subject or "-", e.factor or "-") for e in events]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
