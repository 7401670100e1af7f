"""Response parsing, duplicate detection and the regeneration loop, on real records with plain functions."""
from __future__ import annotations

import json
import shutil

import pytest

from schemas.config import GemflowConfig, SourceConfig
from schemas.pairs import PAIRS_SCHEMA, REJECTIONS_SCHEMA
from schemas.records import RECORDS_SCHEMA
from schemas.teacher import TeacherResponse
from storage.layout import DataRoot
from storage.ledger import Ledger
from storage.parquet import TableStore
from tasks.features.stage import features_shard, pending_features
from tasks.ingest.stage import ingest_shard, pending_records
from tasks.teachers.stage import generate_shard, pending_generation, plan_shard, run_requests
from tasks.validate.dedup import DuplicateIndex
from tasks.validate.parse import parse_response
from tasks.validate.regenerate import feedback_message, pending_regenerations, plan_regenerations
from tasks.validate.stage import ValidateCounts, check_shard, commit_checked, duplicate_index, pending_validation


def validate_shard(root_dir: str, responses: list, cfg) -> ValidateCounts:
    """Validate one shard of responses in one call: the record-level rules, then the ordered commit."""
    return commit_checked(root_dir, check_shard(root_dir, responses, cfg), duplicate_index(DataRoot.open(root_dir), cfg))


def test_wrappers_are_stripped_and_reasoning_is_kept_apart():
    p = parse_response("<think>HR is 72, so normal.</think>\n**Response:** The rhythm is regular at 72 bpm.", None)
    assert p.answer == "The rhythm is regular at 72 bpm." and p.reasoning == "HR is 72, so normal." and not p.problems
    p = parse_response("The rhythm is regular.", "chain of thought from reasoning_content")
    assert p.reasoning == "chain of thought from reasoning_content"


@pytest.mark.parametrize("text, finish, rule", [
    ("", "stop", "empty"),
    ("**Answer:**   ", "stop", "empty"),
    ("<think>I am still thinking about the QRS", "length", "empty"),
    ("The rhythm is regular at 72 bpm with normal", "length", "truncated"),
    ("心电图显示窦性心律，心率为每分钟七十二次，电轴正常。", "stop", "language"),
    ("Der Rhythmus ist regelmäßig mit einer Herzfrequenz von 72 Schlägen pro Minute und normaler Achse.", "stop", "language"),
])
def test_empty_cut_off_and_non_english_answers_are_rejected_with_a_reason(text, finish, rule):
    assert rule in {r for r, _ in parse_response(text, None, finish).problems}


def test_exact_and_near_duplicates_across_records_are_found_but_not_within_a_record():
    text = ("The rhythm is regular at a heart rate of 72 bpm, with a P wave before each QRS complex in lead II. "
            "The PR interval measures 160 ms and the QRS duration is 92 ms. The axis is +45 degrees, normal. "
            "Lead I shows an R wave of 1.00 mV and V5 an R wave of 1.50 mV, consistent with sinus rhythm.")
    index = DuplicateIndex(0.9)
    index.add("rec-a", text)
    assert index.check("rec-a", text) is None
    assert index.check("rec-b", text).kind == "exact"
    near = index.check("rec-b", text.replace("72 bpm", "74 bpm"))
    assert near.kind == "near" and near.similarity >= 0.9
    other = "Atrial fibrillation with a rapid ventricular response of 130 bpm; no P waves are seen in lead II or V1."
    assert index.check("rec-c", other) is None


@pytest.fixture()
def measured_root(cinc2021_dir, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("E07500", "HR06000", "JS20000"):
        for f in cinc2021_dir.glob(f"{name}.*"):
            shutil.copy(f, src / f.name)
    cfg = GemflowConfig(data_dir=str(tmp_path / "data"))
    root = DataRoot.open(cfg.data_dir)
    store = TableStore(root)
    source = SourceConfig(path=str(src))
    ingest_shard(source, cfg.ingest, str(root.root), pending_records(source, cfg.ingest, store))
    features_shard(str(root.root), pending_features(root), cfg.features)
    return cfg, root


def test_a_rejected_answer_is_regenerated_with_feedback_and_each_attempt_is_recorded(measured_root):
    cfg, root = measured_root
    store = TableStore(root)
    bad_record = "src-E07500"
    # round 0: a teacher answer that invents a heart rate (planned like any request, answered badly)
    planned, _ = plan_shard(store, [bad_record], cfg, "template", "v1")
    req = planned[0][0]
    with Ledger(root.ledger_path) as ledger:
        ledger.register([req])
        ledger.mark_sent(req.request_id)
        ledger.record(TeacherResponse(request_id=req.request_id, status="ok", finish_reason="stop",
                                      text="**Response:** The heart rate is 150 bpm, which is sinus bradycardia. " * 5))
    generate_shard(str(root.root), pending_generation(root, "template", "v1"), cfg, "template", "v1")
    validate_shard(str(root.root), pending_validation(root), cfg)
    rejections = store.read("rejections", REJECTIONS_SCHEMA).to_pylist()
    assert [r["record_id"] for r in rejections] == [bad_record] and "numeric_claim" in rejections[0]["reason"]
    assert not rejections[0]["text"].startswith("**Response:**"), "the stored text is the parsed answer"

    pending = pending_regenerations(root, "template", "v1", cfg.validation.max_regenerations)
    assert [p.record_id for p in pending] == [bad_record]
    plan = plan_regenerations(store, pending, cfg, "template", "v1")
    (regen, _), = plan
    assert regen.round == 1 and regen.parent_request_id == req.request_id
    assert regen.messages[-2]["role"] == "assistant" and "150 bpm" in regen.messages[-2]["content"]
    assert "numeric_claim" in regen.messages[-1]["content"] and "150 bpm" in feedback_message(pending[0])
    with Ledger(root.ledger_path) as ledger:
        run_requests(plan, ledger, cfg, "template")
    validate_shard(str(root.root), pending_validation(root), cfg)
    pairs = {p["record_id"]: p for p in store.read("pairs", PAIRS_SCHEMA).to_pylist()}
    assert pairs[bad_record]["round"] == 1 and len(pairs) == 3
    assert pending_regenerations(root, "template", "v1", 2) == [], "an accepted record is not asked again"
    with Ledger(root.ledger_path) as ledger:
        rows = [r for r in ledger.snapshot().to_pylist() if r["record_id"] == bad_record]
    assert sorted(r["round"] for r in rows) == [0, 1], "both attempts are in the ledger"


def test_regeneration_stops_after_k_rounds(measured_root):
    cfg, root = measured_root
    store = TableStore(root)
    row = {"request_id": "x1", "record_id": "src-HR06000", "teacher": "template", "prompt_version": "v1",
           "round": 2, "reason": "numeric_claim", "detail": json.dumps([]), "text": "t", "rejected_at": 0.0}
    from storage.parquet import rows_to_table
    store.commit("validate-k", {"rejections": rows_to_table([row], REJECTIONS_SCHEMA),
                                "pairs": rows_to_table([], PAIRS_SCHEMA)}, primary="pairs")
    assert pending_regenerations(root, "template", "v1", max_rounds=2) == []
    assert len(pending_regenerations(root, "template", "v1", max_rounds=3)) == 1


def test_a_failed_call_answered_by_a_later_retry_is_validated_again(measured_root):
    cfg, root = measured_root
    store = TableStore(root)
    planned, _ = plan_shard(store, ["src-JS20000"], cfg, "template", "v1")
    req = planned[0][0]
    with Ledger(root.ledger_path) as ledger:
        ledger.register([req])
        ledger.mark_sent(req.request_id)
        ledger.record(TeacherResponse(request_id=req.request_id, status="failed", error="HTTP 503 after 6 attempts"))
    validate_shard(str(root.root), pending_validation(root), cfg)
    rej = store.read("rejections", REJECTIONS_SCHEMA).to_pylist()
    assert [(r["record_id"], r["reason"]) for r in rej] == [("src-JS20000", "teacher_failed")]
    assert pending_regenerations(root, "template", "v1", 2) == [], "the generate stage resends failed calls"
    generate_shard(str(root.root), ["src-JS20000"], cfg, "template", "v1")  # the retry succeeds
    validate_shard(str(root.root), pending_validation(root), cfg)
    pairs = store.read("pairs", PAIRS_SCHEMA).to_pylist()
    assert [p["request_id"] for p in pairs] == [req.request_id]
    assert pending_validation(root) == []


def _answered(measured_root) -> tuple[GemflowConfig, DataRoot, list[str]]:
    cfg, root = measured_root
    ids = sorted(r["record_id"] for r in TableStore(root).read("records", RECORDS_SCHEMA, columns=["record_id"])
                 .to_pylist())
    generate_shard(str(root.root), ids, cfg, "template", "v1")
    return cfg, root, ids


def test_duplicates_are_decided_in_shard_order_whichever_shard_was_checked_first(measured_root):
    cfg, root, ids = _answered(measured_root)
    rows = sorted(pending_validation(root), key=lambda c: c.request.record_id)
    later = check_shard(str(root.root), rows[1:], cfg)  # checked first, e.g. on a faster worker
    first = check_shard(str(root.root), rows[:1], cfg)
    assert all(c.verdict.ok for c in first + later)
    copied = later[0]  # the second record's teacher happened to write the first record's answer
    copied.response.response.text = copied.pair.answer = first[0].response.response.text
    index = DuplicateIndex(cfg.validation.near_duplicate_threshold)
    assert commit_checked(str(root.root), first, index) == ValidateCounts(1, 0)
    assert commit_checked(str(root.root), later, index) == ValidateCounts(1, 1)
    store = TableStore(root)
    [rej] = store.read("rejections", REJECTIONS_SCHEMA).to_pylist()
    assert (rej["record_id"], rej["reason"]) == (copied.response.request.record_id, "duplicate_exact")
    assert ids[0] in rej["detail"]  # names the record whose answer it copies
    assert sorted(p["record_id"] for p in store.read("pairs", PAIRS_SCHEMA).to_pylist()) == [ids[0], ids[2]]


def test_validate_on_two_worker_processes_equals_the_in_process_result(measured_root, prefect_api, tmp_path):
    from flows.runners import task_runner
    from flows.validate import validate_flow
    cfg, root, _ = _answered(measured_root)
    twin = tmp_path / "twin"
    shutil.copytree(root.root, twin)
    config = tmp_path / "gemflow.yaml"
    config.write_text("shard_size: 1\n")  # three shards, checked in parallel
    result = validate_flow.with_options(task_runner=task_runner("process", 2))(str(root.root),
                                                                                config_path=str(config))
    assert result.counts.accepted + result.counts.rejected == 3
    twin_root = DataRoot.open(twin)
    for row in sorted(pending_validation(twin_root), key=lambda c: c.request.request_id):
        validate_shard(str(twin), [row], cfg)
    for table, schema, key in (("pairs", PAIRS_SCHEMA, "pair_id"), ("rejections", REJECTIONS_SCHEMA, "request_id")):
        stamp = "validated_at" if table == "pairs" else "rejected_at"
        mine, theirs = (sorted(({k: v for k, v in r.items() if k != stamp}
                                for r in TableStore(r_).read(table, schema).to_pylist()), key=lambda r: r[key])
                        for r_ in (root, twin_root))
        assert mine == theirs, table
    assert len(TableStore(root).read("pairs", PAIRS_SCHEMA).to_pylist()) == result.counts.accepted


def test_a_crash_between_the_rejections_and_pairs_parts_is_validated_again(measured_root):
    """The rejections part landed, the pairs part (the commit point) did not: before orphan cleanup those
    responses looked done forever; after it they are validated again and end as an uncrashed run."""
    from tasks.validate.stage import SHARDS
    cfg, root, ids = _answered(measured_root)
    rows = sorted(pending_validation(root), key=lambda c: c.request.record_id)
    checked = check_shard(str(root.root), rows, cfg)
    checked[1].response.response.text = checked[1].pair.answer = checked[0].response.response.text  # one duplicate: rejected
    commit_checked(str(root.root), checked, DuplicateIndex(cfg.validation.near_duplicate_threshold))
    store = TableStore(root)
    before = sorted(p["request_id"] for p in store.read("pairs", PAIRS_SCHEMA).to_pylist())
    assert len(before) == 2
    [pairs_part] = store.parts("pairs")
    pairs_part.unlink()  # the process died after renaming the rejections part, before the pairs part
    hidden = checked[1].response.request.record_id  # its rejection row survived the crash
    assert sorted(c.request.record_id for c in pending_validation(root)) == sorted(set(ids) - {hidden})
    assert SHARDS.drop_orphans(root) == 1
    again = pending_validation(root)
    assert sorted(c.request.record_id for c in again) == ids
    validate_shard(str(root.root), again, cfg)
    assert sorted(p["request_id"] for p in store.read("pairs", PAIRS_SCHEMA).to_pylist()) == \
        sorted(c.request.request_id for c in rows)  # the copied text is re-read from the ledger: no duplicate now
    assert pending_validation(root) == []
