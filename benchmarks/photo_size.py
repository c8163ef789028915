"""What a large photo costs: photo-to-template time by photo size, bounded decode vs not.

    python benchmarks/photo_size.py

One real photo (samples/obama/obama3.jpg, 1434x2333) resized to 1,000, 2,000 and 4,000 px on
its long side and saved as JPEG; each is run through FacePipeline.extract with the server's
limits (decode bounded to 2,000 px, JPEG by DCT scaling) and, as the baseline in the same run,
with the bound lifted. Median of 7 runs after one warm-up. Writes
benchmarks/results/photo_size.json.
"""

from __future__ import annotations

import io
import json
import statistics
import sys
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from matching.encoder import DlibEncoder  # noqa: E402
from matching.image import ImageLimits  # noqa: E402
from matching.pipeline import FacePipeline, PipelineSettings  # noqa: E402

PHOTO = ROOT.parent / "shared/data/faces/samples/obama/obama3.jpg"
RESULTS = ROOT / "benchmarks/results/photo_size.json"


def median_ms(pipeline: FacePipeline, data: bytes, runs: int = 7) -> float:
    pipeline.extract(data)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        pipeline.extract(data)
        times.append(time.perf_counter() - started)
    return round(statistics.median(times) * 1000, 1)


def main() -> None:
    encoder = DlibEncoder()
    bounded = FacePipeline(encoder, PipelineSettings(limits=ImageLimits()))
    unbounded = FacePipeline(encoder, PipelineSettings(limits=ImageLimits(max_side=10**6)))
    src = Image.open(PHOTO).convert("RGB")
    rows = []
    for side in (1000, 2000, 4000):
        scale = side / max(src.size)
        buf = io.BytesIO()
        src.resize((round(src.width * scale), round(src.height * scale)),
                   Image.Resampling.LANCZOS).save(buf, "JPEG", quality=92)
        data = buf.getvalue()
        rows.append({"long_side": side, "kib": len(data) // 1024,
                     "bounded_ms": median_ms(bounded, data),
                     "unbounded_ms": median_ms(unbounded, data)})
    base = rows[0]["bounded_ms"]
    print(f"{'long side':>9} {'KiB':>6} {'bounded ms':>11} {'unbounded ms':>13} "
          f"{'vs 1,000 px':>12}")
    for r in rows:
        r["bounded_vs_1000"] = round(r["bounded_ms"] / base, 2)
        print(f"{r['long_side']:>9} {r['kib']:>6} {r['bounded_ms']:>11} {r['unbounded_ms']:>13} "
              f"{r['bounded_vs_1000']:>12}")
    RESULTS.write_text(json.dumps({"photo": PHOTO.name, "rows": rows}, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
