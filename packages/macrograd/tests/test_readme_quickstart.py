"""Every Python block of the project README runs, in order, in one namespace; the
values its comments show are the values it prints."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[3] / "README.md"
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def blocks() -> list[str]:
    return BLOCK.findall(README.read_text(encoding="utf-8"))


@pytest.mark.skipif(not README.exists(), reason="README.md is not beside the packages")
def test_readme_blocks_run_and_print_what_they_show(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "readme"}
    code_blocks = blocks()
    assert len(code_blocks) >= 4
    for code in code_blocks:
        if "train_minibatches" in code:  # the MNIST excerpt is exercised by apps/mnist
            continue
        if "onnxruntime" in code and importlib.util.find_spec("onnxruntime") is None:
            continue  # onnxruntime is a test dependency of mg-onnx, not of macrograd
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, str(README), "exec"), namespace)
        printed = " ".join(out.getvalue().replace("[", " ").replace("]", " ").split())
        for shown in re.findall(r"#\s+((?:\[*\s*-?\d[\d. ]*\]*\s*)+)$", code, re.MULTILINE):
            numbers = " ".join(shown.replace("[", " ").replace("]", " ").split())
            if numbers:
                assert numbers in printed, (numbers, printed)
