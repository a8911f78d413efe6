"""Warnings and log records that point at the caller's code, not into mfif."""
from __future__ import annotations

import contextlib
import os
import sys
import warnings
from typing import Iterator

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def caller_stacklevel() -> int:
    """The ``stacklevel`` for ``warnings.warn`` called by the caller of this function that names the
    first frame outside the mfif package (the user's line), however deep inside mfif the call is."""
    frame, level = sys._getframe(2), 2
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    return level


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` pointing at the first line outside mfif."""
    warnings.warn(message, category, stacklevel=caller_stacklevel())


@contextlib.contextmanager
def reraise_at_caller() -> Iterator[None]:
    """Collect the warnings raised inside the block (on any thread) and emit them again at the caller's line."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        warnings.warn(w.message if isinstance(w.message, str) else str(w.message), w.category,
                      stacklevel=caller_stacklevel())
