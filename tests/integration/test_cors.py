"""CORS: preflights at the edge, backend CORS headers replaced (enabled),
removed (disabled) or passed through (unset)."""

import pytest

import harness
from apigw_checks import HEX32, assert_error, gateway

ACAO = "Access-Control-Allow-Origin"
STANDIN_METHODS = "OPTIONS, GET, DELETE, POST, PUT, HEAD, PATCH"
STANDIN_HEADERS = ("Authorization, Origin, X-Requested-With, Content-Type, "
                   "Accept, User-Agent")


@pytest.fixture(scope="module")
def gw(module_nginx_factory, whisk, tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("cors"))
    specs = [harness.render_spec(name, tmp, WHISK=whisk.url)
             for name in ("wsk.json", "oas3.yaml", "cors-apigw.yaml",
                          "cors-off.yaml", "cors-options.json")]
    return module_nginx_factory(gateway(
        "apigw_openwhisk_url %s;" % whisk.url
        + "".join(" apigw_spec %s;" % s for s in specs))).start()


def cors_headers(r):
    """Every Access-Control-* and Vary header, as (lower-case name, value)."""
    return sorted((k.lower(), v) for k, v in r.headers
                  if k.lower().startswith("access-control-")
                  or k.lower() == "vary")


def counts(whisk):
    s = whisk.stats()
    return s["calls"], s["raw_calls"]


# ---- cors.enabled (x-ibm-configuration): any origin, no credentials ----

def test_wsk_preflight_at_the_edge(gw, whisk):
    whisk.reset()
    r = gw.request("OPTIONS", "/wsk/echo", [
        ("Origin", "https://site.example"),
        ("Access-Control-Request-Method", "POST"),
        ("Access-Control-Request-Headers", "X-Custom, Content-Type")])
    assert r.status == 200 and r.body == b""
    assert r.header("Content-Length") == "0"
    assert HEX32.fullmatch(r.header("X-Request-ID"))
    # no OPTIONS operation: the methods are those the path allows
    assert cors_headers(r) == sorted([
        ("access-control-allow-origin", "*"),
        ("access-control-allow-methods", "GET, HEAD, POST"),
        ("access-control-allow-headers", "X-Custom, Content-Type")])
    assert counts(whisk) == (0, 0)


def test_wsk_preflight_path_param_route(gw, whisk):
    whisk.reset()
    r = gw.request("OPTIONS", "/wsk/greet/ada", [
        ("Origin", "http://localhost:3000"),
        ("Access-Control-Request-Method", "GET")])
    assert r.status == 200
    assert cors_headers(r) == sorted([
        ("access-control-allow-origin", "*"),
        ("access-control-allow-methods", "GET, HEAD")])
    assert counts(whisk) == (0, 0)


def test_preflight_of_a_path_with_an_options_operation(gw, whisk):
    # the methods the path serves, not every method there is
    whisk.reset()
    for path, methods in (("/copt/opt", "GET, HEAD, PUT, OPTIONS"),
                          ("/copt/get", "GET, HEAD")):
        r = gw.request("OPTIONS", path, [
            ("Origin", "https://site.example"),
            ("Access-Control-Request-Method", "PUT")])
        assert r.status == 200, r
        assert r.header("Access-Control-Allow-Methods") == methods, r
    assert counts(whisk) == (0, 0)
    # an OPTIONS that is not a preflight is the operation's
    r = gw.request("OPTIONS", "/copt/opt", [("Origin", "https://s.example")])
    assert r.status == 200 and counts(whisk) == (0, 1)


def test_wsk_preflight_unknown_path_404(gw, whisk):
    whisk.reset()
    r = gw.request("OPTIONS", "/wsk/nope", [
        ("Origin", "https://site.example"),
        ("Access-Control-Request-Method", "GET")])
    assert_error(r, 404, "Error: Not found.")
    assert counts(whisk) == (0, 0)


def test_wsk_actual_response_headers_replaced(gw, whisk):
    r = gw.request("GET", "/wsk/echo", [("Origin", "https://site.example")])
    assert r.status == 200
    # the stand-in's *, -Methods and -Headers are gone; one origin header
    assert cors_headers(r) == [("access-control-allow-origin", "*")]


def test_wsk_duplicate_backend_origin_replaced(gw, whisk):
    direct = harness.request(whisk.port, "GET",
                             "/api/v1/web/guest/default/cors.http")
    assert direct.header_all(ACAO) == ["*", "https://backend.example"]
    r = gw.request("GET", "/wsk/cors", [("Origin", "https://site.example")])
    assert r.status == 200 and r.json() == {"cors": "set by the action"}
    assert r.header_all(ACAO) == ["*"]
    assert cors_headers(r) == [("access-control-allow-origin", "*")]


# ---- x-apigw-cors with every field ----

def test_apigw_preflight_allowed_origin(gw, whisk):
    whisk.reset()
    r = gw.request("OPTIONS", "/ca/echo", [
        ("Origin", "https://app.example"),
        ("Access-Control-Request-Method", "POST"),
        ("Access-Control-Request-Headers", "X-Something-Else")])
    assert r.status == 200 and r.body == b""
    assert cors_headers(r) == sorted([
        ("access-control-allow-origin", "https://app.example"),
        ("access-control-allow-methods", "GET, POST"),
        ("access-control-allow-headers", "Content-Type, X-Api-Key"),
        ("access-control-allow-credentials", "true"),
        ("access-control-max-age", "600"),
        ("vary", "Origin")])
    r = gw.request("OPTIONS", "/ca/cors", [
        ("Origin", "https://admin.example:8443"),
        ("Access-Control-Request-Method", "GET")])
    assert r.status == 200
    assert r.header_all(ACAO) == ["https://admin.example:8443"]
    assert counts(whisk) == (0, 0)


@pytest.mark.parametrize("origin", ["https://evil.example",
                                    "https://app.example.evil.example",
                                    "http://app.example", "null"])
def test_apigw_preflight_disallowed_origin_403(gw, whisk, origin):
    whisk.reset()
    r = gw.request("OPTIONS", "/ca/echo", [
        ("Origin", origin), ("Access-Control-Request-Method", "GET")])
    assert_error(r, 403, "Error: Origin not allowed.")
    # no CORS headers; but the answer depends on Origin, so caches are told
    assert cors_headers(r) == [("vary", "Origin")]
    assert counts(whisk) == (0, 0)


@pytest.mark.parametrize("origin", [None, "https://evil.example"])
def test_vary_origin_also_without_an_allowed_origin(gw, whisk, origin):
    # a shared cache must not give this CORS-less copy to an allowed origin
    r = gw.request("GET", "/ca/echo", [("Origin", origin)] if origin else [])
    assert r.status == 200, r
    assert r.header_all(ACAO) == []
    assert "Origin" in r.header_all("Vary")


def test_apigw_actual_response_allowed_origin(gw, whisk):
    r = gw.request("GET", "/ca/cors", [("Origin", "https://app.example")])
    assert r.status == 200 and r.json() == {"cors": "set by the action"}
    assert cors_headers(r) == sorted([
        ("access-control-allow-origin", "https://app.example"),
        ("access-control-allow-credentials", "true"),
        ("access-control-expose-headers", "X-Request-ID, X-Total"),
        ("vary", "Origin")])


def test_apigw_actual_response_other_origin_gets_no_cors(gw, whisk):
    whisk.reset()
    for headers in ([("Origin", "https://evil.example")], []):
        r = gw.request("GET", "/ca/echo", headers)
        assert r.status == 200            # the backend answered...
        # ...but the browser gets no grant (and caches keep it apart)
        assert cors_headers(r) == [("vary", "Origin")]
    assert counts(whisk) == (2, 0)


# ---- x-apigw-cors: false ----

def test_cors_disabled_removes_backend_headers(gw, whisk):
    r = gw.request("GET", "/cf/cors", [("Origin", "https://app.example")])
    assert r.status == 200 and r.json() == {"cors": "set by the action"}
    assert cors_headers(r) == []
    r = gw.request("GET", "/cf/echo", [("Origin", "https://app.example")])
    assert r.status == 200 and cors_headers(r) == []


def test_cors_disabled_preflight_is_not_answered(gw, whisk):
    whisk.reset()
    r = gw.request("OPTIONS", "/cf/echo", [
        ("Origin", "https://app.example"),
        ("Access-Control-Request-Method", "GET")])
    assert_error(r, 405, "Error: Method not allowed.")
    assert r.header("Allow") == "GET, HEAD"
    assert cors_headers(r) == []
    assert counts(whisk) == (0, 0)


# ---- unset: the backend's headers pass through unchanged ----

def test_cors_unset_passes_backend_headers_through(gw, whisk):
    r = gw.request("GET", "/v3/cors", [("Origin", "https://app.example")])
    assert r.status == 200
    assert r.header_all(ACAO) == ["*", "https://backend.example"]
    assert r.header_all("Access-Control-Allow-Methods") == [STANDIN_METHODS]
    assert r.header_all("Access-Control-Allow-Headers") == [STANDIN_HEADERS]


def test_cors_unset_preflight_goes_nowhere(gw, whisk):
    whisk.reset()
    r = gw.request("OPTIONS", "/v3/echo", [
        ("Origin", "https://app.example"),
        ("Access-Control-Request-Method", "GET")])
    assert_error(r, 405, "Error: Method not allowed.")
    assert counts(whisk) == (0, 0)


def test_preflight_with_a_broken_body_is_a_400(gw, whisk):
    """A preflight discards its body; broken chunked framing is the
    client's error (400 JSON), not the gateway's."""
    whisk.reset()
    out = harness.raw_exchange(gw.port, (
        b"OPTIONS /wsk/echo HTTP/1.1\r\nHost: a\r\n"
        b"Origin: https://site.example\r\n"
        b"Access-Control-Request-Method: POST\r\n"
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\n"))
    assert out.startswith(b"HTTP/1.1 400 "), out
    assert b'"message":"Error: Bad request."' in out
    assert counts(whisk) == (0, 0)
