"""Find the diagnoses a free text states (negation-, hedge- and synonym-aware) in the project's vocabulary.

`find_mentions` returns every label mention with its span and whether it is negated ("no evidence
of atrial fibrillation") or hedged ("possible LVH"); `extract_labels` keeps the labels the text
states. Matching is leftmost-longest over the names and synonyms in schemas/data/labels.csv, so
"incomplete right bundle branch block" never also yields RBBB. See docs/labels.md.
"""
from __future__ import annotations

import bisect
import re
from functools import lru_cache

from pydantic import BaseModel, ConfigDict

from schemas.vocab import Label, Vocabulary

# Word prefixes that may be written joined, hyphenated or spaced ("non-specific", "nonspecific").
_PREFIXES = ("antero", "infero", "postero", "counter", "sino", "non", "pre", "re")
# British/American spelling pairs, applied to the regex of a token.
_SPELLINGS = (("ischemi", "isch(?:a)?emi"), ("kalemi", "kal(?:a)?emi"), ("calcemi", "calc(?:a)?emi"),
              ("zation", "[sz]ation"))
_JOIN = r"[\s\-\u2013]+"
_JOIN_AFTER_PREFIX = r"[\s\-\u2013]?"

# An abbreviation followed or preceded by these words names an anatomical structure, not a finding
# ("LAD artery", "proximal LAD", "SA node").
_ANATOMY_AFTER = {"artery", "arteries", "territory", "lesion", "occlusion", "stenosis", "node", "vessel"}
_ANATOMY_BEFORE = {"proximal", "mid", "distal", "ostial"}

_NEG_PRE = (r"not\s+consistent\s+with|inconsistent\s+with|not\s+compatible\s+with|incompatible\s+with|"
            r"not\s+associated\s+with|no\s+evidence\s+(?:of|for)|without|absence\s+of|absent|negative\s+for|"
            r"free\s+of|rules?\s+out|ruled\s+out|excludes|lack\s+of|lacks|lacking|no\s+longer|neither|nor|"
            r"argu(?:es|ing|e)\s+against|against|resolution\s+of|thresholds?\s+for|cut-?offs?\s+for|"
            r"rather\s+than|would\s+(?:suggest|indicate|mean|define|signal|point\s+to)|"
            r"(?:would\s+not|wouldn[\'’]t|do\s+not|don[\'’]t)\s+call\s+(?:this|it|that)(?:\s+an?)?|"
            r"than\s+(?:an?\s+)?(?:sign|signs|evidence|marker)\s+of|nothing\s+(?:here\s+)?(?:points|suggests)\s+to|"
            r"(?:is|are|was|were|does|do|did)n[\'’]t|never|unlikely|no|not")
_PSEUDO = (r"can(?:not|'t|\s+not)\s+(?:be\s+)?(?:rule[sd]?\s+out|excluded?)|"
           r"could\s+not\s+(?:be\s+)?(?:rule[sd]?\s+out|excluded?)|not\s+(?:be\s+)?(?:ruled\s+out|excluded)|"
           r"no\s+(?:significant\s+|interval\s+)?change|no\s+(?:prior|previous)|not\s+only|not\s+necessarily")
_HEDGE = (r"possible|possibly|probable|probably|likely|suspected|suspect|suspicious\s+(?:of|for)|"
          r"suggestive\s+of|suggests?|consider(?:ed)?|borderline|questionable|equivocal|"
          r"may\s+(?:represent|be|indicate)|might\s+be|could\s+(?:represent|be)|versus|vs")
_HEDGE_POST = (r"possible|probable|likely|suspected|questionable|equivocal|cannot\s+be\s+(?:excluded|ruled\s+out)|"
               r"(?:should|must|could|may|might)\s+be\s+considered|to\s+be\s+considered|"
               r"not\s+(?:be\s+)?(?:excluded|ruled\s+out)")
_NEG_POST = (r"absent|not\s+(?:present|seen|identified|observed|evident|noted|detected|found|visible|apparent)|"
             r"(?:(?:are|is)\s+not|aren't|isn't|not)\s+(?:met|fulfilled|satisfied|reached)|unmet|"
             r"ruled\s+out|excluded|unlikely|resolved|no\s+longer\s+(?:present|seen)")
_AFFIRM_POST = r"present|seen|noted|observed|evident|identified"

_PRE_RE = re.compile(rf"\b(?:(?P<pseudo>{_PSEUDO})|(?P<neg>{_NEG_PRE}))\b", re.I)
_HEDGE_RE = re.compile(rf"\b(?:{_PSEUDO}|{_HEDGE})\b", re.I)
_POST_RE = re.compile(rf"\b(?:(?P<hedge>{_HEDGE_POST})|(?P<neg>{_NEG_POST})|(?P<affirm>{_AFFIRM_POST}))\b", re.I)
_CLAUSE_END = re.compile(r"[;!?\n:\u2014]|\.(?=\s|$)|\s[\-\u2013]\s")
# Words after which a negation no longer reaches: contrast, a new subject, or an affirming link
# ("without P waves, consistent with atrial fibrillation"). Cues such as "not consistent with" are
# matched whole, so their own "with" never breaks their scope.
_SCOPE_BREAK = re.compile(r"\)|\b(?:but|however|although|though|except|yet|whereas|while|which|so|therefore|thus|"
                          r"hence|apart\s+from|"
                          r"aside\s+from|otherwise|with|in\s+keeping\s+with|suggest(?:s|ing|ive\s+of)|"
                          r"indicat(?:es|ing|ive\s+of)|typical\s+of|diagnostic\s+of|show(?:s|ing)|"
                          r"demonstrat(?:es|ing)|represent(?:s|ing)|points?\s+to(?:wards?)?|pointing\s+to(?:wards?)?|"
                          r"in\s+favou?r\s+of|favou?r(?:s|ing)|support(?:s|ing))\b", re.I)
_ASIDE = re.compile(r"\([^()]{0,80}\)")
_ATTACHED_NON = re.compile(r"\bnon[\s\-]?$", re.I)
_NEG_VALUES = {"no", "none", "n/a", "na", "absent", "negative", "nil", "not present", "-"}
_FILLER = {"and", "or", "nor", "either", "neither", "any", "the", "a", "an", "of", "is", "are", "was",
           "were", "be", "been", "to", "for", "in", "on", "this", "these", "there", "has", "have", "also"}
_WORD = re.compile(r"[\w'°/]+")
PRE_WINDOW, POST_WINDOW, HEDGE_WINDOW = 5, 1, 4


class Mention(BaseModel):
    """One place a text names a label: the span, and whether it is negated or hedged there."""

    model_config = ConfigDict(frozen=True)

    label: Label
    span: tuple[int, int]
    text: str
    negated: bool = False
    hedged: bool = False
    cue: str | None = None


def _token_regex(token: str) -> str:
    """Regex of one lower-case phrase token: joined prefixes, spelling variants, optional plural."""
    parts, rest = [], token
    while True:
        prefix = next((p for p in _PREFIXES if rest.startswith(p) and len(rest) > len(p) + 2), None)
        if prefix is None:
            break
        parts.append(re.escape(prefix) + _JOIN_AFTER_PREFIX)
        rest = rest[len(prefix):]
    body = re.escape(rest)
    for plain, variant in _SPELLINGS:
        body = body.replace(plain, variant)
    if rest.isalpha() and len(rest) >= 3:
        body = body[:-1] + "(?:y|ies)" if rest.endswith("y") else body + ("" if rest.endswith("s") else "(?:e?s)?")
    return "".join(parts) + body


def phrase_regex(phrase: str) -> tuple[str, bool]:
    """Regex of a name or synonym, and whether it is matched case-sensitively.

    A one-word synonym written with capitals is an abbreviation ("AF", "LAD", "1AVB") and matches
    only with that exact case (a plural "s" allowed); everything else matches case-insensitively,
    with hyphens, en dashes and spaces interchangeable between words.
    """
    tokens = [t for t in re.split(r"[\s\-\u2013]+", phrase.strip()) if t]
    if len(tokens) == 1 and tokens[0] != tokens[0].lower():
        return re.escape(tokens[0]) + "s?", True
    out = []
    for i, token in enumerate(tokens):
        token = token.lower()
        if i:
            out.append(_JOIN_AFTER_PREFIX if tokens[i - 1].lower() in _PREFIXES else _JOIN)
        out.append(re.escape(token) if token in _PREFIXES else _token_regex(token))
    return "".join(out), False


class DiagnosisMatcher:
    """A compiled matcher over one vocabulary's names and synonyms."""

    def __init__(self, vocab: Vocabulary):
        entries: dict[str, tuple[Label, bool]] = {}
        length: dict[str, int] = {}
        for label in vocab.all():
            for phrase in (label.name, *label.synonyms):
                body, exact = phrase_regex(phrase)
                if body in entries and entries[body][0].code != label.code:
                    raise ValueError(f"phrase {phrase!r} names both {entries[body][0].code} and {label.code}")
                entries.setdefault(body, (label, exact))
                length[body] = max(length.get(body, 0), len(" ".join(phrase.split())))
        # Longest phrase first, so the alternation finds the longest match at each position.
        ordered = sorted(entries.items(), key=lambda item: (-length[item[0]], -len(item[0])))
        self._labels = [label for _, (label, _) in ordered]
        self._exact = [exact for _, (_, exact) in ordered]
        self._pattern = _compile(ordered)
        self._by_char = _compile_by_char(ordered)
        self._cache: dict[str, tuple[Mention, ...]] = {}
        self._judged: dict[str, tuple[Mention, ...]] = {}

    def raw_mentions(self, text: str) -> list[Mention]:
        """Leftmost-longest, non-overlapping label mentions, before negation is judged (cached per text)."""
        cached = self._cache.get(text)
        if cached is not None:
            return list(cached)
        found, pos = [], 0
        for start in _WORD_START.finditer(text):
            at = start.start()
            if at < pos:
                continue
            pattern = self._by_char.get(text[at].lower())
            match = pattern.match(text, at) if pattern is not None else None
            if match is None:
                continue
            index = int(match.lastgroup[1:])
            pos = match.end()
            if self._exact[index] and _names_anatomy(text, match.start(), match.end()):
                continue
            found.append(Mention(label=self._labels[index], span=match.span(), text=match.group()))
        if len(self._cache) > 256:
            self._cache.clear()
        self._cache[text] = tuple(found)
        return found

    def find_mentions(self, text: str) -> list[Mention]:
        """Every label mention in the text, each judged negated and/or hedged in its clause (cached per text)."""
        cached = self._judged.get(text)
        if cached is not None:
            return list(cached)
        raw = self.raw_mentions(text)
        spans = [m.span for m in raw]
        breaks = [m.span() for m in _CLAUSE_END.finditer(text)]
        found = [_judge(text, m, spans, breaks) for m in raw]
        if len(self._judged) > 256:
            self._judged.clear()
        self._judged[text] = tuple(found)  # the findings and the denied-labels checks both read the answer
        return found


def _compile(ordered: list[tuple[str, tuple[Label, bool]]]) -> re.Pattern[str]:
    """One alternation of every phrase, longest first, dispatched on its first character for speed."""
    groups: dict[str, list[str]] = {}
    for i, (body, (_, exact)) in enumerate(ordered):
        first = body[1] if body.startswith("\\") else body[0]
        groups.setdefault(first.lower(), []).append(f"(?P<p{i}>{body})" if exact else f"(?P<p{i}>(?i:{body}))")
    branches = [f"(?=[{re.escape(ch)}{re.escape(ch.upper())}])(?:{'|'.join(alts)})" for ch, alts in groups.items()]
    return re.compile(r"(?<!\w)(?:" + "|".join(branches) + r")(?!\w)")


_WORD_START = re.compile(r"(?<!\w)\w")


def _compile_by_char(ordered: list[tuple[str, tuple[Label, bool]]]) -> dict[str, re.Pattern[str]]:
    """One anchored alternation per first character, tried only at word starts (same longest-first order)."""
    groups: dict[str, list[str]] = {}
    for i, (body, (_, exact)) in enumerate(ordered):
        first = body[1] if body.startswith("\\") else body[0]
        groups.setdefault(first.lower(), []).append(f"(?P<p{i}>{body})" if exact else f"(?P<p{i}>(?i:{body}))")
    return {ch: re.compile("(?:" + "|".join(alts) + r")(?!\w)") for ch, alts in groups.items()}


def _names_anatomy(text: str, start: int, end: int) -> bool:
    after = _WORD.findall(text[end:end + 20])
    before = _WORD.findall(text[max(0, start - 20):start])
    return bool(after and after[0].lower() in _ANATOMY_AFTER) or bool(before and before[-1].lower() in _ANATOMY_BEFORE)


def _clause(breaks: list[tuple[int, int]], start: int, end: int, size: int) -> tuple[int, int]:
    """Bounds of the clause around a span, from the text's sorted clause breaks (punctuation, line ends)."""
    i = bisect.bisect_left(breaks, (start, -1))
    begin = breaks[i - 1][1] if i else 0
    j = bisect.bisect_left(breaks, (end, -1))
    stop = breaks[j][0] if j < len(breaks) else size
    return begin, stop


def _content_words(text: str, lo: int, hi: int, spans: list[tuple[int, int]]) -> tuple[int, int]:
    """(content words, other mentions) between lo and hi, ignoring list words and mention spans."""
    chars = list(text[lo:hi])
    inside = 0
    for s, e in spans:
        if s >= lo and e <= hi:
            inside += 1
            chars[s - lo:e - lo] = " " * (e - s)
    words = [w for w in _WORD.findall("".join(chars)) if w.lower() not in _FILLER]
    return len(words), inside


def _pre_cue(text: str, mention: Mention, begin: int, spans: list[tuple[int, int]]):
    """The nearest negation cue before a mention in its clause, if it reaches the mention."""
    start = mention.span[0]
    cues = [c for c in _PRE_RE.finditer(text, begin, start)
            if not any(s < c.end() and c.start() < e for s, e in spans)]
    if not cues:
        return None
    cue = cues[-1]
    # a bracketed aside does not end the scope: "without hypertrophy (Sokolow-Lyon 1.83 mV) or acute ischaemia"
    asides = [(m.start(), m.end()) for m in _ASIDE.finditer(text, cue.end(), start)]
    bounds = [cue.end(), *[x for a in asides for x in a], start]
    if cue.group("pseudo") or any(_SCOPE_BREAK.search(text, bounds[k], bounds[k + 1])
                                  for k in range(0, len(bounds), 2)):
        return None
    words, between = _content_words(text, cue.end(), start, spans + asides)
    return (cue, between) if words <= PRE_WINDOW else None


def _post_cue(text: str, mention: Mention, stop: int, spans: list[tuple[int, int]]):
    """The first cue after a mention in its clause: (kind, match) when close enough."""
    end = mention.span[1]
    for cue in _POST_RE.finditer(text, end, stop):
        if any(s < cue.end() and cue.start() < e for s, e in spans):
            continue
        words, _ = _content_words(text, end, cue.start(), spans)
        if words > POST_WINDOW or _PRE_RE.search(text, end, cue.start()):
            return None
        return cue.lastgroup, cue
    return None


def _key_value_negated(text: str, stop: int) -> str | None:
    """A header-style 'Former infarction (localization): no' line negates the mention in its key."""
    if stop >= len(text) or text[stop] != ":":
        return None
    line_end = text.find("\n", stop)
    value = text[stop + 1:line_end if line_end >= 0 else len(text)].strip(" .;,\t*_").lower()
    return value if value in _NEG_VALUES else None


def _hedged(text: str, mention: Mention, begin: int, spans: list[tuple[int, int]]) -> bool:
    if text[max(0, mention.span[0] - 2):mention.span[0]].strip().endswith("?"):
        return True  # "?LAE": a queried finding
    cues = [c for c in _HEDGE_RE.finditer(text, begin, mention.span[0])
            if not any(s < c.end() and c.start() < e for s, e in spans)]
    if not cues:
        return False
    words, _ = _content_words(text, cues[-1].end(), mention.span[0], spans)
    return words <= HEDGE_WINDOW and not _SCOPE_BREAK.search(text, cues[-1].end(), mention.span[0])


def _judge(text: str, mention: Mention, spans: list[tuple[int, int]], breaks: list[tuple[int, int]]) -> Mention:
    """Decide whether a mention is negated or hedged, from the cues in its clause."""
    start, end = mention.span
    begin, stop = _clause(breaks, start, end, len(text))
    others = [s for s in spans if s != mention.span]
    hedged = _hedged(text, mention, begin, others)
    post = _post_cue(text, mention, stop, others)
    if post and post[0] == "hedge":
        hedged = True
    if _ATTACHED_NON.search(text[max(0, start - 5):start]):
        return mention.model_copy(update={"negated": True, "hedged": hedged, "cue": "non-"})
    value = _key_value_negated(text, stop)
    if value is not None:
        return mention.model_copy(update={"negated": True, "hedged": hedged, "cue": f": {value}"})
    if post and post[0] == "neg":
        return mention.model_copy(update={"negated": True, "hedged": hedged, "cue": post[1].group()})
    pre = _pre_cue(text, mention, begin, others)
    if pre and not (post and (post[0] == "hedge" or (pre[1] and post[0] == "affirm"))):
        return mention.model_copy(update={"negated": True, "hedged": hedged, "cue": pre[0].group()})
    return mention.model_copy(update={"hedged": hedged})


def span_negated(text: str, start: int, end: int, vocab: Vocabulary | None = None) -> bool:
    """Is the phrase at [start, end) negated in its clause ("no ST elevation", "Q waves are absent")?

    The same cue and scope rules as label mentions; other label mentions in the text count as spans
    that cues cannot come from.
    """
    vocab = vocab or Vocabulary.load()
    label = next(iter(vocab.all()))
    probe = Mention(label=label, span=(start, end), text=text[start:end])
    raw = matcher_for(vocab).raw_mentions(text)
    spans = [m.span for m in raw if m.span[1] <= start or m.span[0] >= end]
    breaks = [m.span() for m in _CLAUSE_END.finditer(text)]
    return _judge(text, probe, spans + [probe.span], breaks).negated


@lru_cache(maxsize=4)
def matcher_for(vocab: Vocabulary) -> DiagnosisMatcher:
    """The compiled matcher of a vocabulary (compiled once per vocabulary object)."""
    return DiagnosisMatcher(vocab)


def find_mentions(text: str, vocab: Vocabulary | None = None) -> list[Mention]:
    """Every label mention in `text`, in order, with its span and negated/hedged flags."""
    return matcher_for(vocab or Vocabulary.load()).find_mentions(text or "")


def extract_labels(text: str, vocab: Vocabulary | None = None, include_hedged: bool = True) -> list[Label]:
    """The labels `text` states (not negated anywhere it is affirmed), unique, in first-mention order."""
    labels: list[Label] = []
    for mention in find_mentions(text, vocab):
        if mention.negated or (mention.hedged and not include_hedged):
            continue
        if mention.label not in labels:
            labels.append(mention.label)
    return labels


def negated_labels(text: str, vocab: Vocabulary | None = None) -> list[Label]:
    """The labels `text` explicitly denies and never affirms ("no atrial fibrillation")."""
    stated = {label.code for label in extract_labels(text, vocab)}
    labels: list[Label] = []
    for mention in find_mentions(text, vocab):
        if mention.negated and mention.label.code not in stated and mention.label not in labels:
            labels.append(mention.label)
    return labels


_ACUTE_NAMED = re.compile(r"\bacute\s+(?:[a-z]+(?:-[a-z]+)?\s+){1,2}?(?:wall\s+)?(?:myocardial\s+infarct(?:ion)?|"
                          r"MI|infarct(?:ion)?)\b", re.I)


# a dictated report puts the qualifier after the name: "Myocardial infarction, acute, inferolateral"
# ... or in the brackets right after it: "myocardial infarction (inferior and lateral Q waves, acute)"
_ACUTE_AFTER = re.compile(r"\b(?:myocardial\s+infarct(?:ion)?|MI|infarct(?:ion)?)(?:,\s*|\s*\((?:[^()]{0,60}?,\s*)?)"
                          r"acute\b", re.I)


def acute_with_territory(text: str, stated: set[str], parent_of: dict[str, str | None]) -> set[str]:
    """'acute inferolateral myocardial infarction' states the acute infarction too, when the territory's
    infarction itself is stated (not negated); so does 'myocardial infarction, acute' when the infarction is."""
    if "MI" in stated or any(parent_of.get(c) == "MI" for c in stated):
        m = _ACUTE_AFTER.search(text)
        if m is not None and not span_negated(text, m.start(), m.end()):
            return {"ACUTEMI"}
    if not any(parent_of.get(c) == "MI" for c in stated) or not _ACUTE_NAMED.search(text):
        return set()
    return {"ACUTEMI"}
