"""Start-up of the face gallery: load the sealed index file, or rebuild from the sealed rows?

Issue 9 item 1 forbids plaintext templates on disk. Two ways keep the index's start-up
honest: (a) seal the index file (AES-256-GCM under the sealing ring, what authd does now),
or (b) never write it and rebuild the index at every start from the sealed template rows.
This measures both through authd's own code on a real SQLite database in a data dir:

- ``sealed``:  ``Gallery.open()`` with a saved index file (read, decrypt, deserialize,
  catch up, compare the id fingerprint with the database's);
- ``rebuild``: ``Gallery.open()`` with no file (select every row, open each sealed
  template, add them to a fresh index, then the same fingerprint check).

The rows are synthetic unit vectors of the real dimension (128, dlib and SFace), sealed
with the real sealing ring and associated data, written straight into ``identities``.
Prints a table and writes benchmarks/results/index_startup.json; ratios are rebuild/sealed
in the same run.

    python benchmarks/index_startup.py [--sizes 100000,1000000] [--kind flat]

Result (README "Templates at rest", 2-core machine at load ~12): 100k templates, rebuild
63.3 s vs sealed 5.7 s (11.1x); 1M, 398 s vs 48.9 s (8.1x). Both grow about linearly; the
rebuild is per-row Python work (ORM rows, one AES-GCM open and one template parse per
identity), the sealed file one read and a few large GCM calls (read + decrypt: 17 s of the
49 s at 1M). So authd seals the index file rather than rebuilding it at every start.
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
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from authd.faces.gallery import Gallery, template_aad  # noqa: E402
from authd.http.state import open_state  # noqa: E402
from authd.settings import Settings  # noqa: E402
from authd.storage.db import transaction  # noqa: E402
from authd.storage.models import Identity  # noqa: E402
from matching import index_file  # noqa: E402
from matching.encoder import ENCODERS, MODEL_IDS  # noqa: E402
from matching.index import IndexSettings  # noqa: E402
from matching.templates import Template  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
MODEL = "dlib"
BATCH = 20_000


def unit_vectors(n: int, dim: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def fill(state, n: int, dim: int) -> float:
    """Insert n active identities with sealed templates; seconds taken."""
    t = time.perf_counter()
    model_id, version = MODEL_IDS[MODEL], getattr(ENCODERS[MODEL], "model_version", "bench")
    for start in range(0, n, BATCH):
        x = unit_vectors(min(BATCH, n - start), dim, seed=start)
        rows = []
        for offset, vector in enumerate(x):
            row_id = start + offset + 1
            plain = Template(vector, model_id, version, {}).to_bytes()
            rows.append({"id": row_id, "uin": f"{row_id:012d}", "status": "active",
                         "created_at": 0, "updated_at": 0, "template_version": 1,
                         "template_model": model_id, "locks": [], "consecutive_failures": 0,
                         "template": state.sealer.seal(plain, template_aad(row_id, 1))})
        with transaction(state.db) as session:
            session.execute(insert(Identity), rows)
    return time.perf_counter() - t


def gallery(state, path: Path, kind: str, dim: int) -> Gallery:
    return Gallery(state.db_read, state.sealer, IndexSettings(kind=kind, dimension=dim), path,
                   MODEL_IDS[MODEL])


def timed(fn):  # type: ignore[no-untyped-def]
    gc.collect()
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def measure(n: int, kind: str, workdir: Path) -> dict:
    dim = int(ENCODERS[MODEL].dimension)
    settings = Settings(data_dir=workdir / "data", master_key=secrets.token_hex(32),
                        faces_enabled=False, face_model=MODEL)
    state = open_state(settings)
    try:
        fill_s = fill(state, n, dim)
        path = settings.data_dir / f"faces-{MODEL}.index"
        status, rebuild_s = timed(lambda: gallery(state, path, kind, dim).open())
        assert status.rebuilt and status.count == n
        built = gallery(state, path, kind, dim)
        built.open()
        _, save_s = timed(built.save)
        _, read_s = timed(lambda: index_file.read(path, state.sealer))  # read + decrypt only
        status, sealed_s = timed(lambda: gallery(state, path, kind, dim).open())
        assert not status.rebuilt and status.count == n
        return {"n": n, "kind": kind, "dimension": dim, "fill_s": round(fill_s, 1),
                "rebuild_open_s": round(rebuild_s, 2), "sealed_open_s": round(sealed_s, 2),
                "sealed_read_decrypt_s": round(read_s, 2), "save_s": round(save_s, 2),
                "file_mib": round(path.stat().st_size / 2**20, 1),
                "rebuild_over_sealed": round(rebuild_s / sealed_s, 1)}
    finally:
        state.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--kind", default="flat", choices=["flat", "hnsw", "ivf"])
    args = parser.parse_args()
    rows: list[dict] = []
    for n in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(dir=RESULTS.parent) as tmp:
            rows.append(measure(n, args.kind, Path(tmp)))
        print(json.dumps(rows[-1]), flush=True)
        write(rows)  # after each size: a long run interrupted keeps what it measured
    head = ("templates", "kind", "rebuild s", "sealed s", "rebuild/sealed", "read+decrypt s",
            "save s", "file MiB")
    print("  ".join(f"{h:>14}" for h in head))
    for r in rows:
        cells = (r["n"], r["kind"], r["rebuild_open_s"], r["sealed_open_s"],
                 r["rebuild_over_sealed"], r["sealed_read_decrypt_s"], r["save_s"], r["file_mib"])
        print("  ".join(f"{c:>14}" for c in cells))
    print(f"wrote {RESULTS / 'index_startup.json'}")


def write(rows: list[dict]) -> None:
    RESULTS.mkdir(exist_ok=True)
    out = {"rows": rows, "machine": platform.platform(), "python": platform.python_version(),
           "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}
    (RESULTS / "index_startup.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
