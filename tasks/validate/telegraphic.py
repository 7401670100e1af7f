"""A fellow's telegraphic note ("78M. NSR 73. PR 160 nl. SL 2.02. R I 0.77, S I 0.21. Tall Ts."): the
abbreviations that name a measurement, the age-sex tag, and lead I written bare between a wave and its value.

The abbreviations ("NSR", "SB", "SL", "Ts") are in the measurement table (tasks/validate/vocabulary.py), so
the number they own is checked against that measurement like any other.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tasks.validate.quantities import Quantity
    from tasks.validate.text import Token

_WAVE_LETTERS = {"P", "Q", "R", "S", "T", "r", "s", "q"}
_SEXES = {"M", "F", "m", "f"}

Raw = tuple[str, str, int, int]  # (kind, text, start, end) as the tokenizer found them


def bare_lead_one(raw: list[Raw]) -> list[Raw]:
    """'S I 0.21', 'R I 0.77': the word 'I' right between a wave letter and a number is lead I."""
    for i in range(1, len(raw) - 1):
        kind, tok, start, end = raw[i]
        if kind == "word" and tok == "I" and raw[i - 1][0] == "word" and raw[i - 1][1] in _WAVE_LETTERS \
                and raw[i + 1][0] == "num":
            raw[i] = ("lead", "I", start, end)
    return raw


def age_sex_tag(sent: "list[Token]", q: "Quantity") -> bool:
    """'78M.', '84 F,': a whole number with M or F after it that opens a sentence is the patient's age."""
    if q.start != 0 or q.unit is not None or len(q.values) != 1 or "." in q.text or q.end >= len(sent):
        return False
    tag = sent[q.end]
    if tag.text not in _SEXES or not 1 <= q.values[0] <= 110:
        return False
    return q.end + 1 >= len(sent) or sent[q.end + 1].text in (".", ",", ";", ":", ")")


# words that belong to no language: lead names, wave letters and the abbreviations of ECG reports. A terse
# note is mostly these, so its language shows in the words left (tasks/validate/parse.py).
LANGUAGE_NEUTRAL = frozenset(
    "i ii iii di dii diii d avr avl avf v p q r s t u j qs rs qr rsr pr pq qrs qt qtc qtcb qtcf rr st twi ste std nsr sr sb "
    "mi ami lvh rvh lae rae lad rad ivcd rbbb lbbb irbbb ilbbb lafb lpfb avb pac pacs pvc pvcs af afl svt "
    "vt bpm ms mv sl hr ecg ekg".split())
