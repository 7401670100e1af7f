"""The human evaluation kit: a self-contained, blinded HTML + CSV sheet, and filled CSVs read back to mean/SD."""
from __future__ import annotations

import base64
import csv
import re

import pytest
from PIL import Image

from tasks.evaluate.review import (CSV_COLUMNS, RATINGS, RatingError, build_cases, read_back, write_sheet)
from tasks.evaluate.spec import EvalItem, EvalRun
from tasks.evaluate.store import OUTPUTS_SCHEMA, append_part


@pytest.fixture()
def evaluated(tmp_path):
    """Two interpreters' outputs on three items with real PNG pages, as `gemflow evaluate` commits them."""
    items = []
    for i in range(3):
        rel = f"images/demo/r{i}.png"
        (tmp_path / "images" / "demo").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (40, 30), (255, 200 - 40 * i, 200)).save(tmp_path / rel)
        items.append(EvalItem(item_id=f"item{i}", record_id=f"r{i}", patient_id=f"p{i}", image=rel,
                              labels=["AF"], label_names=["atrial fibrillation"]))
    runs = [EvalRun(str(tmp_path), "v1", "test", name).ensure() for name in ("teacher-a", "teacher-b")]
    for run in runs:
        rows = [{"item_id": it.item_id, "record_id": it.record_id, "interpreter": run.interpreter, "status": "ok",
                 "text": f"Irregularly irregular rhythm <{run.interpreter}-secret> consistent with atrial fibrillation.",
                 "true_labels": ["AF"], "pred_labels": ["AF"]} for it in items]
        append_part(run.outputs_dir, rows, OUTPUTS_SCHEMA)
    return tmp_path, runs, items


def test_sheet_is_self_contained_blinded_and_has_seven_ratings_per_case(evaluated):
    root, runs, items = evaluated
    cases = build_cases(runs, items, n=2, seed=1)
    assert len(cases) == 4 and {c.interpreter for c in cases} == {"teacher-a", "teacher-b"}
    paths = write_sheet(cases, runs[0].split_dir / "review", "Review")
    page = paths["html"].read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 4 and base64.b64decode(images[0])[:8] == b"\x89PNG\r\n\x1a\n"
    assert not re.search(r'(src|href)="(?!data:)', page)  # nothing fetched from elsewhere
    for c in cases:
        for field in RATINGS:
            assert len(re.findall(f'name="{c.case_id}-{field}" value="[1-5]"', page)) == 5
    assert "atrial fibrillation" in page and "&lt;teacher-a-secret&gt;" in page  # text escaped
    assert "teacher-a" not in page.replace("&lt;teacher-a-secret&gt;", "")  # the source is not shown
    with open(paths["csv"], newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == CSV_COLUMNS and [r["case_id"] for r in rows] == [c.case_id for c in cases]


def fill(path, out, ratings_by_case, reviewer):
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        row["reviewer"] = reviewer
        for field, value in zip(RATINGS, ratings_by_case.get(row["case_id"], [""] * 7)):
            row[field] = value
    with open(out, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return out


def test_filled_sheets_read_back_into_hand_computed_mean_and_sd(evaluated, tmp_path):
    root, runs, items = evaluated
    cases = build_cases(runs, items, n=2, seed=1)
    paths = write_sheet(cases, runs[0].split_dir / "review", "Review")
    a = [c.case_id for c in cases if c.interpreter == "teacher-a"]
    b = [c.case_id for c in cases if c.interpreter == "teacher-b"]
    one = fill(paths["csv"], tmp_path / "one.csv", {a[0]: ["5"] * 7, a[1]: ["3"] * 7, b[0]: ["2"] * 7,
                                                     b[1]: ["4", "", "", "", "", "", ""]}, "dr-one")
    two = fill(paths["csv"], tmp_path / "two.csv", {a[0]: ["4"] * 7}, "dr-two")
    summary, folders = read_back([one, two], root / "evaluation")
    cell = {(s["interpreter"], s["criterion"]): s for s in summary}
    assert cell[("teacher-a", "relevance")]["n"] == 3
    assert cell[("teacher-a", "relevance")]["mean"] == pytest.approx(4.0)  # 5, 3, 4
    assert cell[("teacher-a", "relevance")]["sd"] == pytest.approx(1.0)
    assert cell[("teacher-b", "relevance")]["mean"] == pytest.approx(3.0)  # 2, 4
    assert cell[("teacher-b", "relevance")]["sd"] == pytest.approx(2 ** 0.5)
    assert cell[("teacher-b", "accuracy")] == {"interpreter": "teacher-b", "criterion": "accuracy", "n": 1,
                                               "mean": 2.0, "sd": None}
    assert folders == [paths["key"].parent] and "4.00 (1.00), n=3" in (folders[0] / "summary.md").read_text()


def test_a_rating_outside_1_to_5_is_refused_naming_file_line_and_column(evaluated, tmp_path):
    root, runs, items = evaluated
    cases = build_cases(runs, items, n=1, seed=0)
    paths = write_sheet(cases, runs[0].split_dir / "review", "Review")
    bad = fill(paths["csv"], tmp_path / "bad.csv", {cases[1].case_id: ["4", "6", "", "", "", "", ""]}, "dr")
    with pytest.raises(RatingError, match=r"bad\.csv:3: column accuracy: '6' is not a rating from 1 to 5"):
        read_back([bad], root / "evaluation")
