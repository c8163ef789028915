"""`authd enroll-batch` on real photos: dedup in the batch and against the gallery, resume."""

from __future__ import annotations

import csv
import json
import re

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
    assert first.exit_code == 1, first.output  # two rows were refused
    report = json.loads((tmp_path / "batch-report.json").read_text())
    by_uin = {r["uin"]: r for r in report["rows"]}
    assert by_uin[uins[0]]["outcome"] == by_uin[uins[1]]["outcome"] == "enrolled"
    assert by_uin[uins[4]]["outcome"] == "enrolled"
    assert by_uin[uins[2]]["outcome"] == "possible_duplicate" and by_uin[uins[2]]["case_id"]
    assert (by_uin[uins[3]]["outcome"], by_uin[uins[3]]["code"]) == ("refused", "multiple_faces")
    assert (by_uin["234567890123"]["outcome"], by_uin["234567890123"]["code"]) == (
        "refused", "invalid_uin")
    assert report["summary"]["by_outcome"] == {"enrolled": 3, "possible_duplicate": 1,
                                               "refused": 2}
    assert report["summary"]["refusals_by_code"] == {"invalid_uin": 1, "multiple_faces": 1}
    # one summary, whose codes add up to the refused rows
    assert "6 rows: enrolled 3, possible_duplicate 1, refused 2" in first.stdout
    assert "refused by code: invalid_uin 1, multiple_faces 1" in first.stdout
    assert "invalid" not in first.stdout.replace("invalid_uin", "")
    assert (tmp_path / "batch-report.csv").read_text().count("\n") == len(rows) + 1

    # Rerun with one more row: the done rows are skipped, the new one is deduplicated
    # against the gallery (biden2 matches the enrolled Biden).
    write_manifest(manifest, [*rows, (uins[5], s / "biden/biden2.jpg", "Joe again")])
    second = runner.invoke(app, ["enroll-batch", str(manifest), "--processes", "1"])
    assert second.exit_code == 1, second.output  # the two refused rows are refused again
    report = json.loads((tmp_path / "batch-report.json").read_text())
    by_uin = {r["uin"]: r for r in report["rows"]}
    assert by_uin[uins[5]]["outcome"] == "possible_duplicate"
    assert all(by_uin[u]["outcome"] == "skipped" for u in (uins[0], uins[1], uins[2], uins[4]))
    assert runner.invoke(app, ["audit", "verify"]).exit_code == 0


def test_batch_blank_uin_name_check_status_rule_and_progress(tmp_path, faces_dir, monkeypatch):
    monkeypatch.setenv("AUTHD_DATA_DIR", str(tmp_path / "data"))
    for var in ("AUTHD_DATABASE_URL", "AUTHD_MASTER_KEY", "AUTHD_MODE"):
        monkeypatch.delenv(var, raising=False)
    runner = CliRunner()
    s = faces_dir / "samples"
    manifest = tmp_path / "first.csv"
    write_manifest(manifest, [("", s / "obama/obama.jpg", "Barack")])
    first = runner.invoke(app, ["enroll-batch", str(manifest), "--processes", "1"])
    assert first.exit_code == 0, first.output
    issued = json.loads((tmp_path / "first-report.json").read_text())["rows"][0]
    assert issued["outcome"] == "enrolled" and len(issued["uin"]) == 12  # a new UIN
    # progress on stderr: rows done of the total, rate, time left
    assert re.search(r"1/1 rows [0-9.]+ rows/s [0-9:]+ left", first.stderr), first.stderr
    assert "enrolling 1 rows" in first.stderr

    existing = runner.invoke(app, ["identity", "add", "--name", "Kit"])
    assert existing.exit_code == 0, existing.output
    kit = re.search(r"\b(\d{12})\b", existing.output).group(1)
    other = runner.invoke(app, ["identity", "add", "--name", "Joe"])
    joe = re.search(r"\b(\d{12})\b", other.output).group(1)
    manifest = tmp_path / "second.csv"
    write_manifest(manifest, [
        (kit, s / "kit_harington/john1.jpeg", "Someone Else"),   # refused: name_mismatch
        (joe, s / "obama/obama2.jpg", "Joe"),                    # existing identity, duplicate
        ("", s / "obama/obama3.jpg", "Barack again"),             # new identity, duplicate
    ])
    second = runner.invoke(app, ["enroll-batch", str(manifest), "--processes", "1"])
    assert second.exit_code == 1, second.output
    rows = json.loads((tmp_path / "second-report.json").read_text())["rows"]
    assert (rows[0]["outcome"], rows[0]["code"]) == ("refused", "name_mismatch")
    assert rows[1]["outcome"] == rows[2]["outcome"] == "possible_duplicate"
    # one status rule with the API: an existing identity keeps its status, one the enrollment
    # created waits pending
    shown = runner.invoke(app, ["identity", "show", joe]).output
    assert json.loads(shown)["status"] == "active"
    shown = runner.invoke(app, ["identity", "show", rows[2]["uin"]]).output
    assert json.loads(shown)["status"] == "pending"
    assert "refused by code: name_mismatch 1" in second.stdout


def test_progress_line_counts_rate_and_time_left():
    from authd.cli.faces import Progress

    ticks = iter([0.0, 10.0, 20.0])
    progress = Progress(100, every=0.0, clock=lambda: next(ticks))
    progress.done = 25  # 25 rows in 10 s of the fake clock
    assert progress.line().endswith("25/100 rows 2.5 rows/s 00:30 left")
    progress.done = 100
    assert progress.line().endswith("100/100 rows 5.0 rows/s 00:00 left")


def test_names_compare_without_case_or_repeated_spaces():
    from authd.faces.batch import _folded

    assert _folded("Amina  ALAOUI ") == _folded("amina alaoui")
    assert _folded("Amina Alaoui") != _folded("Amina Alaoui-Benali")
