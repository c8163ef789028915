"""`authd enroll-batch`: bulk face enrollment from a CSV manifest."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from authd.batch import run_batch, write_report
from authd.cli_keys import keys_app
from authd.faces import attach_faces, close_faces


def enroll_batch(
    manifest: Annotated[Path, typer.Argument(
        exists=True, dir_okay=False, help="CSV: uin,image[,name,date_of_birth,sex,phone,email]")],
    report: Annotated[Path | None, typer.Option(help="report path stem (writes .csv and .json); "
                                                "default: beside the manifest")] = None,
    processes: Annotated[int, typer.Option(help="encoding processes")] = os.cpu_count() or 1,
    data_dir: Annotated[Path | None, typer.Option("--data-dir")] = None,
) -> None:
    """Enroll faces in bulk: encode on all cores, dedup within the batch and against the
    gallery, resumable (a rerun skips what is done), with a CSV and JSON report."""
    from authd.cli import opened

    with opened(data_dir) as state:
        attach_faces(state)
        try:
            with typer.progressbar(length=_count_rows(manifest), label="enrolling") as bar:
                outcomes = run_batch(state, manifest, processes=processes, progress=bar.update)
        finally:
            close_faces(state, owned=True)
    stem = report or manifest.with_name(manifest.stem + "-report")
    summary = write_report(outcomes, stem)
    typer.echo(f"{summary['rows']} rows: " + ", ".join(
        f"{k} {v}" for k, v in sorted(summary["by_outcome"].items())))
    for code, count in sorted(summary["refusals_by_code"].items()):
        typer.echo(f"  refused {code}: {count}")
    typer.echo(f"report: {stem.with_suffix('.csv')} and {stem.with_suffix('.json')}")


def _count_rows(manifest: Path) -> int:
    with manifest.open() as handle:
        return max(sum(1 for _ in handle) - 1, 0)


@keys_app.command("reseal")
def keys_reseal(data_dir: Annotated[Path | None, typer.Option("--data-dir")] = None) -> None:
    """Rotate the sealing key and re-seal every stored template under it (safe while the
    service runs: servers open old and new blobs and follow the new key)."""
    from authd.audit import AuditRecord
    from authd.cli import cli_audit, opened
    from authd.reseal import reseal_all
    from authd.state import resolve_master_key
    from authd.storage.db import transaction
    from keys import SealingKeyStore

    with opened(data_dir) as state:
        directory = state.settings.data_dir / "sealing-keys"
        SealingKeyStore(directory, resolve_master_key(state.settings)).rotate()
        report = reseal_all(state)
        with transaction(state.db) as session:
            cli_audit(state, session, AuditRecord("keys.reseal", "success", detail={
                "key_id": report.key_id, "templates": report.templates,
                "pending": report.pending}))
    typer.echo(f"re-sealed {report.templates} templates and {report.pending} pending ones "
               f"under key {report.key_id}")
