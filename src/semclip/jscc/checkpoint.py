"""JSCC checkpoints: safetensors weights with the config and the backbone they were
trained for in the metadata, so a mismatch is caught on load, not as garbage output."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from semclip._io import atomic_write
from semclip.errors import SemclipError
from semclip.jscc.model import JSCCConfig, TokenJSCC

KIND = "semclip-token-jscc"


def save_jscc(model: TokenJSCC, path: str | Path, backbone: str, extra: dict | None = None) -> Path:
    meta = {
        "kind": KIND,
        "config": json.dumps(asdict(model.cfg)),
        "backbone": backbone,
        "extra": json.dumps(extra or {}),
    }
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    return atomic_write(path, lambda p: save_file(state, str(p), metadata=meta))


def read_meta(path: str | Path) -> dict[str, str]:
    try:
        with safe_open(str(path), "pt") as f:
            return f.metadata() or {}
    except (SafetensorError, OSError) as exc:
        raise SemclipError(f"cannot read JSCC checkpoint {path}: {exc}") from exc


def load_jscc(path: str | Path, backbone: str | None = None, k: int | None = None) -> TokenJSCC:
    """Load a checkpoint; refuse one made for another backbone or bandwidth k."""
    path = Path(path)
    if not path.is_file():
        raise SemclipError(f"JSCC checkpoint not found: {path}")
    meta = read_meta(path)
    if meta.get("kind") != KIND:
        raise SemclipError(f"{path} is not a semclip token-JSCC checkpoint")
    cfg = JSCCConfig(**json.loads(meta["config"]))
    if backbone is not None and meta.get("backbone") != backbone:
        raise SemclipError(
            f"{path} was trained for backbone {meta.get('backbone')!r}, not {backbone!r}: retrain it "
            "(semclip demo retrains automatically) or pick the matching backbone"
        )
    if k is not None and cfg.k != k:
        raise SemclipError(f"{path} sends k={cfg.k} symbols per token, not k={k}: retrain for k={k}")
    model = TokenJSCC(cfg)
    model.load_state_dict(load_file(str(path)))
    return model.eval()
