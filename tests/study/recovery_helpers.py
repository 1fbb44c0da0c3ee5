"""Running `xstudy` as a user does, on a Ray of its own that the test can clean up completely.

Each run gets a short private folder that serves as RAY_TMPDIR (Ray's session: sockets, logs, trial
working dirs) and TMPDIR (the trials' temporary checkpoint folders). Every Ray process of that run has the
folder in its environment, so the test can find and end exactly the processes it started (a killed
driver's Ray processes can outlive it, and its workers may still be writing), without touching any other
Ray on the machine.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
XSTUDY = [sys.executable, "-m", "study.cli"]
NUM_CPUS = "2"  # the subprocess's own Ray gets exactly these CPUs


class OwnRay:
    """A private RAY_TMPDIR/TMPDIR for `xstudy` subprocesses, and the cleanup of what they started."""

    def __init__(self) -> None:
        # Short and under /tmp: Ray's socket paths (<dir>/ray/session_<date>_<pid>/sockets/...) must fit in 107 bytes.
        self.dir = Path(tempfile.mkdtemp(prefix="xr-", dir="/tmp"))
        self.tmp = self.dir / "tmp"
        self.tmp.mkdir()
        self.groups: list[int] = []

    def env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, "RAY_TMPDIR": str(self.dir), "TMPDIR": str(self.tmp), "PYTHONUNBUFFERED": "1",
                "RAY_ADDRESS": "", **extra}

    def start(self, *args: str, log: Path, **env: str) -> subprocess.Popen:
        """`xstudy ARGS` in a new session, so its process group holds the Ray processes it spawns."""
        proc = subprocess.Popen([*XSTUDY, *args, "--num-cpus", NUM_CPUS], cwd=ROOT, env=self.env(**env),
                                stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
        self.groups.append(proc.pid)
        return proc

    def run(self, *args: str, log: Path, timeout: float = 600, **env: str) -> int:
        proc = self.start(*args, log=log, **env)
        try:
            return proc.wait(timeout=timeout)
        finally:
            self.kill_all()

    def processes(self) -> list[int]:
        """Live processes started by our runs: their environment names our private folder."""
        marker = f"RAY_TMPDIR={self.dir}".encode()
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    pids.append(int(entry.name))
            except OSError:
                continue  # gone, or not ours to read
        return pids

    def kill_all(self) -> None:
        """SIGKILL our process groups, then our processes outside them (Ray puts each worker in a group of its own)."""
        for group in self.groups:
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.time() + 30
        while (pids := self.processes()) and time.time() < deadline:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.2)
        assert not self.processes(), "processes of the test's own Ray survived SIGKILL"

    def close(self) -> None:
        self.kill_all()
        shutil.rmtree(self.dir, ignore_errors=True)


def folder_bytes(root: Path, skip=lambda p: False) -> int:
    """Bytes of the files under `root` (apparent sizes), tolerating files that vanish while we walk."""
    total = 0
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = Path(dirpath, name)
            if skip(path):
                continue
            try:
                total += path.lstat().st_size
            except OSError:
                pass
    return total
