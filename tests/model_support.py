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
