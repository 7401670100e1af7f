"""What a dataset root holds: counts per stage, quarantine and rejection reasons, teacher cost."""
from __future__ import annotations

from dataclasses import asdict, astuple, dataclass, field

from schemas.tables import TABLE_SCHEMAS
from storage.catalog import memory_catalog
from storage.layout import DataRoot
from storage.ledger import Ledger
from tasks.teachers.batch_journal import leftover_files
from tasks.validate.report import quality_report, rejections_by_rule


@dataclass
class StatusReport:
    counts: dict[str, int] = field(default_factory=dict)
    quarantine: list[tuple[str, str, int]] = field(default_factory=list)  # stage, reason, n
    rejections: list[tuple[str, int]] = field(default_factory=list)  # rule, n
    requests: list[tuple[str, str, int]] = field(default_factory=list)  # teacher, state, n
    cost: list[tuple[str, float, int, float]] = field(default_factory=list)  # teacher, spent, done, per pair
    projection: list[dict] = field(default_factory=list)  # per teacher: spent, done, pending, projected USD
    resent_after_crash: int = 0
    batch_files_left: list[tuple[str, str, str, str]] = field(default_factory=list)  # teacher, file id, kind, batch
    splits: dict[str, int] = field(default_factory=dict)
    exports: list[str] = field(default_factory=list)
    quality: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {k: v for k, v in vars(self).items()}


def collect_status(root: DataRoot) -> StatusReport:
    """Read every table through an in-memory DuckDB catalog (never blocks a running writer)."""
    rep = StatusReport()
    con = memory_catalog(root, TABLE_SCHEMAS)
    try:
        for name in TABLE_SCHEMAS:
            if name == "responses":
                continue
            rep.counts[name] = con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
        rep.counts["records_with_beats"] = con.execute("SELECT count(DISTINCT record_id) FROM beats").fetchone()[0]
        rep.quarantine = con.execute(
            "SELECT stage, reason, count(*) FROM quarantine GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2").fetchall()
        rep.rejections = rejections_by_rule(con)
        rep.splits = dict(con.execute("SELECT split, count(*) FROM pairs GROUP BY 1 ORDER BY 1").fetchall())
    finally:
        con.close()
    if root.ledger_path.exists():
        with Ledger(root.ledger_path) as ledger:
            rep.requests = sorted((t, s, n) for (t, s), n in ledger.counts().items())
            rep.resent_after_crash = ledger.resent()
            rep.cost = ledger.cost_by_teacher()
            rep.projection = ledger.cost_projection()
            rep.batch_files_left = [astuple(f) for f in leftover_files(ledger)]  # the ledger's record, no listing
            rep.counts["responses"] = sum(n for _, _, n in rep.requests)
    rep.quality = asdict(quality_report(root))
    rep.exports = [name for name in root.ls("exports", dirs_only=True) if not name.startswith(".")]
    return rep
