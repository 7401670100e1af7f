"""An upper bound on the ST level said of no lead in particular, in a sentence that names leads ("V3 to V6 have
R waves of ..., and the ST segments are within 0.06 mV of baseline"; "the limb leads ... with no ST shift beyond
0.05 mV"): the bound is said of the leads the sentence is about, and must hold in each of them. With no lead
named in the sentence it stays a claim about every usable lead."""
from __future__ import annotations

from dataclasses import replace

from tasks.validate.claim import Claim
from tasks.validate.leads import LeadRef

_UPPER = ("within", "lt", "le")


def sentence_bounds(got: list[Claim], refs: list[LeadRef]) -> list[Claim]:
    """The sentence's claims, each unattributed ST upper bound given the leads the sentence names."""
    leads = tuple(dict.fromkeys(x for r in refs for x in r.leads))
    if not leads:
        return got
    return [replace(c, leads=leads) if c.measure == "st" and c.comparator in _UPPER and not c.leads
            and not c.nonclaim else c for c in got]
