#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: config_files
short_description: Write several validated configuration files in one step, all or nothing
description:
  - Compares each file's wanted content, owner, group and mode with what is on the host and writes only what differs,
    in one module call instead of a template task per file.
  - Every changed file with a C(validate) command is first written to a temporary file in the destination's directory
    and checked (for example C(promtool check config %s)); if any check fails, no file is replaced and the task fails with
    the tool's own message, so a broken configuration never reaches the running service.
  - Files are replaced atomically (rename in the same directory).
  - Files marked C(secret) are never shown in a diff, only their checksums.
version_added: 0.1.0
author:
  - hybridmon.monitoring developers (@hybridmon)
options:
  files:
    description: The files to manage.
    type: list
    elements: dict
    required: true
    suboptions:
      dest:
        description: Absolute destination path; its directory must exist.
        type: path
        required: true
      content:
        description: Wanted content.
        type: str
        required: true
      owner:
        description: Owner name.
        type: str
        default: root
      group:
        description: Group name.
        type: str
        default: root
      mode:
        description: Mode as a quoted octal string.
        type: str
        default: "0644"
      validate:
        description: Command run on the candidate file (C(%s) is replaced with its path) before it replaces C(dest).
        type: str
      secret:
        description: The content holds secrets; the diff shows checksums only.
        type: bool
        default: false
  validate_in_check_mode:
    description: Run the validate commands in check mode too (on a copy in a private temporary directory).
    type: bool
    default: true
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Computes the real comparison and, by default, runs the validators on a private copy, so C(--check) also
      reports a configuration the service would reject.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
"""

EXAMPLES = r"""
- name: Write prometheus.yml and a rule file, each checked by promtool
  become: true
  hybridmon.monitoring.config_files:
    files:
      - dest: /etc/prometheus/rules/custom.yml
        content: "{{ lookup('ansible.builtin.file', 'custom.rules.yml') }}"
        group: prometheus
        mode: "0640"
        validate: /usr/local/bin/promtool check rules %s
      - dest: /etc/prometheus/prometheus.yml
        content: "{{ lookup('ansible.builtin.template', 'prometheus.yml.j2') }}"
        group: prometheus
        mode: "0640"
        validate: /usr/local/bin/promtool check config %s
"""

RETURN = r"""
changed_files:
  description: Destinations whose content or attributes changed (or would change in check mode).
  returned: always
  type: list
  elements: str
content_changed:
  description: Destinations whose content changed.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.hybridmon.monitoring.plugins.module_utils._config_files import (
    FILE_SPEC,
    ConfigError,
    apply_files,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            files=dict(type="list", elements="dict", required=True, options=FILE_SPEC),
            validate_in_check_mode=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
        # file contents (credentials) and probe passwords travel in nested options: keep the arguments out of the
        # host's system log altogether; results are masked through no_log_values
        no_log=True,
    )
    try:
        changed_files, content_changed, diffs = apply_files(module, module.params["files"],
                                                            module.params["validate_in_check_mode"])
    except ConfigError as e:
        module.fail_json(msg=to_native(e))
    except (IOError, OSError) as e:
        module.fail_json(msg="%s: %s" % (getattr(e, "filename", None) or "config_files", to_native(e)))
    result = dict(changed=bool(changed_files), changed_files=changed_files, content_changed=content_changed)
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
