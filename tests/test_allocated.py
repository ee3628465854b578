"""The strong linear floor (``pca``): the LMMSE-optimal power allocation across principal
components, and the code built on it against the flat one (``pca-flat``)."""

import pytest
import torch
import torch.nn.functional as F

from semclip.channels import create_channel
from semclip.errors import SemclipError
from semclip.jscc.allocated import AllocatedLinearCode, mmse_power
from semclip.jscc.checkpoint import load_linear, save_linear
from semclip.jscc.linear import LinearCode
from semclip.provenance import Provenance

VAR = torch.tensor([4.0, 2.0, 1.0, 0.5, 0.1, 0.01], dtype=torch.float64)


@pytest.mark.parametrize("snr_db", [-20.0, -10.0, 0.0, 10.0, 40.0])
def test_the_allocation_meets_the_budget_and_the_kkt_conditions(snr_db):
    noise = torch.tensor([[10 ** (-snr_db / 10) / 2]], dtype=torch.float64)
    p = mmse_power(VAR, 3.0, noise)[0]
    assert (p >= 0).all() and torch.isclose(p.sum(), torch.tensor(3.0, dtype=torch.float64))
    # d/dp of the LMMSE error lam N / (p + N) is -lam N / (p + N)^2: equal (mu) on every component that is on,
    # and no larger than mu at p = 0 on every component that is off (lam / N <= mu)
    slope = VAR * noise[0] / (p + noise[0]) ** 2
    on = p > 0
    assert torch.allclose(slope[on], slope[on][0].expand(int(on.sum())), rtol=1e-9)
    assert (VAR[~on] / noise[0] <= slope[on][0] * (1 + 1e-9)).all()


def test_the_allocation_switches_weak_components_off_at_low_snr_and_tends_to_sqrt_variance_at_high_snr():
    low = mmse_power(VAR, 3.0, torch.tensor([[10.0 / 2]], dtype=torch.float64))[0]  # -10 dB
    assert low[0] > 0 and (low[2:] == 0).all()
    high = mmse_power(VAR, 3.0, torch.tensor([[1e-6]], dtype=torch.float64))[0]
    ratio = high / VAR.sqrt()
    assert torch.allclose(ratio, ratio[0].expand(6), rtol=1e-2)
    # one row per sample: each row gets its own SNR's allocation
    both = mmse_power(VAR, 3.0, torch.tensor([[5.0], [1e-6]], dtype=torch.float64))
    assert torch.allclose(both[0], low) and torch.allclose(both[1], high)


def test_the_allocation_is_the_best_of_many_random_ones():
    noise = torch.tensor([[0.5]], dtype=torch.float64)
    best = (VAR * noise[0] / (mmse_power(VAR, 3.0, noise)[0] + noise[0])).sum()
    rand = torch.rand(2000, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    rand = 3.0 * rand / rand.sum(1, keepdim=True)
    assert (VAR * noise[0] / (rand + noise[0])).sum(1).min() >= best


def test_variances_out_of_order_are_refused():
    with pytest.raises(SemclipError, match="descending"):
        mmse_power(VAR.flip(0), 3.0, torch.ones(1, 1, dtype=torch.float64))


def anisotropic_tokens(n=6000, d=48, seed=0):
    """Unit tokens around a common direction whose first 8 components' standard deviations
    span a factor of 10 (variances 100), a weaker tail after them."""
    g = torch.Generator().manual_seed(seed)
    basis = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(5)))[0].t()
    coef = torch.randn(n, d - 1, generator=g) * torch.cat([torch.logspace(0, -1, 8), torch.full((max(d - 9, 0),), 0.05)])[: d - 1]
    return F.normalize(2.5 * basis[0] + coef @ basis[1:], dim=-1)


@pytest.mark.parametrize("channel", ["awgn", "rayleigh:mmse"])
def test_the_allocated_code_beats_the_flat_code_on_the_components_it_sends(channel):
    tokens = anisotropic_tokens()
    fit, test = tokens[:5000], tokens[5000:]
    mmse, flat = AllocatedLinearCode.fitted(fit, [2, 4], 4), LinearCode.fitted(fit, [2, 4], 4)
    dirs = mmse.directions  # both codes take the same principal directions
    assert torch.allclose(dirs.abs(), flat.directions.abs(), atol=1e-3)
    for snr_db, gain in ((-10.0, 1.0), (10.0, 0.96), (20.0, 0.85)):  # (at low SNR both send mostly the strongest)
        err = {}
        for name, code in (("mmse", mmse), ("flat", flat)):
            ch = create_channel(channel, generator=torch.Generator().manual_seed(1))
            rx, _ = code(test, torch.full((len(test), 1), snr_db), ch)
            err[name] = ((rx - test) @ dirs.t()).pow(2).sum(1).mean()  # error on the 2k sent components
        assert err["mmse"] < gain * err["flat"], (snr_db, err)


def test_the_allocated_code_is_nested_and_unit_power_and_near_exact_at_high_snr():
    tokens = anisotropic_tokens(n=2000, d=8)  # 2 k_max = 8: the whole space
    code = AllocatedLinearCode.fitted(tokens, [2, 4], 4)
    x = code.encode(tokens[:5], torch.zeros(5, 1), 4)
    assert x.shape == (5, 4) and torch.allclose(x.abs().pow(2).mean(-1), torch.ones(5, dtype=x.real.dtype), atol=1e-5)
    rx = code.transmit(tokens, torch.full((len(tokens), 1), 60.0), create_channel("awgn", generator=torch.Generator().manual_seed(0)))
    assert (rx * tokens).sum(1).median() > 0.99
    assert code.at(2).cfg.k == 2 and code.cfg.k == 4


def test_save_and_load_keep_the_allocation_and_flat_files_stay_flat(tmp_path):
    tokens = anisotropic_tokens(n=500, d=16)
    for cls in (AllocatedLinearCode, LinearCode):
        code = cls.fitted(tokens, [2, 4], 4)
        path = save_linear(code, tmp_path / f"{cls.__name__}.safetensors", "bb@1", Provenance("linear code"))
        back = load_linear(path, "bb@1", 2)
        assert type(back) is cls and back.cfg.k == 2
        assert all(torch.equal(a, b) for a, b in zip(code.state_dict().values(), back.state_dict().values()))
        with pytest.raises(SemclipError, match="backbone"):
            load_linear(path, "other@2")


def test_an_unfitted_allocated_code_says_so():
    with pytest.raises(SemclipError, match="never fitted"):
        AllocatedLinearCode(8, [2]).transmit(torch.randn(3, 8), torch.zeros(3, 1), create_channel("awgn"))
