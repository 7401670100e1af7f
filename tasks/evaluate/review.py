"""The human evaluation kit: a self-contained HTML review sheet and CSV for clinicians, and the read-back.

Each case shows the ECG page (inlined as base64 PNG), one interpretation, the reference labels and the
diagnoses the interpretation states, with seven 1-5 ratings. Cases of several interpreters are
shuffled together and shown without the interpreter's name; `key.csv` (kept apart from what the
clinicians receive) maps each case back. Filled CSVs read back into mean and SD tables per interpreter.
"""
from __future__ import annotations

import base64
import csv
import hashlib
import html
import io
import json
import random
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path

from schemas.vocab import Vocabulary
from storage.staging import stage_files
from tasks.evaluate import remote
from tasks.evaluate.spec import EVAL_DIR, EvalItem, EvalRun
from tasks.evaluate.store import OUTPUTS_SCHEMA, read_latest, write_text_atomic

RATINGS = ("relevance", "accuracy", "completeness", "reasoning_quality", "findings_novelty", "clinical_value",
           "overall_satisfaction")
CSV_COLUMNS = ("sheet_id", "case_id", "reviewer", *RATINGS, "comments")
KEY_COLUMNS = ("sheet_id", "case_id", "item_id", "record_id", "interpreter")


class RatingError(ValueError):
    """A filled sheet that cannot be read: the message names the file, the line and the column."""


@dataclass
class ReviewCase:
    case_id: str
    item_id: str
    record_id: str
    interpreter: str
    image: str  # absolute path of the rendered page
    text: str
    labels: list[str]
    stated: list[str]


def build_cases(runs: list[EvalRun], items: list[EvalItem], n: int | None = None, seed: int = 0) -> list[ReviewCase]:
    """The same `n` items (interpreted by every run) for each interpreter, shuffled together with `seed`."""
    outputs = {run.interpreter: read_latest(run.outputs_dir, OUTPUTS_SCHEMA) for run in runs}
    common = [i for i in items if all(out.get(i.item_id, {}).get("status") == "ok" for out in outputs.values())]
    if not common:
        raise ValueError("no item has a successful output from every interpreter; run `gemflow evaluate` first")
    rng = random.Random(seed)
    chosen = rng.sample(common, min(n, len(common))) if n else list(common)
    vocab = Vocabulary.load()
    pairs = [(item, run) for item in chosen for run in runs]
    rng.shuffle(pairs)
    cases = []
    for k, (item, run) in enumerate(pairs, start=1):
        row = outputs[run.interpreter][item.item_id]
        if not item.image or not (run.local / item.image).exists():
            raise FileNotFoundError(f"record {item.record_id}: rendered page {item.image} not found under {run.data_root}")
        stated = [getattr(vocab.get(c, default=None), "name", c) for c in row["pred_labels"] or []]
        cases.append(ReviewCase(f"C{k:03d}", item.item_id, item.record_id, run.interpreter,
                                str(run.local / item.image), row["text"] or "", list(item.label_names), stated))
    return cases


def sheet_id(cases: list[ReviewCase]) -> str:
    blob = "\n".join(f"{c.case_id}:{c.item_id}:{c.interpreter}" for c in cases)
    return "sheet-" + hashlib.sha256(blob.encode()).hexdigest()[:10]


def _csv_text(header: tuple[str, ...], rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(header), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


_STYLE = ("body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}section{border-top:2px solid #888;"
          "padding:1em 0}img{max-width:100%;border:1px solid #ccc}blockquote{background:#f6f6f6;padding:.8em;"
          "margin:.5em 0}table.r td{padding:2px 8px}textarea{width:100%;height:4em}")
_SCRIPT = """
function csvCell(v){v=String(v==null?'':v);return /[",\\n]/.test(v)?'"'+v.replace(/"/g,'""')+'"':v;}
function download(){
  const cols=%COLUMNS%, sid=%SHEET%, reviewer=document.getElementById('reviewer').value;
  const lines=[cols.join(',')];
  document.querySelectorAll('section[data-case]').forEach(function(sec){
    const c=sec.dataset.case, row={sheet_id:sid, case_id:c, reviewer:reviewer};
    %RATINGS%.forEach(function(f){const x=sec.querySelector('input[name="'+c+'-'+f+'"]:checked');row[f]=x?x.value:'';});
    row.comments=sec.querySelector('textarea').value;
    lines.push(cols.map(function(k){return csvCell(row[k]);}).join(','));
  });
  const a=document.createElement('a');
  a.href=URL.createObjectURL(new Blob([lines.join('\\n')+'\\n'],{type:'text/csv'}));
  a.download=sid+'-'+(reviewer||'reviewer')+'.csv'; a.click();
}"""


def _case_html(case: ReviewCase) -> str:
    data = base64.b64encode(Path(case.image).read_bytes()).decode()
    radios = "".join(
        f"<tr><td>{f.replace('_', ' ')}</td><td>" + " ".join(
            f'<label><input type="radio" name="{case.case_id}-{f}" value="{v}">{v}</label>' for v in range(1, 6))
        + "</td></tr>" for f in RATINGS)
    esc = html.escape
    return (f'<section data-case="{case.case_id}"><h2>Case {case.case_id}</h2>'
            f'<img alt="12-lead ECG of case {case.case_id}" src="data:image/png;base64,{data}">'
            f"<p><b>Reference labels:</b> {esc(', '.join(case.labels) or 'none')}<br>"
            f"<b>Diagnoses stated in the interpretation:</b> {esc(', '.join(case.stated) or 'none')}</p>"
            f"<blockquote>{esc(case.text)}</blockquote>"
            f'<table class="r">{radios}</table><p>Comments:<br><textarea></textarea></p></section>')


def html_page(cases: list[ReviewCase], sid: str, title: str) -> str:
    """One self-contained page: every image inlined, no external file or script."""
    script = (_SCRIPT.replace("%COLUMNS%", json.dumps(list(CSV_COLUMNS))).replace("%SHEET%", json.dumps(sid))
              .replace("%RATINGS%", json.dumps(list(RATINGS))))
    intro = ("<p>Rate each interpretation from 1 (poor) to 5 (excellent) on each criterion. Interpretations come"
             " from different sources, shown in random order without their source. When done, press"
             " <b>Download filled CSV</b> and return the file (or fill in the blank CSV instead).</p>")
    body = "".join(_case_html(c) for c in cases)
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style><script>{script}</script></head><body><h1>{html.escape(title)}</h1>"
            f"<p>Sheet <code>{sid}</code>, {len(cases)} cases.</p>{intro}"
            "<p>Reviewer: <input id='reviewer'></p>"
            f"{body}<p><button onclick='download()'>Download filled CSV</button></p></body></html>")


def write_sheet(cases: list[ReviewCase], folder: Path, title: str) -> dict[str, Path]:
    """review.html, a blank review.csv and key.csv in `folder/<sheet id>/`; returns their paths."""
    sid = sheet_id(cases)
    out = Path(folder) / sid
    paths = {"html": out / "review.html", "csv": out / "review.csv", "key": out / "key.csv"}
    write_text_atomic(paths["html"], html_page(cases, sid, title))
    blank = [{"sheet_id": sid, "case_id": c.case_id, "reviewer": "", **{f: "" for f in RATINGS}, "comments": ""}
             for c in cases]
    write_text_atomic(paths["csv"], _csv_text(CSV_COLUMNS, blank))
    key = [{"sheet_id": sid, **{k: asdict(c)[k] for k in ("case_id", "item_id", "record_id", "interpreter")}}
           for c in cases]
    write_text_atomic(paths["key"], _csv_text(KEY_COLUMNS, key))
    return paths


def read_key(path: Path) -> dict[tuple[str, str], dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return {(r["sheet_id"], r["case_id"]): r for r in csv.DictReader(fh)}


def _rating(value: str, where: str) -> int | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError as exc:
        raise RatingError(f"{where}: {value!r} is not a rating from 1 to 5") from exc
    if number != int(number) or not 1 <= number <= 5:
        raise RatingError(f"{where}: {value!r} is not a rating from 1 to 5")
    return int(number)


def read_ratings(paths: list[Path], key: dict[tuple[str, str], dict]) -> list[dict]:
    """Rows {interpreter, reviewer, case_id, <rating>: int | None} from filled CSVs; bad cells raise RatingError."""
    out = []
    for path in paths:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in ("sheet_id", "case_id", *RATINGS) if c not in (reader.fieldnames or [])]
            if missing:
                raise RatingError(f"{path}: missing column(s) {', '.join(missing)}")
            for line, row in enumerate(reader, start=2):
                case = key.get((row["sheet_id"], row["case_id"]))
                if case is None:
                    raise RatingError(f"{path}:{line}: case {row['case_id']} of {row['sheet_id']} is not in the key")
                ratings = {f: _rating(row[f], f"{path}:{line}: column {f}") for f in RATINGS}
                out.append({"sheet_id": row["sheet_id"], "interpreter": case["interpreter"],
                            "reviewer": row.get("reviewer") or "", "case_id": row["case_id"], **ratings})
    return out


def rating_summary(ratings: list[dict]) -> list[dict]:
    """Per interpreter and criterion: n rated, mean and sample SD (None below 2 ratings)."""
    out = []
    for interpreter in sorted({r["interpreter"] for r in ratings}):
        rows = [r for r in ratings if r["interpreter"] == interpreter]
        for f in RATINGS:
            values = [r[f] for r in rows if r[f] is not None]
            out.append({"interpreter": interpreter, "criterion": f, "n": len(values),
                        "mean": statistics.fmean(values) if values else None,
                        "sd": statistics.stdev(values) if len(values) >= 2 else None})
    return out


def summary_markdown(summary: list[dict]) -> str:
    """Criteria as rows, interpreters as columns: `mean (SD), n`."""
    interpreters = sorted({s["interpreter"] for s in summary})
    cell = {(s["interpreter"], s["criterion"]): s for s in summary}

    def show(s: dict) -> str:
        mean = "n/a" if s["mean"] is None else f"{s['mean']:.2f}"
        sd = "n/a" if s["sd"] is None else f"{s['sd']:.2f}"
        return f"{mean} ({sd}), n={s['n']}"

    lines = ["| criterion | " + " | ".join(interpreters) + " |", "|---|" + "---|" * len(interpreters)]
    for f in RATINGS:
        lines.append(f"| {f.replace('_', ' ')} | " + " | ".join(show(cell[(i, f)]) for i in interpreters) + " |")
    return "\n".join(lines)


def _sheet_ids(paths: list[Path]) -> set[str]:
    ids: set[str] = set()
    for path in paths:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            ids |= {row.get("sheet_id") or "" for row in csv.DictReader(fh)}
    return ids


def read_back(paths: list[Path], eval_root: Path) -> tuple[list[dict], list[Path]]:
    """Read filled sheets against their keys (found under `eval_root`), write each sheet's summary.md/json.

    Returns the summary over all the files and the sheet folders updated.
    """
    key: dict[tuple[str, str], dict] = {}
    folders: dict[str, Path] = {}
    for sid in sorted(_sheet_ids(paths)):
        found = sorted(Path(eval_root).glob(f"*/*/review/{sid}/key.csv"))
        if not found:
            raise RatingError(f"sheet {sid!r} has no key.csv under {eval_root} (was it written by this dataset root?)")
        key.update(read_key(found[0]))
        folders[sid] = found[0].parent
    ratings = read_ratings(paths, key)
    for sid, folder in folders.items():
        summary = rating_summary([r for r in ratings if r["sheet_id"] == sid])
        write_text_atomic(folder / "summary.json", json.dumps(summary, indent=1))
        write_text_atomic(folder / "summary.md", summary_markdown(summary) + "\n")
    return rating_summary(ratings), list(folders.values())


def make_sheet(data_root: str | Path, split: str, interpreters: list[str], version: str | None = None,
               n: int | None = 20, seed: int = 0) -> dict[str, Path]:
    """Write a review sheet for interpreters already evaluated on a split; returns html, csv and key paths."""
    from storage.layout import DataRoot
    from storage.exports import resolve_export
    from tasks.evaluate.spec import load_items

    root = DataRoot.open(data_root)
    version = resolve_export(root, version)
    runs = [EvalRun(root.location if root.is_remote else str(root.root), version, split, name) for name in interpreters]
    remote.pull(runs[0], with_ledgers=False)  # an s3:// root: the outputs, from the store
    for run in runs:
        if not run.outputs_dir.exists():
            raise FileNotFoundError(f"interpreter {run.interpreter!r} has no outputs on {version}/{split};"
                                    f" run `gemflow evaluate --split {split}` for it first")
    items = load_items(root, version, split)
    if root.is_remote:  # the sheet inlines the pages: staged from the store
        stage_files(root, [i.image for i in items])
    cases = build_cases(runs, items, n, seed)
    paths = write_sheet(cases, runs[0].split_dir / "review", f"ECG interpretation review ({version} / {split})")
    remote.push(runs[0], [paths["html"].parent])
    return paths


def read_back_at(data_root: str | Path, paths: list[Path]) -> tuple[list[dict], list[Path]]:
    """`read_back` against a dataset root (local or s3://), then each updated split's report rewritten."""
    from storage.staging import local_folder
    from tasks.evaluate.report import write_split_report

    location = str(data_root) if str(data_root).startswith("s3://") else str(local_folder(data_root))
    probe = EvalRun(location, "", "", "")
    remote.pull(probe, with_ledgers=False)
    summary, folders = read_back(paths, probe.local / EVAL_DIR)
    for folder in folders:
        split_dir = folder.parents[1]
        write_split_report(split_dir)
        run = EvalRun(location, split_dir.parent.name, split_dir.name, "")
        remote.push_summaries(run, [folder])
    return summary, folders
