"""Monitoring: the example chart's opt-in PodMonitor, PrometheusRule and Grafana dashboard, and
the kustomize Component k8s/kustomize/monitoring.

- The chart renders, lints and validates with each toggle on and off (kubernetes-validate for
  Kubernetes' own kinds; its schemas do not know monitoring.coreos.com).
- PodMonitor and PrometheusRule are held to the Prometheus Operator's API (OPERATOR_API below).
- promtool checks the rules as the PrometheusRule's .spec holds them, and its rule unit tests
  show that each alert fires on the series it is written for, and not before its `for:`.
- The dashboard's queries name only metrics that a real `bootgate sidecar` serves at /metrics,
  or the kube-state-metrics series the rules read.

Run from tests/packaging: ../../target/py-tools/bin/python -B -m unittest test_monitoring -v
"""

import copy
import http.client
import json
import os
import re
import shutil
import tempfile
import unittest
from pathlib import Path

import yaml

import support
import test_chart_guard
import test_helm
from support import ROOT

KUSTOMIZE = ROOT / "k8s" / "kustomize"
COMPONENT = KUSTOMIZE / "monitoring"
DASHBOARD = COMPONENT / "bootgate-dashboard.json"
RULES = COMPONENT / "prometheusrule.yaml"

ALL_ON = {
    "bootgate": {
        "monitoring": {
            "podMonitor": {"enabled": True},
            "prometheusRule": {"enabled": True},
            "dashboard": {"enabled": True},
        }
    }
}
MONITORING_KINDS = {"PodMonitor", "PrometheusRule"}
# What the chart's rules narrow every series to (release llama in namespace models).
SELECTOR = ', namespace="models", pod=~"llama-example-model-server-.*"'
ALERTS = [
    "BootgatePodNotReady",
    "BootgateInitFailing",
    "BootgateSentinelSlow",
    "BootgateCheckForced",
    "BootgateCheckDegraded",
]

# The fields of PodMonitor and PrometheusRule (monitoring.coreos.com/v1) that these manifests may
# use, and their types, as the Prometheus Operator's API reference gives them: the CRDs'
# openAPIV3Schema in github.com/prometheus-operator/prometheus-operator, v0.93.0,
# example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml and
# monitoring.coreos.com_prometheusrules.yaml (Documentation/api-reference/api.md renders the
# same). A field the operator does not know is pruned by the API server without a word, so a
# typo would silently drop a setting: every key must be listed here. `None` marks a map of
# strings (labels, annotations); a dict, an object; a list of one dict, an array of objects.
DURATION = re.compile(r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$")
LABEL_SELECTOR = {"matchLabels": None, "matchExpressions": [{"key": str, "operator": str, "values": [str]}]}
METADATA = {"name": str, "namespace": str, "labels": None, "annotations": None}
OPERATOR_API = {
    "PodMonitor": {
        "apiVersion": str,
        "kind": str,
        "metadata": METADATA,
        "spec": {
            "jobLabel": str,
            "podTargetLabels": [str],
            "selector": LABEL_SELECTOR,
            "namespaceSelector": {"any": bool, "matchNames": [str]},
            "sampleLimit": int,
            "podMetricsEndpoints": [
                {
                    "port": str,
                    "portNumber": int,
                    "path": str,
                    "scheme": str,
                    "interval": DURATION,
                    "scrapeTimeout": DURATION,
                    "honorLabels": bool,
                    "honorTimestamps": bool,
                    "params": None,
                }
            ],
        },
    },
    "PrometheusRule": {
        "apiVersion": str,
        "kind": str,
        "metadata": METADATA,
        "spec": {
            "groups": [
                {
                    "name": str,
                    "interval": DURATION,
                    "limit": int,
                    "labels": None,
                    "rules": [
                        {
                            "alert": str,
                            "record": str,
                            "expr": str,
                            "for": DURATION,
                            "keep_firing_for": DURATION,
                            "labels": None,
                            "annotations": None,
                        }
                    ],
                }
            ]
        },
    },
}
# What the CRDs require.
REQUIRED = {"PodMonitor": [("spec", "selector")], "PrometheusRule": []}
REQUIRED_IN_GROUP = ("name",)
REQUIRED_IN_RULE = ("expr",)

# PromQL words that are not metric names.
PROMQL_WORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right", "inf", "nan"}

# Series for promtool's rule unit tests: each alert's trigger, held long enough to fire, and a
# pod that stays healthy beside it. 1m steps.
UNIT_TESTS = """
rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'kube_pod_status_ready{condition="true", namespace="models", pod="llama-example-model-server-a"}'
        values: '0x30'
      - series: 'kube_pod_init_container_info{container="bootgate-init", namespace="models", pod="llama-example-model-server-a"}'
        values: '1x30'
      - series: 'kube_pod_status_ready{condition="true", namespace="models", pod="llama-example-model-server-b"}'
        values: '1x30'
      - series: 'kube_pod_init_container_info{container="bootgate-init", namespace="models", pod="llama-example-model-server-b"}'
        values: '1x30'
      # Another release's pod in the namespace: not this chart's to watch.
      - series: 'kube_pod_status_ready{condition="true", namespace="models", pod="other-c"}'
        values: '0x30'
      - series: 'kube_pod_init_container_info{container="bootgate-init", namespace="models", pod="other-c"}'
        values: '1x30'
      - series: 'kube_pod_init_container_status_restarts_total{container="bootgate-init", namespace="models", pod="llama-example-model-server-a"}'
        values: '0 0 0 0 0 1 1 1 1 1 1'
      - series: 'bootgate_sentinel_latency_seconds_bucket{container="bootgate", namespace="models", pod="llama-example-model-server-b", query="generate", le="1.28"}'
        values: '0+0x30'
      - series: 'bootgate_sentinel_latency_seconds_bucket{container="bootgate", namespace="models", pod="llama-example-model-server-b", query="generate", le="5.12"}'
        values: '0+6x30'
      - series: 'bootgate_sentinel_latency_seconds_bucket{container="bootgate", namespace="models", pod="llama-example-model-server-b", query="generate", le="+Inf"}'
        values: '0+6x30'
      - series: 'bootgate_forced{container="bootgate", namespace="models", pod="llama-example-model-server-b", check="gpu"}'
        values: '1x30'
      - series: 'bootgate_degraded{container="bootgate", namespace="models", pod="llama-example-model-server-b", check="gpu"}'
        values: '0x30'
    alert_rule_test:
      - eval_time: 19m
        alertname: BootgatePodNotReady
        exp_alerts: []
      - eval_time: 21m
        alertname: BootgatePodNotReady
        exp_alerts:
          - exp_labels: {severity: warning, namespace: models, pod: llama-example-model-server-a}
      - eval_time: 8m
        alertname: BootgateInitFailing
        exp_alerts:
          - exp_labels: {severity: warning, namespace: models, pod: llama-example-model-server-a}
      - eval_time: 9m
        alertname: BootgateSentinelSlow
        exp_alerts: []
      - eval_time: 16m
        alertname: BootgateSentinelSlow
        exp_alerts:
          - exp_labels: {severity: warning, namespace: models, pod: llama-example-model-server-b}
      - eval_time: 2m
        alertname: BootgateCheckForced
        exp_alerts:
          - exp_labels: {severity: warning, namespace: models, pod: llama-example-model-server-b, check: gpu}
      - eval_time: 2m
        alertname: BootgateCheckDegraded
        exp_alerts: []
"""


def assert_fields(test: unittest.TestCase, value, shape, path: str) -> None:
    if shape is None:
        test.assertIsInstance(value, dict, f"{path}: a map of strings")
        for key, item in value.items():
            test.assertIsInstance(item, str, f"{path}.{key}: a string")
    elif isinstance(shape, re.Pattern):
        test.assertIsInstance(value, str, f"{path}: a duration")
        test.assertRegex(value, shape, f"{path}: not a Prometheus duration")
    elif isinstance(shape, dict):
        test.assertIsInstance(value, dict, f"{path}: an object")
        for key, item in value.items():
            test.assertIn(key, shape, f"{path}.{key}: no such field in the Prometheus Operator's API")
            assert_fields(test, item, shape[key], f"{path}.{key}")
    elif isinstance(shape, list):
        test.assertIsInstance(value, list, f"{path}: an array")
        for i, item in enumerate(value):
            assert_fields(test, item, shape[0], f"{path}[{i}]")
    else:
        test.assertIsInstance(value, shape, f"{path}: a {shape.__name__}")
        if shape is int:
            test.assertNotIsInstance(value, bool, f"{path}: an integer")


def assert_operator_api(test: unittest.TestCase, doc: dict) -> None:
    kind = doc["kind"]
    test.assertEqual(doc["apiVersion"], "monitoring.coreos.com/v1")
    assert_fields(test, doc, OPERATOR_API[kind], kind)
    for path in REQUIRED[kind]:
        node = doc
        for key in path:
            test.assertIn(key, node, f"{kind}: {'.'.join(path)} is required")
            node = node[key]
    if kind == "PodMonitor":
        test.assertTrue(doc["spec"]["podMetricsEndpoints"], "a PodMonitor with no endpoint scrapes nothing")
    if kind == "PrometheusRule":
        for group in doc["spec"]["groups"]:
            for key in REQUIRED_IN_GROUP:
                test.assertIn(key, group)
            for rule in group["rules"]:
                for key in REQUIRED_IN_RULE:
                    test.assertIn(key, rule)
                test.assertEqual(len({"alert", "record"} & set(rule)), 1, "a rule is an alert or a record")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression (or a Grafana query with $variables) reads."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings, label values among them
    text = re.sub(r"\$\{?\w+\}?", "", text)  # Grafana's variables
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for found in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        word = found.group(0)
        after = text[found.end():].lstrip()
        if after.startswith("(") or word.lower() in PROMQL_WORDS:
            continue  # a function or an aggregation, or a keyword
        names.add(word)
    return names


def dashboard_queries(dashboard: dict) -> list[str]:
    queries = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        if variable["type"] == "query":
            # label_values(SERIES, LABEL): SERIES is a selector.
            found = re.fullmatch(r"label_values\((.*),\s*\w+\)", query)
            assert found, f"variable {variable['name']}: {query}"
            queries.append(found.group(1))
    return queries


def without_selector(value):
    """The chart's rules with the matchers that narrow them to its release taken out."""
    if isinstance(value, dict):
        return {key: without_selector(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_selector(item) for item in value]
    return value.replace(SELECTOR, "") if isinstance(value, str) else value


def rules_of(doc: dict) -> list[dict]:
    return [rule for group in doc["spec"]["groups"] for rule in group["rules"]]


def promtool() -> str:
    found = shutil.which("promtool")
    if not found:
        support.unavailable("promtool missing: apt-get install prometheus (.ci/run does)")
    return found


def exported_names(metrics: str) -> set[str]:
    """Every series name a /metrics answer can carry: its samples, and for each family the names
    its type gives it in the OpenMetrics text, so that a family with no sample yet counts too."""
    names = set()
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"], "gauge": [""], "info": ["_info"]}
    for line in metrics.splitlines():
        if line.startswith("# TYPE "):
            _, _, family, kind = line.split()
            names |= {family + suffix for suffix in suffixes.get(kind, [""])}
        elif line and not line.startswith("#"):
            names.add(re.match(r"[A-Za-z_:][A-Za-z0-9_:]*", line).group(0))
    return names


class HelmMonitoring(test_helm.Charts):
    """The example chart, with the monitoring values on and off."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.example_dir = cls.dir / "example-model-server"
        shutil.copytree(test_helm.EXAMPLE, cls.example_dir, ignore=shutil.ignore_patterns("charts", "Chart.lock"))
        cls.chart = test_helm.load_chart(cls.example_dir)
        cls.off = test_helm.render(cls.chart)
        cls.on = test_helm.render(cls.chart, copy.deepcopy(ALL_ON))

    @classmethod
    def tearDownClass(cls):
        cls.chart.close()
        super().tearDownClass()

    def one(self, docs: list[dict], kind: str) -> dict:
        found = test_helm.of_kind(docs, kind)
        self.assertEqual(len(found), 1, f"{len(found)} {kind}s")
        return found[0]

    def dashboard_map(self, docs: list[dict]) -> list[dict]:
        return [d for d in test_helm.of_kind(docs, "ConfigMap") if "bootgate.json" in d.get("data", {})]

    def test_off_by_default_and_the_rest_unchanged(self):
        self.assertFalse([d for d in self.off if d["kind"] in MONITORING_KINDS])
        self.assertFalse(self.dashboard_map(self.off))
        added = [d for d in self.on if d not in self.off]
        self.assertEqual(sorted(d["kind"] for d in added), ["ConfigMap", "PodMonitor", "PrometheusRule"])
        self.assertEqual([d for d in self.on if d in self.off], self.off, "turning monitoring on changes nothing else")

    def test_each_toggle_alone(self):
        for part, kind in (("podMonitor", "PodMonitor"), ("prometheusRule", "PrometheusRule"), ("dashboard", "ConfigMap")):
            with self.subTest(part=part):
                docs = test_helm.render(self.chart, {"bootgate": {"monitoring": {part: {"enabled": True}}}})
                self.assertEqual([d["kind"] for d in docs if d not in self.off], [kind])

    def test_nothing_without_bootgate(self):
        values = copy.deepcopy(ALL_ON)
        values["bootgate"]["enabled"] = False
        docs = test_helm.render(self.chart, values)
        self.assertFalse([d for d in docs if d["kind"] in MONITORING_KINDS] + self.dashboard_map(docs))

    def test_validates_on_and_off(self):
        for name, docs in (("off", self.off), ("on", self.on)):
            with self.subTest(monitoring=name):
                core = [d for d in docs if d["kind"] not in MONITORING_KINDS]
                self.assert_form(core, support.NATIVE_VERSIONS, native=True)

    def test_lint_strict_with_monitoring_on(self):
        with test_helm.go_warnings_silenced():
            findings = test_helm.lint_findings(self.example_dir, copy.deepcopy(ALL_ON))
        self.assertEqual(findings, [])

    def test_schema_refuses_a_bad_threshold(self):
        for bad in ({"notReadyFor": "twenty minutes"}, {"sentinelLatencyQuantile": 1.5}, {"enabled": "yes"}):
            with self.subTest(bad=bad), self.assertRaises(Exception):
                test_helm.render(self.chart, {"bootgate": {"monitoring": {"prometheusRule": bad}}})

    def test_operator_api_fields(self):
        for kind in sorted(MONITORING_KINDS):
            with self.subTest(kind=kind):
                assert_operator_api(self, self.one(self.on, kind))

    def test_pod_monitor_scrapes_the_guards_port_on_the_servers_pods(self):
        monitor = self.one(self.on, "PodMonitor")
        workload, spec = test_helm.the_pod(self, self.on)
        pod_labels = workload["spec"]["template"]["metadata"]["labels"]
        selector = monitor["spec"]["selector"]["matchLabels"]
        self.assertLessEqual(selector.items(), pod_labels.items(), "the PodMonitor selects the pods")
        _, guard = support.bootgate_containers(spec)
        (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
        self.assertEqual(endpoint["path"], "/metrics")
        self.assertIn(endpoint["port"], [p["name"] for p in guard["ports"]], "the guard's port, by name")

    def test_promtool_checks_the_rules(self):
        rule = self.one(self.on, "PrometheusRule")
        self.assertEqual([r["alert"] for r in rules_of(rule)], ALERTS)
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "rules.yaml"
            path.write_text(yaml.safe_dump(rule["spec"]))
            done = support.run([promtool(), "check", "rules", str(path)])
        self.assertIn(f"SUCCESS: {len(ALERTS)} rules found", done.stdout + done.stderr)

    def test_each_alert_fires_on_its_trigger(self):
        """`promtool test rules`: each alert fires on its trigger, after its `for:`, for this
        release's pods only."""
        rule = self.one(self.on, "PrometheusRule")
        rules = {r["alert"]: r for r in rules_of(rule)}
        tests = yaml.safe_load(UNIT_TESTS)
        # The annotations as Prometheus fills them in: the summaries name the pod and check.
        for case in tests["tests"][0]["alert_rule_test"]:
            for alert in case["exp_alerts"]:
                filled = {}
                for key, text in rules[case["alertname"]]["annotations"].items():
                    for label, value in alert["exp_labels"].items():
                        text = text.replace("{{ $labels.%s }}" % label, value)
                    self.assertNotIn("{{", text)
                    filled[key] = text
                alert["exp_annotations"] = filled
        with tempfile.TemporaryDirectory() as scratch:
            (Path(scratch) / "rules.yaml").write_text(yaml.safe_dump(rule["spec"]))
            (Path(scratch) / "tests.yaml").write_text(yaml.safe_dump(tests))
            support.run([promtool(), "test", "rules", "tests.yaml"], cwd=scratch)

    def test_thresholds_are_values(self):
        values = copy.deepcopy(ALL_ON)
        values["bootgate"]["monitoring"]["prometheusRule"].update(
            notReadyFor="7m",
            initFailingWindow="30m",
            initFailingFor="3m",
            sentinelLatencyQuantile=0.99,
            sentinelLatencySeconds=0.5,
            sentinelLatencyFor="4m",
            checkCaveatFor="0s",
            severity="page",
            labels={"release": "kps"},
        )
        values["bootgate"]["monitoring"]["podMonitor"].update(interval="15s", labels={"release": "kps"})
        docs = test_helm.render(self.chart, values)
        rule = self.one(docs, "PrometheusRule")
        self.assertEqual(rule["metadata"]["labels"]["release"], "kps")
        rules = {r["alert"]: r for r in rules_of(rule)}
        self.assertEqual(rules["BootgatePodNotReady"]["for"], "7m")
        self.assertIn("[30m]", rules["BootgateInitFailing"]["expr"])
        self.assertEqual(rules["BootgateInitFailing"]["for"], "3m")
        self.assertRegex(rules["BootgateSentinelSlow"]["expr"], r"^histogram_quantile\(0\.99,.*\)\s*> 0\.5$")
        self.assertEqual(rules["BootgateSentinelSlow"]["for"], "4m")
        self.assertIn("p99", rules["BootgateSentinelSlow"]["annotations"]["summary"])
        self.assertEqual({r["for"] for n, r in rules.items() if n.startswith("BootgateCheck")}, {"0s"})
        self.assertEqual({r["labels"]["severity"] for r in rules.values()}, {"page"})
        monitor = self.one(docs, "PodMonitor")
        self.assertEqual(monitor["metadata"]["labels"]["release"], "kps")
        self.assertEqual(monitor["spec"]["podMetricsEndpoints"][0]["interval"], "15s")

    def test_rules_watch_this_releases_pods_only(self):
        for rule in rules_of(self.one(self.on, "PrometheusRule")):
            selectors = re.findall(r"\{[^}]*\}", rule["expr"])
            self.assertTrue(selectors)
            for selector in selectors:
                self.assertIn(SELECTOR.lstrip(", "), selector, rule["alert"])

    def test_dashboard_is_the_shipped_file(self):
        (config_map,) = self.dashboard_map(self.on)
        self.assertEqual(config_map["metadata"]["labels"]["grafana_dashboard"], "1")
        self.assertEqual(json.loads(config_map["data"]["bootgate.json"]), json.loads(DASHBOARD.read_text()))

    def test_kustomize_rules_are_the_charts_defaults(self):
        rendered = without_selector(self.one(self.on, "PrometheusRule")["spec"])
        shipped = yaml.safe_load(RULES.read_text())["spec"]
        self.assertEqual(shipped, rendered)


class KustomizeMonitoring(unittest.TestCase):
    """k8s/kustomize/monitoring beside the Component, on the kustomize example."""

    @classmethod
    def setUpClass(cls):
        cls.plain = kustomize_build(KUSTOMIZE / "example")
        with tempfile.TemporaryDirectory() as scratch:
            overlay = {
                "resources": [os.path.relpath(KUSTOMIZE / "example", scratch)],
                "components": [os.path.relpath(COMPONENT, scratch)],
            }
            (Path(scratch) / "kustomization.yaml").write_text(yaml.safe_dump(overlay))
            cls.rendered = kustomize_build(Path(scratch))

    def test_validates_and_adds_only_monitoring(self):
        core = [d for d in self.rendered if d["kind"] not in MONITORING_KINDS]
        support.validate(self, core, support.NATIVE_VERSIONS)
        added = sorted(d["kind"] for d in self.rendered if d not in self.plain)
        # The Deployment changes by its pod label only.
        self.assertEqual(added, ["ConfigMap", "Deployment", "PodMonitor", "PrometheusRule"])
        labelled = copy.deepcopy([d for d in self.rendered if d["kind"] == "Deployment"])
        for doc in labelled:
            self.assertEqual(doc["spec"]["template"]["metadata"]["labels"].pop("bootgate.metrics"), "true")
        self.assertEqual(labelled, [d for d in self.plain if d["kind"] == "Deployment"])

    def test_operator_api_and_selection(self):
        docs = {d["kind"]: d for d in self.rendered}
        for kind in sorted(MONITORING_KINDS):
            with self.subTest(kind=kind):
                assert_operator_api(self, docs[kind])
        pod_labels = docs["Deployment"]["spec"]["template"]["metadata"]["labels"]
        self.assertLessEqual(docs["PodMonitor"]["spec"]["selector"]["matchLabels"].items(), pod_labels.items())

    def test_dashboard_config_map(self):
        (config_map,) = [d for d in self.rendered if d["kind"] == "ConfigMap" and "bootgate.json" in d.get("data", {})]
        self.assertEqual(config_map["metadata"]["name"], "bootgate-dashboard", "no hash: Grafana finds it by label")
        self.assertEqual(config_map["metadata"]["labels"], {"grafana_dashboard": "1"})
        self.assertEqual(json.loads(config_map["data"]["bootgate.json"]), json.loads(DASHBOARD.read_text()))

    def test_promtool_checks_the_rules(self):
        (rule,) = [d for d in self.rendered if d["kind"] == "PrometheusRule"]
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "rules.yaml"
            path.write_text(yaml.safe_dump(rule["spec"]))
            support.run([promtool(), "check", "rules", str(path)])

    def test_each_file_opens_with_a_header(self):
        for file in sorted(COMPONENT.glob("*.yaml")):
            self.assertTrue(file.read_text().startswith("# "), f"{file.name} opens with no comment")


def kustomize_build(path: Path) -> list[dict]:
    kubectl = support.tool("kubectl")
    return support.documents(support.run([kubectl, "kustomize", str(path)]).stdout)



class DashboardMetrics(unittest.TestCase):
    """The dashboard's and the rules' metric names against a real guard's /metrics."""

    @classmethod
    def setUpClass(cls):
        scratch = tempfile.TemporaryDirectory()
        cls.addClassCleanup(scratch.cleanup)
        directory = Path(scratch.name)
        # A family shows at /metrics once it has a sample: the guard is driven through a
        # transition to ready against a loopback vLLM (tests/fixtures/preset_servers.py), so that
        # every family the dashboard reads has one.
        config = {
            "state_dir": str(directory),
            "listen": "127.0.0.1:0",
            "checks": {},
            "sentinel": {"preset": "vllm", "model": "llama", "interval": "1s", "success_threshold": 1, "hold": "0s"},
        }
        model, model_port = test_chart_guard.start_model(config)
        cls.addClassCleanup(model.stop)
        config["sentinel"]["url"] = f"http://127.0.0.1:{model_port}"
        path = directory / "bootgate.yaml"
        path.write_text(yaml.safe_dump(config))
        guard = test_chart_guard.Process([support.bootgate(), "sidecar", "--config", str(path)], "stderr")
        cls.addClassCleanup(guard.stop)
        port = int(guard.await_line(r"guard listening on \S+:(\d+),").group(1))
        guard.await_line(r"readiness: \S+ -> ready")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", "/metrics")
        answer = connection.getresponse()
        assert answer.status == 200, answer.status
        cls.metrics = answer.read().decode()
        connection.close()
        cls.exported = exported_names(cls.metrics)
        cls.rules = yaml.safe_load(RULES.read_text())
        cls.kube_state_metrics = {
            name for rule in rules_of(cls.rules) for name in metric_names(rule["expr"]) if name.startswith("kube_")
        }
        cls.dashboard = json.loads(DASHBOARD.read_text())

    def test_the_guard_exports_what_the_readme_lists(self):
        for name in ("bootgate_ready", "bootgate_check_up", "bootgate_transitions_total", "bootgate_sentinel_latency_seconds_bucket"):
            self.assertIn(name, self.exported)

    def test_dashboard_queries_use_exported_metrics_only(self):
        queries = dashboard_queries(self.dashboard)
        self.assertGreaterEqual(len(queries), 8)
        allowed = self.exported | self.kube_state_metrics
        for query in queries:
            with self.subTest(query=query):
                names = metric_names(query)
                self.assertTrue(names, "a query reads no metric")
                self.assertLessEqual(names, allowed, f"not exported: {names - allowed}")

    def test_rules_bootgate_metrics_are_exported(self):
        for rule in rules_of(self.rules):
            names = {n for n in metric_names(rule["expr"]) if not n.startswith("kube_")}
            self.assertLessEqual(names, self.exported, rule["alert"])

    def test_dashboard_shows_what_it_promises(self):
        titles = [p["title"] for p in self.dashboard["panels"]]
        exprs = " ".join(dashboard_queries(self.dashboard))
        for metric in ("bootgate_ready", "bootgate_transitions_total", "bootgate_sentinel_latency_seconds_bucket", "bootgate_check_up"):
            self.assertIn(metric, exprs)
        self.assertEqual(len(titles), len(set(titles)))
        ids = [p["id"] for p in self.dashboard["panels"]]
        self.assertEqual(len(ids), len(set(ids)))

    def test_metric_names_reads_promql(self):
        self.assertEqual(
            metric_names('sum by (pod, to) (increase(bootgate_transitions_total{namespace=~"$namespace"}[$__rate_interval]))'),
            {"bootgate_transitions_total"},
        )
        self.assertEqual(
            metric_names('max by (namespace, pod) (a{x="y"} == 0) and on (namespace, pod) max by (namespace, pod) (b_c)'),
            {"a", "b_c"},
        )
        self.assertEqual(metric_names('histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m]))) > 2'), {"h_bucket"})


if __name__ == "__main__":
    unittest.main()
