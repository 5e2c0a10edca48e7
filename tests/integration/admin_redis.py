"""A real redis-server for the Redis-store tests, on a free loopback port,
that can be stopped and started again on the same port and data dir."""

import os
import shutil
import socket
import subprocess
import tempfile
import time

import harness


class RedisServer:
    def __init__(self, password=None):
        self.dir = tempfile.mkdtemp(prefix="apigw-redis-")
        self.port = harness.free_port()
        self.password = password
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", self.dir, "--save", "", "--appendonly", "yes",
             "--appendfsync", "always"]
            + (["--requirepass", self.password] if self.password else []),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not harness.wait_port(self.port, self.proc):
            raise RuntimeError("redis-server did not start")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, db=0):
        # userinfo percent-encoded, as RFC 3986 has it
        from urllib.parse import quote
        auth = ":%s@" % quote(self.password, safe="") if self.password \
            else ""
        return "redis://%s127.0.0.1:%d/%d?connect_timeout=500ms" % (
            auth, self.port, db)

    def cmd(self, *args, db=0):
        """One command over RESP (after AUTH when there is a password, in
        database `db`); the reply decoded simply."""
        with socket.create_connection(("127.0.0.1", self.port), 5) as s:
            pre = []
            if self.password:
                pre.append(["AUTH", self.password])
            pre.append(["SELECT", str(db)])
            s.sendall(b"".join(_encode(p) for p in pre)
                      + _encode(list(args)))
            f = s.makefile("rb")
            for _ in pre:
                assert _read(f) == "OK"
            return _read(f)


def _encode(args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def _read(f):
    line = f.readline().rstrip(b"\r\n")
    t, rest = line[:1], line[1:]
    if t in (b"+", b"-"):
        return rest.decode()
    if t == b":":
        return int(rest)
    if t == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data.decode()
    if t == b"*":
        n = int(rest)
        return None if n < 0 else [_read(f) for _ in range(n)]
    raise ValueError(line)


def wait_until(fn, timeout=5.0, step=0.01):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v or time.time() > deadline:
            return v
        time.sleep(step)
