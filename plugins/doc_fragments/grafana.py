# -*- coding: utf-8 -*-
# Copyright (c) hybridmon.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


class ModuleDocFragment:
    # Connection options of every grafana_* module; mirrors grafana_argument_spec() in module_utils/_grafana.py.
    DOCUMENTATION = r"""
options:
  url:
    description:
      - Base URL of the Grafana server, for example V(https://grafana.example.com) or V(http://localhost:3000).
      - If not set, the environment variable E(GRAFANA_URL) is used.
    type: str
    default: http://localhost:3000
    aliases: [grafana_url]
  url_username:
    description:
      - User name for HTTP basic authentication (a Grafana user, for example the admin).
      - If not set, the environment variable E(GRAFANA_USER) is used.
      - Ignored when O(token) is set.
    type: str
    aliases: [grafana_user]
  url_password:
    description:
      - Password for HTTP basic authentication.
      - If not set, the environment variable E(GRAFANA_PASSWORD) is used.
      - Never shown in output or error messages.
    type: str
    aliases: [grafana_password]
  token:
    description:
      - Service account token (or legacy API key), sent as a C(Bearer) token in the C(Authorization) header.
      - If not set, the environment variable E(GRAFANA_TOKEN) is used.
      - Takes precedence over O(url_username)/O(url_password).
      - Never shown in output or error messages.
    type: str
    aliases: [grafana_api_key]
  validate_certs:
    description:
      - Verify the TLS certificate of Grafana (and of any download URL).
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait for each HTTP request.
    type: int
    default: 30
notes:
  - These modules talk to Grafana over HTTP from the host they run on. Run them on the Grafana host itself or
    with C(delegate_to=localhost) when the controller can reach Grafana.
  - Errors name the operation, the HTTP status and its meaning (401 bad credentials, 404 missing object,
    412 version conflict, unreachable URL); credentials never appear in messages.
"""
