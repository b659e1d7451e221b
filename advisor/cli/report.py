"""`report`: re-render the HTML report from a saved result.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from jinja2 import TemplateError

from advisor.cli.app import app, out
from advisor.errors import AdvisorError
from advisor.paths import FILE, input_path, output_path
from advisor.publish import atomic_write


@app.command()
def report(
    result_file: Annotated[Path, typer.Argument(help="A result.json written by assess.")],
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="HTML file to write (default: report.html beside the result)."),
    ] = None,
) -> None:
    """Re-render the HTML report from a saved result.json."""
    from advisor.report import check_result, render  # lazy: matplotlib, not at CLI start-up

    input_path(result_file, "", FILE, "Pass a result.json written by `prune-advisor assess`.")
    target = output_path(
        out_file or result_file.with_name("report.html"), "--out" if out_file else ""
    )
    try:
        result = json.loads(result_file.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise AdvisorError(
            f"{result_file} is not a prune-advisor result: byte {exc.start} is not UTF-8 "
            f"(result.json is UTF-8 JSON written by assess)."
        ) from exc
    except (json.JSONDecodeError, RecursionError) as exc:
        raise AdvisorError(
            f"{result_file} is not a prune-advisor result: not JSON ({exc})."
        ) from exc
    check_result(result, result_file)
    try:
        html = render(result)
    except (KeyError, TypeError, ValueError, AttributeError, TemplateError) as exc:
        # The schema holds what every result has; a field the page needs beyond it.
        raise AdvisorError(f"{result_file} is not a prune-advisor result ({exc}).") from exc
    target = atomic_write(target, html)
    out.print(f"Report: {target}")
