"""Unit tests of the GEM model parts: encoder shapes, page padding, splicing, label masking, configs."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from model.checkpoint import check_resume, load_checkpoint, save_checkpoint
from model.config import ConfigError, ConfigMismatchError, GemConfig, TrainConfig
from model.conversation import (ECG_TOKEN_INDEX, IGNORE_INDEX, IMAGE_TOKEN_INDEX, SampleError, get_template,
                                place_modalities, tokenize_conversation)
from model.data import GemCollator, mixture_index
from model.ecg_encoder import SPECS, build_ecg_encoder, load_ecg_checkpoint
from model.gem import build_gem_model
from model.launch import build_command, parse_metric
from model.llm import build_llm
from model.projectors import build_projector
from model.signal import SignalError, load_ecg
from model.splice import splice_embeddings
from model.train import MODEL_DIR, deepspeed_config_path, format_metric, training_arguments_dict
from model.vision import PagePreprocessor, build_vision_tower, pad_to_square

WORDS = ("USER ASSISTANT : A chat between a curious human and an artificial intelligence assistant . The gives "
         "helpful , detailed polite answers to the human's questions Sinus rhythm at 60 bpm normal ECG "
         "Please interpret this what is the rate ? it is").split()


@pytest.fixture(scope="module")
def word_tokenizer() -> PreTrainedTokenizerFast:
    """A word-level tokenizer built in memory (no download): enough to check masking exactly."""
    vocab = {w: i for i, w in enumerate(["<unk>", "<s>", "</s>", "<pad>"] + sorted(set(WORDS)))}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    core.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", bos_token="<s>",
                                   eos_token="</s>", pad_token="<pad>")


def tiny_config(**overrides) -> GemConfig:
    values = dict(ecg_encoder="tiny", vision_tower="clip-tiny", llm="llama-tiny", max_length=256, dtype="float32")
    return GemConfig(**{**values, **overrides})


# --- encoders and projectors -------------------------------------------------------------

def test_ecg_encoder_turns_12x5000_into_cls_plus_100_patch_tokens():
    torch.manual_seed(0)
    encoder = build_ecg_encoder("tiny")
    tokens = encoder(torch.randn(3, 12, 5000))
    assert tokens.shape == (3, 101, 32)
    assert SPECS["coca-base"].n_patches == 100 and SPECS["coca-base"].width == 768
    assert encoder.conv1.kernel_size == (50,) and encoder.conv1.stride == (50,)
    with pytest.raises(ValueError, match=r"\[B, 12, 5000\]"):
        encoder(torch.randn(1, 8, 5000))


def test_ecg_coca_checkpoint_loads_through_prefixes_and_reports_the_rest(tmp_path):
    torch.manual_seed(0)
    source = build_ecg_encoder("tiny")
    state = {f"module.ecg.{k}": v for k, v in source.state_dict().items()}
    state["module.ecg.attn_pool.query"] = torch.zeros(4, 32)  # CoCa pooling head: ignored
    state["module.text.token_embedding.weight"] = torch.zeros(10, 32)  # text tower: ignored
    state["module.ecg.ln_post.weight"] = torch.ones(32)  # in ECG-CoCa, unused by GEM: ignored
    del state["module.ecg.ln_pre.bias"]  # reported missing
    torch.save({"state_dict": state, "epoch": 3}, tmp_path / "coca.pt")

    target = build_ecg_encoder("tiny")
    report = load_ecg_checkpoint(target, tmp_path / "coca.pt")
    assert report.missing == ["ln_pre.bias"] and "ln_post.weight" in report.ignored
    assert "attn_pool.query" in report.ignored and any(k.startswith("text.") for k in report.ignored)
    assert torch.equal(target.conv1.weight, source.conv1.weight)
    assert torch.equal(target.transformer.resblocks[1].attn.in_proj_weight,
                       source.transformer.resblocks[1].attn.in_proj_weight)


def test_ecg_checkpoint_of_another_width_is_refused_with_the_key(tmp_path):
    torch.save(build_ecg_encoder("tiny", arch={"width": 16, "layers": 1, "heads": 2}).state_dict(), tmp_path / "w.pt")
    with pytest.raises(ValueError, match=r"has shape \[16\], the encoder expects \[32\]"):
        load_ecg_checkpoint(build_ecg_encoder("tiny"), tmp_path / "w.pt")


def test_projectors_map_dimensions_like_gem():
    mlp = build_projector("mlp2x_gelu", 32, 64)
    assert [type(m).__name__ for m in mlp] == ["Linear", "GELU", "Linear"]
    assert mlp(torch.randn(2, 5, 32)).shape == (2, 5, 64)
    assert build_projector("linear", 32, 48)(torch.randn(5, 32)).shape == (5, 48)


@pytest.mark.parametrize("factory", [
    lambda: build_projector("mlp2x_relu", 4, 4),
    lambda: build_ecg_encoder("huge"),
    lambda: build_vision_tower("siglip", "x"),
    lambda: build_llm("gpt", "x", 10),
    lambda: get_template("vicuna_v0"),
])
def test_unknown_factory_keys_raise_value_error(factory):
    with pytest.raises(ValueError, match="unknown"):
        factory()


def test_vision_tower_drops_cls_and_uses_the_selected_layer():
    torch.manual_seed(0)
    tower = build_vision_tower("clip-tiny", "unused")
    feats = tower(torch.randn(2, 3, 32, 32))
    assert feats.shape == (2, tower.n_tokens, 32) and tower.n_tokens == 16
    hidden = tower.clip(pixel_values=torch.randn(1, 3, 32, 32), output_hidden_states=True).hidden_states
    assert len(hidden) == 3  # embeddings + 2 layers: layer -2 is the first block's output


# --- page preprocessing ---------------------------------------------------------------------

def test_page_is_padded_to_a_square_and_keeps_its_edges():
    page = Image.new("RGB", (2200, 1700), "white")
    page.paste((0, 0, 0), (0, 0, 20, 1700))  # first second of every lead, left edge
    page.paste((0, 0, 0), (2180, 0, 2200, 1700))  # right edge
    square = np.asarray(pad_to_square(page))
    assert square.shape == (2200, 2200, 3)
    top = (2200 - 1700) // 2
    assert (square[top:top + 1700, :20] == 0).all() and (square[top:top + 1700, -20:] == 0).all()
    assert (square[:top] == 255).all() and (square[top + 1700:] == 255).all()
    # a centre crop of the short side, CLIP's default, would have cut both edges away
    crop_left = (2200 - 1700) // 2
    assert crop_left > 20


def test_preprocessed_page_is_normalised_and_square():
    pixels = PagePreprocessor(32)(Image.new("RGB", (2200, 1700), "white"))
    assert pixels.shape == (3, 32, 32)
    expected_white = (1.0 - 0.48145466) / 0.26862954
    assert pixels[0].mean().item() == pytest.approx(expected_white, rel=1e-3)


# --- placeholders, masking, splicing -------------------------------------------------------

def test_ecg_placeholder_goes_just_before_the_image_placeholder():
    turns = [{"from": "human", "value": "<image>\nPlease interpret this"}, {"from": "gpt", "value": "ok"}]
    out = place_modalities(turns, has_ecg=True, has_image=True)
    assert out[0]["value"] == "<ecg><image>\nPlease interpret this"
    assert turns[0]["value"].startswith("<image>")  # the input is not mutated
    text_only = place_modalities([{"from": "human", "value": "what"}], has_ecg=True, has_image=False)
    assert text_only[0]["value"] == "<ecg>\nwhat"


@pytest.mark.parametrize("value,has_ecg,has_image,message", [
    ("<image> <image> x", False, True, "appears 2 times"),
    ("<image> x", False, False, "no such input"),
])
def test_bad_placeholders_name_the_sample(value, has_ecg, has_image, message):
    with pytest.raises(SampleError, match=f"sample s1: .*{message}"):
        place_modalities([{"from": "human", "value": value}], has_ecg, has_image, "s1")


def test_labels_cover_only_assistant_answers(word_tokenizer):
    tok = word_tokenizer
    turns = place_modalities([
        {"from": "human", "value": "<image>\nPlease interpret this"},
        {"from": "gpt", "value": "Sinus rhythm at 60 bpm"},
        {"from": "human", "value": "what is the rate ?"},
        {"from": "gpt", "value": "it is 60 bpm"},
    ], has_ecg=True, has_image=True)
    ids, labels = tokenize_conversation(turns, tok, get_template("llava_v1"), max_length=512)
    assert len(ids) == len(labels)
    assert ids.count(ECG_TOKEN_INDEX) == 1 and ids.count(IMAGE_TOKEN_INDEX) == 1
    assert ids.index(ECG_TOKEN_INDEX) + 1 == ids.index(IMAGE_TOKEN_INDEX)
    learned = [t for t, lab in zip(ids, labels) if lab != IGNORE_INDEX]
    assert all(lab in (IGNORE_INDEX, t) for t, lab in zip(ids, labels))
    assert tok.decode(learned) == "Sinus rhythm at 60 bpm </s> it is 60 bpm </s>"
    masked = tok.decode([t for t, lab in zip(ids, labels) if lab == IGNORE_INDEX and t >= 0])
    assert "USER : Please interpret this ASSISTANT :" in masked and "what is the rate ?" in masked
    assert ids[0] == tok.bos_token_id and labels[0] == IGNORE_INDEX


def test_splice_puts_features_at_sentinels_and_masks_their_labels():
    embed = torch.nn.Embedding(20, 4)
    ids = torch.tensor([[5, ECG_TOKEN_INDEX, IMAGE_TOKEN_INDEX, 6, 7], [8, 9, 0, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]])
    labels = torch.tensor([[-100, -100, -100, 6, 7], [-100, 9, -100, -100, -100]])
    ecg = torch.full((2, 3, 4), 7.0)
    img = torch.full((2, 2, 4), -3.0)
    out, out_mask, out_labels = splice_embeddings(ids, mask, labels, embed,
                                                  {ECG_TOKEN_INDEX: ecg, IMAGE_TOKEN_INDEX: img}, 64)
    assert out.shape == (2, 8, 4)  # 3 text + 3 ECG + 2 image tokens
    assert torch.equal(out[0, 1:4], ecg[0]) and torch.equal(out[0, 4:6], img[0])
    assert torch.allclose(out[0, 0], embed.weight[5]) and torch.allclose(out[0, 7], embed.weight[7])
    assert out_labels[0].tolist() == [-100, -100, -100, -100, -100, -100, 6, 7]
    assert out_mask.tolist() == [[1] * 8, [1, 1, 0, 0, 0, 0, 0, 0]]
    assert out_labels[1].tolist()[:2] == [-100, 9] and torch.equal(out[1, 2:], torch.zeros(6, 4))
    left, left_mask, _ = splice_embeddings(ids, mask, None, embed, {ECG_TOKEN_INDEX: ecg, IMAGE_TOKEN_INDEX: img},
                                           6, padding_side="left")
    assert left.shape == (2, 6, 4) and left_mask[1].tolist() == [0, 0, 0, 0, 1, 1]


def test_collator_pads_right_and_fills_a_missing_ecg_with_zeros():
    batch = [{"input_ids": torch.tensor([1, 2, 3]), "labels": torch.tensor([-100, 2, 3]),
              "ecg": torch.ones(12, 5000), "image": None},
             {"input_ids": torch.tensor([4]), "labels": torch.tensor([4]), "ecg": None, "image": None}]
    out = GemCollator(pad_id=0, ecg_shape=(12, 5000), image_size=8)(batch)
    assert out["input_ids"].tolist() == [[1, 2, 3], [4, 0, 0]]
    assert out["labels"].tolist() == [[-100, 2, 3], [4, -100, -100]]
    assert out["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert out["ecgs"][0].sum() == 12 * 5000 and out["ecgs"][1].abs().sum() == 0
    assert out["images"].shape == (2, 3, 8, 8)


def test_mixture_draws_each_source_in_proportion_to_its_weight():
    pairs = mixture_index(sizes=[10, 100], weights=[3.0, 1.0], n_samples=400, seed=1)
    counts = np.bincount([s for s, _ in pairs])
    assert counts.tolist() == [300, 100]
    small = np.bincount([i for s, i in pairs if s == 0], minlength=10)
    assert small.tolist() == [30] * 10  # whole passes: no item starves
    assert len({i for s, i in pairs if s == 1}) == 100
    assert pairs == mixture_index([10, 100], [3.0, 1.0], 400, seed=1)


# --- model, checkpoint, config ---------------------------------------------------------------

def test_tiny_gem_trains_projectors_and_llm_but_not_frozen_towers():
    torch.manual_seed(0)
    model = build_gem_model(tiny_config(), vocab_size=64)
    ids = torch.tensor([[1, 5, ECG_TOKEN_INDEX, IMAGE_TOKEN_INDEX, 7, 8, 9]])
    out = model(ids, labels=ids.clamp(min=-100).masked_fill(ids < 0, IGNORE_INDEX),
                ecgs=torch.randn(1, 12, 5000), images=torch.randn(1, 3, 32, 32))
    assert out.logits.shape == (1, 7 - 2 + 101 + 16, 64)
    assert np.isfinite(out.loss.item()) and out.loss.item() > 1.0
    out.loss.backward()
    assert model.ecg_projector.weight.grad.abs().sum() > 0 and model.mm_projector[0].weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.ecg_encoder.parameters())
    assert all(p.grad is None for p in model.vision_tower.parameters())


def test_a_left_padded_batch_generates_what_each_row_generates_alone():
    """Batched inference (GemInterpreter.interpret_batch): prompts of different lengths, with their ECG
    and page spliced in, give each row the scores it gets alone, step by step."""
    torch.manual_seed(0)
    model = build_gem_model(tiny_config(), vocab_size=64).eval()
    rows = [[1, 5, ECG_TOKEN_INDEX, IMAGE_TOKEN_INDEX, 7, 8, 9, 10, 11], [1, ECG_TOKEN_INDEX, IMAGE_TOKEN_INDEX, 12]]
    ecgs, images = torch.randn(2, 12, 5000), torch.randn(2, 3, 32, 32)
    ids = torch.full((2, 9), 3)
    mask = torch.zeros((2, 9), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, :len(row)], mask[i, :len(row)] = torch.tensor(row), 1
    gen = dict(max_new_tokens=4, min_new_tokens=4, do_sample=False, pad_token_id=3, output_scores=True,
               return_dict_in_generate=True)
    with torch.no_grad():
        batch = model.generate(ids, mask, ecgs=ecgs, images=images, **gen)
        for i, row in enumerate(rows):
            alone = model.generate(torch.tensor([row]), torch.ones(1, len(row), dtype=torch.long),
                                   ecgs=ecgs[i:i + 1], images=images[i:i + 1], **gen)
            assert torch.equal(batch.sequences[i], alone.sequences[0])
            for step_batch, step_alone in zip(batch.scores, alone.scores, strict=True):
                assert torch.allclose(step_batch[i], step_alone[0], atol=1e-4)
    assert not torch.equal(batch.scores[0][0], batch.scores[0][1])  # the rows differ: the check has teeth


def test_checkpoint_round_trip_gives_identical_logits(tmp_path, word_tokenizer):
    torch.manual_seed(0)
    model = build_gem_model(tiny_config(), vocab_size=len(word_tokenizer)).eval()
    save_checkpoint(model, tmp_path, word_tokenizer)
    loaded, tokenizer = load_checkpoint(tmp_path)
    ids = torch.tensor([[1, ECG_TOKEN_INDEX, IMAGE_TOKEN_INDEX, 5, 6]])
    inputs = dict(ecgs=torch.randn(1, 12, 5000), images=torch.randn(1, 3, 32, 32))
    with torch.no_grad():
        assert torch.equal(model(ids, **inputs).logits, loaded(ids, **inputs).logits)
    assert tokenizer.get_vocab() == word_tokenizer.get_vocab()
    saved = json.loads((tmp_path / "gem_config.json").read_text())
    assert saved["ecg_arch"]["width"] == 32 and saved["llm_arch"]["hidden_size"] == 128


def test_resume_refuses_a_checkpoint_of_another_architecture(tmp_path):
    cfg = tiny_config()
    cfg.llm_arch = {"hidden_size": 128}
    cfg.save(tmp_path)
    check_resume(tmp_path, tiny_config(freeze_llm=True, max_length=512))  # not architecture
    with pytest.raises(ConfigMismatchError, match="mm_projector: checkpoint has \"mlp2x_gelu\", config has \"linear\""):
        check_resume(tmp_path, tiny_config(mm_projector="linear"))


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="train.model.ecg_encodr: unknown field"):
        TrainConfig.from_dict({"model": {"ecg_encodr": "tiny"}})
    with pytest.raises(ConfigError, match=r"train.data.sources\[0\].weight"):
        TrainConfig.from_dict({"data": {"sources": [{"json": "a.json", "weight": 0}]}})
    cfg = TrainConfig.from_dict({"training": {"learning_rate_typo": 1.0}})
    with pytest.raises(ConfigError, match="train.training.learning_rate_typo"):
        training_arguments_dict(cfg, "out")


def test_training_arguments_default_to_gem_and_deepspeed_json_defers_to_them():
    values = training_arguments_dict(TrainConfig.from_dict({"training": {"max_steps": 3}}), "out")
    assert values["bf16"] is True and values["learning_rate"] == 2e-5
    assert values["lr_scheduler_type"] == "cosine" and values["warmup_steps"] == 0.03
    assert values.get("activation_checkpointing", values.get("gradient_checkpointing")) is True
    assert values["max_steps"] == 3 and values["deepspeed"] == str(MODEL_DIR / "zero2.json")
    for stage, name in ((2, "zero2"), (3, "zero3")):
        ds = json.loads((MODEL_DIR / f"{name}.json").read_text())
        assert ds["zero_optimization"]["stage"] == stage and "optimizer" not in ds
        assert ds["train_micro_batch_size_per_gpu"] == "auto" and ds["bf16"]["enabled"] == "auto"
    with pytest.raises(ConfigError, match="train.deepspeed"):
        deepspeed_config_path("zero4")


def test_launch_command_and_metric_lines_round_trip():
    ds = build_command("c.yaml", "data", 8, "deepspeed", master_port=1234)
    assert ds[1:6] == ["-m", "deepspeed.launcher.runner", "--num_gpus", "8", "--master_port"]
    tr = build_command("c.yaml", "data", 2, "torchrun", overrides=["training.max_steps=5"], master_port=1)
    assert "--nproc_per_node" in tr and tr[-2:] == ["--set", "training.max_steps=5"]
    assert parse_metric("[rank0] " + format_metric(3, {"loss": 1.5})) == {"step": 3, "loss": 1.5}
    assert parse_metric("loss 1.5") is None
    with pytest.raises(ValueError, match="launcher"):
        build_command("c", "d", 1, "mpirun")


def test_inference_pages_are_full_2200x1700_pages():
    from model.infer import default_renderer
    from model.page import render_page

    signal = np.zeros((12, 5000), dtype=np.float32)
    for render in (default_renderer(), render_page):
        page = render(signal, 500)
        assert page.size == (2200, 1700) and page.mode == "RGB"


# --- signals -------------------------------------------------------------------------------------

def test_record_is_reordered_resampled_and_padded_to_12x5000(tmp_path):
    import wfdb

    leads = ["V6", "V5", "V4", "V3", "V2", "V1", "aVF", "aVL", "aVR", "III", "II", "I"]
    fs, seconds = 250, 8
    signal = np.tile(np.arange(12, dtype=float)[::-1] / 10.0, (fs * seconds, 1))  # lead I = 0.0 ... V6 = 1.1
    wfdb.wrsamp("r1", fs=fs, units=["mV"] * 12, sig_name=leads, p_signal=signal, fmt=["16"] * 12,
                write_dir=str(tmp_path))
    ecg = load_ecg(tmp_path / "r1")
    assert ecg.shape == (12, 5000) and ecg.dtype == np.float32
    np.testing.assert_allclose(ecg[:, 1000:3000].mean(axis=1), np.arange(12) / 10.0, atol=1e-3)
    assert np.abs(ecg[:, 4000:]).max() == 0.0  # 8 s at 500 Hz, then zero padding


def test_two_lead_record_is_refused_with_the_missing_leads(tmp_path):
    import wfdb

    wfdb.wrsamp("r2", fs=360, units=["mV"] * 2, sig_name=["MLII", "V5"], p_signal=np.zeros((3600, 2)),
                fmt=["16"] * 2, write_dir=str(tmp_path))
    with pytest.raises(SignalError, match="missing I, II, III"):
        load_ecg(tmp_path / "r2")
