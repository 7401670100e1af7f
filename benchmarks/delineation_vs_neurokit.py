"""Delineation accuracy against known truth: gemflow vs neurokit2 ecg_delineate (dwt, peak), same signals.

Signals: seeded synthetic 12-lead records (tasks/features/synthetic.py) whose fiducials are known by
construction: narrow, RBBB- and LBBB-like QRS, ST shifts, AV delays 110-300 ms, 45-150 bpm, noise.
Per fiducial and method: mean and SD of the error (ms, estimate - truth) over the lead-beats both
methods were given, the share of them it measured, and whether 2 SD is inside the CSE tolerance.
gemflow is also scored on its global (all-lead) fiducials against the global truth (CSE style).

    PYTHONPATH=. .venv/bin/python benchmarks/delineation_vs_neurokit.py --records 30 [--seed0 3000]

Two generator variants, same seeds: "default" (the shapes the delineator was developed on: a P of two
Gaussians 25 ms apart, an asymmetric-Gaussian T) and "alt" (a bifid P, a raised-cosine T, notched in half
the records), so that a rule fitted to one wave shape shows up as a worse figure on the other.
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from tasks.features import FeatureError, extract_features
from tasks.features.synthetic import LEADS, SyntheticECG, make_record

FIDUCIALS = ("p_on", "p_off", "qrs_on", "qrs_off", "t_off")
CSE_2SD_MS = {"p_on": 10.0, "p_off": 12.7, "qrs_on": 6.5, "qrs_off": 11.6, "t_off": 30.6}
NK_KEYS = {"p_on": "ECG_P_Onsets", "p_off": "ECG_P_Offsets", "qrs_on": "ECG_R_Onsets",
           "qrs_off": "ECG_R_Offsets", "t_off": "ECG_T_Offsets"}
MATCH_S = 0.12  # a method's beat belongs to the true beat whose QRS onset is nearest, within this


def _match(anchor: np.ndarray, rec: SyntheticECG) -> np.ndarray:
    """(B_est,) index of the true beat for each estimated beat anchor (samples), -1 when none is near."""
    true = rec.truth_global["qrs_on"] + 0.03 * rec.fs
    if anchor.size == 0:
        return np.zeros(0, dtype=int)
    d = np.abs(anchor[:, None] - true[None, :])
    idx = np.argmin(d, axis=1)
    return np.where(d[np.arange(anchor.size), idx] <= MATCH_S * rec.fs, idx, -1)


def _place(est: np.ndarray, beat_of: np.ndarray, n_true: int) -> np.ndarray:
    out = np.full(n_true, np.nan)
    ok = beat_of >= 0
    out[beat_of[ok]] = est[ok]
    return out


def gemflow_estimates(rec: SyntheticECG, leads: list[int]) -> tuple[dict, dict]:
    """Per fiducial: (len(leads), B_true) per-lead estimates and (B_true,) global ones (samples)."""
    n_true = rec.beats.size
    try:
        res = extract_features(rec.signal, rec.fs, list(LEADS), "synthetic")
    except FeatureError:  # the quality gate refused the record: every fiducial counts as not measured
        nan = np.full((len(leads), n_true), np.nan)
        return {f: nan for f in FIDUCIALS}, {f: nan[0] for f in FIDUCIALS}
    tbl = res.beats.to_pandas()
    per, glob = {}, {}
    for f in FIDUCIALS:
        rows = []
        for li in leads:
            g = tbl[tbl.lead == LEADS[li]]
            anchor = g["r_peak_s"].to_numpy(float) * rec.fs
            anchor = np.where(np.isfinite(anchor), anchor, g["qrs_on_s"].to_numpy(float) * rec.fs + 0.04 * rec.fs)
            rows.append(_place(g[f"{f}_s"].to_numpy(float) * rec.fs, _match(anchor, rec), n_true))
        per[f] = np.asarray(rows)
        col = f"{f}_g_s"
        if col in tbl:
            g0 = tbl.groupby("beat")[list(dict.fromkeys(["qrs_on_g_s", col]))].first()
            anchor = g0["qrs_on_g_s"].to_numpy(float) * rec.fs + 0.03 * rec.fs
            glob[f] = _place(g0[col].to_numpy(float) * rec.fs, _match(anchor, rec), n_true)
    return per, glob


def neurokit_estimates(rec: SyntheticECG, leads: list[int], method: str) -> dict:
    """Per fiducial: (len(leads), B_true) neurokit2 estimates, its own clean + peaks + delineate per lead."""
    import neurokit2 as nk

    out = {f: np.full((len(leads), rec.beats.size), np.nan) for f in FIDUCIALS}
    for row, li in enumerate(leads):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                clean = nk.ecg_clean(rec.signal[li].astype(float), sampling_rate=int(rec.fs))
                _, info = nk.ecg_peaks(clean, sampling_rate=int(rec.fs))
                _, waves = nk.ecg_delineate(clean, info["ECG_R_Peaks"], sampling_rate=int(rec.fs), method=method)
            except Exception:  # noqa: BLE001 - a neurokit failure on a lead counts as "not measured"
                continue
        beat_of = _match(np.asarray(info["ECG_R_Peaks"], dtype=float), rec)
        for f in FIDUCIALS:
            if NK_KEYS[f] in waves:
                est = np.asarray(waves[NK_KEYS[f]], dtype=float)
                n = min(est.size, beat_of.size)  # neurokit may drop a beat at the edges
                out[f][row] = _place(est[:n], beat_of[:n], rec.beats.size)
    return out


def _truth(rec: SyntheticECG, leads: list[int]) -> dict:
    return {f: rec.truth[f][leads] for f in FIDUCIALS}


def summarise(errors: dict[str, list[np.ndarray]], truth_n: dict[str, int]) -> dict[str, tuple]:
    """fiducial -> (mean ms, SD ms, share measured, n)."""
    out = {}
    for f, chunks in errors.items():
        e = np.concatenate(chunks) if chunks else np.zeros(0)
        ok = e[np.isfinite(e)]
        share = ok.size / max(truth_n[f], 1)
        out[f] = (float(ok.mean()) if ok.size else np.nan, float(ok.std()) if ok.size else np.nan, share, ok.size)
    return out


def run(n_records: int, leads: list[int], seed0: int = 1000, variant: str = "default") -> dict[str, dict]:
    methods = ("gemflow", "gemflow-global", "neurokit2-dwt", "neurokit2-peak")
    errs = {m: {f: [] for f in FIDUCIALS} for m in methods}
    truth_n = {m: {f: 0 for f in FIDUCIALS} for m in methods}
    timing = {m: 0.0 for m in methods}
    for i in range(n_records):
        rec = make_record(seed0 + i, variant=variant)
        tr = _truth(rec, leads)
        t0 = time.perf_counter()
        per, glob = gemflow_estimates(rec, leads)
        timing["gemflow"] += time.perf_counter() - t0
        ests = {"gemflow": per}
        for m in ("dwt", "peak"):
            t0 = time.perf_counter()
            ests[f"neurokit2-{m}"] = neurokit_estimates(rec, leads, m)
            timing[f"neurokit2-{m}"] += time.perf_counter() - t0
        for m, est in ests.items():
            for f in FIDUCIALS:
                have = np.isfinite(tr[f])
                errs[m][f].append(((est[f] - tr[f]) * 1000.0 / rec.fs)[have])
                truth_n[m][f] += int(have.sum())
        for f in FIDUCIALS:
            if f in glob:
                have = np.isfinite(rec.truth_global[f])
                errs["gemflow-global"][f].append(((glob[f] - rec.truth_global[f]) * 1000.0 / rec.fs)[have])
                truth_n["gemflow-global"][f] += int(have.sum())
    return {"summary": {m: summarise(errs[m], truth_n[m]) for m in methods}, "timing": timing}


def report(out: dict, title: str) -> None:
    print(title)
    print(f"{'fiducial':9} {'method':15} {'mean':>7} {'SD':>6} {'2SD':>6} {'CSE 2SD':>7} {'measured':>8}  2SD within CSE")
    for f in FIDUCIALS:
        for m, summ in out["summary"].items():
            mean, sd, share, n = summ[f]
            if n == 0:
                print(f"{f:9} {m:15} {'not given':>7}")
                continue
            ok = "yes" if 2 * sd <= CSE_2SD_MS[f] else "no"
            print(f"{f:9} {m:15} {mean:7.1f} {sd:6.1f} {2 * sd:6.1f} {CSE_2SD_MS[f]:7.1f} {share:8.1%}  {ok}")
    print("time (s): " + ", ".join(f"{m} {t:.1f}" for m, t in out["timing"].items() if t))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=30)
    ap.add_argument("--leads", default="II,V1,V2,V5")
    ap.add_argument("--seed0", type=int, default=1000,
                    help="first seed; 1000 (the default) and 2000 were developed on, 3000 is held out")
    ap.add_argument("--variants", default="default,alt",
                    help="generator variants (tasks/features/synthetic.py): default, alt (bifid P, raised-cosine/notched T)")
    args = ap.parse_args()
    leads = [LEADS.index(x) for x in args.leads.split(",")]
    for variant in args.variants.split(","):
        out = run(args.records, leads, seed0=args.seed0, variant=variant)
        report(out, f"{args.records} synthetic records (seeds {args.seed0}+, {variant} P/T shapes), leads {args.leads}; "
                    "error = estimate - truth (ms)")


if __name__ == "__main__":
    main()
