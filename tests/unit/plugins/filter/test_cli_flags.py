import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.hybridmon.monitoring.plugins.filter.cli_flags import cli_flags


def test_flags_in_order_with_bools_lists_and_empties():
    got = cli_flags({"config.file": "/etc/p.yml", "web.enable-lifecycle": True, "web.enable-admin-api": False,
                     "web.external-url": "", "collector.x": None, "enable-feature": ["a", "b"]})
    assert got == ["--config.file=/etc/p.yml", "--web.enable-lifecycle", "--enable-feature=a", "--enable-feature=b"]


def test_values_are_quoted_for_systemd():
    assert cli_flags({"web.page-title": 'My "Prom" 100%'}) == ['--web.page-title="My \\"Prom\\" 100%%"']
    assert cli_flags({"a": "x y"}, systemd=False) == ["--a=x y"]


@pytest.mark.parametrize("bad,needle", [({"bad name": 1}, "bad flag name 'bad name'"),
                                        ({"a": {"b": 1}}, "must be a scalar"), ([1], "expects a mapping")])
def test_bad_input_names_the_value(bad, needle):
    with pytest.raises(AnsibleFilterError, match=needle):
        cli_flags(bad)
