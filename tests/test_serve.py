"""`semclip serve`: the API answers with real predictions and refuses bad uploads with a
clear message while it keeps serving; a headless Chromium drives the page end to end."""

import io
import os
import shutil
import socket
import threading
import time
from contextlib import contextmanager

import pytest
from PIL import Image

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def codec(tiny_clip_dir, tmp_path_factory):
    from semclip.backbones.registry import create_backbone
    from semclip.jscc.checkpoint import save_jscc
    from semclip.jscc.model import JSCCConfig, TokenJSCC

    bb = create_backbone(f"hf-clip:{tiny_clip_dir}")
    return save_jscc(TokenJSCC(JSCCConfig(dim=bb.dim, ks=[16], linear_base=False)), tmp_path_factory.mktemp("codec") / "c.safetensors", bb.fingerprint)


@pytest.fixture(scope="module")
def app(tiny_clip_dir, codec):
    from semclip.app.serve import create_app

    return create_app(f"hf-clip:{tiny_clip_dir}", str(codec))


def _png(colour=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (28, 28), colour).save(buf, "PNG")
    return buf.getvalue()


def test_api_predicts_and_refuses_bad_input(app):
    from fastapi.testclient import TestClient

    client = TestClient(app)
    assert "semclip" in client.get("/").text
    opts = client.get("/api/options").json()
    assert opts["channels"][0] == "awgn" and opts["max_upload_mb"] == 10
    seven = ["red thing", "green thing", "blue thing", "dark thing", "big tree", "small cat", "old car"]
    form = {"snr": "5", "channel": "rayleigh", "budget": "512", "classes": ", ".join(seven)}
    r = client.post("/api/predict", data=form, files={"file": ("x.png", _png(), "image/png")})
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["semclip"]["channel_uses"] == 16
    for side in ("semclip", "clean", "baseline"):  # five of seven, best first, probabilities of all seven
        top = d[side]["top5"]
        assert len(top) == 5 and {n for n, _ in top} <= set(seven)
        assert [p for _, p in top] == sorted((p for _, p in top), reverse=True) and sum(p for _, p in top) <= 1 + 1e-6
    assert d["baseline"]["channel_uses"] <= 512 and d["baseline"]["image"].startswith("data:image/png;base64,")
    bad = [
        ({"files": {"file": ("notes.png", b"not an image at all", "image/png")}}, 400, "not a readable image"),
        ({"files": {"file": ("a.pdf", b"%PDF-1.4", "application/pdf")}}, 400, "not an image type"),
        ({"files": {"file": ("big.png", b"\0" * (11 * 2**20), "image/png")}}, 413, "the limit is 10 MB"),
        ({"data": {**form, "snr": "nan"}}, 400, "SNR must be"),
        ({"data": {**form, "channel": "rician"}}, 400, "unknown channel"),
        ({"data": {**form, "sample": "no such sample"}}, 400, "unknown sample"),
        ({}, 400, "upload an image or pick a sample"),
    ]
    for kwargs, status, message in bad:
        r = client.post("/api/predict", **{"data": form, **kwargs})
        assert r.status_code == status and message in r.json()["error"], (kwargs.keys(), r.status_code, r.text[:200])
    r = client.post("/api/predict", data=form, files={"file": ("x.png", _png((20, 20, 220)), "image/png")})
    assert r.status_code == 200  # still serving after every refusal


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header says width x height and holds no pixels: what a decompression bomb
    looks like before decoding (a real 12 000 x 12 000 one is 420 KB and decodes to ~0.5 GB)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + chunk(b"IEND", b"")


def test_errors_are_one_json_sentence(app):
    from fastapi.testclient import TestClient

    client = TestClient(app, raise_server_exceptions=False)
    form = {"snr": "5", "channel": "awgn", "budget": "512", "classes": "red thing, blue thing"}
    r = client.post("/api/predict", data=form, files={"file": ("bomb.png", _png_header(12000, 12000), "image/png")})
    assert r.status_code == 400 and "12000 x 12000 pixels" in r.json()["error"] and "downscale" in r.json()["error"]
    r = client.post("/api/predict", data=form, files={"file": ("x.png", b"not an image", "image/png")})
    assert r.status_code == 400 and "<" not in r.json()["error"] and "0x" not in r.json()["error"]  # no object reprs
    r = client.post("/api/predict", data={"channel": "awgn"})  # no SNR: FastAPI's 422, in our shape
    assert r.status_code == 422 and r.json() == {"error": "snr: missing"}
    r = client.post("/api/predict", data={**form, "snr": "loud"})
    assert r.status_code == 422 and r.json()["error"].startswith("snr:")
    r = client.post("/api/predict", data={**form, "classes": ",".join(f"c{i}" for i in range(300))})
    assert r.status_code == 400 and "at most 200 class names" in r.json()["error"]
    r = client.post("/api/predict", headers={"content-length": "lots"}, content=b"x")
    assert r.status_code == 400 and "Content-Length is not a number" in r.json()["error"]


def test_an_internal_error_is_json_and_the_server_goes_on(tiny_clip_dir, codec, monkeypatch):
    from fastapi.testclient import TestClient

    from semclip.app.serve import create_app
    from semclip.app.transmit import Sender

    client = TestClient(create_app(f"hf-clip:{tiny_clip_dir}", str(codec)), raise_server_exceptions=False)
    form = {"snr": "5", "channel": "awgn", "budget": "512", "classes": "red thing, blue thing"}
    upload = {"file": ("x.png", _png(), "image/png")}
    monkeypatch.setattr(Sender, "send", lambda *a, **k: 1 / 0)
    r = client.post("/api/predict", data=form, files=upload)
    assert r.status_code == 500 and r.json()["error"].startswith("internal error (ZeroDivisionError)")
    monkeypatch.undo()
    assert client.post("/api/predict", data=form, files=upload).status_code == 200


def test_a_chunked_body_is_cut_off_at_the_limit():
    """No Content-Length: the body is counted while it streams and refused at the limit plus
    one chunk, never read whole (the old check trusted the header and read 200 MB)."""
    import asyncio

    from semclip.app.serve import MAX_BODY, BodyLimit

    chunk, total, read = 2**20, 200 * 2**20, 0
    sent = []

    async def app(scope, receive, send):  # an endpoint that reads the whole body, like a form parser
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def receive():
        nonlocal read
        read += chunk
        return {"type": "http.request", "body": b"\0" * chunk, "more_body": read < total}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/predict", "headers": [(b"transfer-encoding", b"chunked")]}
    try:
        asyncio.run(BodyLimit(app)(scope, receive, send))
    except Exception as exc:  # inside FastAPI this HTTPException becomes a JSON 413 (test_errors...)
        assert getattr(exc, "status_code", None) == 413 and "the limit is 10 MB" in exc.detail
    assert read <= MAX_BODY + chunk and not sent


def test_decode_refuses_or_reduces_large_images_from_their_header(tmp_path):
    """The stated rule: above the pixel limit a JPEG is decoded at libjpeg's 1/2..1/8 scale,
    anything else is refused before its pixels are decoded."""
    from semclip.data.base import decode_image

    big = Image.new("RGB", (400, 300), (10, 200, 30))
    for fmt in ("JPEG", "PNG"):
        big.save(tmp_path / f"b.{fmt.lower()}", fmt)
    assert decode_image(tmp_path / "b.png").size == (400, 300)  # under the limit: as is
    assert decode_image(tmp_path / "b.jpeg", max_pixels=50_000).size == (200, 150)  # 1/2 scale fits 50 000 pixels
    assert decode_image(tmp_path / "b.jpeg", max_pixels=5_000).size == (50, 38)  # 1/8
    with pytest.raises(Image.DecompressionBombError, match="400 x 300 pixels is more than the 0.1 megapixels"):
        decode_image(tmp_path / "b.png", max_pixels=100_000)
    assert max(decode_image(tmp_path / "b.png", max_side=64).size) == 64


def test_a_jpeg_beyond_pillows_own_limit_is_decoded_at_reduced_scale(tmp_path):
    """Pillow refuses anything over 179 megapixels when it opens it; a JPEG that size still
    decodes at libjpeg's 1/8 scale, as the docs promise, and another format is refused in
    our one message (no word of Pillow's own limit)."""
    import io

    from semclip.data.base import decode_image

    Image.new("L", (14000, 13000), 90).save(tmp_path / "big.jpg", quality=50)  # 182 megapixels, 2 MB
    assert decode_image(tmp_path / "big.jpg").size == (3500, 3250)  # 1/4: the largest scale under 25 megapixels
    assert decode_image(io.BytesIO((tmp_path / "big.jpg").read_bytes()), 16_777_216, 1024).size == (1024, 951)
    Image.new("1", (14000, 13000)).save(tmp_path / "big.png")
    with pytest.raises(Image.DecompressionBombError, match=r"^182.0 megapixels is more than the 25.0 megapixels semclip decodes$"):
        decode_image(tmp_path / "big.png")


def test_cold_start_under_concurrent_first_requests(tiny_clip_dir, codec, monkeypatch):
    """Eight first requests at once on a fresh app: the models are built once, behind a lock,
    and every request succeeds (unlocked, concurrent builds failed 6-7 of 8 on PocketCLIP)."""
    from concurrent.futures import ThreadPoolExecutor

    from fastapi.testclient import TestClient

    from semclip.app import transmit
    from semclip.app.serve import create_app

    built = []
    init = transmit.Sender.__init__

    def counted(self, *a, **k):
        built.append(1)
        time.sleep(0.5)  # widen the window a race would need
        init(self, *a, **k)

    monkeypatch.setattr(transmit.Sender, "__init__", counted)

    client = TestClient(create_app(f"hf-clip:{tiny_clip_dir}", str(codec)))
    form = {"snr": "5", "channel": "rayleigh", "budget": "512", "classes": "red thing, blue thing"}

    def one(i):
        return client.post("/api/predict", data=form, files={"file": ("x.png", _png((i * 30, 20, 200)), "image/png")}).status_code

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(one, range(8))) == [200] * 8
    assert len(built) == 1


def test_the_server_serves_the_channels_that_are_ready_while_a_codec_is_built(tiny_clip_dir, codec, monkeypatch):
    """``semclip serve`` listens at once and builds its models in the background: a channel
    whose codec is still being built (here held back, as training one on an empty cache
    would) answers a JSON 503 'warming up' naming the channels that are ready, which serve
    meanwhile; once it is built it serves too."""
    from fastapi.testclient import TestClient

    from semclip.app import transmit
    from semclip.app.serve import create_app

    release, real = threading.Event(), transmit.Sender.codec

    def held(self, channel):
        if channel == "rayleigh:zf":
            release.wait(120)
        return real(self, channel)

    monkeypatch.setattr(transmit.Sender, "codec", held)
    app = create_app(f"hf-clip:{tiny_clip_dir}", str(codec))
    client = TestClient(app)
    warming = app.state.warm_in_background()
    for _ in range(600):
        if client.get("/api/options").json()["ready"] == ["awgn", "rayleigh"]:
            break
        time.sleep(0.1)

    def send(channel):
        return client.post("/api/predict", data={"snr": "5", "channel": channel, "budget": "512", "classes": "red thing, blue thing"},
                           files={"file": ("x.png", _png(), "image/png")})

    r = send("rayleigh:zf")
    assert r.status_code == 503 and r.json()["error"].startswith("warming up: the codec for rayleigh:zf is still being built")
    assert "pick awgn or rayleigh" in r.json()["error"]
    assert send("awgn").status_code == 200
    release.set()
    warming.join(120)
    assert send("rayleigh:zf").status_code == 200 and client.get("/api/options").json()["ready"] == ["awgn", "rayleigh", "rayleigh:zf"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _listening(app):
    """``app`` served as ``semclip serve`` serves it (``server_config``) on a free local port,
    in a thread, until the block ends; yields the port."""
    import uvicorn

    from semclip.app.serve import server_config

    port = _free_port()
    server = uvicorn.Server(server_config(app, "127.0.0.1", port))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(100):
            if server.started:
                break
            time.sleep(0.1)
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.mark.parametrize("length", ["lots", "-5"])
def test_a_request_the_server_cannot_parse_gets_a_json_sentence(length):
    """A Content-Length that is no number never reaches the app: uvicorn's HTTP parser refuses
    it. ``semclip serve``'s server says so in the API's JSON form, not in plain text."""
    import json

    from fastapi import FastAPI

    from semclip.app.serve import UNREADABLE_REQUEST

    with _listening(FastAPI()) as port, socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        c.sendall(f"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\nabc".encode())
        reply = b""
        while chunk := c.recv(4096):
            reply += chunk
    head, body = reply.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 400") and b"content-type: application/json" in head.lower()
    assert json.loads(body) == {"error": UNREADABLE_REQUEST}


@pytest.mark.skipif(not CHROMIUM and not os.environ.get("CI"), reason="needs Debian's chromium (apt-get install chromium)")
def test_page_in_headless_chromium(app, tmp_path):
    from playwright.sync_api import sync_playwright

    assert CHROMIUM, "CI must have Debian's chromium: scripts/setup.sh installs it"
    with _listening(app) as port:
        (tmp_path / "x.png").write_bytes(_png())
        (tmp_path / "notes.png").write_text("not an image")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_function("document.getElementById('channel').options.length > 0")
            assert not page.is_visible("#results")  # no empty panels before a result exists
            page.fill("#classes", "red thing, green thing, blue thing, tree")
            page.set_input_files("#file", str(tmp_path / "notes.png"))
            page.click("#send")
            page.wait_for_function("document.getElementById('error').textContent.length > 0", timeout=60000)
            assert "not a readable image" in page.text_content("#error")
            page.set_input_files("#file", str(tmp_path / "x.png"))
            page.fill("#snr", "10")
            page.click("#send")
            page.wait_for_selector("#semclip li", timeout=120000)
            items = page.locator("#semclip li").all_text_contents()
            assert len(items) == 4 and all(any(c in t for c in ("red thing", "green thing", "blue thing", "tree")) for t in items)
            assert page.get_attribute("#baseline_image", "src").startswith("data:image/png;base64,")
            assert "channel uses" in page.text_content("#baseline_info") and page.text_content("#error") == ""
            page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
            browser.close()
        assert (tmp_path / "page.png").stat().st_size > 10000


def test_a_request_that_cannot_start_in_time_is_told_the_server_is_busy(tiny_clip_dir, codec, monkeypatch):
    """The request-time limit: predictions run a few at a time; one that waits longer than
    MAX_WAIT_S for its turn gets a 503 sentence instead of hanging."""
    from concurrent.futures import ThreadPoolExecutor

    from fastapi.testclient import TestClient

    from semclip.app import serve
    from semclip.app.transmit import Sender

    monkeypatch.setattr(serve, "MAX_CONCURRENT", 1)
    monkeypatch.setattr(serve, "MAX_WAIT_S", 0.2)
    slow = Sender.send
    monkeypatch.setattr(Sender, "send", lambda *a, **k: (time.sleep(1.5), slow(*a, **k))[1])
    client = TestClient(serve.create_app(f"hf-clip:{tiny_clip_dir}", str(codec)))
    client.get("/api/options")
    form = {"snr": "5", "channel": "awgn", "budget": "512", "classes": "red thing, blue thing"}

    def one(_):
        r = client.post("/api/predict", data=form, files={"file": ("x.png", _png(), "image/png")})
        return r.status_code, r.json().get("error", "")

    with ThreadPoolExecutor(2) as pool:
        got = sorted(pool.map(one, range(2)))
    assert got[0][0] == 200 and got[1][0] == 503 and "busy" in got[1][1]
