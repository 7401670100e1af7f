"""Config validation names the field; splits are by patient; exports are versioned and never overwritten."""
from __future__ import annotations

import json
from collections import defaultdict

import pytest

from schemas.config import ConfigError, ExportSettings, load_config
from schemas.pairs import PAIRS_SCHEMA
from storage.layout import DataRoot
from storage.parquet import TableStore, rows_to_table
from tasks.export.llava import export_dataset
from tasks.export.splits import split_of


def test_config_error_names_the_file_and_the_field(tmp_path):
    path = tmp_path / "gemflow.yaml"
    path.write_text("validation:\n  max_words: -3\nteachers:\n  mine:\n    kind: litellm\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert str(path) in msg and "validation.max_words" in msg and "teachers.mine" in msg


def test_unknown_teacher_and_unknown_keys_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="teacher 'nope' is not configured"):
        load_config(None, teacher="nope")
    path = tmp_path / "g.yaml"
    path.write_text("shard_sise: 10\n")
    with pytest.raises(ConfigError, match="shard_sise"):
        load_config(path)


def test_builtin_teachers_are_always_there_and_can_be_overridden(tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text("teachers:\n  gpt-4o:\n    model: gpt-4o-2024-08-06\n    rpm: 10\n")
    cfg = load_config(path)
    assert set(cfg.teachers) >= {"template", "gpt-4o", "deepseek-r1"}
    assert cfg.teachers["gpt-4o"].rpm == 10 and cfg.target_pairs == 30000


def test_patient_split_is_stable_and_roughly_follows_the_fractions():
    s = ExportSettings()
    splits = [split_of(f"p{i}", s) for i in range(3000)]
    assert splits == [split_of(f"p{i}", s) for i in range(3000)]
    share = {k: splits.count(k) / len(splits) for k in ("train", "val", "test")}
    assert share["train"] == pytest.approx(0.8, abs=0.03) and share["val"] == pytest.approx(0.1, abs=0.02)


def _pair(i: int, patient: str) -> dict:
    return {"pair_id": f"pair{i:03d}", "record_id": f"r{i}", "patient_id": patient, "source": "s",
            "split": split_of(patient, ExportSettings()), "instruction": "<image>\nq", "answer": f"a{i}",
            "teacher": "template", "model": "gemflow/template", "prompt_version": "v1", "request_id": f"q{i}",
            "round": 0, "feature_version": "f", "image_path": f"images/{i}.png", "ecg_path": f"signals/{i}"}


def test_export_keeps_every_patient_in_one_split_and_never_overwrites(tmp_path):
    root = DataRoot.open(tmp_path)
    store = TableStore(root)
    rows = [_pair(i, f"p{i // 3}") for i in range(60)]
    store.commit("validate-a", {"pairs": rows_to_table(rows[:40], PAIRS_SCHEMA)}, primary="pairs")
    from schemas.config import GemflowConfig
    first = export_dataset(root, GemflowConfig())
    again = export_dataset(root, GemflowConfig())
    assert again.version == first.version and again.created is False
    splits_of = defaultdict(set)
    for split in ("train", "val", "test"):
        for item in json.loads((first.path / f"{split}.json").read_text()):
            splits_of[item["provenance"]["patient_id"]].add(split)
            assert item["conversations"][0]["value"].startswith("<image>")
    assert all(len(v) == 1 for v in splits_of.values()) and sum(first.counts.values()) == 40
    store.commit("validate-b", {"pairs": rows_to_table(rows[40:], PAIRS_SCHEMA)}, primary="pairs")
    second = export_dataset(root, GemflowConfig())
    assert second.version != first.version and second.created
    assert (first.path / "train.json").exists(), "the earlier export is kept"
    assert (root.exports / "LATEST").read_text().strip() == second.version
    card = (second.path / "README.md").read_text()
    assert "Validation rules" in card and "template" in card and "| train |" in card


def test_changed_split_settings_between_runs_never_put_a_patient_in_two_splits(tmp_path):
    """Export under one split seed, validate more pairs, export under another: the second export splits each
    patient once, by the settings in force when it runs, and the catalog's pairs.split shows that export's."""
    import pyarrow.parquet as pq

    from schemas.config import GemflowConfig
    from schemas.tables import TABLE_SCHEMAS
    from storage.catalog import memory_catalog
    root = DataRoot.open(tmp_path)
    store = TableStore(root)
    old = ExportSettings(split_seed="run-1", train_fraction=0.5, val_fraction=0.2)
    new = ExportSettings(split_seed="run-2", train_fraction=0.6, val_fraction=0.2)
    store.commit("validate-a", {"pairs": rows_to_table([_pair(i, f"p{i % 20}") for i in range(40)], PAIRS_SCHEMA)},
                 primary="pairs")
    first = export_dataset(root, GemflowConfig(export=old))
    store.commit("validate-b", {"pairs": rows_to_table([_pair(i, f"p{i % 20}") for i in range(40, 80)], PAIRS_SCHEMA)},
                 primary="pairs")
    second = export_dataset(root, GemflowConfig(export=new))
    before = {r["patient_id"]: r["split"] for r in pq.read_table(first.path / "pairs.parquet").to_pylist()}
    after = pq.read_table(second.path / "pairs.parquet").to_pylist()
    assert any(before[r["patient_id"]] != r["split"] for r in after), "the seeds must disagree on some patient"
    splits_of = defaultdict(set)
    for split in ("train", "val", "test"):
        for item in json.loads((second.path / f"{split}.json").read_text()):
            splits_of[item["provenance"]["patient_id"]].add(split)
    assert len(splits_of) == 20 and all(s == {split_of(p, new)} for p, s in splits_of.items()), splits_of
    assert len(after) == 80 and all(r["split"] == split_of(r["patient_id"], new) for r in after)
    con = memory_catalog(root, TABLE_SCHEMAS)
    assert con.execute("select count(*) from pairs group by patient_id having count(distinct split) > 1").fetchall() == []
    assert dict(con.execute("select pair_id, split from pairs").fetchall()) == {r["pair_id"]: r["split"] for r in after}
