"""What the backend receives besides the body: the request id, the
X-Forwarded-* family, injected headers; no hop-by-hop headers. And
connections to the backend are kept alive."""

import pytest

import harness
from apigw_checks import (HEX32, assert_error, gateway, header_names,
                          header_values, last_raw)


@pytest.fixture(scope="module")
def gw(module_nginx_factory, whisk, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("headers")
    wsk = harness.render_spec("wsk.json", str(tmp), WHISK=whisk.url)
    oas = harness.render_spec("oas3.yaml", str(tmp), WHISK=whisk.url)
    corr = harness.render_spec("corr.yaml", str(tmp), WHISK=whisk.url)
    rid = harness.render_spec("rid-inject.json", str(tmp), WHISK=whisk.url)
    return module_nginx_factory(gateway(
        "apigw_openwhisk_url %s; apigw_spec %s; apigw_spec %s; "
        "apigw_spec %s;" % (whisk.url, wsk, oas, rid),
        extra_server="""
    location /corr/ {
        apigw;
        apigw_request_id_header X-Correlation-ID;
        apigw_spec %s;
    }""" % corr)).start()


# ---- the request id ----

@pytest.mark.parametrize("rid", [
    "abc-123", "Root=1-5e1b4151-5ac6c58f;x", "a_b.c:d+e/f=g@h", "x" * 200,
])
def test_sane_request_id_is_kept(gw, whisk, rid):
    rid = rid.replace(";", "")
    r = gw.request("GET", "/v3/headers", [("X-Request-ID", rid)])
    assert r.status == 200
    assert r.header_all("X-Request-ID") == [rid]
    assert header_values(last_raw(whisk), "X-Request-ID") == [rid]


@pytest.mark.parametrize("rid", [
    'has spaces and "quotes"', "semi;colon", "x" * 201, "caf\xe9", "<script>",
])
def test_insane_request_id_is_replaced(gw, whisk, rid):
    r = gw.request("GET", "/v3/headers", [("X-Request-ID", rid)])
    assert r.status == 200
    got = r.header_all("X-Request-ID")
    assert len(got) == 1 and HEX32.fullmatch(got[0]), got
    assert header_values(last_raw(whisk), "X-Request-ID") == got


def test_absent_request_id_is_generated(gw, whisk):
    r = gw.request("GET", "/v3/headers")
    got = r.header_all("X-Request-ID")
    assert len(got) == 1 and HEX32.fullmatch(got[0])
    assert header_values(last_raw(whisk), "X-Request-ID") == got
    r2 = gw.request("GET", "/v3/headers")
    assert r2.header("X-Request-ID") != got[0]


def test_one_request_id_each_way(nginx_factory, whisk, tmp_path):
    """Two ids from the client make one to the backend (the one apigw
    decided on); the backend's own id is replaced on the response."""
    import json
    spec = tmp_path / "rid.json"
    spec.write_text(json.dumps({
        "openapi": "3.0.3", "info": {"title": "rid", "version": "1"},
        "servers": [{"url": "/rid"}],
        "paths": {"/x": {"get": {"responses": {},
                  "x-apigw-backend": {"url": whisk.url + "/raw/rid"}}}}}))
    n = nginx_factory(gateway("apigw_spec %s;" % spec)).start()
    for sent, kept in ((["abc", "a b"], "abc"), (["first", "second"], "first"),
                       (["a b", "abc"], None)):
        r = n.request("GET", "/rid/x", [("X-Request-ID", v) for v in sent])
        assert r.status == 200, r
        got = r.header_all("X-Request-ID")
        assert len(got) == 1, got
        if kept:
            assert got == [kept]
        else:
            assert HEX32.fullmatch(got[0]), got
        assert header_values(last_raw(whisk), "X-Request-ID") == got


def test_request_id_reaches_web_actions(gw, whisk):
    r = gw.request("GET", "/v3/echo", [("x-request-id", "trace-77")])
    assert r.header_all("X-Request-ID") == ["trace-77"]
    assert r.json()["__ow_headers"]["x-request-id"] == "trace-77"


def test_request_id_header_name_is_configurable(gw, whisk):
    r = gw.request("GET", "/corr/headers", [("X-Correlation-ID", "corr-1")])
    assert r.status == 200 and r.header("X-Raw-Path") == "/raw/corr"
    assert r.header_all("X-Correlation-ID") == ["corr-1"]
    assert r.header_all("X-Request-ID") == []
    last = last_raw(whisk)
    assert header_values(last, "X-Correlation-ID") == ["corr-1"]
    r = gw.request("GET", "/corr/headers", [("X-Correlation-ID", "bad value")])
    got = r.header_all("X-Correlation-ID")
    assert len(got) == 1 and HEX32.fullmatch(got[0])
    assert header_values(last_raw(whisk), "X-Correlation-ID") == got
    r = gw.request("GET", "/corr/nope", [("X-Correlation-ID", "corr-2")])
    assert assert_error(r, 404, "Error: Not found.",
                        id_header="X-Correlation-ID") == "corr-2"
    assert r.header_all("X-Request-ID") == []


# ---- X-Forwarded-* ----

def test_forwarded_headers(gw, whisk):
    r = gw.request("GET", "/v3/headers?a=1&b=%20", [
        ("Host", "api.example.com"),
        ("X-Forwarded-For", "10.1.2.3"),
        ("X-Forwarded-Proto", "https"),          # spoofed: replaced
        ("X-Forwarded-Host", "evil.example"),
        ("X-Forwarded-Port", "1"),
        ("X-Forwarded-Url", "http://evil.example/"),
        ("X-Real-IP", "6.6.6.6"),
    ])
    assert r.status == 200
    last = last_raw(whisk)
    assert header_values(last, "X-Forwarded-For") == ["10.1.2.3, 127.0.0.1"]
    assert header_values(last, "X-Forwarded-Proto") == ["http"]
    assert header_values(last, "X-Forwarded-Host") == ["api.example.com"]
    assert header_values(last, "X-Forwarded-Port") == [str(gw.port)]
    assert header_values(last, "X-Forwarded-Url") == \
        ["http://api.example.com/v3/headers?a=1&b=%20"]
    # a client's X-Real-IP is not passed on (X-Forwarded-For carries it)
    assert header_values(last, "X-Real-IP") == []
    assert header_values(last, "Host") == ["127.0.0.1:%d" % whisk.port]


def test_forwarded_url_is_the_url_the_client_asked(gw, whisk):
    r = gw.request("GET", "//v3/./headers?x=%2F", [("Host", "gw.test:8443")])
    assert r.status == 200
    last = last_raw(whisk)
    assert header_values(last, "X-Forwarded-Url") == \
        ["http://gw.test:8443//v3/./headers?x=%2F"]
    assert header_values(last, "X-Forwarded-For") == ["127.0.0.1"]
    assert header_values(last, "X-Forwarded-Host") == ["gw.test"]


def test_forwarded_url_without_host_and_in_absolute_form(gw, whisk):
    # HTTP/1.0 without Host, a server without server_name: the address
    # the client connected to
    out = harness.raw_exchange(gw.port, b"GET /v3/headers?a=1 HTTP/1.0\r\n"
                               b"\r\n")
    assert out.startswith(b"HTTP/1.1 200"), out[:200]
    last = last_raw(whisk)
    assert header_values(last, "X-Forwarded-Host") == ["127.0.0.1"]
    assert header_values(last, "X-Forwarded-Url") == \
        ["http://127.0.0.1:%d/v3/headers?a=1" % gw.port]
    # absolute-form: the request line's authority wins over Host
    out = harness.raw_exchange(
        gw.port, b"GET http://other.example:81/v3/headers?q=1 HTTP/1.1\r\n"
        b"Host: x\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200"), out[:200]
    last = last_raw(whisk)
    assert header_values(last, "X-Forwarded-Host") == ["other.example"]
    assert header_values(last, "X-Forwarded-Url") == \
        ["http://other.example:81/v3/headers?q=1"]


# ---- injected headers ----

def test_injected_secret_reaches_the_secured_action(gw, whisk):
    # without the secret the action refuses
    direct = harness.request(whisk.port, "GET",
                             "/api/v1/web/guest/default/secure-echo.json")
    assert direct.status == 401
    whisk.reset()
    r = gw.request("GET", "/wsk/secure")
    assert r.status == 200
    assert r.json()["__ow_headers"]["x-require-whisk-auth"] == "s3cr3t-token"
    assert header_values(whisk.last(), "X-Require-Whisk-Auth") == \
        ["s3cr3t-token"]


@pytest.mark.parametrize("name", ["X-Require-Whisk-Auth",
                                  "x-require-whisk-auth"])
def test_injected_header_replaces_the_clients(gw, whisk, name):
    whisk.reset()
    r = gw.request("GET", "/wsk/secure", [(name, "client-guess"),
                                          ("X-Other", "kept")])
    assert r.status == 200
    last = whisk.last()
    assert header_values(last, "X-Require-Whisk-Auth") == ["s3cr3t-token"]
    assert header_values(last, "X-Other") == ["kept"]


@pytest.mark.parametrize("sent", [None, "client-id-1"])
def test_injected_request_id_does_not_split_it(gw, whisk, sent):
    """A spec's set-variable of the request id header (a v1 reqMapping
    insert becomes one) is not sent: the backend, the client and the log
    keep one id."""
    r = gw.request("GET", "/ridinj/echo",
                   [("X-Request-ID", sent)] if sent else [])
    assert r.status == 200, r
    rid = r.header("X-Request-ID")
    assert rid and rid != "fixed-by-spec" and (sent is None or rid == sent)
    last = last_raw(whisk)
    assert header_values(last, "X-Request-ID") == [rid]
    assert header_values(last, "X-Other") == ["kept"]


def test_client_cannot_authenticate_an_unsecured_route(gw, whisk):
    # a client-sent secret is forwarded only where the spec puts none
    r = gw.request("GET", "/v3/headers", [("X-Require-Whisk-Auth", "guess")])
    assert r.status == 200
    assert header_values(last_raw(whisk), "X-Require-Whisk-Auth") == ["guess"]


# ---- hop-by-hop headers ----

HOP = ["keep-alive", "te", "upgrade", "proxy-authorization", "trailer",
       "proxy-connection", "x-foo", "x-bar"]


def test_hop_by_hop_headers_not_forwarded(gw, whisk):
    r = gw.request("GET", "/v3/headers", [
        ("Connection", "close, X-Foo, x-bar"),
        ("X-Foo", "hop"),
        ("X-Bar", "hop too"),
        ("Keep-Alive", "timeout=5"),
        ("TE", "trailers"),
        ("Upgrade", "websocket"),
        ("Proxy-Authorization", "Basic dXNlcjpwYXNz"),
        ("Trailer", "X-Checksum"),
        ("Proxy-Connection", "keep-alive"),
        ("X-End-To-End", "kept"),
    ])
    assert r.status == 200
    last = last_raw(whisk)
    names = header_names(last)
    for h in HOP:
        assert h not in names, (h, last["headers"])
    # nginx's own Connection header towards the backend, nothing of the client's
    assert header_values(last, "Connection") in ([], ["keep-alive"])
    assert header_values(last, "X-End-To-End") == ["kept"]


def test_hop_by_hop_headers_not_forwarded_to_web_actions(gw, whisk):
    whisk.reset()
    r = gw.request("POST", "/wsk/echo", [
        ("Connection", "close, X-Foo"), ("X-Foo", "hop"), ("TE", "trailers"),
        ("Proxy-Authorization", "Basic dXNlcjpwYXNz"),
        ("Content-Type", "application/json")], b'{"k":"v"}')
    assert r.status == 200
    names = header_names(whisk.last())
    for h in HOP:
        assert h not in names, (h, names)
    assert "x-foo" not in r.json()["__ow_headers"]


def test_hop_by_hop_names_in_a_second_connection_header(gw, whisk):
    r = gw.request("GET", "/v3/headers", [
        ("Connection", "keep-alive"), ("Connection", " x-foo ,close"),
        ("X-Foo", "hop"), ("X-Foo-Bar", "kept")])
    assert r.status == 200
    last = last_raw(whisk)
    assert "x-foo" not in header_names(last)
    assert header_values(last, "X-Foo-Bar") == ["kept"]


def test_connection_cannot_drop_the_request_id_or_injected_headers(gw, whisk):
    whisk.reset()
    r = gw.request("GET", "/wsk/secure", [
        ("Connection", "close, X-Request-ID, X-Require-Whisk-Auth, Host"),
        ("X-Request-ID", "keep-me")])
    assert r.status == 200
    last = whisk.last()
    assert header_values(last, "X-Request-ID") == ["keep-me"]
    assert header_values(last, "X-Require-Whisk-Auth") == ["s3cr3t-token"]
    assert header_values(last, "Host") == ["127.0.0.1:%d" % whisk.port]


# ---- keepalive towards the backend ----

def test_backend_connections_are_reused(gw, whisk):
    whisk.reset()
    n = 12
    for i in range(n):
        target = "/v3/echo?i=%d" % i if i % 2 else "/v3/books/%d" % i
        r = gw.request("GET", target)
        assert r.status == 200
    s = whisk.stats()
    assert s["calls"] + s["raw_calls"] == n
    assert 1 <= s["connections"] < n, s


def test_proxy_set_header_overrides_a_forwarded_header(nginx_factory, whisk,
                                                       tmp_path):
    # behind a TLS-terminating balancer the operator sets the scheme the
    # client used: one header, the operator's, not apigw's as well
    oas = harness.render_spec("oas3.yaml", str(tmp_path), WHISK=whisk.url)
    gw = nginx_factory(gateway(
        "apigw_openwhisk_url %s; apigw_spec %s;" % (whisk.url, oas),
        extra_location="proxy_set_header X-Forwarded-Proto https;")).start()
    r = gw.request("GET", "/v3/headers", [("X-Forwarded-Proto", "ftp")])
    assert r.status == 200
    last = last_raw(whisk)
    assert header_values(last, "X-Forwarded-Proto") == ["https"]
    assert len(header_values(last, "X-Request-ID")) == 1
    assert header_values(last, "X-Forwarded-Host") == ["localhost"]
