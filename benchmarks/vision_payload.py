"""Vision payload per request: the rendered page as sent before (full size) and now (downscaled to the billed size).

Renders real CinC-2021 records from ../shared/data with gemflow's default page (2200 x 1700, 200 dpi),
then for each page: PNG bytes, base64 bytes in a request, billed image tokens, and the CPU time of
`vision.downscale` against the baseline (base64 of the full page alone), in the same run.

    python benchmarks/vision_payload.py --records 10
"""
from __future__ import annotations

import argparse
import base64
import io
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from schemas.images import RenderSettings  # noqa: E402
from tasks.render import Renderer  # noqa: E402
from tasks.teachers.vision import billed_size, downscale, image_tokens, page_size  # noqa: E402


def psnr_db(page: bytes, small: bytes) -> float:
    """PSNR of the sent page against a plain Lanczos resize (RGB, no palette, no reducing gap)."""
    import numpy as np
    from PIL import Image

    full = Image.open(io.BytesIO(page)).convert("RGB")
    ref = np.asarray(full.resize(billed_size(*full.size), Image.Resampling.LANCZOS), dtype=float)
    got = np.asarray(Image.open(io.BytesIO(small)).convert("RGB"), dtype=float)
    return float(10 * np.log10(255 ** 2 / ((ref - got) ** 2).mean()))

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ecg" / "cinc2021"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=10)
    ap.add_argument("--data", type=Path, default=DATA)
    args = ap.parse_args()
    import wfdb

    renderer = Renderer(RenderSettings())
    rows = []
    for hea in sorted(args.data.glob("*.hea"))[: args.records]:
        rec = wfdb.rdrecord(str(hea.with_suffix("")))
        page = renderer.render(rec.p_signal.T, rec.fs, rec.sig_name).png
        t0 = time.process_time()
        full_b64 = len(base64.b64encode(page))
        t1 = time.process_time()
        small = downscale(page)
        small_b64 = len(base64.b64encode(small))
        t2 = time.process_time()
        rows.append((hea.stem, page_size(page), len(page), full_b64, page_size(small), len(small), small_b64,
                     image_tokens(*page_size(page)), image_tokens(*page_size(small)), t1 - t0, t2 - t1,
                     psnr_db(page, small)))
    for r in rows:
        print(f"{r[0]}: {r[1][0]}x{r[1][1]} {r[2]:,} B (base64 {r[3]:,}) -> {r[4][0]}x{r[4][1]} {r[5]:,} B"
              f" (base64 {r[6]:,}); tokens {r[7]} -> {r[8]}; PSNR {r[11]:.1f} dB")
    before, after = statistics.mean(r[3] for r in rows), statistics.mean(r[6] for r in rows)
    print(f"mean PNG bytes {statistics.mean(r[2] for r in rows):,.0f} -> {statistics.mean(r[5] for r in rows):,.0f};"
          f" PSNR min {min(r[11] for r in rows):.1f} dB, mean {statistics.mean(r[11] for r in rows):.1f} dB")
    print(f"pages: {len(rows)}; mean base64 per request {before:,.0f} -> {after:,.0f} B"
          f" (ratio {after / before:.2f}); tokens equal on every page: {all(r[7] == r[8] for r in rows)}")
    print(f"CPU (process time) per page: downscale {statistics.mean(r[10] for r in rows) * 1e3:.0f} ms"
          f" vs base64 of the full page {statistics.mean(r[9] for r in rows) * 1e3:.1f} ms (baseline)")


if __name__ == "__main__":
    main()
