import os

import pytest

from ansible_collections.hybridmon.monitoring.plugins.module_utils._config_files import ConfigError, apply_files


class FakeModule:
    def __init__(self, check_mode=False):
        self.check_mode = check_mode
        self.no_log_values = set()

    def run_command(self, cmd, use_unsafe_shell=False):
        import subprocess
        p = subprocess.run(cmd, shell=True, capture_output=True, text=True, check=False)
        return p.returncode, p.stdout, p.stderr


def spec(path, content, validate=None, secret=False, mode="0640"):
    return {"dest": str(path), "content": content, "owner": "root", "group": "root", "mode": mode,
            "validate": validate, "secret": secret}


def test_writes_then_leaves_unchanged_files_alone(tmp_path):
    f = tmp_path / "a.yml"
    changed, content, diffs = apply_files(FakeModule(), [spec(f, "x: 1\n")])
    assert changed == content == [str(f)] and f.read_text() == "x: 1\n" and oct(f.stat().st_mode & 0o777) == "0o640"
    mtime = f.stat().st_mtime_ns
    assert apply_files(FakeModule(), [spec(f, "x: 1\n")]) == ([], [], [])
    assert f.stat().st_mtime_ns == mtime


def test_rejected_file_replaces_nothing_and_names_the_tool(tmp_path):
    good, bad = tmp_path / "good.yml", tmp_path / "bad.yml"
    good.write_text("old\n")
    bad.write_text("old\n")
    files = [spec(good, "new\n"), spec(bad, "broken\n", validate="sh -c 'echo rejected: $0 >&2; exit 1' %s")]
    with pytest.raises(ConfigError) as e:
        apply_files(FakeModule(), files)
    assert "bad.yml was rejected by `sh`" in str(e.value) and "rejected: " + str(bad) in str(e.value)
    assert good.read_text() == "old\n" and bad.read_text() == "old\n"
    assert sorted(os.listdir(tmp_path)) == ["bad.yml", "good.yml"]  # no temp file left behind


def test_check_mode_predicts_validates_and_writes_nothing(tmp_path):
    f = tmp_path / "c.yml"
    changed, _content, diffs = apply_files(FakeModule(check_mode=True), [spec(f, "a\n", validate="/bin/true %s")])
    assert changed == [str(f)] and not f.exists() and diffs[0]["after"] == "a\n"
    with pytest.raises(ConfigError, match="rejected by `/bin/false`"):
        apply_files(FakeModule(check_mode=True), [spec(f, "a\n", validate="/bin/false %s")])


def test_secret_diff_shows_checksums_only(tmp_path):
    f = tmp_path / "s.ini"
    m = FakeModule()
    _c, _cc, diffs = apply_files(m, [spec(f, "password = hunter2\n", secret=True)])
    assert "hunter2" not in repr(diffs) and "secret content" in diffs[0]["after"]
    assert "password = hunter2\n" in m.no_log_values


def test_bad_mode_and_missing_directory_are_named(tmp_path):
    with pytest.raises(ConfigError, match="quoted octal string like '0640', got 420"):
        apply_files(FakeModule(), [spec(tmp_path / "m", "x", mode=420)])
    with pytest.raises(ConfigError, match="directory .*/nope of .*/nope/x does not exist"):
        apply_files(FakeModule(), [spec(tmp_path / "nope" / "x", "x")])
