"""Rich tables for `gemflow status` and `gemflow interpret`."""
from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from tasks.status import StatusReport


def print_status(console: Console, rep: StatusReport, root: Path) -> None:
    t = Table(title=f"gemflow status: {root}")
    t.add_column("table")
    t.add_column("rows", justify="right")
    for name, n in rep.counts.items():
        t.add_row(name, str(n))
    console.print(t)
    if rep.quarantine:
        q = Table(title="quarantine")
        for col in ("stage", "reason", "records"):
            q.add_column(col)
        for stage, reason, n in rep.quarantine:
            q.add_row(stage, reason, str(n))
        console.print(q)
    if rep.rejections:
        r = Table(title="rejections by rule")
        r.add_column("rule")
        r.add_column("responses", justify="right")
        for rule, n in rep.rejections:
            r.add_row(rule, str(n))
        console.print(r)
    if rep.projection:
        c = Table(title="teacher cost (projected = spent + USD per response x pending)")
        for col in ("teacher", "spent USD", "done", "USD per response", "pending", "projected USD"):
            c.add_column(col)
        for p in rep.projection:
            c.add_row(p["teacher"], f"{p['spent_usd']:.4f}", str(p["done"]), f"{p['usd_per_done']:.5f}",
                      str(p["pending"]), f"{p['projected_usd']:.4f}")
        console.print(c)
    if rep.batch_files_left:
        console.print(f"[yellow]{len(rep.batch_files_left)} batch file(s) still at the provider (deleted at the"
                      " next collect):[/] " + ", ".join(f"{t}:{fid} ({kind})" for t, fid, kind, _ in rep.batch_files_left))
    if rep.resent_after_crash:
        console.print(f"[yellow]{rep.resent_after_crash} request(s) were in flight at a crash and sent again[/]")
    if rep.splits:
        console.print("splits: " + ", ".join(f"{k}={v}" for k, v in rep.splits.items()))
    if rep.exports:
        console.print("exports: " + ", ".join(rep.exports))
    q = rep.quality
    if q and (q.get("accepted") or q.get("rejected")):
        console.print(f"[bold]dataset quality[/]: acceptance rate {q['acceptance_rate']:.1%}"
                      f" ({q['accepted']} accepted, {q['rejected']} rejected)")
        for title, key in (("lead coverage", "lead_coverage"), ("answer words", "answer_words"),
                           ("grounding score", "grounding_score"), ("labels", "labels")):
            rows = q.get(key) or []
            console.print(f"  {title}: " + ", ".join(f"{a}: {b}" for a, b in rows[:12]))


def print_interpretation(console: Console, result: dict) -> None:
    t = Table(title=f"measurements: {result['record_id']}")
    t.add_column("measure")
    t.add_column("value")
    for k, v in result["measurements"].items():
        t.add_row(k, str(v))
    console.print(t)
    console.print(f"image: {result['image_path']}", soft_wrap=True)  # a path to copy, never split
    console.print(f"[bold]{result['interpreter']}[/]: {result['text']}")
