"""`gemflow interpret RECORD`: measure, render and interpret one record, with the measurements beside the text."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from tasks.interpret import interpret_record


def test_interpret_prints_measurements_image_and_grounded_text(cinc2021_dir, tmp_path):
    result = interpret_record(str(cinc2021_dir / "E07500.hea"), out_dir=str(tmp_path))
    assert result["record_id"] == "E07500" and result["interpreter"] == "teacher template"
    assert "sinus bradycardia" in [x.lower() for x in result["labels"]]
    hr = result["measurements"]["hr_bpm"]
    assert 40 < hr < 60 and f"{hr:.0f} bpm" in result["text"]
    assert Image.open(result["image_path"]).size == (2200, 1700)


def test_interpret_cli_json(wfdb_samples_dir, tmp_path):
    out = subprocess.run([sys.executable, "-m", "ops.cli", "interpret", str(wfdb_samples_dir / "s0010_re"),
                          "--out", str(tmp_path), "--json"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    assert result["record_id"] == "s0010_re" and result["text"].startswith("The rhythm")


def test_interpret_refuses_a_two_lead_record_with_its_reason(wfdb_samples_dir, tmp_path):
    # A narrow terminal and a long path once split the reason across lines; the error must stay one greppable line.
    env = {**os.environ, "COLUMNS": "40"}
    out = subprocess.run([sys.executable, "-m", "ops.cli", "interpret", str(wfdb_samples_dir / "100"),
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stdout == ""
    line = out.stderr.strip()
    assert "\n" not in line and f"cannot interpret {wfdb_samples_dir / '100'}: not a 12-lead record" in line, line
    assert "found channels MLII, V5" in line


@pytest.mark.slow
def test_interpret_cli_with_a_checkpoint_prints_its_text_beside_the_measurements(wfdb_samples_dir, tmp_path):
    from model.infer import GemInterpreter
    from tests.model_support import tiny_checkpoint
    ckpt = tiny_checkpoint(tmp_path / "gem-tiny")
    record = wfdb_samples_dir / "s0010_re"
    out = subprocess.run([sys.executable, "-m", "ops.cli", "interpret", str(record), "--model", str(ckpt),
                          "--out", str(tmp_path / "pages"), "--json"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout)
    assert result["interpreter"] == f"model {ckpt}" and result["measurements"]["hr_bpm"] > 0
    # the model read the page the command drew: the same call by hand, on that page, agrees
    with Image.open(result["image_path"]) as page:
        assert result["text"] == GemInterpreter(ckpt).interpret(str(record), page=page.convert("RGB"))
    assert result["text"]
    shown = subprocess.run([sys.executable, "-m", "ops.cli", "interpret", str(record), "--model", str(ckpt),
                            "--out", str(tmp_path / "pages")], capture_output=True, text=True, timeout=600,
                           env={**os.environ, "COLUMNS": "200"})
    assert shown.returncode == 0 and result["text"][:40] in shown.stdout and "hr_bpm" in shown.stdout
