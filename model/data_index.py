"""A LLaVA-format JSON list read lazily: converted once to JSONL with byte offsets, lengths and ECG flags.

At 1.19M items, `json.load` on every rank and dataloader worker holds the whole list (several GB
each). Instead the list is streamed once into a cache folder:

    items.jsonl   one valid item per line (ASCII-escaped, so a line's bytes are its text)
    offsets.npy   int64 [n + 1]: where each line starts (memory-mapped by every reader)
    lengths.npy   int32 [n]: a cheap length (text chars / 4 + the modality tokens), for group_by_length
    ecg.npy       bool [n]: the item names an ECG record
    meta.json     the source's size and mtime, and the malformed items skipped (count and reasons)

A malformed item (not an object, no conversations, turns out of order, empty text) is skipped
and counted, never fatal. The cache is keyed by the source's path, size and mtime and published
by an atomic rename, so ranks racing to build it never read half of one.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("model.data")
IMAGE_TOKENS, ECG_TOKENS = 576, 101  # CLIP-336 patches; ECG-CoCa CLS + 100 patches
MAX_REASONS = 20


def item_problem(item: Any) -> str | None:
    """Why `item` cannot be a training sample, or None when it can."""
    if not isinstance(item, dict):
        return f"not an object ({type(item).__name__})"
    turns = item.get("conversations")
    if not isinstance(turns, list) or not turns:
        return "no conversations list"
    for k, turn in enumerate(turns):
        if not isinstance(turn, dict) or not isinstance(turn.get("value"), str):
            return f"turn {k} has no text value"
        expected = "human" if k % 2 == 0 else "gpt"
        if turn.get("from") != expected:
            return f"turn {k} is from {turn.get('from')!r}, expected {expected!r}"
    if len(turns) < 2:
        return "no assistant answer"
    for key in ("image", "ecg"):
        if item.get(key) is not None and not isinstance(item[key], str):
            return f"{key} is not a path string"
    return None


def cheap_length(item: dict[str, Any]) -> int:
    text = sum(len(t["value"]) for t in item["conversations"])
    return text // 4 + (IMAGE_TOKENS if item.get("image") else 0) + (ECG_TOKENS if item.get("ecg") else 0)


@dataclass
class IndexedJson:
    """Random access to the valid items of one LLaVA JSON list, backed by the cache folder."""

    source: Path
    folder: Path
    offsets: np.ndarray
    lengths: np.ndarray
    has_ecg: np.ndarray
    malformed: int = 0
    reasons: list[str] = field(default_factory=list)
    _handle: Any = None
    _pid: int = -1

    def __len__(self) -> int:
        return len(self.lengths)

    def item(self, i: int) -> dict[str, Any]:
        if self._handle is None or self._pid != os.getpid():  # one handle per dataloader worker
            self._handle, self._pid = open(self.folder / "items.jsonl", "rb"), os.getpid()
        start, end = int(self.offsets[i]), int(self.offsets[i + 1])
        self._handle.seek(start)
        return json.loads(self._handle.read(end - start))

    def __getstate__(self):  # workers reopen the file themselves
        state = dict(self.__dict__)
        state["_handle"] = None
        return state


def open_indexed(source: str | Path, cache_dir: str | Path) -> IndexedJson:
    """The index of `source`, built (once) under `cache_dir/data-index/`."""
    source = Path(source).resolve()
    stat = source.stat()
    key = hashlib.sha1(f"{source}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    folder = Path(cache_dir) / "data-index" / f"{source.stem}-{key}"
    if not (folder / "meta.json").is_file():
        _build(source, folder)
    meta = json.loads((folder / "meta.json").read_text())
    return IndexedJson(source, folder, np.load(folder / "offsets.npy", mmap_mode="r"),
                       np.load(folder / "lengths.npy", mmap_mode="r"), np.load(folder / "ecg.npy", mmap_mode="r"),
                       meta["malformed"], meta["reasons"])


def iter_json_list(path: Path):
    """Each top-level element of a JSON list, decoded one at a time (a broken tail ends the list)."""
    text = path.read_text(encoding="utf-8")
    decoder = json.JSONDecoder()
    pos = _skip(text, 0)
    if pos >= len(text) or text[pos] != "[":
        raise ValueError(f"{path}: expected a JSON list of LLaVA items")
    pos = _skip(text, pos + 1)
    while pos < len(text) and text[pos] != "]":
        try:
            item, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as err:
            yield err  # the rest cannot be framed: report it and stop
            return
        yield item
        pos = _skip(text, pos)
        if pos < len(text) and text[pos] == ",":
            pos = _skip(text, pos + 1)


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _build(source: Path, folder: Path) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    offsets, lengths, ecg, reasons, malformed = [0], [], [], [], 0
    with open(tmp / "items.jsonl", "wb") as out:
        for k, item in enumerate(iter_json_list(source)):
            problem = f"JSON error: {item}" if isinstance(item, Exception) else item_problem(item)
            if problem:
                malformed += 1
                if len(reasons) < MAX_REASONS:
                    ident = item.get("id") if isinstance(item, dict) else None
                    reasons.append(f"item {k} (id {ident!r}): {problem}")
                continue
            line = (json.dumps(item, ensure_ascii=True) + "\n").encode("ascii")
            out.write(line)
            offsets.append(offsets[-1] + len(line))
            lengths.append(cheap_length(item))
            ecg.append(bool(item.get("ecg")))
    np.save(tmp / "offsets.npy", np.asarray(offsets, dtype=np.int64))
    np.save(tmp / "lengths.npy", np.asarray(lengths, dtype=np.int32))
    np.save(tmp / "ecg.npy", np.asarray(ecg, dtype=bool))
    (tmp / "meta.json").write_text(json.dumps({"source": str(source), "items": len(lengths),
                                               "malformed": malformed, "reasons": reasons}, indent=1))
    if malformed:
        log.warning("%s: %d malformed items skipped; first: %s", source, malformed, "; ".join(reasons[:3]))
    try:
        os.rename(tmp, folder)
    except OSError:
        if not (folder / "meta.json").is_file():
            raise
        shutil.rmtree(tmp)  # another rank published it first
