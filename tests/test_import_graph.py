"""The package's layers, read from its import statements (every one, lazy ones too).

The CLI is a caller of the library API like the web pages: its commands reach the
services only through ``twofa_cli.api``. The library and the web pages need neither
Typer nor rich, not even through the modules they import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import twofa_cli

PACKAGE = Path(twofa_cli.__file__).resolve().parent


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, root: Path = PACKAGE) -> set[str]:
    """Every module a file imports, anywhere in it; ``from P import x`` names P.x too."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    return {module_name(path, root): imports(path, root) for path in root.rglob("*.py")}


def reachable(start: set[str], edges: dict[str, set[str]]) -> set[str]:
    """The modules ``start`` imports, directly or through the package's own modules."""
    seen, todo = set(), list(start)
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo.extend(edges.get(current, ()))
    return seen


def forbidden(found: set[str], prefixes: tuple[str, ...]) -> set[str]:
    return {name for name in found
            if any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)}


def test_the_cli_reaches_the_services_only_through_the_library_api():
    edges = graph()
    commands = {name for name in edges if name.startswith("twofa_cli.cli.")}
    assert {"twofa_cli.cli.flow", "twofa_cli.cli.providers", "twofa_cli.cli.output"} <= commands
    offenders = {name: sorted(forbidden(edges[name], ("twofa_cli.services", "twofa_cli.runtime")))
                 for name in sorted(commands)}
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_library_and_the_web_pages_need_neither_typer_nor_rich():
    edges = graph()
    starts = {"twofa_cli.api"} | {name for name in edges if name.startswith("twofa_cli.web")}
    used = reachable(starts, edges)
    assert "twofa_cli.services.challenges" in used  # the walk follows the lazy imports
    assert forbidden(used, ("typer", "rich", "twofa_cli.cli")) == set()


def services_in_a_loop(edges: dict[str, set[str]]) -> set[str]:
    """The service modules that import themselves through other service modules."""
    services = {name: {m for m in found if m in edges and m.startswith("twofa_cli.services.")}
                for name, found in edges.items() if name.startswith("twofa_cli.services.")}
    return {name for name, found in services.items() if name in reachable(found, services)}


def test_the_services_import_one_way():
    """Flows (login, enrollment, challenges) on records (entries, recovery, devices,
    sessions) on infrastructure (delivery, notifications, audit, common): no loop, so each
    layer can be read, and tested, without the ones above it."""
    edges = graph()
    assert services_in_a_loop(edges) == set()
    assert forbidden(edges["twofa_cli.files"], ("twofa_cli.config",)) == set()


def test_the_loop_check_sees_a_loop(tmp_path):
    services = tmp_path / "twofa_cli" / "services"
    services.mkdir(parents=True)
    for name in ("__init__", "entries", "challenges", "audit"):
        (services / f"{name}.py").write_text("")
    (services / "entries.py").write_text("from twofa_cli.services.challenges import find\n")
    (services / "challenges.py").write_text("def f():\n    from . import entries, audit\n")
    assert services_in_a_loop(graph(tmp_path / "twofa_cli")) == {
        "twofa_cli.services.entries", "twofa_cli.services.challenges"}


def test_the_checks_see_a_forbidden_import(tmp_path):
    package = tmp_path / "twofa_cli"
    (package / "cli").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "cli" / "__init__.py").write_text("")
    (package / "cli" / "flow.py").write_text(
        "def enroll():\n    from ..services import enrollment\n")
    (package / "api.py").write_text("from twofa_cli import helpers\n")
    (package / "helpers.py").write_text("def show():\n    import rich.table\n")
    edges = graph(package)
    assert forbidden(edges["twofa_cli.cli.flow"], ("twofa_cli.services",)) == {
        "twofa_cli.services", "twofa_cli.services.enrollment"}
    assert forbidden(reachable({"twofa_cli.api"}, edges), ("rich",)) == {"rich.table"}


def test_the_models_load_no_database_dialect():
    """A dialect is loaded by the engine of the store in use, never by the table definitions:
    an index option such as ``postgresql_where`` makes SQLAlchemy import that dialect (some
    twenty modules) in every process, SQLite or not, to validate it."""
    import subprocess
    import sys

    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, twofa_cli.store.models, twofa_cli.services.challenges;"
         " print(sorted(m for m in sys.modules if m.startswith('sqlalchemy.dialects.')))"],
        capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"
