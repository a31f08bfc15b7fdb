"""qnext-lab: explore Qwen3-Next-style Mixture-of-Experts models in Jupyter.

Importing the package does one thing: it registers the ``"qnext"`` experts implementation in
transformers' ``ExpertsInterface``. Everything else is imported lazily on first use, so
``import qnext_lab`` stays cheap (no plotly, no ipywidgets until a view is asked for).

    import qnext_lab as ql
    model, tok = ql.load("tiny")
    g = ql.generate(model, tok, "What is 478 + 356?", thinking=True, budget=16, capture=True)
"""

from __future__ import annotations

from ._lazy import lazy_exports
from .runtime.experts import register_experts_implementation as _register

_register()

# public name -> "module:attribute", imported on first access (qnext_lab/_lazy.py); a subpackage maps to itself
__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        # formats (load() reads safetensors through runtime and GGUF itself)
        "load": "qnext_lab.formats.loading:load",
        "quantize": "qnext_lab.formats.quantization:quantize",
        "QuantizationInfo": "qnext_lab.formats.quantization:QuantizationInfo",
        "export_gguf": "qnext_lab.formats.export:export_gguf",
        "GGUFLimits": "qnext_lab.formats.gguf_checks:GGUFLimits",
        # trace
        "RoutingTrace": "qnext_lab.trace.routing_trace:RoutingTrace",
        "capture": "qnext_lab.trace.capturing:capture",
        "capture_selection": "qnext_lab.trace.selecting:capture_selection",
        "SelectionTrace": "qnext_lab.trace.selection:SelectionTrace",
        "trace_corpus": "qnext_lab.trace.corpus:trace_corpus",
        "load_corpus_trace": "qnext_lab.trace.shards:load_corpus_trace",
        "ShardedTrace": "qnext_lab.trace.shards:ShardedTrace",
        "routing_from_vllm": "qnext_lab.trace.importers:routing_from_vllm",
        "routing_from_sglang": "qnext_lab.trace.importers:routing_from_sglang",
        "ModelBusyError": "qnext_lab.trace.lock:ModelBusyError",
        "intervene": "qnext_lab.trace.interventions:intervene",
        "offload": "qnext_lab.trace.offloading:offload",
        "Offload": "qnext_lab.trace.offloading:Offload",
        # thinking
        "Generation": "qnext_lab.thinking.result:Generation",
        "GenerationOptions": "qnext_lab.thinking.request:GenerationOptions",
        "GenerationStream": "qnext_lab.thinking.streaming:GenerationStream",
        "Piece": "qnext_lab.thinking.streaming:Piece",
        "ToolCall": "qnext_lab.thinking.tools:ToolCall",
        "run_agent": "qnext_lab.thinking.agent:run_agent",
        "stream_agent": "qnext_lab.thinking.agent:stream_agent",
        "AgentRun": "qnext_lab.thinking.agent:AgentRun",
        "AgentTurn": "qnext_lab.thinking.agent:AgentTurn",
        "ToolResult": "qnext_lab.thinking.agent:ToolResult",
        "generate": "qnext_lab.thinking.generation:generate",
        "generate_batch": "qnext_lab.thinking.generation:generate_batch",
        "answer_at_budget": "qnext_lab.thinking.prefix:answer_at_budget",
        "ThinkingBudgetProcessor": "qnext_lab.thinking.budget:ThinkingBudgetProcessor",
        "stream_generate": "qnext_lab.thinking.streaming:stream_generate",
        "sweep_budget": "qnext_lab.thinking.sweep:sweep_budget",
        "split_budget": "qnext_lab.thinking.parallel:split_budget",
        "budget_flips": "qnext_lab.thinking.parallel:budget_flips",
        "sweep_generations": "qnext_lab.thinking.sweep:sweep_generations",
        "SweepRuns": "qnext_lab.thinking.sweep:SweepRuns",
        "is_right": "qnext_lab.thinking.verdict:is_right",
        "AnswerKey": "qnext_lab.thinking.verdict:AnswerKey",
        "Expected": "qnext_lab.thinking.verdict:Expected",
        # analysis
        "model_cost": "qnext_lab.analysis.cost:model_cost",
        "ModelCost": "qnext_lab.analysis.cost:ModelCost",
        "cost_table": "qnext_lab.analysis.cost:cost_table",
        "cache_memory": "qnext_lab.analysis.cost:cache_memory",
        "offload_cost": "qnext_lab.analysis.offload_speed:offload_cost",
        "OffloadCost": "qnext_lab.analysis.offload_speed:OffloadCost",
        "Machine": "qnext_lab.analysis.offload_speed:Machine",
        "expert_cache": "qnext_lab.analysis.cache_replay:expert_cache",
        "cache_misses": "qnext_lab.analysis.cache_replay:cache_misses",
        "full_attention_config": "qnext_lab.analysis.cost:full_attention_config",
        "active_parameters": "qnext_lab.analysis.active_params:active_parameters",
        "measure_context": "qnext_lab.analysis.context_speed:measure_context",
        # widgets
        "RoutingHeatmap": "qnext_lab.widgets.routing_heatmap:RoutingHeatmap",
        "ThinkCompare": "qnext_lab.widgets.think_compare:ThinkCompare",
        "BudgetTuner": "qnext_lab.widgets.budget_tuner:BudgetTuner",
        "ExpertSwitchboard": "qnext_lab.widgets.expert_switchboard:ExpertSwitchboard",
        "AgentView": "qnext_lab.widgets.agent_view:AgentView",
        "OffloadPlanner": "qnext_lab.widgets.offload_planner:OffloadPlanner",
        "lab": "qnext_lab.widgets.dashboard:lab",
        "Dashboard": "qnext_lab.widgets.dashboard:Dashboard",
        "PlotPane": "qnext_lab.widgets.plot_pane:PlotPane",
        "set_language": "qnext_lab.widgets.i18n:set_language",
        "figure_words": "qnext_lab.widgets.i18n:figure_words",
        # bundled model
        "tiny_path": "qnext_lab.runtime.bundled:tiny_path",
        # subpackages (each exports lazily the same way)
        "analysis": "qnext_lab.analysis:",
        "families": "qnext_lab.families:",
        "figures": "qnext_lab.figures:",
        "formats": "qnext_lab.formats:",
        "kernels": "qnext_lab.kernels:",
        "runtime": "qnext_lab.runtime:",
        "thinking": "qnext_lab.thinking:",
        "tiny": "qnext_lab.tiny:",
        "trace": "qnext_lab.trace:",
        "widgets": "qnext_lab.widgets:",
    },
)
__version__ = "0.1.0"
