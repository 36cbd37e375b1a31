"""README.md's example session covers what the issue asks for, and
turns into a script that checks exit codes (no daemon needed)."""

import os
import subprocess
import tempfile
import unittest

import readme_example


def readme_text():
    here = os.path.dirname(os.path.abspath(__file__))
    runfiles = os.environ.get("TEST_SRCDIR")
    path = (os.path.join(runfiles, "hecate", "README.md") if runfiles
            else os.path.join(here, "..", "README.md"))
    with open(path) as f:
        return f.read()


class ReadmeCommandsTest(unittest.TestCase):

    def test_session_has_every_step(self):
        lines = [c.line for c in readme_example.extract_commands(readme_text())]
        def has(*words):
            return any(all(w in line for w in words) for line in lines)
        self.assertTrue(has("hecatectl create"))
        self.assertTrue(has("hecatectl stream"))
        self.assertTrue(has("hecatectl eval"))
        self.assertTrue(has("hecatectl generate", "--prompt="))
        self.assertTrue(has("hecatectl checkpoint", "--out="))
        self.assertTrue(has("hecatectl restore", "--expect_pulse="))
        self.assertTrue(has("curl", "127.0.0.1:9464/metrics"))

    def test_wrong_pulse_fails_then_right_pulse_restores(self):
        commands = readme_example.extract_commands(readme_text())
        restores = [c for c in commands if c.line.startswith("hecatectl restore")]
        self.assertEqual(len(restores), 2)
        self.assertEqual(restores[0].expected_error, "FAILED_PRECONDITION")
        self.assertIsNone(restores[1].expected_error)
        failing = [c for c in commands if c.expected_error]
        self.assertEqual(failing, restores[:1], "only the wrong restore fails")

    def test_script_checks_exit_codes(self):
        # A stand-in `hecatectl` that fails like the real one on "restore
        # --expect_pulse=1" and succeeds otherwise: the script must pass; and
        # must fail once the stand-in stops failing.
        with tempfile.TemporaryDirectory() as work:
            fake = os.path.join(work, "hecatectl")
            with open(fake, "w") as f:
                f.write("#!/bin/bash\n"
                        "cat > /dev/null\n"
                        "for a in \"$@\"; do if [ \"$a\" = --expect_pulse=1 ]; then\n"
                        "  echo 'hecatectl: FAILED_PRECONDITION: wrong pulse' >&2; exit 1; fi; done\n"
                        "echo 'session 0123456789abcdef0123456789abcdef created (pulse 0)'\n")
            os.chmod(fake, 0o755)
            commands = [c for c in readme_example.extract_commands(readme_text())
                        if "curl" not in c.line]
            script = readme_example.build_script(commands, fake, "127.0.0.1:1", None)
            ok = subprocess.run(["bash", "-c", script], cwd=work, capture_output=True, text=True,
                                stdin=subprocess.DEVNULL)
            self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)
            with open(fake, "w") as f:
                f.write("#!/bin/bash\ncat > /dev/null\necho ok\n")
            bad = subprocess.run(["bash", "-c", script], cwd=work, capture_output=True, text=True,
                                 stdin=subprocess.DEVNULL)
            self.assertNotEqual(bad.returncode, 0)
            self.assertIn("FAILED: expected exit 1 with FAILED_PRECONDITION", bad.stdout)


if __name__ == "__main__":
    unittest.main()
