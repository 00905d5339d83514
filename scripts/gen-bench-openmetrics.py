#!/usr/bin/env python3
"""Deterministic OpenMetrics generator for scripts/bench-vs-promtool.sh.

Writes OpenMetrics text (every sample timestamped, ending in "# EOF") suitable for
`promtool tsdb create-blocks-from openmetrics`. Output is streamed family by family, so
memory stays small (only one metric family's label sets are held for de-duplication).

Profiles:
  analyze  many series, few samples each (4-8 at 30s): the block is dominated by the index.
  dump     fewer series, a full 2h of samples at 15s with realistic value patterns
           (counters with the odd reset, gauges with decimals, constants, a few NaNs).

All samples fall inside one 2h window [start, start+2h) with start aligned to 2h, so
promtool writes exactly one block. With --hours N the window is N hours (start aligned to N
hours), for promtool's --max-block-duration=Nh (scripts/bench-downsample.sh makes 48 h
blocks). The same seed/profile/series always give the same bytes.

Python 3 standard library only.
"""

import argparse
import math
import random
import sys

DEFAULT_START = 1700006400  # 2023-11-15T00:00:00Z, a multiple of 7200 s

# ---------------------------------------------------------------------------------------
# Metric catalogue: (name, type, shape, weight, value kind)
#   type:   OpenMetrics family type ("counter" families get a _total sample name)
#   shape:  which label generator to use (see LabelPools.labels_for)
#   weight: relative share of the series budget
#   kind:   value pattern for the dump profile
# The catalogue is ordered so the last families have (practically) unbounded label
# combinations; any shortfall from small families is carried forward to them.
# ---------------------------------------------------------------------------------------
CATALOGUE = [
    ("up", "gauge", "target", 1, "const1"),
    ("scrape_duration_seconds", "gauge", "target", 1, "small_gauge"),
    ("scrape_samples_scraped", "gauge", "target", 1, "int_gauge"),
    ("process_cpu_seconds", "counter", "target", 1, "seconds_counter"),
    ("process_resident_memory_bytes", "gauge", "target", 1, "bytes_gauge"),
    ("process_open_fds", "gauge", "target", 1, "int_gauge"),
    ("go_goroutines", "gauge", "target", 1, "int_gauge"),
    ("go_memstats_alloc_bytes", "gauge", "target", 1, "bytes_gauge"),
    ("go_gc_duration_seconds", "gauge", "target_quantile", 2, "quantile_gauge"),
    ("node_load1", "gauge", "node", 1, "ratio_gauge"),
    ("node_memory_MemAvailable_bytes", "gauge", "node", 1, "bytes_gauge"),
    ("node_boot_time_seconds", "gauge", "node", 1, "const_big"),
    ("node_cpu_seconds", "counter", "node_cpu", 8, "seconds_counter"),
    ("node_filesystem_avail_bytes", "gauge", "node_fs", 3, "bytes_gauge"),
    ("node_filesystem_size_bytes", "gauge", "node_fs", 3, "const_big"),
    ("node_network_receive_bytes", "counter", "node_net", 4, "bytes_counter"),
    ("node_network_transmit_bytes", "counter", "node_net", 4, "bytes_counter"),
    ("node_disk_io_time_seconds", "counter", "node_disk", 2, "seconds_counter"),
    ("kube_pod_info", "gauge", "kube_pod", 3, "const1"),
    ("kube_pod_status_phase", "gauge", "kube_pod_phase", 4, "bool_gauge"),
    ("kube_pod_container_status_restarts", "counter", "kube_container", 3, "rare_counter"),
    ("kube_pod_container_resource_requests", "gauge", "kube_resource", 3, "const_small"),
    ("kube_pod_container_resource_limits", "gauge", "kube_resource", 3, "const_small"),
    ("kube_deployment_status_replicas", "gauge", "kube_deploy", 1, "int_gauge"),
    ("kube_node_status_condition", "gauge", "kube_node_cond", 1, "bool_gauge"),
    ("container_cpu_usage_seconds", "counter", "cadvisor", 6, "seconds_counter"),
    ("container_memory_working_set_bytes", "gauge", "cadvisor", 6, "bytes_gauge"),
    ("container_memory_rss", "gauge", "cadvisor", 4, "bytes_gauge"),
    ("container_fs_usage_bytes", "gauge", "cadvisor_dev", 3, "bytes_gauge"),
    ("container_network_receive_bytes", "counter", "cadvisor_net", 3, "bytes_counter"),
    ("container_network_transmit_bytes", "counter", "cadvisor_net", 3, "bytes_counter"),
    ("container_spec_memory_limit_bytes", "gauge", "cadvisor", 2, "const_big"),
    ("container_last_seen", "gauge", "cadvisor", 2, "timestamp_gauge"),
    ("http_requests", "counter", "http", 10, "req_counter"),
    ("http_request_duration_seconds_sum", "gauge", "http_dur", 4, "seconds_sum"),
    ("http_request_duration_seconds_count", "gauge", "http_dur", 4, "req_counter"),
    ("http_request_size_bytes_sum", "gauge", "http_dur", 2, "bytes_counter"),
    ("http_response_size_bytes_sum", "gauge", "http_dur", 2, "bytes_counter"),
    ("grpc_server_handled", "counter", "grpc", 5, "req_counter"),
    ("grpc_server_started", "counter", "grpc_started", 2, "req_counter"),
    ("grpc_server_handling_seconds", "gauge", "grpc_quantile", 3, "quantile_gauge"),
    ("db_query_duration_seconds", "gauge", "db_quantile", 2, "quantile_gauge"),
    ("db_connections_in_use", "gauge", "db", 1, "int_gauge"),
    ("queue_messages_pending", "gauge", "queue", 2, "int_gauge"),
    ("queue_messages_processed", "counter", "queue", 2, "req_counter"),
    ("cache_hit_ratio", "gauge", "cache", 1, "ratio_gauge"),
    ("cache_evictions", "counter", "cache", 1, "rare_counter"),
    ("app_build_info", "gauge", "app_info", 1, "const1"),
    ("app_temperature_celsius", "gauge", "app_sensor", 1, "decimal_gauge"),
    ("kube_pod_labels", "gauge", "kube_pod_labels", 3, "const1"),
    ("container_blkio_device_usage", "counter", "cadvisor_blkio", 4, "bytes_counter"),
]

NAMESPACE_WORDS = [
    "payments", "checkout", "search", "catalog", "billing", "identity", "auth", "gateway",
    "ingest", "analytics", "ml-serving", "notifications", "orders", "inventory", "shipping",
    "reporting", "frontend", "backend", "data-platform", "monitoring", "logging", "kube-system",
    "cert-manager", "istio-system", "argocd", "vault", "redis", "kafka", "postgres", "mongo",
    "elastic", "batch", "cron", "edge", "cdn", "media", "recs", "pricing", "fraud", "support",
]
APP_WORDS = [
    "api", "worker", "web", "consumer", "producer", "scheduler", "proxy", "cache", "indexer",
    "router", "syncer", "exporter", "controller", "operator", "agent", "collector", "server",
    "gateway", "backend", "frontend", "job", "streamer", "resolver", "mailer", "renderer",
]
CONTAINER_NAMES = [
    "app", "sidecar", "istio-proxy", "envoy", "fluent-bit", "vault-agent", "init-config",
    "metrics", "main", "server", "worker", "nginx", "redis", "postgres", "kafka", "zookeeper",
    "prometheus", "config-reloader", "oauth-proxy", "cloudsql-proxy", "migrate", "jaeger-agent",
    "otel-collector", "node-exporter", "kube-rbac-proxy", "liveness-probe", "csi-driver",
    "coredns", "kube-proxy", "calico-node", "queue-proxy", "user-container", "linkerd-proxy",
    "vector", "filebeat", "datadog-agent", "statsd-exporter", "pgbouncer", "memcached", "api",
]
HTTP_METHODS = ["GET", "GET", "GET", "GET", "POST", "POST", "PUT", "DELETE", "PATCH", "HEAD"]
HTTP_CODES = ["200", "200", "200", "200", "201", "204", "301", "304", "400", "401", "403",
              "404", "409", "429", "500", "502", "503", "504"]
HANDLER_PARTS = ["users", "orders", "items", "cart", "search", "login", "logout", "health",
                 "metrics", "v1", "v2", "admin", "reports", "export", "import", "sessions",
                 "tokens", "payments", "refunds", "invoices", "products", "reviews", "images"]
GRPC_SERVICES = ["UserService", "OrderService", "CatalogService", "SearchService", "AuthService",
                 "PaymentService", "InventoryService", "NotificationService", "grpc.health.v1.Health",
                 "RecommendationService", "PricingService", "ShippingService"]
GRPC_VERBS = ["Get", "List", "Create", "Update", "Delete", "Watch", "Search", "Batch", "Stream"]
GRPC_NOUNS = ["User", "Order", "Item", "Product", "Session", "Token", "Payment", "Shipment",
              "Review", "Price", "Quote", "Event"]
GRPC_CODES = ["OK", "OK", "OK", "OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded",
              "NotFound", "AlreadyExists", "PermissionDenied", "ResourceExhausted", "Internal",
              "Unavailable", "Unauthenticated"]
CPU_MODES = ["idle", "user", "system", "iowait", "irq", "softirq", "steal", "nice"]
FSTYPES = ["ext4", "xfs", "tmpfs", "overlay", "nfs4"]
MOUNTPOINTS = ["/", "/boot", "/var/lib/docker", "/var/lib/kubelet", "/run", "/tmp", "/data",
               "/var/log", "/mnt/disks/ssd0", "/mnt/disks/ssd1", "/home", "/opt"]
DISKS = ["sda", "sdb", "sdc", "nvme0n1", "nvme1n1", "nvme2n1", "vda", "vdb", "dm-0", "dm-1"]
POD_PHASES = ["Pending", "Running", "Succeeded", "Failed", "Unknown"]
RESOURCES = [("cpu", "core"), ("memory", "byte"), ("ephemeral_storage", "byte"),
             ("nvidia_com_gpu", "integer")]
NODE_CONDITIONS = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable"]
CONDITION_STATUS = ["true", "false", "unknown"]
QUANTILES = ["0", "0.25", "0.5", "0.75", "0.9", "0.99", "1"]
DB_OPS = ["select", "insert", "update", "delete", "upsert", "begin", "commit", "rollback"]
DB_TABLES = ["users", "orders", "order_items", "payments", "sessions", "events", "products",
             "inventory", "audit_log", "outbox", "accounts", "prices", "carts", "coupons"]
QUEUE_TOPICS = ["orders", "payments", "emails", "events", "clicks", "audit", "webhooks",
                "notifications", "invoices", "shipments", "imports", "exports"]
CACHE_NAMES = ["sessions", "users", "catalog", "prices", "tokens", "pages", "search", "geo"]
SENSORS = ["cpu", "gpu", "nvme", "ambient", "psu", "chipset"]
REGIONS = ["eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-southeast-1"]
ZONES = ["a", "b", "c"]
TEAMS = ["core", "growth", "infra", "data", "sre", "platform", "mobile", "web", "ml", "sec"]
VERSIONS = ["1.0.0", "1.0.1", "1.1.0", "1.2.3", "2.0.0", "2.0.1", "2.1.0", "2.3.4", "3.0.0",
            "3.1.0", "3.1.1", "4.0.0-rc1"]

ALNUM = "bcdfghjklmnpqrstvwxz2456789"  # like Kubernetes' random suffix alphabet
HEX = "0123456789abcdef"


def rand_str(rng, alphabet, n):
    return "".join(rng.choice(alphabet) for _ in range(n))


def rand_uuid(rng):
    h = "%032x" % rng.getrandbits(128)
    return "%s-%s-%s-%s-%s" % (h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])


class LabelPools:
    """Deterministic pools of nodes, namespaces, deployments and pods sized by the budget."""

    def __init__(self, rng, total_series):
        self.rng = rng
        n_nodes = max(8, total_series // 300)
        n_pods = max(40, total_series // 12)
        self.nodes = []
        for i in range(n_nodes):
            ip = "10.%d.%d.%d" % (rng.randrange(0, 64), (i // 250) % 256, i % 250 + 1)
            region = rng.choice(REGIONS)
            self.nodes.append({
                "name": "ip-%s.%s.compute.internal" % (ip.replace(".", "-"), region),
                "ip": ip,
                "cpus": rng.choice([2, 4, 8, 8, 16, 16, 32, 48, 64]),
                "zone": region + rng.choice(ZONES),
            })
        self.namespaces = NAMESPACE_WORDS[:]
        self.deployments = []
        for ns in self.namespaces:
            for _ in range(rng.randrange(4, 24)):
                app = "%s-%s" % (ns.split("-")[0], rng.choice(APP_WORDS))
                self.deployments.append({
                    "ns": ns,
                    "name": app + ("" if rng.random() < 0.6 else "-" + rand_str(rng, ALNUM, 3)),
                    "rs": rand_str(rng, ALNUM, 10),
                    "containers": rng.sample(CONTAINER_NAMES, rng.randrange(1, 4)),
                    "version": rng.choice(VERSIONS),
                    "team": rng.choice(TEAMS),
                    "port": rng.choice([8080, 8080, 9090, 8000, 3000, 9102, 8443]),
                })
        self.pods = []
        for _ in range(n_pods):
            d = rng.choice(self.deployments)
            node = rng.choice(self.nodes)
            self.pods.append({
                "dep": d,
                "name": "%s-%s-%s" % (d["name"], d["rs"], rand_str(rng, ALNUM, 5)),
                "uid": rand_uuid(rng),
                "node": node,
                "ip": "100.%d.%d.%d" % (rng.randrange(64, 128), rng.randrange(256), rng.randrange(1, 255)),
            })
        self.targets = self.pods[: max(20, n_pods // 3)]

    # Each shape returns a list of (name, value) pairs (without __name__).
    def labels_for(self, shape):
        rng = self.rng
        if shape in ("target", "target_quantile"):
            p = rng.choice(self.targets)
            d = p["dep"]
            ls = [("job", d["ns"] + "/" + d["name"]),
                  ("instance", "%s:%d" % (p["ip"], d["port"])),
                  ("namespace", d["ns"]), ("pod", p["name"])]
            if shape == "target_quantile":
                ls.append(("quantile", rng.choice(QUANTILES)))
            return ls
        if shape.startswith("node"):
            n = rng.choice(self.nodes)
            ls = [("job", "node-exporter"), ("instance", n["ip"] + ":9100")]
            if shape == "node_cpu":
                ls += [("cpu", str(rng.randrange(n["cpus"]))), ("mode", rng.choice(CPU_MODES))]
            elif shape == "node_fs":
                ls += [("device", "/dev/" + rng.choice(DISKS)), ("mountpoint", rng.choice(MOUNTPOINTS)),
                       ("fstype", rng.choice(FSTYPES))]
            elif shape == "node_net":
                if rng.random() < 0.8:
                    dev = "veth" + rand_str(rng, HEX, 8)  # one per pod: high cardinality
                else:
                    dev = rng.choice(["eth0", "eth1", "ens5", "lo", "cni0", "flannel.1", "docker0"])
                ls.append(("device", dev))
            elif shape == "node_disk":
                ls.append(("device", rng.choice(DISKS)))
            return ls
        if shape.startswith("kube_"):
            ls = [("job", "kube-state-metrics"), ("instance", "10.0.0.10:8080")]
            if shape == "kube_node_cond":
                n = rng.choice(self.nodes)
                return ls + [("node", n["name"]), ("condition", rng.choice(NODE_CONDITIONS)),
                             ("status", rng.choice(CONDITION_STATUS))]
            if shape == "kube_deploy":
                d = rng.choice(self.deployments)
                return ls + [("namespace", d["ns"]), ("deployment", d["name"])]
            p = rng.choice(self.pods)
            d = p["dep"]
            ls += [("namespace", d["ns"]), ("pod", p["name"])]
            if shape == "kube_pod":
                ls += [("uid", p["uid"]), ("node", p["node"]["name"]), ("host_ip", p["node"]["ip"]),
                       ("pod_ip", p["ip"]), ("created_by_kind", "ReplicaSet"),
                       ("created_by_name", d["name"] + "-" + d["rs"])]
            elif shape == "kube_pod_phase":
                ls.append(("phase", rng.choice(POD_PHASES)))
            elif shape == "kube_container":
                ls.append(("container", rng.choice(d["containers"])))
            elif shape == "kube_resource":
                r, unit = rng.choice(RESOURCES)
                ls += [("container", rng.choice(d["containers"])), ("node", p["node"]["name"]),
                       ("resource", r), ("unit", unit)]
            elif shape == "kube_pod_labels":
                ls += [("label_app", d["name"]), ("label_team", d["team"]),
                       ("label_version", d["version"]), ("label_pod_template_hash", d["rs"])]
            return ls
        if shape.startswith("cadvisor"):
            p = rng.choice(self.pods)
            d = p["dep"]
            c = rng.choice(d["containers"])
            ls = [("job", "kubelet"), ("metrics_path", "/metrics/cadvisor"),
                  ("instance", p["node"]["ip"] + ":10250"), ("namespace", d["ns"]), ("pod", p["name"]),
                  ("container", c),
                  ("id", "/kubepods/burstable/pod%s/%s" % (p["uid"], rand_str(rng, HEX, 64))),
                  ("image", "registry.example.com/%s/%s:%s" % (d["ns"], c, d["version"]))]
            if shape == "cadvisor_dev":
                ls.append(("device", "/dev/" + rng.choice(DISKS)))
            elif shape == "cadvisor_net":
                ls.append(("interface", rng.choice(["eth0", "eth1", "lo"])))
            elif shape == "cadvisor_blkio":
                ls += [("device", "/dev/" + rng.choice(DISKS)),
                       ("operation", rng.choice(["Read", "Write", "Sync", "Async"]))]
            return ls
        # application metrics scraped from a pod
        p = rng.choice(self.pods)
        d = p["dep"]
        ls = [("job", d["ns"] + "/" + d["name"]), ("instance", "%s:%d" % (p["ip"], d["port"])),
              ("namespace", d["ns"]), ("pod", p["name"])]
        if shape in ("http", "http_dur"):
            n_parts = rng.randrange(1, 4)
            handler = "/" + "/".join(rng.choice(HANDLER_PARTS) for _ in range(n_parts))
            if rng.random() < 0.05:  # an un-templated path with an id: high cardinality
                handler += "/" + str(rng.randrange(10 ** 6))
            ls += [("handler", handler), ("method", rng.choice(HTTP_METHODS))]
            if shape == "http":
                ls.append(("code", rng.choice(HTTP_CODES)))
        elif shape.startswith("grpc"):
            svc = rng.choice(GRPC_SERVICES)
            ls += [("grpc_service", svc), ("grpc_method", rng.choice(GRPC_VERBS) + rng.choice(GRPC_NOUNS)),
                   ("grpc_type", rng.choice(["unary", "unary", "server_stream", "bidi_stream"]))]
            if shape == "grpc":
                ls.append(("grpc_code", rng.choice(GRPC_CODES)))
            elif shape == "grpc_quantile":
                ls.append(("quantile", rng.choice(QUANTILES)))
        elif shape.startswith("db"):
            ls += [("db", rng.choice(["primary", "replica-1", "replica-2", "analytics"]))]
            if shape == "db_quantile":
                ls += [("operation", rng.choice(DB_OPS)), ("table", rng.choice(DB_TABLES)),
                       ("quantile", rng.choice(QUANTILES))]
        elif shape == "queue":
            ls += [("topic", rng.choice(QUEUE_TOPICS)), ("partition", str(rng.randrange(32))),
                   ("consumer_group", d["name"])]
        elif shape == "cache":
            ls.append(("cache", rng.choice(CACHE_NAMES)))
        elif shape == "app_info":
            ls += [("version", d["version"]), ("revision", rand_str(rng, HEX, 7)),
                   ("goversion", rng.choice(["go1.19.5", "go1.20.1", "go1.20.3"])),
                   ("team", d["team"])]
        elif shape == "app_sensor":
            ls += [("sensor", rng.choice(SENSORS)), ("zone", p["node"]["zone"]),
                   ("chip", "chip%d" % rng.randrange(4))]
        return ls


def escape(v):
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def fmt_value(v):
    if isinstance(v, int):
        return str(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def fmt_ts(ms):
    return "%d.%03d" % (ms // 1000, ms % 1000)


class ValueGen:
    """Per-series value sequences for each value kind."""

    def __init__(self, rng):
        self.rng = rng

    def series(self, kind, n):
        rng = self.rng
        if kind == "const1":
            return [1] * n
        if kind == "const_big":
            v = rng.choice([float(rng.randrange(1, 2000)) * 2 ** 30, 1.6995e9 + rng.randrange(10 ** 6)])
            return [v] * n
        if kind == "const_small":
            v = rng.choice([0.1, 0.25, 0.5, 1, 2, 4, 134217728, 268435456, 536870912, 1073741824])
            return [v] * n
        if kind == "bool_gauge":
            v = 1 if rng.random() < 0.3 else 0
            out = []
            for _ in range(n):
                if rng.random() < 0.002:
                    v = 1 - v
                out.append(v)
            return out
        if kind == "int_gauge":
            v = rng.randrange(0, 5000)
            out = []
            for _ in range(n):
                v = max(0, v + rng.randrange(-3, 4))
                out.append(v)
            return out
        if kind == "bytes_gauge":
            v = rng.randrange(10 ** 6, 8 * 10 ** 9)
            out = []
            for _ in range(n):
                v = max(4096, v + rng.randrange(-2 ** 20, 2 ** 20) * 4)
                out.append(v)
            return out
        if kind in ("ratio_gauge", "decimal_gauge", "small_gauge"):
            if kind == "ratio_gauge":
                v, step, lo, hi, nd = rng.random(), 0.01, 0.0, 1.0, 6
            elif kind == "decimal_gauge":
                v, step, lo, hi, nd = rng.uniform(20, 90), 0.25, -40.0, 120.0, 2
            else:
                v, step, lo, hi, nd = rng.uniform(0.001, 0.5), 0.003, 0.0001, 10.0, 9
            out = []
            for _ in range(n):
                v = min(hi, max(lo, v + rng.uniform(-step, step)))
                out.append(round(v, nd))
            return out
        if kind == "quantile_gauge":
            if rng.random() < 0.03:  # idle summaries report NaN quantiles
                return [float("nan")] * n
            base = rng.uniform(0.0005, 2.0)
            return [round(base * rng.lognormvariate(0, 0.3), 6) for _ in range(n)]
        if kind == "timestamp_gauge":
            return [None] * n  # filled with the sample's own timestamp by the caller
        # counters
        if kind == "seconds_counter":
            v, rate, is_int = rng.uniform(0, 1e6), rng.uniform(0.001, 4.0), False
        elif kind == "seconds_sum":
            v, rate, is_int = rng.uniform(0, 1e5), rng.uniform(0.01, 20.0), False
        elif kind == "bytes_counter":
            v, rate, is_int = rng.randrange(10 ** 12), rng.randrange(1, 10 ** 7), True
        elif kind == "rare_counter":
            v, rate, is_int = rng.randrange(0, 20), 0.0005, True
        else:  # req_counter
            v, rate, is_int = rng.randrange(10 ** 7), rng.uniform(0, 200), True
        reset_at = rng.randrange(n) if rng.random() < 0.01 else -1
        out = []
        for i in range(n):
            if i == reset_at:
                v = 0
            if is_int:
                if rate < 1:
                    v += 1 if rng.random() < rate * 15 else 0
                else:
                    v += int(rate * rng.uniform(0.5, 1.5) * 15)
            else:
                v += rate * rng.uniform(0.5, 1.5) * 15
                v = round(v, 6)
            out.append(v)
        return out


def budgets(total):
    weights = [w for (_, _, _, w, _) in CATALOGUE]
    s = sum(weights)
    out = [total * w // s for w in weights]
    out[-1] += total - sum(out)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", choices=["analyze", "dump"], required=True)
    ap.add_argument("--series", type=int, required=True, help="exact number of distinct series")
    ap.add_argument("--seed", type=int, default=20230415)
    ap.add_argument("--value-seed", type=int, default=None,
                    help="seed for values and timestamp jitter only (default: --seed); the same --seed with "
                         "another --value-seed gives the same series with other samples, like an HA replica")
    ap.add_argument("--start", type=int, default=DEFAULT_START,
                    help="start of the window, unix seconds (a multiple of --hours x 3600)")
    ap.add_argument("--samples", type=int, default=0,
                    help="samples per series (dump default: fill 2h at the interval; analyze default: 4-8)")
    ap.add_argument("--interval", type=int, default=0, help="seconds between samples")
    ap.add_argument("--hours", type=int, default=2, help="length of the window (and of the one block), hours")
    ap.add_argument("-o", "--output", default="-", help="output file (default stdout)")
    args = ap.parse_args()

    window_ms = args.hours * 3600 * 1000
    if args.hours < 1 or args.start % (args.hours * 3600):
        ap.error("--start must be a multiple of --hours x 3600 so the data stays in one block")
    if args.series < len(CATALOGUE):
        ap.error("--series must be at least %d" % len(CATALOGUE))
    interval_ms = 1000 * (args.interval or (30 if args.profile == "analyze" else 15))
    start_ms = args.start * 1000
    if args.profile == "dump":
        n_samples = args.samples or window_ms // interval_ms
        max_phase = interval_ms - 1000  # + jitter (< 5ms) keeps the last sample inside the window
        if (n_samples - 1) * interval_ms + max_phase + 5 >= window_ms:
            ap.error("--samples x --interval does not fit in one block")
    else:
        max_phase = interval_ms
        if args.samples and args.samples * interval_ms >= TWO_HOURS_MS:
            ap.error("--samples x --interval does not fit in one 2h block")

    rng = random.Random(args.seed if args.value_seed is None else args.value_seed)
    pools = LabelPools(random.Random(args.seed + 1), args.series)
    label_rng = pools.rng
    values = ValueGen(rng)

    out = sys.stdout if args.output == "-" else open(args.output, "w", buffering=1 << 20)
    write = out.write
    carry = 0
    written = 0
    for (name, typ, shape, _, kind), budget in zip(CATALOGUE, budgets(args.series)):
        want = budget + carry
        sample_name = name + "_total" if typ == "counter" else name
        family_lines = ["# HELP %s Synthetic %s for blockyard benchmarks.\n" % (name, typ),
                        "# TYPE %s %s\n" % (name, typ)]
        write("".join(family_lines))
        seen = set()
        misses = 0
        made = 0
        while made < want:
            ls = pools.labels_for(shape)
            key = ",".join('%s="%s"' % (k, escape(v)) for k, v in ls)
            if key in seen:
                misses += 1
                if misses > 200:  # this family's label space is exhausted; carry on
                    break
                continue
            misses = 0
            seen.add(key)
            made += 1
            prefix = "%s{%s} " % (sample_name, key)
            if args.profile == "analyze":
                n = args.samples or rng.randrange(4, 9)
            else:
                n = n_samples
            vals = values.series(kind, n)
            t = start_ms + rng.randrange(max_phase)
            buf = []
            for i in range(n):
                ts = t + i * interval_ms
                if args.profile == "dump" and rng.random() < 0.1:
                    ts += rng.randrange(1, 5)  # scrape jitter
                v = vals[i]
                if v is None:
                    v = ts // 1000
                buf.append("%s%s %s\n" % (prefix, fmt_value(v), fmt_ts(ts)))
            write("".join(buf))
        carry = want - made
        written += made
    write("# EOF\n")
    if out is not sys.stdout:
        out.close()
    else:
        out.flush()
    if written != args.series:
        sys.stderr.write("gen-bench-openmetrics: only %d of %d series could be generated\n"
                         % (written, args.series))
        return 1
    sys.stderr.write("gen-bench-openmetrics: %s profile, %d series, seed %d\n"
                     % (args.profile, written, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
