"""The validator's own precision on a hand-labelled set: good answers pass, injected errors are caught."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from schemas.config import ValidationSettings
from schemas.records import LEADS_12
from schemas.teacher import LabelRef, LeadFacts, RecordContext
from tasks.validate.rules import validate

CASES = json.loads((Path(__file__).parent / "data" / "validator_cases.json").read_text())
S = ValidationSettings()


def context(name: str) -> RecordContext:
    c = CASES["contexts"][name]
    usable = [x for x in LEADS_12 if x not in c["unusable"]]
    leads = {x: LeadFacts(lead=x, usable=x in usable, n_beats=10, r_amp_mv=r, s_amp_mv=s, t_amp_mv=t, st_mv=st)
             for x, (r, s, t, st) in c["leads"].items()}
    features = dict(c["features"], usable_leads=usable)
    return RecordContext(record_id=f"case-{name}", patient_id=name, source="cases", features=features,
                         leads=leads, labels=[LabelRef(code=a, name=b) for a, b in c["labels"]])


GOOD = {g["id"]: g for g in CASES["good"]}


def broken_text(case: dict) -> str:
    text = GOOD[case["base"]]["text"]
    for find, replace in [(case["find"], case["replace"]), *case.get("also", [])]:
        assert find in text, f"{case['base']}: {find!r} not in the base answer"
        text = text.replace(find, replace)
    return text


@pytest.mark.parametrize("good", CASES["good"], ids=lambda g: g["id"])
def test_hand_written_good_answers_pass(good):
    verdict = validate(good["text"], context(good["ctx"]), S)
    assert verdict.ok, [(v.rule, v.detail) for v in verdict.violations]


def test_validator_catches_at_least_95_percent_of_injected_errors():
    caught, by_type = 0, Counter()
    missed = []
    for case in CASES["broken"]:
        verdict = validate(broken_text(case), context(GOOD[case["base"]]["ctx"]), S)
        if not verdict.ok:
            caught += 1
            by_type[case["error"]] += 1
        else:
            missed.append(case)
    total = len(CASES["broken"])
    print(f"\nvalidator fidelity: caught {caught}/{total} injected errors ({caught / total:.1%});"
          f" by type: {dict(by_type)}; good answers: {len(CASES['good'])}")
    assert total >= 25
    assert caught / total >= 0.95, missed
