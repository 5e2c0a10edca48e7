"""Management API (openwhisk-apigateway compatible v2, apigw's own
resources) on the embedded store, and live reconfiguration of the data
plane under /api/{tenant}/{basePath}."""

import base64
import hashlib
import json
import os
import signal
import subprocess
import threading
import time
import types

import pytest

import harness

from admin_gw import (TOKEN, Gateway, new_store_dir, operation_id,
                      wsk_add_endpoint, wsk_remove_endpoint, wsk_swagger)

UA = "OpenWhisk-apimgmt/1.0.0 (wsk test)"
SPACE = "779c46b1-dd1c-4b31-a1d2-e34d4b2f7f4e"


@pytest.fixture(scope="module")
def gw(module_nginx_factory):
    d = new_store_dir()
    return Gateway(module_nginx_factory, d, workers=2).start()


def err(r, status, message=None):
    assert r.status == status, r
    assert r.header("Content-Type") == "application/json", r
    body = r.json()
    assert body["status"] == status, r
    assert body["message"].startswith("Error: "), r
    assert body["request_id"] == r.header("X-Request-ID"), r
    if message is not None:
        assert body["message"] == "Error: " + message, r
    return body


def simple_doc(whisk, base, title="T", paths=("/hello",), action="echo-http"):
    doc = wsk_swagger(whisk.url, base, title)
    for p in paths:
        wsk_add_endpoint(doc, whisk.url, p, "get", action)
    return doc


# ---- the OpenWhisk flow (reference 4.2 - 4.5) ----

def apimgmt(gw, method, target, body=None):
    return gw.admin(method, target, body,
                    headers=[("Accept", "application/json"),
                             ("User-Agent", UA)])


def test_openwhisk_flow(gw, whisk):
    base = "/api/%s/club" % SPACE
    # createApi step 2: does /club exist?
    r = apimgmt(gw, "GET", "/v2/%s/apis?limit=undefined&skip=undefined"
                "&basePath=%%2Fclub" % SPACE)
    assert r.status == 200 and r.json() == []

    # steps 3-6: the base document + the endpoint, POSTed
    doc = wsk_swagger(whisk.url, "/club", "Book Club")
    wsk_add_endpoint(doc, whisk.url, "/books/{isbn}", "get", "echo-http")
    r = apimgmt(gw, "POST", "/v2/%s/apis" % SPACE, doc)
    assert r.status == 200 and r.body.strip(), r
    created = r.json()
    assert set(created) == {"artifact_id", "managed_url", "open_api_doc"}
    assert created["open_api_doc"] == doc
    assert created["managed_url"] == \
        "http://127.0.0.1:%d%s" % (gw.port, base)
    api_id = created["artifact_id"]

    # the managed URL reaches the web action with __ow_path
    whisk.reset()
    r = gw.wait_status("GET", base + "/books/978-3?q=a", 200)
    assert r.status == 200, r
    body = r.json()
    assert body["__ow_path"] == "/club/books/978-3"
    assert body["__ow_method"] == "get" and body["q"] == "a"
    assert whisk.last()["path"] == \
        "/api/v1/web/guest/default/echo-http.http/club/books/978-3"

    # a second operation: GET finds the API, PUT the document back
    r = apimgmt(gw, "GET", "/v2/%s/apis?limit=undefined&skip=undefined"
                "&basePath=%%2Fclub" % SPACE)
    found = r.json()
    assert len(found) == 1 and found[0]["artifact_id"] == api_id
    doc = found[0]["open_api_doc"]
    # a require-whisk-auth action: set-variable X-Require-Whisk-Auth
    wsk_add_endpoint(doc, whisk.url, "/books/{isbn}", "put", "echo-http",
                     secure_key=1234567)
    r = apimgmt(gw, "PUT", "/v2/%s/apis/%s" % (SPACE, api_id), doc)
    assert r.status == 200 and r.json()["artifact_id"] == api_id
    r = gw.wait_status("PUT", base + "/books/1", 200, body=b'{"a":1}',
                       headers=[("Content-Type", "application/json")])
    assert r.json()["__ow_method"] == "put" and r.json()["a"] == 1
    assert r.json()["__ow_path"] == "/club/books/1"
    hdrs = {k.lower(): v for k, v in whisk.last()["headers"]}
    assert hdrs["x-require-whisk-auth"] == "1234567"

    # deleteApi with relpath + operation: remove it, PUT back
    doc = apimgmt(gw, "GET", "/v2/%s/apis/%s" % (SPACE, api_id)) \
        .json()["open_api_doc"]
    wsk_remove_endpoint(doc, "/books/{isbn}", "get")
    r = apimgmt(gw, "PUT", "/v2/%s/apis/%s" % (SPACE, api_id), doc)
    assert r.status == 200
    r = gw.wait_status("GET", base + "/books/1", 405)
    assert r.status == 405 and r.header("Allow") == "PUT"
    assert gw.get(base + "/books/1").status == 405

    # deleteApi of the whole API
    r = apimgmt(gw, "DELETE", "/v2/%s/apis/%s" % (SPACE, api_id))
    assert r.status == 204 and r.body == b""
    r = gw.wait_status("PUT", base + "/books/1", 404)
    assert r.status == 404
    err(apimgmt(gw, "DELETE", "/v2/%s/apis/%s" % (SPACE, api_id)), 404,
        "Unknown API id %s" % api_id)
    assert apimgmt(gw, "GET", "/v2/%s/apis" % SPACE).json() == []


def test_operation_id_rule():
    assert operation_id("get", "/books/{isbn}") == "getBooksIsbn"


# ---- /v2/{tenant}/apis ----

def test_v2_crud_filters_paging(gw, whisk):
    t = "tenant-crud"
    ids = []
    for i in range(5):
        r = gw.admin("POST", "/v2/%s/apis" % t,
                     simple_doc(whisk, "/b%d" % i, "Title%d" % (i % 2)))
        assert r.status == 200, r
        ids.append(r.json()["artifact_id"])
    assert len(set(ids)) == 5

    def lst(q=""):
        r = gw.admin("GET", "/v2/%s/apis%s" % (t, q))
        assert r.status == 200, r
        return [a["artifact_id"] for a in r.json()]

    assert lst() == ids
    assert lst("?basePath=/b3") == [ids[3]]
    assert lst("?basePath=%2Fb3") == [ids[3]]
    assert lst("?filter[where][basePath]=/b2") == [ids[2]]
    assert lst("?basePath=/b3/") == []
    assert lst("?title=Title1") == [ids[1], ids[3]]
    assert lst("?filter%5Bwhere%5D%5Bname%5D=Title0") == [ids[0], ids[2],
                                                         ids[4]]
    assert lst("?title=Title1&basePath=/b1") == [ids[1]]
    assert lst("?title=Title1&basePath=/b2") == []
    # paging: undefined = absent; skip = items to skip
    assert lst("?limit=undefined&skip=undefined") == ids
    assert lst("?limit=2&skip=0") == ids[:2]
    assert lst("?limit=2&skip=3") == ids[3:5]
    assert lst("?skip=4") == ids[4:]
    assert lst("?limit=0") == []
    assert lst("?limit=abc") == []
    assert lst("?limit=undefined&skip=1") == []
    assert lst("?limit=2&skip=-3") == ids[:2]
    assert lst("?limit=2&skip=x") == ids[:2]

    r = gw.admin("GET", "/v2/%s/apis/%s" % (t, ids[0]))
    assert r.status == 200 and r.json()["artifact_id"] == ids[0]
    assert r.json()["open_api_doc"]["basePath"] == "/b0"
    r = gw.admin("GET", "/v2/%s/apis/%s/openapi" % (t, ids[0]))
    assert r.status == 200 and r.json()["basePath"] == "/b0"
    err(gw.admin("GET", "/v2/%s/apis/nope" % t), 404, "Unknown api id nope")
    err(gw.admin("PUT", "/v2/%s/apis/nope" % t, simple_doc(whisk, "/z")),
        404, "Unknown API id nope")

    # another tenant sees none of them and cannot touch them
    assert gw.admin("GET", "/v2/other/apis").json() == []
    err(gw.admin("GET", "/v2/other/apis/%s" % ids[0]), 404)
    err(gw.admin("DELETE", "/v2/other/apis/%s" % ids[0]), 404)
    err(gw.admin("PUT", "/v2/other/apis/%s" % ids[0],
                 simple_doc(whisk, "/b0")), 404)

    for i in ids:
        assert gw.admin("DELETE", "/v2/%s/apis/%s" % (t, i)).status == 204
    assert lst() == []


def test_v2_base_path_and_title_not_cut(gw, whisk):
    # cut, a long basePath would be another API's (or no API's) URL
    err(gw.admin("POST", "/v2/tenant-long/apis",
                 simple_doc(whisk, "/" + "b" * 1100)), 400,
        "basePath may have at most 1023 and the title at most 511 "
        "characters.")
    err(gw.admin("POST", "/v2/tenant-long/apis",
                 simple_doc(whisk, "/short", title="t" * 600)), 400)
    assert gw.admin("POST", "/v2/tenant-long/apis",
                    simple_doc(whisk, "/" + "b" * 1000)).status == 200
    # ... and limited: its counters are named by a hash of the base path
    doc = simple_doc(whisk, "/" + "c" * 1000, paths=("/h/{id}",))
    doc["x-gateway-rate-limit"] = [{"rate": 1000, "unit": "minute"}]
    assert gw.admin("POST", "/v2/tenant-long/apis", doc).status == 200
    r = gw.wait_status("GET", "/api/tenant-long/%s/h/1" % ("c" * 1000), 200)
    assert r.status == 200, r
    assert r.header("RateLimit-Policy").startswith("1000;w=60")


def test_rate_limit_defaults_apply_to_managed_apis(module_nginx_factory,
                                                  whisk):
    """apigw_rate_limit is the default of every operation without limits
    of its own, managed APIs' too; a global limit on a gateway without
    apigw_limit_redis is refused as `nginx -t` refuses it in a spec"""
    g = Gateway(module_nginx_factory, new_store_dir(), workers=2,
                extra_http="apigw_rate_limit rate=3r/h burst=2 "
                           "key=address;").start()
    t = "tenant-dflt"
    r = g.admin("POST", "/v2/%s/apis" % t, simple_doc(whisk, "/d"))
    assert r.status == 200, r
    own = simple_doc(whisk, "/own", paths=("/hello", "/other"))
    own["paths"]["/hello"]["get"]["x-apigw-rate-limit"] = {
        "rate": 1, "per": "hour", "burst": 0}
    assert g.admin("POST", "/v2/%s/apis" % t, own).status == 200
    # every worker has both once the own limit refuses
    g.wait_status("GET", "/api/%s/own/hello" % t, 429)
    got = [g.get("/api/%s/d/hello" % t) for _ in range(4)]
    assert [x.status for x in got] == [200, 200, 200, 429], got
    assert got[0].header("RateLimit-Policy") == "3;w=3600;burst=2"
    assert got[3].json()["message"] == "Error: Rate limit exceeded"
    # an operation with limits of its own has only those; its API's
    # other operations get the defaults
    r = g.get("/api/%s/own/hello" % t)
    assert r.header("RateLimit-Policy") == "1;w=3600;burst=0", r
    r = g.get("/api/%s/own/other" % t)
    assert r.status == 200 and r.header("RateLimit-Policy") == \
        "3;w=3600;burst=2"

    doc = simple_doc(whisk, "/red")
    doc["paths"]["/hello"]["get"]["x-apigw-rate-limit"] = {
        "rate": 5, "per": "minute", "store": "redis"}
    r = g.admin("POST", "/v2/%s/apis" % t, doc)
    err(r, 400)
    assert "apigw_limit_redis" in r.json()["message"]
    assert r.json()["errors"][0]["pointer"] == "/paths/~1hello/get"


def test_v2_duplicate_base_path_409(gw, whisk):
    t = "tenant-dup"
    r = gw.admin("POST", "/v2/%s/apis" % t, simple_doc(whisk, "/dup"))
    assert r.status == 200
    a = r.json()["artifact_id"]
    err(gw.admin("POST", "/v2/%s/apis" % t, simple_doc(whisk, "/dup/")),
        409, "basePath not unique for given tenant.")
    r = gw.admin("POST", "/v2/%s/apis" % t, simple_doc(whisk, "/other"))
    b = r.json()["artifact_id"]
    err(gw.admin("PUT", "/v2/%s/apis/%s" % (t, b), simple_doc(whisk, "/dup")),
        409)
    # PUT of the API itself with its own basePath is fine
    assert gw.admin("PUT", "/v2/%s/apis/%s" % (t, a),
                    simple_doc(whisk, "/dup")).status == 200
    # another tenant may use it
    assert gw.admin("POST", "/v2/t-dup-2/apis",
                    simple_doc(whisk, "/dup")).status == 200


def test_v2_bad_documents_400(gw, whisk):
    t = "tenant-bad"
    err(gw.admin("POST", "/v2/%s/apis" % t), 400, "Missing request body")
    b = err(gw.admin("POST", "/v2/%s/apis" % t, raw=b'{"swagger": "2.0",',
                     headers=[("Content-Type", "application/json")]), 400)
    assert b["errors"]
    doc = simple_doc(whisk, "/bad")
    doc["paths"]["/x"] = {"get": {"responses": 5}}
    doc["x-ibm-configuration"]["assembly"]["execute"][0][
        "operation-switch"]["case"].append(
        {"operations": ["nope"], "execute": [{"invoke": {}}]})
    b = err(gw.admin("POST", "/v2/%s/apis" % t, doc), 400)
    pointers = [e["pointer"] for e in b["errors"]]
    assert len(b["errors"]) >= 2, b
    assert all(p.startswith("/") for p in pointers), b
    # YAML is accepted; the stored document is its JSON form
    yaml_doc = ("swagger: '2.0'\ninfo: {title: Y, version: '1'}\n"
                "basePath: /yaml\npaths:\n  /a:\n    get:\n"
                "      responses: {default: {description: ok}}\n"
                "      x-openwhisk:\n        url: %s/api/v1/web/guest/"
                "default/echo-http.http\n        namespace: guest\n"
                "        action: echo-http\n" % whisk.url)
    r = gw.admin("POST", "/v2/%s/apis" % t, raw=yaml_doc.encode(),
                 headers=[("Content-Type", "application/yaml")])
    assert r.status == 200, r
    assert r.json()["open_api_doc"]["basePath"] == "/yaml"
    r = gw.wait_status("GET", "/api/%s/yaml/a" % t, 200)
    assert r.json()["__ow_method"] == "get"
    # an unresolvable backend host is a 400, not a broken route
    doc = simple_doc(whisk, "/nohost")
    doc["x-ibm-configuration"]["assembly"]["execute"][0][
        "operation-switch"]["case"][0]["execute"][0]["invoke"][
        "target-url"] = "http://no-such-host.invalid/x"
    err(gw.admin("POST", "/v2/%s/apis" % t, doc), 400)


def test_broken_body_framing_is_the_clients_error(gw):
    """Errors nginx answers in admin locations are JSON that says what
    went wrong: a GET's broken chunked body is a 400, not a 500."""
    for target in ("/v2/t/apis", "/metrics"):
        out = harness.raw_exchange(gw.aport, (
            "GET %s HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\n"
            "Transfer-Encoding: chunked\r\n\r\nzz\r\n"
            % (target, TOKEN)).encode())
        head, _, body = out.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 "), out
        b = json.loads(body)
        assert b["status"] == 400 and b["message"] == "Error: Bad request."
    out = harness.raw_exchange(gw.aport, (
        "GET /v2/t/apis HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s"
        "\r\nTransfer-Encoding: gzip\r\n\r\n" % TOKEN).encode())
    assert out.startswith(b"HTTP/1.1 501 "), out
    assert b'"message":"Error: Request failed."' in out


def test_v2_errors(gw):
    err(gw.admin("GET", "/v2/bad%20tenant/apis"), 400)
    err(gw.admin("GET", "/nothing"), 404)
    err(gw.admin("GET", "/v2/t/unknown"), 404)
    err(gw.admin("PATCH", "/v2/t/apis", raw=b"{}"), 405)
    err(gw.admin("GET", "/v2/t/apis/%zz"), 400)
    # authentication
    err(gw.admin("GET", "/v2/t/apis", token=None), 401, "Unauthorized")
    r = gw.admin("GET", "/v2/t/apis", token="wrong")
    err(r, 401)
    assert r.header("WWW-Authenticate").startswith("Bearer")
    assert gw.admin("GET", "/v2/t/apis", token="second-token").status == 200
    # the token itself is not Basic credentials ...
    r = gw.admin("GET", "/v2/t/apis", token=None,
                 headers=[("Authorization", "Basic " + TOKEN)])
    err(r, 401)
    # ... but v1 callers' Basic user:password pass with a token as password
    for cred, status in (("gwUser:" + TOKEN, 200), ("gwUser:wrong", 401),
                         (TOKEN + ":x", 401), ("gwUser", 401)):
        r = gw.admin("GET", "/v2/t/apis", token=None, headers=[
            ("Authorization", "Basic " + base64.b64encode(
                cred.encode()).decode())])
        assert r.status == status, (cred, r)
    # load balancers' health checks need no token; the rest does
    for target in ("/health", "/v1/health-check"):
        assert gw.admin("GET", target, token=None).status == 200
        err(gw.admin("POST", target, token=None), 401)
    err(gw.admin("GET", "/v1/apis", token=None), 401)
    err(gw.admin("GET", "/metrics", token=None), 401)


def test_writes_with_a_debug_log(nginx_factory, whisk):
    """nginx's debug log reads the "fd" of every timer's data: apigw's own
    timers (the thread hold timer of a write) must have some."""
    d = new_store_dir()
    g = Gateway(nginx_factory, d, extra_main="error_log %s/debug.log debug;"
                % d).start()
    for i in range(3):
        assert g.admin("POST", "/v2/dbg/apis",
                       simple_doc(whisk, "/dbg%d" % i)).status == 200
    assert g.wait_status("GET", "/api/dbg/dbg2/hello", 200).status == 200
    assert "exited on signal" not in g.nginx.log()


def test_closed_without_tokens(module_nginx_factory):
    """No apigw_admin_token_file: closed (but for the health checks)."""
    g = Gateway(module_nginx_factory, new_store_dir(), token=None).start()
    for target in ("/v2/t/apis", "/v1/apis", "/metrics"):
        err(g.admin("GET", target, token=None), 401)
        err(g.admin("GET", target, token="anything"), 401)
    assert g.admin("GET", "/health", token=None).status == 200
    rc, out = g.nginx.test()
    assert rc == 0 and "refuses every request but the health checks" in out


def test_body_limits_413(module_nginx_factory):
    g = Gateway(module_nginx_factory, new_store_dir(), token=False,
                admin_extra="apigw_admin_max_body 1k;").start()
    big = b'{"swagger":"2.0","x":"' + b"a" * 4096 + b'"}'
    r = g.admin("POST", "/v2/t/apis", raw=big, token=None,
                headers=[("Content-Type", "application/json")])
    err(r, 413)
    r = g.admin("POST", "/v2/t/apis", raw=big, token=None, chunked=True,
                headers=[("Content-Type", "application/json")])
    assert r.status == 413 and r.json()["status"] == 413, r


# ---- subscriptions ----

def test_v2_subscriptions(gw, whisk):
    t = "tenant-subs"
    api = gw.admin("POST", "/v2/%s/apis" % t,
                   simple_doc(whisk, "/subs")).json()["artifact_id"]
    r = gw.admin("POST", "/v2/%s/subscriptions" % t,
                 {"client_id": "c1", "artifact_id": api,
                  "client_secret": "s3cret"})
    assert r.status == 200
    assert r.json() == {"message": "Subscription 'c1' created for API '%s'"
                        % api}
    r = gw.admin("PUT", "/v2/%s/subscriptions" % t,
                 {"client_id": "c2", "artifact_id": api})
    assert r.status == 200
    # without a secret the client id is an API key: listed by its
    # fingerprint, deleted by it or by the key
    fp = "key-" + hashlib.sha256(b"c2").hexdigest()[:16]
    for k in ("key-of-c4-0123456789", "key-of-c5-0123456789"):
        r = gw.admin("POST", "/v2/%s/subscriptions" % t,
                     {"client_id": k, "artifact_id": api})
        assert r.status == 200
    # a secret that is not a string must not make an id a key
    for bad in (12345, None, True, ""):
        err(gw.admin("POST", "/v2/%s/subscriptions" % t,
                     {"client_id": "c3", "artifact_id": api,
                      "client_secret": bad}), 400,
            '"client_secret" must be a non-empty string.')
    fps = ["key-" + hashlib.sha256(k).hexdigest()[:16]
           for k in (b"key-of-c4-0123456789", b"key-of-c5-0123456789")]
    r = gw.admin("GET", "/v2/%s/subscriptions?artifact_id=%s" % (t, api))
    assert r.status == 200 and sorted(r.json()) == sorted(["c1", fp] + fps)
    r = gw.admin("DELETE", "/v2/%s/subscriptions/key-of-c4-0123456789"
                 "?artifact_id=%s" % (t, api))
    assert r.status == 204, r
    r = gw.admin("DELETE", "/v2/%s/subscriptions/%s?artifact_id=%s"
                 % (t, fps[1], api))
    assert r.status == 204, r
    r = gw.admin("GET", "/v2/%s/subscriptions?artifact_id=%s" % (t, api))
    assert r.status == 200 and sorted(r.json()) == sorted(["c1", fp])
    err(gw.admin("GET", "/v2/%s/subscriptions" % t), 400,
        "Missing artifact_id")
    err(gw.admin("POST", "/v2/%s/subscriptions" % t, {"artifact_id": api}),
        400, '"client_id" missing from request body.')
    err(gw.admin("POST", "/v2/%s/subscriptions" % t, {"client_id": "x"}),
        400, '"artifact_id" missing from request body.')
    err(gw.admin("POST", "/v2/%s/subscriptions" % t,
                 {"client_id": "x", "artifact_id": "nope"}), 404)
    err(gw.admin("DELETE", "/v2/%s/subscriptions/c1" % t), 400,
        "Missing artifact_id")
    err(gw.admin("DELETE", "/v2/%s/subscriptions/zz?artifact_id=%s"
                 % (t, api)), 404, "Subscription doesn't exist")
    r = gw.admin("DELETE", "/v2/%s/subscriptions/c1?artifact_id=%s"
                 % (t, api))
    assert r.status == 204
    r = gw.admin("GET", "/v2/%s/subscriptions?artifact_id=%s" % (t, api))
    assert r.json() == [fp]
    # neither the secret nor a subscribed key is stored in clear
    with open(os.path.join(gw.store_dir, "store.json.journal")) as f:
        journal = f.read()
    assert "s3cret" not in journal
    assert "key-of-c" not in journal
    assert '"secret_sha256"' in journal and '"key_sha256"' in journal
    # nor logged: the key in the path of a DELETE is hidden
    with open(os.path.join(gw.nginx.dir, "access.log")) as f:
        access = f.read()
    assert "key-of-c4" not in access
    assert "/subscriptions/***?artifact_id=" in access


# ---- API keys ----

def test_keys(gw, whisk):
    t = "tenant-keys"
    api = gw.admin("POST", "/v2/%s/apis" % t,
                   simple_doc(whisk, "/keys")).json()["artifact_id"]
    r = gw.admin("POST", "/v2/%s/keys" % t, {"consumer": "alice"})
    assert r.status == 201, r
    k1 = r.json()
    assert k1["key"].startswith(k1["prefix"]) and len(k1["key"]) > 30
    assert k1["consumer"] == "alice" and k1["revoked"] is False
    assert "sha256" not in k1
    r = gw.admin("POST", "/v2/%s/keys" % t,
                 {"consumer": "bob", "api_id": api, "operation": "getHello"})
    k2 = r.json()
    assert r.status == 201 and k2["api_id"] == api
    err(gw.admin("POST", "/v2/%s/keys" % t, {}), 400)
    err(gw.admin("POST", "/v2/%s/keys" % t, {"consumer": "c" * 257}), 400,
        '"consumer" is longer than 256 bytes.')
    err(gw.admin("POST", "/v2/%s/keys" % t,
                 {"consumer": "x", "api_id": "nope"}), 404)
    err(gw.admin("POST", "/v2/%s/keys" % t,
                 {"consumer": "x", "operation": "getHello"}), 400)
    # an operation the API does not have: the key could never be used
    err(gw.admin("POST", "/v2/%s/keys" % t,
                 {"consumer": "x", "api_id": api, "operation": "getNope"}),
        400, 'API %s has no operation "getNope" (its operationId, or '
             'METHOD /path).' % api)

    lst = gw.admin("GET", "/v2/%s/keys" % t).json()
    assert [k["id"] for k in lst] == [k1["id"], k2["id"]]
    assert all("key" not in k and "sha256" not in k for k in lst)
    lst = gw.admin("GET", "/v2/%s/keys?api_id=%s" % (t, api)).json()
    assert [k["id"] for k in lst] == [k2["id"]]
    assert gw.admin("GET", "/v2/other/keys").json() == []
    err(gw.admin("GET", "/v2/other/keys/%s" % k1["id"]), 404)

    r = gw.admin("POST", "/v2/%s/keys/%s/revoke" % (t, k1["id"]))
    assert r.status == 200 and r.json()["revoked"] is True
    r = gw.admin("GET", "/v2/%s/keys/%s" % (t, k1["id"]))
    assert r.json()["revoked"] is True and "key" not in r.json()
    assert gw.admin("DELETE", "/v2/%s/keys/%s" % (t, k2["id"])).status == 204
    err(gw.admin("GET", "/v2/%s/keys/%s" % (t, k2["id"])), 404)

    # stored as a SHA-256 hash only
    with open(os.path.join(gw.store_dir, "store.json.journal")) as f:
        journal = f.read()
    assert k1["key"] not in journal and k2["key"] not in journal
    assert hashlib.sha256(k1["key"].encode()).hexdigest() in journal


# ---- tenants and domains, health ----

def test_tenant_domains(gw, whisk):
    r = gw.admin("PUT", "/v2/tenant-dom",
                 {"domains": ["API.Example.com", "www.example.com"]})
    assert r.status == 200, r
    assert r.json()["domains"] == ["api.example.com", "www.example.com"]
    assert gw.admin("GET", "/v2/tenant-dom").json()["domains"] == \
        ["api.example.com", "www.example.com"]
    err(gw.admin("PUT", "/v2/tenant-dom2", {"domains": ["api.example.com"]}),
        409)
    err(gw.admin("PUT", "/v2/tenant-dom2", {"domains": ["bad domain"]}), 400)
    err(gw.admin("PUT", "/v2/tenant-dom2", {"domains": "x"}), 400)
    err(gw.admin("GET", "/v2/tenant-none"), 404)
    # POST of an API creates its tenant
    gw.admin("POST", "/v2/tenant-dom3/apis", simple_doc(whisk, "/d"))
    assert gw.admin("GET", "/v2/tenant-dom3").json()["namespace"] == \
        "tenant-dom3"
    assert gw.admin("DELETE", "/v2/tenant-dom3").status == 204
    assert gw.admin("GET", "/v2/tenant-dom3/apis").json() == []


def test_health(gw):
    r = gw.admin("GET", "/health")
    assert r.status == 200 and r.json()["status"] == "ok"
    assert r.json()["version"] >= 0
    r = gw.admin("GET", "/v1/health-check")
    assert r.status == 200 and r.body == b"Status: Gateway ready.\n"


# ---- methods: Allow on a 405, OPTIONS, HEAD ----

def raw_head(gw, target, token=TOKEN):
    """HEAD over a raw connection: status, headers (lower-case names) and
    the bytes that came after the headers, until the server closed."""
    auth = "Authorization: Bearer %s\r\n" % token if token else ""
    out = harness.raw_exchange(gw.aport, (
        "HEAD %s HTTP/1.1\r\nHost: a\r\n%sConnection: close\r\n\r\n"
        % (target, auth)).encode())
    head, _, rest = out.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return int(lines[0].split(" ")[1]), headers, rest


def assert_head_is_get(gw, target):
    g = gw.admin("GET", target)
    status, h, rest = raw_head(gw, target)
    assert status == g.status, (target, status, g)
    assert rest == b"", (target, rest)
    assert h.get("content-type") == g.header("Content-Type"), (target, h)
    assert int(h["content-length"]) == len(g.body), (target, h, g)
    assert h.get("allow") == g.header("Allow"), (target, h, g)
    assert len(h["x-request-id"]) == 32
    return g


def test_405_allow_options_head(gw, whisk):
    t = "tenant-allow"
    r = gw.admin("POST", "/v2/%s/apis" % t, simple_doc(whisk, "/allow"))
    assert r.status == 200, r
    api = "/v2/%s/apis/%s" % (t, r.json()["artifact_id"])
    r = gw.admin("POST", "/v2/%s/keys" % t, {"consumer": "alice"})
    assert r.status == 201, r
    key = "/v2/%s/keys/%s" % (t, r.json()["id"])
    r = gw.admin("PUT", "/v2/%s/domains/api.allow.example" % t)
    assert r.status == 200, r
    dom = "/v2/%s/domains/api.allow.example" % t

    gs, gsp, gp, gpd = ("GET, HEAD, OPTIONS", "GET, HEAD, POST, OPTIONS",
                        "GET, HEAD, PUT, DELETE, OPTIONS",
                        "GET, HEAD, POST, PUT, OPTIONS")
    for method, target, allow in [
            ("PATCH", "/v2/%s/apis" % t, gsp),
            ("DELETE", "/v2/%s/apis" % t, gsp),
            ("FOO", "/v2/%s/apis" % t, gsp),
            ("POST", api, gp),
            ("PUT", api + "/openapi", gs),
            ("PUT", "/v2/%s/subscriptions/c1" % t, "DELETE, OPTIONS"),
            ("PATCH", "/v2/%s/subscriptions" % t, gpd),
            ("PUT", "/v2/%s/keys" % t, "GET, HEAD, POST, OPTIONS"),
            ("PUT", key, "GET, HEAD, DELETE, OPTIONS"),
            ("GET", key + "/revoke", "POST, OPTIONS"),
            ("POST", "/v2/%s" % t, gp),
            ("POST", "/v2/%s/domains" % t, gs),
            ("POST", dom, gp),
            ("POST", dom + "/certificate", gp),
            ("POST", "/v2/%s/webactions" % t, gs),
            ("POST", "/v2/%s/webactions/ns/pkg/act" % t, gp),
            ("POST", "/health", gs),
            ("DELETE", "/metrics", gs),
            ("DELETE", "/v1/health-check", gs)]:
        r = gw.admin(method, target)
        err(r, 405, "Invalid verb.")
        assert r.header_all("Allow") == [allow], (method, target, r)
        # OPTIONS: the same methods, 204
        r = gw.admin("OPTIONS", target)
        assert r.status == 204 and r.body == b"", (target, r)
        assert r.header_all("Allow") == [allow], (target, r)
        assert r.header("Content-Type") is None, (target, r)

    # the method a 405 is for: the answer of a HEAD, without the body
    status, h, rest = raw_head(gw, key + "/revoke")
    assert status == 405 and rest == b"" and h["allow"] == "POST, OPTIONS"
    assert gw.admin("GET", key).json()["revoked"] is False

    # no Allow but there; OPTIONS of a path that is not there: 404
    assert gw.admin("GET", api).header("Allow") is None
    assert gw.admin("GET", "/v2/%s/keys/nope" % t).header("Allow") is None
    err(gw.admin("OPTIONS", "/nothing"), 404)
    err(gw.admin("OPTIONS", "/v2/%s/keys/nope" % t), 404)
    # the token first
    r = gw.admin("OPTIONS", "/v2/%s/apis" % t, token=None)
    err(r, 401)
    assert r.header("Allow") is None

    # HEAD: the GET's status and headers, no body
    for target in ["/v2/%s/apis" % t, "/v2/%s/apis?limit=1" % t, api,
                   api + "/openapi", "/v2/%s/apis/nope" % t,
                   "/v2/%s/subscriptions?artifact_id=x" % t,
                   "/v2/%s/keys" % t, key, "/v2/%s" % t,
                   "/v2/%s/domains" % t, dom, "/v2/%s/webactions" % t,
                   "/health", "/v1/health-check", "/nothing"]:
        assert_head_is_get(gw, target)
    status, h, rest = raw_head(gw, "/metrics")   # its text changes
    assert status == 200 and rest == b"" and int(h["content-length"]) > 0
    assert assert_head_is_get(gw, api).status == 200
    status, h, rest = raw_head(gw, api, token=None)
    assert status == 401 and rest == b"", (status, h)


# ---- persistence and concurrency ----

def test_persistence_restart_and_reload(nginx_factory, whisk):
    d = new_store_dir()
    g = Gateway(nginx_factory, d).start()
    doc = simple_doc(whisk, "/keep", paths=("/a",))
    api = g.admin("POST", "/v2/p/apis", doc).json()["artifact_id"]
    g.admin("POST", "/v2/p/keys", {"consumer": "c"})
    assert g.wait_status("GET", "/api/p/keep/a", 200).status == 200

    # reload: SIGHUP to the master (what `nginx -s reload` sends)
    os.kill(g.nginx.proc.pid, signal.SIGHUP)
    time.sleep(0.5)
    assert "reconfiguring" in g.nginx.log()
    r = g.wait_status("GET", "/api/p/keep/a", 200)
    assert r.status == 200
    doc2 = simple_doc(whisk, "/keep", paths=("/a", "/b"))
    assert g.admin("PUT", "/v2/p/apis/%s" % api, doc2).status == 200
    assert g.wait_status("GET", "/api/p/keep/b", 200).status == 200

    g.nginx.stop()
    g2 = Gateway(nginx_factory, d).start()
    r = g2.admin("GET", "/v2/p/apis/%s" % api)
    assert r.status == 200 and r.json()["open_api_doc"] == doc2
    assert len(g2.admin("GET", "/v2/p/keys").json()) == 1
    assert g2.get("/api/p/keep/b").status == 200
    assert g2.admin("DELETE", "/v2/p/apis/%s" % api).status == 204
    g2.nginx.stop()

    g3 = Gateway(nginx_factory, d).start()
    err(g3.admin("GET", "/v2/p/apis/%s" % api), 404)
    assert g3.get("/api/p/keep/a").status == 404


def test_reload_cannot_move_or_resize_the_store(nginx_factory, whisk):
    """A reload that would make a second zone or point the zone at another
    file fails (the running configuration goes on): the two would share or
    split the journal, and acknowledged writes were lost."""
    d = new_store_dir()
    g = Gateway(nginx_factory, d).start()
    assert g.admin("POST", "/v2/rz/apis",
                   simple_doc(whisk, "/before")).status == 200
    conf = open(g.nginx.conf).read()
    for new in ("file:%s/store.json zone_size=2m" % d,
                "file:%s/other.json" % d):
        with open(g.nginx.conf, "w") as f:
            f.write(conf.replace("file:%s/store.json" % d, new))
        n = g.nginx.log().count("cannot change on a reload")
        os.kill(g.nginx.proc.pid, signal.SIGHUP)
        deadline = time.time() + 10
        while g.nginx.log().count("cannot change on a reload") == n:
            assert time.time() < deadline, g.nginx.log()
            time.sleep(0.05)
        # still the running configuration, and writes still work
        assert g.admin("POST", "/v2/rz/apis", simple_doc(
            whisk, "/after%d" % n)).status == 200
    with open(g.nginx.conf, "w") as f:
        f.write(conf)
    g.nginx.stop()
    g2 = Gateway(nginx_factory, d).start()
    assert len(g2.admin("GET", "/v2/rz/apis").json()) == 3
    g2.nginx.stop()


def test_full_zone_refuses_writes(nginx_factory, whisk):
    """A write that does not fit in the store's zone is refused (507), not
    acknowledged and then seen by one worker only; deletes make room."""
    d = new_store_dir()
    g = Gateway(nginx_factory, d, workers=2,
                store="file:%s/store.json zone_size=1m" % d).start()
    big = "x" * 60000
    made, status = [], 200
    while status == 200 and len(made) < 100:
        doc = simple_doc(whisk, "/z%d" % len(made))
        doc["info"]["x-pad"] = big
        r = g.admin("POST", "/v2/zf/apis", doc)
        status = r.status
        if status == 200:
            made.append(r.json()["artifact_id"])
    assert status == 507, r
    assert r.json()["message"] == "Error: The store is full.", r
    assert 3 < len(made) < 100
    # every worker lists every acknowledged API (requests land on both)
    for _ in range(8):
        assert len(g.admin("GET", "/v2/zf/apis").json()) == len(made)
    assert g.admin("GET", "/health").json()["store_writable"] is True
    for a in made[:3]:
        assert g.admin("DELETE", "/v2/zf/apis/%s" % a).status == 204
    assert g.admin("POST", "/v2/zf/apis",
                   simple_doc(whisk, "/again")).status == 200
    g.nginx.stop()
    g2 = Gateway(nginx_factory, d, workers=1,
                 store="file:%s/store.json zone_size=1m" % d).start()
    assert len(g2.admin("GET", "/v2/zf/apis").json()) == len(made) - 2
    g2.nginx.stop()


def test_deleted_records_do_not_fill_the_zone(nginx_factory, whisk):
    """Create/delete churn: the deleted records kept for the workers go once
    there are many, and a worker that had not seen them reads everything;
    every worker ends with the same records."""
    d = new_store_dir()
    g = Gateway(nginx_factory, d, workers=2,
                store="file:%s/store.json zone_size=1m" % d).start()
    keep = g.admin("POST", "/v2/ch/keys", {"consumer": "keep"}).json()["id"]
    for i in range(4500):
        k = g.admin("POST", "/v2/ch/keys", {"consumer": "c%d" % i})
        assert k.status == 201, (i, k)
        assert g.admin("DELETE", "/v2/ch/keys/%s" % k.json()["id"]).status \
            == 204, i
    assert g.admin("POST", "/v2/ch/apis",
                   simple_doc(whisk, "/after")).status == 200
    # a nearly full zone: the deleted records make room when it is needed
    big = "x" * 60000
    while True:
        doc = simple_doc(whisk, "/fill%d" % len(big))
        doc["info"]["x-pad"] = big
        big += "y"
        r = g.admin("POST", "/v2/ch/apis", doc)
        if r.status != 200:
            assert r.status == 507, r
            break
    for i in range(700):
        k = g.admin("POST", "/v2/ch/keys", {"consumer": "n%d" % i})
        assert k.status == 201, (i, k)
        assert g.admin("DELETE", "/v2/ch/keys/%s" % k.json()["id"]).status \
            == 204, i
    for _ in range(8):
        assert [k["id"] for k in g.admin("GET", "/v2/ch/keys").json()] == \
            [keep]
        assert g.admin("GET", "/v2/ch/apis/x").status == 404
    g.nginx.stop()


def test_one_nginx_per_embedded_store(nginx_factory, whisk):
    """A second nginx on the same store (a binary upgrade runs the old and
    the new side by side) does not start: the two would write the journal
    without seeing each other's writes. nginx -t still works."""
    d = new_store_dir()
    a = Gateway(nginx_factory, d).start()
    assert a.admin("POST", "/v2/one/apis",
                   simple_doc(whisk, "/a")).status == 200
    b = Gateway(nginx_factory, d)
    rc, out = b.nginx.test()
    assert rc == 0, out
    with pytest.raises(RuntimeError) as e:
        b.nginx.start()
    assert "is in use by another nginx" in str(e.value)
    assert a.admin("POST", "/v2/one/apis",
                   simple_doc(whisk, "/b")).status == 200
    a.nginx.stop()
    b = Gateway(nginx_factory, d).start()
    assert len(b.admin("GET", "/v2/one/apis").json()) == 2
    b.nginx.stop()


def test_torn_journal_line_is_dropped(nginx_factory, whisk):
    d = new_store_dir()
    g = Gateway(nginx_factory, d).start()
    api = g.admin("POST", "/v2/p/apis",
                  simple_doc(whisk, "/torn")).json()["artifact_id"]
    g.nginx.stop()
    with open(os.path.join(d, "store.json.journal"), "a") as f:
        f.write('{"version":99,"set":{"api:x"')
    g2 = Gateway(nginx_factory, d).start()
    assert g2.admin("GET", "/v2/p/apis/%s" % api).status == 200
    assert g2.admin("POST", "/v2/p/apis",
                    simple_doc(whisk, "/torn2")).status == 200
    g2.nginx.stop()
    g3 = Gateway(nginx_factory, d).start()
    assert len(g3.admin("GET", "/v2/p/apis").json()) == 2


def test_damaged_store_fails_start(nginx_factory):
    d = new_store_dir()
    with open(os.path.join(d, "store.json"), "w") as f:
        f.write("{not json")
    g = Gateway(nginx_factory, d)
    with pytest.raises(RuntimeError):
        g.start()


def test_concurrent_writers(nginx_factory, whisk):
    g = Gateway(nginx_factory, new_store_dir(), workers=2).start()
    api = g.admin("POST", "/v2/cc/apis",
                  simple_doc(whisk, "/cc", "v0")).json()["artifact_id"]
    results = []

    def writer(n):
        for i in range(15):
            doc = simple_doc(whisk, "/cc", "w%d-%d" % (n, i),
                             paths=("/w%d" % n,))
            r = g.admin("PUT", "/v2/cc/apis/%s" % api, doc)
            results.append(r.status)
            r = g.admin("POST", "/v2/cc/apis",
                        simple_doc(whisk, "/n%d-%d" % (n, i)))
            results.append(r.status)

    ts = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert results.count(200) == len(results), results
    lst = g.admin("GET", "/v2/cc/apis").json()
    assert len(lst) == 1 + 4 * 15
    # the API is one writer's document, never a mix
    doc = g.admin("GET", "/v2/cc/apis/%s" % api).json()["open_api_doc"]
    n = doc["info"]["title"].split("-")[0][1:]
    assert list(doc["paths"]) == ["/w%s" % n]
    # every write has its own version
    assert g.admin("GET", "/health").json()["version"] == 1 + 2 * 4 * 15
    # both workers serve the final state
    for _ in range(6):
        assert g.wait_status("GET", "/api/cc/cc/w%s" % n, 200).status == 200


def test_metrics(gw, whisk):
    t = "tenant-metrics"
    gw.admin("POST", "/v2/%s/apis" % t, simple_doc(whisk, "/m", "Metered"))
    # every worker has it: 6 answers in a row
    ok = 0
    for _ in range(500):
        ok = ok + 1 if gw.get("/api/%s/m/hello" % t).status == 200 else 0
        if ok == 6:
            break
        time.sleep(0.01)
    assert ok == 6
    assert gw.get("/api/%s/m/nothing" % t).status == 404
    r = gw.admin("GET", "/metrics")
    assert r.status == 200
    assert r.header("Content-Type").startswith("text/plain")
    text = r.body.decode()
    lines = text.splitlines()

    def value(prefix):
        got = [l for l in lines if l.startswith(prefix)]
        assert got, (prefix, text)
        return float(got[0].rsplit(" ", 1)[1])

    assert value('apigw_requests_total{tenant="%s",api="Metered",'
                 'operation="getHello",class="2xx"}' % t) >= 4
    assert value('apigw_denials_total{reason="not_found"}') >= 1
    assert value('apigw_backend_latency_seconds_count') >= 4
    assert value('apigw_backend_latency_seconds_bucket{le="+Inf"}') >= 4
    assert value('apigw_store_operations_total{result="ok"}') >= 1
    assert value("apigw_config_version") >= 1
    assert "# TYPE apigw_backend_latency_seconds histogram" in text
    err(gw.admin("GET", "/metrics", token=None), 401)

    # another tenant's API of the same title is a series of its own
    series = ('apigw_requests_total{tenant="%s",api="Metered",'
              'operation="getHello",class="2xx"}')
    before = value(series % t)
    t2 = "tenant-metrics2"
    gw.admin("POST", "/v2/%s/apis" % t2, simple_doc(whisk, "/m", "Metered"))
    assert gw.wait_status("GET", "/api/%s/m/hello" % t2, 200).status == 200
    lines = gw.admin("GET", "/metrics").body.decode().splitlines()
    assert value(series % t2) >= 8
    assert value(series % t) == before

    # a long title is cut on whole characters: the scrape stays UTF-8
    title = "é" * 60
    gw.admin("POST", "/v2/%s/apis" % t, simple_doc(whisk, "/long", title))
    assert gw.wait_status("GET", "/api/%s/long/hello" % t, 200).status == 200
    body = gw.admin("GET", "/metrics").body
    body.decode("utf-8")                  # strict: raises on a cut character
    assert ('api="%s"' % ("é" * 47)).encode() in body, body


def test_config_errors(nginx_factory):
    d = new_store_dir()
    n = nginx_factory("server { listen 127.0.0.1:{port}; "
                      "location / { apigw_admin; } }")
    rc, out = n.test()
    assert rc != 0 and "needs \"apigw_store\"" in out
    n = nginx_factory("apigw_store nothing:%s/x;" % d)
    rc, out = n.test()
    assert rc != 0 and "file:PATH" in out
    open(d + "/empty", "w").write("# only a comment\n")
    n = nginx_factory("apigw_store file:%s/s.json; server { listen "
                      "127.0.0.1:{port}; location / { apigw_admin; "
                      "apigw_admin_token_file %s/empty; } }" % (d, d))
    rc, out = n.test()
    assert rc != 0 and "no token" in out
    n = nginx_factory("apigw_store redis://127.0.0.1:1/0?bogus=1;")
    rc, out = n.test()
    assert rc != 0
    # a store whose directory does not exist: nginx could never start
    n = nginx_factory("apigw_store file:%s/no-such-dir/s.json;" % d)
    rc, out = n.test()
    assert rc != 0 and "no-such-dir/s.json.journal" in out, out


def test_compaction_and_restart(nginx_factory, whisk):
    d = new_store_dir()
    g = Gateway(nginx_factory, d).start()
    api = g.admin("POST", "/v2/cp/apis",
                  simple_doc(whisk, "/cp")).json()["artifact_id"]
    # ~1.3 MB of journal: folded into a snapshot past 1 MB
    for i in range(13):
        doc = simple_doc(whisk, "/cp", "big%d" % i)
        doc["info"]["description"] = "x" * 100000
        assert g.admin("PUT", "/v2/cp/apis/%s" % api, doc).status == 200
    journal = os.path.getsize(os.path.join(d, "store.json.journal"))
    snapshot = os.path.getsize(os.path.join(d, "store.json"))
    assert journal < 1024 * 1024 and snapshot > 100000, (journal, snapshot)
    g.admin("POST", "/v2/cp/apis", simple_doc(whisk, "/after"))
    version = g.admin("GET", "/health").json()["version"]
    g.nginx.stop()

    g2 = Gateway(nginx_factory, d).start()
    assert g2.admin("GET", "/health").json()["version"] == version
    r = g2.admin("GET", "/v2/cp/apis/%s" % api)
    assert r.json()["open_api_doc"]["info"]["title"] == "big12"
    assert len(g2.admin("GET", "/v2/cp/apis").json()) == 2
    assert g2.get("/api/cp/after/hello").status == 200


def test_tenant_variable(nginx_factory, whisk):
    g = Gateway(nginx_factory, new_store_dir(),
                extra_http="add_header X-Tenant $apigw_tenant always;"
                           "add_header X-Api $apigw_api always;").start()
    g.admin("POST", "/v2/tv-1/apis", simple_doc(whisk, "/v", "Var API"))
    r = g.wait_status("GET", "/api/tv-1/v/hello", 200)
    assert r.header("X-Tenant") == "tv-1" and r.header("X-Api") == "Var API"


# ---- backend host names: looked up without holding the worker ----

def whisk_at(whisk, host):
    """The stand-in, named by `host` in the URLs of simple_doc()."""
    return types.SimpleNamespace(url=whisk.url.replace("127.0.0.1", host))


@pytest.fixture(scope="module")
def lookup_shim(tmp_path_factory):
    """A getaddrinfo() in which slow.apigw.test takes 3 s, fail.apigw.test
    fails for now and flip.apigw.test is what a file says
    (lookup_shim.c)."""
    so = str(tmp_path_factory.mktemp("shim") / "lookup_shim.so")
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", so,
                    os.path.join(os.path.dirname(__file__), "lookup_shim.c"),
                    "-ldl"], check=True)
    return so


def test_backend_host_lookup_does_not_hold_the_worker(module_nginx_factory,
                                                      whisk, lookup_shim):
    g = Gateway(module_nginx_factory, new_store_dir(), workers=1)
    g.nginx.env = dict(os.environ, LD_PRELOAD=lookup_shim,
                       ASAN_OPTIONS="verify_asan_link_order=0")
    g.start()
    t = "lookup"
    # a host name that resolves through /etc/hosts
    local = whisk_at(whisk, "localhost")
    assert g.admin("POST", "/v2/%s/apis" % t,
                   simple_doc(local, "/local")).status == 200
    r = g.wait_status("GET", "/api/%s/local/hello" % t, 200)
    assert r.json()["__ow_method"] == "get"

    # a slow lookup: the one worker answers others meanwhile
    slow = whisk_at(whisk, "slow.apigw.test")
    done = {}

    def write():
        done["r"] = g.admin("POST", "/v2/%s/apis" % t,
                            simple_doc(slow, "/slow"), timeout=30)

    w = threading.Thread(target=write)
    w.start()
    time.sleep(0.5)
    assert g.get("/api/%s/local/hello" % t).status == 200
    assert g.admin("GET", "/v2/%s/apis" % t).status == 200
    assert w.is_alive(), "the worker waited for the lookup"
    w.join()
    assert done["r"].status == 200, done["r"]
    r = g.wait_status("GET", "/api/%s/slow/hello" % t, 200)
    assert r.json()["__ow_method"] == "get"

    # a lookup that fails for now is a 503 that names the host; a name
    # that does not exist a 400
    fail = whisk_at(whisk, "fail.apigw.test")
    err(g.admin("POST", "/v2/%s/apis" % t, simple_doc(fail, "/fail")), 503,
        'Backend host "fail.apigw.test" could not be looked up.')
    gone = whisk_at(whisk, "no-such-host.invalid")
    err(g.admin("POST", "/v2/%s/apis" % t, simple_doc(gone, "/gone")), 400,
        'Backend host "no-such-host.invalid" not found.')
    assert g.get("/api/%s/fail/hello" % t).status == 404
    assert "could not be looked up" in g.nginx.log()


def test_writes_waiting_for_lookups_survive_reload_and_quit(nginx_factory,
                                                            whisk,
                                                            lookup_shim):
    """Writes whose backend host lookups are still running when nginx is
    reloaded, or told to quit, are answered by the old workers before
    they leave (a worker shutting down gracefully waits for what its
    threads are doing), and no connection is dropped."""
    g = Gateway(nginx_factory, new_store_dir(), workers=2)
    g.nginx.env = dict(os.environ, LD_PRELOAD=lookup_shim,
                       ASAN_OPTIONS="verify_asan_link_order=0")
    g.start()
    slow = whisk_at(whisk, "slow.apigw.test")      # a 3 s lookup
    got = {}

    def write(i):
        try:
            got[i] = g.admin("POST", "/v2/t%d/apis" % i,
                             simple_doc(slow, "/s"), timeout=30).status
        except OSError as e:
            got[i] = repr(e)

    def burst(ids, then):
        ws = [threading.Thread(target=write, args=(i,)) for i in ids]
        for w in ws:
            w.start()
        time.sleep(1.0)              # every lookup has started
        then()
        for w in ws:
            w.join()

    burst(range(12), g.nginx.reload)
    burst(range(100, 104),
          lambda: g.nginx.proc.send_signal(signal.SIGQUIT))
    assert g.nginx.proc.wait(timeout=30) == 0
    assert got == {i: 200 for i in list(range(12)) + list(range(100, 104))}
    log = g.nginx.log()
    assert "[alert]" not in log and "open socket" not in log, log

    # what they wrote is there after a restart
    g.start()
    for i in (0, 11, 100, 103):
        assert g.wait_status("GET", "/api/t%d/s/hello" % i, 200).status \
            == 200


def test_worker_leaves_cleanly_while_its_thread_finishes(nginx_factory,
                                                         whisk, lookup_shim):
    """A write's thread that is still on its way out when the worker quits
    (the shim holds it 200 ms after its last unlock, and the worker 400 ms
    in dlclose()) must not run unmapped code: the worker exits 0."""
    g = Gateway(nginx_factory, new_store_dir(), workers=1)
    g.nginx.env = dict(os.environ, LD_PRELOAD=lookup_shim,
                       APIGW_SHIM_SLOW_EXIT="200",
                       ASAN_OPTIONS="verify_asan_link_order=0")
    g.start()
    assert g.admin("POST", "/v2/quit/apis", simple_doc(whisk, "/q"),
                   timeout=30).status == 200
    g.nginx.proc.send_signal(signal.SIGQUIT)
    assert g.nginx.proc.wait(timeout=30) == 0
    log = g.nginx.log()
    assert "exited on signal" not in log and "[alert]" not in log, log


def test_store_write_does_not_hold_the_worker(module_nginx_factory, whisk,
                                             lookup_shim):
    """The journal's fsync() runs in a thread: on a slow disk the
    one worker answers others meanwhile, and writes in flight together
    take turns and all land."""
    g = Gateway(module_nginx_factory, new_store_dir(), workers=1)
    g.nginx.env = dict(os.environ, LD_PRELOAD=lookup_shim,
                       APIGW_SHIM_SLOW_FSYNC="2",
                       ASAN_OPTIONS="verify_asan_link_order=0")
    g.start()
    t = "slowdisk"
    assert g.admin("POST", "/v2/%s/apis" % t, simple_doc(whisk, "/first"),
                   timeout=30).status == 200
    version = g.admin("GET", "/health").json()["version"]
    done = []

    def write(i):
        done.append(g.admin("POST", "/v2/%s/apis" % t,
                            simple_doc(whisk, "/w%d" % i), timeout=60))

    ws = [threading.Thread(target=write, args=(i,)) for i in range(3)]
    for w in ws:
        w.start()
    time.sleep(0.5)
    assert g.get("/api/%s/first/hello" % t).status == 200
    assert g.admin("GET", "/v2/%s/apis" % t).status == 200
    assert g.admin("GET", "/health").json()["version"] == version
    assert not done, "the worker waited for the disk"
    for w in ws:
        w.join()
    assert [r.status for r in done] == [200] * 3, done
    assert g.admin("GET", "/health").json()["version"] == version + 3
    assert len(g.admin("GET", "/v2/%s/apis" % t).json()) == 4
    for i in range(3):
        assert g.get("/api/%s/w%d/hello" % (t, i)).status == 200


def test_store_writer_that_died(nginx_factory, whisk, lookup_shim):
    """A worker killed in the middle of a write (its line written, not yet
    synced nor applied) neither blocks the writers after it nor leaves its
    unacknowledged line to take the next write's version on a restart."""
    d = new_store_dir()
    g = Gateway(nginx_factory, d, workers=1)
    g.nginx.env = dict(os.environ, LD_PRELOAD=lookup_shim,
                       APIGW_SHIM_SLOW_FSYNC="3",
                       ASAN_OPTIONS="verify_asan_link_order=0")
    g.start()
    t = "died"
    version = g.admin("GET", "/health").json()["version"]
    journal = os.path.join(d, "store.json.journal")
    size = os.path.getsize(journal)

    def write():
        try:
            g.admin("POST", "/v2/%s/apis" % t, simple_doc(whisk, "/lost"),
                    timeout=30)
        except Exception:
            pass                    # the connection goes with the worker

    w = threading.Thread(target=write)
    w.start()
    deadline = time.time() + 10
    while os.path.getsize(journal) == size:     # written, in its fsync()
        assert time.time() < deadline
        time.sleep(0.05)
    worker = int(subprocess.check_output(
        ["pgrep", "-P", str(g.nginx.proc.pid)]).split()[0])
    os.kill(worker, signal.SIGKILL)
    w.join()
    assert harness.wait_port(g.aport)

    r = g.admin("POST", "/v2/%s/apis" % t, simple_doc(whisk, "/kept"),
                timeout=30)
    assert r.status == 200, r
    assert g.admin("GET", "/health").json()["version"] == version + 1
    assert g.get("/api/%s/kept/hello" % t).status == 200
    log = g.nginx.stop()
    # the one crash here is this test's own
    assert log.count("exited on signal 9") == 1, log
    assert not [l for l in log.splitlines()
                if "[alert]" in l and "exited on signal 9" not in l], log

    g2 = Gateway(nginx_factory, d).start()
    assert g2.admin("GET", "/health").json()["version"] == version + 1
    assert len(g2.admin("GET", "/v2/%s/apis" % t).json()) == 1
    assert g2.get("/api/%s/kept/hello" % t).status == 200
    assert g2.get("/api/%s/lost/hello" % t).status == 404
    assert "dropped" in log and "unfinished write" in log, log


def test_backend_host_looked_up_again(nginx_factory, whisk, lookup_shim):
    """A stored API's backend host name is looked up again every
    apigw_store_resolve: new addresses are used without a write; a name
    that fails keeps its last addresses, said once in the log."""
    g = Gateway(nginx_factory, new_store_dir(), workers=2,
                extra_http="apigw_store_resolve 200ms;")
    flip = os.path.join(g.store_dir, "flip")    # the workers can read it

    def dns(text):
        with open(flip, "w") as f:
            f.write(text + "\n")
        os.chmod(flip, 0o644)

    dns("127.0.0.1")
    g.nginx.env = dict(os.environ, LD_PRELOAD=lookup_shim,
                       APIGW_SHIM_FLIP=flip,
                       ASAN_OPTIONS="verify_asan_link_order=0")
    g.start()
    t = "flip"
    r = g.admin("POST", "/v2/%s/apis" % t,
                simple_doc(whisk_at(whisk, "flip.apigw.test"), "/f"))
    assert r.status == 200, r
    stored = g.admin("GET", "/v2/%s/apis" % t).json()
    assert g.wait_status("GET", "/api/%s/f/hello" % t, 200).status == 200

    # the name moves to an address where nothing listens: 502 everywhere
    dns("127.0.0.3")
    r = g.wait_status("GET", "/api/%s/f/hello" % t, 502)
    assert r.status == 502, r
    assert r.json()["message"] == "Error: Backend unavailable."
    assert 'backend host "flip.apigw.test" now has the addresses ' \
        '["127.0.0.3"]' in g.nginx.log()

    # and back
    dns("127.0.0.1")
    assert g.wait_status("GET", "/api/%s/f/hello" % t, 200).status == 200

    # gone from DNS, or DNS away: the last addresses serve on
    for text in ("none", "again"):
        dns(text)
        time.sleep(1.0)                 # several rounds
        for _ in range(8):
            assert g.get("/api/%s/f/hello" % t).status == 200
    log = g.nginx.log()
    gone = 'backend host "flip.apigw.test" is not found any more; its ' \
        'last known addresses are kept'
    # once per worker, not once per round
    assert 1 <= log.count(gone) <= 2, log
    dns("127.0.0.1")

    # the stored API is as it was written: nothing was written back
    assert g.admin("GET", "/v2/%s/apis" % t).json() == stored
    # the write, its lookup and the rounds ran in threads, gone since
    g.nginx.wait_single_threaded()
    assert "[emerg]" not in log and "[alert]" not in log
