"""Integration-test harness: real nginx with the built module, the OpenWhisk
stand-in, free loopback ports, and a small HTTP client that sends exactly the
bytes it is given."""

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, "build")
MODULE = os.path.join(BUILD, "ngx_http_apigw_module.so")
NGINX = os.environ.get("APIGW_NGINX") or "/usr/sbin/nginx"
# nginx built with the module compiled in (make test SAN=1): no load_module
STATIC = os.environ.get("APIGW_SAN") == "1"
SPECS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "specs")


_HANDED_OUT = set()


def free_port():
    """A loopback port nobody listens on, and never one handed out before
    in this process: the kernel may pick the same free port twice, and a
    gateway whose admin port is also its TLS port answers plain HTTP with
    400 (as a CI run once showed)."""
    for _ in range(1000):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port
    raise RuntimeError("no loopback port left that was not handed out")


def wait_port(port, proc=None, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.02)
    return False


class Whisk:
    """The OpenWhisk stand-in as a subprocess."""

    def __init__(self):
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", os.path.join(ROOT, "tests/whisk/whisk.py"),
             "--host", "127.0.0.1", "--port", "0"],
            stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            raise RuntimeError("whisk stand-in did not start: %r" % line)
        self.url = line.strip().rsplit(" ", 1)[1]
        self.port = int(self.url.rsplit(":", 1)[1])

    def stats(self):
        return json.loads(request(self.port, "GET", "/_whisk/stats").body)

    def calls(self):
        return self.stats()["calls"]

    def last(self):
        return json.loads(request(self.port, "GET", "/_whisk/last").body)

    def reset(self):
        request(self.port, "POST", "/_whisk/reset")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Nginx:
    """One nginx instance: `http_conf` is the content of the http{} block;
    {port} and {specs} are substituted."""

    def __init__(self, http_conf, workers=1, extra_main=""):
        self.dir = tempfile.mkdtemp(prefix="apigw-nginx-")
        self.port = free_port()
        self.conf = os.path.join(self.dir, "nginx.conf")
        self.error_log = os.path.join(self.dir, "error.log")
        for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            os.makedirs(os.path.join(self.dir, "tmp", d))
        body = http_conf.replace("{port}", str(self.port)) \
                        .replace("{specs}", SPECS)
        load = "" if STATIC else "load_module %s;\n" % MODULE
        with open(self.conf, "w") as f:
            f.write("""%s
daemon off;
master_process on;
worker_processes %d;
pid %s/nginx.pid;
error_log %s info;
%s
events { worker_connections 1024; }
http {
    access_log %s/access.log;
    client_body_temp_path %s/tmp/body;
    proxy_temp_path %s/tmp/proxy;
    fastcgi_temp_path %s/tmp/fastcgi;
    uwsgi_temp_path %s/tmp/uwsgi;
    scgi_temp_path %s/tmp/scgi;
%s
}
""" % (load, workers, self.dir, self.error_log, extra_main,
                    self.dir, self.dir, self.dir, self.dir, self.dir,
                    self.dir, body))
        self.proc = None
        self.env = None         # the environment of nginx, if not ours

    def test(self):
        """nginx -t: (exit code, output)."""
        p = subprocess.run([NGINX, "-p", self.dir + "/", "-c", self.conf,
                            "-t"], capture_output=True, text=True)
        return p.returncode, p.stdout + p.stderr

    def start(self):
        rc, out = self.test()
        if rc != 0:
            raise RuntimeError("nginx -t failed:\n" + out)
        self.proc = subprocess.Popen(
            [NGINX, "-p", self.dir + "/", "-c", self.conf],
            stderr=subprocess.DEVNULL, env=self.env)
        if not wait_port(self.port, self.proc):
            raise RuntimeError("nginx did not start:\n" + self.log())
        return self

    def log(self):
        try:
            # clients' bytes are logged as they came
            with open(self.error_log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def reload(self):
        subprocess.run([NGINX, "-p", self.dir + "/", "-c", self.conf,
                        "-s", "reload"], check=True)

    def reload_and_wait(self, workers):
        """Reload, then wait until `workers` new workers have started."""
        before = self.log().count("start worker process")
        self.reload()
        deadline = time.time() + 10
        while self.log().count("start worker process") < before + workers:
            assert time.time() < deadline, self.log()
            time.sleep(0.05)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        log = self.log()
        shutil.rmtree(self.dir, ignore_errors=True)
        return log

    def request(self, method, target, headers=None, body=None, **kw):
        return request(self.port, method, target, headers, body, **kw)

    def worker_threads(self):
        """{worker pid: how many threads it has}."""
        with open("/proc/%d/task/%d/children"
                  % (self.proc.pid, self.proc.pid)) as f:
            pids = [int(p) for p in f.read().split()]
        n = {}
        for p in pids:
            try:
                n[p] = len(os.listdir("/proc/%d/task" % p))
            except FileNotFoundError:       # exited meanwhile
                pass
        return n

    def wait_single_threaded(self, timeout=5.0):
        """apigw's blocking work (the keys file, the journal, host name
        lookups) runs in threads that end with it: between two pieces of
        it every worker is back to one thread.  Fails with the counts."""
        deadline = time.time() + timeout
        while True:
            n = self.worker_threads()
            if n and all(c == 1 for c in n.values()):
                return
            assert time.time() < deadline, n
            time.sleep(0.02)


class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers          # [(name, value)] as received
        self.body = body

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def json(self):
        return json.loads(self.body)

    def sha256(self):
        return hashlib.sha256(self.body).hexdigest()

    def __repr__(self):
        return "<Response %d %r %r>" % (self.status, self.headers,
                                         self.body[:200])


def _read_response(f, method):
    line = f.readline()
    if not line:
        raise ConnectionError("connection closed before a response")
    parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    status = int(parts[1])
    reason = parts[2] if len(parts) > 2 else ""
    headers = []
    while True:
        h = f.readline().decode("latin-1").rstrip("\r\n")
        if not h:
            break
        k, _, v = h.partition(":")
        headers.append((k.strip(), v.strip()))
    hl = {k.lower(): v for k, v in headers}
    body = b""
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        pass
    elif hl.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int(f.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while f.readline() not in (b"\r\n", b"\n", b""):
                    pass
                break
            body += f.read(size)
            f.readline()
    elif "content-length" in hl:
        body = f.read(int(hl["content-length"]))
    else:
        body = f.read()
    return Response(status, reason, headers, body)


def request(port, method, target, headers=None, body=None, chunked=False,
            timeout=30, host="localhost"):
    """Send one HTTP/1.1 request with the target exactly as given."""
    headers = list(headers or [])
    names = {k.lower() for k, _ in headers}
    if "host" not in names:
        headers.insert(0, ("Host", host))
    if "connection" not in names:
        headers.append(("Connection", "close"))
    if body is not None and isinstance(body, str):
        body = body.encode()
    if body is not None and not chunked and "content-length" not in names:
        headers.append(("Content-Length", str(len(body))))
    if chunked:
        headers.append(("Transfer-Encoding", "chunked"))
    head = "%s %s HTTP/1.1\r\n" % (method, target)
    head += "".join("%s: %s\r\n" % (k, v) for k, v in headers) + "\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head.encode("latin-1"))
        if body is not None:
            if chunked:
                for i in range(0, len(body), 65536):
                    piece = body[i:i + 65536]
                    s.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
                s.sendall(b"0\r\n\r\n")
            else:
                s.sendall(body)
        with s.makefile("rb") as f:
            return _read_response(f, method)


def raw_exchange(port, data, timeout=10):
    """The bytes the server sends back to `data`, until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


def render_spec(name, tmpdir, **subst):
    """Copy tests/integration/specs/NAME into tmpdir with {KEY} replaced."""
    with open(os.path.join(SPECS, name)) as f:
        text = f.read()
    for k, v in subst.items():
        text = text.replace("{%s}" % k, str(v))
    path = os.path.join(tmpdir, name)
    with open(path, "w") as f:
        f.write(text)
    return path
