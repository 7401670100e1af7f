"""Flow `train-gem`: what the `gemflow.dataset.validated` trigger runs — one training run per dataset version."""
from __future__ import annotations

from urllib.parse import unquote, urlparse

from prefect import flow, get_run_logger
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowFilter, FlowFilterName
from prefect.client.schemas.sorting import FlowRunSort
from prefect.runtime import flow_run

from flows.train import train
from tasks.results import TrainGemResult

FLOW_NAME = "train-gem"
_GONE = {"FAILED", "CRASHED", "CANCELLED"}


def dataset_path(dataset_uri: str) -> str:
    """The `--data` of a dataset URI: the local path of a `file://` URI, or the `s3://bucket/prefix` itself
    (the train flow stages what it reads from there)."""
    parsed = urlparse(dataset_uri)
    if parsed.scheme in ("", "file"):
        return unquote(parsed.path) if parsed.scheme else dataset_uri
    if parsed.scheme == "s3":
        return dataset_uri
    raise ValueError(f"dataset URI {dataset_uri!r}: only file:// and s3:// dataset roots are supported")


def earlier_claim(version: str, me: str | None) -> str | None:
    """The id of the earliest live run of this flow for the same dataset version, if it is not this run.

    Runs are matched by their `version` parameter, which is fixed when the trigger creates them
    (a run's name is only rendered once it starts, so two runs starting together could miss each
    other by name). Every run applies the same rule, so exactly one of them goes ahead.
    """
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[FLOW_NAME])),
                                     sort=FlowRunSort.EXPECTED_START_TIME_DESC, limit=200)
    alive = [r for r in runs if (r.parameters or {}).get("version") == version
             and (r.state is None or r.state.type.value not in _GONE)]
    alive.sort(key=lambda r: (r.created, str(r.id)))
    first = alive[0] if alive else None
    return str(first.id) if first is not None and str(first.id) != me else None


@flow(name=FLOW_NAME, flow_run_name="train-gem/{version}")
def train_gem(dataset_uri: str, version: str, config: str = "gemflow.yaml", gpus: int = 1,
              launcher: str = "deepspeed", dry_run: bool = False) -> TrainGemResult:
    """Train on export `version` of the dataset, unless another run for that version got there first.

    The trigger may fire twice for one version (a rerun of the build emits the event again); the
    earliest live run for that version trains, every later one returns `skipped`.
    """
    logger = get_run_logger()
    other = earlier_claim(version, flow_run.id)
    if other is not None:
        logger.info("dataset version %s is already being trained by flow run %s: nothing to do", version, other)
        return TrainGemResult(skipped=True, version=version, trained_by=other)
    result = train(config=config, data=dataset_path(dataset_uri), gpus=gpus, launcher=launcher,
                   overrides=[f"data.export={version}"], dry_run=dry_run)
    return TrainGemResult(skipped=False, version=version, train=result)
