"""Thinking modes and the thinking budget: chat-template modes, the budget LogitsProcessor, generate(),
streaming, and budget sweeps.

Knows the think-block convention of Qwen3 models (``<think>`` ... ``</think>``, ids looked up in the
tokenizer) and transformers' generation API; knows nothing about widgets or figures.

    from qnext_lab.thinking import generate
    g = generate(model, tok, "What is 478 + 356?", budget=16); g.thinking_tokens, g.answer

Modules: ``template`` (think tokens, prompt rendering, stop text), ``phases`` (the per-row
prompt/thinking/answer state machine), ``budget`` (ThinkingBudgetProcessor), ``generate``
(generate, generate_batch, Generation), ``streaming`` (stream_generate), ``prefix`` (re-answering from a
cached unlimited run), ``sweep`` (sweep_budget).
"""
