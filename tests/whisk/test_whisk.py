"""Tests for the OpenWhisk stand-in (tests/whisk/whisk.py).

Checked against shared/reference/openwhisk-web-actions.md: the acceptance list
(§8 items 1-10) and the rest of the contract.  Fixtures are local to this
module (prefixed `wsk_`) so they never clash with other test directories.
"""

import base64
import hashlib
import http.client
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
WHISK_PY = os.path.join(HERE, "whisk.py")
PYTHON = "/usr/bin/python3"


def _load_whisk():
    spec = importlib.util.spec_from_file_location("whisk_standin_under_test", WHISK_PY)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod           # dataclasses need the module registered
    spec.loader.exec_module(mod)
    return mod


W = _load_whisk()
M = W.M
GUEST = W.GUEST_KEY
SYSTEM = W.SYSTEM_KEY
MIB = 1024 * 1024

# --------------------------------------------------------------------------
# Client helpers
# --------------------------------------------------------------------------


class Resp:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def header(self, name):
        values = self.all(name)
        return values[0] if values else None

    def all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self):
        return json.loads(self.body)

    @property
    def error(self):
        return self.json()["error"]

    def __repr__(self):
        return f"<Resp {self.status} {self.headers} {self.body[:300]!r}>"


class Client:
    def __init__(self, port):
        self.port = port

    def conn(self, timeout=30):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, conn=None, **kw):
        own = conn is None
        c = conn or self.conn()
        try:
            c.request(method, path, body=body, headers=headers or {}, **kw)
            r = c.getresponse()
            data = r.read()
            return Resp(r.status, r.getheaders(), data)
        finally:
            if own:
                c.close()

    def web(self, method, rest, body=None, headers=None, **kw):
        return self.request(method, "/api/v1/web/guest/" + rest, body, headers, **kw)

    def get(self, rest, headers=None):
        return self.web("GET", rest, headers=headers)

    def post_json(self, rest, obj, headers=None):
        h = {"Content-Type": "application/json", **(headers or {})}
        return self.web("POST", rest, json.dumps(obj).encode(), h)

    def respond(self, ext, result, headers=None):
        """Make the `respond` action return `result` and transcode it."""
        return self.post_json("default/respond" + ext, {"result": result}, headers)

    def invoke(self, path, body=None, key=GUEST, query="blocking=true&result=true",
               headers=None, method="POST"):
        h = dict(headers or {})
        if key is not None:
            h["Authorization"] = "Basic " + base64.b64encode(key.encode()).decode()
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        q = f"?{query}" if query else ""
        return self.request(method, f"/api/v1/namespaces/{path}{q}", data, h)

    def stats(self):
        return self.request("GET", "/_whisk/stats").json()

    def last(self, kind=None):
        return self.request("GET", "/_whisk/last" + (f"?kind={kind}" if kind else "")).json()


def basic(key):
    return {"Authorization": "Basic " + base64.b64encode(key.encode()).decode()}


def raw_exchange(port, head: bytes, body_after_100: bytes = None, timeout=10):
    """Send raw bytes; optionally wait for 100 Continue before the body."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(head)
        buf = b""
        if body_after_100 is not None:
            while b"\r\n\r\n" not in buf:
                buf += s.recv(65536)
            interim, buf = buf.split(b"\r\n\r\n", 1)
            assert interim.startswith(b"HTTP/1.1 100"), interim
            s.sendall(body_after_100)
        while True:
            data = s.recv(65536)
            if not data:
                break
            buf += data
            if b"\r\n\r\n" in buf:
                hdr, rest = buf.split(b"\r\n\r\n", 1)
                m = re.search(rb"(?i)content-length: *(\d+)", hdr)
                if m and len(rest) >= int(m.group(1)):
                    break
        return buf
    finally:
        s.close()


ACTIVATION_RE = re.compile(r"[0-9a-f]{32}")
CORS_NAMES = ("access-control-allow-origin", "access-control-allow-methods",
              "access-control-allow-headers")


def has_cors(r):
    return all(r.header(n) is not None for n in CORS_NAMES)

# --------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wsk_server():
    server, port = W.start_server("127.0.0.1", 0)
    yield server
    W.stop_server(server)


@pytest.fixture
def wsk(wsk_server):
    wsk_server.state.reset()
    return Client(wsk_server.server_address[1])


@pytest.fixture(scope="module")
def wsk_short_wait():
    server, port = W.start_server("127.0.0.1", 0, max_wait_ms=300)
    yield Client(port)
    W.stop_server(server)


@pytest.fixture(scope="module")
def wsk_proc(tmp_path_factory):
    """The stand-in as a subprocess (CLI, signals, memory)."""
    port_file = tmp_path_factory.mktemp("whisk") / "port"
    proc = subprocess.Popen([PYTHON, WHISK_PY, "--port", "0", "--port-file", str(port_file)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    yield proc, line, port_file
    if proc.poll() is None:
        proc.terminate()
        proc.wait(10)

# --------------------------------------------------------------------------
# §1 URL form, routing, extensions (§8.1)
# --------------------------------------------------------------------------

ALL_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]


@pytest.mark.parametrize("method", ALL_METHODS)
@pytest.mark.parametrize("path,message", [
    ("/api/v1/web/guest", M.NOT_FOUND),
    ("/api/v1/web/guest/default", M.NOT_FOUND),
    ("/api/v1/web/S/c", M.NOT_FOUND),
    ("/api/v1/web/guest/default/", M.NOT_FOUND),
    ("/api/v1/web/nobody/default/echo", M.NOT_EXIST),
    ("/api/v1/web/_/default/echo", M.NOT_EXIST),
    ("/api/v1/web/guest/nopkg/echo", M.NOT_EXIST),
    ("/api/v1/web/guest/default/nope.json", M.NOT_EXIST),
    ("/api/v1/web/guest/default/hidden.json", M.NOT_EXIST),
    ("/api/v1/web/guest/default/export_c.xyz", M.NOT_EXIST),
    ("/api/v1/web/guest/default/export_c.xyz/content", M.NOT_EXIST),
    ("/api/v1/web/guest/default/echo.xyz", M.NOT_EXIST),
])
def test_404_for_every_method_never_406(wsk, method, path, message):
    r = wsk.request(method, path)
    assert r.status == 404
    assert not has_cors(r)
    assert r.header("x-openwhisk-activation-id") is None
    if method != "HEAD":
        assert r.error == message


def test_error_body_shape_and_transaction_id(wsk):
    r = wsk.get("default/nope", headers={"X-Request-ID": "req-123"})
    assert r.header("Content-Type") == "application/json"
    assert r.body.decode() == ('{\n  "error": "The requested resource does not exist.",\n'
                               '  "code": "req-123"\n}')
    r = wsk.get("default/nope", headers={"X-Request-ID": "sid_invoker"})
    assert r.json()["code"] != "sid_invoker"
    assert re.fullmatch(r"[A-Za-z0-9]{32}", r.json()["code"])
    a, b = wsk.get("default/nope").json()["code"], wsk.get("default/nope").json()["code"]
    assert a != b


@pytest.mark.parametrize("segment,expected", [
    ("t.wxyz.json", ("t.wxyz", ".json")),
    ("foo.json.http", ("foo.json", ".http")),
    ("export_c.xyz", ("export_c.xyz", ".http")),
    ("a.text", ("a", ".text")), ("a.svg", ("a", ".svg")), ("a.html", ("a", ".html")),
    ("a", ("a", ".http")),
])
def test_extension_detection(segment, expected):
    assert W.split_extension(segment) == expected


@pytest.mark.parametrize("name,ok", [
    ("a", True), ("a b", True), ("a@b.c&d-e", True), ("x" * 256, True),
    ("x" * 257, False), ("-a", False), ("a ", False), ("é", False), ("", False),
])
def test_segment_name_regex(name, ok):
    assert (W.NAME_RE.fullmatch(name) is not None) == ok


def test_invalid_segment_is_route_miss_and_encoded_names_decode(wsk):
    assert wsk.get("default/-echo").error == M.NOT_FOUND
    assert wsk.get("default/ec%20ho").error == M.NOT_EXIST     # valid name, unknown
    assert wsk.get("de%66ault/ech%6F.json").status == 200      # %-decoded segments


def test_method_not_allowed_and_max_uri(wsk):
    r = wsk.web("TRACE", "default/echo.json")
    assert r.status == 405
    r = wsk.get("default/echo.json?q=" + "a" * 9000)
    assert r.status == 414
    assert wsk.stats()["calls"] == 2


def test_unknown_paths_404(wsk):
    r = wsk.request("GET", "/")
    assert r.status == 404 and r.error == M.NOT_FOUND

# --------------------------------------------------------------------------
# §2 request -> parameters (§8.2-§8.4)
# --------------------------------------------------------------------------


def test_get_query_params_and_context(wsk):
    p = wsk.get("default/echo.json?a=b&c=d").json()
    assert p["a"] == "b" and p["c"] == "d"
    assert p["__ow_method"] == "get" and p["__ow_path"] == ""
    assert isinstance(p["__ow_headers"], dict)
    assert "content-type" not in p["__ow_headers"]
    for absent in ("__ow_user", "__ow_query", "__ow_body"):
        assert absent not in p
    assert set(p) == {"a", "c", "__ow_method", "__ow_headers", "__ow_path"}


def test_query_decoding_and_last_value_wins(wsk):
    p = wsk.get("default/echo.json?k=1&k=2&s=a+b%20c&e&u=%C3%A9").json()
    assert p["k"] == "2" and p["s"] == "a b c" and p["e"] == "" and p["u"] == "é"


def test_json_object_merged_and_paths(wsk):
    r = wsk.post_json("default/echo.json/", {"x": 1, "y": {"z": [1, 2]}})
    p = r.json()
    assert p["x"] == 1 and p["y"] == {"z": [1, 2]}
    assert p["__ow_headers"]["content-type"] == "application/json"
    assert p["__ow_path"] == "/" and "__ow_body" not in p
    assert wsk.get("default/echo.json/content").json()["__ow_path"] == "/content"
    assert wsk.get("default/echo.json/a/b/").json()["__ow_path"] == "/a/b/"
    assert wsk.get("default/echo.json/%41%20b/c").json()["__ow_path"] == "/A%20b/c"
    # no extension: the rest still becomes __ow_path (via echo-http)
    assert wsk.get("default/echo-http/x/y").json()["__ow_path"] == "/x/y"


def test_body_merge_wins_over_query(wsk):
    p = wsk.post_json("default/echo.json?a=query&b=query", {"a": "body"}).json()
    assert p["a"] == "body" and p["b"] == "query"


@pytest.mark.parametrize("raw,value", [
    (b"[]", []), (b"null", None), (b'"s"', "s"), (b"true", True), (b"99", 99),
    (b"[1, {\"a\": 2}]", [1, {"a": 2}]),
])
def test_json_non_object_becomes_ow_body(wsk, raw, value):
    p = wsk.web("POST", "default/echo.json", raw, {"Content-Type": "application/json"}).json()
    assert "__ow_body" in p and p["__ow_body"] == value


@pytest.mark.parametrize("raw", [b"", b"{}"])
def test_empty_json_adds_nothing(wsk, raw):
    p = wsk.web("POST", "default/echo.json", raw, {"Content-Type": "application/json"}).json()
    assert set(p) == {"__ow_method", "__ow_headers", "__ow_path"}


def test_invalid_json_is_400_with_cors(wsk):
    r = wsk.web("POST", "default/echo.json", b"{nope", {"Content-Type": "application/json"})
    assert r.status == 400 and r.error.startswith(M.MALFORMED)
    assert has_cors(r)


def test_text_binary_form_bodies(wsk):
    p = wsk.web("POST", "default/echo.json", b"1,2,3",
                {"Content-Type": "text/html; charset=utf-8"}).json()
    assert p["__ow_body"] == "1,2,3"
    assert p["__ow_headers"]["content-type"] == "text/html; charset=UTF-8"
    png = W.PNG_BYTES
    p = wsk.web("POST", "default/echo.json", png, {"Content-Type": "image/png"}).json()
    assert p["__ow_body"] == base64.b64encode(png).decode()
    p = wsk.web("POST", "default/echo.json", b"a=b&c=d+e&a=z",
                {"Content-Type": "application/x-www-form-urlencoded"}).json()
    assert p["a"] == "z" and p["c"] == "d e" and "__ow_body" not in p


def test_text_charset_ignored_quirk(wsk):
    p = wsk.web("POST", "default/echo.json", "café".encode("latin-1"),
                {"Content-Type": "text/plain; charset=ISO-8859-1"}).json()
    assert p["__ow_body"] == "caf\ufffd"


def test_multipart_and_missing_content_type_are_binary(wsk):
    body = b"--xx\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--xx--\r\n"
    p = wsk.web("POST", "default/echo.json", body,
                {"Content-Type": "multipart/form-data; boundary=xx"}).json()
    assert base64.b64decode(p["__ow_body"]) == body
    assert p["__ow_headers"]["content-type"] == "multipart/form-data; boundary=xx"
    p = wsk.web("POST", "default/echo.json", b"\x00\x01").json()
    assert p["__ow_headers"]["content-type"] == "application/octet-stream"
    assert p["__ow_body"] == "AAE="


def test_hal_json_is_json_family(wsk):
    p = wsk.web("POST", "default/echo.json", b'{"h": 1}',
                {"Content-Type": "application/hal+json"}).json()
    assert p["h"] == 1


def test_ow_headers_rules(wsk):
    c = wsk.conn()
    c.putrequest("POST", "/api/v1/web/guest/default/echo.json", skip_accept_encoding=True)
    for name, value in [("X-Dup", "first"), ("x-dup", "second"), ("X-OW-Extra-Logging", "on"),
                        ("Authorization", "Basic Zm9vOmJhcg=="), ("X-Require-Whisk-Auth", "t"),
                        ("Content-Type", "application/json; charset=utf-8"),
                        ("Content-Length", "2")]:
        c.putheader(name, value)
    c.endheaders(b"{}")
    r = c.getresponse()
    h = json.loads(r.read())["__ow_headers"]
    c.close()
    assert h["x-dup"] == "second"
    assert "x-ow-extra-logging" not in h and "content-length" not in h
    assert h["authorization"] == "Basic Zm9vOmJhcg==" and h["x-require-whisk-auth"] == "t"
    assert h["content-type"] == "application/json"
    assert all(k == k.lower() for k in h)


def test_chunked_body_has_no_transfer_encoding_in_ow_headers(wsk):
    r = wsk.web("POST", "default/echo.json", iter([b'{"a":', b' "chunked"}']),
                {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
                encode_chunked=True)
    p = r.json()
    assert p["a"] == "chunked" and "transfer-encoding" not in p["__ow_headers"]


def test_ow_user_on_any_valid_key_quirk(wsk):
    assert wsk.get("default/echo.json", basic(GUEST)).json()["__ow_user"] == "guest"
    assert wsk.get("default/echo.json", basic(SYSTEM)).json()["__ow_user"] == "whisk.system"
    r = wsk.get("default/echo.json", basic("nobody:wrong"))
    assert r.status == 200 and "__ow_user" not in r.json()

# --------------------------------------------------------------------------
# §2.5 reserved and final parameters (§8.5)
# --------------------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(W.RESERVED))
def test_reserved_params_rejected(wsk, key):
    r = wsk.get(f"default/echo.json?{key}=x")
    assert r.status == 400 and r.error == M.RESERVED and has_cors(r)
    assert wsk.post_json("default/echo.json", {key: "x"}).error == M.RESERVED
    r = wsk.web("POST", "default/echo.json", f"{key}=x".encode(),
                {"Content-Type": "application/x-www-form-urlencoded"})
    assert r.error == M.RESERVED


def test_final_params(wsk):
    p = wsk.get("default/fixed.json").json()
    assert p["fixed"] == "preset" and p["empty"] is None
    assert wsk.get("default/fixed.json?fixed=x").error == M.RESERVED
    assert wsk.post_json("default/fixed.json", {"fixed": "x"}).error == M.RESERVED
    assert wsk.get("default/fixed.json?empty=overridden").json()["empty"] == "overridden"
    # package parameters are final too
    assert wsk.get("demo/books.json").json()["library"] == "Demo Library"
    assert wsk.get("demo/books.json?library=X").error == M.RESERVED

# --------------------------------------------------------------------------
# raw-http (§8.6)
# --------------------------------------------------------------------------


def test_raw_query_and_empty_body(wsk):
    p = wsk.get("default/raw-echo.json?x=overridden&key2=value2").json()
    assert p["__ow_query"] == "x=overridden&key2=value2"
    assert p["__ow_body"] == "" and "x" not in p and "key2" not in p


def test_raw_json_body_is_base64_quirk(wsk):
    body = b'{"a":  1,\n "b": [true]}'
    p = wsk.web("POST", "default/raw-echo.json?__ow_body=skip", body,
                {"Content-Type": "application/json"}).json()
    assert base64.b64decode(p["__ow_body"]) == body
    assert p["__ow_query"] == "__ow_body=skip"     # raw skips reserved checks


@pytest.mark.parametrize("ctype,body,expect", [
    ("application/x-www-form-urlencoded", b"a=b&c=d", "a=b&c=d"),
    ("text/plain", b"hello", "hello"),
    ("application/problem+json", b'{"t":1}', '{"t":1}'),
    ("application/hal+json", b'{"t":1}', base64.b64encode(b'{"t":1}').decode()),
    ("image/png", b"\x89PNG", base64.b64encode(b"\x89PNG").decode()),
    ("application/x-foo; charset=utf-8", b"txt", "txt"),
    ("text/x-foo", b"bin", base64.b64encode(b"bin").decode()),
])
def test_raw_body_classes(wsk, ctype, body, expect):
    p = wsk.web("POST", "default/raw-echo.json", body, {"Content-Type": ctype}).json()
    assert p["__ow_body"] == expect


def test_raw_query_reserialised_quirk(wsk):
    q = wsk.get("default/raw-echo.json?a=b%20c&d=%7e&e&f=1+2&g=%2f%3A").json()["__ow_query"]
    assert q == "a=b+c&d=~&e&f=1+2&g=/:"


@pytest.mark.parametrize("mt,binary", [
    ("image/svg+xml", True), ("application/octet-stream", True), ("application/pdf", True),
    ("application/vnd.ms-excel", True), ("application/x-foo", True), ("text/x-foo", True),
    ("multipart/form-data", True), ("font/woff2", True),
    ("text/html", False), ("text/csv", False), ("application/json", False),
    ("application/xml", False), ("application/x-foo; charset=utf-8", False),
    ("application/vnd.api+json", False), ("application/javascript", False),
])
def test_binary_classification(mt, binary):
    assert W.is_binary(W.parse_media_type(mt)) == binary

# --------------------------------------------------------------------------
# §3.2 .http results (§8.7, §8.8)
# --------------------------------------------------------------------------


@pytest.mark.parametrize("result", [{}, {"body": ""}, {"body": None},
                                    {"headers": {"content-type": "text/plain"}}])
def test_http_empty_is_204(wsk, result):
    r = wsk.respond(".http", result, {"Accept": "application/xml"})
    assert r.status == 204 and r.body == b""
    assert r.header("Content-Type") is None and r.header("Content-Length") is None
    assert ACTIVATION_RE.fullmatch(r.header("x-openwhisk-activation-id"))
    extra = {k.lower() for k, _ in r.headers} - set(CORS_NAMES) - {"server", "date"}
    assert extra == {"x-openwhisk-activation-id"}


@pytest.mark.parametrize("code,status", [("444", 444), (442, 442), (201, 201), ("200", 200),
                                         (202.0, 202)])
def test_http_status_codes(wsk, code, status):
    r = wsk.respond(".http", {"statusCode": code, "body": "<s>"})
    assert r.status == status and r.body == b"<s>"


@pytest.mark.parametrize("result", [
    {"statusCode": "xyz"}, {"statusCode": 1.5}, {"statusCode": True}, {"statusCode": [200]},
    {"headers": "x"}, {"headers": None}, {"headers": {"a": {"b": 1}}}, {"headers": {"a": None}},
    {"headers": {"bad name": "x"}}, [1, 2], {"error-free": 1, "statusCode": {}},
])
def test_http_invalid_results(wsk, result):
    r = wsk.respond(".http", result)
    assert r.status == 400 and r.error == M.INVALID_HTTP
    assert has_cors(r) and r.header("x-openwhisk-activation-id")


def test_http_header_values(wsk):
    r = wsk.respond(".http", {"headers": {"X-N": 5, "X-B": True, "X-A": ["1", 2]},
                              "body": "ok"})
    assert r.header("X-N") == "5" and r.header("X-B") == "true"
    assert r.all("X-A") == ["1", "2"]


def test_http_set_cookie_array(wsk):
    r = wsk.get("default/cookies")
    assert r.all("Set-Cookie") == ["session=abc123; Path=/; HttpOnly", "theme=dark; Path=/"]
    assert r.header("Content-Type") == "text/plain; charset=UTF-8"


def test_http_string_bodies(wsk):
    r = wsk.respond(".http", {"body": "<p>hi</p>"})
    assert r.status == 200 and r.header("Content-Type") == "text/html; charset=UTF-8"
    r = wsk.respond(".http", {"body": "é", "headers": {"Content-Type": "text/plain; charset=ISO-8859-1"}})
    assert r.header("Content-Type") == "text/plain; charset=UTF-8" and r.body == "é".encode()
    r = wsk.respond(".http", {"body": "hello world", "headers": {"content-type": "application/json"}})
    assert r.header("Content-Type") == "application/json" and r.body == b"hello world"
    r = wsk.respond(".http", {"body": "<x/>", "headers": {"content-type": "application/xml"}})
    assert r.header("Content-Type") == "application/xml; charset=UTF-8"


def test_http_base64_looking_json_string_quirk(wsk):
    r = wsk.respond(".http", {"body": "abcd", "headers": {"content-type": "application/json"}})
    assert r.body == base64.b64decode("abcd")


def test_http_binary_bodies(wsk):
    data = bytes(range(256))
    r = wsk.respond(".http", {"body": base64.b64encode(data).decode(),
                              "headers": {"content-type": "application/octet-stream"}})
    assert r.status == 200 and r.body == data
    assert r.header("Content-Type") == "application/octet-stream"
    r = wsk.respond(".http", {"body": "not base64!", "headers": {"content-type": "image/png"}})
    assert r.status == 400 and r.error == M.CT_MISMATCH
    r = wsk.respond(".http", {"body": "<svg/>", "headers": {"content-type": "image/svg+xml"}})
    assert r.status == 400 and r.error == M.CT_MISMATCH          # SVG is binary quirk
    r = wsk.respond(".http", {"body": base64.b64encode(b"<svg/>").decode(),
                              "headers": {"content-type": "image/svg+xml"}})
    assert r.body == b"<svg/>"
    r = wsk.respond(".http", {"body": "text", "headers": {"content-type": "xyzbar"}})
    assert r.status == 400 and r.error == M.UNKNOWN_CT


def test_http_json_bodies(wsk):
    r = wsk.respond(".http", {"statusCode": 200, "body": 3})
    assert r.body == b"3" and r.header("Content-Type") == "application/json"
    r = wsk.respond(".http", {"body": {"a": [1, 2]}})
    assert r.body == b'{\n  "a": [1, 2]\n}'
    r = wsk.respond(".http", {"body": {"a": 1}, "headers": {"Content-Type": "application/hal+json"}})
    assert r.header("Content-Type") == "application/hal+json" and r.json() == {"a": 1}
    r = wsk.respond(".http", {"body": {"a": 1}, "headers": {"Content-Type": "text/html"}})
    assert r.status == 400 and r.error == M.CT_MISMATCH
    r = wsk.respond(".http", {"body": True, "headers": {"Content-Type": "nonsense"}})
    assert r.status == 400 and r.error == M.CT_MISMATCH


def test_http_accept_negotiation(wsk):
    r = wsk.respond(".http", {"body": "Plain text"}, {"Accept": "application/json"})
    assert r.status == 406
    assert r.error == "Resource representation is only available with these types:\n" \
                      "text/html; charset=UTF-8"
    assert r.header("x-openwhisk-activation-id") and has_cors(r)
    for accept in ("text/*", "*/*", "text/html;q=0.5, application/json", None):
        r = wsk.respond(".http", {"body": "Plain text"}, {"Accept": accept} if accept else {})
        assert r.status == 200
    r = wsk.respond(".http", {"body": "x"}, {"Accept": "*/*, text/html;q=0"})
    assert r.status == 406


def test_http_redirect_status_image(wsk):
    r = wsk.get("default/redirect")
    assert r.status == 302 and r.header("location") == "http://openwhisk.org"
    r = wsk.get("default/status?code=418")
    assert r.status == 418 and r.body == b""
    r = wsk.get("default/image")
    assert r.status == 200 and r.header("Content-Type") == "image/png"
    assert r.body == W.PNG_BYTES and r.body.startswith(b"\x89PNG\r\n\x1a\n")


def test_http_action_content_length_header_dropped(wsk):
    r = wsk.respond(".http", {"body": "abc", "headers": {"Content-Length": "999"}})
    assert r.all("Content-Length") == ["3"] and r.body == b"abc"


def test_head_same_headers_no_body(wsk):
    g = wsk.web("GET", "default/echo-http")
    h = wsk.web("HEAD", "default/echo-http")
    assert h.status == g.status == 200 and h.body == b""
    assert h.header("Content-Type") == g.header("Content-Type")
    assert int(h.header("Content-Length")) == len(g.body) + len("head") - len("get")
    assert wsk.web("HEAD", "default/echo.json").status == 200
    assert wsk.last()["method"] == "HEAD"

# --------------------------------------------------------------------------
# §3.3 other extensions (§8.9)
# --------------------------------------------------------------------------


def test_json_extension_exact_format(wsk):
    r = wsk.respond(".json", {"foobar": "foobar"})
    assert r.status == 200 and r.header("Content-Type") == "application/json"
    assert r.body == b'{\n  "foobar": "foobar"\n}'
    assert wsk.respond(".json", [1, {"a": None}]).body == b'[1, {\n  "a": null\n}]'
    assert wsk.respond(".json", {}).body == b"{\n\n}"       # spray-json's rendering


def test_json_extension_ignores_status_and_headers(wsk):
    r = wsk.respond(".json", {"statusCode": 404, "headers": {"X-A": "1"}, "body": "b"})
    assert r.status == 200 and r.header("X-A") is None and r.json()["statusCode"] == 404


def test_json_application_error(wsk):
    r = wsk.post_json("default/fail.json", {"error": {"why": "object"}})
    assert r.status == 200 and r.json() == {"why": "object"}          # quirk (#2237)
    r = wsk.get("default/fail.json")
    assert r.status == 400 and r.error == M.INVALID_JSON


def test_html_svg_text_extensions(wsk):
    r = wsk.get("default/html.html?name=<b>")
    assert r.header("Content-Type") == "text/html; charset=UTF-8"
    assert b"Hello, &lt;b&gt;!" in r.body
    r = wsk.get("default/svg.svg")
    assert r.header("Content-Type") == "image/svg+xml" and r.body == W.SVG_DOC.encode()
    r = wsk.get("default/text.text?text=hi%20there")
    assert r.header("Content-Type") == "text/plain; charset=UTF-8" and r.body == b"hi there"
    assert wsk.respond(".html", {"body": "<b/>", "html": "x"}).body == b"<b/>"
    assert wsk.respond(".html", {"html": 3}).error == M.INVALID_HTML
    assert wsk.respond(".html", {"x": 3}).error == M.INVALID_HTML
    assert wsk.respond(".svg", {"nosvg": 1}).error == M.INVALID_SVG
    assert wsk.respond(".html", [1]).error == M.INVALID_HTML


@pytest.mark.parametrize("result,body", [
    ({"text": "s"}, b"s"), ({"text": 5}, b"5"), ({"text": None}, b"null"),
    ({"text": True}, b"true"), ({"body": {"a": 1}}, b'{\n  "a": 1\n}'), ([1, 2], b"[1, 2]"),
])
def test_text_extension_values(wsk, result, body):
    r = wsk.respond(".text", result)
    assert r.status == 200 and r.body == body


def test_text_extension_missing_property(wsk):
    r = wsk.get("default/echo.text")
    assert r.status == 404 and r.error == M.NO_PROPERTY

# --------------------------------------------------------------------------
# §3.1 activation outcomes
# --------------------------------------------------------------------------


def test_developer_error_is_400(wsk):
    for ext in (".http", ".json", ".text"):
        r = wsk.get("default/crash" + ext)
        assert r.status == 400 and r.error == M.DEV_ERROR
        assert ACTIVATION_RE.fullmatch(r.header("x-openwhisk-activation-id")) and has_cors(r)


def test_application_error_http(wsk):
    r = wsk.post_json("default/fail", {"error": {"statusCode": 400, "body": "x"}})
    assert r.status == 400 and r.body == b"x"
    r = wsk.get("default/fail")
    assert r.status == 400 and r.error == M.INVALID_HTTP
    r = wsk.get("default/fail.text")
    assert r.status == 200 and r.body == b"This action failed on purpose."
    r = wsk.get("demo/books/99")
    assert r.status == 404 and r.json() == {"message": "No book with id 99."}


def test_result_too_large(wsk):
    r = wsk.get("default/big")
    assert r.status == 400 and r.error == M.INVALID_HTTP
    r = wsk.get("default/big.text")
    assert r.body.startswith(b"The action produced a response that exceeded the allowed length: ")
    assert wsk.get("default/big?size=10").body == b"x" * 10


def test_blocking_wait_expired_is_202(wsk_short_wait):
    t0 = time.time()
    r = wsk_short_wait.get("default/slow.json?ms=1500")
    assert time.time() - t0 < 1.2
    assert r.status == 202 and r.error == M.NOT_READY
    assert ACTIVATION_RE.fullmatch(r.header("x-openwhisk-activation-id")) and has_cors(r)
    assert wsk_short_wait.get("default/slow.json?ms=10").json() == {"slept_ms": 10}


def test_action_time_limit_is_developer_error():
    action = W.Action("guest", "default", "t", lambda p: time.sleep(0.5) or {},
                      timeout_ms=100, threaded=True)
    act = W.State(max_wait_ms=5000).invoke(action, {}, "guest")
    assert act.status == W.DEV_ERROR
    assert act.result == {"error": "The action exceeded its time limits of 100 milliseconds."}

# --------------------------------------------------------------------------
# §5 CORS, OPTIONS, require-whisk-auth (§8.10), 413
# --------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"])
def test_default_cors_on_all_methods(wsk, method):
    r = wsk.web(method, "default/echo-http")
    assert r.status == 200
    assert r.header("Access-Control-Allow-Origin") == "*"
    assert r.header("Access-Control-Allow-Methods") == "OPTIONS, GET, DELETE, POST, PUT, HEAD, PATCH"
    assert r.header("Access-Control-Allow-Headers") == W.CORS_DEFAULT_HEADERS
    for n in ("Access-Control-Allow-Credentials", "Access-Control-Max-Age",
              "Access-Control-Expose-Headers"):
        assert r.header(n) is None


def test_cors_echoes_request_headers_and_options(wsk):
    r = wsk.web("OPTIONS", "default/secure-echo",
                headers={"Access-Control-Request-Headers": "X-Foo, x-bar",
                         "Access-Control-Request-Method": "PUT", "Origin": "https://a.example"})
    assert r.status == 200 and r.body == b"" and r.header("Content-Type") is None
    assert r.header("Access-Control-Allow-Headers") == "X-Foo, x-bar"
    assert r.header("x-openwhisk-activation-id") is None      # not invoked


def test_custom_options(wsk):
    r = wsk.web("OPTIONS", "default/custom-options")
    assert r.status == 200 and r.header("Access-Control-Allow-Origin") == "https://custom.example"
    assert r.header("Access-Control-Max-Age") == "600" and r.header("x-openwhisk-activation-id")
    assert r.all("Access-Control-Allow-Origin") == ["https://custom.example"]
    r = wsk.web("GET", "default/custom-options")
    assert r.json() == {"method": "get"}
    assert r.header("Access-Control-Allow-Methods") is None
    # OPTIONS invokes even when require-whisk-auth would fail; other methods do not
    r = wsk.web("OPTIONS", "default/secure-options")
    assert r.status == 200 and r.header("X-Custom-Options") == "handled"
    r = wsk.web("GET", "default/secure-options")
    assert r.status == 401 and not has_cors(r)


def test_duplicate_cors_quirk(wsk):
    r = wsk.get("default/cors")
    assert r.all("Access-Control-Allow-Origin") == ["*", "https://backend.example"]


def test_require_whisk_auth_string(wsk):
    for headers in ({}, {"X-Require-Whisk-Auth": "wrong"}, {"X-Require-Whisk-Auth": "S3CR3T-TOKEN"}):
        r = wsk.get("default/secure-echo.json", headers)
        assert r.status == 401 and r.error == M.UNAUTHENTICATED and has_cors(r)
        assert r.header("x-openwhisk-activation-id") is None
    r = wsk.get("default/secure-echo.json", {"x-require-whisk-auth": "s3cr3t-token"})
    assert r.status == 200
    assert r.json()["__ow_headers"]["x-require-whisk-auth"] == "s3cr3t-token"


def test_require_whisk_auth_number_and_basic(wsk):
    assert wsk.get("default/secure-num.json", {"X-Require-Whisk-Auth": "12345"}).status == 200
    assert wsk.get("default/secure-num.json", {"X-Require-Whisk-Auth": "12346"}).status == 401
    assert wsk.get("default/secure-basic.json").status == 401
    assert wsk.get("default/secure-basic.json", basic("x:y")).status == 401
    assert wsk.get("default/secure-basic.json", basic(GUEST)).json()["__ow_user"] == "guest"
    assert wsk.get("default/secure-basic.json", basic(SYSTEM)).status == 200


def test_require_whisk_auth_other_values():
    class R:
        def __init__(self, h):
            self.h = h

        def header(self, n):
            return self.h

        def identity(self):
            return None
    for value, hdr, ok in [(False, None, True), (None, "null", False), ({"a": 1}, "x", False),
                           ("", "", True), (7, "7", True)]:
        a = W.Action("guest", "default", "x", W.a_echo, W._web(**{"require-whisk-auth": value}))
        assert W.check_whisk_auth(a, R(hdr)) == ok, value


def test_payload_limit_413(wsk):
    r = wsk.web("POST", "default/echo.json", b"x" * (MIB + 1), {"Content-Type": "text/plain"})
    assert r.status == 413 and r.error == f"Request larger than allowed: {MIB + 1} > {MIB} bytes."
    assert not has_cors(r)
    r = wsk.web("POST", "default/echo.text", b"x" * MIB, {"Content-Type": "text/plain"})
    assert r.status == 200       # at the limit; the too-large *result* is an app error
    r = wsk.web("POST", "default/echo.json", iter([b"x" * MIB, b"y"]),
                {"Content-Type": "text/plain", "Transfer-Encoding": "chunked"}, encode_chunked=True)
    assert r.status == 413 and not has_cors(r)
    assert wsk.stats()["by_action"]["guest/default/echo"] == 3


def test_413_before_options_and_auth(wsk):
    r = wsk.web("OPTIONS", "default/secure-echo", b"x" * (MIB + 1))
    assert r.status == 413


def test_413_with_expect_continue_never_reads_body(wsk):
    head = (b"POST /api/v1/web/guest/default/upload.json HTTP/1.1\r\nHost: x\r\n"
            b"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % (128 * MIB + 1))
    out = raw_exchange(wsk.port, head)
    assert out.startswith(b"HTTP/1.1 413")
    assert b"Connection: close" in out and b"100 Continue" not in out
    assert wsk.last()["body_complete"] is False

# --------------------------------------------------------------------------
# §7 invoke REST API
# --------------------------------------------------------------------------


def test_invoke_auth(wsk):
    r = wsk.invoke("_/actions/echo", key=None)
    assert r.status == 401 and r.error == M.AUTH_MISSING
    assert r.header("WWW-Authenticate") == 'Basic realm="OpenWhisk secure realm"'
    r = wsk.invoke("_/actions/echo", key="23bc46b1-71f6-4ed5-8c54-816aa4f8c502:wrong")
    assert r.status == 401 and r.error == M.AUTH_INVALID
    r = wsk.invoke("guest/actions/echo", key=SYSTEM)
    assert r.status == 403 and r.error == M.NOT_AUTHORIZED
    assert wsk.invoke("guest/actions/nope").error == M.NOT_EXIST
    assert wsk.invoke("_/actions/nope/echo").status == 404
    assert wsk.stats()["calls"] == 5


def test_invoke_blocking_result(wsk):
    r = wsk.invoke("_/actions/demo/hello", {"name": "Ada"})
    assert r.status == 200 and r.json() == {"greeting": "Hello, Ada!"}
    assert ACTIVATION_RE.fullmatch(r.header("x-openwhisk-activation-id"))
    assert r.header("Access-Control-Allow-Methods") == W.REST_CORS_METHODS
    r = wsk.invoke("guest/actions/echo", {"a": 1})
    assert r.json() == {"a": 1}                              # no __ow_* fields
    assert wsk.invoke("guest/actions/hidden").status == 200  # web-export not checked
    assert wsk.invoke("_/actions/echo").json() == {}         # empty body is fine
    assert wsk.stats()["by_action"]["guest/demo/hello"] == 1


def test_invoke_activation_record(wsk):
    r = wsk.invoke("_/actions/demo/hello", query="blocking=true")
    rec = r.json()
    assert r.status == 200 and rec["activationId"] == r.header("x-openwhisk-activation-id")
    assert rec["response"] == {"status": "success", "success": True,
                               "result": {"greeting": "Hello, stranger!"}}
    assert {"key": "path", "value": "guest/demo/hello"} in rec["annotations"]
    assert rec["namespace"] == "guest" and rec["name"] == "hello" and rec["logs"] == []


def test_invoke_errors(wsk):
    r = wsk.invoke("_/actions/fail")
    assert r.status == 502 and r.json() == {"error": "This action failed on purpose."}
    r = wsk.invoke("_/actions/fail", query="blocking=true")
    assert r.status == 502 and r.json()["response"]["status"] == "application error"
    r = wsk.invoke("_/actions/crash")
    assert r.status == 502 and "crashed on purpose" in r.error
    r = wsk.invoke("_/actions/crash", query="blocking=true")
    assert r.json()["response"]["status"] == "action developer error"


def test_invoke_non_blocking_and_get_activation(wsk):
    r = wsk.invoke("_/actions/demo/hello", {"name": "Bo"}, query="")
    assert r.status == 202
    aid = r.json()["activationId"]
    assert ACTIVATION_RE.fullmatch(aid) and r.header("x-openwhisk-activation-id") == aid
    for _ in range(50):
        g = wsk.invoke(f"_/activations/{aid}", key=GUEST, query="", method="GET")
        if g.status == 200:
            break
        time.sleep(0.05)
    assert g.json()["response"]["result"] == {"greeting": "Hello, Bo!"}
    g = wsk.invoke(f"_/activations/{aid}/result", query="", method="GET")
    assert g.json()["result"] == {"greeting": "Hello, Bo!"}


def test_invoke_timeouts(wsk):
    for t in ("0", "60001", "abc", "-5"):
        r = wsk.invoke("_/actions/echo", query=f"blocking=true&timeout={t}")
        assert r.status == 400 and r.error == M.BAD_TIMEOUT
    r = wsk.invoke("_/actions/slow", {"ms": 1500}, query="blocking=true&result=true&timeout=200")
    assert r.status == 202 and ACTIVATION_RE.fullmatch(r.json()["activationId"])
    r = wsk.invoke("_/actions/slow", {"ms": 1}, query="blocking=true&result=true&timeout=5000")
    assert r.status == 200


def test_invoke_bad_requests(wsk):
    assert wsk.invoke("_/actions/fixed", {"fixed": "x"}).error == M.RESERVED
    assert wsk.invoke("_/actions/fixed", {"empty": "x"}).json()["empty"] == "x"
    r = wsk.request("POST", "/api/v1/namespaces/_/actions/echo?blocking=true",
                    b"[1]", {**basic(GUEST), "Content-Type": "application/json"})
    assert r.status == 400 and r.error.startswith(M.MALFORMED)
    r = wsk.request("POST", "/api/v1/namespaces/_/actions/echo?blocking=true",
                    b"a=b", {**basic(GUEST), "Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 415
    r = wsk.invoke("_/actions/echo", query="blocking=maybe")
    assert r.status == 400 and "blocking" in r.error
    r = wsk.request("POST", "/api/v1/namespaces/_/actions/echo", b"x" * (MIB + 1),
                    {**basic(GUEST), "Content-Type": "application/json"})
    assert r.status == 413


def test_invoke_array_result_quirk(wsk):
    r = wsk.invoke("_/actions/respond", {"result": [1, 2]}, query="blocking=true")
    assert r.status == 200 and r.json() == [1, 2]


def test_get_action_annotations(wsk):
    r = wsk.invoke("_/actions/secure-echo", key=GUEST, query="code=false", method="GET")
    doc = r.json()
    assert {"key": "require-whisk-auth", "value": "s3cr3t-token"} in doc["annotations"]
    assert {"key": "web-export", "value": True} in doc["annotations"]
    assert "code" not in doc["exec"]
    doc = wsk.invoke("guest/actions/fixed", query="", method="GET").json()
    assert {"key": "fixed", "value": "preset"} in doc["parameters"]

# --------------------------------------------------------------------------
# HTTP plumbing: keep-alive, chunked, 100-continue, binary, streaming
# --------------------------------------------------------------------------


def test_keep_alive(wsk):
    c = wsk.conn()
    r1 = wsk.request("GET", "/api/v1/web/guest/default/echo.json", conn=c)
    sock = c.sock
    r2 = wsk.request("POST", "/api/v1/web/guest/default/echo.json", b'{"a":1}',
                     {"Content-Type": "application/json"}, conn=c)
    r3 = wsk.request("GET", "/api/v1/web/guest/default/nope", conn=c)
    r4 = wsk.request("HEAD", "/api/v1/web/guest/default/image", conn=c)
    r5 = wsk.request("GET", "/api/v1/web/guest/default/status?code=204", conn=c)
    r6 = wsk.request("POST", "/raw/x", b"abc", conn=c)
    r7 = wsk.request("GET", "/api/v1/web/guest/default/image", conn=c)
    assert c.sock is sock
    c.close()
    assert [r.status for r in (r1, r2, r3, r4, r5, r6, r7)] == [200, 200, 404, 200, 204, 200, 200]
    assert r2.json()["a"] == 1 and r4.body == b"" and r7.body == W.PNG_BYTES


def test_expect_100_continue(wsk):
    body = b'{"e": "continue"}'
    head = (b"POST /api/v1/web/guest/default/echo.json HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n"
            b"Expect: 100-continue\r\n\r\n" % len(body))
    out = raw_exchange(wsk.port, head, body)
    assert out.startswith(b"HTTP/1.1 200")
    assert json.loads(out.split(b"\r\n\r\n", 1)[1])["e"] == "continue"


def test_bad_chunked_framing(wsk):
    out = raw_exchange(wsk.port, b"POST /api/v1/web/guest/default/echo.json HTTP/1.1\r\n"
                                 b"Host: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
    assert out.startswith(b"HTTP/1.1 400")


@pytest.mark.parametrize("ctype", ["application/octet-stream", "image/png", "application/pdf",
                                   "application/x-whatever"])
def test_binary_round_trip(wsk, ctype):
    data = os.urandom(300 * 1024) + bytes(range(256))
    r = wsk.web("POST", "default/bytes", data, {"Content-Type": ctype})
    assert r.status == 200 and r.header("Content-Type") == ctype
    assert hashlib.sha256(r.body).hexdigest() == hashlib.sha256(data).hexdigest()
    last = wsk.last()
    assert last["body_length"] == len(data)
    assert last["body_sha256"] == hashlib.sha256(data).hexdigest()


def test_bytes_text_and_json(wsk):
    r = wsk.web("POST", "default/bytes", "h€llo".encode(), {"Content-Type": "text/plain"})
    assert r.body == "h€llo".encode() and r.header("Content-Type") == "text/plain; charset=UTF-8"
    r = wsk.post_json("default/bytes", {"k": [1]})
    assert r.json() == {"k": [1]}
    assert wsk.web("POST", "default/bytes").status == 204


def test_upload_small_and_limit(wsk):
    data = b"0123456789" * 1000
    r = wsk.web("POST", "default/upload.json", data, {"Content-Type": "application/json"})
    assert r.json()["bytes"] == len(data)
    assert r.json()["sha256"] == hashlib.sha256(data).hexdigest()
    r = wsk.web("PUT", "default/upload", data)                # .http gives the digest too
    assert r.json() == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert wsk.web("POST", "default/upload.json", b"").json()["bytes"] == 0


def _rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


@pytest.mark.parametrize("chunked", [False, True])
def test_upload_64mb_streamed_bounded_memory(wsk_proc, chunked):
    proc, line, port_file = wsk_proc
    port = int(port_file.read_text())
    client = Client(port)
    client.request("GET", "/_whisk/health")
    before = _rss_kb(proc.pid)
    block = os.urandom(MIB)
    total = 64
    sha = hashlib.sha256()
    for _ in range(total):
        sha.update(block)
    headers = {"Content-Type": "application/octet-stream"}
    if chunked:
        headers["Transfer-Encoding"] = "chunked"
    else:
        headers["Content-Length"] = str(total * MIB)
    r = client.request("POST", "/api/v1/web/guest/default/upload.json",
                       (block for _ in range(total)), headers, encode_chunked=chunked,
                       conn=client.conn(timeout=120))
    assert r.status == 200, r
    assert r.json()["bytes"] == total * MIB and r.json()["sha256"] == sha.hexdigest()
    grown_mb = (_rss_kb(proc.pid) - before) / 1024
    assert grown_mb < 24, f"RSS grew by {grown_mb:.1f} MB"

# --------------------------------------------------------------------------
# Raw echo backend
# --------------------------------------------------------------------------


def test_raw_echo(wsk):
    data = os.urandom(70000)
    r = wsk.request("PUT", "/raw/some/path?x=1&y=%20", data, {"Content-Type": "image/webp"})
    assert r.status == 200 and r.body == data and r.header("Content-Type") == "image/webp"
    assert r.header("X-Raw-Path") == "/raw/some/path?x=1&y=%20"
    r = wsk.request("DELETE", "/raw")
    assert r.header("Content-Type") == "application/octet-stream" and r.body == b""
    r = wsk.request("FOO", "/raw/any", b"z")
    assert r.status == 200 and r.body == b"z"
    r = wsk.request("HEAD", "/raw/h")
    assert r.status == 200 and r.body == b""


def test_raw_chunked_echo(wsk):
    r = wsk.request("POST", "/raw/c", iter([b"a" * 100000, b"b" * 5]),
                    {"Transfer-Encoding": "chunked"}, encode_chunked=True)
    assert r.body == b"a" * 100000 + b"b" * 5


def test_raw_status_and_slow(wsk):
    r = wsk.request("GET", "/raw/status/503")
    assert r.status == 503 and r.json() == {"status": 503}
    assert r.header("X-Raw-Path") == "/raw/status/503"
    assert wsk.request("GET", "/raw/status/204").status == 204
    assert wsk.request("GET", "/raw/status/999").status == 400
    assert wsk.request("GET", "/raw/status/42").status == 400
    t0 = time.time()
    r = wsk.request("POST", "/raw/slow?ms=300", b"s")
    assert time.time() - t0 >= 0.3 and r.body == b"s"

# --------------------------------------------------------------------------
# Introspection
# --------------------------------------------------------------------------


def test_stats_count_rejected_requests(wsk):
    assert wsk.stats() == {"calls": 0, "raw_calls": 0, "connections": 0,
                           "by_action": {}}
    wsk.get("default/secure-echo.json")                      # 401
    wsk.get("default/nope")                                  # 404
    wsk.get("default/echo.json?__ow_path=x")                 # 400
    wsk.web("OPTIONS", "default/echo")                       # not invoked, still counted
    wsk.get("guest")                                         # route miss: calls only
    wsk.invoke("_/actions/echo", key=None)                   # 401
    wsk.request("GET", "/raw/x")
    s = wsk.stats()
    assert s["calls"] == 6 and s["raw_calls"] == 1
    assert s["by_action"] == {"guest/default/secure-echo": 1, "guest/default/nope": 1,
                              "guest/default/echo": 2, "_/default/echo": 1}
    wsk.invoke("_/actions/echo")               # `_` resolves once the key is valid
    assert wsk.stats()["by_action"]["guest/default/echo"] == 3


def test_stats_count_connections(wsk):
    """`connections`: TCP connections that carried counted requests since the
    last reset; introspection requests are not counted."""
    c = wsk.conn()
    for _ in range(3):                                       # one keep-alive connection
        wsk.request("GET", "/api/v1/web/guest/default/echo.json", conn=c)
    wsk.request("POST", "/raw/x", b"r", conn=c)
    assert wsk.stats()["connections"] == 1
    wsk.get("default/echo.json")                             # a new connection each
    wsk.request("GET", "/raw/y")
    s = wsk.stats()
    assert s["connections"] == 3 and s["calls"] == 4 and s["raw_calls"] == 2
    wsk.request("POST", "/_whisk/reset")
    wsk.request("GET", "/api/v1/web/guest/default/echo.json", conn=c)   # counted again
    assert wsk.stats()["connections"] == 1
    c.close()


def test_last_request_as_received(wsk):
    c = wsk.conn()
    c.putrequest("POST", "/api/v1/web/guest/default/echo.json?a=1&b=%20", skip_host=True,
                 skip_accept_encoding=True)
    for name, value in [("Host", "gw.example"), ("X-Forwarded-For", "10.0.0.1"),
                        ("x-MiXeD", "Case"), ("Connection", "keep-alive"),
                        ("Content-Type", "text/plain"), ("Content-Length", "5")]:
        c.putheader(name, value)
    c.endheaders(b"hello")
    c.getresponse().read()
    c.close()
    last = wsk.last()
    assert last["method"] == "POST" and last["kind"] == "web"
    assert last["target"] == "/api/v1/web/guest/default/echo.json?a=1&b=%20"
    assert last["path"] == "/api/v1/web/guest/default/echo.json" and last["query"] == "a=1&b=%20"
    assert last["headers"] == [["Host", "gw.example"], ["X-Forwarded-For", "10.0.0.1"],
                               ["x-MiXeD", "Case"], ["Connection", "keep-alive"],
                               ["Content-Type", "text/plain"], ["Content-Length", "5"]]
    assert last["body_length"] == 5 and last["body_base64"] == "aGVsbG8="
    assert last["body_sha256"] == hashlib.sha256(b"hello").hexdigest()
    assert last["status"] == 200 and last["action"] == "guest/default/echo"


def test_last_log_reset(wsk):
    assert wsk.last() is None
    wsk.get("default/echo.json")
    wsk.request("POST", "/raw/r", b"raw")
    assert wsk.last()["path"].endswith("echo.json")
    assert wsk.last("raw")["body_base64"] == base64.b64encode(b"raw").decode()
    log = wsk.request("GET", "/_whisk/log?kind=any").json()
    assert [e["kind"] for e in log] == ["web", "raw"]
    assert wsk.request("POST", "/_whisk/reset").status == 200
    assert wsk.stats() == {"calls": 0, "raw_calls": 0, "connections": 0,
                           "by_action": {}}
    assert wsk.last() is None and wsk.request("GET", "/_whisk/log").json() == []
    assert wsk.request("GET", "/_whisk/nope").status == 404
    actions = wsk.request("GET", "/_whisk/actions").json()
    assert "/api/v1/web/guest/demo/hello" in [a["path"] for a in actions]

# --------------------------------------------------------------------------
# Demo actions, CLI
# --------------------------------------------------------------------------


def test_demo_package(wsk):
    assert wsk.get("demo/hello.json").json() == {"greeting": "Hello, stranger!"}
    assert wsk.get("demo/hello.json?name=Ada").json() == {"greeting": "Hello, Ada!"}
    # one book is an HTTP response: the demo maps /books/{isbn} to `.http`
    r = wsk.get("demo/books.http/club/books/2")
    assert r.status == 200 and r.json()["title"] == "Neuromancer"
    assert len(wsk.get("demo/books.json").json()["books"]) == 3
    r = wsk.get("demo/books.http/club/books/99")
    assert r.status == 404
    assert r.json() == {"message": "No book with id 99."}


def test_headers_action(wsk):
    r = wsk.get("default/headers", {"X-Injected": "yes"})
    assert r.status == 200 and r.json()["x-injected"] == "yes"


def test_cli_banner_port_file_and_sigterm(wsk_proc):
    proc, line, port_file = wsk_proc
    port = int(port_file.read_text())
    assert line == f"whisk listening on http://127.0.0.1:{port}\n"
    assert Client(port).request("GET", "/_whisk/health").json() == {"status": "ok"}


def test_cli_sigterm_exits_cleanly(tmp_path):
    proc = subprocess.Popen([PYTHON, WHISK_PY, "--port-file", str(tmp_path / "p")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().startswith("whisk listening on http://127.0.0.1:")
    Client(int((tmp_path / "p").read_text())).get("default/echo.json")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert proc.stderr.read() == ""
