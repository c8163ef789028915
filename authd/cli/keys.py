"""`authd keys …` (operators) and `authd token verify` (relying parties).

`token verify` needs no authd data directory or secret: only the published JWKS, fetched
over HTTP(S) or read from a file, exactly as a relying party's back office would.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from authd.audit.events import AuditRecord
from authd.cli.common import DataDir, cli_audit, fail, opened
from authd.faces.reseal import reseal_all
from authd.http.state import resolve_master_key
from authd.settings import Settings
from authd.storage.db import transaction
from authd.tokens import rotation
from authd.tokens.issuance import TOKEN_TYP
from keys import InvalidToken, JwksKeys, SealingKeyStore, UnknownKey, verify_jwt

keys_app = typer.Typer(help="The signing key ring and the template sealing keys.",
                       no_args_is_help=True)
token_app = typer.Typer(help="Identity tokens, as a relying party sees them.",
                        no_args_is_help=True)
SEALING_DIR = "sealing-keys"  # as opened by authd.http.state.open_state


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
    app.add_typer(token_app, name="token")


def _when(epoch: int | None) -> str:
    return "-" if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat()


@keys_app.command("rotate")
def keys_rotate(
    sealing: Annotated[bool, typer.Option(help="rotate the template sealing key instead")] = False,
    data_dir: DataDir = None,
) -> None:
    """Make a new key active and print its id; the previous keys stay to verify or open."""
    with opened(data_dir) as state:
        if sealing:
            store = SealingKeyStore(state.settings.data_dir / SEALING_DIR,
                                    resolve_master_key(state.settings))
            kid, kind = store.rotate().active_key_id, "sealing"
        else:
            now = state.clock.now()
            kid, kind = state.keyring.rotate(now).kid, "signing"
            state.keyring.prune(now, rotation.max_token_lifetime(state.settings))
        with transaction(state.db) as session:
            cli_audit(state, session, AuditRecord("keys.rotate", "success",
                                                  detail={"kind": kind, "kid": kid}))
    typer.echo(kid)


@keys_app.command("revoke")
def keys_revoke(
    kid: Annotated[str, typer.Argument(help="the signing key id (see `authd keys list`); put "
                                           "`--` before one that starts with -")],
    data_dir: DataDir = None,
) -> None:
    """Remove a compromised signing key at once: gone from JWKS, and every running server
    refuses its tokens from its next request (one `stat` of ring.json, as for rotation).
    Revoking the active key makes a new one first. Prints the active key id."""
    with opened(data_dir) as state:
        was_active = state.keyring.active.kid == kid
        try:
            state.keyring.revoke(kid, state.clock.now())
        except UnknownKey:
            raise fail(f"no signing key {kid} in the ring") from None
        detail = {"kind": "signing", "kid": kid, "was_active": was_active,
                  "active": state.keyring.active.kid}
        with transaction(state.db) as session:
            cli_audit(state, session, AuditRecord("keys.revoke", "success", detail=detail))
    typer.echo(detail["active"])


@keys_app.command("list")
def keys_list(data_dir: DataDir = None) -> None:
    """Every key: the signing keys in ring order (the active one, then retired ones and until
    when they stay published in JWKS), then the template sealing keys (the active one seals,
    retired ones still open what they sealed until `authd keys reseal`)."""
    with opened(data_dir) as state:
        lifetime = rotation.max_token_lifetime(state.settings)
        now = state.clock.now()
        typer.echo(f"{'kind':<8} {'kid':<44} {'status':<9} {'created':<26} published until")
        for key in state.keyring.keys:
            info = key.info
            status = "active" if info.retired_at is None else (
                "retired" if info.still_needed(now, lifetime) else "expired")
            until = None if info.retired_at is None else info.retired_at + lifetime
            typer.echo(f"{'signing':<8} {info.kid:<44} {status:<9} "
                       f"{_when(info.created_at):<26} {_when(until)}")
        for kid, status, created in _sealing_keys(state.settings):
            typer.echo(f"{'sealing':<8} {kid:<44} {status:<9} {_when(created):<26} -")


@keys_app.command("reseal")
def keys_reseal(data_dir: DataDir = None) -> None:
    """Rotate the sealing key and re-seal every stored template under it (safe while the
    service runs: servers open old and new blobs and follow the new key)."""
    with opened(data_dir) as state:
        directory = state.settings.data_dir / SEALING_DIR
        SealingKeyStore(directory, resolve_master_key(state.settings)).rotate()
        report = reseal_all(state)
        with transaction(state.db) as session:
            cli_audit(state, session, AuditRecord("keys.reseal", "success", detail={
                "key_id": report.key_id, "templates": report.templates,
                "pending": report.pending, "index_files": report.index_files}))
    typer.echo(f"re-sealed {report.templates} templates, {report.pending} pending ones and "
               f"{report.index_files} index files under key {report.key_id}")


def _sealing_keys(settings: Settings) -> list[tuple[str, str, int | None]]:
    directory = settings.data_dir / SEALING_DIR
    sealer = SealingKeyStore(directory, resolve_master_key(settings)).load_or_create()
    rows = []
    for i, kid in enumerate(sealer.key_ids):
        path = directory / f"sealing-{kid}.key"  # keys.sealing's file naming
        created = int(path.stat().st_mtime) if path.exists() else None
        rows.append((kid, "active" if i == 0 else "retired", created))
    return rows


@token_app.command("verify")
def token_verify(
    token: Annotated[str, typer.Argument(help="the token, or - to read it from stdin")],
    jwks: Annotated[str, typer.Option("--jwks", help="JWKS URL (http/https) or file")],
    aud: Annotated[str, typer.Option("--aud", help="your relying-party id")],
    iss: Annotated[str | None, typer.Option("--iss", help="expected issuer")] = None,
    leeway: Annotated[int, typer.Option(min=0, max=300, help="clock skew allowed, seconds")]
    = rotation.LEEWAY_SECONDS,
    at: Annotated[int | None, typer.Option("--now", help="verify as of this epoch second "
                                           "(default: now)", hidden=True)] = None,
) -> None:
    """Verify a token with nothing but the published keys; print its claims as JSON.

    Exit 1 with the reason when it is not valid (signature, kid, expiry, audience, issuer).
    """
    if token == "-":  # noqa: S105 (stdin, not a password)
        token = sys.stdin.read().strip()
    issuer = iss or os.environ.get("AUTHD_ISSUER") or Settings.model_fields["issuer"].default
    try:
        keys = JwksKeys.from_json(_load_jwks(jwks))
    except (OSError, ValueError, httpx.HTTPError) as exc:
        typer.secho(f"error: cannot read JWKS: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None
    now = at if at is not None else int(datetime.now(UTC).timestamp())
    try:
        claims = verify_jwt(token, keys=keys, audience=aud, issuer=issuer, now=now,
                            leeway=leeway, typ=TOKEN_TYP)
    except InvalidToken as exc:
        typer.secho(f"error: invalid token: {exc.reason}", fg="red", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(claims, indent=2, sort_keys=True))


def _load_jwks(source: str) -> Any:
    if source.startswith(("http://", "https://")):
        response = httpx.get(source, timeout=10, follow_redirects=False)
        response.raise_for_status()
        return response.json()
    return json.loads(Path(source).read_text(encoding="utf-8"))
