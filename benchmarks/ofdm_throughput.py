"""What an OFDM link costs before a user runs a large sweep: resource elements per second
through ``semclip.channels.ofdm`` (the elements a block uses), beside the same link assembled
from Sionna's own full-grid blocks (mapper, channel, LS estimator, LMMSE equaliser) on the
same frames, in one run.

    python benchmarks/ofdm_throughput.py [--frames 2000] [--device cpu|cuda] [--out benchmarks/results/ofdm_throughput.json]

For each link and block length n it times: drawing the frames' path coefficients (Sionna's
TDL/CDL), our link on given coefficients, and Sionna's full-grid chain; and counts the
resource elements each processes per second (ours: the block's n data elements plus the
pilots it estimates from; Sionna's: the whole frame).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from semclip._io import atomic_write_json
from semclip.channels import create_channel
from semclip.device import select
from semclip.results import machine_facts

LINKS = ["ofdm-tdl:C:300ns:3kmh:ls", "ofdm-tdl:C:300ns:120kmh:ls", "ofdm-tdl:C:300ns:120kmh:perfect", "ofdm-cdl:C:300ns:120kmh:ls"]
BLOCKS = [16, 1024]


def _timed(fn, repeat: int = 3) -> float:
    fn()  # warm-up (lazy builds, caches)
    best = math.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return best


def _sionna_full_grid(ch, x, a, var):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from test_ofdm import _sionna_chain

    rg = ch.grid
    noise = torch.zeros(x.shape[0], rg.num_ofdm_symbols, rg.fft_size, dtype=torch.complex64, device=x.device)
    return _sionna_chain(ch, x, a, noise, var, ch.cfg.equalizer)


def measure(spec: str, n: int, frames: int, dev: torch.device) -> dict:
    ch = create_channel(spec)
    gen = torch.Generator(dev).manual_seed(0)
    x = torch.polar(torch.ones(frames, n, device=dev), torch.rand(frames, n, device=dev, generator=gen) * 6.283)
    a = ch.draw(frames, gen, dev)
    var = torch.full((frames, 1), 0.1, device=dev)
    draw_s = _timed(lambda: ch.draw(frames, gen, dev))

    def ours():
        with ch.gains(a):
            ch(x, 10.0)

    link_s = _timed(ours)
    full_s = _timed(lambda: _sionna_full_grid(ch, x.cpu(), a.cpu(), var.cpu())) if dev.type == "cpu" else None
    used = n + (len(ch.layout.pilots) if ch.cfg.csi == "ls" else 0)
    frame = ch.grid.num_ofdm_symbols * ch.cfg.fft_size
    return {
        "link": spec, "symbols": n, "frames": frames, "draw_s": draw_s, "link_s": link_s, "sionna_full_grid_s": full_s,
        "elements_per_s": frames * used / link_s, "frame_elements_per_s_sionna": None if full_s is None else frames * frame / full_s,
        "frames_per_s": frames / (link_s + draw_s), "speedup_vs_sionna": None if full_s is None else full_s / link_s,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=2000, help="frames (images) per call")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    dev = select(args.device)
    rows = [measure(spec, n, args.frames, dev) for spec in LINKS for n in BLOCKS]
    table = Table(title=f"OFDM link throughput, {args.frames} frames per call, {dev}")
    for col in ("link", "n", "draw (s)", "link (s)", "Sionna full grid (s)", "elements/s", "frames/s (draw + link)", "x Sionna"):
        table.add_column(col, justify="left" if col == "link" else "right")
    for r in rows:
        full = r["sionna_full_grid_s"]
        table.add_row(r["link"], str(r["symbols"]), f"{r['draw_s']:.3f}", f"{r['link_s']:.3f}", "-" if full is None else f"{full:.3f}",
                      f"{r['elements_per_s']:.3g}", f"{r['frames_per_s']:.0f}", "-" if full is None else f"{r['speedup_vs_sionna']:.1f}")
    Console().print(table)
    out = args.out or Path(f"benchmarks/results/ofdm_throughput_{dev.type}.json")
    atomic_write_json(out, {"machine": machine_facts(), "device": str(dev), "threads": torch.get_num_threads(), "rows": rows})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
