"""Section labels of a systematic read ("Ischaemia: no ST deviation ...", "Infarction: none"): the heading word
names the part of the read that follows, it states no finding. Only a heading whose body opens with a denial or
with a wave, segment or lead is a label; "Ischaemia: present" or "Infarction: inferior, old" still states the
finding. The statements after a label stay and are checked as usual ("Ischaemia: ST depression in V5-V6" still
needs its criterion)."""
from __future__ import annotations

import re

_SECTION = (r"rate|rhythm|axis|intervals?|conduction|hypertrophy|chamber\s+enlargement|voltage|"
            r"isch(?:a)?emia|infarction|injury|repolari[sz]ation")
_BODY = (r"no|none|nil|not|without|absent|negative|normal|ST|T|Q|J|QRS|R|S|(?:lead\s+)?(?:I{1,3}|aV[RLF]|V[1-6]|"
         r"D(?:I{1,3}|[123]))")
# at the start of the answer, of a line, or of a sentence; one to three section names joined ("Ischaemia/infarction:")
_HEADING = re.compile(rf"(?:^|(?<=[.;!?\n]))\s*((?:{_SECTION})(?:\s*(?:/|,|and|&)\s*(?:{_SECTION})){{0,2}})"
                      rf"\s*:(?=\s*(?:{_BODY})\b)", re.M)
_CASELESS = re.compile(_HEADING.pattern.replace("((?:", "((?i:", 1), re.M)


def mask_section_labels(text: str) -> str:
    """The text with each section heading word blanked (offsets kept, so spans still point into the answer)."""
    return _CASELESS.sub(lambda m: m.group(0).replace(m.group(1), " " * len(m.group(1))), text)
