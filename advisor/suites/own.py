"""Your own suites: which JSONL file stands for which task type's built-in suite.

``--data`` is repeatable: ``--data rag=qa.jsonl --data summarization=mail.jsonl`` assesses
both task types on your files in one run (the models are loaded once); a task type named
by ``--task`` without a file keeps its built-in suite. The one-file form ``--data FILE
--task T`` still works. A task type given two files is refused: one suite per task type.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from advisor.errors import AdvisorError
from advisor.suites import build_suite, check_user_suite
from advisor.suites.tasks import select_tasks, task_names

# What a library caller may pass as ``data``: one file (for a single task type) or a
# mapping task type -> file.
SuiteFiles = Mapping[str, "str | Path"] | str | Path | None


def parse_data_option(values: list[str] | None, tasks: list[str] | None) -> dict[str, Path]:
    """``--data`` values (``TASK=FILE`` or a bare ``FILE``) as task type -> file.

    A bare ``FILE`` belongs to the single ``--task``; ``tasks`` is what ``--task`` named
    (None: nothing). Raises a clear error for a task type given twice, an unknown task
    type, or a bare file without exactly one ``--task``."""

    known = task_names()
    files: dict[str, Path] = {}
    for value in values or []:
        name, sep, path = value.partition("=")
        if not (sep and name in known):  # a bare file (whose name may hold '=' itself)
            if not tasks or len(tasks) != 1 or tasks[0] == "all":
                raise AdvisorError(
                    f"--data {value}: name its task type, e.g. --data rag={value}, or give a "
                    f"single --task (task types: {', '.join(known)})."
                )
            name, path = tasks[0], value
        if not path:
            raise AdvisorError(f"--data {value}: give a file after '{name}='.")
        if name in files:
            raise AdvisorError(
                f"--data gives two files for {name} ({files[name]} and {path}); an assessment "
                f"reads one suite per task type: merge them into one file, or assess them in "
                f"two runs."
            )
        files[name] = Path(path)
    return files


def suite_files(tasks: list[str], data: SuiteFiles) -> dict[str, Path]:
    """``data`` as task type -> file, each for one of ``tasks``.

    A single file belongs to the single task type (more than one is an error); a mapping
    must name only task types in ``tasks``."""
    if data is None:
        return {}
    if isinstance(data, str | Path):
        if len(tasks) != 1:
            raise AdvisorError(
                "One --data file holds one task type's suite: name that task type with a "
                "single --task, or name each file's task type (--data rag=qa.jsonl)."
            )
        return {tasks[0]: Path(data)}
    extra = [t for t in data if t not in tasks]
    if extra:
        raise AdvisorError(
            f"--data names {', '.join(extra)}, which the requested task types "
            f"({', '.join(tasks)}) do not include: add it to --task, or leave --task out."
        )
    return {t: Path(p) for t, p in data.items()}


def requested_tasks(task: list[str] | None, files: Mapping[str, Path]) -> list[str] | None:
    """The task types to assess when ``--task`` is left out but ``--data`` names some:
    those, in the canonical order (None: ``--task`` decides, its default being all)."""

    if task or not files:
        return task
    return [t for t in task_names() if t in files]


def own_suites(
    tasks: list[str] | str | None, data: SuiteFiles, seed: int = 0
) -> tuple[list[str], dict[str, Path]]:
    """The task types to assess (``tasks`` as ``--task`` names them, or those ``data``
    names) and the suite file of each that has one; every row of every file is read and
    checked here, before any model is loaded."""

    named = [tasks] if isinstance(tasks, str) else tasks
    chosen = select_tasks(requested_tasks(named, data if isinstance(data, Mapping) else {}))
    files = suite_files(chosen, data)
    for task, path in files.items():  # every row read, and the suite big enough to gate
        check_user_suite({task: build_suite(task, "calibration", seed, path)}, path)
    return chosen, files
