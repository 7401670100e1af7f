"""What every stage flow shares: run settings, the catalog refresh, summary artifacts, and library log forwarding.

Importing this module does nothing but define names. `settings()`, the first call of every flow,
installs the forwarding of library logs (litellm, openai, httpx) to the flow run, secrets redacted.
"""
from __future__ import annotations

import base64
import logging
import os
import re
from typing import Any, Iterable, Protocol, TypeVar

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.context import FlowRunContext
from prefect.exceptions import MissingContextError

from schemas.config import ConfigError, GemflowConfig, load_config
from schemas.tables import TABLE_SCHEMAS
from storage.catalog import memory_catalog, refresh_catalog
from storage.layout import DataRoot
from tasks.results import BuildResult
from tasks.status import collect_status

# litellm/openai/httpx log records go to the flow run (as PREFECT_LOGGING_EXTRA_LOGGERS would), secrets redacted
LIBRARY_LOGGERS = "LiteLLM,LiteLLM Router,openai,httpx"


def settings(data: str, config_path: str | None = None, **overrides: Any) -> tuple[GemflowConfig, DataRoot]:
    """The validated config (file + overrides) and the opened dataset root; installs the library log forwarding."""
    forward_library_logs()
    cfg = load_config(config_path, data_dir=data, **overrides)
    return cfg, DataRoot.open(cfg.data_dir)


def resolved_teacher(teacher: str | None, prompt_version: str | None, config_path: str | None) -> tuple[str, str]:
    """The teacher and prompt version a run will really use (the config's defaults when not given)."""
    if teacher and prompt_version:
        return teacher, prompt_version
    try:
        cfg = load_config(config_path)
    except ConfigError:  # the flow itself reports the bad config, with the field, a moment later
        return teacher or "default", prompt_version or "default"
    return teacher or cfg.teacher, prompt_version or cfg.prompt_version


def refresh(root: DataRoot) -> None:
    """Bring the DuckDB catalog's views up to date with the Parquet parts."""
    if not refresh_catalog(root, TABLE_SCHEMAS):
        _logger().warning("catalog.duckdb is open elsewhere; it will refresh on the next stage")


def _logger():
    try:
        return get_run_logger()
    except MissingContextError:  # outside a run (a plain function call, e.g. in a benchmark)
        return logging.getLogger("gemflow")


class Summarized(Protocol):
    def summary(self) -> dict[str, Any]: ...


R = TypeVar("R", bound=Summarized)


def summarize(stage: str, result: R) -> R:
    """Log a flow's typed result (tasks/results.py) and publish its summary as a table artifact; returns it."""
    data = result.summary()
    _logger().info("%s: %s", stage, ", ".join(f"{k}={v}" for k, v in data.items()))
    if FlowRunContext.get() is not None:
        create_table_artifact(
            key=f"{stage}-counts", table=[{"count": k, "value": v} for k, v in data.items()],
            description=f"gemflow {stage}: what this run did",
        )
    return result


# --- what the UI shows for a build: tables of counts and reasons, cost, and one rendered sample ---

def publish_run_report(root: DataRoot, build: BuildResult, teacher: str, prompt_version: str) -> None:
    """Table artifacts (counts per stage, quarantine and rejection reasons, cost by teacher) and a sample pair."""
    if FlowRunContext.get() is None:
        return
    rep = collect_status(root)
    counts = [{"stage": stage, "count": k, "value": v} for stage, c in build.summary().items()
              for k, v in c.items() if k != "path"]
    create_table_artifact(key="stage-counts", table=counts, description="gemflow: what each stage did in this run")
    create_table_artifact(key="quarantine-reasons", description="gemflow: quarantined records by stage and reason",
                          table=[{"stage": s, "reason": r, "records": n} for s, r, n in rep.quarantine]
                          or [{"stage": "-", "reason": "(none)", "records": 0}])
    create_table_artifact(key="rejection-reasons", description="gemflow: rejected responses by validation rule",
                          table=[{"rule": r, "responses": n} for r, n in rep.rejections]
                          or [{"rule": "(none)", "responses": 0}])
    create_table_artifact(key="cost-by-teacher", description="gemflow: teacher spend in this dataset root (ledger)",
                          table=[{"teacher": t, "spent_usd": round(s, 6), "done": d, "usd_per_response": round(p, 6)}
                                 for t, s, d, p in rep.cost] or [{"teacher": teacher, "spent_usd": 0.0, "done": 0,
                                                                   "usd_per_response": 0.0}])
    sample = sample_markdown(root, teacher, prompt_version)
    if sample:
        create_markdown_artifact(key="sample-interpretation", markdown=sample, description=(
            f"gemflow: one rendered ECG and its accepted {teacher}/{prompt_version} text"))


MAX_INLINE_BYTES = 1_500_000  # larger pages are linked, not inlined


def sample_markdown(root: DataRoot, teacher: str, prompt_version: str) -> str | None:
    """Markdown with the newest accepted pair of this teacher and prompt version: its page (inline PNG) and text."""
    con = memory_catalog(root, TABLE_SCHEMAS)
    try:
        row = con.execute(
            "SELECT record_id, image_path, answer, model FROM pairs WHERE teacher = ? AND prompt_version = ?"
            " ORDER BY validated_at DESC, pair_id LIMIT 1", [teacher, prompt_version]).fetchone()
    finally:
        con.close()
    if row is None:
        return None
    record_id, image_path, answer, model = row
    if root.exists(image_path) and root.size(image_path) <= MAX_INLINE_BYTES:
        mime = "image/jpeg" if image_path.lower().endswith((".jpg", ".jpeg")) else "image/png"
        src = f"data:{mime};base64,{base64.b64encode(root.read_bytes(image_path)).decode()}"
    else:
        src = root.path(image_path) if root.is_remote else root.abs(image_path).as_uri()
    return (f"### {record_id}\n\n![ECG page of {record_id}]({src})\n\n"
            f"**Accepted interpretation** ({teacher} / {model}, prompt {prompt_version}):\n\n> {answer}\n\n"
            f"Image: `{image_path}` in `{root.location}`\n")


# --- library logs: forwarded to the flow run, with secrets redacted ---

_KEY_SHAPES = (
    re.compile(r"()\b(?:sk|pk|rk)-[A-Za-z0-9_\-]{8,}"),  # OpenAI/Anthropic/DeepSeek style keys
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=\-]{8,}"),
    re.compile(r"(?i)((?:api[_-]?key|x-api-key|authorization)[\"']?\s*[:=]\s*[\"']?)"  # the name, kept
               r"(?!bearer\s|\[REDACTED\])[^\s\"',;&}]+"),  # its value, unless a Bearer token (pattern above)
    re.compile(r"(?i)([?&](?:key|api_key|token)=)[^\s&]+"),
)
REDACTED = "[REDACTED]"


class RedactSecrets(logging.Filter):
    """Replaces API keys in a log record: the values of known secret variables, and key-shaped strings."""

    def __init__(self, known: Iterable[str] = ()):
        super().__init__()
        self.known = sorted({k for k in known if len(k) >= 8}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for value in self.known:
            text = text.replace(value, REDACTED)
        for pattern in _KEY_SHAPES:
            text = pattern.sub(lambda m: m.group(1) + REDACTED, text)  # group 1: the prefix to keep
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def secret_values(env: dict | None = None) -> list[str]:
    """Values of environment variables named like secrets (`*_API_KEY`, `*_TOKEN`, `*_SECRET`, `*PASSWORD`)."""
    env = os.environ if env is None else env
    return [v for k, v in env.items() if re.search(r"(API_KEY|_TOKEN|SECRET|PASSWORD)$", k.upper()) and v]


class InRunsOnly(logging.Filter):
    """Library records reach the API handler only inside a flow or task run (outside one there is no run to
    attach them to, and Prefect would warn about each record)."""

    def __init__(self, loggers: Iterable[str]):
        super().__init__()
        self.loggers = tuple(loggers)

    def filter(self, record: logging.LogRecord) -> bool:
        from prefect.context import TaskRunContext
        if not any(record.name == n or record.name.startswith(n + ".") for n in self.loggers):
            return True
        return FlowRunContext.get() is not None or TaskRunContext.get() is not None


class OnceInThreads(logging.Filter):
    """Prefect warns on every shard task that a timeout cannot interrupt a task in a worker thread; say it once.

    (Shard tasks declare `timeout_seconds`; on the thread runner it takes effect when the blocking call
    returns, on the process and Dask runners it interrupts the task.)"""

    def __init__(self):
        super().__init__()
        self.said = False

    def filter(self, record: logging.LogRecord) -> bool:
        if "running in a worker thread" not in str(record.msg):
            return True
        said, self.said = self.said, True
        return not said


def forward_library_logs(names: str | None = None) -> None:
    """Send the named loggers' records to the flow run (as PREFECT_LOGGING_EXTRA_LOGGERS does), secrets redacted.

    The redaction filter sits on the handlers, so it covers child loggers (`openai._base_client`) too."""
    names = names if names is not None else os.environ.get("PREFECT_LOGGING_EXTRA_LOGGERS", LIBRARY_LOGGERS)
    loggers = [n for n in (n.strip() for n in names.split(",")) if n]
    handlers = list(logging.getLogger("prefect.extra").handlers)
    redact, in_runs = RedactSecrets(secret_values()), InRunsOnly(loggers)
    for name in loggers:
        lg = logging.getLogger(name)
        for h in handlers:
            if h not in lg.handlers:
                lg.addHandler(h)
    for h in set(handlers) | set(logging.getLogger().handlers):
        mine = [redact, in_runs] if h in handlers else [redact]
        h.filters = [f for f in h.filters if not isinstance(f, (RedactSecrets, InRunsOnly))] + mine
    task_runs = logging.getLogger("prefect.task_runs")
    if not any(isinstance(f, OnceInThreads) for f in task_runs.filters):
        task_runs.addFilter(OnceInThreads())
