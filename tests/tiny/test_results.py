"""Shipped results: tables round-trip through JSON with their dtypes, tied to the checkpoint they came from."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from qnext_lab.tiny.paths import tiny_path
from qnext_lab.tiny.results import checkpoint_fingerprint, load_results, save_results

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not (tiny_path(check=False) / "model.safetensors").is_file(), reason="no checkpoint")


def test_tables_round_trip_with_dtypes_and_attrs(tmp_path):
    df = pd.DataFrame(
        {"budget": pd.array([0, 8, None], dtype="Int64"), "mode": ["thinking"] * 3, "accuracy": [0.1, 0.5, 1.0]}
    )
    df.attrs["shared_s"] = 1.5
    path = save_results(tmp_path / "r.json", {"sweep": df}, settings={"seed": 11})
    tables, info = load_results(path)
    pd.testing.assert_frame_equal(tables["sweep"], df)
    assert tables["sweep"].attrs == {"shared_s": 1.5} and info["settings"] == {"seed": 11} and info["current"]


def test_a_table_from_another_checkpoint_warns(tmp_path):
    path = save_results(tmp_path / "r.json", {"t": pd.DataFrame({"a": [1]})})
    payload = json.loads(path.read_text())
    payload["checkpoint_sha256"] = "0" * 64
    path.write_text(json.dumps(payload))
    with pytest.warns(UserWarning, match="RECOMPUTE = True"):
        _, info = load_results(path)
    assert not info["current"]


def test_bad_files_are_refused(tmp_path):
    with pytest.raises(OSError, match="RECOMPUTE"):
        load_results(tmp_path / "missing.json")
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(ValueError, match="not JSON"):
        load_results(tmp_path / "x.json")
    (tmp_path / "y.json").write_text('{"format": "other"}')
    with pytest.raises(ValueError, match="qnext_lab.results"):
        load_results(tmp_path / "y.json")
    with pytest.raises(TypeError):
        save_results(tmp_path / "z.json", {"t": [1, 2]})


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks" / "data").glob("*.json")), ids=lambda p: p.name)
def test_shipped_results_match_the_bundled_checkpoint(path):
    """A retrained qnext-tiny needs its notebooks' tables recomputed (each notebook's RECOMPUTE cell)."""
    assert json.loads(path.read_text())["checkpoint_sha256"] == checkpoint_fingerprint(), path.name


FINE_TUNE = ROOT / "notebooks" / "data" / "09_fine_tune"


@pytest.mark.skipif(not (FINE_TUNE / "training_logs.json").is_file(), reason="notebook 09's runs are not shipped")
def test_notebook_09_ships_three_runs_with_the_trained_router_beside_its_adapter():
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_path()).state_dict()
    router = load_file(FINE_TUNE / "lora-with-router" / "router.safetensors")
    assert router and all(k.endswith("mlp.gate.weight") for k in router)
    for name, weight in router.items():  # trained: not the bundled model's router
        assert not torch.equal(weight, base[name.removeprefix("base_model.model.")]), name
    assert not (FINE_TUNE / "lora-router-frozen" / "router.safetensors").exists()
    for run in ("lora-router-frozen", "lora-with-router"):
        config = json.loads((FINE_TUNE / run / "adapter_config.json").read_text())
        assert config["base_model_name_or_path"] == "tiny"  # no path of the machine that trained it
    full = load_file(FINE_TUNE / "full" / "model.safetensors")
    assert set(full) <= set(base) and any(not torch.equal(full[k], base[k]) for k in full)
