"""1:N identification and de-duplication on LFW, in-process, with the server's flat FaceIndex.

    python benchmarks/dedup_lfw.py              # both models; the encodings lfw_verify cached
    python benchmarks/dedup_lfw.py --faces DIR  # the corpus elsewhere (default ../shared/...)

Run once per model, sface (the default) and dlib (the baseline), on the same split.

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

from benchmarks.lfw_data import (  # noqa: E402
    MODELS,
    RESULTS,
    Encodings,
    add_faces_argument,
    all_images,
    encode,
    lfw_folder,
    person,
)
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


def plot(path: Path, runs: dict[str, dict]) -> None:
    """FNIR against FPIR of every model, and each model's distances to mate / to best."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 1 + len(runs), figsize=(6.5 * (1 + len(runs)), 5.2))
    det = axes[0]
    for model, run in runs.items():
        hit1, top_d, mate_d, non_sorted = run["curves"]
        span = np.linspace(float(mate_d.min()), float(non_sorted[-1]), 400)
        grid = np.unique(np.concatenate([non_sorted, span]))
        fpir = np.searchsorted(non_sorted, grid, side="left") / len(non_sorted)
        fnir_any = np.array([(mate_d >= t).mean() for t in grid])
        fnir_1 = np.array([(~(hit1 & (top_d < t))).mean() for t in grid])
        keep = fpir > 0
        det.plot(fpir[keep], fnir_any[keep], label=f"{model}: mate below t (any rank)")
        det.plot(fpir[keep], fnir_1[keep], ls="--", label=f"{model}: mate rank 1 and below t")
        points = run["points"]
        det.scatter([p["fpir_measured"] for p in points], [p["fnir_any_rank"] for p in points],
                    s=18, zorder=3, label=f"{model}: FPIR 1e-2 / 1e-3")
    det.set(xscale="log", yscale="log", xlabel="FPIR (non-mated probes)", ylabel="FNIR",
            title="LFW 1:N, gallery of one photo per person")
    det.grid(True, which="both", alpha=0.3)
    det.legend(fontsize=7)
    for hist, (model, run) in zip(axes[1:], runs.items(), strict=True):
        _histogram(hist, model, run)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _histogram(hist, model: str, run: dict) -> None:  # type: ignore[no-untyped-def]
    _, _, mate_d, non_sorted = run["curves"]
    bins = np.linspace(0, float(max(mate_d.max(), non_sorted[-1])) * 1.02, 121)
    hist.hist(non_sorted, bins=bins, density=True, alpha=0.5,
              label=f"non-mated best ({len(non_sorted):,})")
    hist.hist(mate_d, bins=bins, density=True, alpha=0.5, label=f"mated ({len(mate_d):,})")
    for p in run["points"]:
        hist.axvline(p["threshold"], color="k", lw=0.7, ls=":")
    hist.axvline(run["dup_threshold"], color="r", lw=0.8,
                 label=f"server dedup threshold {run['dup_threshold']:.3f}")
    hist.set(xlabel="Euclidean distance", ylabel="density",
             title=f"{model}: distance to mate / to best")
    hist.legend(fontsize=8)


def print_report(r: dict) -> None:
    print(f"\n== {r['model']} ({r['model_id']}) ==")
    print(f"gallery {r['gallery']} people (one photo each), mated probes {r['mated_probes']}, "
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
    add_faces_argument(ap)
    ap.add_argument("--holdout", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=20240501)
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated, in order")
    ap.add_argument("--processes", type=int, default=2)
    args = ap.parse_args()
    lfw = lfw_folder(args.faces)
    results, runs = {}, {}
    for model in [m for m in args.models.split(",") if m]:
        enc = encode(all_images(lfw), model, lfw, processes=args.processes)
        results[model], runs[model] = run_model(enc, args.holdout, args.seed)
        print_report(results[model])
    plot(RESULTS / "dedup_lfw.png", runs)
    rows = [{"model": m, "rank1": r["rank1"],
             **{f"fnir_at_fpir_{p['fpir']:.0e}": p["fnir_any_rank"] for p in r["points"]},
             "server_threshold": r["at_server_dedup_threshold"]["threshold"],
             "fnir_at_server_threshold": r["at_server_dedup_threshold"]["fnir_any_rank"],
             "fpir_at_server_threshold": r["at_server_dedup_threshold"]["fpir"]}
            for m, r in results.items()]
    (RESULTS / "dedup_lfw.json").write_text(json.dumps(
        {"benchmark": "dedup_lfw", "comparison": rows, "models": results}, indent=2) + "\n")
    print(f"\n{'model':>6} {'rank-1':>7} {'FNIR@1e-2':>10} {'FNIR@1e-3':>10} "
          f"{'server t':>9} {'FNIR@t':>7} {'FPIR@t':>7}")
    for r in rows:
        print(f"{r['model']:>6} {r['rank1']:>7.2%} {r['fnir_at_fpir_1e-02']:>10.2%} "
              f"{r['fnir_at_fpir_1e-03']:>10.2%} {r['server_threshold']:>9.4f} "
              f"{r['fnir_at_server_threshold']:>7.2%} {r['fpir_at_server_threshold']:>7.2%}")
    print(f"\nwrote {RESULTS / 'dedup_lfw.json'} and {RESULTS / 'dedup_lfw.png'}")


def run_model(enc: Encodings, holdout: float, seed: int) -> tuple[dict, dict]:
    s = split(enc, holdout, seed)
    ident = identification(enc, s)
    dups = gallery_duplicates(enc, s, enc.model_id)
    people = set(s["names"].tolist())
    accepted = {s["names"][r] for r in np.flatnonzero(enc.acquired)}
    result = {"benchmark": "dedup_lfw", "index": "flat", "seed": seed,
              "holdout_fraction": holdout, "model": enc.model, "model_id": enc.model_id,
              "photos": len(enc.paths),
              "fta_by_code": dict(Counter(str(c) for c in enc.codes if c)),
              "people": len(people), "people_without_template": len(people - accepted),
              "held_out_people": len(s["held_out_people"]), "gallery": len(s["gallery"]),
              "mated_probes": len(s["mated"]), "nonmated_probes": len(s["nonmated"]),
              "rank1": ident["rank1"], "points": ident["points"], "gallery_duplicates": dups}
    result["at_server_dedup_threshold"] = at_threshold(dups["threshold"], ident["curves"])
    run = {"curves": ident["curves"], "points": ident["points"],
           "dup_threshold": dups["threshold"]}
    return result, run


if __name__ == "__main__":
    main()
