"""The generate stage's shard work: plan keyed requests, journal them, ask the teacher, journal the answers."""
from __future__ import annotations

from dataclasses import dataclass, fields

from schemas.config import GemflowConfig
from schemas.features import RECORD_FEATURES_SCHEMA
from schemas.records import QUARANTINE_SCHEMA, RecordError, quarantine_row
from schemas.teacher import RecordContext, TeacherRequest
from schemas.vocab import Vocabulary
from storage import staging
from storage.layout import DataRoot, RootHandle
from storage.ledger import Ledger
from storage.parquet import TableStore, part_name, rows_to_table
from tasks.shards import ShardStage
from tasks.teachers.base import plan_request
from tasks.teachers.client import AskOptions, Asked, ask, governed
from tasks.teachers.policy import CallCounts
from tasks.teachers.context import build_contexts

STAGE = "generate"
# its one Parquet part per shard is the quarantine; its journal is the ledger (flows/stages.py says why it runs serially)
SHARDS = ShardStage(STAGE, "quarantine", ())


@dataclass
class GenerateCounts(CallCounts):
    """The calls' counts (`CallCounts`), what was planned or already done, and the records governance refused."""

    planned: int = 0
    skipped_done: int = 0
    quarantined: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counts in the order `gemflow generate` has always printed them (what was planned first)."""
        counts = super().as_dict()
        first = ("planned", "sent", "done", "failed", "skipped_done", "quarantined")
        return {**{k: counts[k] for k in first}, **counts}


def pending_generation(root: DataRoot, teacher: str, version: str) -> list[str]:
    """Records with features and no first-round request for this teacher and prompt version."""
    ready, refused = generation_keys(TableStore(root))
    with Ledger(root.ledger_path) as ledger:
        asked = ledger.records_with(teacher, version, rounds=(0,), states=("done",))
    return sorted(ready - refused - asked)


def generation_keys(store: TableStore) -> tuple[set[str], set[str]]:
    """Records with features, and records this stage quarantined: from the part index, so a part is read once
    per process, and of the quarantine only the parts holding a `generate` row (storage/parquet.py `keys`)."""
    ready = store.keys("record_features", RECORD_FEATURES_SCHEMA)
    return ready, store.keys_where("quarantine", QUARANTINE_SCHEMA, "record_id", "stage", [STAGE])


def plan_shard(store: TableStore, record_ids: list[str], cfg: GemflowConfig, teacher: str,
               version: str) -> tuple[list[tuple[TeacherRequest, RecordContext]], list[dict]]:
    """Requests for a shard's records, and quarantine rows for those governance refuses (`client.governed`)."""
    tcfg = cfg.teacher_config(teacher)
    vocab = Vocabulary.load()
    planned = [(plan_request(ctx, teacher, tcfg, version, vocab), ctx) for ctx in build_contexts(store, record_ids)]
    allowed, refused = governed(planned, teacher, tcfg)
    return allowed, [quarantine_row(RecordError(ctx.record_id, STAGE, "credentialed source not allowed", why),
                                    source=ctx.source) for ctx, why in refused]


def counts_of(asked: Asked) -> GenerateCounts:
    """The stage's counts of one ask: every counter field it shares with `Asked`, and the refused records."""
    shared = {f.name: getattr(asked, f.name) for f in fields(GenerateCounts) if f.name != "quarantined"}
    return GenerateCounts(**shared, quarantined=len(asked.refused))


def run_requests(planned: list[tuple[TeacherRequest, RecordContext]], ledger: Ledger, cfg: GemflowConfig,
                 teacher: str, **llm_options) -> GenerateCounts:
    """Ask the teacher through the façade (`client.ask`: governance, ledger, batch or realtime, retries).

    `llm_options` are `client.AskOptions` fields (api_key, gate, limiter, data_root); the key never
    enters a Prefect parameter or a table.
    """
    tcfg = cfg.teacher_config(teacher)
    return counts_of(ask(planned, ledger, teacher, tcfg, AskOptions(budget_usd=cfg.budget_usd, **llm_options)))


def generate_shard(root_dir: str | RootHandle, record_ids: list[str], cfg: GemflowConfig, teacher: str,
                   version: str, **llm_options) -> GenerateCounts:
    """Plan, journal and run one shard's requests; refusals go to quarantine with stage `generate`."""
    root = DataRoot.open(root_dir)
    store = TableStore(root)
    planned, refused = plan_shard(store, record_ids, cfg, teacher, version)
    if refused:
        name = part_name(STAGE, [r["record_id"] for r in refused])
        store.commit(name, {"quarantine": rows_to_table(refused, QUARANTINE_SCHEMA)}, primary="quarantine")
    if root.is_remote and cfg.teacher_config(teacher).vision:
        fetch_pages(root, [ctx for _, ctx in planned])
    with Ledger(root.ledger_path) as ledger:
        counts = run_requests(planned, ledger, cfg, teacher, data_root=root.root, **llm_options)
    root.push_ledger()  # a remote root: this shard's journal reaches the store (a local root: nothing to do)
    counts.quarantined = len(refused)
    return counts


def fetch_pages(root: DataRoot, contexts: list[RecordContext]) -> None:
    """A vision teacher sends the page: for a remote root, the shard's pages are staged into its work folder
    (storage/staging.py: fetched concurrently, checked against the store's length and MD5, renamed into place)."""
    staging.stage_files(root, [ctx.image_path for ctx in contexts if ctx.image_path])
