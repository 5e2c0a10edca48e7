"""A real redis-server on a free loopback port, for the global rate-limit
tests: start, kill (SIGKILL, as a crash), start again on the same port."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from harness import free_port, wait_port


class Redis:
    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="apigw-redis-")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_port(self.port, self.proc):
            raise RuntimeError("redis-server did not start")
        return self

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def pause(self, on=True):
        """SIGSTOP / SIGCONT: a Redis that accepts but does not answer."""
        self.proc.send_signal(signal.SIGSTOP if on else signal.SIGCONT)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def cmd(self, *args):
        """One command over RESP; returns the raw reply line(s)."""
        out = "*%d\r\n" % len(args) + "".join(
            "$%d\r\n%s\r\n" % (len(str(a).encode()), a) for a in args)
        with socket.create_connection(("127.0.0.1", self.port), 5) as s:
            s.sendall(out.encode())
            time.sleep(0.02)
            return s.recv(65536).decode()

    @property
    def url(self):
        return "redis://127.0.0.1:%d" % self.port


@pytest.fixture
def redis_server():
    r = Redis().start()
    yield r
    r.stop()
