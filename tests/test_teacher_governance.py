"""Governance by source kind and config, whatever files the folder holds, and `gemflow interpret` enforcing it.

About 20-40 s on 2 cores (one record measured and rendered by interpret).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from schemas.config import IngestSettings, SourceConfig
from tasks.ingest.sources import open_reader
from tasks.teachers.base import GovernanceError
from tests.teacher_support import KEY_ENV, fake_openai, server  # noqa: F401

STUDY = "files/p1000/p10000032/s40689238"


def mimic_layout_without_index(tmp_path: Path, cinc2021_dir: Path, name: str = "ecg_dump") -> Path:
    """A MIMIC-IV-ECG style tree (files/pNNNN/pNNNNNNNN/sNNNNNNNN/) with no record_list.csv, holding a real record."""
    folder = tmp_path / name / STUDY
    folder.mkdir(parents=True)
    for suffix in (".hea", ".mat"):
        shutil.copy(cinc2021_dir / f"E07500{suffix}", folder)
    return tmp_path / name


def test_a_mimic_tree_without_its_index_is_still_credentialed(tmp_path, cinc2021_dir):
    root = mimic_layout_without_index(tmp_path, cinc2021_dir)
    metas = list(open_reader(SourceConfig(path=str(root)), IngestSettings()).discover())
    assert len(metas) == 1 and metas[0].credentialed and metas[0].source_kind == "mimic"


def test_the_config_marks_a_source_credentialed_whatever_its_files(tmp_path, cinc2021_dir):
    plain = tmp_path / "plain"
    plain.mkdir()
    shutil.copy(cinc2021_dir / "E07500.hea", plain)
    shutil.copy(cinc2021_dir / "E07500.mat", plain)
    settings = IngestSettings()
    assert not any(m.credentialed for m in open_reader(SourceConfig(path=str(plain)), settings).discover())
    assert all(m.credentialed for m in open_reader(SourceConfig(path=str(plain), kind="mimic"), settings).discover())
    assert all(m.credentialed for m in open_reader(SourceConfig(path=str(plain), credentialed=True), settings).discover())
    root = mimic_layout_without_index(tmp_path, cinc2021_dir, "other")
    opted_out = SourceConfig(path=str(root), credentialed=False)  # e.g. the open demo subset
    assert not any(m.credentialed for m in open_reader(opted_out, settings).discover())


def fake_teacher_config(path: Path, base_url: str, **extra) -> str:
    fake = {"model": "openai/gpt-4o", "api_base": base_url, "api_key_env": KEY_ENV, **extra}
    path.write_text(yaml.safe_dump({"teachers": {"fake": fake}, "teacher": "fake"}))
    return str(path)


def test_interpret_refuses_to_send_a_mimic_record_to_a_teacher_not_approved_for_it(server, tmp_path, cinc2021_dir):
    from tasks.interpret import interpret_record
    root = mimic_layout_without_index(tmp_path, cinc2021_dir)
    record = str(root / STUDY / "E07500")
    config = fake_teacher_config(tmp_path / "gemflow.yaml", server.base_url)
    with pytest.raises(GovernanceError, match="credentialed source 'mimic_iv_ecg'"):
        interpret_record(record, config_path=config, out_dir=str(tmp_path / "out"))
    assert not server.fake.counters.received  # nothing left the machine
    approved = fake_teacher_config(tmp_path / "ok.yaml", server.base_url, allowed_credentialed_sources=["mimic_iv_ecg"])
    result = interpret_record(record, config_path=approved, out_dir=str(tmp_path / "out"))
    assert result["interpreter"] == "teacher fake" and result["text"]
    assert sum(server.fake.counters.answered.values()) == 1
