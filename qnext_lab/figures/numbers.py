"""How the kit writes a number for people: one helper per kind of quantity, used by every view, figure and
notebook, so the same quantity always reads the same way and always carries its unit.

Times in s (ms below a second's tenth), rates in tokens/s, memory in binary units (KiB, MiB, GiB: what
``2**30`` divides by; never GB beside GiB), counts with thousands separators (1,572,864, or 1.57 M with
``short=True``), shares as percentages, and small or large values in plain decimals or "× 10ⁿ", never
``6.56e-07``. Pure: numbers in, strings out; knows nothing about figures or widgets.

    seconds_text(0.0412)   # '41 ms'
    bytes_text(1572864)     # '1.50 MiB'
    count_text(1572864)    # '1,572,864'
    number_text(6.56e-07)   # '6.6 × 10⁻⁷'
"""

from __future__ import annotations

import math
from typing import Any

from ..checks import as_float

_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
_BINARY = ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB")  # "bytes", not "B": "80B" is a parameter count


def _real(x: Any, what: str) -> float:
    return as_float(x, what, finite=False)  # the kit's one rule: numpy/torch numbers yes; bools, strings no


def seconds_text(s: Any) -> str:
    """A duration: '41 ms', '0.47 s', '12.3 s', '2 min 05 s' ('–' when unknown)."""
    s = _real(s, "seconds")
    if not math.isfinite(s):
        return "–"
    if s < 0.1:
        return f"{s * 1e3:.0f} ms" if s >= 0.01 else f"{s * 1e3:.1f} ms"
    if s < 60:
        return f"{s:.2f} s" if s < 10 else f"{s:.1f} s"
    minutes, rest = divmod(round(s), 60)
    return f"{minutes} min {rest:02d} s"


def rate_text(tokens: Any, s: Any, unit: str = "tokens/s") -> str:
    """Tokens per second: '95 tokens/s' ('–' when no time was spent); ``unit`` for another language."""
    n, t = _real(tokens, "tokens"), _real(s, "seconds")
    if t <= 0 or not math.isfinite(t):
        return "–"
    r = n / t
    return f"{r:.0f} {unit}" if r >= 10 else f"{r:.1f} {unit}"


def count_text(n: Any, unit: str = "", *, short: bool = False) -> str:
    """A count: '1,572,864' or with ``short`` '1.57 M' (k, M, B for billions, as in "80B parameters"); ``unit``
    appended after a space."""
    x = _real(n, "count")
    if short and abs(x) >= 1000:
        for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
            if abs(x) >= scale:
                text = f"{x / scale:.3g} {suffix}"
                break
    else:
        text = f"{x:,.0f}" if float(x).is_integer() else f"{x:,.2f}"
    return f"{text} {unit}".rstrip() if unit else text


def bytes_text(n_bytes: Any) -> str:
    """Memory in binary units: '512 bytes', '1.50 MiB', '2.25 GiB'."""
    x = _real(n_bytes, "bytes")
    i = 0
    while abs(x) >= 1024 and i < len(_BINARY) - 1:
        x /= 1024
        i += 1
    return f"{x:.0f} {_BINARY[i]}" if i == 0 else f"{x:.2f} {_BINARY[i]}"


def share_text(x: Any, digits: int = 0) -> str:
    """A fraction as a percentage: share(0.647) -> '65%'."""
    return f"{_real(x, 'share') * 100:.{digits}f}%"


def number_text(x: Any, digits: int = 2) -> str:
    """A plain number without scientific notation: 0.123, 1,234.5, '6.6 × 10⁻⁷' (``digits`` significant
    figures below 0.001 and from 10⁹ on)."""
    v = _real(x, "value")
    if not math.isfinite(v) or v == 0:
        return str(v) if not math.isfinite(v) else "0"
    exponent = math.floor(math.log10(abs(v)))
    if -3 <= exponent < 9:
        decimals = max(0, digits - 1 - exponent)
        return f"{v:,.{decimals}f}"
    mantissa = v / 10**exponent
    return f"{mantissa:.{max(0, digits - 1)}f} × 10{str(exponent).translate(_SUPERSCRIPT)}"
