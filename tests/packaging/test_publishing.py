"""docs/publishing.md, done: one version everywhere a release names it, the charts pushed to a
real OCI registry and used from there by a chart of one's own, and the kustomize `images:` entry
that points the Component at another registry.

The registry is Debian's `docker-registry` (CNCF Distribution), on a loopback port, storing in a
scratch directory.

Run from tests/packaging: ../../target/py-tools/bin/python -B -m unittest test_publishing -v
"""

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import tomllib
import unittest
import urllib.request
from pathlib import Path

import yaml

import support
from test_helm import EXAMPLE, LIBRARY, render, require_helm
from test_manifests import kustomize

try:
    import helm_python
except ImportError:
    helm_python = None

ROOT = support.ROOT
PAGE = ROOT / "docs" / "publishing.md"
HELM_PAGE = ROOT / "docs" / "helm.md"
OUR_IMAGE = "registry.example.com/ml/bootgate"


def cargo_version() -> str:
    with open(ROOT / "Cargo.toml", "rb") as f:
        return tomllib.load(f)["package"]["version"]


def yaml_blocks(text: str) -> list[str]:
    return re.findall(r"^```yaml\n(.*?)^```$", text, re.M | re.S)


def gate_and_guard_images(test: unittest.TestCase, docs: list[dict]) -> list[str]:
    workloads = support.workloads(docs)
    test.assertEqual(len(workloads), 1, [w["kind"] for w in workloads])
    gate, guard = support.bootgate_containers(support.pod_spec(workloads[0]))
    return [gate["image"], guard["image"]]


class ChangelogTest(unittest.TestCase):
    def test_the_top_version_is_the_crate_and_chart_version(self):
        text = (ROOT / "CHANGELOG.md").read_text()
        versions = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", text, re.M)
        self.assertTrue(versions, "no `## [x.y.z] - YYYY-MM-DD` heading")
        top = versions[0]
        self.assertEqual(top, cargo_version(), "CHANGELOG.md against Cargo.toml")
        for chart in (LIBRARY, EXAMPLE):
            with self.subTest(chart.name):
                app_version = yaml.safe_load((chart / "Chart.yaml").read_text())["appVersion"]
                self.assertEqual(top, app_version, f"CHANGELOG.md against {chart.name}'s appVersion")
        # Keep a Changelog: each version heading links to its release.
        for version in versions:
            self.assertIn(f"\n[{version}]: https://", text, f"no link for {version}")


class RegistryTest(unittest.TestCase):
    """`helm package` and `helm push` as the page says, against a real registry."""

    @classmethod
    def setUpClass(cls):
        require_helm()
        registry = shutil.which("docker-registry")
        if registry is None:
            support.unavailable("docker-registry missing: apt-get install docker-registry")
        cls.dir = Path(tempfile.mkdtemp(prefix="bootgate-publishing-"))
        cls.addClassCleanup(shutil.rmtree, cls.dir, ignore_errors=True)
        port = free_port()
        cls.host = f"127.0.0.1:{port}"
        config = cls.dir / "registry.yml"
        config.write_text(
            yaml.safe_dump(
                {
                    "version": 0.1,
                    "log": {"level": "info"},
                    "storage": {"filesystem": {"rootdirectory": str(cls.dir / "storage")}},
                    "http": {"addr": cls.host, "secret": "scratch-registry-for-tests"},
                }
            )
        )
        cls.registry = subprocess.Popen(
            [registry, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        cls.addClassCleanup(cls.stop_registry)
        # It says when it listens: await that line rather than poll the port. Its log is read to
        # the end, so that it never blocks on, or dies of, a full or closed pipe.
        listening = threading.Event()
        cls.log = []

        def read_log():
            for line in cls.registry.stderr:
                cls.log.append(line)
                if f"listening on {cls.host}" in line:
                    listening.set()

        threading.Thread(target=read_log, daemon=True).start()
        if not listening.wait(timeout=30):
            raise AssertionError("docker-registry is not listening:\n" + "".join(cls.log))

    @classmethod
    def stop_registry(cls):
        cls.registry.terminate()
        cls.registry.wait(timeout=10)

    def tags(self, name: str) -> list[str]:
        with urllib.request.urlopen(f"http://{self.host}/v2/ml/charts/{name}/tags/list", timeout=5) as answer:
            return json.load(answer)["tags"]

    def test_both_charts_pushed_and_a_chart_of_ones_own_built_on_the_pushed_library(self):
        remote = f"oci://{self.host}/ml/charts"
        out = self.dir / "dist"
        # The library chart straight from the tree: packaging writes only to the destination.
        library = helm_python.package(str(LIBRARY), destination=str(out))
        self.assertEqual(Path(library).name, "bootgate-0.1.0.tgz")
        helm_python.push(library, remote, plain_http=True)
        # The example chart resolves its file:// dependency first, in a copy.
        charts = self.dir / "helm"
        shutil.copytree(LIBRARY.parent, charts)
        helm_python.dependency_update(str(charts / EXAMPLE.name), skip_refresh=True)
        example = helm_python.package(str(charts / EXAMPLE.name), destination=str(out))
        helm_python.push(example, remote, plain_http=True)
        self.assertEqual(self.tags("bootgate"), ["0.1.0"])
        self.assertEqual(self.tags(EXAMPLE.name), ["0.1.0"])

        # docs/helm.md's worked chart, its dependency on the registry and its values naming our
        # image as docs/publishing.md shows.
        pages = HELM_PAGE.read_text()
        files = dict(re.findall(r"^`(my-server/[^`]+)`[^\n]*:\n\n```yaml\n(.*?)^```$", pages, re.M | re.S))
        dependency, values = [b for b in yaml_blocks(PAGE.read_text()) if "bootgate" in b][:2]
        self.assertIn("oci://registry.example.com/ml/charts", dependency)
        chart_yaml = yaml.safe_load(files["my-server/Chart.yaml"])
        chart_yaml["dependencies"] = yaml.safe_load(dependency.replace("registry.example.com", self.host))[
            "dependencies"
        ]
        mine = self.dir / "my-server"
        for name, text in files.items():
            (self.dir / name).parent.mkdir(parents=True, exist_ok=True)
            (self.dir / name).write_text(text)
        (mine / "Chart.yaml").write_text(yaml.safe_dump(chart_yaml))
        helm_python.dependency_update(str(mine), plain_http=True)
        self.assertEqual(sorted(p.name for p in (mine / "charts").iterdir()), ["bootgate-0.1.0.tgz"])
        chart = helm_python.Chart.load(str(mine))
        try:
            docs = render(chart, yaml.safe_load(values))
        finally:
            chart.close()
        self.assertEqual(gate_and_guard_images(self, docs), [f"{OUR_IMAGE}:0.1.0"] * 2)


class KustomizeImagesTest(unittest.TestCase):
    def test_the_pages_images_entry_renames_the_components_image(self):
        block = next(b for b in yaml_blocks(PAGE.read_text()) if "components:" in b)
        self.assertIn("github.com/bootgate/bootgate//k8s/kustomize/component", block)
        with tempfile.TemporaryDirectory() as scratch:
            here = Path(scratch)
            # kustomize takes only a relative path to a local Component.
            component = os.path.relpath(ROOT / "k8s" / "kustomize" / "component", here)
            text = re.sub(r"github\.com/bootgate/bootgate//k8s/kustomize/component\S*", component, block)
            (here / "kustomization.yaml").write_text(text)
            shutil.copy(ROOT / "k8s" / "kustomize" / "example" / "deployment.yaml", here)
            images = gate_and_guard_images(self, kustomize(here))
        self.assertEqual(images, [f"{OUR_IMAGE}:0.1.0"] * 2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    unittest.main()
