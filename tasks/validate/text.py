"""Tokens, sentences and clause boundaries of an answer: the ground the claim extractor stands on."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from tasks.validate.numwords import number_words, spoken_signs
from tasks.validate.telegraphic import bare_lead_one

# Order matters: leads before words (V1 is a lead, not a word), numbers before punctuation.
_TOKEN_RE = re.compile(
    # a lead, also right after the wave it names ("SV1 + RV5", "RaVL"): the wave letter is a word of its own
    # the European limb-lead names DI, DII, DIII (also D1-D3) are leads I, II, III (case matters: "d2" is not)
    r"(?P<lead>(?:(?<![\w])|(?<=\b[PQRST]))(?:[aA][vV][rRlLfF]|V\d{1,2}R?|D(?:III|II|I|[123]))(?![\w]))"
    r"|(?P<wave>\b[PQRST](?=(?:aV[RLF]|V\d{1,2})(?![\w])))"
    r"|(?P<ord>(?<![\w.])\d+(?:st|nd|rd|th)(?![A-Za-z]))"
    # a decimal comma right before a unit ("2,0 mV", "0,12 s": European writing) is a decimal point
    r"|(?P<num>(?<![\w.,])(?:\d{1,2},\d{1,2}(?=\s?(?:mV|mv|ms|s|sec|mm)\b)|\d{1,3}(?:,\d{3})+(?![\d.])|"
    r"\d+(?:\.\d+)?|\.\d+)(?![\d]))"
    r"|(?P<word>[^\W\d_](?:[\w']*[\w])?)"
    r"|(?P<glued>\d+[^\W\d_][\w']*)"
    r"|(?P<punct>\S)"
)
_NO_BREAK_BEFORE_DOT = {"e", "g", "i", "vs", "approx", "ca", "cf", "dr", "resp", "etc", "incl", "fig", "no", "b", "p", "m"}
_SENTENCE_PUNCT = {".", "!", "?", ";", "\n"}
# tokens that open a new clause: attribution prefers not to cross them
CLAUSE_WORDS = {"and", "but", "while", "whereas", "which", "although", "though", "yet", "with", "where",
                "whilst", "however", "so", "because", "since", "then", "both", "also"}
CLAUSE_PUNCT = {",", "(", ")", "[", "]", "—", "–", ";", "•", "·"}


@dataclass(frozen=True)
class Token:
    kind: str  # lead, ord, num, word, glued, punct, nl
    text: str
    start: int
    end: int
    sentence: int = 0
    low: str = field(default="", compare=False)  # the text in lower case (filled in once: read very often)

    def __post_init__(self) -> None:
        if not self.low:
            object.__setattr__(self, "low", self.text.lower())


_SIGN_WORD = re.compile(r"\b(?:minus|negative)\b", re.I)


def number_value(text: str) -> float:
    """The value of a number token: thousands commas dropped ("1,240"), a decimal comma read ("2,0")."""
    head, _, tail = text.partition(",")
    return float(f"{head}.{tail}") if tail and len(tail) <= 2 and "," not in tail else float(text.replace(",", ""))


def tokenize(text: str) -> list[Token]:
    """Tokens with character spans and the index of the sentence each belongs to."""
    raw = []
    for m in _TOKEN_RE.finditer(text):
        kind = m.lastgroup or "punct"
        if kind == "wave":
            kind = "word"
        if kind == "word" and "_" in m.group(0):  # "heart_rate_bpm": a JSON key's words
            raw += _split_key(m.group(0), m.start())
            continue
        raw.append((kind, m.group(0), m.start(), m.end()))
    raw = number_words(raw, text)
    if _SHORTHAND.search(text):
        raw = _lead_shorthand(raw)
    if _SIGN_WORD.search(text):
        raw = spoken_signs(raw)
    raw = bare_lead_one(raw)
    # newlines end sentences too
    out: list[Token] = []
    sentence = 0
    last_end, depth = 0, 0
    for i, (kind, tok, start, end) in enumerate(raw):
        if "\n" in text[last_end:start] and out:
            sentence, depth = sentence + 1, 0
        out.append(Token(kind, tok, start, end, sentence, tok.lower()))
        last_end = end
        depth = max(0, depth + (tok in "([") - (tok in ")]")) if kind == "punct" else depth
        if kind == "punct" and tok in _SENTENCE_PUNCT and _ends_sentence(raw, i) and not (tok == ";" and depth):
            sentence, depth = sentence + 1, 0  # a ';' inside brackets separates list items, not sentences
    return out


_SHORTHAND = re.compile(r"V\d[-–]\d")


def _lead_shorthand(raw: list[tuple[str, str, int, int]]) -> list[tuple[str, str, int, int]]:
    """'V1-3', 'V4–6': the number after a dash glued to a chest lead is the range's last lead."""
    for i in range(2, len(raw)):
        kind, tok, start, end = raw[i]
        lead, dash = raw[i - 2], raw[i - 1]
        if kind == "num" and tok.isdigit() and lead[0] == "lead" and lead[1][:1] in "Vv" and lead[1][1:].isdigit() \
                and dash[1] in ("-", "–") and lead[3] == dash[2] and dash[3] == start and \
                int(lead[1][1:]) < int(tok) <= 9 and not (i + 1 < len(raw) and raw[i + 1][2] == end):
            raw[i] = ("lead", "V" + tok, start, end)
    return raw


def _split_key(word: str, start: int) -> list[tuple[str, str, int, int]]:
    out, pos = [], start
    for part in word.split("_"):
        if part:
            out.append(("glued" if part[0].isdigit() else "word", part, pos, pos + len(part)))
        pos += len(part) + 1
    return out


def _ends_sentence(raw: list, i: int) -> bool:
    if raw[i][1] == "?":  # "QT? 414 ms": a question label answered by the number after it
        nxt = raw[i + 1:i + 3]
        return not (nxt and (nxt[0][0] == "num" or (nxt[0][1] in "+-−–" and len(nxt) > 1 and nxt[1][0] == "num")))
    if raw[i][1] != ".":
        return True
    prev = raw[i - 1] if i else None
    if prev is not None and prev[0] == "word" and prev[1].lower() in _NO_BREAK_BEFORE_DOT and len(prev[1]) <= 6:
        nxt = raw[i + 1] if i + 1 < len(raw) else None
        return nxt is not None and nxt[1][:1].isupper() and prev[1].lower() not in {"e", "i", "vs", "approx", "ca", "cf"}
    return True


@lru_cache(maxsize=64)
def sentences_of(text: str) -> tuple[tuple[Token, ...], ...]:
    """The sentences of a text as token tuples (cached: several rules read the same answer)."""
    return tuple(tuple(s) for s in sentences(tokenize(text)))


def sentences(tokens: list[Token]) -> list[list[Token]]:
    """Tokens grouped by sentence, in order."""
    out: list[list[Token]] = []
    for t in tokens:
        while len(out) <= t.sentence:
            out.append([])
        out[t.sentence].append(t)
    return [s for s in out if s]


def is_boundary(tok: Token) -> bool:
    """Does this token open a new clause (a comma, a parenthesis, a conjunction)?"""
    return (tok.kind == "punct" and tok.text in CLAUSE_PUNCT) or (tok.kind == "word" and tok.low in CLAUSE_WORDS)


def boundaries_between(sent: list[Token], i: int, j: int, skip: frozenset[int] = frozenset()) -> int:
    """Number of clause boundaries strictly between positions i and j of a sentence (`skip`: inside lead lists)."""
    lo, hi = (i, j) if i < j else (j, i)
    return sum(1 for k in range(lo + 1, hi) if k not in skip and is_boundary(sent[k]))


def paren_depth(sent: list[Token]) -> list[int]:
    """Parenthesis nesting depth at each token of a sentence (the brackets themselves at the outer depth)."""
    depth, out = 0, []
    for t in sent:
        if t.text in ")]":
            depth = max(0, depth - 1)
        out.append(depth)
        if t.text in "([":
            depth += 1
    return out
