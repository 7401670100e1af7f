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


def list_over_chain(got: list[Claim]) -> list[Claim]:
    """'ST elevation 0.22 mV in V3 and 0.11 mV in V4 with tall T waves (1.31, 1.09 mV)': a list of N values of
    another wave, all given the last lead of a chain of N single-lead values just before it, is a value per lead
    of that chain, in its order."""
    out = list(got)
    k = 0
    while k < len(out):
        span = out[k].span
        n = next((j for j in range(k, len(out)) if out[j].span != span), len(out)) - k
        group, chain = out[k:k + n], out[max(0, k - n):k]
        one_lead = {c.leads for c in group}
        if n >= 2 and len(chain) == n and len(one_lead) == 1 and len(group[0].leads) == 1 and _chain_of(chain, group):
            out[k:k + n] = [replace(c, leads=p.leads, group=False) for c, p in zip(group, chain)]
        k += n
    return out


def _chain_of(chain: list[Claim], group: list[Claim]) -> bool:
    """Single-lead values of one measure, each its own written number, distinct leads, ending in the group's lead."""
    leads = [c.leads for c in chain]
    return (all(len(x) == 1 for x in leads) and len(set(leads)) == len(leads) and leads[-1] == group[0].leads
            and len({c.span for c in chain}) == len(chain) and len({c.measure for c in chain}) == 1
            and chain[0].measure != group[0].measure and all(c.measure for c in chain + group))
