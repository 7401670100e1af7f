"""`gemflow interpret RECORD`: measure, render and interpret one record, with the measurements beside the text."""
from __future__ import annotations

import json
import os
import subprocess
import sys

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
    out = subprocess.run([sys.executable, "-m", "flows.cli", "interpret", str(wfdb_samples_dir / "s0010_re"),
                          "--out", str(tmp_path), "--json"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    assert result["record_id"] == "s0010_re" and result["text"].startswith("The rhythm")


def test_interpret_refuses_a_two_lead_record_with_its_reason(wfdb_samples_dir, tmp_path):
    # A narrow terminal and a long path once split the reason across lines; the error must stay one greppable line.
    env = {**os.environ, "COLUMNS": "40"}
    out = subprocess.run([sys.executable, "-m", "flows.cli", "interpret", str(wfdb_samples_dir / "100"),
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stdout == ""
    line = out.stderr.strip()
    assert "\n" not in line and f"cannot interpret {wfdb_samples_dir / '100'}: not a 12-lead record" in line, line
    assert "found channels MLII, V5" in line
