"""The console scripts and tools/*.py are the same commands, thin, with a --help that lists examples."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# console script -> its file in tools/ (ernie-data is `python -m data_tools`)
TOOLS = {
    "ernie-pretrain": "tools/pretrain.py",
    "ernie-finetune": "tools/finetune.py",
    "ernie-export": "tools/export.py",
    "ernie-predict": "tools/predict.py",
    "ernie-serve": "tools/serve.py",
    "ernie-convert": "tools/convert_checkpoint.py",
    "ernie-plot": "tools/plot.py",
    "ernie-data": None,
}


def scripts() -> dict[str, str]:
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["project"]["scripts"]


def test_every_command_is_a_console_script():
    assert set(scripts()) == set(TOOLS)


@pytest.mark.parametrize("name", sorted(TOOLS))
def test_the_console_script_and_the_tool_print_the_same_help(name):
    script = os.path.join(os.path.dirname(sys.executable), name)
    if not os.path.isfile(script):
        pytest.fail(f"{name} is not installed: pip install -e . (the README's set-up commands do)")
    installed = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=120)
    assert installed.returncode == 0, installed.stderr[-2000:]
    assert "example" in installed.stdout or name == "ernie-data"
    tool = TOOLS[name]
    direct = (
        [sys.executable, "-m", "data_tools", "--help"] if tool is None else [sys.executable, tool, "--help"]
    )
    proc = subprocess.run(direct, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # The same text after the usage block (whose width depends on the program name).
    assert proc.stdout.split("\n\n", 1)[1] == installed.stdout.split("\n\n", 1)[1]


@pytest.mark.parametrize("tool", sorted(t for t in TOOLS.values() if t))
def test_tools_are_thin(tool):
    with open(os.path.join(ROOT, tool), encoding="utf-8") as f:
        text = f.read()
    assert "sys.path" not in text and len(text.splitlines()) <= 10, text
