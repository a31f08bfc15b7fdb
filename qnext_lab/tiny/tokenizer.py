"""The qnext-tiny tokenizer (character level) and its Qwen3-style chat template.

Character level because every digit and letter must be its own token: the tasks are column addition,
spelling and digit comparison, which a small model learns far faster when one symbol is one token; the
vocabulary (~100 tokens) also keeps the embedding tiny. Knows nothing about models or training.

    tok = build_tokenizer()
    tok.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True)
"""

from __future__ import annotations

from tokenizers import AddedToken, Tokenizer, decoders, models
from transformers import PreTrainedTokenizerFast

PAD, IM_START, IM_END, THINK, END_THINK, UNK = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<think>",
    "</think>",
    "<unk>",
)
# every printable ASCII character plus newline: enough for English questions, numbers and the traces
CHARS = ["\n"] + [chr(c) for c in range(32, 127)]

# Qwen3's template logic, kept small: hard switch `enable_thinking=False` puts an empty think block after
# the assistant header; otherwise `/think` or `/no_think` in user or system messages switches (latest wins).
# Earlier assistant turns lose their reasoning, as in Qwen3.
CHAT_TEMPLATE = (
    "{%- set ns = namespace(thinking=true, last_user=-1) -%}"
    "{%- for message in messages -%}"
    "{%- if message.role == 'user' -%}{%- set ns.last_user = loop.index0 -%}{%- endif -%}"
    "{%- if message.role in ['user', 'system'] and message.content is string -%}"
    "{%- if '/think' in message.content.split('/no_think')|last -%}{%- set ns.thinking = true -%}"
    "{%- elif '/no_think' in message.content -%}{%- set ns.thinking = false -%}{%- endif -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if enable_thinking is defined and enable_thinking is false -%}{%- set ns.thinking = false -%}{%- endif -%}"
    "{%- for message in messages -%}"
    "{%- if message.role == 'assistant' -%}"
    "{%- set content = message.content -%}"
    "{%- if loop.index0 < ns.last_user and '</think>' in content -%}"
    "{%- set content = (content.split('</think>')|last).lstrip('\\n') -%}"
    "{%- endif -%}"
    "{{- '<|im_start|>assistant\\n' + content + '<|im_end|>\\n' -}}"
    "{%- else -%}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
    "{%- if not ns.thinking -%}{{- '<think>\\n\\n</think>\\n\\n' -}}{%- endif -%}"
    "{%- endif -%}"
)


def build_tokenizer() -> PreTrainedTokenizerFast:
    """A fresh character-level fast tokenizer with the chat template (deterministic ids)."""
    special = [PAD, IM_START, IM_END, UNK]
    vocab = {t: i for i, t in enumerate(special + [THINK, END_THINK] + CHARS)}
    # BPE without merges = one token per character; Fuse joins them back without spaces on decode.
    core = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=UNK))
    core.decoder = decoders.Fuse()
    core.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in special])
    # like Qwen3, the think tags are added tokens but not "special": skip_special_tokens keeps them
    core.add_tokens([AddedToken(t, special=False, normalized=False) for t in (THINK, END_THINK)])
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token=PAD,
        eos_token=IM_END,
        unk_token=UNK,
        padding_side="left",
        chat_template=CHAT_TEMPLATE,
        model_max_length=1024,
    )
    return tok


def prompt_text(question: str, thinking: bool = True, system: str | None = None) -> str:
    """The chat-template rendering of a one-turn prompt, built without Jinja (fast, for training data).

    ``thinking=False`` gives what ``enable_thinking=False`` renders; tests check both against the template.
    """
    text = f"{IM_START}system\n{system}{IM_END}\n" if system is not None else ""
    text += f"{IM_START}user\n{question}{IM_END}\n{IM_START}assistant\n"
    return text if thinking else text + f"{THINK}\n\n{END_THINK}\n\n"
