"""Routing: wsk-shaped Swagger 2.0 and OpenAPI 3 specs, what the backend
receives, the JSON errors apigw answers itself, and path normalisation."""

import hashlib
import json
import socket

import pytest

import harness
from apigw_checks import HEX32, assert_error, gateway, header_values, last_raw


@pytest.fixture(scope="module")
def gw(module_nginx_factory, whisk, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("routing")
    wsk = harness.render_spec("wsk.json", str(tmp), WHISK=whisk.url)
    oas = harness.render_spec("oas3.yaml", str(tmp), WHISK=whisk.url)
    return module_nginx_factory(gateway(
        "apigw_openwhisk_url %s; apigw_spec %s; apigw_spec %s;"
        % (whisk.url, wsk, oas),
        extra_location="add_header X-T-Op $apigw_operation always;")).start()


def counts(whisk):
    s = whisk.stats()
    return s["calls"], s["raw_calls"]


# ---- Swagger 2.0 as `wsk api create` writes it ----

def test_wsk_operation_switch_request_path_and_query(gw, whisk):
    whisk.reset()
    r = gw.request("GET", "/wsk/echo?b=2&a=%20x")
    assert r.status == 200 and r.header("Content-Type") == "application/json"
    last = whisk.last()
    assert last["method"] == "GET"
    # target-url + $(request.path): the whole request path, base path included
    assert last["path"] == "/api/v1/web/guest/default/echo-http.http/wsk/echo"
    assert last["query"] == "b=2&a=%20x"
    assert last["target"] == \
        "/api/v1/web/guest/default/echo-http.http/wsk/echo?b=2&a=%20x"
    body = r.json()
    assert body["__ow_method"] == "get" and body["__ow_path"] == "/wsk/echo"
    assert body["b"] == "2" and body["a"] == " x"
    assert whisk.stats()["by_action"] == {"guest/default/echo-http": 1}


def test_wsk_verb_keep_post_body(gw, whisk):
    whisk.reset()
    payload = b'{"name":"Ada","n":1}'
    r = gw.request("POST", "/wsk/echo", [("Content-Type", "application/json")],
                   payload)
    assert r.status == 200
    last = whisk.last()
    assert last["method"] == "POST"
    assert last["path"] == "/api/v1/web/guest/default/echo-http.http/wsk/echo"
    assert last["query"] == ""
    assert last["body_sha256"] == hashlib.sha256(payload).hexdigest()
    assert header_values(last, "Content-Type") == ["application/json"]
    body = r.json()
    assert body["name"] == "Ada" and body["n"] == 1
    assert body["__ow_method"] == "post"


def test_wsk_path_param_normalised_path_and_injected_secret(gw, whisk):
    whisk.reset()
    r = gw.request("GET", "//wsk/./greet/x/../J%C3%B6rg?lang=de")
    assert r.status == 200, r
    # (the stand-in renders __ow_path like Akka: non-ASCII stays encoded)
    assert r.json() == {"greeting": "Hello, J%C3%B6rg!",
                        "__ow_path": "/wsk/greet/J%C3%B6rg"}
    last = whisk.last()
    assert last["method"] == "GET"
    # the normalised, re-encoded path is appended, not the raw one
    assert last["target"] == ("/api/v1/web/guest/default/secure-greet.http"
                              "/wsk/greet/J%C3%B6rg?lang=de")
    assert header_values(last, "X-Require-Whisk-Auth") == ["s3cr3t-token"]
    assert last["status"] == 200


# ---- OpenAPI 3 YAML: x-openwhisk and x-apigw-backend ----

def test_oas3_openwhisk_json(gw, whisk):
    whisk.reset()
    r = gw.request("GET", "/v3/echo?x=1&y=%2F&z")
    assert r.status == 200
    last = whisk.last()
    assert last["method"] == "GET"
    # .json actions get no $(request.path)
    assert last["path"] == "/api/v1/web/guest/default/echo.json"
    assert last["query"] == "x=1&y=%2F&z"
    body = r.json()
    assert body["x"] == "1" and body["y"] == "/" and body["__ow_path"] == ""


def test_oas3_openwhisk_http_appends_path(gw, whisk):
    whisk.reset()
    r = gw.request("GET", "/v3/things/t-1?q=a+b")
    assert r.status == 200
    last = whisk.last()
    assert last["target"] == \
        "/api/v1/web/guest/default/echo-http.http/v3/things/t-1?q=a+b"
    body = r.json()
    assert body["__ow_path"] == "/v3/things/t-1" and body["q"] == "a b"


def test_oas3_apigw_backend_param_substitution(gw, whisk):
    whisk.reset()
    r = gw.request("GET", "/v3/books/978-3-16?fmt=json")
    assert r.status == 200
    assert r.header("X-Raw-Path") == "/raw/books/978-3-16?fmt=json"
    last = last_raw(whisk)
    assert last["method"] == "GET" and last["path"] == "/raw/books/978-3-16"
    assert last["query"] == "fmt=json"
    # a literal segment beats the parameter
    r = gw.request("GET", "/v3/books/special")
    assert r.status == 200 and r.header("X-Raw-Path") == "/raw/special"
    assert whisk.stats()["calls"] == 0 and whisk.stats()["raw_calls"] == 2


def test_oas3_apigw_backend_fixed_method_and_template_query(gw, whisk):
    whisk.reset()
    r = gw.request("PUT", "/v3/books/42?x=y", [("Content-Type", "text/plain")],
                   b"hello")
    assert r.status == 200 and r.body == b"hello"
    assert r.header("Content-Type") == "text/plain"
    last = last_raw(whisk)
    assert last["method"] == "POST"
    assert last["target"] == "/raw/store/42?src=spec&x=y"
    assert last["body_length"] == 5


# ---- errors apigw answers itself; none reaches the backend ----

def test_unknown_path_404(gw, whisk):
    whisk.reset()
    for target in ("/nope", "/v3", "/v3/books", "/v3/books/1/2", "/wsk/greet",
                   "/v3/echo/extra?x=1"):
        r = gw.request("GET", target)
        rid = assert_error(r, 404, "Error: Not found.")
        assert HEX32.fullmatch(rid)
    assert counts(whisk) == (0, 0)


def test_no_100_continue_for_a_refused_body(gw, whisk):
    # the answer is known before the body: a client waiting for
    # "100 Continue" is not told to send it
    for target in (b"/nothing/here", b"/wsk/echo"):
        with socket.create_connection(("127.0.0.1", gw.port), 5) as c:
            c.sendall(b"PUT " + target + b" HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: 1000000\r\n"
                      b"Expect: 100-continue\r\n\r\n")
            data = b""
            # the first answer, whole: nginx then waits a while for the
            # body it would discard
            while b"\r\n\r\n" not in data:
                data += c.recv(4096)
        assert data.startswith(b"HTTP/1.1 40"), data[:200]
        assert b"100 Continue" not in data


def test_wrong_method_405_with_allow(gw, whisk):
    whisk.reset()
    r = gw.request("DELETE", "/v3/echo")
    assert_error(r, 405, "Error: Method not allowed.")
    assert r.header_all("Allow") == ["GET, HEAD, POST"]
    r = gw.request("POST", "/v3/books/7", body=b"x")
    assert_error(r, 405, "Error: Method not allowed.")
    assert r.header_all("Allow") == ["GET, HEAD, PUT"]
    # a method nobody knows on a known path is still a 405
    r = gw.request("PROPFIND", "/v3/echo")
    assert_error(r, 405, "Error: Method not allowed.")
    assert r.header_all("Allow") == ["GET, HEAD, POST"]
    r = gw.request("PATCH", "/wsk/greet/ada")
    assert_error(r, 405, "Error: Method not allowed.")
    assert r.header_all("Allow") == ["GET, HEAD"]
    assert counts(whisk) == (0, 0)


def test_operation_without_backend_501(gw, whisk):
    whisk.reset()
    r = gw.request("GET", "/v3/nobackend")
    assert_error(r, 501, "Error: The operation has no backend.")
    assert r.header("X-T-Op") == "noBackend"
    assert counts(whisk) == (0, 0)


def test_head_falls_back_to_get(gw, whisk):
    whisk.reset()
    r = gw.request("HEAD", "/v3/books/1")
    assert r.status == 200 and r.body == b""
    assert r.header("X-Raw-Path") == "/raw/books/1"
    assert last_raw(whisk)["method"] == "HEAD"
    r = gw.request("HEAD", "/v3/echo")
    assert r.status == 200 and r.body == b""
    assert r.header("Content-Type") == "application/json"
    last = whisk.last()
    assert last["method"] == "HEAD"
    assert last["path"] == "/api/v1/web/guest/default/echo.json"
    assert counts(whisk) == (1, 1)


def test_error_request_id_is_the_clients_when_sane(gw, whisk):
    r = gw.request("GET", "/nope", [("X-Request-ID", "client-id-1")])
    assert assert_error(r, 404, "Error: Not found.") == "client-id-1"


# ---- normalisation: what is matched is what the backend gets ----

@pytest.mark.parametrize("target,raw_path", [
    ("//v3///books//x", "/raw/books/x"),
    ("/v3/./books/./x", "/raw/books/x"),
    ("/v3/books/x/../y", "/raw/books/y"),
    ("/v3/books/x/%2e%2e/z", "/raw/books/z"),
    ("/v3/books/%2E/w", "/raw/books/w"),
    ("/v3/books/..%2F..", "/raw/books/..%2F.."),
    ("/v3/books/a%2Fb", "/raw/books/a%2Fb"),
    ("/v3/books/a%2fb", "/raw/books/a%2Fb"),
    ("/v3/books/%41b%20c", "/raw/books/Ab%20c"),
])
def test_normalised_path_is_what_the_backend_gets(gw, whisk, target, raw_path):
    whisk.reset()
    r = gw.request("GET", target)
    assert r.status == 200, r
    assert r.header("X-Raw-Path") == raw_path
    assert last_raw(whisk)["target"] == raw_path
    assert counts(whisk) == (0, 1)


def test_dot_segments_cannot_escape_the_base_path(gw, whisk):
    whisk.reset()
    for target in ("/v3/../admin", "/v3/%2e%2e/admin", "/v3/%2E%2E/admin",
                   "/v3/books/../../admin", "/wsk/../v3/../admin"):
        r = gw.request("GET", target)
        assert r.status in (404, 400), (target, r)
        assert_error(r, r.status, {404: "Error: Not found.",
                                   400: "Error: Bad request."}[r.status])
    # dot segments inside a base path resolve to a real route; a "%2F"
    # makes no ".." segment
    r = gw.request("GET", "/wsk/greet/..%2F..%2Fadmin/../ada")
    assert r.status == 200
    assert r.json() == {"greeting": "Hello, ada!", "__ow_path": "/wsk/greet/ada"}
    r = gw.request("GET", "/v3/books/../echo")
    assert r.status == 200
    assert whisk.last()["path"] == "/api/v1/web/guest/default/echo.json"
    assert counts(whisk) == (2, 0)


def test_percent_encoded_slash_stays_in_the_parameter(gw, whisk):
    whisk.reset()
    r = gw.request("GET", "/v3/things/a%2Fb")
    assert r.status == 200, r
    # one segment "a/b", forwarded encoded; it did not become /things/a/b
    assert whisk.last()["path"] == \
        "/api/v1/web/guest/default/echo-http.http/v3/things/a%2Fb"
    r = gw.request("GET", "/v3/things/a/b")
    assert_error(r, 404, "Error: Not found.")


@pytest.mark.parametrize("target", [
    "/..", "/../v3/echo", "/v3/../../v3/echo", "/v3/books/%zz", "/v3/books/%4",
    "/v3/books/a%00b", "/v3/%00",
])
def test_invalid_paths_400_json(gw, whisk, target):
    whisk.reset()
    r = gw.request("GET", target)
    assert_error(r, 400, "Error: Bad request.")
    assert counts(whisk) == (0, 0)


# ---- nginx's own early errors in an apigw server are JSON too ----

def test_uri_too_long_414_json(gw, whisk):
    whisk.reset()
    r = gw.request("GET", "/v3/books/" + "a" * 9000)
    assert_error(r, 414, "Error: Request URI too long.")
    assert counts(whisk) == (0, 0)


def test_header_too_large_400_json(gw, whisk):
    whisk.reset()
    r = gw.request("GET", "/v3/echo", [("X-Big", "b" * 9000)])
    assert_error(r, 400, "Error: Bad request.")
    assert counts(whisk) == (0, 0)


def test_head_of_an_error_has_no_body(gw, whisk):
    r = gw.request("HEAD", "/nope")
    assert r.status == 404 and r.body == b""
    assert r.header("Content-Type") == "application/json"
    assert HEX32.fullmatch(r.header("X-Request-ID"))


def test_client_connection_survives_an_error_with_a_body(gw, whisk):
    """The body of a request apigw refuses is discarded; the next request
    on the same connection is served."""
    import socket
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as s:
        s.sendall(b"POST /nope HTTP/1.1\r\nHost: localhost\r\n"
                  b"Content-Length: 5\r\n\r\nhello"
                  b"DELETE /v3/echo HTTP/1.1\r\nHost: localhost\r\n"
                  b"Content-Length: 3\r\n\r\nabc"
                  b"GET /v3/books/after HTTP/1.1\r\nHost: localhost\r\n"
                  b"Connection: close\r\n\r\n")
        with s.makefile("rb") as f:
            first = harness._read_response(f, "POST")
            second = harness._read_response(f, "DELETE")
            third = harness._read_response(f, "GET")
    assert_error(first, 404, "Error: Not found.")
    assert_error(second, 405, "Error: Method not allowed.")
    assert third.status == 200 and third.header("X-Raw-Path") == \
        "/raw/books/after"


# ---- "/a" and "/a/": two paths of OpenAPI ----

SLASH_SPEC = """openapi: 3.0.3
info: {title: slashes, version: '1'}
servers: [{url: /s}]
paths:
  /address:
    get:
      operationId: plain
      x-apigw-backend: {url: "%(w)s/raw/plain"}
  /address/:
    get:
      operationId: slash
      x-apigw-backend: {url: "%(w)s/raw/slash"}
    post:
      operationId: postSlash
      x-apigw-backend: {url: "%(w)s/raw/post-slash"}
  /only/:
    get:
      operationId: onlySlash
      x-apigw-backend: {url: "%(w)s/raw/only"}
"""


def test_a_path_and_its_trailing_slash_twin(nginx_factory, whisk, tmp_path):
    """A document with "/address" and "/address/" (valid OpenAPI, and seen
    in published ones) routes each spelling to its own operation; the one
    spelling a document has serves both; a twin from another file of the
    same location is refused by nginx -t, as it would take requests."""
    spec = tmp_path / "slash.yaml"
    spec.write_text(SLASH_SPEC % {"w": whisk.url})
    g = nginx_factory(gateway("apigw_spec %s;" % spec,
                              extra_location="add_header X-T-Op "
                              "$apigw_operation always;")).start()
    whisk.reset()
    for method, target, op, backend in (
            ("GET", "/s/address", "plain", "/raw/plain"),
            ("GET", "/s/address/", "slash", "/raw/slash"),
            ("GET", "/s//address//", "slash", "/raw/slash"),
            ("GET", "/s/address/x/..", "slash", "/raw/slash"),
            ("HEAD", "/s/address", "plain", "/raw/plain"),
            ("POST", "/s/address", "postSlash", "/raw/post-slash"),
            ("GET", "/s/only", "onlySlash", "/raw/only"),
            ("GET", "/s/only/", "onlySlash", "/raw/only")):
        r = g.request(method, target, [("Content-Length", "0")]
                      if method == "POST" else [])
        assert r.status == 200, (target, r)
        assert r.header("X-T-Op") == op, (method, target)
        assert last_raw(whisk)["path"] == backend, (method, target)
    r = g.request("DELETE", "/s/address")
    assert_error(r, 405, "Error: Method not allowed.")
    assert r.header("Allow") == "GET, HEAD, POST"

    # the twin in another document: the check names both
    other = tmp_path / "other.yaml"
    other.write_text("openapi: 3.0.3\ninfo: {title: o, version: '1'}\n"
                     "paths:\n  /s/only:\n    get:\n      x-apigw-backend:"
                     " {url: '%s/raw/x'}\n" % whisk.url)
    bad = nginx_factory(gateway("apigw_spec %s; apigw_spec %s;"
                                % (spec, other)))
    rc, out = bad.test()
    assert rc != 0
    assert 'differs only by a trailing "/"' in out, out
