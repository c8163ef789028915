"""`authd enroll-batch` (bulk face enrollment from a CSV manifest) and `authd faces migrate`
(re-encoding the gallery under another face model)."""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from authd.cli.common import fail, opened
from authd.faces.batch import run_batch, write_report
from authd.faces.models import MODEL_IDS, migration_under_way, template_counts
from authd.faces.reencode import Outcome, migrate, todo
from authd.faces.runtime import attach_faces, close_faces
from authd.faces.service import FaceService

faces_app = typer.Typer(help="The face model and gallery.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(faces_app, name="faces")
    app.command("enroll-batch")(enroll_batch)


def enroll_batch(
    manifest: Annotated[Path, typer.Argument(
        exists=True, dir_okay=False, help="CSV: uin,image[,name,date_of_birth,sex,phone,email]")],
    report: Annotated[Path | None, typer.Option(help="report path stem (writes .csv and .json); "
                                                "default: beside the manifest")] = None,
    processes: Annotated[int, typer.Option(help="encoding processes")] = os.cpu_count() or 1,
    data_dir: Annotated[Path | None, typer.Option("--data-dir")] = None,
) -> None:
    """Enroll faces in bulk: encode on all cores, dedup within the batch and against the
    gallery, resumable (a rerun skips what is done), with a CSV and JSON report. A blank UIN
    issues a new one. Exit status 1 when any row was refused (the report says why)."""
    rows = _count_rows(manifest)
    with opened(data_dir) as state:
        typer.echo(f"enrolling {rows} rows: starting {processes} face encoding processes",
                   err=True)
        attach_faces(state)
        try:
            with Progress(rows) as progress:
                outcomes = run_batch(state, manifest, processes=processes, progress=progress)
        finally:
            close_faces(state, owned=True)
    stem = report or manifest.with_name(manifest.stem + "-report")
    summary = write_report(outcomes, stem)
    for line in summary_lines(summary):
        typer.echo(line)
    typer.echo(f"report: {stem.with_suffix('.csv')} and {stem.with_suffix('.json')}")
    if summary["by_outcome"].get("refused"):
        raise typer.Exit(1)


def summary_lines(summary: dict) -> list[str]:
    """One summary: rows per outcome, then the refused rows per code (adding up to refused)."""
    lines = [f"{summary['rows']} rows: " + ", ".join(
        f"{k} {v}" for k, v in summary["by_outcome"].items())]
    if summary["refusals_by_code"]:
        lines.append("refused by code: " + ", ".join(
            f"{k} {v}" for k, v in summary["refusals_by_code"].items()))
    return lines


class Progress:
    """Rows done of the total, the rate and the time left, on stderr: redrawn in place on a
    terminal, one line at most every `every` seconds otherwise (logs, CI)."""

    def __init__(self, total: int, every: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total, self.every, self.clock = total, every, clock
        self.done, self.start, self.shown = 0, clock(), float("-inf")
        self.tty = sys.stderr.isatty()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self._show(final=True)

    def __call__(self, n: int) -> None:
        self.done += n
        if self.tty or self.clock() - self.shown >= self.every:
            self._show()

    def line(self) -> str:
        elapsed = max(self.clock() - self.start, 1e-9)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        width = 30
        filled = width * self.done // max(self.total, 1)
        return (f"[{'#' * filled}{'-' * (width - filled)}] {self.done}/{self.total} rows "
                f"{rate:.1f} rows/s {_duration(left)} left")

    def _show(self, final: bool = False) -> None:
        self.shown = self.clock()
        end = "\n" if final or not self.tty else ""
        sys.stderr.write(("\r" if self.tty else "") + self.line() + end)
        sys.stderr.flush()


def _duration(seconds: float) -> str:
    if seconds != seconds:  # NaN: no row done yet
        return "--:--"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _count_rows(manifest: Path) -> int:
    with manifest.open(newline="") as handle:
        return sum(1 for _ in csv.DictReader(handle))


@faces_app.command("migrate")
def faces_migrate(
    to: Annotated[str, typer.Option("--to", help="the face model to re-encode into: sface "
                                    "or dlib (set AUTHD_FACE_MODEL to it too)")],
    report: Annotated[Path | None, typer.Option(help="report path stem (writes .csv and "
                                                "  .json); default: data_dir/faces-migrate-report")
                      ] = None,
    processes: Annotated[int, typer.Option(help="encoding processes")] = os.cpu_count() or 1,
    data_dir: Annotated[Path | None, typer.Option("--data-dir")] = None,
) -> None:
    """Re-encode every identity under the model `--to` from its kept, sealed photo
    (AUTHD_FACE_KEEP_PHOTOS). Resumable: a re-run continues where the last one stopped.
    Identities with no kept photo are listed for re-capture and keep authenticating on their
    old template until enrolled again."""
    if to not in MODEL_IDS:
        raise fail(f"--to must be one of {', '.join(MODEL_IDS)}", 2)
    with opened(data_dir) as state:
        settings = state.settings.model_copy(update={"face_workers": max(processes, 1)})
        service = FaceService.start(settings, to)
        try:
            with typer.progressbar(length=len(todo(state, service.model_id)), label="re-encoding",
                                   show_pos=True, show_eta=True,
                                   item_show_func=lambda rate: rate) as bar:
                done = migrate(state, service, chunk=2 * max(processes, 1),
                               progress=_with_rate(bar))
        finally:
            service.close()
        stem = report or state.settings.data_dir / "faces-migrate-report"
    outcomes = done.outcomes
    summary = _write_migration_report(outcomes, stem, done.remaining)
    typer.echo(f"{summary['rows']} identities: " + ", ".join(
        f"{k} {v}" for k, v in sorted(summary["by_outcome"].items())) + ".")
    recapture = [o.uin for o in outcomes if o.outcome == "recapture"]
    if recapture:
        typer.echo(f"{len(recapture)} to re-capture (no kept photo, or refused by {to}); they "
                   "authenticate on their old template until enrolled again:")
        for uin in recapture:
            typer.echo(f"  {uin}")
    typer.echo("migration finished" if summary["finished"] else "migration under way")
    if state.settings.face_model != to:
        typer.echo(f"set AUTHD_FACE_MODEL={to} before starting the servers")
    typer.echo(f"report: {stem.with_suffix('.csv')} and {stem.with_suffix('.json')}")


@faces_app.command("status")
def faces_status(data_dir: Annotated[Path | None, typer.Option("--data-dir")] = None) -> None:
    """Templates per face model, and the migration under way if any."""
    with opened(data_dir) as state, state.db_read() as session:
        counts = template_counts(session)
        migration = migration_under_way(session)
        typer.echo(f"configured model: {state.settings.face_model}")
        for model, count in sorted(counts.items()):
            typer.echo(f"  {model}: {count} active identities")
        if migration is not None:
            typer.echo(f"migration to {migration.to_model} under way (re-run `authd faces "
                       "migrate` after re-capturing the identities it listed)")


def _with_rate(bar):  # type: ignore[no-untyped-def]
    """A progress callback that shows identities done, the rate and (click) the time left."""
    start, done = time.monotonic(), 0

    def update(n: int) -> None:
        nonlocal done
        done += n
        rate = done / max(time.monotonic() - start, 1e-6)
        bar.current_item = f"{rate:.1f}/s"
        bar.update(n)

    return update


def _write_migration_report(outcomes: list, stem: Path, remaining: int) -> dict:
    counts = Counter(o.outcome for o in outcomes)
    summary = {"rows": len(outcomes), "by_outcome": dict(counts),
               "codes": dict(Counter(o.code for o in outcomes if o.code)),
               "remaining": remaining, "finished": remaining == 0}
    fields = list(Outcome.__dataclass_fields__)
    with stem.with_suffix(".csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(asdict(o) for o in outcomes)
    stem.with_suffix(".json").write_text(json.dumps(
        {"summary": summary, "rows": [asdict(o) for o in outcomes]}, indent=2))
    return summary
