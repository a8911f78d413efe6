#!/usr/bin/env python3
"""Check that the ops library uses no instruction above x86-64-v2 outside the
run-time-dispatched AVX2 kernels (namespace ``mfif::avx2``, see
csrc/common/cpu_kernels.h), so that it never stops on an illegal instruction
on an older x86-64 CPU.

Disassembles the library with objdump and flags, per function, every
VEX/EVEX-encoded instruction (AVX, AVX2, FMA, AVX-512: mnemonics starting with
``v``), every use of a ymm/zmm/mask register and the BMI1/BMI2/LZCNT/MOVBE
instructions of x86-64-v3 (tzcnt excepted: see V3_SCALAR). Also checks that the dispatched kernels do use
AVX2 (the fast path really is built).

Usage: python scripts/check_isa.py [path/to/libmfif_ops.so]
Exit status: 0 when clean, 1 with a list of the offending functions.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict

ALLOWED = "mfif::avx2::"
V3_SCALAR = {"andn", "bextr", "blsi", "blsmsk", "blsr", "bzhi", "mulx", "pdep", "pext", "rorx", "sarx", "shlx",
             "shrx", "lzcnt", "movbe"}
# tzcnt is not flagged: g++ emits its encoding (rep bsf) for __builtin_ctz
# because older CPUs run it as bsf, which gives the same result for the
# nonzero inputs __builtin_ctz allows.
LEGACY_V = {"verr", "verw"}  # old protected-mode instructions that merely start with "v"
FUNCTION = re.compile(r"^[0-9a-f]+ <(.*)>:$")
WIDE_REGISTER = re.compile(r"%(ymm|zmm)\d+|%k[0-7]\b")


def above_v2(line: str) -> bool:
    parts = line.split("\t")
    if len(parts) < 2:
        return False
    text = parts[-1].strip()
    if not text:
        return False
    mnemonic = text.split()[0]
    if mnemonic in ("rep", "repz", "repnz", "lock", "notrack", "bnd") and len(text.split()) > 1:
        mnemonic = text.split()[1]
    return ((mnemonic.startswith("v") and mnemonic not in LEGACY_V) or mnemonic in V3_SCALAR
            or WIDE_REGISTER.search(text) is not None)


def scan(library: str) -> tuple[dict[str, int], dict[str, int]]:
    """(offending functions, dispatched functions using AVX2): name -> instruction count."""
    out = subprocess.run(["objdump", "-d", "-C", "--no-show-raw-insn", library], check=True, capture_output=True,
                         text=True).stdout
    bad: dict[str, int] = defaultdict(int)
    fast: dict[str, int] = defaultdict(int)
    function = ""
    for line in out.splitlines():
        m = FUNCTION.match(line)
        if m:
            function = m.group(1)
            continue
        if above_v2(line):
            (fast if ALLOWED in function else bad)[function] += 1
    return bad, fast


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default = os.path.join(os.path.dirname(__file__), "..", "python", "mfif", "libmfif_ops.so")
    parser.add_argument("library", nargs="?", default=default)
    args = parser.parse_args()
    if shutil.which("objdump") is None:
        print("check_isa: objdump (binutils) is needed", file=sys.stderr)
        return 2
    bad, fast = scan(args.library)
    if bad:
        print(f"check_isa: {len(bad)} functions outside {ALLOWED} use instructions above x86-64-v2:")
        for name, count in sorted(bad.items(), key=lambda kv: -kv[1])[:40]:
            print(f"  {count:6d}  {name[:200]}")
        return 1
    if not fast:
        print(f"check_isa: no AVX2 instruction in {ALLOWED}: the dispatched kernels were not built for AVX2")
        return 1
    print(f"check_isa: OK: nothing above x86-64-v2 outside {ALLOWED} "
          f"({len(fast)} dispatched functions use AVX2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
