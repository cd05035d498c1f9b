"""The example chart's guard, run for real: the bootgate config Helm renders from the chart's
own values (scripts/render-chart), the real bootgate binary, and a loopback vLLM that is a
process of its own (tests/fixtures/preset_servers.py --server vllm), serving the model the
chart's sentinel names, killed as a crashing model is.

Only what ties the config to the pod is changed before the guard runs it: where it listens, its
state_dir, and the port of the sentinel's url, which move to loopback ports of the test's own.
Every setting that decides readiness, the preset included, stays as the chart ships it.

Run from tests/packaging: ../../target/py-tools/bin/python -B -m unittest test_chart_guard -v
"""

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path

import yaml

import support
from support import ROOT

RENDER = ROOT / "scripts" / "render-chart"
MODEL_SERVER = ROOT / "tests" / "fixtures" / "preset_servers.py"
# Where the chart's sentinel asks: the server's port in the pod.
SHIPPED_URL = "http://127.0.0.1:8000"

# The promise: a model that dies is unready at /readyz within this, with the shipped values.
DEATH_TO_UNREADY = 3.0
# Setup waits, not measurements: the first ready alone takes the config's hold (30 s).
PATIENCE = 180.0
# The window model liveness is given in its test, from values.
DEAD_AFTER = 1.0
# /readyz is polled this often while a change is awaited (no event announces it).
POLL = 0.01


def render(values: dict | None = None) -> list[dict]:
    """The example chart's manifests, rendered by Helm's engine with these values on top."""
    with tempfile.TemporaryDirectory() as scratch:
        argv = [str(RENDER)]
        if values:
            path = Path(scratch) / "values.yaml"
            path.write_text(yaml.safe_dump(values))
            argv.append(str(path))
        return support.documents(support.run(argv, cwd=ROOT).stdout)


def guard_config(test: unittest.TestCase, docs: list[dict]) -> tuple[dict, dict]:
    """The config the guard container reads, from the ConfigMap mounted there, and the pod."""
    (workload,) = support.workloads(docs)
    spec = support.pod_spec(workload)
    _, guard = support.bootgate_containers(spec)
    test.assertIsNotNone(guard, "the chart renders no guard")
    return yaml.safe_load(support.mounted_config(test, spec, guard, docs)), spec


def on_loopback(test: unittest.TestCase, config: dict, state_dir: Path, model_port: int) -> dict:
    """The config with the guard on an ephemeral loopback port, its state in a scratch
    directory, and the sentinel asking the model on model_port."""
    config = dict(config, listen="127.0.0.1:0", state_dir=str(state_dir))
    sentinel = config["sentinel"]
    test.assertEqual(sentinel["preset"], "vllm", "the chart's server is vLLM, and so is the fake")
    test.assertEqual(sentinel["url"], SHIPPED_URL)
    config["sentinel"] = dict(sentinel, url=f"http://127.0.0.1:{model_port}")
    return config


def free_port() -> int:
    """A loopback port nothing listens on, for a model server started later."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Process:
    """A child process whose output is read as it comes, so that a line can be awaited."""

    def __init__(self, argv: list[str], stream: str):
        # The config says where the guard's state goes, not the environment of whoever runs the
        # tests; nor is it a service of theirs to notify.
        environment = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("BOOTGATE_") and name != "NOTIFY_SOCKET"
        }
        self.proc = subprocess.Popen(
            argv,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if stream == "stdout" else subprocess.DEVNULL,
            stderr=subprocess.PIPE if stream == "stderr" else subprocess.DEVNULL,
            text=True,
        )
        self.lines: list[str] = []
        self.ended = False
        self.changed = threading.Condition()
        self.source = self.proc.stdout if stream == "stdout" else self.proc.stderr
        self.reader = threading.Thread(target=self.read, args=(self.source,), daemon=True)
        self.reader.start()

    def read(self, source):
        for line in source:
            with self.changed:
                self.lines.append(line.rstrip("\n"))
                self.changed.notify_all()
        with self.changed:
            self.ended = True
            self.changed.notify_all()

    def await_line(self, pattern: str, patience: float = PATIENCE) -> re.Match:
        deadline = time.monotonic() + patience
        with self.changed:
            while True:
                for line in self.lines:
                    found = re.search(pattern, line)
                    if found:
                        return found
                left = deadline - time.monotonic()
                if left <= 0 or self.ended:
                    raise AssertionError(f"no line matching {pattern!r}; output:\n" + "\n".join(self.lines))
                self.changed.wait(left)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.reader.join(timeout=5)
        self.source.close()

    def log(self) -> str:
        with self.changed:
            return "\n".join(self.lines)


def start_model(config: dict, port: int = 0) -> tuple[Process, int]:
    """A vLLM serving the model the config's sentinel asks for."""
    model = config["sentinel"]["model"]
    argv = [sys.executable, "-B", str(MODEL_SERVER), "--server", "vllm", "--port", str(port), "--model", model]
    process = Process(argv, "stdout")
    return process, int(process.await_line(r"^listening (\d+)$").group(1))


def start_guard(test: unittest.TestCase, config: dict, scratch: Path) -> tuple[Process, int]:
    path = scratch / "bootgate.yaml"
    path.write_text(yaml.safe_dump(config))
    guard = Process([support.bootgate(), "sidecar", "--config", str(path)], "stderr")
    test.addCleanup(guard.stop)
    port = int(guard.await_line(r"guard listening on \S+:(\d+),").group(1))
    return guard, port


def get(port: int, path: str) -> tuple[int, str]:
    """One GET over a fresh connection, as the kubelet probes."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path)
        answer = connection.getresponse()
        return answer.status, answer.read().decode(errors="replace")
    finally:
        connection.close()


def await_status(port: int, path: str, status: int, patience: float, guard: Process) -> float:
    """Polls path until it answers status; the seconds it took. Fails after patience."""
    start = time.monotonic()
    while True:
        got, body = get(port, path)
        if got == status:
            return time.monotonic() - start
        if time.monotonic() - start > patience:
            raise AssertionError(
                f"{path} still {got}, not {status}, after {patience} s:\n{body}\nguard log:\n{guard.log()}"
            )
        time.sleep(POLL)


class ExampleChartGuard(unittest.TestCase):
    def setUp(self):
        scratch = tempfile.TemporaryDirectory()
        self.addCleanup(scratch.cleanup)
        self.scratch = Path(scratch.name)
        self.state_dir = self.scratch / "state"
        self.state_dir.mkdir()

    def test_a_model_that_dies_is_unready_within_3s(self):
        shipped, _ = guard_config(self, render())
        model, model_port = start_model(shipped)
        self.addCleanup(model.stop)
        guard, port = start_guard(self, on_loopback(self, shipped, self.state_dir, model_port), self.scratch)
        await_status(port, "/readyz", 200, PATIENCE, guard)

        killed = time.monotonic()
        os.kill(model.proc.pid, signal.SIGKILL)
        while True:
            status, body = get(port, "/readyz")
            took = time.monotonic() - killed
            if status == 503:
                break
            self.assertLess(
                took,
                DEATH_TO_UNREADY,
                f"/readyz still {status} {took:.1f} s after the model was killed\nguard log:\n{guard.log()}",
            )
            time.sleep(POLL)
        self.assertLess(took, DEATH_TO_UNREADY, "unready, but late")
        self.assertIn("readyz check failed", body)
        self.assertFalse((self.state_dir / "ready").exists(), "the ready marker goes with readiness")

    def test_model_liveness_spares_a_loading_model_and_fails_a_dead_one(self):
        # dead_after set from values, as a user would, short enough to be seen in a test.
        window = f"{DEAD_AFTER:g}s"
        values = {"bootgate": {"modelLiveness": {"enabled": True}, "config": {"sentinel": {"dead_after": window}}}}
        shipped, spec = guard_config(self, render(values))
        self.assertEqual(shipped["sentinel"]["dead_after"], window)
        probe = next(c for c in spec["containers"] if c["name"] == "server")["livenessProbe"]["httpGet"]
        self.assertEqual(probe["port"], int(shipped["listen"].rsplit(":", 1)[1]), "the probe asks the guard")

        # The model is loading: its port refuses, and the sentinel, which starts at once, has
        # never passed. Three windows of failures, and still no restart.
        model_port = free_port()
        guard, port = start_guard(self, on_loopback(self, shipped, self.state_dir, model_port), self.scratch)
        held = time.monotonic() + 3 * DEAD_AFTER
        while time.monotonic() < held:
            status, body = get(port, probe["path"])
            self.assertEqual(status, 200, f"{probe['path']} failed a model that never answered:\n{body}")
            time.sleep(POLL)
        status, body = get(port, "/readyz/sentinel")
        self.assertEqual(status, 503)
        self.assertIn("loading for", body, "the preset reads a port that never answered as loading")

        # Loaded, then hung: its completions never answer while the process, and its /health,
        # live on. Only a restart helps, and now the window counts. (A process that dies needs no
        # probe: its container ends, and a port that refuses is a server starting over.)
        model, _ = start_model(shipped, model_port)
        self.addCleanup(model.stop)
        await_status(port, "/readyz", 200, PATIENCE, guard)
        control(model_port, "hang")
        await_status(port, probe["path"], 503, DEAD_AFTER + PATIENCE, guard)


def control(port: int, words: str) -> None:
    """Tells the model server how to behave (see its docstring)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=PATIENCE)
    connection.request("POST", "/_fake/control", body=words)
    answer = connection.getresponse()
    if answer.status != 200:
        raise AssertionError(f"the model server refused {words!r}: {answer.status}")
    connection.close()


if __name__ == "__main__":
    unittest.main()
