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
        "ood": (
            "{model} was trained only on: {families}. This prompt is none of them, so its answer means "
            "nothing. Try an example question."
        ),
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
        "ood": (
            "{model} が学習したのは次の問題だけです: {families}。この質問はどれにも当てはまらないので、"
            "答えに意味はありません。例題を試してください。"
        ),
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


def text(key: str, language: str | None = None, **values: object) -> str:
    """The label ``key`` in ``language`` (default: the session's), formatted with ``values`` (not escaped)."""
    lang = check_language(language)
    template = _TABLE[lang].get(key, _TABLE["en"][key])
    return template.format(**values) if values else template
