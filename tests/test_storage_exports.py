"""The one "latest export" rule (storage/exports.py) gives the same answer on a local folder and on an s3:// root.

Each layout is written twice, byte for byte the same, once into a local dataset root and once under a
prefix of the moto server (tests/s3_server.py), then resolved the ways train (`model.data.export_dir`),
evaluate and the review sheet (`resolve_export`) and the catalog's `pairs` view do it. Runs in ~10 s.
"""
from __future__ import annotations

import time
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.exports import NoSuchExport
from storage.exports import resolve_export
from storage.layout import DataRoot


@pytest.fixture()
def roots(s3_server, monkeypatch, tmp_path):
    """A factory of (local, remote) root pairs, each pair empty and with its own names."""
    for k, v in s3_server.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("GEMFLOW_CACHE_DIR", str(tmp_path / "machine"))

    def make() -> tuple[DataRoot, DataRoot]:
        name = uuid.uuid4().hex[:10]
        return DataRoot.open(tmp_path / name), DataRoot.open(s3_server.url(f"exports-rule/{name}"))
    return make


def _write(pair: tuple[DataRoot, DataRoot], files: dict[str, str]) -> None:
    for root in pair:
        for rel, text in files.items():
            root.write_text(rel, text)


def _outcome(root: DataRoot, version: str | None, need: str) -> str:
    """What resolving gives, with the root's own location taken out of an error's message."""
    try:
        return "ok " + resolve_export(root, version, need)
    except NoSuchExport as err:
        return "error " + str(err).replace(root.location, "<root>")


def _same(pair, version, need="pairs.parquet") -> str:
    local, remote = (_outcome(root, version, need) for root in pair)
    assert local == remote, f"local and s3:// roots disagree on {version!r}: {local} / {remote}"
    return local


def test_no_export_yet_is_the_same_error_on_both_roots(roots):
    pair = roots()
    for version in (None, "latest"):
        assert _same(pair, version) == ("error <root>/exports: no export yet, so no LATEST export to use;"
                                        " run `gemflow export` first")
    _write(pair, {"exports/LATEST": "\n"})  # an empty marker names nothing
    assert "no export yet" in _same(pair, None)


def test_latest_naming_a_missing_version_is_the_same_error_naming_the_known_ones(roots):
    pair = roots()
    _write(pair, {"exports/v1/pairs.parquet": "x", "exports/v1/train.json": "[]", "exports/LATEST": "v2\n"})
    assert _same(pair, None) == ("error export 'v2' (its pairs.parquet) not found under <root>/exports"
                                 " (known: v1)")
    assert _same(pair, "latest", "train.json").startswith("error export 'v2' (its train.json)")
    assert _same(pair, "v1") == "ok v1"


def test_latest_is_what_the_marker_names_not_the_newest_folder_on_both_roots(roots):
    pair = roots()
    _write(pair, {"exports/old/pairs.parquet": "x", "exports/old/train.json": "[]", "exports/LATEST": "old\n"})
    time.sleep(0.05)
    _write(pair, {"exports/new/pairs.parquet": "y"})  # newer, but LATEST was not moved to it
    assert _same(pair, None) == "ok old"
    assert _same(pair, "new") == "ok new"
    assert _same(pair, "new", "train.json").startswith("error export 'new' (its train.json)")
    for bad in ("../old", "old/..", ".hidden", "a b"):  # never a path outside exports/, and never a raise
        assert _same(pair, bad).startswith(f"error export {bad!r}")


def test_train_evaluate_and_the_catalog_pick_the_same_export_on_both_roots(roots):
    from model.data import export_dir
    from storage.catalog import _latest_export_pairs
    pair = roots()
    assert [_latest_export_pairs(r) for r in pair] == [None, None]
    _write(pair, {"exports/v1/pairs.parquet": "x", "exports/v1/train.json": "[]", "exports/v1/val.json": "[]",
                  "exports/v2/pairs.parquet": "y", "exports/v2/train.json": "[]", "exports/v2/val.json": "[]",
                  "exports/LATEST": "v1\n"})
    local, remote = pair
    assert [resolve_export(r) for r in pair] == ["v1", "v1"]
    trained = [export_dir(r.location, "latest") for r in pair]  # the remote one is staged into the work folder
    assert trained == [local.root / "exports" / "v1", remote.root / "exports" / "v1"]
    assert (trained[1] / "train.json").read_text() == "[]"
    assert _latest_export_pairs(local) == str(local.root / "exports/v1/pairs.parquet")
    assert _latest_export_pairs(remote) == f"{remote.location}/exports/v1/pairs.parquet"
    with pytest.raises(NoSuchExport, match="no export yet"):
        export_dir(str(local.root / "nothing-here"), "latest")
    assert not (local.root / "nothing-here").exists(), "resolving an export does not create a dataset root"


_NAME = st.sampled_from(["v1", "v2", "abc123", "x"])


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(folders=st.dictionaries(_NAME, st.sets(st.sampled_from(["pairs.parquet", "train.json", "README.md"]),
                                              min_size=1), max_size=3),
       latest=st.none() | st.text(max_size=12) | _NAME.map(lambda n: n + "\n"),
       asked=st.none() | st.just("latest") | _NAME)
def test_any_layout_resolves_alike_on_a_local_and_an_s3_root(roots, folders, latest, asked):
    pair = roots()
    files = {f"exports/{v}/{n}": v for v, names in folders.items() for n in names}
    if latest is not None:
        files["exports/LATEST"] = latest
    _write(pair, files)
    for need in ("pairs.parquet", "train.json"):
        _same(pair, asked, need)
