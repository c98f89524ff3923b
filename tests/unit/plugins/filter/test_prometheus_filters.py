# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for the prometheus filters (plugins/filter/prometheus.py) and their documentation files."""

import inspect
import os

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.hybridmon.monitoring.plugins.filter import prometheus as flt

FILTER_DIR = os.path.dirname(flt.__file__)

HOSTVARS = {
    "web1": {"ansible_host": "10.0.0.1", "env_name": "prod", "server_role": "web"},
    "web2": {"ansible_host": "10.0.0.2", "env_name": "prod", "server_role": "web", "node_exporter_port": 9200},
    "db1": {"env_name": "stage", "rack": 7},
    "v6": {"ansible_host": "2001:db8::5", "env_name": "prod", "server_role": "web"},
}


# ------------------------------------------------------------------ prometheus_file_sd_groups

def test_file_sd_groups_basic():
    out = flt.prometheus_file_sd_groups(["web1", "web2", "db1", "v6"], HOSTVARS, port=9100,
                                        port_var="node_exporter_port", job="node",
                                        label_vars={"env": "env_name"})
    assert out == [
        {"targets": ["10.0.0.1:9100", "10.0.0.2:9200", "[2001:db8::5]:9100"], "labels": {"env": "prod", "job": "node"}},
        {"targets": ["db1:9100"], "labels": {"env": "stage", "job": "node"}},
    ]


def test_file_sd_groups_label_vars_list_static_labels_and_missing_vars():
    out = flt.prometheus_file_sd_groups(["web1", "db1"], HOSTVARS, port=9100, labels={"dc": "seoul-1"},
                                        label_vars=["server_role", "rack"])
    # db1 has no server_role, web1 has no rack: those labels are simply absent; numbers become strings
    assert out == [
        {"targets": ["db1:9100"], "labels": {"dc": "seoul-1", "rack": "7"}},
        {"targets": ["10.0.0.1:9100"], "labels": {"dc": "seoul-1", "server_role": "web"}},
    ]


def test_file_sd_groups_inventory_name_when_address_var_disabled():
    out = flt.prometheus_file_sd_groups(["web1"], HOSTVARS, port=9100, address_var="")
    assert out == [{"targets": ["web1:9100"], "labels": {}}]


def test_file_sd_groups_single_host_string_and_order_independence():
    a = flt.prometheus_file_sd_groups(["web2", "web1"], HOSTVARS, port=9100)
    b = flt.prometheus_file_sd_groups(["web1", "web2"], HOSTVARS, port=9100)
    assert a == b
    assert flt.prometheus_file_sd_groups("web1", HOSTVARS, port=1) == [{"targets": ["10.0.0.1:1"], "labels": {}}]


def test_file_sd_groups_same_address_same_labels_is_deduplicated():
    hv = {"a": {"ansible_host": "10.0.0.9"}, "b": {"ansible_host": "10.0.0.9"}}
    assert flt.prometheus_file_sd_groups(["a", "b"], hv, port=9100) == [{"targets": ["10.0.0.9:9100"], "labels": {}}]


@pytest.mark.parametrize("kwargs, hosts, fragment", [
    (dict(), ["web1"], "no port for host 'web1'"),
    (dict(port_var="node_exporter_port"), ["web1"], "or the host variable 'node_exporter_port'"),
    (dict(port=70000), ["web1"], "host 'web1'"),
    (dict(port=9100), ["ghost"], "host 'ghost' is not in hostvars"),
    (dict(port=9100, labels={"__x": "y"}), ["web1"], "'__x' is reserved"),
    (dict(port=9100, label_vars={"bad-name": "env_name"}), ["web1"], "'bad-name'"),
    (dict(port=9100, label_vars="env_name"), ["web1"], "label_vars must be a mapping"),
    (dict(port=9100, job=""), ["web1"], "invalid job ''"),
    (dict(port=9100, job="a", labels={"job": "b"}), ["web1"], "job 'a' conflicts"),
    (dict(port=9100), [5], "host name 5 must be a string"),
])
def test_file_sd_groups_errors_name_the_bad_value(kwargs, hosts, fragment):
    with pytest.raises(AnsibleFilterError) as exc:
        flt.prometheus_file_sd_groups(hosts, HOSTVARS, **kwargs)
    assert fragment in str(exc.value)


def test_file_sd_groups_bad_address_and_label_value():
    hv = {"h": {"ansible_host": "bad host", "flag": True}}
    with pytest.raises(AnsibleFilterError, match="host 'h'.*'bad host:9100'"):
        flt.prometheus_file_sd_groups(["h"], hv, port=9100)
    hv = {"h": {"flag": True}}
    with pytest.raises(AnsibleFilterError, match="host 'h', variable 'flag'.*invalid value True"):
        flt.prometheus_file_sd_groups(["h"], hv, port=9100, label_vars=["flag"])


def test_file_sd_groups_conflicting_labels_for_one_address():
    hv = {"a": {"ansible_host": "10.0.0.9", "e": "x"}, "b": {"ansible_host": "10.0.0.9", "e": "y"}}
    with pytest.raises(AnsibleFilterError, match="'10.0.0.9:9100' comes from host 'a' and host 'b'"):
        flt.prometheus_file_sd_groups(["a", "b"], hv, port=9100, label_vars={"env": "e"})


def test_file_sd_groups_rejects_non_mapping_hostvars_and_input():
    with pytest.raises(AnsibleFilterError, match="hostvars must be a mapping"):
        flt.prometheus_file_sd_groups(["web1"], ["web1"], port=1)
    with pytest.raises(AnsibleFilterError, match="input must be a list"):
        flt.prometheus_file_sd_groups({"web1": 1}, HOSTVARS, port=1)


# ------------------------------------------------------------------ prometheus_duration

@pytest.mark.parametrize("value, output, expected", [
    ("90m", "string", "1h30m"),
    ("1h30m", "string", "1h30m"),
    ("60s", "string", "1m"),
    ("0", "string", "0s"),
    ("1h30m", "seconds", 5400.0),
    ("1500ms", "seconds", 1.5),
    ("1h30m", "milliseconds", 5400000),
    (30, "string", "30s"),
    (0.1, "milliseconds", 100),
    (1.5, "string", "1s500ms"),
])
def test_duration(value, output, expected):
    result = flt.prometheus_duration(value, output)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize("value, fragment", [
    ("1.5h", "'1.5h'"),
    ("30m1h", "'30m1h'"),
    ("15", "'15'"),
    ("", "''"),
    ("-5s", "'-5s'"),
    (True, "True"),
    (None, "None"),
    (-1, "-1"),
    (0.0001, "millisecond precision"),
    (float("nan"), "nan"),
    ("300y", "out of range"),
    (10 ** 13, "out of range"),
])
def test_duration_invalid(value, fragment):
    with pytest.raises(AnsibleFilterError) as exc:
        flt.prometheus_duration(value)
    assert fragment in str(exc.value)
    assert str(exc.value).startswith("prometheus_duration: ")


def test_duration_bad_output_option():
    with pytest.raises(AnsibleFilterError, match="invalid output 'hours'"):
        flt.prometheus_duration("1h", "hours")


# ------------------------------------------------------------------ prometheus_label_name

def test_label_name():
    assert flt.prometheus_label_name("env") == "env"
    assert flt.prometheus_label_name("__metrics_path__", allow_reserved=True) == "__metrics_path__"
    assert flt.prometheus_label_name("app.kubernetes.io/name", sanitize=True) == "app_kubernetes_io_name"
    assert flt.prometheus_label_name("0day", sanitize=True) == "_0day"


@pytest.mark.parametrize("value, kwargs, fragment", [
    ("my-label", {}, "invalid label name 'my-label'"),
    ("__address__", {}, "'__address__' is reserved"),
    ("__x.y", {"sanitize": True}, "'__x_y' is reserved"),
    (5, {}, "must be a string"),
])
def test_label_name_invalid(value, kwargs, fragment):
    with pytest.raises(AnsibleFilterError) as exc:
        flt.prometheus_label_name(value, **kwargs)
    assert fragment in str(exc.value)


# ------------------------------------------------------------------ plugin wiring and documentation

def test_filter_module_exports():
    assert set(flt.FilterModule().filters()) == {
        "prometheus_file_sd_groups", "prometheus_duration", "prometheus_label_name"}


@pytest.mark.parametrize("name", sorted(flt.FilterModule().filters()))
def test_every_filter_has_a_doc_file_matching_its_signature(name):
    doc_path = os.path.join(FILTER_DIR, name + ".yml")
    with open(doc_path) as fh:
        doc = yaml.safe_load(fh)
    assert doc["DOCUMENTATION"]["name"] == name
    assert doc["EXAMPLES"].strip() and doc["RETURN"]["_value"]
    documented = set(doc["DOCUMENTATION"]["options"])
    params = list(inspect.signature(flt.FilterModule().filters()[name]).parameters)
    # the first parameter is the piped input
    assert documented == {"_input"} | set(params[1:])
    positional = [p.strip() for p in doc["DOCUMENTATION"]["positional"].split(",")]
    assert positional == ["_input"] + params[1:len(positional)]
    for opt, spec in doc["DOCUMENTATION"]["options"].items():
        if "default" in spec:
            assert inspect.signature(flt.FilterModule().filters()[name]).parameters[opt].default == spec["default"]
