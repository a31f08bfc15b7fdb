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


def text(key: str, language: str | None = None, **values: object) -> str:
    """The label ``key`` in ``language`` (default: the session's), formatted with ``values`` (not escaped)."""
    lang = check_language(language)
    template = _TABLE[lang].get(key, _TABLE["en"][key])
    return template.format(**values) if values else template
