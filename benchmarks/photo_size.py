"""What a large photo costs: photo-to-template time by photo size, bounded decode vs not.

    python benchmarks/photo_size.py              # sface and dlib
    python benchmarks/photo_size.py --faces DIR  # the corpus elsewhere (default ../shared/...)

One real photo (samples/obama/obama3.jpg, 1434x2333) resized to 1,000, 2,000 and 4,000 px on
its long side and saved as JPEG; each is run through FacePipeline.extract of each model with
the server's limits (decode bounded to 2,000 px, JPEG by DCT scaling; detection on a copy of
the model's own bound: 1,000 px for sface, 800 for dlib) and, as the baseline in the same run,
with the decode bound lifted. Median of 7 runs after one warm-up, OpenCV on one thread (as in
a face worker). Writes benchmarks/results/photo_size.json.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.lfw_data import MODELS, add_faces_argument, faces_folder  # noqa: E402
from matching.encoder import load_encoder  # noqa: E402
from matching.image import ImageLimits  # noqa: E402
from matching.pipeline import FacePipeline, PipelineSettings  # noqa: E402

PHOTO = "samples/obama/obama3.jpg"
RESULTS = ROOT / "benchmarks/results/photo_size.json"


def median_ms(pipeline: FacePipeline, data: bytes, runs: int = 7) -> float:
    pipeline.extract(data)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        pipeline.extract(data)
        times.append(time.perf_counter() - started)
    return round(statistics.median(times) * 1000, 1)


def sizes(photo: Path) -> list[tuple[int, bytes]]:
    src = Image.open(photo).convert("RGB")
    out = []
    for side in (1000, 2000, 4000):
        scale = side / max(src.size)
        buf = io.BytesIO()
        src.resize((round(src.width * scale), round(src.height * scale)),
                   Image.Resampling.LANCZOS).save(buf, "JPEG", quality=92)
        out.append((side, buf.getvalue()))
    return out


def run_model(model: str, photos: list[tuple[int, bytes]]) -> list[dict]:
    encoder = load_encoder(model)
    bounded = FacePipeline(encoder, PipelineSettings(limits=ImageLimits(), model=model))
    unbounded = FacePipeline(encoder, PipelineSettings(limits=ImageLimits(max_side=10**6),
                                                       model=model))
    rows = [{"long_side": side, "kib": len(data) // 1024,
             "bounded_ms": median_ms(bounded, data), "unbounded_ms": median_ms(unbounded, data)}
            for side, data in photos]
    base = rows[0]["bounded_ms"]
    print(f"\n== {model} ==\n{'long side':>9} {'KiB':>6} {'bounded ms':>11} "
          f"{'unbounded ms':>13} {'vs 1,000 px':>12}")
    for r in rows:
        r["bounded_vs_1000"] = round(r["bounded_ms"] / base, 2)
        print(f"{r['long_side']:>9} {r['kib']:>6} {r['bounded_ms']:>11} {r['unbounded_ms']:>13} "
              f"{r['bounded_vs_1000']:>12}")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_faces_argument(ap)
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated, in order")
    args = ap.parse_args()
    import cv2

    cv2.setNumThreads(1)  # as in a face worker
    photos = sizes(faces_folder(args.faces, PHOTO) / PHOTO)
    models = {m: run_model(m, photos) for m in args.models.split(",") if m}
    ratio = {side: models["sface"][i]["bounded_ms"] / models["dlib"][i]["bounded_ms"]
             for i, (side, _) in enumerate(photos)} if {"sface", "dlib"} <= set(models) else {}
    if ratio:
        print("\nsface / dlib, bounded: " + ", ".join(f"{s} px {r:.2f}" for s, r in ratio.items()))
    RESULTS.write_text(json.dumps({"photo": PHOTO, "models": models,
                                   "sface_vs_dlib_bounded": ratio}, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
