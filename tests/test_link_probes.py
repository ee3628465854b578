"""Link adaptation's probe figures: the search that measures fewer of them, and where they
are kept (the cache; the table shipped for the default main job)."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest

from semclip import artefacts
from semclip.baselines import adaptation, probe_store
from semclip.baselines.adaptation import measure_bler, probe_id, select_mcs
from semclip.baselines.digital import MCS, BlockPlan, DigitalLink

# two pairs of equally efficient MCSs (4/3 and 2 bit per use): the tie-break is exercised
TABLE = [MCS.parse(s) for s in ("qpsk:1/3", "qpsk:2/3", "16qam:1/3", "16qam:1/2", "64qam:1/3", "64qam:2/3")]


def exhaustive(links, spec, snr, target, payloads):
    """The choice made from every MCS's figure (what select_mcs did before it searched)."""
    measured = {m: measure_bler(link, spec, snr, payloads, 0, stop_above=target) for m, link in links.items()}
    ok = [m for m in links if measured[m] <= target]
    best = (max(ok, key=lambda m: (m.efficiency, -measured[m])) if ok
            else min(measured, key=lambda m: (measured[m], m.efficiency)))
    return best, measured[best]


@pytest.fixture
def fresh_memo(monkeypatch):
    monkeypatch.setattr(adaptation, "_measured", {})
    monkeypatch.setattr(probe_store, "_table", None)


def test_search_from_the_top_chooses_what_measuring_every_mcs_does(fresh_memo, monkeypatch):
    links = {m: DigitalLink(BlockPlan.for_budget(384, m)) for m in TABLE}
    probed = []
    real = adaptation._measure
    monkeypatch.setattr(adaptation, "_measure", lambda link, *a: probed.append(link.plan.mcs) or real(link, *a))
    for spec in ("awgn", "rayleigh"):
        for snr in (-10.0, 0.0, 4.0, 8.0, 12.0, 30.0):
            probed.clear()
            got = select_mcs(links, spec, snr, 0.1, 40, seed=0)
            searched = list(probed)
            assert got == exhaustive(links, spec, snr, 0.1, 40), (spec, snr)
            if spec == "awgn" and snr == 30.0:  # the most efficient MCS meets the target: nothing below it is probed
                assert searched == [MCS.parse("64qam:2/3")] and got == (MCS.parse("64qam:2/3"), 0.0)
            if snr == -10.0:  # none meets it: every MCS is probed, the most robust is chosen
                assert sorted(searched, key=TABLE.index) == TABLE and got[0] == MCS.parse("qpsk:1/3")


def test_probe_figures_are_kept_in_the_cache(fresh_memo, isolated_cache, monkeypatch):
    link = DigitalLink(BlockPlan.for_budget(384, MCS.parse("16qam:1/2")))
    first = measure_bler(link, "awgn", 5.0, 40, seed=3)
    files = list((isolated_cache / "links").glob("*.json"))
    assert len(files) == 1 and probe_store.cached() == {probe_id(link, "awgn", 5.0, 40, 3): first}
    monkeypatch.setattr(adaptation, "_measured", {})  # a later run: read back, not measured
    monkeypatch.setattr(adaptation, "_measure", lambda *a: pytest.fail("measured again"))
    assert measure_bler(link, "awgn", 5.0, 40, seed=3) == first
    # another SNR, seed or payload count is another figure
    assert probe_id(link, "awgn", 5.0, 40, 3) not in {probe_id(link, "awgn", 5.5, 40, 3), probe_id(link, "awgn", 5.0, 40, 4),
                                                       probe_id(link, "awgn", 5.0, 80, 3), probe_id(link, "rayleigh", 5.0, 40, 3)}
    files[0].write_text("{torn")  # a damaged file is no figure, and is measured again and rewritten
    assert probe_store.cached() == {}
    monkeypatch.setattr(adaptation, "_measured", {})
    monkeypatch.setattr(adaptation, "_measure", lambda *a: 0.25)
    assert measure_bler(link, "awgn", 5.0, 40, seed=3) == 0.25 and json.loads(files[0].read_text())["bler"] == 0.25


def test_a_shipped_table_serves_only_its_versions_and_only_when_shipped_files_are_allowed(fresh_memo, tmp_path, monkeypatch, capsys):
    link = DigitalLink(BlockPlan.for_budget(384, MCS.parse("qpsk:1/2")))
    key = probe_id(link, "awgn", 1.0, 40, 0)
    (tmp_path / "links").mkdir()
    table = {"versions": probe_store.versions(), "probes": {key: 0.375}}
    (tmp_path / probe_store.TABLE).write_text(json.dumps(table))
    monkeypatch.setattr(artefacts, "SHIPPED", tmp_path)
    artefacts.reset()
    assert probe_store.lookup(key) == (0.375, "shipped")
    assert artefacts.used() == []  # found is not used: a figure that decides something notes the table
    assert measure_bler(link, "awgn", 1.0, 40, seed=0) == 0.375
    assert [(u["name"], u["origin"]) for u in artefacts.used()] == [(probe_store.TABLE, "shipped")]
    artefacts.use_shipped(False)
    try:
        assert probe_store.lookup(key) is None
    finally:
        artefacts.use_shipped(True)
    monkeypatch.setattr(probe_store, "_table", None)
    (tmp_path / probe_store.TABLE).write_text(json.dumps({**table, "versions": {**table["versions"], "torch": "0.0"}}))
    assert probe_store.lookup(key) is None
    assert "measures its own" in capsys.readouterr().err
    artefacts.reset()


def test_the_shipped_table_is_what_the_link_measures_now(fresh_memo):
    """A sample of the shipped figures, measured again: equal to the last bit. Fails when a
    change to the link, the decoder or the probes moves them: then raise
    ``adaptation.PROBES`` and regenerate the table (``python scripts/ship_artefacts.py``)."""
    doc = json.loads((artefacts.SHIPPED / probe_store.TABLE).read_text())
    assert doc["versions"] == probe_store.versions(), "the shipped table was made with other package versions: regenerate it"
    probes = sorted(doc["probes"])
    assert len(probes) > 100
    failing = [p for p in probes if doc["probes"][p] > 0.5][:2]  # cut short after a batch
    clean = [p for p in probes if doc["probes"][p] == 0.0 and json.loads(p)[5] <= 2000][:2]  # decode at once
    between = [p for p in probes if 0.0 < doc["probes"][p] <= 0.5 and json.loads(p)[5] <= 2000][:2]
    assert failing and clean and between
    for p in failing + clean + between:
        version, bits, rate, blocks, k, n, num_iter, check_every, decoder, device, spec, snr, payloads, seed, batch, stop = json.loads(p)
        assert version == adaptation.PROBES and device == "cpu"
        link = DigitalLink(BlockPlan(MCS(bits, Fraction(rate)), blocks, k, n), num_iter, check_every, decoder=decoder)
        assert probe_id(link, spec, snr, payloads, seed, batch, stop) == p
        assert adaptation._measure(link, spec, snr, payloads, seed, batch, stop) == doc["probes"][p], p


def test_records_made_with_the_table_list_it_when_read_back(fresh_memo, tmp_path, isolated_cache, monkeypatch):
    """A warm run lists the parts that made its cached records: figures of the shipped table
    that decided records leave a note beside them, read back with the records; records no
    table figure decided leave none (and an old note is removed when they are made again)."""
    link = DigitalLink(BlockPlan.for_budget(384, MCS.parse("qpsk:1/2")))
    key = probe_id(link, "awgn", 1.0, 40, 0)
    (tmp_path / "links").mkdir()
    (tmp_path / probe_store.TABLE).write_text(json.dumps({"versions": probe_store.versions(), "probes": {key: 0.375}}))
    monkeypatch.setattr(artefacts, "SHIPPED", tmp_path)
    records = isolated_cache / "baselines" / "image-jpeg-ldpc-awgn-0.json"
    records.parent.mkdir(parents=True)
    assert measure_bler(link, "awgn", 1.0, 40, seed=0) == 0.375  # an earlier baseline of the run looked it up
    with probe_store.recorded(records):
        measure_bler(link, "awgn", 1.0, 40, seed=0)  # the run's memo serves it: still the table's figure
    artefacts.reset()
    probe_store.replay(records)
    assert [(u["name"], u["origin"]) for u in artefacts.used()] == [(probe_store.TABLE, "shipped")]
    monkeypatch.setattr(adaptation, "_measure", lambda *a: 0.5)
    with probe_store.recorded(records):
        measure_bler(link, "awgn", 2.0, 40, seed=0)  # not in the table: measured
    artefacts.reset()
    probe_store.replay(records)
    assert artefacts.used() == []
