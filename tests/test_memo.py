"""Sweep records are computed once per content: a rerun reads them back, any change of
what went in (codec weights, tokens, SNRs) computes again, and a damaged file is recomputed."""

from __future__ import annotations

import torch

from semclip.eval.memo import content_digest, memo_records
from semclip.eval.sweep import sweep
from semclip.jscc.linear import LinearCode


def _setup():
    g = torch.Generator(device="cpu").manual_seed(0)
    tokens = torch.nn.functional.normalize(torch.randn(64, 16, generator=g, device="cpu"), dim=-1)
    labels = torch.randint(0, 4, (64,), generator=g, device="cpu")
    protos = torch.nn.functional.normalize(torch.randn(4, 16, generator=g, device="cpu"), dim=-1)
    code = LinearCode.fitted(tokens, [4, 8], 4)
    return code, tokens, labels, protos


def test_records_are_computed_once_per_content(isolated_cache):
    code, tokens, labels, protos = _setup()
    calls = []

    def run(c, t, snrs):
        def compute():
            calls.append(1)
            return sweep(c, t, labels, lambda x, s: (x @ protos.t()).argmax(1), ["awgn"], snrs)
        return memo_records("sweep", [c, c.cfg, t, labels, protos, snrs], compute)

    first = run(code, tokens, [0.0, 10.0])
    again = run(code, tokens, [0.0, 10.0])
    assert len(calls) == 1 and again == first
    run(code, tokens, [0.0, 5.0])  # other SNRs
    run(code, tokens.flip(0), [0.0, 10.0])  # other tokens
    other = LinearCode.fitted(tokens[:40], [4, 8], 4)
    run(other, tokens, [0.0, 10.0])  # other codec weights
    run(code.at(8), tokens, [0.0, 10.0])  # same weights, another k
    assert len(calls) == 5
    for f in (isolated_cache / "records").glob("*.json"):
        f.write_text("{not json")
    assert run(code, tokens, [0.0, 10.0]) == first and len(calls) == 6


def test_digest_sees_every_part():
    code, tokens, labels, _ = _setup()
    base = content_digest(code, tokens, "awgn", [0.0])
    assert base == content_digest(code, tokens.clone(), "awgn", [0.0])
    assert base != content_digest(code, tokens, "rayleigh", [0.0])
    assert base != content_digest(code, tokens.double(), "awgn", [0.0])
    with torch.no_grad():
        next(iter(code.state_dict().values())).add_(1e-3)
    assert base != content_digest(code, tokens, "awgn", [0.0])
