"""JSCC checkpoints: safetensors weights with the config, the backbone they were trained
for and what they saw (provenance) in the metadata, so a mismatch is caught on load, not
as garbage output, and the protocols can check zero-shot claims."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors.torch import save_file

from semclip._io import atomic_write, checkpoint_errors, load_weights, safetensors_meta
from semclip.device import current as current_device
from semclip.errors import SemclipError
from semclip.jscc.allocated import AllocatedLinearCode
from semclip.jscc.linear import LinearCode
from semclip.jscc.model import UPDATE_KINDS, JSCCConfig, TokenJSCC
from semclip.provenance import META_KEY, Provenance

KIND = "semclip-token-jscc"
LINEAR_KIND = "semclip-linear-code"


def save_jscc(model: TokenJSCC, path: str | Path, backbone: str, extra: dict | None = None, provenance: Provenance | None = None,
              adaptation: dict | None = None) -> Path:
    """``adaptation``: how a trained codec was adapted to its sender's domain
    (``semclip.jscc.adapt``); its mode tells the loader whether the decoder holds an update."""
    cfg = asdict(model.cfg)
    cfg.pop("k")  # the checkpoint serves every k of ks; which one is sent is chosen on load
    meta = {
        "kind": KIND,
        "config": json.dumps(cfg),
        "backbone": backbone,
        "extra": json.dumps(extra or {}),
    }
    if provenance is not None:
        meta[META_KEY] = provenance.to_json()
    if adaptation is not None:
        meta[ADAPTATION_KEY] = json.dumps(adaptation)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    return atomic_write(path, lambda p: save_file(state, str(p), metadata=meta))


ADAPTATION_KEY = "adaptation"


def read_adaptation(path: str | Path) -> dict | None:
    """How the codec at ``path`` was adapted to its sender's domain (None: never)."""
    raw = read_meta(path).get(ADAPTATION_KEY)
    return None if raw is None else json.loads(raw)


def read_meta(path: str | Path) -> dict[str, str]:
    return safetensors_meta(path, "JSCC checkpoint")


def read_provenance(path: str | Path) -> Provenance:
    """What the codec at ``path`` was trained on (an error if it does not say)."""
    return Provenance.from_meta(read_meta(path), f"codec {path}")


def load_jscc(path: str | Path, backbone: str | None = None, k: int | None = None, device: torch.device | None = None) -> TokenJSCC:
    """Load a checkpoint onto ``device`` (default: the run's; the file holds no device, so
    one saved from a GPU loads on a CPU), sending ``k`` symbols (default: the largest it
    serves); refuse one made for another backbone or that does not serve k."""
    path = Path(path)
    meta = safetensors_meta(path, "token-JSCC checkpoint", KIND)
    with checkpoint_errors(path, "token-JSCC checkpoint"):
        model = _build(path, meta, backbone, k)
    model.eval().to(device or current_device())
    return model.at(k) if k is not None else model


def _build(path: Path, meta: dict[str, str], backbone: str | None, k: int | None) -> TokenJSCC:
    saved = json.loads(meta["config"])
    if not isinstance(saved, dict) or "ks" not in saved:
        raise SemclipError(f"{path} is a single-bandwidth codec of an older semclip: retrain it (semclip demo or semclip train --stage jscc)")
    try:
        cfg = JSCCConfig(**saved)
    except TypeError as exc:
        raise SemclipError(f"{path} has an unknown codec config: {exc}") from exc
    if backbone is not None and meta.get("backbone") != backbone:
        raise SemclipError(
            f"{path} was trained for backbone {meta.get('backbone')!r}, not {backbone!r}: retrain it "
            "(semclip demo retrains automatically) or pick the matching backbone"
        )
    if k is not None and k not in cfg.ks:
        raise SemclipError(f"{path} serves k in {cfg.ks} complex symbols per token, not k={k}: pick one of those or retrain with ks including {k}")
    model = TokenJSCC(cfg)
    adaptation = json.loads(meta.get(ADAPTATION_KEY) or "{}")
    kind = adaptation.get("update", "scale-shift" if adaptation.get("mode") == "both" else None)  # older records: none
    if kind in UPDATE_KINDS:  # the decoder carries the update the adaptation sent (both) or learned (receiver)
        model.decoder.add_update(kind)
    load_weights(model, path, "the token codec it describes")
    return model


LINEAR_CODES: dict[str, type[LinearCode] | type[AllocatedLinearCode]] = {"flat": LinearCode, "mmse": AllocatedLinearCode}


def save_linear(code: LinearCode | AllocatedLinearCode, path: str | Path, backbone: str, provenance: Provenance) -> Path:
    """The fitted PCA code's statistics, with its power allocation (``pca-flat``: none,
    ``pca``: mmse), bandwidths, backbone and what it saw."""
    meta = {"kind": LINEAR_KIND, "dim": str(code.cfg.dim), "ks": json.dumps(code.cfg.ks), "backbone": backbone,
            "allocation": getattr(code, "allocation", "flat"), META_KEY: provenance.to_json()}
    state = {k: v.detach().cpu().contiguous() for k, v in code.state_dict().items()}
    return atomic_write(path, lambda p: save_file(state, str(p), metadata=meta))


def load_linear(path: str | Path, backbone: str, k: int | None = None) -> LinearCode | AllocatedLinearCode:
    """A saved PCA code on the run's device, sending ``k`` symbols; refused when it was
    fitted for another backbone. Files without an ``allocation`` entry are flat codes."""
    meta = safetensors_meta(path, "linear-code file", LINEAR_KIND)
    cls = LINEAR_CODES.get(meta.get("allocation", "flat"))
    if cls is None:
        raise SemclipError(f"{path} has an unknown power allocation {meta.get('allocation')!r} (known: {', '.join(LINEAR_CODES)})")
    if meta.get("backbone") != backbone:
        raise SemclipError(f"{path} was fitted for backbone {meta.get('backbone')!r}, not {backbone!r}: delete it to refit")
    with checkpoint_errors(path, "linear code"):
        code = cls(int(meta["dim"]), json.loads(meta["ks"]), k)
        load_weights(code, path, "the linear code it describes")
    return code.to(current_device())
