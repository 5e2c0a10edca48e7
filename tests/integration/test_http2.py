"""HTTP/2 clients: the request body streamed to the backend (the proxy
module may make its request only once body data arrives), with the
backend's method and URI on the request line and the client's kept in
$request_method / $request_uri."""

import hashlib
import os
import subprocess
import time

import pytest

import harness
from apigw_checks import last_raw


@pytest.fixture(scope="module")
def gw(module_nginx_factory, whisk, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("http2")
    spec = harness.render_spec("failing.yaml", str(tmp), WHISK=whisk.url,
                               DEAD=harness.free_port())
    n = module_nginx_factory("""
    log_format line '$request_method|$request_uri|$apigw_backend_method|'
                    '$apigw_backend_url|$status';
    server {
        listen 127.0.0.1:{port} http2;
        access_log line.log line;
        client_max_body_size 10m;
        location / {
            apigw;
            apigw_openwhisk_url %s;
            apigw_spec %s;
        }
    }""" % (whisk.url, spec))
    n.lines = os.path.join(n.dir, "line.log")
    return n.start()


def curl_h2(gw, method, target, body=None, extra=()):
    cmd = ["curl", "-sS", "--http2-prior-knowledge", "-X", method,
           "-o", "/dev/null", "-w", "%{http_code} %{http_version}",
           "-H", "Content-Type: application/octet-stream"] + list(extra)
    if body is not None:
        cmd += ["--data-binary", "@" + body]
    cmd.append("http://127.0.0.1:%d%s" % (gw.port, target))
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def log_lines(gw, n):
    deadline = time.time() + 10
    while time.time() < deadline:
        with open(gw.lines) as f:
            lines = [x.rstrip("\n").split("|") for x in f]
        if len(lines) >= n:
            return lines
        time.sleep(0.02)
    raise AssertionError("access log has fewer than %d lines" % n)


@pytest.mark.parametrize("rate", [None, "2M"])
def test_http2_streamed_body_backend_request_line(gw, whisk, tmp_path,
                                                  rate):
    data = os.urandom(3 * 1024 * 1024 + 17)
    body = tmp_path / "body.bin"
    body.write_bytes(data)
    whisk.reset()
    with open(gw.lines) as f:            # nginx made it at start
        before = sum(1 for _ in f)
    extra = ["--limit-rate", rate] if rate else []
    assert curl_h2(gw, "PUT", "/f/verb/a%20b?x=1", str(body), extra) \
        == ["200", "2"]
    last = last_raw(whisk)
    assert last["method"] == "POST"
    assert last["target"] == "/raw/verb/a%20b?a=b&x=1"
    assert last["body_length"] == len(data)
    assert last["body_sha256"] == hashlib.sha256(data).hexdigest()
    assert log_lines(gw, before + 1)[before] == [
        "PUT", "/f/verb/a%20b?x=1", "POST",
        whisk.url + "/raw/verb/a%20b?a=b&x=1", "200"]
