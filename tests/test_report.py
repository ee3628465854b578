"""`semclip report`: one self-contained page over several runs, and clear errors."""

import base64
import re

from semclip.results import Record, Results, software_versions
from tests.test_cli import run


def _run(folder, shift, versions=True):
    recs = [Record(method="clean", channel="none", snr_db=None, value=0.8, channel_uses_per_image=0)]
    for snr in (-5.0, 10.0):
        recs += [
            Record(method="semclip", channel="awgn", snr_db=snr, value=0.5 + shift + snr / 100, channel_uses_per_image=16),
            Record(method="image-jpeg-ldpc", channel="awgn", snr_db=snr, value=0.3 + snr / 50, channel_uses_per_image=1024, n_images=5),
            Record(method="semclip", task="retrieval", view="image-to-text", metric="r@1", channel="awgn", snr_db=snr,
                   value=0.05, channel_uses_per_image=16, dataset="toy"),
        ]
    extra = {"versions": software_versions()} if versions else {}
    Results(backbone="b", dataset="d", records=recs, config={"k": 16}, **extra).write(folder / "results.json")
    (folder / "results.md").write_text("# a run\n\n| method | x |\n|---|---|\n| semclip | 0.5 |\n")


def test_report_overlays_runs_in_one_self_contained_page(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _run(tmp_path / "a", 0.0)
    _run(tmp_path / "b", 0.1, versions=False)
    r = run("report", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "rep"))
    assert r.returncode == 0, r.stderr[-2000:]
    page = (tmp_path / "rep" / "report.html").read_text()
    assert (tmp_path / "rep" / "accuracy_vs_snr.png").stat().st_size > 10000
    assert (tmp_path / "rep" / "accuracy_vs_channel_uses.png").stat().st_size > 10000
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 2 and all(base64.b64decode(i)[:4] == b"\x89PNG" for i in images)  # nothing to fetch
    assert "<h2>a</h2>" in page and "<h2>b</h2>" in page and "<h3>a run</h3>" in page
    assert "<td>image-jpeg-ldpc</td><td>1024</td><td>64.0x</td>" in page  # bandwidth table from the records
    assert "not recorded in this run" in page and "<td>torch</td>" in page and "&quot;k&quot;: 16" in page


def test_report_errors_are_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "results.json").write_text('{"acc": 0.5}')
    for folder, message in (("missing", "does not exist"), ("empty", "has no results.json"), ("old", "not a semclip results file")):
        r = run("report", str(tmp_path / folder), "--out", str(tmp_path / "rep"))
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "rep").exists()


def test_results_of_the_previous_schema_are_read_into_this_one(tmp_path):
    """Version 1 kept a record's view (k-sweep, subset, a retrieval direction ...) in
    ``split``; reading it moves that to ``view``, and `semclip report` reads such a file."""
    import json

    from semclip.results import SCHEMA_VERSION

    (tmp_path / "v1").mkdir()
    _run(tmp_path / "v1", 0.0)
    data = json.loads((tmp_path / "v1" / "results.json").read_text())
    del data["schema_version"]
    for r in data["records"]:
        r["split"] = r.pop("view")
    data["records"].append({**data["records"][1], "split": "k-sweep", "k": 4})
    data["records"].append({**data["records"][1], "split": "novel", "seed": 1})
    (tmp_path / "v1" / "results.json").write_text(json.dumps(data))
    old = Results.read(tmp_path / "v1" / "results.json")
    assert old.schema_version == SCHEMA_VERSION == 3
    assert {(r.split, r.view) for r in old.records} == {("all", "all"), ("all", "image-to-text"), ("all", "k-sweep"), ("novel", "all")}
    r = run("report", str(tmp_path / "v1"), "--out", str(tmp_path / "rep"))
    assert r.returncode == 0, r.stderr[-2000:]
    data["schema_version"] = SCHEMA_VERSION + 1
    (tmp_path / "v1" / "results.json").write_text(json.dumps(data))
    r = run("report", str(tmp_path / "v1"), "--out", str(tmp_path / "rep2"))
    assert r.returncode == 2 and f"schema version {SCHEMA_VERSION + 1}" in r.stderr and "upgrade semclip" in r.stderr
