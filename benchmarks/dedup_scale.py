"""The near-duplicate index as the accepted set grows: cost per answer, memory, and recall.

    python benchmarks/dedup_scale.py [--sizes 20000 100000] [--plant 500]

Answers are written on one clinical skeleton with their own numbers and leads (the hard case for
banded LSH: every answer shares most of its words with every other). Per size it times
`DuplicateIndex.check` + `add` per answer, once the index holds that many answers. The baseline, in
the same run, is the exact MinHash scan: one vectorised comparison against every stored signature,
the cost banding avoids. It also plants near copies (one number changed) and reports the share the
index finds against the share the scan finds. Peak memory comes from the OS (VmHWM) and includes the
scan's own matrix (256 bytes per answer).
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tasks.validate.dedup import DuplicateIndex, signature  # noqa: E402

LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
RHYTHMS = ["sinus rhythm", "sinus bradycardia", "sinus tachycardia", "atrial fibrillation"]


def answer(rng: random.Random) -> str:
    a, b, c = rng.sample(LEADS, 3)
    return (f"The ECG shows {rng.choice(RHYTHMS)} at {rng.randint(40, 140)} bpm. The PR interval is "
            f"{rng.randint(100, 260)} ms, the QRS duration {rng.randint(70, 160)} ms and the QTc "
            f"{rng.randint(360, 520)} ms. The QRS axis is {rng.randint(-90, 180)} degrees. Lead {a} shows an R wave "
            f"of {rng.uniform(0.2, 2.5):.2f} mV and lead {b} an S wave of {rng.uniform(0.1, 2.0):.2f} mV. The ST "
            f"level in {c} is {rng.uniform(-0.2, 0.2):.2f} mV, and T waves are upright in the lateral leads.")


def near_copy(text: str, rng: random.Random) -> str:
    """The same answer with one number changed by one (Jaccard of 3-word shingles ~0.9)."""
    words = text.split(" ")
    spots = [i for i, w in enumerate(words) if w.isdigit()]
    i = rng.choice(spots)
    words[i] = str(int(words[i]) + 1)
    return " ".join(words)


def peak_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[20000, 100000])
    ap.add_argument("--plant", type=int, default=500, help="near copies checked at each size")
    ap.add_argument("--probe", type=int, default=2000, help="answers timed at each size")
    args = ap.parse_args()
    rng = random.Random(20251129)
    index = DuplicateIndex(0.9)
    texts: list[str] = []
    scan = np.zeros((max(args.sizes) + args.probe * len(args.sizes), 64), dtype=np.uint32)
    print(f"{'answers':>8} {'index ms':>9} {'scan ms':>8} {'scan/index':>10} {'recall index':>12} "
          f"{'recall scan':>11} {'index/scan':>10} {'peak MiB':>9}")
    for size in sorted(args.sizes):
        while len(texts) < size:
            t = answer(rng)
            if index.check(f"r{len(texts)}", t) is None:
                scan[len(texts)] = signature(t).astype(np.uint32)
                index.add(f"r{len(texts)}", t)
                texts.append(t)
        probes = [answer(rng) for _ in range(args.probe)]
        start = time.perf_counter()
        for t in probes:
            index.check("probe", t)
        t_index = (time.perf_counter() - start) / args.probe * 1000
        start = time.perf_counter()
        stored = scan[:len(texts)]
        for t in probes:
            (stored == signature(t).astype(np.uint32)).mean(axis=1).max()
        t_scan = (time.perf_counter() - start) / args.probe * 1000
        copies = [near_copy(texts[rng.randrange(len(texts))], rng) for _ in range(args.plant)]
        found_index = sum(index.check("copy", c) is not None for c in copies) / args.plant
        found_scan = sum((stored == signature(c).astype(np.uint32)).mean(axis=1).max() >= 0.9
                         for c in copies) / args.plant
        print(f"{len(texts):>8} {t_index:>9.3f} {t_scan:>8.3f} {t_scan / t_index:>10.1f} {found_index:>12.3f} "
              f"{found_scan:>11.3f} {found_index / found_scan:>10.3f} {peak_mib():>9.0f}")


if __name__ == "__main__":
    main()
