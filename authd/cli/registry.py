"""`authd rp …`, `authd identity …` and `authd vid …`: the registry, at the command line."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

import typer
from pydantic import ValidationError

from authd.audit.events import AuditRecord
from authd.cli.common import DataDir, cli_audit, fail, opened, split
from authd.http.schemas import IdentityIn, IdentityOut
from authd.registry import clients, identities
from authd.storage.db import transaction

rp_app = typer.Typer(help="Relying parties (programs) and their API keys.", no_args_is_help=True)
identity_app = typer.Typer(help="Identities in the registry.", no_args_is_help=True)
vid_app = typer.Typer(help="Virtual IDs (revocable aliases of a UIN).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(rp_app, name="rp")
    app.add_typer(identity_app, name="identity")
    app.add_typer(vid_app, name="vid")


Holder = Annotated[str | None, typer.Option(
    help="the person holding the key (required with scope admin: four eyes compare holders)")]


def _holder(holder: str | None, scopes: str) -> str | None:
    if holder is None and "admin" in split(scopes):
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
                session, rp_id=rp_id, name=name, factors=split(factors), min_acr=min_acr,
                token_ttl_seconds=token_ttl, uin_in_token=uin_in_token, now=now)
            session.flush()
            key = clients.issue_key(session, rp_id=rp_id, scopes=split(scopes),
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
        key = clients.issue_key(session, rp_id=rp_id, scopes=split(scopes),
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
    kind: Literal["perpetual", "temporary"] = "temporary" if ttl else "perpetual"
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
