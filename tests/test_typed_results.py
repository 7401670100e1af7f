"""Typed hand-offs: flow results keep the summary users see, and table rows are typed field for field."""
from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from prefect.serializers import PickleSerializer

from schemas.pairs import PAIRS_SCHEMA, REJECTIONS_SCHEMA, PairRow, Rejection, RuleViolation
from storage.parquet import rows_to_table
from tasks.export.llava import ExportResult
from tasks.features.stage import FeatureCounts
from tasks.results import BuildResult, EventResult, GenerateResult, RegenRound, StageResult, TrainResult, ValidateResult
from tasks.teachers.stage import GenerateCounts
from tasks.validate.stage import ValidateCounts


def _build() -> BuildResult:
    validated = ValidateResult(ValidateCounts(accepted=3, rejected=2), acceptance_rate=0.6)
    again = ValidateResult(ValidateCounts(accepted=1, rejected=1), acceptance_rate=0.8)
    return BuildResult(
        GenerateResult(GenerateCounts(planned=5, done=5), spent_usd=0.01, projected_usd=0.01),
        validated, ExportResult("v-abc", Path("/d/exports/v-abc"), {"train": 3, "val": 0, "test": 1}, True),
        EventResult(emitted=False, count=4, target=10), features=StageResult(FeatureCounts(measured=5)),
        rounds=[RegenRound(StageResult(GenerateCounts(planned=2, done=2)), again)])


def test_a_build_summary_lists_stages_in_the_order_they_ran_with_each_round():
    summary = _build().summary()
    assert list(summary) == ["features", "generate", "validate", "regenerate-1", "validate-1", "export", "event"]
    assert summary["validate-1"] == {"accepted": 1, "rejected": 1, "acceptance_rate": 0.8}
    assert summary["export"] == {"version": "v-abc", "path": "/d/exports/v-abc", "created": True,
                                 "train": 3, "val": 0, "test": 1}
    assert summary["event"] == {"emitted": False, "count": 4, "target": 10}
    assert list(summary["generate"])[-3:] == ["spent_usd", "projected_usd", "resent_after_crash"]


def test_the_cli_prints_the_summary_as_json_and_one_table_row_per_stage(capsys):
    from ops.cli import _print_result
    build = _build()
    _print_result("gemflow run", build, as_json=True, quiet=False)
    assert json.loads(capsys.readouterr().out) == build.summary()
    _print_result("gemflow run", build, as_json=False, quiet=False)
    table = capsys.readouterr().out
    assert "regenerate-1" in table and "acceptance_rate=0.8" in table
    _print_result("validate", build.validate, as_json=False, quiet=False)
    assert "acceptance_rate=0.6" in capsys.readouterr().out


def test_results_survive_prefects_result_serializer():
    build, train = _build(), TrainResult(dry_run=True, output="/o", command=["python", "-m"], sources=["/s"])
    ser = PickleSerializer()
    assert ser.loads(ser.dumps(build)) == build and ser.loads(ser.dumps(train)) == train
    assert train.summary() == {"dry_run": True, "command": ["python", "-m"], "sources": ["/s"], "output": "/o"}


def test_pair_row_has_exactly_the_pairs_columns_in_order():
    assert [f.name for f in fields(PairRow)] == PAIRS_SCHEMA.names
    row = PairRow("p", "r", "pt", None, "Describe", "Sinus rhythm.", None, "t", None, "v1", "q", 0, "f1",
                  "images/r.png", "signals/r", ["426783006"], ["sinus rhythm"], 1.0, 1, 1, 1.0, 0.0)
    assert rows_to_table([row.as_row()], PAIRS_SCHEMA).to_pylist()[0] == row.as_row()


def test_rejection_reads_the_violations_column_or_the_legacy_detail_or_reason():
    names = {f.name for f in fields(Rejection)}
    assert names <= set(REJECTIONS_SCHEMA.names)
    new = Rejection.from_row({"request_id": "q", "record_id": "r", "reason": "numeric_claim", "round": None,
                              "violations": [{"rule": "numeric_claim", "detail": "HR 65", "span": "130 BPM"}]})
    assert new.violations == [RuleViolation("numeric_claim", "HR 65", "130 BPM")] and new.round == 0
    legacy = Rejection.from_row({"request_id": "q", "record_id": "r", "reason": "a,b", "detail":
                                 json.dumps([{"rule": "a", "detail": "x"}]), "violations": None})
    assert legacy.violations == [RuleViolation("a", "x", "")]
    oldest = Rejection.from_row({"request_id": "q", "record_id": "r", "reason": "a,b", "detail": "not json"})
    assert [v.rule for v in oldest.violations] == ["a", "b"]


_VIOLATION = st.fixed_dictionaries({}, optional={k: st.one_of(st.none(), st.text(max_size=10))
                                                  for k in ("rule", "detail", "span")})


@settings(max_examples=200, deadline=None)
@given(round_=st.one_of(st.none(), st.integers(0, 9)), reason=st.one_of(st.none(), st.text(max_size=30)),
       detail=st.one_of(st.none(), st.text(max_size=30), st.lists(_VIOLATION, max_size=3).map(json.dumps)),
       violations=st.one_of(st.none(), st.lists(_VIOLATION, max_size=3)))
def test_rejection_from_any_row_of_any_age_never_raises_and_types_its_violations(round_, reason, detail, violations):
    rej = Rejection.from_row({"request_id": "q", "record_id": "r", "round": round_, "reason": reason,
                              "detail": detail, "violations": violations})
    assert isinstance(rej.round, int) and isinstance(rej.reason, str)
    assert all(isinstance(v, RuleViolation) and isinstance(v.rule, str) for v in rej.violations)
    if violations:
        assert [v.rule for v in rej.violations] == [v.get("rule") or "" for v in violations]


_ITEM = st.builds(lambda r, img, t, usd: [r, img, t, usd], st.text(min_size=1, max_size=8),
                  st.one_of(st.none(), st.text(max_size=8)), st.integers(0, 10**6),
                  st.floats(0, 10, allow_nan=False))


@settings(max_examples=100, deadline=None)
@given(st.fixed_dictionaries({}, optional={
    "items": st.lists(_ITEM, min_size=1, max_size=3), "key": st.text(max_size=8), "since": st.floats(0, 2e9),
    "tokens": st.integers(0, 10**6), "batch_id": st.text(max_size=8), "kind": st.sampled_from(["input", "output"]),
    "owner": st.text(max_size=8), "final_status": st.text(max_size=8), "answered": st.integers(0, 99),
    "requeued": st.integers(0, 99), "dropped": st.just("sync"), "from_a_later_version": st.integers()}))
def test_a_batch_detail_written_by_any_earlier_run_reads_and_writes_back_the_same_json(raw):
    from tasks.teachers.batch_journal import BatchDetail
    detail = BatchDetail.of(json.loads(json.dumps(raw)))
    assert detail.dump() == json.loads(json.dumps(raw))
    assert [i.request_id for i in detail.items] == [x[0] for x in raw.get("items", [])]
