"""Report figures: matplotlib, one consistent style, returned as base64 PNG for inlining.

Each function takes plain numbers from a result dict (never a model), so a saved
result.json re-renders the same figures.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.colors import TwoSlopeNorm

from advisor.verdicts import UNKNOWN_FILL, VERDICT_STYLES

DENSE, PRUNED, THIRD = "#4c72b0", "#dd8452", "#55a868"
STYLE = {
    "figure.dpi": 110,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.fontsize": 8,
    "legend.frameon": False,
}


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    # Fixed metadata so the same numbers give the same bytes.
    fig.savefig(buffer, format="png", bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _deviation(value: float | None) -> float:
    return max(1.0 - value, 1e-9) if value is not None else math.nan


def _stat(aggregates: dict[str, Any], space: str, name: str, stat: str = "mean") -> float | None:
    block = aggregates.get(space, {}).get(name)
    return None if block is None else block.get(stat)


def hierarchy(aggregates: dict[str, Any]) -> str | None:
    """Cosine per layer (embedding, logit lens) and the deviation in each space."""
    emb = aggregates.get("embedding", {})
    logit = aggregates.get("logit", {})
    if not emb.get("cos_last_per_layer") and not logit.get("lens_cos_per_layer"):
        return None
    with plt.rc_context(STYLE):
        fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.4), width_ratios=(3, 2))
        if emb.get("cos_last_per_layer"):  # absent where the widths differ (§9b)
            layers = range(len(emb["cos_last_per_layer"]))
            left.plot(
                layers, emb["cos_last_per_layer"], color=DENSE, label="hidden state, last token"
            )
            left.plot(
                layers,
                emb["cos_mean_per_layer"],
                color=DENSE,
                ls="--",
                label="hidden state, mean-pooled",
            )
        if logit.get("lens_cos_per_layer"):
            lens = logit["lens_cos_per_layer"]
            left.plot(
                range(1, len(lens) + 1), lens, color=PRUNED, label="logit lens (final norm applied)"
            )
        left.set_xlabel("residual stream index (0 = embeddings)")
        left.set_ylabel("cosine(dense, pruned)")
        left.set_title("Embedding and logit space, per layer")
        left.legend(loc="lower left")
        names = ["embedding\n1 − cos h", "logit\n1 − cos z", "probability\n1 − cos p"]
        values = [
            _deviation(_stat(aggregates, "embedding", "cos_last_final")),
            _deviation(_stat(aggregates, "logit", "cos_logits")),
            _deviation(_stat(aggregates, "probability", "cos_probs")),
        ]
        colors = [DENSE, PRUNED, THIRD]
        if math.isnan(values[0]):  # no embedding space to show
            names, values, colors = names[1:], values[1:], colors[1:]
        right.bar(names, values, color=colors)
        right.set_yscale("log")
        right.set_ylabel("deviation (log scale)")
        kl = _stat(aggregates, "probability", "kl_t1")
        right.set_title(
            "Deviation by space" + (f" (KL at T=1: {kl:.3g} nats)" if kl is not None else "")
        )
        return _png(fig)


def accumulation(aggregates: dict[str, Any]) -> str | None:
    """Per-step KL(dense‖pruned), teacher-forced vs free-running, first divergence marked."""
    acc = aggregates.get("accumulation")
    if not acc:
        return None
    forced = acc.get("kl_teacher_forced_per_step", {}).get("mean", [])
    free = acc.get("kl_free_running_per_step", {}).get("mean", [])
    if not forced and not free:
        return None
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(7, 3.2))
        floor = 1e-6  # KL can be exactly 0 while the models agree
        ax.plot(
            range(len(forced)),
            [max(v, floor) for v in forced],
            color=DENSE,
            label="teacher-forced (pruned reads the dense tokens)",
        )
        ax.plot(
            range(len(free)),
            [max(v, floor) for v in free],
            color=PRUNED,
            label="free-running (each model reads its own tokens)",
        )
        first = _stat(aggregates, "accumulation", "first_divergence_or_horizon", "median")
        if first is not None:
            ax.axvline(
                first, color="#555555", ls=":", label=f"median first divergence (step {first:g})"
            )
        ax.set_yscale("log")
        ax.set_xlabel("decoding step")
        ax.set_ylabel("KL(dense ‖ pruned), nats")
        ax.set_title("Error accumulation over greedy decoding")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
        return _png(fig)


def temperature(tasks: dict[str, Any], user_t: float) -> str | None:
    """KL at the deployment temperature vs T=1, with the Var_p(Δz)/2T² estimate, per task."""
    rows = []
    for name, task in tasks.items():
        agg = task["measurements"]["aggregates"]
        kl1, klt = _stat(agg, "probability", "kl_t1"), _stat(agg, "probability", "kl_T")
        if kl1 is not None and klt is not None:
            rows.append((name, kl1, klt, _stat(agg, "probability", "kl_est_T")))
    if not rows:
        return None
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(7, 3.2))
        x = range(len(rows))
        ax.bar([i - 0.2 for i in x], [r[1] for r in rows], width=0.4, color=DENSE, label="T = 1")
        ax.bar(
            [i + 0.2 for i in x],
            [r[2] for r in rows],
            width=0.4,
            color=PRUNED,
            label=f"T = {user_t:g} (deployment)",
        )
        est = [(i + 0.2, r[3]) for i, r in zip(x, rows, strict=True) if r[3] is not None]
        if est:
            ax.scatter(
                *zip(*est, strict=True),
                marker="_",
                s=300,
                color="black",
                zorder=3,
                label="Var_p(Δz) / 2T² estimate",
            )
        ax.set_xticks(list(x), [r[0] for r in rows], rotation=20)
        ax.set_ylabel("next-token KL(dense ‖ pruned), nats")
        ax.set_title("Temperature sensitivity")
        ax.legend()
        return _png(fig)


def subspace(tasks: dict[str, Any]) -> str | None:
    """Answer shares of dense and pruned over the candidates of each choice task."""
    panels = []
    for name, task in tasks.items():
        answers = task["measurements"]["aggregates"].get("subspace", {}).get("answers")
        if answers:
            panels.append((name, answers))
    if not panels:
        return None
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3), squeeze=False)
        for ax, (name, answers) in zip(axes[0], panels, strict=True):
            keys = sorted(
                set(answers["dense_answer_shares"]) | set(answers["pruned_answer_shares"]), key=int
            )
            x = range(len(keys))
            ax.bar(
                [i - 0.2 for i in x],
                [answers["dense_answer_shares"].get(k, 0) for k in keys],
                width=0.4,
                color=DENSE,
                label="dense",
            )
            ax.bar(
                [i + 0.2 for i in x],
                [answers["pruned_answer_shares"].get(k, 0) for k in keys],
                width=0.4,
                color=PRUNED,
                label="pruned",
            )
            ax.set_xticks(list(x), [f"option {int(k) + 1}" for k in keys])
            ax.set_ylim(0, 1)
            ax.set_ylabel("share of items answered")
            ax.set_title(f"{name}: argmax agreement {answers['agreement']:.0%}")
            ax.legend()
        return _png(fig)


def frontier(amounts: Sequence[float], verdicts: dict[str, list[str]], method: str) -> str:
    """Verdict per task type (rows) at each pruning amount (columns)."""
    with plt.rc_context({**STYLE, "axes.grid": False}):
        tasks = list(verdicts)
        fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(amounts), 0.5 + 0.45 * len(tasks)))
        for row, task in enumerate(tasks):
            for col, verdict in enumerate(verdicts[task]):
                ax.add_patch(
                    plt.Rectangle(
                        (col, row),
                        0.95,
                        0.9,
                        color=VERDICT_STYLES[verdict].fill
                        if verdict in VERDICT_STYLES
                        else UNKNOWN_FILL,
                    )
                )
                ax.text(
                    col + 0.47,
                    row + 0.45,
                    verdict,
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white",
                )
        ax.set_xlim(0, len(amounts))
        ax.set_ylim(0, len(tasks))
        ax.set_xticks([c + 0.47 for c in range(len(amounts))], [f"{a:g}" for a in amounts])
        ax.set_yticks([r + 0.45 for r in range(len(tasks))], tasks)
        ax.invert_yaxis()
        ax.set_xlabel(f"{method} amount")
        ax.set_title(f"Verdict per task type as {method} grows")
        return _png(fig)


def sensitivity(
    retention: dict[str, list[float]],
    go: dict[str, list[bool]],
    chosen: Sequence[int],
    method: str,
    tolerance: float,
) -> str:
    """The sensitivity map: the predicted retention with one unit of ``method`` removed,
    per task type (rows) and layer (columns), coloured red below ``tolerance`` and green
    above; a cross marks a unit whose removal alone is not go, a star on the layer axis a
    unit the plan removes."""

    with plt.rc_context({**STYLE, "axes.grid": False}):
        tasks = list(retention)
        layers = len(next(iter(retention.values()), []))
        grid = [retention[t] for t in tasks]
        fig, ax = plt.subplots(figsize=(2.0 + 0.28 * layers, 0.9 + 0.42 * len(tasks)))
        centre = min(max(tolerance, 0.01), 0.999)
        low = min([min(row) for row in grid] + [centre - 0.1])
        norm = TwoSlopeNorm(vcenter=centre, vmin=max(0.0, min(low, centre - 0.01)), vmax=1.0)
        image = ax.imshow(grid, cmap="RdYlGn", norm=norm, aspect="auto")
        for row, task in enumerate(tasks):
            for col, ok in enumerate(go[task]):
                if not ok:
                    ax.text(col, row, "×", ha="center", va="center", fontsize=8)
        ax.set_xticks(range(layers), [f"{c}{'*' if c in chosen else ''}" for c in range(layers)])
        ax.tick_params(axis="x", labelsize=7)
        ax.set_yticks(range(len(tasks)), tasks)
        ax.set_xlabel(f"layer whose {method} unit is removed alone (* : in the plan)")
        ax.set_title(
            f"Predicted retention per task type (tolerance {tolerance:g}; × : not go alone)"
        )
        fig.colorbar(image, ax=ax, fraction=0.03, pad=0.01)
        return _png(fig)
