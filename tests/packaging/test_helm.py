"""The Helm charts in k8s/helm, rendered and linted by Helm's own engine.

helm_python is Helm v4's Go library; it renders and lints offline. The example chart depends on
the library chart through `file://../bootgate`: each test class copies the charts into a
scratch directory, side by side, and resolves the dependency there with
helm_python.dependency_update (what `helm dependency update` does; a file:// repository needs no
network), so the working tree is left alone. The worked example in docs/helm.md is rendered
the same way, from the page itself.

Run from tests/packaging: ../../target/py-tools/bin/python -B -m unittest test_helm -v
"""

import contextlib
import os
import re
import shutil
import sys
import tempfile
import unittest
from pathlib import Path

import yaml

import support
from support import CLASSIC_VERSIONS, GPU, NATIVE_VERSIONS, ROOT

try:
    import helm_python
except ImportError:  # not the python in target/py-tools
    helm_python = None

HELM = ROOT / "k8s" / "helm"
LIBRARY = HELM / "bootgate"
EXAMPLE = HELM / "example-model-server"
DOCS = ROOT / "docs" / "helm.md"

RELEASE = "llama"
NAMESPACE = "models"
IMAGE = "ghcr.io/bootgate/bootgate"
BOOTGATE_DIGEST = "sha256:" + "0123456789abcdef" * 4
SERVER_DIGEST = "sha256:" + "fedcba9876543210" * 4
CONFIG = "/etc/bootgate/bootgate.yaml"
STATE = "/run/bootgate"
ENV_FILE = f"{STATE}/env"
HF = "/var/run/secrets/hf"
PROBES = ("startupProbe", "readinessProbe", "livenessProbe")

DISABLED = {"bootgate": {"enabled": False}}
CLASSIC = {"bootgate": {"nativeSidecar": False}}
MODEL_LIVENESS = {"bootgate": {"modelLiveness": {"enabled": True}}}
# The server's livenessProbe on the guard: the port by number, since a probe resolves a named
# port among the probed container's own ports only.
MODEL_PROBE = {
    "httpGet": {"path": "/livez/model", "port": 8081},
    "periodSeconds": 10,
    "timeoutSeconds": 5,
    "failureThreshold": 3,
}
TWO_GPUS_PINNED = {
    "server": {"gpus": 2, "image": {"digest": SERVER_DIGEST}},
    "bootgate": {"image": {"digest": BOOTGATE_DIGEST}, "config": {"checks": {"gpu": {"count": 2}}}},
}


def require_helm() -> None:
    if helm_python is None:
        support.unavailable("helm_python missing: run with target/py-tools/bin/python (scripts/py-tools)")


def load_chart(directory: Path):
    """Resolves the chart's dependencies offline and loads it."""
    if any(dep.get("repository") for dep in yaml.safe_load((directory / "Chart.yaml").read_text()).get("dependencies", [])):
        helm_python.dependency_update(str(directory), skip_refresh=True)
    return helm_python.Chart.load(str(directory))


def render(chart, values: dict | None = None) -> list[dict]:
    """Every Kubernetes document the chart renders (NOTES.txt left out)."""
    manifests = chart.render(values or {}, name=RELEASE, namespace=NAMESPACE)
    docs = []
    for path in sorted(manifests):
        if path.endswith((".yaml", ".yml")):
            docs += support.documents(manifests[path])
    return docs


def lint_findings(path: Path, values: dict | None = None) -> list[dict]:
    """`helm lint --strict`'s findings, less the INFO that a chart has no icon."""
    report = helm_python.lint(str(path), values, strict=True)
    findings = [
        m for m in report["messages"] if not (m["severity"] == 1 and m["error"] == "icon is recommended")
    ]
    return findings + [{"error": e} for e in report["errors"]]


@contextlib.contextmanager
def go_warnings_silenced():
    """Helm's Go code writes some warnings straight to file descriptor 2, which Python cannot
    redirect: point it at /dev/null meanwhile."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def without_model(config: dict) -> dict:
    """The config less the sentinel's model, which the example chart fills in from
    server.servedModelName."""
    sentinel = {k: v for k, v in config["sentinel"].items() if k != "model"}
    return {**config, "sentinel": sentinel}


def of_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d.get("kind") == kind]


def the_pod(test: unittest.TestCase, docs: list[dict]) -> tuple[dict, dict]:
    workloads = support.workloads(docs)
    test.assertEqual([w["kind"] for w in workloads], ["Deployment"])
    return workloads[0], support.pod_spec(workloads[0])


def named(containers: list[dict], name: str) -> dict:
    for container in containers:
        if container["name"] == name:
            return container
    raise AssertionError(f"no container {name} among {[c['name'] for c in containers]}")


def mounts(container: dict) -> dict[str, dict]:
    return {m["mountPath"]: m for m in container.get("volumeMounts", [])}


def argv(container: dict) -> list[str]:
    return container.get("command", []) + container.get("args", [])


def words_after_exec(test: unittest.TestCase, script: str) -> list[str]:
    """What `/bin/sh -c '. /run/bootgate/env && exec CMD…'` would exec, split by a real shell."""
    prefix = f". {ENV_FILE} && exec "
    test.assertTrue(script.startswith(prefix), f"the server does not source the env file first: {script!r}")
    done = support.run(["/bin/sh", "-c", f"printf '%s\\0' {script[len(prefix):]}"])
    return done.stdout.split("\0")[:-1]


class Charts(unittest.TestCase):
    """The charts copied into a scratch directory, side by side, as in k8s/helm."""

    @classmethod
    def setUpClass(cls):
        require_helm()
        cls.scratch = tempfile.TemporaryDirectory()
        cls.dir = Path(cls.scratch.name)
        cls.library_dir = cls.dir / "bootgate"
        shutil.copytree(LIBRARY, cls.library_dir)

    @classmethod
    def tearDownClass(cls):
        cls.scratch.cleanup()

    def assert_form(self, docs: list[dict], versions: list[str], native: bool | None) -> dict:
        """Valid for every version, admitted by the API server and `restricted`, and (unless
        native is None: bootgate disabled) wired as support.py expects."""
        support.validate(self, docs, versions)
        _, spec = the_pod(self, docs)
        support.assert_api_server_rules(self, spec)
        if native is not None:
            support.assert_bootgate_wiring(self, docs, spec, native=native)
        return spec


class ExampleChartTest(Charts):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.example_dir = cls.dir / "example-model-server"
        shutil.copytree(EXAMPLE, cls.example_dir, ignore=shutil.ignore_patterns("charts", "Chart.lock"))
        cls.chart = load_chart(cls.example_dir)

    @classmethod
    def tearDownClass(cls):
        cls.chart.close()
        super().tearDownClass()

    # The four forms.

    def test_defaults_native_sidecar(self):
        docs = render(self.chart)
        spec = self.assert_form(docs, NATIVE_VERSIONS, native=True)
        init = spec["initContainers"]
        self.assertEqual([c["name"] for c in init], ["bootgate-init", "bootgate"])
        self.assertEqual([c["name"] for c in spec["containers"]], ["server"])
        gate, guard = init
        server = named(spec["containers"], "server")

        for container in (gate, guard):
            self.assertEqual(container["image"], f"{IMAGE}:0.1.0")
            self.assertNotIn("command", container, "the image's entrypoint is /bootgate")
            self.assertEqual(container["securityContext"]["runAsUser"], 65532)
            self.assertEqual(mounts(container)["/etc/bootgate"]["name"], "bootgate-config")
            self.assertTrue(mounts(container)["/etc/bootgate"].get("readOnly"))
        self.assertEqual(gate["args"], ["init", "--config", CONFIG])
        self.assertEqual(guard["args"], ["sidecar", "--config", CONFIG])

        # The gate: the server's GPUs, NVML only, its failure in `describe`, no probes.
        env = {e["name"]: e.get("value") for e in gate["env"]}
        self.assertEqual(env["NVIDIA_DRIVER_CAPABILITIES"], "utility")
        self.assertEqual(gate["resources"]["limits"][GPU], 1)
        self.assertEqual(server["resources"]["limits"][GPU], 1)
        self.assertEqual(gate["terminationMessagePolicy"], "FallbackToLogsOnError")
        for probe in PROBES + ("restartPolicy",):
            self.assertNotIn(probe, gate)
        self.assertIn(f"{HF}", mounts(gate))
        self.assertIn("/models", mounts(gate), "the weights check reads /models")

        # The guard: a native sidecar on 8081 with small requests and no GPU.
        self.assertEqual(guard["restartPolicy"], "Always")
        self.assertEqual(guard["ports"], [{"name": "bootgate", "containerPort": 8081, "protocol": "TCP"}])
        self.assertEqual(guard["readinessProbe"]["failureThreshold"], 1)
        self.assertLessEqual(guard["readinessProbe"]["periodSeconds"], 5)
        self.assertEqual(guard["resources"]["requests"], {"cpu": "10m", "memory": "16Mi"})
        self.assertEqual(set(guard["resources"]["limits"]), {"cpu", "memory"})

        # The shared state_dir: in memory, small, written by the gate and the guard, read by the server.
        volumes = {v["name"]: v for v in spec["volumes"]}
        state = volumes["bootgate-state"]["emptyDir"]
        self.assertEqual(state["medium"], "Memory")
        self.assertIn("sizeLimit", state)
        for container in (gate, guard, server):
            self.assertEqual(mounts(container)[STATE]["name"], "bootgate-state", container["name"])
        self.assertTrue(mounts(server)[STATE].get("readOnly"))
        self.assertFalse(mounts(gate)[STATE].get("readOnly", False))

        # The token: an optional Secret, in the gate and the server.
        self.assertEqual(volumes["hf-token"]["secret"], {"secretName": "hf-token", "optional": True})
        self.assertEqual(mounts(server)[HF]["name"], "hf-token")
        self.assertEqual(mounts(gate)[HF]["name"], "hf-token")

        # The server: vLLM, started through the env file; a preStop sleep inside the grace period.
        self.assertTrue(server["image"].startswith("vllm/vllm-openai:"), server["image"])
        self.assertNotIn("args", server)
        self.assertEqual(server["command"][:2], ["/bin/sh", "-c"])
        self.assertEqual(len(server["command"]), 3)
        words = words_after_exec(self, server["command"][2])
        self.assertEqual(words[:3], ["vllm", "serve", "/models/llama"])
        self.assertEqual(words[words.index("--port") + 1], "8000")
        self.assertEqual(server["ports"], [{"name": "http", "containerPort": 8000, "protocol": "TCP"}])
        sleep = server["lifecycle"]["preStop"]["exec"]["command"]
        self.assertEqual(sleep[0], "sleep")
        self.assertGreater(spec["terminationGracePeriodSeconds"], int(sleep[1]))
        for container in support.containers(spec):
            self.assert_restricted_container(spec, container)

        # The Service on 8000, onto the pod.
        workload, _ = the_pod(self, docs)
        (service,) = of_kind(docs, "Service")
        self.assertEqual([(p["port"], p["targetPort"]) for p in service["spec"]["ports"]], [(8000, "http")])
        labels = workload["spec"]["template"]["metadata"]["labels"]
        self.assertLessEqual(service["spec"]["selector"].items(), labels.items())

        # The ConfigMap holds the config from values, which passes `bootgate validate` (wiring).
        (config_map,) = of_kind(docs, "ConfigMap")
        self.assertEqual(volumes["bootgate-config"]["configMap"]["name"], config_map["metadata"]["name"])
        self.assertEqual(set(config_map["data"]), {"bootgate.yaml"})
        config = yaml.safe_load(config_map["data"]["bootgate.yaml"])
        values = self.chart.values["bootgate"]["config"]
        self.assertEqual(without_model(config), values, "the config from values, and the model below")
        self.assertEqual(config["state_dir"], STATE)
        sentinel = config["sentinel"]
        self.assertEqual((sentinel["preset"], sentinel["url"]), ("vllm", "http://127.0.0.1:8000"))
        self.assertNotIn("queries", sentinel, "the preset's queries, not ones written again")
        served = words[words.index("--served-model-name") + 1]
        self.assertEqual(sentinel["model"], served, "the sentinel asks for the model the server serves")
        self.assertEqual(set(config["checks"]), {"hf-token", "weights", "gpu"})
        annotations = workload["spec"]["template"]["metadata"]["annotations"]
        self.assertRegex(annotations["checksum/bootgate-config"], "^[0-9a-f]{64}$")
        self.assertEqual(annotations["kubectl.kubernetes.io/default-container"], "server")

    def test_disabled(self):
        docs = render(self.chart, DISABLED)
        spec = self.assert_form(docs, CLASSIC_VERSIONS, native=None)
        self.assertEqual(support.bootgate_containers(spec), (None, None))
        self.assertNotIn("initContainers", spec)
        self.assertEqual([c["name"] for c in spec["containers"]], ["server"])
        for container in support.containers(spec):
            self.assertNotIn("bootgate", container["image"])
        self.assertEqual([v["name"] for v in spec["volumes"] if v["name"].startswith("bootgate")], [])
        self.assertEqual(of_kind(docs, "ConfigMap"), [])
        server = named(spec["containers"], "server")
        self.assertEqual(server["command"][:3], ["vllm", "serve", "/models/llama"])
        self.assertNotIn(ENV_FILE, " ".join(argv(server)))
        self.assertNotIn(STATE, mounts(server))
        self.assertEqual(mounts(server)[HF]["name"], "hf-token", "the server keeps its token")
        workload, _ = the_pod(self, docs)
        annotations = workload["spec"]["template"]["metadata"]["annotations"]
        self.assertNotIn("checksum/bootgate-config", annotations)
        self.assertNotIn("bootgate", yaml.safe_dump_all(docs).replace("example-model-server", ""))

    def test_classic_sidecar(self):
        docs = render(self.chart, CLASSIC)
        spec = self.assert_form(docs, CLASSIC_VERSIONS, native=False)
        self.assertEqual([c["name"] for c in spec["initContainers"]], ["bootgate-init"])
        self.assertEqual([c["name"] for c in spec["containers"]], ["server", "bootgate"])
        guard = named(spec["containers"], "bootgate")
        self.assertNotIn("restartPolicy", guard)
        self.assertNotIn("startupProbe", guard)
        self.assertEqual(guard["args"], ["sidecar", "--config", CONFIG])
        server = named(spec["containers"], "server")
        self.assertEqual(words_after_exec(self, server["command"][2])[:2], ["vllm", "serve"])

    def test_two_gpus_and_digests(self):
        docs = render(self.chart, TWO_GPUS_PINNED)
        spec = self.assert_form(docs, NATIVE_VERSIONS, native=True)
        gate, guard = spec["initContainers"]
        server = named(spec["containers"], "server")
        self.assertEqual(gate["image"], f"{IMAGE}@{BOOTGATE_DIGEST}")
        self.assertEqual(guard["image"], f"{IMAGE}@{BOOTGATE_DIGEST}")
        self.assertEqual(server["image"], f"vllm/vllm-openai@{SERVER_DIGEST}")
        self.assertEqual(gate["resources"]["limits"][GPU], 2)
        self.assertEqual(server["resources"]["limits"][GPU], 2)
        self.assertNotIn(GPU, guard["resources"].get("limits", {}))
        words = words_after_exec(self, server["command"][2])
        self.assertEqual(words[words.index("--tensor-parallel-size") + 1], "2")
        (config_map,) = of_kind(docs, "ConfigMap")
        config = yaml.safe_load(config_map["data"]["bootgate.yaml"])
        self.assertEqual(config["checks"]["gpu"]["count"], 2)

    # Details of the forms.

    def test_no_gpus(self):
        docs = render(self.chart, {"server": {"gpus": 0}, "bootgate": {"config": {"checks": {"gpu": None}}}})
        spec = self.assert_form(docs, NATIVE_VERSIONS, native=True)
        for container in support.containers(spec):
            self.assertNotIn(GPU, container.get("resources", {}).get("limits", {}), container["name"])
        (config_map,) = of_kind(docs, "ConfigMap")
        self.assertNotIn("gpu", yaml.safe_load(config_map["data"]["bootgate.yaml"])["checks"])

    def test_a_gpu_check_wanting_more_gpus_than_the_pod_requests_is_refused(self):
        with self.assertRaises(helm_python.HelmError) as refused:
            render(self.chart, {"server": {"gpus": 0}})
        self.assertIn("bootgate.config.checks.gpu wants 1 GPU(s) but server.gpus is 0", str(refused.exception))
        with self.assertRaises(helm_python.HelmError):
            render(self.chart, {"server": {"gpus": 1}, "bootgate": {"config": {"checks": {"gpu": {"count": 2}}}}})
        # Disabled, the config is not used.
        render(self.chart, {"server": {"gpus": 0}, "bootgate": {"enabled": False}})

    def test_the_default_tag_is_the_library_charts_app_version(self):
        app_version = yaml.safe_load((LIBRARY / "Chart.yaml").read_text())["appVersion"]
        _, spec = the_pod(self, render(self.chart))
        gate, _ = support.bootgate_containers(spec)
        self.assertEqual(gate["image"], f"{IMAGE}:{app_version}")
        tagged = render(self.chart, {"bootgate": {"image": {"tag": "0.2.0"}}})
        gate, guard = support.bootgate_containers(the_pod(self, tagged)[1])
        self.assertEqual((gate["image"], guard["image"]), (f"{IMAGE}:0.2.0", f"{IMAGE}:0.2.0"))

    def test_a_config_change_rolls_the_pods(self):
        def checksum(values):
            workload, _ = the_pod(self, render(self.chart, values))
            return workload["spec"]["template"]["metadata"]["annotations"]["checksum/bootgate-config"]

        default = checksum({})
        self.assertEqual(checksum({"replicaCount": 3, "server": {"gpus": 2}}), default)
        self.assertNotEqual(checksum({"bootgate": {"config": {"deadline": "20m"}}}), default)

    def test_the_sentinel_asks_for_the_served_model(self):
        def sentinel(values):
            (config_map,) = of_kind(render(self.chart, values), "ConfigMap")
            return yaml.safe_load(config_map["data"]["bootgate.yaml"])["sentinel"]

        self.assertEqual(sentinel({"server": {"servedModelName": "mistral"}})["model"], "mistral")
        given = {"server": {"servedModelName": "mistral"}, "bootgate": {"config": {"sentinel": {"model": "m"}}}}
        self.assertEqual(sentinel(given)["model"], "m", "a model given in the config wins")
        # Written by hand, the sentinel gets no model: `model` is only for a preset.
        query = {"url": "http://127.0.0.1:8000/v1/models"}
        by_hand = {"bootgate": {"config": {"sentinel": {"preset": None, "url": None, "queries": [query]}}}}
        written = sentinel(by_hand)
        self.assertEqual(written["queries"], [query])
        self.assertFalse({"preset", "url", "model"} & set(written), written)

    def test_server_arguments_reach_vllm_unchanged(self):
        extra = ["--chat-template", "{% if x %}it's {{ y }} & $HOME{% endif %}", "--max-model-len", "8192", ""]
        docs = render(self.chart, {"server": {"extraArgs": extra}})
        server = named(the_pod(self, docs)[1]["containers"], "server")
        words = words_after_exec(self, server["command"][2])
        self.assertEqual(words[-len(extra):], extra)
        disabled = render(self.chart, {"server": {"extraArgs": extra}, **DISABLED})
        server = named(the_pod(self, disabled)[1]["containers"], "server")
        self.assertEqual(server["command"][-len(extra):], extra)

    def test_state_dir_and_listen_come_from_the_config(self):
        docs = render(self.chart, {"bootgate": {"config": {"state_dir": "/run/gate", "listen": "0.0.0.0:9091"}}})
        # Not assert_bootgate_wiring: it expects the default port, 8081.
        spec = self.assert_form(docs, NATIVE_VERSIONS[-1:], native=None)
        gate, guard = support.bootgate_containers(spec)
        for probe in PROBES:
            self.assertEqual(guard[probe]["httpGet"]["port"], "bootgate")
        server = named(spec["containers"], "server")
        for container in (gate, guard, server):
            self.assertEqual(mounts(container)["/run/gate"]["name"], "bootgate-state")
        self.assertEqual(guard["ports"][0]["containerPort"], 9091)
        self.assertTrue(server["command"][2].startswith(". /run/gate/env && exec vllm serve "))

    # Model liveness: an opt-in livenessProbe on the server.

    def test_model_liveness_is_off_by_default(self):
        for values in ({}, CLASSIC):
            with self.subTest(values=values):
                server = named(the_pod(self, render(self.chart, values))[1]["containers"], "server")
                self.assertNotIn("livenessProbe", server)
        self.assertIs(self.chart.values["bootgate"]["modelLiveness"]["enabled"], False)

    def test_model_liveness_probes_the_guard_by_port_number(self):
        forms = (
            (MODEL_LIVENESS, NATIVE_VERSIONS, True),
            ({"bootgate": {"modelLiveness": {"enabled": True}, "nativeSidecar": False}}, CLASSIC_VERSIONS, False),
        )
        for values, versions, native in forms:
            with self.subTest(native=native):
                spec = self.assert_form(render(self.chart, values), versions, native=native)
                _, guard = support.bootgate_containers(spec)
                server = named(spec["containers"], "server")
                self.assertEqual(server["livenessProbe"], MODEL_PROBE)
                self.assertIs(type(server["livenessProbe"]["httpGet"]["port"]), int)
                self.assertEqual(guard["ports"][0]["containerPort"], 8081)
                # The guard's own probes stay as they were: its livenessProbe is about bootgate.
                self.assertEqual(guard["livenessProbe"]["httpGet"], {"path": "/livez", "port": "bootgate"})
                for probe in ("readinessProbe", "startupProbe"):
                    self.assertNotIn(probe, server, "the guard's readiness stands for the server")

    def test_model_liveness_follows_listen_and_its_values(self):
        values = {
            "bootgate": {
                "modelLiveness": {"enabled": True, "periodSeconds": 20, "timeoutSeconds": 2, "failureThreshold": 6},
                "config": {"listen": "0.0.0.0:9091", "sentinel": {"dead_after": "15m"}},
            }
        }
        docs = render(self.chart, values)
        spec = self.assert_form(docs, NATIVE_VERSIONS[-1:], native=None)
        server = named(spec["containers"], "server")
        expected = {"httpGet": {"path": "/livez/model", "port": 9091}, "periodSeconds": 20, "timeoutSeconds": 2}
        self.assertEqual(server["livenessProbe"], {**expected, "failureThreshold": 6})
        (config_map,) = of_kind(docs, "ConfigMap")
        sentinel = yaml.safe_load(config_map["data"]["bootgate.yaml"])["sentinel"]
        self.assertEqual(sentinel["dead_after"], "15m", "the window is the config's, set from values")
        shipped = self.chart.values["bootgate"]["config"]["sentinel"]
        self.assertEqual(without_model({"sentinel": sentinel}), {"sentinel": {**shipped, "dead_after": "15m"}})
        # Disabled, bootgate adds nothing to the server, this probe included.
        disabled = render(self.chart, {"bootgate": {"enabled": False, "modelLiveness": {"enabled": True}}})
        self.assertNotIn("livenessProbe", named(the_pod(self, disabled)[1]["containers"], "server"))

    def test_model_liveness_refuses_a_window_that_is_off(self):
        # YAML 1.1 reads a bare `off` in a values file as false: both mean off.
        for dead_after in ("off", False):
            values = {"bootgate": {"modelLiveness": {"enabled": True}, "config": {"sentinel": {"dead_after": dead_after}}}}
            with self.subTest(dead_after=dead_after):
                with self.assertRaises(helm_python.HelmError) as refused:
                    render(self.chart, values)
                self.assertIn("dead_after is off: /livez/model would never fail", str(refused.exception))
        # Off, the window is the guard's business alone.
        render(self.chart, {"bootgate": {"config": {"sentinel": {"dead_after": "off"}}}})

    def assert_restricted_container(self, spec: dict, container: dict):
        """The whole restricted set on the container itself (seccomp may come from the pod)."""
        security = container["securityContext"]
        self.assertIs(security["runAsNonRoot"], True, container["name"])
        self.assertIs(security["allowPrivilegeEscalation"], False, container["name"])
        self.assertIs(security["readOnlyRootFilesystem"], True, container["name"])
        self.assertEqual(security["capabilities"]["drop"], ["ALL"], container["name"])
        seccomp = security.get("seccompProfile", spec.get("securityContext", {}).get("seccompProfile"))
        self.assertEqual(seccomp, {"type": "RuntimeDefault"}, container["name"])

    # Lint and schema.

    def test_lint_is_clean(self):
        for path in (self.example_dir, self.library_dir):
            with self.subTest(chart=path.name):
                self.assertEqual(lint_findings(path), [])
        for values in (DISABLED, CLASSIC, TWO_GPUS_PINNED, MODEL_LIVENESS):
            with self.subTest(values=values):
                self.assertEqual(lint_findings(self.example_dir, values), [])

    def test_schema_accepts_the_forms(self):
        for values in ({}, DISABLED, CLASSIC, TWO_GPUS_PINNED, MODEL_LIVENESS):
            with self.subTest(values=values):
                self.chart.validate_schema(values)

    def test_schema_rejects_bad_values(self):
        bad = {
            "enabled as a string": {"bootgate": {"enabled": "yes"}},
            "nativeSidecar as a string": {"bootgate": {"nativeSidecar": "false"}},
            "a negative gpu count": {"server": {"gpus": -1}},
            "a fractional gpu count": {"server": {"gpus": 1.5}},
            "a gpu count as a string": {"server": {"gpus": "2"}},
            "a tag as a digest": {"bootgate": {"image": {"digest": "0.1.0"}}},
            "a numeric tag": {"bootgate": {"image": {"tag": 0.1}}},
            "an unknown pull policy": {"bootgate": {"image": {"pullPolicy": "Sometimes"}}},
            "a misspelt toggle": {"bootgate": {"enable": False}},
            "a config that is not an object": {"bootgate": {"config": "checks: {}"}},
            "a relative state_dir": {"bootgate": {"config": {"state_dir": "run/bootgate"}}},
            "a listen without a port": {"bootgate": {"config": {"listen": "[::]"}}},
            "resources that are not quantities": {"bootgate": {"sidecar": {"resources": {"requests": {"cpu": "lots"}}}}},
            "modelLiveness.enabled as a string": {"bootgate": {"modelLiveness": {"enabled": "true"}}},
            "a liveness failureThreshold of 0": {"bootgate": {"modelLiveness": {"failureThreshold": 0}}},
            "a liveness period as a duration": {"bootgate": {"modelLiveness": {"periodSeconds": "10s"}}},
            "a misspelt liveness key": {"bootgate": {"modelLiveness": {"enable": True}}},
        }
        for why, values in bad.items():
            # A table overridden by a scalar also draws a warning on stderr, before the schema.
            with self.subTest(why), go_warnings_silenced():
                with self.assertRaises(helm_python.HelmValuesError):
                    self.chart.validate_schema(values)
                with self.assertRaises(helm_python.HelmValuesError):
                    self.chart.render(values, name=RELEASE, namespace=NAMESPACE)


class DocsExampleTest(Charts):
    """The worked example in docs/helm.md: a chart of one's own with the include lines."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        files = re.findall(r"^`(my-server/[^`]+)`[^\n]*:\n\n```yaml\n(.*?)^```$", DOCS.read_text(), re.M | re.S)
        cls.files = dict(files)
        for name, text in files:
            path = cls.dir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        cls.example_dir = cls.dir / "my-server"
        cls.chart = load_chart(cls.example_dir)

    @classmethod
    def tearDownClass(cls):
        cls.chart.close()
        super().tearDownClass()

    def test_the_page_has_the_example(self):
        self.assertEqual(
            set(self.files),
            {
                "my-server/Chart.yaml",
                "my-server/values.yaml",
                "my-server/templates/bootgate.yaml",
                "my-server/templates/deployment.yaml",
            },
        )
        includes = re.findall(r'include "bootgate\.[A-Za-z]+"', "".join(self.files.values()))
        self.assertEqual(len(includes), 8, "the page counts seven include lines and one for the ConfigMap")

    def test_native(self):
        docs = render(self.chart)
        spec = self.assert_form(docs, NATIVE_VERSIONS, native=True)
        gate, _ = support.bootgate_containers(spec)
        self.assertEqual(gate["image"], f"{IMAGE}:0.1.0")
        self.assertIn("/models", mounts(gate))

    def test_classic(self):
        docs = render(self.chart, CLASSIC)
        self.assert_form(docs, CLASSIC_VERSIONS, native=False)

    def test_disabled(self):
        docs = render(self.chart, DISABLED)
        spec = self.assert_form(docs, CLASSIC_VERSIONS, native=None)
        self.assertEqual(support.bootgate_containers(spec), (None, None))
        self.assertEqual(of_kind(docs, "ConfigMap"), [])
        self.assertEqual(named(spec["containers"], "server")["command"], ["vllm", "serve", "/models/llama"])

    def test_model_liveness(self):
        server = named(the_pod(self, render(self.chart))[1]["containers"], "server")
        self.assertNotIn("livenessProbe", server, "off by default")
        docs = render(self.chart, MODEL_LIVENESS)
        spec = self.assert_form(docs, NATIVE_VERSIONS, native=True)
        self.assertEqual(named(spec["containers"], "server")["livenessProbe"], MODEL_PROBE)

    def test_model_liveness_values_are_checked_without_a_schema(self):
        """This chart has no values.schema.json: the library itself refuses what would make a
        broken probe, or one that could never fail."""
        refused = {
            "enabled as a string": ({"enabled": "yes"}, {}, "modelLiveness.enabled must be true or false"),
            "a zero threshold": ({"enabled": True, "failureThreshold": 0}, {}, "failureThreshold must be a whole number"),
            "a fractional period": ({"enabled": True, "periodSeconds": 2.5}, {}, "periodSeconds must be a whole number"),
            "no sentinel": ({"enabled": True}, {"sentinel": None}, "needs a sentinel with a preset or queries"),
            "neither preset nor queries": (
                {"enabled": True},
                {"sentinel": {"preset": None, "url": None, "model": None, "queries": None}},
                "needs a sentinel with a preset or queries",
            ),
        }
        for why, (liveness, config, message) in refused.items():
            with self.subTest(why):
                with self.assertRaises(helm_python.HelmError) as error:
                    render(self.chart, {"bootgate": {"modelLiveness": liveness, "config": config}})
                self.assertIn(message, str(error.exception))

    def test_lint_is_clean(self):
        self.assertEqual(lint_findings(self.example_dir), [])


class ChartFilesTest(unittest.TestCase):
    """What needs no rendering."""

    def test_the_library_is_a_library(self):
        chart = yaml.safe_load((LIBRARY / "Chart.yaml").read_text())
        self.assertEqual(chart["type"], "library")
        helpers = (LIBRARY / "templates" / "_helpers.tpl").read_text()
        version = re.search(r'define "bootgate.appVersion" -}}\s*(\S+)\s*{{-', helpers)
        self.assertEqual(version.group(1), chart["appVersion"], "bootgate.appVersion drifted from Chart.yaml")

    def test_the_example_depends_on_the_library_by_path(self):
        chart = yaml.safe_load((EXAMPLE / "Chart.yaml").read_text())
        library = yaml.safe_load((LIBRARY / "Chart.yaml").read_text())
        self.assertEqual(
            chart["dependencies"],
            [{"name": "bootgate", "version": library["version"], "repository": "file://../bootgate"}],
        )

    def test_the_default_config_is_valid(self):
        values = yaml.safe_load((EXAMPLE / "values.yaml").read_text())
        config = values["bootgate"]["config"]
        # The chart gives the sentinel the served model name (the rendered config is validated
        # with the wiring).
        sentinel = {**config["sentinel"], "model": values["server"]["servedModelName"]}
        support.assert_config_is_valid(self, yaml.safe_dump({**config, "sentinel": sentinel}))

    def test_the_documented_default_config_is_the_default(self):
        values = yaml.safe_load((EXAMPLE / "values.yaml").read_text())
        shown = re.search(r"^The default:\n\n```yaml\n(.*?)^```$", DOCS.read_text(), re.M | re.S)
        self.assertEqual(yaml.safe_load(shown.group(1)), {"bootgate": {"config": values["bootgate"]["config"]}})

    def test_every_value_is_documented(self):
        values = yaml.safe_load((EXAMPLE / "values.yaml").read_text())
        docs = DOCS.read_text()

        def leaves(node, prefix):
            if isinstance(node, dict) and node and prefix != "bootgate.config":
                for key, value in node.items():
                    yield from leaves(value, f"{prefix}.{key}" if prefix else key)
            else:
                yield prefix

        for path in sorted(set(leaves(values, ""))):
            if ".resources." in path:  # documented as a whole
                path = path[: path.index(".resources.") + len(".resources")]
            with self.subTest(value=path):
                self.assertIn(f"`{path}`", docs)


if __name__ == "__main__":
    unittest.main()
