"""Warnings that point at the caller's code, not into mfif."""
from __future__ import annotations

import os
import sys
import warnings
from typing import Any, Callable, TypeVar

T = TypeVar("T")
_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def caller_stacklevel() -> int:
    """The ``stacklevel`` that makes a ``warnings.warn`` in the calling function name the first frame
    outside the mfif package (the user's line), however deep inside mfif the call is."""
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    return level


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` pointing at the first line outside mfif."""
    warnings.warn(message, category, stacklevel=caller_stacklevel())


def reraising(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``, with the warnings it raises (on any thread) emitted again at the caller's line."""
    log: list = []
    try:
        with warnings.catch_warnings(record=True) as log:
            warnings.simplefilter("always")
            return fn(*args, **kwargs)
    finally:
        for w in log:
            warnings.warn(str(w.message), w.category, stacklevel=caller_stacklevel())
