"""The service decision (start / restart / reload / nothing) and its readiness proof, through service_control and
through release_install's `service` option (one call per service).

systemd is played by a test double: a `systemctl` (and `journalctl`) script first on PATH that keeps the unit's
state in a JSON file and logs every invocation, so each test asserts exactly which systemctl actions ran. Readiness
is proven against a real HTTP server on 127.0.0.1 whose answers the test controls.
"""
import base64
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
    link, bad = st.get("fail_when_link_has") or (None, None)
    if st.get("fail_start") or (link and bad in os.path.realpath(link)):
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
    auth = None  # "user:password" to require HTTP basic auth (as exporter-toolkit's basic_auth_users does)
    seen_auth = []  # Authorization headers received

    def do_GET(self):
        Ready.seen_auth.append(self.headers.get("Authorization"))
        if self.auth and self.headers.get("Authorization") != "Basic " + base64.b64encode(self.auth.encode()).decode():
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="demo"')
            self.end_headers()
            self.wfile.write(b"Unauthorized")
            return
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
    Ready.ready, Ready.reload_ok, Ready.reload_ts, Ready.auth, Ready.seen_auth = 200, 1, None, None, []
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


def test_new_release_that_does_not_come_up_is_rolled_back(monkeypatch, systemd, files, server, tmp_path):
    lib, bindir = tmp_path / "lib", tmp_path / "bin"
    service = svc_args(files, server)
    service.pop("name")
    service["restart_on"] = [files["unit"], str(lib / "demo" / "state.json")]
    base = {"name": "demo", "binaries": ["demo", "demotool"], "lib_dir": str(lib), "install_dir": str(bindir),
            "base_url": "http://127.0.0.1:9/unused", "service": service}
    for version, payload in (("1.0.0", b"v1"), ("2.0.0", b"v2")):
        tar = tmp_path / ("demo-%s.tgz" % version)
        sha = make_tarball(tar, version, payload)
        if version == "2.0.0":
            systemd.update(fail_when_link_has=[str(bindir / "demo"), "/2.0.0-"])
            # the new release comes with a new unit (flags) and a new file: both go back with the release
            service["files"] = [dict(service["files"][0], content="[Service]\nExecStart=/bin/demo --v2-flag\n"),
                                service["files"][1], {"dest": str(files["etc"] / "v2-only.yml"), "content": "x: 1\n"}]
        res = run_module(release_install.main, dict(base, version=version, src=str(tar), expected_sha256=sha),
                         monkeypatch=monkeypatch)
    assert res["failed"], res
    assert "demo 2.0.0 did not come up, so demo was rolled back to 1.0.0, which is running and ready again" in res["msg"]
    assert "demo.service is failed/failed after start" in res["msg"] and "journal line of the double" in res["msg"]
    assert (bindir / "demo").read_bytes() == b"v1" and systemd.get()["ActiveState"] == "active"
    assert open(files["unit"]).read() == "[Service]\nExecStart=/bin/demo\n"
    assert not (files["etc"] / "v2-only.yml").exists()
    state = json.loads((lib / "demo" / "state.json").read_text())
    assert state["version"] == "1.0.0" and state["previous"]["version"] == "2.0.0"
    assert systemd.actions() == ["daemon-reload", "enable demo.service", "start demo.service",  # 1.0.0
                                 "daemon-reload", "restart demo.service",  # 2.0.0 fails
                                 "daemon-reload", "start demo.service"]  # 1.0.0 again (the unit was failed)

    # without rollback the failed release stays and the task says only what went wrong
    res = run_module(release_install.main, dict(base, version="2.0.0", rollback_on_failure=False),
                     monkeypatch=monkeypatch)
    assert res["failed"] and "rolled back" not in res["msg"] and (bindir / "demo").read_bytes() == b"v2", res


PROBE_PASSWORD = "pr0be-S3cret-value"


def test_readiness_behind_basic_auth_sends_the_credentials(monkeypatch, systemd, files, server):
    Ready.auth = "prometheus:" + PROBE_PASSWORD
    res = run_module(service_control.main, svc_args(files, server, url_username="prometheus",
                                                    url_password=PROBE_PASSWORD), monkeypatch=monkeypatch)
    assert res["action"] == "started" and not res.get("failed"), res
    assert systemd.actions() == ["daemon-reload", "enable demo.service", "start demo.service"]
    # sent with the first request (force_basic_auth), not only after a 401 challenge
    assert Ready.seen_auth and all(a and a.startswith("Basic ") for a in Ready.seen_auth), Ready.seen_auth
    assert PROBE_PASSWORD not in json.dumps(res)

    # a reload is proven through the authenticated metrics URL as well
    args = svc_args(files, server, url_username="prometheus", url_password=PROBE_PASSWORD)
    args["files"][1]["content"] = "interval: 20s\n"
    res = run_module(service_control.main, args, monkeypatch=monkeypatch)
    assert res["action"] == "reloaded" and not res.get("failed"), res


def test_wrong_or_missing_credentials_fail_with_401_and_never_show_the_password(monkeypatch, systemd, files, server):
    Ready.auth = "prometheus:" + PROBE_PASSWORD
    wrong = "wr0ng-Passw0rd-value"
    res = run_module(service_control.main, svc_args(files, server, url_username="prometheus", url_password=wrong,
                                                    ready_timeout=1), monkeypatch=monkeypatch)
    assert res["failed"] and "did not become ready within 1s" in res["msg"] and "answered 401" in res["msg"], res
    text = json.dumps(res)
    assert wrong not in text and PROBE_PASSWORD not in text
    assert base64.b64encode(("prometheus:" + wrong).encode()).decode() not in text

    systemd.update(ActiveState="inactive", SubState="dead", MainPID="0")
    res = run_module(service_control.main, svc_args(files, server, ready_timeout=1), monkeypatch=monkeypatch)
    assert res["failed"] and "answered 401" in res["msg"], res


def test_password_without_user_is_refused(monkeypatch, systemd, files, server):
    res = run_module(service_control.main, svc_args(files, server, url_password=PROBE_PASSWORD),
                     monkeypatch=monkeypatch)
    assert res["failed"] and "url_password" in res["msg"] and "url_username" in res["msg"], res
    assert PROBE_PASSWORD not in json.dumps(res) and systemd.actions() == []


@pytest.mark.parametrize("module_name", ["service_control", "release_install"])
def test_probe_password_is_a_no_log_value_of_both_modules(monkeypatch, systemd, files, server, tmp_path, module_name):
    """Ansible masks no_log values in everything a module returns (invocation included): the password must be one
    of them whether it comes as service_control's option or inside release_install's `service`."""
    from ansible.module_utils import basic
    modules = []
    init = basic.AnsibleModule.__init__

    def spy(self, *a, **kw):
        init(self, *a, **kw)
        modules.append(self)
    monkeypatch.setattr(basic.AnsibleModule, "__init__", spy)
    Ready.auth = "prometheus:" + PROBE_PASSWORD
    service = svc_args(files, server, url_username="prometheus", url_password=PROBE_PASSWORD)
    if module_name == "service_control":
        res = run_module(service_control.main, service, monkeypatch=monkeypatch)
    else:
        tar = tmp_path / "demo.tgz"
        sha = make_tarball(tar, "1.0.0", b"v1")
        service.pop("name")
        res = run_module(release_install.main, {
            "name": "demo", "version": "1.0.0", "binaries": ["demo"], "lib_dir": str(tmp_path / "lib"),
            "install_dir": str(tmp_path / "bin"), "base_url": "http://127.0.0.1:9/unused", "service": service,
            "src": str(tar), "expected_sha256": sha}, monkeypatch=monkeypatch)
        assert res["service"]["action"] == "started", res
    assert not res.get("failed"), res
    assert PROBE_PASSWORD in modules[-1].no_log_values
    masked = basic.remove_values(dict(res, invocation={"module_args": modules[-1].params}), modules[-1].no_log_values)
    assert PROBE_PASSWORD not in json.dumps(masked)


def test_arguments_stay_out_of_the_host_log(monkeypatch, systemd, files, server):
    """File contents and probe passwords travel in nested options that Ansible cannot mask in the invocation it
    writes to syslog/journald: the modules do not write it at all."""
    from ansible.module_utils import basic
    logged = []
    monkeypatch.setattr(basic.AnsibleModule, "_log_invocation", lambda self: logged.append(self.params))
    run_module(service_control.main, svc_args(files, server), monkeypatch=monkeypatch)
    run_module(release_install.main, {"name": "demo", "version": "1.0.0", "binaries": ["demo"],
                                      "download_mode": "none", "install_dir": str(files["etc"])},
               monkeypatch=monkeypatch)
    assert logged == []
