"""The layers import one way, read from the `ast` of every module (so the rule cannot rot).

bench -> emulators, verifier; nothing below imports bench; verifier never imports emulators
(nor emulators verifier: the two meet only in the bench); the conformance suites import no
part of tokenbench but themselves, because they must run unchanged against real devices.
Every import counts, including those inside functions and under `TYPE_CHECKING`, and so does
a constant module name handed to `importlib.import_module`. The old top-level names (`bench`,
`emulators`, `verifier`) are refused everywhere, tests and scripts included: they resolve only
from the repository root and break for anyone who installed the wheel.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "tokenbench"
LAYERS = ("emulators", "verifier", "bench")  # folder = tokenbench.<folder>
SUITES = f"{PACKAGE}.bench.suites"
OLD_TOP_LEVEL = frozenset(LAYERS)
# importer layer -> layers it must not import
FORBIDDEN = {
    f"{PACKAGE}.emulators": (f"{PACKAGE}.bench", f"{PACKAGE}.verifier"),
    f"{PACKAGE}.verifier": (f"{PACKAGE}.bench", f"{PACKAGE}.emulators"),
}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    target: str  # the imported module, dotted and absolute
    where: str  # path:line


def module_name(path: Path) -> str:
    """`bench/suites/_ctap.py` -> `tokenbench.bench.suites._ctap`; tests and scripts by path."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    if parts[0] in LAYERS:
        parts.insert(0, PACKAGE)
    return ".".join(parts)


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(path: Path) -> Iterator[Import]:
    module = module_name(path)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, where)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, module, path.name == "__init__.py")
            for alias in node.names:  # `from tokenbench import verifier` names a module too
                yield Import(module, base if alias.name == "*" else f"{base}.{alias.name}", where)
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield Import(module, node.args[0].value, where)


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(f"{package}.")


def violations(found: list[Import]) -> list[str]:
    """Every import that runs against the layering, one line each."""
    problems = []
    for imp in found:
        if imp.target.split(".")[0] in OLD_TOP_LEVEL:
            problems.append(f"{imp.where}: imports {imp.target!r}; use tokenbench.{imp.target}")
            continue
        if _within(imp.module, SUITES):
            if _within(imp.target, PACKAGE) and not _within(imp.target, SUITES):
                problems.append(f"{imp.where}: a suite imports {imp.target} (fixtures only)")
            continue
        for layer, refused in FORBIDDEN.items():
            if _within(imp.module, layer):
                problems.extend(
                    f"{imp.where}: {layer} imports {imp.target} (layers run bench -> the rest)"
                    for below in refused
                    if _within(imp.target, below)
                )
    return problems


def python_files() -> list[Path]:
    folders = [*LAYERS, "tests", "scripts"]
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def test_the_project_keeps_its_layers():
    found = [imp for path in python_files() for imp in imports_of(path)]
    assert len({imp.module for imp in found}) > 150, "the walk missed most of the project"
    assert violations(found) == []


@pytest.mark.parametrize(
    ("source", "relative", "complaint"),
    [
        ("from tokenbench.bench.errors import UserError", "verifier/trust.py", "verifier imports"),
        ("import tokenbench.emulators.clock", "verifier/totp.py", "verifier imports"),
        ("from tokenbench import bench", "emulators/key.py", "emulators imports"),
        ("from ..bench.cli import main", "emulators/key.py", "emulators imports"),
        ("from tokenbench.verifier import iam", "emulators/key.py", "emulators imports"),
        ("from tokenbench.verifier.errors import IamError", "bench/suites/x.py", "a suite"),
        ("from tokenbench.bench.plugin import PIN_ENV", "bench/suites/x.py", "a suite"),
        ("from bench.errors import UserError", "bench/cli.py", "use tokenbench.bench"),
        ("import verifier.iam", "tests/test_x.py", "use tokenbench.verifier"),
        ("importlib.import_module('tokenbench.bench.cli')", "verifier/x.py", "verifier imports"),
    ],
)
def test_an_import_against_the_layers_is_found(tmp_path, monkeypatch, source, relative, complaint):
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    path = tmp_path / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"def late():\n    {source}\n")  # a function-level import counts too
    problems = violations(list(imports_of(path)))
    assert len(problems) == 1 and complaint in problems[0], problems


@pytest.mark.parametrize(
    ("source", "relative"),
    [
        ("from tokenbench.emulators.key import EmulatedKey", "bench/targets.py"),
        ("from tokenbench.verifier.iam import IamService", "bench/relying_party.py"),
        ("from tokenbench.bench.suites._ctap import RP_ID", "bench/suites/test_x.py"),
        ("from ._ctap import RP_ID", "bench/suites/test_x.py"),
        ("from tokenbench.verifier.totp import verify", "verifier/iam.py"),
        ("from tokenbench.emulators.clock import Clock", "tests/test_x.py"),
    ],
)
def test_imports_along_the_layers_pass(tmp_path, monkeypatch, source, relative):
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    path = tmp_path / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source + "\n")
    assert violations(list(imports_of(path))) == []


LOADED_PROBE = """
import importlib, pkgutil, sys
package = importlib.import_module(sys.argv[1])
for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
    importlib.import_module(info.name)
layers = {".".join(name.split(".")[:2]) for name in sys.modules if name.startswith("tokenbench.")}
print(" ".join(sorted(layers)))
"""


@pytest.mark.parametrize(("layer", "refused"), FORBIDDEN.items())
def test_importing_a_library_loads_nothing_above_it(layer, refused, tmp_path):
    """At run time too (a dynamic import the ast cannot see): every module of the layer."""
    done = subprocess.run(
        [sys.executable, "-c", LOADED_PROBE, layer],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    loaded = set(done.stdout.split())
    assert layer in loaded and not loaded & set(refused), loaded


CTAP_CORE = f"{PACKAGE}.emulators.ctap"


def import_cycles(found: list[Import], package: str) -> list[list[str]]:
    """Cycles among the modules of `package` (an import of a name counts as one of its module)."""
    modules = {imp.module for imp in found if _within(imp.module, package)}
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for imp in found:
        if imp.module not in modules:
            continue
        parts = imp.target.split(".")
        owners = [".".join(parts[:n]) for n in range(len(parts), 0, -1)]
        target = next((o for o in owners if o in modules and o != package), None)
        if target is not None and target != imp.module:
            edges[imp.module].add(target)
    cycles: list[list[str]] = []
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            cycles.append([*path[path.index(node) :], node])
            return
        if node in done:
            return
        for nxt in sorted(edges[node]):
            visit(nxt, [*path, node])
        done.add(node)

    for start in sorted(modules):
        visit(start, [])
    return cycles


def test_the_ctap_core_has_no_import_cycles_not_even_type_only_ones():
    folder = ROOT / "emulators" / "ctap"
    found = [imp for path in sorted(folder.glob("*.py")) for imp in imports_of(path)]
    assert len({imp.module for imp in found}) > 20, "the walk missed the CTAP core"
    assert import_cycles(found, CTAP_CORE) == []


def test_a_type_only_cycle_is_found(tmp_path, monkeypatch):
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    folder = tmp_path / "emulators" / "ctap"
    folder.mkdir(parents=True)
    (folder / "hub.py").write_text("from tokenbench.emulators.ctap import handler\n")
    (folder / "handler.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from tokenbench.emulators.ctap.hub import Hub\n"
    )
    found = [imp for path in sorted(folder.glob("*.py")) for imp in imports_of(path)]
    cycles = import_cycles(found, CTAP_CORE)
    assert cycles and set(cycles[0]) == {f"{CTAP_CORE}.hub", f"{CTAP_CORE}.handler"}
