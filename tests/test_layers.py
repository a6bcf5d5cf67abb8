"""The layers point down, checked by import-linter's contracts in pyproject.toml; a forbidden import breaks them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("ernie", "tasks", "data_tools")
LAYER_PACKAGES = {"engine", "finetune", "serving"}


def lint_imports(cwd: str) -> subprocess.CompletedProcess:
    command = os.path.join(os.path.dirname(sys.executable), "lint-imports")
    if not os.path.isfile(command):
        pytest.fail("lint-imports (import-linter, requirements-dev.txt) is not installed")
    env = dict(os.environ, PYTHONPATH=cwd)
    return subprocess.run([command], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_contracts_hold():
    proc = lint_imports(ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "4 kept, 0 broken" in proc.stdout


def test_every_core_module_is_under_the_core_contract():
    import tomllib

    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        contracts = tomllib.load(f)["tool"]["importlinter"]["contracts"]
    core = next(c for c in contracts if c["name"].startswith("The core library"))
    modules = {
        f"ernie.{name[:-3]}"
        for name in os.listdir(os.path.join(ROOT, "ernie"))
        if name.endswith(".py") and name != "__init__.py"
    }
    packages = {
        name
        for name in os.listdir(os.path.join(ROOT, "ernie"))
        if os.path.isfile(os.path.join(ROOT, "ernie", name, "__init__.py"))
    }
    assert packages == LAYER_PACKAGES, "a new package inside ernie/ needs its place in the layer contracts"
    assert set(core["source_modules"]) == modules


@pytest.mark.parametrize(
    "module, line, contract",
    [
        ("ernie/engine/loop.py", "import tasks.base", "Serving above the objectives"),
        ("ernie/finetune/run.py", "import ernie.serving.metadata", "Serving above the objectives"),
        ("tasks/run.py", "import ernie.finetune.data", "Serving above the objectives"),
        ("ernie/modeling.py", "import ernie.engine.settings", "The core library imports no layer above it"),
        ("ernie/optimization.py", "import data_tools.shards", "Nothing in ernie imports tasks or data_tools"),
        (
            "data_tools/build.py",
            "import paddle",
            "data_tools builds shards without a deep-learning framework",
        ),
    ],
)
def test_a_forbidden_import_breaks_a_contract(tmp_path, module, line, contract):
    for package in PACKAGES:
        shutil.copytree(
            os.path.join(ROOT, package), tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(os.path.join(ROOT, "pyproject.toml"), tmp_path)
    path = tmp_path / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}  # injected\n", encoding="utf-8")
    proc = lint_imports(str(tmp_path))
    assert proc.returncode != 0, proc.stdout[-3000:]
    report = proc.stdout.split("Broken contracts", 1)[-1]
    assert contract in " ".join(report.split()), proc.stdout[-3000:]
    assert module.replace("/", ".")[:-3] in proc.stdout
