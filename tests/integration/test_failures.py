"""Backend failures become JSON errors; $apigw_reason and friends in the
access log."""

import json
import os
import time

import pytest

import harness
from apigw_checks import assert_error, gateway, last_raw


@pytest.fixture(scope="module")
def gw(module_nginx_factory, whisk, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("failures")
    spec = harness.render_spec("failing.yaml", str(tmp), WHISK=whisk.url,
                               DEAD=harness.free_port())
    n = module_nginx_factory(gateway(
        "apigw_openwhisk_url %s; apigw_spec %s; apigw_backend_timeout 1s;"
        % (whisk.url, spec),
        extra_http="log_format gw '$status|$apigw_api|$apigw_operation|"
                   "$apigw_reason|$apigw_request_id'; "
                   "log_format line '$request_method|$request_uri|"
                   "$apigw_backend_method|$apigw_backend_url|"
                   "$apigw_request_id';",
        extra_server="access_log {dir}/gw.log gw; "
                     "access_log {dir}/line.log line; "
                     "client_max_body_size 1k; "
                     # nginx redirects /p to /p/ before apigw's handler
                     "location /p/ { apigw; apigw_openwhisk_url %s; "
                     "apigw_spec %s; }" % (whisk.url, spec)))
    n.access = os.path.join(n.dir, "gw.log")
    n.lines = os.path.join(n.dir, "line.log")
    with open(n.conf) as f:
        conf = f.read().replace("{dir}", n.dir)
    with open(n.conf, "w") as f:
        f.write(conf)
    return n.start()


def log_line(gw, rid, log=None):
    """The access-log line of the request with id `rid` (written when the
    request is finalised, which may be just after the response)."""
    deadline = time.time() + 10
    while time.time() < deadline:
        with open(log or gw.access) as f:
            for line in f:
                if line.rstrip("\n").endswith("|" + rid):
                    return line.rstrip("\n").split("|")
        time.sleep(0.02)
    raise AssertionError("no access-log line for " + rid)


def test_operation_timeouts(gw, whisk):
    # 800 ms is within the location's 1s, not the operation's 200 ms
    r = gw.request("GET", "/f/slow-short?ms=800")
    assert_error(r, 504, "Error: Backend timed out.")
    # and 1.5 s beyond the location's, within the operation's 5 s
    r = gw.request("GET", "/f/slow-long?ms=1500")
    assert r.status == 200, r


def test_unreachable_backend_502(gw, whisk):
    r = gw.request("GET", "/f/down")
    rid = assert_error(r, 502, "Error: Backend unavailable.")
    assert log_line(gw, rid) == ["502", "Failing API", "down",
                                 "backend_unavailable", rid]
    assert "connect() failed" in gw.log()
    # the log names the backend as it is, a plain-http one too
    line = [x for x in gw.log().splitlines() if "connect() failed" in x][-1]
    assert 'upstream: "http://127.0.0.1:' in line, line


def test_backend_timeout_504(gw, whisk):
    whisk.reset()
    r = gw.request("GET", "/f/slow?ms=3000", [("X-Request-ID", "slow-1")])
    assert assert_error(r, 504, "Error: Backend timed out.") == "slow-1"
    assert log_line(gw, "slow-1") == ["504", "Failing API", "slowAction",
                                      "backend_timeout", "slow-1"]
    assert whisk.stats()["by_action"] == {"guest/default/slow": 1}


def test_success_logs_api_and_operation(gw, whisk):
    r = gw.request("GET", "/f/ok", [("X-Request-ID", "ok-1")])
    assert r.status == 200
    assert log_line(gw, "ok-1") == ["200", "Failing API", "fine", "", "ok-1"]
    # no operationId: "METHOD /path"
    r = gw.request("POST", "/f/ok", [("X-Request-ID", "ok-2")], b"x")
    assert r.status == 200
    assert log_line(gw, "ok-2") == ["200", "Failing API", "POST /ok", "",
                                    "ok-2"]


def test_log_keeps_the_clients_request_line(gw, whisk):
    """The backend gets its own method and URI; $request_method and
    $request_uri still tell what the client sent."""
    whisk.reset()
    r = gw.request("PUT", "/f/verb/a%20b?x=1&y", [("X-Request-ID", "line-1")],
                   b"hi")
    assert r.status == 200
    last = last_raw(whisk)
    assert last["method"] == "POST"
    assert last["target"] == "/raw/verb/a%20b?a=b&x=1&y"
    assert log_line(gw, "line-1", gw.lines) == [
        "PUT", "/f/verb/a%20b?x=1&y", "POST",
        whisk.url + "/raw/verb/a%20b?a=b&x=1&y", "line-1"]
    r = gw.request("HEAD", "/f/ok?q", [("X-Request-ID", "line-2")])
    assert r.status == 200
    assert log_line(gw, "line-2", gw.lines) == [
        "HEAD", "/f/ok?q", "HEAD",
        whisk.url + "/api/v1/web/guest/default/echo.json?q", "line-2"]


@pytest.mark.parametrize("method,target,status,message,reason", [
    ("GET", "/f/nope", 404, "Error: Not found.", "not_found"),
    ("DELETE", "/f/ok", 405, "Error: Method not allowed.",
     "method_not_allowed"),
    ("GET", "/f/none", 501, "Error: The operation has no backend.",
     "no_backend"),
])
def test_edge_errors_logged_with_reason(gw, whisk, method, target, status,
                                        message, reason):
    whisk.reset()
    r = gw.request(method, target)
    rid = assert_error(r, status, message)
    line = log_line(gw, rid)
    assert line[0] == str(status) and line[3] == reason
    assert whisk.stats()["calls"] == 0 and whisk.stats()["raw_calls"] == 0


def test_body_too_large_logged(gw, whisk):
    r = gw.request("POST", "/f/ok", body=b"x" * 2000)
    rid = assert_error(r, 413, "Error: Request body too large.")
    assert log_line(gw, rid)[3] == "body_too_large"


def test_gateway_still_serves_after_failures(gw, whisk):
    for _ in range(3):
        assert gw.request("GET", "/f/down").status == 502
    r = gw.request("GET", "/f/ok")
    assert r.status == 200 and r.json()["__ow_method"] == "get"


def pipelined_answers(out):
    """The (status, body) of each response in the bytes of a connection."""
    answers = []
    while out:
        head, sep, out = out.partition(b"\r\n\r\n")
        assert sep, head
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ")[1])
        fields = {k.strip().lower(): v.strip() for k, _, v in
                  (line.partition(b":") for line in lines[1:])}
        if fields.get(b"transfer-encoding") == b"chunked":
            body = b""
            while True:
                size, _, out = out.partition(b"\r\n")
                n = int(size, 16)
                body, out = body + out[:n], out[n + 2:]
                if n == 0:
                    break
        else:
            n = int(fields.get(b"content-length", b"0"))
            body, out = out[:n], out[n:]
        answers.append((status, body))
    return answers


def test_pipelined_requests_after_refused_ones(gw, whisk):
    """Requests pipelined on one connection behind ones refused at the
    edge: each refused request's body (by length, or chunked) is read and
    dropped, never taken as the next request, and each request gets its
    own answer in order."""
    smuggled = b"GET /f/down HTTP/1.1\r\nHost: a\r\n\r\n"
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(smuggled), smuggled)
    whisk.reset()
    # the module's nginx is shared: other tests call /f/down on purpose
    logged = len(gw.log())
    out = harness.raw_exchange(gw.port, b"".join([
        # unknown path: 404
        b"POST /f/nope HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s"
        % (len(smuggled), smuggled),
        # known path, not that method: 405
        b"DELETE /f/ok HTTP/1.1\r\nHost: a\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + chunked,
        # the operation's own request with a body, then a GET
        b"POST /f/ok HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s"
        % (len(smuggled), smuggled),
        b"GET /f/ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    ]))
    answers = pipelined_answers(out)
    assert [s for s, _ in answers] == [404, 405, 200, 200], answers
    assert json.loads(answers[0][1])["status"] == 404
    assert json.loads(answers[1][1])["message"] == \
        "Error: Method not allowed."
    assert json.loads(answers[3][1])["__ow_method"] == "get"
    # the raw backend got the POST's body as a body, byte for byte
    assert answers[2][1] == smuggled
    assert whisk.stats()["raw_calls"] == 1
    assert whisk.stats()["calls"] == 1
    assert "/nobody/home" not in gw.log()[logged:]


def test_http09_request(gw, whisk):
    """An HTTP/0.9 request has no headers (nginx sets up no header list):
    it is served, body only, as nginx serves it."""
    whisk.reset()
    body = harness.raw_exchange(gw.port, b"GET /f/ok?v=09\r\n")
    assert json.loads(body)["__ow_method"] == "get", body
    assert whisk.stats()["by_action"] == {"guest/default/echo": 1}
    err = json.loads(harness.raw_exchange(gw.port, b"GET /f/nope\r\n"))
    assert err["status"] == 404 and err["message"] == "Error: Not found."
    # answered by nginx before the handler, through apigw's header filter
    assert b"301" in harness.raw_exchange(gw.port, b"GET /p\r\n")
    assert gw.request("GET", "/f/ok").status == 200
    assert "exited on signal" not in gw.log()


@pytest.mark.parametrize("headers,body,status,message,reason", [
    # a transfer coding nginx does not know: its 501, not "no backend"
    ("Transfer-Encoding: gzip\r\n", b"", 501, "Error: Not implemented.",
     "not_implemented"),
    ("Transfer-Encoding: chunked\r\n", b"zz\r\n", 400,
     "Error: Bad request.", "bad_request"),
])
def test_broken_request_body_framing(gw, whisk, headers, body, status,
                                     message, reason):
    whisk.reset()
    out = harness.raw_exchange(gw.port, (
        "GET /f/ok HTTP/1.1\r\nHost: a\r\n%s\r\n" % headers).encode()
        + body)
    head, _, payload = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d " % status), out
    err = json.loads(payload)
    assert err["status"] == status and err["message"] == message
    assert log_line(gw, err["request_id"])[3] == reason
    assert whisk.stats()["calls"] == 0


# ---- a backend that breaks HTTP: raw bytes on a socket ----

RAW_ANSWERS = {
    # no status line at all: nginx would pass it on as an HTTP/0.9 body
    "/garbage": b"this is not HTTP\r\n\r\nat all",
    "/badstatus": b"HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nok",
    "/nothing": b"",
    # hop-by-hop headers, and one named by Connection
    "/hop": (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
             b"Connection: X-Secret-Hop, close\r\nX-Secret-Hop: 1\r\n"
             b"Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\n"
             b"TE: trailers\r\nTrailer: X-Sum\r\nUpgrade: h2c\r\n"
             b"Proxy-Authenticate: Basic realm=\"b\"\r\n"
             b"X-Kept: yes\r\nContent-Length: 3\r\n\r\nhop"),
}


@pytest.fixture(scope="module")
def raw_gw(module_nginx_factory, tmp_path_factory):
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    port = srv.getsockname()[1]

    def serve(c):
        with c:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = c.recv(65536)
                if not chunk:
                    return
                data += chunk
            path = data.split(b" ", 2)[1].decode()
            c.sendall(RAW_ANSWERS[path])

    def loop():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(c,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    tmp = tmp_path_factory.mktemp("raw")
    spec = tmp / "raw.yaml"
    spec.write_text("""openapi: 3.0.3
info: {title: Raw, version: '1'}
servers: [{url: /r}]
paths:
  /{what}:
    get:
      parameters: [{name: what, in: path, required: true,
                    schema: {type: string}}]
      x-apigw-backend: {url: 'http://127.0.0.1:%d/{what}'}
""" % port)
    n = module_nginx_factory(gateway("apigw_spec %s;" % spec))
    yield n.start()
    srv.close()


@pytest.mark.parametrize("what", ["garbage", "badstatus", "nothing"])
def test_backend_that_is_not_http_502(raw_gw, what):
    """A backend answer without a valid status line is a 502 JSON, not
    the backend's raw bytes sent as an HTTP/0.9 body (nginx's proxy module
    does that), and not for an HTTP/1.0 client either."""
    for version in (b"1.1", b"1.0"):
        out = harness.raw_exchange(
            raw_gw.port, b"GET /r/" + what.encode() + b" HTTP/" + version
            + b"\r\nHost: a\r\nConnection: close\r\n\r\n")
        head, _, body = out.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 502 "), out
        assert b"\r\nContent-Type: application/json" in head, out
        doc = json.loads(body)
        assert doc["status"] == 502, doc
        assert doc["message"] == "Error: Backend unavailable.", doc
        assert b"not HTTP" not in out
    assert "exited on signal" not in raw_gw.log()


def test_backend_hop_by_hop_headers_not_forwarded(raw_gw):
    r = raw_gw.request("GET", "/r/hop")
    assert r.status == 200 and r.body == b"hop"
    names = {k.lower() for k, _ in r.headers}
    for hop in ("x-secret-hop", "keep-alive", "proxy-connection", "te",
                "trailer", "upgrade", "proxy-authenticate"):
        assert hop not in names, (hop, r.headers)
    assert ("X-Kept", "yes") in r.headers
