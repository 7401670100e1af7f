"""What finding the generate and validate stages' pending work reads: whole tables (the old way) against the part index, in one run.

    python benchmarks/pending_reads.py [--shards 40] [--records 25] [--rounds 3]

Before a run, generate reads the records with features and the records it quarantined
(`tasks/teachers/stage.generation_keys`), and validate the request ids already paired or rejected and
those rejected as failed calls (`tasks/validate/stage.validated_keys`). They used to read every part
of `record_features`, `quarantine`, `pairs` and `rejections` on every call; now the keys come from the
part index (storage/part_index.py: each part's key column read once per process) and the
quarantine/failed-call lookups read only the parts holding such a row.

The tables get one part per shard, as the stages commit them: `record_features` rows are real (six
CinC-2021 records through ingest and features, copied under new ids, as benchmarks/context_reads.py
does); `quarantine`, `pairs` and `rejections` rows are synthetic, with answers of ~700 characters
(most records paired, a fifth rejected, one rejection in five a failed call, a `generate`
quarantine row in one shard of ten). The same parts go to a local root and an s3:// root on moto's
server. Then, on each root: the old way; the new way cold (a fresh process: every part indexed
first); and `--rounds` times one new validate part committed and the keys read again (a build's
regenerate/validate rounds, in the same process). Prints S3 requests and KiB downloaded and local
milliseconds per call, and old/new ratios. The key sets of both ways are asserted equal.

Then regenerate's pending work (`tasks/validate/regenerate.pending_regenerations`), the same way:
the old rule read `rejections` and `pairs` whole; the new one reads the `request_id` index, asks the
ledger which rejections were regenerated already, and reads only the records holding an open one.
Here every `value_mismatch` rejection but those of the last two shards has a regeneration in the
ledger (an earlier round was asked again); failed calls never do (generate resends them). The two
answers are asserted equal.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from _common import DEFAULT_SOURCES  # noqa: E402 - sets up the path and offline mode
from context_reads import Downloaded, shard_tables, template_rows

CINC = DEFAULT_SOURCES[0]
WORDS = ("sinus rhythm rate beats per minute normal axis PR interval QRS duration QT corrected lead II V1 V5 "
         "T wave inversion ST segment elevation depression left ventricular hypertrophy voltage criteria "
         "bundle branch block atrial premature complexes no acute changes borderline findings").split()


def _answer(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(110))


def side_tables(ids: list[str], shard: int, rng: random.Random, tag: str = "") -> dict:
    """One shard's synthetic quarantine, pairs and rejections parts for its records."""
    from schemas.pairs import PAIRS_SCHEMA, REJECTIONS_SCHEMA
    from schemas.records import QUARANTINE_SCHEMA
    from storage.parquet import rows_to_table
    quarantine = [{"record_id": ids[0], "stage": "ingest", "reason": "unreadable header", "source": "cinc"}]
    if shard % 10 == 3:
        quarantine.append({"record_id": ids[1], "stage": "generate", "reason": "credentialed source not allowed"})
    pairs, rejections = [], []
    for k, rid in enumerate(ids):
        req = f"req-{tag}{shard:04d}-{k:04d}"
        if k % 5 == 4:
            failed = k == 4 and shard % 8 == 5  # a failed call in one shard of eight
            rejections.append({"request_id": req, "record_id": rid, "teacher": "template", "prompt_version": "v1",
                               "round": 0, "reason": "teacher_failed" if failed else "value_mismatch",
                               "text": "" if failed else _answer(rng), "rejected_at": time.time()})
        else:
            pairs.append({"pair_id": f"p-{req}", "record_id": rid, "patient_id": f"p-{rid}", "instruction": "Interpret.",
                          "answer": _answer(rng), "teacher": "template", "prompt_version": "v1", "request_id": req,
                          "round": 0, "validated_at": time.time()})
    return {"quarantine": rows_to_table(quarantine, QUARANTINE_SCHEMA), "pairs": rows_to_table(pairs, PAIRS_SCHEMA),
            "rejections": rows_to_table(rejections, REJECTIONS_SCHEMA)}


def write_root(store, rows: dict, shards: int, per_shard: int) -> None:
    from storage.parquet import part_name
    rng = random.Random(0)
    for s in range(shards):
        ids, tables = shard_tables(rows, s, per_shard)
        store.commit(part_name("features", ids), {"record_features": tables["record_features"]},
                     primary="record_features")
        side = side_tables(ids, s, rng)
        store.commit(part_name("ingest", ids), {"quarantine": side["quarantine"]}, primary="quarantine")
        store.commit(part_name("validate", ids), {"rejections": side["rejections"], "pairs": side["pairs"]},
                     primary="pairs")


@contextmanager
def old_way():
    """`keys` and `keys_where` as the stages read before: every part of the table, then the filter."""
    import pyarrow.dataset as ds
    from storage.parquet import TableStore
    saved = TableStore.keys, TableStore.keys_where

    def keys(self, table, schema, column="record_id", filter=None):  # noqa: A002
        col = self.read(table, schema, columns=[column], filter=filter).column(column)
        return {v for v in col.to_pylist() if v is not None}

    def keys_where(self, table, schema, column, where, values):
        return keys(self, table, schema, column, ds.field(where).isin(list(values)))
    TableStore.keys, TableStore.keys_where = keys, keys_where
    try:
        yield
    finally:
        TableStore.keys, TableStore.keys_where = saved


def pending_keys(store):
    from tasks.teachers.stage import generation_keys
    from tasks.validate.stage import validated_keys
    return generation_keys(store), validated_keys(store)


def measure(store, rounds: int, shards: int, server=None) -> dict:
    """(requests, bytes, seconds) of one pending read: old, new cold, and new after each added part."""
    from storage import part_index
    from storage.parquet import part_name
    got = Downloaded()
    requests = (lambda: sum(server.requests().values())) if server else (lambda: 0)

    def one():
        r0, b0, t0 = requests(), got.bytes, time.perf_counter()
        keys = pending_keys(store)
        return keys, (requests() - r0, got.bytes - b0, time.perf_counter() - t0)
    out, rng = {"old": [], "new cold": [], "new, a part added": []}, random.Random(1)
    with got.counting():
        with old_way():
            pending_keys(store)  # warm-up (imports, page cache): not measured
        part_index.clear()
        for r in range(rounds + 1):
            if r:  # a round: one more validate part, then both ways read again
                ids = [f"round-{r}-{k}" for k in range(20)]
                side = side_tables(ids, shards + r, rng, tag=f"r{r}-")
                store.commit(part_name("validate", ids), {"rejections": side["rejections"], "pairs": side["pairs"]},
                             primary="pairs")
            with old_way():
                old_keys, m = one()
            out["old"].append(m)
            new_keys, m = one()
            out["new cold" if r == 0 else "new, a part added"].append(m)
            assert new_keys == old_keys, f"round {r}: the part index and the whole tables disagree"
    return {way: tuple(sum(m[i] for m in ms) / len(ms) for i in range(3)) for way, ms in out.items()}


def add_regenerations(root, shards: int, per_shard: int) -> None:
    """Ledger rows naming the rejections of every shard but the last two as parents (they were asked again)."""
    import sqlite3
    from storage.ledger import Ledger
    with Ledger(root.ledger_path):
        pass
    rows = [(f"child-{s:04d}-{k:04d}", f"req-{s:04d}-{k:04d}", time.time())
            for s in range(shards - 2) for k in range(per_shard) if k % 5 == 4 and not (k == 4 and s % 8 == 5)]
    con = sqlite3.connect(root.ledger_path)
    con.executemany("INSERT OR IGNORE INTO requests(request_id, record_id, teacher, model, prompt_version, round,"
                    " parent_request_id, request_json, created_at) VALUES (?, 'r', 'template', 'm', 'v1', 1, ?, '{}', ?)",
                    [(c, parent, t) for c, parent, t in rows])
    con.commit()
    con.close()


def old_regenerations(root):
    """The rule as it read before: `rejections` and `pairs` whole."""
    from schemas.pairs import PAIRS_SCHEMA, REJECTIONS_SCHEMA
    from storage.ledger import Ledger
    from storage.parquet import TableStore
    from tasks.validate.regenerate import latest_retriable
    store = TableStore(root)
    latest = latest_retriable(store.read("rejections", REJECTIONS_SCHEMA),
                              store.read("pairs", PAIRS_SCHEMA, columns=["record_id", "teacher", "prompt_version"]),
                              "template", "v1", 2)
    with Ledger(root.ledger_path) as ledger:
        done = ledger.with_children(r.request_id for r in latest.values())
    return sorted((r for r in latest.values() if r.request_id not in done), key=lambda r: r.record_id)


def measure_regenerations(root, server=None) -> dict:
    """(requests, bytes, seconds) of regenerate's pending read: old, new cold, new again in the same process."""
    from storage import part_index
    from tasks.validate.regenerate import pending_regenerations
    got = Downloaded()
    requests = (lambda: sum(server.requests().values())) if server else (lambda: 0)

    def one(read):
        r0, b0, t0 = requests(), got.bytes, time.perf_counter()
        found = read()
        return found, (requests() - r0, got.bytes - b0, time.perf_counter() - t0)
    with got.counting():
        old_regenerations(root)  # warm-up: not measured
        old, m_old = one(lambda: old_regenerations(root))
        part_index.clear()
        cold, m_cold = one(lambda: pending_regenerations(root, "template", "v1", 2))
        warm, m_warm = one(lambda: pending_regenerations(root, "template", "v1", 2))
    assert old == cold == warm and old, "the part index and the whole tables disagree (or nothing is pending)"
    return {"old": m_old, "new cold": m_cold, "new again": m_warm, "pending": len(old)}


def print_regenerations(s3: dict, disk: dict) -> None:
    print(f"\nregenerate's pending read (pending_regenerations): {s3['pending']} rejections to ask again")
    print(f"{'way':<20}{'S3 requests':>12}{'S3 KiB':>10}{'S3 s':>8}{'local ms':>10}")
    for way in ("old", "new cold", "new again"):
        req, byt, sec = s3[way]
        print(f"{way:<20}{req:>12.0f}{byt / 1024:>10.1f}{sec:>8.3f}{disk[way][2] * 1000:>10.1f}")
    for way in ("new cold", "new again"):
        print(f"old/{way}: requests {s3['old'][0] / max(1, s3[way][0]):.1f}x,"
              f" bytes {s3['old'][1] / max(1, s3[way][1]):.1f}x, local seconds {disk['old'][2] / disk[way][2]:.1f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shards", type=int, default=40, help="shards, so parts per table (default 40)")
    ap.add_argument("--records", type=int, default=25, help="records per shard (default 25)")
    ap.add_argument("--rounds", type=int, default=3, help="parts added and read again, in the same process (3)")
    args = ap.parse_args()
    if not CINC.exists():
        sys.exit(f"{CINC} not found (the shared data lives in ../shared/data)")
    from storage.layout import DataRoot
    from storage.parquet import TableStore
    from tests.s3_server import moto_s3, s3_env
    with tempfile.TemporaryDirectory(prefix="gemflow-pending-bench-") as tmp, moto_s3() as server, s3_env(server):
        os.environ["GEMFLOW_CACHE_DIR"] = str(Path(tmp) / "cache")
        rows = template_rows(Path(tmp))
        local, remote = TableStore(DataRoot.open(Path(tmp) / "local")), TableStore(DataRoot.open(server.url("p")))
        for store in (local, remote):
            write_root(store, rows, args.shards, args.records)
        sizes = {t: sum(p.stat().st_size for p in local.parts(t)) / 1024
                 for t in ("record_features", "quarantine", "pairs", "rejections")}
        print(f"{args.shards} shards x {args.records} records; table sizes (KiB): "
              + ", ".join(f"{t} {v:.0f}" for t, v in sizes.items()))
        s3, disk = measure(remote, args.rounds, args.shards, server), measure(local, args.rounds, args.shards)
        print(f"\none pending read (generation_keys + validated_keys); old: mean of {args.rounds + 1} calls")
        print(f"{'way':<20}{'S3 requests':>12}{'S3 KiB':>10}{'S3 s':>8}{'local ms':>10}")
        for way in s3:
            req, byt, sec = s3[way]
            print(f"{way:<20}{req:>12.1f}{byt / 1024:>10.1f}{sec:>8.3f}{disk[way][2] * 1000:>10.1f}")
        for way in ("new cold", "new, a part added"):
            print(f"old/{way}: requests {s3['old'][0] / s3[way][0]:.1f}x, bytes {s3['old'][1] / max(1, s3[way][1]):.1f}x,"
                  f" S3 seconds {s3['old'][2] / s3[way][2]:.1f}x, local seconds {disk['old'][2] / disk[way][2]:.1f}x")
        for store in (local, remote):
            add_regenerations(store.root, args.shards, args.records)
        print_regenerations(measure_regenerations(remote.root, server), measure_regenerations(local.root))


if __name__ == "__main__":
    main()
