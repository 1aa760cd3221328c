"""numpy 2 in the edge venv against Raspberry Pi OS's apt camera stack (numpy 1.24, simplejpeg).

picamera2 imports simplejpeg. Raspberry Pi OS's apt simplejpeg (1.6.6) is built against numpy 1;
the venv (--system-site-packages, so apt's picamera2 is visible) has numpy 2. Debian bookworm has
apt's numpy 1.24 but not the Raspberry Pi archive, so a deployed edge host gets simplejpeg 1.6.6's
PyPI wheel (also built against numpy 1) as the system package. `import picamera2` itself needs
libcamera's Python bindings, which only the Raspberry Pi archive has: the deploy imports it on
every Pi (common_venv_check_imports), see docs/deploy.md.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from .hosts import EDGE_2, out, ssh

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
SYSTEM_SITE = "/usr/local/lib/python3.11/dist-packages"
ENCODE = "import numpy, simplejpeg; simplejpeg.encode_jpeg(numpy.zeros((16, 16, 3), numpy.uint8)); " \
         "print(numpy.__version__, simplejpeg.__version__, simplejpeg.__file__)"


@pytest.fixture(scope="module")
def apt_like_simplejpeg(deployed, tmp_path_factory):
    """simplejpeg 1.6.6 built against numpy 1, installed as a system package next to apt's numpy."""
    folder = tmp_path_factory.mktemp("simplejpeg")
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                           "--platform", "manylinux2014_x86_64", "--python-version", "3.11", "--implementation",
                           "cp", "--abi", "cp311", "-d", str(folder), "simplejpeg==1.6.6"],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        pytest.skip(f"simplejpeg 1.6.6 (the Raspberry Pi OS version) could not be downloaded: {proc.stderr[-500:]}")
    wheel = next(folder.glob("*.whl")).read_bytes()
    ssh(EDGE_2, f"sudo mkdir -p {SYSTEM_SITE} && sudo tee /tmp/simplejpeg.whl >/dev/null "
                f"&& sudo python3 -m zipfile -e /tmp/simplejpeg.whl {SYSTEM_SITE}", stdin=wheel)
    yield
    ssh(EDGE_2, f"sudo rm -rf {SYSTEM_SITE}/simplejpeg {SYSTEM_SITE}/simplejpeg-1.6.6.dist-info /tmp/simplejpeg.whl")


def test_system_python_has_the_apt_like_numpy_1_stack(apt_like_simplejpeg):
    """The host's own Python (apt numpy 1.24) encodes with the numpy-1 simplejpeg, as on a Pi."""
    assert out(EDGE_2, f"python3 -c '{ENCODE}'").startswith("1.24.")


def test_numpy_1_simplejpeg_breaks_under_the_venvs_numpy_2(apt_like_simplejpeg):
    """Forced ahead of the venv's own copy, the numpy-1 simplejpeg fails: the known picamera2 breakage."""
    proc = ssh(EDGE_2, f"PYTHONPATH={SYSTEM_SITE} /opt/aicamera/current/venv/bin/python -c '{ENCODE}'", check=False)
    assert proc.returncode != 0
    assert b"numpy.dtype size changed" in proc.stderr or b"compiled using NumPy 1.x" in proc.stderr, proc.stderr


def test_the_edge_venv_shadows_it_with_its_locked_simplejpeg(apt_like_simplejpeg):
    """The edge venv imports its locked simplejpeg (built for numpy 2) and encodes with numpy 2."""
    numpy, simplejpeg, path = out(EDGE_2, f"/opt/aicamera/current/venv/bin/python -c '{ENCODE}'").split()
    assert numpy.startswith("2.") and simplejpeg == "1.9.0" and path.startswith("/opt/aicamera/")
