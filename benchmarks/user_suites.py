"""User suites: are `--data` verdicts as trustworthy as the built-in suites'?

Writes three user suites in their own prompt formats, from offline material that the
built-in suites never read, each as a calibration file (what `assess --data` reads) and a
disjoint evaluation file (what `evaluate --data` scores):

* ``math``: two-digit addition and subtraction in a "Calculate … / Result:" format with
  three worked lines (procedurally generated; not the built-in one-digit "a op b =" form);
* ``multiple-choice``: word analogies from gensim's ``questions-words.txt`` (capitals,
  comparatives, past tenses), options from the same section;
* ``generation``: openings of the 49 ABC news stories of gensim's ``lee.cor`` (the
  built-in suites read ``lee_background.cor``), reference = the story's next 30 words;
* ``retrieval``: the Python language reference shipped with CPython (``pydoc_data``):
  a paragraph's leading sentences are the passage, its next sentence the query (then
  the same on the rest of the paragraph); up to ten pairs per topic, topics never shared
  between the two files, which are the same size (a user who halves their own corpus).

Then, per model and pruning configuration, it runs the assessment's evidence and verdict
on the calibration file and the ground truth on the evaluation file, and prints how the
verdicts fare (JSON rows appended to --out, resumable).

    .venv/bin/python benchmarks/user_suites.py --write benchmarks/user_suites
    .venv/bin/python benchmarks/user_suites.py --run --out benchmarks/user_suites/results.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent / "user_suites"
CONFIGS = {
    "smollm2-135m": ["attn-drop@2", "attn-drop@6", "mlp-drop@1", "wanda@0.2", "magnitude@0.1"],
    "gemma3-270m": ["attn-drop@2", "block-drop@1", "wanda@0.2", "magnitude@0.3"],
}


def _write(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def math_rows(rng: random.Random) -> list[dict]:
    demos = "Calculate 21 plus 13.\nResult: 34\n\nCalculate 45 minus 12.\nResult: 33\n\n"
    demos += "Calculate 30 plus 18.\nResult: 48\n\n"
    problems = [(a, op, b) for a in range(10, 50) for b in range(10, 50) for op in "+-" if a > b]
    rng.shuffle(problems)
    rows = []
    for a, op, b in problems[:208]:
        word = "plus" if op == "+" else "minus"
        answer = a + b if op == "+" else a - b
        prompt = f"{demos}Calculate {a} {word} {b}.\nResult:"
        rows.append({"prompt": prompt, "answer": answer, "stop": ["\n"], "max_new_tokens": 5})
    return rows


def analogy_rows(rng: random.Random) -> list[dict]:
    from gensim.test.utils import datapath

    templates = {
        "capital-common-countries": "{a} is the capital of {b}. {c} is the capital of",
        "gram3-comparative": "{a} becomes {b}. {c} becomes",
        "gram7-past-tense": "Today I {a}, yesterday I {b}. Today I {c}, yesterday I",
    }
    sections: dict[str, list[list[str]]] = {}
    current = None
    for line in Path(datapath("questions-words.txt")).read_text().splitlines():
        if line.startswith(":"):
            current = line[1:].strip()
            continue
        if current in templates:
            sections.setdefault(current, []).append(line.split())
    rows = []
    for name, quads in sections.items():
        answers = sorted({q[3] for q in quads})
        rng.shuffle(quads)
        for a, b, c, d in quads[:60]:
            wrong = rng.sample([w for w in answers if w not in (d, b)], 3)
            options = [*wrong, d]
            rng.shuffle(options)
            prompt = templates[name].format(a=a, b=b, c=c)
            rows.append({"question": prompt, "options": options, "gold": options.index(d)})
    rng.shuffle(rows)
    return rows


def story_rows() -> list[dict]:
    from gensim.test.utils import datapath

    rows = []
    for line in Path(datapath("lee.cor")).read_text(errors="replace").splitlines():
        words = line.split()
        if len(words) < 60:
            continue
        rows.append({"prompt": " ".join(words[:25]), "reference": " ".join(words[25:55])})
    return rows


def document_rows(per_topic: int = 10, size: int = 40) -> tuple[list[dict], list[dict]]:
    """Query/passage pairs from the Python reference's prose paragraphs: ``size`` for
    calibration, ``size`` for evaluation, from disjoint topics (no code, no grammar)."""
    import re
    from pydoc_data.topics import topics

    from advisor.suites.text import leading_sentences, sentences, words

    by_topic, seen = [], set()
    for name in sorted(topics):
        pairs = []
        for para in re.split(r"\n\s*\n", topics[name]):
            if para.startswith(" ") or "::=" in para or ">>>" in para:
                continue
            parts = sentences(" ".join(para.split()))
            while parts:  # consecutive (passage, next sentence) windows of the paragraph
                document = leading_sentences(parts, 60)
                if not document or len(document) >= len(parts):
                    break
                query, parts = parts[len(document)], parts[len(document) + 1 :]
                passage = " ".join(document)
                if 6 <= words(query) <= 30 and passage not in seen:
                    seen.add(passage)
                    pairs.append({"query": query, "passage": passage})
        if pairs:
            by_topic.append(pairs[:per_topic])
    random.Random(0).shuffle(by_topic)
    calibration, evaluation = [], []
    for pairs in by_topic:
        if len(calibration) < size:
            calibration += pairs[: size - len(calibration)]
        elif len(evaluation) < size:
            evaluation += pairs[: size - len(evaluation)]
    return calibration, evaluation


def _split(rows: list[dict], n_calibration: int) -> tuple[list[dict], list[dict]]:
    return rows[:n_calibration], rows[n_calibration:]


SUITES = {  # task, () -> (calibration rows, evaluation rows)
    "math": ("math", lambda: _split(math_rows(random.Random(0)), 48)),
    "analogies": ("multiple-choice", lambda: _split(analogy_rows(random.Random(0)), 48)),
    "stories": ("generation", lambda: _split(story_rows(), 16)),
    "documents": ("retrieval", document_rows),
}


def write(folder: Path) -> None:
    """The suites' calibration and evaluation files, deterministic."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, (_, make) in SUITES.items():
        calibration, evaluation = make()
        _write(folder / f"{name}.calibration.jsonl", calibration)
        _write(folder / f"{name}.evaluation.jsonl", evaluation)
        print(f"{name}: {len(calibration)} calibration, {len(evaluation)} evaluation rows")


def run(
    folder: Path,
    out: Path,
    models: list[str],
    reread: Path | None = None,
    dtype: str = "float32",
) -> None:
    """Evidence and verdict on each calibration file (read in sequential looks, as
    `assess` reads it), ground truth on its evaluation file (taken from ``reread``, a
    results file of an earlier run, where it has the row). ``dtype``: the models are
    loaded and pruned in it, as `assess --dtype` does (the recorded truth stays fp32)."""
    import torch

    from advisor import forward
    from advisor.fitting.grid import parse_grid
    from advisor.measure.evidence import evidence_kind, task_evidence
    from advisor.models import load_model
    from advisor.pruning import prune_model
    from advisor.rules.looks import evidence_in_looks
    from advisor.rules.predict import explain
    from advisor.rules.rules_file import load_rules
    from advisor.suites import build_suite
    from advisor.truth.evaluate import dense_results, evaluate_pair
    from advisor.truth.score import dense_competence

    torch.set_num_threads(1)
    rules, _, _ = load_rules(None)
    done = set()
    if out.is_file():
        done = {(r["model"], r["point"], r["suite"]) for r in map(json.loads, out.open())}
    # --reread: verdicts again from the current code, the recorded ground truth kept.
    recorded = {}
    if reread is not None:
        rows = [json.loads(line) for line in reread.open()]
        recorded = {(r["model"], r["point"], r["suite"]): r["truth"] for r in rows}
    for name in models:
        dense = load_model(name, dtype=dtype)
        for point in parse_grid(",".join(CONFIGS[name])):
            todo = [s for s in SUITES if (name, point.id, s) not in done]
            if not todo:
                continue
            pruned = prune_model(dense, point.method, **point.kwargs(), seed=0).loaded
            for suite in todo:
                task = SUITES[suite][0]
                cal = build_suite(task, data_file=folder / f"{suite}.calibration.jsonl")
                ev_items = build_suite(task, data_file=folder / f"{suite}.evaluation.jsonl")
                start = time.perf_counter()
                scored = dense_results(dense, cal)
                competence = dense_competence(task, cal, scored).to_dict()
                rule = rules["tasks"][task]

                def measure_on(
                    picks, dense=dense, pruned=pruned, task=task, cal=cal, scored=scored
                ):
                    return task_evidence(dense, pruned, task, cal, scored, picks=picks)

                with forward.reuse(pruned.model):  # as `assess` reads it: in looks
                    found = evidence_in_looks(rule, evidence_kind(task), len(cal), 0.9, measure_on)
                found = found.to_dict()
                verdict = {"verdict": "n/a", "prediction": None}
                if competence["assessable"]:
                    verdict = explain(task, rule, found, 0.9, rules["provenance"])
                seconds = time.perf_counter() - start
                truth = recorded.get((name, point.id, suite))
                if truth is None:
                    truth = evaluate_pair(dense, pruned, {task: ev_items}, adaptive=0)[task]
                    truth = {
                        k: truth[k] for k in ("retention", "ci", "outcome", "n", "dense_score")
                    } | {"assessable": truth["competence"]["assessable"]}
                row = {
                    "model": name,
                    "point": point.id,
                    "suite": suite,
                    "task": task,
                    "competence": competence["assessable"],
                    "dense_cal": competence["score"],
                    "verdict": verdict["verdict"],
                    "prediction": verdict["prediction"],
                    "evidence": {
                        k: found[k]
                        for k in ("kind", "retention", "stats", "n", "look")
                        if k in found
                    },
                    "truth": truth,
                    "assess_s": round(seconds, 1),
                    "dtype": dtype,
                }
                with out.open("a") as fh:
                    fh.write(json.dumps(row) + "\n")
                print(name, point.id, suite, row["verdict"], truth["outcome"], flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", type=Path, help="write the suites into this folder")
    parser.add_argument("--run", action="store_true", help="validate verdicts on them")
    parser.add_argument("--folder", type=Path, default=HERE)
    parser.add_argument("--out", type=Path, default=HERE / "results.jsonl")
    parser.add_argument("--models", default="smollm2-135m,gemma3-270m")
    parser.add_argument("--dtype", default="float32", help="load and prune the models in this")
    parser.add_argument(
        "--reread", type=Path, help="take the ground truth from this earlier results file"
    )
    args = parser.parse_args()
    if args.write:
        write(args.write)
    if args.run:
        run(args.folder, args.out, args.models.split(","), args.reread, args.dtype)


if __name__ == "__main__":
    main()
