"""Typed flow results: what each flow returns, and the flat summary the CLI, logs and artifacts show.

Every flow returns one of these dataclasses (plain Python, pickled by Prefect like any result), never a
string-keyed dict. `summary()` is the one flat view of a result: the rows `gemflow` prints, its
`--json` output and the counts artifact are all made from it, so they keep one shape.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from tasks.shards import Counts

if TYPE_CHECKING:
    from tasks.evaluate.stage import EvalCounts
    from tasks.export.llava import ExportResult
    from tasks.teachers.stage import GenerateCounts
    from tasks.validate.stage import ValidateCounts

C = TypeVar("C", bound=Counts)


@dataclass
class StageResult(Generic[C]):
    """A stage run: its summed counts, plus what a subclass adds (its own fields, after the counts)."""

    counts: C

    def summary(self) -> dict[str, Any]:
        """The counts, then every other field of the result, in declaration order."""
        extra = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "counts"}
        return {**self.counts.as_dict(), **extra}


@dataclass
class GenerateResult(StageResult["GenerateCounts"]):
    """Generate: the ledger's spend so far, the projected total, and requests resent after a crash."""

    spent_usd: float = 0.0
    projected_usd: float = 0.0
    resent_after_crash: int = 0


@dataclass
class ValidateResult(StageResult["ValidateCounts"]):
    """Validate: the counts and the dataset's acceptance rate after this run."""

    acceptance_rate: float = 0.0


@dataclass
class EvaluateResult(StageResult["EvalCounts"]):
    """Evaluate: the counts of this run and the headline metrics of the interpreter on the split."""

    interpreter: str = ""
    split: str = ""
    export: str = ""
    macro_f1: float | None = None
    hamming_loss: float | None = None
    grounding_score: float | None = None
    report: str = ""


@dataclass
class EventResult:
    """The training trigger: whether `gemflow.dataset.validated` was emitted, and the count it was judged on."""

    emitted: bool
    count: int
    target: int
    version: str | None = None

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"emitted": self.emitted, "count": self.count, "target": self.target}
        if self.version is not None:
            out["version"] = self.version
        return out


@dataclass
class RegenRound:
    """One regeneration round of a build: the rejected answers asked again, then validated."""

    regenerate: StageResult["GenerateCounts"]
    validate: ValidateResult


@dataclass
class BuildResult:
    """A build (`build-dataset`) or a teacher rerun (`regenerate-with-teacher`, which skips the first three stages)."""

    generate: GenerateResult
    validate: ValidateResult
    export: "ExportResult"
    event: EventResult
    ingest: StageResult | None = None
    features: StageResult | None = None
    render: StageResult | None = None
    rounds: list[RegenRound] = field(default_factory=list)

    def stages(self) -> dict[str, Any]:
        """Stage name -> result, in the order they ran (`regenerate-1`, `validate-1`, ... for the rounds)."""
        out: dict[str, Any] = {k: getattr(self, k) for k in ("ingest", "features", "render")
                               if getattr(self, k) is not None}
        out.update(generate=self.generate, validate=self.validate)
        for k, one in enumerate(self.rounds, start=1):
            out[f"regenerate-{k}"], out[f"validate-{k}"] = one.regenerate, one.validate
        out.update(export=self.export, event=self.event)
        return out

    def summary(self) -> dict[str, dict[str, Any]]:
        """Stage name -> that stage's flat summary."""
        return {name: result.summary() for name, result in self.stages().items()}


@dataclass
class TrainResult:
    """The train flow: the command (and sources) of a dry run, or the loss figures of a finished run."""

    dry_run: bool
    output: str
    command: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    steps: int = 0
    final_loss: float | None = None
    eval_loss: float | None = None
    eval_samples: int = 0

    def summary(self) -> dict[str, Any]:
        if self.dry_run:
            return {"dry_run": True, "command": self.command, "sources": self.sources, "output": self.output}
        return {"dry_run": False, "output": self.output, "steps": self.steps, "final_loss": self.final_loss,
                "eval_loss": self.eval_loss, "eval_samples": self.eval_samples}


@dataclass
class TrainGemResult:
    """The triggered training: skipped when another run already trains this version, else the train result."""

    skipped: bool
    version: str
    trained_by: str | None = None
    train: TrainResult | None = None

    def summary(self) -> dict[str, Any]:
        if self.skipped or self.train is None:
            return {"skipped": self.skipped, "version": self.version, "trained_by": self.trained_by}
        return {"skipped": False, "version": self.version, **self.train.summary()}
