# Copyright (c) hybridmon.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""TEST DOUBLE of the grafana.com dashboard download API. It is NOT grafana.com.

grafana.com cannot be reached from the test machines, so this stdlib-only server answers the two
public endpoints the collection uses:

* ``GET /api/dashboards/<id>``                           -> {"id", "name", "revision" (latest), ...}
* ``GET /api/dashboards/<id>/revisions/<rev>/download``  -> the dashboard JSON of that revision

for the three dashboard ids named in the guide (1860, 7362, 10231). The dashboards it serves are
small stand-ins written for the tests (same ids, titles and ``__inputs``/``DS_PROMETHEUS`` shape
as exported dashboards, a few panels with the guide's queries), not copies of the published ones.
It counts requests so tests can prove that cached runs make none.

Run:     python3 grafana_com_double.py --port 8089
Import:  GrafanaComDouble(port=0).start() -> .url ; .requests ; .stop()
"""

import argparse
import json
import re
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# id -> (name, latest revision, [(panel title, expr, legend)])
CATALOG = {
    1860: ("Node Exporter Full", 37, [
        ("CPU Busy", '100 - (avg by(instance) (rate(node_cpu_seconds_total{mode="idle"}[5m])) * 100)', "{{instance}}"),
        ("RAM Used", "(1 - (node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)) * 100", "{{instance}}"),
        ("Disk I/O", "rate(node_disk_read_bytes_total[5m]) + rate(node_disk_written_bytes_total[5m])", "{{device}}"),
        ("Network Traffic", "rate(node_network_receive_bytes_total[5m]) + rate(node_network_transmit_bytes_total[5m])",
         "{{device}}"),
    ]),
    7362: ("MySQL Overview", 5, [
        ("MySQL Connections", "mysql_global_status_threads_connected", "Connections"),
        ("MySQL Questions", "rate(mysql_global_status_queries[5m])", "Queries"),
        ("Buffer Pool Efficiency",
         "mysql_global_status_innodb_buffer_pool_read_requests / mysql_global_status_innodb_buffer_pool_reads * 100",
         "Efficiency"),
        ("Slow Queries", "mysql_global_status_slow_queries", "Slow queries"),
    ]),
    10231: ("Spring Boot Micrometer", 1, [
        ("HTTP Request Rate", "sum(rate(http_server_requests_seconds_count[5m])) by (uri, status)", "{{uri}} {{status}}"),
        ("p95 Response Time",
         "histogram_quantile(0.95, sum(rate(http_server_requests_seconds_bucket[5m])) by (le, uri))", "{{uri}}"),
        ("JVM Heap Used", "jvm_memory_used_bytes / jvm_memory_max_bytes * 100", "{{area}}"),
        ("GC Pauses", "rate(jvm_gc_pause_seconds_count[5m])", "{{action}}"),
    ]),
}


def dashboard_json(dash_id, revision):
    """The stand-in export of ``dash_id`` at ``revision`` (deterministic)."""
    name, _latest, panels = CATALOG[dash_id]
    return {
        "__inputs": [{"name": "DS_PROMETHEUS", "label": "Prometheus", "description": "", "type": "datasource",
                      "pluginId": "prometheus", "pluginName": "Prometheus"}],
        "__requires": [{"type": "grafana", "id": "grafana", "name": "Grafana", "version": "10.0.0"},
                       {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"}],
        "id": None,
        "uid": "gcom-%d" % dash_id,
        "title": name,
        "description": "grafana.com double stand-in for dashboard %d revision %d" % (dash_id, revision),
        "tags": ["grafana-com-double"],
        "editable": True,
        "schemaVersion": 39,
        "version": revision,
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [{"name": "instance", "type": "query",
                                 "datasource": {"type": "prometheus", "uid": "${DS_PROMETHEUS}"},
                                 "query": "label_values(up, instance)", "refresh": 1}]},
        "panels": [{
            "id": i + 1, "type": "timeseries", "title": title,
            "datasource": {"type": "prometheus", "uid": "${DS_PROMETHEUS}"},
            "gridPos": {"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i // 2) * 8},
            "targets": [{"refId": "A", "expr": expr, "legendFormat": legend,
                         "datasource": {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}}],
        } for i, (title, expr, legend) in enumerate(panels)],
    }


class GrafanaComDouble:
    def __init__(self, host="127.0.0.1", port=0):
        self.host = host
        self.port = port
        self.requests = []
        self.server = None

    def start(self):
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def _send(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                double.requests.append(self.path)
                m = re.match(r"^/api/dashboards/(\d+)(?:/revisions/(\d+)/download)?/?$", self.path.split("?")[0])
                if not m or int(m.group(1)) not in CATALOG:
                    return self._send(404, {"code": "NotFound", "message": "Dashboard not found"})
                dash_id = int(m.group(1))
                name, latest, _panels = CATALOG[dash_id]
                if m.group(2) is None:
                    return self._send(200, {"id": dash_id, "name": name, "revision": latest,
                                            "slug": re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-"),
                                            "datasource": "Prometheus"})
                rev = int(m.group(2))
                if rev < 1 or rev > latest:
                    return self._send(404, {"code": "NotFound", "message": "Revision not found"})
                return self._send(200, dashboard_json(dash_id, rev))

        self.server = ThreadingHTTPServer((self.host, self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self):
        return "http://%s:%d" % (self.host, self.port)

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def main(argv=None):
    parser = argparse.ArgumentParser(description="grafana.com dashboard API TEST DOUBLE (not grafana.com)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    args = parser.parse_args(argv)
    double = GrafanaComDouble(args.host, args.port).start()
    sys.stderr.write("grafana.com double listening on %s (TEST DOUBLE)\n" % double.url)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    double.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
