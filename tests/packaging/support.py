"""What the packaging tests share: the pinned tools, the real bootgate binary, and the rules the
API server enforces that Kubernetes' OpenAPI schemas cannot express.

The tools live in target/py-tools (scripts/py-tools installs them); the binary is the debug
build cargo made for the Rust tests, built here if it is missing.
"""

import os
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "target" / "py-tools" / "bin"

# Native sidecars (restartable init containers) are on by default from 1.29.
NATIVE_VERSIONS = [f"1.{minor}.0" for minor in range(29, 36)]
CLASSIC_VERSIONS = [f"1.{minor}.0" for minor in range(25, 36)]

GPU = "nvidia.com/gpu"
PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
# The volume types the restricted Pod Security level admits.
RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def unavailable(reason: str) -> None:
    """A tool the tests need is missing: skipped when run by hand, a failure under scripts/test
    (PACKAGING_TESTS_STRICT=1), where a broken install must not pass as a green run."""
    if os.environ.get("PACKAGING_TESTS_STRICT") == "1":
        raise AssertionError(reason)
    raise unittest.SkipTest(reason)


def tool(name: str) -> str:
    path = TOOLS / name
    if not path.exists():
        unavailable(f"{path} missing: run scripts/py-tools")
    return str(path)


def run(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Runs a command and fails with its whole output when it exits non-zero."""
    done = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        raise AssertionError(
            f"{' '.join(argv)} exited {done.returncode}\n"
            f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
        )
    return done


def bootgate() -> str:
    binary = ROOT / "target" / "debug" / "bootgate"
    if not binary.exists():
        run([shutil.which("cargo") or "cargo", "build", "--quiet"], cwd=ROOT)
    return str(binary)


def documents(text: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def validate(test: unittest.TestCase, docs: list[dict], versions: list[str]) -> None:
    """Strict schema validation of every document against every Kubernetes version."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "all.yaml"
        path.write_text(yaml.safe_dump_all(docs))
        for version in versions:
            with test.subTest(kubernetes=version):
                run([tool("kubernetes-validate"), "--strict", "--quiet", "-k", version, str(path)])


def pod_spec(doc: dict) -> dict:
    if doc["kind"] == "Pod":
        return doc["spec"]
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return doc["spec"]["template"]["spec"]


def workloads(docs: list[dict]) -> list[dict]:
    kinds = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod"}
    return [doc for doc in docs if doc.get("kind") in kinds]


def containers(spec: dict) -> list[dict]:
    return (spec.get("initContainers") or []) + (spec.get("containers") or [])


def is_sidecar(container: dict) -> bool:
    return container.get("restartPolicy") == "Always"


def assert_api_server_rules(test: unittest.TestCase, spec: dict) -> None:
    """What the API server refuses although the schema allows it, what the kubelet cannot
    probe, and the restricted Pod Security level."""
    names = [c["name"] for c in containers(spec)]
    test.assertEqual(len(names), len(set(names)), f"container names repeat: {names}")
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for init in spec.get("initContainers", []):
        if not is_sidecar(init):
            for probe in PROBES + ("lifecycle",):
                test.assertNotIn(probe, init, f"init container {init['name']} may not have {probe}")
    for container in containers(spec):
        name = container["name"]
        resources = container.get("resources", {})
        if GPU in resources.get("requests", {}):
            test.assertEqual(
                resources["requests"][GPU],
                resources.get("limits", {}).get(GPU),
                f"{name}: an extended resource's request must equal its limit",
            )
        for resource in resources.get("requests", {}):
            if "/" in resource and not resource.startswith("kubernetes.io/"):
                test.assertIn(resource, resources.get("limits", {}), f"{name}: {resource} needs a limit")
        paths = [m["mountPath"] for m in container.get("volumeMounts", [])]
        test.assertEqual(len(paths), len(set(paths)), f"{name} mounts two volumes at one path")
        for mount in container.get("volumeMounts", []):
            test.assertIn(mount["name"], volumes, f"{name} mounts an undeclared volume")
        for port in container.get("ports", []):
            if "name" in port:
                test.assertLessEqual(len(port["name"]), 15, f"{name}: port name too long")
        # The kubelet resolves a probe's named port among the probed container's own ports only:
        # a name declared by another container (the guard's `bootgate`) fails every probe.
        own_ports = [port.get("name") for port in container.get("ports", [])]
        for probe in PROBES:
            for handler in ("httpGet", "tcpSocket"):
                port = container.get(probe, {}).get(handler, {}).get("port")
                if isinstance(port, str) and not port.isdigit():
                    test.assertIn(port, own_ports, f"{name}: {probe} names port {port}, not one of its own")
        # Restricted Pod Security, container by container (a pod-level field counts too).
        security = container.get("securityContext", {})
        pod_security = spec.get("securityContext", {})
        test.assertFalse(security.get("privileged", False), f"{name} is privileged")
        test.assertIs(security.get("allowPrivilegeEscalation"), False, f"{name}: allowPrivilegeEscalation")
        test.assertTrue(
            security.get("runAsNonRoot", pod_security.get("runAsNonRoot")),
            f"{name}: runAsNonRoot",
        )
        test.assertNotEqual(security.get("runAsUser", pod_security.get("runAsUser")), 0, f"{name}: uid 0")
        capabilities = security.get("capabilities", {})
        test.assertIn("ALL", capabilities.get("drop", []), f"{name}: capabilities.drop ALL")
        test.assertLessEqual(set(capabilities.get("add", [])), {"NET_BIND_SERVICE"}, f"{name}: capabilities.add")
        seccomp = security.get("seccompProfile", pod_security.get("seccompProfile", {}))
        test.assertIn(seccomp.get("type"), ("RuntimeDefault", "Localhost"), f"{name}: seccompProfile")
    for volume in volumes.values():
        kinds = set(volume) - {"name"}
        test.assertEqual(len(kinds), 1, f"volume {volume['name']} has {len(kinds)} sources")
        test.assertLessEqual(kinds, RESTRICTED_VOLUMES, f"volume {volume['name']} is not allowed when restricted")
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        test.assertFalse(spec.get(host, False), f"{host} is not allowed when restricted")


def bootgate_containers(spec: dict) -> tuple[dict | None, dict | None]:
    """The gate (`init`) and the guard (`sidecar`), wherever they sit."""
    gate = guard = None
    for container in containers(spec):
        argv = container.get("command", []) + container.get("args", [])
        # Other sidecars take `sidecar` arguments too (istio-proxy): it must be bootgate's.
        ours = any("bootgate" in a for a in argv + [container.get("image", "")])
        if ours and "init" in argv:
            gate = container
        if ours and "sidecar" in argv:
            guard = container
    return gate, guard


def config_path(container: dict) -> str:
    argv = container.get("command", []) + container.get("args", [])
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--config="):
            return arg.split("=", 1)[1]
    for env in container.get("env", []):
        if env["name"] == "BOOTGATE_CONFIG":
            return env["value"]
    raise AssertionError(f"{container['name']} names no --config")


def mounted_config(test: unittest.TestCase, spec: dict, container: dict, docs: list[dict]) -> str:
    """The text of the config file the container reads, from the ConfigMap mounted there."""
    path = config_path(container)
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        prefix = mount["mountPath"].rstrip("/") + "/"
        if not path.startswith(prefix):
            continue
        key = mount.get("subPath") or path[len(prefix):]
        volume = volumes[mount["name"]]
        test.assertIn("configMap", volume, f"{path} is not on a ConfigMap volume")
        name = volume["configMap"]["name"]
        for doc in docs:
            if doc.get("kind") == "ConfigMap" and doc["metadata"]["name"] == name:
                test.assertIn(key, doc.get("data", {}), f"ConfigMap {name} has no {key}")
                return doc["data"][key]
        raise AssertionError(f"no ConfigMap {name} among the documents")
    raise AssertionError(f"{container['name']}: nothing mounted at {path}")


def assert_config_is_valid(test: unittest.TestCase, text: str) -> None:
    """`bootgate validate` on the shipped config: the real binary, the real parser."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "bootgate.yaml"
        path.write_text(text)
        done = subprocess.run([bootgate(), "validate", "--config", str(path)], capture_output=True, text=True)
        test.assertEqual(done.returncode, 0, f"bootgate validate:\n{done.stdout}{done.stderr}")


def port_number(container: dict, port) -> int:
    if isinstance(port, int):
        return port
    for declared in container.get("ports", []):
        if declared.get("name") == port:
            return declared["containerPort"]
    raise AssertionError(f"{container['name']} declares no port {port}")


def assert_bootgate_wiring(test: unittest.TestCase, docs: list[dict], spec: dict, native: bool) -> None:
    """The gate runs before the server with its config mounted; the guard answers the probes
    on its own port and paths; both share the state directory with the server."""
    gate, guard = bootgate_containers(spec)
    test.assertIsNotNone(gate, "no bootgate init container")
    test.assertIsNotNone(guard, "no bootgate sidecar")
    init_names = [c["name"] for c in spec.get("initContainers", [])]
    test.assertIn(gate["name"], init_names, "the gate must be an init container")
    test.assertFalse(is_sidecar(gate), "the gate must be a regular init container")
    if native:
        test.assertIn(guard["name"], init_names, "a native sidecar is an init container")
        test.assertTrue(is_sidecar(guard), "a native sidecar has restartPolicy: Always")
        # It must start after the gate, or it would serve before the gate has passed.
        test.assertLess(init_names.index(gate["name"]), init_names.index(guard["name"]))
    else:
        test.assertIn(guard["name"], [c["name"] for c in spec["containers"]])
    for container in (gate, guard):
        assert_config_is_valid(test, mounted_config(test, spec, container, docs))
    paths = {"startupProbe": "/startupz", "readinessProbe": "/readyz", "livenessProbe": "/livez"}
    for probe, path in paths.items():
        if probe == "startupProbe" and not native:
            continue
        test.assertIn(probe, guard, f"the sidecar has no {probe}")
        action = guard[probe]["httpGet"]
        test.assertEqual(action["path"], path)
        test.assertEqual(port_number(guard, action["port"]), 8081, f"{probe} port")
    test.assertEqual(guard["readinessProbe"].get("failureThreshold"), 1, "bootgate smooths the signal itself")
    # A probe of another container on the guard's /livez/model (model liveness, opt-in) reaches
    # the guard's port by number, and is a livenessProbe: it restarts the server, not the guard.
    guard_port = port_number(guard, guard["readinessProbe"]["httpGet"]["port"])
    for container in containers(spec):
        if container is guard:
            continue
        for probe in PROBES:
            action = container.get(probe, {}).get("httpGet", {})
            if action.get("path", "").startswith("/livez/model"):
                test.assertEqual(probe, "livenessProbe", f"{container['name']}: /livez/model is for liveness")
                test.assertEqual(action["port"], guard_port, f"{container['name']}: the guard's port, by number")
    gpu_limits = [c.get("resources", {}).get("limits", {}).get(GPU) for c in spec["containers"]]
    gpus = max((int(n) for n in gpu_limits if n is not None), default=0)
    if gpus:
        limits = gate.get("resources", {}).get("limits", {})
        test.assertEqual(int(limits.get(GPU, 0)), gpus, "the gate requests the server's GPUs")
        test.assertNotIn(GPU, guard.get("resources", {}).get("limits", {}), "the sidecar requests no GPU")
        env = {e["name"]: e.get("value") for e in gate.get("env", [])}
        test.assertIn("utility", env.get("NVIDIA_DRIVER_CAPABILITIES", ""))
    test.assertEqual(gate.get("terminationMessagePolicy"), "FallbackToLogsOnError")
    state = [m for m in gate.get("volumeMounts", []) if m["mountPath"] == "/run/bootgate"]
    test.assertTrue(state, "the gate writes /run/bootgate")
    servers = [c for c in spec["containers"] if c["name"] != guard["name"]]
    test.assertTrue(servers, "no server container")
    # The server is one of them; others (an exporter) need not read it.
    readers = [
        c["name"]
        for c in servers
        if (state[0]["name"], "/run/bootgate")
        in {(m["name"], m["mountPath"]) for m in c.get("volumeMounts", [])}
    ]
    test.assertTrue(readers, "no server container reads the gate's state_dir at /run/bootgate")
