"""Generate flow: ask the configured teacher about every measured record, journaled in the ledger."""
from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.blocks.system import Secret

from flows.common import refresh, settings, summarize
from flows.limits import ensure_teacher_limits, process_gate, process_limiter, teacher_limits
from flows.progress import StageProgress
from flows.stages import run_shards
from schemas.config import GemflowConfig, TeacherConfig
from storage.layout import DataRoot, RootHandle
from storage.ledger import Ledger
from storage.parquet import TableStore
from tasks.results import GenerateResult
from tasks.teachers import runner  # noqa: F401  (litellm is heavy: load it before a flow run begins, not inside it)
from tasks.teachers.client import AskOptions, collect
from tasks.teachers.stage import SHARDS, GenerateCounts, generate_shard, pending_generation


def teacher_api_key(tcfg: TeacherConfig) -> str | None:
    """The key from the teacher's Prefect Secret block, if it names one (else the runner reads $api_key_env)."""
    if tcfg.api_key_secret_block:
        return Secret.load(tcfg.api_key_secret_block).get()
    return None


def llm_options(teacher: str, tcfg: TeacherConfig) -> dict:
    """What an LLM teacher's runner needs from the flow layer: the key, the Prefect cap, the process limiter."""
    return {"api_key": teacher_api_key(tcfg), "gate": process_gate(teacher_limits(teacher, tcfg)),
            "limiter": process_limiter(teacher, tcfg.rpm, tcfg.tpm)}


@task(name="generate-shard")  # no retries, no timeout: a retry could resend a paid call (flows/stages.py)
def generate_shard_task(root_dir: str | RootHandle, record_ids: list[str], cfg: GemflowConfig, teacher: str,
                        version: str) -> GenerateCounts:
    tcfg = cfg.teacher_config(teacher)
    options = llm_options(teacher, tcfg) if tcfg.kind == "litellm" else {}
    return generate_shard(root_dir, record_ids, cfg, teacher, version, **options)


@task(name="collect-batches")
def collect_batches_task(root_dir: str, cfg: GemflowConfig, teacher: str) -> GenerateCounts:
    """Poll the teacher's open Batch API batches until done (or `batch_wait_s`) and journal their results."""
    tcfg = cfg.teacher_config(teacher)
    with Ledger(DataRoot.open(root_dir).ledger_path) as ledger:
        res = collect(ledger, teacher, tcfg, AskOptions(api_key=teacher_api_key(tcfg), data_root=root_dir))
    return GenerateCounts(done=res.done, failed=res.failed, waiting_in_batch=res.waiting_in_batch)


def publish_cost(projection: list[dict], budget_usd: float | None) -> None:
    """A table artifact: cost so far and projected total per teacher (cost per done request x pending)."""
    rows = [{"teacher": p["teacher"], "spent_usd": round(p["spent_usd"], 6), "done": p["done"],
             "pending": p["pending"], "usd_per_done": round(p["usd_per_done"], 6),
             "projected_usd": round(p["projected_usd"], 6)} for p in projection]
    note = f"budget_usd = {budget_usd}" if budget_usd is not None else "no budget_usd set"
    create_table_artifact(key="teacher-cost", table=rows, description=f"gemflow teacher cost so far and projected; {note}")


@flow(name="generate", flow_run_name="generate/{teacher}/{prompt_version}")
def generate_flow(data: str, teacher: str | None = None, prompt_version: str | None = None,
                  config_path: str | None = None, limit: int | None = None) -> GenerateResult:
    cfg, root = settings(data, config_path, teacher=teacher, prompt_version=prompt_version)
    teacher, version = cfg.teacher, cfg.prompt_version
    tcfg = cfg.teacher_config(teacher)
    if tcfg.kind == "litellm":
        ensure_teacher_limits(teacher, tcfg)  # strict limits must exist before the first call
    with root.writer_lock("generate"):
        SHARDS.drop_orphans(root)
        pending = pending_generation(root, teacher, version)[:limit]
        total = run_shards(SHARDS.name, root.handle(), pending, generate_shard_task, cfg, teacher, version,
                           shard_size=cfg.shard_size, zero=GenerateCounts(), sequential=True,
                           progress=StageProgress("generate", len(pending), "requests"))
        if tcfg.kind == "litellm" and tcfg.batch:
            waited = collect_batches_task(root.location, cfg, teacher)
            total.done, total.failed = total.done + waited.done, total.failed + waited.failed
            total.waiting_in_batch = waited.waiting_in_batch
        with Ledger(root.ledger_path) as ledger:
            TableStore(root).replace("responses", ledger.snapshot())
            spent, resent, projection = ledger.spent_usd(), ledger.resent(), ledger.cost_projection()
        refresh(root)
    publish_cost(projection, cfg.budget_usd)
    if total.not_sent_budget:
        get_run_logger().warning(
            "%d request(s) not sent: budget_usd=%s would be passed (spent $%.4f). Raise budget_usd in gemflow.yaml"
            " and rerun to resume.", total.not_sent_budget, cfg.budget_usd, spent)
    projected = sum(p["projected_usd"] for p in projection)
    return summarize("generate", GenerateResult(total, spent_usd=round(spent, 6), projected_usd=round(projected, 6),
                                                resent_after_crash=resent))
