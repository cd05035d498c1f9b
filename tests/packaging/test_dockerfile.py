"""The Dockerfile, checked without a Docker engine: hadolint, the stages it builds and ships, the
healthcheck run against the real guard, and the build context .dockerignore leaves.

The default image (the last stage) is distroless/cc with the glibc binary, which can dlopen
NVML; `--target static` is scratch with the musl binary. Both are built by
scripts/build-release, which checks the binaries' size and linkage.
"""

import json
import os
import re
import shlex
import shutil
import socket
import queue
import subprocess
import tempfile
import threading
import tomllib
import unittest
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from support import ROOT, bootgate, run, tool

DOCKERFILE = ROOT / "Dockerfile"
UID = "65532:65532"
PORT = 8081
# The variant scripts/build-release builds, and the file it leaves in target/dist.
ARTIFACTS = {"glibc": "bootgate", "static": "bootgate-static"}
# Instructions that only describe the image. Anything else in a final stage (RUN, SHELL, ONBUILD)
# needs a shell at build or run time, which neither base has.
METADATA = {"FROM", "ARG", "ENV", "LABEL", "COPY", "USER", "WORKDIR", "EXPOSE", "HEALTHCHECK", "ENTRYPOINT", "CMD", "STOPSIGNAL"}


@dataclass
class Instruction:
    line: int
    keyword: str
    flags: dict[str, str]
    args: str

    def exec_form(self) -> list[str]:
        """The JSON (exec) form's argv; a shell form fails the test that asks."""
        try:
            argv = json.loads(self.args)
        except json.JSONDecodeError:
            argv = None
        if not (isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv)):
            raise AssertionError(f"line {self.line}: {self.keyword} {self.args} is not in exec form")
        return argv


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None


def split_flags(text: str) -> tuple[dict[str, str], str]:
    flags = {}
    while m := re.match(r"--([\w-]+)(?:=(\S*))?\s*", text):
        flags[m.group(1)] = m.group(2) or ""
        text = text[m.end():]
    return flags, text


def parse(text: str) -> list[Stage]:
    """Docker's rules: a trailing backslash continues a line; comment lines, even inside a
    continuation, are dropped."""
    stages: list[Stage] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        start = start or number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical, pending = (pending + stripped).strip(), ""
        keyword, _, rest = logical.partition(" ")
        flags, args = split_flags(rest.strip())
        instruction = Instruction(start, keyword.upper(), flags, args.strip())
        start = 0
        if instruction.keyword == "FROM":
            words = instruction.args.split()
            name = words[2] if len(words) == 3 and words[1].lower() == "as" else None
            stages.append(Stage(words[0], name))
        if not stages:
            if instruction.keyword != "ARG":
                raise AssertionError(f"line {instruction.line}: {instruction.keyword} before the first FROM")
            continue
        stages[-1].instructions.append(instruction)
    return stages


def duration(text: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)", text)
    if not m:
        raise AssertionError(f"cannot read duration {text!r}")
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60}[m.group(2)]


def cargo() -> dict:
    with open(ROOT / "Cargo.toml", "rb") as f:
        return tomllib.load(f)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Dockerfile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stages = parse(DOCKERFILE.read_text())
        cls.by_name = {s.name: s for s in cls.stages if s.name}
        cls.default = cls.stages[-1]
        cls.static = cls.by_name.get("static")
        cls.finals = {"default": cls.default, "static": cls.static}

    def chain(self, stage: Stage) -> list[Stage]:
        """The stage and the stages it is built FROM, nearest first."""
        chain = [stage]
        while chain[-1].base in self.by_name:
            chain.append(self.by_name[chain[-1].base])
        return chain

    def shipped(self, stage: Stage) -> tuple[Instruction, Stage]:
        copies = stage.all("COPY")
        self.assertEqual(len(copies), 1, "a final stage holds exactly one file, the binary")
        copy = copies[0]
        self.assertIn("from", copy.flags, "the binary comes from a build stage, not the context")
        self.assertIn(copy.flags["from"], self.by_name, "COPY --from names no stage of this file")
        return copy, self.by_name[copy.flags["from"]]

    def test_hadolint_is_clean(self):
        # Style is the lowest level, so any finding at all fails.
        done = run([tool("hadolint"), "--no-color", "-t", "style", "-f", "json", str(DOCKERFILE)], cwd=ROOT)
        self.assertEqual(json.loads(done.stdout or "[]"), [])

    def test_default_target_is_distroless_cc(self):
        self.assertEqual(self.default.base, "gcr.io/distroless/cc-debian12:nonroot")
        self.assertEqual(self.default.name, "runtime")

    def test_static_target_is_scratch(self):
        self.assertIsNotNone(self.static, "no stage named static")
        self.assertEqual(self.static.base, "scratch")

    def test_each_target_ships_what_its_build_stage_makes(self):
        """COPY --from must name the file scripts/build-release leaves for the variant that
        image can run: the glibc build in distroless, the static one on scratch."""
        wanted = {"default": "glibc", "static": "static"}
        rust_version = tuple(int(p) for p in cargo()["package"]["rust-version"].split("."))
        for label, stage in self.finals.items():
            with self.subTest(target=label):
                copy, build = self.shipped(stage)
                chain = self.chain(build)
                image = chain[-1].base
                m = re.fullmatch(r"rust:(\d+)\.(\d+)\.(\d+)-bookworm", image)
                self.assertIsNotNone(m, f"{image}: a Rust image on bookworm, pinned to a release")
                self.assertGreaterEqual(tuple(map(int, m.groups()))[:2], rust_version, "older than rust-version")
                runs = [i.exec_form() if i.args.startswith("[") else shlex.split(i.args) for s in chain for i in s.all("RUN")]
                variants = [argv[1:] or ["all"] for argv in runs if argv and argv[0] == "scripts/build-release"]
                self.assertTrue(
                    any(v in ([wanted[label]], ["all"]) for v in variants),
                    f"{build.name} does not run scripts/build-release {wanted[label]}",
                )
                workdir = next((s.last("WORKDIR").args for s in chain if s.last("WORKDIR")), "/")
                env = " ".join(i.args for s in chain for i in s.all("ENV"))
                self.assertNotIn("CARGO_TARGET_DIR", env, "the COPY below assumes the default target dir")
                source, destination = copy.args.split()
                self.assertEqual(source, f"{workdir.rstrip('/')}/target/dist/{ARTIFACTS[wanted[label]]}")
                self.assertEqual(destination, "/bootgate")

    def test_final_stages_run_the_binary_as_nonroot_without_a_shell(self):
        for label, stage in self.finals.items():
            with self.subTest(target=label):
                for instruction in stage.instructions:
                    self.assertIn(instruction.keyword, METADATA, f"line {instruction.line}")
                self.assertEqual(stage.last("USER").args, UID)
                self.assertEqual(stage.last("ENTRYPOINT").exec_form(), ["/bootgate"])
                if stage.last("CMD"):
                    stage.last("CMD").exec_form()
                self.assertEqual(stage.last("EXPOSE").args, str(PORT))

    def test_final_stages_carry_the_oci_labels(self):
        package = cargo()["package"]
        for label, stage in self.finals.items():
            with self.subTest(target=label):
                labels = {}
                for instruction in stage.all("LABEL"):
                    for pair in shlex.split(instruction.args):
                        key, _, value = pair.partition("=")
                        labels[key] = value
                prefix = "org.opencontainers.image."
                self.assertEqual(labels.get(prefix + "title"), "bootgate")
                self.assertEqual(labels.get(prefix + "version"), package["version"], "Cargo.toml's version")
                self.assertEqual(labels.get(prefix + "licenses"), package["license"], "Cargo.toml's license")
                self.assertTrue(labels.get(prefix + "description"))
                self.assertRegex(labels.get(prefix + "source", ""), r"^https://\S+$")

    def healthcheck(self, stage: Stage) -> list[str]:
        check = stage.last("HEALTHCHECK")
        self.assertIsNotNone(check, "no HEALTHCHECK")
        keyword, _, argv = check.args.partition(" ")
        self.assertEqual(keyword, "CMD", "HEALTHCHECK NONE or a missing CMD")
        argv = Instruction(check.line, "HEALTHCHECK CMD", {}, argv.strip()).exec_form()
        self.assertEqual(argv[:2], ["/bootgate", "probe"])
        url = urlsplit(argv[-1])
        self.assertEqual((url.hostname, url.port, url.path), ("127.0.0.1", PORT, "/livez"))
        # The probe must give up first, so a hung guard reads as its own failure.
        probe_timeout = argv[argv.index("--timeout") + 1] if "--timeout" in argv else "1s"
        self.assertLess(duration(probe_timeout), duration(check.flags.get("timeout", "30s")))
        return argv

    def test_healthcheck_passes_against_the_guard_and_fails_without_it(self):
        """The HEALTHCHECK's argv, run with the real binary: a flag the CLI refuses would exit 2,
        and a probe that never reached the guard could not tell its presence from its absence."""
        for label, stage in self.finals.items():
            with self.subTest(target=label), tempfile.TemporaryDirectory() as scratch:
                argv = self.healthcheck(stage)
                port = free_port()
                url = urlsplit(argv[-1])
                argv = [bootgate(), *argv[1:-1], urlunsplit(url._replace(netloc=f"127.0.0.1:{port}"))]
                config = Path(scratch) / "bootgate.yaml"
                config.write_text(
                    f"state_dir: {scratch}/state\nlisten: 127.0.0.1:{port}\ndrain: 10ms\n"
                    f"checks:\n  config: {{kind: file, path: {config}}}\n"
                )
                guard = subprocess.Popen(
                    [bootgate(), "sidecar", "--config", str(config)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                lines: queue.Queue = queue.Queue()

                def forward():
                    for line in guard.stderr:
                        lines.put(line)
                    lines.put("")  # the end of stderr: the guard has exited

                reader = threading.Thread(target=forward, daemon=True)
                reader.start()
                try:
                    # Ready is an event the guard logs: "guard listening on …"; no polling.
                    while "guard listening on" not in (line := lines.get(timeout=10)):
                        self.assertTrue(line, f"the guard exited {guard.poll()} before listening")
                    done = subprocess.run(argv, capture_output=True, text=True)
                    self.assertEqual(done.returncode, 0, f"{argv}: {done.stderr}")
                finally:
                    guard.terminate()
                    guard.wait(timeout=10)
                    reader.join(timeout=10)  # stderr's end follows the exit
                    guard.stderr.close()
                done = subprocess.run(argv, capture_output=True, text=True)
                self.assertEqual(done.returncode, 1, f"healthy with no guard: {done.stderr}")


def glob_regex(pattern: str) -> str:
    """Go's filepath.Match, as Docker extends it: `*` and `?` stay within a path element, `**`
    spans any number of them."""
    regex, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            regex, i = regex + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            regex, i = regex + ".*", i + 2
        elif pattern[i] == "*":
            regex, i = regex + "[^/]*", i + 1
        elif pattern[i] == "?":
            regex, i = regex + "[^/]", i + 1
        elif pattern[i] == "[" and "]" in pattern[i + 1:]:
            end = pattern.index("]", i + 1)
            regex, i = regex + pattern[i:end + 1], end + 1
        else:
            regex, i = regex + re.escape(pattern[i]), i + 1
    return regex + r"\Z"


def ignore_patterns() -> list[tuple[bool, re.Pattern]]:
    """.dockerignore as Docker reads it: `!` re-includes, the last match wins, and a pattern
    that matches a directory covers everything under it."""
    patterns = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keep = line.startswith("!")
        line = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
        patterns.append((keep, re.compile(glob_regex(line), re.S)))
    return patterns


def context_files() -> list[Path]:
    patterns = ignore_patterns()
    pruning = not any(keep for keep, _ in patterns)

    def excluded(relative: str) -> bool:
        parts = relative.split("/")
        verdict = False
        for keep, regex in patterns:
            if any(regex.match("/".join(parts[:n])) for n in range(1, len(parts) + 1)):
                verdict = not keep
        return verdict

    files = []
    for directory, subdirs, names in os.walk(ROOT):
        base = Path(directory).relative_to(ROOT)
        if pruning:
            subdirs[:] = [d for d in subdirs if not excluded((base / d).as_posix())]
        files += [base / n for n in names if not excluded((base / n).as_posix())]
    return files


class BuildContext(unittest.TestCase):
    def test_context_holds_the_build_and_not_the_clutter(self):
        files = {f.as_posix() for f in context_files()}
        for needed in ("Cargo.toml", "Cargo.lock", "scripts/build-release", "src/main.rs"):
            self.assertIn(needed, files)
        for clutter in (".git/", "target/"):
            self.assertFalse([f for f in files if f.startswith(clutter)], f"{clutter} is sent to the daemon")

    def test_cargo_loads_the_workspace_from_the_context_alone(self):
        """Every workspace member, every target Cargo.toml declares and the lock file: cargo
        reads them all before it fetches anything."""
        with tempfile.TemporaryDirectory() as scratch:
            for relative in context_files():
                destination = Path(scratch) / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / relative, destination)
            self.assertTrue(os.access(Path(scratch) / "scripts/build-release", os.X_OK), "build-release not executable")
            env = dict(os.environ, CARGO_TARGET_DIR=str(Path(scratch) / "target"))
            run([shutil.which("cargo") or "cargo", "fetch", "--locked"], cwd=scratch, env=env)


if __name__ == "__main__":
    unittest.main()
