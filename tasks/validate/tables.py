"""Markdown tables in an answer: a table whose rows are leads and whose columns are measurements
('| Lead | ST (mV) | T (mV) |') is read cell by cell, each value with its column's measure and its row's lead."""
from __future__ import annotations

import re
from dataclasses import dataclass

from schemas.records import LEADS_12

_CANON = {x.lower(): x for x in LEADS_12}
_ROW = re.compile(r"^[ \t]*\|(.*)\|[ \t]*$", re.M)
_SEPARATOR = re.compile(r"^[\s|:\-]+$")
_UNIT = re.compile(r"\(([^()]{1,12})\)\s*$")


@dataclass(frozen=True)
class Cell:
    text: str  # the cell as written
    start: int  # its first character in the answer
    sentence: str  # the same value written as a sentence: "ST −0.06 mV in lead I"


def _cells(line: str, offset: int) -> list[tuple[str, int]]:
    out, pos = [], 0
    inner = line.strip()
    base = offset + line.index(inner) + 1
    for part in inner[1:-1].split("|"):
        text = part.strip()
        out.append((text, base + pos + (part.index(text) if text else 0)))
        pos += len(part) + 1
    return out


def _blocks(text: str) -> list[list[tuple[int, str]]]:
    """The answer's tables: runs of consecutive table lines, each line with its first character."""
    rows = [(m.start(), m.group(0)) for m in _ROW.finditer(text)]
    blocks, cur = [], []
    for start, line in rows:  # consecutive table lines form one table
        if cur and text[cur[-1][0] + len(cur[-1][1]):start].strip():
            blocks.append(cur)
            cur = []
        cur.append((start, line))
    if cur:
        blocks.append(cur)
    return blocks


# a column of normal ranges or criteria ('| Parameter | Value | Normal range |'): its cells assert nothing
_REFERENCE_HEADER = re.compile(r"^(?:normal\s+(?:range|values?|limits?)|reference(?:\s+range)?|ref\.?|"
                               r"criteri(?:on|a)|thresholds?|cut-?offs?|limits?|upper\s+limit|uln|expected)"
                               r"(?:\s*\([^()]*\))?$", re.I)


def reference_cells(text: str) -> list[tuple[int, int]]:
    """The character ranges of the cells under a 'Normal range' / 'Criterion' / 'Reference' column header."""
    out = []
    for block in _blocks(text):
        header = [c for c, _ in _cells(block[0][1], block[0][0])]
        cols = [k for k, name in enumerate(header) if _REFERENCE_HEADER.match(name.strip(" *_"))]
        for s, line in block[1:] if cols else ():
            row = _cells(line, s)
            out += [(row[k][1], row[k][1] + len(row[k][0])) for k in cols if k < len(row) and row[k][0]]
    return out


def lead_table_cells(text: str) -> tuple[list[Cell], list[tuple[int, int]]]:
    """The value cells of lead-by-measurement tables, and the character ranges of those tables' rows."""
    cells, covered = [], []
    for block in _blocks(text):
        header = [c for c, _ in _cells(block[0][1], block[0][0])]
        body = [(s, line) for s, line in block[1:] if not _SEPARATOR.match(line)]
        if len(header) < 2 or not body or not all(_cells(line, s)[0][0].lower() in _CANON for s, line in body):
            continue
        for s, line in body:
            covered.append((s, s + len(line)))
            row = _cells(line, s)
            lead = _CANON[row[0][0].lower()]
            for (value, at), name in zip(row[1:], header[1:]):
                unit = _UNIT.search(name)
                label = _UNIT.sub("", name).strip()
                if not value or not re.search(r"\d", value):
                    continue
                has_unit = bool(re.search(r"[a-zA-Z°%]", value))
                written = f"{label} {value}{'' if has_unit or not unit else ' ' + unit.group(1)} in lead {lead}"
                cells.append(Cell(value, at, written))
    return cells, covered
