"""Benchmark: gemflow's paper-ECG renderer against ecg_plot.plot_12 + savefig on the same real records.

Both draw 2200x1700 px PNGs (11 x 8.5 in at 200 dpi) of the CinC-2021 records in ../shared/data,
one process, one thread each; the figure printed per renderer is images per CPU-second (one core).

    python benchmarks/render_vs_ecg_plot.py [--data ../shared/data/ecg/cinc2021] [--baseline-n 4] [--repeat 3]

ecg_plot is a benchmark-only dependency: pip install ecg-plot==0.2.8
"""
from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from schemas.images import AugmentSettings, RenderSettings  # noqa: E402
from tasks.render import Renderer  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ecg" / "cinc2021"


@dataclass(frozen=True)
class Record:
    name: str
    signal: np.ndarray  # (12, n) mV
    fs: float
    leads: list[str]


@dataclass(frozen=True)
class Timing:
    images: int
    cpu_s: float
    wall_s: float
    png_bytes: list[int]

    @property
    def per_core(self) -> float:
        return self.images / self.cpu_s


def read_records(folder: Path) -> list[Record]:
    import wfdb

    records = []
    for header in sorted(folder.glob("*.hea")):
        rec = wfdb.rdrecord(str(header.with_suffix("")))
        records.append(Record(header.stem, np.nan_to_num(rec.p_signal.T), float(rec.fs), list(rec.sig_name)))
    return records


def time_renders(draw: Callable[[Record], bytes], records: list[Record], repeat: int) -> Timing:
    draw(records[0])  # warm-up: imports, fonts, caches
    sizes: list[int] = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(repeat):
        for record in records:
            sizes.append(len(draw(record)))
    return Timing(len(sizes), time.process_time() - cpu0, time.perf_counter() - wall0, sizes)


def gemflow_drawer(settings: RenderSettings) -> Callable[[Record], bytes]:
    renderer = Renderer(settings)
    return lambda r: renderer.render(r.signal, r.fs, r.leads, seed=len(r.name)).png


def ecg_plot_drawer() -> Callable[[Record], bytes]:
    import matplotlib

    matplotlib.use("Agg")
    import ecg_plot
    import matplotlib.pyplot as plt

    def draw(record: Record) -> bytes:
        ecg_plot.plot_12(record.signal, sample_rate=record.fs, title=record.name, lead_index=record.leads)
        fig = plt.gcf()
        fig.set_size_inches(11, 8.5)
        buffer = io.BytesIO()
        fig.savefig(buffer, dpi=200, format="png")
        plt.close(fig)
        return buffer.getvalue()

    return draw


def report(name: str, t: Timing) -> None:
    print(
        f"{name:<28} {t.images:4d} images  {t.per_core:8.2f} images/s/core  "
        f"({t.cpu_s / t.images * 1000:7.1f} ms CPU, {t.wall_s / t.images * 1000:7.1f} ms wall per image)  "
        f"file mean {np.mean(t.png_bytes) / 1024:6.0f} KiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--baseline-n", type=int, default=4, help="records drawn by ecg_plot (6 s each)")
    parser.add_argument("--repeat", type=int, default=3, help="passes of gemflow over all records")
    args = parser.parse_args()
    records = read_records(args.data)
    if not records:
        raise SystemExit(f"no WFDB records in {args.data}")
    same = records[: args.baseline_n]
    print(f"{len(records)} records from {args.data}; ecg_plot draws the first {len(same)}")
    ours_same = time_renders(gemflow_drawer(RenderSettings()), same, max(1, args.repeat * 5))
    base = time_renders(ecg_plot_drawer(), same, 1)
    report("ecg_plot.plot_12 + savefig", base)
    report("gemflow 3x4+II (same recs)", ours_same)
    for layout in ("3x4+II", "6x2", "12x1"):
        report(f"gemflow {layout} (all recs)", time_renders(gemflow_drawer(RenderSettings(layout=layout)), records, args.repeat))
    augmented = RenderSettings(augment=AugmentSettings(enabled=True))
    report("gemflow 3x4+II augmented", time_renders(gemflow_drawer(augmented), records[:8], 1))
    print(f"speed-up on the same records: {ours_same.per_core / base.per_core:.0f}x (images/s/core ratio)")


if __name__ == "__main__":
    main()
