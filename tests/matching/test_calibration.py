"""Thresholds from the shipped calibration file (made by benchmarks/lfw_verify.py)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from matching.calibration import CalibrationMissing, load_calibration

MODEL = "dlib_resnet_v1"


@pytest.fixture(scope="module")
def calibration():
    return load_calibration(MODEL)


def test_shipped_file_is_measured_and_ordered(calibration):
    fmrs = [p.fmr for p in calibration.points]
    thresholds = [p.threshold for p in calibration.points]
    assert fmrs == sorted(fmrs) and thresholds == sorted(thresholds)
    assert calibration.impostor_pairs >= 10 / fmrs[0]  # each point has data behind it
    # dlib's customary 0.6 sits between the measured 1e-3 and 1e-2 points on LFW.
    assert calibration.threshold_for(1e-3).value < 0.6 < calibration.threshold_for(1e-2).value


def test_measured_points_are_returned_exactly(calibration):
    for point in calibration.points:
        got = calibration.threshold_for(point.fmr)
        assert got.value == pytest.approx(point.threshold) and not got.extrapolated


@given(st.floats(min_value=1e-6, max_value=1e-2), st.floats(min_value=1e-6, max_value=1e-2))
def test_interpolation_is_monotone(a, b):
    calibration = load_calibration(MODEL)
    lo, hi = sorted((a, b))
    assert calibration.threshold_for(lo).value <= calibration.threshold_for(hi).value + 1e-12


def test_below_the_data_is_flagged(calibration):
    t = calibration.threshold_for(1e-9)
    assert t.extrapolated and t.value == calibration.points[0].threshold
    # 1:N: a 1% FPIR over 10M identities needs FMR 1e-9, far below what LFW can measure.
    assert calibration.dedup_threshold(1e-2, 10_000_000).extrapolated
    assert not calibration.dedup_threshold(1e-2, 1_000).extrapolated


def test_wrong_model_or_missing_file(tmp_path):
    with pytest.raises(CalibrationMissing):
        load_calibration("another_model")
    with pytest.raises(CalibrationMissing):
        load_calibration(MODEL, tmp_path / "none.json")
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"model_id": MODEL, "points": []}))
    with pytest.raises(CalibrationMissing):
        load_calibration(MODEL, empty)
