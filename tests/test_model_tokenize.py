"""Tokenisation matches LLaVA's `preprocess_v1` on a real SentencePiece Llama tokenizer.

The tokenizer is trained here (sentencepiece, Llama's settings: BPE, byte fallback, split
digits, a dummy prefix) and loaded as transformers' `LlamaTokenizer(legacy=False)`, the way
Vicuna's loads. The reference below restates LLaVA's algorithm (conv_llava_v1 prompt,
`tokenizer_image_token`, round-length masking) independently of gemflow's code.
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from model.conversation import (ECG_TOKEN_INDEX, IGNORE_INDEX, IMAGE_TOKEN_INDEX, get_template, place_modalities,
                                tokenize_conversation)

from tests.model_support import train_llama_sentencepiece

SYSTEM = ("A chat between a curious human and an artificial intelligence assistant. "
          "The assistant gives helpful, detailed, and polite answers to the human's questions.")
WORDS = ("Sinus rhythm at 72 bpm the PR interval is 160 ms QRS duration QTc no ST elevation in leads "
         "V1-V6 atrial fibrillation with rapid ventricular response left bundle branch block What heart "
         "rate ? Is there any sign of ischemia Describe lead II aVR , . : ; ( ) 60 +60 degrees\n normal").split(" ")


@pytest.fixture(scope="module")
def llama_tokenizer(tmp_path_factory):
    """A SentencePiece BPE model trained with Llama's options, loaded as LlamaTokenizer(legacy=False)."""
    from transformers import LlamaTokenizer

    folder = train_llama_sentencepiece(tmp_path_factory.mktemp("llama-tok"))
    tok = LlamaTokenizer.from_pretrained(str(folder), legacy=False, add_bos_token=True)
    assert len(tok) == 500 and tok("x").input_ids[0] == tok.bos_token_id and tok.legacy is False
    assert tok.eos_token == "</s>"
    return tok


# --- LLaVA's preprocessing, restated ------------------------------------------------------

def llava_prompt(conversation: list[dict]) -> str:
    """preprocess_multimodal (the image tag to the front of its turn), then conv_llava_v1.get_prompt()."""
    text = SYSTEM + " "
    for i, turn in enumerate(conversation):
        value = turn["value"]
        if "<image>" in value:
            value = ("<image>\n" + value.replace("<image>", "").strip()).strip()
        role = "USER" if turn["from"] == "human" else "ASSISTANT"
        text += f"{role}: {value}" + (" " if i % 2 == 0 else "</s>")
    return text


def llava_ids(text: str, tok) -> list[int]:
    """tokenizer_image_token: each chunk between image tags tokenised with BOS; one BOS kept in front."""
    chunks = [tok(chunk).input_ids for chunk in text.split("<image>")]
    out: list[int] = []
    keep_bos = bool(chunks[0]) and chunks[0][0] == tok.bos_token_id
    if keep_bos:
        out.append(tok.bos_token_id)
    for k, chunk in enumerate(chunks):
        if k:
            out.append(IMAGE_TOKEN_INDEX)
        out.extend(chunk[1:] if keep_bos else chunk)
    return out


def llava_reference(conversation: list[dict], tok) -> tuple[list[int], list[int], bool]:
    """preprocess_v1: ids of the whole prompt; labels masked round by round from tokenised lengths
    (instruction length minus 2; one less again after the first round for a non-legacy tokenizer).
    The flag is False when LLaVA's own length check fails (it then masks the whole sample)."""
    prompt = llava_prompt(conversation)
    ids = llava_ids(prompt, tok)
    labels = list(ids)
    labels[0] = IGNORE_INDEX
    cursor, answer_sep = 1, " ASSISTANT: "
    for n, round_text in enumerate(prompt.split("</s>")):
        if not round_text:
            break
        parts = round_text.split(answer_sep)
        if len(parts) != 2:
            break
        round_len = len(llava_ids(round_text, tok))
        instruction_len = len(llava_ids(parts[0] + answer_sep, tok)) - 2
        if n > 0 and not tok.legacy:
            round_len, instruction_len = round_len - 1, instruction_len - 1
        labels[cursor:cursor + instruction_len] = [IGNORE_INDEX] * instruction_len
        cursor += round_len
    labels[cursor:] = [IGNORE_INDEX] * (len(labels) - cursor)
    return ids, labels, cursor == len(ids)


def ours(conversation: list[dict], tok, has_ecg: bool = False) -> tuple[list[int], list[int]]:
    has_image = any("<image>" in turn["value"] for turn in conversation)
    turns = place_modalities(conversation, has_ecg=has_ecg, has_image=has_image)
    return tokenize_conversation(turns, tok, get_template("llava_v1"), max_length=100_000)


CONVERSATIONS = [
    [{"from": "human", "value": "<image>\nPlease interpret this ECG and provide a diagnosis."},
     {"from": "gpt", "value": "Sinus rhythm at 72 bpm. The PR interval is 160 ms."}],
    [{"from": "human", "value": "What is the heart rate? <image>"},
     {"from": "gpt", "value": "72 bpm"},
     {"from": "human", "value": "Is there any sign of ischemia?"},
     {"from": "gpt", "value": "No ST elevation in leads V1-V6.\nOverall: normal ECG."}],
    [{"from": "human", "value": "Describe lead II and aVR."},
     {"from": "gpt", "value": "(+60 degrees); T wave inversion in V1 is a normal variant."}],
]


@pytest.mark.parametrize("conversation", CONVERSATIONS, ids=["one-round", "image-moved", "no-tag"])
def test_ids_and_labels_equal_llava_preprocess_v1(conversation, llama_tokenizer):
    ref_ids, ref_labels, matched = llava_reference(conversation, llama_tokenizer)
    assert matched, "LLaVA's own length check failed: the reference is not meaningful here"
    ids, labels = ours(conversation, llama_tokenizer)
    assert ids == ref_ids
    assert labels == ref_labels


def test_no_stray_space_after_the_system_prompt_or_before_a_later_user_turn(llama_tokenizer):
    ids, _ = ours(CONVERSATIONS[1], llama_tokenizer)
    pieces = llama_tokenizer.convert_ids_to_tokens([i for i in ids if i >= 0])
    after_eos = [pieces[k + 1] for k, p in enumerate(pieces[:-1]) if p == "</s>"]
    assert after_eos and all(not p.startswith("▁") for p in after_eos)  # "</s>USER", as in one pass
    text = llama_tokenizer.decode([i for i in ids if i >= 0], skip_special_tokens=False)
    assert "questions. USER:" in text and "questions.  USER" not in text


def test_learned_tokens_are_the_answers_and_their_end_of_turn(llama_tokenizer):
    _, labels = ours(CONVERSATIONS[1], llama_tokenizer)
    learned = [t for t in labels if t != IGNORE_INDEX]
    assert llama_tokenizer.decode(learned) == "72 bpm</s> No ST elevation in leads V1-V6.\nOverall: normal ECG.</s>"


def test_an_ecg_goes_just_before_the_image_and_changes_nothing_else(llama_tokenizer):
    ref_ids, ref_labels, _ = llava_reference(CONVERSATIONS[0], llama_tokenizer)
    ids, labels = ours(CONVERSATIONS[0], llama_tokenizer, has_ecg=True)
    at = ref_ids.index(IMAGE_TOKEN_INDEX)
    assert ids == ref_ids[:at] + [ECG_TOKEN_INDEX] + ref_ids[at:]
    assert labels == ref_labels[:at] + [IGNORE_INDEX] + ref_labels[at:]


_text = st.lists(st.sampled_from(WORDS), min_size=1, max_size=12).map(" ".join)
_rounds = st.lists(st.tuples(_text, _text), min_size=1, max_size=3)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rounds=_rounds, image_turn=st.integers(0, 2))
def test_any_conversation_matches_llava_wherever_llava_is_consistent(rounds, image_turn, llama_tokenizer):
    conversation = []
    for k, (question, answer) in enumerate(rounds):
        if k == min(image_turn, len(rounds) - 1):
            question = f"{question} <image>"
        conversation += [{"from": "human", "value": question}, {"from": "gpt", "value": answer}]
    ref_ids, ref_labels, matched = llava_reference(conversation, llama_tokenizer)
    assume(matched)
    assert ours(conversation, llama_tokenizer) == (ref_ids, ref_labels)
