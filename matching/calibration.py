"""Decision thresholds read from a calibration file measured on real photos.

`benchmarks/lfw_verify.py` writes `matching/data/calibration.json`: one entry per model id
(`{"models": {model_id: entry}}`), each listing the distance threshold at which the measured
false-match rate (impostor pairs accepted) is at most each listed FMR; SFace's entry also
gives each threshold as the cosine similarity it stands for (its vectors are unit length:
cosine = 1 - d^2 / 2). A 1:1 verifier takes the threshold for its FMR target; a 1:N search
over N identities takes the one for FPIR / N, since FPIR ~ 1 - (1 - FMR)^N ~ N x FMR.
Everything is a distance, smaller = closer: accept when distance < threshold.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PATH = Path(__file__).with_name("data") / "calibration.json"


class CalibrationMissing(RuntimeError):
    """No calibration file, or none for this model: the server cannot decide safely."""


@dataclass(frozen=True)
class OperatingPoint:
    fmr: float
    threshold: float
    fnmr: float
    cosine: float | None = None  # the same threshold as a cosine similarity (unit vectors)


@dataclass(frozen=True)
class Threshold:
    value: float
    fmr: float  # the measured FMR this threshold was chosen at
    extrapolated: bool  # the target was below what the data could measure


@dataclass(frozen=True)
class Calibration:
    model_id: str
    points: tuple[OperatingPoint, ...]  # sorted by fmr, ascending
    impostor_pairs: int

    def threshold_for(self, fmr_target: float) -> Threshold:
        """The threshold for the target FMR: interpolated between the two measured points
        around it, linearly in log(FMR) (the impostor tail is close to log-linear there);
        below the lowest measured point, that point's threshold, flagged `extrapolated`."""
        lowest, highest = self.points[0], self.points[-1]
        if fmr_target < lowest.fmr:
            return Threshold(lowest.threshold, lowest.fmr, extrapolated=True)
        if fmr_target >= highest.fmr:
            return Threshold(highest.threshold, highest.fmr, extrapolated=False)
        above = next(i for i, p in enumerate(self.points) if p.fmr > fmr_target)
        lo, hi = self.points[above - 1], self.points[above]
        w = (math.log(fmr_target) - math.log(lo.fmr)) / (math.log(hi.fmr) - math.log(lo.fmr))
        return Threshold(lo.threshold + w * (hi.threshold - lo.threshold), fmr_target, False)

    def dedup_threshold(self, fpir_target: float, gallery_size: int) -> Threshold:
        return self.threshold_for(fpir_target / max(gallery_size, 1))


def load_calibration(model_id: str, path: Path = DEFAULT_PATH) -> Calibration:
    """The calibration of ``model_id`` (a template's model id: "sface", "dlib_resnet_v1")."""
    entry = _entries(path).get(model_id)
    if entry is None:
        raise CalibrationMissing(f"{path} has no calibration for face model {model_id}")
    points = sorted((_point(p) for p in entry.get("points", [])), key=lambda p: p.fmr)
    if not points:
        raise CalibrationMissing(f"{path} lists no operating points for {model_id}")
    return Calibration(model_id, tuple(points), int(entry.get("impostor_pairs", 0)))


def _entries(path: Path) -> dict[str, dict]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise CalibrationMissing(f"no calibration file at {path}") from exc
    if "models" in data:
        return dict(data["models"])
    return {data.get("model_id"): data}  # a single-model file, as written before SFace


def _point(p: dict) -> OperatingPoint:
    cosine = p.get("cosine")
    return OperatingPoint(float(p["fmr"]), float(p["threshold"]), float(p["fnmr"]),
                          None if cosine is None else float(cosine))
