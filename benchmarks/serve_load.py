"""A bounded load test of `semclip serve` on 127.0.0.1, against a fresh server.

Starts `semclip serve` in a new process (it listens at once and loads the models and codecs
in the background), waits until every channel's codec is ready, then sends ``--requests`` requests, ``--concurrency`` at a time: valid uploads (PNG and JPEG
of 28 to 1000 px), offline samples, bad requests (NaN SNR, unknown channel, a non-image, a
missing field), decompression bombs (a real 12 000 x 12 000 PNG of about 0.4 MB, and a JPEG
of 6000 x 6000), an 11 MB upload, and 200 MB chunked bodies without Content-Length (both a file part that
never ends). Before the load, one bomb alone on the idle server measures its memory cost. Reports
the status codes (5xx must be 0), p50/p95 latency of the valid requests, the server's resident
memory (after start, peak), how many bytes a chunked body had sent when refused, and that the
server answers afterwards.

    python benchmarks/serve_load.py [--requests 200] [--concurrency 16] [--out benchmarks/results/serve_load.json]
    python benchmarks/serve_load.py --start-only --cache $(mktemp -d) --out benchmarks/results/serve_cold.json  # a cold start
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

from semclip._io import atomic_write_json
from semclip.results import machine_facts

BOUNDARY = "semclipload"


def multipart(fields: dict[str, str], file: tuple[str, bytes, str] | None) -> bytes:
    parts = [f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()]
    if file:
        name, data, kind = file
        parts.append(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                     f"Content-Type: {kind}\r\n\r\n".encode() + data + b"\r\n")
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def post(port: int, body: bytes) -> tuple[int, float, str]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/predict", data=body, method="POST",
                                 headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    t = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=300) as r:
            status, text = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    except OSError as e:  # the server answered early (413) and closed while the body was still going out
        status, text = -1, f"connection closed while sending: {e.__class__.__name__}"
    return status, time.perf_counter() - t, text[:200]


def raw_post(port: int, body: bytes, total: int | None = None, chunk: int = 2**20) -> tuple[int, int]:
    """POST over a plain socket, a chunk at a time, watching for an early answer: with ``total``,
    ``body`` (a multipart head) is followed by zeros up to ``total`` bytes sent chunked without a
    Content-Length; else ``body`` is sent with its Content-Length. -> (status, bytes sent)."""
    head = f"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
    head += "Transfer-Encoding: chunked\r\n\r\n" if total else f"Content-Length: {len(body)}\r\n\r\n"
    pieces = ([body] + [b"\0" * chunk] * ((total - len(body)) // chunk)) if total else [body[i : i + chunk] for i in range(0, len(body), chunk)]
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(head.encode())
        try:
            for piece in pieces:
                s.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if total else piece)
                sent += len(piece)
                s.setblocking(False)
                try:
                    if s.recv(1, socket.MSG_PEEK):
                        break  # the server answered before the body was through
                except BlockingIOError:
                    pass
                finally:
                    s.setblocking(True)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            s.settimeout(30)
            reply = s.recv(200).decode(errors="replace")
            status = int(reply.split()[1]) if reply.startswith("HTTP/") else 0
        except (OSError, ValueError, IndexError):
            status = 0
    return status, sent


def image_bytes(side: int, fmt: str, seed: int) -> bytes:
    rng = random.Random(seed)
    im = Image.new("RGB", (side, side), tuple(rng.randrange(256) for _ in range(3)))
    im.paste(tuple(rng.randrange(256) for _ in range(3)), (side // 4, side // 4, side // 2, 3 * side // 4))
    buf = io.BytesIO()
    im.save(buf, fmt)
    return buf.getvalue()


def rss_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/serve_load.json"))
    ap.add_argument("--cache", type=Path, default=None, help="the server's SEMCLIP_CACHE (an empty folder: a cold start)")
    ap.add_argument("--start-only", action="store_true", help="only time the start: listening, then each channel ready")
    args = ap.parse_args()
    bomb = io.BytesIO()
    Image.new("1", (12000, 12000)).save(bomb, "PNG", optimize=True)  # ~0.4 MB that decodes to 144 MP
    big_jpeg = image_bytes(6000, "JPEG", 0)
    env = dict(os.environ, **({"SEMCLIP_CACHE": str(args.cache)} if args.cache else {}))
    server = subprocess.Popen([sys.executable, "-m", "semclip.app.cli", "serve", "--port", str(args.port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True, env=env)
    t0 = time.monotonic()
    listening_s, channel_ready_s = None, {}
    while True:  # until every channel's codec is built (the server listens before that: /api/options says which are)
        try:
            opts = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{args.port}/api/options", timeout=5).read())
            listening_s = listening_s or time.monotonic() - t0
            for c in opts["ready"]:
                channel_ready_s.setdefault(c, round(time.monotonic() - t0, 1))
            if set(opts["ready"]) == set(opts["channels"]):
                break
        except OSError:
            if server.poll() is not None:
                raise SystemExit(f"the server did not start: {server.stderr.read().decode()[-2000:]}")
        time.sleep(1)
    ready_s, rss_ready = time.monotonic() - t0, rss_mb(server.pid, "VmRSS")
    print(f"listening after {listening_s:.1f} s; channels ready after {channel_ready_s} s")
    if args.start_only:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
        report = {"cache": str(args.cache) if args.cache else "the user's", "listening_after_s": round(listening_s, 1),
                  "channel_ready_after_s": channel_ready_s, "ready_after_s": round(ready_s, 1), "rss_ready_mb": round(rss_ready),
                  "machine": machine_facts()}
        atomic_write_json(args.out, report)
        print(json.dumps(report, indent=1))
        return
    # one bomb alone on the idle server: how much memory it costs (the peak counter reset first)
    Path(f"/proc/{server.pid}/clear_refs").write_text("5")
    before = rss_mb(server.pid, "VmRSS")
    bomb_status = post(args.port, multipart({"snr": "5", "channel": "awgn"}, ("bomb.png", bomb.getvalue(), "image/png")))[0]
    bomb_growth = rss_mb(server.pid, "VmHWM") - before
    form = {"snr": "5", "channel": "awgn", "budget": "1024", "classes": ""}
    rng = random.Random(0)
    kinds = (["upload"] * 40 + ["sample"] * 25 + ["bad"] * 15 + ["bomb"] * 10 + ["oversize"] * 5 + ["chunked"] * 5)
    plan = [rng.choice(kinds) for _ in range(args.requests)]

    def one(i: int) -> dict:
        kind = plan[i]
        f = dict(form, channel=rng.choice(opts["channels"]), snr=str(rng.choice([-10, 0, 10, 20])))
        if kind in ("chunked", "oversize"):  # a file part that goes on and on: 200 MB chunked, or 11 MB declared
            start = multipart(f, None)[: -len(f"--{BOUNDARY}--\r\n")] + (
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n'
                "Content-Type: image/png\r\n\r\n").encode()
            if kind == "chunked":
                status, sent = raw_post(args.port, start, total=200 * 2**20)
            else:
                status, sent = raw_post(args.port, start + b"\0" * (11 * 2**20))
            return {"kind": kind, "status": status, "sent_mb": round(sent / 2**20, 1)}
        if kind == "upload":
            fmt = rng.choice(["PNG", "JPEG"])
            body = multipart(f, (f"x.{fmt.lower()}", image_bytes(rng.choice([28, 128, 500, 1000]), fmt, i), f"image/{fmt.lower()}"))
        elif kind == "sample":
            body = multipart(dict(f, sample=rng.choice(opts["samples"])), None)
        elif kind == "bad":
            body = rng.choice([multipart(dict(f, snr="nan"), None), multipart(dict(f, channel="rician"), None),
                               multipart(f, ("x.png", b"not an image", "image/png")), multipart({"channel": "awgn"}, None)])
        elif kind == "bomb":
            body = multipart(f, rng.choice([("bomb.png", bomb.getvalue(), "image/png"), ("big.jpg", big_jpeg, "image/jpeg")]))
        status, seconds, text = post(args.port, body)
        return {"kind": kind, "status": status, "seconds": seconds, "error": text if status >= 400 else ""}

    t = time.monotonic()
    with ThreadPoolExecutor(args.concurrency) as pool:
        results = list(pool.map(one, range(args.requests)))
    wall = time.monotonic() - t
    after = post(args.port, multipart(form, ("x.png", image_bytes(64, "PNG", 1), "image/png")))[0]
    peak = rss_mb(server.pid, "VmHWM")
    os.killpg(server.pid, 15)
    server.wait(timeout=30)
    ok = sorted(r["seconds"] for r in results if r["status"] == 200)
    by_kind: dict[str, dict[str, int]] = {}
    for r in results:
        by_kind.setdefault(r["kind"], {}).setdefault(str(r["status"]), 0)
        by_kind[r["kind"]][str(r["status"])] += 1
    report = {
        "requests": args.requests, "concurrency": args.concurrency, "wall_s": round(wall, 1), "listening_after_s": round(listening_s, 1),
        "channel_ready_after_s": channel_ready_s, "ready_after_s": round(ready_s, 1),
        "status_by_kind": by_kind, "5xx": sum(r["status"] >= 500 for r in results),
        "p50_s": round(statistics.median(ok), 2) if ok else None, "p95_s": round(ok[int(0.95 * (len(ok) - 1))], 2) if ok else None,
        "rss_ready_mb": round(rss_ready), "rss_peak_mb": round(peak),
        "bomb_alone": {"status": bomb_status, "peak_rss_growth_mb": round(bomb_growth, 1), "png_kb": round(len(bomb.getvalue()) / 1024)},
        "chunked_sent_mb_max": max((r["sent_mb"] for r in results if r["kind"] == "chunked"), default=None),
        "oversize_sent_mb_max": max((r["sent_mb"] for r in results if r["kind"] == "oversize"), default=None),
        "answers_afterwards": after == 200,
        "bomb_errors": sorted({r["error"][:120] for r in results if r["kind"] == "bomb"}),
        "machine": machine_facts(),
    }
    print(json.dumps(report, indent=1))
    atomic_write_json(args.out, report)


if __name__ == "__main__":
    main()
