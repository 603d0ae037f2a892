"""Vector width of the generated code: 512-bit vectors where they pay.

LLVM tunes every Intel core with AVX-512 to prefer 256-bit vectors. Importing
:mod:`emergence.rowsum` runs ``_prefer_wide_vectors`` before any kernel is compiled, so on a
core that has AVX-512 and keeps its clock under 512-bit work the kernels get zmm code: a block's
64 units in 4 registers instead of 8, and a lanes group's 16 seeds in exactly one. Setting
``NUMBA_CPU_FEATURES`` or ``NUMBA_CPU_NAME`` yourself overrides the choice.
"""

from __future__ import annotations

import os

import llvmlite.binding
from numba.core import config as numba_config

# Intel server cores of the Skylake generation lower their clock for 512-bit floating-point
# work by up to a third, which eats the gain; later cores (Ice Lake on) barely do.
DOWNCLOCKING_CPUS = frozenset({"skylake-avx512", "cascadelake", "cooperlake", "knl", "knm"})
AVX512 = ("avx512f", "avx512bw", "avx512dq", "avx512vl")


def wide_vector_features(cpu_name: str, features: dict[str, bool]) -> str | None:
    """The LLVM feature string that lets the kernels use 512-bit vectors, or None.

    LLVM tunes every Intel core with AVX-512 to prefer 256-bit vectors, so numba emits ymm
    code even where zmm registers would do each table row in half the instructions. The
    kernels here are bound by loads and adds from L1, so on a core that has AVX-512 and keeps
    its clock, wider vectors are faster (measured in the closing note of the engine's issue:
    0 to 25 % less CPU time per step on one thread, most in the backward scatter). ``None``
    where that does not hold.
    """
    if not all(features.get(name) for name in AVX512) or cpu_name in DOWNCLOCKING_CPUS:
        return None
    flags = ",".join(("+" if on else "-") + name for name, on in sorted(features.items())
                      if name != "prefer-256-bit")
    return flags + ",-prefer-256-bit"


def _prefer_wide_vectors() -> None:
    """Ask numba for 512-bit code on a suitable host, unless the user chose the target.

    Numba reads ``NUMBA_CPU_FEATURES`` when it first builds its code generator, which happens
    at the first compilation or cache load, so this must run before any kernel is called (in
    a process that compiled other numba code first, the setting comes too late and the
    kernels stay 256-bit). Numba's cache keys include the features, so code for either
    choice is never mixed up.
    """
    if os.environ.get("NUMBA_CPU_FEATURES") or os.environ.get("NUMBA_CPU_NAME"):
        return
    try:
        features = dict(llvmlite.binding.get_host_cpu_features())
    except RuntimeError:        # LLVM cannot read this host's features: keep numba's choice
        return
    chosen = wide_vector_features(llvmlite.binding.get_host_cpu_name(), features)
    if chosen is not None:
        os.environ["NUMBA_CPU_FEATURES"] = chosen
        numba_config.reload_config()


_prefer_wide_vectors()
# Whether this process's kernels are built for 512-bit vectors (by us or by the user's setting).
WIDE_VECTORS = "-prefer-256-bit" in os.environ.get("NUMBA_CPU_FEATURES", "")
