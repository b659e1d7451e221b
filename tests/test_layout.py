"""The shape of the package: small modules, no import cycle, short parameter lists, and a
packaging list that names every package (the wheel carries what the checkout has)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "advisor"
MAX_LINES = 400
MAX_PARAMETERS = 8
MAX_LAZY_IMPORTS = 20
# The pipeline's floors, bottom to top (docs/design.md §9): a module may import its own
# floor and the floors below it, never one above. Each floor names the top-level modules
# and packages of advisor/ on it; the package's own __init__ (the public face, which loads
# the API on first use) stands outside.
STAGES = [
    (floor.strip(), tuple(names.split()))
    for floor, names in (
        row.split(":")
        for row in """
    shared: errors cache paths resources publish numbers requests verdicts gate notes provenance
    suites: suites
    models: models
    pruning: pruning
    forward: forward
    truth: truth
    measure: measure
    pair: pair cluster
    rules: rules
    guidance: guidance
    fitting: fitting
    assess: assess
    report: report
    api: api
    sweep: sweep
    cli: cli
    """.strip().splitlines()
    )
]


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package modules ``name`` imports, anywhere in the file (a lazy import inside a
    function closes a cycle as surely as one at the top)."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in modules}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            for alias in node.names:
                if f"{base}.{alias.name}" in modules:  # `from pkg import submodule`
                    found.add(f"{base}.{alias.name}")
                elif base in modules:
                    found.add(base)
    found.discard(name)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle():
    """Data flows one way. A package's ``__init__`` re-exporting its own submodules is not a
    cycle (importing a submodule runs its parent first by design), so only explicit imports
    count, and a package's edges to its own submodules are left out."""
    modules = _modules()
    graph = {
        name: {m for m in _imports(name, path, modules) if not m.startswith(name + ".")}
        for name, path in modules.items()
    }
    assert _cycles(graph) == []


def _floor(module: str) -> int:
    """The index in STAGES of the floor ``module`` (a dotted advisor module) stands on."""
    top = module.split(".")[1]
    return next(n for n, (_, names) in enumerate(STAGES) if top in names)


def test_every_module_stands_on_one_floor():
    tops = {name.split(".")[1] for name in _modules() if name != "advisor"}
    listed = [top for _, names in STAGES for top in names]
    assert sorted(listed) == sorted(set(listed))  # each written once
    assert tops == set(listed)


def test_imports_run_down_the_pipeline():
    """No import, at the top of a module or inside a function, reaches a higher floor."""
    modules = _modules()
    upward = [
        f"{name} -> {target}"
        for name, path in modules.items()
        if name != "advisor"
        for target in _imports(name, path, modules)
        if target != "advisor" and _floor(target) > _floor(name)
    ]
    assert upward == []


def _lazy_imports() -> list[tuple[str, int, str]]:
    """(module, line, source line) of every import inside a function of the package."""
    found = []
    for name, path in _modules().items():
        lines = path.read_text().splitlines()
        tree = ast.parse(path.read_text())
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(func):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    found.append((name, node.lineno, lines[node.lineno - 1]))
    return sorted(set(found))


def test_imports_sit_at_the_top():
    """A module's top says what it needs. An import inside a function is kept only where
    it is heavy or optional (torch and transformers at CLI start-up, matplotlib, Ray),
    at most MAX_LAZY_IMPORTS of them, each with its reason on the line: "# lazy: why"."""
    lazy = _lazy_imports()
    assert len(lazy) <= MAX_LAZY_IMPORTS, [f"{m}:{n}" for m, n, _ in lazy]
    assert [f"{m}:{n}" for m, n, text in lazy if "# lazy: " not in text] == []


def test_design_sections_cited_exist():
    """Every "§N" a docstring or comment cites (advisor/, benchmarks/, tests/) is a section
    heading of docs/design.md."""
    design = (ROOT / "docs" / "design.md").read_text()
    sections = set(re.findall(r"^##+ (\d+[a-z]?)\.", design, flags=re.MULTILINE))
    cited = {}
    for folder in ("advisor", "benchmarks", "tests"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for section in re.findall(r"§\s?(\d+[a-z]?)", path.read_text()):
                cited.setdefault(section, str(path.relative_to(ROOT)))
    assert {s: where for s, where in cited.items() if s not in sections} == {}


def test_no_module_is_long():
    lengths = {n: len(p.read_text().splitlines()) for n, p in _modules().items()}
    assert {n: k for n, k in lengths.items() if k > MAX_LINES} == {}


def test_no_function_takes_many_parameters():
    """Outside the CLI's option lists (one parameter per option, by typer's design), a
    function with more than a handful of parameters wants a small dataclass."""
    long = []
    for name, path in _modules().items():
        if name.startswith("advisor.cli"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                args = node.args
                names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
                count = len([n for n in names if n not in ("self", "cls")])
                if count > MAX_PARAMETERS:
                    long.append(f"{name}.{node.name} ({count})")
    assert long == []


def test_every_package_is_listed_for_the_wheel():
    """pyproject.toml lists the packages by hand (the mapped data/templates packages cannot
    be found by a scan): a package missing from the list would be missing from the wheel.
    Each data folder is listed too, with its files: setuptools warns about every folder of
    a mapped package that the list leaves out."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {n for n, p in _modules().items() if p.name == "__init__.py"}
    mapped = set(config["package-dir"])
    data = {f"advisor._data.{p.name}" for p in (ROOT / "data").iterdir() if p.is_dir()}
    assert set(config["packages"]) == on_disk | mapped | data
    assert data <= set(config["package-data"])
    assert {config["package-dir"][m] for m in mapped} == {"data", "templates"}


def test_module_map_names_every_module():
    """docs/development.md maps the package; it must name every module there is."""
    readme = (ROOT / "docs" / "development.md").read_text()
    block = readme.split("```text\nadvisor/", 1)[1].split("```", 1)[0]
    listed, folder = set(), ""
    for line in block.splitlines()[1:]:
        name = line.split("── ", 1)[1].split()[0]
        if name.endswith("/"):
            folder = name
        else:
            listed.add(("" if line.startswith("├── ") else folder) + name)
    on_disk = {str(p.relative_to(PACKAGE)) for p in _modules().values()}
    assert listed == on_disk
