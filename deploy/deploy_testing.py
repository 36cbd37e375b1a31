"""Helpers shared by the deploy/ tests: where files are, skipping with a line
that says why (so `bazel test --test_output=all` shows it), and facts about
hecated that several tests compare the deployment files against.

    path = workspace_path("deploy/nginx/hecate.conf")
    skip(self, "nginx not installed")   # prints "SKIPPED: nginx not installed"
    flags = hecated_flags(workspace_path("server/hecated"))   # {"listen", ...}
"""

import json
import os
import re
import shutil
import subprocess
import unittest
from typing import Any, Dict, List, Optional, Sequence, Set

import yaml


def workspace_path(relative: str) -> str:
    """A workspace file: from the Bazel runfiles under `bazel test`, else from
    the source tree this file sits in (running a test by hand)."""
    runfiles = os.environ.get("TEST_SRCDIR")
    if runfiles:  # a file missing here is a missing `data` entry: let it fail
        return os.path.join(runfiles, os.environ.get("TEST_WORKSPACE", "hecate"), relative)
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(os.path.dirname(here), relative)


def skip(test: unittest.TestCase, reason: str) -> None:
    """Prints "SKIPPED: <reason>" and skips the test (which then passes)."""
    print(f"SKIPPED: {reason}", flush=True)
    test.skipTest(reason)


def find_tool(name: str, fallback: str) -> Optional[str]:
    """The tool `name` on PATH, else `fallback` when executable, else None.

    Bazel's strict action env gives tests a short PATH, so the Debian
    location is tried too.
    """
    found = shutil.which(name)
    if found:
        return found
    return fallback if os.access(fallback, os.X_OK) else None


def load_yaml_documents(path: str) -> List[Dict[str, Any]]:
    """Every non-empty YAML document of `path`, in order (raises on bad YAML)."""
    with open(path, encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


def hecated_flags(binary: str) -> Set[str]:
    """Names of the flags `binary --help` lists (those of server/main.cc)."""
    result = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=30)
    names = set(re.findall(r"^\s+--([a-z_][a-z0-9_]*) \(", result.stdout + result.stderr, re.M))
    if len(names) < 10:
        raise AssertionError(f"`{binary} --help` listed {len(names)} flags:\n{result.stdout}")
    return names


def hecated_rejects(binary: str, argv: Sequence[str]) -> str:
    """"" when hecated accepts every flag name and value of `argv` (absl's
    --only_check_args parses them all, then exits), else its error output."""
    result = subprocess.run([binary, *argv, "--only_check_args"], capture_output=True,
                            text=True, timeout=30)
    return "" if result.returncode == 0 else (result.stderr + result.stdout).strip() or "failed"


def flag_value(argv: Sequence[str], name: str, default: Optional[str] = None) -> str:
    """The value of --name=VALUE in `argv`; the last one wins, as in absl.

    Raises AssertionError when it is absent and no default is given.
    """
    values = [a.split("=", 1)[1] for a in argv if a.startswith(f"--{name}=")]
    if values:
        return values[-1]
    if default is None:
        raise AssertionError(f"--{name} missing from {list(argv)}")
    return default


def duration_seconds(text: str) -> float:
    """Seconds in an absl/Go duration such as "30s", "1m30s", "500ms"."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|us|ns|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    return sum(float(number) * units[unit] for number, unit in parts)


def port_of(host_port: str) -> int:
    """The port of HOST:PORT (also [v6]:PORT)."""
    return int(host_port.rsplit(":", 1)[1])


def dockerfile_entrypoint(path: str) -> List[str]:
    """The exec-form ENTRYPOINT of the Dockerfile's last stage."""
    with open(path, encoding="utf-8") as f:
        lines = [line for line in f.read().splitlines() if line.startswith("ENTRYPOINT ")]
    if not lines:
        raise AssertionError(f"no ENTRYPOINT in {path}")
    return json.loads(lines[-1][len("ENTRYPOINT "):])


def memory_bytes(quantity: str) -> int:
    """Bytes in a Kubernetes memory quantity ("20Gi", "512Mi", "1000")."""
    suffixes = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
                "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
    match = re.fullmatch(r"(\d+)([KMGT]i?|k)?", str(quantity))
    if not match:
        raise ValueError(f"not a memory quantity: {quantity!r}")
    return int(match.group(1)) * suffixes.get(match.group(2) or "", 1)
