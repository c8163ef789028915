"""What every command group shares: the data-dir option, opening the state, failing, auditing."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from sqlalchemy.orm import Session

from authd.audit.events import AuditContext, AuditRecord, append
from authd.errors import AuthdError
from authd.http.state import AppState, open_state
from authd.settings import Settings
from authd.storage.db import DatabaseUnreachable

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
    append(session, ctx, record, state.clock.now())


def split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]
