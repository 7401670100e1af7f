"""Prefect flow `train`: validate the train config, launch DeepSpeed ranks, report the loss.

Thin by design: the work lives in `model.train` (the entry point each rank runs) and
`model.launch` (command, environment, log following). Run it on a GPU work pool; see
docs/training.md for the job variables.
"""
from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from model import launch
from model.data import locate_sources
from model.train import deepspeed_config_path, load_train_config
from model.train_eval import read_eval_samples
from storage.staging import local_folder
from tasks.results import TrainResult


@flow(name="train", log_prints=False)
def train(config: str, data: str, output: str | None = None, gpus: int = 1, launcher: str = "deepspeed",
          resume: str | None = None, overrides: list[str] | None = None, dry_run: bool = False) -> TrainResult:
    """Train GEM on `data` (a dataset root: a folder or s3://bucket/prefix) with `gpus` ranks; `dry_run` validates
    and exits. An s3:// root is staged into this machine's work folder first; checkpoints stay local (`output`,
    default `<local folder of the root>/checkpoints/gem`).

    Fails the flow run when the launcher exits non-zero; the loss goes to the `train-loss` artifact."""
    logger = get_run_logger()
    cfg = load_train_config(config, overrides)
    deepspeed_config_path(cfg.deepspeed)
    sources = locate_sources(cfg.data, data)  # an s3:// root: its export and sources are staged here, once
    output = output or str(local_folder(data) / "checkpoints" / "gem")
    if str(data).startswith("s3://") and cfg.data.export is not None:  # every rank trains on the version staged
        overrides = [*(overrides or []), f"data.export={sources[0].parent.name}"]
    cmd = launch.build_command(config, data, gpus, launcher, output, resume, overrides)
    logger.info("train data: %s", ", ".join(map(str, sources)))
    logger.info("command: %s", " ".join(cmd))
    if dry_run:
        return TrainResult(dry_run=True, output=output, command=cmd, sources=[str(s) for s in sources])
    result = launch.run(cmd, launch.launch_env(), logger.info)
    rows = launch.loss_table(result.metrics)
    if rows:
        create_table_artifact(table=rows, key="train-loss", description=f"training loss, {output}")
    evals = launch.eval_table(result.metrics)
    if evals:
        create_table_artifact(table=evals, key="train-eval-loss", description=f"val loss during training, {output}")
    samples = read_eval_samples(output)
    if samples:
        create_table_artifact(table=samples[-20:], key="train-eval-samples",
                              description=f"answers generated from the val split during training, {output}")
    if result.returncode != 0:
        create_markdown_artifact(key="train-failure", markdown="```\n" + "\n".join(result.tail[-40:]) + "\n```",
                                 description=f"last lines of a failed run (exit {result.returncode})")
        raise RuntimeError(f"training exited with {result.returncode}; last lines:\n" + "\n".join(result.tail[-15:]))
    final = rows[-1]["loss"] if rows else None
    return TrainResult(dry_run=False, output=output, steps=len(rows), final_loss=final,
                       eval_loss=evals[-1]["eval_loss"] if evals else None, eval_samples=len(samples))
