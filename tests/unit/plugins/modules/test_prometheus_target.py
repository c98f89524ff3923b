# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for hybridmon.monitoring.prometheus_target (real files in tmp_path, no mocks of the file I/O)."""

import fcntl
import json
import multiprocessing
import os
import stat
import time

import pytest
import yaml

from ansible_collections.hybridmon.monitoring.plugins.modules import prometheus_target
from ansible_collections.hybridmon.monitoring.tests.unit.helpers import run_module


def run(args, check_mode=False, diff=False, monkeypatch=None):
    return run_module(prometheus_target.main, args, check_mode=check_mode, diff=diff, monkeypatch=monkeypatch)


def read_json(path):
    with open(path) as fh:
        return json.load(fh)


def leftovers(directory):
    """Temporary files the module may have left behind."""
    return [n for n in os.listdir(directory) if n.endswith(".tmp")]


def write(path, text, mtime=None):
    with open(path, "w") as fh:
        fh.write(text)
    if mtime is not None:
        os.utime(path, (mtime, mtime))


OLD = 1_600_000_000  # an mtime far in the past: any rewrite is visible


# ------------------------------------------------------------------ basic life cycle

def test_creates_file_with_groups_and_default_mode(tmp_path, monkeypatch):
    path = tmp_path / "node.json"
    res = run(dict(path=str(path), targets=["web2:9100", "web1:9100"], job="node", labels={"env": "prod", "rack": 3}),
              monkeypatch=monkeypatch)
    assert not res.get("failed"), res
    assert res["changed"] is True
    expected = [{"targets": ["web1:9100", "web2:9100"], "labels": {"env": "prod", "job": "node", "rack": "3"}}]
    assert res["groups"] == expected
    assert read_json(path) == expected
    assert res["targets_added"] == ["web1:9100", "web2:9100"]
    assert res["targets_removed"] == [] and res["targets_relabeled"] == []
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert leftovers(tmp_path) == []
    # the sidecar lock file is hidden and cannot match a *.json pattern
    assert (tmp_path / ".node.json.lock").exists()


def test_unchanged_rerun_does_not_touch_the_file(tmp_path, monkeypatch):
    path = tmp_path / "node.json"
    args = dict(path=str(path), targets=["web1:9100", "[::1]:9100"], job="node")
    assert run(args, monkeypatch=monkeypatch)["changed"] is True
    os.utime(path, (OLD, OLD))
    inode = os.stat(path).st_ino
    res = run(args, monkeypatch=monkeypatch)
    assert res["changed"] is False
    assert res["groups"] == [{"targets": ["[::1]:9100", "web1:9100"], "labels": {"job": "node"}}]
    st = os.stat(path)
    assert st.st_mtime == OLD
    assert st.st_ino == inode


def test_same_content_in_other_layout_is_not_rewritten(tmp_path, monkeypatch):
    path = tmp_path / "node.json"
    # hand-written: other order, split groups with the same labels, compact layout
    text = json.dumps([{"labels": {"job": "node"}, "targets": ["b:1"]}, {"targets": ["a:1"], "labels": {"job": "node"}}])
    write(path, text, OLD)
    res = run(dict(path=str(path), targets=["a:1"], job="node"), monkeypatch=monkeypatch)
    assert res["changed"] is False
    assert os.stat(path).st_mtime == OLD
    assert path.read_text() == text
    assert res["groups"] == [{"targets": ["a:1", "b:1"], "labels": {"job": "node"}}]


def test_adds_target_and_keeps_mode_and_owner(tmp_path, monkeypatch):
    path = tmp_path / "node.json"
    write(path, json.dumps([{"targets": ["a:1"], "labels": {"job": "node"}}]))
    os.chmod(path, 0o640)
    if os.geteuid() == 0:
        os.chown(path, 65534, 65534)
    res = run(dict(path=str(path), targets=["b:1"], job="node"), monkeypatch=monkeypatch)
    assert res["changed"] is True
    assert read_json(path) == [{"targets": ["a:1", "b:1"], "labels": {"job": "node"}}]
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o640
    if os.geteuid() == 0:
        assert (st.st_uid, st.st_gid) == (65534, 65534)
    assert leftovers(tmp_path) == []


def test_mode_option_on_new_file_and_on_unchanged_content(tmp_path, monkeypatch):
    path = tmp_path / "node.json"
    res = run(dict(path=str(path), targets=["a:1"], mode="0600"), monkeypatch=monkeypatch)
    assert res["changed"] is True
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    os.utime(path, (OLD, OLD))
    # content unchanged, mode differs: changed, but the content is not rewritten
    res = run(dict(path=str(path), targets=["a:1"], mode="0640"), monkeypatch=monkeypatch)
    assert res["changed"] is True
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert st.st_mtime == OLD
    res = run(dict(path=str(path), targets=["a:1"], mode="0640"), monkeypatch=monkeypatch)
    assert res["changed"] is False


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chown")
def test_owner_and_group_options(tmp_path, monkeypatch):
    path = tmp_path / "node.json"
    res = run(dict(path=str(path), targets=["a:1"], owner="nobody", group="nogroup"), monkeypatch=monkeypatch)
    assert res["changed"] is True
    st = os.stat(path)
    assert (st.st_uid, st.st_gid) == (65534, 65534)


def test_absent_removes_from_every_group(tmp_path, monkeypatch):
    path = tmp_path / "node.json"
    write(path, json.dumps([
        {"targets": ["a:1", "b:1"], "labels": {"env": "prod"}},
        {"targets": ["a:1"], "labels": {"env": "stage"}},
    ]))
    res = run(dict(path=str(path), targets=["a:1", "zzz:1"], state="absent"), monkeypatch=monkeypatch)
    assert res["changed"] is True
    assert res["targets_removed"] == ["a:1"]
    assert read_json(path) == [{"targets": ["b:1"], "labels": {"env": "prod"}}]
    # again: nothing left to remove
    assert run(dict(path=str(path), targets=["a:1"], state="absent"), monkeypatch=monkeypatch)["changed"] is False


def test_absent_on_missing_file_creates_nothing(tmp_path, monkeypatch):
    path = tmp_path / "node.json"
    res = run(dict(path=str(path), targets=["a:1"], state="absent"), monkeypatch=monkeypatch)
    assert res["changed"] is False
    assert res["groups"] == []
    assert os.listdir(tmp_path) == []


def test_exclusive_prunes_unnamed_targets(tmp_path, monkeypatch):
    path = tmp_path / "node.json"
    write(path, json.dumps([
        {"targets": ["a:1", "b:1"], "labels": {"job": "node"}},
        {"targets": ["c:1"], "labels": {"job": "other"}},
    ]))
    res = run(dict(path=str(path), targets=["b:1", "d:1"], job="node", exclusive=True), monkeypatch=monkeypatch)
    assert res["changed"] is True
    assert read_json(path) == [{"targets": ["b:1", "d:1"], "labels": {"job": "node"}}]
    assert res["targets_added"] == ["d:1"]
    assert res["targets_removed"] == ["a:1", "c:1"]


def test_exclusive_with_empty_list_empties_the_file(tmp_path, monkeypatch):
    path = tmp_path / "node.json"
    write(path, json.dumps([{"targets": ["a:1"], "labels": {}}]))
    res = run(dict(path=str(path), targets=[], exclusive=True), monkeypatch=monkeypatch)
    assert res["changed"] is True
    assert read_json(path) == []


def test_present_with_new_labels_moves_target(tmp_path, monkeypatch):
    path = tmp_path / "node.json"
    write(path, json.dumps([{"targets": ["a:1", "b:1"], "labels": {"env": "prod"}}]))
    res = run(dict(path=str(path), targets=["a:1"], labels={"env": "stage"}), monkeypatch=monkeypatch)
    assert res["changed"] is True
    assert res["targets_relabeled"] == ["a:1"]
    assert read_json(path) == [
        {"targets": ["b:1"], "labels": {"env": "prod"}},
        {"targets": ["a:1"], "labels": {"env": "stage"}},
    ]


def test_duplicate_target_in_file_is_consolidated(tmp_path, monkeypatch):
    path = tmp_path / "node.json"
    write(path, json.dumps([{"targets": ["a:1"], "labels": {"env": "prod"}}, {"targets": ["a:1"], "labels": {}}]))
    res = run(dict(path=str(path), targets=["a:1"], labels={"env": "prod"}), monkeypatch=monkeypatch)
    assert res["changed"] is True
    assert read_json(path) == [{"targets": ["a:1"], "labels": {"env": "prod"}}]


def test_present_with_empty_list_creates_empty_file(tmp_path, monkeypatch):
    path = tmp_path / "node.json"
    res = run(dict(path=str(path), targets=[]), monkeypatch=monkeypatch)
    assert res["changed"] is True
    assert read_json(path) == []
    assert run(dict(path=str(path), targets=[]), monkeypatch=monkeypatch)["changed"] is False


# ------------------------------------------------------------------ formats

def test_yaml_format_by_extension(tmp_path, monkeypatch):
    path = tmp_path / "mysql.yml"
    res = run(dict(path=str(path), targets=["[2001:db8::10]:9104", "db1:9104"], labels={"team": "dba"}),
              monkeypatch=monkeypatch)
    assert res["changed"] is True
    loaded = yaml.safe_load(path.read_text())
    assert loaded == [{"targets": ["[2001:db8::10]:9104", "db1:9104"], "labels": {"team": "dba"}}]
    assert not path.read_text().lstrip().startswith("[")  # block style, not JSON
    os.utime(path, (OLD, OLD))
    assert run(dict(path=str(path), targets=["db1:9104"], labels={"team": "dba"}),
               monkeypatch=monkeypatch)["changed"] is False
    assert os.stat(path).st_mtime == OLD


def test_yaml_file_with_numeric_label_is_read(tmp_path, monkeypatch):
    path = tmp_path / "x.yaml"
    write(path, "- targets: ['a:1']\n  labels:\n    rack: 12\n", OLD)
    res = run(dict(path=str(path), targets=["a:1"], labels={"rack": "12"}), monkeypatch=monkeypatch)
    assert res["changed"] is False
    assert os.stat(path).st_mtime == OLD


def test_explicit_format_for_other_extension(tmp_path, monkeypatch):
    path = tmp_path / "targets.txt"
    res = run(dict(path=str(path), targets=["a:1"], format="json"), monkeypatch=monkeypatch)
    assert res["changed"] is True
    assert read_json(path) == [{"targets": ["a:1"], "labels": {}}]


def test_unknown_extension_with_auto_fails(tmp_path, monkeypatch):
    path = tmp_path / "targets.txt"
    res = run(dict(path=str(path), targets=["a:1"]), monkeypatch=monkeypatch)
    assert res["failed"]
    assert "targets.txt" in res["msg"] and "set format" in res["msg"]
    assert os.listdir(tmp_path) == []


def test_empty_existing_file_counts_as_no_groups(tmp_path, monkeypatch):
    path = tmp_path / "node.json"
    write(path, "")
    res = run(dict(path=str(path), targets=["a:1"]), monkeypatch=monkeypatch)
    assert res["changed"] is True
    assert read_json(path) == [{"targets": ["a:1"], "labels": {}}]


@pytest.mark.parametrize("content, fragment", [
    ("{not json", "cannot parse"),
    ('{"targets": []}', "expected a list of target groups"),
    ('[{"targets": ["a:1"], "foo": 1}]', "unknown key(s) 'foo'"),
])
def test_broken_file_fails_and_is_left_alone(tmp_path, monkeypatch, content, fragment):
    path = tmp_path / "node.json"
    write(path, content, OLD)
    res = run(dict(path=str(path), targets=["a:1"]), monkeypatch=monkeypatch)
    assert res["failed"]
    assert fragment in res["msg"] and str(path) in res["msg"]
    assert path.read_text() == content
    assert os.stat(path).st_mtime == OLD


def test_symlink_updates_the_real_file(tmp_path, monkeypatch):
    real = tmp_path / "real.json"
    write(real, "[]")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    res = run(dict(path=str(link), targets=["a:1"]), monkeypatch=monkeypatch)
    assert res["changed"] is True
    assert res["path"] == str(real)
    assert link.is_symlink()
    assert read_json(real) == [{"targets": ["a:1"], "labels": {}}]


# ------------------------------------------------------------------ validation

@pytest.mark.parametrize("targets, fragment", [
    (["web1"], "invalid target 'web1': missing port"),
    (["::1:9100"], "'::1:9100': IPv6 addresses must be written in brackets"),
    (["web1:70000"], "'web1:70000': port 70000 is out of range"),
    (["http://web1:80/"], "not a URL"),
])
def test_invalid_targets_fail_naming_the_value(tmp_path, monkeypatch, targets, fragment):
    path = tmp_path / "node.json"
    res = run(dict(path=str(path), targets=["ok:1"] + targets), monkeypatch=monkeypatch)
    assert res["failed"]
    assert fragment in res["msg"]
    assert os.listdir(tmp_path) == []


def test_many_invalid_targets_are_summarized(tmp_path, monkeypatch):
    bad = ["bad%d" % i for i in range(15)]
    res = run(dict(path=str(tmp_path / "n.json"), targets=bad), monkeypatch=monkeypatch)
    assert res["failed"]
    assert "'bad0'" in res["msg"] and "'bad9'" in res["msg"] and "'bad10'" not in res["msg"]
    assert "and 5 more invalid target(s)" in res["msg"]


@pytest.mark.parametrize("labels, job, fragment", [
    ({"__scheme__": "https"}, None, "label name '__scheme__' is reserved"),
    ({"my-label": "x"}, None, "invalid label name 'my-label'"),
    ({"flag": True}, None, "invalid value True for label 'flag'"),
    ({"job": "a"}, "b", "job 'b' conflicts with labels.job 'a'"),
    (None, "", "invalid job ''"),
])
def test_invalid_labels_fail(tmp_path, monkeypatch, labels, job, fragment):
    res = run(dict(path=str(tmp_path / "n.json"), targets=["a:1"], labels=labels, job=job), monkeypatch=monkeypatch)
    assert res["failed"]
    assert fragment in res["msg"]


def test_same_job_in_labels_and_job_is_accepted(tmp_path, monkeypatch):
    res = run(dict(path=str(tmp_path / "n.json"), targets=["a:1"], labels={"job": "n"}, job="n"),
              monkeypatch=monkeypatch)
    assert res["groups"] == [{"targets": ["a:1"], "labels": {"job": "n"}}]


def test_exclusive_with_absent_is_refused(tmp_path, monkeypatch):
    res = run(dict(path=str(tmp_path / "n.json"), targets=["a:1"], state="absent", exclusive=True),
              monkeypatch=monkeypatch)
    assert res["failed"] and "exclusive=true needs state=present" in res["msg"]


def test_path_that_is_a_directory_fails(tmp_path, monkeypatch):
    (tmp_path / "node.json").mkdir()
    res = run(dict(path=str(tmp_path / "node.json"), targets=["a:1"]), monkeypatch=monkeypatch)
    assert res["failed"] and "node.json is not a regular file" in res["msg"]


def test_missing_directory_fails(tmp_path, monkeypatch):
    res = run(dict(path=str(tmp_path / "nope" / "n.json"), targets=["a:1"]), monkeypatch=monkeypatch)
    assert res["failed"] and "does not exist" in res["msg"] and "nope" in res["msg"]


# ------------------------------------------------------------------ check and diff mode

def test_check_mode_predicts_without_writing(tmp_path, monkeypatch):
    path = tmp_path / "node.json"
    write(path, json.dumps([{"targets": ["a:1"], "labels": {"job": "node"}}]), OLD)
    res = run(dict(path=str(path), targets=["b:1"], job="node"), check_mode=True, diff=True, monkeypatch=monkeypatch)
    assert res["changed"] is True
    assert res["groups"] == [{"targets": ["a:1", "b:1"], "labels": {"job": "node"}}]
    assert res["targets_added"] == ["b:1"]
    assert os.stat(path).st_mtime == OLD
    assert sorted(os.listdir(tmp_path)) == ["node.json"]  # no lock file, no temp file
    assert json.loads(res["diff"]["before"]) == [{"targets": ["a:1"], "labels": {"job": "node"}}]
    assert json.loads(res["diff"]["after"]) == res["groups"]


def test_check_mode_on_missing_file(tmp_path, monkeypatch):
    path = tmp_path / "node.yml"
    res = run(dict(path=str(path), targets=["a:1"]), check_mode=True, diff=True, monkeypatch=monkeypatch)
    assert res["changed"] is True
    assert res["diff"]["before"] == ""
    assert yaml.safe_load(res["diff"]["after"]) == [{"targets": ["a:1"], "labels": {}}]
    assert os.listdir(tmp_path) == []


def test_check_mode_with_missing_directory_predicts(tmp_path, monkeypatch):
    path = tmp_path / "file_sd" / "node.json"
    res = run(dict(path=str(path), targets=["a:1"]), check_mode=True, monkeypatch=monkeypatch)
    assert not res.get("failed"), res
    assert res["changed"] is True
    assert res["groups"] == [{"targets": ["a:1"], "labels": {}}]
    assert not (tmp_path / "file_sd").exists()


def test_check_mode_reports_mode_change_only(tmp_path, monkeypatch):
    path = tmp_path / "node.json"
    assert run(dict(path=str(path), targets=["a:1"]), monkeypatch=monkeypatch)["changed"]
    res = run(dict(path=str(path), targets=["a:1"], mode="0600"), check_mode=True, monkeypatch=monkeypatch)
    assert res["changed"] is True
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644


def test_no_diff_when_unchanged(tmp_path, monkeypatch):
    path = tmp_path / "node.json"
    run(dict(path=str(path), targets=["a:1"]), monkeypatch=monkeypatch)
    res = run(dict(path=str(path), targets=["a:1"]), diff=True, monkeypatch=monkeypatch)
    assert res["changed"] is False and "diff" not in res


# ------------------------------------------------------------------ locking and concurrency

def test_lock_timeout_names_the_lock(tmp_path, monkeypatch):
    path = tmp_path / "node.json"
    lock = tmp_path / ".node.json.lock"
    fd = os.open(lock, os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        start = time.monotonic()
        res = run(dict(path=str(path), targets=["a:1"], lock_timeout=0.3), monkeypatch=monkeypatch)
        elapsed = time.monotonic() - start
    finally:
        os.close(fd)
    assert res["failed"]
    assert "timed out" in res["msg"] and str(lock) in res["msg"]
    assert 0.25 <= elapsed < 5
    assert not path.exists()


def test_waits_for_the_lock_then_merges(tmp_path, monkeypatch):
    """A writer that finds the lock taken waits, then re-reads the file written meanwhile."""
    path = tmp_path / "node.json"
    lock = tmp_path / ".node.json.lock"
    fd = os.open(lock, os.O_RDONLY | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    ctx = multiprocessing.get_context("fork")
    child = ctx.Process(target=_child_add, args=(str(path), "late:1", None, fd))
    child.start()
    time.sleep(0.3)
    # while the child waits for the lock, another writer's result lands in the file
    write(path, json.dumps([{"targets": ["early:1"], "labels": {}}]))
    assert child.is_alive(), "the writer did not wait for the lock"
    os.close(fd)
    child.join(30)
    if child.is_alive():
        child.kill()
    assert child.exitcode == 0
    assert read_json(path) == [
        {"targets": ["early:1"], "labels": {}},
        {"targets": ["late:1"], "labels": {"env": "prod"}},
    ]


def _child_add(path, target, barrier, inherited_fd=None):
    if inherited_fd is not None:
        # fork shares the parent's open lock description; drop it so only the parent holds the lock
        os.close(inherited_fd)
    if barrier is not None:
        barrier.wait(30)
    res = run_module(prometheus_target.main, dict(path=path, targets=[target], labels={"env": "prod"}))
    os._exit(1 if res.get("failed") or not res.get("changed") else 0)


def _reader(path, stop, bad):
    """Read the file in a loop while writers run: it must always be complete JSON."""
    while not stop.is_set():
        try:
            with open(path) as fh:
                text = fh.read()
        except FileNotFoundError:
            continue
        try:
            json.loads(text)
        except ValueError:
            bad.value += 1


def test_many_concurrent_writers_lose_nothing(tmp_path):
    writers = 40
    path = tmp_path / "node.json"
    seed = ["seed%d:9100" % i for i in range(2000)]
    write(path, json.dumps([{"targets": seed, "labels": {"env": "prod"}}]))
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(writers)
    stop = ctx.Event()
    bad = ctx.Value("i", 0)
    reader = ctx.Process(target=_reader, args=(str(path), stop, bad))
    reader.start()
    procs = [ctx.Process(target=_child_add, args=(str(path), "host%02d:9100" % i, barrier)) for i in range(writers)]
    start = time.monotonic()
    for p in procs:
        p.start()
    deadline = start + 90
    for p in procs:
        p.join(max(0.1, deadline - time.monotonic()))
    stop.set()
    reader.join(10)
    hung = [p for p in procs if p.is_alive()]
    for p in hung:
        p.kill()
    assert not hung, "%d writers still running after 90 s" % len(hung)
    assert [p.exitcode for p in procs] == [0] * writers
    groups = read_json(path)
    assert len(groups) == 1
    assert set(groups[0]["targets"]) == set(seed) | {"host%02d:9100" % i for i in range(writers)}
    assert len(groups[0]["targets"]) == len(seed) + writers
    assert bad.value == 0, "a reader saw a partially written file"
    assert leftovers(tmp_path) == []


# ------------------------------------------------------------------ the benchmark script still works

def test_benchmark_script_small_run():
    """Runs benchmarks/prometheus_target_bench.py on a small file: the module as real processes."""
    import subprocess
    import sys
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
    script = os.path.join(repo, "benchmarks", "prometheus_target_bench.py")
    proc = subprocess.run([sys.executable, script, "--targets", "200", "--writers", "5", "--runs", "2",
                           "--max-unchanged", "30"], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "206 targets expected, 206 present, 0 lost" in proc.stdout
    assert "mtime kept" in proc.stdout
