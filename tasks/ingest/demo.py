"""The offline demo source: realistic 12-lead records from the deepfake-ecg GAN, written as WFDB."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from schemas.records import CANONICAL_FS, LEADS_12

GAN_LEADS = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
GAN_SCALE_UV = 6000.0  # the generator's tanh output times 6000 is in microvolts


class DemoUnavailable(RuntimeError):
    """The `demo` extra (torch + deepfake-ecg) is not installed."""


def derive_limb_leads(eight: np.ndarray) -> np.ndarray:
    """12 leads in LEADS_12 order from I, II, V1-V6 (Einthoven and Goldberger)."""
    lead_i, lead_ii = eight[0], eight[1]
    derived = {
        "I": lead_i, "II": lead_ii, "III": lead_ii - lead_i, "aVR": -(lead_i + lead_ii) / 2,
        "aVL": lead_i - lead_ii / 2, "aVF": lead_ii - lead_i / 2,
    }
    derived.update({name: eight[k] for k, name in enumerate(GAN_LEADS) if name.startswith("V")})
    return np.vstack([derived[lead] for lead in LEADS_12])


def _generator():
    try:
        import deepfakeecg
        import torch
    except ImportError as exc:
        raise DemoUnavailable(
            "the demo needs the `demo` extra: pip install torch==2.13.0 && pip install -e '.[demo]'") from exc
    net = deepfakeecg.Generator()
    ckpt = Path(deepfakeecg.__file__).parent / "checkpoints" / "g_stat.pt"
    net.load_state_dict(torch.load(ckpt, map_location="cpu")["stat_dict"])
    net.eval()
    return net, torch


def synthesize(n: int, seed: int) -> np.ndarray:
    """`n` records (n, 12, 5000) in mV, reproducible for a seed."""
    net, torch = _generator()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        noise = torch.empty(n, len(GAN_LEADS), 5000).uniform_(-1, 1, generator=gen)
        out = (net(noise) * GAN_SCALE_UV).numpy() / 1000.0
    return np.stack([derive_limb_leads(x) for x in out]).astype(np.float32)


def write_demo_records(folder: Path, n: int = 24, seed: int = 7) -> list[Path]:
    """Write `n` demo WFDB records (idempotent: existing ones are kept); two records per synthetic patient."""
    import wfdb
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"ecg{i:05d}" for i in range(n)]
    missing = [i for i, name in enumerate(names) if not (folder / f"{name}.hea").exists()]
    if missing:
        signals = synthesize(n, seed)
        rng = np.random.default_rng(seed)
        ages = rng.integers(25, 85, n)
        sexes = rng.choice(["Male", "Female"], n)
        for i in missing:
            digital = np.round(np.clip(signals[i], -32, 32) * 1000).astype(np.int16).T
            wfdb.wrsamp(names[i], fs=CANONICAL_FS, units=["mV"] * 12, sig_name=list(LEADS_12), d_signal=digital,
                        fmt=["16"] * 12, adc_gain=[1000.0] * 12, baseline=[0] * 12, write_dir=str(folder),
                        comments=[f"Age: {ages[i]}", f"Sex: {sexes[i]}", f"Patient: P{i // 2:04d}", "Dx: ",
                                  "Source: deepfake-ecg GAN (synthetic)"])
    return [folder / f"{name}.hea" for name in names]
