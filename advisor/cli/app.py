"""The typer application, consoles and option types shared by every command module."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from advisor import __version__
from advisor.publish import json_text
from advisor.requests import LoadOptions, PruneRequest
from advisor.suites.tasks import select_tasks
from advisor.verdicts import style

EXIT_OK, EXIT_GATE, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_INTERRUPTED = 130  # Ctrl-C: the shell's convention, 128 + SIGINT

app = typer.Typer(
    name="prune-advisor",
    help=(
        "Tell, before deployment, whether a pruned language model is safe to ship for a "
        "given task type (retrieval, classification, multiple-choice, rag, generation, "
        "summarization, math).\n\n"
        "Exit codes: 0 pass, 1 gate failed, 2 usage or input error, 3 internal error, "
        "130 interrupted."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
# Console markup and emoji codes are off: everything printed holds strings a user or a
# model wrote (task names, paths, item ids, generated text, error messages quoting them),
# and "[/bold]" or ":fire:" in them must print as written, not be parsed (an unmatched
# closing tag used to crash the error path itself). Styles are applied with ``line``.
out = Console(markup=False, emoji=False)
err = Console(stderr=True, markup=False, emoji=False)


def line(*parts: str | tuple[str, str]) -> Text:
    """One printable line from plain strings and ``(text, style)`` pairs; no text is ever
    read as markup, so user and model strings print exactly as written.

    The one way to print styled text (and the text of a status or progress display, which
    rich reads as markup even on a markup-free console)."""
    return Text.assemble(*parts)


JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON to stdout.")]
TrustFlag = Annotated[
    bool,
    typer.Option(
        "--trust-remote-code",
        help="Allow a model's own Python code to run. Off by "
        "default: only pass it for code you have read and trust.",
    ),
]

PickleFlag = Annotated[
    bool,
    typer.Option(
        "--allow-pickle",
        help="Allow loading pickle weights (pytorch_model.bin, *.pt) when a folder has no "
        "safetensors. Off by default: a pickle can run code hidden in it; only pass it for "
        "files from a source you trust.",
    ),
]
LowMemoryFlag = Annotated[
    bool,
    typer.Option(
        "--low-memory",
        help="For a model that fits in memory once but not twice: measure and cache the "
        "dense side first, release the dense weights, then prune in place or load --pruned "
        "(the two are never resident together). Same verdicts; peak memory about one model.",
    ),
]


# Pruning options, shared by every command that builds a pruned model (prune, assess, ...).
ModelOpt = Annotated[
    str,
    typer.Option(
        "--model", "-m", help="Dense model: a built-in name, local folder or Hugging Face id."
    ),
]
MethodOpt = Annotated[
    str | None,
    typer.Option(
        "--method",
        help="Pruning method: block-drop, attn-drop, mlp-drop (structural; amount by --ratio "
        "or --layers), magnitude, wanda, sparsegpt (weights zeroed; amount by --sparsity "
        "and --pattern).",
    ),
]
RatioOpt = Annotated[
    float | None,
    typer.Option("--ratio", help="Fraction of the layers to drop (structural methods)."),
]
LayersOpt = Annotated[
    int | None, typer.Option("--layers", help="Number of layers to drop (structural methods).")
]
SparsityOpt = Annotated[
    float | None,
    typer.Option("--sparsity", help="Fraction of block weights to zero, in [0, 1)."),
]
PatternOpt = Annotated[
    str,
    typer.Option(
        "--pattern",
        help="unstructured, 2:4 or 4:8 (keep N of every M consecutive weights; implies "
        "sparsity 1-N/M).",
    ),
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed for calibration text and tie-breaks.")]
CalibSamplesOpt = Annotated[
    int,
    typer.Option(
        "--calib-samples",
        help="Calibration sequences of Wikipedia text. The default 16 x 128 = 2,048 tokens "
        "keeps one forward pass of SmolLM2-135M near 10 s on 2 CPU cores.",
    ),
]
CalibLenOpt = Annotated[int, typer.Option("--calib-len", help="Tokens per calibration sequence.")]


def print_json(payload: Any) -> None:
    """Print ``payload`` to stdout as strict JSON (non-finite numbers as null)."""

    sys.stdout.write(json_text(payload, indent=2, sort_keys=True) + "\n")


def _version(value: bool) -> None:
    if value:
        out.print(f"prune-advisor {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """prune-advisor: per-task go / caution / no-go for pruned language models."""


PrunedOpt = Annotated[
    Path | None,
    typer.Option(
        "--pruned",
        help="A pruned checkpoint folder made elsewhere (must share the dense tokenizer), "
        "instead of --method.",
    ),
]
TaskOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--task",
        "-t",
        help="Task type (repeatable), or 'all'. See `prune-advisor tasks`.",
    ),
]
ToleranceOpt = Annotated[
    float,
    typer.Option(
        "--tolerance",
        help="Quality retention (pruned score / dense score) needed for go, in (0, 1].",
    ),
]


EvalItemsOpt = Annotated[
    int,
    typer.Option(
        "--eval-items",
        help="Use at most this many evaluation items per task type (0 = all). Smaller is "
        "faster and gives wider intervals.",
        min=0,  # refused as the command line is read, before anything is built or loaded
    ),
]
DataOpt = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="Your own suite (JSONL) for the single --task, in your own prompt format if its "
        "rows give 'prompt'; schemas in docs/suites.md.",
    ),
]
AdaptiveOpt = Annotated[
    int,
    typer.Option(
        "--adaptive",
        help="Sequential evaluation: start each task type with this many questions and add "
        "more (doubling, up to the whole split or --eval-items) only while its retention "
        "interval straddles --tolerance; 0 = evaluate every item at once.",
        min=0,
    ),
]
DtypeOpt = Annotated[
    str,
    typer.Option(
        "--dtype",
        help="Precision to load the models in: auto (assess and sweep's default: bfloat16 on "
        "a CPU that multiplies bf16 natively, AMX or AVX512-BF16, where it runs ~3x faster "
        "and its verdicts were validated against the fp32 ground truth; float32 elsewhere), "
        "float32 (evaluate and prune's default: the ground truth and saved weights at full "
        "precision), bfloat16 or float16 (large models on GPUs). The result records it.",
    ),
]
DeviceOpt = Annotated[
    str | None,
    typer.Option(
        "--device",
        help="Put the whole model on one device, e.g. cuda:0 (default: CPU).",
    ),
]
DeviceMapOpt = Annotated[
    str | None,
    typer.Option(
        "--device-map",
        help="Let accelerate place a model too large for one device: 'auto' shards it over "
        "the GPUs and offloads the rest to CPU memory.",
    ),
]


LmEvalTaskOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--lm-eval-task",
        metavar="NAME=TYPE[@METRIC]",
        help="Map an lm-eval task the table does not know onto a task type (repeatable), "
        "e.g. my_qa=rag or my_qa=rag@exact_match,strict-match.",
    ),
]
RayOpt = Annotated[
    str | None,
    typer.Option(
        "--ray",
        metavar="[ADDRESS]",
        help="Run one Ray task per configuration (pip install 'prune-advisor[ray]'): bare "
        "--ray starts Ray on this machine; 'auto' joins the one `ray start --head` runs here; "
        "HOST:PORT joins a cluster (the cache should be on shared storage). The dense side is "
        "measured here first; the files written are a local run's.",
    ),
]
# A bare --ray (last, or followed by another option) means "start Ray on this machine".
RAY_LOCAL = "local"


def load_options(
    trust_remote_code: bool,
    dtype: str,
    device: str | None,
    device_map: str | None,
    allow_pickle: bool,
    low_memory: bool = False,
) -> LoadOptions:
    """The shared loading options, as :class:`advisor.requests.LoadOptions`."""
    return LoadOptions(trust_remote_code, dtype, device, device_map, allow_pickle, low_memory)


def prune_request(
    method: str | None,
    ratio: float | None,
    layers: int | None,
    sparsity: float | None,
    pattern: str,
    seed: int,
    calib_samples: int,
    calib_len: int,
) -> PruneRequest:
    """The shared pruning options, as :class:`advisor.requests.PruneRequest`."""
    return PruneRequest(method, ratio, layers, sparsity, pattern, seed, calib_samples, calib_len)  # type: ignore[arg-type]


def verdict_text(verdict: str | None) -> Text | str:
    """A verdict (or ground-truth outcome) in its colour; '—' for none."""

    if not verdict:
        return "—"
    colour = style(verdict)
    return line((verdict, colour)) if colour else verdict


def resolve_tasks(tasks: list[str] | None) -> list[str]:
    """The task types named on the command line ('all' or none: every task type)."""

    return select_tasks(tasks)
