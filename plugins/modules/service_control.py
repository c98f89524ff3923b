#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: service_control
short_description: Start, restart or reload a systemd service only when its inputs changed, and prove it is up
description:
  - Keeps a systemd service enabled and running and decides by content hashes whether it must be restarted (binary,
    unit or flags changed, see O(restart_on)) or only reloaded (configuration changed, see O(reload_on)). The hashes of the inputs
    the running service was last (re)started or reloaded with are recorded on the host, so a change made in a run that
    failed before the service was touched is still applied by the next run (a notified handler would be lost).
  - After every start, restart or reload it proves the service is up; it polls O(ready_url) until it answers
    O(ready_status), and after a reload it waits until the service reports a successful reload newer than the request
    (O(reload_metric)). A service that does not come up, or restarts behind our back while we wait, fails the task
    with the last lines of its journal.
version_added: 0.1.0
author:
  - hybridmon.monitoring developers (@hybridmon)
options:
  name:
    description: Unit name without C(.service).
    type: str
    required: true
  state:
    description:
      - C(started) starts the service if needed and applies pending restarts/reloads;
        C(restarted) and C(reloaded) force that action.
    type: str
    choices: [started, restarted, reloaded]
    default: started
  enabled:
    description: Whether the service starts at boot.
    type: bool
    default: true
  daemon_reload:
    description: Run C(systemctl daemon-reload) first when a unit input changed (or always when C(true) and forced).
    type: bool
    default: true
  files:
    description:
      - Configuration files (and the unit) to write first, in the same call, exactly as M(hybridmon.monitoring.config_files)
        does (validated, all or nothing, secrets masked). A changed unit (C(*.service)) or a file listed in
        O(restart_on) restarts the service; any other changed file reloads it.
    type: list
    elements: dict
    default: []
  restart_on:
    description: Files whose content change requires a restart (unit file, release state, flags).
    type: list
    elements: path
    default: []
  reload_on:
    description: Files whose content change requires a reload (configuration, rules).
    type: list
    elements: path
    default: []
  restart:
    description: Force a restart (for example because an earlier task reported a change in check mode).
    type: bool
    default: false
  reload:
    description: Force a reload.
    type: bool
    default: false
  ready_url:
    description: URL that answers O(ready_status) once the service is ready (for example C(http://127.0.0.1:9090/-/ready)).
    type: str
  ready_status:
    description: Expected HTTP status of O(ready_url).
    type: int
    default: 200
  ready_timeout:
    description: Seconds to wait for readiness.
    type: int
    default: 60
  reload_metric:
    description:
      - Prefix of the service's reload metrics on O(metrics_url), for example C(prometheus_config_last_reload).
        After a reload the module waits for C(<prefix>_successful 1) with C(<prefix>_success_timestamp_seconds) not older
        than the reload. Without it a reload is proven by O(ready_url) only.
    type: str
  metrics_url:
    description: URL of the service's own metrics (for O(reload_metric)).
    type: str
  validate_certs:
    description: Verify TLS certificates of O(ready_url) and O(metrics_url).
    type: bool
    default: true
  url_username:
    description:
      - User name for HTTP basic authentication at O(ready_url) and O(metrics_url), for a service that requires it
        (for example an exporter with C(basic_auth_users) in its exporter-toolkit web config).
      - The credentials are sent with the first request (no unauthenticated request first).
    type: str
  url_password:
    description:
      - Password for O(url_username). Never logged or returned; messages name the URL and the HTTP status only.
    type: str
  state_dir:
    description: Where the input hashes are recorded.
    type: path
    default: /var/lib/hybridmon/services
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Reports the action that would be taken; nothing is started, reloaded or recorded.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
"""

EXAMPLES = r"""
- name: Keep Prometheus running with its current binary, unit and config
  become: true
  hybridmon.monitoring.service_control:
    name: prometheus
    restart_on: [/etc/systemd/system/prometheus.service, /usr/local/lib/hybridmon/prometheus/state.json]
    reload_on: [/etc/prometheus/prometheus.yml]
    ready_url: http://127.0.0.1:9090/-/ready
    metrics_url: http://127.0.0.1:9090/metrics
    reload_metric: prometheus_config_last_reload

- name: Restart node_exporter behind TLS and basic auth, proven ready with an authenticated request
  become: true
  hybridmon.monitoring.service_control:
    name: node_exporter
    state: restarted
    ready_url: https://127.0.0.1:9100/
    validate_certs: false
    url_username: prometheus
    url_password: "{{ node_exporter_probe_password }}"
"""

RETURN = r"""
action:
  description: What was done (or would be done in check mode).
  returned: always
  type: str
  sample: reloaded
  choices: [none, started, restarted, reloaded]
reasons:
  description: Why that action was needed.
  returned: always
  type: list
  elements: str
ready_seconds:
  description: How long the service took to prove ready.
  returned: when an action was taken outside check mode
  type: float
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.hybridmon.monitoring.plugins.module_utils._service import (
    SERVICE_REQUIRED_TOGETHER,
    SERVICE_SPEC,
    ServiceController,
    ServiceError,
)


def main():
    spec = dict(SERVICE_SPEC)
    spec["name"] = dict(type="str", required=True)
    module = AnsibleModule(
        argument_spec=spec,
        required_together=SERVICE_REQUIRED_TOGETHER,
        supports_check_mode=True,
        # file contents (credentials) and probe passwords travel in nested options: keep the arguments out of the
        # host's system log altogether; results are masked through no_log_values
        no_log=True,
    )
    try:
        module.exit_json(**ServiceController(module, module.params).run())
    except ServiceError as e:
        module.fail_json(msg=to_native(e))
    except (IOError, OSError) as e:
        module.fail_json(msg="%s: %s" % (getattr(e, "filename", None) or "service_control", to_native(e)))


if __name__ == "__main__":
    main()
