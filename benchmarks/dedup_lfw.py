"""1:N identification and de-duplication on LFW, in-process, with the server's flat FaceIndex.

    python benchmarks/dedup_lfw.py          # uses the encodings lfw_verify.py cached

People of LFW (sets 1-5) are split with a seeded random 20% held out. Every other person is
enrolled with one photo (their lowest-numbered photo FacePipeline accepts) into a flat
matching.index.FaceIndex; their other photos are the mated probes. Every photo of a held-out
person is a non-mated probe (that person is NOT in the gallery).

- rank-1 identification rate of the mated probes;
- FNIR at FPIR 1e-2 and 1e-3: the threshold is set on the non-mated probes' best distances
  (largest t with #(best < t) <= FPIR x probes); a mated search is a miss at t when its mate
  is not below t (dedup view: any candidate rank) or not the rank-1 hit below t (rank-1 view);
- duplicate pairs inside the gallery (two enrolled names nearer than the calibrated dedup
  threshold the server would use for this gallery size, from matching/data/calibration.json).

Writes benchmarks/results/dedup_lfw.json and dedup_lfw.png.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.lfw_data import RESULTS, Encodings, all_images, encode, person  # noqa: E402
from benchmarks.lfw_verify import rate_below, threshold_at  # noqa: E402
from matching.calibration import load_calibration  # noqa: E402
from matching.dedup import within_batch_duplicates  # noqa: E402
from matching.index import FaceIndex, IndexSettings  # noqa: E402

FPIRS = (1e-2, 1e-3)
SERVER_DEDUP_FPIR = 1e-2  # authd Settings.dedup_fpir_target's default


def split(enc: Encodings, holdout: float, seed: int) -> dict[str, np.ndarray]:
    """Row indices: gallery (one per enrolled person), mated probes, non-mated probes."""
    names = np.array([person(p) for p in enc.paths])
    people = sorted(set(names.tolist()))
    rng = random.Random(seed)  # noqa: S311 - a reproducible split, not a secret
    held = set(rng.sample(people, round(holdout * len(people))))
    gallery, mated, nonmated = [], [], []
    for name in people:
        rows = [r for r in np.flatnonzero(names == name) if enc.codes[r] == ""]
        if name in held:
            nonmated += rows
        elif rows:
            gallery.append(rows[0])  # paths are sorted: the lowest-numbered accepted photo
            mated += rows[1:]
    return {"gallery": np.array(gallery), "mated": np.array(mated, dtype=int),
            "nonmated": np.array(nonmated, dtype=int), "held_out_people": np.array(sorted(held)),
            "names": names}


def search(index: FaceIndex, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rank-1 (gallery position, distance) of each row of x."""
    hits = index.search(x, 1)
    return (np.array([h[0].id for h in hits]), np.array([h[0].distance for h in hits]))


def identification(enc: Encodings, s: dict[str, np.ndarray]) -> dict:
    x = enc.vectors.astype(np.float32)
    gallery = s["gallery"]
    index = FaceIndex.build(IndexSettings(kind="flat"), np.arange(len(gallery)), x[gallery])
    position = {s["names"][r]: i for i, r in enumerate(gallery)}
    mate = np.array([position[s["names"][r]] for r in s["mated"]])
    top_id, top_d = search(index, x[s["mated"]])
    mate_d = np.linalg.norm(x[s["mated"]].astype(np.float64) - x[gallery][mate], axis=1)
    _, non_d = search(index, x[s["nonmated"]])
    non_sorted = np.sort(non_d)
    points = [_fnir_at(fpir, non_sorted, top_id == mate, top_d, mate_d) for fpir in FPIRS]
    return {"rank1": float((top_id == mate).mean()), "points": points,
            "curves": (top_id == mate, top_d, mate_d, non_sorted)}


def _fnir_at(fpir: float, non_sorted: np.ndarray, hit1: np.ndarray, top_d: np.ndarray,
             mate_d: np.ndarray) -> dict:
    t = threshold_at(non_sorted, fpir)
    return {"fpir": fpir, "threshold": t, "fpir_measured": rate_below(non_sorted, t),
            "false_positives": int(np.searchsorted(non_sorted, t, side="left")),
            "supported": len(non_sorted) >= 10 / fpir,
            "fnir_any_rank": float((mate_d >= t).mean()),
            "fnir_rank1": float((~(hit1 & (top_d < t))).mean())}


def at_threshold(t: float, curves: tuple) -> dict:
    """What enrollment dedup at threshold t does with these probes: a mated probe is a
    re-enrollment to catch, a non-mated one a new person who should pass."""
    hit1, top_d, mate_d, non_sorted = curves
    return {"threshold": t, "fnir_any_rank": float((mate_d >= t).mean()),
            "fpir": rate_below(non_sorted, t)}


def gallery_duplicates(enc: Encodings, s: dict[str, np.ndarray], model_id: str) -> dict:
    gallery = s["gallery"]
    calibration = load_calibration(model_id)
    threshold = calibration.dedup_threshold(SERVER_DEDUP_FPIR, len(gallery))
    pairs = within_batch_duplicates(enc.vectors[gallery], threshold.value)
    named = [{"a": str(enc.paths[gallery[i]]), "b": str(enc.paths[gallery[j]]),
              "distance": round(d, 4)} for i, j, d in pairs]
    looser = {f"{p.fmr:.0e}": len(within_batch_duplicates(enc.vectors[gallery], p.threshold))
              for p in calibration.points}
    return {"fpir_target": SERVER_DEDUP_FPIR, "gallery_size": len(gallery),
            "threshold": threshold.value, "threshold_fmr": threshold.fmr,
            "extrapolated": threshold.extrapolated, "pairs": named,
            "pairs_at_each_calibration_point": looser}


def plot(path: Path, curves: tuple, points: list[dict], dup_threshold: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hit1, top_d, mate_d, non_sorted = curves
    grid = np.unique(np.concatenate([non_sorted, np.linspace(0.2, 1.0, 400)]))
    fpir = np.searchsorted(non_sorted, grid, side="left") / len(non_sorted)
    fnir_any = np.array([(mate_d >= t).mean() for t in grid])
    fnir_1 = np.array([(~(hit1 & (top_d < t))).mean() for t in grid])
    fig, (det, hist) = plt.subplots(1, 2, figsize=(13, 5.2))
    keep = fpir > 0
    det.plot(fpir[keep], fnir_any[keep], label="FNIR: mate below t (any rank)")
    det.plot(fpir[keep], fnir_1[keep], label="FNIR: mate rank 1 and below t")
    det.scatter([p["fpir_measured"] for p in points], [p["fnir_any_rank"] for p in points],
                color="k", s=18, zorder=3, label="FPIR 1e-2 / 1e-3 thresholds")
    det.set(xscale="log", yscale="log", xlabel="FPIR (non-mated probes)", ylabel="FNIR",
            title="LFW 1:N, gallery of one photo per person")
    det.grid(True, which="both", alpha=0.3)
    det.legend(fontsize=8)
    bins = np.linspace(0, 1.2, 121)
    hist.hist(non_sorted, bins=bins, density=True, alpha=0.5,
              label=f"non-mated best ({len(non_sorted):,})")
    hist.hist(mate_d, bins=bins, density=True, alpha=0.5, label=f"mated ({len(mate_d):,})")
    for p in points:
        hist.axvline(p["threshold"], color="k", lw=0.7, ls=":")
    hist.axvline(dup_threshold, color="r", lw=0.8,
                 label=f"server dedup threshold {dup_threshold:.3f}")
    hist.set(xlabel="Euclidean distance", ylabel="density", title="distance to mate / to best")
    hist.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def print_report(r: dict) -> None:
    print(f"\ngallery {r['gallery']} people (one photo each), mated probes {r['mated_probes']}, "
          f"non-mated probes {r['nonmated_probes']} ({r['held_out_people']} people held out)")
    print(f"FTA by code (all photos): {r['fta_by_code']}; people with no accepted photo: "
          f"{r['people_without_template']}")
    print(f"rank-1 identification rate: {r['rank1']:.2%}")
    print(f"{'FPIR':>6} {'threshold':>10} {'measured':>9} {'FP':>4} {'FNIR any rank':>14} "
          f"{'FNIR rank-1':>12}")
    for p in r["points"]:
        note = "" if p["supported"] else "  (fewer than 10/FPIR non-mated probes)"
        print(f"{p['fpir']:>6.0e} {p['threshold']:>10.4f} {p['fpir_measured']:>9.2e} "
              f"{p['false_positives']:>4} {p['fnir_any_rank']:>14.2%} "
              f"{p['fnir_rank1']:>12.2%}{note}")
    a = r["at_server_dedup_threshold"]
    print(f"at the server's dedup threshold {a['threshold']:.4f}: FNIR {a['fnir_any_rank']:.2%} "
          f"(re-enrollments missed), FPIR {a['fpir']:.2%}")
    d = r["gallery_duplicates"]
    print(f"\ngallery duplicates at the server's dedup threshold {d['threshold']:.4f} "
          f"(FPIR {d['fpir_target']} / {d['gallery_size']} -> calibrated FMR "
          f"{d['threshold_fmr']:.0e}"
          f"{', extrapolated' if d['extrapolated'] else ''}): {len(d['pairs'])} pairs")
    for p in d["pairs"][:15]:
        print(f"  {p['distance']:.4f}  {p['a']}  {p['b']}")
    print(f"pairs at each calibration threshold: {d['pairs_at_each_calibration_point']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--holdout", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=20240501)
    args = ap.parse_args()
    enc = encode(all_images())
    s = split(enc, args.holdout, args.seed)
    ident = identification(enc, s)
    dups = gallery_duplicates(enc, s, enc.model_id)
    people = set(s["names"].tolist())
    accepted = {s["names"][r] for r in np.flatnonzero(enc.acquired)}
    result = {"benchmark": "dedup_lfw", "index": "flat", "seed": args.seed,
              "holdout_fraction": args.holdout, "model_id": enc.model_id,
              "photos": len(enc.paths),
              "fta_by_code": dict(Counter(str(c) for c in enc.codes if c)),
              "people": len(people), "people_without_template": len(people - accepted),
              "held_out_people": len(s["held_out_people"]), "gallery": len(s["gallery"]),
              "mated_probes": len(s["mated"]), "nonmated_probes": len(s["nonmated"]),
              "rank1": ident["rank1"], "points": ident["points"], "gallery_duplicates": dups}
    result["at_server_dedup_threshold"] = at_threshold(dups["threshold"], ident["curves"])
    plot(RESULTS / "dedup_lfw.png", ident["curves"], ident["points"], dups["threshold"])
    (RESULTS / "dedup_lfw.json").write_text(json.dumps(result, indent=2) + "\n")
    print_report(result)
    print(f"\nwrote {RESULTS / 'dedup_lfw.json'} and {RESULTS / 'dedup_lfw.png'}")


if __name__ == "__main__":
    main()
