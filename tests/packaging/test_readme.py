"""The README's promise: from a fresh clone to a rendered pod spec, validated against
Kubernetes' schemas, in three commands. The commands are taken from the README itself and run
as written, but for where pod.yaml goes.

Run from tests/packaging: ../../target/py-tools/bin/python -B -m unittest test_readme -v
"""

import shlex
import tempfile
import unittest
from pathlib import Path

import support


def commands() -> list[str]:
    text = (support.ROOT / "README.md").read_text()
    section = text.split("\n## Into a pod\n", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    # A trailing comment explains the command; it is not part of it.
    return [line.split(" # ", 1)[0].strip() for line in block.splitlines() if line.strip()]


class ThreeCommands(unittest.TestCase):
    def test_the_readme_renders_and_validates_a_pod_in_three_commands(self):
        steps = commands()
        self.assertEqual(len(steps), 3, steps)
        with tempfile.TemporaryDirectory() as scratch:
            output = Path(scratch) / "pod.yaml"
            for step in steps:
                argv = [str(output) if arg == "pod.yaml" else arg for arg in shlex.split(step)]
                if ">" in argv:
                    at = argv.index(">")
                    target = argv[at + 1]
                    done = support.run(argv[:at], cwd=support.ROOT)
                    Path(target).write_text(done.stdout)
                else:
                    support.run(argv, cwd=support.ROOT)
            docs = support.documents(output.read_text())
        kinds = sorted(doc["kind"] for doc in docs)
        self.assertEqual(kinds, ["ConfigMap", "Deployment", "Service"])
        (deployment,) = support.workloads(docs)
        spec = support.pod_spec(deployment)
        support.assert_bootgate_wiring(self, docs, spec, native=True)


if __name__ == "__main__":
    unittest.main()
