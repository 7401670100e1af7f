"""Time the grounding validator per answer on one core: this tree's validator vs the one at a git baseline.

    python benchmarks/validate_speed.py [--baseline REV] [--repeat N]

Both validators check the same answers (tests/data/realistic_answers/answers.jsonl, else template
answers) against the same real-record contexts, in this one process. The baseline's validate package
(every module of tasks/validate/ at REV) is read from git into a throwaway package; where it still reads
the features by string lookups, they are served from the typed features through a small adapter. Prints ms per answer for
each and their ratio.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


class _DictView:
    """The typed features seen through the old `.get(name)` interface."""

    def __init__(self, feats):
        self._f = feats

    def get(self, key, default=None):
        return getattr(self._f, key, default)


def load_baseline(rev: str):
    """The baseline's `validate` function, its modules loaded from git under a private package name."""
    tmp = Path(tempfile.mkdtemp()) / "baseline_validate"
    tmp.mkdir()
    (tmp / "__init__.py").write_text("")
    names = subprocess.run(["git", "ls-tree", "--name-only", f"{rev}:tasks/validate/"], cwd=REPO, check=True,
                           capture_output=True, text=True).stdout.split()
    dict_features = False
    for name in (n for n in names if n.endswith(".py") and n != "__init__.py"):
        src = subprocess.run(["git", "show", f"{rev}:tasks/validate/{name}"], cwd=REPO, check=True,
                             capture_output=True, text=True).stdout
        dict_features |= "features.get(" in src
        (tmp / name).write_text(src.replace("from tasks.validate.", "from baseline_validate.")
                                .replace("import tasks.validate.", "import baseline_validate."))
    sys.path.insert(0, str(tmp.parent))
    import baseline_validate.rules as old  # noqa: E402
    return old.validate, dict_features


def workload() -> list[tuple[str, object]]:
    answers = REPO / "tests/data/realistic_answers/answers.jsonl"
    sys.path.insert(0, str(REPO))
    from tests.data.realistic_answers.corpus import load_answers, load_context
    if answers.exists():
        return [(a.text, load_context(a.record_id)) for a in load_answers(answers)]
    raise SystemExit("no answers corpus found")


def _time_both(new_fn, old_fn, items, old_items, repeat: int, chunk: int = 25) -> tuple[float, float]:
    """CPU ms per answer of each validator, the two taking turns on chunks of answers, so a change in the
    machine's load during the run falls on both alike."""
    spent = [0.0, 0.0]
    for _ in range(repeat):
        for lo in range(0, len(items), chunk):
            for k, (fn, batch) in enumerate(((new_fn, items), (old_fn, old_items))):
                start = time.process_time()  # CPU time: the machine is shared
                for text, ctx in batch[lo:lo + chunk]:
                    fn(text, ctx)
                spent[k] += time.process_time() - start
    return tuple(t / (repeat * len(items)) * 1000.0 for t in spent)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", default="5517dbf")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from schemas.config import ValidationSettings
    from tasks.validate.rules import validate
    s = ValidationSettings()
    items = workload()
    old_validate, dict_features = load_baseline(args.baseline)
    old_items = [(t, c.model_copy(update={"features": _DictView(c.features)})) for t, c in items] \
        if dict_features else items
    for text, ctx in items[:5]:  # warm caches (vocabulary, compiled patterns)
        validate(text, ctx, s)
        try:
            old_validate(text, old_items[0][1], s)
        except Exception:
            pass
    crashes = []

    def old(t, c):
        try:
            old_validate(t, c, s)
        except Exception as exc:  # the baseline raises on some answers (issue 12); time it anyway
            crashes.append(type(exc).__name__)
    new_ms, old_ms = _time_both(lambda t, c: validate(t, c, s), old, items, old_items, args.repeat)
    print(json.dumps({"answers": len(items), "repeat": args.repeat, "new_ms_per_answer": round(new_ms, 3),
                      "baseline_ms_per_answer": round(old_ms, 3), "ratio_new_over_baseline": round(new_ms / old_ms, 2),
                      "baseline": args.baseline, "baseline_crashes": len(crashes) // args.repeat}))


if __name__ == "__main__":
    main()
