"""Widget labels in English (default) or Japanese: one table, looked up by key; the logic never changes.

Every button, heading and status line a widget shows comes from :func:`text`; the language is the
``language=`` a widget was created with, else the session's (:func:`set_language`). Keys missing from a
language fall back to English, so a new label never breaks a view. Knows nothing about widgets.

    set_language("ja")
    text("answer")   # '答え'
"""

from __future__ import annotations

LANGUAGES = ("en", "ja")

_TABLE: dict[str, dict[str, str]] = {
    "en": {
        "prompt": "prompt",
        "run_both": "Run both",
        "run": "Run",
        "ask": "Ask",
        "reset_experts": "Reset experts",
        "examples": "examples",
        "pick_example": "pick an example question…",
        "thinking": "thinking",
        "non_thinking": "non-thinking",
        "answer": "answer",
        "budget": "budget",
        "tokens": "tokens",
        "generating": "generating…",
        "done": "done",
        "saved_view": "A saved view: the kernel is not running, so it shows its last state. Run the notebook to use it.",
        "error": "error (see below)",
        "type_prompt": "type a prompt first",
        "right": "✓ right",
        "wrong": "✗ wrong — expected {expected}",
        "unchecked": "not checked (no expected answer)",
        "expected_note": "{model} was trained on this kind of question ({family}): the expected answer is {expected}",
        "family_add": "addition",
        "family_arith": "arithmetic",
        "family_count": "counting letters",
        "family_compare": "comparing numbers",
        "family_sort": "sorting",
        "family_mul": "multiplication with a tool",
        "family_with_example": "{family} ({example})",
        "list_sep": "; ",
        "near_note": (
            "{model} learned {family}, but {detail}: it was never taught this question. The expected answer is "
            "{expected}; its answer is marked, but a right one may be luck."
        ),
        "outside_digits": "only with numbers of {low}-{high} digits, and this question has a {got}-digit number",
        "outside_terms": "only with {low}-{high} numbers in a sum, and this one has {got}",
        "outside_letters": "only with words of {low}-{high} letters, and this one has {got}",
        "outside_items": "only with {low}-{high} digits to sort, and this one has {got}",
        "outside_single": "only with single digits ({low}-{high}), and this one has {got}",
        "outside_products": "only with at most one product",
        "outside_repeated": "only with digits that do not repeat",
        "outside_lengths": "only with two numbers of the same length",
        "ood": (
            "{model} was trained only on: {families}. This prompt is none of them, so its answer means "
            "nothing. Try an example question."
        ),
        "budget_counts": "budget {budget} · thinking {thinking} tokens · answer {answer} tokens · {finish}",
        "budget_answered": "budget {budget}: answered {waited} after the move (the model's own work: {model})",
        "reused": "none, the unlimited run already stopped here",
        "finish_eos": "the model ended its turn",
        "finish_budget": "the budget closed the thinking",
        "finish_max_new_tokens": "cut off at max_new_tokens",
        "finish_stopped": "stopped",
        "cut_complete": (
            "The thinking was already complete: the budget ran out just before the model would have closed it, so "
            "the stop text ({stop}) was still forced. The model met that text in training only after thinking cut "
            "short, so it may answer as if this thinking were cut too."
        ),
        "curve_after_answer": "accuracy curve: starts once the first answer is shown",
        "curve_sweeping": "accuracy curve: sweeping {budgets} budgets over {problems} problems…",
        "curve_progress": "accuracy curve: {message}",
        "curve_error": "accuracy curve: error (see below)",
        "stream_stats": "thinking {thinking} · answer {answer} tokens · {time}",
        "generation_stats": (
            "thinking {thinking} · answer {answer} tokens · {total} tokens generated in {time} ({rate}), "
            "first after {first} · {finish}"
        ),
        "per_second": "tokens/s",
        "fig_thinking_line": "thinking",
        "fig_non_thinking_line": "non-thinking",
        "fig_budget_axis": "thinking budget (tokens, log scale)",
        "fig_accuracy": "accuracy",
        "fig_budget": "budget",
        "fig_mean_tokens": "mean thinking tokens",
        "fig_marker": "current budget",
        "routing_summary": "{tokens} tokens, {layers} MoE layers, top-{k} of {experts} experts",
        "fig_token_axis": "token (rows {first}–{last} of {total}; {shown} labelled)",
        "fig_every_token": "every token",
        "fig_one_in": "1 token in {every}",
        "fig_expert": "expert",
        "fig_layer": "layer",
        "fig_weight": "weight",
        "fig_top1_expert": "top-1 expert",
        "fig_share_slots": "share of routed slots",
        "fig_uniform": "uniform 1/{experts}",
        "fig_hash_routed": "hash-routed layer: experts picked by token id (a fixed table), not by a router",
        "fig_hash_tick": "{layer} · hash",
        "fig_zero_pick": "zero-computation expert (identity, no compute)",
        "fig_zero_rows": "zero-computation",
        "fig_zero_note": "experts {first}–{last} are zero-computation: the token passes through unchanged",
        "routing_hash_note": "hash-routed layers {layers}: experts picked by token id, not by a router",
        "routing_zero_note": "experts {first}–{last} are zero-computation (the token passes through unchanged)",
        "fig_phase_prompt": "prompt",
        "fig_phase_thinking": "thinking",
        "fig_phase_answer": "answer",
        "fig_phase_tool_call": "tool call",
        "fig_phase_tool_response": "tool result",
        "fig_use_difference": "Expert use: {a} − {b}",
        "fig_use_detail": "mean total-variation distance {distance} · red: more in {a}, blue: more in {b}",
        "fig_use_of": "Expert use: {label}",
        "fig_difference": "difference",
        "fig_share": "share",
        "budget_title": "Thinking budget",
        "budget_working": "answering with a budget of {budget} thinking tokens…",
        "budget_cut": "✂ budget of {budget} reached — thinking cut here",
        "tally": "right at {right} of {tried} budgets tried ({wrong_list})",
        "tally_all": "right at every budget tried ({tried})",
        "wrong_at": "wrong at {budgets}",
        "compare_title": "Thinking vs non-thinking",
        "difference": "How expert use differs",
        "routing_of": "Routing — {label}",
        "routing": "routing",
        "routing_wait": "the routing of the thinking run appears here",
        "experts_off": "switch experts off",
        "as_trained": "as trained",
        "with_changes": "with your changes",
        "same_answer": "same answer",
        "answer_changed": "the answer changed",
        "press_run": "press Run to compare",
        "accuracy_curve": "Accuracy vs thinking budget ({n} problems)",
        "layer": "layer",
        "view": "view",
        "tokens_experts": "tokens × experts",
        "tokens_layers": "tokens × layers",
        "window": "window",
        "tokens_from": "tokens from",
        "ablate": "switch off",
        "force": "force on",
        "top_k": "top-k",
        "top_k_own": "experts per token (0 = the model's own)",
        "unlimited": "unlimited",
        "compare_tab": "thinking on/off",
        "budget_tab": "budget",
        "experts_tab": "experts off",
        "heatmap_title": "Routing weights — layer {layer} (top-{k} of {experts})",
        "use_title": "Experts this answer uses (switch some off, then Run)",
        "load_title": "Expert load — layer {layer}",
        "layers_title": "{title}: top-1 expert per token and layer",
        "decoder_layer_n": "decoder layer {layer}",
        # OffloadPlanner (option values stay the API's names; what a language shows is looked up by option_label)
        "format": "format",
        "machine": "machine",
        "on_gpu": "on GPU %",
        "policy": "policy",
        "fig_does_not_fit": "Does not fit:",
        "hit_rate_note": "the trace's {policy} hit rate with {slots} of its {experts} experts resident{capped}",
        "capped": ", capped at what fits",
        # figures.offload
        "fig_hit_rate_title": "Hit rate per layer, {slots} slots",
        "fig_hit_rate_title_plain": "Hit rate per layer",
        "fig_decoder_layer": "decoder layer",
        "fig_hit_rate": "hit rate",
        "fig_requests": "{hits} of {requests} requests",
        "fig_miss": "miss ({count})",
        "fig_speed": (
            "<b>{rate} tokens/s</b> predicted for a batch of {batch} on <i>{machine}</i> in {format}: {slots} of the "
            "experts per layer on the GPU (at most {max_slots} fit), hit rate {hit_rate}{note}, {loads} expert loads "
            "of {size} MiB per token. A step takes {step} ms: {split}; bound by <b>{bound}</b>."
        ),
        "fig_tier_GPU memory": "GPU memory",
        "fig_tier_host link": "host link",
        "fig_tier_CPU RAM reads": "CPU reading RAM",
        "fig_tier_NVMe": "NVMe",
        "fig_tier_per-layer overhead": "per-layer overhead",
        "fig_tier_sep": ", ",
        # figures.routing
        "fig_heatmap_title": "Routing weights — layer {layer} (top-{k} of {experts})",
        # figures.article
        "fig_context_line": "context {label}",
        "fig_ratio_hover": "context {label}<br>batch {x}<br>{y}x {reference}",
        "fig_article_claim": "article: >{claim}x",
        "fig_throughput_title": "Decode throughput, Qwen3-Next-80B-A3B / {reference}",
        "fig_batch_title": "Batch {batch}: {verdict}",
        "fig_holds_at": ">{claim}x holds at {contexts}",
        "fig_holds_nowhere": ">{claim}x holds at no context shown",
        "fig_not_at": "; not at {contexts}",
        "fig_context_sep": ", ",
        "fig_batch_axis": "sequences decoded together (batch, log scale)",
        "fig_ratio_axis": "throughput / {reference}'s (log)",
    },
    "ja": {
        "prompt": "質問",
        "run_both": "両方実行",
        "run": "実行",
        "ask": "質問する",
        "reset_experts": "エキスパートを戻す",
        "examples": "例",
        "pick_example": "例題を選ぶ…",
        "thinking": "思考あり",
        "non_thinking": "思考なし",
        "answer": "答え",
        "budget": "予算",
        "tokens": "トークン",
        "generating": "生成中…",
        "done": "完了",
        "saved_view": "保存された表示です。カーネルが動いていないため、最後の状態を示しています。使うにはノートブックを実行してください。",
        "error": "エラー（下を参照）",
        "type_prompt": "まず質問を入力してください",
        "right": "✓ 正解",
        "wrong": "✗ 不正解 — 正解は {expected}",
        "unchecked": "未判定（正解が不明）",
        "expected_note": "{model} が学習した種類の質問です（{family}）。正解は {expected}",
        "family_add": "足し算",
        "family_arith": "四則演算",
        "family_count": "文字の数え上げ",
        "family_compare": "数の比較",
        "family_sort": "並べ替え",
        "family_mul": "ツールを使う掛け算",
        "family_with_example": "{family}（{example}）",
        "list_sep": "、",
        "near_note": (
            "{model} は{family}を学習しましたが、{detail}。この質問は教わっていません。正解は {expected} です。"
            "答えは判定しますが、正解でも偶然かもしれません。"
        ),
        "outside_digits": "学習したのは {low}〜{high} 桁の数だけで、この質問には {got} 桁の数があります",
        "outside_terms": "学習したのは {low}〜{high} 個の数の式だけで、この式は {got} 個です",
        "outside_letters": "学習したのは {low}〜{high} 文字の単語だけで、この単語は {got} 文字です",
        "outside_items": "学習したのは {low}〜{high} 個の数字の並べ替えだけで、この質問は {got} 個です",
        "outside_single": "学習したのは 1 桁の数（{low}〜{high}）だけで、この質問には {got} があります",
        "outside_products": "学習したのは掛け算が 1 回までの式だけです",
        "outside_repeated": "学習したのは数字が重ならない並べ替えだけです",
        "outside_lengths": "学習したのは同じ桁数の 2 つの数の比較だけです",
        "ood": (
            "{model} が学習したのは次の問題だけです: {families}。この質問はどれにも当てはまらないので、"
            "答えに意味はありません。例題を試してください。"
        ),
        "budget_counts": "予算 {budget} · 思考 {thinking} トークン · 答え {answer} トークン · {finish}",
        "budget_answered": "予算 {budget}: 操作から {waited} で回答（モデル自身の処理: {model}）",
        "reused": "なし（制限なしの実行がここで止まっていた）",
        "finish_eos": "モデルが自分で終了",
        "finish_budget": "予算で思考を打ち切り",
        "finish_max_new_tokens": "max_new_tokens で打ち切り",
        "finish_stopped": "停止",
        "cut_complete": (
            "思考はすでに完了していました。モデルが自分で閉じる直前に予算が尽きたため、打ち切りの文（{stop}）が"
            "入りました。モデルはこの文を学習中、途中で切られた思考の後にしか見ていないので、この思考も途中で"
            "切られたものとして答えることがあります。"
        ),
        "curve_after_answer": "正解率の曲線: 最初の答えが出てから計算します",
        "curve_sweeping": "正解率の曲線: {problems} 問で {budgets} 個の予算を計算中…",
        "curve_progress": "正解率の曲線: {message}",
        "curve_error": "正解率の曲線: エラー（下を参照）",
        "stream_stats": "思考 {thinking} · 答え {answer} トークン · {time}",
        "generation_stats": (
            "思考 {thinking} · 答え {answer} トークン · {total} トークンを {time} で生成（{rate}）、"
            "最初のトークンまで {first} · {finish}"
        ),
        "per_second": "トークン/秒",
        "fig_thinking_line": "思考あり",
        "fig_non_thinking_line": "思考なし",
        "fig_budget_axis": "思考予算（トークン、対数目盛）",
        "fig_accuracy": "正解率",
        "fig_budget": "予算",
        "fig_mean_tokens": "平均思考トークン",
        "fig_marker": "現在の予算",
        "routing_summary": "{tokens} トークン、MoE 層 {layers} 個、{experts} 個のエキスパートから top-{k}",
        "fig_token_axis": "トークン（{total} 行のうち {first}–{last}、{shown}にラベル）",
        "fig_every_token": "すべてのトークン",
        "fig_one_in": "{every} トークンに 1 つ",
        "fig_expert": "エキスパート",
        "fig_layer": "層",
        "fig_weight": "重み",
        "fig_top1_expert": "第1エキスパート",
        "fig_share_slots": "割り当ての割合",
        "fig_uniform": "均等 1/{experts}",
        "fig_hash_routed": "ハッシュ・ルーティング層: エキスパートはルーターではなくトークン ID の固定表で選ばれる",
        "fig_hash_tick": "{layer} · ハッシュ",
        "fig_zero_pick": "ゼロ計算エキスパート（恒等、計算なし）",
        "fig_zero_rows": "ゼロ計算",
        "fig_zero_note": "エキスパート {first}–{last} はゼロ計算: トークンはそのまま通過",
        "routing_hash_note": "ハッシュ・ルーティング層 {layers}: エキスパートはルーターではなくトークン ID で選ばれる",
        "routing_zero_note": "エキスパート {first}–{last} はゼロ計算（トークンはそのまま通過）",
        "fig_phase_prompt": "プロンプト",
        "fig_phase_thinking": "思考",
        "fig_phase_answer": "答え",
        "fig_phase_tool_call": "ツール呼び出し",
        "fig_phase_tool_response": "ツールの結果",
        "fig_use_difference": "エキスパートの使い方: {a} − {b}",
        "fig_use_detail": "全変動距離の平均 {distance} · 赤: {a} で多い、青: {b} で多い",
        "fig_use_of": "エキスパートの使い方: {label}",
        "fig_difference": "差",
        "fig_share": "割合",
        "budget_title": "思考予算",
        "budget_working": "思考 {budget} トークンの予算で回答中…",
        "budget_cut": "✂ 予算 {budget} に到達 — ここで思考を打ち切り",
        "tally": "試した {tried} 個の予算のうち {right} 個で正解（{wrong_list}）",
        "tally_all": "試したすべての予算で正解（{tried} 個）",
        "wrong_at": "不正解: {budgets}",
        "compare_title": "思考あり と 思考なし",
        "difference": "エキスパートの使い方の違い",
        "routing_of": "ルーティング — {label}",
        "routing": "ルーティング",
        "routing_wait": "思考ありの回答のルーティングがここに表示されます",
        "experts_off": "エキスパートを止める",
        "as_trained": "学習したまま",
        "with_changes": "変更後",
        "same_answer": "答えは同じ",
        "answer_changed": "答えが変わった",
        "press_run": "「実行」で比較します",
        "accuracy_curve": "正解率と思考予算（{n} 問）",
        "layer": "層",
        "view": "表示",
        "tokens_experts": "トークン × エキスパート",
        "tokens_layers": "トークン × 層",
        "window": "範囲",
        "tokens_from": "開始トークン",
        "ablate": "止める",
        "force": "必ず使う",
        "top_k": "top-k",
        "top_k_own": "トークンあたりのエキスパート数（0 = モデル既定）",
        "unlimited": "無制限",
        "compare_tab": "思考 あり/なし",
        "budget_tab": "思考予算",
        "experts_tab": "エキスパート停止",
        "heatmap_title": "ルーティングの重み — 層 {layer}（{experts} 個から top-{k}）",
        "use_title": "この答えが使うエキスパート（いくつか止めて「実行」）",
        "load_title": "エキスパートの負荷 — 層 {layer}",
        "layers_title": "{title}: トークンと層ごとの第1エキスパート",
        "decoder_layer_n": "層 {layer}",
        "format": "形式",
        "machine": "マシン",
        "on_gpu": "GPU 上 %",
        "policy": "方式",
        "option_policy_lru": "LRU",
        "option_policy_lfu": "LFU",
        "option_policy_static": "固定",
        "option_policy_belady": "Belady",
        "option_machine_H100 80 GB (all on GPU)": "H100 80 GB（すべて GPU 上）",
        "fig_does_not_fit": "収まりません:",
        "hit_rate_note": "トレースの {policy} ヒット率、{experts} 個のうち {slots} 個のエキスパートを常駐{capped}",
        "capped": "、収まる数まで",
        "fig_hit_rate_title": "層ごとのヒット率（スロット {slots} 個）",
        "fig_hit_rate_title_plain": "層ごとのヒット率",
        "fig_decoder_layer": "層",
        "fig_hit_rate": "ヒット率",
        "fig_requests": "{requests} 回の要求のうち {hits} 回",
        "fig_miss": "ミス（{count}）",
        "fig_policy_lru": "LRU",
        "fig_policy_lfu": "LFU",
        "fig_policy_static": "固定",
        "fig_policy_belady": "Belady（最適）",
        "fig_speed": (
            "<b>{rate} トークン/秒</b>と予測（バッチ {batch}、<i>{machine}</i>、{format}）: 層ごとに {slots} 個の"
            "エキスパートが GPU 上（最大 {max_slots} 個まで収まる）、ヒット率 {hit_rate}{note}、トークンあたり "
            "{size} MiB のエキスパートの読み込みが {loads} 回。1 ステップ {step} ms: {split}。律速は <b>{bound}</b>。"
        ),
        "fig_tier_GPU memory": "GPU メモリ",
        "fig_tier_host link": "ホストとの接続",
        "fig_tier_CPU RAM reads": "CPU による RAM の読み出し",
        "fig_tier_NVMe": "NVMe",
        "fig_tier_per-layer overhead": "層ごとのオーバーヘッド",
        "fig_tier_sep": "、",
        "fig_note": "（{note}）",
        "fig_heatmap_title": "ルーティングの重み — 層 {layer}（{experts} 個から top-{k}）",
        "fig_context_line": "コンテキスト {label}",
        "fig_ratio_hover": "コンテキスト {label}<br>バッチ {x}<br>{reference} の {y} 倍",
        "fig_article_claim": "記事: {claim} 倍超",
        "fig_throughput_title": "デコードのスループット: Qwen3-Next-80B-A3B / {reference}",
        "fig_batch_title": "バッチ {batch}: {verdict}",
        "fig_holds_at": "{contexts} で {claim} 倍超が成り立つ",
        "fig_holds_nowhere": "示したどのコンテキストでも {claim} 倍超は成り立たない",
        "fig_not_at": "。{contexts} では成り立たない",
        "fig_context_sep": "、",
        "fig_batch_axis": "同時にデコードする系列の数（バッチ、対数目盛）",
        "fig_ratio_axis": "スループット / {reference}（対数）",
    },
}

_session = {"language": "en"}


def set_language(language: str) -> None:
    """The language of widgets created from now on (``"en"`` or ``"ja"``)."""
    _session["language"] = check_language(language)


def get_language() -> str:
    """The session's widget language."""
    return _session["language"]


def check_language(language: str | None) -> str:
    """``language`` if supported, the session's if None; ValueError otherwise."""
    if language is None:
        return _session["language"]
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, got {language!r}")
    return language


def finish_label(reason: object, language: str | None = None) -> str:
    """Why a generation ended (``Generation.finish_reason``), in words; an unknown reason as it is (not escaped)."""
    lang = check_language(language)
    key = f"finish_{reason}"
    return _TABLE[lang].get(key, _TABLE["en"].get(key, str(reason)))


def figure_labels(keys: object, language: str | None = None) -> dict[str, str]:
    """The words of a figure builder (``keys``: its ``LABELS`` table) in ``language``, from the ``fig_*`` labels:
    a key this table does not translate keeps the builder's English."""
    lang = check_language(language)
    return {key: _TABLE[lang][f"fig_{key}"] for key in keys if f"fig_{key}" in _TABLE[lang]}


def option_label(kind: str, value: object, language: str | None = None) -> str:
    """What a control shows for option ``value`` (an API name, e.g. a cache policy): its ``option_<kind>_<value>``
    label in ``language``, else the value itself."""
    return _TABLE[check_language(language)].get(f"option_{kind}_{value}", str(value))


def options(kind: str, values: object, language: str | None = None) -> list[tuple[str, object]]:
    """``(label, value)`` pairs for a Dropdown or ToggleButtons: the values stay API names, the labels are shown."""
    return [(option_label(kind, value, language), value) for value in values]


def figure_words(builder: object, language: str | None = None) -> dict[str, str]:
    """The words of a figure builder of ``qnext_lab.figures`` (a function whose module has a ``LABELS`` table) in
    ``language`` (default: the session's), to pass as its ``words=``::

        ql.figures.throughput_ratio_figure(table, batch=8, words=ql.figure_words(ql.figures.throughput_ratio_figure))
    """
    import sys

    module = sys.modules.get(getattr(builder, "__module__", "") or "")
    labels = getattr(module, "LABELS", None)
    if not callable(builder) or not isinstance(labels, dict):
        raise TypeError(f"expected a figure builder of qnext_lab.figures that takes words=, got {builder!r}")
    return figure_labels(labels, language)


def text(key: str, language: str | None = None, **values: object) -> str:
    """The label ``key`` in ``language`` (default: the session's), formatted with ``values`` (not escaped)."""
    lang = check_language(language)
    template = _TABLE[lang].get(key, _TABLE["en"][key])
    return template.format(**values) if values else template
