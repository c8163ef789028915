"""Bulk enrollment from a CSV manifest: encode on every core, dedup, store, report.

Manifest columns: `uin,image` and optionally `name,date_of_birth,sex,phone,email`; image paths
are relative to the manifest. Photos are encoded in a process pool (dlib is CPU-bound) and
stored one by one in manifest order, each after a 1:N search that sees every earlier row, so a
batch is deduplicated within itself and against the gallery. The database is the record of
what is done: a rerun skips rows whose identity already has a face or an open case.
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

from authd.audit.events import AuditContext, AuditRecord, append
from authd.errors import AuthdError
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
    outcome: str  # enrolled | skipped | possible_duplicate | refused | invalid
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
    """Rows still to do, and outcomes for those already done by an earlier run."""
    with transaction(state.db_read) as session:
        done = set(session.scalars(select(Identity.uin).where(Identity.template.is_not(None))))
        in_case = set(session.scalars(select(Identity.uin).join(
            DedupCase, DedupCase.identity_id == Identity.id).where(DedupCase.status == "open")))
    todo, skipped = [], []
    for row in rows:
        if row.uin in done or row.uin in in_case:
            skipped.append(Outcome(row.line, row.uin, "skipped", "already_done"))
        else:
            todo.append(row)
    return todo, skipped


def enroll_row(state: AppState, row: Row, probe: Probe, now: int) -> Outcome:
    ctx = AuditContext(request_id=f"batch-line-{row.line}", rp_id="cli",
                       subject_key=state.secrets.subject_key)
    with transaction(state.db) as session:
        identity = session.execute(select(Identity).where(Identity.uin == row.uin)
                                   ).scalar_one_or_none()
        if identity is None:
            identity = identities.create_identity(session, _new_identity(row), now)
        enrollment.lock_gallery(session)
        candidates = enrollment.find_duplicates(state, session, probe, exclude=identity.id)
        if candidates:
            if identity.template is None:
                identity.status = "pending"
            case = enrollment.open_case(state, session, identity, probe.template, candidates,
                                        BATCH_ACTOR, now)
            append(session, ctx, AuditRecord("face.enroll", "refused", "possible_duplicate",
                                             uin=row.uin, factor="face",
                                             detail={"case": case.id}), now)
            return Outcome(row.line, row.uin, "possible_duplicate", case_id=case.id)
        enrollment.store_template(state, session, identity, probe.template, now)
        append(session, ctx, AuditRecord("face.enroll", "success", uin=row.uin, factor="face"), now)
    return Outcome(row.line, row.uin, "enrolled")


def _new_identity(row: Row) -> identities.NewIdentity:
    demo = dict(row.demographics)
    if "date_of_birth" in demo:
        demo["date_of_birth"] = date.fromisoformat(demo["date_of_birth"])  # type: ignore[assignment]
    return identities.NewIdentity(uin=row.uin, **demo)  # type: ignore[arg-type]


def run_batch(state: AppState, manifest: Path, *, processes: int | None = None,
              progress: Callable[[int], None] = lambda n: None) -> list[Outcome]:
    rows = read_manifest(manifest)
    todo, outcomes = pending_rows(state, rows)
    progress(len(outcomes))
    valid, invalid = _validate(todo)
    outcomes += invalid
    templates = encode_all([r.image for r in valid], processes or os.cpu_count() or 1,
                           pipeline_settings(state.settings))
    for row, template in zip(valid, templates, strict=True):
        outcomes.append(_one(state, row, template))
        progress(1)
    progress(len(invalid))
    return sorted(outcomes, key=lambda o: o.line)


def _validate(rows: list[Row]) -> tuple[list[Row], list[Outcome]]:
    valid, invalid = [], []
    for row in rows:
        try:
            identities.validate_uin(row.uin)
            valid.append(row)
        except AuthdError as exc:
            invalid.append(Outcome(row.line, row.uin, "invalid", exc.code))
    return valid, invalid


def _one(state: AppState, row: Row, template: Template | str) -> Outcome:
    if isinstance(template, str):
        return Outcome(row.line, row.uin, "refused", template)
    try:
        outcome = enroll_row(state, row, _probe(state, row, template), state.clock.now())
    except (AuthdError, ValueError) as exc:
        return Outcome(row.line, row.uin, "invalid", getattr(exc, "code", "invalid_row"))
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


def write_report(outcomes: list[Outcome], stem: Path) -> dict:
    counts = Counter(o.outcome for o in outcomes)
    refusals = Counter(o.code for o in outcomes if o.outcome in ("refused", "invalid"))
    summary = {"rows": len(outcomes), "by_outcome": dict(counts),
               "refusals_by_code": dict(refusals)}
    with stem.with_suffix(".csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["line", "uin", "outcome", "code", "case_id"])
        writer.writeheader()
        writer.writerows(asdict(o) for o in outcomes)
    stem.with_suffix(".json").write_text(json.dumps(
        {"summary": summary, "rows": [asdict(o) for o in outcomes]}, indent=2))
    return summary
