"""Build answers.jsonl: realistic teacher answers over the frozen contexts, true or with one seeded error.

    python tests/data/realistic_answers/build_corpus.py [--seed 12] [--true 190] [--per-kind 18]

Answers come from many independent statement templates (grammar.py, findings.py), combined at random
with a seeded RNG in three teacher styles (GPT-4o prose, GPT-4o with inline markdown, DeepSeek-R1's
step-by-step), plus the hand-written answers in handwritten.py. A wrong answer is a true answer with
one seeded error (errors.py, dxerrors.py). The output is deterministic for a seed.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import dxerrors  # noqa: E402
import errors  # noqa: E402
import findings  # noqa: E402
import grammar  # noqa: E402
from facts import Facts, facts_from_snapshot, r10  # noqa: E402

KINDS = ["wrong_rate", "wrong_pr", "wrong_qrs", "wrong_qt_qtc", "wrong_axis", "wrong_amplitude", "wrong_st",
         "wrong_rr_beat", "absent_or_unusable_lead", "invented_finding", "contradicted_diagnosis",
         "missing_labelled_diagnosis"]
SEEDERS = {k: getattr(errors, k, None) or getattr(dxerrors, k) for k in KINDS}
STATEMENTS = {"rate": grammar.rate, "rr": grammar.rr, "pr": grammar.pr, "qrs": grammar.qrs, "qt": grammar.qt,
              "intervals": grammar.intervals, "axis": grammar.axis, "amp": findings.amp, "st": findings.st,
              "t": findings.t_waves, "q": findings.q_waves, "qg": findings.q_groups, "p": findings.p_waves, "lqrs": findings.lead_qrs, "unusable": findings.unusable,
              "conclusion": findings.conclusion}
STYLES = ("gpt4o", "gpt4o_markdown", "deepseek_r1")


def load_facts() -> dict[str, Facts]:
    out = {}
    for p in sorted((HERE / "contexts").glob("*.json")):
        raw = json.loads(p.read_text())
        cols = raw["beats"]["columns"]
        snap = {"records": raw["records"], "record_features": raw["record_features"],
                "beats": [dict(zip(cols, r)) for r in raw["beats"]["rows"]]}
        out[p.stem] = facts_from_snapshot(snap)
    return out


def plan(F: Facts, rng: random.Random, seed: errors.Seed | None) -> list[str]:
    """Which statements an answer makes, in order."""
    combined = rng.random() < 0.35 and F.val("pr_ms") is not None
    if seed is not None and seed.target in ("pr", "qrs", "qt"):
        combined = False
    if seed is not None and seed.target == "intervals":
        combined = True
    ivs = ["intervals"] if combined else [x for x in ("pr", "qrs", "qt") if rng.random() < 0.85]
    walk = [x for x in ("amp", "amp", "st", "t", rng.choice(["q", "q", "qg"])) if rng.random() < 0.6]
    rng.shuffle(walk)
    steps = ["rate"] + (["p"] if rng.random() < 0.25 else []) + (["rr"] if rng.random() < 0.6 else []) + ivs
    steps += ["lqrs"] if rng.random() < 0.15 and "qrs" in ivs else []
    steps += (["axis"] if rng.random() < 0.85 else []) + walk
    if F.unusable and rng.random() < 0.75:
        steps.insert(rng.randrange(1, len(steps) + 1), "unusable")
    if seed is not None and seed.target and seed.target not in steps:
        steps.insert(rng.randrange(1, len(steps) + 1), seed.target)
    if seed is not None and seed.omit:
        steps = [s for s in steps if s not in findings.TIED.get(seed.omit, set())]
    return steps + ["conclusion"]


def _contains(text: str, V: dict) -> bool:
    """The seeded wrong value is written in the statement (some templates quote other values only)."""
    for key, w in V.items():
        if key in ("omit",):
            continue
        if isinstance(w, tuple):
            w = w[-1]
        if hasattr(w, "rr"):
            continue
        if key in ("amp", "st", "sokolow"):
            reps = [f"{abs(w):.2f}", f"{abs(w):.1f}", f"{w:+.2f}"]
        elif key == "beat_time":
            reps = [f"{w:.1f}", f"{w:.2f}"]
        else:
            reps = [str(round(w)), str(r10(w)), f"{w / 1000:.2f}", str(abs(round(w)))]
        if not any(r in text for r in reps):
            return False
    return True


def render(F: Facts, rng: random.Random, seed: errors.Seed | None) -> tuple[list[str], str | None] | None:
    """The statements of one answer, and the span that carries the seeded error."""
    true_v = {"omit": (seed.omit,)} if seed is not None and seed.omit else {}
    out, span = [], None
    for step in plan(F, rng, seed):
        if seed is not None and step == seed.target:
            for _ in range(40):
                s = STATEMENTS[step](F, rng, dict(seed.V))
                if s and _contains(s, seed.V):
                    break
            else:
                return None
            span = s
        else:
            s = STATEMENTS[step](F, rng, true_v)
        if s and (s is span or all(s[:30] != o[:30] for o in out)):
            out.append(s)
    if seed is not None and seed.extra:
        out.insert(rng.randrange(1, len(out)), seed.extra)
        span = seed.extra
    return out, span


def _prefixable(s: str) -> bool:
    """A sentence that reads well after 'Next, ' (not a 'Label: value' line or a bold heading)."""
    return ":" not in s[:28] and not s.startswith("**") and not s.split(",")[0] in CONNECTED and \
        s.split()[0] not in ("Overall,", "So", "Taken", "Putting", "In", "Therefore,", "Conclusion:")


CONNECTED = ("In summary", "Overall", "Taken together", "So")


def _lower_first(s: str) -> str:
    """Lower-case the first word after a connective, unless it is a lead, an acronym or a unit."""
    word = s.split()[0] if s.split() else ""
    if word == "A" or (word.isalpha() and len(word) > 1 and word[1:].islower()):
        return s[0].lower() + s[1:]
    return s


HEAD = {"rate": "Rhythm", "rr": "RR", "pr": "PR", "qrs": "QRS", "qt": "QT", "intervals": "Intervals",
        "axis": "Axis", "amp": "Voltage", "st": "ST segments", "t": "T waves", "q": "Q waves",
        "qg": "Q waves", "unusable": "Lead quality", "conclusion": "Impression"}


def style_text(style: str, sentences: list[str], rng: random.Random) -> str:
    if style == "gpt4o":
        opener = rng.choice(["", "", "On review of this 12-lead tracing, ", "Reading this ECG systematically, "])
        opener = opener if _prefixable(sentences[0]) else ""
        first = (_lower_first(sentences[0]) if opener.endswith(", ") else sentences[0])
        mids = []
        for s in sentences[1:-1]:
            pre = rng.choice(["", "", "", "In addition, ", "Morphologically, ", "Notably, ", "Across the leads, "])
            pre = pre if _prefixable(s) else ""
            mids.append(pre + (_lower_first(s) if pre else s))
        return " ".join([opener + first] + mids + [sentences[-1]])
    if style == "gpt4o_markdown":
        bullets = rng.random() < 0.5
        parts = []
        for s in sentences:
            if s.startswith("**"):
                parts.append(s)
            else:
                tag = rng.random() < 0.2 and _prefixable(s) and s is not sentences[-1]
                parts.append(f"**{rng.choice(['Findings', 'Note', 'Observation'])}:** {s}" if tag else s)
        if bullets:
            return "\n".join(["Interpretation:"] + [f"- {p}" for p in parts])
        return " ".join(parts)
    steps = ["First, ", "Next, ", "Then, ", "Looking further, ", "Also, ", "Now, ", "Moving on, ", "After that, "]
    out = [rng.choice(["Let me work through this tracing step by step.", "Okay, let's go through this ECG systematically.",
                       "Let me analyse this carefully, lead by lead.", ""])]
    for i, s in enumerate(sentences[:-1]):
        if rng.random() < 0.3 and "Step" not in s and not s.startswith("**"):
            out.append(f"Step {i + 1}: {s}")
        else:
            pre = steps[min(i, len(steps) - 1)] if rng.random() < 0.7 and _prefixable(s) else ""
            out.append(pre + (_lower_first(s) if pre else s))
    last = sentences[-1]
    out.append(rng.choice(["Putting it all together, ", "So, overall, ", "Therefore, "]) + _lower_first(last)
               if _prefixable(last) else last)
    return " ".join(x for x in out if x)


def make(F: Facts, rng: random.Random, kind: str | None, style: str) -> dict | None:
    seed = SEEDERS[kind](F, rng) if kind else None
    if kind and seed is None:
        return None
    rendered = render(F, rng, seed)
    if rendered is None:
        return None
    sentences, span = rendered
    text = style_text(style, sentences, rng)
    if span and span not in text:  # a connective lower-cased the statement's first word
        span = _lower_first(span)
        if span not in text:
            return None
    if not 45 <= len(text.split()) <= 290:
        return None
    return {"record_id": F.rid, "style": style, "truth": kind or "true",
            "seeded_error": None if seed is None else {"kind": kind, "span": span or "", "detail": seed.detail},
            "text": text}


def build(seed: int, n_true: int, per_kind: int) -> list[dict]:
    rng = random.Random(seed)
    facts = load_facts()
    ids = sorted(facts)
    items = []
    jobs = [None] * n_true + [k for k in KINDS for _ in range(per_kind)]
    for i, kind in enumerate(jobs):
        for attempt in range(60):
            rid = ids[(i + attempt * 7) % len(ids)] if attempt < 26 else rng.choice(ids)
            got = make(facts[rid], rng, kind, STYLES[(i + attempt) % len(STYLES)])
            if got is not None:
                items.append(got)
                break
        else:
            raise RuntimeError(f"no applicable record for {kind}")
    return items


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--true", type=int, default=190)
    ap.add_argument("--per-kind", type=int, default=18)
    args = ap.parse_args()
    items = build(args.seed, args.true, args.per_kind)
    try:
        from handwritten import HANDWRITTEN
    except ImportError:
        HANDWRITTEN = []
    items += [dict(h, style="handwritten") for h in HANDWRITTEN]
    with (HERE / "answers.jsonl").open("w", encoding="utf-8") as fh:
        for n, item in enumerate(items):
            fh.write(json.dumps({"id": f"ra{n:04d}", **item}, ensure_ascii=False) + "\n")
    print(f"wrote {len(items)} answers")


if __name__ == "__main__":
    main()
