"""The ``prune-advisor`` command line.

Exit codes (as linters and click use them): 0 pass, 1 gate failed, 2 usage or input
error, 3 internal error, 130 interrupted (Ctrl-C, the shell's 128 + SIGINT). Each command
lives in its own module and registers itself on ``app`` when imported below.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback

from advisor.cli.app import (
    EXIT_GATE,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    RAY_LOCAL,
    app,
    err,
    line,
)
from advisor.errors import AdvisorError

# Importing a command module registers its commands; this order is the order of --help.
for _module in ("catalog", "assess", "sweep", "plan", "report", "prune", "evaluate", "fit"):
    importlib.import_module(f"advisor.cli.{_module}")

__all__ = [
    "EXIT_GATE",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "app",
    "entry",
    "main",
]


THREADS_ENV = "PRUNE_ADVISOR_THREADS"


def set_threads() -> None:
    """Run torch on ``$PRUNE_ADVISOR_THREADS`` threads, default 1.

    Measured on the 2-core machines we target: greedy decoding of SmolLM2-135M (8 prompts x
    48 tokens) took 7.9 s with one thread and 28.2 s with two; this model's matrices are too
    small for a second thread to pay for its synchronisation. Set before torch is imported
    (through OMP_NUM_THREADS), so ``--help`` stays fast.
    """
    value = os.environ.get(THREADS_ENV, "1")
    if not value.isdigit() or int(value) < 1:
        raise AdvisorError(f"{THREADS_ENV} must be a whole number >= 1, not '{value}'.")
    os.environ["OMP_NUM_THREADS"] = value
    if "torch" in sys.modules:  # already imported (e.g. main() called from Python)
        sys.modules["torch"].set_num_threads(int(value))


def _say_interrupted() -> None:
    err.print(
        "Interrupted (Ctrl-C): stopped; files already published are whole, nothing "
        "half-written was left.",
        soft_wrap=True,  # one line, however narrow the terminal
    )


def optional_values(argv: list[str]) -> list[str]:
    """``--ray`` takes an optional address: a bare one becomes ``--ray local``."""
    out = []
    for n, arg in enumerate(argv):
        out.append(arg)
        if arg == "--ray" and (n + 1 == len(argv) or argv[n + 1].startswith("-")):
            out.append(RAY_LOCAL)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code; user mistakes never show a traceback."""
    argv = optional_values(sys.argv[1:] if argv is None else list(argv))
    try:
        set_threads()
        # Standalone mode: click itself reports usage errors (exit 2) and turns
        # typer.Exit(code) into SystemExit; our own exceptions still propagate to here.
        app(args=argv, prog_name="prune-advisor", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if code == EXIT_INTERRUPTED:  # typer turns Ctrl-C into a silent Exit(130)
            _say_interrupted()
        return code
    except KeyboardInterrupt:  # Ctrl-C outside typer's handling (e.g. while starting)
        _say_interrupted()
        return EXIT_INTERRUPTED
    except AdvisorError as exc:
        err.print(line(("Error:", "bold red"), f" {exc}"), highlight=False)
        return EXIT_USAGE
    except Exception as exc:  # anything else is our bug: say so, and how to report it
        if os.environ.get("PRUNE_ADVISOR_DEBUG"):
            traceback.print_exc()
        err.print(
            line(
                ("Internal error:", "bold red"),
                f" {type(exc).__name__}: {exc}\n"
                "This is a bug in prune-advisor. Re-run with PRUNE_ADVISOR_DEBUG=1 for the "
                "traceback and include it in a report.",
            ),
            highlight=False,
        )
        return EXIT_INTERNAL
    return EXIT_OK


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
