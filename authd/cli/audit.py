"""`authd audit …`: verify the chain, link it (when no server does), search the events."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from authd.audit import search, sequencer
from authd.audit.search import AuditEntry, AuditQuery
from authd.audit.verify import verify
from authd.cli.common import DataDir, fail, opened
from authd.storage.db import transaction

audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(data_dir: DataDir = None) -> None:
    """Check the hash chain, its head and every signed checkpoint; exit 1 naming the first bad
    event. Events not yet linked by the sequencer are listed, not counted as faults."""
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
    with opened(data_dir) as state:
        election = sequencer.Election(state.engine)
        if not election.try_lead():
            typer.echo("another process (a running server) is the audit sequencer: it links")
            return
        try:
            done = sequencer.one_round(state.audit_chain(), sign=True)
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
        page = search.search(session, query, subject_key=state.secrets.subject_key,
                                   reveal=search.may_reveal({"admin"}))
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


def _json_line(event: AuditEntry) -> str:
    return json.dumps({**vars(event), "time": _iso(event.at)}, sort_keys=True)


def _table(events: tuple[AuditEntry, ...]) -> list[str]:
    head = ("SEQ", "TIME", "RP", "ACTION", "OUTCOME", "REASON", "SUBJECT", "FACTOR")
    rows = [head] + [(str(e.seq), _iso(e.at), e.rp_id or "-", e.action, e.outcome,
                      e.reason or "-", e.subject or "-", e.factor or "-") for e in events]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
