"""release_install on a real tarball in a temporary tree: install, no-change, tamper detection, bad checksum,
kept-version switch without an archive, rollback."""
import json
import os

import pytest

from ansible_collections.hybridmon.monitoring.plugins.modules import release_install
from helpers import make_tarball, run_module


@pytest.fixture
def tree(tmp_path):
    return {"lib": tmp_path / "lib", "bin": tmp_path / "bin", "tmp": tmp_path}


def args(tree, version, **kw):
    a = {"name": "demo", "version": version, "binaries": ["demo", "demotool"], "lib_dir": str(tree["lib"]),
         "install_dir": str(tree["bin"]), "base_url": "http://127.0.0.1:9/unused"}
    a.update(kw)
    return a


def install(monkeypatch, tree, version, payload, **kw):
    tar = tree["tmp"] / ("demo-%s.tgz" % version)
    sha = make_tarball(tar, version, payload)
    return run_module(release_install.main, args(tree, version, src=str(tar), expected_sha256=sha, **kw),
                      monkeypatch=monkeypatch), sha


def test_install_then_nothing_to_do(monkeypatch, tree):
    res, sha = install(monkeypatch, tree, "1.0.0", b"v1")
    assert res["changed"] and res["binaries_changed"] and res["version"] == "1.0.0", res
    link = tree["bin"] / "demo"
    assert os.path.islink(link) and link.read_bytes() == b"v1"
    state = json.loads((tree["lib"] / "demo" / "state.json").read_text())
    assert state["sha256"] == sha and state["previous"] is None
    # the no-change path needs no archive at all
    again = run_module(release_install.main, args(tree, "1.0.0"), monkeypatch=monkeypatch)
    assert again["changed"] is False and not again.get("needs_archive"), again


def test_tampered_binary_is_detected(monkeypatch, tree):
    install(monkeypatch, tree, "1.0.0", b"v1")
    target = os.path.realpath(tree["bin"] / "demo")
    with open(target, "wb") as f:
        f.write(b"evil")
    res = run_module(release_install.main, args(tree, "1.0.0"), monkeypatch=monkeypatch)
    assert res["needs_archive"] is True and res["changed"] is False


def test_checksum_mismatch_installs_nothing_and_names_both_sums(monkeypatch, tree):
    tar = tree["tmp"] / "demo.tgz"
    sha = make_tarball(tar, "1.0.0", b"v1")
    res = run_module(release_install.main, args(tree, "1.0.0", src=str(tar), expected_sha256="0" * 64),
                     monkeypatch=monkeypatch)
    assert res["failed"] and "expected sha256 %s, got %s" % ("0" * 64, sha) in res["msg"], res
    assert not (tree["bin"] / "demo").exists() and not (tree["lib"] / "demo" / "state.json").exists()


def test_upgrade_keeps_previous_for_switch_back_and_rollback(monkeypatch, tree):
    install(monkeypatch, tree, "1.0.0", b"v1")
    res, _sha = install(monkeypatch, tree, "2.0.0", b"v2")
    assert res["previous_version"] == "1.0.0" and (tree["bin"] / "demo").read_bytes() == b"v2"
    # downgrade to the kept version: no archive needed
    down = run_module(release_install.main, args(tree, "1.0.0"), monkeypatch=monkeypatch)
    assert down["changed"] and not down.get("needs_archive") and (tree["bin"] / "demo").read_bytes() == b"v1"
    back = run_module(release_install.main, args(tree, "1.0.0", rollback=True), monkeypatch=monkeypatch)
    assert back["changed"] and back["version"] == "2.0.0" and (tree["bin"] / "demo").read_bytes() == b"v2"


def test_check_mode_writes_nothing(monkeypatch, tree):
    tar = tree["tmp"] / "demo.tgz"
    sha = make_tarball(tar, "1.0.0", b"v1")
    res = run_module(release_install.main, args(tree, "1.0.0", src=str(tar), expected_sha256=sha),
                     check_mode=True, monkeypatch=monkeypatch)
    assert res["changed"] and not (tree["bin"] / "demo").exists()


def test_missing_binary_in_tarball_is_named(monkeypatch, tree):
    tar = tree["tmp"] / "demo.tgz"
    sha = make_tarball(tar, "1.0.0", b"v1")
    res = run_module(release_install.main, args(tree, "1.0.0", binaries=["demo", "nothere"], src=str(tar),
                                                expected_sha256=sha), monkeypatch=monkeypatch)
    assert res["failed"] and "does not contain the binary 'nothere'" in res["msg"], res
