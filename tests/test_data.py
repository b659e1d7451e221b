"""Offline data loaders return real content; user files fail with a line number."""

from __future__ import annotations

import pytest

from advisor.errors import AdvisorError
from advisor.numbers import extract_final_number
from advisor.suites import sources


def test_wikipedia_articles_are_real_and_clean():
    articles = sources.wikipedia_articles()
    assert len(articles) >= 100
    titles = set(articles["title"])
    assert {"Anarchism", "Abraham Lincoln", "Alkali metal"} <= titles
    lincoln = articles[articles["title"].index("Abraham Lincoln")]["text"]
    assert "president" in lincoln.lower() and len(lincoln.split()) > 5000
    assert not any("'''" in text or "#REDIRECT" in text for text in articles["text"])


def test_wikipedia_passages_keep_their_article_and_section():
    passages = sources.wikipedia_passages()
    assert len(passages) > 1000
    assert set(passages.column_names) == {"id", "article_id", "title", "section", "text"}
    lengths = [len(t.split()) for t in passages["text"]]
    assert min(lengths) >= 20 and max(lengths) <= 160
    assert len(set(passages["article_id"])) >= 100
    assert "Introduction" in set(passages["section"])


def test_news_articles():
    news = sources.news_articles()
    assert len(news) == 300
    assert news[0]["text"].startswith("Hundreds of people have been forced to vacate")


def test_movie_reviews_are_labelled_both_ways():
    reviews = sources.movie_reviews()
    assert len(reviews) == 200
    assert sorted(set(reviews["label"])) == ["neg", "pos"]
    assert reviews[0] == {"id": 0, "text": "simplistic , silly and tedious .", "label": "neg"}


def test_gsm8k_has_1319_numeric_answers():
    items = sources.gsm8k()
    assert len(items) == 1319
    assert all(isinstance(a, float) for a in items["answer"])
    assert items[0]["answer"] == 18.0 and "Janet" in items[0]["question"]
    assert "####" not in items[0]["solution"]


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("The answer is 1,234.", 1234.0),
        ("-7 degrees", -7.0),
        ("3.5 then 42", 42.0),
        ("none", None),
        ("about 1e-5", 1e-5),  # one number, not 1 and then 5
        ("The answer is 2.5E3.", 2500.0),
        ("−4e−2", -0.04),
        ("3 eggs and 2 eels", 2.0),
    ],
)
def test_final_number_of_a_text(text, number):
    assert extract_final_number(text) == number


def test_user_jsonl_and_csv(tmp_path):
    jsonl = tmp_path / "suite.jsonl"
    jsonl.write_text('{"prompt": "2+2=", "answer": "4"}\n\n{"prompt": "3+3=", "answer": "6"}\n')
    assert sources.load_user_file(jsonl, required=("prompt", "answer"))["answer"] == ["4", "6"]
    table = tmp_path / "suite.csv"
    table.write_text("prompt,answer\n2+2=,4\n")
    assert sources.load_user_file(table, required=("prompt",))[0] == {
        "prompt": "2+2=",
        "answer": "4",
    }


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.jsonl", '{"prompt": "a"}\n{"prompt": \n', r"line 2: not valid JSON"),
        ("list.jsonl", '{"prompt": "a"}\n[1, 2]\n', r"line 2: expected a JSON object"),
        ("gap.jsonl", '{"prompt": "a"}\n\n{"other": 1}\n', r"line 3: missing prompt"),
        ("bad.csv", "prompt,answer\na,b\nc,d,e\n", r"line 3: the number of fields"),
        ("empty.jsonl", "", r"holds no rows"),
        ("suite.txt", "x", r"unsupported file type"),
    ],
)
def test_user_file_errors_name_the_line(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(AdvisorError, match=message):
        sources.load_user_file(path, required=("prompt",))


def test_missing_user_file(tmp_path):
    with pytest.raises(AdvisorError, match="absent.jsonl: no such file"):
        sources.load_user_file(tmp_path / "absent.jsonl")
