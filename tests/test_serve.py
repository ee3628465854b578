"""`semclip serve`: the API answers with real predictions and refuses bad uploads with a
clear message while it keeps serving; a headless Chromium drives the page end to end."""

import io
import os
import shutil
import socket
import threading
import time

import pytest
from PIL import Image

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def codec(tiny_clip_dir, tmp_path_factory):
    from semclip.backbones.base import create_backbone
    from semclip.jscc.checkpoint import save_jscc
    from semclip.jscc.model import JSCCConfig, TokenJSCC

    bb = create_backbone(f"hf-clip:{tiny_clip_dir}")
    return save_jscc(TokenJSCC(JSCCConfig(dim=bb.dim, ks=[16], linear_base=False)), tmp_path_factory.mktemp("codec") / "c.safetensors", bb.fingerprint)


@pytest.fixture(scope="module")
def app(tiny_clip_dir, codec):
    from semclip.serve import create_app

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
    form = {"snr": "5", "channel": "rayleigh", "budget": "512", "classes": "red thing, green thing, blue thing"}
    r = client.post("/api/predict", data=form, files={"file": ("x.png", _png(), "image/png")})
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["semclip"]["channel_uses"] == 16 and len(d["semclip"]["top5"]) == 3
    assert {n for n, _ in d["semclip"]["top5"]} == {"red thing", "green thing", "blue thing"}
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not CHROMIUM and not os.environ.get("CI"), reason="needs Debian's chromium (apt-get install chromium)")
def test_page_in_headless_chromium(app, tmp_path):
    import uvicorn
    from playwright.sync_api import sync_playwright

    assert CHROMIUM, "CI must have Debian's chromium: scripts/setup.sh installs it"
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(100):
            if server.started:
                break
            time.sleep(0.1)
        (tmp_path / "x.png").write_bytes(_png())
        (tmp_path / "notes.png").write_text("not an image")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_function("document.getElementById('channel').options.length > 0")
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
    finally:
        server.should_exit = True
        thread.join(timeout=10)
