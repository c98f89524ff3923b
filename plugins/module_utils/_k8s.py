# Copyright (c) hybridmon.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE module_utils: used by this collection's Kubernetes modules only. Not a public API; it may
# change without notice between releases.
"""Kubernetes API access for hybridmon's modules, on the ``kubernetes`` Python client.

Connection options follow kubernetes.core (same names, same ``K8S_AUTH_*`` environment fallbacks) and
are documented once in the ``hybridmon.monitoring.k8s_connection`` doc fragment. Objects are written
with server-side apply under the field manager ``hybridmon``; check mode asks the server for a dry run
(``dryRun=All``) so the prediction includes defaulting, pruning and validation; ``changed`` compares
the existing object with what the server returns.
"""
import copy
import json
import os
import shutil
import tempfile
import traceback

from ansible.module_utils.basic import env_fallback, missing_required_lib

try:
    import kubernetes
    from kubernetes.dynamic import DynamicClient
    from kubernetes.dynamic.exceptions import DynamicApiError, ResourceNotFoundError
    from kubernetes.client.exceptions import ApiException
    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None
except ImportError:
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = traceback.format_exc()

try:
    import urllib3
except ImportError:  # pragma: no cover - a dependency of kubernetes
    urllib3 = None

FIELD_MANAGER = "hybridmon"
MONITORING_API = "monitoring.coreos.com/v1"

K8S_CONNECTION_ARGS = dict(
    kubeconfig=dict(type="path", fallback=(env_fallback, ["K8S_AUTH_KUBECONFIG"])),
    context=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_CONTEXT"])),
    host=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_HOST"])),
    api_key=dict(type="str", no_log=True, fallback=(env_fallback, ["K8S_AUTH_API_KEY"])),
    ca_cert=dict(type="path", aliases=["ssl_ca_cert"], fallback=(env_fallback, ["K8S_AUTH_SSL_CA_CERT"])),
    client_cert=dict(type="path", aliases=["cert_file"], fallback=(env_fallback, ["K8S_AUTH_CERT_FILE"])),
    client_key=dict(type="path", aliases=["key_file"], no_log=False, fallback=(env_fallback, ["K8S_AUTH_KEY_FILE"])),
    validate_certs=dict(type="bool", aliases=["verify_ssl"], fallback=(env_fallback, ["K8S_AUTH_VERIFY_SSL"])),
)

# Server-set metadata left out when comparing and diffing objects.
_SERVER_METADATA = ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink")


class K8sError(Exception):
    """A failed Kubernetes API call (``status`` is the HTTP status, or None when none was received)."""

    def __init__(self, msg, status=None, body=None):
        super().__init__(msg)
        self.msg = msg
        self.status = status
        self.body = body


class MissingKindError(K8sError):
    """The API server does not serve the requested kind (its CRD is not installed)."""


def require_kubernetes(module):
    """Fail with an install hint when the ``kubernetes`` Python package is missing."""
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=KUBERNETES_IMPORT_ERROR)


def api_error_message(exc):
    """The server's own message of a failed call (the ``message`` of its Status body)."""
    body = getattr(exc, "body", None)
    if body:
        try:
            data = json.loads(body)
            if isinstance(data, dict) and data.get("message"):
                return data["message"]
        except (ValueError, TypeError):
            return str(body)
    return "%s %s" % (getattr(exc, "status", ""), getattr(exc, "reason", "") or exc)


def strip_server_fields(obj):
    """A copy of ``obj`` without server-set metadata and status, for comparing and diffing."""
    if obj is None:
        return None
    out = copy.deepcopy(obj)
    meta = out.get("metadata") or {}
    for key in _SERVER_METADATA:
        meta.pop(key, None)
    out.pop("status", None)
    return out


class K8sClient(object):
    """A DynamicClient built from the module's connection options."""

    def __init__(self, module):
        require_kubernetes(module)
        self.module = module
        self._cache_dir = tempfile.mkdtemp(prefix="hybridmon-k8s-")
        try:
            self.configuration = self._configuration(module.params)
            api_client = kubernetes.client.ApiClient(self.configuration)
            # A private discovery cache per run: a shared one could still list CRDs deleted since.
            self.client = DynamicClient(api_client, cache_file=os.path.join(self._cache_dir, "discovery.json"))
        except (ApiException, DynamicApiError) as exc:
            self.close()
            raise K8sError("cannot reach the Kubernetes API at %s: %s"
                           % (getattr(self, "configuration", None) and self.configuration.host, api_error_message(exc)),
                           getattr(exc, "status", None))
        except K8sError:
            self.close()
            raise
        except Exception as exc:  # urllib3 connection errors, bad certificates, ...
            self.close()
            raise K8sError("cannot reach the Kubernetes API at %s: %s"
                           % (getattr(self, "configuration", None) and self.configuration.host, exc))

    def close(self):
        shutil.rmtree(self._cache_dir, ignore_errors=True)

    def _configuration(self, params):
        configuration = kubernetes.client.Configuration()
        kubeconfig, context, host = params.get("kubeconfig"), params.get("context"), params.get("host")
        if kubeconfig or context or not host:
            default_path = os.path.expanduser(kubernetes.config.kube_config.KUBE_CONFIG_DEFAULT_LOCATION)
            try:
                if kubeconfig or context or os.path.exists(default_path):
                    if kubeconfig and not os.path.exists(kubeconfig):
                        raise K8sError("kubeconfig %s does not exist" % kubeconfig)
                    kubernetes.config.load_kube_config(config_file=kubeconfig, context=context,
                                                       client_configuration=configuration, persist_config=False)
                elif os.environ.get("KUBERNETES_SERVICE_HOST"):
                    kubernetes.config.load_incluster_config(client_configuration=configuration)
                else:
                    raise K8sError("no Kubernetes API given: set host (and api_key) or kubeconfig, "
                                   "or create %s" % default_path)
            except K8sError:
                raise
            except Exception as exc:
                raise K8sError("cannot load the Kubernetes client configuration (kubeconfig %s, context %s): %s"
                               % (kubeconfig or default_path, context or "current", exc))
        if host:
            configuration.host = host
        if params.get("api_key"):
            configuration.api_key = {"authorization": "Bearer " + params["api_key"]}
        if params.get("ca_cert"):
            configuration.ssl_ca_cert = params["ca_cert"]
        if params.get("client_cert"):
            configuration.cert_file = params["client_cert"]
        if params.get("client_key"):
            configuration.key_file = params["client_key"]
        if params.get("validate_certs") is not None:
            configuration.verify_ssl = params["validate_certs"]
        if not configuration.verify_ssl and urllib3 is not None:
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        # Secrets read from a kubeconfig stay out of logs and output, as with api_key.
        for value in (configuration.api_key or {}).values():
            if value:
                self.module.no_log_values.add(value)
                self.module.no_log_values.add(value.split(" ", 1)[-1])
        if configuration.password:
            self.module.no_log_values.add(configuration.password)
        return configuration

    def resource(self, api_version, kind):
        """The API resource for ``kind``; MissingKindError when the server does not serve it."""
        try:
            return self.client.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            raise MissingKindError("the Kubernetes API at %s does not serve %s %s: its CustomResourceDefinition is "
                                   "not installed" % (self.configuration.host, api_version, kind))
        except (ApiException, DynamicApiError) as exc:
            raise K8sError("discovery of %s %s failed: %s" % (api_version, kind, api_error_message(exc)),
                           getattr(exc, "status", None))

    def _call(self, what, func, *args, **kwargs):
        try:
            result = func(*args, **kwargs)
        except (ApiException, DynamicApiError) as exc:
            raise K8sError("%s failed (HTTP %s): %s" % (what, getattr(exc, "status", "?"), api_error_message(exc)),
                           getattr(exc, "status", None), getattr(exc, "body", None))
        except Exception as exc:
            raise K8sError("%s failed: %s" % (what, exc))
        return result.to_dict() if hasattr(result, "to_dict") else result

    def get(self, resource, name, namespace=None):
        """The object as a dict, or None when it does not exist."""
        try:
            return self._call("reading %s %s/%s" % (resource.kind, namespace, name),
                              self.client.get, resource, name=name, namespace=namespace)
        except K8sError as exc:
            if exc.status == 404:
                return None
            raise

    def list(self, resource, namespace=None, label_selector=None):
        where = "namespace %s" % namespace if namespace else "all namespaces"
        result = self._call("listing %s in %s" % (resource.kind, where), self.client.get, resource,
                            namespace=namespace, label_selector=label_selector)
        return result.get("items") or []

    def apply(self, resource, body, dry_run=False, force=False):
        """Server-side apply ``body`` as field manager ``hybridmon``; returns the server's object."""
        meta = body["metadata"]
        kwargs = dict(body=body, name=meta["name"], namespace=meta.get("namespace"), field_manager=FIELD_MANAGER,
                      force_conflicts=True if force else None,
                      query_params=[("fieldValidation", "Strict")])
        if dry_run:
            kwargs["dry_run"] = "All"
        try:
            return self._call("applying %s %s/%s" % (resource.kind, meta.get("namespace"), meta["name"]),
                              self.client.server_side_apply, resource, **kwargs)
        except K8sError as exc:
            if exc.status == 409:
                exc.msg += (" (another field manager owns these fields; set force=true to take them over as "
                            "field manager %s)" % FIELD_MANAGER)
                exc.args = (exc.msg,)
            raise

    def delete(self, resource, name, namespace=None, dry_run=False):
        kwargs = dict(name=name, namespace=namespace)
        if dry_run:
            kwargs["dry_run"] = "All"
        try:
            return self._call("deleting %s %s/%s" % (resource.kind, namespace, name), self.client.delete,
                              resource, **kwargs)
        except K8sError as exc:
            if exc.status == 404:
                return None
            raise

    def namespace_labels(self, namespace):
        """Labels of a Namespace (needs read access to namespaces)."""
        try:
            ns_resource = self.client.resources.get(api_version="v1", kind="Namespace")
        except ResourceNotFoundError:
            raise K8sError("cannot read the labels of namespace %s: the API server does not serve v1 Namespace"
                           % namespace)
        obj = self.get(ns_resource, namespace)
        if obj is None:
            raise K8sError("namespace %s does not exist" % namespace)
        return (obj.get("metadata") or {}).get("labels") or {}


def apply_object(k8s, resource, desired, state, check_mode, force=False):
    """Make ``desired`` present (server-side apply) or absent; return ``(changed, before, after)``.

    ``before``/``after`` are the object without server-set metadata (None when absent). In check mode
    the server still validates everything: the apply runs as a dry run, and so does the delete.
    """
    meta = desired["metadata"]
    existing = k8s.get(resource, meta["name"], meta.get("namespace"))
    before = strip_server_fields(existing)
    if state == "absent":
        if existing is None:
            return False, None, None
        k8s.delete(resource, meta["name"], meta.get("namespace"), dry_run=check_mode)
        return True, before, None
    predicted = k8s.apply(resource, desired, dry_run=True, force=force)
    after = strip_server_fields(predicted)
    if existing is not None and before == after:
        return False, before, before
    if not check_mode:
        after = strip_server_fields(k8s.apply(resource, desired, force=force))
    return True, before, after


def find_prometheuses(k8s, release=None, name=None, namespace=None):
    """Prometheus custom resources of a kube-prometheus-stack release (or one named object).

    The chart labels its Prometheus object ``release: <release>`` (and ``app.kubernetes.io/instance``).
    """
    resource = k8s.resource(MONITORING_API, "Prometheus")
    if name:
        if not namespace:
            raise K8sError("prometheus_namespace is needed with prometheus_name")
        obj = k8s.get(resource, name, namespace)
        if obj is None:
            raise K8sError("Prometheus %s/%s does not exist" % (namespace, name))
        return [obj]
    for selector in ("release=%s" % release, "app.kubernetes.io/instance=%s" % release):
        found = k8s.list(resource, namespace=namespace, label_selector=selector)
        if found:
            return sorted(found, key=lambda p: (p["metadata"]["namespace"], p["metadata"]["name"]))
    raise K8sError("no Prometheus object of release %s found in %s (looked for labels release=%s and "
                   "app.kubernetes.io/instance=%s): is kube-prometheus-stack installed under that release name?"
                   % (release, "namespace %s" % namespace if namespace else "any namespace", release, release))


def labels_for_release(module, k8s, params, kind, labels, crd_hint, consequence):
    """Labels an object of ``kind`` needs so that the release's Prometheus objects select it.

    Reads the Prometheus custom resources of ``params['release']`` (or ``prometheus_name``), evaluates their
    selectors for ``kind`` and returns the selection plan (``labels``, ``added``, ``selected_by``). Fails the module
    with a message naming why when the object would not be selected; ``consequence`` says what that means
    ("so it would never be scraped").
    """
    # imported here: _k8s_selectors is pure Python and has no reason to import this module back
    from ansible_collections.hybridmon.monitoring.plugins.module_utils._k8s_selectors import (
        SelectorError,
        plan_selection,
    )
    p = params
    try:
        proms = find_prometheuses(k8s, p.get("release"), p.get("prometheus_name"), p.get("prometheus_namespace"))
    except MissingKindError as exc:
        module.fail_json(msg="%s; %s" % (exc.msg, crd_hint))
    ns_labels = p["namespace_labels"] if p.get("namespace_labels") is not None else k8s.namespace_labels
    try:
        plan = plan_selection(proms, kind, p["namespace"], labels, ns_labels, p["add_selector_labels"])
    except K8sError as exc:
        module.fail_json(msg="%s; give the namespace's labels in namespace_labels" % exc.msg)
    except SelectorError as exc:
        module.fail_json(msg="cannot evaluate the selectors of the Prometheus objects: %s" % exc)
    if not plan["selected_by"]:
        module.fail_json(
            msg="%s %s/%s would not be selected by %s, %s: %s" % (
                kind, p["namespace"], p["name"], "release %s" % p["release"] if p.get("release") else "that Prometheus",
                consequence, " | ".join(plan["reasons"])),
            reasons=plan["reasons"])
    return plan


def publish_for_release(module, params, result, kind, crd_hint, consequence, build):
    """Apply (or delete) one monitoring.coreos.com object of ``kind`` named by ``params`` and fill ``result``.

    With state=present the labels the release's Prometheus objects select by are added first (labels_for_release)
    and ``build(labels)`` returns the desired object; check mode is a server dry run; ``result`` gets ``changed``,
    ``result`` (the object as stored, server-set metadata left out), ``added_labels``/``selected_by`` and, in diff
    mode, the object before and after. Shared by helm_servicemonitor and prometheus_rule.
    """
    p = params
    try:
        k8s = K8sClient(module)
    except K8sError as exc:
        module.fail_json(msg=exc.msg)
    try:
        try:
            resource = k8s.resource(MONITORING_API, kind)
        except MissingKindError as exc:
            module.fail_json(msg="%s; %s" % (exc.msg, crd_hint))
        if p["state"] == "present":
            labels = dict((k, str(v)) for k, v in p["labels"].items())
            result["added_labels"] = {}
            if p.get("release") or p.get("prometheus_name"):
                plan = labels_for_release(module, k8s, p, kind, labels, crd_hint, consequence)
                labels = plan["labels"]
                result["selected_by"] = plan["selected_by"]
                result["added_labels"] = plan["added"]
            manifest = build(labels)
        else:
            manifest = {"apiVersion": MONITORING_API, "kind": kind,
                        "metadata": {"name": p["name"], "namespace": p["namespace"]}}
        changed, before, after = apply_object(k8s, resource, manifest, p["state"], module.check_mode, p["force"])
    except K8sError as exc:
        module.fail_json(msg=exc.msg, status=exc.status)
    finally:
        k8s.close()
    result["changed"] = changed
    result["result"] = after or {}
    if module._diff and changed:
        result["diff"] = {"before": before or {}, "after": after or {}}
