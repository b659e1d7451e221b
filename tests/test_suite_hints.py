"""Diagnosing your suite: empty, identical or length-cut dense answers get a why and a fix."""

from __future__ import annotations

from types import SimpleNamespace

from advisor.suites.diagnose import suite_hints
from advisor.suites.items import Item


def _items(n: int, **meta) -> list[Item]:
    return [Item(id=f"u{k}", task="rag", prompt=f"Q{k}:", reference="x", meta=dict(meta))
            for k in range(n)]  # fmt: skip


def _results(outputs: list[str | None]) -> list[SimpleNamespace]:
    return [SimpleNamespace(output=o) for o in outputs]


class _Words:
    """A tokenizer stand-in: one token per word."""

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": text.split()}


def test_empty_answers_name_the_stop_string_and_the_fix():
    items = _items(10, stop=["\n"], max_new_tokens=8)
    (hint,) = suite_hints(items, _results([""] * 6 + ["Paris", "1889", "Oslo", "two"]))
    assert hint.startswith("6 of 10 dense answers are empty. Where the continuation begins "
                           "with a stop string ('\\n')")  # fmt: skip
    assert "'\\n\\n' instead of '\\n'" in hint


def test_identical_answers_are_named():
    (hint,) = suite_hints(_items(10), _results(["the same"] * 8 + ["a", "b"]))
    assert hint.startswith("8 of 10 dense answers are the same text ('the same')")


def test_answers_cut_by_max_new_tokens_are_named():
    items = _items(6, max_new_tokens=4)
    outputs = ["one two three four"] * 3 + ["short", "ok", "fine"]
    (hint,) = suite_hints(items, _results(outputs), _Words())
    assert hint.startswith("3 of 6 dense answers ran to max_new_tokens (4)")


def test_a_healthy_suite_and_choice_tasks_get_no_hint():
    assert suite_hints(_items(4), _results(["a", "b", "c", "d"]), _Words()) == []
    assert suite_hints(_items(3), _results([None, None, None])) == []
