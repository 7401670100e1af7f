"""A tiny GEM checkpoint for tests of the paths that load one (evaluate --model, interpret --model)."""
from __future__ import annotations

from pathlib import Path

import pytest


def tiny_checkpoint(folder: Path) -> Path:
    """An untrained tiny GEM (ECG encoder, vision tower, LM) saved as a checkpoint, with a word tokenizer."""
    torch = pytest.importorskip("torch", reason="the train extra is not installed")
    from model.checkpoint import save_checkpoint
    from model.gem import build_gem_model
    from tests.test_model_units import WORDS, tiny_config
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    vocab = {w: i for i, w in enumerate(["<unk>", "<s>", "</s>", "<pad>"] + sorted(set(WORDS)))}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                                  pad_token="<pad>")
    torch.manual_seed(3)
    model = build_gem_model(tiny_config(max_length=512), vocab_size=len(tok)).eval()
    # Random weights tend to pick a special token and say nothing. Make "rate" or "is" win every step
    # (opposite rows: whichever the hidden state leans to), so there is text to compare, still data-dependent.
    with torch.no_grad():
        head = model.llm.get_output_embeddings().weight
        direction = torch.randn(head.shape[1])
        head.zero_()
        head[tok.convert_tokens_to_ids("rate")] = direction
        head[tok.convert_tokens_to_ids("is")] = -direction
    save_checkpoint(model, folder, tok)
    return folder


LLAMA_CORPUS = [
    "A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the human's questions.",
    "USER: Please interpret this ECG and provide a diagnosis. ASSISTANT: Sinus rhythm at 72 bpm.",
    "The PR interval is 160 ms, QRS duration 88 ms, QTc 420 ms; no ST elevation in leads V1-V6.",
    "Atrial fibrillation with rapid ventricular response: irregularly irregular RR intervals, no P waves.",
    "Left bundle branch block: broad QRS (140 ms) with notched R waves in I, aVL, V5 and V6.",
    "What is the heart rate? Is there any sign of ischemia? Describe lead II and aVR.",
    "Inferior myocardial infarction: Q waves and ST elevation in II, III and aVF, reciprocal changes in aVL.",
    "Normal axis (+60 degrees). T wave inversion in V1 is a normal variant.\nOverall: normal ECG.",
]


def train_llama_sentencepiece(folder: Path, vocab_size: int = 500) -> Path:
    """`folder/tokenizer.model`: a SentencePiece BPE trained with Llama's options (byte fallback, split
    digits, a dummy prefix, no normalisation), plus a tokenizer_config.json like Vicuna's."""
    import json

    spm = pytest.importorskip("sentencepiece")
    pytest.importorskip("google.protobuf", reason="transformers reads a .model file through protobuf")
    folder.mkdir(parents=True, exist_ok=True)
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(LLAMA_CORPUS * 20), model_prefix=str(folder / "tokenizer"), vocab_size=vocab_size,
        model_type="bpe", byte_fallback=True, split_digits=True, add_dummy_prefix=True,
        remove_extra_whitespaces=False, normalization_rule_name="identity", character_coverage=1.0,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, allow_whitespace_only_pieces=True, minloglevel=2)
    (folder / "tokenizer.vocab").unlink(missing_ok=True)
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "LlamaTokenizer", "add_bos_token": True, "add_eos_token": False, "legacy": False,
        "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": None,
        "model_max_length": 4096, "padding_side": "right"}))
    return folder
