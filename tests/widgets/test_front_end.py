"""The kit switches on Colab's custom widget manager by itself, once, and only in Colab."""

from __future__ import annotations

import sys
import types

import pytest

from qnext_lab.widgets import front_end


@pytest.fixture
def fresh(monkeypatch):
    monkeypatch.setattr(front_end, "_prepared", False)
    return front_end


def test_outside_colab_nothing_is_switched_on(fresh, monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    fresh.prepare_front_end()
    assert not fresh.in_colab() and fresh._prepared


def test_in_colab_the_custom_widget_manager_is_switched_on_once(fresh, monkeypatch):
    calls = []
    output = types.ModuleType("google.colab.output")
    output.enable_custom_widget_manager = lambda: calls.append(1)
    colab = types.ModuleType("google.colab")
    colab.output = output
    google = types.ModuleType("google")
    google.colab = colab
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setitem(sys.modules, "google.colab.output", output)
    fresh.prepare_front_end()
    fresh.prepare_front_end()
    assert fresh.in_colab() and calls == [1]


def test_an_old_colab_without_the_switch_gets_one_warning(fresh, monkeypatch):
    colab = types.ModuleType("google.colab")
    colab.output = types.ModuleType("google.colab.output")  # no enable_custom_widget_manager
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setitem(sys.modules, "google.colab.output", colab.output)
    with pytest.warns(UserWarning, match="enable_custom_widget_manager"):
        fresh.prepare_front_end()
