"""The label vocabulary: every code in the shared records resolves, and equivalent codes meet on one label."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from schemas.vocab import LABELS_CSV, MEASURES, Label, UnknownLabelError, Vocabulary, read_labels


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    return Vocabulary.load()


def _header_dx_codes(cinc2021_dir: Path) -> set[str]:
    codes: set[str] = set()
    for header in sorted(cinc2021_dir.glob("*.hea")):
        for line in header.read_text().splitlines():
            if line.startswith("# Dx:"):
                codes.update(c.strip() for c in line.split(":", 1)[1].split(",") if c.strip())
    return codes


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_every_dx_code_in_the_cinc2021_headers_resolves(vocab, cinc2021_dir):
    codes = _header_dx_codes(cinc2021_dir)
    assert len(codes) >= 15
    assert sorted(c for c in codes if vocab.from_snomed(c) is None) == []


@pytest.mark.parametrize("table", ["dx_mapping_scored.csv", "dx_mapping_unscored.csv"])
def test_every_snomed_code_in_the_challenge_tables_resolves(vocab, cinc2021_dir, table):
    rows = _rows(cinc2021_dir / table)
    assert len(rows) > 25
    missing = [(r["SNOMEDCTCode"], r["Dx"]) for r in rows if vocab.from_snomed(r["SNOMEDCTCode"]) is None]
    assert missing == []


def test_every_scp_statement_resolves_with_ptbxl_diagnostic_class(vocab, ptbxl_dir):
    rows = _rows(ptbxl_dir / "scp_statements.csv")
    assert len(rows) == 71
    assert [r[""] for r in rows if vocab.from_scp(r[""]) is None] == []
    wrong_class = [(r[""], vocab.from_scp(r[""]).diag_class, r["diagnostic_class"])
                   for r in rows if r["diagnostic"] == "1.0"
                   and vocab.from_scp(r[""]).diag_class != r["diagnostic_class"]]
    assert wrong_class == []


@pytest.mark.parametrize("snomed, scp, canonical", [
    ("164889003", "AFIB", "AF"), ("426783006", "SR", "SR"), ("270492004", "1AVB", "1AVB"),
    ("59118001", "CRBBB", "RBBB"), ("713427006", "CRBBB", "RBBB"), ("164909002", "CLBBB", "LBBB"),
    ("733534002", "CLBBB", "LBBB"), ("284470004", "PAC", "PAC"), ("63593006", "PAC", "PAC"),
    ("427172004", "PVC", "PVC"), ("17338001", "PVC", "PVC"), ("713426002", "IRBBB", "IRBBB"),
    ("426177001", "SBRAD", "SB"), ("427084000", "STACH", "STACH"), ("164890007", "AFLT", "AFL"),
    ("445118002", "LAFB", "LAFB"), ("111975006", "LNGQT", "LQT"), ("59931005", "INVT", "TINV"),
    ("67741000119109", "LAO/LAE", "LAE"), ("253352002", "LAO/LAE", "LAE"), ("27885002", "3AVB", "3AVB"),
])
def test_equivalent_snomed_and_scp_codes_land_on_one_canonical_label(vocab, snomed, scp, canonical):
    assert vocab.from_snomed(snomed).code == canonical
    assert vocab.from_scp(scp).code == canonical
    assert vocab.from_snomed(snomed) is vocab.get(canonical)


@pytest.mark.parametrize("snomed, canonical", [("39732003", "LAD"), ("47665007", "RAD"), ("426627000", "BRADY")])
def test_snomed_only_labels_resolve(vocab, snomed, canonical):
    assert vocab.from_snomed(snomed).code == canonical


def test_normalize_dedupes_keeps_order_and_returns_unknown_codes(vocab):
    labels, unknown = vocab.normalize(["59118001", "713427006", " 426783006 ", "999", "", "999"], "snomed")
    assert [lab.code for lab in labels] == ["RBBB", "SR"]
    assert unknown == ["999"]
    labels, unknown = vocab.normalize(["afib", "NORM", "XYZ"], "scp")
    assert [lab.code for lab in labels] == ["AF", "NORM"] and unknown == ["XYZ"]


def test_normalize_accepts_integer_and_float_formatted_snomed_codes(vocab):
    labels, unknown = vocab.normalize([164889003, "164889003.0"], "snomed")
    assert [lab.code for lab in labels] == ["AF"] and unknown == []


def test_normalize_rejects_an_unknown_system(vocab):
    with pytest.raises(ValueError, match="code system"):
        vocab.normalize(["AF"], "icd10")  # type: ignore[arg-type]


def test_get_raises_unknown_label_error_unless_a_default_is_given(vocab):
    assert vocab.get("AF").name == "atrial fibrillation"
    with pytest.raises(UnknownLabelError):
        vocab.get("AFIB")
    assert isinstance(UnknownLabelError("x"), KeyError)
    assert vocab.get("AFIB", None) is None


def test_no_canonical_id_is_another_labels_scp_code(vocab):
    clashes = [(scp, lab.code) for lab in vocab.all() for scp in lab.scp
               if scp in vocab and vocab.get(scp).code != lab.code]
    assert clashes == []


def test_every_label_has_a_short_criteria_sentence_and_a_known_measure(vocab):
    for label in vocab.all():
        assert label.criteria.endswith("."), label.code
        assert 15 <= len(label.criteria) <= 160, label.code
        assert label.measure is None or label.measure in MEASURES


@pytest.mark.parametrize("code, measure", [
    ("SB", "hr_lt_60"), ("STACH", "hr_gt_100"), ("1AVB", "pr_gt_200"), ("RBBB", "qrs_ge_120"),
    ("LBBB", "qrs_ge_120"), ("LAD", "axis_lt_-30"), ("RAD", "axis_gt_90"), ("AF", "rr_irregular_no_p"),
])
def test_rule_hints_of_core_labels(vocab, code, measure):
    assert vocab.get(code).measure == measure


def test_ancestors_follow_parents_nearest_first(vocab):
    assert [lab.code for lab in vocab.ancestors("MOBITZ2")] == ["2AVB", "AVB"]
    assert [lab.code for lab in vocab.ancestors("RAF")] == ["AF"]
    assert vocab.ancestors("SR") == []


def test_diag_classes_and_categories(vocab):
    assert vocab.get("NORM").category == "normal" and vocab.get("NORM").diag_class == "NORM"
    assert vocab.get("IMI").diag_class == "MI" and vocab.get("LVH").diag_class == "HYP"
    assert vocab.get("LAD").category == "axis" and vocab.get("LAD").diag_class is None
    assert {lab.code for lab in vocab.by_category("axis")} >= {"LAD", "RAD", "ICA"}


def test_labels_are_frozen(vocab):
    with pytest.raises(Exception):
        vocab.get("AF").name = "x"  # type: ignore[misc]


def test_load_is_cached():
    assert Vocabulary.load() is Vocabulary.load() is Vocabulary.load(LABELS_CSV)


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    fields = ["code", "name", "abbrev", "category", "diag_class", "parent", "snomed", "scp", "measure",
              "synonyms", "criteria"]
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({f: row.get(f, "") for f in fields})
    return path


def _row(**kw: str) -> dict[str, str]:
    base = {"code": "AF", "name": "atrial fibrillation", "abbrev": "AF", "category": "rhythm",
            "snomed": "164889003", "criteria": "Irregular RR without P waves."}
    return {**base, **kw}


def test_a_bad_row_names_its_line(tmp_path):
    path = _write(tmp_path / "labels.csv", [_row(), _row(code="X1", category="weird", snomed="")])
    with pytest.raises(ValueError, match=r"labels.csv:3"):
        read_labels(path)


def test_a_code_mapped_to_two_labels_is_refused(tmp_path):
    path = _write(tmp_path / "labels.csv", [_row(), _row(code="AF2", name="other")])
    with pytest.raises(ValueError, match="164889003 maps to both AF and AF2"):
        Vocabulary(read_labels(path))


def test_an_unknown_measure_is_refused():
    with pytest.raises(ValueError, match="measure"):
        Label.from_row({**{k: "" for k in ("diag_class", "parent", "scp", "synonyms")},
                        **_row(measure="hr_fast")})


def test_canonical_ids_are_short_capitals():
    with pytest.raises(ValueError, match="canonical id"):
        Label(code="af-1", name="x", abbrev="x", category="rhythm", criteria="x.")
