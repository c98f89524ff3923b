# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for the private file_sd helpers (_prometheus_sd)."""

import pytest

from ansible_collections.hybridmon.monitoring.plugins.module_utils import _prometheus_sd as sd


# ---------------------------------------------------------------- targets

@pytest.mark.parametrize("target, host, port", [
    ("localhost:9100", "localhost", 9100),
    ("db1.example.com:9104", "db1.example.com", 9104),
    ("10.0.0.5:1", "10.0.0.5", 1),
    ("node_1.internal:65535", "node_1.internal", 65535),
    ("[::1]:9100", "::1", 9100),
    ("[2001:db8::10]:9104", "2001:db8::10", 9104),
    ("fqdn.example.com.:80", "fqdn.example.com.", 80),
])
def test_parse_target_valid(target, host, port):
    assert sd.parse_target(target) == (host, port)
    assert sd.validate_target(target) == target


@pytest.mark.parametrize("target, fragment", [
    ("localhost", "missing port"),
    ("localhost:", "port ''"),
    ("localhost:0", "port '0'"),
    ("localhost:65536", "port 65536 is out of range"),
    ("localhost:09100", "without leading zeros"),
    ("localhost:+80", "port '+80'"),
    (":9100", "host part is empty"),
    ("::1:9100", "must be written in brackets"),
    ("[::1]", "missing port"),
    ("[::1:9100", "missing ']'"),
    ("[not-ipv6]:9100", "'not-ipv6' is not a valid IPv6 address"),
    ("999.1.1.1:9100", "'999.1.1.1' is not a valid IPv4 address"),
    ("-bad.example.com:9100", "not a valid host name"),
    ("bad..example.com:9100", "not a valid host name"),
    ("a" * 64 + ".example.com:9100", "not a valid host name"),
    ("http://web:80", "not a URL"),
    ("web:80/metrics", "not a URL"),
    (" web:80", "without whitespace"),
    ("", "without whitespace"),
])
def test_parse_target_invalid_names_the_value(target, fragment):
    with pytest.raises(sd.PrometheusSDError) as exc:
        sd.parse_target(target)
    assert fragment in str(exc.value)
    assert repr(target) in str(exc.value)


def _outcome(func, value):
    try:
        return ("ok", func(value))
    except sd.PrometheusSDError as exc:
        return ("error", str(exc))


def test_fast_path_agrees_with_full_checks():
    """The one-regex fast path must accept exactly what the detailed checks accept."""
    hosts = ["a", "web-1", "web_1", "-a", "a-", "a..b", "a.b.", ".a", "1.2.3.4", "1.2.3.400", "1.2.3", "12",
             "x" * 63, "x" * 64, ".".join(["x" * 63] * 4), ".".join(["x" * 63] * 3) + "." + "x" * 61,
             ".".join(["x" * 63] * 3) + "." + "x" * 61 + ".", ".".join(["x" * 63] * 3) + "." + "x" * 62,
             "[::1]", "::1", "é.example", "a b", ""]
    ports = ["1", "80", "65535", "65536", "99999", "100000", "0", "080", "", "-1", "9x"]
    for host in hosts:
        for port in ports:
            target = "%s:%s" % (host, port)
            assert _outcome(sd.parse_target, target) == _outcome(sd._parse_target_checked, target), target


def test_parse_target_rejects_non_string():
    with pytest.raises(sd.PrometheusSDError, match="must be a string 'host:port', got int"):
        sd.parse_target(9100)


@pytest.mark.parametrize("host, port, expected", [
    ("web1", 9100, "web1:9100"),
    ("10.1.2.3", "9100", "10.1.2.3:9100"),
    ("2001:db8::1", 9100, "[2001:db8::1]:9100"),
    ("[2001:db8::1]", 9100, "[2001:db8::1]:9100"),
])
def test_join_host_port(host, port, expected):
    assert sd.join_host_port(host, port) == expected


@pytest.mark.parametrize("host, port, fragment", [
    ("", 9100, "invalid host ''"),
    ("web1", True, "invalid port True"),
    ("web1", 70000, "out of range"),
    ("web 1", 9100, "without whitespace"),
])
def test_join_host_port_invalid(host, port, fragment):
    with pytest.raises(sd.PrometheusSDError, match=fragment):
        sd.join_host_port(host, port)


# ---------------------------------------------------------------- labels

@pytest.mark.parametrize("name", ["job", "env", "_private", "a1", "A_B_9"])
def test_label_name_valid(name):
    assert sd.validate_label_name(name) == name


@pytest.mark.parametrize("name, fragment", [
    ("1abc", "must match"),
    ("my-label", "must match"),
    ("app.kubernetes.io/name", "must match"),
    ("", "must match"),
    ("état", "must match"),
    ("__address__", "is reserved"),
    ("__meta_x", "is reserved"),
])
def test_label_name_invalid(name, fragment):
    with pytest.raises(sd.PrometheusSDError) as exc:
        sd.validate_label_name(name)
    assert fragment in str(exc.value)
    assert repr(name) in str(exc.value)


def test_label_name_reserved_allowed_on_request():
    assert sd.validate_label_name("__metrics_path__", allow_reserved=True) == "__metrics_path__"


def test_label_name_trailing_newline_is_invalid():
    # A '$'-anchored regex would accept this; fullmatch must not.
    with pytest.raises(sd.PrometheusSDError):
        sd.validate_label_name("env\n")


@pytest.mark.parametrize("name, expected", [
    ("app.kubernetes.io/name", "app_kubernetes_io_name"),
    ("9lives", "_9lives"),
    ("my-label", "my_label"),
    ("ok_name", "ok_name"),
])
def test_sanitize_label_name(name, expected):
    assert sd.sanitize_label_name(name) == expected


def test_sanitize_label_name_still_refuses_reserved_and_empty():
    with pytest.raises(sd.PrometheusSDError, match="reserved"):
        sd.sanitize_label_name("__x-y")
    with pytest.raises(sd.PrometheusSDError, match="cannot be empty"):
        sd.sanitize_label_name("")


def test_normalize_labels_converts_numbers_and_sorts():
    out = sd.normalize_labels({"rack": 12, "env": "prod", "ratio": 0.5})
    assert out == {"env": "prod", "rack": "12", "ratio": "0.5"}
    assert list(out) == ["env", "rack", "ratio"]


@pytest.mark.parametrize("labels, fragment", [
    ({"flag": True}, "invalid value True for label 'flag'"),
    ({"x": None}, "invalid value None for label 'x'"),
    ({"x": ["a"]}, "for label 'x'"),
    ({"bad-name": "v"}, "'bad-name'"),
    (["env"], "must be a mapping"),
])
def test_normalize_labels_invalid(labels, fragment):
    with pytest.raises(sd.PrometheusSDError) as exc:
        sd.normalize_labels(labels)
    assert fragment in str(exc.value)


# ---------------------------------------------------------------- durations

@pytest.mark.parametrize("text, ms", [
    ("0", 0),
    ("0s", 0),
    ("15s", 15000),
    ("1h30m", 5400000),
    ("90m", 5400000),
    ("1y", 365 * 86400000),
    ("2w", 14 * 86400000),
    ("1d2h3m4s5ms", 86400000 + 2 * 3600000 + 3 * 60000 + 4000 + 5),
    ("5ms", 5),
    ("1m5ms", 60005),
])
def test_parse_duration(text, ms):
    assert sd.parse_duration(text) == ms


@pytest.mark.parametrize("text", ["", "15", "1.5h", "30m1h", "-5s", "5 s", "1h ", "5S", "1mo", "1h1h", "s"])
def test_parse_duration_invalid(text):
    with pytest.raises(sd.PrometheusSDError) as exc:
        sd.parse_duration(text)
    assert repr(text) in str(exc.value)


def test_parse_duration_out_of_range():
    with pytest.raises(sd.PrometheusSDError, match="out of range"):
        sd.parse_duration("300y")
    assert sd.parse_duration("292y") == 292 * 365 * 86400000


@pytest.mark.parametrize("ms, text", [
    (0, "0s"),
    (15000, "15s"),
    (5400000, "1h30m"),
    (90 * 86400000, "90d"),        # not 12w6d: weeks only when they divide exactly
    (14 * 86400000, "2w"),
    (365 * 86400000, "1y"),
    (366 * 86400000, "366d"),
    (60005, "1m5ms"),
    (1500, "1s500ms"),
])
def test_format_duration(ms, text):
    assert sd.format_duration(ms) == text


def test_format_duration_round_trips():
    for text in ["1h30m", "15s", "2w", "1y", "90d", "1d2h3m4s5ms", "500ms"]:
        assert sd.normalize_duration(text) == text


def test_format_duration_rejects_negative_and_bool():
    with pytest.raises(sd.PrometheusSDError):
        sd.format_duration(-1)
    with pytest.raises(sd.PrometheusSDError):
        sd.format_duration(True)


# ---------------------------------------------------------------- groups

def test_groups_from_data_merges_identical_label_sets_and_sorts():
    data = [
        {"targets": ["b:1", "a:1"], "labels": {"job": "node"}},
        {"targets": ["c:1"]},
        {"targets": ["d:1", "a:1"], "labels": {"job": "node"}},
        {"targets": [], "labels": {"job": "empty"}},
    ]
    model = sd.groups_from_data(data)
    assert sd.render_groups(model) == [
        {"targets": ["c:1"], "labels": {}},
        {"targets": ["a:1", "b:1", "d:1"], "labels": {"job": "node"}},
    ]


def test_groups_from_data_accepts_numeric_label_values_from_yaml():
    model = sd.groups_from_data([{"targets": ["a:1"], "labels": {"rack": 12}}])
    assert sd.render_groups(model) == [{"targets": ["a:1"], "labels": {"rack": "12"}}]


@pytest.mark.parametrize("data, fragment", [
    ({"targets": []}, "expected a list of target groups"),
    (["a:1"], "group 0: expected a mapping"),
    ([{"targets": "a:1"}], "'targets' must be a list of strings"),
    ([{"targets": [1]}], "'targets' must be a list of strings"),
    ([{"targets": ["a:1"], "labels": ["x"]}], "'labels' must be a mapping"),
    ([{"targets": ["a:1"], "labels": {"x": True}}], "label 'x'"),
    ([{"targets": ["a:1"], "extra": 1}], "unknown key(s) 'extra'"),
])
def test_groups_from_data_invalid(data, fragment):
    with pytest.raises(sd.PrometheusSDError) as exc:
        sd.groups_from_data(data, source="/x.json")
    assert fragment in str(exc.value)
    assert "/x.json" in str(exc.value)


def _model(*groups):
    return sd.groups_from_data([{"targets": list(t), "labels": l} for t, l in groups])


def test_apply_present_adds_to_matching_group():
    before = _model((["a:1"], {"job": "n"}))
    after = sd.apply_change(before, ["b:1"], {"job": "n"})
    assert sd.render_groups(after) == [{"targets": ["a:1", "b:1"], "labels": {"job": "n"}}]
    # the input model is not modified
    assert sd.render_groups(before) == [{"targets": ["a:1"], "labels": {"job": "n"}}]


def test_apply_present_moves_target_with_new_labels():
    before = _model((["a:1", "b:1"], {"env": "prod"}))
    after = sd.apply_change(before, ["a:1"], {"env": "stage"})
    assert sd.render_groups(after) == [
        {"targets": ["b:1"], "labels": {"env": "prod"}},
        {"targets": ["a:1"], "labels": {"env": "stage"}},
    ]
    assert sd.summarize_change(before, after) == ([], [], ["a:1"])


def test_apply_present_unchanged_is_equal():
    before = _model((["a:1", "b:1"], {"env": "prod"}))
    assert sd.apply_change(before, ["a:1"], {"env": "prod"}) == before


def test_apply_exclusive_keeps_only_named():
    before = _model((["a:1", "b:1"], {"env": "prod"}), (["c:1"], {}))
    after = sd.apply_change(before, ["b:1", "z:1"], {"env": "prod"}, exclusive=True)
    assert sd.render_groups(after) == [{"targets": ["b:1", "z:1"], "labels": {"env": "prod"}}]
    assert sd.summarize_change(before, after) == (["z:1"], ["a:1", "c:1"], [])


def test_apply_exclusive_with_no_targets_empties():
    before = _model((["a:1"], {}))
    assert sd.apply_change(before, [], {}, exclusive=True) == {}


def test_apply_absent_removes_whatever_labels():
    before = _model((["a:1", "b:1"], {"env": "prod"}), (["a:1", "c:1"], {"env": "stage"}))
    after = sd.apply_change(before, ["a:1", "nope:1"], {}, state="absent")
    assert sd.render_groups(after) == [
        {"targets": ["b:1"], "labels": {"env": "prod"}},
        {"targets": ["c:1"], "labels": {"env": "stage"}},
    ]
    assert sd.summarize_change(before, after) == ([], ["a:1"], [])


def test_render_is_deterministic_regardless_of_input_order():
    a = _model((["x:1", "y:1"], {"b": "2", "a": "1"}), (["z:1"], {}))
    b = _model((["z:1"], {}), (["y:1", "x:1"], {"a": "1", "b": "2"}))
    assert sd.render_groups(a) == sd.render_groups(b)
    assert list(sd.render_groups(a)[1]["labels"]) == ["a", "b"]
