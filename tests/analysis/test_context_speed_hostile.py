"""measure_context checks its arguments where they enter: integer contexts (one or a list; 2.9 is refused, not
made 2), and a batch x context ceiling, so a typo (batch=10**6) is refused at once instead of allocating
gigabytes. (Impossible configs for model_cost / cost_table / active_parameters are checked in cost.py.)"""

from __future__ import annotations

import numpy as np
import pytest
from moe_models import make_model

from qnext_lab.analysis.context_speed import MAX_TOKENS, measure_context


@pytest.fixture(scope="module")
def model():
    return make_model("qwen3_next")


def test_one_context_may_be_given_as_a_plain_or_numpy_integer(model):
    for contexts in (4, np.int64(4), [np.int32(4)]):
        df = measure_context(model, contexts, decode_tokens=1, repeats=1)
        assert df.context.tolist() == [4]


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        (dict(contexts=[2.9]), TypeError, r"contexts\[0\] must be an integer"),
        (dict(contexts=[4, 0]), ValueError, r"contexts\[1\] must be >= 1"),
        (dict(contexts="4096"), TypeError, "contexts must be an integer or a list"),
        (dict(contexts=[4], batch=10**6), ValueError, "4,000,000 tokens in one forward, over max_tokens"),
        (dict(contexts=[4], batch=10**7), ValueError, "batch must be in"),
        (dict(contexts=[4096], batch=1024), ValueError, "over max_tokens"),
        (dict(contexts=[4], batch=2.0), TypeError, "batch must be an integer"),
        (dict(contexts=[4], repeats=True), TypeError, "repeats must be an integer"),
        (dict(contexts=[4], decode_tokens=0), ValueError, "decode_tokens must be in"),
    ],
)
def test_bad_arguments_are_refused_before_any_work(model, kwargs, error, words):
    with pytest.raises(error, match=words):
        measure_context(model, **kwargs)


def test_the_ceiling_is_the_callers_to_raise(model):
    assert MAX_TOKENS == 1 << 20
    with pytest.raises(ValueError, match="over max_tokens=8"):
        measure_context(model, [4], batch=4, max_tokens=8)
