"""The docstring examples of every mfif module run as doctests in the normal test run."""
import doctest
import importlib
import pkgutil

import pytest

import mfif

_SKIP = {"mfif.__main__", "mfif.libmfif_ops"}  # the command's entry point; the compiled ops library


def _modules():
    names = ["mfif"] + [m.name for m in pkgutil.walk_packages(mfif.__path__, "mfif.")]
    return sorted(n for n in names if n not in _SKIP)


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    # the examples are written for a user who has run `import mfif` (as the ops' do)
    for t in finder.find(module, name, globs={"mfif": mfif, **vars(module)}):
        runner.run(t, out=report.append)
    assert runner.failures == 0, "".join(report)
