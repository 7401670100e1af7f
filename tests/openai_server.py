"""A local OpenAI-compatible server for tests and benchmarks: chat, files, batches, latency and injected faults.

It is a real FastAPI app served by uvicorn on 127.0.0.1; the real litellm/openai clients talk to it.
- `POST /v1/chat/completions`: answers after `latency_s`; a `reasoning_content` for reasoning models;
  a fixed text or a *grounded* one built from the prompt's measurements and labels (it passes
  gemflow's validators for most records).
- Faults, decided per (request key, attempt) from a seed so runs are reproducible: 429 with
  Retry-After, 500, 503, a hang longer than the client's timeout, a truncated JSON body, empty
  content, and output cut at max_tokens (`finish_reason: length`).
- Counters per request key (the `X-Gemflow-Request-Id` header, else a hash of model + messages):
  HTTP requests received and successful answers given.
- `/v1/files` and `/v1/batches` (create, retrieve, list, cancel) that run a batch's lines through
  the same chat logic after a few polls (tests/openai_batches.py, mixed in); `GET /stats` returns the
  counters as JSON.
- Every `/v1` route demands `Authorization: Bearer <api_key>` (TEST_KEY unless told otherwise): a
  401 otherwise, so a client that sends no key, or the wrong one, fails the tests.
- Account-wide refusals (`account_error`: 401, 402 "Insufficient Balance", 403, insufficient_quota,
  model_not_found), the account's real limits as `x-ratelimit-*` headers (enforced with 429s), a
  chain of thought inline behind `</think>`, and answers cut when max_tokens is below a threshold.

Run it alone (benchmarks): `python tests/openai_server.py --latency 0.2` prints its base URL.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import socket
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

try:
    from tests.openai_batches import BatchLog, BatchRoutes
except ModuleNotFoundError:  # run as a script: `python tests/openai_server.py`
    from openai_batches import BatchLog, BatchRoutes

FAULT_KINDS = ("429", "500", "503", "timeout", "truncated_json", "empty", "length")  # and "400" on request
TEST_KEY = "sk-gemflow-test-5ec2e7-do-not-leak"  # the key every /v1 route demands unless told otherwise
# Account-wide refusals as providers send them (status, error body): every chat call answers one when set.
ACCOUNT_ERRORS = {
    "401": (401, {"message": "Incorrect API key provided", "type": "invalid_request_error", "code": "invalid_api_key"}),
    "402": (402, {"message": "Insufficient Balance", "type": "unknown_error", "code": "invalid_request_error"}),
    "403": (403, {"message": "Project does not have access to model", "type": "invalid_request_error",
                  "code": "model_not_allowed"}),
    "insufficient_quota": (429, {"message": "You exceeded your current quota, please check your plan and billing"
                                            " details.", "type": "insufficient_quota", "code": "insufficient_quota"}),
    "model_not_found": (404, {"message": "The model does not exist or you do not have access to it.",
                              "type": "invalid_request_error", "code": "model_not_found"}),
}
ID_HEADER = "x-gemflow-request-id"
FIXED_TEXT = ("The tracing was read systematically from the rhythm to the conduction intervals and the"
              " repolarisation, and no finding stands out beyond what the measurements describe.")


@dataclass
class Settings:
    latency_s: float = 0.0
    fault_rate: float = 0.0
    faults: tuple[str, ...] = FAULT_KINDS
    seed: int = 0
    fail_first: int = 0  # the first N attempts of every key fail, cycling through `faults`
    retry_after_s: float = 0.05
    hang_s: float = 2.0  # how long a `timeout` fault holds the connection before answering
    answer: str = "grounded"  # "grounded" or "fixed"
    fixed_text: str = FIXED_TEXT
    reasoning: bool | None = None  # None: only models named like a reasoner (r1, reasoner)
    batch_polls: int = 2  # retrieves before a batch is done
    batch_expire_after: int | None = None  # answer only the first N lines, then the batch "expired"
    account_error: str | None = None  # a key of ACCOUNT_ERRORS: every chat call is refused that way
    limit_rpm: int | None = None  # the account's real limits: sent as x-ratelimit-* headers, and enforced (429)
    limit_tpm: int | None = None
    think_tags: str | None = None  # "lone": the chain of thought inline, closed by a lone </think>; "pair": <think>..</think>
    length_below: int | None = None  # answers are cut (finish_reason=length) when max_tokens is below this
    batch_token_limit: int | None = None  # enqueued prompt tokens over open batches; more fails token_limit_exceeded
    batch_cancel_answers: int = 0  # lines a cancelled batch still answers (its completed part)
    batch_cancel_polls: int = 0  # retrieves a cancelled batch stays `cancelling` before it is `cancelled`
    batch_max_lines: int = 50_000  # OpenAI's caps per batch input file
    batch_max_bytes: int = 200 * 1024 * 1024
    api_key: str | None = None  # required as `Bearer <key>`; None: any key except a missing one or "EMPTY"
    batch_create_faults: int = 0  # the first N POST /v1/batches answer 503 (a transient control-call failure)


@dataclass
class Counters:
    received: Counter = field(default_factory=Counter)  # HTTP requests per key
    answered: Counter = field(default_factory=Counter)  # 200 answers with content per key
    faults: Counter = field(default_factory=Counter)  # injected faults per kind
    prompt_tokens: int = 0
    completion_tokens: int = 0
    answer_times: list = field(default_factory=list)  # (monotonic time, total tokens) per answer
    received_at: dict = field(default_factory=dict)  # key -> monotonic times of its requests
    auth: set = field(default_factory=set)  # Authorization headers seen
    refused_auth: int = 0  # /v1 requests refused for a missing or wrong key
    max_tokens_seen: list = field(default_factory=list)  # max_tokens of every chat request, in order
    window: list = field(default_factory=list)  # (monotonic time, tokens) of the last minute's accepted calls
    bodies: list = field(default_factory=list)  # the last 20 request bodies


def _hash01(*parts) -> float:
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64


def _text_of(messages: list[dict]) -> str:
    out = []
    for m in messages:
        content = m.get("content") or ""
        if isinstance(content, list):
            content = " ".join(p.get("text", "") for p in content if p.get("type") == "text")
        out.append(content)
    return "\n".join(out)


def _grab(pattern: str, text: str) -> str | None:
    m = re.search(pattern, text)
    return m.group(1) if m else None


def grounded_answer(prompt: str) -> str:
    """A GEM-style paragraph that states only the prompt's heart rate, QRS duration, first usable lead and labels."""
    hr = _grab(r"heart rate (-?\d+) bpm", prompt)
    qrs = _grab(r"QRS (\d+) ms", prompt)
    labels = (_grab(r"Reference diagnosis \(do not reveal\): (.+)", prompt) or "").strip()
    usable = (_grab(r"usable leads: ([^;\n]+)", prompt) or "none").split(",")[0].strip()
    parts = []
    if hr:
        parts.append(f"The tracing shows a heart rate of {hr} bpm.")
    if usable != "none":  # the prompt asks to cite the leads a reading rests on (validation.min_lead_coverage)
        parts.append(f"The rhythm was followed in lead {usable}.")
    if qrs:
        parts.append(f"The QRS duration is {qrs} ms.")
    parts.append("The waveforms were reviewed systematically, moving from the conduction intervals to the"
                 " repolarisation pattern, and the picture stays consistent across the whole recording with no"
                 " artefact that would limit the reading.")
    if labels and labels != "none given":
        parts.append(f"Taken together, these findings support the interpretation of {labels}.")
    return " ".join(parts)


def _usage(prompt: str, text: str, reasoning: str | None) -> dict:
    p, c = max(1, len(prompt) // 4), len(text) // 4 + len(reasoning or "") // 4
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


class FakeOpenAI(BatchRoutes):
    """The app's state: settings, counters, files and batches; `app` is the FastAPI application.

    The chat route and its faults live here; files and batches come from `BatchRoutes` (tests/openai_batches.py)."""

    def __init__(self, settings: Settings | None = None, api_key: str | None = TEST_KEY):
        self.settings = settings or Settings()
        self.api_key = api_key  # None: any key (or none) is accepted
        self.counters = Counters()
        self.files: dict[str, dict] = {}
        self.batches: dict[str, dict] = {}
        self.batch_log = BatchLog()
        self._lock = threading.Lock()
        self.app = self._build_app()

    def reset(self, **changes) -> None:
        """Default settings with `changes`, zero counters, no files or batches."""
        changes = {k: tuple(v) if k == "faults" else v for k, v in changes.items()}
        with self._lock:
            self.settings = Settings(**changes)
            self.counters = Counters()
            self.files.clear()
            self.batches.clear()
            self.batch_log = BatchLog()

    # -- chat -------------------------------------------------------------------------------------
    def _fault(self, key: str, attempt: int) -> str | None:
        s = self.settings
        if attempt < s.fail_first:
            return s.faults[attempt % len(s.faults)]
        if s.fault_rate <= 0 or _hash01(s.seed, key, attempt, "f") >= s.fault_rate:
            return None
        return s.faults[int(_hash01(s.seed, key, attempt, "k") * len(s.faults))]

    def answer(self, body: dict, key: str) -> tuple[int, dict, str | None]:
        """(HTTP status, JSON body, fault kind) for one chat request; counts it."""
        with self._lock:
            attempt = self.counters.received[key]
            self.counters.received[key] += 1
            self.counters.received_at.setdefault(key, []).append(time.monotonic())
            self.counters.bodies = (self.counters.bodies + [body])[-20:]
            self.counters.max_tokens_seen.append(body.get("max_tokens"))
            fault = self._fault(key, attempt)
            if fault:
                self.counters.faults[fault] += 1
        if fault in ("400", "429", "500", "503"):
            return int(fault), {"error": {"message": f"injected {fault}", "type": "server_error"}}, fault
        prompt = _text_of(body.get("messages") or [])
        text = grounded_answer(prompt) if self.settings.answer == "grounded" else self.settings.fixed_text
        model = str(body.get("model", "unknown"))
        wants = self.settings.reasoning
        reasoning = None
        if wants or (wants is None and re.search(r"r1|reasoner", model)):
            reasoning = "Let me check the rate, the intervals and the labelled diagnosis before answering."
        finish = "stop"
        below = self.settings.length_below
        if fault == "empty":
            text, reasoning = "", None
        elif fault == "length" or (below is not None and int(body.get("max_tokens") or 0) < below):
            text, finish = text[: len(text) // 3], "length"
            fault = fault or "length"
        message = {"role": "assistant", "content": text}
        if reasoning is not None and self.settings.think_tags:
            opened = "" if self.settings.think_tags == "lone" else "<think>"
            message["content"], reasoning = f"{opened}{reasoning}</think>\n\n{text}", None
        if reasoning is not None:
            message["reasoning_content"] = reasoning
        usage = _usage(prompt, text, reasoning)
        if fault is None:
            with self._lock:
                self.counters.answered[key] += 1
                self.counters.prompt_tokens += usage["prompt_tokens"]
                self.counters.completion_tokens += usage["completion_tokens"]
                self.counters.answer_times.append((time.monotonic(), usage["total_tokens"]))
        out = {"id": f"chatcmpl-{hashlib.sha1(f'{key}{attempt}'.encode()).hexdigest()[:20]}",
               "object": "chat.completion", "created": int(time.time()), "model": model,
               "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage}
        return 200, out, fault

    def _refuse_account(self, key: str) -> JSONResponse:
        with self._lock:
            self.counters.received[key] += 1
            self.counters.received_at.setdefault(key, []).append(time.monotonic())
        status, error = ACCOUNT_ERRORS[self.settings.account_error]
        return JSONResponse({"error": error}, status_code=status)

    def _rate_window(self, body: dict) -> tuple[dict, bool]:
        """x-ratelimit-* headers for the account's limits, and whether this call is over them (a 429)."""
        s = self.settings
        if s.limit_rpm is None and s.limit_tpm is None:
            return {}, False
        cost = max(1, len(_text_of(body.get("messages") or [])) // 4) + int(body.get("max_tokens") or 0)
        now = time.monotonic()
        with self._lock:
            window = [(t, n) for t, n in self.counters.window if now - t < 60.0]
            used_req, used_tok = len(window), sum(n for _, n in window)
            over = (s.limit_rpm is not None and used_req + 1 > s.limit_rpm) or (
                s.limit_tpm is not None and used_tok + cost > s.limit_tpm)
            if not over:
                window.append((now, cost))
                used_req, used_tok = used_req + 1, used_tok + cost
            self.counters.window = window
        headers = {}
        if s.limit_rpm is not None:
            headers.update({"x-ratelimit-limit-requests": str(s.limit_rpm),
                            "x-ratelimit-remaining-requests": str(max(0, s.limit_rpm - used_req)),
                            "x-ratelimit-reset-requests": f"{60.0 / s.limit_rpm:.3f}s"})
        if s.limit_tpm is not None:
            headers.update({"x-ratelimit-limit-tokens": str(s.limit_tpm),
                            "x-ratelimit-remaining-tokens": str(max(0, s.limit_tpm - used_tok)),
                            "x-ratelimit-reset-tokens": f"{60.0 * cost / s.limit_tpm:.3f}s"})
        return headers, over

    async def chat(self, request: Request) -> Response:
        body = await request.json()
        self.counters.auth.add(request.headers.get("authorization", ""))
        key = request.headers.get(ID_HEADER) or hashlib.sha256(
            json.dumps([body.get("model"), body.get("messages")], sort_keys=True).encode()).hexdigest()[:32]
        if self.settings.account_error:
            return self._refuse_account(key)
        limit_headers, over = self._rate_window(body)
        if over:
            with self._lock:
                self.counters.received[key] += 1
                self.counters.faults["429"] += 1
            return JSONResponse({"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}},
                                status_code=429, headers={**limit_headers, "retry-after": "1"})
        status, out, fault = self.answer(body, key)
        if fault == "timeout":
            await asyncio.sleep(self.settings.hang_s)
        elif self.settings.latency_s:
            await asyncio.sleep(self.settings.latency_s)
        if status == 429:
            return JSONResponse(out, status_code=429, headers={"retry-after": str(self.settings.retry_after_s)})
        if fault == "truncated_json":
            raw = json.dumps(out)
            return Response(raw[: len(raw) // 2], media_type="application/json")
        return JSONResponse(out, status_code=status, headers=limit_headers)

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="fake OpenAI")

        @app.middleware("http")
        async def require_key(request: Request, call_next):
            """Every /v1 route (chat, files, batches) demands `Bearer <api_key>`, as a real provider does."""
            wanted = self.settings.api_key or self.api_key  # a key set by `reset(api_key=...)` wins
            if wanted is not None and request.url.path.startswith("/v1") and \
                    request.headers.get("authorization") != f"Bearer {wanted}":
                self.counters.refused_auth += 1
                return JSONResponse({"error": ACCOUNT_ERRORS["401"][1]}, status_code=401)
            return await call_next(request)

        app.post("/v1/chat/completions")(self.chat)

        @app.get("/stats")
        def stats() -> dict:
            c = self.counters
            return {"received": dict(c.received), "answered": dict(c.answered), "faults": dict(c.faults),
                    "refused_auth": c.refused_auth,
                    "prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens,
                    "answer_times": c.answer_times, "settings": asdict(self.settings)}

        @app.post("/reset")
        async def reset(request: Request) -> dict:
            self.reset(**(await request.json() or {}))
            return {"ok": True}

        self._add_batch_routes(app)
        return app

    def prompt_tokens(self, messages: list[dict]) -> int:
        """Prompt tokens of a chat request's text, as the chat route bills them."""
        return _usage(_text_of(messages), "", None)["prompt_tokens"]

class ServerThread:
    """Serve a FakeOpenAI on a free 127.0.0.1 port in a background thread."""

    def __init__(self, fake: FakeOpenAI):
        self.fake = fake
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        config = uvicorn.Config(fake.app, log_level="warning", access_log=False, timeout_keep_alive=30)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout_s: float = 10.0) -> "ServerThread":
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the fake OpenAI server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--fault-rate", type=float, default=0.0)
    ap.add_argument("--answer", default="grounded", choices=("grounded", "fixed"))
    ap.add_argument("--api-key", default=TEST_KEY, help="the key every /v1 route demands")
    args = ap.parse_args()
    server = ServerThread(FakeOpenAI(Settings(latency_s=args.latency, fault_rate=args.fault_rate,
                                              answer=args.answer), api_key=args.api_key)).start()
    print(server.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()



def image_sizes(body: dict) -> list[tuple[int, int, int]]:
    """(width, height, PNG bytes) of every base64 image in a chat request body."""
    import base64
    import io

    from PIL import Image

    out = []
    for m in body.get("messages") or []:
        for p in m.get("content") if isinstance(m.get("content"), list) else []:
            url = (p.get("image_url") or {}).get("url", "") if p.get("type") == "image_url" else ""
            if url.startswith("data:"):
                raw = base64.b64decode(url.split(",", 1)[1])
                with Image.open(io.BytesIO(raw)) as im:
                    out.append((*im.size, len(raw)))
    return out


if __name__ == "__main__":
    main()
