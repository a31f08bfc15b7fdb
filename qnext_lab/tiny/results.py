"""Precomputed results the notebooks ship, so that a class hour is an hour: tables as JSON, tied to a checkpoint.

A notebook whose full run takes longer than a lesson (a budget sweep, a quantisation sweep, a fine-tuning run)
reads its table from ``notebooks/data/*.json`` by default and recomputes it behind a ``RECOMPUTE = True`` cell.
Each file records what it was computed from: the sha256 of the bundled checkpoint's weights, the settings, the
date and the kit's version; ``load_results`` warns when the checkpoint has changed since, so a stale table is
never shown silently. JSON only (no pickle). Knows nothing about models, generation or figures.

    save_results(path, {"sweep": df}, settings={"problems": 48, "seed": 11})
    tables, info = load_results(path)          # {"sweep": DataFrame}, {"settings": ..., "computed": ...}

Tables keep their column dtypes (nullable integers such as a sweep's ``budget`` included) and ``attrs``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import platform
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from .paths import tiny_path

__all__ = ["checkpoint_fingerprint", "load_results", "save_results"]

FORMAT = "qnext_lab.results"
VERSION = 1


@lru_cache(maxsize=4)
def _sha256(path: str, size: int, mtime: float) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checkpoint_fingerprint(path: str | Path | None = None) -> str:
    """sha256 of a checkpoint's ``model.safetensors`` (default: the bundled qnext-tiny)."""
    weights = Path(path or tiny_path()) / "model.safetensors"
    if not weights.is_file():
        raise OSError(f"no model.safetensors in {weights.parent}: is this a checkpoint directory?")
    stat = weights.stat()
    return _sha256(str(weights), stat.st_size, stat.st_mtime)


def _encode(df: pd.DataFrame) -> dict[str, Any]:
    dtypes = {c: str(t) for c, t in df.dtypes.items()}
    records = json.loads(df.to_json(orient="split", index=False, default_handler=str))
    return {"columns": records["columns"], "data": records["data"], "dtypes": dtypes, "attrs": dict(df.attrs)}


def _decode(blob: dict[str, Any], name: str, path: Path) -> pd.DataFrame:
    try:
        df = pd.DataFrame(blob["data"], columns=blob["columns"])
        for column, dtype in blob["dtypes"].items():
            if dtype != "object":
                df[column] = df[column].astype(dtype)
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: table {name!r} is not readable ({error}); recompute it (RECOMPUTE = True)") from None
    df.attrs.update(blob.get("attrs", {}))
    return df


def save_results(
    path: str | Path, tables: dict[str, pd.DataFrame], *, settings: dict[str, Any] | None = None, extra: Any = None
) -> Path:
    """Write ``tables`` (name -> DataFrame) and what they were computed from to a JSON file."""
    if not isinstance(tables, dict) or not all(isinstance(t, pd.DataFrame) for t in tables.values()):
        raise TypeError("tables must be a dict of name -> pandas DataFrame")
    path = Path(path)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "checkpoint_sha256": checkpoint_fingerprint(),
        "computed": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {platform.system()}",
        "settings": settings or {},
        "extra": extra,
        "tables": {name: _encode(df) for name, df in tables.items()},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".partial")
    tmp.write_text(json.dumps(payload, indent=1, default=str) + "\n")
    tmp.replace(path)
    return path


def load_results(path: str | Path) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Read a results file: ({name: DataFrame}, {"settings", "computed", "machine", "extra", "current"}).

    ``current`` is False (and a warning says so) when the bundled checkpoint is not the one the file was
    computed from.
    """
    path = Path(path)
    if not path.is_file():
        raise OSError(f"no results file at {path}: run the notebook's RECOMPUTE cell to make it")
    try:
        payload = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not JSON ({error}); recompute it (RECOMPUTE = True)") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT or payload.get("version") != VERSION:
        raise ValueError(f"{path} is not a {FORMAT} file of version {VERSION}")
    current = payload.get("checkpoint_sha256") == checkpoint_fingerprint()
    if not current:
        warnings.warn(
            f"{path.name} was computed from another qnext-tiny checkpoint than the bundled one: set RECOMPUTE = True "
            "to compute it again",
            stacklevel=2,
        )
    tables = {name: _decode(blob, name, path) for name, blob in payload.get("tables", {}).items()}
    info = {k: payload.get(k) for k in ("settings", "computed", "machine", "extra")}
    info["current"] = current
    return tables, info
