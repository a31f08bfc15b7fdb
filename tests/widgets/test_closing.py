"""Widgets hold no threads when idle and close everything they own: re-running a lab() cell leaks nothing."""

from __future__ import annotations

import threading
import time

from qnext_lab.widgets.dashboard import lab
from qnext_lab.widgets.think_compare import ThinkCompare
from qnext_lab.widgets.worker import LatestWorker


def _kit_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("qnext-") and t.is_alive()]


def _settle(timeout: float = 10.0) -> list[threading.Thread]:
    deadline = time.monotonic() + timeout
    while _kit_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    return _kit_threads()


def test_a_worker_thread_lives_only_while_there_is_work():
    worker = LatestWorker(name="qnext-test")
    assert not worker.alive
    started = threading.Event()
    worker.submit(lambda cancel: started.set() or cancel.wait(30), on_result=lambda r: None)
    assert started.wait(5) and worker.alive
    assert worker.close(5) and not worker.alive
    try:
        worker.submit(lambda cancel: None, on_result=lambda r: None)
    except RuntimeError as exc:
        assert "closed" in str(exc)
    else:
        raise AssertionError("a closed worker accepted a job")


def test_rerunning_a_lab_cell_leaves_no_threads(model_and_tokenizer):
    model, tok = model_and_tokenizer
    before = len(_settle())
    for _ in range(3):  # as if the user re-ran the cell three times, never calling close()
        dashboard = lab(model, tok, "What is 12 + 30?", max_new_tokens=12, max_budget=16, budget=4)
        assert dashboard.wait(180)
    assert len(_settle()) == before == 0


def test_closing_lab_closes_its_parts_and_cancels_their_work(model_and_tokenizer):
    model, tok = model_and_tokenizer
    dashboard = lab(model, tok, "What is 4785 + 3561?", max_new_tokens=200, max_budget=16, budget=4)
    time.sleep(0.3)
    assert _kit_threads(), "the dashboard should be working right after it is created"
    dashboard.close()
    assert _settle(20) == []
    for part in (
        dashboard,
        dashboard.compare,
        dashboard.tuner,
        dashboard.experts,
        dashboard.tuner.slider,
        dashboard.compare.prompt_box,
    ):
        assert part.comm is None, f"{type(part).__name__} still has its front-end model"


def test_a_closed_compare_never_shows_a_late_result(model_and_tokenizer):
    model, tok = model_and_tokenizer
    view = ThinkCompare(model, tok, "What is 12 + 30?", max_new_tokens=40)
    view.close()
    assert _settle(20) == []
    assert view.results == [None, None] and view.runs == 0


def test_each_view_saves_a_small_static_copy_beside_the_live_widget(trace, model_and_tokenizer):
    from qnext_lab.widgets.budget_tuner import BudgetTuner
    from qnext_lab.widgets.routing_heatmap import RoutingHeatmap

    model, tok = model_and_tokenizer
    heatmap = RoutingHeatmap(trace)
    bundle = heatmap._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    html = bundle["text/html"]
    assert "qnext-static" in html and "qnext-token" in html  # the text coloured by expert
    assert len(html.encode()) < 64_000 and "plotly" not in html.lower()
    tuner = BudgetTuner(model, tok, "What is 12 + 30?", budget=0, max_budget=8, max_new_tokens=16)
    assert tuner.wait(60)
    html = tuner._repr_mimebundle_()["text/html"]
    assert "qnext-answer" in html and "qnext-verdict" in html
    tuner.close()
    heatmap.close()


def test_a_view_waits_for_work_one_worker_hands_to_another(trace):
    """KitView.wait (what a notebook run waits on before its widget state is saved) returns only once every worker
    of the view is idle, also when a finished job starts another worker's job (an answer, then its curve)."""
    from qnext_lab.widgets.routing_heatmap import RoutingHeatmap

    view = RoutingHeatmap(trace)
    view.first, view.second = LatestWorker(name="qnext-test-a"), LatestWorker(name="qnext-test-b")
    done = []

    def second_job(cancel):
        time.sleep(0.3)
        return "second"

    view.first.submit(
        lambda cancel: time.sleep(0.2) or "first",
        on_result=lambda r: done.append(r) or view.second.submit(second_job, on_result=done.append),
    )
    assert view.wait(10) and done == ["first", "second"]
    view.second.submit(lambda cancel: cancel.wait(30), on_result=done.append)
    assert not view.wait(0.2)  # still working: says so instead of returning early
    view.close()
