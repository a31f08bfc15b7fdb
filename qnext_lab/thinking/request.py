"""A generation request: the options of a generation as one typed, checked object (``GenerationOptions``),
and the rendered prompts they apply to (``Request``), checked against the model before any model call.

``GenerationOptions`` is the one definition of the generation options: ``generate``, ``generate_batch``,
``stream_generate``, ``run_agent`` and ``stream_agent`` are wrapped by ``takes_options``, so each accepts
``options=GenerationOptions(...)`` and/or every field as a keyword (the keywords override the object's fields),
with the same names, types and defaults (the agent calls capture by default), and shows them in its signature;
the engine reads only the object. Bad values raise TypeError/ValueError here, where they enter. Knows the chat template (``template``) and the row start rule
(``phases``); knows nothing about ``model.generate``, streaming or traces.

    opts = GenerationOptions(budget=16, max_new_tokens=64)
    req = make_request(model, tok, ["What is 2 + 3?"], opts)
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import MISSING, dataclass, fields, replace
from typing import Any, TypeVar

from ..checks import as_float, as_int
from ..families.config_fields import context_length as config_context_length
from .budget import Budget, check_budget
from .phases import start_state
from .template import PromptLike, ThinkTokens, render_prompt, think_tokens, thinking_enabled, to_messages

DEFAULT_MAX_NEW_TOKENS = 1024
# Qwen3's recommended sampling settings (used when do_sample=True and a setting is left as None).
QWEN_SAMPLING = {
    True: {"temperature": 0.6, "top_p": 0.95, "top_k": 20},  # thinking
    False: {"temperature": 0.7, "top_p": 0.8, "top_k": 20},  # non-thinking
}


@dataclass(frozen=True)
class GenerationOptions:
    """How to generate: every option of ``generate`` in one checked object.

    Args:
        thinking: the hard switch (the template's ``enable_thinking``); ``/no_think`` can still turn it off.
        budget: thinking tokens allowed (0 closes the think block at once; None unlimited); a tuple gives
            one budget per prompt of a batch.
        max_new_tokens: cap on generated tokens (None: 1024, within the model's context).
        min_thinking: s1-style minimum thinking tokens ("Wait" is forced when the model stops early).
        stop_text: forced when the budget runs out (None: the model's, else Qwen's documented text).
        do_sample, temperature, top_p, top_k, seed: sampling (greedy by default; Qwen's recommended
            settings for the mode fill whatever is left None); ``seed`` seeds a private generator state,
            never the process's global one.
        capture: record the routing of every token (phases and token text set).
        timeout: seconds to wait for the model while another thread uses it (None: wait as long as it
            takes); then ``ModelBusyError``.
    """

    thinking: bool = True
    budget: Budget | tuple[Budget, ...] = None
    max_new_tokens: int | None = None
    min_thinking: int | None = None
    stop_text: str | None = None
    do_sample: bool = False
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    seed: int | None = None
    capture: bool = False
    timeout: float | None = None

    def __post_init__(self) -> None:
        for name in ("thinking", "do_sample", "capture"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if isinstance(self.budget, Sequence) and not isinstance(self.budget, (str, bytes)):
            object.__setattr__(self, "budget", tuple(check_budget(b) for b in self.budget))
        else:
            object.__setattr__(self, "budget", check_budget(self.budget))
        object.__setattr__(self, "min_thinking", check_budget(self.min_thinking, "min_thinking"))
        if self.max_new_tokens is not None:
            object.__setattr__(self, "max_new_tokens", as_int(self.max_new_tokens, "max_new_tokens", low=1))
        budgets = self.budget if isinstance(self.budget, tuple) else (self.budget,)
        if not self.thinking and (any(b is not None for b in budgets) or self.min_thinking is not None):
            raise ValueError("budget and min_thinking need thinking=True; with thinking=False nothing is thought")
        if self.stop_text is not None and not isinstance(self.stop_text, str):
            raise TypeError(f"stop_text must be a str, got {type(self.stop_text).__name__}")
        if self.temperature is not None:
            temperature = as_float(self.temperature, "temperature", low=0.0)
            if temperature == 0:
                raise ValueError("temperature must be > 0; for greedy decoding use do_sample=False")
            object.__setattr__(self, "temperature", temperature)
        if self.top_p is not None:
            top_p = as_float(self.top_p, "top_p", low=0.0, high=1.0)
            if top_p == 0:
                raise ValueError("top_p must be in (0, 1], got 0")
            object.__setattr__(self, "top_p", top_p)
        if self.top_k is not None:
            object.__setattr__(self, "top_k", as_int(self.top_k, "top_k", low=0))
        if self.seed is not None:
            object.__setattr__(self, "seed", as_int(self.seed, "seed"))
        if self.timeout is not None:
            object.__setattr__(self, "timeout", as_float(self.timeout, "timeout", low=0.0, finite=False))

    def one_budget(self, call: str, hint: str = "") -> Budget:
        """The budget of a call that takes one (an int or None); a budget per prompt is a TypeError naming ``call``."""
        if isinstance(self.budget, tuple):
            raise TypeError(f"{call} takes one budget (an int or None){hint}")
        return self.budget

    def budgets(self, rows: int) -> list[Budget]:
        """One budget per row of a batch of ``rows``."""
        if isinstance(self.budget, tuple):
            if len(self.budget) != rows:
                raise ValueError(f"{len(self.budget)} budgets for {rows} prompts")
            return list(self.budget)
        return [self.budget] * rows

    def replace(self, **changes: Any) -> GenerationOptions:
        """A copy with ``changes`` applied (checked again)."""
        return replace(self, **changes)

    def sampling_kwargs(self, thinking: bool) -> dict[str, Any]:
        """The sampling keywords of ``model.generate`` for a row in the given mode."""
        if not self.do_sample:
            return {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        qwen = QWEN_SAMPLING[thinking]
        return {
            "do_sample": True,
            "temperature": self.temperature if self.temperature is not None else qwen["temperature"],
            "top_p": self.top_p if self.top_p is not None else qwen["top_p"],
            "top_k": self.top_k if self.top_k is not None else qwen["top_k"],
        }


F = TypeVar("F", bound=Callable[..., Any])
OPTION_NAMES = tuple(f.name for f in fields(GenerationOptions))


def takes_options(**defaults: Any) -> Callable[[F], F]:
    """Decorate a public generation call whose body takes ``options: GenerationOptions`` (keyword-only).

    The call then accepts ``options=`` and/or every ``GenerationOptions`` field as a keyword (keywords override
    the object's fields; ``defaults`` changes a field's default for this call), and its signature lists them,
    so ``help()`` and Jupyter's Shift-Tab show every option with its type and default.
    """
    for name in defaults:
        if name not in OPTION_NAMES:
            raise TypeError(f"{name!r} is not a GenerationOptions field")

    def wrap(fn: F) -> F:
        signature = inspect.signature(fn)
        if "options" not in signature.parameters:
            raise TypeError(f"{fn.__name__} must take options: GenerationOptions")
        before = [p for p in signature.parameters.values() if p.kind is not p.KEYWORD_ONLY]
        after = [p for p in signature.parameters.values() if p.kind is p.KEYWORD_ONLY and p.name != "options"]
        option_parameters = [
            inspect.Parameter(
                f.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=defaults.get(f.name, f.default if f.default is not MISSING else None),
                annotation=f.type,
            )
            for f in fields(GenerationOptions)
        ]
        options_parameter = inspect.Parameter(
            "options", inspect.Parameter.KEYWORD_ONLY, default=None, annotation="GenerationOptions | None"
        )

        @functools.wraps(fn)
        def call(*args: Any, options: GenerationOptions | None = None, **kwargs: Any) -> Any:
            given = {name: kwargs.pop(name) for name in list(kwargs) if name in OPTION_NAMES}
            if options is None:
                options = GenerationOptions(**{**defaults, **given})
            elif not isinstance(options, GenerationOptions):
                raise TypeError(f"options must be a GenerationOptions, got {type(options).__name__}")
            elif given:
                options = options.replace(**given)
            return fn(*args, options=options, **kwargs)

        call.__signature__ = signature.replace(parameters=[*before, options_parameter, *option_parameters, *after])
        return call  # type: ignore[return-value]

    return wrap


@dataclass(frozen=True)
class Prepared:
    """A rendered prompt and how its generated tokens are to be read."""

    text: str
    ids: list[int]
    thinking: bool  # effective mode (after /no_think)
    state: str  # phase at the end of the prompt (phases.start_state)


@dataclass(frozen=True)
class Request:
    """Everything the engine needs, checked: the rendered prompts, their markers and the options."""

    prepared: list[Prepared]
    tokens: ThinkTokens
    budgets: list[Budget]
    max_new_tokens: int  # resolved against the model's context
    options: GenerationOptions
    tools: tuple[dict, ...] = ()  # JSON schemas rendered into the prompts

    @property
    def eos(self) -> tuple[int, ...]:
        return self.tokens.eos_ids


class ContextOverflowError(ValueError):
    """The prompt (plus the tokens asked for) does not fit the model's context."""


def context_length(model: Any) -> int | None:
    """The model's context in tokens (``max_position_embeddings``), None when the config has none."""
    return config_context_length(getattr(model, "config", None))


def check_lengths(model: Any, prompt_len: int, max_new_tokens: int | None) -> int:
    """``max_new_tokens`` resolved against the model's context; ValueError when the prompt does not fit."""
    ctx = context_length(model)
    if ctx is not None and prompt_len >= ctx:
        raise ContextOverflowError(
            f"the prompt is {prompt_len} tokens, longer than the model's context of {ctx}; shorten it"
        )
    if max_new_tokens is None:
        return DEFAULT_MAX_NEW_TOKENS if ctx is None else min(DEFAULT_MAX_NEW_TOKENS, ctx - prompt_len)
    if ctx is not None and prompt_len + max_new_tokens > ctx:
        raise ContextOverflowError(
            f"prompt ({prompt_len} tokens) + max_new_tokens ({max_new_tokens}) exceeds the model's context of "
            f"{ctx}; lower max_new_tokens to {ctx - prompt_len} or less"
        )
    return max_new_tokens


def prepare(
    tokenizer: Any, prompt: PromptLike, thinking: bool, tokens: ThinkTokens, tools: Sequence[dict] = ()
) -> Prepared:
    """Render and tokenize one prompt and work out the phase its generation starts in."""
    messages = to_messages(prompt)
    enabled = thinking_enabled(messages, thinking)
    text = render_prompt(tokenizer, messages, enabled, tools=tools or None)
    ids = list(tokenizer.encode(text, add_special_tokens=False))
    return Prepared(text, ids, enabled, start_state(ids, tokens, tokenizer))


def make_request(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[PromptLike],
    options: GenerationOptions,
    tools: Sequence[dict] = (),
) -> Request:
    """Render ``prompts`` and check ``options`` against them and the model (errors before any model call)."""
    if not isinstance(options, GenerationOptions):
        raise TypeError(f"options must be a GenerationOptions, got {type(options).__name__}")
    budgets = options.budgets(len(prompts))
    # thinking needs the think tokens (clear error if missing); without thinking they only label output
    tokens = think_tokens(tokenizer, model, required=options.thinking)
    prepared = [prepare(tokenizer, p, options.thinking, tokens, tools) for p in prompts]
    for p, b in zip(prepared, budgets):
        if not p.thinking and (b is not None or options.min_thinking is not None):
            raise ValueError(
                "the messages turn thinking off with /no_think, so budget and min_thinking cannot apply; "
                "remove /no_think or the budget"
            )
    if options.min_thinking is not None and any(b is not None and b < options.min_thinking for b in budgets):
        raise ValueError(f"min_thinking ({options.min_thinking}) must not exceed the budget ({options.budget})")
    max_new = check_lengths(model, max(len(p.ids) for p in prepared), options.max_new_tokens)
    return Request(prepared, tokens, budgets, max_new, options, tuple(tools))


def continuation_request(
    model: Any, tokenizer: Any, rows: Sequence[Prepared], options: GenerationOptions, max_new_tokens: int
) -> Request:
    """A request over already-tokenized rows (a prompt plus tokens to continue from), as the prefix replay
    and the agent loop build them; ``max_new_tokens`` is checked against the context like any other."""
    tokens = think_tokens(tokenizer, model, required=False)
    max_new = check_lengths(model, max(len(p.ids) for p in rows), max_new_tokens)
    return Request(list(rows), tokens, options.budgets(len(rows)), max_new, options)
