"""GEM's recipe around the model: batch arithmetic, stages, projector start, LoRA, loss weighting, data at scale."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from model.checkpoint import load_checkpoint, save_checkpoint
from model.config import ConfigError, TrainConfig
from model.conversation import IGNORE_INDEX, get_template
from model.data import GemDataset, read_source
from model.data_index import iter_json_list
from model.gem import build_gem_model
from model.stages import apply_stage, load_projector_from, merged_state_dict, parameter_groups
from model.train import accumulation_steps, effective_batch_line, training_arguments_dict
from model.vision import CLIP_MEAN_RGB, PagePreprocessor, build_preprocessor
from tests.test_model_units import tiny_config, word_tokenizer  # noqa: F401 (fixture)


# --- the paper's batch ----------------------------------------------------------------------

@pytest.mark.parametrize("world,accum", [(1, 64), (2, 32), (8, 8)])
def test_accumulation_makes_the_global_batch_on_any_world_size(world, accum):
    values = training_arguments_dict(TrainConfig.from_dict({}), "out", world_size=world)
    assert values["per_device_train_batch_size"] == 4 and values["gradient_accumulation_steps"] == accum
    assert effective_batch_line(world, 4, accum).startswith("effective batch: 256 = ")


def test_an_explicit_accumulation_wins_and_an_impossible_global_batch_is_refused():
    cfg = TrainConfig.from_dict({"training": {"gradient_accumulation_steps": 3}})
    assert training_arguments_dict(cfg, "out", world_size=8)["gradient_accumulation_steps"] == 3
    with pytest.raises(ConfigError, match="not a multiple of 3 ranks x micro-batch 4"):
        accumulation_steps(256, 3, 4)
    with pytest.raises(ConfigError, match="train.stage"):
        TrainConfig.from_dict({"stage": "pretrain"})
    with pytest.raises(ConfigError, match="train.lora"):
        TrainConfig.from_dict({"stage": "align", "lora": {"r": 8}})


# --- stages, projector start, optimizer groups ----------------------------------------------

def test_align_stage_freezes_the_llm_and_trains_only_projectors():
    model = build_gem_model(tiny_config(), vocab_size=64)
    cfg = TrainConfig.from_dict({"stage": "align"})
    apply_stage(model, cfg)
    trainable = {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"mm_projector", "ecg_projector"}
    assert training_arguments_dict(cfg, "out")["learning_rate"] == 1e-3  # LLaVA's stage-1 rate


def test_projectors_get_their_own_learning_rate():
    model = build_gem_model(tiny_config(), vocab_size=64)
    groups = parameter_groups(model, 2e-5, 0.0, mm_projector_lr=1e-4)
    projector_params = {id(p) for n, p in model.named_parameters() if n.startswith(("mm_projector", "ecg_projector"))}
    for group in groups:
        ids = {id(p) for p in group["params"]}
        assert ids <= projector_params or not ids & projector_params  # no group mixes them
        assert group["lr"] == (1e-4 if ids <= projector_params else 2e-5)
    assert sum(len(g["params"]) for g in groups) == sum(1 for p in model.parameters() if p.requires_grad)


def test_finetune_starts_from_an_aligned_projector(tmp_path, word_tokenizer):
    torch.manual_seed(0)
    aligned = build_gem_model(tiny_config(), vocab_size=len(word_tokenizer))
    save_checkpoint(aligned, tmp_path / "stage1", word_tokenizer)
    fresh = build_gem_model(tiny_config(), vocab_size=len(word_tokenizer))
    assert load_projector_from(fresh, str(tmp_path / "stage1")) == ["mm_projector", "ecg_projector"]
    for name in ("mm_projector", "ecg_projector"):
        for key, value in getattr(aligned, name).state_dict().items():
            assert torch.equal(getattr(fresh, name).state_dict()[key], value)
    # LLaVA's stage-1 output: mm_projector.bin with model.mm_projector.* keys
    torch.save({f"model.mm_projector.{k}": v * 2 for k, v in aligned.mm_projector.state_dict().items()},
               tmp_path / "mm_projector.bin")
    load_projector_from(fresh, str(tmp_path / "mm_projector.bin"))
    assert torch.equal(fresh.mm_projector[0].weight, aligned.mm_projector[0].weight * 2)


# --- LoRA -----------------------------------------------------------------------------------

def batch_for(tok, n_rows: int = 2) -> dict[str, torch.Tensor]:
    from model.conversation import place_modalities, tokenize_conversation

    rows = []
    for answer in ("Sinus rhythm at 60 bpm", "it is 60 bpm normal ECG")[:n_rows]:
        turns = place_modalities([{"from": "human", "value": "what is the rate ?"}, {"from": "gpt", "value": answer}],
                                 True, True)
        rows.append(tokenize_conversation(turns, tok, get_template("llava_v1"), 512))
    width = max(len(r[0]) for r in rows)
    ids = torch.full((len(rows), width), tok.pad_token_id)
    labels = torch.full((len(rows), width), IGNORE_INDEX)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (r_ids, r_labels) in enumerate(rows):
        ids[i, :len(r_ids)], labels[i, :len(r_ids)], mask[i, :len(r_ids)] = torch.tensor(r_ids), torch.tensor(r_labels), 1
    g = torch.Generator().manual_seed(0)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels,
            "ecgs": torch.randn(len(rows), 12, 5000, generator=g), "images": torch.randn(len(rows), 3, 32, 32, generator=g)}


def test_lora_trains_adapters_and_projectors_and_saves_an_ordinary_checkpoint(tmp_path, word_tokenizer):
    pytest.importorskip("peft")
    torch.manual_seed(0)
    model = build_gem_model(tiny_config(), vocab_size=len(word_tokenizer))
    apply_stage(model, TrainConfig.from_dict({"lora": {"r": 4, "alpha": 8, "dropout": 0.0}}))
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n or n.startswith(("mm_projector", "ecg_projector")) for n in trainable)
    assert any("lora_B" in n for n in trainable)
    batch = batch_for(word_tokenizer)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    before = model(**batch).loss
    before.backward()
    optimizer.step()
    model.eval()
    with torch.no_grad():
        after = model(**batch)
    assert torch.isfinite(before) and after.loss < before
    save_checkpoint(model, tmp_path / "ckpt", word_tokenizer, merged_state_dict(model))
    reloaded, _ = load_checkpoint(tmp_path / "ckpt")
    with torch.no_grad():
        assert torch.allclose(reloaded(**batch).logits, after.logits, atol=1e-4)


# --- the loss across accumulation -----------------------------------------------------------

def test_num_items_in_batch_makes_every_token_weigh_the_same(word_tokenizer):
    torch.manual_seed(0)
    model = build_gem_model(tiny_config(), vocab_size=len(word_tokenizer)).eval()
    batch = batch_for(word_tokenizer, 1)
    with torch.no_grad():
        mean = model(**batch).loss
        n_learned = int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())
        summed = model(**batch, num_items_in_batch=torch.tensor(10 * n_learned)).loss
    assert torch.allclose(summed, mean / 10, rtol=1e-5)


# --- data at scale --------------------------------------------------------------------------

def write_items(root: Path, items: list) -> Path:
    (root / "pages").mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 48), "white").save(root / "pages" / "p.png")
    path = root / "train.json"
    path.write_text(json.dumps(items, indent=1, ensure_ascii=False))
    return path


def good(i: int, **extra) -> dict:
    return {"id": f"s{i}", "image": "pages/p.png", **extra,
            "conversations": [{"from": "human", "value": "<image>\nwhat is the rate ?"},
                              {"from": "gpt", "value": f"it is {60 + i} bpm — normal ECG"}]}


def test_malformed_items_are_skipped_and_counted_and_items_are_read_lazily(tmp_path, word_tokenizer):
    items = [good(0), "not an item", {"id": "x", "conversations": []}, good(1),
             {"id": "y", "conversations": [{"from": "gpt", "value": "answer first"}, {"from": "human", "value": "q"}]},
             good(2, ecg="records/r1"), {"id": "z", "conversations": [{"from": "human", "value": 5}]}]
    source = read_source(write_items(tmp_path, items), tmp_path, cache_dir=str(tmp_path / "cache"))
    assert len(source.items) == 3 and source.items.malformed == 4
    assert any("turn 0 is from 'gpt'" in r for r in source.items.reasons)
    assert source.items.item(2) == items[5]  # read from the byte-offset index, non-ASCII intact
    assert not hasattr(source.items, "items") and list(source.items.has_ecg) == [False, False, True]
    assert min(source.items.lengths) >= 576  # each has a page: its 576 patch tokens count
    dataset = GemDataset([source], word_tokenizer, get_template("llava_v1"), 512, PagePreprocessor(32),
                         use_ecg=True)
    assert "33.3% without an ECG" not in dataset.summary() and "66.7% without an ECG" in dataset.summary()
    assert "4 malformed skipped" in dataset.summary()
    assert len(dataset.lengths) == 3


def test_a_sample_whose_files_are_missing_is_skipped_not_fatal(tmp_path, word_tokenizer):
    items = [good(0, ecg="records/missing"), good(1)]
    source = read_source(write_items(tmp_path, items), tmp_path, cache_dir=str(tmp_path / "cache"))
    dataset = GemDataset([source], word_tokenizer, get_template("llava_v1"), 512, PagePreprocessor(32), use_ecg=True)
    for i in range(len(dataset)):
        sample = dataset[i]
        assert sample["ecg"] is None and sample["image"].shape == (3, 32, 32)
    assert dataset.skipped >= 1


def test_a_truncated_json_list_keeps_the_items_before_the_break(tmp_path):
    path = tmp_path / "cut.json"
    path.write_text(json.dumps([good(0), good(1)])[:-40])
    decoded = list(iter_json_list(path))
    assert decoded[0] == good(0) and isinstance(decoded[-1], Exception)


# --- image preprocessing --------------------------------------------------------------------

def test_three_page_preprocessings_keep_or_cut_the_edges_as_documented():
    page = Image.new("RGB", (2200, 1700), "white")
    page.paste((0, 0, 0), (0, 0, 100, 1700))  # a black band at the left edge (the first second)
    def left_column(mode: str):
        cfg = tiny_config(image_preprocess=mode)
        return build_preprocessor(cfg, 336)(page)[:, 168, :4]
    white = (1.0 - torch.tensor([0.48145466, 0.4578275, 0.40821073])) / torch.tensor([0.26862954, 0.26130258, 0.27577711])
    ori = left_column("ori")
    assert torch.allclose(ori[:, -1], white, atol=0.05)  # GEM's crop lost the band
    pad = build_preprocessor(tiny_config(image_preprocess="pad"), 336)(page)
    top = pad[:, 0, 168]  # above the page: the CLIP mean colour, which normalises to about 0
    assert torch.allclose(top, torch.zeros(3), atol=0.02) and CLIP_MEAN_RGB == (122, 116, 104)
    assert pad[:, 168, 2].mean() < -1.5  # the band survives padding
    pad_white = build_preprocessor(tiny_config(image_preprocess="pad-white"), 336)(page)
    assert torch.allclose(pad_white[:, 0, 168], white, atol=0.05)


# --- inference load -------------------------------------------------------------------------

def test_a_checkpoint_is_built_on_the_meta_device_and_assigned(tmp_path, word_tokenizer, monkeypatch):
    import model.gem as gem

    torch.manual_seed(0)
    original = build_gem_model(tiny_config(), vocab_size=len(word_tokenizer)).eval()
    save_checkpoint(original, tmp_path, word_tokenizer)
    seen = []
    real = gem.build_gem_model

    def spy(*args, **kwargs):
        built = real(*args, **kwargs)
        seen.append(next(built.llm.parameters()).device.type)
        return built

    monkeypatch.setattr(gem, "build_gem_model", spy)
    reloaded, _ = load_checkpoint(tmp_path)
    assert seen == ["meta"]
    assert not any(t.is_meta for t in list(reloaded.parameters()) + list(reloaded.buffers()))
    batch = batch_for(word_tokenizer)
    with torch.no_grad():
        assert torch.equal(reloaded(**batch).logits, original(**batch).logits)


@pytest.mark.slow
def test_smollm2_builds_saves_and_reloads_from_its_gguf(tmp_path):
    # the plugin's own module imports Simon Willison's `llm` CLI, which gemflow never needs: look for
    # the GGUF file it ships, the way model.llm does, instead of importing it
    pytest.importorskip("gguf")
    from model.llm import build_llm, build_tokenizer, smollm2_gguf_path

    try:
        smollm2_gguf_path()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))

    tok = build_tokenizer("smollm2-135m", "", str(tmp_path))
    llm = build_llm("smollm2-135m", "", len(tok), str(tmp_path), dtype="float32")
    assert (tmp_path / "smollm2-135m" / "model.safetensors").is_file()
    ids = tok("The heart rate is", return_tensors="pt").input_ids
    with torch.no_grad():
        again = build_llm("smollm2-135m", "", len(tok), str(tmp_path), dtype="float32")
        assert torch.equal(llm(ids).logits, again(ids).logits)
