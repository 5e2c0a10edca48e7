"""Plain web actions without an OpenAPI document: /api/v1/web/... passed
through (apigw_web_actions) and vanity hosts (apigw_vanity_domain)."""

import hashlib
import json

import pytest

import harness
from apigw_checks import assert_error, gateway


@pytest.fixture(scope="module")
def gw(module_nginx_factory, whisk, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("webactions")
    oas = harness.render_spec("oas3.yaml", str(tmp), WHISK=whisk.url)
    return module_nginx_factory(gateway(
        "apigw_openwhisk_url %s; apigw_spec %s; apigw_web_actions on;"
        " apigw_vanity_domain example.net apps.test;" % (whisk.url, oas),
        extra_server="""
    location /off/ {
        apigw;
        apigw_openwhisk_url %s;
    }
    location /internal-only/ {
        internal;
        return 200 "internal secret";
    }""" % whisk.url)).start()


HELLO = {"greeting": "Hello, apigw!"}
OW_PATH = "/a/b%2Fc"   # %2F stays inside its segment


def test_passthrough_reaches_the_action(gw, whisk):
    r = gw.request("GET", "/api/v1/web/guest/default/echo.json?a=1&b=%20x")
    assert r.status == 200, r
    body = r.json()
    assert body["a"] == "1" and body["b"] == " x"
    assert body["__ow_method"] == "get"
    assert r.header("X-Request-ID")
    r = gw.request("GET", "/api/v1/web/guest/demo/hello.json?name=apigw")
    assert r.status == 200 and r.json() == HELLO


def test_backend_cannot_steer_nginx(gw, whisk):
    # X-Accel-Redirect would reach the server's internal locations,
    # X-Accel-Limit-Rate throttle the client: both ignored, and not sent
    for hdr in ({"X-Accel-Redirect": "/internal-only/x"},
                {"X-Accel-Limit-Rate": "1"}):
        r = gw.request("POST", "/api/v1/web/guest/default/respond.http",
                       [("Content-Type", "application/json")],
                       json.dumps({"result": {"statusCode": 200,
                                              "headers": hdr,
                                              "body": "the action's"}})
                       .encode())
        assert r.status == 200 and r.body == b"the action's", r
        assert not [k for k, _ in r.headers if k.lower().startswith("x-accel")]


def test_passthrough_keeps_the_path_and_method(gw, whisk):
    r = gw.request("POST", "/api/v1/web/guest/default/echo-http.http/a/b%2Fc",
                   [("Content-Type", "application/json")], b'{"k": 2}')
    assert r.status == 200, r
    body = r.json()
    assert body["__ow_method"] == "post"
    assert body["__ow_path"] == OW_PATH
    assert body["k"] == 2


def test_passthrough_is_normalised_before_it_leaves(gw, whisk):
    r = gw.request("GET", "/api/v1/web/guest/x/%2e%2e/default/./echo.json")
    assert r.status == 200, r
    assert r.json()["__ow_method"] == "get"
    # above the root is refused at the edge
    r = gw.request("GET", "/api/v1/web/../../../etc/passwd")
    assert r.status in (400, 404)
    assert r.header("Content-Type") == "application/json"


def test_apis_win_over_web_actions(gw, whisk):
    # /v3 is an API of the spec; /api/v1/web is only the fallback
    r = gw.request("GET", "/v3/nowhere")
    assert_error(r, 404, "Error: Not found.")


def test_short_web_paths_are_not_web_actions(gw, whisk):
    whisk.reset()
    assert_error(gw.request("GET", "/api/v1/web"), 404, "Error: Not found.")
    assert_error(gw.request("GET", "/api/v1/webx/guest/default/echo.json"),
                 404, "Error: Not found.")
    assert whisk.calls() == 0


def test_web_actions_are_off_by_default(gw, whisk):
    whisk.reset()
    r = gw.request("GET", "/off/api/v1/web/guest/default/echo.json")
    assert_error(r, 404, "Error: Not found.")
    assert whisk.calls() == 0


def test_unknown_action_is_the_backends_answer(gw, whisk):
    r = gw.request("GET", "/api/v1/web/guest/default/nope.json")
    assert r.status == 404
    assert r.json()["error"] == "The requested resource does not exist."


# ---- vanity hosts ----

def test_vanity_host_maps_to_the_namespace(gw, whisk):
    r = gw.request("GET", "/default/echo.json?q=1",
                   [("Host", "guest.example.net")])
    assert r.status == 200, r
    assert r.json()["q"] == "1"
    r = gw.request("GET", "/default/echo.json",
                   [("Host", "GUEST.apps.test:8443")])
    assert r.status == 200, r


def test_vanity_root_is_the_public_index(gw, whisk):
    r = gw.request("GET", "/", [("Host", "guest.example.net")])
    assert r.status == 200, r
    assert r.header("Content-Type").startswith("text/html")
    assert b"guest's home page" in r.body


def test_vanity_path_stays_in_its_namespace(gw, whisk):
    r = gw.request("GET", "/x/../public/index.html",
                   [("Host", "guest.example.net")])
    assert r.status == 200 and b"home page" in r.body
    r = gw.request("GET", "/../other/default/echo.json",
                   [("Host", "guest.example.net")])
    assert r.status == 400
    assert r.header("Content-Type") == "application/json"


def test_vanity_needs_one_label_of_the_edge_charset(gw, whisk):
    whisk.reset()
    for host in ("a.guest.example.net", "gu_est.example.net",
                 "example.net", "guest.example.org"):
        r = gw.request("GET", "/default/echo.json", [("Host", host)])
        assert_error(r, 404, "Error: Not found.")
    assert whisk.calls() == 0


def test_vanity_binary_cookies_redirect_head(gw, whisk):
    host = [("Host", "guest.example.net")]
    r = gw.request("GET", "/default/image.http", host)
    assert r.status == 200 and r.header("Content-Type") == "image/png"
    assert r.body[:8] == b"\x89PNG\r\n\x1a\n"
    png = r.body
    r = gw.request("GET", "/api/v1/web/guest/default/image.http")
    assert hashlib.sha256(r.body).digest() == hashlib.sha256(png).digest()

    r = gw.request("GET", "/default/cookies.http", host)
    assert r.status == 200
    assert sorted(r.header_all("Set-Cookie")) == [
        "session=abc123; Path=/; HttpOnly", "theme=dark; Path=/"]

    r = gw.request("GET", "/default/redirect.http?location=/elsewhere", host)
    assert r.status == 302 and r.header("Location") == "/elsewhere"

    r = gw.request("HEAD", "/public/index.html", host)
    assert r.status == 200 and r.body == b""
    assert r.header("Content-Type").startswith("text/html")


def test_config_needs_the_openwhisk_url(nginx_factory):
    n = nginx_factory(gateway("apigw_web_actions on;"))
    rc, out = n.test()
    assert rc != 0
    assert "need \"apigw_openwhisk_url\"" in out
    n = nginx_factory(gateway("apigw_openwhisk_url http://127.0.0.1:1;"
                              " apigw_vanity_domain *.example.net;"))
    rc, out = n.test()
    assert rc != 0 and "invalid vanity domain" in out
