"""How the MoE runtime lays tokens out for the grouped GEMMs: alignment blocks and padding waste.

The runtime sorts the T*k (token, slot) pairs by expert and pads each expert's group to whole blocks of
BM rows (``qnext_lab.kernels.align_block_size``). These builders draw that schedule: one line per block
(a GEMM tile), each row coloured by its expert and padding left grey; and the share of padded rows for
several block sizes. Pure functions: an ``AlignResult``-like object (``sorted_ids``, ``expert_ids``,
``num_padded``, ``block_size``, ``num_slots``) or plain numbers in, plotly figure out. Knows nothing about
Triton or models.

    a = align_block_size(topk_ids, num_experts=32, block_size=16)
    alignment_figure(a, top_k=4, num_experts=32)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import plotly.graph_objects as go

from .palette import expert_colorscale
from .routing import gaps_to_none
from .theme import template, themed


def _numpy(x: Any) -> np.ndarray:
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


@themed
def alignment_figure(
    result: Any, *, top_k: int, num_experts: int, max_blocks: int = 64, title: str | None = None
) -> go.Figure:
    """Blocks x rows: each row of each block coloured by the expert it computes; padding rows blank.

    Hover names the block, the expert, and the token and rank of the row's slot (slot = token * k + rank).
    Only the first ``max_blocks`` used blocks are drawn.
    """
    block = int(result.block_size)
    used = int(_numpy(result.num_padded).reshape(-1)[0])
    sorted_ids = _numpy(result.sorted_ids)[:used].astype(np.int64)  # (P_used,)
    expert_ids = _numpy(result.expert_ids).astype(np.int64)  # (B,)
    num_slots = int(result.num_slots)
    blocks = min(used // block, max_blocks)
    z = np.full((blocks, block), np.nan)  # (blocks, BM)
    hover = np.full((blocks, block), "", dtype=object)
    for b in range(blocks):
        expert = int(expert_ids[b])
        for r in range(block):
            slot = int(sorted_ids[b * block + r])
            if slot >= num_slots:
                hover[b, r] = f"block {b} · expert {expert}<br>row {r}: padding"
                continue
            z[b, r] = expert
            hover[b, r] = f"block {b} · expert {expert}<br>row {r}: token {slot // top_k}, rank {slot % top_k}"
    padding = used - num_slots
    return go.Figure(
        data=[
            go.Heatmap(
                z=gaps_to_none(z),
                x=np.arange(block),
                y=np.arange(blocks),
                text=hover,
                hovertemplate="%{text}<extra></extra>",
                hoverongaps=True,
                colorscale=expert_colorscale(num_experts),
                zmin=-0.5,
                zmax=num_experts - 0.5,
                xgap=1,
                ygap=2,
                showscale=False,  # a bar of up to 512 colours matches no one's eye: the y axis names each expert
            )
        ],
        layout=dict(
            title=dict(
                text=title
                or f"Block size {block}: {num_slots} slots in {used // block} blocks, "
                f"{padding} padding rows ({padding / max(used, 1):.0%})"
            ),
            xaxis=dict(title=dict(text="row inside the block")),
            yaxis=dict(
                title=dict(text="block: the expert it computes"),
                autorange="reversed",
                tickmode="array",
                tickvals=list(range(blocks)),
                ticktext=[f"{b}: expert {int(expert_ids[b])}" for b in range(blocks)],
                tickfont=dict(size=10),
                automargin=True,
            ),
            height=max(260, 14 * blocks + 140),
            margin=dict(t=60, l=70, r=20, b=50),
            template=template(),
        ),
    )


@themed
def padding_waste_figure(padded_rows: Mapping[int, int], num_slots: int, *, title: str | None = None) -> go.Figure:
    """Share of padded rows (work wasted on padding) for each block size, from ``{block_size: rows used}``."""
    sizes = sorted(padded_rows)
    used = np.array([padded_rows[s] for s in sizes], dtype=float)
    waste = (used - num_slots) / np.maximum(used, 1)
    return go.Figure(
        data=[
            go.Bar(
                x=[str(s) for s in sizes],
                y=waste,
                customdata=np.stack([used, used / np.array(sizes)], axis=-1),
                text=[f"{w:.0%}" for w in waste],
                textposition="outside",
                marker=dict(color="#4C78A8"),
                hovertemplate="block size %{x}<br>%{customdata[0]:.0f} rows in %{customdata[1]:.0f} blocks"
                "<br>padding %{y:.1%}<extra></extra>",
            )
        ],
        layout=dict(
            title=dict(text=title or f"Padding waste by block size ({num_slots} routed slots)"),
            xaxis=dict(title=dict(text="block size BM (rows per tile)"), type="category"),
            yaxis=dict(title=dict(text="padded rows / rows computed"), tickformat=".0%", range=[0, 1.05]),
            height=320,
            margin=dict(t=60, l=70, r=20, b=50),
            template=template(),
        ),
    )
