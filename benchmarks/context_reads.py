"""What one shard's `build_contexts` reads: the whole tables (the old way) against only its own parts, in one run.

    python benchmarks/context_reads.py [--shards 40] [--records 25] [--old-shards 4]

Builds the four context tables (records, record_features, beats, images) for `--shards` shards of
`--records` records each, one part per table per shard as the stages commit them. The rows are
real: six CinC-2021 records through ingest, features and render, copied under new record ids
(so every part weighs what a real one does). The same parts are written to a local root and to an
s3:// root on moto's server (tests/s3_server.py). Then per shard, on each root:

- old: `TableStore.read(table, filter=record_id isin ids)` for the four tables, what
  `build_contexts` did before (every part of every table, then the filter);
- new: `TableStore.read_records` (storage/part_index.py), cold (a fresh process: every part's key
  column is indexed first) and warm (the later shards of the same process).

Prints the S3 requests (counted by the server) and the bytes downloaded (counted at the two calls
that fetch object bytes: whole-object GETs and ranged GETs) per shard, old / new as a ratio, and the
local seconds per shard, old / new. The contexts of both ways are compared (they must be equal).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

from _common import DEFAULT_SOURCES  # noqa: E402 - sets up the path and offline mode

CINC = DEFAULT_SOURCES[0]
TEMPLATES = ("E07500", "E07509", "HR06003", "JS20004", "JS20007", "E07501")
TABLES = ("records", "record_features", "beats", "images")


def template_rows(tmp: Path) -> dict[str, list[dict]]:
    """Each context table's rows for six real records (ingest, features, render on a local root)."""
    from tests.records_support import build_tables, copy_records
    store = build_tables(copy_records(CINC, TEMPLATES, tmp / "src"), tmp / "template", render=True)
    return {t: store.read(t, _schema(t)).to_pylist() for t in TABLES}


def _schema(table: str):
    from schemas.features import BEATS_SCHEMA, RECORD_FEATURES_SCHEMA
    from schemas.images import IMAGES_SCHEMA
    from schemas.records import RECORDS_SCHEMA
    return {"records": RECORDS_SCHEMA, "record_features": RECORD_FEATURES_SCHEMA, "beats": BEATS_SCHEMA,
            "images": IMAGES_SCHEMA}[table]


def shard_tables(rows: dict[str, list[dict]], shard: int, per_shard: int) -> tuple[list[str], dict]:
    """One shard's record ids and its part of each table: template records copied under new ids."""
    from storage.parquet import rows_to_table
    by_id: dict[str, dict[str, list[dict]]] = {}
    for table, table_rows in rows.items():
        for r in table_rows:
            by_id.setdefault(r["record_id"], {t: [] for t in TABLES})[table].append(r)
    templates = sorted(i for i, t in by_id.items() if all(t[x] for x in ("records", "record_features")))
    ids, out = [], {t: [] for t in TABLES}
    for k in range(per_shard):
        old = templates[k % len(templates)]
        new = f"bench-{shard:04d}-{k:04d}"
        ids.append(new)
        for table in TABLES:
            for r in by_id[old][table]:
                out[table].append({**r, "record_id": new, **({"patient_id": f"p-{new}"} if table == "records" else {})})
    return ids, {t: rows_to_table(out[t], _schema(t)) for t in TABLES}


def write_root(store, rows: dict, shards: int, per_shard: int) -> list[list[str]]:
    from storage.parquet import part_name
    plan = []
    for s in range(shards):
        ids, tables = shard_tables(rows, s, per_shard)
        store.commit(part_name("bench", ids), tables, primary="records")
        plan.append(ids)
    return plan


class Downloaded:
    """Bytes of object data fetched (whole-object GETs and ranged GETs, the two paths the reads use),
    and seconds spent inside the table reads (`read_records`, whichever way it reads)."""

    def __init__(self):
        self.bytes, self.read_s = 0, 0.0

    @contextmanager
    def timing_reads(self):
        from storage.parquet import TableStore
        inner = TableStore.read_records

        def timed(store, *a, **kw):
            t0 = time.perf_counter()
            try:
                return inner(store, *a, **kw)
            finally:
                self.read_s += time.perf_counter() - t0
        TableStore.read_records = timed
        try:
            yield
        finally:
            TableStore.read_records = inner

    @contextmanager
    def counting(self):
        from storage import conditional, objects
        get_many, get_range = objects.get_many, conditional.get_range

        def many(fs, keys):
            out = get_many(fs, keys)
            self.bytes += sum(len(b) for b in out)
            return out

        def ranged(fs, key, start, end, etag):
            out = get_range(fs, key, start, end, etag)
            self.bytes += len(out)
            return out
        objects.get_many, conditional.get_range = many, ranged
        try:
            yield self
        finally:
            objects.get_many, conditional.get_range = get_many, get_range


@contextmanager
def old_way():
    """`read_records` as every context read was before: the whole table, then the filter."""
    import pyarrow.dataset as ds
    from storage.parquet import TableStore
    saved = TableStore.read_records

    def whole(self, table, schema, ids, column="record_id", columns=None):
        return self.read(table, schema, columns, filter=ds.field(column).isin(list(ids)))
    TableStore.read_records = whole
    try:
        yield
    finally:
        TableStore.read_records = saved


def measure(store, plan: list[list[str]], server=None) -> dict[str, tuple[float, float, float]]:
    """(requests, bytes, seconds, seconds reading tables) per shard for old, new cold (the first shard
    of a fresh process) and new warm (the rest)."""
    from storage import part_index
    from tasks.teachers.context import build_contexts
    out, got = {}, Downloaded()
    requests = (lambda: sum(server.requests().values())) if server else (lambda: 0)

    def one(ids):
        r0, b0, s0, t0 = requests(), got.bytes, got.read_s, time.perf_counter()
        with got.timing_reads():
            ctx = build_contexts(store, ids)
        return ctx, (requests() - r0, got.bytes - b0, time.perf_counter() - t0, got.read_s - s0)
    with old_way():
        build_contexts(store, plan[-1])  # warm-up (imports, page cache): not measured
    with got.counting():
        olds, old_ctx = [], {}
        with old_way():
            for s in plan[:OLD_SHARDS]:
                ctx, m = one(s)
                olds.append(m)
                old_ctx[s[0]] = ctx
        part_index.clear()
        cold_ctx, cold = one(plan[0])
        warm = [one(s) for s in plan[1:]]
    for s in plan[1:OLD_SHARDS]:
        new_ctx = next(c for c, _ in warm if c and c[0].record_id == s[0])
        assert [c.model_dump() for c in new_ctx] == [c.model_dump() for c in old_ctx[s[0]]], "contexts differ"
    assert [c.model_dump() for c in cold_ctx] == [c.model_dump() for c in old_ctx[plan[0][0]]], "contexts differ"
    mean = lambda ms: tuple(sum(m[i] for m in ms) / len(ms) for i in range(4))  # noqa: E731
    out["old"], out["new cold"], out["new warm"] = mean(olds), cold, mean([m for _, m in warm])
    return out


OLD_SHARDS = 4


def main() -> None:
    global OLD_SHARDS
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shards", type=int, default=40, help="shards, so parts per table (default 40)")
    ap.add_argument("--records", type=int, default=25, help="records per shard (default 25)")
    ap.add_argument("--old-shards", type=int, default=4, help="shards read the old way (each reads everything)")
    args = ap.parse_args()
    OLD_SHARDS = max(2, min(args.old_shards, args.shards))
    if not CINC.exists():
        sys.exit(f"{CINC} not found (the shared data lives in ../shared/data)")
    from storage.layout import DataRoot
    from storage.parquet import TableStore
    from tests.s3_server import moto_s3, s3_env
    with tempfile.TemporaryDirectory(prefix="gemflow-ctx-bench-") as tmp, moto_s3() as server, s3_env(server):
        os.environ["GEMFLOW_CACHE_DIR"] = str(Path(tmp) / "cache")
        rows = template_rows(Path(tmp))
        local = TableStore(DataRoot.open(Path(tmp) / "local"))
        remote = TableStore(DataRoot.open(server.url("ctx")))
        plan = write_root(local, rows, args.shards, args.records)
        assert write_root(remote, rows, args.shards, args.records) == plan
        sizes = Counter()
        for t in TABLES:
            sizes[t] = sum(p.stat().st_size for p in local.parts(t))
        print(f"{args.shards} shards x {args.records} records; one part per table per shard; table sizes (KiB): "
              + ", ".join(f"{t} {sizes[t] / 1024:.0f}" for t in TABLES))
        s3 = measure(remote, plan, server)
        disk = measure(local, plan)
        print(f"\nper shard's build_contexts (old: mean of {OLD_SHARDS} shards; new warm: mean of {args.shards - 1})")
        print("(s: the whole build_contexts; read: the four table reads inside it)")
        print(f"{'way':<10}{'S3 requests':>12}{'S3 KiB':>11}{'S3 s':>8}{'S3 read s':>10}{'local ms':>10}"
              f"{'local read ms':>15}")
        for way in ("old", "new cold", "new warm"):
            req, byt, sec, rd = s3[way]
            print(f"{way:<10}{req:>12.1f}{byt / 1024:>11.1f}{sec:>8.3f}{rd:>10.3f}{disk[way][2] * 1000:>10.1f}"
                  f"{disk[way][3] * 1000:>15.1f}")
        for way in ("new cold", "new warm"):
            print(f"old/{way}: requests {s3['old'][0] / s3[way][0]:.1f}x, bytes {s3['old'][1] / max(1, s3[way][1]):.1f}x,"
                  f" S3 read seconds {s3['old'][3] / s3[way][3]:.1f}x,"
                  f" local read seconds {disk['old'][3] / disk[way][3]:.1f}x"
                  f" (whole build_contexts: {disk['old'][2] / disk[way][2]:.2f}x)")
        total_new = s3["new cold"][1] + s3["new warm"][1] * (args.shards - 1)
        print(f"one process reading all {args.shards} shards: old {s3['old'][1] * args.shards / 2**20:.1f} MiB,"
              f" new {total_new / 2**20:.1f} MiB ({s3['old'][1] * args.shards / total_new:.1f}x)")


if __name__ == "__main__":
    main()
