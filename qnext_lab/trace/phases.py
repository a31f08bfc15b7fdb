"""The phase names a RoutingTrace labels its tokens with: one home for the tuple and its ids.

``RoutingTrace.phase`` stores an index into ``PHASES``. The first three ids are those of every trace saved
before tool calls existed (prompt=0, thinking=1, answer=2), so old files load unchanged; the agent loop adds
``tool_call`` (the ``<tool_call>`` ... ``</tool_call>`` span a model writes) and ``tool_response`` (what the
loop inserts between turns: the tool results as the chat template renders them). Knows nothing about
tokenizers, models or figures.

    from qnext_lab.trace.phases import PHASES, phase_id
    phase_id("tool_call")  # 3
"""

from __future__ import annotations

PROMPT = "prompt"
THINKING = "thinking"
ANSWER = "answer"
TOOL_CALL = "tool_call"
TOOL_RESPONSE = "tool_response"

# index = the id stored in RoutingTrace.phase; append only (saved traces keep their ids)
PHASES: tuple[str, ...] = (PROMPT, THINKING, ANSWER, TOOL_CALL, TOOL_RESPONSE)


def phase_id(name: str) -> int:
    """The id of phase ``name``; ValueError naming the known phases otherwise."""
    if name not in PHASES:
        raise ValueError(f"unknown phase {name!r}; expected one of {PHASES}")
    return PHASES.index(name)
