"""`authd enroll-batch` on real photos: dedup in the batch and against the gallery, resume."""

from __future__ import annotations

import csv
import json

import pytest
from typer.testing import CliRunner

from authd.cli.main import app
from authd.registry.uin import new_uin

pytestmark = pytest.mark.slow


def write_manifest(path, rows):
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["uin", "image", "name"])
        writer.writerows(rows)


def test_batch_enrolls_dedups_refuses_and_resumes(tmp_path, faces_dir, monkeypatch):
    monkeypatch.setenv("AUTHD_DATA_DIR", str(tmp_path / "data"))
    for var in ("AUTHD_DATABASE_URL", "AUTHD_MASTER_KEY", "AUTHD_MODE"):
        monkeypatch.delenv(var, raising=False)
    s = faces_dir / "samples"
    uins = [new_uin() for _ in range(6)]
    rows = [
        (uins[0], s / "obama/obama.jpg", "Barack"),
        (uins[1], s / "biden/biden.jpg", "Joe"),
        (uins[2], s / "obama/obama2.jpg", "Barack again"),         # duplicate inside the batch
        (uins[3], s / "_multi_face/obama_and_biden.jpg", "Two"),    # refused: multiple_faces
        (uins[4], s / "kit_harington/john1.jpeg", "Kit"),
        ("234567890123", s / "biden/biden2.jpg", "bad check digit"),
    ]
    manifest = tmp_path / "batch.csv"
    write_manifest(manifest, rows)
    runner = CliRunner()
    first = runner.invoke(app, ["enroll-batch", str(manifest), "--processes", "2"])
    assert first.exit_code == 0, first.output
    report = json.loads((tmp_path / "batch-report.json").read_text())
    by_uin = {r["uin"]: r for r in report["rows"]}
    assert by_uin[uins[0]]["outcome"] == by_uin[uins[1]]["outcome"] == "enrolled"
    assert by_uin[uins[4]]["outcome"] == "enrolled"
    assert by_uin[uins[2]]["outcome"] == "possible_duplicate" and by_uin[uins[2]]["case_id"]
    assert (by_uin[uins[3]]["outcome"], by_uin[uins[3]]["code"]) == ("refused", "multiple_faces")
    assert (by_uin["234567890123"]["outcome"], by_uin["234567890123"]["code"]) == (
        "invalid", "invalid_uin")
    assert report["summary"]["by_outcome"]["enrolled"] == 3
    assert (tmp_path / "batch-report.csv").read_text().count("\n") == len(rows) + 1

    # Rerun with one more row: the done rows are skipped, the new one is deduplicated
    # against the gallery (biden2 matches the enrolled Biden).
    write_manifest(manifest, [*rows, (uins[5], s / "biden/biden2.jpg", "Joe again")])
    second = runner.invoke(app, ["enroll-batch", str(manifest), "--processes", "1"])
    assert second.exit_code == 0, second.output
    report = json.loads((tmp_path / "batch-report.json").read_text())
    by_uin = {r["uin"]: r for r in report["rows"]}
    assert by_uin[uins[5]]["outcome"] == "possible_duplicate"
    assert all(by_uin[u]["outcome"] == "skipped" for u in (uins[0], uins[1], uins[2], uins[4]))
    assert runner.invoke(app, ["audit", "verify"]).exit_code == 0
