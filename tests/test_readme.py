"""The README is a test: every ``bash`` and ``python`` block runs, in order, in a scratch folder.

The scratch folder holds a copy of ``samples/`` and a ``stack/`` folder of
generated frames (the README's "your stack"); ``mfif`` on its PATH is this
interpreter's ``python -m mfif``. The set-up commands are not rerun (they build
mfif, minutes): they are checked word for word against ``scripts/setup.sh`` and
``.ci/run``, and what follows their ``&&`` runs. The sample command's output is
compared with the README's ``text`` block, numbers aside.
"""
import os
import re
import shutil
import subprocess
import sys

import pytest

import mfif
from mfif import io, synthetic

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
SETUP = "bash scripts/setup.sh && "


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def blocks() -> list[tuple[str, str]]:
    """``(language, body)`` of every fenced block of the README, in order."""
    return [(m[1], m[2]) for m in re.finditer(r"^```(\w*)\n(.*?)^```", _read(README), re.S | re.M)]


def commands() -> list[str]:
    out = []
    for lang, body in blocks():
        if lang == "bash":
            out += [line for line in body.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return out


def test_readme_is_short_and_stays_inside_the_repository():
    text = _read(README)
    assert len(text.splitlines()) <= 300
    assert "../" not in text and "/work/" not in text
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):  # every relative link exists
        if not target.startswith("http"):
            assert os.path.exists(os.path.join(ROOT, target)), target


def test_setup_commands_are_those_of_the_setup_script_and_ci():
    setup = [c for c in commands() if c.startswith(SETUP)]
    assert len(setup) == 2
    ci = _read(os.path.join(ROOT, ".ci", "run"))
    tests = [c for c in setup if "pytest" in c][0]
    assert tests in ci  # CI runs the README's test command (it may add flags after it)
    fuse = [c for c in setup if "mfif fuse" in c][0]
    assert fuse.startswith(SETUP + ".venv/bin/mfif fuse samples/")
    script = _read(os.path.join(ROOT, "scripts", "setup.sh"))
    assert 'venv="${MFIF_VENV:-.venv}"' in script and 'pip_q --no-build-isolation ".[test]"' in script
    assert 'mfif = "mfif.cli:main"' in _read(os.path.join(ROOT, "pyproject.toml"))  # .venv/bin/mfif


def test_pip_commands_match_the_setup_script():
    script = _read(os.path.join(ROOT, "scripts", "setup.sh"))
    pip = [c for c in commands() if c.startswith("pip install")]
    assert pip == ["pip install torch==2.13.0 scikit-build-core ninja cmake",
                   "pip install --no-build-isolation ."]
    assert 'torch==${MFIF_TORCH_VERSION:-2.13.0}' in script and "pip_q scikit-build-core ninja" in script


def _stack(folder: str) -> None:
    os.makedirs(folder)
    frames, _ = synthetic.moving_stack(96, 128, n=4, seed=6, max_sigma=3.0)
    for i, f in enumerate(frames):
        io.write_image(os.path.join(folder, f"frame_{i + 1}.png"), io.from_float(f))


def test_every_block_runs(tmp_path):
    shutil.copytree(os.path.join(ROOT, "samples"), tmp_path / "samples")
    _stack(str(tmp_path / "stack"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "mfif"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m mfif "$@"\n')
    shim.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
               PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(mfif.__file__))))

    def run(args, shell=False):
        r = subprocess.run(args, shell=shell, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
        assert r.returncode == 0, f"{args}\n{r.stdout}\n{r.stderr}"
        return r.stdout

    sample_output = None
    expected = [body for lang, body in blocks() if lang == "text" and body.startswith("fused ")]
    for lang, body in blocks():
        if lang == "python":
            run([sys.executable, "-c", body])
        elif lang == "bash":
            for line in body.splitlines():
                if not line.strip() or line.lstrip().startswith("#") or line.startswith("pip install"):
                    continue  # pip lines: checked against the set-up script above
                if line.startswith(SETUP):
                    line = line[len(SETUP):]
                    if "pytest" in line:
                        continue  # the test suite itself
                    out = run(line.replace(".venv/bin/mfif", "mfif"), shell=True)
                    sample_output = out
                else:
                    run(line, shell=True)
    assert sample_output is not None and len(expected) == 1
    number = re.compile(r"\d+(\.\d+)?")
    assert number.sub("#", sample_output.strip()) == number.sub("#", expected[0].strip())
    assert (tmp_path / "aligned" / "frame_1.png").exists() and (tmp_path / "fused-api.jpg").exists()
