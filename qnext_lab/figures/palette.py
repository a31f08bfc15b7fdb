"""One stable colour per expert, shared by every view (heatmaps, load bars, coloured text).

Expert ``e`` of a model with ``E`` experts always gets the same colour, so a reader can follow an
expert from the tokens x layers map to the coloured text. Up to 26 experts use plotly's qualitative
"Alphabet" palette; more experts (Qwen3-Next has 512) use evenly spread hues (golden-ratio steps).
Knows nothing about traces.

    from qnext_lab.figures.palette import expert_color, expert_colorscale
    expert_color(3, 16)          # '#782AB6'
"""

from __future__ import annotations

import colorsys
from functools import lru_cache

from plotly.colors import qualitative

_SMALL = list(qualitative.Alphabet)  # 26 distinct colours
_GOLDEN = 0.618033988749895


@lru_cache(maxsize=64)
def expert_colors(num_experts: int) -> tuple[str, ...]:
    """The ``num_experts`` colours, as ``#rrggbb`` strings."""
    if num_experts <= 0:
        raise ValueError(f"num_experts must be positive, got {num_experts}")
    if num_experts <= len(_SMALL):
        return tuple(_SMALL[:num_experts])
    colors = []
    for e in range(num_experts):
        hue = (e * _GOLDEN) % 1.0
        lightness = (0.38, 0.5, 0.62)[e % 3]
        r, g, b = colorsys.hls_to_rgb(hue, lightness, 0.75)
        colors.append(f"#{int(r * 255):02X}{int(g * 255):02X}{int(b * 255):02X}")
    return tuple(colors)


def expert_color(expert: int, num_experts: int) -> str:
    """Colour of one expert."""
    if not 0 <= expert < num_experts:
        raise ValueError(f"expert {expert} out of range for {num_experts} experts")
    return expert_colors(num_experts)[expert]


def text_color_on(background: str) -> str:
    """Black or white, whichever reads better on ``background`` (``#rrggbb``)."""
    r, g, b = (int(background[i : i + 2], 16) / 255 for i in (1, 3, 5))
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return "#000000" if luminance > 0.5 else "#FFFFFF"


def expert_colorscale(num_experts: int) -> list[list]:
    """A stepped plotly colorscale mapping integer ``z = e`` to expert ``e``'s colour.

    Use with ``zmin=-0.5, zmax=num_experts - 0.5`` so each integer falls inside its own step.
    """
    colors = expert_colors(num_experts)
    scale: list[list] = []
    for e, color in enumerate(colors):
        scale.append([e / num_experts, color])
        scale.append([(e + 1) / num_experts, color])
    return scale
