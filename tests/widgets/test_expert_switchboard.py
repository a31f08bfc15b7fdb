"""ExpertSwitchboard, Python side: traits follow the controls, a run shows both answers and the routing that moved,
errors land in the Output widget."""

from __future__ import annotations

import string

import pytest
import traitlets
from moe_models import make_model
from tokenizers import Tokenizer, decoders, models
from transformers import PreTrainedTokenizerFast

from qnext_lab.widgets.expert_switchboard import ExpertSwitchboard

TEMPLATE = (
    "{%- for m in messages %}{{- '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def chat_tokenizer() -> PreTrainedTokenizerFast:
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    chars = sorted(set(string.printable) - set("\r\x0b\x0c"))
    core = Tokenizer(
        models.BPE(vocab={t: i for i, t in enumerate(specials + chars)}, merges=[], unk_token=None, ignore_merges=True)
    )
    core.decoder = decoders.Fuse()
    core.add_special_tokens(specials)
    tok = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tok.chat_template = TEMPLATE
    return tok


@pytest.fixture(scope="module")
def lab():
    tok = chat_tokenizer()
    model = make_model(
        "qwen3_next",
        vocab_size=len(tok),
        num_hidden_layers=2,
        layer_types=["linear_attention", "full_attention"],
        eos_token_id=2,
        pad_token_id=0,
    )
    return ExpertSwitchboard(model, tok, "1+2=<b>?", max_new_tokens=6)


def test_controls_write_the_traits(lab):
    lab.reset()
    assert lab.layer == 0 and list(lab.ablate_box.options) == list(range(8))
    lab.ablate_box.value = (2, 1)
    assert lab.ablate == {0: [1, 2]}
    lab.layer_box.value = 1  # another layer: its own (empty) selection
    assert lab.layer == 1 and lab.ablate_box.value == ()
    lab.force_box.value = (4,)
    assert lab.force == {1: [4]} and lab.ablate == {0: [1, 2]}
    lab.layer = 0  # trait -> control
    assert lab.layer_box.value == 0 and lab.ablate_box.value == (1, 2)
    lab.ablate_box.value = ()
    assert lab.ablate == {}
    with pytest.raises(traitlets.TraitError):
        lab.layer = 7
    lab.reset()
    assert (lab.ablate, lab.force, lab.top_k) == ({}, {}, 0)


def test_run_shows_answers_and_moved_routing(lab):
    lab.reset()
    lab.ablate = {0: list(range(6)), 1: list(range(6))}  # only experts 6 and 7 are left: they are the top-2
    lab.run(wait=True)
    assert lab.error == "" and lab.status.startswith("done")
    result = lab.result
    assert set(result["changed_trace"].topk_ids.unique().tolist()) == {6, 7}
    assert set(result["plain_trace"].topk_ids.unique().tolist()) != {6, 7}
    assert len(result["plain_trace"]) == 5  # 6 new tokens, the last is never fed back
    assert "as trained" in lab.answers.value and "<b>?" not in lab.answers.value
    assert len(lab.moved.figure.data) == 1  # the expert-use difference heatmap


def test_errors_go_to_the_output_widget(lab):
    lab.reset()
    lab.ablate = {0: list(range(8))}
    lab.run(wait=True)
    assert lab.status.startswith("error") and "every expert" in lab.error
    assert any("every expert" in o.get("text", "") for o in lab.errors.outputs)
    lab.reset()
    lab.prompt = "  "
    lab.run(wait=True)
    assert lab.status == "type a prompt first"
