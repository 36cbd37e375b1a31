"""`hecatectl checkpoints` and `hecatectl delete-checkpoint` against a live
hecated: the listing shows each stored checkpoint's name, pulse id and size
and the usage against --checkpoint_quota_bytes_per_user (text and --json);
a store past the quota exits 1 with RESOURCE_EXHAUSTED naming it; deleting
frees the quota; deleting a missing name exits 1 with NOT_FOUND. Also the
session flags: `create --keep_on_expiry --pinned`, and `pin`, `unpin` and
`update --pinned=... --keep_on_expiry=...` on a live session."""

import json
import os
import subprocess
import tempfile
import unittest

from hecate_client import HecateClient
from live_daemon import LiveDaemon


def runfile(path):
    return os.path.join(os.environ["TEST_SRCDIR"], "hecate", path)


class HecatectlCheckpointsTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = os.environ.get("TEST_TMPDIR") or tempfile.mkdtemp()
        # Measure one checkpoint at pulse 10, then serve with room for two.
        probe = LiveDaemon(os.path.join(cls.tmp, "probe"), ["--model=random:tiny"])
        with HecateClient(probe.target, timeout=120) as client:
            session = client.create_session()
            list(client.stream(session.id, [b"0123456789"]))
            cls.size = client.export_checkpoint(session.id).size_bytes
        probe.stop()
        cls.quota = 2 * cls.size + cls.size // 2
        cls.daemon = LiveDaemon(os.path.join(cls.tmp, "daemon"),
                                ["--model=random:tiny",
                                 f"--checkpoint_quota_bytes_per_user={cls.quota}"])
        cls.client = HecateClient(cls.daemon.target, timeout=120)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        code = cls.daemon.stop()
        if code != 0:
            raise AssertionError(f"hecated exited with {code}:\n" + cls.daemon.log_tail())

    def hecatectl(self, *args):
        return subprocess.run([runfile("client/hecatectl"), f"--target={self.daemon.target}",
                               *args], capture_output=True, text=True, timeout=600)

    def test_pin_unpin_and_update(self):
        session = self.client.create_session()
        self.addCleanup(self.client.delete_session, session.id)
        pinned = self.hecatectl("pin", session.id, "--json")
        self.assertEqual(pinned.returncode, 0, pinned.stderr)
        self.assertTrue(json.loads(pinned.stdout)["pinned"])
        self.assertFalse(json.loads(pinned.stdout)["keep_on_expiry"])
        kept = self.hecatectl("update", session.id, "--keep_on_expiry", "--json")
        self.assertEqual(kept.returncode, 0, kept.stderr)
        self.assertTrue(json.loads(kept.stdout)["pinned"])  # not given: unchanged
        self.assertTrue(json.loads(kept.stdout)["keep_on_expiry"])
        unpinned = self.hecatectl("unpin", session.id)
        self.assertEqual(unpinned.returncode, 0, unpinned.stderr)
        self.assertEqual(unpinned.stdout,
                         f"session {session.id}: not pinned, keep_on_expiry on\n")
        off = self.hecatectl("update", session.id, "--keep_on_expiry=false", "--pinned=true")
        self.assertEqual(off.returncode, 0, off.stderr)
        self.assertEqual(off.stdout, f"session {session.id}: pinned, keep_on_expiry off\n")
        got = self.client.get_session(session.id)
        self.assertTrue(got.pinned)
        self.assertFalse(got.keep_on_expiry)
        usage = self.hecatectl("update", session.id)
        self.assertEqual(usage.returncode, 2, usage.stderr)
        missing = self.hecatectl("pin", "0" * 32)
        self.assertEqual(missing.returncode, 1)
        self.assertIn("NOT_FOUND", missing.stderr)

    def test_create_keep_on_expiry_and_pinned(self):
        created = self.hecatectl("create", "--keep_on_expiry", "--pinned", "--json")
        self.assertEqual(created.returncode, 0, created.stderr)
        session = json.loads(created.stdout)
        self.assertTrue(session["keep_on_expiry"])
        self.assertTrue(session["pinned"])
        self.client.delete_session(session["id"])
        plain = self.hecatectl("create", "--json")
        self.assertEqual(plain.returncode, 0, plain.stderr)
        session = json.loads(plain.stdout)
        self.assertFalse(session["keep_on_expiry"])
        self.assertFalse(session["pinned"])
        self.client.delete_session(session["id"])

    def test_list_quota_and_delete(self):
        session = self.client.create_session()
        list(self.client.stream(session.id, [b"0123456789"]))
        empty = self.hecatectl("checkpoints")
        self.assertEqual(empty.returncode, 0, empty.stderr)
        self.assertTrue(empty.stdout.startswith("no checkpoints\n"), empty.stdout)

        for name in ("first", "second"):
            stored = self.hecatectl("checkpoint", session.id, f"--name={name}")
            self.assertEqual(stored.returncode, 0, stored.stderr)
        refused = self.hecatectl("checkpoint", session.id, "--name=third")
        self.assertEqual(refused.returncode, 1)
        self.assertIn("RESOURCE_EXHAUSTED: checkpoint storage quota per user", refused.stderr)
        self.assertIn(f"({self.quota} bytes", refused.stderr)

        listing = self.hecatectl("checkpoints")
        self.assertEqual(listing.returncode, 0, listing.stderr)
        lines = listing.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["NAME", "PULSE", "SIZE", "CREATED"])
        self.assertEqual([line.split()[:2] for line in lines[1:3]],
                         [["first", "10"], ["second", "10"]])
        self.assertTrue(lines[3].startswith("used "), listing.stdout)

        as_json = self.hecatectl("checkpoints", "--json")
        self.assertEqual(as_json.returncode, 0, as_json.stderr)
        parsed = json.loads(as_json.stdout)
        self.assertEqual([c["name"] for c in parsed["checkpoints"]], ["first", "second"])
        self.assertEqual({c["pulse_id"] for c in parsed["checkpoints"]}, {10})
        self.assertEqual({c["size_bytes"] for c in parsed["checkpoints"]}, {self.size})
        self.assertEqual(parsed["used_bytes"], 2 * self.size)
        self.assertEqual(parsed["quota_bytes"], self.quota)

        deleted = self.hecatectl("delete-checkpoint", "first")
        self.assertEqual(deleted.returncode, 0, deleted.stderr)
        self.assertEqual(deleted.stdout, "checkpoint first deleted\n")
        again = self.hecatectl("delete-checkpoint", "first")
        self.assertEqual(again.returncode, 1)
        self.assertIn("NOT_FOUND: no checkpoint named 'first'", again.stderr)
        usage = self.hecatectl("delete-checkpoint")
        self.assertEqual(usage.returncode, 2, usage.stderr)
        stored = self.hecatectl("checkpoint", session.id, "--name=third")
        self.assertEqual(stored.returncode, 0, stored.stderr)


if __name__ == "__main__":
    unittest.main()
