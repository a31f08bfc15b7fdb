"""The qnext-tiny tokenizer (character level) and its Qwen3-style chat template, tools included.

Character level because every digit and letter must be its own token: the tasks are column addition,
spelling and digit comparison, which a small model learns far faster when one symbol is one token; the
vocabulary (~100 tokens) also keeps the embedding tiny. Knows nothing about models or training.

Tool use follows Qwen3's formats exactly for calls and responses (an assistant turn ends in
``<tool_call>\\n{"name": ..., "arguments": {...}}\\n</tool_call>``; ``tool`` messages render as
``<tool_response>\\n...\\n</tool_response>`` inside a user turn); only the tool list is compact: one
``name(param, ...)`` line per tool inside ``<tools>...</tools>`` in the system turn, because Qwen3's long
instructions cost hundreds of character tokens.

    tok = build_tokenizer()
    tok.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

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
TOOL_CALL, END_TOOL_CALL, TOOL_RESPONSE, END_TOOL_RESPONSE = (
    "<tool_call>",
    "</tool_call>",
    "<tool_response>",
    "</tool_response>",
)
# every printable ASCII character plus newline: enough for English questions, numbers and the traces
CHARS = ["\n"] + [chr(c) for c in range(32, 127)]
# added tokens that are not "special" (skip_special_tokens keeps them), as in Qwen3; the tool tags come last
# so a checkpoint trained before they existed keeps every other id (its embedding just grows by four rows)
TAG_TOKENS = (THINK, END_THINK)
TOOL_TOKENS = (TOOL_CALL, END_TOOL_CALL, TOOL_RESPONSE, END_TOOL_RESPONSE)

# Qwen3's template logic (Qwen/Qwen3-8B tokenizer_config.json), kept small:
# - hard switch `enable_thinking=False` puts an empty think block after the assistant header; otherwise
#   `/think` or `/no_think` in user or system messages switches (latest wins);
# - assistant turns before the last user query lose their reasoning; those after it (a tool loop) keep it;
# - `tools=` renders as a compact `<tools>` list in the system turn; tool calls and tool responses as Qwen3.
CHAT_TEMPLATE = """\
{%- set ns = namespace(thinking=true, last_query=-1) -%}
{%- for message in messages -%}
{%- if message.role == 'user' and message.content is string and not (message.content.startswith('<tool_response>') and message.content.endswith('</tool_response>')) -%}
{%- set ns.last_query = loop.index0 -%}
{%- endif -%}
{%- if message.role in ['user', 'system'] and message.content is string -%}
{%- if '/think' in message.content.split('/no_think')|last -%}{%- set ns.thinking = true -%}
{%- elif '/no_think' in message.content -%}{%- set ns.thinking = false -%}{%- endif -%}
{%- endif -%}
{%- endfor -%}
{%- if enable_thinking is defined and enable_thinking is false -%}{%- set ns.thinking = false -%}{%- endif -%}
{%- if tools -%}
{{- '<|im_start|>system\\n' -}}
{%- if messages and messages[0].role == 'system' -%}{{- messages[0].content + '\\n\\n' -}}{%- endif -%}
{{- '<tools>' -}}
{%- for tool in tools -%}
{%- set fn = tool.function if tool.function is defined else tool -%}
{%- set params = fn.parameters.properties|list if fn.parameters is defined and fn.parameters.properties is defined else [] -%}
{{- '\\n' + fn.name + '(' + params|join(', ') + ')' -}}
{%- endfor -%}
{{- '\\n</tools><|im_end|>\\n' -}}
{%- elif messages and messages[0].role == 'system' -%}
{{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' -}}
{%- endif -%}
{%- for message in messages -%}
{%- if message.role == 'user' or (message.role == 'system' and not loop.first) -%}
{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' -}}
{%- elif message.role == 'assistant' -%}
{%- set content = message.content if message.content is string else '' -%}
{%- set reasoning = '' -%}
{%- if message.reasoning_content is defined and message.reasoning_content is string -%}
{%- set reasoning = message.reasoning_content -%}
{%- elif '</think>' in content -%}
{%- set reasoning = content.split('</think>')[0].rstrip('\\n').split('<think>')|last -%}
{%- set reasoning = reasoning.lstrip('\\n') -%}
{%- set content = (content.split('</think>')|last).lstrip('\\n') -%}
{%- endif -%}
{%- if loop.index0 > ns.last_query and (loop.last or reasoning) -%}
{{- '<|im_start|>assistant\\n<think>\\n' + reasoning.strip('\\n') + '\\n</think>\\n\\n' + content.lstrip('\\n') -}}
{%- else -%}
{{- '<|im_start|>assistant\\n' + content -}}
{%- endif -%}
{%- if message.tool_calls -%}
{%- for tool_call in message.tool_calls -%}
{%- if (loop.first and content) or not loop.first -%}{{- '\\n' -}}{%- endif -%}
{%- set call = tool_call.function if tool_call.function is defined else tool_call -%}
{{- '<tool_call>\\n{"name": "' + call.name + '", "arguments": ' -}}
{%- if call.arguments is string -%}{{- call.arguments -}}{%- else -%}{{- call.arguments|tojson -}}{%- endif -%}
{{- '}\\n</tool_call>' -}}
{%- endfor -%}
{%- endif -%}
{{- '<|im_end|>\\n' -}}
{%- elif message.role == 'tool' -%}
{%- if loop.first or messages[loop.index0 - 1].role != 'tool' -%}{{- '<|im_start|>user' -}}{%- endif -%}
{{- '\\n<tool_response>\\n' + message.content + '\\n</tool_response>' -}}
{%- if loop.last or messages[loop.index0 + 1].role != 'tool' -%}{{- '<|im_end|>\\n' -}}{%- endif -%}
{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
{{- '<|im_start|>assistant\\n' -}}
{%- if not ns.thinking -%}{{- '<think>\\n\\n</think>\\n\\n' -}}{%- endif -%}
{%- endif -%}"""


def build_tokenizer() -> PreTrainedTokenizerFast:
    """A fresh character-level fast tokenizer with the chat template (deterministic ids)."""
    special = [PAD, IM_START, IM_END, UNK]
    vocab = {t: i for i, t in enumerate(special + list(TAG_TOKENS) + CHARS + list(TOOL_TOKENS))}
    # BPE without merges = one token per character; Fuse joins them back without spaces on decode.
    core = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=UNK))
    core.decoder = decoders.Fuse()
    core.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in special])
    # like Qwen3, the think and tool tags are added tokens but not "special": skip_special_tokens keeps them
    core.add_tokens([AddedToken(t, special=False, normalized=False) for t in TAG_TOKENS + TOOL_TOKENS])
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


def tools_text(tools: Sequence[Mapping]) -> str:
    """The system-turn body the template renders for ``tools`` (OpenAI/transformers function schemas)."""
    lines = []
    for tool in tools:
        fn = tool.get("function", tool)
        lines.append(f"{fn['name']}({', '.join(fn.get('parameters', {}).get('properties', {}))})")
    return "<tools>\n" + "\n".join(lines) + "\n</tools>"


def tool_call_text(name: str, arguments: Mapping) -> str:
    """One Qwen3 tool call as the model writes it (``json.dumps`` spacing, as the template's ``tojson``)."""
    return f'{TOOL_CALL}\n{{"name": "{name}", "arguments": {json.dumps(dict(arguments))}}}\n{END_TOOL_CALL}'


def tool_response_text(content: str) -> str:
    """The user turn the template renders for one ``{"role": "tool", "content": content}`` message."""
    return f"{IM_START}user\n{TOOL_RESPONSE}\n{content}\n{END_TOOL_RESPONSE}{IM_END}\n"


def prompt_text(
    question: str, thinking: bool = True, system: str | None = None, tools: Sequence[Mapping] | None = None
) -> str:
    """The chat-template rendering of a one-turn prompt, built without Jinja (fast, for training data).

    ``thinking=False`` gives what ``enable_thinking=False`` renders; tests check every case against the template.
    """
    if tools:
        body = (system + "\n\n" if system is not None else "") + tools_text(tools)
        text = f"{IM_START}system\n{body}{IM_END}\n"
    else:
        text = f"{IM_START}system\n{system}{IM_END}\n" if system is not None else ""
    text += f"{IM_START}user\n{question}{IM_END}\n{IM_START}assistant\n"
    return text if thinking else text + f"{THINK}\n\n{END_THINK}\n\n"
