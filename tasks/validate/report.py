"""The dataset quality report: acceptance, rejections by rule, coverage, labels, lengths, grounding scores."""
from __future__ import annotations

from dataclasses import dataclass, field

from schemas.tables import TABLE_SCHEMAS
from storage.catalog import memory_catalog
from storage.layout import DataRoot


@dataclass
class QualityReport:
    accepted: int = 0
    rejected: int = 0
    acceptance_rate: float = 0.0
    rejections_by_rule: list[tuple[str, int]] = field(default_factory=list)
    lead_coverage: list[tuple[str, int]] = field(default_factory=list)  # bucket, pairs
    answer_words: list[tuple[str, int]] = field(default_factory=list)
    grounding_score: list[tuple[str, int]] = field(default_factory=list)
    labels: list[tuple[str, int]] = field(default_factory=list)  # label name, pairs
    regeneration_rounds: list[tuple[int, int]] = field(default_factory=list)  # round, accepted pairs
    claims_checked: int = 0  # numbers in accepted pairs found true against the measurements
    claims: int = 0  # numbers in accepted pairs that assert something (non-claims excluded)
    checked_share: float = 1.0  # must be 1.0: an unchecked number rejects the answer


def _hist(con, expr: str, edges: list[float], fmt: str) -> list[tuple[str, int]]:
    values = [r[0] for r in con.execute(f"SELECT {expr} FROM pairs").fetchall() if r[0] is not None]
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        n = sum(lo <= v < hi or (hi == edges[-1] and v == hi) for v in values)
        out.append((f"{fmt.format(lo)}–{fmt.format(hi)}", n))
    return out


def rejections_by_rule(con) -> list[tuple[str, int]]:
    """(rule, rejected responses) from the `violations` column; each rule counts once per response.

    Parts written before that column existed have only the comma-joined `reason`, which is read instead."""
    columns = {row[0] for row in con.execute("DESCRIBE rejections").fetchall()}
    rules = "string_split(reason, ',')"
    if "violations" in columns:
        rules = f"coalesce(list_distinct(list_transform(violations, lambda v: v.rule)), {rules})"
    return con.execute(f"SELECT rule, count(*) FROM (SELECT unnest({rules}) AS rule FROM rejections)"
                       " GROUP BY 1 ORDER BY 2 DESC, 1").fetchall()


def quality_report(root: DataRoot) -> QualityReport:
    """Computed from the pairs and rejections tables (one row per validated response)."""
    con = memory_catalog(root, TABLE_SCHEMAS)
    try:
        rep = QualityReport()
        rep.accepted = con.execute("SELECT count(*) FROM pairs").fetchone()[0]
        rep.rejected = con.execute("SELECT count(*) FROM rejections").fetchone()[0]
        total = rep.accepted + rep.rejected
        rep.acceptance_rate = round(rep.accepted / total, 4) if total else 0.0
        rep.rejections_by_rule = rejections_by_rule(con)
        rep.lead_coverage = _hist(con, "lead_coverage", [0, 0.25, 0.5, 0.75, 1.0], "{:.2f}")
        rep.answer_words = _hist(con, "len(string_split(trim(answer), ' '))", [0, 100, 150, 200, 250, 300, 10_000], "{:.0f}")
        rep.grounding_score = _hist(con, "grounding_score", [0, 0.5, 0.8, 0.9, 0.99, 1.0], "{:.2f}")
        rep.labels = con.execute(
            "SELECT l, count(*) FROM (SELECT unnest(label_names) AS l FROM pairs) GROUP BY 1 ORDER BY 2 DESC, 1"
            " LIMIT 30").fetchall()
        checked, claims = con.execute("SELECT coalesce(sum(n_matched), 0), coalesce(sum(n_claims), 0) FROM pairs"
                                      ).fetchone()
        rep.claims_checked, rep.claims = int(checked), int(claims)
        rep.checked_share = round(checked / claims, 4) if claims else 1.0
        rep.regeneration_rounds = con.execute(
            "SELECT coalesce(round, 0), count(*) FROM pairs GROUP BY 1 ORDER BY 1").fetchall()
        return rep
    finally:
        con.close()


def _table(title: str, header: tuple[str, str], rows: list[tuple]) -> str:
    body = "\n".join(f"| {a} | {b} |" for a, b in rows) or "| (none) | |"
    return f"### {title}\n\n| {header[0]} | {header[1]} |\n|---|---|\n{body}\n"


def quality_markdown(rep: QualityReport) -> str:
    head = (f"## Dataset quality\n\naccepted **{rep.accepted}**, rejected **{rep.rejected}**,"
            f" acceptance rate **{rep.acceptance_rate:.1%}**\n\nnumbers in accepted pairs checked against the"
            f" measurements: **{rep.claims_checked} of {rep.claims}** ({rep.checked_share:.1%}; normal ranges,"
            " criteria and paper settings are not counted)\n")
    return "\n".join([
        head,
        _table("Rejections by rule", ("rule", "responses"), rep.rejections_by_rule),
        _table("Lead coverage", ("share of 12 leads discussed", "pairs"), rep.lead_coverage),
        _table("Answer length", ("words", "pairs"), rep.answer_words),
        _table("Grounding score", ("matched claims share", "pairs"), rep.grounding_score),
        _table("Labels", ("label", "pairs"), rep.labels),
        _table("Regeneration round of accepted pairs", ("round", "pairs"), rep.regeneration_rounds),
    ])
