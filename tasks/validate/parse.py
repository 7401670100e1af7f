"""Response parsing: strip wrappers, keep reasoning apart from the answer, and refuse what is not an answer."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from tasks.validate.telegraphic import LANGUAGE_NEUTRAL

_WRAPPER_RE = re.compile(
    r"^\s*(?:#+\s*)?(?:\*\*|__)?\s*(?:response|answer|interpretation|ecg interpretation|final answer|"
    r"assistant)\s*:?\s*(?:\*\*|__)?\s*:?\s*", re.I)
_THINK_RE = re.compile(r"<think>(.*?)</think>", re.S | re.I)
_FENCE_RE = re.compile(r"^\s*```[a-z]*\s*\n(.*?)\n\s*```\s*$", re.S)
_ENGLISH = frozenset(
    "the a an of and in is are with to at on by for from this that there no not be as or which "
    "shows show seen lead leads wave waves rhythm rate interval axis "
    # clinical English: a terse answer ("Sinus tachycardia at 114 bpm. **Lead II:** P 0.13 mV, ...") is mostly
    # abbreviations, which count for no language, so its English shows in these words
    "sinus normal abnormal tachycardia bradycardia arrhythmia regular irregular left right atrial ventricular "
    "enlargement hypertrophy block bundle branch elevation depression inversion inverted upright negative positive "
    "flat low high tall deep small narrow wide prolonged short inferior lateral anterior septal posterior "
    "precordial limb group impression findings summary conclusion diagnosis likely possible most related about "
    "diffuse mild marked premature complexes complex contractions segment segments voltage deviation "
    "beat beats heart".split())


@dataclass
class ParsedAnswer:
    answer: str
    reasoning: str | None
    problems: list[tuple[str, str]] = field(default_factory=list)  # (rule, detail)


def english_share(text: str) -> float:
    """Share of words that are common English words (0 for text in another language or script)."""
    words = [w for w in re.findall(r"[^\W\d_]+", text.lower()) if w not in LANGUAGE_NEUTRAL]
    if not words:
        return 0.0
    return sum(w in _ENGLISH for w in words) / len(words)


def latin_share(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    return sum(c.isascii() for c in letters) / len(letters) if letters else 0.0


def parse_response(text: str | None, reasoning: str | None = None, finish_reason: str | None = None) -> ParsedAnswer:
    """The bare answer paragraph; `<think>` blocks move to reasoning; empty, cut-off or non-English is flagged."""
    raw = text or ""
    thoughts = [m.strip() for m in _THINK_RE.findall(raw)]
    body = _THINK_RE.sub("", raw)
    if "<think>" in body.lower():  # an unterminated think block: the answer never came
        thoughts.append(body[body.lower().index("<think>") + 7:].strip())
        body = body[:body.lower().index("<think>")]
    fence = _FENCE_RE.match(body)
    if fence:
        body = fence.group(1)
    body = _WRAPPER_RE.sub("", body.strip(), count=1).strip()
    kept_reasoning = "\n\n".join(x for x in [reasoning or "", *thoughts] if x) or None
    out = ParsedAnswer(body, kept_reasoning)
    if not body:
        out.problems.append(("empty", "no answer text after removing wrappers and reasoning"))
        return out
    if finish_reason == "length":
        out.problems.append(("truncated", "the teacher stopped at max_tokens (finish_reason=length)"))
    if latin_share(body) < 0.9 or english_share(body) < 0.12:
        out.problems.append(("language", "the answer is not in English"))
    return out
