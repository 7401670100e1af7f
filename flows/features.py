"""Features flow: per-beat, per-lead measurements for every ingested record, one task per shard."""
from __future__ import annotations

from prefect import flow, task

from flows.common import settings, summarize
from flows.stages import SHARD_TASK, run_stage
from schemas.records import RecordRef
from storage.layout import RootHandle
from tasks.results import StageResult
from tasks.features.stage import SHARDS, FeatureCounts, features_shard, pending_features


@task(name="features-shard", **SHARD_TASK)
def features_shard_task(root_dir: str | RootHandle, items: list[RecordRef], feature_settings) -> FeatureCounts:
    return features_shard(root_dir, items, feature_settings)


@flow(name="features", flow_run_name="features/{data}")
def features_flow(data: str, config_path: str | None = None) -> StageResult[FeatureCounts]:
    cfg, root = settings(data, config_path)
    total = run_stage(SHARDS, root, lambda: pending_features(root), features_shard_task, cfg.features,
                      shard_size=cfg.shard_size, zero=FeatureCounts())
    return summarize("features", StageResult(total))
