"""The validator on answers written the way GPT-4o and DeepSeek-R1 write, over frozen real-record contexts.

The corpus (tests/data/realistic_answers/) holds true answers and answers with one seeded error of a
named kind. The validator must accept >= 97% of the true answers and reject >= 97% of the wrong answers
of every kind, and must never raise. The figures are printed as a table (pytest -s, or on failure).

The sources are scored together: `answers.jsonl` (generated from a grammar plus hand-written answers, by
one author), `external.jsonl` and `external_b.jsonl` (written by hand by a second author who never read
the validator or the first corpus's templates; external_b was held out until it became a development
set) and `external2.jsonl` (a further author) where present. Each external set's figures are also
printed on their own.
"""
from __future__ import annotations

from collections import Counter

import pytest

from tests.data.realistic_answers.corpus import (
    ERROR_KINDS, HERE, figures, load_answers, load_context, run_validator, snapshot_ids, table,
)

TARGET = 0.97
TRUE_ACCEPTANCE_FLOOR = TARGET  # the target, met on the development sets (held-out prose may score lower)
EXTERNAL = HERE / "external.jsonl"
# Development sets by further authors, each scored in the totals and reported on its own. external_b.jsonl
# was a held-out set until the validator work of its second session began; external2.jsonl is added when
# its author commits it.
EXTERNAL_B = HERE / "external_b.jsonl"
EXTERNAL_2 = HERE / "external2.jsonl"
DEV_SETS = [p for p in (EXTERNAL, EXTERNAL_B, EXTERNAL_2) if p.exists()]
# external_c.jsonl: 118 answers by the third author, in structures unlike external2's, held out from every
# validator change of its session and scored once at its end: 21.7% of its true answers accepted (every wrong
# one rejected). Then four general fixes were made while reading its rejections (dashed "R–R", "cycle 9→10",
# "complex #k", "min⁻¹"; the stage's parse step before scoring), then two more ("S(V1)", "every other lead"),
# which took it to 81.7%; the third session's classes (depths before the lead, ages, beat numbers ending
# value lists, "depression" without "ST", asides, "4.06 mV together", "Both exceed ...") took it to 98.3%.
# It is scored on its own, apart from the 97% totals, with a floor that guards that figure (the one answer
# left calls 0.48 mV T waves "tall": docs/benchmarks.md).
EXTERNAL_C = HERE / "external_c.jsonl"
EXTERNAL_C_FLOOR = 0.98
# external_d.jsonl: 134 answers by a fourth author (12w) in seven styles (telegraphic notes, patient-friendly
# prose, numbers spelled out, criteria compared, key: value blocks, Claude-like hedges, <think> blocks). Scored
# once unseen: 40.3% of its true answers accepted (27 of 67), every wrong one rejected. Then read for general
# classes of phrasing (tests/test_validate_lay_phrasing.py); the floor guards the figure after those fixes.
# What is left rejected (64 of 67 accepted) is listed in docs/benchmarks.md: two answers give two timings with no
# names ("The basic timings are normal: 132 ms and 78 ms"), one cites no lead at all.
EXTERNAL_D = HERE / "external_d.jsonl"
EXTERNAL_D_FLOOR = 0.955
# external_e.jsonl: 144 answers by a fifth author (12we) in five styles (GPT-4.1 markdown, Gemini narrative, Llama-3
# terse notes, DeepSeek-R1 reasoning with <think> blocks, dictated cardiologist reports). Scored once unseen on main
# c1988f9: 65.3% of its true answers accepted (47 of 72), one invented finding accepted. Then read for general classes
# (layout joined instead of rejected; tests/test_validate_fifth_phrasing.py); the floor guards the figure after them
# (72 of 72 accepted, every wrong answer rejected).
EXTERNAL_E = HERE / "external_e.jsonl"
EXTERNAL_E_FLOOR = 0.97
# external_h.jsonl: 127 answers by an eighth author in eight styles (GPT-4o chat, Claude, Gemini headings, R1 <think>,
# o3-like dense notes, European reports with DI/DII/DIII, ED notes, Qwen-like sections), beats numbered from 0.
# Scored once unseen on main 117f05d: 43.1% of its true answers accepted (28 of 65), one wrong RR range end accepted.
# Then read for general classes (branch v13; tests/test_validate_eighth_phrasing.py): 59 of 65 after them.
EXTERNAL_H = HERE / "external_h.jsonl"
EXTERNAL_H_FLOOR = 0.90
# external_i.jsonl: 76 answers by a ninth author in seven styles (GPT-5-like chat, Claude Opus paragraphs, Llama 4
# steps, Mistral clinical English, R1-distill <think>, a medical student's systematic read, a fellow's report).
# Scored once unseen on main d373d39 (after v13): 61.5% (24 of 39), every wrong answer rejected. Then read for
# general classes (branch v14; tests/test_validate_ninth_phrasing.py): 36 of 39 after them.
EXTERNAL_I = HERE / "external_i.jsonl"
EXTERNAL_I_FLOOR = 0.92


@pytest.fixture(scope="module")
def outcomes():
    return run_validator(load_answers() + [a for p in DEV_SETS for a in load_answers(p)])


@pytest.fixture(scope="module")
def report(outcomes):
    fig = figures(outcomes)
    text = table(fig)
    parts = ["\nall answers (answers.jsonl + " + " + ".join(p.name for p in DEV_SETS) + ")\n" + text]
    for p in DEV_SETS:
        ids = {a.id for a in load_answers(p)}
        parts.append(f"\n{p.name} only\n" + table(figures([o for o in outcomes if o.answer.id in ids])))
    print("\n".join(parts))
    return fig, text


def test_corpus_is_large_varied_and_balanced():
    answers = load_answers()
    kinds = Counter(a.truth for a in answers)
    assert len(answers) >= 300
    assert len({a.record_id for a in answers}) >= 20
    assert 0.35 <= kinds["true"] / len(answers) <= 0.65
    for kind in ERROR_KINDS:
        assert kinds[kind] >= 15, kind
    assert set(kinds) == {"true", *ERROR_KINDS}
    assert Counter(a.style for a in answers)["handwritten"] >= 40
    assert len({a.text for a in answers}) == len(answers), "duplicate answer texts"
    for a in answers:
        assert a.record_id in snapshot_ids()
        assert (a.seeded_error is None) == (a.truth == "true")
        if a.seeded_error and a.truth != "missing_labelled_diagnosis":
            assert a.seeded_error["span"] and a.seeded_error["span"] in a.text, a.id


def test_external_corpus_is_a_second_balanced_source():
    answers = load_answers(EXTERNAL)
    kinds = Counter(a.truth for a in answers)
    assert len(answers) >= 120
    assert len({a.record_id for a in answers}) >= 20
    assert 0.35 <= kinds["true"] / len(answers) <= 0.65
    assert set(kinds) == {"true", *ERROR_KINDS}
    first = {a.text for a in load_answers()}
    for a in answers:
        assert a.id.startswith("ext-") and a.style in ("external-gpt4o", "external-r1"), a.id
        assert a.record_id in snapshot_ids(), a.id
        assert (a.seeded_error is None) == (a.truth == "true"), a.id
        assert a.text not in first, a.id
        if a.seeded_error and a.truth != "missing_labelled_diagnosis":
            assert a.seeded_error["span"] and a.seeded_error["span"] in a.text, a.id
    assert len({a.text for a in answers}) == len(answers), "duplicate answer texts"


def test_every_snapshot_rebuilds_a_context_with_its_measurements():
    for rid in snapshot_ids():
        ctx = load_context(rid)
        assert ctx.record_id == rid
        assert ctx.labels and ctx.rr_ms
        assert any(lf.usable for lf in ctx.leads.values())


def test_validation_never_raises_on_the_corpus(outcomes):
    crashed = [o for o in outcomes if o.crashed]
    assert not crashed, "\n".join(f"{o.answer.id}: {o.crashed}" for o in crashed[:5])


def test_the_last_held_out_set_keeps_its_measured_acceptance_and_rejects_every_wrong_answer():
    fig = figures(run_validator(load_answers(EXTERNAL_C)))
    print(f"\nexternal_c.jsonl only\n{table(fig)}")
    assert fig.acceptance >= EXTERNAL_C_FLOOR, table(fig)
    for kind in ERROR_KINDS:
        assert fig.rejection(kind) >= TARGET, f"{kind}\n{table(fig)}"


def test_the_fourth_authors_set_keeps_its_acceptance_and_rejects_every_wrong_answer():
    fig = figures(run_validator(load_answers(EXTERNAL_D)))
    print(f"\nexternal_d.jsonl only\n{table(fig)}")
    assert fig.acceptance >= EXTERNAL_D_FLOOR, table(fig)
    for kind in ERROR_KINDS:
        assert fig.rejection(kind) == 1.0, f"{kind}\n{table(fig)}"


def test_the_fifth_authors_set_keeps_its_acceptance_and_rejects_every_wrong_answer():
    fig = figures(run_validator(load_answers(EXTERNAL_E)))
    print(f"\nexternal_e.jsonl only\n{table(fig)}")
    assert fig.acceptance >= EXTERNAL_E_FLOOR, table(fig)
    for kind in ERROR_KINDS:
        assert fig.rejection(kind) == 1.0, f"{kind}\n{table(fig)}"


@pytest.mark.parametrize("path,floor", [(EXTERNAL_H, EXTERNAL_H_FLOOR), (EXTERNAL_I, EXTERNAL_I_FLOOR)],
                         ids=["eighth", "ninth"])
def test_the_eighth_and_ninth_authors_sets_keep_their_acceptance_and_reject_every_wrong_answer(path, floor):
    fig = figures(run_validator(load_answers(path)))
    print(f"\n{path.name} only\n{table(fig)}")
    assert fig.acceptance >= floor, table(fig)
    for kind in ERROR_KINDS:
        assert fig.rejection(kind) == 1.0, f"{kind}\n{table(fig)}"


def test_true_answers_are_accepted(report):
    fig, text = report
    assert fig.acceptance >= TRUE_ACCEPTANCE_FLOOR, text


@pytest.mark.parametrize("kind", ERROR_KINDS)
def test_wrong_answers_are_rejected_for_every_kind(report, kind):
    fig, text = report
    assert fig.rejection(kind) >= TARGET, f"{kind}: {fig.rejection(kind):.1%} rejected\n{text}"
