"""Values an answer compares a measurement with, not measurements themselves: 'Sokolow-Lyon is 1.95 mV against
3.5 mV', 'Cornell 1.59 mV against the 2.0 mV cut-off for women'."""
from __future__ import annotations

from tasks.validate.quantities import Quantity
from tasks.validate.text import Token

_AGAINST = {"against", "compared"}  # not "versus": "906 ms versus 1240 ms" contrasts two measurements
_CRITERION_TALK = {"criterion", "criteria", "cut", "cutoff", "cut-off", "threshold", "thresholds", "limit", "sokolow",
                   "cornell", "lyon", "voltage", "uln"}
_FILLER = {"the", "a", "an", "usual", "standard", "classic", "classical", "common", "with", "to", "its", "conventional"}
_CRITERION_AFTER = {"cut", "cutoff", "cut-off", "limit", "threshold", "criterion", "criteria", "uln"}


def compared_against(q: Quantity, sent: list[Token], prev_end: int) -> bool:
    """A number written right after 'against' ('against the', 'compared with a' ...), just after a stated value,
    in a sentence about a criterion (a voltage index, a cut-off, a limit), is the criterion that value is
    compared with."""
    k = q.start - 1
    while k >= 0 and sent[k].low in _FILLER:
        k -= 1
    if k < q.start - 1 and _criterion_after(q, sent):
        return True  # "shorter than the usual 450 ms upper limit", "the 2.0 mV cut-off"
    if k < 0 or sent[k].low not in _AGAINST or prev_end <= 0:
        return False
    if not any(t.low in _CRITERION_TALK for t in sent):
        return False  # "an RR of 906 ms against 1240 ms later": two measurements, both checked
    return k - prev_end <= 1 and all(t.text in (",", ";") for t in sent[prev_end:k])


def _criterion_after(q: Quantity, sent: list[Token]) -> bool:
    """'the 450 ms upper limit', 'a 3.5 mV criterion': the number names a criterion written right after it."""
    after = [t.low for t in sent[q.end:q.end + 3]]
    for w in after:
        if w in _CRITERION_AFTER:
            return True
        if w not in ("upper", "lower", "normal", "voltage", "duration"):
            return False
    return False
