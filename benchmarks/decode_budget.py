"""What decoding a photo costs per format and pixel count: the basis of the pixel budgets.

    python benchmarks/decode_budget.py [--quick]

Each case is a compressible synthetic image (a gradient with a face-sized noise patch: the
shape of the attack photo, tens of megapixels in a few hundred KB) saved in one format and
mode, then run through matching.image.decode_image with the pixel limits lifted (the byte
limit and the 2,000-px decode bound stay). Median of 3 runs after one warm-up, in one
process, one thread. The slope (ms per megapixel, fitted through the origin over the sizes
measured) gives the pixel count one second of decode buys on this machine; matching.image's
default budgets are set below those figures. The baseline in the same run is the JPEG
reduced-scale decode, the cheapest format per pixel: each row's ratio is its ms/MP over
JPEG's. Also measured once each: JPEG at 16 and 40 MP (reduced-scale decode), JPEG's worst
case (just under twice max_side, where DCT scaling cannot halve it) and the issue's bomb, a
6,300 x 6,300 RGBA PNG, decoded unbounded. Timings are of whatever else the machine runs:
note the load average. Writes benchmarks/results/decode_budget.json.
"""

from __future__ import annotations

import io
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from matching.image import ImageLimits, budget_for, decode_image  # noqa: E402

RESULTS = ROOT / "benchmarks/results/decode_budget.json"
MEGAPIXELS = (1, 2, 4, 6, 8)
QUICK = (1, 2)
JPEG_LARGE = (16, 40)  # JPEG keeps the general 40 MP limit: its reduced-scale decode
BOMB = (6300, 6300)  # the attack: an RGBA PNG of ~150-170 KB
CASES = (  # (name, format key of the budget, Pillow format, mode, save options)
    ("jpeg", "JPEG", "JPEG", "RGB", {"quality": 90}),
    ("png_rgb", "PNG", "PNG", "RGB", {"compress_level": 6}),
    ("png_rgba", "PNG", "PNG", "RGBA", {"compress_level": 6}),
    ("png_grey", "PNG", "PNG", "L", {"compress_level": 6}),
    ("png_grey16", "PNG", "PNG", "I;16", {"compress_level": 6}),
    ("webp_rgba", "WEBP", "WEBP", "RGBA", {"quality": 80, "method": 0}),
    ("webp_rgb", "WEBP", "WEBP", "RGB", {"quality": 80, "method": 0}),
    ("webp_lossless", "WEBP", "WEBP", "RGBA", {"lossless": True, "method": 0}),
    ("gif", "GIF", "GIF", "P", {}),
)
LIFTED = ImageLimits(max_pixels=10**9, png_max_pixels=10**9, webp_max_pixels=10**9,
                     gif_max_pixels=10**9)


def synthetic(megapixels: float, mode: str) -> Image.Image:
    side = int((megapixels * 1e6) ** 0.5)
    ramp = np.linspace(0, 255, side, dtype=np.float32)
    grey = ((ramp[None, :] + ramp[:, None]) / 2).astype(np.uint8)
    patch = min(400, side // 2)
    rng = np.random.default_rng(7)
    grey[:patch, :patch] = rng.integers(0, 256, (patch, patch), dtype=np.uint8)
    rgb = np.repeat(grey[:, :, None], 3, axis=2)
    image = Image.fromarray(rgb, "RGB")
    if mode == "RGBA":
        image.putalpha(Image.fromarray(grey[::-1].copy(), "L"))
    elif mode == "L":
        image = image.convert("L")
    elif mode == "I;16":
        image = Image.fromarray(grey.astype(np.uint16) * 257)  # 16-bit grey
    elif mode == "P":
        image = image.convert("P", palette=Image.Palette.ADAPTIVE)
    return image


def encoded(fmt: str, mode: str, megapixels: float, options: dict) -> bytes:
    buf = io.BytesIO()
    synthetic(megapixels, mode).save(buf, fmt, **options)
    return buf.getvalue()


def median_ms(data: bytes, runs: int = 3) -> float:
    decode_image(data, LIFTED)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        decode_image(data, LIFTED)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main(sizes: tuple[int, ...]) -> None:
    import cv2  # the workers pin OpenCV to one thread; so does this measurement

    cv2.setNumThreads(1)
    rows, slopes = [], {}
    for name, key, fmt, mode, options in CASES:
        points = []
        for mp in sizes:
            data = encoded(fmt, mode, mp, options)
            ms = median_ms(data)
            points.append((mp, ms))
            rows.append({"case": name, "megapixels": mp, "kib": len(data) // 1024,
                         "decode_ms": round(ms, 1)})
        # least squares through the origin: ms = slope * MP
        slope = sum(mp * ms for mp, ms in points) / sum(mp * mp for mp, _ in points)
        slopes[name] = {"format": key, "ms_per_mp": round(slope, 1),
                        "mp_per_second": round(1000 / slope, 1)}
    for mp in JPEG_LARGE:
        data = encoded("JPEG", "RGB", mp, {"quality": 90})
        rows.append({"case": "jpeg", "megapixels": mp, "kib": len(data) // 1024,
                     "decode_ms": round(median_ms(data, runs=1), 1)})
    # JPEG's worst case: just under twice max_side, where DCT scaling cannot halve it
    worst = 2 * ImageLimits().max_side - 2
    data = encoded("JPEG", "RGB", worst * worst / 1e6, {"quality": 90})
    rows.append({"case": "jpeg_worst", "megapixels": round(worst * worst / 1e6, 1),
                 "kib": len(data) // 1024, "decode_ms": round(median_ms(data, runs=1), 1)})
    bomb = io.BytesIO()
    Image.new("RGBA", BOMB, (200, 180, 160, 255)).save(bomb, "PNG", optimize=True)
    started = time.perf_counter()
    decode_image(bomb.getvalue(), LIFTED)
    bomb_ms = (time.perf_counter() - started) * 1000
    rows.append({"case": "png_bomb", "megapixels": round(BOMB[0] * BOMB[1] / 1e6, 1),
                 "kib": len(bomb.getvalue()) // 1024, "decode_ms": round(bomb_ms, 1)})
    base = slopes["jpeg"]["ms_per_mp"]
    print(f"{'case':<14} {'MP':>4} {'KiB':>7} {'decode ms':>10}")
    for row in rows:
        print(f"{row['case']:<14} {row['megapixels']:>4} {row['kib']:>7} {row['decode_ms']:>10}")
    print(f"\n{'case':<14} {'ms/MP':>7} {'x JPEG':>7} {'MP in 1 s':>10} {'budget MP':>10}")
    limits = ImageLimits()
    for name, fit in slopes.items():
        fit["ratio_to_jpeg"] = round(fit["ms_per_mp"] / base, 2)
        fit["budget_mp"] = round(budget_for(limits, fit["format"]) / 1e6, 1)
        fit["budget_decode_ms"] = round(fit["ms_per_mp"] * fit["budget_mp"], 1)
        print(f"{name:<14} {fit['ms_per_mp']:>7} {fit['ratio_to_jpeg']:>7} "
              f"{fit['mp_per_second']:>10} {fit['budget_mp']:>10}")
    refused = ImageLimits().png_max_pixels < BOMB[0] * BOMB[1]
    print(f"\nthe {BOMB[0]}x{BOMB[1]} RGBA PNG bomb: {bomb_ms:.0f} ms to decode unbounded; "
          f"refused by the PNG budget before decoding: {refused}")
    load = os.getloadavg()[0]
    print(f"load average (1 min) at the end: {load:.1f} on {os.cpu_count()} CPUs")
    RESULTS.write_text(json.dumps({"rows": rows, "fits": slopes, "sizes_mp": list(sizes),
                                   "loadavg_1min": round(load, 1),
                                   "bomb_ms": round(bomb_ms, 1), "bomb_refused": refused},
                                  indent=2) + "\n")
    print(f"\nwrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main(QUICK if "--quick" in sys.argv else MEGAPIXELS)
