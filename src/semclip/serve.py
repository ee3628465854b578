"""`semclip serve`: a small local web page to try semclip by hand. Upload an image or
pick a sample, set SNR, channel and the image baseline's bandwidth, type class names, and
see semclip's prediction beside the image-transmission baseline's (with the image that
baseline actually received) and the noiseless backbone's.

FastAPI rather than Gradio: three endpoints and one static page need no UI framework,
the upload limits are ours to enforce before a byte is decoded, and the dependencies
stay small (fastapi, uvicorn, python-multipart)."""

from __future__ import annotations

import base64
import io
import math
from functools import lru_cache
from pathlib import Path

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse
from PIL import Image

from semclip.data.base import IMAGE_ERRORS, decode_image
from semclip.errors import SemclipError

MAX_UPLOAD_MB = 10
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp")
CHANNELS = ("awgn", "rayleigh", "rayleigh:zf")
TRANSMIT_SIDE = 128  # the image baseline sends at most this many pixels a side (PocketCLIP's input size)
PAGE = Path(__file__).with_name("assets") / "serve.html"


def _data_url(image: Image.Image, scale_to: int = 112) -> str:
    im = image.convert("RGB")
    if max(im.size) < scale_to:  # small images (28x28) are shown enlarged, pixel for pixel
        f = max(1, scale_to // max(im.size))
        im = im.resize((im.width * f, im.height * f), Image.NEAREST)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _samples() -> dict[str, Image.Image]:
    """A few offline images to pick from: Fashion-MNIST and clip-art test images."""
    from semclip.data.registry import create_dataset

    out = {}
    for spec, n in (("fashion-mnist:test", 6), ("clipart:test", 4)):
        try:
            ds = create_dataset(spec, limit=None)
        except SemclipError:
            continue
        step = max(1, len(ds) // n)
        for i in range(0, step * n, step):
            out[f"{ds.name} #{i} ({ds.classes[int(ds.labels[i])]})"] = ds.image(i)
    return out


def read_upload(data: bytes, content_type: str | None) -> Image.Image:
    if len(data) > MAX_UPLOAD_MB * 2**20:
        raise SemclipError(f"the upload is {len(data) / 2**20:.0f} MB; the limit is {MAX_UPLOAD_MB} MB")
    if content_type and content_type not in IMAGE_TYPES:
        raise SemclipError(f"{content_type} is not an image type semclip takes ({', '.join(IMAGE_TYPES)})")
    try:
        return decode_image(io.BytesIO(data))
    except IMAGE_ERRORS as exc:
        raise SemclipError(f"the upload is not a readable image ({exc})") from exc


def create_app(backbone: str = "pocketclip", jscc: str | None = None, k: int = 16):
    from semclip.baselines.one_image import send_jpeg
    from semclip.transmit import Sender, top_k

    app = FastAPI(title="semclip", docs_url=None, redoc_url=None)

    @lru_cache(maxsize=1)
    def sender() -> Sender:
        return Sender(backbone, jscc, log=lambda *a: None, k=k)

    @lru_cache(maxsize=1)
    def samples() -> dict[str, Image.Image]:
        return _samples()

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        size = int(request.headers.get("content-length") or 0)
        if size > MAX_UPLOAD_MB * 2**20 + 2**16:  # refused before a byte is read
            return JSONResponse({"error": f"the upload is {size / 2**20:.0f} MB; the limit is {MAX_UPLOAD_MB} MB"}, status_code=413)
        return await call_next(request)

    @app.exception_handler(SemclipError)
    async def user_error(request: Request, exc: SemclipError):
        return JSONResponse({"error": str(exc)}, status_code=400)

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return PAGE.read_text()

    @app.get("/api/options")
    def options() -> dict:
        from semclip.data.fashion_mnist import CLASSES

        return {"samples": list(samples()), "channels": list(CHANNELS), "classes": ", ".join(CLASSES), "max_upload_mb": MAX_UPLOAD_MB}

    @app.post("/api/predict")
    def predict(
        snr: float = Form(...),
        channel: str = Form("awgn"),
        budget: int = Form(1024),
        classes: str = Form(""),
        sample: str = Form(""),
        file: UploadFile | None = File(None),
    ) -> dict:
        # plain `def`: FastAPI runs it in a worker thread, so the server keeps serving
        if channel not in CHANNELS:
            raise SemclipError(f"unknown channel {channel!r}; choose one of {list(CHANNELS)}")
        if not math.isfinite(snr) or not -20 <= snr <= 40:
            raise SemclipError("SNR must be a number of dB between -20 and 40")
        if not 64 <= budget <= 8192:
            raise SemclipError("the image baseline's bandwidth must be 64..8192 channel uses")
        if file is not None and file.filename:
            image = read_upload(file.file.read(MAX_UPLOAD_MB * 2**20 + 1), file.content_type)
        elif sample:
            if sample not in samples():
                raise SemclipError(f"unknown sample {sample!r}")
            image = samples()[sample]
        else:
            raise SemclipError("upload an image or pick a sample")
        names = [c.strip() for c in classes.split(",") if c.strip()] or None
        s = sender()
        t = s.send(image, snr, channel, names)
        small = image.copy()
        small.thumbnail((TRANSMIT_SIDE, TRANSMIT_SIDE))  # the baseline sends what the backbone would see
        sent = send_jpeg(small, budget, channel, snr)
        clf = s.classifier(names)
        base_p = clf.probs(s.backbone.encode_pixels(s.backbone.preprocess(sent.image)[None]))[0]
        return {
            "sent_image": _data_url(image),
            "semclip": {"top5": t.received, "channel_uses": t.channel_uses, "cosine": t.cosine},
            "clean": {"top5": t.clean},
            "baseline": {
                "top5": top_k(base_p, clf.classes, 5), "channel_uses": sent.channel_uses, "mcs": sent.mcs,
                "quality": sent.quality, "lost": sent.lost, "image": _data_url(sent.image),
            },
        }

    return app


def serve(host: str = "127.0.0.1", port: int = 8000, backbone: str = "pocketclip", jscc: str | None = None, k: int = 16) -> None:
    import uvicorn

    uvicorn.run(create_app(backbone, jscc, k), host=host, port=port, log_level="warning")
