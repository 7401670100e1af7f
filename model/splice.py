"""Splice encoder features into the token embeddings where the placeholder sentinels sit."""
from __future__ import annotations

from typing import Callable

import torch

from model.conversation import IGNORE_INDEX


def splice_embeddings(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    labels: torch.Tensor | None,
    embed: Callable[[torch.Tensor], torch.Tensor],
    features: dict[int, torch.Tensor],
    max_length: int,
    padding_side: str = "right",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Replace each sentinel id (a key of `features`) in row i by `features[key][i]` ([N, D]).

    Returns (inputs_embeds [B, L, D], attention_mask [B, L], labels [B, L] or None); spliced
    positions get IGNORE_INDEX labels; rows are truncated to `max_length` and padded on
    `padding_side`. Features a row does not use still join the graph with weight 0, so every
    projector gets a gradient on every rank (ZeRO reduces them all)."""
    text = embed(input_ids.clamp(min=0))
    rows, row_labels = [], []
    unused = text.new_zeros(())
    for i in range(input_ids.shape[0]):
        keep = attention_mask[i].bool()
        ids, emb = input_ids[i][keep], text[i][keep]
        lab = labels[i][keep] if labels is not None else torch.full_like(ids, IGNORE_INDEX)
        pieces, piece_labels, start = [], [], 0
        for pos in torch.nonzero(ids < 0).flatten().tolist():
            key = int(ids[pos])
            if key not in features:
                raise ValueError(f"row {i}: sentinel {key} has no features (a missing encoder?)")
            feat = features[key][i].to(emb.dtype)
            pieces += [emb[start:pos], feat]
            piece_labels += [lab[start:pos], lab.new_full((feat.shape[0],), IGNORE_INDEX)]
            start = pos + 1
        pieces.append(emb[start:])
        piece_labels.append(lab[start:])
        used = {int(k) for k in ids[ids < 0].tolist()}
        for key, feat in features.items():
            if key not in used:
                unused = unused + feat[i].sum().to(unused.dtype) * 0.0
        rows.append(torch.cat(pieces)[:max_length])
        row_labels.append(torch.cat(piece_labels)[:max_length])
    embeds, mask, out_labels = _pad(rows, row_labels, padding_side)
    embeds = embeds + unused  # adds exactly 0
    return embeds, mask, (out_labels if labels is not None else None)


def _pad(rows: list[torch.Tensor], row_labels: list[torch.Tensor], side: str):
    if side not in ("left", "right"):
        raise ValueError(f"padding_side must be 'left' or 'right', got {side!r}")
    width = max(r.shape[0] for r in rows)
    dim, ref = rows[0].shape[1], rows[0]
    embeds = ref.new_zeros((len(rows), width, dim))
    mask = torch.zeros((len(rows), width), dtype=torch.long, device=ref.device)
    labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long, device=ref.device)
    for i, (row, lab) in enumerate(zip(rows, row_labels)):
        n = row.shape[0]
        span = slice(0, n) if side == "right" else slice(width - n, width)
        embeds[i, span], mask[i, span], labels[i, span] = row, 1, lab
    return embeds, mask, labels
