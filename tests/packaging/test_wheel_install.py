"""The wheel, installed as a user installs it, beside modules that share our folders' names.

The project's wheel is built from a copy of this tree (`pip wheel .`, not editable) and installed
into a fresh venv. Its dependencies come from the test venv through a folder of links (no
network, and no trace of the editable tokenbench there), so what is tested is exactly what the
wheel carries: only `tokenbench` at the top level, every module and data file, the console
script and the `pytest11` entry point. The bench then runs from a directory that holds its
own `bench.py`, `verifier.py` and `emulators.py`, each of which fails loudly if imported.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("emulators", "verifier", "bench")
NOT_SOURCE = (".venv", ".git", "build", "*.egg-info", "__pycache__", ".hypothesis", "report")
RUN_TIMEOUT = 300
PIP = (sys.executable, "-m", "pip")  # the test venv's pip builds the wheel and installs it


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    hostile: Path  # a directory holding bench.py, verifier.py, emulators.py

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)

    @property
    def pytest(self) -> tuple[str, ...]:
        """pytest as this venv runs it (its console script belongs to the test venv)."""
        return (self.bin("python"), "-m", "pytest", "-p", "no:cacheprovider")

    def run(self, *command: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        return subprocess.run(
            command,
            cwd=cwd or self.hostile,
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )


def _build_wheel(workdir: Path) -> Path:
    source = workdir / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    wheels = workdir / "wheels"
    subprocess.run(
        [*PIP, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(source)],
        check=True,
        capture_output=True,
        timeout=RUN_TIMEOUT,
    )
    (wheel,) = wheels.glob("tokenbench-*.whl")
    return wheel


def _dependency_links(target: Path) -> Path:
    """The test venv's installed packages, less every trace of the editable tokenbench."""
    target.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        name = entry.name.lower()
        if "tokenbench" in name or entry.suffix == ".pth":
            continue
        (target / entry.name).symlink_to(entry)
    return target


def _hostile_directory(path: Path) -> Path:
    path.mkdir()
    for name in LAYERS:
        (path / f"{name}.py").write_text(
            f"raise ImportError('the user\\'s own {name}.py was imported by tokenbench')\n"
        )
    return path


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    workdir = tmp_path_factory.mktemp("wheel")
    wheel = _build_wheel(workdir)
    venv = workdir / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    subprocess.run(
        [*PIP, "--python", python, "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
        timeout=RUN_TIMEOUT,
    )
    site = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    deps = _dependency_links(workdir / "deps")
    (Path(site) / "zz-test-dependencies.pth").write_text(f"{deps}\n")
    return Installed(wheel, venv, _hostile_directory(workdir / "hostile"))


def test_the_wheel_holds_tokenbench_only_and_all_of_it(installed: Installed):
    names = zipfile.ZipFile(installed.wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert top == {"tokenbench", "tokenbench-0.1.0.dist-info"}, top
    for layer in LAYERS:  # every file: modules, the suites' pytest.ini, any data file
        for path in (ROOT / layer).rglob("*"):
            if "__pycache__" in path.parts or not path.is_file():
                continue
            packaged = f"tokenbench/{path.relative_to(ROOT).as_posix()}"
            assert packaged in names, f"{packaged} is missing from the wheel (pyproject.toml)"


def test_old_top_level_names_are_not_installed(installed: Installed, tmp_path: Path):
    for name in LAYERS:  # from an empty directory: nothing of ours answers to the old names
        done = installed.run(installed.bin("python"), "-c", f"import {name}", cwd=tmp_path)
        assert done.returncode == 1 and "ModuleNotFoundError" in done.stderr, done.stderr
    done = installed.run(
        installed.bin("python"),
        "-c",
        "import tokenbench.bench.cli, tokenbench.emulators.key, tokenbench.verifier.iam",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr


def test_bench_runs_beside_modules_named_like_our_folders(installed: Installed):
    report = installed.hostile / "r"
    done = installed.run(
        installed.bin("tokenbench"),
        *("bench", "run", "--target", "emu:", "--target", "totp:emu"),
        *("--allow-destructive", "--report", str(report)),
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "result: PASS" in done.stderr
    results = json.loads((report / "results.json").read_text())
    counts = {target["uri"]: target["counts"] for target in results["targets"]}
    assert results["ok"] and counts["emu:"]["passed"] > 100 and counts["totp:emu"]["passed"] > 5


def test_suites_run_through_pytest_pyargs(installed: Installed):
    done = installed.run(
        *installed.pytest,
        *("--pyargs", "tokenbench.bench.suites", "--target", "emu:", "-q", "-k", "info or framing"),
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert " passed" in done.stdout and "tokenbench summary" in done.stdout


UNRELATED_CONFTEST = """
def pytest_addoption(parser):
    parser.addoption("--target", default="none")
    parser.addoption("--pin", default="0000")
"""
UNRELATED_TESTS = """
import pytest

def test_own_options(request):
    assert request.config.getoption("target") == "staging"
    assert request.config.getoption("pin") == "0000"

@pytest.mark.slow
def test_registered_marker():
    pass

def test_own_fixture_names_are_free(bench):
    assert bench == "the project's own"

@pytest.fixture
def bench():
    return "the project's own"
"""


def _unrelated_project(path: Path) -> Path:
    path.mkdir()
    (path / "pytest.ini").write_text("[pytest]\naddopts = --strict-markers\nmarkers =\n    slow\n")
    (path / "conftest.py").write_text(UNRELATED_CONFTEST)
    (path / "test_project.py").write_text(UNRELATED_TESTS)
    return path


def test_an_unrelated_project_is_unaffected(installed: Installed, tmp_path: Path):
    project = _unrelated_project(tmp_path / "project")
    entry = installed.run(
        installed.bin("python"),
        "-c",
        "from importlib.metadata import entry_points;"
        "print([e.value for e in entry_points(group='pytest11') if e.name == 'tokenbench'])",
    )
    assert "'tokenbench.bench." in entry.stdout, "the plugin is not even installed"
    pytest_run = (*installed.pytest, "-q", "--target", "staging")
    with_plugin = installed.run(*pytest_run, cwd=project)
    without_plugin = installed.run(*pytest_run, "-p", "no:tokenbench", cwd=project)
    assert with_plugin.returncode == without_plugin.returncode == 0, with_plugin.stdout
    assert with_plugin.stdout.splitlines()[-1].startswith("3 passed")
    assert "tokenbench" not in with_plugin.stdout + with_plugin.stderr
    markers = installed.run(*installed.pytest, "--markers", cwd=project).stdout
    assert "needs_presence" not in markers and "slow" in markers
    help_text = installed.run(*installed.pytest, "--help", cwd=project).stdout
    assert "--allow-destructive" not in help_text and "--target" in help_text
    # and the same installation does load it where the suites are named
    suites_help = installed.run(*installed.pytest, "--pyargs", "tokenbench.bench.suites", "--help")
    assert "--allow-destructive" in suites_help.stdout
