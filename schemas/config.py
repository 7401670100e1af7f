"""The `gemflow.yaml` config: pydantic models validated when built; an error names the field."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from schemas.images import RenderSettings

CONFIG_ENV = "GEMFLOW_CONFIG"
SourceKind = Literal["auto", "wfdb", "ptbxl", "mimic", "code15", "demo"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SourceConfig(_Strict):
    """One corpus to ingest. `kind: auto` recognises PTB-XL, MIMIC-IV-ECG and CODE-15% folders."""

    path: str
    kind: SourceKind = "auto"
    name: str | None = None  # defaults to the folder's name
    credentialed: bool | None = None  # None: the reader decides (MIMIC-IV-ECG is credentialed)


class IngestSettings(_Strict):
    window_s: float = Field(10.0, gt=0)
    window: Literal["first", "middle"] = "first"
    max_nan_fraction: float = Field(0.05, ge=0, le=1)
    flat_ptp_mv: float = Field(0.01, ge=0)
    max_flat_leads: int = Field(6, ge=0, le=12)  # more flat leads than this: quarantined at ingest
    ptbxl_rate: Literal[500, 100] = 500


class FeatureSettings(_Strict):
    min_usable_leads: int = Field(6, ge=1, le=12)


class ValidationSettings(_Strict):
    """Bounds and tolerances of the grounding validators."""

    min_words: int = Field(40, ge=1)
    max_words: int = Field(300, ge=1)
    single_paragraph: bool = True
    # two prose paragraphs: joined into one before checking and storing ("join"), or rejected ("reject")
    paragraphs: Literal["join", "reject"] = "join"
    tol_hr_bpm: float = Field(5.0, ge=0)
    tol_interval_ms: float = Field(20.0, ge=0)
    tol_interval_rel: float = Field(0.10, ge=0)
    tol_interval_max_ms: float = Field(40.0, ge=0)  # cap of the relative part (docs/teachers.md)
    tol_axis_deg: float = Field(15.0, ge=0)
    tol_amplitude_mv: float = Field(0.15, ge=0)
    tol_amplitude_rel: float = Field(0.20, ge=0)
    min_lead_coverage: float = Field(0.08, ge=0, le=1)  # at least one of the 12 leads cited (docs/teachers.md)
    require_labels_stated: bool = True
    near_duplicate_threshold: float = Field(0.9, gt=0, le=1)  # MinHash Jaccard across records
    max_regenerations: int = Field(2, ge=0)  # K: rejected answers are asked again up to K times

    @model_validator(mode="after")
    def _bounds(self) -> "ValidationSettings":
        if self.min_words > self.max_words:
            raise ValueError(f"min_words ({self.min_words}) exceeds max_words ({self.max_words})")
        return self


class ExportSettings(_Strict):
    train_fraction: float = Field(0.8, gt=0, lt=1)
    val_fraction: float = Field(0.1, ge=0, lt=1)
    split_seed: str = "gemflow"

    @model_validator(mode="after")
    def _fractions(self) -> "ExportSettings":
        if self.train_fraction + self.val_fraction > 1:
            raise ValueError("train_fraction + val_fraction must not exceed 1")
        return self


class TeacherConfig(_Strict):
    """One teacher: the offline template, or any litellm/OpenAI-compatible model."""

    kind: Literal["template", "litellm"] = "litellm"
    model: str = ""
    api_base: str | None = None
    api_key_env: str | None = None
    api_key_secret_block: str | None = None
    rpm: int = Field(60, gt=0)
    tpm: int = Field(100_000, gt=0)
    max_concurrency: int = Field(8, gt=0)
    temperature: float | None = Field(0.2, ge=0, le=2)
    max_tokens: int = Field(700, gt=0)
    timeout_s: float = Field(600.0, gt=0)
    max_attempts: int = Field(6, ge=1)  # per request in one run
    max_attempts_total: int = Field(12, ge=1)  # per request over every run; then it is left failed with its reason
    max_tokens_ceiling: int | None = Field(None, gt=0)  # an answer cut at max_tokens is retried with x length_growth
    length_growth: float = Field(2.0, gt=1)  # ... up to this ceiling (default 4 x max_tokens), then fails with why
    retry_base_s: float = Field(1.0, gt=0)  # first back-off after a transient error (doubles, with jitter)
    retry_max_s: float = Field(60.0, gt=0)
    batch: bool = False  # OpenAI Batch API (50% price, results within 24 h)
    batch_poll_s: float = Field(30.0, gt=0)
    batch_wait_s: float = Field(86_400.0, ge=0)  # how long one run polls its batches before leaving them for the next
    batch_max_requests: int = Field(50_000, ge=1, le=50_000)
    batch_enqueued_tokens: int = Field(90_000, gt=0)  # the provider's enqueued prompt-token cap (tier's batch queue limit)
    batch_discount: float = Field(0.5, gt=0, le=1)  # applied to config prices in batch mode
    vision: bool = False  # send the rendered page as a base64 PNG
    input_usd_per_mtok: float | None = Field(None, ge=0)
    output_usd_per_mtok: float | None = Field(None, ge=0)
    allowed_credentialed_sources: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _model_needed(self) -> "TeacherConfig":
        if self.kind == "litellm" and not self.model:
            raise ValueError("a litellm teacher needs `model` (a litellm model string)")
        return self


def builtin_teachers() -> dict[str, TeacherConfig]:
    """Teachers every config has unless it overrides them by name."""
    return {
        "template": TeacherConfig(kind="template", model="gemflow/template", rpm=10**9, tpm=10**12,
                                  max_concurrency=1, temperature=None),
        "gpt-4o": TeacherConfig(model="gpt-4o", api_key_env="OPENAI_API_KEY", rpm=500, tpm=30_000,
                                max_concurrency=16, vision=True),
        # R1: max_tokens counts the chain of thought (API default 32K, maximum 64K); its model card
        # recommends temperature 0.6 (0.5-0.7)
        "deepseek-r1": TeacherConfig(model="deepseek/deepseek-reasoner", api_key_env="DEEPSEEK_API_KEY",
                                     rpm=60, tpm=1_000_000, max_concurrency=8, temperature=0.6,
                                     max_tokens=32_768, max_tokens_ceiling=65_536, timeout_s=1800),
    }


class GemflowConfig(_Strict):
    """Everything a dataset build needs, from sources to the training trigger."""

    data_dir: str = "./gemflow-data"
    sources: list[SourceConfig] = Field(default_factory=list)
    shard_size: int = Field(200, ge=1)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    features: FeatureSettings = Field(default_factory=FeatureSettings)
    render: RenderSettings = Field(default_factory=RenderSettings)
    validation: ValidationSettings = Field(default_factory=ValidationSettings)
    export: ExportSettings = Field(default_factory=ExportSettings)
    teacher: str = "template"
    teachers: dict[str, TeacherConfig] = Field(default_factory=builtin_teachers)
    prompt_version: str = "v1"
    budget_usd: float | None = Field(None, ge=0)
    target_pairs: int = Field(30_000, ge=1)
    train: dict = Field(default_factory=dict)

    @field_validator("teachers", mode="after")
    @classmethod
    def _with_builtins(cls, value: dict[str, TeacherConfig]) -> dict[str, TeacherConfig]:
        return {**builtin_teachers(), **value}

    @model_validator(mode="after")
    def _teacher_known(self) -> "GemflowConfig":
        if self.teacher not in self.teachers:
            known = ", ".join(sorted(self.teachers))
            raise ValueError(f"teacher {self.teacher!r} is not configured (known: {known})")
        return self

    def teacher_config(self, name: str | None = None) -> TeacherConfig:
        name = name or self.teacher
        if name not in self.teachers:
            raise KeyError(f"teacher {name!r} is not configured (known: {', '.join(sorted(self.teachers))})")
        return self.teachers[name]


class ConfigError(ValueError):
    """A config file that does not validate; the message names the file and the field."""


def load_config(path: str | os.PathLike | None = None, **overrides) -> GemflowConfig:
    """Read `gemflow.yaml` (the given path, $GEMFLOW_CONFIG, or ./gemflow.yaml if present) and apply overrides."""
    candidate = path or os.environ.get(CONFIG_ENV)
    if candidate is None and Path("gemflow.yaml").exists():
        candidate = "gemflow.yaml"
    data: dict = {}
    if candidate is not None:
        p = Path(candidate)
        if not p.exists():
            raise ConfigError(f"config file {p} does not exist")
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{p}: not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{p}: the top level must be a mapping")
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return GemflowConfig.model_validate(data)
    except ValidationError as exc:
        where = f"{candidate}: " if candidate else ""
        fields = "; ".join(
            f"{'.'.join(str(x) for x in err['loc']) or '(top level)'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{where}invalid config: {fields}") from exc
