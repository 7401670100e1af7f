"""Answer layout: how many paragraphs of plain prose an answer has, and joining them into the one the prompt asks for.

A teacher asked for one paragraph sometimes writes two: the interpretation, then a chatty sign-off ("Correlate
clinically ..."), or visible reasoning, then "Final answer: ...". That is a layout fault, not a grounding one, so by
default (`validation.paragraphs: join`) the stage joins consecutive prose paragraphs with a space before checking,
and stores the joined text, so nothing is paid for again. A structured answer (GPT-4o's friendly opening line,
markdown sections, a closing "Overall, ..." and a disclaimer) keeps its sections as written and is not rejected for
its layout either. With `paragraphs: reject` two prose paragraphs reject the answer (`paragraph`), as before.
"""
from __future__ import annotations

import re

from schemas.config import ValidationSettings

# markdown lines: table rows, headings, bullets, numbered items, bold-labelled lines ("**Impression:** ...")
LAYOUT_LINE = re.compile(r"^\s*(?:\|.*\||#{1,6}\s+\S.*|[-*+•]\s+\S.*|\d{1,2}[.)]\s+\S.*|"
                         r"(?:\*\*|__)[^*_\n]{1,60}(?:\*\*|__)\s*:?.*|[-=|:\s]{3,})\s*$")
_BLANK_LINE = re.compile(r"\n\s*\n")


def _blocks(text: str) -> list[str]:
    return [b.strip() for b in _BLANK_LINE.split(text.strip()) if b.strip()]


def _is_prose(block: str) -> bool:
    """A block that opens with markdown layout (a table, a heading, a list item, a bold label) is a section
    of one structured answer, not a paragraph of prose."""
    return not LAYOUT_LINE.match(block.splitlines()[0])


def prose_blocks(text: str) -> int:
    """Blocks of plain prose between blank lines."""
    return sum(1 for b in _blocks(text) if _is_prose(b))


def join_paragraphs(text: str) -> str:
    """Each run of consecutive prose paragraphs joined into one (a space between); markdown sections, and the
    line breaks inside a block, are kept as written. Text with nothing to join comes back unchanged."""
    blocks = _blocks(text)
    out: list[str] = []
    for b in blocks:
        if out and _is_prose(b) and _is_prose(out[-1]):
            out[-1] = f"{out[-1]} {b}"
        else:
            out.append(b)
    return text if len(out) == len(blocks) else "\n\n".join(out)


def stored_layout(text: str, s: ValidationSettings) -> str:
    """The answer as the stage checks and stores it: prose paragraphs joined unless the settings say reject."""
    return join_paragraphs(text) if s.single_paragraph and s.paragraphs == "join" else text
