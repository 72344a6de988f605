"""Compile every Triton kernel ahead of time for a CUDA target, without a GPU: ``python -m loco.kernels._aot``.

The tests run the kernels in Triton's interpreter, which accepts code the compiler rejects (a ``tl.constexpr``
assigned inside a ``static_range`` loop ran there and failed to compile on the first real GPU). This builds each
kernel, for the argument types and compile-time constants the launchers use, down to a cubin with the ``ptxas``
that Triton ships (``tests/test_triton_compile.py``). Run it without ``TRITON_INTERPRET`` (the interpreter's
kernels are not compilable objects).
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time


def variants():
    """``(name, kernel, signature, constexprs)``: each kernel with the argument types and the GPU block sizes its
    launcher uses (``_triton_utils.block_size`` on a GPU), over a representative set of its compile-time constants
    (for the peak search 16 of the 36 combinations, every value of every constant among them)."""
    from loco.kernels import geometry_triton as G
    from loco.kernels import peaks_triton as P
    from loco.kernels import render_triton as R

    peaks = {
        "vol_ptr": None, "flat_ptr": "*i64", "score_ptr": "*fp32", "offset_ptr": "*fp32", "count_ptr": "*i32",
        "capacity": "i32", "n_slabs": "i32", "depth": "i32", "height": "i32", "width": "i32", "thr": "fp32",
        "CONN26": "constexpr", "PLATEAU": "constexpr", "MODE": "constexpr", "SLABS": "constexpr", "BLOCK": "constexpr",
    }  # fmt: skip
    combos = [("*fp32", c, p, m) for c, p, m in itertools.product((False, True), (False, True), (0, 1, 2))]
    combos += [(dt, True, True, 2) for dt in ("*fp16", "*bf16")] + [(dt, False, False, 1) for dt in ("*fp16", "*bf16")]
    for dt, conn, plateau, mode in combos:
        const = {"CONN26": conn, "PLATEAU": plateau, "MODE": mode, "SLABS": 2, "BLOCK": 512}
        yield (
            f"find_peaks {dt[1:]} conn{26 if conn else 6} plateau={plateau} mode={mode}",
            P._find_peaks_kernel,
            (peaks | {"vol_ptr": dt}),
            const,
        )
    render = {
        "out_ptr": "*fp32", "centers_ptr": "*fp32", "lo_ptr": "*i64", "hi_ptr": "*i64", "channel_ptr": "*i64",
        "depth": "i32", "height": "i32", "width": "i32", "inv_s2": "fp32", "SIDE": "constexpr", "BLOCK": "constexpr",
    }  # fmt: skip
    for side in (1, 11):  # radius 0 and the default radius at sigma 2 (floor(2.5 sigma) = 5)
        yield f"render side={side}", R._render_kernel, render, {"SIDE": side, "BLOCK": 512}
    for (name, kernel), dt, distance in itertools.product(
        (("backproject", G._backproject_kernel), ("project", G._project_kernel)), ("*fp32", "*fp64"), (True, False)
    ):
        sig = {"pos_ptr" if name == "backproject" else "xyz_ptr": dt, "out_ptr": "*fp32", "n": "i32"}
        sig |= {k: "fp32" for k in ("fx", "fy", "cx", "cy", "stride", "min_depth", "bin_size")}
        sig |= {"DISTANCE": "constexpr", "BLOCK": "constexpr"}
        yield f"{name} {dt[1:]} distance={distance}", kernel, sig, {"DISTANCE": distance, "BLOCK": 256}


def compile_all(arch: int = 90, verbose: bool = False) -> list[str]:
    """Compile :func:`variants` for ``sm_<arch>``; returns the names compiled (raises on the first failure)."""
    if os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"):
        raise RuntimeError("unset TRITON_INTERPRET: interpreted kernels cannot be compiled")
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    target = GPUTarget("cuda", arch, 32)
    done = []
    for name, kernel, sig, const in variants():
        t = time.perf_counter()
        compiled = triton.compile(ASTSource(kernel, sig, const), target=target)
        if not compiled.asm.get("cubin"):
            raise RuntimeError(f"{name}: no cubin produced")
        done.append(name)
        if verbose:
            print(f"  {name}: {len(compiled.asm['cubin'])} B cubin, {time.perf_counter() - t:.1f} s", flush=True)
    return done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", type=int, default=90, help="compute capability x10 (default 90, Hopper)")
    args = parser.parse_args()
    os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")
    names = compile_all(args.arch, verbose=True)
    print(f"compiled {len(names)} kernel variants for sm_{args.arch}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
