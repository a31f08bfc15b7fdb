"""One stable colour per expert, and one per phase, shared by every view (heatmaps, load bars, coloured text,
the phase strips, the agent episode).

Expert ``e`` of a model with ``E`` experts always gets the same colour, so a reader can follow an
expert from the tokens x layers map to the coloured text. Up to 26 experts use plotly's qualitative
"Alphabet" palette; more experts (Qwen3-Next has 512) use evenly spread hues (golden-ratio steps).
Knows nothing about traces.

    from qnext_lab.figures.palette import expert_color, expert_colorscale
    expert_color(3, 16)          # '#782AB6'
    phase_color("tool_call")     # '#7B3FBF'
"""

from __future__ import annotations

import colorsys
from functools import lru_cache

from plotly.colors import qualitative

from ..trace.phases import PHASES

PHASE_COLORS = {  # by phase name (trace.phases.PHASES): the one home of the phase colours
    "prompt": "#9E9E9E",
    "thinking": "#F5A623",
    "answer": "#2E9E5B",
    "tool_call": "#7B3FBF",
    "tool_response": "#2B7BB9",
}
_UNKNOWN_PHASE = "#888888"


def phase_color(phase: int | str) -> str:
    """The colour of a phase, by name or by its id in ``trace.phases.PHASES`` (grey for an unknown one)."""
    if not isinstance(phase, str):
        phase = PHASES[phase] if 0 <= int(phase) < len(PHASES) else ""
    return PHASE_COLORS.get(phase, _UNKNOWN_PHASE)


def phase_tint(phase: int | str, alpha: float) -> str:
    """The phase colour as a translucent ``rgba(...)`` (backgrounds behind text)."""
    color = phase_color(phase)
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


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
