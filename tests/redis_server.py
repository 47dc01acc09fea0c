"""A private redis-server for the tests: a free 127.0.0.1 port, no persistence, a tmp dir.

``redis_server()`` starts ``redis-server --port P --bind 127.0.0.1 --save "" --appendonly no
--dir TMP``, waits until PING answers, yields ``redis://127.0.0.1:P/0`` and terminates the
server on exit. Where the binary is absent the test is skipped, saying how to install it.

Fixtures (import them into a test module, or use them through ``from tests.redis_server
import redis_url, redis_client``):

* ``redis_url``: one server per test module (module scope), its URL.
* ``redis_client``: a ``redis.Redis`` on that server, emptied (FLUSHALL) before each test.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis

INSTALL_HINT = "redis-server is not installed: apt-get install redis-server"
START_TIMEOUT_SEC = 10.0


def redis_binary() -> str | None:
    """The path of ``redis-server`` on PATH (or Debian's /usr/bin), None when absent."""
    return shutil.which("redis-server") or shutil.which("redis-server", path="/usr/bin:/usr/sbin")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def redis_server() -> Iterator[str]:
    """Start a private redis-server, yield its URL, stop it on exit (skips when absent)."""
    binary = redis_binary()
    if binary is None:
        pytest.skip(INSTALL_HINT)
    with tempfile.TemporaryDirectory(prefix="redis-test-") as tmp:
        port = _free_port()
        proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                tmp,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"redis://127.0.0.1:{port}/0"
        try:
            client = redis.Redis.from_url(url)
            deadline = time.monotonic() + START_TIMEOUT_SEC
            while True:
                try:
                    if client.ping():
                        break
                except redis.exceptions.ConnectionError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not answer PING on port {port}")
                time.sleep(0.02)
            client.close()
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """One private redis-server per test module: its ``redis://127.0.0.1:P/0`` URL."""
    with redis_server() as url:
        yield url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A client on the module's server, emptied before the test (FLUSHALL)."""
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    yield client
    client.close()
