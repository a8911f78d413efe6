"""Checks of the test suite itself: no test may hide a failure as a skip.

A ``try: ... except RuntimeError: pytest.skip(...)`` turns every bug that
raises into a skip (mutation testing found one in a CUDA test, where a broken
kernel would have passed CI as "skipped"). Skips must test the precise
condition (no GPU, no kernel in this build) before running the code.
"""
import ast
import pathlib

import pytest

TESTS = pathlib.Path(__file__).parent
BROAD = {"Exception", "BaseException", "RuntimeError", "AssertionError", "ValueError", "TypeError", "OSError"}


def _caught(handler: ast.ExceptHandler) -> set[str]:
    if handler.type is None:
        return {"BaseException"}
    nodes = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return {n.attr if isinstance(n, ast.Attribute) else getattr(n, "id", "") for n in nodes}


def _skips(handler: ast.ExceptHandler) -> bool:
    for node in ast.walk(handler):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            if name in ("skip", "xfail", "importorskip"):
                return True
    return False


def exception_skips(source: str) -> list[int]:
    """Line numbers of ``except`` clauses that catch a broad exception and skip or xfail."""
    return [h.lineno for h in ast.walk(ast.parse(source))
            if isinstance(h, ast.ExceptHandler) and _caught(h) & BROAD and _skips(h)]


def test_the_checker_finds_an_exception_turned_into_a_skip():
    bad = ("import pytest\ndef test_x():\n    try:\n        f()\n"
           "    except RuntimeError as e:\n        pytest.skip(str(e))\n")
    assert exception_skips(bad) == [5]
    ok = ("import pytest\ndef test_x():\n    try:\n        import kornia\n"
          "    except ImportError:\n        pytest.skip('no')\n")
    assert exception_skips(ok) == []


@pytest.mark.parametrize("path", sorted(TESTS.glob("test_*.py")) + sorted(TESTS.parent.glob("benchmarks/*.py")),
                         ids=lambda p: p.name)
def test_no_test_turns_an_error_into_a_skip(path):
    lines = exception_skips(path.read_text(encoding="utf-8"))
    assert not lines, (f"{path.name}: lines {lines} turn an exception into a skip; test the precise condition "
                       "(torch.cuda.is_available(), mfif.cuda_kernels_available(), ...) before the call instead")
