"""Fixtures shared by several test modules."""

import base64
import contextlib
import hashlib
import json
import os
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from spirl.mae.model import MAE

DATA = Path(__file__).resolve().parent / "data"


def _checksums(folder: Path) -> dict[str, str]:
    sums = folder / "SHA256SUMS"
    assert sums.is_file(), f"test data manifest {sums} is missing (see tests/data/SOURCES.md)"
    return {name: sha for sha, name in (line.split() for line in sums.read_text().splitlines() if line.strip())}


@pytest.fixture(scope="session")
def reference_file() -> Callable[[str], Path]:
    """``reference_file("SPR.json")``: a published per-run file of ``tests/data/atari100k``, sha256 checked.

    A missing or altered file fails the test (never a skip): the regressions on published data must run.
    """
    folder = DATA / "atari100k"
    sums = _checksums(folder)

    def get(name: str) -> Path:
        path = folder / name
        assert name in sums, f"{name} is not listed in {folder / 'SHA256SUMS'}"
        assert path.is_file(), f"test data {path} is missing (see tests/data/SOURCES.md)"
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert digest == sums[name], f"{path} has sha256 {digest}, expected {sums[name]} (tests/data/SOURCES.md)"
        return path

    get.sha256 = sums  # type: ignore[attr-defined]
    return get


@pytest.fixture(scope="module")
def mae() -> MAE:
    """A randomly initialised paper-size MAE, frozen (no pretrained weights are needed for exactness tests)."""
    torch.manual_seed(0)
    return MAE().eval().requires_grad_(False)


CORRUPTIONS = ("flip50", "flip90", "truncate", "empty", "garbage")


def corrupt_file(path: Path, how: str) -> None:
    """Damage a file as a failing disk or a stray tool would: 16 flipped bytes at 50% or 90% of it,
    cut to half its size, emptied, or replaced by text of the same size."""
    data = bytearray(path.read_bytes())
    if how.startswith("flip"):
        at = len(data) * int(how[4:]) // 100
        for i in range(at, min(at + 16, len(data))):
            data[i] ^= 0xFF
    elif how == "truncate":
        data = data[: len(data) // 2]
    elif how == "empty":
        data = bytearray()
    elif how == "garbage":
        data = bytearray((b"not a checkpoint, just text\n" * (len(data) // 28 + 1))[: len(data)])
    else:
        raise ValueError(how)
    path.write_bytes(bytes(data))


@pytest.fixture(scope="session")
def corrupt() -> Callable[[Path, str], None]:
    """``corrupt(path, how)`` with ``how`` one of ``CORRUPTIONS`` (see :func:`corrupt_file`)."""
    return corrupt_file


@pytest.fixture(scope="session")
def live_snakemake(tmp_path_factory) -> Callable[..., subprocess.Popen]:
    """``live_snakemake(cwd, body=...)`` starts a real process whose program is named ``snakemake`` (as psutil
    sees ``.venv/bin/snakemake``) working in ``cwd``; by default it sleeps two minutes. The caller kills it."""
    folder = tmp_path_factory.mktemp("fake-snakemake")

    def start(cwd: Path, body: str = "import time; time.sleep(120)") -> subprocess.Popen:
        script = folder / f"{len(list(folder.iterdir()))}" / "snakemake"
        script.parent.mkdir()
        script.write_text(body + "\n")
        return subprocess.Popen([sys.executable, str(script)], cwd=cwd)

    return start


# ------------------------------------------------------------------------------ a real headless browser

# Headless, and kept off the network: without these flags Chromium tries to reach Google.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync")

# What the page itself reports: its images, links and element ids (run in the page once it has loaded).
PAGE_FACTS = """JSON.stringify({
  images: [...document.images].map(i => ({src: i.getAttribute('src').slice(0, 60),
                                         ok: i.complete && i.naturalWidth > 0})),
  links: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href')),
  ids: [...document.querySelectorAll('[id]')].map(e => e.id),
})"""


class Chromium:
    """Debian's Chromium, headless, driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``:
    NUL-terminated JSON on fds 3 and 4), so no WebSocket client or browser download is needed."""

    def __init__(self, exe: str, profile: Path) -> None:
        theirs_in, self._out = os.pipe()
        self._in, theirs_out = os.pipe()

        def wire() -> None:  # in the child: its fd 3 reads what we write, its fd 4 writes what we read
            a, b = os.dup(theirs_in), os.dup(theirs_out)  # above 4, so neither dup2 overwrites the other
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe",
                                      "about:blank"], preexec_fn=wire, pass_fds=(3, 4),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(theirs_in)
        os.close(theirs_out)
        self._buf, self._id, self.events = b"", 0, []

    def send(self, method: str, session: str | None = None, timeout: float = 60, **params):
        """Send one command and return its result (events that arrive meanwhile go to ``events``)."""
        self._id += 1
        os.write(self._out, json.dumps({"id": self._id, "method": method, "params": params,
                                        **({"sessionId": session} if session else {})}).encode() + b"\0")
        while True:
            msg = self._read(timeout)
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_for(self, event: str, timeout: float = 60) -> dict:
        """The next ``event`` (one that already arrived counts)."""
        for i, msg in enumerate(self.events):
            if msg.get("method") == event:
                return self.events.pop(i)
        while True:
            msg = self._read(timeout)
            if msg.get("method") == event:
                return msg
            self.events.append(msg)

    def _read(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buf:
            ready, _, _ = select.select([self._in], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError(f"Chromium did not answer within {timeout} s")
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium closed its pipe (exit code {self.proc.poll()})")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def open(self, page: Path, screenshot: Path) -> dict:
        """Load ``page``, save a PNG of its first screen to ``screenshot``; return what it reports.

        Returns ``images`` (src prefix, loaded), ``links`` (hrefs), ``ids`` and ``errors``: script
        exceptions, console errors, error log entries and failed loads, as text.
        """
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable", session=session)
        self.send("Emulation.setDeviceMetricsOverride", session=session, width=1280, height=800, deviceScaleFactor=1,
                  mobile=False)  # a laptop's first screen, whatever the window's own decorations take
        self.events.clear()
        self.send("Page.navigate", session=session, url=page.resolve().as_uri())
        self.wait_for("Page.loadEventFired", timeout=120)
        facts = json.loads(self.send("Runtime.evaluate", session=session, expression=PAGE_FACTS,
                                     returnByValue=True)["result"]["value"])
        shot = self.send("Page.captureScreenshot", session=session, format="png")
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        errors = []
        for msg in self.events:
            p, kind = msg.get("params", {}), msg.get("method")
            if kind == "Runtime.exceptionThrown":
                errors.append("script: " + p["exceptionDetails"].get("text", "") + " "
                              + str(p["exceptionDetails"].get("exception", {}).get("description", "")))
            elif kind == "Runtime.consoleAPICalled" and p.get("type") == "error":
                errors.append("console: " + " ".join(str(a.get("value", "")) for a in p.get("args", [])))
            elif kind == "Log.entryAdded" and p["entry"]["level"] == "error":
                errors.append("log: " + p["entry"]["text"])
            elif kind == "Network.loadingFailed":
                errors.append("load: " + p.get("errorText", ""))
        self.send("Target.closeTarget", targetId=target)
        return {**facts, "errors": errors}

    def close(self) -> None:
        with contextlib.suppress(OSError, RuntimeError, TimeoutError):
            self.send("Browser.close", timeout=10)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._out)
        os.close(self._in)


@pytest.fixture(scope="session")
def chromium(tmp_path_factory):
    """A headless Chromium (``$SPIRL_CHROMIUM``, else chromium / chromium-browser / google-chrome on PATH).

    Without one the test is skipped with the remedy, unless ``SPIRL_REQUIRE_BROWSER=1`` (set by .ci/run,
    which installs Debian's chromium first), where it fails.
    """
    exe = os.environ.get("SPIRL_CHROMIUM") or next(
        (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
    if exe is None:
        message = "no Chromium found: apt-get install chromium (or set SPIRL_CHROMIUM=/path/to/chrome)"
        if os.environ.get("SPIRL_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    browser = Chromium(exe, tmp_path_factory.mktemp("chromium-profile"))
    yield browser
    browser.close()
