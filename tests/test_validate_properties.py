"""The validator never raises and fails closed, on random and mutated texts over real CinC-2021 records."""
from __future__ import annotations

import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.config import GemflowConfig, SourceConfig, ValidationSettings
from schemas.records import RECORDS_SCHEMA
from storage.layout import DataRoot
from storage.parquet import TableStore
from tasks.features.stage import features_shard, pending_features
from tasks.ingest.stage import ingest_shard, pending_records
from tasks.teachers.context import build_contexts
from tasks.teachers.template import compose
from tasks.validate.claims import numeric_claims
from tasks.validate.rules import validate
from tasks.validate.verify import check_claim

S = ValidationSettings()
_RECORDS = ("E07500", "E07509", "HR06003", "JS20004", "JS20007")


@pytest.fixture(scope="module")
def contexts(cinc2021_dir, tmp_path_factory):
    """Contexts of five real records, built by the ingest and features stages (about 2 s)."""
    tmp = tmp_path_factory.mktemp("props")
    src = tmp / "src"
    src.mkdir()
    for name in _RECORDS:
        for f in cinc2021_dir.glob(f"{name}.*"):
            shutil.copy(f, src / f.name)
    cfg = GemflowConfig(data_dir=str(tmp / "data"))
    root = DataRoot.open(cfg.data_dir)
    store = TableStore(root)
    source = SourceConfig(path=str(src))
    ingest_shard(source, cfg.ingest, str(root.root), pending_records(source, cfg.ingest, store))
    features_shard(str(root.root), pending_features(root), cfg.features)
    ids = sorted(store.keys("records", RECORDS_SCHEMA, "record_id"))
    return build_contexts(store, ids)


_PIECES = ["0.9 mV", "130 BPM", "250-ms", "-30°", "+90", "QTc", "QT/QTc 500/520 ms", "in V1-V3", "lead II",
           "the inferior leads", "from 640 to 720 ms", "0.8–1.1 mV", "~", "about", "normal 120-200 ms", "(", ")",
           "respectively", "beat 4", "the fourth beat", "at 4.0 s", "ST elevation", "no Q waves", "2:1", "25 mm/s",
           "10 mm/mV", "LVH", "atrial fibrillation", "RBBB", "V4R", "aVF", ",", ";", ".", ":", "\n", "III", "I",
           "1,236 ms", "12-lead", "65-year-old", "%", "±", "≥", "<", "−0.15", "0", "1e9", "99999999999999999999 ms",
           ".5 mV", "mV mV", "ms ms 3", "V", "V0", "V13", "beats 3 and", "Step 8:", "QRS", "axis", "rate:", "P", "T",
           # the third session's classes: number words, formulas and sums, JSON keys, anaphora, grid units
           "sixty-five", "one hundred and", "point", "two", "SV1", "RaVL", "+", "=", "≈", "√", "^(1/3)", "together",
           "Both", "the", "R/S ratio", "V1-3", "V4–6", "\"heart_rate\":", "{", "}", "small squares", "is prolonged",
           "wide", "(Bazett)", "Fridericia", "complex #2", "at 29", "deep", "60000 /", "depression", "other leads",
           # the fourth author's classes: spoken numbers, plain words, telegraphic notes, criteria, beats
           "a hundred and", "minus", "three seventy-eight", "78M.", "NSR", "SL", "Ts", "S I", "→", "against",
           "cut-off", "apart from", "it", "(before the ninth)", "times a minute", "from the upper to the lower chambers",
           "the main beat", "corrects to", "don't", "rather than", "acute inferior MI", "spikes", "tall", "after the"]
_texts = st.one_of(
    st.text(max_size=300),
    st.lists(st.sampled_from(_PIECES), max_size=40).map(" ".join),
    st.lists(st.one_of(st.sampled_from(_PIECES), st.text(max_size=8),
                       st.floats(allow_nan=True, allow_infinity=True).map(str),
                       st.integers(-10**6, 10**6).map(str)), max_size=40).map(" ".join),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_texts, which=st.integers(0, len(_RECORDS) - 1))
def test_no_text_makes_validation_raise(contexts, text, which):
    ctx = contexts[which % len(contexts)]
    verdict = validate(text, ctx, S)
    assert verdict.ok in (True, False)
    assert all(v.rule and isinstance(v.detail, str) for v in verdict.violations)
    assert "validator_error" not in {v.rule for v in verdict.violations}, verdict.violations


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.integers(0, len(_RECORDS) - 1), cut=st.integers(0, 2000), insert=st.sampled_from(_PIECES),
       drop=st.integers(0, 40))
def test_mutated_true_answers_never_raise_and_accepted_ones_check_every_number(contexts, which, cut, insert, drop):
    ctx = contexts[which % len(contexts)]
    base = compose(ctx)
    at = cut % (len(base) + 1)
    text = base[:at] + " " + insert + " " + base[at + drop:]
    verdict = validate(text, ctx, S)
    assert "validator_error" not in {v.rule for v in verdict.violations}, verdict.violations
    if verdict.ok:  # every number of an accepted answer was checked or recognised as a non-claim
        outcomes = [check_claim(c, ctx, S).status for c in numeric_claims(text)]
        assert set(outcomes) <= {"ok", "nonclaim"}, (text, outcomes)
        assert verdict.n_matched == verdict.n_claims


def test_an_internal_error_rejects_the_answer_as_validator_error(contexts, monkeypatch):
    import tasks.validate.rules as rules

    def broken(*_a, **_k):
        raise AttributeError("'LeadFacts' object has no attribute 'qrs_mv'")

    monkeypatch.setattr(rules, "check_numbers", broken)
    text = "QRS amplitudes are below 0.5 mV in the limb leads. " + compose(contexts[0])
    verdict = validate(text, contexts[0], S)
    assert not verdict.ok
    (v,) = verdict.violations
    assert v.rule == "validator_error" and "qrs_mv" in v.detail and v.span.startswith("QRS amplitudes")


def test_a_misspelled_measurement_name_fails_loudly(contexts):
    with pytest.raises(AttributeError):
        contexts[0].features.hr_bmp  # noqa: B018
