"""Generation with thinking modes, a thinking budget and tools, on one engine.

Knows the think-block and tool-call conventions of Qwen3 models (``<think>`` ... ``</think>``,
``<tool_call>`` ... ``</tool_call>``, ids looked up in the tokenizer) and transformers' generation API;
knows nothing about widgets or figures.

    from qnext_lab.thinking.generation import generate
    g = generate(model, tok, "What is 478 + 356?", budget=16); g.thinking_tokens, g.answer

Modules, by job: ``template`` (markers, prompt rendering with tools, stop text), ``phases`` (where a row
starts; the per-token prompt/thinking/tool_call/answer state machine), ``budget`` (ThinkingBudgetProcessor
and the rule for when it closes thinking), ``request`` (GenerationOptions, the checked Request), ``engine``
(the only caller of ``model.generate``: lock, processors, streamer, capture, seed), ``result`` (Generation),
``tools`` (schemas, parsing tool calls, calling them), ``generation`` (generate, generate_batch),
``streaming`` (stream_generate, GenerationStream, Piece), ``prefix`` (re-answering from a cached unlimited
run), ``sweep`` (sweep_budget, sweep_generations, SweepRuns), ``parallel`` (split_budget: one long
chain vs N chains + majority vote at equal total budget; budget_flips), ``agent`` (run_agent, stream_agent, AgentRun, AgentTurn,
ToolResult), ``verdict`` (the answer of a turn,
is_right, Expected, AnswerKey, the budget-hit rule).
"""

from __future__ import annotations

from .._lazy import lazy_exports

# public name -> module of this package (imported on first access; see qnext_lab/_lazy.py)
__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "AgentRun": "agent",
        "AgentTurn": "agent",
        "AnswerKey": "verdict",
        "Expected": "verdict",
        "Generation": "result",
        "GenerationOptions": "request",
        "GenerationStream": "streaming",
        "PhaseStreamer": "streaming",
        "Piece": "streaming",
        "ThinkingBudgetProcessor": "budget",
        "ToolCall": "tools",
        "ToolResult": "agent",
        "answer_at_budget": "prefix",
        "budget_flips": "parallel",
        "generate": "generation",
        "generate_batch": "generation",
        "majority_vote": "parallel",
        "is_right": "verdict",
        "run_agent": "agent",
        "split_budget": "parallel",
        "stream_agent": "agent",
        "stream_generate": "streaming",
        "sweep_budget": "sweep",
        "sweep_generations": "sweep",
        "SweepRuns": "sweep",
    },
)
