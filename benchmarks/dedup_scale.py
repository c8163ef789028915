"""1:N dedup at scale: flat vs HNSW vs IVF on galleries grown from real LFW encodings.

    python benchmarks/dedup_scale.py                 # 100k and 1M (~10 min on 2 cores)
    python benchmarks/dedup_scale.py --sizes 100000  # one size

Gallery: a few hundred real dlib encodings (one photo per LFW person, cached in
benchmarks/results/.cache/), each the seed of many synthetic identities = seed + gaussian
noise, rescaled to a norm drawn from the real norms (dlib encodings are not unit vectors).
The noise sigma makes two identities grown from one seed as far apart as two real people
are from their nearest other person; both nearest-neighbour distributions are printed.
Probes = a gallery identity + noise of the size of a real second photo of the same person.

Per index kind: build time, single-query search latency (1 FAISS thread), recall@10 against
exact search, bytes per identity (serialized file / n, and RSS growth / n). At 100k also the
brute force most projects run (face_recognition.face_distance over the whole gallery).
Writes benchmarks/results/dedup_scale.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import resource
import secrets
import sys
import tempfile
import threading
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from keys import Sealer  # noqa: E402
from matching.index import FaceIndex, IndexSettings, set_num_threads  # noqa: E402

LFW = ROOT.parent / "shared" / "data" / "faces" / "lfw" / "images"
RESULTS = ROOT / "benchmarks" / "results"
CACHE = RESULTS / ".cache"
D, K = 128, 10
MACHINE_GIB = 24
KINDS = ("flat", "hnsw", "ivf")


# ------------------------------------------------------------------ real encodings


def _encode(path: str) -> np.ndarray | None:
    import face_recognition  # benchmark-only: the service goes through matching.encoder

    image = face_recognition.load_image_file(path)
    boxes = face_recognition.face_locations(image)
    if not boxes:
        return None
    box = max(boxes, key=lambda b: (b[2] - b[0]) * (b[1] - b[3]))
    return face_recognition.face_encodings(image, [box])[0]


def real_encodings(n_people: int) -> dict[str, np.ndarray]:
    """Photo 1 of n_people people ('first') and photo 2 of those who have one ('second')."""
    cache = CACHE / f"lfw_{n_people}.npz"
    if cache.exists():
        return dict(np.load(cache))
    people = sorted(p for p in LFW.iterdir() if p.is_dir())[:n_people]
    paths = [str(p / f"{p.name}_0001.jpg") for p in people]
    seconds = [str(p / f"{p.name}_0002.jpg") for p in people if (p / f"{p.name}_0002.jpg").exists()]
    t = time.perf_counter()
    with Pool(2) as pool:
        firsts = pool.map(_encode, paths + seconds, chunksize=8)
    print(f"encoded {len(firsts)} LFW photos in {time.perf_counter() - t:.0f}s (cached)")
    by_path = dict(zip(paths + seconds, firsts, strict=True))
    pairs = [(by_path[f"{s[:-9]}_0001.jpg"], by_path[s]) for s in seconds]
    pairs = [(a, b) for a, b in pairs if a is not None and b is not None]
    out = {"first": np.array([e for e in (by_path[p] for p in paths) if e is not None]),
           "pair_a": np.array([a for a, _ in pairs]), "pair_b": np.array([b for _, b in pairs])}
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **out)
    return out


def percentiles(x: np.ndarray) -> dict[str, float]:
    return {f"p{p}": round(float(np.percentile(x, p)), 3) for p in (1, 5, 50, 95)}


def real_statistics(real: dict[str, np.ndarray]) -> dict[str, object]:
    first = real["first"]
    d = np.linalg.norm(first[:, None] - first[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    return {"people": len(first), "norm_mean": float(np.linalg.norm(first, axis=1).mean()),
            "norm_std": float(np.linalg.norm(first, axis=1).std()),
            "nn_other_person": percentiles(d.min(axis=1)),
            "same_person": percentiles(np.linalg.norm(real["pair_a"] - real["pair_b"], axis=1)),
            "max_pair_distance": float(d[np.isfinite(d)].max())}


# ------------------------------------------------------------------ synthetic gallery


def grow(seeds: np.ndarray, norms: np.ndarray, n: int, sigma: float, rng: np.random.Generator,
         start: np.ndarray | None = None) -> np.ndarray:
    """n vectors = a seed (or the given start rows) + N(0, sigma^2), rescaled to a real norm."""
    out = np.empty((n, D), np.float32)
    for lo in range(0, n, 100_000):
        m = min(100_000, n - lo)
        base = seeds[rng.integers(0, len(seeds), m)] if start is None else start[lo:lo + m]
        v = base + rng.normal(0.0, sigma, size=(m, D))
        v *= (rng.choice(norms, m) / np.linalg.norm(v, axis=1))[:, None]
        out[lo:lo + m] = v
    return out


def synthetic_nn(index: FaceIndex, gallery: np.ndarray, rng: np.random.Generator) -> dict:
    rows = rng.choice(len(gallery), 500, replace=False)
    hits = index.search(gallery[rows], 2)
    return percentiles(np.array([h[1].distance for h in hits]))


def calibrate_sigma(real: dict, n: int, target: float) -> float:
    """Sigma whose median nearest-sibling distance, at n/len(seeds) siblings per seed, is the
    real median nearest-other-person distance (siblings crowd closer as the gallery grows)."""
    seeds, norms = real["first"], np.linalg.norm(real["first"], axis=1)
    group = max(2, min(n // len(seeds), 1500))
    sigma = target / np.sqrt(2 * D)
    for step in range(3):
        rng = np.random.default_rng(step)
        nn = [_nearest_sibling(grow(seeds, norms, group, sigma, rng,
                                    start=np.repeat(seeds[i:i + 1], group, axis=0)))
              for i in rng.choice(len(seeds), 12, replace=False)]
        sigma *= target / float(np.median(np.concatenate(nn)))
    return float(sigma)


def _nearest_sibling(v: np.ndarray) -> np.ndarray:
    g = v.astype(np.float64) @ v.T.astype(np.float64)
    sq = np.diag(g)[:, None] + np.diag(g)[None, :] - 2 * g
    np.fill_diagonal(sq, np.inf)
    return np.sqrt(np.maximum(sq.min(axis=1), 0))


# ------------------------------------------------------------------ measuring


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def latencies(search, queries: np.ndarray) -> np.ndarray:  # noqa: ANN001
    out = np.empty(len(queries))
    for i, q in enumerate(queries):
        t = time.perf_counter()
        search(q)
        out[i] = time.perf_counter() - t
    return out * 1e3


def settings_for(kind: str) -> IndexSettings:
    return IndexSettings(kind=kind)  # type: ignore[arg-type]


def measure_kind(kind: str, gallery: np.ndarray, queries: np.ndarray,
                 exact: list[set[int]] | None) -> tuple[dict, FaceIndex]:
    gc.collect()
    set_num_threads(2)
    before, t = rss_bytes(), time.perf_counter()
    index = FaceIndex.build(settings_for(kind), np.arange(len(gallery)), gallery)
    build_s, rss_delta = time.perf_counter() - t, rss_bytes() - before
    with tempfile.TemporaryDirectory() as tmp:
        index.save(Path(tmp) / "i.idx", Sealer([("bench", secrets.token_bytes(32))]), "bench")
        file_bytes = (Path(tmp) / "i.idx").stat().st_size
    set_num_threads(1)
    ms = latencies(lambda q: index.search(q, K), queries)
    found = [{h.id for h in hits} for hits in index.search(queries, K)]
    truth = exact or found
    recall = float(np.mean([len(f & t) / K for f, t in zip(found, truth, strict=True)]))
    row = {"kind": kind, "n": len(gallery), "build_s": round(build_s, 2),
           "p50_ms": round(float(np.percentile(ms, 50)), 3),
           "p99_ms": round(float(np.percentile(ms, 99)), 3), "recall_at_10": round(recall, 4),
           "file_bytes_per_id": round(file_bytes / len(gallery), 1),
           "rss_bytes_per_id": round(rss_delta / len(gallery), 1)}
    return row, index


def parallel_speedup(index: FaceIndex, queries: np.ndarray) -> float:
    """Throughput of 2 searching threads over 1 (1 FAISS thread each): the read lock's worth."""
    def run(qs: np.ndarray) -> None:
        for q in qs:
            index.search(q, K)

    t = time.perf_counter()
    run(queries)
    one = time.perf_counter() - t
    halves = np.array_split(queries, 2)
    threads = [threading.Thread(target=run, args=(h,)) for h in halves]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return round(one / (time.perf_counter() - t), 2)


def brute_force(gallery: np.ndarray, queries: np.ndarray) -> float:
    import face_recognition

    ms = latencies(lambda q: np.argsort(face_recognition.face_distance(gallery, q))[:K], queries)
    return round(float(np.percentile(ms, 50)), 3)


# ------------------------------------------------------------------ one size


def run_size(n: int, real: dict, stats: dict, n_queries: int) -> dict:
    rng = np.random.default_rng(n)
    sigma = calibrate_sigma(real, n, stats["nn_other_person"]["p50"])
    # A probe lies ~probe_sigma*sqrt(D) from its identity: a real second photo's distance.
    probe_sigma = stats["same_person"]["p50"] / np.sqrt(D)
    norms = np.linalg.norm(real["first"], axis=1)
    t = time.perf_counter()
    gallery = grow(real["first"], norms, n, sigma, rng)
    sources = rng.choice(n, n_queries, replace=False)
    queries = grow(real["first"], norms, n_queries, probe_sigma, rng, start=gallery[sources])
    print(f"\n== n = {n:,}: gallery grown in {time.perf_counter() - t:.1f}s, "
          f"sigma {sigma:.4f}, probe sigma {probe_sigma:.4f}")
    rows, exact = [], None
    out: dict = {"n": n, "sigma": sigma, "probe_sigma": probe_sigma}
    for kind in KINDS:
        row, index = measure_kind(kind, gallery, queries, exact)
        if kind == "flat":
            exact = [{h.id for h in hits} for hits in index.search(queries, K)]
            out["synthetic_nn_other_identity"] = synthetic_nn(index, gallery, rng)
            top = [hits[0].id for hits in index.search(queries, 1)]
            out["probe_rank1_is_source"] = float(np.mean(np.array(top) == sources))
            out["parallel_search_speedup_2_threads"] = parallel_speedup(index, queries)
        rows.append(row)
        print("  " + "  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
        del index
        gc.collect()
    if n <= 200_000:
        out["face_distance_p50_ms"] = brute_force(gallery, queries[:100])
        for row in rows:
            row["speedup_vs_face_distance"] = round(out["face_distance_p50_ms"] / row["p50_ms"], 1)
    out["rows"] = rows
    return out


# ------------------------------------------------------------------ report


def estimate_10m(results: list[dict]) -> list[dict]:
    """Memory for 10M identities, from the largest size measured."""
    largest = max(results, key=lambda r: r["n"])
    out = []
    for row in largest["rows"]:
        per_id = max(row["file_bytes_per_id"], row["rss_bytes_per_id"])
        gib = per_id * 10_000_000 / 2**30
        out.append({"kind": row["kind"], "bytes_per_id": per_id, "index_gib": round(gib, 1),
                    "build_s_extrapolated": round(row["build_s"] * 10_000_000 / largest["n"]),
                    "plus_gallery_gib": round(gib + 10_000_000 * D * 4 / 2**30, 1),
                    "fits_24_gib": gib + 10_000_000 * D * 4 / 2**30 < MACHINE_GIB * 0.8})
    return out


def print_table(results: list[dict]) -> None:
    head = (f"{'n':>9} {'kind':<5} {'build s':>8} {'p50 ms':>8} {'p99 ms':>8} {'recall@10':>9} "
            f"{'B/id file':>9} {'B/id RSS':>9} {'vs face_distance':>16}")
    print("\n" + head + "\n" + "-" * len(head))
    for res in results:
        for r in res["rows"]:
            speed = f"x{r['speedup_vs_face_distance']}" if "speedup_vs_face_distance" in r else "-"
            print(f"{r['n']:>9,} {r['kind']:<5} {r['build_s']:>8} {r['p50_ms']:>8} "
                  f"{r['p99_ms']:>8} {r['recall_at_10']:>9} {r['file_bytes_per_id']:>9} "
                  f"{r['rss_bytes_per_id']:>9} {speed:>16}")
        print(f"{res['n']:>9,} 2 threads searching the flat index: "
              f"x{res['parallel_search_speedup_2_threads']} the throughput of 1")
        if "face_distance_p50_ms" in res:
            print(f"{res['n']:>9,} face_recognition.face_distance brute force: "
                  f"p50 {res['face_distance_p50_ms']} ms/query")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000",
                        help="comma-separated gallery sizes (10000000 needs ~15 GiB and hours)")
    parser.add_argument("--people", type=int, default=400, help="LFW people to seed from")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--out", type=Path, default=RESULTS / "dedup_scale.json")
    args = parser.parse_args()
    started = time.perf_counter()
    real = real_encodings(args.people)
    stats = real_statistics(real)
    print("real LFW encodings:", json.dumps(stats))
    results = [run_size(int(n), real, stats, args.queries) for n in args.sizes.split(",")]
    print(f"\nnearest other identity, real ({stats['people']} people): {stats['nn_other_person']}")
    for res in results:
        print(f"  synthetic at n={res['n']:,}: {res['synthetic_nn_other_identity']}; probe's "
              f"rank-1 is its identity {res['probe_rank1_is_source']:.1%} (exact search)")
    print_table(results)
    est = estimate_10m(results)
    ran_10m = any(r["n"] >= 10_000_000 for r in results)
    ran = "run" if ran_10m else "not run: estimate"
    print(f"\n10M identities ({ran}; machine {MACHINE_GIB} GiB):")
    for e in est:
        print(f"  {e['kind']:<5} {e['bytes_per_id']:>7} B/id -> index {e['index_gib']} GiB, "
              f"with the benchmark's float32 gallery {e['plus_gallery_gib']} GiB, "
              f"fits: {e['fits_24_gib']}; build ~{e['build_s_extrapolated']} s (linear)")
    report = {"machine": {"cpus": len(__import__("os").sched_getaffinity(0)),
                          "python": platform.python_version(), "ram_gib": MACHINE_GIB},
              "real": stats, "k": K,
              "sizes": results, "estimate_10m": est, "ran_10m": ran_10m,
              "total_s": round(time.perf_counter() - started, 1)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(f"\nwrote {args.out} in {report['total_s']}s")


if __name__ == "__main__":
    main()
