"""Seeded synthetic records and a calibration pattern that show and check the renderer.

`python -m tasks.render.examples docs/images` redraws the pictures used in docs/rendering.md.
The synthetic ECG is a toy: P, Q, R, S and T waves as Gaussians whose cardiac dipole vectors
are projected on the 12 lead axes, so the leads agree with each other (III = II - I, ...).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from schemas.images import AugmentSettings, RenderSettings
from tasks.render.layouts import STANDARD_LEADS
from tasks.render.renderer import Renderer

# Frontal-plane angles of the limb leads (degrees, x to the patient's left, y downwards).
_LIMB_DEG = {"I": 0.0, "II": 60.0, "III": 120.0, "aVR": -150.0, "aVL": -30.0, "aVF": 90.0}
# Horizontal-plane angles of V1..V6 (0 = left, 90 = anterior).
_CHEST_DEG = (115.0, 95.0, 75.0, 60.0, 35.0, 10.0)

# Waves: offset from the R peak (s), Gaussian width (s), dipole vector (x left, y down, z anterior) in mV.
_WAVES = (
    (-0.165, 0.022, (0.09, 0.13, 0.03)),  # P
    (-0.028, 0.008, (-0.10, 0.05, 0.35)),  # septal q / r in V1
    (0.000, 0.011, (1.05, 0.75, -0.55)),  # R
    (0.030, 0.010, (-0.25, -0.35, -0.60)),  # S
    (0.260, 0.048, (0.28, 0.22, 0.10)),  # T
)


def lead_vectors() -> np.ndarray:
    """(12, 3) unit vectors of the standard leads in the order of STANDARD_LEADS."""
    limb = [(np.cos(np.radians(d)), np.sin(np.radians(d)), 0.0) for d in _LIMB_DEG.values()]
    chest = [(np.cos(np.radians(d)), 0.15, np.sin(np.radians(d))) for d in _CHEST_DEG]
    vectors = np.array(limb + chest)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def synthetic_ecg(seed: int = 0, fs: int = 500, seconds: float = 10.0, hr_bpm: float = 68.0) -> np.ndarray:
    """A seeded toy 12-lead ECG in mV, shape (12, fs * seconds), with HRV, wander and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(fs * seconds))) / fs
    rr = 60.0 / hr_bpm
    peaks, at = [], rng.uniform(0.25, 0.6)
    while at < seconds + 0.4:
        peaks.append(at)
        at += rr * (1.0 + rng.normal(0.0, 0.03))
    dipole = np.zeros((3, t.size))
    for peak in peaks:
        for offset, width, vector in _WAVES:
            shape = np.exp(-0.5 * ((t - peak - offset) / width) ** 2)
            dipole += np.outer(np.asarray(vector) * rng.uniform(0.93, 1.07), shape)
    leads = lead_vectors() @ dipole
    wander = 0.05 * np.sin(2 * np.pi * rng.uniform(0.15, 0.3) * t + rng.uniform(0, 2 * np.pi))
    return leads + wander + rng.normal(0.0, 0.008, size=leads.shape)


def calibration_pattern(fs: int = 500, seconds: float = 10.0) -> np.ndarray:
    """Every lead: 0 mV on [k, k + 0.5) s and 1 mV on [k + 0.5, k + 1) s."""
    t = np.arange(int(round(fs * seconds))) / fs
    return np.tile(((t % 1.0) >= 0.5).astype(np.float64), (12, 1))


def write_doc_images(folder: Path) -> list[Path]:
    """Draw the pages shown in docs/rendering.md into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    pages = {
        "render_demo_3x4II.png": (RenderSettings(), synthetic_ecg(7)),
        "render_demo_6x2.png": (RenderSettings(layout="6x2"), synthetic_ecg(7)),
        "render_demo_12x1.png": (RenderSettings(layout="12x1"), synthetic_ecg(7)),
        "render_calibration.png": (RenderSettings(), calibration_pattern()),
        "render_augmented": (RenderSettings(augment=AugmentSettings(enabled=True, seed=1)), synthetic_ecg(7)),
    }
    written = []
    for name, (settings, signal) in pages.items():
        page = Renderer(settings).render(signal, 500, STANDARD_LEADS, seed=0)
        path = folder / (name if name.endswith(".png") else name + page.extension)
        path.write_bytes(page.png)
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_doc_images(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/images")):
        print(path, path.stat().st_size // 1024, "KiB")
