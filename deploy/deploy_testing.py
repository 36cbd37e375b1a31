"""Helpers shared by the deploy/ tests: where files are, and skipping with a
line that says why (so `bazel test --test_output=all` shows it).

    path = workspace_path("deploy/nginx/hecate.conf")
    skip(self, "nginx not installed")   # prints "SKIPPED: nginx not installed"
"""

import os
import unittest


def workspace_path(relative: str) -> str:
    """A workspace file: from the Bazel runfiles under `bazel test`, else from
    the source tree this file sits in (running a test by hand)."""
    runfiles = os.environ.get("TEST_SRCDIR")
    if runfiles:  # a file missing here is a missing `data` entry: let it fail
        return os.path.join(runfiles, os.environ.get("TEST_WORKSPACE", "hecate"), relative)
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(os.path.dirname(here), relative)


def skip(test: unittest.TestCase, reason: str) -> None:
    print(f"SKIPPED: {reason}", flush=True)
    test.skipTest(reason)
