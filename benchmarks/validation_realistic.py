"""Acceptance of true and rejection of wrong teacher answers on the realistic corpus, overall and per style.

    python benchmarks/validation_realistic.py [--examples 10] [--code DIR] [--answers PATH ...]

Runs the project's validator (tasks.validate.rules.validate, default ValidationSettings) on every answer
of tests/data/realistic_answers/answers.jsonl and the hand-written sets by other authors (external.jsonl,
external_b.jsonl, external2.jsonl where present)
against its frozen record context, and prints, per source and for all together, the share
of true answers accepted and of wrong answers rejected per seeded error kind, then the same per teacher
style, then example false rejections, misses and crashes. Also the validator's time per answer.
`--code DIR` scores the validator of another checkout (e.g. the baseline commit) on this corpus.
`--answers PATH` (repeatable) scores these answer files instead (same JSONL fields), e.g. a held-out set.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def per_style(outcomes) -> str:
    by = defaultdict(list)
    for o in outcomes:
        by[o.answer.style].append(o)
    lines = [f"\n{'style':<16}{'true n':>7}{'accepted':>10}{'wrong n':>9}{'rejected':>10}"]
    for style, items in sorted(by.items()):
        t = [o for o in items if o.answer.truth == "true"]
        w = [o for o in items if o.answer.truth != "true"]
        acc = sum(o.accepted for o in t) / len(t) if t else float("nan")
        rej = sum(not o.accepted for o in w) / len(w) if w else float("nan")
        lines.append(f"{style:<16}{len(t):>7}{acc:>10.1%}{len(w):>9}{rej:>10.1%}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=10)
    ap.add_argument("--code", help="a checkout whose validator and context builder are scored (default: this one)")
    ap.add_argument("--answers", action="append", type=Path,
                    help="an answer file to score instead of answers.jsonl + the external sets (repeatable)")
    args = ap.parse_args()
    if args.code:
        sys.path.insert(0, str(Path(args.code).resolve()))
    from tests.data.realistic_answers.corpus import ANSWERS, HERE, figures, load_answers, run_validator, table
    DEV_SETS = [HERE / n for n in ("external.jsonl", "external_b.jsonl", "external2.jsonl") if (HERE / n).exists()]
    import tasks.validate.rules as rules
    print(f"validator: {rules.__file__}")
    sources = args.answers or [ANSWERS, *DEV_SETS]
    by_source = {p: load_answers(p) for p in sources if p.exists() or print(f"missing: {p}")}
    answers = [a for items in by_source.values() for a in items]
    t0 = time.perf_counter()
    outcomes = run_validator(answers)
    dt = time.perf_counter() - t0
    start = 0
    for path, items in by_source.items():
        part = outcomes[start:start + len(items)]
        start += len(items)
        if len(by_source) > 1:
            print(f"\n=== {path.name}: {len(items)} answers over {len({a.record_id for a in items})} records")
            print(table(figures(part), args.examples))
    fig = figures(outcomes)
    print(f"\n=== all: {len(answers)} answers over {len({a.record_id for a in answers})} records")
    print(table(fig, args.examples))
    print(per_style(outcomes))
    wrong = [o for o in outcomes if o.answer.truth != "true"]
    print(f"\nwrong answers rejected overall: {sum(not o.accepted for o in wrong) / len(wrong):.1%}")
    print(f"validation incl. context building: {dt / len(answers) * 1000:.2f} ms per answer")


if __name__ == "__main__":
    main()
