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
    """Copy of `turns` with exactly one placeholder per modality the sample has, ECG before image."""
    turns = [dict(t) for t in turns]
    if not turns or turns[0].get("from") != "human":
        raise SampleError(f"sample {sample_id}: the conversation must start with a human turn")
    text = "".join(str(t.get("value", "")) for t in turns)
    for tag, present in ((ECG_PLACEHOLDER, has_ecg), (IMAGE_PLACEHOLDER, has_image)):
        count = text.count(tag)
        if count > 1:
            raise SampleError(f"sample {sample_id}: {tag} appears {count} times; one is supported")
        if count and not present:
            raise SampleError(f"sample {sample_id}: {tag} in the text but the sample has no such input")
    first = turns[0]["value"]
    if has_image and IMAGE_PLACEHOLDER not in text:
        first = IMAGE_PLACEHOLDER + "\n" + first
    if has_ecg and ECG_PLACEHOLDER not in text:
        host = next((t for t in turns if IMAGE_PLACEHOLDER in t["value"]), None)
        if host is None or host is turns[0]:
            first = first.replace(IMAGE_PLACEHOLDER, ECG_PLACEHOLDER + IMAGE_PLACEHOLDER, 1) \
                if IMAGE_PLACEHOLDER in first else ECG_PLACEHOLDER + "\n" + first
        else:
            host["value"] = host["value"].replace(IMAGE_PLACEHOLDER, ECG_PLACEHOLDER + IMAGE_PLACEHOLDER, 1)
    turns[0]["value"] = first
    return turns


def encode_text(text: str, tokenizer) -> list[int]:
    """Token ids of `text`, with each placeholder as its sentinel id."""
    ids: list[int] = []
    for piece in _SPLIT.split(text):
        if piece in _SENTINELS:
            ids.append(_SENTINELS[piece])
        elif piece:
            ids.extend(tokenizer(piece, add_special_tokens=False).input_ids)
    return ids


def tokenize_conversation(turns: list[dict[str, Any]], tokenizer, template: Template,
                          max_length: int, add_generation_prompt: bool = False) -> tuple[list[int], list[int]]:
    """(input_ids, labels): labels equal the ids on assistant answers, IGNORE_INDEX elsewhere.

    With `add_generation_prompt`, a trailing human turn is closed with `ASSISTANT:` and left
    for the model to answer (inference)."""
    user, assistant = template.roles
    eos = template.sep2 if template.sep2 is not None else (tokenizer.eos_token or "")
    ids = _bos(tokenizer)
    labels = [IGNORE_INDEX] * len(ids)

    def add(text: str, learn: bool) -> None:
        piece = encode_text(text, tokenizer)
        ids.extend(piece)
        labels.extend(piece if learn else [IGNORE_INDEX] * len(piece))

    add(template.system + template.sep, learn=False)
    for i, turn in enumerate(turns):
        expected = "human" if i % 2 == 0 else "gpt"
        if turn.get("from") != expected:
            raise SampleError(f"turn {i} is from {turn.get('from')!r}, expected {expected!r}")
        if expected == "human":
            add(f"{user}: {turn['value']}{template.sep}{assistant}:", learn=False)
        else:
            add(f" {turn['value']}{eos}", learn=True)
    if len(turns) % 2 == 1 and not add_generation_prompt:
        raise SampleError("the conversation ends on a human turn with nothing to learn")
    return ids[:max_length], labels[:max_length]


def _bos(tokenizer) -> list[int]:
    """[bos] when the tokenizer normally starts a sequence with it, else []."""
    bos = tokenizer.bos_token_id
    if bos is None:
        return []
    probe = tokenizer("x", add_special_tokens=True).input_ids
    return [bos] if probe and probe[0] == bos else []
