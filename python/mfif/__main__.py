"""``python -m mfif``: the ``mfif`` command."""
import sys

from .cli import main

sys.exit(main())
