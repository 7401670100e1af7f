"""The generate flow with a batch vision teacher (like gpt-4o-batch) on real CinC-2021 records, under Prefect.

Shards are packed into one batch, the pages go at their billed size, every answer is journaled,
and no file stays at the provider.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.openai_server import image_sizes
from tests.teacher_support import KEY_ENV, fake_openai, server  # noqa: F401

pytestmark = pytest.mark.slow
N = 4


def batch_config(path: Path, base_url: str, cinc2021_dir: Path) -> str:
    teacher = {"model": "openai/gpt-4o", "api_base": base_url, "api_key_env": KEY_ENV, "batch": True,
               "vision": True, "batch_poll_s": 0.05, "batch_enqueued_tokens": 10**6, "timeout_s": 10}
    path.write_text(yaml.safe_dump({"teachers": {"fake-batch": teacher}, "teacher": "fake-batch", "shard_size": 2,
                                    "sources": [{"path": str(cinc2021_dir), "name": "cinc"}]}))
    return str(path)


def test_the_generate_flow_packs_its_shards_into_one_batch_of_small_pages(prefect_api, server, cinc2021_dir, tmp_path):
    from flows.features import features_flow
    from flows.generate import generate_flow
    from flows.ingest import ingest_flow
    from flows.render import render_flow
    from storage.layout import DataRoot
    from storage.ledger import Ledger
    from tasks.status import collect_status
    config = batch_config(tmp_path / "gemflow.yaml", server.base_url, cinc2021_dir)
    data = str(tmp_path / "data")
    ingest_flow(data, limit=N, config_path=config)
    features_flow(data, config)
    render_flow(data, config)
    generate_flow(data, config_path=config)
    root = DataRoot.open(data)
    with Ledger(root.ledger_path) as ledger:
        states = ledger.counts()
    assert states == {("fake-batch", "done"): N}
    log = server.fake.batch_log
    assert [n for _, n, _ in log.created] == [N], "one batch per shard instead of one packed batch"
    sizes = [(w, h) for body in server.fake.counters.bodies for w, h, _ in image_sizes(body)]
    assert sizes == [(994, 768)] * N
    assert server.fake.files == {} and log.list_calls == []
    assert collect_status(root).batch_files_left == []
