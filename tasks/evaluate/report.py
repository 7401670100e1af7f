"""The evaluation report: interpreters compared on one split (markdown tables + matplotlib PNGs), and an index.

`write_split_report` reads every `<interpreter>/metrics.json` of a split folder and writes
`report.md` beside `f1_per_class.png` and `grounding_hist.png`; `write_index` lists every evaluated
split in `evaluation/report.md`. Judge metrics sit beside the judge-free grounding scores.
"""
from __future__ import annotations

import json
from pathlib import Path

from tasks.evaluate.rubric import METRICS
from tasks.evaluate.spec import EVAL_DIR
from tasks.evaluate.store import OUTPUTS_SCHEMA, read_latest, write_text_atomic

F1_PNG, HIST_PNG = "f1_per_class.png", "grounding_hist.png"


def fmt(value, pct: bool = False, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    return f"{100 * value:.1f}%" if pct else f"{value:.{digits}f}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows])


def load_runs(split_dir: Path) -> list[dict]:
    """The metrics of every interpreter evaluated on the split, by interpreter name."""
    runs = []
    for path in sorted(Path(split_dir).glob("*/metrics.json")):
        runs.append(json.loads(path.read_text()))
    return runs


def overview_table(runs: list[dict]) -> str:
    rows = []
    for m in runs:
        lab = m["labels"]
        rows.append([m["interpreter"], m["n_items"], m["n_interpreted"], m["n_failed"], m["n_pending"],
                     fmt(lab["macro_f1"]), fmt(lab["micro_f1"]), fmt(lab["hamming_loss"]),
                     fmt(lab["macro_auc"]),
                     f"${m['spent_usd']:.4f}"])
    notes = "\n".join(f"- AUC, {m['interpreter']}: {m['labels']['auc_note']}" for m in runs if m["labels"]["auc_note"])
    return table(["interpreter", "items", "interpreted", "failed", "pending", "macro F1", "micro F1", "Hamming loss",
                  "macro AUC", "cost"], rows) + (f"\n\n{notes}" if notes else "")


def grounding_table(runs: list[dict]) -> str:
    rows = []
    for m in runs:
        g = m["grounding"]
        rows.append([m["interpreter"], fmt(g["grounding_score"]),
                     f"{fmt(g['numeric_agreement'], pct=True)} of {g['n_claims']}", fmt(g["lead_coverage"], pct=True),
                     fmt(g["diagnosis_consistency"], pct=True), fmt(g["labels_stated"], pct=True),
                     fmt(g["pass_rate"], pct=True)])
    return table(["interpreter", "grounding score", "numeric claims agreeing", "lead coverage",
                  "diagnosis consistency", "labels stated", "passes validation"], rows)


def judge_tables(runs: list[dict]) -> str:
    judges = sorted({j for m in runs for j in m["judges"]})
    parts = []
    for judge in judges:
        having = [m for m in runs if judge in m["judges"]]
        rows = []
        for metric in METRICS:
            cells = []
            for m in having:
                agg = next(a for a in m["judges"][judge]["metrics"] if a["metric"] == metric.key)
                pct = metric.kind in ("count", "leads", "lead_points")
                cells.append(fmt(agg["value"], pct=pct, digits=2))
            rows.append([metric.title, metric.scale, *cells])
        rows.append(["judged / failed / not judged", "", *[
            f"{m['judges'][judge]['n_judged']} / {m['judges'][judge]['n_failed']} / {m['judges'][judge]['n_not_judged']}"
            for m in having]])
        rows.append(["judge cost", "", *[f"${m['judges'][judge]['spent_usd']:.4f}" for m in having]])
        parts.append(f"Judge `{judge}` (GEM's eight metrics):\n\n"
                     + table(["metric", "scale", *[m["interpreter"] for m in having]], rows))
        failures = {m["interpreter"]: m["judges"][judge]["failures"] for m in having if m["judges"][judge]["failures"]}
        if failures:
            parts.append("Judge failures (recorded, not dropped): " + "; ".join(
                f"{k}: {', '.join(f'{n}x {why}' for why, n in v.items())}" for k, v in failures.items()))
    return "\n\n".join(parts) if parts else "No judge has scored these interpreters (run with `--judge NAME`)."


def class_table(runs: list[dict]) -> str:
    classes: dict[str, tuple[str, int]] = {}
    for m in runs:
        for c in m["labels"]["classes"]:
            classes.setdefault(c["code"], (c["name"], c["support"]))
    if not classes:
        return "No diagnosis occurs in the reference or the outputs of this split."
    rows = []
    for code, (name, support) in sorted(classes.items(), key=lambda kv: (-kv[1][1], kv[0])):
        cells = []
        for m in runs:
            c = next((c for c in m["labels"]["classes"] if c["code"] == code), None)
            cells.append("n/a" if c is None else fmt(c["f1"], digits=2) + (f" (AUC {fmt(c['auc'], digits=2)})" if c["auc"] is not None else ""))
        rows.append([f"{name} ({code})", support, *cells])
    return table(["class", "support", *[f"F1 {m['interpreter']}" for m in runs]], rows)


def plot_f1(runs: list[dict], path: Path) -> bool:
    """Grouped bars of per-class F1, one colour per interpreter; False when there is no class to draw."""
    codes = sorted({c["code"] for m in runs for c in m["labels"]["classes"]})
    if not codes:
        return False
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(min(14.0, max(6.0, 0.3 * len(codes) * len(runs) + 2)), 4.0))
    width = 0.8 / len(runs)
    for k, m in enumerate(runs):
        f1 = {c["code"]: c["f1"] for c in m["labels"]["classes"]}
        ax.bar([i + k * width for i in range(len(codes))], [f1.get(c, 0.0) for c in codes], width, label=m["interpreter"])
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(codes))], codes, rotation=45, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("F1")
    ax.set_title("Per-class F1 (diagnoses stated in the text vs reference labels)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def plot_grounding(split_dir: Path, runs: list[dict], path: Path) -> bool:
    """Histogram of per-item grounding scores per interpreter; False when no item was scored."""
    series = {}
    for m in runs:
        rows = read_latest(Path(split_dir) / m["interpreter"] / "outputs", OUTPUTS_SCHEMA).values()
        values = [r["grounding_score"] for r in rows if r["status"] == "ok" and r["grounding_score"] is not None]
        if values:
            series[m["interpreter"]] = values
    if not series:
        return False
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    ax.hist(list(series.values()), bins=[i / 10 for i in range(11)], label=list(series), alpha=0.85)
    ax.set_xlabel("grounding score (validators: numeric claims x lead checks)")
    ax.set_ylabel("items")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def human_section(split_dir: Path) -> str:
    """Mean (SD) of the clinicians' ratings, from every read-back review sheet of the split."""
    parts = []
    for path in sorted(Path(split_dir).glob("review/*/summary.md")):
        parts.append(f"Sheet `{path.parent.name}`:\n\n" + path.read_text().strip())
    return "\n\n".join(parts) if parts else "No filled review sheet has been read back (`gemflow review-sheet --read`)."


def split_markdown(split_dir: Path, runs: list[dict], f1_png: bool, hist_png: bool) -> str:
    version, split = runs[0]["export"], runs[0]["split"]
    sections = [
        f"# Evaluation of export `{version}`, split `{split}`",
        "Interpreters are blind to the labels unless named `-sighted`. Labels are the diagnoses the text"
        " states (negation- and synonym-aware matcher), scored over the classes that occur in the reference"
        " or the predictions. AUC needs per-class scores from the interpreter; it is never computed on binary"
        " predictions.",
        "## Labels\n\n" + overview_table(runs),
        "## Grounding: judge-free (validators) and judged\n\n" + grounding_table(runs) + "\n\n" + judge_tables(runs),
        "## Per class\n\n" + class_table(runs) + (f"\n\n![per-class F1]({F1_PNG})" if f1_png else ""),
        "## Grounding score distribution\n\n" + (f"![grounding score histogram]({HIST_PNG})" if hist_png else "n/a"),
        "## Human evaluation\n\n" + human_section(split_dir),
    ]
    return "\n\n".join(sections) + "\n"


def write_split_report(split_dir: Path) -> Path | None:
    """Write the split's report.md and PNGs; None when no interpreter has metrics yet."""
    split_dir = Path(split_dir)
    runs = load_runs(split_dir)
    if not runs:
        return None
    f1_png = plot_f1(runs, split_dir / F1_PNG)
    hist_png = plot_grounding(split_dir, runs, split_dir / HIST_PNG)
    path = split_dir / "report.md"
    write_text_atomic(path, split_markdown(split_dir, runs, f1_png, hist_png))
    write_index(split_dir.parents[1])
    return path


def write_index(eval_root: Path) -> Path:
    """evaluation/report.md: every evaluated split, its interpreters and headline numbers, with links."""
    rows = []
    for report in sorted(Path(eval_root).glob("*/*/report.md")):
        for m in load_runs(report.parent):
            rows.append([f"[{m['export']} / {m['split']}]({report.relative_to(eval_root).as_posix()})",
                         m["interpreter"], m["n_interpreted"], fmt(m["labels"]["macro_f1"]),
                         fmt(m["grounding"]["grounding_score"])])
    text = "# gemflow evaluations\n\nEach split's report compares the interpreters run on it.\n\n" + table(
        ["export / split", "interpreter", "interpreted", "macro F1", "grounding score"], rows) + "\n"
    path = Path(eval_root) / "report.md"
    write_text_atomic(path, text)
    return path


def eval_root_of(data_root: str | Path) -> Path:
    return Path(data_root) / EVAL_DIR
