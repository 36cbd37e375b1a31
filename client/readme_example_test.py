"""Runs README.md's example session against a live hecated: every
command must exit as the README shows (0, or 1 with the printed error code)."""

import os
import subprocess
import tempfile
import unittest

import readme_example
from live_daemon import LiveDaemon


def runfile(path):
    return os.path.join(os.environ["TEST_SRCDIR"], "hecate", path)


class ReadmeExampleTest(unittest.TestCase):

    def test_example_session_works_as_printed(self):
        tmp = os.environ.get("TEST_TMPDIR") or tempfile.mkdtemp()
        daemon_dir = os.path.join(tmp, "daemon")
        work_dir = os.path.join(tmp, "work")
        os.makedirs(daemon_dir, exist_ok=True)
        os.makedirs(work_dir, exist_ok=True)
        with open(runfile("README.md")) as f:
            commands = readme_example.extract_commands(f.read())
        # The model ./hecate serve serves by default, as the README was recorded.
        daemon = LiveDaemon(daemon_dir, ["--model=" + runfile("models/tiny-shakespeare")])
        try:
            script = readme_example.build_script(commands, runfile("client/hecatectl"),
                                                 daemon.target, daemon.metrics_target)
            env = dict(os.environ)
            env.pop("HECATE_API_KEY", None)
            # Sampled text may hold any bytes, not only UTF-8.
            run = subprocess.run(["bash", "-c", script], cwd=work_dir, capture_output=True,
                                 text=True, errors="replace", env=env, timeout=600,
                                 stdin=subprocess.DEVNULL)
        finally:
            code = daemon.stop()
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr + daemon.log_tail())
        self.assertEqual(code, 0, "hecated drains and exits 0:\n" + daemon.log_tail())


if __name__ == "__main__":
    unittest.main()
