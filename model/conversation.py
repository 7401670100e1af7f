"""Conversation templates and tokenization: placeholders become sentinel ids, human turns are masked.

`<ecg>` and `<image>` in a turn become the sentinel ids `ECG_TOKEN_INDEX` and
`IMAGE_TOKEN_INDEX`; the model later splices the encoder features in their place. GEM's JSON
carries only `<image>`: when a sample has an ECG, `<ecg>` is inserted just before `<image>`,
so the ECG tokens come first, as in GEM.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

IGNORE_INDEX = -100
IMAGE_TOKEN_INDEX = -200
ECG_TOKEN_INDEX = -300
IMAGE_PLACEHOLDER = "<image>"
ECG_PLACEHOLDER = "<ecg>"
_SENTINELS = {ECG_PLACEHOLDER: ECG_TOKEN_INDEX, IMAGE_PLACEHOLDER: IMAGE_TOKEN_INDEX}
_SPLIT = re.compile(f"({re.escape(ECG_PLACEHOLDER)}|{re.escape(IMAGE_PLACEHOLDER)})")
DEFAULT_QUESTION = "Please interpret this ECG and provide a diagnosis."


class SampleError(ValueError):
    """A training item is malformed; the message names its id."""


@dataclass(frozen=True)
class Template:
    """A two-role chat format: `system sep ROLE: text sep ROLE: text sep2 ...`."""

    system: str
    roles: tuple[str, str]
    sep: str
    # The end of each assistant turn; None means the tokenizer's EOS token.
    sep2: str | None = None


TEMPLATES = {
    "llava_v1": Template(
        system=("A chat between a curious human and an artificial intelligence assistant. "
                "The assistant gives helpful, detailed, and polite answers to the human's questions."),
        roles=("USER", "ASSISTANT"),
        sep=" ",
    ),
}


def get_template(name: str) -> Template:
    if name not in TEMPLATES:
        raise ValueError(f"unknown conv_template {name!r}; known: {', '.join(TEMPLATES)}")
    return TEMPLATES[name]


def place_modalities(turns: list[dict[str, Any]], has_ecg: bool, has_image: bool,
                     sample_id: str = "?") -> list[dict[str, Any]]:
    """Copy of `turns` with one placeholder per modality the sample has, at the start of its turn.

    As LLaVA does, `<image>` is moved to the start of the turn that holds it (`<image>\\n` + the
    rest, stripped); a sample without one gets it on the first turn. `<ecg>` goes just before
    `<image>` (GEM puts the ECG tokens first), or opens the first turn when there is no image."""
    turns = [dict(t) for t in turns]
    if not turns or turns[0].get("from") != "human":
        raise SampleError(f"sample {sample_id}: the conversation must start with a human turn")
    for t in turns:
        if not isinstance(t.get("value"), str):
            raise SampleError(f"sample {sample_id}: a turn has no text value")
    text = "".join(t["value"] for t in turns)
    for tag, present in ((ECG_PLACEHOLDER, has_ecg), (IMAGE_PLACEHOLDER, has_image)):
        count = text.count(tag)
        if count > 1:
            raise SampleError(f"sample {sample_id}: {tag} appears {count} times; one is supported")
        if count and not present:
            raise SampleError(f"sample {sample_id}: {tag} in the text but the sample has no such input")
    lead = [tag for tag, present in ((ECG_PLACEHOLDER, has_ecg), (IMAGE_PLACEHOLDER, has_image)) if present]
    if not lead:
        return turns
    host = next((t for t in turns if any(tag in t["value"] for tag in lead)), turns[0])
    for t in turns:
        for tag in lead:
            t["value"] = t["value"].replace(tag, "")
    host["value"] = ("".join(lead) + "\n" + host["value"].strip()).strip()
    return turns


def render_conversation(turns: list[dict[str, Any]], template: Template, eos: str,
                        add_generation_prompt: bool = False) -> tuple[str, list[tuple[int, int]]]:
    """(text, answer spans): the `llava_v1` prompt as one string, and the character span of each
    assistant answer (from the space after `ASSISTANT:` through its end-of-turn marker)."""
    user, assistant = template.roles
    parts, spans, pos = [template.system + template.sep], [], 0
    pos = len(parts[0])
    for i, turn in enumerate(turns):
        expected = "human" if i % 2 == 0 else "gpt"
        if turn.get("from") != expected:
            raise SampleError(f"turn {i} is from {turn.get('from')!r}, expected {expected!r}")
        if expected == "human":
            piece = f"{user}: {turn['value']}{template.sep}{assistant}:"
        else:
            piece = f" {turn['value']}{eos}"
            spans.append((pos, pos + len(piece)))
        parts.append(piece)
        pos += len(piece)
    if len(turns) % 2 == 1 and not add_generation_prompt:
        raise SampleError("the conversation ends on a human turn with nothing to learn")
    return "".join(parts), spans


def tokenize_conversation(turns: list[dict[str, Any]], tokenizer, template: Template,
                          max_length: int, add_generation_prompt: bool = False) -> tuple[list[int], list[int]]:
    """(input_ids, labels): labels equal the ids on assistant answers, IGNORE_INDEX elsewhere.

    The conversation is rendered to one string and tokenised once, split only at the
    `<ecg>`/`<image>` sentinels (as LLaVA's `tokenizer_image_token` splits at `<image>`); a token
    is learned when its character span overlaps an answer span. With `add_generation_prompt`, a
    trailing human turn is closed with `ASSISTANT:` and left for the model to answer."""
    eos = template.sep2 if template.sep2 is not None else (tokenizer.eos_token or "")
    text, spans = render_conversation(turns, template, eos, add_generation_prompt)
    ids = _bos(tokenizer)
    offsets = [(0, 0)] * len(ids)
    fast = getattr(tokenizer, "is_fast", False)
    start = 0
    for piece in _SPLIT.split(text):
        if piece in _SENTINELS:
            ids.append(_SENTINELS[piece])
            offsets.append((start, start))  # inside a human turn: never learned
        elif piece:
            for lo, hi in ([(0, len(piece))] if fast else _cut(start, piece, spans)):
                piece_ids, piece_offsets = _encode_with_offsets(piece[lo:hi], tokenizer)
                ids.extend(piece_ids)
                offsets.extend((start + lo + a, start + lo + b) for a, b in piece_offsets)
        start += len(piece)
    labels = [t if any(b > lo and a < hi for lo, hi in spans) else IGNORE_INDEX
              for t, (a, b) in zip(ids, offsets)]
    return ids[:max_length], labels[:max_length]


def _encode_with_offsets(text: str, tokenizer) -> tuple[list[int], list[tuple[int, int]]]:
    """Token ids of `text` (no special tokens added) and each token's character span."""
    if getattr(tokenizer, "is_fast", False):
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return list(enc.input_ids), [tuple(o) for o in enc.offset_mapping]
    ids = tokenizer(text, add_special_tokens=False).input_ids  # no offsets: the piece's span for all
    return list(ids), [(0, len(text))] * len(ids)


def _cut(start: int, piece: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """For a tokenizer without offsets: `piece` cut at the answer-span edges (local positions)."""
    cuts = sorted({0, len(piece)} | {p - start for lo, hi in spans for p in (lo, hi) if 0 < p - start < len(piece)})
    return list(zip(cuts, cuts[1:]))


def _bos(tokenizer) -> list[int]:
    """[bos] when the tokenizer normally starts a sequence with it, else []."""
    bos = tokenizer.bos_token_id
    if bos is None:
        return []
    probe = tokenizer("x", add_special_tokens=True).input_ids
    return [bos] if probe and probe[0] == bos else []
