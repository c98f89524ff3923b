# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""cli_flags filter: a mapping of flag names to values -> the command-line flags of a Go service."""

import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.six import string_types

_FLAG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _quote(value):
    """Quote for a systemd ExecStart= line: whitespace, quotes, backslashes and % need care."""
    text = str(value).replace("%", "%%")
    if re.search(r'[\s"\'\\;$]', text):
        text = '"%s"' % text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "$$")
    return text


def cli_flags(mapping, systemd=True):
    if not isinstance(mapping, dict):
        raise AnsibleFilterError("cli_flags expects a mapping of flag name to value, got %s: %r"
                                 % (type(mapping).__name__, mapping))
    out = []
    for name, value in mapping.items():
        if not isinstance(name, string_types) or not _FLAG_NAME.match(name.lstrip("-")):
            raise AnsibleFilterError("cli_flags: bad flag name %r (letters, digits, '.', '_', '-')" % (name,))
        flag = "--" + name.lstrip("-")
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            if v is True:
                out.append(flag)
            elif v is False or v is None or (isinstance(v, string_types) and v == ""):
                continue
            elif isinstance(v, (dict, list, tuple)):
                raise AnsibleFilterError("cli_flags: value of %s must be a scalar, got %r" % (flag, v))
            else:
                out.append("%s=%s" % (flag, _quote(v) if systemd else v))
    return out


class FilterModule(object):
    def filters(self):
        return {"cli_flags": cli_flags}
