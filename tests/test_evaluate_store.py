"""Evaluation outputs are append-only and locked per run; exports, splits and interpreters are checked up front."""
from __future__ import annotations

import pytest

from storage.layout import DataRoot
from schemas.exports import NoSuchExport
from storage.exports import resolve_export
from tasks.evaluate.spec import interpreter_key, load_items
from tasks.evaluate.store import (OUTPUTS_SCHEMA, EvaluationBusy, append_part, parts, read_latest, read_rows,
                                  run_lock)


def _row(item: str, status: str) -> dict:
    return {"item_id": item, "record_id": item, "interpreter": "t", "status": status}


def test_parts_are_appended_never_overwritten_and_the_latest_row_wins(tmp_path):
    first = append_part(tmp_path, [_row("a", "failed"), _row("b", "ok")], OUTPUTS_SCHEMA)
    content = first.read_bytes()
    second = append_part(tmp_path, [_row("a", "ok")], OUTPUTS_SCHEMA)
    assert parts(tmp_path) == [first, second] and first.read_bytes() == content
    assert append_part(tmp_path, [], OUTPUTS_SCHEMA) is None
    assert len(read_rows(tmp_path, OUTPUTS_SCHEMA)) == 3
    assert {k: r["status"] for k, r in read_latest(tmp_path, OUTPUTS_SCHEMA).items()} == {"a": "ok", "b": "ok"}


def test_a_second_writer_of_the_same_run_is_refused(tmp_path):
    with run_lock(tmp_path, "evaluate"):
        with pytest.raises(EvaluationBusy, match="another process"):
            with run_lock(tmp_path, "evaluate"):
                pass
    with run_lock(tmp_path, "evaluate"):  # released
        pass


def test_missing_export_and_bad_split_or_interpreter_fail_with_the_reason(tmp_path):
    root = DataRoot.open(tmp_path)
    with pytest.raises(NoSuchExport, match="no LATEST export"):
        resolve_export(root)
    (root.exports / "abc123").mkdir()
    with pytest.raises(NoSuchExport, match="known: abc123"):
        resolve_export(root, "zzz")
    with pytest.raises(ValueError, match="split 'dev' is not one of train, val, test"):
        load_items(root, "abc123", "dev")
    with pytest.raises(ValueError, match="exactly one interpreter"):
        interpreter_key("template", "/ckpt")
    assert interpreter_key("gpt-4o", sighted=True) == "gpt-4o-sighted"
    assert interpreter_key(model=str(tmp_path / "run 1")) == "ckpt-run_1"


def test_a_blind_interpreter_prompt_hides_the_labels_and_the_report():
    from schemas.config import TeacherConfig
    from schemas.teacher import LabelRef, RecordContext
    from schemas.vocab import Vocabulary
    from tasks.evaluate.interpreters import blind
    from tasks.teachers.base import plan_request
    ctx = RecordContext(record_id="r1", patient_id="p1", source="cinc2021", features={"hr_bpm": 48.0},
                        labels=[LabelRef(code="SB", name="sinus bradycardia")], report="Sinus bradycardia. Abnormal ECG.")
    tcfg = TeacherConfig(model="openai/x")
    shown = plan_request(blind(ctx), "x", tcfg, "v1", Vocabulary.load()).messages[-1]["content"]
    sighted = plan_request(ctx, "x", tcfg, "v1", Vocabulary.load()).messages[-1]["content"]
    assert "sinus bradycardia" not in shown.lower() and "Abnormal ECG" not in shown
    assert "sinus bradycardia" in sighted.lower() and "Abnormal ECG" in sighted
    assert ctx.labels  # the caller's context (used for grounding) keeps its labels
