"""Knowledge-guided, versioned prompts: template files per version, filled from a record's context."""
from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from string import Template

from schemas.teacher import RecordContext
from schemas.vocab import Vocabulary

PROMPTS_DIR = Path(__file__).parent / "prompts"


@lru_cache(maxsize=None)
def _load(version: str) -> tuple[str, Template, tuple[str, ...]]:
    folder = PROMPTS_DIR / version
    if not folder.is_dir():
        known = ", ".join(sorted(p.name for p in PROMPTS_DIR.iterdir() if p.is_dir()))
        raise ValueError(f"prompt version {version!r} not found (known: {known})")
    system = (folder / "system.md").read_text().strip()
    user = Template((folder / "user.md").read_text())
    instructions = tuple(x.strip() for x in (folder / "instructions.txt").read_text().splitlines() if x.strip())
    return system, user, instructions


def instruction_for(record_id: str, version: str) -> str:
    """One of the version's instruction phrasings, chosen stably per record; the pair's human turn."""
    _, _, instructions = _load(version)
    idx = int(hashlib.sha1(record_id.encode()).hexdigest(), 16) % len(instructions)
    return "<image>\n" + instructions[idx]


def _fmt(v, unit: str = "", digits: int = 0) -> str:
    if v is None:
        return "not measurable"
    return f"{v:.{digits}f}{unit}"


def measurements_block(ctx: RecordContext) -> str:
    f = ctx.features
    lines = [
        f"heart rate {_fmt(f.hr_bpm, ' bpm')}; RR mean {_fmt(f.rr_mean_ms, ' ms')},"
        f" RR coefficient of variation {_fmt(f.rr_cv, '', 3)}; rhythm: {f.rhythm or 'unknown'}",
        f"PR {_fmt(f.pr_ms, ' ms')}; QRS {_fmt(f.qrs_ms, ' ms')}; QT {_fmt(f.qt_ms, ' ms')};"
        f" QTc (Bazett) {_fmt(f.qtc_ms, ' ms')}; QTc (Fridericia) {_fmt(f.qtc_fridericia_ms, ' ms')}",
        f"QRS axis {_fmt(f.axis_deg, '°')}; P axis {_fmt(f.p_axis_deg, '°')};"
        f" T axis {_fmt(f.t_axis_deg, '°')}",
        f"Sokolow-Lyon {_fmt(f.sokolow_lyon_mv, ' mV', 2)}; Cornell {_fmt(f.cornell_mv, ' mV', 2)};"
        f" Q waves in: {', '.join(f.q_wave_leads) or 'none'}",
        f"usable leads: {', '.join(f.usable_leads) or 'none'};"
        f" lead issues: {', '.join(f.lead_issues) or 'none'}",
    ]
    return "\n".join(lines)


def lead_table(ctx: RecordContext) -> str:
    rows = ["lead | beats | P | Q | R | S | T | ST | QRS ms"]
    for lead, lf in ctx.leads.items():
        if not lf.usable:
            rows.append(f"{lead} | unusable")
            continue
        vals = [lf.p_amp_mv, lf.q_amp_mv, lf.r_amp_mv, lf.s_amp_mv, lf.t_amp_mv, lf.st_mv]
        cells = " | ".join("-" if v is None else f"{v:.2f}" for v in vals)
        rows.append(f"{lead} | {lf.n_beats} | {cells} | {_fmt(lf.qrs_ms)}")
    return "\n".join(rows)


def render_messages(ctx: RecordContext, version: str, vocab: Vocabulary) -> tuple[list[dict], str]:
    """The chat messages of a record's request and its instruction (human turn)."""
    system, user, _ = _load(version)
    instruction = instruction_for(ctx.record_id, version)
    demo = ", ".join(x for x in (
        f"{ctx.age:.0f} years" if ctx.age is not None else "age unknown",
        {"M": "male", "F": "female"}.get(ctx.sex or "", "sex unknown")) if x)
    criteria = []
    for lab in ctx.labels:
        full = vocab.get(lab.code, default=None)
        if full is not None and getattr(full, "criteria", ""):
            criteria.append(f"- {lab.name}: {full.criteria}")
    text = user.substitute(
        demographics=demo, measurements=measurements_block(ctx), lead_table=lead_table(ctx),
        beat_table=ctx.beat_table or "(none)",
        labels=", ".join(lab.name for lab in ctx.labels) or "none given",
        criteria="\n".join(criteria) or "- none", report=ctx.report or "none",
        instruction=instruction.replace("<image>\n", ""),
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": text}], instruction
