"""Configuration of the GEM model and its training run, validated when built.

`GemConfig` names the architecture (each part by a `build_*` factory key) and travels with
every checkpoint as `gem_config.json`; `TrainConfig` is the `train:` section of a gemflow
config: model, data mixture, HF `TrainingArguments` values and the DeepSpeed JSON to use.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GEM_CONFIG_FILE = "gem_config.json"

# Fields that define tensor shapes or meaning: a resumed run must match them exactly.
ARCH_FIELDS = (
    "ecg_encoder", "ecg_select", "vision_tower", "vision_name", "vision_select_layer",
    "ecg_projector", "mm_projector", "llm", "llm_name", "ecg_arch", "vision_arch", "llm_arch",
)


DTYPES = ("bfloat16", "float16", "float32")


class ConfigError(ValueError):
    """A config value is wrong; the message names the field."""


class ConfigMismatchError(ValueError):
    """A checkpoint was written by a model whose architecture differs from the current config."""


@dataclass
class GemConfig:
    """The GEM architecture: ECG tower, vision tower, two projectors and a causal LM."""

    ecg_encoder: str = "coca-base"  # "coca-base" | "tiny" | "none"
    ecg_checkpoint: str | None = None  # ECG-CoCa-style weights; None trains from scratch
    ecg_select: str = "all"  # "all" (CLS + patches) | "patch"
    freeze_ecg_encoder: bool = True
    vision_tower: str = "clip"  # "clip" (HF weights) | "clip-tiny" (random) | "none"
    vision_name: str = "openai/clip-vit-large-patch14-336"
    vision_select_layer: int = -2
    freeze_vision_tower: bool = True
    # "pad": LLaVA-1.5's pad to square with the CLIP mean colour; "pad-white": pad with
    # image_pad_fill (the paper's white); "ori": GEM's resize + centre crop (cuts the page's sides)
    image_preprocess: str = "pad"
    image_pad_fill: tuple[int, int, int] = (255, 255, 255)  # the fill of "pad-white"
    ecg_projector: str = "linear"
    mm_projector: str = "mlp2x_gelu"
    llm: str = "hf"  # "hf" | "llava" (LLaVA-1.5/1.6, PULSE, Vicuna folders) | "llama-tiny" | "smollm2-135m"
    llm_name: str = "lmsys/vicuna-7b-v1.5"
    dtype: str = "bfloat16"  # weights of the LM and vision tower as loaded: bfloat16 | float16 | float32
    attn_implementation: str = "auto"  # auto: flash_attention_2 when installed (GPU, 16-bit), else sdpa
    freeze_llm: bool = False
    conv_template: str = "llava_v1"
    max_length: int = 4096
    cache_dir: str | None = None  # where converted weights/tokenizers are cached
    # Resolved sub-configs, filled when the model is built; they let a checkpoint rebuild
    # every module offline (no from_pretrained) before loading its own weights.
    ecg_arch: dict[str, Any] | None = None
    vision_arch: dict[str, Any] | None = None
    llm_arch: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = "model") -> "GemConfig":
        cfg = cls(**_known_fields(cls, raw, where))
        cfg.image_pad_fill = tuple(cfg.image_pad_fill)  # JSON gives a list
        cfg.validate(where)
        return cfg

    def validate(self, where: str = "model") -> None:
        if self.ecg_select not in ("all", "patch"):
            raise ConfigError(f"{where}.ecg_select: expected 'all' or 'patch', got {self.ecg_select!r}")
        if self.max_length < 16:
            raise ConfigError(f"{where}.max_length: must be at least 16, got {self.max_length}")
        if self.ecg_encoder == "none" and self.vision_tower == "none":
            raise ConfigError(f"{where}: ecg_encoder and vision_tower cannot both be 'none'")
        if len(self.image_pad_fill) != 3:
            raise ConfigError(f"{where}.image_pad_fill: expected an RGB triple")
        _one_of(self.image_preprocess, ("pad", "pad-white", "ori"), f"{where}.image_preprocess")
        _one_of(self.dtype, DTYPES, f"{where}.dtype")
        _one_of(self.attn_implementation, ("auto", "flash_attention_2", "sdpa", "eager"),
                f"{where}.attn_implementation")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / GEM_CONFIG_FILE
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True))
        return path

    @classmethod
    def load(cls, directory: str | Path) -> "GemConfig":
        path = Path(directory) / GEM_CONFIG_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path}: not a gemflow checkpoint (no {GEM_CONFIG_FILE})")
        return cls.from_dict(json.loads(path.read_text()), where=str(path))


def arch_mismatches(saved: GemConfig, current: GemConfig) -> list[str]:
    """Architecture fields that differ; a resolved sub-config is compared only when both have one."""
    diffs = []
    for name in ARCH_FIELDS:
        old, new = getattr(saved, name), getattr(current, name)
        if name.endswith("_arch") and (old is None or new is None):
            continue
        if old != new and isinstance(old, dict) and isinstance(new, dict):
            keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            diffs.append(f"{name}: " + ", ".join(f"{k}: checkpoint has {_short(old.get(k))}, config has "
                                                 f"{_short(new.get(k))}" for k in keys[:6]))
        elif old != new:
            diffs.append(f"{name}: checkpoint has {_short(old)}, config has {_short(new)}")
    return diffs


def check_compatible(saved: GemConfig, current: GemConfig, ckpt: str | Path) -> None:
    """Raise `ConfigMismatchError` listing every architecture field that differs."""
    diffs = arch_mismatches(saved, current)
    if diffs:
        raise ConfigMismatchError(
            f"cannot resume from {ckpt}: its model config differs from the current one:\n  "
            + "\n  ".join(diffs)
        )


@dataclass
class DataSource:
    """One LLaVA-format JSON list, its root for relative paths, and its sampling weight."""

    json: str
    root: str | None = None  # default: the data root
    weight: float = 1.0
    name: str | None = None


@dataclass
class DataConfig:
    """Which exports and other LLaVA sets to mix, and how many samples make an epoch."""

    export: str | None = "latest"  # DATA_ROOT/exports/<export>/train.json; None to skip
    sources: list[DataSource] = field(default_factory=list)  # other LLaVA-format sets
    export_weight: float = 1.0
    samples_per_epoch: int | None = None  # default: the sum of the source sizes
    seed: int = 0


@dataclass
class LoraConfig:
    """LoRA on the LLM (peft), as LLaVA's and GEM's `*_lora` scripts: the projectors train fully."""

    r: int = 128
    alpha: int = 256
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: [
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])


STAGES = ("finetune", "align")


@dataclass
class TrainConfig:
    """The `train:` section: model, data, HF TrainingArguments values, DeepSpeed config."""

    model: GemConfig = field(default_factory=GemConfig)
    data: DataConfig = field(default_factory=DataConfig)
    training: dict[str, Any] = field(default_factory=dict)
    deepspeed: str | None = "zero2"  # "zero2" | "zero3" | "zero2_offload" | a JSON path | None
    init_from: str | None = None  # a gemflow checkpoint whose weights start this run
    # The paper's batch on any number of GPUs: accumulation = global / (world x micro), unless
    # `training.gradient_accumulation_steps` is set explicitly.
    global_batch_size: int = 256
    # "align": LLaVA's stage 1 (LLM frozen, only the projectors train); "finetune": stage 2.
    stage: str = "finetune"
    mm_projector_lr: float | None = None  # a separate learning rate for the projectors
    # An aligned projector to start from: a gemflow checkpoint dir, LLaVA's mm_projector.bin,
    # or a LLaVA/PULSE model folder (its model.mm_projector.* tensors).
    projector_from: str | None = None
    lora: LoraConfig | None = None  # set to train LoRA adapters instead of the full LLM
    eval_generate: int = 4  # answers generated from the val split at each evaluation (an artifact)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "TrainConfig":
        raw = dict(raw.get("train", raw))  # accept a whole gemflow.yaml or its train section
        known = _known_fields(cls, raw, "train")
        data_raw = dict(known.get("data") or {})
        sources = [DataSource(**_known_fields(DataSource, s, f"train.data.sources[{i}]"))
                   for i, s in enumerate(data_raw.pop("sources", None) or [])]
        data = DataConfig(sources=sources, **_known_fields(DataConfig, data_raw, "train.data"))
        _check_data(data)
        lora_raw = known.get("lora")
        lora = None
        if lora_raw is not None and lora_raw is not False:
            lora = LoraConfig(**_known_fields(LoraConfig, {} if lora_raw is True else dict(lora_raw), "train.lora"))
        cfg = cls(
            model=GemConfig.from_dict(known.get("model") or {}, "train.model"),
            data=data,
            training=dict(known.get("training") or {}),
            deepspeed=known.get("deepspeed", "zero2"),
            init_from=known.get("init_from"),
            global_batch_size=int(known.get("global_batch_size", 256)),
            stage=known.get("stage", "finetune"),
            mm_projector_lr=known.get("mm_projector_lr"),
            projector_from=known.get("projector_from"),
            lora=lora,
            eval_generate=int(known.get("eval_generate", 4)),
        )
        _check_run(cfg)
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check_run(cfg: "TrainConfig") -> None:
    if cfg.global_batch_size < 1:
        raise ConfigError(f"train.global_batch_size: must be >= 1, got {cfg.global_batch_size}")
    _one_of(cfg.stage, STAGES, "train.stage")
    if cfg.mm_projector_lr is not None and not cfg.mm_projector_lr > 0:
        raise ConfigError(f"train.mm_projector_lr: must be > 0, got {cfg.mm_projector_lr}")
    if cfg.lora is not None and cfg.stage == "align":
        raise ConfigError("train.lora: the align stage trains only the projectors; LoRA belongs to finetune")
    if cfg.lora is not None and cfg.lora.r < 1:
        raise ConfigError(f"train.lora.r: must be >= 1, got {cfg.lora.r}")


def _check_data(data: DataConfig) -> None:
    if data.export is None and not data.sources:
        raise ConfigError("train.data: no export and no sources: nothing to train on")
    for i, src in enumerate(data.sources):
        if src.weight <= 0:
            raise ConfigError(f"train.data.sources[{i}].weight: must be > 0, got {src.weight}")
    if data.export_weight <= 0:
        raise ConfigError(f"train.data.export_weight: must be > 0, got {data.export_weight}")


def _known_fields(cls: type, raw: dict[str, Any], where: str) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}: unknown field (known: {', '.join(sorted(names))})")
    return dict(raw)


def _one_of(value: Any, allowed: tuple[str, ...], where: str) -> None:
    if value not in allowed:
        raise ConfigError(f"{where}: expected one of {', '.join(allowed)}, got {value!r}")


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 120 else text[:117] + "..."
