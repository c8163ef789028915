"""LFW for the benchmarks: the pairs protocol, and every photo encoded through the server's
own FacePipeline (decode -> detect -> quality gate -> encoder) of each model, cached.

The photos are the full corpus (`--faces DIR`, default ../shared/data/faces beside the
repository; layout in its README): `faces_folder` says exactly what is missing when it is
not there. The cache (benchmarks/results/.cache/, gitignored) is one .npz per model +
pipeline settings, keyed inside by the photo's path relative to the LFW folder: changing the
model, the quality thresholds or the image limits starts a new cache instead of reusing
stale vectors. A photo the pipeline refuses is cached with its error code (face_not_found,
multiple_faces, face_pose, ...), never dropped.
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
FACES = ROOT.parent / "shared" / "data" / "faces"
MODELS = ("sface", "dlib")  # the default model first; dlib is the baseline
RESULTS = ROOT / "benchmarks" / "results"
CACHE = RESULTS / ".cache"
ACQUIRED = ""  # the code of a photo the pipeline accepted


# ------------------------------------------------------------------ the photo corpus


def add_faces_argument(ap) -> None:  # type: ignore[no-untyped-def]
    ap.add_argument("--faces", type=Path, default=FACES,
                    help=f"the full photo corpus (default {FACES}; layout in its README)")


def faces_folder(faces: Path, *needed: str) -> Path:
    """``faces`` if it holds every path in ``needed``; else exit saying what is missing."""
    missing = [n for n in needed if not (faces / n).exists()]
    if missing:
        raise SystemExit(
            f"benchmark photos missing under {faces}: {', '.join(missing)}.\n"
            f"The benchmarks read the full corpus (LFW deep-funneled lfw/images/<Person>/"
            f"<Person>_NNNN.jpg with lfw/pairs.txt, samples/, yale/), by default from "
            f"{FACES}; point --faces at a copy with that layout (tests/data/faces is too "
            f"small a copy for them).")
    return faces


def lfw_folder(faces: Path) -> Path:
    return faces_folder(faces, "lfw/images", "lfw/pairs.txt") / "lfw"


# ------------------------------------------------------------------ the pairs protocol


@dataclass(frozen=True)
class Pair:
    fold: int
    genuine: bool
    a: str  # image path relative to the LFW folder
    b: str


def image_path(name: str, number: int) -> str:
    return f"images/{name}/{name}_{number:04d}.jpg"


def read_pairs(lfw: Path) -> list[Pair]:
    """View 2 pairs: header 'folds<TAB>n', then per fold n matched and n mismatched lines."""
    path = lfw / "pairs.txt"
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


def all_images(lfw: Path) -> list[str]:
    return sorted(str(p.relative_to(lfw)) for p in (lfw / "images").glob("*/*.jpg"))


def person(relpath: str) -> str:
    return relpath.split("/")[1]


# ------------------------------------------------------------------ encodings


@dataclass(frozen=True)
class Encodings:
    """Rows in path order; ``codes[i] == ACQUIRED`` iff ``vectors[i]`` is a real template."""

    paths: np.ndarray  # str
    vectors: np.ndarray  # (n, dimension) float32, NaN rows for refusals
    codes: np.ndarray  # str
    faces_found: np.ndarray  # int, detector boxes in the photo (-1 if not detected)
    model_id: str
    model_version: str
    model: str  # the setting name: sface or dlib

    @property
    def acquired(self) -> np.ndarray:
        return self.codes == ACQUIRED

    def row_of(self) -> dict[str, int]:
        return {str(p): i for i, p in enumerate(self.paths)}

    def subset(self, mask: np.ndarray) -> Encodings:
        return Encodings(self.paths[mask], self.vectors[mask], self.codes[mask],
                         self.faces_found[mask], self.model_id, self.model_version, self.model)


def pipeline_of(model: str):  # type: ignore[no-untyped-def]
    """The server's pipeline for ``model`` with its default settings (models not loaded)."""
    from matching.encoder import load_encoder
    from matching.pipeline import FacePipeline, PipelineSettings

    return FacePipeline(load_encoder(model, load=False), PipelineSettings(model=model))


def cache_file(pipeline) -> Path:  # type: ignore[no-untyped-def]
    enc = pipeline.encoder
    key = (f"{enc.model_id}|{enc.model_version}|jitters={getattr(enc, 'num_jitters', '?')}"
           f"|upsample={getattr(enc, 'upsample', '?')}|{pipeline.settings!r}")
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return CACHE / f"lfw_pipeline_{enc.model_id}_{digest}.npz"


_WORKER = None
_LFW = Path()


def _init_worker(model: str, lfw: Path) -> None:
    global _WORKER, _LFW
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if model == "sface":
        import cv2

        cv2.setNumThreads(1)  # as matching.worker does: one OpenCV thread per process
    _WORKER, _LFW = pipeline_of(model), lfw


def _encode_one(relpath: str) -> tuple[str, np.ndarray | None, str, int]:
    from matching.errors import MatchingError

    assert _WORKER is not None
    try:
        template = _WORKER.extract((_LFW / relpath).read_bytes())
    except MatchingError as exc:
        return relpath, None, exc.code, -1
    except Exception as exc:  # noqa: BLE001 - counted as its own code, never dropped
        return relpath, None, f"exception:{type(exc).__name__}", -1
    return relpath, template.vector, ACQUIRED, int(template.quality.faces_found)


def encode(relpaths: list[str], model: str, lfw: Path, processes: int = 2,
           save_every: int = 500) -> Encodings:
    """Encodings of ``relpaths`` by ``model`` (cached ones reused; the rest by a Pool)."""
    pipeline = pipeline_of(model)
    path = cache_file(pipeline)
    cached = _load_cache(path)
    todo = [p for p in dict.fromkeys(relpaths) if p not in cached]
    if todo:
        print(f"{model}: encoding {len(todo)} LFW photos ({len(cached)} cached) with "
              f"{processes} processes")
        t0 = time.perf_counter()
        with Pool(processes, initializer=_init_worker, initargs=(model, lfw)) as pool:
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
    return _as_encodings([p for p in dict.fromkeys(relpaths)], cached, enc, model)


def _as_encodings(paths: list[str], cached: dict, encoder, model: str  # type: ignore[no-untyped-def]
                  ) -> Encodings:
    vectors = np.full((len(paths), encoder.dimension), np.nan, dtype=np.float32)
    for i, p in enumerate(paths):
        if cached[p][0] is not None:
            vectors[i] = cached[p][0]
    return Encodings(np.array(paths), vectors, np.array([cached[p][1] for p in paths]),
                     np.array([cached[p][2] for p in paths]), encoder.model_id,
                     encoder.model_version, model)


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
    dimension = next((len(v) for v, _, _ in cached.values() if v is not None), 128)
    vectors = np.full((len(paths), dimension), np.nan, dtype=np.float32)
    for i, p in enumerate(paths):
        if cached[p][0] is not None:
            vectors[i] = cached[p][0]
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, paths=np.array(paths), vectors=vectors,
             codes=np.array([cached[p][1] for p in paths]),
             faces=np.array([cached[p][2] for p in paths], dtype=np.int64))
    tmp.replace(path)
