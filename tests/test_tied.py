"""The depth-tied VHA used to start VHA training is exactly a VHA once its weights are written out."""

import pytest
import torch

from loco.training.tied import CPU_CHECKPOINTS, TiedVHA, load_tied


@pytest.mark.parametrize("version", [1, 2, 3])
@pytest.mark.parametrize("depth_bins", [40, 316])
def test_to_vha_is_the_same_function(version, depth_bins):
    torch.manual_seed(version)
    tied = TiedVHA(version, depth_bins=depth_bins)
    with torch.no_grad():
        for p in tied.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    vha = tied.to_vha()
    x = torch.rand(2, 14, depth_bins, 11, 13) ** 6
    with torch.no_grad():
        a, b = tied(x), vha(x)
        ca, cb = tied.encode(x), vha.encode(x)
    assert a.shape == b.shape == x.shape
    torch.testing.assert_close(ca, cb, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4 * float(b.abs().max()) + 1e-6)
    assert float(b.abs().max()) > 0


def test_identity_init_reconstructs_a_blob():
    tied = TiedVHA(2, depth_bins=64)
    tied.identity_init()
    x = torch.zeros(1, 1, 64, 16, 16)
    d, v, u = torch.meshgrid(torch.arange(64.0), torch.arange(16.0), torch.arange(16.0), indexing="ij")
    x[0, 0] = torch.exp(-((d - 30) ** 2 + (v - 8) ** 2 + (u - 7) ** 2) / 8)
    with torch.no_grad():
        y = tied.unfeatures(tied.features(x), (16, 16))
    peak = torch.nonzero(y[0, 0] == y.max())[0].tolist()
    assert abs(peak[0] - 30) <= 2 and abs(peak[1] - 8) <= 2 and abs(peak[2] - 7) <= 2
    assert 0.2 < float(y.max()) <= 1.0


@pytest.mark.parametrize("name", sorted(p.stem for p in CPU_CHECKPOINTS.glob("*.safetensors")) or ["none"])
def test_committed_checkpoints_load_and_export(name):
    """The CPU training checkpoints kept in the package load into TiedVHA and export to an equal VHA."""
    if not (CPU_CHECKPOINTS / f"{name}.safetensors").is_file():
        pytest.skip("no tied checkpoints in this copy")
    tied = load_tied(name)
    vha = tied.to_vha().eval()
    x = torch.zeros(1, 14, 316, 12, 12)
    x[0, 3, 100, 6, 5] = 1.0
    with torch.no_grad():
        torch.testing.assert_close(tied(x), vha(x), rtol=1e-4, atol=1e-4)
