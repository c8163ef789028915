"""Bulk enrollment from a CSV manifest: encode on every core, dedup, store, report.

Manifest columns: `uin,image` and optionally `name,date_of_birth,sex,phone,email`; image paths
are relative to the manifest. A blank UIN issues a new one; a UIN already registered must carry
the identity's name (or none). Photos are encoded in a process pool (dlib is CPU-bound) and
stored one by one in manifest order through enrollment.enroll_face (the API's path), each
after a 1:N search that sees every earlier row, so a batch is deduplicated within itself and
against the gallery. The database is the record of what is done: a rerun skips rows whose
identity already has a face or an open case.
"""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from authd.audit.events import AuditContext, append
from authd.errors import AuthdError, InvalidRequest
from authd.faces import enrollment
from authd.faces.runtime import galleries
from authd.faces.service import Probe, pipeline_settings
from authd.http.state import AppState
from authd.registry import identities
from authd.storage.db import transaction
from authd.storage.models import DedupCase, Identity
from matching import worker
from matching.errors import MatchingError
from matching.pipeline import PipelineSettings
from matching.templates import Template

BATCH_ACTOR = "cli-enroll-batch"
BATCH = enrollment.Actor(key_id=BATCH_ACTOR, holder=BATCH_ACTOR)


@dataclass(frozen=True)
class Row:
    line: int
    uin: str
    image: Path
    demographics: dict[str, str]


@dataclass(frozen=True)
class Outcome:
    line: int
    uin: str
    outcome: str  # enrolled | skipped | possible_duplicate | refused (code says why)
    code: str = ""
    case_id: str = ""


def read_manifest(path: Path) -> list[Row]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"uin", "image"} <= set(reader.fieldnames):
            raise ValueError("the manifest needs the columns uin and image")
        extra = ("name", "date_of_birth", "sex", "phone", "email")
        return [Row(n, (r["uin"] or "").strip(), path.parent / (r["image"] or "").strip(),
                    {k: r[k].strip() for k in extra if r.get(k)})
                for n, r in enumerate(reader, start=2)]


def _encode(path: Path) -> Template | str:
    """In a worker: the template, or the refusal code."""
    try:
        return worker.extract(path.read_bytes())
    except MatchingError as exc:
        return exc.code
    except OSError:
        return "image_missing"


def encode_all(paths: list[Path], processes: int,
               settings: PipelineSettings) -> Iterator[Template | str]:
    """Templates in input order, computed on `processes` cores."""
    context = multiprocessing.get_context("spawn")  # no forked locks or model state
    with context.Pool(processes, initializer=worker.init, initargs=(settings,)) as pool:
        yield from pool.imap(_encode, paths, chunksize=4)


def pending_rows(state: AppState, rows: list[Row]) -> tuple[list[Row], list[Outcome]]:
    """Rows still to do, and outcomes for those already done by an earlier run (a row with a
    blank UIN is never done: each run issues it a new UIN)."""
    with transaction(state.db_read) as session:
        done = set(session.scalars(select(Identity.uin).where(Identity.template.is_not(None))))
        in_case = set(session.scalars(select(Identity.uin).join(
            DedupCase, DedupCase.identity_id == Identity.id).where(DedupCase.status == "open")))
    todo, skipped = [], []
    for row in rows:
        if row.uin and (row.uin in done or row.uin in in_case):
            skipped.append(Outcome(row.line, row.uin, "skipped", "already_done"))
        else:
            todo.append(row)
    return todo, skipped


class NameMismatch(InvalidRequest):
    code = "name_mismatch"
    message = "The row's name differs from the name of the identity with that UIN."


class IdentityInactive(InvalidRequest):
    code, status_code = "identity_inactive", 409
    message = "The identity with that UIN is not active (pending, rejected or deactivated)."


def enroll_row(state: AppState, row: Row, probe: Probe, now: int) -> Outcome:
    """One row through enrollment.enroll_face (the API's path): the identity is found by UIN
    (its name must match the row's), or created (a blank UIN issues a new one)."""
    with transaction(state.db) as session:
        identity, created = _identity_for(session, row, now)
        ctx = AuditContext(request_id=f"batch-line-{row.line}", rp_id="cli",
                           subject_key=state.secrets.subject_key)
        done = enrollment.enroll_face(state, session, identity, probe, now, actor=BATCH,
                                      created=created)
        append(session, ctx, enrollment.audit_record(done, identity.uin, BATCH), now)
    if isinstance(done, enrollment.CaseOpened):
        return Outcome(row.line, identity.uin, "possible_duplicate", case_id=done.case_id)
    return Outcome(row.line, identity.uin, "enrolled")


def _identity_for(session: Session, row: Row, now: int) -> tuple[Identity, bool]:
    identity = session.execute(select(Identity).where(Identity.uin == row.uin)
                               ).scalar_one_or_none() if row.uin else None
    if identity is None:
        return identities.create_identity(session, _new_identity(row), now), True
    name = row.demographics.get("name")
    if name is not None and identity.name is not None and _folded(name) != _folded(identity.name):
        raise NameMismatch()
    if identity.status != "active":
        raise IdentityInactive()
    return identity, False


def _folded(name: str) -> str:
    """Names compared without case or repeated spaces ("Amina  ALAOUI" is "Amina Alaoui")."""
    return " ".join(name.split()).casefold()


def _new_identity(row: Row) -> identities.NewIdentity:
    demo = dict(row.demographics)
    if "date_of_birth" in demo:
        demo["date_of_birth"] = date.fromisoformat(demo["date_of_birth"])  # type: ignore[assignment]
    return identities.NewIdentity(uin=row.uin or None, **demo)  # type: ignore[arg-type]


def run_batch(state: AppState, manifest: Path, *, processes: int | None = None,
              progress: Callable[[int], None] = lambda n: None) -> list[Outcome]:
    """Every row's outcome, in manifest order; `progress(n)` after each n rows done."""
    rows = read_manifest(manifest)
    todo, outcomes = pending_rows(state, rows)
    valid, invalid = _validate(todo)
    outcomes += invalid
    progress(len(outcomes))
    templates = encode_all([r.image for r in valid], processes or os.cpu_count() or 1,
                           pipeline_settings(state.settings))
    for row, template in zip(valid, templates, strict=True):
        outcomes.append(_one(state, row, template))
        progress(1)
    return sorted(outcomes, key=lambda o: o.line)


def _validate(rows: list[Row]) -> tuple[list[Row], list[Outcome]]:
    valid, invalid = [], []
    for row in rows:
        try:
            if row.uin:
                identities.validate_uin(row.uin)
            if "date_of_birth" in row.demographics:
                date.fromisoformat(row.demographics["date_of_birth"])
            valid.append(row)
        except AuthdError as exc:
            invalid.append(Outcome(row.line, row.uin, "refused", exc.code))
        except ValueError:
            invalid.append(Outcome(row.line, row.uin, "refused", "invalid_date_of_birth"))
    return valid, invalid


def _one(state: AppState, row: Row, template: Template | str) -> Outcome:
    if isinstance(template, str):
        return Outcome(row.line, row.uin, "refused", template)
    try:
        outcome = enroll_row(state, row, _probe(state, row, template), state.clock.now())
    except AuthdError as exc:
        return Outcome(row.line, row.uin, "refused", exc.code)
    except ValueError:
        return Outcome(row.line, row.uin, "refused", "invalid_row")
    for gallery in galleries(state):
        gallery.catch_up()
    return outcome


def _probe(state: AppState, row: Row, template: Template) -> Probe:
    """The row's template, and during a migration its templates under the older models too
    (so the batch is deduplicated against every gallery)."""
    others: dict[str, Template | str] = {}
    for old in state.legacy_faces:
        try:
            others[old.service.model_id] = old.service.submit(row.image.read_bytes()).result()
        except MatchingError as exc:
            others[old.service.model_id] = exc.code
    return Probe(template, others)


def summarize(outcomes: list[Outcome]) -> dict:
    """Rows per outcome, and refused rows per code (the codes add up to `refused`)."""
    counts = Counter(o.outcome for o in outcomes)
    refusals = Counter(o.code for o in outcomes if o.outcome == "refused")
    return {"rows": len(outcomes), "by_outcome": dict(sorted(counts.items())),
            "refusals_by_code": dict(sorted(refusals.items()))}


def write_report(outcomes: list[Outcome], stem: Path) -> dict:
    summary = summarize(outcomes)
    with stem.with_suffix(".csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["line", "uin", "outcome", "code", "case_id"])
        writer.writeheader()
        writer.writerows(asdict(o) for o in outcomes)
    stem.with_suffix(".json").write_text(json.dumps(
        {"summary": summary, "rows": [asdict(o) for o in outcomes]}, indent=2))
    return summary
