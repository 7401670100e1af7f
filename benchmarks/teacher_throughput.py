"""Benchmark: achieved teacher RPM/TPM against the configured limits, and gemflow's CPU per pair.

Usage: python benchmarks/teacher_throughput.py [--n 300] [--rpm 600] [--latency 0.2] [--skip-prefect]

The local OpenAI-compatible server (tests/openai_server.py) runs in a subprocess with a fixed
latency, so this process's CPU time is gemflow's (planning, limiter, litellm, ledger). Rates are
measured from the times the server received the answered calls. Runs:
1. gemflow's generate stage (`run_requests`), RPM-bound, and a bare litellm loop making the same
   calls (the client's own CPU), so gemflow's share of the CPU per pair is the difference;
2. the same stage, TPM-bound (rpm unlimited, tpm set to about the same request rate);
3. the same as 1 with the Prefect cross-process cap (as in the generate flow);
4. two worker processes, each with its own limiter paced to the full rate, sharing the Prefect cap
   through one Prefect server: the combined rate should be the configured one, not twice it;
5. the baseline: a plain Prefect `rate_limit` loop (mapped tasks, one slot per call).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tasks.offline import offline_defaults  # noqa: E402

offline_defaults()
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ["GEMFLOW_BENCH_KEY"] = "sk-bench-not-a-real-key"

from schemas.config import GemflowConfig, TeacherConfig  # noqa: E402
from storage.ledger import Ledger  # noqa: E402
from tasks.teachers.limiter import RateLimiter  # noqa: E402
from tasks.teachers.stage import run_requests  # noqa: E402
from tests.teacher_support import contexts, plan  # noqa: E402

MAX_CONCURRENCY = 16


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, str(REPO / "tests" / "openai_server.py"), "--latency", str(latency),
                             "--answer", "fixed", "--api-key", os.environ["GEMFLOW_BENCH_KEY"]],
                            stdout=subprocess.PIPE, text=True)
    return proc, proc.stdout.readline().strip()


def http(base_url: str, path: str, body: dict | None = None) -> dict:
    url = base_url.removesuffix("/v1") + path
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def rates(base_url: str, skip: int = 5) -> tuple[int, float, float]:
    """(answers, RPM, TPM) from the server's receive times of answered calls, after the first `skip`
    (connections opening)."""
    every = sorted(http(base_url, "/stats")["answer_times"])
    times = every[skip:]
    span = times[-1][0] - times[0][0]
    return len(every), (len(times) - 1) / span * 60, sum(t for _, t in times[1:]) / span * 60


def teacher(base_url: str, rpm: int, tpm: int) -> TeacherConfig:
    return TeacherConfig(model="openai/gpt-4o", api_base=base_url, api_key_env="GEMFLOW_BENCH_KEY", rpm=rpm, tpm=tpm,
                         max_concurrency=MAX_CONCURRENCY, max_tokens=300, timeout_s=30)


def gemflow_stage(base_url: str, tcfg: TeacherConfig, n: int, tag: str, **options) -> tuple[int, float]:
    """Plan n requests and send them through the generate stage; returns (done, CPU seconds)."""
    cfg = GemflowConfig(teachers={"bench": tcfg}, teacher="bench")
    with tempfile.TemporaryDirectory() as tmp, Ledger(Path(tmp) / "ledger.sqlite") as ledger:
        c0 = time.process_time()
        planned = plan(contexts(n, prefix=tag), "bench", tcfg)
        counts = run_requests(planned, ledger, cfg, "bench", **options)
        return counts.done, time.process_time() - c0


def bare_litellm(base_url: str, n: int, rpm: int) -> float:
    """CPU seconds of the same calls made by a bare litellm loop at the same pace (call i at i x 60/rpm s),
    with no limiter, ledger, budget or retries: the client's own CPU, which gemflow cannot save."""
    import asyncio

    import litellm

    tcfg = teacher(base_url, 10**6, 10**9)
    messages = [req.messages for req, _ in plan(contexts(n, prefix="bare"), "bench", tcfg)]

    async def go() -> None:
        sem = asyncio.Semaphore(MAX_CONCURRENCY)

        async def one(i: int, m: list[dict]) -> None:
            await asyncio.sleep(i * 60 / rpm)
            async with sem:
                await litellm.acompletion(model=tcfg.model, messages=m, api_base=base_url, api_key=os.environ["GEMFLOW_BENCH_KEY"],
                                          max_tokens=tcfg.max_tokens, temperature=0.2, max_retries=0)
        await asyncio.gather(*[one(i, m) for i, m in enumerate(messages)])

    c0 = time.process_time()
    asyncio.run(go())
    return time.process_time() - c0


def report(name: str, base_url: str, cpu_s: float | None, rpm: int | None, tpm: int | None) -> None:
    n, rpm_got, tpm_got = rates(base_url)
    parts = [f"{name:<44}", f"n={n:<4}", f"RPM {rpm_got:7.1f}"]
    parts.append(f"({rpm_got / rpm:.3f} of {rpm})" if rpm else "")
    parts.append(f"TPM {tpm_got:9.0f}" + (f" ({tpm_got / tpm:.3f} of {tpm})" if tpm else ""))
    parts.append(f"CPU {cpu_s / n * 1000:.2f} ms/pair" if cpu_s is not None else "")
    print("  ".join(p for p in parts if p), flush=True)


def run_plain(base_url: str, args) -> None:
    from flows.limits import PrefectGate, ensure_teacher_limits
    from prefect import flow

    @flow(name="bench-gemflow-with-prefect-cap")
    def with_cap() -> float:
        tcfg = teacher(base_url, args.rpm, 10**9)
        lim = ensure_teacher_limits("bench", tcfg)
        http(base_url, "/reset", {"latency_s": args.latency, "answer": "fixed"})
        _, cpu = gemflow_stage(base_url, tcfg, args.n, "c", gate=PrefectGate(lim),
                               limiter=RateLimiter(tcfg.rpm, tcfg.tpm))
        return cpu

    cpu = with_cap()
    report("gemflow + Prefect cross-process cap", base_url, cpu, args.rpm, None)

    @flow(name="bench-two-workers")
    def two_workers() -> None:
        from prefect.client.orchestration import get_client
        with get_client(sync_client=True) as client:
            env = {**os.environ, "PREFECT_API_URL": str(client.api_url)}
        cmd = [sys.executable, __file__, "--worker", base_url, "--n", str(args.n), "--rpm", str(args.rpm)]
        procs = [subprocess.Popen(cmd + ["--tag", f"w{i}"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True) for i in range(2)]
        for p in procs:
            assert p.stdout.readline().strip() == "ready"
        http(base_url, "/reset", {"latency_s": args.latency, "answer": "fixed"})
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        for p in procs:
            p.communicate(timeout=600)

    two_workers()
    report("two worker processes, each paced to the full rate,", base_url, None, args.rpm, None)
    print(" " * 4 + "sharing the Prefect cap (combined rate)", flush=True)
    plain_prefect(base_url, args)


def plain_prefect(base_url: str, args) -> None:
    """The baseline: mapped Prefect tasks, each taking one slot of a `rate_limit` and making one call."""
    import litellm
    from prefect import flow, task
    from prefect.client.orchestration import get_client
    from prefect.concurrency.sync import rate_limit
    from prefect.task_runners import ThreadPoolTaskRunner

    name = "bench-plain-rpm"

    @task
    def call(i: int) -> None:
        rate_limit(name, occupy=1, strict=True)
        litellm.completion(model="openai/gpt-4o", api_base=base_url, api_key=os.environ["GEMFLOW_BENCH_KEY"], max_retries=0,
                           messages=[{"role": "user", "content": f"plain {i} " + "x" * 2000}], max_tokens=300)

    @flow(name="bench-plain-rate-limit", task_runner=ThreadPoolTaskRunner(max_workers=MAX_CONCURRENCY))
    def plain(n: int) -> float:
        with get_client(sync_client=True) as client:
            client.upsert_global_concurrency_limit_by_name(name, max(1, args.rpm // 60), args.rpm / 60)
        http(base_url, "/reset", {"latency_s": args.latency, "answer": "fixed"})
        c0 = time.process_time()
        call.map(range(n)).result()
        return time.process_time() - c0

    cpu = plain(args.n)
    report("plain Prefect rate_limit loop (mapped tasks)", base_url, cpu, args.rpm, None)


def worker(base_url: str, args) -> None:
    """One of the two worker processes: ready, wait for `go` on stdin, then send n/2 requests with the cap."""
    from flows.limits import PrefectGate, teacher_limits
    tcfg = teacher(base_url, args.rpm, 10**9)
    print("ready", flush=True)
    sys.stdin.readline()
    gemflow_stage(base_url, tcfg, args.n // 2, args.tag, gate=PrefectGate(teacher_limits("bench", tcfg)),
                  limiter=RateLimiter(tcfg.rpm, tcfg.tpm))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", metavar="BASE_URL", help=argparse.SUPPRESS)
    ap.add_argument("--tag", default="w", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, default=300, help="requests per run")
    ap.add_argument("--rpm", type=int, default=600)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--skip-prefect", action="store_true", help="only the in-process runs (1 and 2)")
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker, args)
    proc, base_url = start_server(args.latency)
    try:
        print(f"server {base_url}, latency {args.latency * 1000:.0f} ms, max_concurrency {MAX_CONCURRENCY}", flush=True)
        gemflow_stage(base_url, teacher(base_url, 10**6, 10**9), 20, "warm")  # imports, tokenizer, connections
        http(base_url, "/reset", {"latency_s": args.latency, "answer": "fixed"})
        _, cpu = gemflow_stage(base_url, teacher(base_url, args.rpm, 10**9), args.n, "a")
        report("gemflow generate stage, RPM-bound", base_url, cpu, args.rpm, None)
        http(base_url, "/reset", {"latency_s": args.latency, "answer": "fixed"})
        bare = bare_litellm(base_url, args.n, args.rpm)
        report("bare litellm loop, same pace (client only)", base_url, bare, args.rpm, None)
        print(f"gemflow's own CPU (stage minus bare client): {(cpu - bare) / args.n * 1000:.2f} ms/pair", flush=True)
        tpm = args.rpm * 700  # about the same request rate: a request here is ~700 tokens
        http(base_url, "/reset", {"latency_s": args.latency, "answer": "fixed"})
        _, cpu = gemflow_stage(base_url, teacher(base_url, 10**6, tpm), args.n, "b")
        report("gemflow generate stage, TPM-bound", base_url, cpu, None, tpm)
        if not args.skip_prefect:
            run_plain(base_url, args)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
