"""Benchmark: R-peak detection judged on data the detector was not tuned on, against neurokit2, same run.

    python benchmarks/rpeaks_heldout.py [--baseline-repo /work/main] [--seeds 2] [--skip-nk]

Sets (each a detection within 75 ms of a reference beat is a match, greedy one-to-one):
  * CPSC-2019 shared strips, two-fold cross-validation of the tuned parameters (the candidate
    threshold and the R-peak search half-width, benchmarks/rpeaks_cv.py): chosen on one half,
    scored on the other, then swapped;
  * MIT-BIH 100: each lead and the two-lead fused detector, whole (30 min, 360 Hz) and in 10 s windows
    resampled to 500 Hz;
  * the seeded synthetic set (tests/synthetic_beats.py): 25 conditions x 7 rates (100-1000 Hz);
    mean and worst condition.
`--baseline-repo` runs gemflow's detector from another checkout (e.g. the main branch) in a child
process on the same data, so before/after sit in one table.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "ecg"
TOL_S = 0.075


def match(det: np.ndarray, ref: np.ndarray, tol: int) -> int:
    """True positives of a greedy one-to-one matching within tol samples (nearest first)."""
    det = np.unique(np.asarray(det, dtype=np.int64))
    used = np.zeros(det.size, dtype=bool)
    tp = 0
    for r in ref:
        j = np.searchsorted(det, r)
        best, arg = tol + 1, -1
        for k in (j - 2, j - 1, j, j + 1):
            if 0 <= k < det.size and not used[k] and abs(det[k] - r) < best:
                best, arg = abs(det[k] - r), k
        if arg >= 0:
            used[arg] = True
            tp += 1
    return tp


class Score:
    """Pooled TP/FP/FN over strips, and the count of strips with no detection but reference beats."""

    def __init__(self) -> None:
        self.tp = self.fp = self.fn = self.empty = self.n = 0
        self.offsets_ms: list[float] = []

    def add(self, det: np.ndarray, ref: np.ndarray, fs: float) -> float:
        det = np.unique(det)
        hit = match(det, ref, int(TOL_S * fs))
        if det.size and ref.size:  # location error of each detection within the tolerance of a beat
            near = np.abs(det[:, None] - np.asarray(ref)[None, :]).min(axis=1)
            self.offsets_ms.extend((near[near <= int(TOL_S * fs)] * 1000.0 / fs).tolist())
        self.tp, self.fp, self.fn = self.tp + hit, self.fp + det.size - hit, self.fn + ref.size - hit
        self.empty += int(det.size == 0 and ref.size > 0)
        self.n += 1
        return 2 * hit / max(det.size + ref.size, 1)

    def f1(self) -> float:
        return 2 * self.tp / max(2 * self.tp + self.fp + self.fn, 1)

    def line(self) -> str:
        se, ppv = self.tp / max(self.tp + self.fn, 1), self.tp / max(self.tp + self.fp, 1)
        off = np.asarray(self.offsets_ms) if self.offsets_ms else np.zeros(1)
        return (f"F1 {self.f1():.4f} (Se {se:.4f}, PPV {ppv:.4f}; {self.tp + self.fn} beats, {self.empty} empty of "
                f"{self.n}; |R error| mean {off.mean():.1f} ms, p95 {np.percentile(off, 95):.0f} ms)")


def cpsc_strips() -> list[tuple[str, np.ndarray, np.ndarray]]:
    from scipy.io import loadmat
    out = []
    for p in sorted((SHARED / "cpsc2019" / "data").glob("data_*.mat")):
        ref = loadmat(SHARED / "cpsc2019" / "ref" / p.name.replace("data_", "R_"))["R_peak"].ravel().astype(int)
        out.append((p.stem, loadmat(p)["ecg"].ravel().astype(float), ref))
    return out


def mitbih() -> tuple[np.ndarray, float, np.ndarray]:
    import wfdb
    rec = wfdb.rdrecord(str(SHARED / "wfdb_samples" / "100"))
    ann = wfdb.rdann(str(SHARED / "wfdb_samples" / "100"), "atr")
    beat = set("NLRBAaJSVrFejnE/fQ?")
    ref = np.array([s for s, sym in zip(ann.sample, ann.symbol) if sym in beat])
    return rec.p_signal.T.astype(float), float(rec.fs), ref


def windows_500(x: np.ndarray, fs: float, ref: np.ndarray, seconds: float = 10.0):
    """Non-overlapping 10 s windows resampled to 500 Hz, with their reference beats."""
    from scipy.signal import resample_poly
    from fractions import Fraction
    fr = Fraction(500, int(fs)).limit_denominator(1000)
    n = int(seconds * fs)
    for start in range(0, x.shape[-1] - n + 1, n):
        seg = resample_poly(x[..., start:start + n], fr.numerator, fr.denominator, axis=-1)
        r = ref[(ref >= start) & (ref < start + n)] - start
        yield seg, np.round(r * 500.0 / fs).astype(int)


def gemflow_detectors() -> tuple[Callable, Callable]:
    from tasks.features import detect_r_peaks
    from tasks.features.beats import detect_beats
    from tasks.features.filters import clean_band, despike, qrs_band
    from tasks.features.quality import assess_leads

    def fused(x: np.ndarray, fs: float) -> np.ndarray:
        raw = despike(x, fs)
        band = qrs_band(raw, fs)
        quality = assess_leads(raw, clean_band(raw, fs), band, fs)  # a baseline-only lead still has beats
        return detect_beats(raw, band, fs, getattr(quality, "detectable", quality.usable))
    return detect_r_peaks, fused


def nk_detector(x: np.ndarray, fs: float) -> np.ndarray:
    import neurokit2 as nk
    try:
        clean = nk.ecg_clean(x, sampling_rate=int(fs))
        return np.asarray(nk.ecg_peaks(clean, sampling_rate=int(fs))[1]["ECG_R_Peaks"], dtype=np.int64)
    except Exception:  # noqa: BLE001 - the baseline fails on some strips; that is a miss, not a crash
        return np.zeros(0, dtype=np.int64)


def _synthetic_module():
    """tests/synthetic_beats.py of this checkout, loaded by path (a baseline checkout has its own tests/)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("synthetic_beats", REPO / "tests" / "synthetic_beats.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["synthetic_beats"] = mod
    spec.loader.exec_module(mod)
    return mod


AMBULATORY = ("sinus-60", "af-80", "af-140", "af-wild", "pvc", "emg", "artefact-bursts", "af-pvc-noisy")


def ambulatory(fused: Callable, seeds: int) -> dict[str, str]:
    """Synthetic 2-lead recordings at 200 Hz (60 s, AF and not): whole at 200 Hz, and cut into 10 s
    windows resampled to 500 Hz. The second lead shares the beats, with a smaller, inverted QRS, and
    either the same noise as the first or noise of its own (as EMG and most motion artefact are)."""
    sb = _synthetic_module()
    out = {}
    for label, own_noise in (("same noise", False), ("own noise per lead", True)):
        whole, windows = Score(), Score()
        for name in AMBULATORY:
            cond = next(c for c in sb.CONDITIONS if c.name == name)
            for seed in range(seeds):
                a = sb.synth_strip(cond, 200.0, seconds=60.0, seed=100 + seed)
                b = sb.synth_strip(sb.scaled(cond, qrs_mv=-0.6 * cond.qrs_mv), 200.0, seconds=60.0, seed=100 + seed,
                                   noise_seed=500 + seed if own_noise else None)
                x = np.stack([a.signal, b.signal])
                whole.add(fused(x, 200.0), a.r_peaks, 200.0)
                for seg, r in windows_500(x, 200.0, a.r_peaks):
                    windows.add(fused(seg, 500.0), r, 500.0)
        out[f"synthetic 2-lead 200 Hz, 60 s whole, fused, {label}"] = whole.line()
        out[f"synthetic 2-lead 200 Hz, 10 s windows @500 Hz, fused, {label}"] = windows.line()
    return out


def long_records(single: Callable) -> dict[str, str]:
    """3 minutes of synthetic AF at 200 Hz with a random-walk drift, or with one 8 s clipped artefact."""
    sb = _synthetic_module()
    out = {}
    for kind in ("drift", "clip"):
        strip = sb.synth_strip(next(c for c in sb.CONDITIONS if c.name == "af-80"), 200.0, seconds=180.0, seed=1)
        x, rng = strip.signal.copy(), np.random.default_rng(1)
        if kind == "drift":
            x += np.cumsum(rng.standard_normal(x.size)) * 0.02
        else:
            a, n = int(0.4 * x.size), 1600
            x[a:a + n] += 6 * np.sin(np.linspace(0, 3 * np.pi, n))
            x = np.clip(x, -2.5, 2.5)
        s = Score()
        s.add(single(x, 200.0), strip.r_peaks, 200.0)
        out[f"synthetic AF 3 min at 200 Hz with {kind}, one lead"] = s.line()
    return out


def run_sets(single: Callable, fused: Callable | None, seeds: int) -> dict[str, str | dict]:
    """Every set scored with one detector; returns printable lines keyed by set."""
    synthetic_set = _synthetic_module().synthetic_set
    out: dict[str, str | dict] = {}
    s = Score()
    for _, x, ref in cpsc_strips():
        s.add(single(x, 500.0), ref, 500.0)
    out["CPSC-2019 25 strips (all)"] = s.line()
    sig, fs, ref = mitbih()
    for lead in range(sig.shape[0]):
        s = Score()
        s.add(single(sig[lead], fs), ref, fs)
        out[f"MIT-BIH 100 lead {lead} whole 360 Hz"] = s.line()
        s = Score()
        for seg, r in windows_500(sig[lead], fs, ref):
            s.add(single(seg, 500.0), r, 500.0)
        out[f"MIT-BIH 100 lead {lead} 10 s @500 Hz"] = s.line()
    if fused is not None:
        s = Score()
        s.add(fused(sig, fs), ref, fs)
        out["MIT-BIH 100 fused whole 360 Hz"] = s.line()
        s = Score()
        for seg, r in windows_500(sig, fs, ref):
            s.add(fused(seg, 500.0), r, 500.0)
        out["MIT-BIH 100 fused 10 s @500 Hz"] = s.line()
    out.update(long_records(single))
    if fused is not None:
        out.update(ambulatory(fused, seeds))
    by_cond: dict[str, Score] = {}
    total = Score()
    for strip in synthetic_set(seeds=seeds):
        det = single(strip.signal, strip.fs)
        by_cond.setdefault(strip.condition.name, Score()).add(det, strip.r_peaks, strip.fs)
        total.add(det, strip.r_peaks, strip.fs)
    f1s = {k: v.f1() for k, v in by_cond.items()}
    worst = min(f1s, key=f1s.get)
    out["synthetic pooled"] = total.line()
    out["synthetic mean of conditions"] = f"F1 {np.mean(list(f1s.values())):.4f}; worst {worst} {by_cond[worst].line()}"
    out["synthetic by condition"] = {k: f"{v:.4f}" for k, v in f1s.items()}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--baseline-repo", type=Path, default=None)
    ap.add_argument("--skip-nk", action="store_true")
    ap.add_argument("--json-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    sys.path.insert(0, os.environ.get("GEMFLOW_DETECTOR_REPO", str(REPO)))
    if args.json_only:  # child mode: this checkout's gemflow detector only
        print(json.dumps(run_sets(*gemflow_detectors(), args.seeds)))
        return
    columns: dict[str, dict] = {}
    if args.baseline_repo:
        env = {**os.environ, "PYTHONPATH": str(args.baseline_repo), "GEMFLOW_DETECTOR_REPO": str(args.baseline_repo)}
        cmd = [sys.executable, __file__, "--json-only", "--seeds", str(args.seeds)]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        columns["baseline"] = json.loads(out.stdout.strip().splitlines()[-1])
    columns["gemflow"] = run_sets(*gemflow_detectors(), args.seeds)
    if not args.skip_nk:
        columns["neurokit2"] = run_sets(nk_detector, None, args.seeds)
    sys.path.insert(0, str(REPO))
    from benchmarks.rpeaks_cv import cross_validate  # noqa: PLC0415
    cv, _ = cross_validate()
    for key in columns["gemflow"]:
        print(f"\n{key}")
        for name, col in columns.items():
            if key in col:
                print(f"  {name:<10} {col[key]}")
    print("\nCPSC-2019 two-fold cross-validation of the tuned parameters:")
    print("\n".join(f"  {line}" for line in cv))


if __name__ == "__main__":
    main()
