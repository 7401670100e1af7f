"""Numbers written as words ("sixty-five beats per minute", "one hundred and four milliseconds"), read as the
number tokens they stand for, so that they are checked like digits.

A small number word without a unit stays a word: "one early beat", "two leads", "three PVCs" are counts and
articles far more often than measurements. A number word is read as a number when a unit follows it or when
it is 20 or more ("a rate of sixty-five").
"""
from __future__ import annotations

import re

_ONES = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen"
    " seventeen eighteen nineteen".split())}
_TENS = {w: 10 * (i + 2) for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split())}
_SCALES = {"hundred": 100, "thousand": 1000}
_UNIT_WORDS = {"ms", "msec", "msecs", "millisecond", "milliseconds", "s", "sec", "secs", "second", "seconds", "bpm",
               "mv", "millivolt", "millivolts", "mm", "millimeter", "millimeters", "millimetre", "millimetres",
               "degree", "degrees", "°", "percent", "%", "per", "small", "large", "min", "/"}

Raw = tuple[str, str, int, int]  # (kind, text, start, end) as the tokenizer found them


def _word(raw: list[Raw], i: int) -> str | None:
    return raw[i][1].lower() if i < len(raw) and raw[i][0] == "word" else None


def _read(raw: list[Raw], i: int) -> tuple[float, int] | None:
    """The value of the number words starting at i, and the index after them."""
    total, current, j, last, used = 0, 0, i, None, 0
    while j < len(raw):
        w = _word(raw, j)
        if w == "a" and j == i and _word(raw, j + 1) in _SCALES:
            current, last = 1, "ones"  # "a hundred and thirty": the article is the one of one hundred
        elif w in _ONES and _ONES[w] >= 10 and last == "ones" and used == i + 1 and 0 < current < 10:
            current, last = current * 100 + _ONES[w], "teen"  # "four sixteen": spoken hundreds with a teen
        elif w in _ONES and last in (None, "tens", "scale", "and") and not (last == "tens" and _ONES[w] >= 10):
            current, last = current + _ONES[w], "ones"
        elif w in _TENS and last in (None, "scale", "and"):
            current, last = current + _TENS[w], "tens"
        elif w in _TENS and last == "ones" and used == i + 1 and 0 < current < 10:
            current, last = current * 100 + _TENS[w], "tens"  # "three seventy-eight", "one-thirty": spoken hundreds
        elif w in _SCALES and last in ("ones", "tens") and not (w == "hundred" and current >= 100):
            if w == "thousand":
                total, current = total + current * 1000, 0
            else:
                current *= 100
            last = "scale"
        elif w == "and" and last == "scale" and (_word(raw, j + 1) in _ONES or _word(raw, j + 1) in _TENS):
            last = "and"
        elif raw[j][1] == "-" and last is not None and raw[j][2] == raw[j - 1][3] and (
                _word(raw, j + 1) in _ONES or _word(raw, j + 1) in _TENS or _word(raw, j + 1) in _SCALES):
            j += 1  # "sixty-five", "one-hundred-thirty": the hyphen joins, the next word is read as usual
            continue
        else:
            break
        j, used = j + 1, j + 1
    if used == i or last == "and":
        return None
    value = float(total + current)
    if _word(raw, used) == "point" and _word(raw, used + 1) in _ONES:  # "zero point one three seconds"
        digits, k = "", used + 1
        while _word(raw, k) in _ONES and _ONES[_word(raw, k)] < 10:
            digits, k = digits + str(_ONES[_word(raw, k)]), k + 1
        value, used = float(f"{int(value)}.{digits}"), k
    return value, used


def _unit_follows(raw: list[Raw], j: int) -> bool:
    w = raw[j][1].lower() if j < len(raw) else ""
    if w == "-" and j + 1 < len(raw):
        w = raw[j + 1][1].lower()  # "four-second"
    if w in ("beats", "beat", "cycles"):
        return j + 1 < len(raw) and raw[j + 1][1].lower() in ("per", "a", "/", "each")
    return w in _UNIT_WORDS


_ANY = re.compile(r"\b(?:" + "|".join(list(_ONES) + list(_TENS) + list(_SCALES)) + r")\b", re.I)


def number_words(raw: list[Raw], text: str) -> list[Raw]:
    """The tokens with every run of number words that reads as a measurement merged into one number token."""
    if not _ANY.search(text):
        return raw
    out, i = [], 0
    while i < len(raw):
        w = _word(raw, i)
        got = _read(raw, i) if w in _ONES or w in _TENS or (w == "a" and _word(raw, i + 1) in _SCALES) else None
        if got is not None and (got[0] >= 20 or _unit_follows(raw, got[1])):
            value, j = got
            text = str(int(value)) if value == int(value) else repr(value)
            out.append(("num", text, raw[i][2], raw[j - 1][3]))
            i = j
            continue
        out.append(raw[i])
        i += 1
    return out


_SIGN_WORDS = {"minus", "negative"}


def spoken_signs(raw: list[Raw]) -> list[Raw]:
    """'minus ninety-two', 'minus 30 degrees': the word is the number's sign, glued to it as '-' would be."""
    for i in range(len(raw) - 1):
        if raw[i][0] == "word" and raw[i][1].lower() in _SIGN_WORDS and raw[i + 1][0] == "num" \
                and not raw[i + 1][1].startswith(("-", "+")):
            raw[i] = ("punct", "-", raw[i][2], raw[i + 1][2])  # the sign's span runs up to the number
    return raw
