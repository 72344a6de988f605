"""The coarse-tied VHA trained on depth windows is exactly a VHA once its block-Toeplitz weights are written out."""

import pytest
import torch

from loco.models._hub import WEIGHTS_DIR
from loco.training.coarse import CoarseVHA, from_tied, load_coarse, load_frozen_vha, resolve_coarse
from loco.training.tied import CPU_CHECKPOINTS, TiedVHA, load_tied


def _randomised(model, scale=0.3, seed=0):
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, scale)
    return model


@pytest.mark.parametrize("version, depth_bins", [(1, 40), (2, 44), (3, 52), (2, 316)], ids=lambda x: str(x))
def test_to_vha_is_the_same_function(version, depth_bins):
    model = _randomised(CoarseVHA(version, joints=3, depth_bins=depth_bins, first_pad=3), seed=version)
    vha = model.to_vha()
    covered = model.P * model.S  # version 3: 8 * (52 // 8) = 48 of the 52 bins
    x = torch.rand(2, 3, depth_bins, 11, 13) ** 6
    x[:, :, covered:] = 0
    with torch.no_grad():
        a, b = model(x[:, :, :covered]), vha(x)
    assert b.shape == x.shape
    torch.testing.assert_close(a, b[:, :, :covered], rtol=1e-4, atol=1e-4 * float(b.abs().max()))
    if covered < depth_bins:
        assert float(b[:, :, covered:].abs().max()) == 0.0  # the spare bins decode to 0
    assert float(b.abs().max()) > 0


def test_from_tied_is_exact():
    tied = TiedVHA(2, depth_bins=60)
    with torch.no_grad():
        for p in tied.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    model = from_tied(tied)
    x = torch.rand(1, 14, 60, 12, 16) ** 8
    with torch.no_grad():
        torch.testing.assert_close(model(x), tied(x), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(model.to_vha()(x), tied(x), rtol=1e-4, atol=1e-5)


def test_windows_must_be_whole_code_positions():
    model = CoarseVHA(2, depth_bins=40)
    with pytest.raises(ValueError, match="multiple of 4"):
        model(torch.zeros(1, 14, 38, 8, 8))


def test_save_load_round_trip(tmp_path):
    model = _randomised(CoarseVHA(3, depth_bins=48, kernel=3))
    model.save(tmp_path / "m.safetensors", {"step": 7})
    again = load_coarse(tmp_path / "m.safetensors")
    assert again.config == model.config
    for (ka, va), (kb, vb) in zip(model.state_dict().items(), again.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    # a run folder, the file itself and a bundled name resolve; anything else names what was expected
    (tmp_path / "run").mkdir()
    model.save(tmp_path / "run" / "coarse.safetensors", {"step": 7})
    assert resolve_coarse(tmp_path / "run") == tmp_path / "run" / "coarse.safetensors"
    assert resolve_coarse(tmp_path / "m.safetensors") == tmp_path / "m.safetensors"
    assert resolve_coarse("vha2").name == "vha2.safetensors" and load_coarse("vha2").version == 2
    with pytest.raises(FileNotFoundError, match="no CoarseVHA at 'nope'"):
        load_coarse("nope")


def test_load_frozen_vha_picks_the_checkpoint_kind(tmp_path):
    """A run folder, a CoarseVHA file and a TiedVHA file each load as the VHA they equal, frozen, with ``encode``
    the checkpoint's own encoder (the same function); a tied name is looked up before a bundled coarse one."""
    from safetensors.torch import save_file

    coarse = _randomised(CoarseVHA(2, joints=3, depth_bins=40), scale=0.2, seed=5)
    (tmp_path / "run").mkdir()
    coarse.save(tmp_path / "run" / "coarse.safetensors")
    tied = TiedVHA(2)
    save_file(tied.state_dict(), str(tmp_path / "t.safetensors"))
    x = torch.rand(1, 3, 40, 12, 16) ** 6
    for spec in (tmp_path / "run", tmp_path / "run" / "coarse.safetensors"):
        vha = load_frozen_vha(spec)
        assert isinstance(vha.encode.__self__, CoarseVHA) and vha.encode.__func__ is CoarseVHA.encode3d
        assert not vha.training and not any(p.requires_grad for p in vha.parameters())
        with torch.no_grad():
            torch.testing.assert_close(vha.encode(x), type(vha).encode(vha, x), rtol=1e-4, atol=1e-5)
    vha = load_frozen_vha(tmp_path / "t.safetensors")
    assert isinstance(vha.encode.__self__, TiedVHA) and vha.decoder is not None
    x = torch.rand(1, 14, 316, 8, 8) ** 6
    with torch.no_grad():
        torch.testing.assert_close(vha.encode(x), type(vha).encode(vha, x), rtol=1e-4, atol=1e-5)
    if (CPU_CHECKPOINTS / "C3_300.safetensors").is_file():
        assert isinstance(load_frozen_vha("C3_300").encode.__self__, TiedVHA)
    if (WEIGHTS_DIR / "coarse_cpu" / "vha2.safetensors").is_file():
        assert isinstance(load_frozen_vha("vha2").encode.__self__, CoarseVHA)
    with pytest.raises(FileNotFoundError, match="no CoarseVHA at 'nope'"):
        load_frozen_vha("nope")


def test_committed_tied_checkpoint_converts():
    if not (CPU_CHECKPOINTS / "C4_900.safetensors").is_file():
        pytest.skip("no tied checkpoints in this copy")
    tied = load_tied("C4_900")
    x = torch.zeros(1, 14, 316, 12, 12)
    x[0, 3, 100, 6, 5] = 1.0
    with torch.no_grad():
        torch.testing.assert_close(from_tied(tied)(x), tied(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("version", [1, 2, 3])
def test_reconstruct_is_forward(version):
    model = _randomised(CoarseVHA(version, joints=2, depth_bins=48, first_pad=4), scale=0.2, seed=3)
    x = torch.rand(1, 2, 48, 13, 19) ** 6
    with torch.no_grad():
        torch.testing.assert_close(model.reconstruct(x), model(x), rtol=1e-4, atol=1e-4 * float(model(x).abs().max()))


@pytest.mark.parametrize("version", [1, 2, 3])
def test_identity_init_reconstructs_a_blob(version):
    model = CoarseVHA(version, depth_bins=64).identity_init()
    d, v, u = torch.meshgrid(torch.arange(64.0), torch.arange(32.0), torch.arange(32.0), indexing="ij")
    x = torch.exp(-((d - 30) ** 2 + (v - 13) ** 2 + (u - 18) ** 2) / 4)[None, None]
    with torch.no_grad():
        y = model.unfeatures(model.features(x))
    peak = torch.nonzero(y[0, 0] == y.max())[0]
    tol = model.S  # one code position of blur
    assert (peak - torch.tensor([30, 13, 18])).abs().max() <= tol
    assert 0.0 < float(y.max()) <= 1.0


def test_encode3d_is_the_vha_code():
    model = _randomised(CoarseVHA(2, joints=3, depth_bins=40), scale=0.2, seed=5)
    x = torch.rand(1, 3, 40, 12, 16) ** 6
    with torch.no_grad():
        torch.testing.assert_close(model.encode3d(x), model.to_vha().encode(x), rtol=1e-4, atol=1e-5)


def test_heldout_frames_and_both_table2_paths():
    """The held-out frames are the same with and without buffer reuse; the identity scores 100; evaluate_coarse
    (3-D convolutions) scores the frames exactly as evaluate_vha does on the exported VHA."""
    from loco.training.vha import evaluate_vha, heldout_volumes
    from loco.training.windows import evaluate_coarse

    size = (270, 480)
    fresh = [v.clone() for v in heldout_volumes(2, image_size=size)]
    reused = [v.clone() for v in heldout_volumes(2, image_size=size, reuse=True)]
    assert len(fresh) == 2 and not torch.equal(fresh[0], fresh[1])
    for a, b in zip(fresh, reused):
        assert torch.equal(a, b)

    class Identity(torch.nn.Module):
        joints = 14

        def forward(self, x):
            return x

    perfect = evaluate_vha(Identity(), 2, image_size=size)
    assert perfect["frames"] == 2 and all(perfect[f"f1@{t}"] == 100.0 for t in (0, 1, 2))
    path = WEIGHTS_DIR / "coarse_cpu" / "vha2.safetensors"
    if not path.is_file():
        pytest.skip("no bundled CoarseVHA in this copy")
    coarse = load_coarse(path)
    got = evaluate_coarse(coarse, 2, image_size=size)
    assert got == evaluate_vha(coarse.to_vha(), 2, image_size=size)
    assert got["f1@2"] < 100.0  # a real VHA, not the identity: the comparison can fail


@pytest.mark.parametrize("version", [2, 3])
def test_widened_is_the_same_function(version):
    model = _randomised(CoarseVHA(version, joints=2, depth_bins=64, first_pad=3, kernel=3), scale=0.2, seed=7)
    wide = model.widened(7, 5)
    assert (wide.kernel, wide.first_pad) == (7, 5)
    assert model.widened(5).first_pad == 3
    x = torch.rand(1, 2, 64, 12, 16) ** 6
    with torch.no_grad():
        torch.testing.assert_close(wide(x), model(x), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(wide.to_vha()(x), model.to_vha()(x), rtol=1e-4, atol=1e-5)
    # the new taps start at zero
    assert float(wide.weights["e2"][:, :, 0].abs().max()) == 0.0
    for bad in (1, 4):
        with pytest.raises(ValueError, match="kernel must be odd and at least 3"):
            model.widened(bad)
    for bad in (7.0, True, "7"):
        with pytest.raises(TypeError, match="kernel must be an int"):
            model.widened(bad)
    with pytest.raises(ValueError, match="first_pad"):
        model.widened(5, 2)
    # the widened (and the untied) network keeps its source's dtype and runtime settings
    double = _randomised(CoarseVHA(version, joints=2, depth_bins=64, first_pad=3, kernel=3), scale=0.2, seed=7).double()
    double.bypass_fuser = True
    for made in (double.widened(7), double.untie()):
        assert all(p.dtype == torch.float64 for p in made.parameters()) and made.bypass_fuser


def test_coarse_constructor_checks_its_arguments():
    bad = [
        (dict(untied="yes"), TypeError, "untied"),
        (dict(untied=1), TypeError, "untied"),
        (dict(kernel=4), ValueError, "kernel"),
        (dict(kernel=5.0), TypeError, "kernel"),
        (dict(first_pad=-1), ValueError, "first_pad"),
        (dict(joints=0), ValueError, "joints"),
        (dict(depth_bins=64.0), TypeError, "depth_bins"),
    ]
    for kw, error, name in bad:
        with pytest.raises(error, match=name):
            CoarseVHA(2, **({"depth_bins": 64} | kw))


@pytest.mark.parametrize("version", [2, 3])
def test_untie_is_the_same_function_and_windows_take_their_positions_kernels(version, tmp_path):
    model = _randomised(CoarseVHA(version, joints=2, depth_bins=96, first_pad=3, kernel=3), scale=0.2, seed=11)
    untied = model.untie()
    assert untied.untied and untied.untie() is untied and not model.untied
    offsets = [*untied.position_weights.values(), *untied.position_biases.values()]
    assert all(float(p.detach().abs().max()) == 0.0 for p in offsets)
    pw = 4
    x = torch.rand(3, 2, pw * model.S, 12, 16) ** 6
    starts = torch.tensor([0, 3, model.P - pw])
    with torch.no_grad():
        torch.testing.assert_close(untied(x, None, starts), model(x), rtol=0, atol=0)
        torch.testing.assert_close(model(x, None, starts), model(x), rtol=0, atol=0)  # a tied network ignores starts
        for p in [*untied.position_weights.values(), *untied.position_biases.values()]:
            p.normal_(0.0, 0.1)
        # a window's weights are the block of the whole depth's at its positions: position c's own kernels
        for name in untied.weights:
            whole, whole_b = untied.toeplitz(name, untied.P)
            fo, fi = untied.weights[name].shape[:2]
            fi = untied.S if name == "e1" else fi
            for s in (0, 3, untied.P - pw):
                wt, b = untied.toeplitz(name, pw, s)
                assert torch.equal(wt, whole[s * fo : (s + pw) * fo, s * fi : (s + pw) * fi]), (name, s)
                assert torch.equal(b, whole_b[s * fo : (s + pw) * fo])
            assert not torch.equal(untied.toeplitz(name, pw, 3)[0], untied.toeplitz(name, pw, 0)[0])
        # windows with different starts batch as they run alone
        y = untied(x, None, starts)
        for i, s in enumerate(starts.tolist()):
            torch.testing.assert_close(y[i : i + 1], untied(x[i : i + 1], None, torch.tensor([s])), rtol=0, atol=0)
        assert not torch.allclose(y[1], untied(x[1:2])[0])
        # the whole depth: the exported VHA, reconstruct and encode3d are the untied network
        full = torch.rand(1, 2, 96, 12, 16) ** 6
        covered = untied.P * untied.S
        full[:, :, covered:] = 0
        vha = untied.to_vha()
        ref = vha(full)
        torch.testing.assert_close(untied.reconstruct(full[:, :, :covered]), ref[:, :, :covered], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(untied.encode3d(full[:, :, :covered]), vha.encode(full), rtol=1e-4, atol=1e-5)
        untied.save(tmp_path / "u.safetensors")
        back = load_coarse(tmp_path / "u.safetensors")
        assert back.untied and back.config == untied.config
        assert torch.equal(back.reconstruct(full[:, :, :covered]), untied.reconstruct(full[:, :, :covered]))
    with pytest.raises(ValueError, match="outside the"):
        untied(x, None, torch.tensor([0, 1, untied.P - pw + 1]))
    with pytest.raises(ValueError, match=r"starts must be \(B,\)"):
        untied(x, None, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="widen before untie"):
        untied.widened(5)
