"""Starts a real hecated on loopback for tests, and stops it by draining.

    daemon = LiveDaemon(workdir)      # --listen=127.0.0.1:0 --port_file=...
    daemon.target                     # "127.0.0.1:43215"
    daemon.metrics_target             # "127.0.0.1:43216" or None
    exit_code = daemon.stop()         # SIGTERM, wait for the drain

The daemon writes its bound gRPC port to --port_file: line 1 is "PORT" or
"HOST:PORT"; an optional line 2 gives the metrics (HTTP) port the same way.
The binary is $HECATED, else server/hecated in the Bazel runfiles.
"""

import os
import signal
import subprocess
import time
from typing import List, Optional

STARTUP_SECONDS = 120
SHUTDOWN_SECONDS = 120


def hecated_path() -> str:
    if os.environ.get("HECATED"):
        return os.environ["HECATED"]
    runfiles = os.environ.get("TEST_SRCDIR") or os.environ.get("RUNFILES_DIR")
    if runfiles:
        return os.path.join(runfiles, "hecate", "server", "hecated")
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(here, "..", "..", "bazel-bin", "server", "hecated")


def _address(line: str) -> Optional[str]:
    line = line.strip()
    if ":" in line:
        return line
    if line.isdigit() and int(line) > 0:
        return f"127.0.0.1:{int(line)}"
    return None


def parse_port_file(text: str) -> List[Optional[str]]:
    """[grpc target, metrics target or None]; [] while the file is incomplete
    (no newline yet), so a half-written file is never misread."""
    if not text.endswith("\n"):
        return []
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or _address(lines[0]) is None:
        return []
    return [_address(lines[0]), _address(lines[1]) if len(lines) > 1 else None]


class LiveDaemon:

    def __init__(self, workdir: str, extra_flags: Optional[List[str]] = None):
        self.workdir = workdir
        os.makedirs(workdir, exist_ok=True)
        port_file = os.path.join(workdir, "hecated.port")
        if os.path.exists(port_file):
            os.remove(port_file)
        self.log_path = os.path.join(workdir, "hecated.log")
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [hecated_path(), "--listen=127.0.0.1:0", f"--port_file={port_file}",
             "--metrics_listen=127.0.0.1:0", f"--state_dir={os.path.join(workdir, 'state')}",
             "--model=random:tiny"]  # plumbing; a caller's own --model comes later and wins
            + list(extra_flags or []),
            stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + STARTUP_SECONDS
        addresses: List[Optional[str]] = []
        while not addresses:
            if self.process.poll() is not None:
                raise RuntimeError(f"hecated exited with {self.process.returncode} at start:\n"
                                   + self.log_tail())
            if time.monotonic() > deadline:
                self.process.kill()
                raise RuntimeError("hecated wrote no port file in time:\n" + self.log_tail())
            time.sleep(0.05)
            try:
                with open(port_file) as f:
                    addresses = parse_port_file(f.read())
            except FileNotFoundError:
                pass
        self.target: str = addresses[0]
        self.metrics_target: Optional[str] = addresses[1]

    def log_tail(self, limit: int = 8000) -> str:
        if not self._log.closed:
            self._log.flush()
        with open(self.log_path, "rb") as f:
            return f.read()[-limit:].decode(errors="replace")

    def stop(self) -> int:
        """SIGTERM (drain), then the exit code; kills it past SHUTDOWN_SECONDS
        and raises."""
        try:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(SHUTDOWN_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise RuntimeError("hecated did not drain and exit after SIGTERM:\n"
                                   + self.log_tail()) from None
        finally:
            self._log.close()
