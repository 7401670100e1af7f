"""What the whole-build benchmarks share: the repository on sys.path, offline settings, the default
sources, and the stage flows called as `gemflow run` calls them.

Imported first by a benchmark run as `python benchmarks/<name>.py` (its folder is then on sys.path).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
from tasks.offline import offline_defaults  # noqa: E402

offline_defaults()
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
DEFAULT_SOURCES = [REPO.parent / "shared/data/ecg/cinc2021", REPO.parent / "shared/data/ecg/wfdb_samples"]
STAGES = ("ingest", "features", "render", "generate", "validate", "export")


def stage_flows(data: str, sources: list[str], workers: int, config: str,
                limit: int | None = None) -> dict[str, Callable[[], Any]]:
    """The stage flows in `STAGES` order, as `gemflow run` calls them, on a thread runner of `workers`."""
    from flows.export import export_flow
    from flows.features import features_flow
    from flows.generate import generate_flow
    from flows.ingest import ingest_flow
    from flows.render import render_flow
    from flows.runners import task_runner
    from flows.validate import validate_flow
    on = {"task_runner": task_runner("thread", workers)}
    return {
        "ingest": lambda: ingest_flow.with_options(**on)(data, sources, limit=limit, config_path=config),
        "features": lambda: features_flow.with_options(**on)(data, config),
        "render": lambda: render_flow.with_options(**on)(data, config),
        "generate": lambda: generate_flow(data, config_path=config),
        "validate": lambda: validate_flow.with_options(**on)(data, config_path=config, workers=workers),
        "export": lambda: export_flow(data, config_path=config),
    }


def build_options(doc: str, repeat: int, shard_size: int) -> argparse.ArgumentParser:
    """The options every whole-build benchmark takes: sources, repeats, workers and shard size (both runs alike)."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", action="append", help="source folder (default: the shared CinC-2021 + WFDB samples)")
    ap.add_argument("--repeat", type=int, default=repeat, help=f"runs of each variant; the fastest is kept ({repeat})")
    ap.add_argument("--workers", type=int, default=2, help="shard tasks at a time, in both variants")
    ap.add_argument("--shard-size", type=int, default=shard_size,
                    help=f"records per shard, in both variants ({shard_size})")
    return ap
