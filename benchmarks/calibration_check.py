"""Does the LFW calibration hold on other photos? FMR at the server's threshold, per model.

    python benchmarks/calibration_check.py              # Yale + samples, sface and dlib
    python benchmarks/calibration_check.py --faces DIR  # the corpus elsewhere

The server accepts a face when its distance to the enrolled template is below the threshold
that matching/data/calibration.json gives for AUTHD_FACE_FMR_TARGET (default 1e-3), measured
on LFW press photos. Here every photo of two other sets goes through the same FacePipeline:

- Yale (yale/subjectNN/*.gif: 15 people, 320x243 grey, eleven lighting and expression
  conditions each): every pair of two different people is an impostor pair, every pair of
  one person's photos a genuine pair;
- the samples (samples/<person>/, 6 people, colour photos of 320 px to 2,333 px; the
  _derivatives of one Obama photo count as Obama; _multi_face left out).

For each set and model: photos refused by code, impostor pairs, false matches at the server's
threshold (the measured FMR, with its 95% Wilson score interval) against the 1e-3 target,
the FNMR of the genuine pairs, and the same at the calibrated 1e-4 point. Writes
benchmarks/results/calibration_check.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from itertools import combinations
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.lfw_data import (  # noqa: E402
    MODELS,
    RESULTS,
    add_faces_argument,
    faces_folder,
    pipeline_of,
)
from matching.calibration import load_calibration  # noqa: E402
from matching.errors import MatchingError  # noqa: E402

FMR_TARGETS = (1e-3, 1e-4)  # the server's default face_fmr_target, and a stricter one


def photo_sets(faces: Path) -> dict[str, list[tuple[str, Path]]]:
    """(person, path) of each photo of each set."""
    yale = [(p.parent.name, p) for p in sorted((faces / "yale").glob("subject*/*.gif"))]
    samples = []
    for p in sorted((faces / "samples").glob("*/*")):
        folder = p.parent.name
        if folder == "_multi_face" or p.suffix.lower() not in (".jpg", ".jpeg", ".png"):
            continue
        samples.append(("obama" if folder == "_derivatives" else folder, p))
    return {"yale": yale, "samples": samples}


def encode_set(model: str, photos: list[tuple[str, Path]]) -> tuple[list, Counter]:
    pipeline = pipeline_of(model)
    encoded, refused = [], Counter()
    for who, path in photos:
        try:
            encoded.append((who, pipeline.extract(path.read_bytes()).vector))
        except MatchingError as exc:
            refused[exc.code] += 1
    return encoded, refused


def wilson(k: int, n: int) -> tuple[float, float]:
    """The 95% Wilson score interval of a binomial proportion k/n."""
    from statistics import NormalDist

    if n == 0:
        return (0.0, 1.0)
    z = NormalDist().inv_cdf(0.975)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def check(model: str, encoded: list, refused: Counter) -> dict:
    calibration = load_calibration(pipeline_of(model).encoder.model_id)
    impostor, genuine = [], []
    for (a, va), (b, vb) in combinations(encoded, 2):
        d = float(np.linalg.norm(va.astype(np.float64) - vb.astype(np.float64)))
        (genuine if a == b else impostor).append(d)
    imp, gen = np.array(impostor), np.array(genuine)
    points = []
    for target in FMR_TARGETS:
        t = calibration.threshold_for(target).value
        false_matches = int((imp < t).sum())
        low, high = wilson(false_matches, len(imp))
        points.append({"fmr_target": target, "threshold": t,
                       "impostor_pairs": len(imp), "false_matches": false_matches,
                       "fmr": false_matches / max(len(imp), 1), "fmr_95ci": [low, high],
                       "fmr_over_target": false_matches / max(len(imp), 1) / target,
                       "genuine_pairs": len(gen),
                       "fnmr": float((gen >= t).mean()) if len(gen) else None})
    return {"photos_acquired": len(encoded), "refused_by_code": dict(refused),
            "impostor_min_distance": float(imp.min()) if len(imp) else None,
            "points": points}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_faces_argument(ap)
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated, in order")
    args = ap.parse_args()
    sets = photo_sets(faces_folder(args.faces, "yale", "samples"))
    result: dict = {"benchmark": "calibration_check", "sets": {}}
    print(f"{'set':>8} {'model':>6} {'refused':>8} {'FMR target':>10} {'threshold':>9} "
          f"{'impostor':>9} {'false':>6} {'FMR':>9} {'95% CI':>19} {'x target':>8} {'FNMR':>7}")
    for name, photos in sets.items():
        result["sets"][name] = {"photos": len(photos), "models": {}}
        for model in [m for m in args.models.split(",") if m]:
            encoded, refused = encode_set(model, photos)
            r = check(model, encoded, refused)
            result["sets"][name]["models"][model] = r
            for p in r["points"]:
                low, high = p["fmr_95ci"]
                fnmr = "" if p["fnmr"] is None else f"{p['fnmr']:.2%}"
                print(f"{name:>8} {model:>6} {sum(refused.values()):>8} {p['fmr_target']:>10.0e} "
                      f"{p['threshold']:>9.4f} {p['impostor_pairs']:>9} {p['false_matches']:>6} "
                      f"{p['fmr']:>9.2e} [{low:.1e}, {high:.1e}] {p['fmr_over_target']:>8.2f} "
                      f"{fnmr:>7}")
    out = RESULTS / "calibration_check.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
