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
import json
import math
import re
import sys
import threading
from pathlib import Path

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from PIL import Image
from starlette.exceptions import HTTPException

from semclip.backbones.engine import image_encoder
from semclip.data.base import IMAGE_ERRORS, decode_image
from semclip.errors import SemclipError

MAX_UPLOAD_MB = 10
MAX_BODY = MAX_UPLOAD_MB * 2**20 + 2**16  # the upload plus the form's other fields
MAX_PIXELS = 4096 * 4096  # refused from the header above this (a JPEG is decoded at 1/2..1/8 scale instead)
MAX_SIDE = 1024  # a decoded upload is reduced to this many pixels a side: shown, sent and encoded from there
MAX_CLASSES, MAX_CLASS_CHARS = 200, 100
MAX_CONCURRENT = 4  # predictions computed at once; the others wait their turn (bounds memory)
MAX_WAIT_S = 120.0  # a request that cannot start within this is answered 503 "busy" (the request-time limit:
# the work of a started one is bounded by the pixel, class and bandwidth limits, about a second here)
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp")
CHANNELS = ("awgn", "rayleigh", "rayleigh:zf")
TRANSMIT_SIDE = 128  # the image baseline sends at most this many pixels a side (PocketCLIP's input size)
PAGE = Path(__file__).with_name("assets") / "serve.html"


def _sentence(text: str) -> str:
    """A message without Python object reprs (``<_io.BytesIO object at 0x...>``)."""
    return re.sub(r"\s*<[^<>]* at 0x[0-9a-f]+>", "", text).strip()


class BodyLimit:
    """ASGI middleware: refuse a body over ``limit`` bytes, from its Content-Length when it
    has one, else while it streams in (a chunked upload is cut off at the limit plus one
    chunk, never spooled whole)."""

    def __init__(self, app, limit: int = MAX_BODY) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and not declared.isdigit():
            return await _json(send, 400, "the request's Content-Length is not a number")
        if declared is not None and int(declared) > self.limit:
            return await _json(send, 413, self._message(int(declared)))
        seen = 0

        async def limited():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:  # FastAPI passes an HTTPException raised while reading through
                    raise HTTPException(413, self._message(None))
            return message

        await self.app(scope, limited, send)

    def _message(self, size: int | None) -> str:
        got = f"the upload is {size / 2**20:.0f} MB" if size else "the upload is larger than the limit"
        return f"{got}; the limit is {MAX_UPLOAD_MB} MB"


async def _json(send, status: int, error: str) -> None:
    body = json.dumps({"error": error}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


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
    """Checked from the header before decoding: at most MAX_PIXELS (a larger JPEG is decoded
    at a reduced scale), then reduced to MAX_SIDE a side."""
    if len(data) > MAX_UPLOAD_MB * 2**20:
        raise SemclipError(f"the upload is {len(data) / 2**20:.0f} MB; the limit is {MAX_UPLOAD_MB} MB")
    if content_type and content_type not in IMAGE_TYPES:
        raise SemclipError(f"{content_type} is not an image type semclip takes ({', '.join(IMAGE_TYPES)})")
    try:
        return decode_image(io.BytesIO(data), MAX_PIXELS, MAX_SIDE)
    except Image.DecompressionBombError as exc:
        raise SemclipError(f"the image is too large to decode here: {_sentence(str(exc))}; downscale it to at most 4096 x 4096") from exc
    except IMAGE_ERRORS as exc:
        reason = _sentence(str(exc)) or exc.__class__.__name__
        raise SemclipError(f"the upload is not a readable image ({reason}); send a PNG, JPEG, GIF, WebP or BMP file") from exc


def check_request(snr: float, channel: str, budget: int, classes: str) -> list[str] | None:
    """A prediction request's settings, checked; returns the class names given (None: the default)."""
    if channel not in CHANNELS:
        raise SemclipError(f"unknown channel {channel!r}; choose one of {list(CHANNELS)}")
    if not math.isfinite(snr) or not -20 <= snr <= 40:
        raise SemclipError("SNR must be a number of dB between -20 and 40")
    if not 64 <= budget <= 8192:
        raise SemclipError("the image baseline's bandwidth must be 64..8192 channel uses")
    names = [c.strip() for c in classes.split(",") if c.strip()] or None
    if names and (len(names) > MAX_CLASSES or max(map(len, names)) > MAX_CLASS_CHARS):
        raise SemclipError(f"give at most {MAX_CLASSES} class names of at most {MAX_CLASS_CHARS} characters each")
    return names


def jpeg_baseline(s, image: Image.Image, budget: int, channel: str, snr: float, names: list[str] | None) -> dict:
    """The image sent as JPEG over LDPC at ``budget`` channel uses, and what the same receiver
    makes of it (``s``: the server's ``Sender``)."""
    from semclip.app.transmit import top_k
    from semclip.baselines.one_image import send_jpeg

    small = image.copy()
    small.thumbnail((TRANSMIT_SIDE, TRANSMIT_SIDE))  # the baseline sends what the backbone would see
    sent = send_jpeg(small, budget, channel, snr)
    clf, bb = s.classifier(names), s.backbone
    probs = clf.probs(image_encoder(bb)(bb.preprocess(sent.image)[None].to(bb.device)).to(bb.device))[0]
    return {"top5": top_k(probs, clf.classes, 5), "channel_uses": sent.channel_uses, "mcs": sent.mcs, "quality": sent.quality,
            "side": sent.side, "lost": sent.lost, "image": _data_url(sent.image)}


def _error_handlers(app) -> None:
    """Every error is a JSON ``{"error": one sentence}``: 400 for a user error, 422 for a
    malformed form, 500 (the server goes on) for anything else."""

    @app.exception_handler(SemclipError)
    async def user_error(request: Request, exc: SemclipError):
        return JSONResponse({"error": _sentence(str(exc))}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def bad_form(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        field = ".".join(str(x) for x in first.get("loc", ())[1:]) or "the request"
        return JSONResponse({"error": f"{field}: {first.get('msg', 'invalid')}".replace("Field required", "missing")}, status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        return JSONResponse({"error": _sentence(str(exc.detail))}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception):
        return JSONResponse({"error": f"internal error ({exc.__class__.__name__}); the server keeps running"}, status_code=500)


class Models:
    """What the server computes with, built once (by the first request that needs it, or by
    ``warm``) under a lock: the sender (backbone, codecs, receiver) and the sample images."""

    def __init__(self, backbone: str, jscc: str | None, k: int) -> None:
        self.backbone, self.jscc, self.k = backbone, jscc, k
        self.lock = threading.Lock()
        self.loaded: dict[str, object] = {}
        self.ready: set[str] = set()  # channels whose codec is built
        self.warming: threading.Thread | None = None  # set by warm_in_background
        self.failed: str | None = None  # what stopped it

    def _once(self, name: str, make):
        with self.lock:
            if name not in self.loaded:
                self.loaded[name] = make()
            return self.loaded[name]

    def sender(self):
        from semclip.app.transmit import Sender

        return self._once("sender", lambda: Sender(self.backbone, self.jscc, log=lambda *a: None, k=self.k))

    def samples(self) -> dict[str, Image.Image]:
        return self._once("samples", _samples)

    def warm(self) -> None:
        """Load the models, then load or train the codec of every channel on the menu: a
        request never trains anything. Each channel is ``ready`` once its codec is."""
        s = self.sender()
        s.classifier(None)
        self.samples()
        for ch in CHANNELS:
            s.codec(ch)
            self.ready.add(ch)

    def warm_in_background(self) -> threading.Thread:
        """``warm`` in a thread, so that the server listens at once: on an empty cache a codec
        that is not shipped (``rayleigh:zf``'s) takes minutes to train, and the channels
        whose codec is ready serve meanwhile (``require``)."""
        def run() -> None:
            try:
                self.warm()
            except Exception as exc:  # said to every request that needs what failed, and in the server's log
                self.failed = f"{exc.__class__.__name__}: {exc}"
                print(f"semclip serve: building the models failed: {self.failed}", file=sys.stderr, flush=True)

        self.warming = threading.Thread(target=run, name="semclip-warm", daemon=True)
        self.warming.start()
        return self.warming

    def is_ready(self, channel: str) -> bool:
        """Whether a request on ``channel`` may start: always, unless ``warm_in_background``
        is still building its codec."""
        return self.warming is None or channel in self.ready

    def require(self, channel: str) -> None:
        """While ``warm_in_background`` runs: a 503 'warming up' for a channel whose codec is
        not built yet (a 500 if building it failed)."""
        if self.is_ready(channel):
            return
        if self.failed:
            raise HTTPException(500, f"the models for {channel} could not be built ({self.failed}); see the server's log")
        ready = [c for c in CHANNELS if c in self.ready]
        raise HTTPException(503, f"warming up: the codec for {channel} is still being built (once, on an empty cache: minutes "
                                 f"on a laptop); try again shortly{', or pick ' + ' or '.join(ready) if ready else ''}")

    def image(self, file: UploadFile | None, sample: str) -> Image.Image:
        """The request's picture: the upload, else the named sample."""
        if file is not None and file.filename:
            return read_upload(file.file.read(MAX_UPLOAD_MB * 2**20 + 1), file.content_type)
        if not sample:
            raise SemclipError("upload an image or pick a sample")
        if sample not in self.samples():
            raise SemclipError(f"unknown sample {sample!r}")
        return self.samples()[sample]


def create_app(backbone: str = "pocketclip", jscc: str | None = None, k: int = 16):
    app = FastAPI(title="semclip", docs_url=None, redoc_url=None)
    app.add_middleware(BodyLimit)
    models = Models(backbone, jscc, k)
    busy = threading.BoundedSemaphore(MAX_CONCURRENT)
    app.state.warm, app.state.warm_in_background = models.warm, models.warm_in_background
    _error_handlers(app)

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return PAGE.read_text()

    @app.get("/api/options")
    def options() -> dict:
        from semclip.data.fashion_mnist import CLASSES

        return {"samples": list(models.samples()), "channels": list(CHANNELS), "classes": ", ".join(CLASSES), "max_upload_mb": MAX_UPLOAD_MB,
                "max_megapixels": round(MAX_PIXELS / 1e6, 1),
                "ready": [c for c in CHANNELS if models.is_ready(c)]}

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
        names = check_request(snr, channel, budget, classes)
        models.require(channel)
        image = models.image(file, sample)
        s = models.sender()
        if not busy.acquire(timeout=MAX_WAIT_S):
            raise HTTPException(503, f"the server is busy: {MAX_CONCURRENT} predictions have run for over {MAX_WAIT_S:.0f} s; try again in a minute")
        try:
            t = s.send(image, snr, channel, names)
            baseline = jpeg_baseline(s, image, budget, channel, snr, names)
        finally:
            busy.release()
        return {
            "sent_image": _data_url(image),
            "semclip": {"top5": t.received, "channel_uses": t.channel_uses, "cosine": t.cosine},
            "clean": {"top5": t.clean},
            "baseline": baseline,
        }

    return app


UNREADABLE_REQUEST = ("the request is not readable HTTP/1.1: a malformed request line or header, such as a "
                      "Content-Length that is not a whole number of bytes")


def json_refusals():
    """uvicorn's h11 protocol with its one answer before the app, to a request h11 cannot
    parse (a Content-Length of 'lots' or -5 among them), in the API's JSON form instead of
    plain text: the app's own ``BodyLimit`` never sees such a request."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class JSONRefusals(H11Protocol):
        def send_400_response(self, msg: str) -> None:
            body = json.dumps({"error": UNREADABLE_REQUEST}).encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"connection", b"close")]
            for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"), h11.Data(data=body), h11.EndOfMessage()):
                self.transport.write(self.conn.send(event))
            self.transport.close()

    return JSONRefusals


def server_config(app, host: str, port: int):
    """The uvicorn configuration ``serve`` runs: h11 with JSON refusals."""
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, log_level="warning", http=json_refusals())


def serve(host: str = "127.0.0.1", port: int = 8000, backbone: str = "pocketclip", jscc: str | None = None, k: int = 16) -> None:
    import uvicorn

    app = create_app(backbone, jscc, k)
    app.state.warm_in_background()
    uvicorn.Server(server_config(app, host, port)).run()
