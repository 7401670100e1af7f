"""Packing queued requests into batches: the caps hold for any queue (property-based, no server)."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tasks.teachers.batch import pack
from tasks.teachers.batch_journal import Item

queues = st.lists(st.integers(1, 5_000), max_size=60).map(
    lambda toks: [Item(f"r{i}", None, t, 0.0) for i, t in enumerate(toks)])


@given(queues, st.integers(-1_000, 40_000), st.integers(1, 12), st.integers(0, 3))
def test_groups_respect_the_request_cap_the_token_room_and_the_queue_order(items, room, cap, n_open):
    groups = pack(items, room, cap, open_batches=n_open)
    flat = [i for g in groups for i in g.items]
    assert flat == items[: len(flat)]  # first queued, first sent; nothing skipped or repeated
    assert all(0 < len(g.items) <= cap and g.tokens == sum(i.tokens for i in g.items) for g in groups)
    total = sum(g.tokens for g in groups)
    lone = n_open == 0 and len(flat) == 1 and flat[0].tokens > room  # progress: one request alone
    assert total <= max(room, 0) or lone
    if len(flat) < len(items):  # stopped early: only because the room is used up
        assert total + items[len(flat)].tokens > room or lone
    assert all(g.full for g in groups[:-1])
