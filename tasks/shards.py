"""Shards: stages work on a few hundred records per task, never one Prefect task per record.

What every shard stage shares, as plain Python: `chunk` cuts pending work into shards, `Counts` is
the base of every stage's counts (summed field by field), and `ShardStage` names a stage's tables,
so the stage runner (flows/stages.py) can drop a crashed shard's orphan parts before it looks for
pending work.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Iterable, Iterator, Sequence, TypeVar

from storage.layout import DataRoot
from storage.parquet import TableStore

T = TypeVar("T")
C = TypeVar("C", bound="Counts")


def chunk(items: Sequence[T] | Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of at most `size` items."""
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass
class Counts:
    """What a stage did: a dataclass of integer fields; `a + b` adds them field by field (shard totals)."""

    def __add__(self: C, other: C) -> C:
        if type(other) is not type(self):
            raise TypeError(f"cannot add {type(other).__name__} to {type(self).__name__}")
        return type(self)(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class ShardStage:
    """A shard stage's name and tables: each shard commits one part per table, the primary last."""

    name: str
    primary: str
    secondaries: tuple[str, ...] = ("quarantine",)

    def drop_orphans(self, root: DataRoot) -> int:
        """Remove the parts a crash between two renames left without their primary; returns how many."""
        return len(TableStore(root).drop_orphans(self.name, self.primary, self.secondaries))
