"""Shared unit-test helpers: run a module in-process, and script its HTTP exchanges.

``ScriptedHTTP`` replaces ``open_url`` in a module_utils namespace. Every call must match the
next expected exchange (method, URL path and query, optional JSON body and headers); an extra
call, a call out of order, or an exchange left unused at the end fails the test.
"""
import hashlib
import io
import json
import os
import shutil
import tarfile
import urllib.error
from urllib.parse import urlsplit

import pytest
from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes


class ModuleExit(Exception):
    def __init__(self, result, failed):
        super().__init__(result.get("msg", ""))
        self.result = result
        self.failed = failed


def run_module(module_main, args, check_mode=False, diff=False, monkeypatch=None):
    """Run ``module_main()`` with ``args``; return the result dict (``failed`` set on fail_json)."""
    payload = dict(args)
    payload["_ansible_check_mode"] = check_mode
    payload["_ansible_diff"] = diff
    payload.setdefault("_ansible_remote_tmp", "/tmp")
    payload.setdefault("_ansible_keep_remote_files", False)
    mp = monkeypatch or pytest.MonkeyPatch()
    mp.setattr(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": payload})))
    mp.setattr(basic, "_ANSIBLE_PROFILE", "legacy", raising=False)

    def _exit(self, **kw):
        kw.setdefault("changed", False)
        raise ModuleExit(kw, False)

    def _fail(self, msg, **kw):
        kw["msg"] = msg
        kw["failed"] = True
        raise ModuleExit(kw, True)

    mp.setattr(basic.AnsibleModule, "exit_json", _exit)
    mp.setattr(basic.AnsibleModule, "fail_json", _fail)
    try:
        module_main()
    except ModuleExit as e:
        return e.result
    finally:
        if monkeypatch is None:
            mp.undo()
    raise AssertionError("module returned without exit_json/fail_json")


class _Resp(io.BytesIO):
    def __init__(self, status, body, headers=None):
        super().__init__(body)
        self.status = status
        self.code = status
        self.headers = headers or {}

    def getcode(self):
        return self.status

    def info(self):
        return self.headers


class Exchange:
    def __init__(self, method, path, status=200, response=None, body=None, headers=None, raw=None):
        self.method = method.upper()
        self.path = path
        self.status = status
        self.response = response
        self.body = body          # expected JSON body (compared as data), or None to skip
        self.headers = headers or {}  # expected request headers (subset)
        self.raw = raw            # raw response bytes instead of JSON


class ScriptedHTTP:
    """Callable stand-in for ``open_url`` replaying a fixed script of exchanges."""

    def __init__(self, exchanges):
        self.exchanges = list(exchanges)
        self.calls = []

    def __call__(self, url, data=None, headers=None, method=None, **kwargs):
        method = (method or ("POST" if data else "GET")).upper()
        parts = urlsplit(url)
        path = parts.path + ("?" + parts.query if parts.query else "")
        self.calls.append((method, path, data, headers, kwargs))
        if not self.exchanges:
            raise AssertionError("unexpected extra request %s %s" % (method, path))
        ex = self.exchanges.pop(0)
        if (ex.method, ex.path) != (method, path):
            raise AssertionError("expected %s %s, got %s %s" % (ex.method, ex.path, method, path))
        if ex.body is not None:
            got = json.loads(data) if data else None
            if got != ex.body:
                raise AssertionError("request body for %s %s differs:\n got %r\nwant %r" % (method, path, got, ex.body))
        for k, v in ex.headers.items():
            have = {hk.lower(): hv for hk, hv in (headers or {}).items()}
            if have.get(k.lower()) != v:
                raise AssertionError("header %s: got %r want %r" % (k, have.get(k.lower()), v))
        raw = ex.raw if ex.raw is not None else (json.dumps(ex.response).encode() if ex.response is not None else b"")
        if ex.status >= 400:
            raise urllib.error.HTTPError(url, ex.status, "status %d" % ex.status, {}, io.BytesIO(raw))
        return _Resp(ex.status, raw)

    def assert_done(self):
        if self.exchanges:
            left = ", ".join("%s %s" % (e.method, e.path) for e in self.exchanges)
            raise AssertionError("expected requests never made: " + left)


def make_tarball(path, version, payload):
    """A release tarball shaped like upstream's (demo-<v>.linux-amd64/{demo,demotool,LICENSE}); returns its sha256."""
    top = "demo-%s.linux-amd64" % version
    with tarfile.open(path, "w:gz") as tf:
        for name, data in (("demo", payload), ("demotool", payload + b"-tool"), ("LICENSE", b"GPL")):
            info = tarfile.TarInfo("%s/%s" % (top, name))
            info.size = len(data)
            info.mode = 0o755
            tf.addfile(info, io.BytesIO(data))
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def find_promtool():
    """promtool for tests that validate rules: HM_PROMTOOL (set by tests/harness/env.sh), the mirror's, or PATH."""
    for candidate in (os.environ.get("HM_PROMTOOL"), os.path.join(ROOT, ".cache", "mirror", "bin", "promtool"),
                      shutil.which("promtool")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def playbook_env(tmp_path, **extra):
    """Environment for an ansible-playbook subprocess that sees this work tree as hybridmon.monitoring."""
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, ".cache", "collections"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
        "ANSIBLE_LOCALHOST_WARNING": "0",
    })
    env.update(extra)
    return env
