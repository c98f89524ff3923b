"""Fixtures: a CRD-only Kubernetes API server (tests/k8s/apiserver) with Debian's etcd, on 127.0.0.1.

``k8s_api`` (session): etcd and the API server on random ports in a temporary directory, the
monitoring.coreos.com CRDs from tests/k8s/crds installed and Established, and a kubeconfig.
``k8s_api_without_crds`` (session): a second, empty server for the missing-CRD tests.
``k8s_ns`` (function): a fresh namespace name (namespaces need not exist on this server).

The binaries come from tests/k8s/build_apiserver.sh (``make`` runs it before the tests); when they
are not built, every test here is skipped saying so. HM_K8S_APISERVER / HM_K8S_ETCD override them.
"""
import hashlib
import importlib.util
import itertools
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
K8S_DIR = os.path.join(ROOT, "tests", "k8s")
CRD_DIR = os.path.join(K8S_DIR, "crds")
TOKEN = "hybridmon-test-token"

# Make the collection importable exactly as the unit tests do, and reuse their helpers.
_spec = importlib.util.spec_from_file_location("_hm_unit_conftest", os.path.join(ROOT, "tests", "unit", "conftest.py"))
_spec.loader.exec_module(importlib.util.module_from_spec(_spec))
sys.path.insert(0, os.path.join(ROOT, "tests", "unit"))


def _cache_dir():
    cache = os.environ.get("HM_CACHE") or os.path.join(ROOT, ".cache")
    return os.path.join(os.path.abspath(cache), "k8s")


def _sha16(*paths):
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()[:16]


def binaries():
    """(apiserver, etcd) paths as build_apiserver.sh names them; either may not exist."""
    script = os.path.join(K8S_DIR, "build_apiserver.sh")
    apiserver = os.environ.get("HM_K8S_APISERVER") or os.path.join(
        _cache_dir(), "apiserver-" + _sha16(os.path.join(K8S_DIR, "apiserver", "main.go"), script))
    etcd = os.environ.get("HM_K8S_ETCD") or os.path.join(_cache_dir(), "etcd-" + _sha16(script))
    return apiserver, etcd


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path, lines=30):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return "(no log)"


class ApiServer(object):
    """etcd + the CRD API server, started in ``workdir``."""

    def __init__(self, workdir, apiserver, etcd):
        self.workdir = workdir
        self.procs = []
        self.etcd_url = self._start_etcd(etcd)
        self.port = _free_port()
        self.host = "https://127.0.0.1:%d" % self.port
        self.cert_dir = os.path.join(workdir, "certs")
        self.ca_cert = os.path.join(self.cert_dir, "apiserver.crt")
        self.api_log = os.path.join(workdir, "apiserver.log")
        self._spawn([apiserver, "--etcd-servers", self.etcd_url, "--bind-address", "127.0.0.1",
                     "--secure-port", str(self.port), "--cert-dir", self.cert_dir], self.api_log)
        self._wait_live()
        self.kubeconfig = os.path.join(workdir, "kubeconfig")
        self._write_kubeconfig()

    def _spawn(self, argv, log):
        with open(log, "wb") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=self.workdir,
                                    start_new_session=True)
        self.procs.append(proc)
        return proc

    def _start_etcd(self, etcd):
        client, peer = _free_port(), _free_port()
        url = "http://127.0.0.1:%d" % client
        self.etcd_log = os.path.join(self.workdir, "etcd.log")
        self._spawn([etcd, "--name", "hybridmon-test", "--data-dir", os.path.join(self.workdir, "etcd"),
                     "--listen-client-urls", url, "--advertise-client-urls", url,
                     "--listen-peer-urls", "http://127.0.0.1:%d" % peer,
                     "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % peer,
                     "--initial-cluster", "hybridmon-test=http://127.0.0.1:%d" % peer,
                     "--unsafe-no-fsync", "--log-level", "warn"], self.etcd_log)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as r:
                    if json.loads(r.read()).get("health") == "true":
                        return url
            except (OSError, ValueError):
                pass
            if self.procs[-1].poll() is not None:
                break
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("etcd did not become healthy:\n" + _tail(self.etcd_log))

    def _wait_live(self):
        # /livez, not /readyz: readiness waits for hooks this server has no use for.
        deadline = time.time() + 60
        ctx = ssl._create_unverified_context()
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(self.host + "/livez", timeout=2, context=ctx) as r:
                    if r.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            if self.procs[-1].poll() is not None:
                break
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("the API server did not become live:\n" + _tail(self.api_log))

    def _write_kubeconfig(self):
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "test",
            "clusters": [{"name": "test", "cluster": {"server": self.host, "certificate-authority": self.ca_cert}}],
            "users": [{"name": "test", "user": {"token": TOKEN}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}],
        }
        with open(self.kubeconfig, "w") as f:
            yaml.safe_dump(config, f)

    def client(self):
        """A DynamicClient for assertions."""
        import kubernetes
        from kubernetes.dynamic import DynamicClient

        conf = kubernetes.client.Configuration()
        conf.host = self.host
        conf.ssl_ca_cert = self.ca_cert
        conf.api_key = {"authorization": "Bearer " + TOKEN}
        return DynamicClient(kubernetes.client.ApiClient(conf),
                             cache_file=os.path.join(self.workdir, "discovery-%d.json" % time.monotonic_ns()))

    def install_crds(self):
        dyn = self.client()
        crd_api = dyn.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
        names = []
        for fname in sorted(os.listdir(CRD_DIR)):
            with open(os.path.join(CRD_DIR, fname)) as f:
                body = yaml.safe_load(f)
            dyn.server_side_apply(crd_api, body=body, field_manager="hybridmon-tests")
            names.append(body["metadata"]["name"])
        deadline = time.time() + 30
        pending = set(names)
        while pending and time.time() < deadline:
            for name in list(pending):
                crd = dyn.get(crd_api, name=name).to_dict()
                conds = (crd.get("status") or {}).get("conditions") or []
                if any(c["type"] == "Established" and c["status"] == "True" for c in conds):
                    pending.discard(name)
            time.sleep(0.1)
        if pending:
            raise RuntimeError("CRDs not Established: %s" % ", ".join(sorted(pending)))
        # Discovery of the new group in /apis follows the Established condition.
        while time.time() < deadline:
            ctx = ssl.create_default_context(cafile=self.ca_cert)
            with urllib.request.urlopen(self.host + "/apis", context=ctx, timeout=5) as r:
                if "monitoring.coreos.com" in [g["name"] for g in json.loads(r.read())["groups"]]:
                    return
            time.sleep(0.1)
        raise RuntimeError("monitoring.coreos.com never appeared in /apis")

    def connection(self, style="kubeconfig"):
        """Module connection options: through the kubeconfig, or host + api_key + ca_cert."""
        if style == "kubeconfig":
            return {"kubeconfig": self.kubeconfig}
        return {"host": self.host, "api_key": TOKEN, "ca_cert": self.ca_cert}

    def stop(self):
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.procs = []


def _start(with_crds):
    apiserver, etcd = binaries()
    missing = [p for p in (apiserver, etcd) if not os.access(p, os.X_OK)]
    if missing:
        pytest.skip("CRD-only API server not built (%s missing): run tests/k8s/build_apiserver.sh"
                    % ", ".join(missing))
    workdir = tempfile.mkdtemp(prefix="h-k8s-test-")
    server = ApiServer(workdir, apiserver, etcd)
    try:
        if with_crds:
            server.install_crds()
    except Exception:
        server.stop()
        raise
    return server, workdir


@pytest.fixture(scope="session")
def k8s_api():
    server, workdir = _start(with_crds=True)
    yield server
    server.stop()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def k8s_api_without_crds():
    server, workdir = _start(with_crds=False)
    yield server
    server.stop()
    shutil.rmtree(workdir, ignore_errors=True)


_ns_counter = itertools.count(1)


@pytest.fixture
def k8s_ns():
    """A namespace name used by one test only."""
    return "t%d-%d" % (os.getpid() % 10000, next(_ns_counter))
