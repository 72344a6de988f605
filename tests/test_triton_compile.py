"""The Triton kernels compile for a real GPU (sm_90), not only run in the interpreter.

The interpreter accepts code the compiler rejects: the 26-connected peak search assigned a ``tl.constexpr`` inside a
``static_range`` loop, passed every interpreted test and failed to compile on the first CUDA machine. This builds
every kernel variant the launchers use to a cubin with Triton's own ``ptxas`` (no GPU needed), in a subprocess
because this session's kernels are interpreted (``TRITON_INTERPRET=1``, ``conftest.py``)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

triton = pytest.importorskip("triton")


def _ptxas() -> bool:
    try:
        from triton.backends.nvidia import compiler  # noqa: F401
    except Exception:
        return False
    return (Path(compiler.__file__).parent / "bin" / "ptxas").is_file()


@pytest.mark.skipif(not _ptxas(), reason="this Triton build has no NVIDIA backend / ptxas")
def test_every_triton_kernel_compiles_for_sm90():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["TRITON_DEFAULT_FP_FUSION"] = "1"
    root = Path(__file__).resolve().parents[1]
    res = subprocess.run(
        [sys.executable, "-m", "loco.kernels._aot", "--arch", "90"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-4000:]
    assert "compiled 26 kernel variants for sm_90" in res.stdout
