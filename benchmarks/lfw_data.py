"""LFW for the benchmarks: the pairs protocol, and every photo encoded through the server's
own FacePipeline (decode -> detect -> quality gate -> encoder), cached.

The cache (benchmarks/results/.cache/, gitignored) is one .npz per encoder + pipeline
settings, keyed inside by the photo's path relative to the LFW folder: changing the model,
the quality thresholds or the image limits starts a new cache instead of reusing stale
vectors. A photo the pipeline refuses is cached with its error code (face_not_found,
multiple_faces, ...), never dropped.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LFW = ROOT.parent / "shared" / "data" / "faces" / "lfw"
RESULTS = ROOT / "benchmarks" / "results"
CACHE = RESULTS / ".cache"
ACQUIRED = ""  # the code of a photo the pipeline accepted


# ------------------------------------------------------------------ the pairs protocol


@dataclass(frozen=True)
class Pair:
    fold: int
    genuine: bool
    a: str  # image path relative to the LFW folder
    b: str


def image_path(name: str, number: int) -> str:
    return f"images/{name}/{name}_{number:04d}.jpg"


def read_pairs(path: Path = LFW / "pairs.txt") -> list[Pair]:
    """View 2 pairs: header 'folds<TAB>n', then per fold n matched and n mismatched lines."""
    lines = path.read_text().splitlines()
    folds, per_fold = (int(v) for v in lines[0].split())
    rows = [line.split("\t") for line in lines[1:] if line.strip()]
    if len(rows) != 2 * folds * per_fold:
        raise ValueError(f"{path}: expected {2 * folds * per_fold} pairs, found {len(rows)}")
    return [_pair(i // (2 * per_fold), row) for i, row in enumerate(rows)]


def _pair(fold: int, row: list[str]) -> Pair:
    if len(row) == 3:
        return Pair(fold, True, image_path(row[0], int(row[1])), image_path(row[0], int(row[2])))
    if len(row) == 4:
        return Pair(fold, False, image_path(row[0], int(row[1])), image_path(row[2], int(row[3])))
    raise ValueError(f"bad pairs.txt line: {row}")


def all_images() -> list[str]:
    return sorted(str(p.relative_to(LFW)) for p in (LFW / "images").glob("*/*.jpg"))


def person(relpath: str) -> str:
    return relpath.split("/")[1]


# ------------------------------------------------------------------ encodings


@dataclass(frozen=True)
class Encodings:
    """Rows in path order; ``codes[i] == ACQUIRED`` iff ``vectors[i]`` is a real template."""

    paths: np.ndarray  # str
    vectors: np.ndarray  # (n, 128) float32, NaN rows for refusals
    codes: np.ndarray  # str
    faces_found: np.ndarray  # int, detector boxes in the photo (-1 if not detected)
    model_id: str
    model_version: str

    @property
    def acquired(self) -> np.ndarray:
        return self.codes == ACQUIRED

    def row_of(self) -> dict[str, int]:
        return {str(p): i for i, p in enumerate(self.paths)}

    def subset(self, mask: np.ndarray) -> Encodings:
        return Encodings(self.paths[mask], self.vectors[mask], self.codes[mask],
                         self.faces_found[mask], self.model_id, self.model_version)


def _pipeline():  # type: ignore[no-untyped-def]
    from matching.encoder import DlibEncoder
    from matching.pipeline import FacePipeline, PipelineSettings

    return FacePipeline(DlibEncoder(), PipelineSettings())


def cache_file(pipeline) -> Path:  # type: ignore[no-untyped-def]
    enc = pipeline.encoder
    key = (f"{enc.model_id}|{enc.model_version}|jitters={getattr(enc, 'num_jitters', '?')}"
           f"|upsample={getattr(enc, 'upsample', '?')}|{pipeline.settings!r}")
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return CACHE / f"lfw_pipeline_{enc.model_id}_{digest}.npz"


_WORKER = None


def _init_worker() -> None:
    global _WORKER
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _WORKER = _pipeline()


def _encode_one(relpath: str) -> tuple[str, np.ndarray | None, str, int]:
    from matching.errors import MatchingError

    assert _WORKER is not None
    try:
        template = _WORKER.extract((LFW / relpath).read_bytes())
    except MatchingError as exc:
        return relpath, None, exc.code, -1
    except Exception as exc:  # noqa: BLE001 - counted as its own code, never dropped
        return relpath, None, f"exception:{type(exc).__name__}", -1
    return relpath, template.vector, ACQUIRED, int(template.quality.faces_found)


def encode(relpaths: list[str], processes: int = 2, save_every: int = 500) -> Encodings:
    """Encodings of ``relpaths`` (cached ones reused; the rest encoded by a Pool)."""
    pipeline = _pipeline()
    path = cache_file(pipeline)
    cached = _load_cache(path)
    todo = [p for p in dict.fromkeys(relpaths) if p not in cached]
    if todo:
        print(f"encoding {len(todo)} LFW photos ({len(cached)} cached) with {processes} processes")
        t0 = time.perf_counter()
        with Pool(processes, initializer=_init_worker) as pool:
            for i, (rel, vec, code, faces) in enumerate(
                    pool.imap_unordered(_encode_one, todo, chunksize=8), start=1):
                cached[rel] = (vec, code, faces)
                if i % save_every == 0:
                    _save_cache(path, cached)
                    rate = i / (time.perf_counter() - t0)
                    print(f"  {i}/{len(todo)} ({rate:.1f} photos/s)", flush=True)
        _save_cache(path, cached)
        print(f"encoded {len(todo)} photos in {time.perf_counter() - t0:.0f}s -> {path.name}")
    enc = pipeline.encoder
    return _as_encodings([p for p in dict.fromkeys(relpaths)], cached, enc.model_id,
                         enc.model_version)


def _as_encodings(paths: list[str], cached: dict, model_id: str, version: str) -> Encodings:
    vectors = np.full((len(paths), 128), np.nan, dtype=np.float32)
    for i, p in enumerate(paths):
        if cached[p][0] is not None:
            vectors[i] = cached[p][0]
    return Encodings(np.array(paths), vectors, np.array([cached[p][1] for p in paths]),
                     np.array([cached[p][2] for p in paths]), model_id, version)


def _load_cache(path: Path) -> dict[str, tuple[np.ndarray | None, str, int]]:
    if not path.exists():
        return {}
    with np.load(path) as z:
        return {str(p): (None if c else v, str(c), int(f))
                for p, v, c, f in zip(z["paths"], z["vectors"], z["codes"], z["faces"],
                                      strict=True)}


def _save_cache(path: Path, cached: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    paths = sorted(cached)
    vectors = np.full((len(paths), 128), np.nan, dtype=np.float32)
    for i, p in enumerate(paths):
        if cached[p][0] is not None:
            vectors[i] = cached[p][0]
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, paths=np.array(paths), vectors=vectors,
             codes=np.array([cached[p][1] for p in paths]),
             faces=np.array([cached[p][2] for p in paths], dtype=np.int64))
    tmp.replace(path)
