"""Child processes for tests: stop them politely, wait for their HTTP endpoints."""

from __future__ import annotations

import signal
import subprocess
import time
import urllib.error
import urllib.request


def terminate(process: subprocess.Popen, timeout: float = 30.0) -> int:
    """SIGTERM ``process`` if it still runs, wait ``timeout`` s, then SIGKILL; return its exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()


def wait_http(url: str, timeout: float = 30.0) -> None:
    """Block until ``url`` answers with any HTTP status; TimeoutError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout} s")
