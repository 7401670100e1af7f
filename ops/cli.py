"""The `gemflow` command line: the whole build, one command per stage, status, demo and interpret."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Build grounded ECG instruction data with Prefect, and train GEM on it.")
console = Console()
# Errors go to stderr and are never wrapped: a script greps them, and a long path must not split the reason.
err_console = Console(stderr=True, soft_wrap=True)

DataOpt = typer.Option("./gemflow-data", "--data", "-d", help="Dataset root (tables, images, ledger, exports).")


def _checked_config(value: Optional[str]) -> Optional[str]:
    """Validate the config when the command line is parsed: a bad field is a usage error, before any flow run."""
    from schemas.config import ConfigError, load_config
    try:
        load_config(value)
    except ConfigError as err:
        raise typer.BadParameter(str(err), param_hint="--config") from err
    return value


ConfigOpt = typer.Option(None, "--config", "-c", callback=_checked_config,
                         help="gemflow.yaml (default: ./gemflow.yaml if present).")
RunnerOpt = typer.Option("thread", "--runner", help="Shard task runner: thread (default), process or dask.")
WorkersOpt = typer.Option(None, "--workers", help="Parallel shard tasks (default: CPU count).")
DaskOpt = typer.Option(None, "--dask-address", envvar="GEMFLOW_DASK_ADDRESS",
                       help="With --runner dask: a running scheduler (tcp://host:8786); default: a LocalCluster.")
JsonOpt = typer.Option(False, "--json", help="Print the result as JSON (for scripts).")
QuietOpt = typer.Option(False, "--quiet", "-q", help="Print nothing but errors.")


def quiet_logs_if_asked(argv: List[str], env=os.environ) -> None:
    """`--quiet`/`--json`: Prefect logs only warnings. Must run before Prefect is imported (it reads the level then)."""
    if {"--quiet", "-q", "--json"} & set(argv):
        env["PREFECT_LOGGING_LEVEL"] = "WARNING"
        env["DASK_LOGGING__DISTRIBUTED"] = "warning"  # --runner dask: the cluster's INFO lines too


def _bars(as_json: bool, quiet: bool):
    """Progress bars on stderr while a command runs (none for --quiet or --json)."""
    from flows.progress import console_bars
    return console_bars(enabled=not (quiet or as_json))


def _sharded(stage_flow, runner: str, workers: Optional[int], address: Optional[str] = None):
    """The stage flow with the task runner the command line asked for, handed over at call time."""
    from flows.runners import task_runner
    return stage_flow.with_options(task_runner=task_runner(runner, workers, address))


def _print_result(title: str, result, as_json: bool, quiet: bool) -> None:
    """A flow's typed result (tasks/results.py) as its summary: a table of stage rows, or JSON."""
    if quiet:
        return
    summary = result.summary()
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    table = Table(title=title)
    table.add_column("stage")
    table.add_column("result")
    flat = summary if hasattr(result, "stages") else {title: summary}
    for stage, counts in flat.items():
        table.add_row(stage, ", ".join(f"{k}={v}" for k, v in counts.items()))
    console.print(table)


@app.command()
def run(source: List[str] = typer.Option(None, "--source", "-s", help="A corpus folder; KIND:PATH forces the kind."),
        data: str = DataOpt, teacher: Optional[str] = typer.Option(None, help="Teacher name from gemflow.yaml."),
        prompt_version: Optional[str] = typer.Option(None, help="Prompt version (folder under tasks/teachers/prompts)."),
        limit: Optional[int] = typer.Option(None, help="Ingest at most N new records."),
        target_pairs: Optional[int] = typer.Option(None, help="Validated pairs that trigger training."),
        config: Optional[str] = ConfigOpt, runner: str = RunnerOpt, workers: Optional[int] = WorkersOpt,
        dask_address: Optional[str] = DaskOpt, as_json: bool = JsonOpt, quiet: bool = QuietOpt) -> None:
    """Run the whole dataset build: ingest, features, render, generate, validate, export."""
    from flows.build_dataset import build_dataset_flow
    with _bars(as_json, quiet):
        result = build_dataset_flow(data=data, sources=source or None, teacher=teacher, prompt_version=prompt_version,
                                    limit=limit, target_pairs=target_pairs, config_path=config, runner=runner,
                                    workers=workers, dask_address=dask_address)
    _print_result("gemflow run", result, as_json, quiet)


@app.command()
def demo(data: str = typer.Option("./gemflow-data", "--data", "-d"),
         n: int = typer.Option(24, "--n", help="How many synthetic records to generate."),
         seed: int = typer.Option(7, help="Generator seed."), teacher: Optional[str] = None,
         config: Optional[str] = ConfigOpt, as_json: bool = JsonOpt, quiet: bool = QuietOpt) -> None:
    """Generate synthetic 12-lead records offline (deepfake-ecg) and run the whole build on them."""
    from flows.build_dataset import build_dataset_flow
    from tasks.ingest.demo import write_demo_records
    folder = Path(data).expanduser().resolve() / "sources" / "demo"
    write_demo_records(folder, n=n, seed=seed)
    with _bars(as_json, quiet):
        result = build_dataset_flow(data=data, sources=[f"demo:{folder}"], teacher=teacher, config_path=config)
    _print_result("gemflow demo", result, as_json, quiet)
    if not (quiet or as_json):
        console.print(f"Dataset root: {Path(data).resolve()}  (try: gemflow status --data {data})", soft_wrap=True)


@app.command()
def ingest(source: List[str] = typer.Option(..., "--source", "-s"), data: str = DataOpt,
           limit: Optional[int] = None, config: Optional[str] = ConfigOpt, runner: str = RunnerOpt,
           workers: Optional[int] = WorkersOpt, dask_address: Optional[str] = DaskOpt,
             as_json: bool = JsonOpt, quiet: bool = QuietOpt) -> None:
    """Read WFDB corpora into canonical 12-lead records; bad records go to quarantine with a reason."""
    from flows.ingest import ingest_flow
    with _bars(as_json, quiet):
        result = _sharded(ingest_flow, runner, workers, dask_address)(data=data, sources=source, limit=limit,
                                                                       config_path=config)
    _print_result("ingest", result, as_json, quiet)


@app.command()
def features(data: str = DataOpt, config: Optional[str] = ConfigOpt, runner: str = RunnerOpt,
             workers: Optional[int] = WorkersOpt, dask_address: Optional[str] = DaskOpt,
             as_json: bool = JsonOpt, quiet: bool = QuietOpt) -> None:
    """Measure every beat in every lead (beats, record_features)."""
    from flows.features import features_flow
    with _bars(as_json, quiet):
        result = _sharded(features_flow, runner, workers, dask_address)(data=data, config_path=config)
    _print_result("features", result, as_json, quiet)


@app.command()
def render(data: str = DataOpt, config: Optional[str] = ConfigOpt, runner: str = RunnerOpt,
           workers: Optional[int] = WorkersOpt, dask_address: Optional[str] = DaskOpt,
             as_json: bool = JsonOpt, quiet: bool = QuietOpt) -> None:
    """Draw the clinical 12-lead page of every record (images)."""
    from flows.render import render_flow
    with _bars(as_json, quiet):
        result = _sharded(render_flow, runner, workers, dask_address)(data=data, config_path=config)
    _print_result("render", result, as_json, quiet)


@app.command()
def generate(data: str = DataOpt, teacher: Optional[str] = None, prompt_version: Optional[str] = None,
             limit: Optional[int] = None, config: Optional[str] = ConfigOpt, as_json: bool = JsonOpt,
             quiet: bool = QuietOpt) -> None:
    """Ask the teacher for an interpretation of every measured record (ledger: exactly once)."""
    from flows.generate import generate_flow
    with _bars(as_json, quiet):
        result = generate_flow(data=data, teacher=teacher, prompt_version=prompt_version, config_path=config,
                               limit=limit)
    _print_result("generate", result, as_json, quiet)


@app.command()
def validate(data: str = DataOpt, teacher: Optional[str] = None, prompt_version: Optional[str] = None,
             config: Optional[str] = ConfigOpt, runner: str = RunnerOpt, workers: Optional[int] = WorkersOpt,
             dask_address: Optional[str] = DaskOpt, as_json: bool = JsonOpt, quiet: bool = QuietOpt) -> None:
    """Check every response against its record's measurements (pairs, rejections)."""
    from flows.validate import validate_flow
    with _bars(as_json, quiet):
        result = _sharded(validate_flow, runner, workers, dask_address)(
            data=data, teacher=teacher, prompt_version=prompt_version, config_path=config, workers=workers)
    _print_result("validate", result, as_json, quiet)


@app.command()
def export(data: str = DataOpt, teacher: Optional[str] = None, prompt_version: Optional[str] = None,
           config: Optional[str] = ConfigOpt, as_json: bool = JsonOpt, quiet: bool = QuietOpt) -> None:
    """Write a versioned LLaVA dataset (JSON per split, Parquet, card), split by patient."""
    from flows.export import export_flow
    with _bars(as_json, quiet):
        result = export_flow(data=data, teacher=teacher, prompt_version=prompt_version, config_path=config)
    _print_result("export", result, as_json, quiet)


@app.command()
def regenerate(data: str = DataOpt, teacher: Optional[str] = typer.Option(None, help="Teacher from gemflow.yaml."),
               prompt_version: Optional[str] = typer.Option(None, help="Prompt version."),
               limit: Optional[int] = typer.Option(None, help="Ask about at most N records."),
               target_pairs: Optional[int] = None, config: Optional[str] = ConfigOpt, as_json: bool = JsonOpt,
               quiet: bool = QuietOpt) -> None:
    """Generate, validate and export again for a chosen teacher and prompt version (the rest is reused)."""
    from flows.regenerate import regenerate_flow
    with _bars(as_json, quiet):
        result = regenerate_flow(data=data, teacher=teacher, prompt_version=prompt_version, limit=limit,
                                 target_pairs=target_pairs, config_path=config)
    _print_result("gemflow regenerate", result, as_json, quiet)


@app.command()
def serve(port: int = typer.Option(4200, help="Server port (the UI and the API)."),
          host: str = typer.Option("127.0.0.1", help="Address to listen on."),
          database_url: Optional[str] = typer.Option(
              None, envvar="GEMFLOW_DATABASE_URL",
              help="Postgres for the server, e.g. postgresql+asyncpg://user:pass@db:5432/prefect (default: SQLite)."),
          worker: List[str] = typer.Option(["cpu", "gpu"], "--worker", help="Start a local worker for this pool."),
          deploy: bool = typer.Option(True, help="Run `prefect deploy --all` on prefect.yaml."),
          config: Optional[str] = ConfigOpt) -> None:
    """Run a local Prefect server with the work pools, teacher limits, deployments and workers; Ctrl-C stops it."""
    from ops.serve import ServeError, ServeOptions
    from ops.serve import serve as run_serve
    opts = ServeOptions(host=host, port=port, database_url=database_url, workers=tuple(worker),
                        config_path=config, deploy=deploy)
    try:
        code = run_serve(opts, say=lambda line: typer.echo(line))
    except ServeError as err:
        typer.echo(f"gemflow serve: {err}", err=True)
        raise typer.Exit(1) from err
    raise typer.Exit(code)


@app.command()
def status(data: str = DataOpt, as_json: bool = JsonOpt) -> None:
    """Counts per stage, quarantine and rejection reasons, teacher requests and cost."""
    from storage.layout import DataRoot
    from tasks.status import collect_status
    if data.startswith("s3://"):
        opened = DataRoot.open(data)
        root = opened.location
    else:
        root = DataRoot.local_path(data)
        if not root.exists():
            raise typer.BadParameter(f"{root} does not exist", param_hint="--data")
        opened = DataRoot.open(root)
    rep = collect_status(opened)
    if as_json:
        typer.echo(json.dumps(rep.as_dict(), indent=2, default=str))
        return
    from ops.status import print_status
    print_status(console, rep, root)


@app.command()
def interpret(record: str = typer.Argument(..., help="WFDB record path (with or without extension)."),
              teacher: Optional[str] = typer.Option(None, help="Teacher from gemflow.yaml (default: template)."),
              model: Optional[str] = typer.Option(None, "--model", help="A trained GEM checkpoint folder."),
              out: str = typer.Option("./gemflow-interpret", help="Where the rendered page is written."),
              config: Optional[str] = ConfigOpt, as_json: bool = JsonOpt) -> None:
    """Measure, render and interpret one record; prints the measurements beside the text."""
    from schemas.records import RecordError
    from tasks.interpret import interpret_record
    try:
        result = interpret_record(record, teacher=teacher, model=model, out_dir=out, config_path=config)
    except RecordError as err:
        err_console.print(f"[red]cannot interpret {record}: {err.reason}[/] ({err.detail})")
        raise typer.Exit(2) from err
    if as_json:
        typer.echo(json.dumps(result, indent=2, default=str))
        return
    from ops.status import print_interpretation
    print_interpretation(console, result)


@app.command()
def evaluate(data: str = DataOpt, split: str = typer.Option("test", help="train, val or test."),
             teacher: Optional[str] = typer.Option(None, help="Interpreter: a teacher from gemflow.yaml (default: template)."),
             model: Optional[str] = typer.Option(None, "--model", help="Interpreter: a trained GEM checkpoint folder."),
             judge: Optional[str] = typer.Option(None, help="Score GEM's 8 metrics with this LLM teacher as judge."),
             export_version: Optional[str] = typer.Option(None, "--export", help="Export version (default: LATEST)."),
             sighted: bool = typer.Option(False, "--sighted", help="Show the teacher the labels (an upper bound)."),
             limit: Optional[int] = typer.Option(None, help="Evaluate at most N more items."),
             retry_failed: bool = typer.Option(False, "--retry-failed", help="Redo failed outputs and judgements."),
             device: str = typer.Option("auto", help="Where a --model checkpoint runs: auto, cpu, cuda, cuda:1."),
             batch_size: int = typer.Option(8, "--batch-size", help="Items per generate call for a --model checkpoint."),
             config: Optional[str] = ConfigOpt, as_json: bool = JsonOpt, quiet: bool = QuietOpt) -> None:
    """Evaluate an interpreter on a split: label F1/Hamming/AUC, grounding, judge metrics, report."""
    from flows.evaluate import evaluate_flow
    if model is not None:
        from tasks.evaluate.interpreters import check_checkpoint
        model = check_checkpoint(model)  # refused here, before a flow run is created
    result = evaluate_flow(data=data, split=split, teacher=teacher, model=model, judge=judge,
                           export_version=export_version, sighted=sighted, limit=limit, retry_failed=retry_failed,
                           config_path=config, device=device, batch_size=batch_size)
    _print_result("evaluate", result, as_json, quiet)


@app.command("review-sheet")
def review_sheet(data: str = DataOpt, split: str = typer.Option("test", help="train, val or test."),
                 interpreter: List[str] = typer.Option(None, "--interpreter", "-i",
                                                       help="An evaluated interpreter (repeat to compare)."),
                 export_version: Optional[str] = typer.Option(None, "--export", help="Export version (default: LATEST)."),
                 n: int = typer.Option(20, "--n", help="Items per interpreter (0: all)."),
                 seed: int = typer.Option(0, help="Sampling and shuffling seed."),
                 read: List[str] = typer.Option(None, "--read", help="Filled CSV(s) to summarize instead."),
                 as_json: bool = JsonOpt) -> None:
    """Write an HTML + CSV sheet for clinicians, or read filled sheets back into mean and SD tables."""
    from tasks.evaluate import review
    if read:
        summary, folders = review.read_back_at(data, [Path(p) for p in read])
        typer.echo(json.dumps(summary, indent=2) if as_json else review.summary_markdown(summary))
        return
    if not interpreter:
        raise typer.BadParameter("name at least one evaluated interpreter (or --read filled CSVs)", param_hint="--interpreter")
    paths = review.make_sheet(data, split, list(interpreter), export_version, n or None, seed)
    typer.echo(json.dumps({k: str(v) for k, v in paths.items()}, indent=2) if as_json else
               f"Send to clinicians: {paths['html']} (or {paths['csv']}); keep {paths['key']} apart.")


@app.command()
def train(config: str = typer.Option(..., "--config", "-c", help="gemflow.yaml (its `train:` section) or that section."),
          data: str = DataOpt, output: Optional[str] = typer.Option(None, help="Checkpoint folder."),
          gpus: int = typer.Option(1, help="Ranks to launch (GPUs, or gloo CPU ranks with DS_ACCELERATOR=cpu)."),
          launcher: str = typer.Option("deepspeed", help="deepspeed or torchrun."),
          resume: Optional[str] = typer.Option(None, help="A checkpoint folder, or 'latest'."),
          set_: List[str] = typer.Option(None, "--set", help="Override a train setting: key=value."),
          dry_run: bool = typer.Option(False, "--dry-run", help="Validate the config and print the command."),
          as_json: bool = JsonOpt) -> None:
    """Train GEM on an exported dataset with DeepSpeed (the `train` flow)."""
    from flows.train import train as train_flow
    result = train_flow(config=config, data=data, output=output, gpus=gpus, launcher=launcher, resume=resume,
                        overrides=set_ or None, dry_run=dry_run)
    if as_json:
        typer.echo(json.dumps(result.summary(), indent=2, default=str))
    else:
        console.print(result.summary())


def user_errors() -> tuple[type[BaseException], ...]:
    """Errors that are the user's to fix (a config field, a missing path, a refused source, a refused
    account: 401/402/403, insufficient_quota, model_not_found): one line, exit 2."""
    from model.config import ConfigError as ModelConfigError
    from schemas.config import ConfigError
    from storage.layout import UnsupportedRoot
    from tasks.teachers.base import GovernanceError
    from tasks.interpret import TeacherFailed
    from tasks.teachers.policy import AccountError
    return (ConfigError, ModelConfigError, FileNotFoundError, GovernanceError, AccountError, TeacherFailed,
            UnsupportedRoot)


def main() -> None:
    """The console script: offline defaults and log levels first (Prefect and litellm read them on import), then the app."""
    import sys

    from tasks.offline import offline_defaults
    offline_defaults()
    quiet_logs_if_asked(sys.argv[1:])
    try:
        app()
    except user_errors() as err:  # set GEMFLOW_DEBUG=1 for the traceback
        if os.environ.get("GEMFLOW_DEBUG"):
            raise
        err_console.print(f"[red]gemflow: {type(err).__name__}: {err}[/]")
        sys.exit(2)


if __name__ == "__main__":
    main()
