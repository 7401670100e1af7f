"""The judge: one schema for prompt, response format and parser; strict parsing; re-asks; failures recorded.

The real litellm client talks to real HTTP servers on 127.0.0.1: the shared fake OpenAI server
(tests/openai_server.py) answering a fixed JSON text, and a tiny app of this file whose first answer
renames a key (GEM's bug) and whose second, after the correction turn, is valid.
"""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from fastapi import FastAPI, Request

from schemas.config import GemflowConfig, TeacherConfig
from tasks.evaluate.judge import judge_items, judge_messages, judge_request
from tasks.evaluate.rubric import KEYS, RATIONALE, JudgeParseError, aggregate, json_schema, parse_scores, schema_text
from tasks.evaluate.spec import EvalItem, EvalRun
from tests.openai_server import FakeOpenAI, ServerThread, Settings

KEY_ENV = "GEMFLOW_TEST_JUDGE_KEY"
SCORES = [  # three judged samples, hand-aggregated below
    {"diagnosis_accuracy": 2, "analysis_completeness": 5, "analysis_relevance": 4, "lead_assessment_coverage": 12,
     "lead_assessment_accuracy": 20, "ecg_feature_grounding": 80, "evidence_based_reasoning": 50,
     "clinical_diagnostic_fidelity": 100},
    {"diagnosis_accuracy": 0, "analysis_completeness": 3, "analysis_relevance": 2, "lead_assessment_coverage": 6,
     "lead_assessment_accuracy": 12, "ecg_feature_grounding": 50, "evidence_based_reasoning": 80,
     "clinical_diagnostic_fidelity": 80},
    {"diagnosis_accuracy": 1, "analysis_completeness": 4, "analysis_relevance": 3, "lead_assessment_coverage": 14,
     "lead_assessment_accuracy": 24, "ecg_feature_grounding": 100, "evidence_based_reasoning": 100,
     "clinical_diagnostic_fidelity": 50},
]


def answer(scores: dict, **changes) -> str:
    return json.dumps({**scores, RATIONALE: "Rate and rhythm are right; the lead walk is partial.", **changes})


def items(n: int) -> list[EvalItem]:
    return [EvalItem(item_id=f"item{i}", record_id=f"r{i}", patient_id=f"p{i}", reference="Sinus rhythm at 70 bpm.",
                     labels=["SR"], label_names=["sinus rhythm"]) for i in range(n)]


def setup(tmp_path, base_url: str, monkeypatch) -> tuple[EvalRun, GemflowConfig]:
    monkeypatch.setenv(KEY_ENV, "sk-judge-test")
    judge = TeacherConfig(model="openai/judge-model", api_base=base_url, api_key_env=KEY_ENV, timeout_s=5,
                          retry_base_s=0.01, retry_max_s=0.05, max_attempts=6, rpm=60_000, tpm=10**8)
    return EvalRun(str(tmp_path), "v0", "test", "template"), GemflowConfig(teachers={"judge": judge})


def test_the_prompt_response_format_and_parser_use_one_schema():
    schema = json_schema()
    assert set(schema["properties"]) == set(KEYS) | {RATIONALE} and set(schema["required"]) == set(schema["properties"])
    assert len(KEYS) == 8 and schema["additionalProperties"] is False
    cfg = TeacherConfig(model="openai/judge-model")
    req = judge_request(items(1)[0], "Sinus rhythm.", None, "judge", cfg)
    assert req.params["response_format"]["json_schema"]["schema"] == schema
    assert schema_text() in judge_messages(items(1)[0], "Sinus rhythm.", None)[1]["content"]
    scores, rationale = parse_scores(answer(SCORES[0]))
    assert scores == SCORES[0] and rationale.startswith("Rate")


def test_a_renamed_or_missing_key_is_rejected_by_name():
    renamed = {("lead_coverage" if k == "lead_assessment_coverage" else k): v for k, v in SCORES[0].items()}
    with pytest.raises(JudgeParseError, match="missing key.*lead_assessment_coverage.*unknown key.*lead_coverage"):
        parse_scores(answer(renamed))


@pytest.mark.parametrize("bad,match", [
    ({"ecg_feature_grounding": 70}, "one of 0, 50, 80, 100"),
    ({"lead_assessment_accuracy": 25}, "at most 24"),
    ({"diagnosis_accuracy": -1}, "must not be negative"),
    ({"analysis_relevance": "3"}, "must be an integer"),
    ({"analysis_relevance": True}, "must be an integer"),
])
def test_out_of_range_or_mistyped_values_are_rejected(bad, match):
    with pytest.raises(JudgeParseError, match=match):
        parse_scores(answer(SCORES[0], **bad))


def test_fenced_json_with_prose_and_integral_floats_parse():
    text = "Here are my scores:\n```json\n" + answer(SCORES[1], evidence_based_reasoning=80.0) + "\n```\nThanks."
    assert parse_scores(text)[0] == SCORES[1]
    with pytest.raises(JudgeParseError, match="no JSON object"):
        parse_scores("I cannot grade this.")


def test_hand_computed_aggregation_uses_gem_scales():
    agg = {a["metric"]: a for a in aggregate(SCORES)}
    assert all(a["n"] == 3 for a in agg.values())
    assert agg["diagnosis_accuracy"]["value"] == pytest.approx(2 / 3)  # share of samples > 0
    assert agg["analysis_completeness"]["value"] == pytest.approx(4.0)  # mean of per-sample sums
    assert agg["analysis_relevance"]["value"] == pytest.approx(3.0)
    assert agg["lead_assessment_coverage"]["value"] == pytest.approx((1 + 0.5 + 1) / 3)  # min(n, 12) / 12
    assert agg["lead_assessment_accuracy"]["value"] == pytest.approx((20 / 24 + 12 / 24 + 1) / 3)  # sum / 24
    for key in ("ecg_feature_grounding", "evidence_based_reasoning", "clinical_diagnostic_fidelity"):
        assert agg[key]["value"] == pytest.approx(230 / 3)
    assert aggregate([])[0]["value"] is None


@pytest.fixture()
def fake_server():
    server = ServerThread(FakeOpenAI(Settings(), api_key="sk-judge-test")).start()  # the key setup() sets
    yield server
    server.stop()


def test_judge_over_http_retries_transport_errors_in_the_runner_and_scores_every_item(tmp_path, fake_server,
                                                                                       monkeypatch):
    fake_server.fake.reset(answer="fixed", fixed_text=answer(SCORES[2]), fault_rate=0.4, faults=("500", "429"), seed=1,
                           fail_first=1)  # every request meets at least one transport error
    run, cfg = setup(tmp_path, fake_server.base_url, monkeypatch)
    outcomes = judge_items([(i, "Sinus rhythm at 70 bpm in lead II.", None) for i in items(4)], run, cfg, "judge")
    assert [o.status for o in outcomes] == ["ok"] * 4 and all(o.rounds == 1 for o in outcomes)
    assert all(o.scores == SCORES[2] for o in outcomes)
    counters = fake_server.fake.counters
    assert sum(counters.faults.values()) > 0 and sum(counters.received.values()) == 4 + sum(counters.faults.values())


def test_unparsable_answers_are_re_asked_then_recorded_as_failures_with_the_raw_answer(tmp_path, fake_server,
                                                                                        monkeypatch):
    renamed = {("lead_coverage" if k == "lead_assessment_coverage" else k): v for k, v in SCORES[0].items()}
    fake_server.fake.reset(answer="fixed", fixed_text=answer(renamed))
    run, cfg = setup(tmp_path, fake_server.base_url, monkeypatch)
    outcomes = judge_items([(i, "Sinus rhythm.", None) for i in items(3)], run, cfg, "judge", max_rounds=2)
    assert len(outcomes) == 3 and all(o.status == "failed" and o.rounds == 2 for o in outcomes)
    assert all("unparsable after 2 answers" in o.error and "lead_coverage" in o.error for o in outcomes)
    assert all(json.loads(o.raw_text)["lead_coverage"] == 12 for o in outcomes)
    assert sum(fake_server.fake.counters.received.values()) == 3 * 2


class FixOnSecondAsk:
    """A tiny OpenAI-compatible app: a renamed key in prose first; valid JSON once corrected."""

    def __init__(self):
        self.bodies: list[dict] = []
        self.app = FastAPI()
        self.app.post("/v1/chat/completions")(self.chat)

    async def chat(self, request: Request) -> dict:
        body = await request.json()
        self.bodies.append(body)
        corrected = any(m["role"] == "assistant" for m in body["messages"])
        scores = dict(SCORES[1])
        if not corrected:
            scores["lead_coverage"] = scores.pop("lead_assessment_coverage")
        text = answer(scores) if corrected else "Sure! " + answer(scores)
        return {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 100, "completion_tokens": 40, "total_tokens": 140}}


def test_a_failed_parse_is_re_asked_with_the_error_and_the_second_answer_counts(tmp_path, monkeypatch):
    app = FixOnSecondAsk()
    server = ServerThread(SimpleNamespace(app=app.app)).start()
    try:
        run, cfg = setup(tmp_path, server.base_url, monkeypatch)
        outcomes = judge_items([(i, "Sinus rhythm.", None) for i in items(2)], run, cfg, "judge")
        # a rerun re-plans the same requests: the ledger answers them, nothing is sent again
        again = judge_items([(i, "Sinus rhythm.", None) for i in items(2)], run, cfg, "judge")
    finally:
        server.stop()
    assert [(o.status, o.rounds, o.scores) for o in outcomes] == [("ok", 2, SCORES[1])] * 2
    assert [(o.status, o.rounds) for o in again] == [("ok", 2)] * 2 and len(app.bodies) == 4
    second = [b for b in app.bodies if len(b["messages"]) == 4][0]
    assert "lead_assessment_coverage" in second["messages"][3]["content"]  # the parse error is sent back
    assert second["response_format"]["type"] == "json_schema"
