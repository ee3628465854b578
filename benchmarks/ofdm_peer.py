"""The digital link over our OFDM link against a chain built only from Sionna's blocks, with
more frames than the test affords (issue 28's peer comparison).

    python benchmarks/ofdm_peer.py [--frames 1000] [--snrs 2,5,8] [--link ofdm-tdl:A:120kmh:ls --out ...]

CRC + 5G LDPC (768, 1536) + QPSK with Sionna's BP decoder, two code blocks filling each
frame of a TDL link with 300 ns, LS and LMMSE and the default grid (TDL-C at 3 km/h unless
``--link``). The reference chain is `tests/test_ofdm.py`'s
`_sionna_only_frame_errors`. Frame error rates (a frame's two blocks share its channel, the
frames are independent), with Newcombe's 95 % interval of the difference. Writes
`benchmarks/results/ofdm_peer.json`.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import torch

from semclip._io import atomic_write_json
from semclip.baselines.digital import MCS, BlockPlan, DigitalLink
from semclip.channels import create_channel
from semclip.channels.ofdm import OFDMLinkConfig
from semclip.results import machine_facts
from semclip.stats import newcombe

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--snrs", default="2,5,8")
    ap.add_argument("--link", default="ofdm-tdl:C:300ns:3kmh:ls", help="a TDL link at 300 ns with the default grid, LS and LMMSE")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/ofdm_peer.json")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "tests"))
    from test_ofdm import _sionna_only_frame_errors

    k, n, frames = 768, 1536, args.frames
    plan = BlockPlan(MCS(2, Fraction(1, 2)), 2, k, n)
    link = DigitalLink(plan, num_iter=20, decoder="sionna", device=torch.device("cpu"))
    ch = create_channel(args.link, generator=torch.Generator().manual_seed(21))
    c = ch.cfg
    if c != replace(OFDMLinkConfig(), profile=c.profile, speed_kmh=c.speed_kmh):  # only these two may differ from the defaults
        raise SystemExit(f"{args.link}: the Sionna-only chain is built for TDL at 300 ns with the default grid, LS and LMMSE")
    payload = torch.randint(0, 2, (frames, plan.payload_bits), generator=torch.Generator().manual_seed(22), dtype=torch.uint8)
    rows = []
    for i, snr in enumerate(float(s) for s in args.snrs.split(",")):
        _, ok = link.transmit(payload, ch.coherent(), snr, batch_size=250)
        ours = 1 - ok.all(1).float().mean().item()
        theirs = _sionna_only_frame_errors(snr, frames, k, n, seed=200 + i, profile=c.profile, speed_kmh=c.speed_kmh) / frames
        lo, hi = newcombe(ours, frames, theirs, frames)
        rows.append({"snr_db": snr, "ours": ours, "sionna_only": theirs, "difference_ci95": [lo, hi]})
        print(f"{snr:g} dB: ours {ours:.3f}, Sionna-only {theirs:.3f}, difference {ours - theirs:+.3f} [{lo:+.3f}, {hi:+.3f}]", flush=True)
    atomic_write_json(args.out, {"machine": machine_facts(), "frames": frames, "link": ch.spec, "code": [k, n], "rows": rows})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
