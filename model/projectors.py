"""Projectors that map encoder features into the LLM's embedding space (LLaVA's factory)."""
from __future__ import annotations

import re

from torch import nn

_MLP = re.compile(r"^mlp(\d+)x_gelu$")


def build_projector(kind: str, in_dim: int, out_dim: int) -> nn.Module:
    """`linear`, `identity` or `mlp<N>x_gelu` (GEM: `mlp2x_gelu`); anything else raises."""
    if kind == "linear":
        return nn.Linear(in_dim, out_dim)
    if kind == "identity":
        if in_dim != out_dim:
            raise ValueError(f"identity projector needs in_dim == out_dim, got {in_dim} -> {out_dim}")
        return nn.Identity()
    match = _MLP.match(kind)
    if match and int(match.group(1)) >= 1:
        layers: list[nn.Module] = [nn.Linear(in_dim, out_dim)]
        for _ in range(int(match.group(1)) - 1):
            layers += [nn.GELU(), nn.Linear(out_dim, out_dim)]
        return nn.Sequential(*layers)
    raise ValueError(f"unknown projector {kind!r}; known: linear, identity, mlp<N>x_gelu")
