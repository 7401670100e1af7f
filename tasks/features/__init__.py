"""Per-beat, per-lead ECG features: quality gate, fused beat detection, delineation, record measures."""
from tasks.features.beats import detect_r_peaks
from tasks.features.extract import FeatureError, FeatureResult, extract_features, extract_many
from tasks.features.measures import lead_summaries

__all__ = [
    "FeatureError", "FeatureResult", "detect_r_peaks", "extract_features", "extract_many", "lead_summaries",
]
