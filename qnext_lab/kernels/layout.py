"""How a model stores its expert weights, described once for every kernel.

Dimension legend: E = experts, H = hidden size, I = expert intermediate size.
Knows the layouts transformers' experts modules use (concatenated or interleaved gate/up, transposed
or not, optional biases) but not transformers itself: the runtime fills an ``ExpertWeights`` from a
module's flags.

    w = ExpertWeights(gate_up=torch.randn(8, 2 * 40, 72), down=torch.randn(8, 72, 40))
    w.num_experts, w.hidden_size, w.intermediate_size  # 8, 72, 40
"""

from dataclasses import dataclass

import torch

__all__ = ["ExpertWeights"]


@dataclass(frozen=True)
class ExpertWeights:
    """The two stacked weight tensors of a gated (SwiGLU-style) expert bank.

    gate_up: (E, 2I, H), or (E, H, 2I) when ``transposed`` (GPT-OSS stores x @ W, not W @ x).
    down:    (E, H, I),  or (E, I, H) when ``transposed``.
    gate_up_bias: (E, 2I) or None; down_bias: (E, H) or None.
    interleaved: gate/up columns alternate (g0, u0, g1, u1, ...) instead of [gate; up] halves.
    """

    gate_up: torch.Tensor
    down: torch.Tensor
    gate_up_bias: torch.Tensor | None = None
    down_bias: torch.Tensor | None = None
    transposed: bool = False
    interleaved: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.gate_up, torch.Tensor) or not isinstance(self.down, torch.Tensor):
            raise TypeError("ExpertWeights.gate_up and .down must be torch.Tensor")
        if self.gate_up.dim() != 3 or self.down.dim() != 3:
            raise ValueError(
                f"expert weights must be 3-D stacks (E, out, in); got gate_up {tuple(self.gate_up.shape)} "
                f"and down {tuple(self.down.shape)}"
            )
        num_experts, hidden, two_i = self._gate_up_dims()
        if two_i % 2:
            raise ValueError(f"gate_up has {two_i} gate+up columns; expected an even number (2 * I)")
        down_shape = (num_experts, two_i // 2, hidden) if self.transposed else (num_experts, hidden, two_i // 2)
        if tuple(self.down.shape) != down_shape:
            raise ValueError(
                f"down has shape {tuple(self.down.shape)} but gate_up {tuple(self.gate_up.shape)} "
                f"(transposed={self.transposed}) implies {down_shape}"
            )
        if self.gate_up.dtype != self.down.dtype:
            raise TypeError(f"gate_up is {self.gate_up.dtype} but down is {self.down.dtype}; use one dtype")
        if self.gate_up_bias is not None and tuple(self.gate_up_bias.shape) != (num_experts, two_i):
            raise ValueError(
                f"gate_up_bias must be (E, 2I) = {(num_experts, two_i)}, got {tuple(self.gate_up_bias.shape)}"
            )
        if self.down_bias is not None and tuple(self.down_bias.shape) != (num_experts, hidden):
            raise ValueError(f"down_bias must be (E, H) = {(num_experts, hidden)}, got {tuple(self.down_bias.shape)}")

    def _gate_up_dims(self) -> tuple[int, int, int]:
        e, a, b = self.gate_up.shape
        return (e, a, b) if self.transposed else (e, b, a)  # (E, H, 2I)

    @property
    def num_experts(self) -> int:
        return self.gate_up.shape[0]

    @property
    def hidden_size(self) -> int:
        return self._gate_up_dims()[1]

    @property
    def intermediate_size(self) -> int:
        return self._gate_up_dims()[2] // 2

    @property
    def dtype(self) -> torch.dtype:
        return self.gate_up.dtype

    def gate_up_strides(self) -> tuple[int, int, int]:
        """Strides (expert, output column n, reduction k) of gate_up seen as W[e, n, k] for y = x @ W[e].T."""
        s = self.gate_up.stride()
        return (s[0], s[2], s[1]) if self.transposed else (s[0], s[1], s[2])

    def down_strides(self) -> tuple[int, int, int]:
        """Strides (expert, output column n, reduction k) of down seen as W[e, n, k]."""
        s = self.down.stride()
        return (s[0], s[2], s[1]) if self.transposed else (s[0], s[1], s[2])

    def gate_up_matrix(self, expert: int) -> torch.Tensor:
        """W1[e] as (2I, H), whatever the storage (a view, no copy)."""
        w = self.gate_up[expert]
        return w.T if self.transposed else w

    def down_matrix(self, expert: int) -> torch.Tensor:
        """W2[e] as (H, I), whatever the storage (a view, no copy)."""
        w = self.down[expert]
        return w.T if self.transposed else w

    def split_gate_up(self, gate_up_out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Split (..., 2I) gate_up activations into (gate, up), each (..., I), by the stored layout."""
        if self.interleaved:
            return gate_up_out[..., 0::2], gate_up_out[..., 1::2]
        return gate_up_out.chunk(2, dim=-1)
