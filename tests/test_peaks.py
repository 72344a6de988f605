"""find_peaks: every backend against the torch reference, and the reference against the definition."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import volumes

from loco import ops
from loco.kernels import HAS_NUMBA, HAS_TRITON

BACKENDS = [
    pytest.param("numba", marks=pytest.mark.skipif(not HAS_NUMBA, reason="numba not installed")),
    pytest.param("triton", marks=pytest.mark.skipif(not HAS_TRITON, reason="triton not installed")),
]
# Hypothesis examples per backend: the Triton interpreter runs each program in Python.
EXAMPLES = {"numba": 60, "triton": 15}
OPTIONS = st.tuples(
    st.sampled_from([6, 26]),
    st.sampled_from(["strict", "plateau"]),
    st.sampled_from([None, "gaussian", "quadratic"]),
    st.sampled_from([0.1, 0.0, -1.0, 0.6]),
)


def assert_same_peaks(got: ops.Peaks, ref: ops.Peaks, atol: float = 1e-5) -> None:
    """Discrete fields exactly, floats within ``atol`` (float32 log/division differ by a few ulps across backends)."""
    assert len(got) == len(ref), f"{len(got)} peaks, reference has {len(ref)}"
    torch.testing.assert_close(got.batch, ref.batch, rtol=0, atol=0)
    torch.testing.assert_close(got.joint, ref.joint, rtol=0, atol=0)
    torch.testing.assert_close(got.index, ref.index, rtol=0, atol=0)
    torch.testing.assert_close(got.score, ref.score, rtol=0, atol=0)
    torch.testing.assert_close(got.position, ref.position, rtol=0, atol=atol)
    for field in ("batch", "joint", "index"):
        assert getattr(got, field).dtype == torch.int64
    assert got.position.dtype == got.score.dtype == torch.float32


def brute_force_peaks(vol: np.ndarray, threshold: float, connectivity: int, ties: str) -> set[tuple]:
    """The definition, voxel by voxel: (b, j, d, v, u) of every peak."""
    offsets = [o for o in itertools.product((-1, 0, 1), repeat=3) if any(o)]
    if connectivity == 6:
        offsets = [o for o in offsets if sum(map(abs, o)) == 1]
    out = set()
    b_, j_, d_, h_, w_ = vol.shape
    for b, j, d, v, u in itertools.product(range(b_), range(j_), range(d_), range(h_), range(w_)):
        x = vol[b, j, d, v, u]
        if not x > threshold:
            continue
        ok = True
        for dd, dv, du in offsets:
            n = (d + dd, v + dv, u + du)
            if 0 <= n[0] < d_ and 0 <= n[1] < h_ and 0 <= n[2] < w_:
                y = vol[b, j][n]
                if not (x > y if ties == "strict" else x >= y):
                    ok = False
                    break
        if ok:
            out.add((b, j, d, v, u))
    return out


@settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(vol=volumes(), options=OPTIONS)
def test_reference_matches_definition(vol, options):
    connectivity, ties, _, threshold = options
    peaks = ops.find_peaks(vol, threshold=threshold, connectivity=connectivity, ties=ties, backend="torch")
    got = {(int(b), int(j), *map(int, i)) for b, j, i in zip(peaks.batch, peaks.joint, peaks.index)}
    assert got == brute_force_peaks(vol.numpy(), threshold, connectivity, ties)
    # sorted by batch, joint, descending score, then index
    keys = [(int(b), int(j), -float(s), *map(int, i)) for b, j, s, i in zip(*peaks[:2], peaks.score, peaks.index)]
    assert keys == sorted(keys)


@pytest.mark.parametrize("backend", BACKENDS)
def test_backend_matches_reference(backend):
    @settings(deadline=None, max_examples=EXAMPLES[backend], suppress_health_check=[HealthCheck.too_slow])
    @given(vol=volumes(), options=OPTIONS)
    def check(vol, options):
        connectivity, ties, refine, threshold = options
        kwargs = dict(threshold=threshold, connectivity=connectivity, ties=ties, refine=refine)
        ref = ops.find_peaks(vol, backend="torch", **kwargs)
        assert_same_peaks(ops.find_peaks(vol, backend=backend, **kwargs), ref)

    check()


@pytest.mark.parametrize("backend", ["torch", *BACKENDS])
@pytest.mark.parametrize("refine", ["gaussian", "quadratic"])
def test_isolated_gaussian_refinement(backend, refine):
    """Gaussian refinement is exact for an isolated Gaussian; quadratic is close but biased."""
    centre = torch.tensor([[4.3, 5.8, 3.55]])
    vol = ops.render_heatmaps(centre, torch.tensor([0]), (1, 9, 11, 8), sigma=2.0, radius=4, backend="torch")
    peaks = ops.find_peaks(vol, refine=refine, backend=backend)
    assert len(peaks) == 1
    assert peaks.index.tolist() == [[4, 6, 4]]
    err = (peaks.position - centre).abs().max().item()
    if refine == "gaussian":
        assert err < 1e-4
    else:
        assert 1e-3 < err < 0.1


@pytest.mark.parametrize("backend", ["torch", *BACKENDS])
def test_refinement_edge_cases(backend):
    vol = torch.zeros(1, 1, 3, 3, 4)
    vol[0, 0, 0, 1, 0] = 1.0  # on the d=0 and u=0 borders: no offset along d and u
    vol[0, 0, 0, 0, 0] = 0.5  # v neighbour > 0 on one side only (v=2 is 0): no offset along v
    vol[0, 0, 2, 1, 2] = 0.9
    vol[0, 0, 2, 1, 1] = 0.3
    vol[0, 0, 2, 1, 3] = 0.1  # u offset towards the larger neighbour (negative here)
    vol[0, 0, 1, 1, 2] = 0.2  # d neighbour only on one side (d=3 is outside): no offset along d
    peaks = ops.find_peaks(vol, refine="gaussian", backend=backend)
    assert peaks.index.tolist() == [[0, 1, 0], [2, 1, 2]]
    expected_u = 0.5 * (math.log(0.3) - math.log(0.1)) / (math.log(0.3) - 2 * math.log(0.9) + math.log(0.1))
    torch.testing.assert_close(
        peaks.position, torch.tensor([[0.0, 1.0, 0.0], [2.0, 1.0, 2.0 + expected_u]]), rtol=0, atol=1e-6
    )


@pytest.mark.parametrize("backend", ["torch", *BACKENDS])
def test_nan_never_creates_a_peak(backend):
    vol = torch.full((1, 2, 3, 3, 3), float("nan"))
    vol[0, 1] = 0.0
    vol[0, 1, 1, 1, 1] = float("nan")
    vol[0, 1, 0, 0, 0] = 0.7
    peaks = ops.find_peaks(vol, threshold=-1.0, backend=backend)
    assert peaks.index.tolist() == [] or all(not torch.isnan(s) for s in peaks.score)
    assert not torch.isnan(peaks.score).any()
    # the 0.7 at a corner is a peak; the zeros beside the NaN cannot beat it
    assert [0, 0, 0] in peaks.index.tolist()


@pytest.mark.parametrize("backend", ["torch", *BACKENDS])
def test_plateau_and_strict(backend):
    vol = torch.zeros(1, 1, 1, 1, 5)
    vol[..., 1:3] = 0.5
    assert len(ops.find_peaks(vol, ties="strict", backend=backend)) == 0
    assert ops.find_peaks(vol, ties="plateau", backend=backend).index.tolist() == [[0, 0, 1], [0, 0, 2]]


@pytest.mark.parametrize("backend", ["torch", *BACKENDS])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_low_and_high_precision_input(backend, dtype):
    torch.manual_seed(0)
    vol = torch.rand(2, 3, 5, 6, 7)
    ref = ops.find_peaks(vol.to(dtype).to(torch.float32), refine="gaussian", backend="torch")
    assert_same_peaks(ops.find_peaks(vol.to(dtype), refine="gaussian", backend=backend), ref)


@pytest.mark.parametrize("backend", ["torch", *BACKENDS])
def test_four_d_input_and_empty(backend):
    torch.manual_seed(1)
    vol = torch.rand(3, 4, 5, 6)
    four = ops.find_peaks(vol, backend=backend)
    five = ops.find_peaks(vol[None], backend=backend)
    assert_same_peaks(four, five)
    assert (four.batch == 0).all()
    empty = ops.find_peaks(torch.zeros(2, 3, 4, 5, 6), backend=backend)
    assert len(empty) == 0 and empty.index.shape == (0, 3) and empty.position.shape == (0, 3)


@pytest.mark.skipif(not HAS_TRITON, reason="triton not installed")
def test_triton_buffer_overflow_grows_and_reruns(monkeypatch):
    """A buffer smaller than the peak count must not drop peaks: the kernel counts past it and the host reruns."""
    from loco.kernels import peaks_triton

    monkeypatch.setattr(peaks_triton, "_INITIAL_CAPACITY", 3)
    vol = torch.zeros(1, 2, 5, 6, 7)
    vol[..., ::2, ::2, ::2] = torch.rand(1, 2, 3, 3, 4) + 0.5  # 72 isolated peaks
    got = ops.find_peaks(vol, refine="gaussian", backend="triton")
    assert len(got) == 72
    assert_same_peaks(got, ops.find_peaks(vol, refine="gaussian", backend="torch"))


@pytest.mark.parametrize("backend", ["torch", *BACKENDS])
def test_peaks_tuple_helpers(backend):
    vol = torch.zeros(2, 2, 3, 3, 3)
    vol[1, 1, 1, 1, 1] = 1.0
    vol[0, 0, 0, 0, 0] = 0.5
    peaks = ops.find_peaks(vol, backend=backend)
    assert peaks.batch.tolist() == [0, 1] and peaks.joint.tolist() == [0, 1]
    sub = peaks.select(peaks.batch == 1)
    assert len(sub) == 1 and sub.score.tolist() == [1.0]
