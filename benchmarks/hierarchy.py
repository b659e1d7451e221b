"""The representation hierarchy of pruned SmolLM2-135M, one row per pruning config (on demand).

    .venv/bin/python benchmarks/hierarchy.py [--mc 24] [--gen 8] [--horizon 48] [--threads 1]

Items (built here, not a product suite): **multiple choice** — the first two sentences
of a Wikipedia paragraph; the candidates are its true next sentence and three sentences
from other paragraphs of the same article, scored as continuations by per-token
log-likelihood (docs/design.md §5a found the dense model at 0.54 against 0.25 chance on items of
this kind; the table prints the accuracy measured here); **generation** — the opening
sentences of a passage from other articles, continued greedily for ``--horizon`` tokens.

Configs: dense vs itself, attn-drop 25%, mlp-drop 25%, block-drop 25%, Wanda 50%
unstructured. The first pruned config (attn-drop) runs first, with a cold dense cache,
and then again with a warm one; both wall times are printed (the warm run must take
< 60% of the cold one).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import tempfile
import time
from typing import Any

import torch

from advisor.suites.items import Item

SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
CONFIGS: list[tuple[str, str | None, dict[str, Any]]] = [
    ("dense-vs-dense", None, {}),
    ("attn-drop 25%", "attn-drop", {"ratio": 0.25}),
    ("mlp-drop 25%", "mlp-drop", {"ratio": 0.25}),
    ("block-drop 25%", "block-drop", {"ratio": 0.25}),
    ("wanda 50%", "wanda", {"sparsity": 0.5}),
]


def _sentences(text: str) -> list[str]:
    out = []
    for para in text.split("\n\n"):
        out.extend(s.strip() for s in SENTENCE.split(para) if s.strip())
    return out


JUNK = re.compile(r"[*|=:;{}\[\]]|ISBN|\(\d{4}\)|\bpp?\.")


def _usable(sentence: str) -> bool:
    """A plain prose sentence: 6-30 words, no list, table or citation debris."""
    words = len(sentence.split())
    return 6 <= words <= 30 and sentence[-1] in ".!?" and not JUNK.search(sentence)


def next_sentence_items(n: int, seed: int = 0, context: int = 2) -> list[Item]:
    """Continuation-choice items: the first ``context`` sentences of a paragraph; its true
    next sentence against three sentences from other paragraphs of the same article; order
    shuffled, seeded. At most one item per article."""
    from advisor.suites.sources import wikipedia_articles

    rng = random.Random(seed)
    articles = list(wikipedia_articles())
    rng.shuffle(articles)
    items = []
    for article in articles:
        paras = [_sentences(p) for p in article["text"].split("\n\n")]
        spots = [
            k
            for k, para in enumerate(paras)
            if len(para) > context and all(_usable(s) for s in para[: context + 1])
        ]
        if not spots:
            continue
        k = rng.choice(spots)
        far = sorted({s for j, para in enumerate(paras) if j != k for s in para if _usable(s)})
        if len(far) < 3:
            continue
        options = [paras[k][context], *rng.sample(far, 3)]
        order = list(range(4))
        rng.shuffle(order)
        items.append(
            Item(
                id=f"mc-{article['id']}-{k}",
                task="multiple-choice",
                prompt=" ".join(paras[k][:context]),
                candidates=tuple(" " + options[j] for j in order),
                candidate_mode="continuation",
                gold=order.index(0),
                meta={"title": article["title"]},
            )
        )
        if len(items) == n:
            break
    return items


def continuation_items(n: int, seed: int = 1, context: int = 2) -> list[Item]:
    """Open-ended continuation items: the first sentences of a passage, the next as reference."""
    from advisor.suites.sources import wikipedia_articles

    rng = random.Random(seed)
    articles = list(wikipedia_articles())
    rng.shuffle(articles)
    items = []
    for article in articles[::-1]:  # other end of the shuffle: mostly other articles than MC
        sents = _sentences(article["text"])
        spots = [i for i in range(context, len(sents)) if _usable(sents[i])]
        spots = [i for i in spots if all(_usable(s) for s in sents[i - context : i])]
        if not spots:
            continue
        i = rng.choice(spots)
        items.append(
            Item(
                id=f"gen-{article['id']}-{i}",
                task="generation",
                prompt=" ".join(sents[i - context : i]),
                reference=sents[i],
            )
        )
        if len(items) == n:
            break
    return items


def _mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def row_of(label: str, result: Any) -> dict[str, Any]:
    """The table row of one measurement."""
    agg = result.aggregates["all"]
    mc = result.aggregates["multiple-choice"]
    gen = result.aggregates["generation"]["accumulation"]
    steps = gen["kl_free_running_per_step"]["mean"]
    answers = mc["subspace"]["answers"]
    return {
        "config": label,
        "emb_cos": agg["embedding"]["cos_last_layers"]["mean"],
        "emb_cos_final": agg["embedding"]["cos_last_final"]["mean"],
        "logit_cos": agg["logit"]["cos_logits"]["mean"],
        "kl": agg["probability"]["kl_t1"]["mean"],
        "kl_est": agg["probability"]["kl_est_t1"]["mean"],
        "top1": agg["probability"]["top1_agree"]["mean"],
        "mc_agree": mc["subspace"]["argmax_agree"]["mean"],
        "mc_acc": (answers["dense_accuracy"], answers["pruned_accuracy"]),
        "dense_shares": answers["dense_answer_shares"],
        "acc_score": gen["accumulation_score"]["mean"],
        "first_div": gen["first_divergence_or_horizon"]["mean"],
        "tok_agree": gen["token_agreement"]["mean"],
        "kl_tf": gen["kl_tf_mean"]["mean"],
        "kl_free0": steps[0] if steps else float("nan"),
        "kl_free_late": gen["kl_free_late"]["mean"],
        "seconds": result.meta["timing_s"]["total"],
        "cache": result.meta["dense_cache"]["state"],
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    """Print the hierarchy table and the dense answer distribution."""
    head = (
        f"{'config':<16}{'emb cos':>8}{'emb fin':>8}{'logit':>8}{'KL T=1':>8}{'Var/2T²':>8}"
        f"{'top-1':>7}{'MC agr':>7}{'MC acc d/p':>12}{'acc sc':>8}{'1st div':>8}"
        f"{'tok agr':>8}{'KL tf':>7}{'KLfree0':>8}{'KLlate':>7}{'time s':>8}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['config']:<16}{r['emb_cos']:>8.4f}{r['emb_cos_final']:>8.4f}"
            f"{r['logit_cos']:>8.4f}{r['kl']:>8.4f}{r['kl_est']:>8.4f}{r['top1']:>7.2f}"
            f"{r['mc_agree']:>7.2f}{r['mc_acc'][0]:>6.2f}/{r['mc_acc'][1]:<5.2f}"
            f"{r['acc_score']:>8.3f}{r['first_div']:>8.1f}{r['tok_agree']:>8.2f}"
            f"{r['kl_tf']:>7.3f}{r['kl_free0']:>8.3f}{r['kl_free_late']:>7.3f}"
            f"{r['seconds']:>8.1f}"
        )
    shares = ", ".join(f"{k}: {v:.2f}" for k, v in rows[0]["dense_shares"].items())
    print(f"dense MC answer shares by candidate position: {shares}")


def main() -> None:
    """Build the items, prune, measure every config, print the table and cache timing."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mc", type=int, default=24, help="multiple-choice items")
    parser.add_argument("--gen", type=int, default=8, help="generation items")
    parser.add_argument("--horizon", type=int, default=48, help="greedy steps per item")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (on a busy 2-core machine 2 threads spin-wait: 4-15x slower)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from advisor.measure import measure
    from advisor.models import load_model
    from advisor.pruning import prune_model

    start = time.perf_counter()
    dense = load_model(args.model)
    items = next_sentence_items(args.mc) + continuation_items(args.gen)
    print(
        f"model {dense.name} ({dense.fingerprint}), {args.mc} multiple-choice + {args.gen} "
        f"generation items, horizon {args.horizon}, torch threads {torch.get_num_threads()}",
        file=sys.stderr,
    )
    # The model is loaded; from here on a private cache, so the "cold" run really is cold.
    os.environ["PRUNE_ADVISOR_CACHE"] = tempfile.mkdtemp(prefix="hierarchy-cache-")

    # The first pruned config runs first, with a cold dense cache, and then again with a
    # warm one: the two wall times are the cache's effect on one config.
    timed = CONFIGS[1][0]
    order = [CONFIGS[1], CONFIGS[0], *CONFIGS[2:]]
    rows: dict[str, dict[str, Any]] = {}
    for label, method, amounts in order:
        t0 = time.perf_counter()
        pruned = dense.model if method is None else prune_model(dense, method, **amounts)
        t1 = time.perf_counter()
        result = measure(dense, pruned, items, horizon=args.horizon)
        rows[label] = row_of(label, result)
        print(
            f"  {label}: pruning {t1 - t0:.1f} s, measure {result.meta['timing_s']}, "
            f"dense cache {result.meta['dense_cache']['state']}",
            file=sys.stderr,
        )
        if label == timed:
            again = measure(dense, pruned, items, horizon=args.horizon)
            cold, warm = result.meta["timing_s"], again.meta["timing_s"]
            states = (result.meta["dense_cache"]["state"], again.meta["dense_cache"]["state"])
            same = again.items == result.items
    print_table([rows[label] for label, _, _ in CONFIGS])
    print(
        f"dense cache, '{timed}' measured twice: first run ({states[0]}) {cold['total']:.1f} s "
        f"(dense {cold['dense']:.1f} + pruned {cold['pruned']:.1f} + compare "
        f"{cold['compare']:.1f}); second run ({states[1]}) {warm['total']:.1f} s (dense "
        f"{warm['dense']:.1f} + pruned {warm['pruned']:.1f} + compare {warm['compare']:.1f}) "
        f"= {100 * warm['total'] / cold['total']:.0f}% of the first; identical results: {same}"
    )
    print(f"total wall time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
