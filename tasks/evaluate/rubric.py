"""GEM's eight judge metrics: one schema for the judge's prompt, its response format, the parser and the scales.

Every key the judge must answer is declared once, in `METRICS`. The JSON schema shown in the prompt
and sent as the JSON-schema `response_format`, the parser's key check and the aggregation all read
this one tuple, so a key can never be renamed in one place only (GEM's evaluation had that bug).
The scales and aggregations are those of FACTS.md (GEM, tables 1-3).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Literal

LEVELS = (0, 50, 80, 100)
Kind = Literal["count", "points", "leads", "lead_points", "level"]
RATIONALE = "rationale"


@dataclass(frozen=True)
class JudgeMetric:
    key: str
    title: str
    kind: Kind
    ask: str  # what the judge is asked to give, as written in the prompt and in the schema

    @property
    def scale(self) -> str:
        """How one answer is scaled and the sample aggregated (FACTS.md)."""
        return {"count": "share of samples > 0", "points": "sum of points per sample, mean over samples",
                "leads": "min(n, 12) / 12, mean", "lead_points": "sum / 24, mean",
                "level": "0 / 50 / 80 / 100, mean"}[self.kind]


METRICS: tuple[JudgeMetric, ...] = (
    JudgeMetric("diagnosis_accuracy", "Diagnosis accuracy", "count",
                "Number of the reference diagnoses that the candidate states correctly (0 if none)."),
    JudgeMetric("analysis_completeness", "Analysis completeness", "points",
                "Number of the reference's key findings (rhythm, rate, intervals, axis, waveforms, ST-T,"
                " each diagnosis) that the candidate also analyses: one point each."),
    JudgeMetric("analysis_relevance", "Analysis relevance", "points",
                "Number of the candidate's findings that are relevant to and supported by the reference"
                " and the measurements: one point each."),
    JudgeMetric("lead_assessment_coverage", "Lead assessment coverage", "leads",
                "Number of distinct leads of the 12-lead ECG that the candidate assesses explicitly."),
    JudgeMetric("lead_assessment_accuracy", "Lead assessment accuracy", "lead_points",
                "For each of the 12 leads: 2 points if the candidate's assessment of it is correct,"
                " 1 if partly correct, 0 if wrong or absent; the sum (0-24)."),
    JudgeMetric("ecg_feature_grounding", "ECG feature grounding", "level",
                "How well the findings cite concrete ECG features (waves, intervals, amplitudes, leads):"
                " 0 none, 50 some, 80 most, 100 all findings grounded."),
    JudgeMetric("evidence_based_reasoning", "Evidence-based reasoning", "level",
                "How well the diagnosis follows from the cited evidence step by step:"
                " 0 none, 50 weak, 80 good, 100 rigorous."),
    JudgeMetric("clinical_diagnostic_fidelity", "Clinical diagnostic fidelity", "level",
                "How faithfully the reasoning mirrors a cardiologist's diagnostic process:"
                " 0 not at all, 50 partly, 80 mostly, 100 fully."),
)
KEYS = tuple(m.key for m in METRICS)
BY_KEY = {m.key: m for m in METRICS}


class JudgeParseError(ValueError):
    """The judge's answer is not one JSON object with exactly the schema's keys and valid values."""


def json_schema() -> dict:
    """The JSON schema of a judge answer (strict: every key required, no other key)."""
    props: dict[str, dict] = {}
    for m in METRICS:
        prop: dict = {"type": "integer", "description": m.ask}
        if m.kind == "level":
            prop["enum"] = list(LEVELS)
        props[m.key] = prop
    props[RATIONALE] = {"type": "string", "description": "Two or three sentences justifying the scores."}
    return {"type": "object", "properties": props, "required": [*KEYS, RATIONALE], "additionalProperties": False}


def response_format() -> dict:
    """The JSON-schema `response_format` of the judge's chat request."""
    return {"type": "json_schema", "json_schema": {"name": "gem_judge_scores", "schema": json_schema(), "strict": True}}


def schema_text() -> str:
    return json.dumps(json_schema(), indent=1)


def _json_object(text: str) -> dict:
    """The first JSON object in the text (code fences and surrounding prose are tolerated)."""
    start = text.find("{")
    if start < 0:
        raise JudgeParseError("the answer holds no JSON object")
    try:
        value, _ = json.JSONDecoder().raw_decode(text[start:])
    except json.JSONDecodeError as exc:
        raise JudgeParseError(f"the JSON object does not parse: {exc.msg} at char {exc.pos}") from exc
    if not isinstance(value, dict):
        raise JudgeParseError("the answer is not a JSON object")
    return value


def _int(key: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value != int(value):
        raise JudgeParseError(f"{key} must be an integer, got {value!r}")
    return int(value)


def _check_range(m: JudgeMetric, v: int) -> None:
    if v < 0:
        raise JudgeParseError(f"{m.key} must not be negative, got {v}")
    if m.kind == "lead_points" and v > 24:
        raise JudgeParseError(f"{m.key} is a sum over 12 leads of 0-2 points: at most 24, got {v}")
    if m.kind == "level" and v not in LEVELS:
        raise JudgeParseError(f"{m.key} must be one of {', '.join(map(str, LEVELS))}, got {v}")


def parse_scores(text: str) -> tuple[dict[str, int], str]:
    """(scores by metric key, rationale) of a judge answer; raises JudgeParseError naming what is wrong."""
    obj = _json_object(text or "")
    expected = set(KEYS) | {RATIONALE}
    missing, unknown = sorted(expected - set(obj)), sorted(set(obj) - expected)
    if missing or unknown:
        parts = ([f"missing key(s) {', '.join(missing)}"] if missing else []) + (
            [f"unknown key(s) {', '.join(unknown)}"] if unknown else [])
        raise JudgeParseError("; ".join(parts) + f" (expected exactly: {', '.join(sorted(expected))})")
    scores = {}
    for m in METRICS:
        v = _int(m.key, obj[m.key])
        _check_range(m, v)
        scores[m.key] = v
    if not isinstance(obj[RATIONALE], str):
        raise JudgeParseError(f"{RATIONALE} must be a string")
    return scores, obj[RATIONALE]


def scaled(key: str, value: int) -> float:
    """One answer on its metric's reporting scale (before averaging over samples)."""
    kind = BY_KEY[key].kind
    if kind == "count":
        return 1.0 if value > 0 else 0.0
    if kind == "leads":
        return min(value, 12) / 12
    if kind == "lead_points":
        return value / 24
    return float(value)


def aggregate(scores: list[dict[str, int]]) -> list[dict]:
    """Per metric: its scale, the number of judged samples and the aggregated value (None without samples)."""
    out = []
    for m in METRICS:
        values = [scaled(m.key, s[m.key]) for s in scores if s.get(m.key) is not None]
        value = sum(values) / len(values) if values else None
        out.append({"metric": m.key, "title": m.title, "scale": m.scale, "n": len(values), "value": value})
    return out
