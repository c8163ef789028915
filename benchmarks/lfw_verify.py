"""LFW verification through the server's own face pipeline, both models, and the calibration.

    python benchmarks/lfw_verify.py              # all 6,165 photos, sface and dlib (cached)
    python benchmarks/lfw_verify.py --limit 40   # 40 pairs per fold: a quick check
    python benchmarks/lfw_verify.py --faces DIR  # the corpus elsewhere (default ../shared/...)

Every photo goes through FacePipeline.extract on its file bytes (decode, detection, the
quality gate, the encoder), exactly as POST /v1/authenticate does, once per model: `sface`
(YuNet + SFace, the default) and `dlib` (HOG + ResNet, the baseline). A refused photo (a
failure to acquire, FTA) is counted by its error code, never dropped.

1. The pairs.txt protocol (View 2 folds 1-5, 300 matched + 300 mismatched each): per fold,
   the accuracy at the threshold that maximises accuracy on the other 4 folds; reported (a)
   with a pair that has an FTA counted as an error and (b) on pairs whose two photos were both
   acquired. TAR at FAR 1e-2 / 1e-3 from the 1,500 impostor pairs (resolution 1/1,500).
2. Calibration: every cross-identity pair of acquired photos (~18M) is an impostor pair and
   every same-identity pair a genuine one. For each FMR target with at least 10/FMR impostor
   pairs: threshold = the largest distance t with #(impostor distance < t) <= FMR x M, and
   FNMR = fraction of genuine distances >= t. The entries of the models named by
   `--calibrate` (default: sface) are written into matching/data/calibration.json, which the
   server reads with matching.calibration.load_calibration; the other entries are kept as
   they are (dlib's points are those measured before SFace came). SFace's distances are
   between unit vectors, so each point also gives its cosine similarity (1 - d^2 / 2).

Writes benchmarks/results/lfw_verify.json and lfw_det.png (a --limit run writes
lfw_verify.limit<N>.json / lfw_det.limit<N>.png and leaves the calibration file alone).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.lfw_data import (  # noqa: E402
    MODELS,
    RESULTS,
    ROOT,
    Encodings,
    Pair,
    add_faces_argument,
    all_images,
    encode,
    lfw_folder,
    person,
    read_pairs,
)

CALIBRATION = ROOT / "matching" / "data" / "calibration.json"
# A 1:N search over N identities needs the threshold for FPIR / N, so the list is dense (1-2-5)
# down to what 18M impostor pairs can support (about 10 / FMR pairs per point).
CALIBRATION_FMRS = tuple(float(f"{m}e{e}") for e in range(-6, -2) for m in (1, 2, 5)) + (1e-2,)
PROTOCOL_FARS = (1e-2, 1e-3)
# dlib's published LFW accuracy of dlib_face_recognition_resnet_model_v1 (10-fold View 2).
DLIB_REFERENCE = {"100_jitters": 99.38, "1_jitter": 99.13}
# Each model's customary "same person" threshold, as a distance: face_recognition's default
# compare_faces tolerance; OpenCV Zoo's SFace cosine threshold 0.363 (d = sqrt(2 - 2 cos)).
CUSTOMARY = {"dlib": (0.6, "face_recognition's tolerance 0.6"),
             "sface": (round(math.sqrt(2 - 2 * 0.363), 6), "OpenCV Zoo's cosine 0.363")}


def cosine_of(distance: float) -> float:
    """The cosine similarity of two unit vectors this Euclidean distance apart."""
    return 1.0 - distance * distance / 2.0


# ------------------------------------------------------------------ operating points


def threshold_at(impostors_sorted: np.ndarray, fmr: float) -> float:
    """Largest t with #(impostor < t) <= fmr x M, floored to 1e-6 (never rounds up)."""
    allowed = math.floor(fmr * len(impostors_sorted) * (1 + 1e-12))
    if allowed >= len(impostors_sorted):
        return float(impostors_sorted[-1])
    return math.floor(float(impostors_sorted[allowed]) * 1e6) / 1e6


def rate_below(sorted_values: np.ndarray, t: float) -> float:
    return float(np.searchsorted(sorted_values, t, side="left") / max(len(sorted_values), 1))


def best_threshold(distances: np.ndarray, genuine: np.ndarray) -> float:
    """The threshold (accept if distance < t) of highest accuracy: a midpoint between two
    consecutive sorted distances, the middle of the best run if several tie."""
    order = np.argsort(distances, kind="stable")
    d, g = distances[order], genuine[order]
    # accepting the first i pairs: correct = genuine among them + impostors after them
    correct = np.concatenate([[0], np.cumsum(g)]) + np.concatenate(
        [np.cumsum((~g)[::-1])[::-1], [0]])
    cuts = np.flatnonzero(correct == correct.max())
    i = int(cuts[len(cuts) // 2])
    if i == 0:
        return float(d[0])
    if i == len(d):
        return float(d[-1]) + 1e-6
    return float((d[i - 1] + d[i]) / 2)


def eer(genuine_sorted: np.ndarray, impostors_sorted: np.ndarray) -> tuple[float, float]:
    grid = np.unique(np.concatenate([genuine_sorted, impostors_sorted]))
    fmr = np.searchsorted(impostors_sorted, grid, side="left") / len(impostors_sorted)
    fnmr = 1 - np.searchsorted(genuine_sorted, grid, side="left") / len(genuine_sorted)
    i = int(np.argmin(np.abs(fmr - fnmr)))
    return float((fmr[i] + fnmr[i]) / 2), float(grid[i])


# ------------------------------------------------------------------ the pairs protocol


def pair_distances(pairs: list[Pair], enc: Encodings) -> tuple[np.ndarray, list[list[str]]]:
    """Distance per pair (NaN when a photo was not acquired) and the codes of its refusals."""
    rows = enc.row_of()
    out, refusals = np.full(len(pairs), np.nan), []
    for i, p in enumerate(pairs):
        a, b = rows[p.a], rows[p.b]
        refusals.append([str(enc.codes[r]) for r in (a, b) if enc.codes[r]])
        if not refusals[-1]:
            diff = enc.vectors[a].astype(np.float64) - enc.vectors[b].astype(np.float64)
            out[i] = math.sqrt(float(diff @ diff))
    return out, refusals


def protocol(pairs: list[Pair], enc: Encodings) -> dict:
    customary = CUSTOMARY[enc.model][0]
    d, refusals = pair_distances(pairs, enc)
    fold = np.array([p.fold for p in pairs])
    genuine = np.array([p.genuine for p in pairs])
    ok = ~np.isnan(d)
    folds = [_fold(k, d, genuine, fold, ok) for k in range(int(fold.max()) + 1)]
    acc_a = np.array([f["accuracy_fta_as_error"] for f in folds])
    acc_b = np.array([f["accuracy_acquired"] for f in folds])
    gen_sorted, imp_sorted = np.sort(d[ok & genuine]), np.sort(d[ok & ~genuine])
    return {
        "pairs": len(pairs),
        "pairs_acquired": int(ok.sum()),
        "pairs_with_fta": int((~ok).sum()),
        "pairs_with_fta_by_code": dict(Counter(c for r in refusals for c in set(r))),
        "genuine_pairs_with_fta": int((~ok & genuine).sum()),
        "impostor_pairs_with_fta": int((~ok & ~genuine).sum()),
        "folds": folds,
        "accuracy_fta_as_error": _summary(acc_a),
        "accuracy_acquired": _summary(acc_b),
        "gap_to_dlib_published_pp": {
            name: {"fta_as_error": round(acc_a.mean() * 100 - ref, 3),
                   "acquired": round(acc_b.mean() * 100 - ref, 3)}
            for name, ref in DLIB_REFERENCE.items()},
        "tar_at_far": [_tar_at(far, gen_sorted, imp_sorted, int(genuine.sum()))
                       for far in PROTOCOL_FARS],
        "far_resolution": 1 / max(len(imp_sorted), 1),
        "eer": eer(gen_sorted, imp_sorted)[0] if len(gen_sorted) and len(imp_sorted) else None,
        "at_customary_threshold": _at_threshold(customary, d, genuine, ok),
    }


def _fold(k: int, d: np.ndarray, genuine: np.ndarray, fold: np.ndarray, ok: np.ndarray) -> dict:
    train, test = ok & (fold != k), fold == k
    t = best_threshold(d[train], genuine[train])
    correct = ok & test & ((d < t) == genuine)
    return {"fold": k + 1, "threshold": round(t, 6), "pairs": int(test.sum()),
            "acquired": int((ok & test).sum()),
            "accuracy_fta_as_error": float(correct.sum() / test.sum()),
            "accuracy_acquired": float(correct.sum() / max((ok & test).sum(), 1))}


def _summary(acc: np.ndarray) -> dict:
    std = float(acc.std(ddof=1)) if len(acc) > 1 else 0.0
    return {"mean": float(acc.mean()), "std": std, "sem": std / math.sqrt(len(acc))}


def _tar_at(far: float, gen_sorted: np.ndarray, imp_sorted: np.ndarray, n_genuine: int) -> dict:
    if not len(imp_sorted):
        return {"far": far, "supported": False}
    t = threshold_at(imp_sorted, far)
    accepted = int(np.searchsorted(gen_sorted, t, side="left"))
    return {"far": far, "threshold": t, "far_measured": rate_below(imp_sorted, t),
            "impostors_accepted": int(np.searchsorted(imp_sorted, t, side="left")),
            "tar_acquired": accepted / max(len(gen_sorted), 1),
            "tar_fta_as_reject": accepted / max(n_genuine, 1)}


def _at_threshold(t: float, d: np.ndarray, genuine: np.ndarray, ok: np.ndarray) -> dict:
    correct = ok & ((d < t) == genuine)
    return {"threshold": t, "accuracy_fta_as_error": float(correct.mean()),
            "accuracy_acquired": float(correct.sum() / max(ok.sum(), 1)),
            "far": float((ok & ~genuine & (d < t)).sum() / max((ok & ~genuine).sum(), 1)),
            "frr_acquired": float((ok & genuine & (d >= t)).sum() / max((ok & genuine).sum(), 1))}


# ------------------------------------------------------------------ all pairs


def all_pair_distances(enc: Encodings, block: int = 512
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Over every pair of acquired photos: genuine distances (sorted), the person of each,
    and impostor distances (sorted)."""
    x = enc.vectors.astype(np.float64)
    labels = np.unique([person(p) for p in enc.paths], return_inverse=True)[1]
    sq = (x * x).sum(axis=1)
    genuine, owners, impostor = [], [], []
    for i0 in range(0, len(x), block):
        i1 = min(i0 + block, len(x))
        d2 = sq[i0:i1, None] + sq[None, i0:] - 2.0 * (x[i0:i1] @ x[i0:].T)
        d = np.sqrt(np.maximum(d2, 0.0))
        upper = np.arange(i0, len(x))[None, :] > np.arange(i0, i1)[:, None]
        same = labels[i0:i1, None] == labels[None, i0:]
        genuine.append(d[upper & same])
        owners.append(np.broadcast_to(labels[i0:i1, None], d.shape)[upper & same])
        impostor.append(d[upper & ~same])
    gen, own = np.concatenate(genuine), np.concatenate(owners)
    order = np.argsort(gen, kind="stable")
    return gen[order], own[order], np.sort(np.concatenate(impostor))


def person_weighted_fnmr(gen_sorted: np.ndarray, owners: np.ndarray, t: float) -> float:
    """FNMR averaged over people (each person's genuine pairs weigh 1 in total): a few
    people with hundreds of photos own most genuine pairs in LFW."""
    rejected = gen_sorted >= t
    pairs = np.bincount(owners)
    people = pairs > 0
    return float((np.bincount(owners, weights=rejected)[people] / pairs[people]).mean())


def calibration_points(gen_sorted: np.ndarray, owners: np.ndarray,
                       imp_sorted: np.ndarray) -> list[dict]:
    """The FMR targets the impostor count supports (>= 10 / FMR pairs), ascending."""
    points = []
    for fmr in sorted(CALIBRATION_FMRS):
        if len(imp_sorted) < 10 / fmr:
            continue
        t = threshold_at(imp_sorted, fmr)
        points.append({"fmr": fmr, "threshold": t,
                       "fnmr": round(1 - rate_below(gen_sorted, t), 6),
                       "fnmr_person_weighted": round(
                           person_weighted_fnmr(gen_sorted, owners, t), 6),
                       "fmr_measured": rate_below(imp_sorted, t),
                       "impostors_accepted": int(np.searchsorted(imp_sorted, t, side="left"))})
    return points


def calibration_file(enc: Encodings, n_gen: int, n_imp: int, points: list[dict]) -> dict:
    n_people = len({person(p) for p in enc.paths})
    entry = {
        "model_id": enc.model_id,
        "model_version": enc.model_version,
        "source": "benchmarks/lfw_verify.py",
        "dataset": f"LFW deep-funneled, View 2 sets 1-5: all pairs among the {len(enc.paths)} "
                   f"photos of {n_people} people acquired by FacePipeline",
        "genuine_pairs": n_gen,
        "impostor_pairs": n_imp,
        "points": [{k: p[k] for k in ("fmr", "threshold", "fnmr")} for p in points],
    }
    if enc.model == "sface":
        entry["distance"] = ("Euclidean distance of L2-normalised SFace features; cosine "
                             "similarity = 1 - distance^2 / 2 (accept if cosine >= it)")
        for point, p in zip(entry["points"], points, strict=True):
            point["cosine"] = round(cosine_of(p["threshold"]), 6)
    return entry


# ------------------------------------------------------------------ plot


def det_curve(gen_sorted: np.ndarray, imp_sorted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ks = np.unique(np.geomspace(1, len(imp_sorted) - 1, 400).astype(int))
    span = np.linspace(float(gen_sorted[0]), float(imp_sorted[-1]), 400)
    grid = np.unique(np.concatenate([imp_sorted[ks], span]))
    fmr = np.searchsorted(imp_sorted, grid, side="left") / len(imp_sorted)
    fnmr = 1 - np.searchsorted(gen_sorted, grid, side="left") / len(gen_sorted)
    keep = (fmr > 0) & (fnmr > 0)
    return fmr[keep], fnmr[keep]


def plot(path: Path, runs: dict[str, dict]) -> None:
    """DET of every model (all pairs and pairs.txt) and each model's distance histogram."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 1 + len(runs), figsize=(6.5 * (1 + len(runs)), 5.2))
    det = axes[0]
    for model, run in runs.items():
        for label, (gen, imp) in run["curves"].items():
            fmr, fnmr = det_curve(gen, imp) if len(gen) > 1 and len(imp) > 1 else ([], [])
            if len(fmr):
                det.plot(fmr, fnmr, label=f"{model}: {label}")
        points = run["points"]
        det.scatter([p["fmr_measured"] for p in points], [p["fnmr"] for p in points],
                    s=14, zorder=3, label=f"{model}: calibration points")
    det.set(xscale="log", yscale="log", xlabel="false match rate (FMR)",
            ylabel="false non-match rate (FNMR)", title="DET on LFW via FacePipeline")
    det.grid(True, which="both", alpha=0.3)
    det.legend(fontsize=7)
    for hist, (model, run) in zip(axes[1:], runs.items(), strict=True):
        _histogram(hist, model, run)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _histogram(hist, model: str, run: dict) -> None:  # type: ignore[no-untyped-def]
    gen, imp = run["all_pairs"]
    if not len(gen) or not len(imp):
        return
    bins = np.linspace(0, float(max(gen[-1], imp[-1])) * 1.02, 121)
    for values, name in ((imp, "impostor"), (gen, "genuine")):
        hist.hist(values, bins=bins, density=True, alpha=0.5, label=f"{name} ({len(values):,})")
    for p in run["points"]:
        hist.axvline(p["threshold"], color="k", lw=0.7, ls=":")
    value, label = CUSTOMARY[model]
    hist.axvline(value, color="r", lw=0.8, label=label)
    hist.set(yscale="log", xlabel="Euclidean distance", ylabel="density",
             title=f"{model}: all pairs of acquired photos (dotted: calibrated)")
    hist.legend(fontsize=8)


# ------------------------------------------------------------------ report


def fta_by_code(enc: Encodings) -> dict[str, int]:
    return dict(Counter(str(c) for c in enc.codes if c))


def print_report(model: str, result: dict) -> None:
    proto, cal = result["protocol"], result["calibration"]
    print(f"\n== {model} ({result['model_id']} {result['model_version']}) ==")
    print(f"photos {result['photos']}, acquired {result['photos_acquired']}, refused "
          f"{result['photos_refused_pct']:.2f}%, FTA by code {result['fta_by_code']}")
    print(f"pairs.txt: {proto['pairs']} pairs, {proto['pairs_with_fta']} with an FTA "
          f"{proto['pairs_with_fta_by_code']}")
    print(f"{'fold':>4} {'threshold':>9} {'acc (FTA=error)':>16} {'acc (acquired)':>15}")
    for f in proto["folds"]:
        print(f"{f['fold']:>4} {f['threshold']:>9.4f} {f['accuracy_fta_as_error']:>16.2%} "
              f"{f['accuracy_acquired']:>15.2%}")
    for key in ("accuracy_fta_as_error", "accuracy_acquired"):
        s = proto[key]
        print(f"mean {key:>22}: {s['mean']:.2%} +/- {s['std']:.2%} (sd)")
    for t in proto["tar_at_far"]:
        if t.get("supported", True):
            print(f"TAR @ FAR {t['far']:.0e}: {t['tar_acquired']:.2%} acquired, "
                  f"{t['tar_fta_as_reject']:.2%} FTA as reject (t={t['threshold']:.4f}, "
                  f"{t['impostors_accepted']} impostors accepted)")
    print(f"EER {proto['eer']:.2%}; at {CUSTOMARY[model][1]}: {proto['at_customary_threshold']}")
    print(f"calibration: {cal['genuine_pairs']:,} genuine, {cal['impostor_pairs']:,} impostor "
          f"(largest person's share of genuine pairs: "
          f"{cal['largest_person_share_of_genuine_pairs']:.0%})")
    print(f"{'FMR':>8} {'threshold':>10} {'cosine':>8} {'FNMR':>8} {'FNMR/person':>12} "
          f"{'measured FMR':>13} {'accepted':>9}")
    for p in cal["points"]:
        cosine = f"{cosine_of(p['threshold']):>8.4f}" if model == "sface" else f"{'':>8}"
        print(f"{p['fmr']:>8.0e} {p['threshold']:>10.6f} {cosine} {p['fnmr']:>8.2%} "
              f"{p['fnmr_person_weighted']:>12.2%} {p['fmr_measured']:>13.2e} "
              f"{p['impostors_accepted']:>9}")


def comparison(results: dict[str, dict]) -> list[dict]:
    rows = []
    for model, r in results.items():
        proto = r["protocol"]
        tar = {f"{t['far']:.0e}": t.get("tar_fta_as_reject") for t in proto["tar_at_far"]}
        rows.append({"model": model, "photos_refused_pct": r["photos_refused_pct"],
                     "accuracy_fta_as_error": proto["accuracy_fta_as_error"]["mean"],
                     "accuracy_acquired": proto["accuracy_acquired"]["mean"],
                     "tar_at_far_1e-3_fta_as_reject": tar.get("1e-03"),
                     "tar_at_far_1e-2_fta_as_reject": tar.get("1e-02"),
                     "eer_all_pairs": r["calibration"]["eer"],
                     "fta_by_code": r["fta_by_code"]})
    return rows


def print_comparison(rows: list[dict]) -> None:
    print(f"\n{'model':>6} {'refused':>8} {'acc FTA=err':>12} {'acc acquired':>13} "
          f"{'TAR@1e-3':>9} {'TAR@1e-2':>9} {'EER all':>8}  refusals")
    for r in rows:
        print(f"{r['model']:>6} {r['photos_refused_pct']:>7.2f}% "
              f"{r['accuracy_fta_as_error']:>12.2%} {r['accuracy_acquired']:>13.2%} "
              f"{r['tar_at_far_1e-3_fta_as_reject'] or 0:>9.2%} "
              f"{r['tar_at_far_1e-2_fta_as_reject'] or 0:>9.2%} {r['eer_all_pairs'] or 0:>8.3%}"
              f"  {r['fta_by_code']}")


def limited(pairs: list[Pair], per_fold: int) -> list[Pair]:
    keep, seen = [], Counter()
    for p in pairs:
        if seen[(p.fold, p.genuine)] < (per_fold + (1 if p.genuine else 0)) // 2:
            keep.append(p)
            seen[(p.fold, p.genuine)] += 1
    return keep


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_faces_argument(ap)
    ap.add_argument("--limit", type=int, help="pairs per fold (quick check; no calibration file)")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated, in order")
    ap.add_argument("--calibrate", default="sface",
                    help="models whose calibration entry this run writes (comma-separated; "
                         "'' for none); the other entries stay as they are")
    args = ap.parse_args()
    lfw = lfw_folder(args.faces)
    pairs = read_pairs(lfw)
    if args.limit:
        pairs = limited(pairs, args.limit)
        images = sorted({p.a for p in pairs} | {p.b for p in pairs})
    else:
        images = all_images(lfw)
    results, runs = {}, {}
    for model in [m for m in args.models.split(",") if m]:
        t0 = time.perf_counter()
        enc = encode(images, model, lfw, processes=args.processes)
        encode_s = time.perf_counter() - t0
        results[model], runs[model] = evaluate(pairs, enc, args.limit)
        results[model]["seconds"] = {"encode_or_load": round(encode_s, 1),
                                     "evaluate": round(time.perf_counter() - t0 - encode_s, 1)}
    suffix = f".limit{args.limit}" if args.limit else ""
    plot(RESULTS / f"lfw_det{suffix}.png", runs)
    calibrate = [] if args.limit else [m for m in args.calibrate.split(",") if m in results]
    write(results, suffix, calibrate)


def evaluate(pairs: list[Pair], enc: Encodings, limit: int | None) -> tuple[dict, dict]:
    acquired = enc.subset(enc.acquired)
    gen_all, owners, imp_all = all_pair_distances(acquired)
    points = calibration_points(gen_all, owners, imp_all)
    largest = np.bincount(owners).max() if len(owners) else 0
    d, _ = pair_distances(pairs, enc)
    genuine = np.array([p.genuine for p in pairs])
    ok = ~np.isnan(d)
    proto_sorted = (np.sort(d[ok & genuine]), np.sort(d[ok & ~genuine]))
    run = {"curves": {f"pairs.txt ({len(pairs):,})": proto_sorted,
                      f"all pairs ({len(imp_all):,} impostor)": (gen_all, imp_all)},
           "points": points, "all_pairs": (gen_all, imp_all)}
    refused = len(enc.paths) - int(enc.acquired.sum())
    customary = CUSTOMARY[enc.model][0]
    return {
        "benchmark": "lfw_verify", "limit_pairs_per_fold": limit, "model": enc.model,
        "model_id": enc.model_id, "model_version": enc.model_version,
        "pipeline": f"FacePipeline(load_encoder({enc.model!r}), "
                    f"PipelineSettings(model={enc.model!r}))",
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "photos": len(enc.paths), "photos_acquired": int(enc.acquired.sum()),
        "photos_refused_pct": 100.0 * refused / max(len(enc.paths), 1),
        "fta_by_code": fta_by_code(enc),
        "multi_face_photos_acquired": int((enc.faces_found > 1).sum()),
        "protocol": protocol(pairs, enc),
        "dlib_reference_accuracy_pct": DLIB_REFERENCE if enc.model == "dlib" else None,
        "calibration": {"genuine_pairs": len(gen_all), "impostor_pairs": len(imp_all),
                        "people_with_genuine_pairs": int((np.bincount(owners) > 0).sum()),
                        "largest_person_share_of_genuine_pairs":
                            float(largest / max(len(owners), 1)),
                        "eer": eer(gen_all, imp_all)[0] if len(gen_all) > 1 else None,
                        "customary_threshold": customary,
                        "fmr_at_customary": rate_below(imp_all, customary),
                        "fnmr_at_customary": 1 - rate_below(gen_all, customary),
                        "points": points,
                        "file": calibration_file(acquired, len(gen_all), len(imp_all), points)},
    }, run


def write(results: dict[str, dict], suffix: str, calibrate: list[str]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"lfw_verify{suffix}.json"
    rows = comparison(results)
    out.write_text(json.dumps({"benchmark": "lfw_verify", "comparison": rows,
                               "models": results}, indent=2) + "\n")
    for model, result in results.items():
        print_report(model, result)
    print_comparison(rows)
    if not calibrate:
        print(f"\nwrote {out} and lfw_det{suffix}.png (calibration file left unchanged)")
        return
    entries = calibration_entries(CALIBRATION)
    for model in calibrate:
        entry = results[model]["calibration"]["file"]
        entries[entry["model_id"]] = entry
    CALIBRATION.write_text(json.dumps({"models": entries}, indent=2) + "\n")
    print(f"\nwrote {out}, lfw_det.png and {CALIBRATION} (entries of {', '.join(calibrate)})")


def calibration_entries(path: Path) -> dict[str, dict]:
    """The file's entries by model id (a single-model file of before is one entry)."""
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return dict(data["models"]) if "models" in data else {data["model_id"]: data}


if __name__ == "__main__":
    main()
