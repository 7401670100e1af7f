"""Checkpoint inference, one record per generate call vs a batch, in the same run.

    python benchmarks/interpret_batch.py [--records 16] [--batch 8] [--new-tokens 64] [--device cpu]

Uses a tiny random GEM checkpoint (the tests' one: tiny ECG tower, tiny CLIP, tiny Llama) on the
shared CinC-2021 records, each with its page drawn once beforehand, so both runs time only
`GemInterpreter`: reading the signal, preprocessing the page, splicing and greedy generation. The
texts of the two runs must agree (the batch is left-padded); the figure is the ratio of records/s.
On a GPU with a 7B checkpoint the batch gains more: the step is memory-bound there, not here.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=16)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--source", default=str(REPO.parent / "shared/data/ecg/cinc2021"))
    args = ap.parse_args()
    from model.infer import GemInterpreter
    from model.signal import TARGET_FS, load_ecg
    from tests.model_support import tiny_checkpoint
    records = sorted(str(p.with_suffix("")) for p in Path(args.source).glob("*.hea"))[:args.records]
    if not records:
        sys.exit(f"no WFDB records under {args.source}")
    ckpt = tiny_checkpoint(Path(tempfile.mkdtemp(prefix="gemflow-bench-ckpt-")) / "gem-tiny")
    gem = GemInterpreter(ckpt, args.device)
    pages = [gem.renderer(load_ecg(r), TARGET_FS) for r in records]
    gem.interpret(records[0], max_new_tokens=2, page=pages[0])  # warm up
    start = time.perf_counter()
    single = [gem.interpret(r, max_new_tokens=args.new_tokens, page=p) for r, p in zip(records, pages)]
    t_single = time.perf_counter() - start
    start = time.perf_counter()
    batched = []
    for i in range(0, len(records), args.batch):
        batched += gem.interpret_batch(records[i:i + args.batch], None, args.new_tokens, pages[i:i + args.batch])
    t_batch = time.perf_counter() - start
    n = len(records)
    print(f"records {n}, new tokens {args.new_tokens}, device {args.device}")
    print(f"one per call: {n / t_single:6.2f} records/s")
    print(f"batch of {args.batch}:   {n / t_batch:6.2f} records/s")
    print(f"ratio batch/single: {t_single / t_batch:.2f}x; same texts: {single == batched}")


if __name__ == "__main__":
    main()
