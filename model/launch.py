"""Launch `model.train` under a distributed launcher and follow its output (no Prefect here).

The Prefect `train` flow uses these; so can a shell script. Metrics come back as the
`GEMFLOW_METRIC {json}` lines that rank 0 prints.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from model.train import METRIC_PREFIX

REPO_ROOT = Path(__file__).resolve().parents[1]
LAUNCHERS = ("deepspeed", "torchrun")


@dataclass
class LaunchResult:
    """Exit status, parsed metrics (in order) and the last lines of output."""

    returncode: int
    metrics: list[dict] = field(default_factory=list)
    tail: list[str] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_command(config: str | Path, data: str | Path, nproc: int = 1, launcher: str = "deepspeed",
                  output: str | Path | None = None, resume: str | None = None,
                  overrides: list[str] | None = None, master_port: int | None = None) -> list[str]:
    """argv for `nproc` ranks (GPUs, or gloo processes on CPU) of `python -m model.train`."""
    if launcher not in LAUNCHERS:
        raise ValueError(f"unknown launcher {launcher!r}; known: {', '.join(LAUNCHERS)}")
    if nproc < 1:
        raise ValueError(f"nproc must be >= 1, got {nproc}")
    port = str(master_port or free_port())
    if launcher == "deepspeed":
        head = [sys.executable, "-m", "deepspeed.launcher.runner", "--num_gpus", str(nproc),
                "--master_port", port, "--module", "model.train"]
    else:
        head = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc),
                "--master_port", port, "-m", "model.train"]
    args = ["--config", str(config), "--data", str(data)]
    if output:
        args += ["--output", str(output)]
    if resume:
        args += ["--resume", str(resume)]
    for item in overrides or []:
        args += ["--set", item]
    return head + args


def launch_env(base: dict[str, str] | None = None, cpu: bool | None = None) -> dict[str, str]:
    """The environment for the launcher: unbuffered output, repo on the path, DeepSpeed's CPU
    accelerator when there is no GPU."""
    env = dict(os.environ if base is None else base)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    if cpu is None:
        import torch

        cpu = not torch.cuda.is_available()
    if cpu:
        env.setdefault("DS_ACCELERATOR", "cpu")
    return env


def parse_metric(line: str) -> dict | None:
    """The metrics dict of a `GEMFLOW_METRIC {...}` line, else None."""
    start = line.find(METRIC_PREFIX)
    if start < 0:
        return None
    try:
        return json.loads(line[start + len(METRIC_PREFIX):])
    except json.JSONDecodeError:
        return None  # an interleaved or cut line: the metrics file keeps the full record


def run(cmd: list[str], env: dict[str, str], on_line: Callable[[str], None],
        cwd: str | Path = REPO_ROOT, tail_lines: int = 60) -> LaunchResult:
    """Run `cmd`, pass each output line (stdout and stderr merged) to `on_line`, collect metrics."""
    result = LaunchResult(returncode=-1)
    tail: deque[str] = deque(maxlen=tail_lines)
    with subprocess.Popen(cmd, env=env, cwd=str(cwd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, bufsize=1) as proc:
        for raw in proc.stdout:
            line = raw.rstrip("\n")
            tail.append(line)
            metric = parse_metric(line)
            if metric is not None:
                result.metrics.append(metric)
            on_line(line)
        result.returncode = proc.wait()
    result.tail = list(tail)
    return result


def loss_table(metrics: list[dict]) -> list[dict]:
    """Rows of step / loss / learning rate / grad norm for the per-step training logs."""
    keys = ("step", "epoch", "loss", "learning_rate", "grad_norm")
    return [{k: m.get(k) for k in keys} for m in metrics if "loss" in m]


def eval_table(metrics: list[dict]) -> list[dict]:
    """Rows of step / val loss from the evaluations during training."""
    return [{"step": m.get("step"), "eval_loss": m.get("eval_loss")} for m in metrics if "eval_loss" in m]
