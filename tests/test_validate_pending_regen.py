"""`pending_regenerations` from the part index gives what the whole-table rule gives (tasks/validate/regenerate.py).

Random roots: rejections and pairs over several parts, for two teachers and two prompt versions,
rounds 0-3, retried and non-retried rules, some rejections already regenerated (a ledger row names
them as parent). The index-driven reading must return the same rejections as the old rule over the
whole tables."""
from __future__ import annotations

import random
import sqlite3
import time

from hypothesis import given, settings, strategies as st

from schemas.pairs import PAIRS_SCHEMA, REJECTIONS_SCHEMA
from storage import part_index
from storage.layout import DataRoot
from storage.ledger import Ledger
from storage.parquet import TableStore, rows_to_table
from tasks.validate.regenerate import latest_retriable, pending_regenerations

RULES = ("value_mismatch", "teacher_failed", "no_context", "leads")


def _whole_table_rule(root: DataRoot, teacher: str, version: str, max_rounds: int):
    store = TableStore(root)
    rej, pairs = store.read("rejections", REJECTIONS_SCHEMA), store.read("pairs", PAIRS_SCHEMA)
    latest = latest_retriable(rej, pairs, teacher, version, max_rounds)
    with Ledger(root.ledger_path) as ledger:
        done = ledger.with_children(r.request_id for r in latest.values())
    return sorted((r for r in latest.values() if r.request_id not in done), key=lambda r: r.record_id)


def _fill(root: DataRoot, rng: random.Random, parts: int) -> None:
    store, children, n = TableStore(root), [], 0
    for p in range(parts):
        rejections, pairs = [], []
        for _ in range(rng.randint(0, 6)):
            n += 1
            rid, teacher, version = f"r{rng.randint(0, 9)}", rng.choice("ab"), rng.choice(["v1", "v2"])
            if rng.random() < 0.25:
                pairs.append({"pair_id": f"p{n}", "record_id": rid, "patient_id": rid, "instruction": "i", "answer": "x",
                              "teacher": teacher, "prompt_version": version, "request_id": f"q{n}", "round": 0})
                continue
            rule = rng.choice(RULES)
            rejections.append({"request_id": f"q{n}", "record_id": rid, "teacher": teacher, "prompt_version": version,
                               "round": rng.randint(0, 3), "reason": rule, "text": "t",
                               "violations": [{"rule": rule, "detail": "d", "span": ""}]})
            if rng.random() < 0.5:
                children.append((f"c{n}", rid, f"q{n}"))
        store.commit(f"validate-{p}", {"rejections": rows_to_table(rejections, REJECTIONS_SCHEMA),
                                       "pairs": rows_to_table(pairs, PAIRS_SCHEMA)}, primary="pairs")
    with Ledger(root.ledger_path):
        pass
    con = sqlite3.connect(root.ledger_path)
    con.executemany("INSERT INTO requests(request_id, record_id, teacher, model, prompt_version, parent_request_id,"
                    " request_json, created_at) VALUES (?, ?, 'a', 'm', 'v1', ?, '{}', ?)",
                    [(c, r, parent, time.time()) for c, r, parent in children])
    con.commit()
    con.close()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6), parts=st.integers(1, 6), max_rounds=st.integers(1, 3))
def test_the_part_index_gives_the_whole_table_answer(tmp_path_factory, seed, parts, max_rounds):
    root = DataRoot.open(tmp_path_factory.mktemp("regen"))
    _fill(root, random.Random(seed), parts)
    part_index.clear()
    for teacher in "ab":
        for version in ("v1", "v2"):
            assert (pending_regenerations(root, teacher, version, max_rounds)
                    == _whole_table_rule(root, teacher, version, max_rounds))


def test_the_check_can_fail_a_root_with_pending_work_is_not_empty(tmp_path):
    root = DataRoot.open(tmp_path)
    _fill(root, random.Random(3), 6)
    found = [pending_regenerations(root, t, v, 3) for t in "ab" for v in ("v1", "v2")]
    assert any(found), "the random roots do hold pending regenerations"
    assert found == [_whole_table_rule(root, t, v, 3) for t in "ab" for v in ("v1", "v2")]
