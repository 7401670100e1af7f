"""The diagnosis matcher: which labels a free text states, denies or hedges, on phrasings of the shared records' labels."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from schemas.vocab import Vocabulary
from tasks.validate.diagnoses import (DiagnosisMatcher, extract_labels, find_mentions, negated_labels,
                                      phrase_regex)

# (text, labels it states, labels it denies)
PHRASINGS = [
    # positives, by name, synonym and abbreviation
    ("Sinus rhythm.", {"SR"}, set()),
    ("Normal sinus rhythm at 72 bpm.", {"SR"}, set()),
    ("Sinus bradycardia with sinus arrhythmia.", {"SB", "SA"}, set()),
    ("Sinus tachycardia, rate 112 bpm.", {"STACH"}, set()),
    ("Atrial fibrillation with a controlled ventricular rate.", {"AF"}, set()),
    ("AF with RVR.", {"RAF"}, set()),
    ("A-fib is seen throughout the strip.", {"AF"}, set()),
    ("Atrial flutter with 2:1 conduction.", {"AFL"}, set()),
    ("1st degree AV block (PR 232 ms).", {"1AVB"}, set()),
    ("First-degree atrioventricular block.", {"1AVB"}, set()),
    ("Prolonged PR interval of 240 ms.", {"LPR"}, set()),
    ("Second degree AV block, Mobitz type II.", {"2AVB", "MOBITZ2"}, set()),
    ("Wenckebach phenomenon in the rhythm strip.", {"MOBITZ1"}, set()),
    ("Complete heart block with a junctional escape rhythm.", {"3AVB", "AVJR"}, set()),
    ("Right bundle branch block.", {"RBBB"}, set()),
    ("Complete right bundle-branch block with QRS 148 ms.", {"RBBB"}, set()),
    ("RBBB and LAFB (bifascicular block).", {"RBBB", "LAFB"}, set()),
    ("Left bundle branch block.", {"LBBB"}, set()),
    ("Left anterior hemiblock.", {"LAFB"}, set()),
    ("Nonspecific intraventricular conduction delay.", {"IVCD"}, set()),
    ("Left axis deviation (-45 degrees).", {"LAD"}, set()),
    ("Leftward axis.", {"LAD"}, set()),
    ("QRS axis +110 degrees: right axis deviation.", {"RAD"}, set()),
    ("Left ventricular hypertrophy with repolarization abnormality.", {"LVH"}, set()),
    ("Voltage criteria for LVH.", {"LVHV"}, set()),
    ("Right ventricular hypertrophy.", {"RVH"}, set()),
    ("Left atrial abnormality.", {"LAE"}, set()),
    ("P pulmonale in lead II.", {"RAE"}, set()),
    ("Premature ventricular contractions and PACs.", {"PVC", "PAC"}, set()),
    ("Frequent supraventricular premature beats.", {"PAC"}, set()),
    ("Ventricular bigeminy.", {"VBIG"}, set()),
    ("Low QRS voltages in the limb leads.", {"LQRSV"}, set()),
    ("Prolonged QT interval (QTc 498 ms).", {"LQT"}, set()),
    ("T wave inversion in V1-V3.", {"TINV"}, set()),
    ("Inverted T waves in the lateral leads.", {"TINV"}, set()),
    ("Nonspecific ST-T abnormality.", {"NSSTTA"}, set()),
    ("ST elevation in V2-V4 consistent with an acute anterior MI.", {"STE", "ANMI"}, set()),
    ("Inferior myocardial infarction, age undetermined.", {"IMI"}, set()),
    ("Old anteroseptal infarct.", {"ASMI"}, set()),
    ("Infero-lateral myocardial infarction.", {"ILMI"}, set()),
    ("Ischaemia in the inferior leads.", {"ISCIN"}, set()),
    ("Poor R wave progression.", {"PRWP"}, set()),
    ("Paced rhythm.", {"PACE"}, set()),
    ("WPW pattern with a short PR and delta waves.", {"WPW", "SPRI", "VPEX"}, set()),
    ("Normal ECG.", {"NORM"}, set()),
    # negations
    ("No evidence of atrial fibrillation.", set(), {"AF"}),
    ("Sinus rhythm without LBBB.", {"SR"}, {"LBBB"}),
    ("The tracing rules out acute myocardial infarction.", set(), {"ACUTEMI"}),
    ("Absence of ST elevation.", set(), {"STE"}),
    ("Findings are not consistent with left bundle branch block.", set(), {"LBBB"}),
    ("No AF, LBBB, RBBB or LVH.", set(), {"AF", "LBBB", "RBBB", "LVH"}),
    ("There is no significant ST depression, but T wave inversion in V1.", {"TINV"}, {"STD"}),
    ("Delta waves are absent.", set(), {"VPEX"}),
    ("Pathological Q waves are not seen.", set(), {"QAB"}),
    ("Does not meet criteria for left ventricular hypertrophy.", set(), {"LVH"}),
    ("No ST elevation, LVH is present.", {"LVH"}, {"STE"}),
    ("Negative for acute ischemia.", set(), {"AMIS"}),
    ("Not a normal ECG: left axis deviation.", {"LAD"}, {"NORM"}),
    ("AF: absent", set(), {"AF"}),
    ("Non-conducted PAC.", {"BPAC"}, set()),
    ("Irregular rhythm without discernible P waves, consistent with atrial fibrillation.", {"AF"}, set()),
    ("The QRS is narrow, arguing against bundle branch block.", set(), {"BBB"}),
    ("Atrial fibrillation is not present; rhythm is sinus.", set(), {"AF"}),
    ("AF and LBBB are absent.", set(), {"AF", "LBBB"}),
    ("There are no pathologic Q waves to suggest prior infarction.", set(), {"QAB", "OLDMI"}),
    ("Findings: LVH, ?LAE, no PVCs.", {"LVH", "LAE"}, {"PVC"}),
    ("No P waves - atrial flutter cannot be excluded.", {"AFL"}, set()),
    # hedges still state the label; pseudo-negations do not deny it
    ("Possible left atrial enlargement.", {"LAE"}, set()),
    ("Acute MI cannot be excluded.", {"ACUTEMI"}, set()),
    ("Cannot rule out inferior infarct.", {"IMI"}, set()),
    ("No significant change; sinus rhythm with PVCs.", {"SR", "PVC"}, set()),
    # nested phrases are not double counted
    ("Incomplete right bundle branch block.", {"IRBBB"}, set()),
    ("Incomplete RBBB.", {"IRBBB"}, set()),
    ("Incomplete left bundle branch block.", {"ILBBB"}, set()),
    ("Sinus bradycardia.", {"SB"}, set()),
    ("Atrial fibrillation with rapid ventricular response.", {"RAF"}, set()),
    ("Counterclockwise rotation.", {"CCR"}, set()),
    ("Non-specific ST depression.", {"STD"}, set()),
    ("Left anterior fascicular block.", {"LAFB"}, set()),
    ("Blocked premature atrial contraction.", {"BPAC"}, set()),
    ("Paired ventricular premature complexes.", {"VPVC"}, set()),
    # case and whole-word care for abbreviations
    ("the af was", set(), set()),
    ("Proximal LAD occlusion on angiography.", set(), set()),
    ("SA node pause.", set(), set()),
    ("LADs", {"LAD"}, set()),
    ("Sinus rhythm. Leaflet and safe.", {"SR"}, set()),
]


@pytest.mark.parametrize("text, stated, denied", PHRASINGS, ids=[p[0][:40] for p in PHRASINGS])
def test_phrasing_states_and_denies_the_expected_labels(text, stated, denied):
    assert {lab.code for lab in extract_labels(text)} == stated
    assert {lab.code for lab in negated_labels(text)} == denied


def test_the_phrasing_set_is_large_enough():
    assert len(PHRASINGS) >= 50


def test_mention_spans_point_at_the_offending_text():
    text = "Sinus rhythm. No evidence of atrial fibrillation; left axis deviation."
    mentions = find_mentions(text)
    assert [(m.label.code, m.negated) for m in mentions] == [("SR", False), ("AF", True), ("LAD", False)]
    for m in mentions:
        assert text[m.span[0]:m.span[1]] == m.text
    assert mentions[1].text == "atrial fibrillation" and mentions[1].cue == "No evidence of"


def test_hedged_mentions_are_flagged_and_can_be_left_out():
    mentions = find_mentions("Probable left ventricular hypertrophy. Sinus rhythm.")
    assert [(m.label.code, m.hedged) for m in mentions] == [("LVH", True), ("SR", False)]
    assert [lab.code for lab in extract_labels("Probable LVH. Sinus rhythm.", include_hedged=False)] == ["SR"]


def test_a_label_affirmed_anywhere_counts_as_stated():
    text = "No atrial fibrillation on arrival. Later strips show atrial fibrillation."
    assert [lab.code for lab in extract_labels(text)] == ["AF"]
    assert negated_labels(text) == []


def test_empty_text_has_no_mentions():
    assert find_mentions("") == [] and extract_labels("") == []


def test_every_challenge_diagnosis_name_is_recognised_as_its_own_label(cinc2021_dir):
    vocab = Vocabulary.load()
    failures = []
    for table in ("dx_mapping_scored.csv", "dx_mapping_unscored.csv"):
        with open(cinc2021_dir / table, newline="") as handle:
            for row in csv.DictReader(handle):
                expected = vocab.from_snomed(row["SNOMEDCTCode"])
                if expected not in extract_labels(row["Dx"]):
                    failures.append((row["Dx"], expected.code))
    assert failures == []


def test_every_ptbxl_statement_description_is_recognised_as_its_own_label(ptbxl_dir):
    vocab = Vocabulary.load()
    failures = []
    with open(ptbxl_dir / "scp_statements.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            expected = vocab.from_scp(row[""])
            if expected not in extract_labels(row["description"]):
                failures.append((row["description"], expected.code))
    assert failures == []


def test_ptb_header_comments_state_the_infarction_and_deny_a_former_one(wfdb_samples_dir):
    lines = [line[1:].strip() for line in (wfdb_samples_dir / "s0010_re.hea").read_text().splitlines()
             if line.startswith("#")]
    text = "\n".join(lines)
    stated = {lab.code for lab in extract_labels(text)}
    assert {"MI", "ACUTEMI"} <= stated
    assert "OLDMI" not in stated
    assert "OLDMI" in {lab.code for lab in negated_labels(text)}
    assert "DIG" not in stated  # "Digoxin" in the medication list is a drug, not an ECG finding


def test_abbreviations_match_case_sensitively_and_phrases_do_not():
    assert phrase_regex("AF") == ("AFs?", True)
    assert phrase_regex("atrial fibrillation")[1] is False
    assert [lab.code for lab in extract_labels("ATRIAL FIBRILLATION")] == ["AF"]
    assert extract_labels("af") == []


def test_two_labels_claiming_one_phrase_are_refused():
    vocab = Vocabulary.load()
    clash = vocab.get("LBBB").model_copy(update={"code": "XLBBB", "snomed": (), "scp": (), "synonyms": ("LBBB",)})
    with pytest.raises(ValueError, match="names both"):
        DiagnosisMatcher(Vocabulary([vocab.get("LBBB"), clash]))


_ALL_LABELS = Vocabulary.load().all()


@pytest.mark.parametrize("label", _ALL_LABELS, ids=[lab.code for lab in _ALL_LABELS])
def test_each_name_and_synonym_states_its_label_alone_in_context_and_under_negation(label):
    for phrase in (label.name, *label.synonyms):
        assert [lab.code for lab in extract_labels(phrase)] == [label.code], phrase
        assert label in extract_labels(f"Sinus rhythm with {phrase}; no other findings."), phrase
        assert extract_labels(f"No {phrase}.") == [], phrase
        assert [lab.code for lab in negated_labels(f"No {phrase}.")] == [label.code], phrase


def test_rate_classes_are_judged_on_the_dominant_rate_when_ectopic_beats_raise_the_ventricular_rate():
    """A bradycardic record with PACs: premature beats lift the ventricular rate to 71 bpm, the sinus rate is 55."""
    from tasks.validate.criteria import criterion_holds
    from tests.data.realistic_answers.corpus import load_context, snapshot_ids

    ctx = load_context(sorted(snapshot_ids())[0])
    with_pacs = ctx.model_copy(update={"features": ctx.features.model_copy(
        update={"hr_bpm": 71.0, "dominant_hr_bpm": 55.0})})
    assert criterion_holds("hr_lt_60", with_pacs) is True
    assert criterion_holds("hr_60_100", with_pacs) is False
    older = ctx.model_copy(update={"features": ctx.features.model_copy(
        update={"hr_bpm": 71.0, "dominant_hr_bpm": None})})  # features-2 rows have no dominant rate
    assert criterion_holds("hr_lt_60", older) is False
    assert criterion_holds("hr_60_100", older) is True
