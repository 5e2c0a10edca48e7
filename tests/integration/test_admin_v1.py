"""The v1 management API (openwhisk-apigateway's legacy model): tenants,
APIs with resources/operations, subscriptions, health-check, and the v1
route-management flow (reference 4.6) reaching the data plane."""

import hashlib
import json

import pytest

import harness
from admin_gw import Gateway, new_store_dir
from test_admin import err


@pytest.fixture(scope="module")
def gw(module_nginx_factory):
    return Gateway(module_nginx_factory, new_store_dir()).start()


def v1_api(tenant, whisk, base="/hello", name="Hello", extra=None):
    op = {"backendMethod": "GET",
          "backendUrl": "%s/api/v1/web/guest/default/echo-http.http"
                        % whisk.url,
          "policies": [{"type": "rateLimit",
                        "value": {"interval": 60, "rate": 1000,
                                  "scope": "api", "subscription": True}},
                       {"type": "reqMapping", "value": [
                           {"action": "insert",
                            "from": {"value": "abc"},
                            "to": {"name": "X-Require-Whisk-Auth",
                                   "location": "header"}}]}],
          "security": [{"type": "apiKey", "scope": "api",
                        "header": "X-Api-Key"}]}
    body = {"name": name, "basePath": base, "tenantId": tenant,
            "resources": {"/world": {
                "cors": {"origin": "true", "methods": "GET, POST"},
                "operations": {"GET": op}}}}
    if extra:
        body.update(extra)
    return body


def test_v1_flow(gw, whisk):
    # PUT /tenants: idempotent by namespace + instance
    r = gw.admin("PUT", "/v1/tenants",
                 {"namespace": "guest", "instance": "openwhisk"})
    assert r.status == 200, r
    t = r.json()
    assert set(t) == {"id", "namespace", "instance"}
    r = gw.admin("PUT", "/v1/tenants",
                 {"namespace": "guest", "instance": "openwhisk"})
    assert r.json() == t
    r = gw.admin("GET", "/v1/tenants?filter[where][namespace]=guest"
                 "&filter[where][instance]=openwhisk")
    assert r.json() == [t]
    r = gw.admin("GET", "/v1/tenants/%s/apis?filter[where][basePath]=/hello"
                 % t["id"])
    assert r.status == 200 and r.json() == []

    r = gw.admin("POST", "/v1/apis", v1_api(t["id"], whisk))
    assert r.status == 200, r
    api = r.json()
    assert api["basePath"] == "/hello" and api["tenantNamespace"] == "guest"
    assert api["tenantInstance"] == "openwhisk"
    assert api["managedUrl"] == "http://127.0.0.1:%d/api/%s/hello" % (
        gw.port, t["id"])
    assert api["resources"]["/world"]["operations"]["GET"]["policies"]

    # the operation's security: an apiKey in X-Api-Key, keys from
    # /v1/subscriptions; none yet, so every worker refuses
    r = gw.wait_status("GET", "/api/%s/hello/world" % t["id"], 401)
    assert r.status == 401, r
    r = gw.admin("PUT", "/v1/subscriptions",
                 {"key": "v1-flow-key-0001", "scope": "api",
                  "tenantId": t["id"], "apiId": api["id"]})
    assert r.status == 200, r
    whisk.reset()
    r = gw.wait_status("GET", "/api/%s/hello/world?name=Bob" % t["id"], 200,
                       headers=[("X-Api-Key", "v1-flow-key-0001")])
    assert r.status == 200, r
    assert r.json()["name"] == "Bob"
    last = whisk.last()
    assert last["path"] == "/api/v1/web/guest/default/echo-http.http"
    hdrs = {k.lower(): v for k, v in last["headers"]}
    assert hdrs["x-require-whisk-auth"] == "abc"
    # CORS of the resource: preflight at the edge
    r = harness.request(
        gw.port, "OPTIONS", "/api/%s/hello/world" % t["id"],
        [("Origin", "https://a.example"),
         ("Access-Control-Request-Method", "GET")])
    assert r.status == 200 and r.header("Access-Control-Allow-Origin")

    # lookups
    assert gw.admin("GET", "/v1/apis/%s" % api["id"]).json() == api
    assert gw.admin("GET", "/v1/apis/%s/tenant" % api["id"]).json() == t
    err(gw.admin("GET", "/v1/apis/%s/other" % api["id"]), 400,
        "Invalid request")
    assert [a["id"] for a in gw.admin("GET", "/v1/apis").json()] == \
        [api["id"]]
    r = gw.admin("GET", "/v1/tenants/%s/apis?filter[where][basePath]=/hello"
                 % t["id"])
    assert [a["id"] for a in r.json()] == [api["id"]]
    # v1 APIs are not v2 documents
    assert gw.admin("GET", "/v2/%s/apis" % t["id"]).json() == []

    # update: PUT /apis/{id}; the new resources replace the old
    body = v1_api(t["id"], whisk)
    body["resources"] = {"/moon": body["resources"]["/world"]}
    r = gw.admin("PUT", "/v1/apis/%s" % api["id"], body)
    assert r.status == 200 and r.json()["id"] == api["id"]
    assert gw.wait_status("GET", "/api/%s/hello/moon" % t["id"], 200,
                          headers=[("X-Api-Key", "v1-flow-key-0001")]
                          ).status == 200
    assert gw.wait_status("GET", "/api/%s/hello/world" % t["id"],
                          404).status == 404
    err(gw.admin("PUT", "/v1/apis/nope", body), 404, "Unknown API id nope")

    # DELETE answers 200 {}
    r = gw.admin("DELETE", "/v1/apis/%s" % api["id"])
    assert r.status == 200 and r.json() == {}
    err(gw.admin("GET", "/v1/apis/%s" % api["id"]), 404)
    err(gw.admin("DELETE", "/v1/apis"), 400, "No id specified.")
    assert gw.wait_status("GET", "/api/%s/hello/moon" % t["id"],
                          404).status == 404


@pytest.mark.parametrize("mutate,status,message", [
    (lambda b: b.pop("name"), 400, "Missing field 'name' in request body."),
    (lambda b: b.pop("basePath"), 400,
     "Missing field 'basePath' in request body."),
    (lambda b: b.update(basePath="/a'b"), 400,
     "basePath contains illegal character \"'\"."),
    (lambda b: b.pop("tenantId"), 400,
     "Missing field 'tenantId' in request body."),
    (lambda b: b.update(tenantId="nope"), 404, "Unknown tenant id nope"),
    (lambda b: b.pop("resources"), 400,
     "Missing field 'resources' in request body."),
    (lambda b: b.update(resources={}), 400, "Empty resources object."),
    (lambda b: b.update(resources={"x": {}}), 400,
     "Resource path must begin with '/'."),
    (lambda b: b.update(resources={"/x": {"operations": {}}}), 400,
     "Missing or empty field 'operations' or in resource path object."),
    (lambda b: b["resources"]["/world"]["operations"].update(
        FOO=b["resources"]["/world"]["operations"]["GET"]), 400,
     "Resource verb 'FOO' not supported."),
    (lambda b: b["resources"]["/world"]["operations"]["GET"].pop(
        "backendMethod"), 400,
     "Missing field 'backendMethod' for 'GET' operation."),
    (lambda b: b["resources"]["/world"]["operations"]["GET"].update(
        backendMethod="FETCH"), 400, "backendMethod 'FETCH' not supported."),
    (lambda b: b["resources"]["/world"]["operations"]["GET"].pop(
        "backendUrl"), 400, "Missing field 'backendUrl' for 'GET' operation."),
    (lambda b: b["resources"]["/world"]["operations"]["GET"].update(
        policies=[{"type": "x"}]), 400,
     'Missing field in policy object. Need "type" and "value".'),
    (lambda b: b["resources"]["/world"]["operations"]["GET"].update(
        policies=[{"type": "x", "value": 1}]), 400,
     'Invalid type in policy object. Valid: '
     '["reqMapping","rateLimit","backendRouting"]'),
    (lambda b: b["resources"]["/world"]["operations"]["GET"].update(
        policies=[{"type": "rateLimit", "value": {"interval": 0, "rate": 5}}]),
     400, "Invalid rateLimit policy for 'GET /world': interval must be a "
     "positive integer of seconds (1 to 31622400), not 0."),
    (lambda b: b["resources"]["/world"]["operations"]["GET"].update(
        policies=[{"type": "rateLimit", "value": [
            {"interval": 60, "rate": 5, "scope": "galaxy"}]}]),
     400, "Invalid rateLimit policy for 'GET /world': scope must be tenant, "
     "api or resource."),
    (lambda b: b["resources"]["/world"]["operations"]["GET"].update(
        security=[{"type": "apiKey"}]), 400,
     'Missing field in security object. Need "type" and "scope".'),
    (lambda b: b["resources"]["/world"]["operations"]["GET"].update(
        security=[{"type": "apiKey", "scope": "x"}]), 400,
     'Invalid scope in security object. Valid: ["tenant","api","resource"]'),
])
def test_v1_validation(gw, whisk, mutate, status, message):
    t = gw.admin("PUT", "/v1/tenants",
                 {"namespace": "val", "instance": "i"}).json()
    body = v1_api(t["id"], whisk, base="/val")
    mutate(body)
    err(gw.admin("POST", "/v1/apis", body), status, message)


V1_RL = "/resources/~1world/operations/GET/policies/0/value"


@pytest.mark.parametrize("value,errors", [
    ({"interval": "60", "rate": 5},
     [("/interval", "must be a positive integer of seconds (1 to 31622400), "
                    "not a string")]),
    ({"interval": 60.5, "rate": 5},
     [("/interval", "must be a positive integer of seconds (1 to 31622400), "
                    "not 60.5")]),
    ({"interval": 60, "rate": "5"},
     [("/rate", "must be a positive integer (1 to 1000000000), not a "
                "string")]),
    ([{"interval": 60, "rate": 5}, {"interval": 60, "rate": 2.5,
                                    "subscription": "yes"}],
     [("/1/rate", "must be a positive integer (1 to 1000000000), not 2.5"),
      ("/1/subscription", "must be true or false")]),
])
def test_v1_rate_limit_numbers(gw, whisk, value, errors):
    """interval and rate are JSON integers: a string or a fraction is a 400
    naming the field, with its pointer into the submitted document (not a
    problem of the document apigw translates it to)."""
    t = gw.admin("PUT", "/v1/tenants",
                 {"namespace": "rln", "instance": "i"}).json()
    body = v1_api(t["id"], whisk, base="/rln")
    body["resources"]["/world"]["operations"]["GET"]["policies"] = [
        {"type": "rateLimit", "value": value}]
    first = errors[0][0].rsplit("/", 1)[1]
    b = err(gw.admin("POST", "/v1/apis", body), 400,
            "Invalid rateLimit policy for 'GET /world': %s %s."
            % (first, errors[0][1]))
    assert b["errors"] == [{"pointer": V1_RL + p, "message": m}
                           for p, m in errors], b


def test_v1_rate_limit_integral_numbers(gw, whisk):
    """60.0 is the integer 60, as everywhere a count is read."""
    t = gw.admin("PUT", "/v1/tenants",
                 {"namespace": "rli", "instance": "i"}).json()
    body = v1_api(t["id"], whisk, base="/rli")
    body["resources"]["/world"]["operations"]["GET"]["security"] = []
    body["resources"]["/world"]["operations"]["GET"]["policies"] = [
        {"type": "rateLimit", "value": {"interval": 60.0, "rate": 1000.0}}]
    r = gw.admin("POST", "/v1/apis", body)
    assert r.status == 200, r
    r = gw.wait_status("GET", "/api/%s/rli/world" % t["id"], 200)
    assert r.header("RateLimit-Policy") == "1000;w=60;burst=999", r


def test_v1_tenants(gw):
    err(gw.admin("PUT", "/v1/tenants", {"instance": "x"}), 400,
        '"namespace" missing from request body.')
    t = gw.admin("POST", "/v1/tenants",
                 {"namespace": "ns2", "instance": "a"}).json()
    r = gw.admin("PUT", "/v1/tenants/%s" % t["id"],
                 {"namespace": "ns2", "instance": "b"})
    assert r.status == 200 and r.json()["instance"] == "b"
    assert gw.admin("GET", "/v1/tenants/%s" % t["id"]).json()["instance"] \
        == "b"
    err(gw.admin("PUT", "/v1/tenants/nope", {"namespace": "a",
                                             "instance": "b"}),
        404, "Unknown Tenant id nope")
    err(gw.admin("GET", "/v1/tenants/nope"), 404, "Unknown tenant id nope")
    r = gw.admin("DELETE", "/v1/tenants/%s" % t["id"])
    assert r.status == 200 and r.json() == {}
    err(gw.admin("GET", "/v1/tenants/%s" % t["id"]), 404)


def test_v1_subscriptions(gw):
    t = gw.admin("PUT", "/v1/tenants",
                 {"namespace": "subs", "instance": "i"}).json()
    body = {"key": "k-123456789", "scope": "tenant", "tenantId": t["id"]}
    r = gw.admin("PUT", "/v1/subscriptions", body)
    assert r.status == 200 and r.body == b"Subscription created.\n"
    # stored as a hash, and not even its first characters in clear
    import os
    for f in os.listdir(gw.store_dir):
        path = os.path.join(gw.store_dir, f)
        if os.path.isfile(path):
            with open(path, "rb") as fh:
                assert b"k-1234" not in fh.read(), f
    r = gw.admin("DELETE", "/v1/subscriptions", body)
    assert r.status == 200 and r.body == b"Subscription deleted.\n"
    err(gw.admin("DELETE", "/v1/subscriptions", body), 404)
    err(gw.admin("POST", "/v1/subscriptions",
                 {"scope": "tenant", "tenantId": t["id"]}), 400,
        '"key" missing from request body.')
    err(gw.admin("POST", "/v1/subscriptions",
                 dict(body, scope="bad")), 400, "Invalid scope")
    err(gw.admin("POST", "/v1/subscriptions",
                 dict(body, scope="resource")), 400,
        '"resource" missing from request body.')
    err(gw.admin("POST", "/v1/subscriptions",
                 dict(body, scope="api")), 400,
        '"apiId" missing from request body.')


def test_v1_rate_limit_policy_is_enforced(gw, whisk):
    t = gw.admin("PUT", "/v1/tenants",
                 {"namespace": "rl", "instance": "i"}).json()
    body = v1_api(t["id"], whisk, base="/rlv1")
    body["resources"]["/world"]["operations"]["GET"]["security"] = []
    probe = json.loads(json.dumps(body["resources"]["/world"]))
    probe["operations"]["GET"]["policies"] = []
    body["resources"]["/probe"] = probe
    body["resources"]["/world"]["operations"]["GET"]["policies"] = [
        {"type": "rateLimit", "value": [{"interval": 60, "rate": 2,
                                         "scope": "resource",
                                         "subscription": False}]}]
    r = gw.admin("POST", "/v1/apis", body)
    assert r.status == 200, r
    # every worker has the API once its unlimited operation answers
    gw.wait_status("GET", "/api/%s/rlv1/probe" % t["id"], 200)
    path = "/api/%s/rlv1/world" % t["id"]
    r = gw.get(path)
    assert r.status == 200
    r = gw.get(path)
    assert r.status == 200
    assert r.header("RateLimit-Policy").startswith("2;w=60")
    whisk.reset()
    r = gw.get(path)
    assert r.status == 429, r
    assert r.json()["message"] == "Error: Rate limit exceeded"
    assert int(r.header("Retry-After")) >= 1
    assert whisk.calls() == 0


def test_v1_rate_limit_per_subscription(gw, whisk):
    """subscription: true counts each subscribed key apart, whatever its
    first characters or its length; the backend is told the key's
    fingerprint, never the key"""
    t = gw.admin("PUT", "/v1/tenants",
                 {"namespace": "rlsub", "instance": "i"}).json()
    body = v1_api(t["id"], whisk, base="/rlsub")
    body["resources"]["/world"]["operations"]["GET"]["policies"] = [
        {"type": "rateLimit", "value": {"interval": 3600, "rate": 2,
                                        "scope": "api",
                                        "subscription": True}}]
    r = gw.admin("POST", "/v1/apis", body)
    assert r.status == 200, r
    api = r.json()["id"]
    keys = ["team-alpha-key-0000000001", "team-bravo-key-0000000002",
            "short-key-1", "short-key-2"]
    for k in keys + ["team-probe-key-000000003"]:
        r = gw.admin("PUT", "/v1/subscriptions",
                     {"key": k, "scope": "api", "tenantId": t["id"],
                      "apiId": api})
        assert r.status == 200, r
    path = "/api/%s/rlsub/world" % t["id"]
    # every worker knows the last key once it has spent its own allowance
    gw.wait_status("GET", path, 429,
                   headers=[("X-Api-Key", "team-probe-key-000000003")])
    for k in keys[:3]:
        for _ in range(2):
            r = gw.get(path, headers=[("X-Api-Key", k)])
            assert r.status == 200, (k, r)
        fp = "key-" + hashlib.sha256(k.encode()).hexdigest()[:16]
        assert dict((h.lower(), v) for h, v in whisk.last()["headers"]) \
            .get("x-apigw-consumer") == fp
        r = gw.get(path, headers=[("X-Api-Key", k)])
        assert r.status == 429, (k, r)
    r = gw.get(path, headers=[("X-Api-Key", keys[3])])
    assert r.status == 200 and r.header("RateLimit-Remaining") == "1", r


def test_v1_security_uses_v1_subscriptions(gw, whisk):
    t = gw.admin("PUT", "/v1/tenants",
                 {"namespace": "sec", "instance": "i"}).json()
    a = gw.admin("POST", "/v1/apis", v1_api(t["id"], whisk, base="/seca"))
    b = gw.admin("POST", "/v1/apis", v1_api(t["id"], whisk, base="/secb"))
    assert a.status == 200 and b.status == 200
    a, b = a.json(), b.json()
    pa, pb = ("/api/%s/seca/world" % t["id"], "/api/%s/secb/world" % t["id"])
    whisk.reset()
    assert gw.wait_status("GET", pa, 401).status == 401
    assert gw.wait_status("GET", pb, 401).status == 401
    assert whisk.calls() == 0
    key = [("X-Api-Key", "api-a-key-000001")]
    r = gw.admin("PUT", "/v1/subscriptions",
                 {"key": "api-a-key-000001", "scope": "api",
                  "tenantId": t["id"], "apiId": a["id"]})
    assert r.status == 200
    assert gw.wait_status("GET", pa, 200, headers=key).status == 200
    # scoped to API a: refused on b (known key, not subscribed)
    assert gw.wait_status("GET", pb, 403, headers=key).status == 403
    # a tenant-scoped key opens both
    tkey = [("X-Api-Key", "tenant-key-00001")]
    gw.admin("PUT", "/v1/subscriptions", {"key": "tenant-key-00001",
                                          "scope": "tenant",
                                          "tenantId": t["id"]})
    assert gw.wait_status("GET", pb, 200, headers=tkey).status == 200
    # deleted: refused again
    r = gw.admin("DELETE", "/v1/subscriptions",
                 {"key": "api-a-key-000001", "scope": "api",
                  "tenantId": t["id"], "apiId": a["id"]})
    assert r.status == 200
    assert gw.wait_status("GET", pa, 401, headers=key).status == 401


def test_v1_security_types_not_understood_fail_closed(gw, whisk):
    t = gw.admin("PUT", "/v1/tenants",
                 {"namespace": "secx", "instance": "i"}).json()
    body = v1_api(t["id"], whisk, base="/secx")
    body["resources"]["/world"]["operations"]["GET"]["security"] = [
        {"type": "oauth2", "scope": "api", "provider": "unknown"}]
    assert gw.admin("POST", "/v1/apis", body).status == 200
    whisk.reset()
    r = gw.wait_status("GET", "/api/%s/secx/world" % t["id"], 401)
    assert r.status == 401
    assert whisk.calls() == 0


def test_v1_resource_subscription(gw, whisk):
    # a key subscribed to one resource (base path + path, no leading "/",
    # as openwhisk-apigateway names it): every method of that path, no
    # other path of the API, and nothing in another tenant
    t = gw.admin("PUT", "/v1/tenants",
                 {"namespace": "res", "instance": "i"}).json()
    body = v1_api(t["id"], whisk, base="/club")
    world = body["resources"]["/world"]
    body["resources"] = {"/books/{isbn}": {"operations": {
        "GET": world["operations"]["GET"],
        "POST": dict(world["operations"]["GET"], backendMethod="POST")}},
        "/authors": {"operations": {"GET": world["operations"]["GET"]}}}
    assert gw.admin("POST", "/v1/apis", body).status == 200
    key = [("X-Api-Key", "res-key-000001")]
    r = gw.admin("PUT", "/v1/subscriptions",
                 {"key": "res-key-000001", "scope": "resource",
                  "tenantId": t["id"], "resource": "club/books/{isbn}"})
    assert r.status == 200 and r.body == b"Subscription created.\n"
    base = "/api/%s/club" % t["id"]
    r = gw.wait_status("GET", base + "/books/978", 200, headers=key)
    assert r.status == 200, r
    whisk.reset()
    r = harness.request(gw.port, "POST", base + "/books/978", key, b"{}")
    assert r.status == 200, r
    assert whisk.calls() == 1
    r = harness.request(gw.port, "GET", base + "/authors", key)
    assert r.status == 403, r
    assert whisk.calls() == 1
    # the resource with a leading "/" is the same resource
    body2 = {"key": "res-key-000002", "scope": "resource",
             "tenantId": t["id"], "resource": "/club/authors"}
    assert gw.admin("PUT", "/v1/subscriptions", body2).status == 200
    r = gw.wait_status("GET", base + "/authors", 200,
                       headers=[("X-Api-Key", "res-key-000002")])
    assert r.status == 200, r
    r = harness.request(gw.port, "GET", base + "/books/978",
                        [("X-Api-Key", "res-key-000002")])
    assert r.status == 403, r
    # deleted: unknown again
    assert gw.admin("DELETE", "/v1/subscriptions", body2).status == 200
    r = gw.wait_status("GET", base + "/authors", 401,
                       headers=[("X-Api-Key", "res-key-000002")])
    assert r.status == 401, r
    err(gw.admin("PUT", "/v1/subscriptions",
                 {"key": "k", "scope": "resource", "tenantId": t["id"]}),
        400, '"resource" missing from request body.')


def test_v1_and_v2_apis_are_apart(gw, whisk):
    """An id of one model is unknown to the other for every verb, not
    only for GET: no v1 call replaces or deletes a v2 API, and back."""
    from test_admin import simple_doc
    v2 = gw.admin("POST", "/v2/apart/apis",
                  simple_doc(whisk, "/apart2")).json()["artifact_id"]
    t = gw.admin("PUT", "/v1/tenants",
                 {"namespace": "apart", "instance": "i"}).json()
    v1 = gw.admin("POST", "/v1/apis",
                  v1_api(t["id"], whisk, base="/apart1")).json()["id"]
    err(gw.admin("GET", "/v1/apis/%s" % v2), 404)
    err(gw.admin("DELETE", "/v1/apis/%s" % v2), 404)
    err(gw.admin("PUT", "/v1/apis/%s" % v2,
                 v1_api(t["id"], whisk, base="/apart3")), 404)
    err(gw.admin("GET", "/v2/apart/apis/%s" % v1), 404)
    err(gw.admin("GET", "/v2/apart/apis/%s/openapi" % v1), 404)
    err(gw.admin("DELETE", "/v2/apart/apis/%s" % v1), 404)
    # both still there
    assert gw.admin("GET", "/v2/apart/apis/%s" % v2).status == 200
    assert gw.admin("GET", "/v1/apis/%s" % v1).status == 200


def test_v1_405_allow_options_head(gw, whisk):
    from test_admin import assert_head_is_get
    t = gw.admin("PUT", "/v1/tenants",
                 {"namespace": "allow", "instance": "i"}).json()
    api = gw.admin("POST", "/v1/apis",
                   v1_api(t["id"], whisk, base="/allow1")).json()
    a, ta = "/v1/apis/%s" % api["id"], "/v1/tenants/%s" % t["id"]
    gs, gpp, gppd = ("GET, HEAD, OPTIONS", "GET, HEAD, POST, PUT, OPTIONS",
                     "GET, HEAD, POST, PUT, DELETE, OPTIONS")
    for method, target, allow in [
            ("PATCH", "/v1/apis", gpp),
            ("FOO", a, gppd),
            ("PATCH", a + "/tenant", gs),
            ("POST", a + "/tenant", None),  # 400 Invalid request
            ("DELETE", "/v1/tenants", gpp),
            ("PATCH", ta, gppd),
            ("POST", ta + "/apis", gs),
            ("GET", "/v1/subscriptions", "POST, PUT, DELETE, OPTIONS"),
            ("PATCH", "/v1/health-check", gs)]:
        r = gw.admin(method, target)
        if allow is None:
            err(r, 400)
            assert r.header("Allow") is None
            continue
        err(r, 405, "Invalid verb.")
        assert r.header_all("Allow") == [allow], (method, target, r)
        r = gw.admin("OPTIONS", target)
        assert r.status == 204 and r.body == b"", (target, r)
        assert r.header_all("Allow") == [allow], (target, r)

    # nothing is served below /v1/subscriptions
    err(gw.admin("POST", "/v1/subscriptions/x",
                 {"key": "k", "scope": "tenant", "tenantId": t["id"]}),
        404, "Not found.")

    for target in ["/v1/apis", a, a + "/tenant", "/v1/apis/nope",
                   "/v1/tenants", "/v1/tenants?filter[where][namespace]=allow",
                   ta, ta + "/apis", "/v1/health-check",
                   "/v1/subscriptions"]:
        assert_head_is_get(gw, target)
    assert assert_head_is_get(gw, a).json() == api


def test_v1_cors_is_per_resource(gw, whisk):
    """Each resource's cors: "true" any origin, "false" the backend's CORS
    headers removed and no preflight at the edge, a literal origin only
    that one, none: the backend's headers pass through (reference 8)."""
    t = gw.admin("PUT", "/v1/tenants",
                 {"namespace": "corsy", "instance": "i"}).json()

    def op():
        return {"backendMethod": "GET", "backendUrl":
                "%s/api/v1/web/guest/default/cors.http" % whisk.url}
    body = {"name": "c", "basePath": "/corsy", "tenantId": t["id"],
            "resources": {
                "/a": {"cors": {"origin": "true", "methods": "GET"},
                       "operations": {"GET": op()}},
                "/b": {"cors": {"origin": "false"},
                       "operations": {"GET": op()}},
                "/c": {"cors": {"origin": "https://only.example"},
                       "operations": {"GET": op()}},
                "/d": {"operations": {"GET": op()}}}}
    assert gw.admin("POST", "/v1/apis", body).status == 200
    base = "/api/%s/corsy/" % t["id"]
    gw.wait_status("GET", base + "d", 200)

    def get(p, origin):
        return gw.get(base + p, headers=[("Origin", origin)])

    def pre(p, origin):
        return harness.request(gw.port, "OPTIONS", base + p, [
            ("Origin", origin), ("Access-Control-Request-Method", "GET")])

    evil, only = "https://evil.example", "https://only.example"
    # "true": any origin, preflights at the edge
    r = pre("a", evil)
    assert r.status in (200, 204), r
    assert r.header("Access-Control-Allow-Origin") in ("*", evil), r
    assert get("a", evil).header("Access-Control-Allow-Origin") in ("*",
                                                                   evil)
    # "false": stripped, the preflight goes the normal way (no OPTIONS)
    r = pre("b", evil)
    assert r.status == 405 and r.header("Access-Control-Allow-Origin") is None
    r = get("b", evil)
    assert r.status == 200 and r.header("Access-Control-Allow-Origin") is None
    # a literal origin: that one only
    assert pre("c", evil).status == 403
    r = pre("c", only)
    assert r.header("Access-Control-Allow-Origin") == only, r
    # the grant is for the method asked about, not the path's others
    assert r.header("Access-Control-Allow-Methods") == "GET", r
    assert get("c", evil).header("Access-Control-Allow-Origin") is None
    assert get("c", only).header("Access-Control-Allow-Origin") == only
    # none: the backend's own, as it sent them (OpenWhisk's "*" too)
    r = get("d", evil)
    assert "https://backend.example" in \
        r.header_all("Access-Control-Allow-Origin"), r


def test_v1_legacy_rest_invoke_flow(gw, whisk):
    """Reference 4.6: OpenWhisk's route management without an access token
    maps the query into a JSON body and calls the REST invoke API."""
    import base64
    key = ("23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXl"
           "PkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP")
    t = gw.admin("PUT", "/v1/tenants",
                 {"namespace": "legacy", "instance": "openwhisk"}).json()
    op = {"backendMethod": "POST",
          "backendUrl": "%s/api/v1/namespaces/guest/actions/echo" % whisk.url,
          "policies": [{"type": "reqMapping", "value": [
              {"action": "transform",
               "from": {"name": "*", "location": "query"},
               "to": {"name": "*", "location": "body"}},
              {"action": "insert",
               "from": {"value": "Basic " + base64.b64encode(
                   key.encode()).decode()},
               "to": {"name": "Authorization", "location": "header"}},
              {"action": "insert", "from": {"value": "application/json"},
               "to": {"name": "Content-Type", "location": "header"}},
              {"action": "insert", "from": {"value": "true"},
               "to": {"name": "blocking", "location": "query"}},
              {"action": "insert", "from": {"value": "true"},
               "to": {"name": "result", "location": "query"}}]}]}
    body = {"name": "legacy", "basePath": "/legacy", "tenantId": t["id"],
            "resources": {"/hello": {"operations": {"GET": op}}}}
    assert gw.admin("POST", "/v1/apis", body).status == 200
    target = "/api/%s/legacy/hello?name=Bob&n=5" % t["id"]
    r = gw.wait_status("GET", target, 200)
    assert r.json() == {"name": "Bob", "n": "5"}, r
    last = json.loads(harness.request(whisk.port, "GET",
                                      "/_whisk/last?kind=invoke").body)
    assert last["method"] == "POST"
    assert sorted(last["query"].split("&")) == ["blocking=true",
                                                "result=true"]


def test_v1_req_mapping_keeps_its_order(gw, whisk):
    from apigw_checks import header_values, last_raw
    t = gw.admin("PUT", "/v1/tenants",
                 {"namespace": "order", "instance": "i"}).json()
    op = {"backendMethod": "GET", "backendUrl": whisk.url + "/raw/order",
          "policies": [{"type": "reqMapping", "value": [
              {"action": "transform",
               "from": {"name": "X-A", "location": "header"},
               "to": {"name": "X-B", "location": "header"}},
              {"action": "insert", "from": {"value": "new"},
               "to": {"name": "X-A", "location": "header"}}]}]}
    body = {"name": "o", "basePath": "/order", "tenantId": t["id"],
            "resources": {"/x": {"operations": {"GET": op}}}}
    assert gw.admin("POST", "/v1/apis", body).status == 200
    target = "/api/%s/order/x" % t["id"]
    gw.wait_status("GET", target, 200)
    r = harness.request(gw.port, "GET", target, [("X-A", "client")])
    assert r.status == 200, r
    last = last_raw(whisk)
    assert header_values(last, "X-B") == ["client"]
    assert header_values(last, "X-A") == ["new"]


@pytest.mark.parametrize("value,pointer,message", [
    ("notalist", "", "must be an array of {action, from, to}"),
    ([{"action": "move", "from": {"value": "x"},
       "to": {"name": "a", "location": "query"}}],
     "/0/action", "must be insert, remove, transform or default"),
    ([{"action": "insert", "from": {"value": "x"},
       "to": {"name": "a", "location": "query"}},
      {"action": "insert", "from": {"value": "x"},
       "to": {"name": "Bad Name", "location": "header"}}],
     "/1/to", "name: must be a header name"),
    ([{"action": "transform", "from": {"name": "a", "location": "cookie"},
       "to": {"name": "b", "location": "query"}}],
     "/0/from", "location: must be header, query, body or path"),
    ([{"action": "transform", "from": {"name": "*", "location": "query"},
       "to": {"name": "*", "location": "header"}}],
     "/0/to", 'name: "*" (all of them) is for query and body only'),
    ([{"action": "insert", "from": {"value": "x"},
       "to": {"name": "nope", "location": "path"}}],
     "/0/to", "name: must be a parameter of the resource's path"),
    ([{"action": "insert", "from": {"value": {"a": 1}},
       "to": {"name": "X-A", "location": "header"}}],
     "/0/from/value", "must be a string, a number or a boolean"),
])
def test_v1_req_mapping_errors_point_into_the_body(gw, whisk, value,
                                                   pointer, message):
    """A bad reqMapping is a 400 whose pointer is in the submitted v1
    body, never one into the document apigw makes of it."""
    t = gw.admin("PUT", "/v1/tenants",
                 {"namespace": "rqe", "instance": "i"}).json()
    body = v1_api(t["id"], whisk, base="/rqe")
    body["resources"]["/world"]["operations"]["GET"]["policies"] = [
        {"type": "reqMapping", "value": value}]
    r = gw.admin("POST", "/v1/apis", body)
    assert r.status == 400, r
    b = r.json()
    assert b["errors"][0]["pointer"] == \
        "/resources/~1world/operations/GET/policies/0/value" + pointer, b
    assert b["errors"][0]["message"].startswith(message), b
