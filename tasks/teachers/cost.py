"""Teacher cost: prompt-token estimates, prices (litellm's offline map, or the config's), and the run budget.

litellm's price map is read from the package (`LITELLM_LOCAL_MODEL_COST_MAP=True`; flows and tests
set it before litellm is imported). Prices in `gemflow.yaml` (`input_usd_per_mtok`,
`output_usd_per_mtok`) override it; a model litellm does not know and the config does not price
costs 0 (a local vLLM/Ollama endpoint), and the budget then cannot stop it.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from tasks.offline import offline_defaults

offline_defaults()  # before litellm is imported: it reads its price map then

import litellm  # noqa: E402

from schemas.config import TeacherConfig  # noqa: E402

IMAGE_TOKENS = 765  # a 2200x1700 page at OpenAI's "high" detail: 4 tiles x 170 + 85
_COUNTER_MODEL = "gpt-3.5-turbo"  # a local tokenizer (cl100k) for every model: an estimate, corrected after the call


def prompt_tokens(messages: list[dict], images: int = 0) -> int:
    """Estimated prompt tokens of chat messages (text parts counted with a local tokenizer)."""
    text = "\n".join(m["content"] if isinstance(m["content"], str) else
                     " ".join(p.get("text", "") for p in m["content"]) for m in messages)
    return litellm.token_counter(model=_COUNTER_MODEL, text=text) + 4 * len(messages) + IMAGE_TOKENS * images


@lru_cache(maxsize=256)
def _litellm_prices(model: str, batch: bool) -> tuple[float, float] | None:
    try:
        info = litellm.get_model_info(model)
    except Exception:  # litellm raises bare Exception subclasses for unmapped models
        return None
    inp, out = info.get("input_cost_per_token"), info.get("output_cost_per_token")
    if inp is None or out is None:
        return None
    if batch:
        inp = info.get("input_cost_per_token_batches") or inp * 0.5
        out = info.get("output_cost_per_token_batches") or out * 0.5
    return float(inp), float(out)


def prices(tcfg: TeacherConfig, batch: bool = False) -> tuple[float, float] | None:
    """USD per input token and per output token; config prices win; Batch API prices when `batch`."""
    if tcfg.input_usd_per_mtok is not None and tcfg.output_usd_per_mtok is not None:
        factor = tcfg.batch_discount if batch else 1.0
        return tcfg.input_usd_per_mtok * factor / 1e6, tcfg.output_usd_per_mtok * factor / 1e6
    return _litellm_prices(tcfg.model, batch)


def estimate_cost(tcfg: TeacherConfig, n_prompt: int, batch: bool = False) -> float:
    """The most a request may cost: its prompt tokens plus `max_tokens` of output."""
    p = prices(tcfg, batch)
    return 0.0 if p is None else n_prompt * p[0] + tcfg.max_tokens * p[1]


def tokens_cost(tcfg: TeacherConfig, n_in: int, n_out: int, batch: bool = False) -> float:
    p = prices(tcfg, batch)
    return 0.0 if p is None else n_in * p[0] + n_out * p[1]


def response_cost(tcfg: TeacherConfig, response, n_in: int, n_out: int) -> float:
    """A chat response's cost: litellm's `completion_cost` offline, unless the config prices the teacher.

    litellm already ran `completion_cost` on the response (`_hidden_params["response_cost"]`); that
    figure is used when present rather than computing it twice.
    """
    if tcfg.input_usd_per_mtok is not None and tcfg.output_usd_per_mtok is not None:
        return tokens_cost(tcfg, n_in, n_out)
    known = (getattr(response, "_hidden_params", None) or {}).get("response_cost")
    if known is not None:
        return float(known)
    try:
        return float(litellm.completion_cost(completion_response=response, model=tcfg.model))
    except Exception:  # unmapped model (local endpoint): fall back to the map by name, else free
        return tokens_cost(tcfg, n_in, n_out)


@dataclass
class Budget:
    """Spent so far + reserved for calls in flight; a request starts only if its worst case still fits."""

    limit_usd: float | None
    spent_usd: float = 0.0
    reserved_usd: float = 0.0

    def try_reserve(self, usd: float) -> bool:
        if self.limit_usd is not None and self.spent_usd + self.reserved_usd + usd > self.limit_usd:
            return False
        self.reserved_usd += usd
        return True

    def settle(self, reserved: float, spent: float) -> None:
        self.reserved_usd = max(0.0, self.reserved_usd - reserved)
        self.spent_usd += spent

    def stop_message(self, next_usd: float, left: int) -> str:
        return (f"budget_usd={self.limit_usd:.4f} would be passed: spent ${self.spent_usd:.4f}, in flight"
                f" ${self.reserved_usd:.4f}, next request up to ${next_usd:.4f}. {left} request(s) were not sent"
                " and stay pending; raise budget_usd in gemflow.yaml and rerun to resume.")
