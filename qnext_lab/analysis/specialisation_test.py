"""Is there a "math expert"? Expert preference per label and routing overlap, against a permutation baseline.

Explainers of MoE models often name experts ("the math expert", "the grammar expert"). A share of tokens that
differs from the uniform k/E is not enough to earn a name: with few questions, labels that carry no information
give shares that differ too. This module asks the question as a test. The baseline keeps everything but the
link between labels and routing: the labels are shuffled among the labelled units (sequences when every
sequence has one label, else tokens), with the same counts per label, ``permutations`` times from one seed.

- ``expert_specialisation``: for each (layer, label, expert), the share of the label's tokens routed to the
  expert (top-k), the permutation mean, and a band that holds for every (label, expert) of the layer at once
  (``level``; max-|z| over the layer's cells per permutation, Westfall & Young's single-step method), so a
  layer of 512 experts x 5 labels does not produce "specialists" by multiple testing alone. ``verdict`` is
  "prefers" / "avoids" outside the band, "inside baseline" otherwise; ``p_adjusted`` the family-wise p-value.
- ``routing_overlap``: per layer, how alike two sequences' expert use is (histogram intersection of their
  expert shares: 1 = identical, 0 = disjoint), averaged over pairs with the same label and with different
  labels; the difference against the same permutation baseline (its ``level`` interval).
- ``named_experts``: the only names the statistics support: the "prefers" rows, as text.

Tokens of one sequence are not independent (they share a prompt template and a context), which is why whole
sequences are shuffled when labels are per sequence; a per-token labelling (e.g. phases) is shuffled per token
and its band is then too narrow: read it as a lower bound. Knows nothing about models or figures.

    spec = expert_specialisation(trace, families, per="sequence", permutations=200, seed=0)
    named_experts(spec)                    # [] when every expert sits inside the baseline
    routing_overlap(trace, families)       # one row per layer

Dimension legend: U = labelled units (sequences or tokens), C = labels, E = experts, P = permutations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..checks import as_float, as_int
from ..trace.routing_trace import RoutingTrace
from ._common import check_trace, layer_positions
from .labels import token_labels

__all__ = ["expert_specialisation", "named_experts", "routing_overlap"]

VERDICTS = ("prefers", "avoids", "inside baseline")


def _check_options(permutations: Any, seed: Any, level: Any) -> tuple[int, int, float]:
    permutations = as_int(permutations, "permutations", low=20, high=100_000, hint=" (200 is a good start)")
    seed = as_int(seed, "seed", low=0)
    level = as_float(level, "level", low=0.5, high=0.999, hint=" (e.g. 0.95 for a 95% band)")
    return permutations, seed, level


def _units(trace: RoutingTrace, labels: Any, per: str | None) -> tuple[np.ndarray, torch.Tensor, np.ndarray, str]:
    """(names (C,), unit of each token (N,) int64, label code of each unit (U,), "sequence" | "token")."""
    per_token = token_labels(trace, labels, per).astype(str)  # (N,)
    names, codes = np.unique(per_token, return_inverse=True)
    if len(names) < 2:
        raise ValueError(f"need at least two distinct labels to compare, got {list(names)}")
    seq = trace.seq_index.long().numpy()
    seqs, unit = np.unique(seq, return_inverse=True)
    first = np.full(len(seqs), -1)
    first[unit[::-1]] = codes[::-1]  # a label of each sequence (its first token's)
    if np.array_equal(first[unit], codes):
        return names, torch.as_tensor(unit, dtype=torch.int64), first, "sequence"
    return names, torch.arange(trace.num_tokens, dtype=torch.int64), codes, "token"


def _unit_counts(trace: RoutingTrace, pos: int, unit: torch.Tensor, U: int) -> torch.Tensor:
    """(U, E) float64: how many tokens of each unit have each expert in their top-k at layer ``pos``."""
    E = trace.num_experts
    key = (unit[:, None] * E + trace.topk_ids[pos].long()).reshape(-1)  # (N*k,)
    return torch.bincount(key, minlength=U * E).view(U, E).double()


def _permuted_codes(codes: np.ndarray, permutations: int, seed: int) -> torch.Tensor:
    """(P, U) int64: the unit labels shuffled P times (same counts per label), from one seed."""
    g = torch.Generator().manual_seed(seed)
    base = torch.as_tensor(codes, dtype=torch.int64)
    order = torch.rand(permutations, len(codes), generator=g).argsort(dim=1)  # (P, U)
    return base[order]


def _shares(codes: torch.Tensor, counts: torch.Tensor, tokens: torch.Tensor, C: int) -> torch.Tensor:
    """(P, C, E): share of each label's tokens routed to each expert, for P labellings (P, U) of the units."""
    onehot = torch.nn.functional.one_hot(codes, C).double()  # (P, U, C)
    routed = torch.einsum("puc,ue->pce", onehot, counts)  # (P, C, E)
    per_label = torch.einsum("puc,u->pc", onehot, tokens)  # (P, C)
    return routed / per_label.clamp_min(1)[..., None]


def expert_specialisation(
    trace: RoutingTrace,
    labels: str | Sequence[Any] | Mapping[int, Any],
    per: str | None = None,
    *,
    permutations: int = 200,
    seed: int = 0,
    level: float = 0.95,
    layers: int | Iterable[int] | None = None,
) -> pd.DataFrame:
    """One row per (layer, label, expert): share against the permutation baseline and a verdict.

    Columns: layer, label, expert, tokens (of the label), share, baseline (k/E), ratio (share / baseline),
    null_mean, low, high (the family-wise band at ``level``), p_adjusted, verdict, unit ("sequence" or "token").
    ``labels`` as for ``label_specialization``: one per sequence, one per token, a {sequence: label} mapping,
    or "phase".
    """
    trace = check_trace(trace)
    permutations, seed, level = _check_options(permutations, seed, level)
    names, unit, codes, unit_kind = _units(trace, labels, per)
    C, E, U = len(names), trace.num_experts, len(codes)
    if unit_kind == "sequence" and U < 4:
        raise ValueError(f"only {U} labelled sequences: a permutation baseline needs more (a few per label)")
    tokens = torch.bincount(unit, minlength=U).double()  # (U,)
    observed_codes = torch.as_tensor(codes, dtype=torch.int64)[None]  # (1, U)
    null_codes = _permuted_codes(codes, permutations, seed)  # (P, U)
    baseline = trace.top_k / E
    label_tokens = torch.zeros(C, dtype=torch.float64).index_add_(0, torch.as_tensor(codes), tokens).long().numpy()
    frames = []
    for pos, layer in layer_positions(trace, layers):
        counts = _unit_counts(trace, pos, unit, U)  # (U, E)
        observed = _shares(observed_codes, counts, tokens, C)[0]  # (C, E)
        null = _shares(null_codes, counts, tokens, C)  # (P, C, E)
        mean, sd = null.mean(0), null.std(0)  # (C, E)
        varies = sd > 1e-12
        z_null = torch.where(varies, (null - mean).abs() / sd.clamp_min(1e-12), torch.zeros_like(null))
        max_z = z_null.flatten(1).amax(1)  # (P,) the largest deviation of each shuffled labelling
        crit = float(torch.quantile(max_z, level))
        z_obs = torch.where(varies, (observed - mean).abs() / sd.clamp_min(1e-12), torch.zeros_like(observed))
        p_adj = (1 + (max_z[:, None, None] >= z_obs[None]).sum(0)) / (permutations + 1)  # (C, E)
        low, high = mean - crit * sd, mean + crit * sd
        verdict = np.where(
            (observed > high + 1e-12).numpy(),
            "prefers",
            np.where((observed < low - 1e-12).numpy(), "avoids", VERDICTS[2]),
        )
        frames.append(
            pd.DataFrame(
                {
                    "layer": layer,
                    "label": np.repeat(names, E),
                    "expert": np.tile(np.arange(E), C),
                    "tokens": np.repeat(label_tokens, E),
                    "share": observed.reshape(-1).numpy(),
                    "baseline": baseline,
                    "ratio": (observed / baseline).reshape(-1).numpy(),
                    "null_mean": mean.reshape(-1).numpy(),
                    "low": low.clamp_min(0).reshape(-1).numpy(),
                    "high": high.clamp_max(1).reshape(-1).numpy(),
                    "p_adjusted": p_adj.reshape(-1).numpy(),
                    "verdict": verdict.reshape(-1),
                    "unit": unit_kind,
                }
            )
        )
    out = pd.concat(frames, ignore_index=True)
    out.attrs.update(permutations=permutations, seed=seed, level=level, unit=unit_kind, units=U)
    return out


def named_experts(frame: pd.DataFrame) -> list[str]:
    """The experts the test lets you name, one line each for the "prefers" rows: the label's share of tokens
    routed to the expert beside the share under shuffled labels (not beside k/E: the expert's own average sets
    the baseline), and the family-wise adjusted p-value."""
    if not isinstance(frame, pd.DataFrame) or "verdict" not in frame.columns:
        raise TypeError("pass the DataFrame returned by expert_specialisation")
    rows = frame[frame["verdict"] == "prefers"].sort_values(["layer", "expert"])
    return [
        f"layer {r.layer} expert {r.expert}: {r.label} ({r.share:.1%} of its tokens vs {r.null_mean:.1%} with "
        f"shuffled labels, adjusted p = {r.p_adjusted:.3f})"
        for r in rows.itertuples()
    ]


def _pair_means(overlap: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """(P, 2): mean overlap of same-label and of different-label pairs, for P labellings (P, U) of U sequences."""
    U = overlap.shape[0]
    upper = torch.triu(torch.ones(U, U, dtype=torch.bool), diagonal=1)  # each pair once
    same = (codes[:, :, None] == codes[:, None, :]) & upper  # (P, U, U)
    different = (codes[:, :, None] != codes[:, None, :]) & upper
    o = overlap[None]
    return torch.stack(
        [
            (o * same).sum((1, 2)) / same.sum((1, 2)).clamp_min(1),
            (o * different).sum((1, 2)) / different.sum((1, 2)).clamp_min(1),
        ],
        dim=1,
    )


def routing_overlap(
    trace: RoutingTrace,
    labels: Sequence[Any] | Mapping[int, Any],
    *,
    permutations: int = 200,
    seed: int = 0,
    level: float = 0.95,
    layers: int | Iterable[int] | None = None,
) -> pd.DataFrame:
    """One row per layer: mean routing overlap of same-label vs different-label sequence pairs, with a baseline.

    Columns: layer, same, different, difference (same - different), null_low, null_high (the ``level``
    interval of the difference under shuffled labels), p_value (one-sided: same-label pairs more alike),
    verdict ("same label more alike" above the interval, "inside baseline" otherwise), sequences, pairs_same.
    """
    trace = check_trace(trace)
    permutations, seed, level = _check_options(permutations, seed, level)
    names, unit, codes, unit_kind = _units(trace, labels, "sequence" if not isinstance(labels, str) else None)
    if unit_kind != "sequence":
        raise ValueError("routing_overlap compares sequences: give one label per sequence")
    U = len(codes)
    codes_t = torch.as_tensor(codes, dtype=torch.int64)
    if not bool((codes_t[:, None] == codes_t[None, :]).triu(1).any()):
        raise ValueError("no two sequences share a label: nothing to compare same-label overlap with")
    tokens = torch.bincount(unit, minlength=U).double()  # (U,)
    null_codes = _permuted_codes(codes, permutations, seed)  # (P, U)
    lo_q, hi_q = (1 - level) / 2, (1 + level) / 2
    rows = []
    for pos, layer in layer_positions(trace, layers):
        profile = _unit_counts(trace, pos, unit, U) / (tokens[:, None] * trace.top_k)  # (U, E), rows sum to 1
        overlap = torch.minimum(profile[:, None, :], profile[None, :, :]).sum(-1)  # (U, U)
        same, different = _pair_means(overlap, codes_t[None])[0].tolist()
        null = _pair_means(overlap, null_codes)  # (P, 2)
        null_diff = null[:, 0] - null[:, 1]  # (P,)
        diff = same - different
        low, high = float(torch.quantile(null_diff, lo_q)), float(torch.quantile(null_diff, hi_q))
        rows.append(
            {
                "layer": layer,
                "same": same,
                "different": different,
                "difference": diff,
                "null_low": low,
                "null_high": high,
                "p_value": float((1 + (null_diff >= diff - 1e-12).sum()) / (permutations + 1)),
                "verdict": "same label more alike" if diff > high + 1e-12 else "inside baseline",
                "sequences": U,
                "pairs_same": int((codes_t[:, None] == codes_t[None, :]).triu(1).sum()),
            }
        )
    out = pd.DataFrame(rows)
    out.attrs.update(permutations=permutations, seed=seed, level=level, labels=list(names))
    return out
