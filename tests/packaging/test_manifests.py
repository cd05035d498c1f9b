"""The plain manifests in k8s/: the native-sidecar form, the classic form for clusters before
1.29, and the kustomize Component, rendered on its example and through the Helm post-renderer.

Each form goes through Kubernetes' own schemas (strict, every supported version), the rules the
API server adds to them, and bootgate's wiring (support.py); then through the contract shared
with the Helm charts (assert_contract below), and the Component must leave the Deployment it is
applied to as it was, apart from what it adds.

    cd tests/packaging && ../../target/py-tools/bin/python -B -m unittest test_manifests -v
"""

import copy
import os
import re
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

import yaml

import support
from support import GPU, ROOT

K8S = ROOT / "k8s"
NATIVE = K8S / "native"
CLASSIC = K8S / "classic"
COMPONENT = K8S / "kustomize" / "component"
MODEL_LIVENESS = K8S / "kustomize" / "model-liveness"
EXAMPLE = K8S / "kustomize" / "example"
POST_RENDER = K8S / "kustomize" / "post-render.sh"

# The contract shared with the Helm charts.
IMAGE = "ghcr.io/bootgate/bootgate:0.1.0"
CONFIG_DIR = "/etc/bootgate"
CONFIG = f"{CONFIG_DIR}/bootgate.yaml"
GATE = {"name": "bootgate-init", "args": ["init", "--config", CONFIG]}
GUARD = {"name": "bootgate", "args": ["sidecar", "--config", CONFIG]}
GUARD_PORT = 8081
STATE_VOLUME, STATE_DIR = "bootgate-state", "/run/bootgate"
CONFIG_VOLUME = "bootgate-config"
HF_VOLUME, HF_DIR, HF_SECRET = "hf-token", "/var/run/secrets/hf", "hf-token"
SERVER_PORT = 8000
SERVER_IMAGE = "vllm/vllm-openai:v0."
RESTRICTED = "pod-security.kubernetes.io/enforce"
# The server's livenessProbe that model liveness adds: the guard's port by number, since a probe
# resolves a named port among the probed container's own ports only.
MODEL_PROBE = {
    "httpGet": {"path": "/livez/model", "port": GUARD_PORT},
    "periodSeconds": 10,
    "timeoutSeconds": 5,
    "failureThreshold": 3,
}


def load_dir(path: Path) -> list[dict]:
    """Every document of every YAML file in a directory, in the order `kubectl apply -f` takes."""
    docs = []
    for file in sorted(path.glob("*.yaml")):
        docs += support.documents(file.read_text())
    return docs


def kubectl() -> str:
    return support.tool("kubectl")


def kustomize(path: Path) -> list[dict]:
    return support.documents(support.run([kubectl(), "kustomize", str(path)]).stdout)


def post_render(text: str, shell: str = "sh", env: dict | None = None) -> subprocess.CompletedProcess:
    """The post-renderer as Helm runs it: manifests on stdin, the result on stdout. It finds
    kubectl on PATH, as it would next to Helm."""
    environment = dict(os.environ, PATH=f"{support.TOOLS}{os.pathsep}{os.environ.get('PATH', '')}")
    environment.pop("KUBECTL", None)
    environment.pop("KUSTOMIZE", None)
    environment.pop("BOOTGATE_MODEL_LIVENESS", None)
    environment.update(env or {})
    return subprocess.run(
        [shell, str(POST_RENDER)], input=text, capture_output=True, text=True, env=environment, cwd=ROOT
    )


def deployments(docs: list[dict]) -> list[dict]:
    return [doc for doc in docs if doc.get("kind") == "Deployment"]


def find(items: list[dict], name: str) -> dict:
    for item in items:
        if item["name"] == name:
            return item
    raise AssertionError(f"no {name} among {[i['name'] for i in items]}")


def mounts(container: dict) -> dict[str, dict]:
    """A container's mounts, by mount path."""
    return {m["mountPath"]: m for m in container.get("volumeMounts", [])}


def volume_at(container: dict, path: str) -> str | None:
    """The name of the volume mounted at a path, or None."""
    mount = mounts(container).get(path)
    return mount and mount["name"]


def gpus(container: dict) -> int:
    return int(container.get("resources", {}).get("limits", {}).get(GPU, 0))


def server_of(spec: dict) -> dict:
    """The model server: the first app container that is not bootgate's guard (the Component
    assumes the same)."""
    return next(c for c in spec["containers"] if c["name"] != GUARD["name"])


def served_model(server: dict) -> str | None:
    """The name vLLM serves the model under (--served-model-name), from the server's argv or the
    shell script that execs it."""
    words = " ".join(server.get("command", []) + server.get("args", [])).replace("=", " ").split()
    if "--served-model-name" not in words:
        return None
    return words[words.index("--served-model-name") + 1]


def quantity(text) -> float:
    """A Kubernetes quantity as a number (bytes, or cores), for the suffixes used here."""
    text = str(text)
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def without(mapping: dict, *keys: str) -> dict:
    return {k: v for k, v in mapping.items() if k not in keys}


def shipped_config(test: unittest.TestCase, docs: list[dict], spec: dict, container: dict) -> dict:
    return yaml.safe_load(support.mounted_config(test, spec, container, docs))


def assert_contract(
    test: unittest.TestCase,
    docs: list[dict],
    spec: dict,
    native: bool,
    hf_volume: str = HF_VOLUME,
    token_in_server: bool = True,
) -> None:
    """The contract shared with the Helm charts, beyond what support.assert_bootgate_wiring
    checks: names, image, arguments, volumes, the server's side, and where the config's paths
    point. Candidates for support.py."""
    init = spec.get("initContainers", [])
    gate = find(init, GATE["name"])
    guard = find(init if native else spec["containers"], GUARD["name"])
    server = server_of(spec)
    volumes = {v["name"]: v for v in spec.get("volumes", [])}

    for container, expected in ((gate, GATE), (guard, GUARD)):
        name = container["name"]
        test.assertEqual(container["image"], IMAGE, name)
        test.assertNotIn("command", container, f"{name}: the image's entrypoint is /bootgate")
        test.assertEqual(container["args"], expected["args"], name)
        config = mounts(container).get(CONFIG_DIR)
        test.assertIsNotNone(config, f"{name} mounts no {CONFIG_DIR}")
        test.assertTrue(config.get("readOnly"), f"{name}: {CONFIG_DIR} read-only")
        test.assertEqual(config["name"], CONFIG_VOLUME)
        test.assertEqual(volume_at(container, STATE_DIR), STATE_VOLUME, name)
        test.assertEqual(container.get("terminationMessagePolicy"), "FallbackToLogsOnError", name)

    # The gate: same GPUs as the server, NVML through the utility capability, no device choice.
    test.assertEqual(gpus(gate), gpus(server), "the gate requests the server's GPU count")
    env = {e["name"]: e.get("value") for e in gate.get("env", [])}
    test.assertEqual(env.get("NVIDIA_DRIVER_CAPABILITIES"), "utility")
    test.assertNotIn("NVIDIA_VISIBLE_DEVICES", env, "the device plugin sets it")
    test.assertEqual(volume_at(gate, HF_DIR), hf_volume)

    # The guard: a small native sidecar (or app container) on its own named port.
    test.assertEqual(support.is_sidecar(guard), native)
    test.assertEqual(guard.get("ports"), [{"name": "bootgate", "containerPort": GUARD_PORT}])
    if native:
        test.assertEqual(guard["startupProbe"]["httpGet"]["path"], "/startupz")
    else:
        test.assertNotIn("startupProbe", guard, "nothing waits for a classic guard to start")
    test.assertLessEqual(guard["readinessProbe"].get("periodSeconds", 10), 5, "a short readiness period")
    resources = guard.get("resources", {})
    test.assertLessEqual(quantity(resources["requests"]["cpu"]), 0.1)
    test.assertLessEqual(quantity(resources["requests"]["memory"]), 64 * 2**20)
    test.assertIn("cpu", resources.get("limits", {}))
    test.assertIn("memory", resources.get("limits", {}))
    test.assertEqual(gpus(guard), 0, "the guard requests no GPU")

    # Volumes.
    state = volumes[STATE_VOLUME]["emptyDir"]
    test.assertEqual(state.get("medium"), "Memory")
    test.assertLessEqual(quantity(state["sizeLimit"]), 16 * 2**20, "a small state_dir")
    test.assertEqual(volumes[hf_volume]["secret"], {"secretName": HF_SECRET, "optional": True})
    test.assertIn("configMap", volumes[CONFIG_VOLUME])

    # The server: vLLM on one GPU, port 8000, the gate's state and the token mounted, and a
    # preStop sleep that fits in the grace period with the guard's drain after it.
    test.assertTrue(server["image"].startswith(SERVER_IMAGE), server["image"])
    test.assertEqual(gpus(server), 1)
    test.assertIn(SERVER_PORT, [p["containerPort"] for p in server.get("ports", [])])
    test.assertEqual(volume_at(server, STATE_DIR), STATE_VOLUME, "the server reads the gate's state")
    if token_in_server:
        test.assertEqual(volume_at(server, HF_DIR), hf_volume, "the server reads the token")
    pre_stop = server["lifecycle"]["preStop"]
    test.assertEqual(list(pre_stop), ["exec"], "an exec hook: the sleep action needs 1.30")
    command = pre_stop["exec"]["command"]
    test.assertEqual(command[0], "sleep")
    sleep = int(command[1])
    test.assertGreaterEqual(sleep, 5)

    # Every container: the restricted Pod Security level, read-only root included.
    pod_security = spec.get("securityContext", {})
    for container in support.containers(spec):
        security = container.get("securityContext", {})
        name = container["name"]
        test.assertTrue(security.get("runAsNonRoot", pod_security.get("runAsNonRoot")), name)
        test.assertIs(security.get("allowPrivilegeEscalation"), False, name)
        test.assertIs(security.get("readOnlyRootFilesystem"), True, name)
        test.assertEqual(security.get("capabilities"), {"drop": ["ALL"]}, name)
        seccomp = security.get("seccompProfile", pod_security.get("seccompProfile"))
        test.assertEqual(seccomp, {"type": "RuntimeDefault"}, name)

    # The config: its paths lie under what the gate mounts, it listens where the probes go, and
    # the sentinel asks this server.
    config = shipped_config(test, docs, spec, gate)
    test.assertEqual(shipped_config(test, docs, spec, guard), config, "one config for the gate and the guard")
    test.assertEqual(config["state_dir"], STATE_DIR)
    test.assertTrue(config["listen"].endswith(f":{GUARD_PORT}"))
    drain = int(str(config.get("drain", "2s")).removesuffix("s"))
    test.assertGreaterEqual(spec.get("terminationGracePeriodSeconds", 30), sleep + drain + 10)
    gate_dirs = [path.rstrip("/") + "/" for path in mounts(gate)]
    for name, check in config["checks"].items():
        path = check.get("file") or check.get("path")
        if path:
            test.assertTrue(
                any(path.startswith(d) for d in gate_dirs), f"check {name}: {path} is not mounted in the gate"
            )
        if check["kind"] == "gpu":
            test.assertEqual(check.get("count", 1), gpus(gate), f"check {name}: count")
    test.assertEqual(config["checks"]["hf-token"]["file"], f"{HF_DIR}/token")
    sentinel = config["sentinel"]
    if "preset" in sentinel:
        # The preset's queries go to url; `bootgate validate` (wiring) has expanded them.
        test.assertEqual(sentinel["url"], f"http://127.0.0.1:{SERVER_PORT}")
        test.assertEqual(sentinel["model"], served_model(server))
        test.assertNotIn("queries", sentinel, "the preset's production query, not one written again")
    else:
        queries = sentinel["queries"]
        test.assertTrue(queries, "a sentinel query")
        for query in queries:
            test.assertEqual(query["url"], f"http://127.0.0.1:{SERVER_PORT}/v1/completions")
            test.assertIn("expect", query)


def assert_service(test: unittest.TestCase, docs: list[dict], deployment: dict) -> None:
    """A Service that selects the pod and sends port 8000 to the server, Ready pods only."""
    services = [doc for doc in docs if doc.get("kind") == "Service"]
    test.assertEqual(len(services), 1)
    service = services[0]["spec"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    test.assertTrue(service["selector"].items() <= labels.items(), "the Service selects the pod")
    test.assertFalse(service.get("publishNotReadyAddresses", False), "only Ready pods get traffic")
    port = find(service["ports"], "http")
    test.assertEqual(port["port"], SERVER_PORT)
    server = server_of(support.pod_spec(deployment))
    test.assertEqual(support.port_number(server, port["targetPort"]), SERVER_PORT)


class Form:
    """The checks every form of the manifests gets. Subclasses say which documents and
    versions."""

    native = True
    versions = support.NATIVE_VERSIONS
    hf_volume = HF_VOLUME
    token_in_server = True

    def documents(self) -> list[dict]:
        raise NotImplementedError

    def test_schemas_strict_every_version(self):
        support.validate(self, self.documents(), self.versions)

    def test_api_server_rules(self):
        workloads = support.workloads(self.documents())
        self.assertTrue(workloads)
        for doc in workloads:
            with self.subTest(workload=doc["metadata"]["name"]):
                support.assert_api_server_rules(self, support.pod_spec(doc))

    def test_bootgate_wiring(self):
        docs = self.documents()
        for doc in deployments(docs):
            with self.subTest(workload=doc["metadata"]["name"]):
                support.assert_bootgate_wiring(self, docs, support.pod_spec(doc), native=self.native)

    def test_contract(self):
        docs = self.documents()
        for doc in deployments(docs):
            with self.subTest(workload=doc["metadata"]["name"]):
                assert_contract(
                    self,
                    docs,
                    support.pod_spec(doc),
                    native=self.native,
                    hf_volume=self.hf_volume,
                    token_in_server=self.token_in_server,
                )

    def test_service(self):
        docs = self.documents()
        assert_service(self, docs, deployments(docs)[0])


class Directory(Form):
    """k8s/native and k8s/classic: plain files for `kubectl apply -f`."""

    directory: Path

    def documents(self) -> list[dict]:
        return load_dir(self.directory)

    def test_each_file_opens_with_a_header(self):
        for file in sorted(self.directory.glob("*.yaml")):
            assert_header(self, file)

    def test_restricted_namespace_first(self):
        docs = self.documents()
        self.assertEqual(docs[0]["kind"], "Namespace", "kubectl apply -f takes the files in name order")
        namespace = docs[0]["metadata"]
        self.assertEqual(namespace["labels"].get(RESTRICTED), "restricted")
        for doc in docs[1:]:
            self.assertEqual(doc["metadata"].get("namespace"), namespace["name"], doc["metadata"]["name"])

    def test_server_sources_the_gate_env(self):
        server = server_of(support.pod_spec(deployments(self.documents())[0]))
        self.assertEqual(server["command"][:2], ["/bin/sh", "-c"])
        script = " ".join(server["command"][2:] + server.get("args", []))
        self.assertTrue(script.startswith(f". {STATE_DIR}/env && exec vllm serve "), script)
        self.assertIn(f"--port {SERVER_PORT}", script)


class Native(Directory, unittest.TestCase):
    directory = NATIVE


class Classic(Directory, unittest.TestCase):
    directory = CLASSIC
    native = False
    versions = support.CLASSIC_VERSIONS

    def test_says_what_is_lost(self):
        header = (CLASSIC / "20-deployment.yaml").read_text().split("apiVersion:")[0]
        self.assertIn("not started before the server", header)
        self.assertIn("not\n# stopped after it", header)

    def test_same_as_native_but_the_guard(self):
        """The classic form differs from the native one only in where the guard sits."""
        for name in ("00-namespace.yaml", "10-configmap.yaml", "30-service.yaml"):
            classic, native = (support.documents((form / name).read_text()) for form in (CLASSIC, NATIVE))
            self.assertEqual(classic, native, name)
        native = support.pod_spec(deployments(load_dir(NATIVE))[0])
        classic = support.pod_spec(deployments(load_dir(CLASSIC))[0])
        native_guard = copy.deepcopy(find(native["initContainers"], GUARD["name"]))
        del native_guard["restartPolicy"], native_guard["startupProbe"]
        self.assertEqual(find(classic["containers"], GUARD["name"]), native_guard)
        self.assertEqual(classic["initContainers"], [find(native["initContainers"], GATE["name"])])
        self.assertEqual(server_of(classic), server_of(native))
        lists = ("initContainers", "containers")
        self.assertEqual(without(classic, *lists), without(native, *lists))


class Applied(Form):
    """The Component applied to plain Deployments: what it must add, and leave alone."""

    # Prefixed, so it never takes over a Deployment's own volume; only the gate reads it.
    hf_volume = "bootgate-hf-token"
    token_in_server = False

    def plain(self) -> list[dict]:
        """The Deployments as they were before the Component."""
        raise NotImplementedError

    def test_servers_left_intact(self):
        rendered = {d["metadata"]["name"]: d for d in deployments(self.documents())}
        for before in deployments(self.plain()):
            name = before["metadata"]["name"]
            with self.subTest(workload=name):
                old, new = support.pod_spec(before), support.pod_spec(rendered[name])
                self.assertEqual(len(new["containers"]), len(old["containers"]))
                for i, (was, now) in enumerate(zip(old["containers"], new["containers"])):
                    was, now = copy.deepcopy(was), copy.deepcopy(now)
                    was_mounts, now_mounts = was.pop("volumeMounts", []), now.pop("volumeMounts", [])
                    self.assertEqual(now, was, "image, command, args, ports, env, resources: unchanged")
                    self.assertEqual(now_mounts[: len(was_mounts)], was_mounts, "its own mounts kept, first")
                    added = {m["mountPath"]: m["name"] for m in now_mounts[len(was_mounts) :]}
                    if i == 0:
                        self.assertEqual(added, {STATE_DIR: STATE_VOLUME})
                    else:
                        self.assertEqual(added, {}, "only the first container is the server")
                # The Deployment's own init containers stay, and run first: a model download
                # finishes before the gate looks for the model.
                inits = [c["name"] for c in new["initContainers"]]
                own = [c["name"] for c in old.get("initContainers", [])]
                self.assertEqual(inits, own + [GATE["name"], GUARD["name"]])
                for c in old.get("initContainers", []):
                    self.assertEqual(find(new["initContainers"], c["name"]), c)
                for v in old.get("volumes", []):
                    self.assertEqual(find(new["volumes"], v["name"]), v)
                self.assertEqual(
                    [v["name"] for v in new["volumes"]][:3], [CONFIG_VOLUME, STATE_VOLUME, self.hf_volume]
                )
                lists = ("initContainers", "containers", "volumes")
                self.assertEqual(without(new, *lists), without(old, *lists), "the pod's own settings")
                # Nothing else in the Deployment moved.
                self.assertEqual(without(rendered[name], "spec"), without(before, "spec"))

    def test_guard_as_in_the_native_manifests(self):
        """The Component's guard and gate are the native manifests' (less their models mount)."""
        native = support.pod_spec(deployments(load_dir(NATIVE))[0])["initContainers"]
        for doc in deployments(self.documents()):
            init = support.pod_spec(doc)["initContainers"]
            self.assertEqual(find(init, GUARD["name"]), find(native, GUARD["name"]))
            gate = copy.deepcopy(find(init, GATE["name"]))
            native_gate = copy.deepcopy(find(native, GATE["name"]))
            gate_mounts = {m["mountPath"]: m for m in gate.pop("volumeMounts")}
            native_mounts = {m["mountPath"]: m for m in native_gate.pop("volumeMounts")}
            self.assertEqual(gate, native_gate)
            if "/models" not in gate_mounts:
                del native_mounts["/models"]
            native_mounts[HF_DIR] = {**native_mounts[HF_DIR], "name": self.hf_volume}
            self.assertEqual(gate_mounts, native_mounts)

    def test_no_local_config_in_the_output(self):
        names = [doc["metadata"]["name"] for doc in self.documents()]
        self.assertFalse([n for n in names if n.startswith("bootgate-mounts")], "local-config stays local")

    def test_config_map_name_is_hashed_and_referenced(self):
        docs = self.documents()
        maps = [doc["metadata"]["name"] for doc in docs if doc["kind"] == "ConfigMap"]
        self.assertEqual(len(maps), 1)
        self.assertRegex(maps[0], r"^bootgate-[a-z0-9]{10}$", "a config change rolls the pods")
        for doc in deployments(docs):
            volume = find(support.pod_spec(doc)["volumes"], CONFIG_VOLUME)
            self.assertEqual(volume["configMap"]["name"], maps[0])


class KustomizeExample(Applied, unittest.TestCase):
    """`kubectl kustomize k8s/kustomize/example`: the Component on a plain vLLM Deployment."""

    @classmethod
    def setUpClass(cls):
        cls.rendered = kustomize(EXAMPLE)

    def documents(self) -> list[dict]:
        return copy.deepcopy(self.rendered)

    def plain(self) -> list[dict]:
        docs = []
        for name in ("deployment.yaml", "service.yaml"):
            docs += support.documents((EXAMPLE / name).read_text())
        for doc in docs:
            doc["metadata"]["namespace"] = "llm"
        return docs

    def test_each_file_opens_with_a_header(self):
        for file in sorted(EXAMPLE.glob("*.yaml")) + sorted(COMPONENT.glob("*.yaml")) + [POST_RENDER]:
            assert_header(self, file)

    def test_plain_deployment_knows_nothing_of_bootgate(self):
        text = (EXAMPLE / "deployment.yaml").read_text()
        body = text[text.index("apiVersion:") :]
        self.assertNotIn("bootgate", body)
        self.assertNotIn("initContainers", body)

    def test_example_patches(self):
        spec = support.pod_spec(deployments(self.documents())[0])
        gate = find(spec["initContainers"], GATE["name"])
        self.assertEqual(mounts(gate).get("/models"), {"name": "models", "mountPath": "/models", "readOnly": True})
        config = shipped_config(self, self.documents(), spec, gate)
        self.assertEqual(config["checks"]["weights"]["path"], "/models/llama/config.json")
        # The example replaces the Component's config with its own: the weights check added, and
        # the sentinel watching its server as vLLM rather than as any OpenAI-compatible server.
        generic = yaml.safe_load((COMPONENT / "bootgate.yaml").read_text())
        self.assertEqual(without(config["checks"], "weights"), generic["checks"])
        self.assertEqual((config["sentinel"]["preset"], generic["sentinel"]["preset"]), ("vllm", "openai"))
        self.assertEqual(without(config["sentinel"], "preset"), without(generic["sentinel"], "preset"))
        self.assertEqual(without(config, "checks", "sentinel"), without(generic, "checks", "sentinel"))

    def test_digest_pinning_reaches_the_component(self):
        """An overlay's `images:` rewrites the containers the Component adds (docs/kubernetes.md)."""
        digest = "sha256:" + "0123456789abcdef" * 4
        with tempfile.TemporaryDirectory() as scratch:
            overlay = {
                "resources": [os.path.relpath(EXAMPLE, scratch)],
                "images": [{"name": "ghcr.io/bootgate/bootgate", "digest": digest}],
            }
            (Path(scratch) / "kustomization.yaml").write_text(yaml.safe_dump(overlay))
            docs = kustomize(Path(scratch))
        spec = support.pod_spec(deployments(docs)[0])
        images = {c["name"]: c["image"] for c in support.containers(spec)}
        pinned = f"ghcr.io/bootgate/bootgate@{digest}"
        expected = {GATE["name"]: pinned, GUARD["name"]: pinned, "vllm": "vllm/vllm-openai:v0.8.5"}
        self.assertEqual(images, expected)

    def test_model_liveness_is_off_by_default(self):
        for doc in deployments(self.documents()):
            self.assertNotIn("livenessProbe", server_of(support.pod_spec(doc)))

    def test_vendored_kustomize_agrees(self):
        """The same output from another kustomize on PATH, when there is one (kubectl ≥ 1.27)."""
        other = shutil.which("kubectl")
        if not other or Path(other).resolve() == Path(kubectl()).resolve():
            self.skipTest("no second kubectl on PATH")
        done = subprocess.run([other, "kustomize", str(EXAMPLE)], capture_output=True, text=True)
        if done.returncode != 0:
            self.skipTest(f"{other} cannot build it: {done.stderr.strip()}")
        self.assertEqual(support.documents(done.stdout), self.rendered)


class ModelLiveness(unittest.TestCase):
    """k8s/kustomize/model-liveness beside the Component, on the example: the server gets a
    livenessProbe on the guard's /livez/model, and nothing else changes."""

    @classmethod
    def setUpClass(cls):
        cls.plain = kustomize(EXAMPLE)
        with tempfile.TemporaryDirectory() as scratch:
            overlay = {
                "resources": [os.path.relpath(EXAMPLE, scratch)],
                "components": [os.path.relpath(MODEL_LIVENESS, scratch)],
            }
            (Path(scratch) / "kustomization.yaml").write_text(yaml.safe_dump(overlay))
            cls.rendered = kustomize(Path(scratch))

    def test_each_file_opens_with_a_header(self):
        for file in sorted(MODEL_LIVENESS.glob("*.yaml")):
            assert_header(self, file)

    def test_the_server_probes_the_guard_by_port_number(self):
        docs = copy.deepcopy(self.rendered)
        support.validate(self, docs, support.NATIVE_VERSIONS)
        spec = support.pod_spec(deployments(docs)[0])
        support.assert_api_server_rules(self, spec)
        support.assert_bootgate_wiring(self, docs, spec, native=True)
        server = server_of(spec)
        self.assertEqual(server["livenessProbe"], MODEL_PROBE)
        self.assertIs(type(server["livenessProbe"]["httpGet"]["port"]), int)
        guard = find(spec["initContainers"], GUARD["name"])
        config = shipped_config(self, docs, spec, guard)
        self.assertTrue(config["listen"].endswith(f":{GUARD_PORT}"), "the probe asks where the guard listens")
        self.assertEqual(guard["livenessProbe"]["httpGet"], {"path": "/livez", "port": "bootgate"})

    def test_only_the_servers_liveness_probe_is_added(self):
        with_probe = copy.deepcopy(self.rendered)
        for doc in deployments(with_probe):
            del support.pod_spec(doc)["containers"][0]["livenessProbe"]
        self.assertEqual(with_probe, self.plain)


# Plain Deployments as a chart might render them, for the post-renderer: one as bare as it gets,
# and one with init containers, volumes and a second container of its own.
HELM_OUTPUT = """\
---
# Source: llama/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: release-llama
  labels: {app.kubernetes.io/instance: release}
spec:
  selector:
    matchLabels: {app.kubernetes.io/instance: release}
  template:
    metadata:
      labels: {app.kubernetes.io/instance: release}
    spec:
      terminationGracePeriodSeconds: 45
      securityContext:
        runAsNonRoot: true
        runAsUser: 1000
        seccompProfile: {type: RuntimeDefault}
      containers:
        - name: vllm
          image: vllm/vllm-openai:v0.8.5
          args: [--model=Qwen/Qwen2.5-0.5B, --served-model-name=llama]
          ports: [{name: http, containerPort: 8000}]
          lifecycle: {preStop: {exec: {command: [sleep, "10"]}}}
          resources: {limits: {nvidia.com/gpu: 1}}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: [ALL]}
---
# Source: llama/templates/busy.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: release-busy
spec:
  selector:
    matchLabels: {app: busy}
  template:
    metadata:
      labels: {app: busy}
    spec:
      terminationGracePeriodSeconds: 60
      securityContext:
        runAsNonRoot: true
        runAsUser: 1000
        seccompProfile: {type: RuntimeDefault}
      initContainers:
        - name: download
          image: busybox:1.36
          command: [sh, -c, "true"]
          securityContext: &restricted
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: [ALL]}
          volumeMounts: [{name: models, mountPath: /models}]
      containers:
        - name: server
          image: vllm/vllm-openai:v0.8.5
          args: [--model=/models/llama, --served-model-name=llama]
          ports: [{name: http, containerPort: 8000}]
          lifecycle: {preStop: {exec: {command: [sleep, "10"]}}}
          resources: {limits: {nvidia.com/gpu: 1}}
          securityContext: *restricted
          # Its own token volume, under the name the native manifests use: left as it is.
          volumeMounts:
            - {name: models, mountPath: /models, readOnly: true}
            - {name: hf-token, mountPath: /secrets/hf, readOnly: true}
        - name: exporter
          image: example.org/exporter:1
          ports: [{name: metrics, containerPort: 9400}]
          securityContext: *restricted
      volumes:
        - name: models
          emptyDir: {}
        - name: hf-token
          secret: {secretName: my-hf}
---
# Source: llama/templates/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: release-llama
spec:
  selector: {app.kubernetes.io/instance: release}
  ports: [{name: http, port: 8000, targetPort: http}]
"""


class PostRenderer(Applied, unittest.TestCase):
    """k8s/kustomize/post-render.sh fed plain Deployments on stdin, as Helm does."""

    @classmethod
    def setUpClass(cls):
        support.tool("kubectl")
        done = post_render(HELM_OUTPUT)
        if done.returncode != 0:
            raise AssertionError(f"post-render.sh exited {done.returncode}:\n{done.stderr}")
        cls.rendered = support.documents(done.stdout)

    def documents(self) -> list[dict]:
        return copy.deepcopy(self.rendered)

    def plain(self) -> list[dict]:
        return support.documents(HELM_OUTPUT)

    def test_service(self):
        docs = self.documents()
        assert_service(self, docs, find_named(docs, "Deployment", "release-llama"))

    def test_example_deployment_too(self):
        """The example's plain Deployment, the case the docs show."""
        done = post_render((EXAMPLE / "deployment.yaml").read_text())
        self.assertEqual(done.returncode, 0, done.stderr)
        docs = support.documents(done.stdout)
        support.validate(self, docs, support.NATIVE_VERSIONS)
        spec = support.pod_spec(deployments(docs)[0])
        support.assert_api_server_rules(self, spec)
        support.assert_bootgate_wiring(self, docs, spec, native=True)
        assert_contract(
            self, docs, spec, native=True, hf_volume=self.hf_volume, token_in_server=self.token_in_server
        )

    def test_model_liveness_on_request(self):
        for value in ("1", "true"):
            with self.subTest(BOOTGATE_MODEL_LIVENESS=value):
                done = post_render(HELM_OUTPUT, env={"BOOTGATE_MODEL_LIVENESS": value})
                self.assertEqual(done.returncode, 0, done.stderr)
                docs = support.documents(done.stdout)
                for doc in deployments(docs):
                    spec = support.pod_spec(doc)
                    self.assertEqual(spec["containers"][0]["livenessProbe"], MODEL_PROBE, doc["metadata"]["name"])
                    support.assert_api_server_rules(self, spec)
                    del spec["containers"][0]["livenessProbe"]
                self.assertEqual(docs, self.rendered, "nothing else changes")
        for value in ("0", "false", ""):
            with self.subTest(BOOTGATE_MODEL_LIVENESS=value):
                done = post_render(HELM_OUTPUT, env={"BOOTGATE_MODEL_LIVENESS": value})
                self.assertEqual(done.returncode, 0, done.stderr)
                self.assertEqual(support.documents(done.stdout), self.rendered)

    def test_model_liveness_refuses_a_value_it_does_not_know(self):
        done = post_render(HELM_OUTPUT, env={"BOOTGATE_MODEL_LIVENESS": "yes"})
        self.assertEqual(done.returncode, 2)
        self.assertEqual(done.stdout, "", "Helm must not get half a release")
        self.assertIn("BOOTGATE_MODEL_LIVENESS", done.stderr)

    def test_runs_under_dash(self):
        dash = shutil.which("dash")
        if not dash:
            self.skipTest("no dash here")
        done = post_render(HELM_OUTPUT, shell=dash)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(support.documents(done.stdout), self.rendered)

    def test_executable_posix_script(self):
        self.assertTrue(os.access(POST_RENDER, os.X_OK), "Helm runs it by path")
        self.assertEqual(POST_RENDER.read_text().splitlines()[0], "#!/bin/sh")

    def test_failure_prints_nothing_and_cleans_up(self):
        with tempfile.TemporaryDirectory() as scratch:
            for text, ok in (("kind: [unclosed\n", False), (HELM_OUTPUT, True)):
                done = post_render(text, env={"TMPDIR": scratch})
                self.assertEqual(done.returncode == 0, ok, done.stderr)
                if not ok:
                    self.assertEqual(done.stdout, "", "Helm must not get half a release")
                self.assertEqual(os.listdir(scratch), [], "the temporary directory is removed")

    def test_without_kubectl_says_so(self):
        with tempfile.TemporaryDirectory() as scratch:
            # A PATH with the script's own tools and no kubectl or kustomize.
            bin = Path(scratch) / "bin"
            bin.mkdir()
            for name in ("dirname", "mktemp", "cat", "ln", "rm"):
                (bin / name).symlink_to(shutil.which(name))
            done = subprocess.run(
                ["/bin/sh", str(POST_RENDER)],
                input=HELM_OUTPUT,
                capture_output=True,
                text=True,
                env={"PATH": str(bin), "TMPDIR": scratch},
            )
            self.assertEqual(sorted(os.listdir(scratch)), ["bin"], "the temporary directory is removed")
        self.assertEqual(done.returncode, 127, done.stderr)
        self.assertEqual(done.stdout, "")
        self.assertIn("neither kubectl nor kustomize", done.stderr)

    def test_explicit_kubectl(self):
        done = post_render(HELM_OUTPUT, env={"KUBECTL": kubectl(), "PATH": "/usr/bin:/bin"})
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(support.documents(done.stdout), self.rendered)


class Docs(unittest.TestCase):
    def test_kubernetes_md_links_resolve(self):
        doc = ROOT / "docs" / "kubernetes.md"
        links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", doc.read_text())
        self.assertTrue(links)
        for link in links:
            if "://" not in link:
                self.assertTrue((doc.parent / link).exists(), link)


def assert_header(test: unittest.TestCase, file: Path) -> None:
    """A file opens with a comment that says what it is and how to use it."""
    lines = file.read_text().splitlines()
    if lines[0].startswith("#!"):
        lines = lines[1:]
    header = 0
    while header < len(lines) and lines[header].startswith("#"):
        header += 1
    test.assertGreaterEqual(header, 2, f"{file.name}: a header comment says what it is")


def find_named(docs: list[dict], kind: str, name: str) -> dict:
    for doc in docs:
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            return doc
    raise AssertionError(f"no {kind} {name}")


if __name__ == "__main__":
    unittest.main()
