"""The service decision (start / restart / reload / nothing) and its readiness proof, through service_control and
through release_install's `service` option (one call per service).

systemd is played by a test double: a `systemctl` (and `journalctl`) script first on PATH that keeps the unit's
state in a JSON file and logs every invocation, so each test asserts exactly which systemctl actions ran. Readiness
is proven against a real HTTP server on 127.0.0.1 whose answers the test controls.
"""
import http.server
import json
import os
import stat
import sys
import threading
import time

import pytest

from ansible_collections.hybridmon.monitoring.plugins.modules import release_install, service_control
from helpers import make_tarball, run_module

SYSTEMCTL_DOUBLE = r'''#!PYTHON
import json, os, sys
state_path = os.environ["HM_SYSTEMCTL_STATE"]
with open(state_path) as f:
    st = json.load(f)
args = sys.argv[1:]
with open(st["log"], "a") as log:
    log.write(" ".join(a for a in args if not a.startswith("-p") and "," not in a) + "\n")
cmd = args[0]
if cmd == "show":
    for k in ("ActiveState", "SubState", "MainPID", "NRestarts", "UnitFileState", "LoadState"):
        print("%s=%s" % (k, st[k]))
elif cmd in ("start", "restart"):
    if st.get("fail_start"):
        st.update(ActiveState="failed", SubState="failed", MainPID="0")
    else:
        st.update(ActiveState="active", SubState="running", MainPID=str(int(st["MainPID"] or 100) + 1))
elif cmd == "reload":
    st["reloads"] = st.get("reloads", 0) + 1
elif cmd == "enable":
    st["UnitFileState"] = "enabled"
elif cmd == "disable":
    st["UnitFileState"] = "disabled"
elif cmd != "daemon-reload":
    sys.exit("systemctl double: unknown command %r" % cmd)
with open(state_path, "w") as f:
    json.dump(st, f)
'''

JOURNALCTL_DOUBLE = "#!/bin/sh\necho 'level=error msg=\"journal line of the double\"'\n"


class Ready(http.server.BaseHTTPRequestHandler):
    ready = 200
    reload_ok = 1
    reload_ts = None  # None: time of the request

    def do_GET(self):
        if self.path == "/-/ready":
            code, body = self.ready, b"ready"
        elif self.path == "/metrics":
            ts = self.reload_ts if self.reload_ts is not None else time.time()
            code, body = 200, ("demo_config_last_reload_successful %d\n"
                               "demo_config_last_reload_success_timestamp_seconds %.3f\n"
                               % (self.reload_ok, ts)).encode()
        else:
            code, body = 404, b"no"
        self.send_response(code)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


@pytest.fixture
def server():
    Ready.ready, Ready.reload_ok, Ready.reload_ts = 200, 1, None
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ready)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield "http://127.0.0.1:%d" % srv.server_address[1]
    srv.shutdown()


@pytest.fixture
def systemd(tmp_path, monkeypatch):
    bindir = tmp_path / "bin-doubles"
    bindir.mkdir()
    for name, text in (("systemctl", SYSTEMCTL_DOUBLE.replace("PYTHON", sys.executable)),
                       ("journalctl", JOURNALCTL_DOUBLE)):
        p = bindir / name
        p.write_text(text)
        p.chmod(p.stat().st_mode | stat.S_IEXEC)
    state = tmp_path / "unit.json"
    log = tmp_path / "systemctl.log"
    log.write_text("")
    state.write_text(json.dumps({"ActiveState": "inactive", "SubState": "dead", "MainPID": "0", "NRestarts": "0",
                                 "UnitFileState": "disabled", "LoadState": "loaded", "log": str(log)}))
    monkeypatch.setenv("PATH", "%s:%s" % (bindir, os.environ["PATH"]))
    monkeypatch.setenv("HM_SYSTEMCTL_STATE", str(state))

    class Systemd:
        def actions(self):
            """systemctl invocations other than `show`, consumed."""
            lines = [x for x in log.read_text().splitlines() if x and not x.startswith("show")]
            log.write_text("")
            return lines

        def update(self, **kw):
            st = json.loads(state.read_text())
            st.update(kw)
            state.write_text(json.dumps(st))

        def get(self):
            return json.loads(state.read_text())
    return Systemd()


@pytest.fixture
def files(tmp_path):
    etc = tmp_path / "etc"
    etc.mkdir()
    return {"unit": str(etc / "demo.service"), "conf": str(etc / "demo.yml"), "state_dir": str(tmp_path / "records"),
            "etc": etc}


def svc_args(files, server, **kw):
    a = {"name": "demo", "state_dir": files["state_dir"],
         "files": [{"dest": files["unit"], "content": "[Service]\nExecStart=/bin/demo\n"},
                   {"dest": files["conf"], "content": "interval: 15s\n", "mode": "0640"}],
         "restart_on": [files["unit"]], "reload_on": [files["conf"]],
         "ready_url": server + "/-/ready", "metrics_url": server + "/metrics",
         "reload_metric": "demo_config_last_reload", "ready_timeout": 5}
    a.update(kw)
    return a


def test_start_then_nothing_then_reload_then_restart(monkeypatch, systemd, files, server):
    first = run_module(service_control.main, svc_args(files, server), monkeypatch=monkeypatch)
    assert first["changed"] and first["action"] == "started", first
    assert systemd.actions() == ["daemon-reload", "enable demo.service", "start demo.service"]
    assert first["ready_seconds"] >= 0 and sorted(first["changed_files"]) == sorted([files["unit"], files["conf"]])

    again = run_module(service_control.main, svc_args(files, server), monkeypatch=monkeypatch)
    assert again["changed"] is False and again["action"] == "none", again
    assert systemd.actions() == []

    conf_changed = svc_args(files, server)
    conf_changed["files"][1]["content"] = "interval: 30s\n"
    res = run_module(service_control.main, conf_changed, monkeypatch=monkeypatch, diff=True)
    assert res["action"] == "reloaded" and systemd.actions() == ["reload demo.service"], res
    conf_diff = [d for d in res["diff"] if d.get("after_header") == files["conf"]]
    assert conf_diff and "15s" in conf_diff[0]["before"] and "30s" in conf_diff[0]["after"]

    unit_changed = svc_args(files, server)
    unit_changed["files"][0]["content"] = "[Service]\nExecStart=/bin/demo --flag\n"
    unit_changed["files"][1]["content"] = "interval: 30s\n"
    res = run_module(service_control.main, unit_changed, monkeypatch=monkeypatch)
    assert res["action"] == "restarted" and "forced" in res["reasons"], res
    assert systemd.actions() == ["daemon-reload", "restart demo.service"]


def test_change_left_by_a_failed_run_is_applied_by_the_next(monkeypatch, systemd, files, server):
    run_module(service_control.main, svc_args(files, server), monkeypatch=monkeypatch)
    systemd.actions()
    # a run wrote the config and then failed before touching the service: only the file changed on disk
    with open(files["conf"], "w") as f:
        f.write("interval: 1m\n")
    args = svc_args(files, server)
    args["files"] = []
    res = run_module(service_control.main, args, monkeypatch=monkeypatch)
    assert res["action"] == "reloaded" and res["reasons"] == ["changed since last reload: %s" % files["conf"]]
    assert systemd.actions() == ["reload demo.service"]


def test_check_mode_predicts_and_touches_nothing(monkeypatch, systemd, files, server):
    res = run_module(service_control.main, svc_args(files, server), check_mode=True, monkeypatch=monkeypatch)
    assert res["changed"] and res["action"] == "started"
    assert systemd.actions() == [] and not os.path.exists(files["unit"]) and not os.path.exists(files["state_dir"])


def test_failed_reload_is_reported_and_not_recorded(monkeypatch, systemd, files, server):
    run_module(service_control.main, svc_args(files, server), monkeypatch=monkeypatch)
    systemd.actions()
    Ready.reload_ok = 0
    args = svc_args(files, server)
    args["files"][1]["content"] = "interval: 45s\n"
    res = run_module(service_control.main, args, monkeypatch=monkeypatch)
    assert res["failed"] and "reports a failed reload (demo_config_last_reload_successful 0)" in res["msg"], res
    # the reload is retried by the next run because the new hash was not recorded
    Ready.reload_ok = 1
    args["files"] = []
    res = run_module(service_control.main, args, monkeypatch=monkeypatch)
    assert res["action"] == "reloaded", res


def test_service_that_dies_after_start_fails_with_its_journal(monkeypatch, systemd, files, server):
    systemd.update(fail_start=True)
    res = run_module(service_control.main, svc_args(files, server), monkeypatch=monkeypatch)
    assert res["failed"] and "demo.service is failed/failed after start" in res["msg"], res
    assert "journal line of the double" in res["msg"]


def test_not_ready_in_time_names_the_url_and_answer(monkeypatch, systemd, files, server):
    Ready.ready = 503
    res = run_module(service_control.main, svc_args(files, server, ready_timeout=1), monkeypatch=monkeypatch)
    assert res["failed"] and "did not become ready within 1s" in res["msg"] and "answered 503" in res["msg"], res


def test_rejected_config_leaves_live_file_and_service_alone(monkeypatch, systemd, files, server):
    run_module(service_control.main, svc_args(files, server), monkeypatch=monkeypatch)
    systemd.actions()
    args = svc_args(files, server)
    args["files"][1].update(content="interval: 5x\n", validate="/bin/grep -q s$ %s")
    res = run_module(service_control.main, args, monkeypatch=monkeypatch)
    assert res["failed"] and "was rejected by `/bin/grep`" in res["msg"], res
    assert open(files["conf"]).read() == "interval: 15s\n" and systemd.actions() == []


def test_secret_file_content_is_masked(monkeypatch, systemd, files, server):
    args = svc_args(files, server)
    args["files"].append({"dest": str(files["etc"] / "my.cnf"), "content": "password=`s3cr3t-Value`\n",
                          "mode": "0600", "secret": True})
    res = run_module(service_control.main, args, monkeypatch=monkeypatch, diff=True)
    text = json.dumps(res)
    assert "s3cr3t-Value" not in text and "secret content, sha1" in text


def test_release_install_runs_the_service_in_the_same_call(monkeypatch, systemd, files, server, tmp_path):
    tar = tmp_path / "demo.tgz"
    sha = make_tarball(tar, "1.0.0", b"v1")
    lib, bindir = tmp_path / "lib", tmp_path / "bin"
    service = svc_args(files, server)
    service.pop("name")
    service["restart_on"] = [files["unit"], str(lib / "demo" / "state.json")]
    base = {"name": "demo", "version": "1.0.0", "binaries": ["demo", "demotool"], "lib_dir": str(lib),
            "install_dir": str(bindir), "base_url": "http://127.0.0.1:9/unused", "service": service}

    # the controller has not sent the archive yet: the service waits for the second call
    probe = run_module(release_install.main, base, monkeypatch=monkeypatch)
    assert probe["needs_archive"] and "service" not in probe and systemd.actions() == []
    # ... but check mode predicts it now
    predicted = run_module(release_install.main, base, check_mode=True, monkeypatch=monkeypatch)
    assert predicted["service"]["action"] == "started" and systemd.actions() == []

    res = run_module(release_install.main, dict(base, src=str(tar), expected_sha256=sha), monkeypatch=monkeypatch,
                     diff=True)
    assert res["changed"] and res["binaries_changed"] and res["service"]["action"] == "started", res
    assert systemd.actions() == ["daemon-reload", "enable demo.service", "start demo.service"]
    assert res["diff"][0]["after"] == {"release": {"version": "1.0.0", "sha256": sha}}

    again = run_module(release_install.main, base, monkeypatch=monkeypatch)
    assert again["changed"] is False and again["service"]["action"] == "none" and systemd.actions() == []

    # a new release restarts the running service
    tar2 = tmp_path / "demo2.tgz"
    sha2 = make_tarball(tar2, "2.0.0", b"v2")
    up = run_module(release_install.main, dict(base, version="2.0.0", src=str(tar2), expected_sha256=sha2),
                    monkeypatch=monkeypatch)
    assert up["service"]["action"] == "restarted" and systemd.actions() == ["daemon-reload", "restart demo.service"]


def test_bad_files_entry_is_named(monkeypatch, systemd, files, server):
    args = svc_args(files, server)
    args["files"].append({"dest": "/etc/x.yml", "contents": "typo"})
    res = run_module(service_control.main, args, monkeypatch=monkeypatch)
    assert res["failed"] and "files entry '/etc/x.yml' has unknown keys: contents" in res["msg"], res


def test_release_install_checks_service_options_like_service_control(monkeypatch, systemd, tmp_path):
    base = {"name": "demo", "version": "1.0.0", "binaries": ["demo"], "lib_dir": str(tmp_path / "lib"),
            "install_dir": str(tmp_path / "bin"), "base_url": "http://127.0.0.1:9/unused",
            "service": {"ready_timeout": "soon", "reload_metric": "x"}}
    res = run_module(release_install.main, base, monkeypatch=monkeypatch)
    assert res["failed"] and res["msg"].startswith("service: "), res
    assert "ready_timeout" in res["msg"] and "metrics_url" in res["msg"], res
    assert systemd.actions() == [] and not (tmp_path / "lib").exists()
