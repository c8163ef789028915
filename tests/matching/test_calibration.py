"""Thresholds from the shipped calibration file (made by benchmarks/lfw_verify.py)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.calibration import CalibrationMissing, load_calibration

MODEL = "dlib_resnet_v1"
MODELS = ["sface", "dlib_resnet_v1"]


@pytest.fixture(scope="module", params=MODELS)
def calibration(request):
    return load_calibration(request.param)


def test_shipped_file_is_measured_and_ordered(calibration):
    fmrs = [p.fmr for p in calibration.points]
    thresholds = [p.threshold for p in calibration.points]
    assert fmrs == sorted(fmrs) and thresholds == sorted(thresholds)
    assert calibration.impostor_pairs >= 10 / fmrs[0]  # each point has data behind it


def test_customary_thresholds_sit_where_lfw_puts_them():
    # dlib's customary 0.6 sits between the measured 1e-3 and 1e-2 points on LFW.
    dlib = load_calibration("dlib_resnet_v1")
    assert dlib.threshold_for(1e-3).value < 0.6 < dlib.threshold_for(1e-2).value
    # OpenCV Zoo's SFace cosine 0.363 (distance 1.1287) sits between 5e-4 and 1e-3.
    sface = load_calibration("sface")
    assert sface.threshold_for(5e-4).value < 1.1287 < sface.threshold_for(1e-3).value


def test_sface_thresholds_carry_their_cosine():
    for p in load_calibration("sface").points:
        assert p.cosine == pytest.approx(1 - p.threshold**2 / 2, abs=1e-6)
    assert all(p.cosine is None for p in load_calibration("dlib_resnet_v1").points)


def test_measured_points_are_returned_exactly(calibration):
    for point in calibration.points:
        got = calibration.threshold_for(point.fmr)
        assert got.value == pytest.approx(point.threshold) and not got.extrapolated


CALIBRATIONS = {model: load_calibration(model) for model in MODELS}


# No deadline: the machine may be loaded, and a test never asserts on wall-clock time.
@pytest.mark.parametrize("model", MODELS)
@settings(deadline=None)
@given(a=st.floats(min_value=1e-6, max_value=1e-2), b=st.floats(min_value=1e-6, max_value=1e-2))
def test_interpolation_is_monotone(model, a, b):
    calibration = CALIBRATIONS[model]
    lo, hi = sorted((a, b))
    assert calibration.threshold_for(lo).value <= calibration.threshold_for(hi).value + 1e-12


def test_below_the_data_is_flagged(calibration):
    t = calibration.threshold_for(1e-9)
    assert t.extrapolated and t.value == calibration.points[0].threshold
    # 1:N: a 1% FPIR over 10M identities needs FMR 1e-9, far below what LFW can measure.
    assert calibration.dedup_threshold(1e-2, 10_000_000).extrapolated
    assert not calibration.dedup_threshold(1e-2, 1_000).extrapolated


def test_a_single_model_file_of_before_still_loads(tmp_path):
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"model_id": MODEL, "impostor_pairs": 100,
                               "points": [{"fmr": 0.1, "threshold": 0.5, "fnmr": 0.2}]}))
    assert load_calibration(MODEL, old).threshold_for(0.1).value == 0.5
    with pytest.raises(CalibrationMissing):
        load_calibration("sface", old)


def test_wrong_model_or_missing_file(tmp_path):
    with pytest.raises(CalibrationMissing):
        load_calibration("another_model")
    with pytest.raises(CalibrationMissing):
        load_calibration(MODEL, tmp_path / "none.json")
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"model_id": MODEL, "points": []}))
    with pytest.raises(CalibrationMissing):
        load_calibration(MODEL, empty)
