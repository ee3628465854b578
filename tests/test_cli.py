"""The command line: user errors are one line and exit 2; the demo runs end to end on a
tiny CLIP and two tiny image folders and writes the three result files."""

import json
import subprocess
import sys

import pytest

from semclip._io import atomic_write
from semclip.results import Results


def run(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "semclip.app.cli", *args], capture_output=True, text=True, timeout=600, env=env
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["demo", "--k", "0"], "serves k in"),
        (["demo", "--ks", "4,0"], "positive integers"),
        (["demo", "--ks", "4,x"], "comma-separated integers"),
        (["demo", "--snrs", "0,nan"], "finite"),
        (["demo", "--snrs", "0,loud"], "not a number"),
        (["demo", "--snrs", "500"], "sane range"),
        (["demo", "--channels", "rician"], "unknown channel"),
        (["demo", "--backbone", "resnet-clip"], "unknown backbone"),
        (["demo", "--dataset", "imagenet-21k"], "unknown dataset"),
        (["list", "models"], "unknown list"),
        (["demo", "--learners", "coop,maple"], "unknown prompt learner"),
        (["demo", "--baselines", "image-bpg-ldpc"], "unknown baseline"),
        (["demo", "--budget", "3"], "budget must be"),
        (["demo", "--retrieval-dataset", "fashion-mnist:test"], "has no captions"),
        (["eval", "--protocol", "novel2base"], "unknown protocol"),
        (["eval", "--learners", "tapl,clip-adapter"], "unknown prompt learner"),
        (["eval", "--dataset", "folder:/tmp"], "no train/test split"),
        (["eval", "--seeds", "0,x"], "comma-separated integers"),
        (["train", "--stage", "3"], "unknown stage"),
        (["train", "--learner", "cooop"], "unknown prompt learner"),
        (["train", "--classes", "novel"], "'base' or 'all'"),
        (["demo", "--quick", "--test-limit", "5000"], "--quick runs --test-limit 300 at most, but --test-limit is 5000"),
        (["demo", "--quick", "--baseline-limit", "5000"], "--quick runs --baseline-limit 100 at most, but --baseline-limit is 5000"),
        (["demo", "--engine", "tensorrt"], "unknown engine 'tensorrt'"),
    ],
)
def test_user_errors_are_one_clear_line(args, message, tmp_path):
    r = run(*args, "--out", str(tmp_path / "o")) if args[0] in ("demo", "eval", "train") else run(*args)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "o").exists()


def test_ctrl_c_says_finished_work_is_kept(monkeypatch, capsys):
    """Ctrl-C in a command (click turns it into Abort) ends with our one line and status 130."""
    from semclip.app import cli
    from semclip.channels.base import CHANNELS

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(CHANNELS, "docs", interrupted)
    monkeypatch.setattr(sys, "argv", ["semclip", "list", "channels"])
    with pytest.raises(SystemExit) as done:
        cli.main()
    assert done.value.code == 130 and "interrupted: finished steps are cached" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["transmit", "--snr", "abc"], "error: Invalid value for '--snr': Input should be a valid number"),
    (["demo", "--no-such-option"], "error: No such option: --no-such-option; see 'semclip demo --help'"),
    (["transmit", "a.png", "b.png"], "error: Got unexpected extra argument(s) (b.png)"),
    (["extract", "--workers", "4096"], "error: --workers 4096 is outside 0.."),
    (["demo", "--workers", "4096"], "error: --workers 4096 is outside 0.."),
    (["extract", "--workers", "-1"], "error: --workers -1 is outside 0.."),
])
def test_what_the_command_line_refuses_is_one_line(args, message, monkeypatch, capsys):
    """Values, options and arguments the parser itself refuses are said like our own errors:
    one line on stderr, exit status 2, no framed box (the entry point run in-process)."""
    from semclip.app.cli import main

    monkeypatch.setattr(sys, "argv", ["semclip", *args])
    with pytest.raises(SystemExit) as done:
        main()
    err = capsys.readouterr().err
    assert done.value.code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_quick_keeps_smaller_sizes_and_fills_the_rest():
    from semclip.app.cli import QUICK, demo_defaults, quick_sizes

    defaults = demo_defaults()
    sizes = quick_sizes({**defaults, "test_limit": 50}, defaults)
    assert sizes["test_limit"] == 50  # smaller than --quick's: kept
    assert {k: v for k, v in sizes.items() if k != "test_limit"} == {k: v for k, v in QUICK.items() if k != "test_limit"}


def test_list():
    r = run("list")
    assert r.returncode == 0
    assert "pocketclip" in r.stdout and "rayleigh[:mmse|zf|decoder|none]" in r.stdout and "fashion-mnist" in r.stdout
    assert "tapl[:no-snr|" in r.stdout and "clipart" in r.stdout and "Rayleigh block fading" in r.stdout  # each with its doc
    assert "image-jpeg-ldpc" in r.stdout and "64qam:2/3" in r.stdout
    assert run("list", "channels").stdout.split()[0] == "channels"


def test_help_mentions_the_main_options():
    r = run("demo", "--help")
    assert r.returncode == 0 and "--snrs" in r.stdout and "--k" in r.stdout


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    def boom(p):
        p.write_text("half")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        atomic_write(tmp_path / "results.json", boom)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.long
def test_demo_end_to_end_on_tiny_clip(tiny_clip_dir, image_folder, tmp_path, isolated_cache):
    import os
    import shutil

    from PIL import Image

    (image_folder / "grey_thing").mkdir()  # a fourth class: two base, two novel
    for i in range(4):
        Image.new("RGB", (20, 24), (128 + 10 * i,) * 3).save(image_folder / "grey_thing" / f"{i}.png")
    train = tmp_path / "train"  # other images of the same classes
    shutil.copytree(image_folder, train)
    for f in train.rglob("*.png"):
        Image.eval(Image.open(f).convert("RGB"), lambda v: min(255, v + 7)).save(f)
    other = tmp_path / "other"  # a second evaluation set
    shutil.copytree(image_folder, other)
    (other / "grey_thing").rename(other / "dark_thing")
    out = tmp_path / "run"
    env = dict(os.environ, SEMCLIP_CACHE=str(isolated_cache))
    args = [
        "demo", "--out", str(out), "--backbone", f"hf-clip:{tiny_clip_dir}",
        "--dataset", f"folder:{image_folder}", "--train-dataset", f"folder:{train}", "--shots-dataset", f"folder:{train}",
        "--transfer-dataset", f"folder:{other}", "--reference-dataset", f"folder:{train}",
        "--adapt-dataset", f"folder:{train}#6", "--adapt-steps", "3",
        "--steps", "30", "--snrs", "-5,20", "--k", "4", "--ks", "2,4", "--shots", "2", "--prompt-steps", "3", "--learners", "coop,cocoop,tapl",
        "--baselines", "image-jpeg-ldpc,image-capacity,image-outage,image-ergodic,image-jscc,image-jscc-indomain,token-digital", "--baseline-limit", "5",
        "--budget", "1024", "--view-limit", "4",
        "--image-jscc-steps", "5",
        "--retrieval-dataset", "",
    ]
    r = run(*args, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    res = Results.read(out / "results.json")
    whole = {(x.method, x.channel) for x in res.records if x.on_grid and x.dataset == "folder-imgs"}
    baselines = ("image-jpeg-ldpc", "image-capacity", "image-outage", "image-ergodic", "image-jscc", "image-jscc-indomain", "token-digital")  # every baseline and learner on real CLIP code
    assert whole == {("clean", "none"), ("semclip-indomain", "awgn"), ("semclip-indomain", "rayleigh"), ("semclip-adapted", "awgn"),
                     ("semclip-adapted", "rayleigh")} | {
        (m, c) for m in ("semclip", "pca", "pca-flat") for c in ("awgn", "rayleigh")} | {
        (m, link) for m in ("semclip", "pca") for link in ("ofdm-tdl:C:300ns:3kmh", "ofdm-tdl:C:300ns:120kmh")}  # the OFDM links: main set
    assert {(x.method, x.channel) for x in res.records if x.dataset is None and x.on_grid} == {
        (m, c) for m in baselines for c in ("awgn", "rayleigh")}
    assert {(x.method, x.k) for x in res.records if x.view == "k-sweep" and x.dataset == "folder-other"} == {
        (m, k) for m in ("semclip", "pca", "pca-flat") for k in (2, 4)}  # the k sweep on both sets; the in-domain reference on the main one only
    assert res.provenance["leaks"] == [] and all(x.leak is None for x in res.records)
    assert res.provenance["semclip (awgn+rayleigh)"]["datasets"][0]["name"] == "folder-train"
    assert all(x.n_images == 5 for x in res.records if (x.method in baselines and x.view == "all") or x.view == "subset")
    assert {(x.method, x.channel) for x in res.records if x.view == "subset"} == {("semclip", "awgn"), ("semclip", "rayleigh")}
    # the fair views: semclip at each baseline point's energy; every method against channel uses on the first 4 images
    assert {x.method for x in res.records if x.view == "equal-energy"} == {"semclip"}
    view = [x for x in res.records if x.view == "bandwidth"]
    assert {x.method for x in view} == {"semclip", *baselines} and all(x.n == 4 and x.outcomes for x in view)
    assert {x.channel_uses_per_image for x in view if x.method == "image-capacity"} == {64, 128, 256, 512, 1024, 2048}
    assert {x.k for x in view if x.method == "semclip"} == {2, 4}
    split = {(x.method, x.split, x.channel) for x in res.records if x.split != "all"}
    methods = ("semclip", "semclip+coop", "semclip+cocoop", "semclip+tapl")
    assert split == {(m, s, c) for m in methods for s in ("base", "novel") for c in ("awgn", "rayleigh")} | {
        ("clean", "base", "none"), ("clean", "novel", "none")}
    assert all(x.channel_uses_per_image == (4 if x.pilot_overhead is None else round(4 * 14 / 12 * 137 / 128, 2))
               for x in res.records if x.method.startswith("semclip") and x.view not in ("k-sweep", "bandwidth"))  # links: pilots, prefix
    assert (out / "accuracy_vs_snr.png").stat().st_size > 10000
    assert (out / "base_to_novel.png").stat().st_size > 10000
    assert (out / "accuracy_vs_k.png").stat().st_size > 10000 and (out / "accuracy_vs_snr_folder-other.png").exists()
    assert "semclip+tapl" in (out / "results.md").read_text()
    md = (out / "results.md").read_text()
    assert "| semclip | rayleigh (mmse) | 4 |" in md
    assert "## Bandwidth" in md and "| image-jpeg-ldpc | 1024 | 256.0x |" in md
    assert "## semclip against the best image baseline" in md and "## What the digital baselines chose" in md
    assert "## Equal energy" in md and "## Equal bandwidth" in md
    assert (out / "accuracy_vs_energy.png").stat().st_size > 10000 and (out / "accuracy_vs_bandwidth.png").stat().st_size > 10000
    raw = json.loads((out / "results.json").read_text())
    assert raw["backbone"].startswith("hf-clip:") and raw["records"][0]["snr_db"] is None
    # every trained part is listed with where it came from: all trained by this first run; the link-adaptation
    # probes it shares with the default job (they do not depend on the backbone) come from the shipped table
    parts = {u["name"].split("/")[0]: u["origin"] for u in raw["artefacts"]}
    assert parts == {"jscc": "trained", "quantizers": "trained", "prompts": "trained", "links": "shipped"} and len(raw["artefacts"]) == 12
    assert "## Trained parts and where they came from" in md and "| image DeepJSCC (folder-train) | trained |" in md
    # warm run: every trained part is read back from the cache, none retrained; the records it reads back
    # still list the probe table that decided them, so the warm run names the parts the cold one did
    r2 = run(*args, env=env)
    assert r2.returncode == 0, r2.stderr[-2000:]
    warm = json.loads((out / "results.json").read_text())["artefacts"]
    assert {u["name"]: u["origin"] for u in warm} == {u["name"]: "shipped" if u["name"].startswith("links/") else "cached"
                                                      for u in raw["artefacts"]}
    assert Results.read(out / "results.json").records == res.records  # baselines read back from their cache
    # a codec trained on a copy of the evaluation set is refused, or run and marked with --allow-leak
    leaky = args[:args.index("--train-dataset")] + ["--train-dataset", f"folder:{other}", "--transfer-dataset", "",
                                                     "--reference-dataset", "", "--learners", "", "--baselines", "", "--snrs", "20",
                                                     "--steps", "2", "--ks", "4", "--k", "4"]
    shutil.copytree(image_folder, other, dirs_exist_ok=True)
    shutil.rmtree(other / "dark_thing")
    r3 = run(*leaky, env=env)
    assert r3.returncode == 2 and "not zero-shot on folder-imgs: the token-codec trained on images of folder-imgs" in r3.stderr
    r4 = run(*leaky, "--allow-leak", env=env)
    assert r4.returncode == 0, r4.stderr[-2000:]
    marked = Results.read(out / "results.json")
    assert marked.records and all(x.leak and x.leak.startswith("NOT ZERO-SHOT") for x in marked.records)
    assert "NOT ZERO-SHOT" in (out / "results.md").read_text()


def test_results_from_another_schema_are_refused(tmp_path):
    from semclip.errors import SemclipError

    (tmp_path / "r.json").write_text(json.dumps({"backbone": "x", "dataset": "y", "records": [{"acc": 1}]}))
    with pytest.raises(SemclipError, match="not a semclip results file"):
        Results.read(tmp_path / "r.json")


@pytest.mark.long
def test_train_both_stages_on_tiny_clip(tiny_clip_dir, image_folder, tmp_path, isolated_cache):
    import os

    from semclip.backbones.hf_clip import HFCLIP
    from semclip.prompts import load_prompts

    env = dict(os.environ, SEMCLIP_CACHE=str(isolated_cache))
    out = tmp_path / "ckpt"
    common = ["--out", str(out), "--backbone", f"hf-clip:{tiny_clip_dir}", "--dataset", f"folder:{image_folder}",
              "--learner", "tapl", "--shots", "3", "--steps", "4"]
    r = run("train", "--stage", "all", "--k", "4", "--ks", "4", "--jscc-steps", "5", "--jscc-dataset", f"folder:{image_folder}", *common, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    jscc, prompts = out / "jscc-k4.safetensors", out / "prompts-tapl-base-shots3-seed0.safetensors"
    assert jscc.exists() and prompts.exists()
    learner, meta = load_prompts(prompts, HFCLIP.from_pretrained(str(tiny_clip_dir)), k=4)
    assert len(meta["classes"]) == 2 and meta["extra"]["jscc"] == "jscc-k4"  # base = first half of 3
    r = run("train", "--stage", "prompts", "--jscc", str(jscc), "--k", "4", *common[:-4], "--shots", "5", env=env)
    assert r.returncode == 2 and "only 4 training examples" in r.stderr
    # a rerun (after a kill in stage 2, say) reuses the finished codec instead of training it again
    before = jscc.stat().st_mtime_ns
    r = run("train", "--stage", "jscc", "--k", "4", "--ks", "4", "--jscc-steps", "5", "--jscc-dataset", f"folder:{image_folder}", *common, env=env)
    assert r.returncode == 0 and "reusing the codec" in r.stdout and jscc.stat().st_mtime_ns == before
    r = run("train", "--stage", "jscc", "--k", "4", "--ks", "4", "--jscc-steps", "5", "--jscc-channels", "awgn,ofdm-tdl:C:ls",
            "--jscc-dataset", f"folder:{image_folder}", *common, env=env)
    assert r.returncode == 0 and "reusing" not in r.stdout and jscc.stat().st_mtime_ns != before  # other settings: retrained
    from semclip._io import safetensors_meta

    assert json.loads(safetensors_meta(jscc, "codec")["extra"])["train"]["channels"] == ["awgn", "ofdm-tdl:C:ls"]  # a mixture with a link


@pytest.mark.long
def test_transmit_one_image(tiny_clip_dir, image_folder, tmp_path):
    from semclip.backbones.registry import create_backbone
    from semclip.jscc.checkpoint import save_jscc
    from semclip.jscc.model import JSCCConfig, TokenJSCC

    bb = create_backbone(f"hf-clip:{tiny_clip_dir}")
    ckpt = save_jscc(TokenJSCC(JSCCConfig(dim=bb.dim, ks=[4, 16], linear_base=False)), tmp_path / "codec.safetensors", bb.fingerprint)
    image = next((image_folder / "red_thing").glob("*.png"))
    base = ["transmit", str(image), "--backbone", f"hf-clip:{tiny_clip_dir}", "--jscc", str(ckpt)]
    r = run(*base, "--snr", "3", "--channel", "rayleigh", "--k", "4", "--classes", "red thing,green thing,blue thing,car,tree,cat")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "rayleigh at 3 dB, 4 complex channel uses, 6 classes" in r.stdout and "cosine(sent token, received token)" in r.stdout
    assert sum(line.strip().startswith("│") for line in r.stdout.splitlines()) == 5  # top-5 rows
    (tmp_path / "notes.png").write_text("not an image")
    for args, message in (
        (["transmit", str(tmp_path / "notes.png"), "--jscc", str(ckpt)], "cannot read image"),
        (["transmit", str(tmp_path / "missing.png")], "image not found"),
        ([*base, "--snr", "nan"], "finite"),
        ([*base, "--channel", "rayleigh:decoder"], "CSI at the decoder"),
        ([*base, "--classes", "cat,cat"], "duplicate"),
        ([*base, "--k", "12"], "serves k in [4, 16] complex symbols per token, not k=12"),
    ):
        r = run(*args)
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)


def test_temporary_files_of_killed_writers_are_removed_on_the_next_start(tmp_path, monkeypatch):
    """A SIGKILL inside an atomic write leaves `.name.<pid>.<random>.tmp`; the next process
    that opens the cache removes it, but never the file of a writer still running."""
    import os
    import subprocess
    import sys

    from semclip import _io

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    (tmp_path / "tokens").mkdir()
    stale = tmp_path / "tokens" / f".a.safetensors.{dead}.x1y2.tmp"
    live = tmp_path / "tokens" / f".b.safetensors.{os.getpid()}.z3.tmp"
    keep = tmp_path / "tokens" / "c.safetensors"
    for f in (stale, live, keep):
        f.write_bytes(b"partial")
    monkeypatch.setenv("SEMCLIP_CACHE", str(tmp_path))
    monkeypatch.setattr(_io, "_cleaned", set())
    assert _io.cache_dir() == tmp_path
    assert not stale.exists() and live.exists() and keep.exists()
    written = _io.atomic_write_text(tmp_path / "d.txt", "x")  # and a finished write leaves no temporary file
    assert written.read_text() == "x" and not list(tmp_path.glob(".*.tmp"))


def test_timings_add_up_over_restarts(tmp_path):
    """A killed run's seconds stay in the output folder; a restart of the same run adds to
    them, another configuration starts afresh, and a completed run leaves no file behind."""
    import time

    from semclip.stopwatch import FILE, Stopwatch

    first = Stopwatch(tmp_path, "run-a", beat=0.05)
    first.stage("encode")
    time.sleep(0.3)  # killed here: only the beats saved its time
    first._stop.set()
    again = Stopwatch(tmp_path, "run-a")
    assert again.starts == 2 and again.seconds["encode"] >= 0.2
    again.stage("train")
    time.sleep(0.1)
    again.close()
    summary = again.summary()
    assert summary["total"] >= 0.3 and summary["starts"] == 2 and not (tmp_path / FILE).exists()
    other = Stopwatch(tmp_path, "run-b")
    assert other.starts == 1 and other.seconds == {}
    other.close()
