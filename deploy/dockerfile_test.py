"""Structural checks of deploy/docker/Dockerfile (no Docker engine here).

What it proves: the stages, user, volume, ports, health check, stop signal and
entrypoint are what deploy/README.md promises and agree with each other; the
build stage installs exactly ./hecate's PACKAGES (via hecate_packages.sh, run
here on the real ./hecate); every Debian package of the runtime stage exists in
Debian 12 (apt-cache, when this machine's apt lists are Debian 12's); and the
runtime package lists cover every shared library that the hecated and
hecatectl Bazel builds load (ldd + dpkg -S), with nothing extra but curl and
ca-certificates. What it cannot prove: that `docker build` succeeds (network,
NVIDIA's apt repository, Bazel inside the image).
"""

import json
import os
import re
import subprocess
import tempfile
import unittest
from typing import Dict, List, Tuple

from deploy_testing import skip, workspace_path

DOCKERFILE = workspace_path("deploy/docker/Dockerfile")
PACKAGES_SCRIPT = workspace_path("deploy/docker/hecate_packages.sh")
# ./hecate belongs to no Bazel package (the root BUILD.bazel does not export
# it), so it is found next to the source tree the Dockerfile runfile links to.
HECATE_SCRIPT = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(DOCKERFILE)))), "hecate")
BINARIES = [workspace_path("server/hecated"), workspace_path("client/hecatectl")]
# Runtime packages that no binary links but the image needs.
RUNTIME_EXTRAS = {"curl": "HEALTHCHECK", "ca-certificates": "NVIDIA's https apt repository"}
# NVIDIA's runtime library packages, by soname prefix.
CUDA_PACKAGES = {"libcudart.so": "cuda-cudart-", "libcublas.so": "libcublas-",
                 "libcublasLt.so": "libcublas-"}

Instruction = Tuple[str, str]  # (KEYWORD, arguments)


def parse_dockerfile(text: str) -> Tuple[Dict[str, str], List[Tuple[str, List[Instruction]]]]:
    """(ARG defaults before the first FROM, [(stage name, instructions)])."""
    logical, current = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#") or not line:
            continue  # comments and blank lines, also inside continuations
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    assert not current, "Dockerfile ends inside a continued line"
    global_args: Dict[str, str] = {}
    stages: List[Tuple[str, List[Instruction]]] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "FROM":
            words = rest.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else ""
            stages.append((name, [("FROM", words[0])]))
        elif not stages:
            assert keyword == "ARG", f"only ARG may precede FROM, got {keyword}"
            key, _, default = rest.partition("=")
            global_args[key] = default
        else:
            stages[-1][1].append((keyword, rest))
    return global_args, stages


def expand(text: str, args: Dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), text)


def apt_installs(run: str, args: Dict[str, str]) -> List[str]:
    """Package names of `apt-get install` in one RUN (options and command
    substitutions left out), with ${ARG} defaults expanded."""
    packages = []
    for command in re.split(r"&&|;", run):
        words = command.split()
        if words[:2] == ["apt-get", "install"]:
            for word in words[2:]:
                if not word.startswith("-") and "$(" not in word and ")" not in word:
                    packages.append(expand(word, args))
    return packages


def packages_of_hecate_script(path: str) -> List[str]:
    """./hecate's PACKAGES, parsed independently of hecate_packages.sh."""
    with open(path, encoding="utf-8") as f:
        block = re.search(r"^PACKAGES=\((.*?)^\)", f.read(), re.S | re.M)
    assert block, f"no PACKAGES=( ... ) in {path}"
    return [word for line in block.group(1).splitlines()
            for word in line.split("#", 1)[0].split()]


def flag(argv: List[str], name: str) -> str:
    values = [a.split("=", 1)[1] for a in argv if a.startswith(f"--{name}=")]
    assert len(values) == 1, f"--{name} given {len(values)} times in {argv}"
    return values[0]


class DockerfileTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        with open(DOCKERFILE, encoding="utf-8") as f:
            cls.global_args, cls.stages = parse_dockerfile(f.read())
        cls.build = dict(cls.stages)["build"]
        cls.runtime_name, cls.runtime = cls.stages[-1]

    def instructions(self, stage, keyword):
        return [rest for k, rest in stage if k == keyword]

    def test_stages_are_debian_12_build_then_slim_runtime(self):
        self.assertEqual([name for name, _ in self.stages], ["build", "runtime"])
        base = lambda stage: expand(stage[0][1], self.global_args)
        self.assertEqual(base(self.build), "debian:12")
        self.assertEqual(base(self.runtime), "debian:12-slim")

    def test_build_stage_builds_both_binaries_with_bazel(self):
        runs = " ".join(self.instructions(self.build, "RUN"))
        self.assertRegex(runs, r"bazel\b[^&]* build //server:hecated //client:hecatectl")
        copies = self.instructions(self.runtime, "COPY")
        self.assertIn("--from=build /out/hecated /out/hecatectl /usr/local/bin/", copies)

    def test_build_stage_installs_exactly_the_hecate_script_packages(self):
        copies = self.instructions(self.build, "COPY")
        self.assertIn("hecate deploy/docker/hecate_packages.sh /tmp/packages/", copies)
        runs = " ".join(self.instructions(self.build, "RUN"))
        self.assertIn("$(/tmp/packages/hecate_packages.sh /tmp/packages/hecate)", runs)
        printed = subprocess.run(["/bin/bash", PACKAGES_SCRIPT, HECATE_SCRIPT], check=True,
                                 capture_output=True, text=True).stdout.split()
        expected = packages_of_hecate_script(HECATE_SCRIPT)
        self.assertEqual(printed, expected)
        for needed in ("bazel-bootstrap", "g++", "libgrpc++-dev", "protobuf-compiler-grpc"):
            self.assertIn(needed, printed)

    def test_packages_script_refuses_a_script_without_a_list(self):
        with tempfile.NamedTemporaryFile("w", suffix=".sh") as bogus:
            bogus.write("#!/bin/bash\necho no list here\n")
            bogus.flush()
            result = subprocess.run(["/bin/bash", PACKAGES_SCRIPT, bogus.name],
                                    capture_output=True, text=True)
        self.assertEqual(result.returncode, 1)
        self.assertIn("no PACKAGES", result.stderr)

    def runtime_packages(self):
        args = dict(self.global_args)
        debian, nvidia = [], []
        for run in self.instructions(self.runtime, "RUN"):
            packages = apt_installs(run, args)
            (nvidia if "cuda-keyring" in run else debian).extend(packages)
        return debian, nvidia

    def test_runtime_packages_exist_in_debian_12(self):
        debian, nvidia = self.runtime_packages()
        self.assertGreater(len(debian), 10)
        self.assertEqual(len(debian), len(set(debian)), "a package is listed twice")
        self.assertEqual(debian, sorted(debian), "keep the runtime list sorted")
        self.assertEqual(sorted(nvidia), ["cuda-cudart-13-0", "libcublas-13-0"])
        try:
            with open("/etc/os-release", encoding="utf-8") as f:
                release = f.read()
        except OSError:
            release = ""
        lists = "/var/lib/apt/lists"
        has_lists = os.path.isdir(lists) and any("Packages" in n for n in os.listdir(lists))
        if 'VERSION_ID="12"' not in release or "debian" not in release or not has_lists:
            skip(self, "no Debian 12 apt lists on this machine to look the runtime packages up in")
        # One apt-cache call (about a second each): it shows the packages it
        # knows and fails for the rest.
        shown = subprocess.run(["apt-cache", "show", "--no-all-versions", *debian],
                               capture_output=True, text=True).stdout
        known = set(re.findall(r"^Package: (\S+)$", shown, re.M))
        missing = [p for p in debian if p not in known]
        self.assertEqual(missing, [], "not in Debian 12's apt lists")

    def test_runtime_packages_cover_every_linked_library_and_nothing_more(self):
        if subprocess.run(["sh", "-c", "command -v ldd && command -v dpkg"],
                          capture_output=True).returncode != 0:
            skip(self, "ldd or dpkg missing: cannot map the binaries' libraries to packages")
        debian, nvidia = self.runtime_packages()
        needed, problems = set(), []
        for binary in BINARIES:
            ldd = subprocess.run(["ldd", binary], check=True, capture_output=True, text=True).stdout
            for line in ldd.splitlines():
                match = re.match(r"\s*(\S+)\s+=>\s+(\S+)\s+\(", line) or \
                        re.match(r"\s*((/\S+))\s+\(", line)
                if not match:
                    if "not found" in line:
                        problems.append(f"{binary}: {line.strip()}")
                    continue  # linux-vdso.so.1 has no file
                soname, path = match.groups()
                owner = None
                for candidate in (path, os.path.realpath(path)):
                    found = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
                    if found.returncode == 0:
                        owner = found.stdout.split(":", 1)[0].split(",")[0].strip()
                        break
                if owner:
                    needed.add(owner)
                    if owner not in debian:
                        problems.append(f"{soname} ({path}) comes from {owner}, "
                                        "not in the runtime stage's list")
                    continue
                base = os.path.basename(soname)
                prefixes = [pkg for lib, pkg in CUDA_PACKAGES.items() if base.startswith(lib + ".")]
                if prefixes and any(p.startswith(prefixes[0]) for p in nvidia):
                    continue
                problems.append(f"{soname} ({path}): no Debian package owns it and it is "
                                "not a CUDA runtime library the image installs")
        self.assertEqual(problems, [])
        unused = set(debian) - needed - set(RUNTIME_EXTRAS)
        self.assertEqual(unused, set(), "runtime packages no binary loads")

    def test_user_volume_ports_healthcheck_and_entrypoint_agree(self):
        runtime = self.runtime
        user = self.instructions(runtime, "USER")
        self.assertEqual(user, ["hecate:hecate"])
        runs = " ".join(self.instructions(runtime, "RUN"))
        self.assertRegex(runs, r"useradd [^&]*--uid 10001 [^&]*hecate")
        self.assertEqual(self.instructions(runtime, "VOLUME"), ['["/var/lib/hecate"]'])
        self.assertEqual(self.instructions(runtime, "EXPOSE"), ["50051 9464"])
        self.assertEqual(self.instructions(runtime, "STOPSIGNAL"), ["SIGTERM"])
        entrypoint = json.loads(self.instructions(runtime, "ENTRYPOINT")[0])
        self.assertEqual(entrypoint[0], "/usr/local/bin/hecated")
        self.assertEqual(flag(entrypoint, "listen"), "0.0.0.0:50051")
        self.assertEqual(flag(entrypoint, "metrics_listen"), "0.0.0.0:9464")
        self.assertEqual(flag(entrypoint, "state_dir"), "/var/lib/hecate")
        self.assertEqual(flag(entrypoint, "api_keys"), "/etc/hecate/api_keys")
        healthcheck = self.instructions(runtime, "HEALTHCHECK")[0]
        options, _, command = healthcheck.partition(" CMD ")
        self.assertIn("--interval=", options)
        self.assertEqual(json.loads(command)[0], "curl")
        self.assertIn("http://127.0.0.1:9464/healthz", json.loads(command))
        # The image refuses to finish building when a library is missing.
        self.assertIn("ldd /usr/local/bin/hecated /usr/local/bin/hecatectl | grep 'not found'", runs)

    def test_dockerignore_keeps_bazel_outputs_and_git_out(self):
        with open(DOCKERFILE + ".dockerignore", encoding="utf-8") as f:
            patterns = {line.strip() for line in f if line.strip() and not line.startswith("#")}
        self.assertLessEqual({".git", "bazel-*"}, patterns)

    def test_parser_rejects_what_it_should(self):
        with self.assertRaises(AssertionError):
            parse_dockerfile("RUN echo before any FROM\n")
        with self.assertRaises(AssertionError):
            parse_dockerfile("FROM debian:12\nRUN echo \\\n")
        self.assertEqual(apt_installs("apt-get install -y a $(x y) b && apt-get update", {}),
                         ["a", "b"])


if __name__ == "__main__":
    unittest.main()
