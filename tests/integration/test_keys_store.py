"""API keys and v2 subscriptions from the management API, end to end: an
API created through the management API with an apiKey (or an
openwhisk-apigateway clientSecret) security scheme is served on its
managed URL to the keys and subscriptions created through the API, scoped
to the tenant, the API (its artifact id) or one operation; a revoked or
deleted credential is refused by every worker within a second; the same
on the Redis store across two nodes."""

import hashlib
import time

import pytest

from admin_gw import Gateway, new_store_dir, wsk_add_endpoint, wsk_swagger
from admin_redis import RedisServer, wait_until

TENANT = "keyten"
OTHER = "otherten"

# the data plane must drop a revoked credential within this (issue 4)
REVOKE_BOUND = 1.0


def keyed_doc(whisk, base, scheme="apikey", paths=("/a", "/b"),
              rate=None):
    """What route management posts (Swagger 2.0 + x-ibm-configuration),
    with securityDefinitions and no `security`, openwhisk-apigateway
    style: every definition applies to every operation."""
    doc = wsk_swagger(whisk.url, base, "T" + base.replace("/", "-"))
    for p in paths:
        wsk_add_endpoint(doc, whisk.url, p, "get", "echo-http")
    if scheme == "apikey":
        doc["securityDefinitions"] = {
            "key": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}}
    else:
        doc["securityDefinitions"] = {
            "client_id": {"type": "apiKey", "in": "header",
                          "name": "X-Client-ID"},
            "client_secret": {"type": "apiKey", "in": "header",
                              "name": "X-Client-Secret"}}
    if rate:
        doc["x-gateway-rate-limit"] = [{"rate": rate, "unit": "minute",
                                        "units": 1}]
    return doc


def create_api(gw, doc, tenant=TENANT):
    r = gw.admin("POST", "/v2/%s/apis" % tenant, doc)
    assert r.status == 200, r
    return r.json()["artifact_id"]


def create_key(gw, consumer, tenant=TENANT, api=None, op=None):
    body = {"consumer": consumer}
    if api:
        body["api_id"] = api
    if op:
        body["operation"] = op
    r = gw.admin("POST", "/v2/%s/keys" % tenant, body)
    assert r.status == 201, r
    return r.json()


def subscribe(gw, client, api, secret=None, tenant=TENANT):
    body = {"client_id": client, "artifact_id": api}
    if secret is not None:
        body["client_secret"] = secret
    r = gw.admin("POST", "/v2/%s/subscriptions" % tenant, body)
    assert r.status == 200, r


def key_h(k):
    return [("X-Api-Key", k)]


def client_h(cid, secret):
    return [("X-Client-ID", cid), ("X-Client-Secret", secret)]


WORKERS = 2


def answers(gw, path, headers, until=None, limit=400):
    """The last status of each worker (X-Worker: its pid) after requests
    on new connections until every worker answered (and `until(last)`)."""
    last = {}
    for _ in range(limit):
        r = gw.get(path, headers=headers)
        last[r.header("X-Worker")] = r.status
        if len(last) >= WORKERS and (until is None or until(last)):
            break
    assert len(last) >= WORKERS, "not every worker answered: %s" % last
    return last


def status_of(gw, path, headers):
    """The statuses every worker answers (they must agree)."""
    return set(answers(gw, path, headers).values())


def wait_all(gw, path, headers, status, timeout):
    """Poll until every worker answers `status`; the seconds it took."""
    t0 = time.time()
    while True:
        last = answers(gw, path, headers,
                       until=lambda l: set(l.values()) == {status})
        took = time.time() - t0
        if set(last.values()) == {status}:
            return took
        assert took < timeout, "%s did not become %d within %.1fs: %s" % (
            path, status, timeout, last)
        time.sleep(0.01)


def consumer_of(r):
    return r.json()["__ow_headers"].get("x-apigw-consumer")


# which worker answered
EXTRA = "apigw_zone apigw 4m;\nadd_header X-Worker $pid always;"


@pytest.fixture(scope="module")
def gw(module_nginx_factory):
    # no static spec with a limit: managed APIs bring their own limits
    d = new_store_dir()
    return Gateway(module_nginx_factory, d, workers=2,
                   extra_http=EXTRA).start()


@pytest.fixture(scope="module")
def apis(gw, whisk):
    x = create_api(gw, keyed_doc(whisk, "/kx"))
    y = create_api(gw, keyed_doc(whisk, "/ky"))
    z = create_api(gw, keyed_doc(whisk, "/kz"), tenant=OTHER)
    c = create_api(gw, keyed_doc(whisk, "/kc", scheme="client"))
    # served (without credentials: 401) by every worker
    for p in ("/api/%s/kx/a" % TENANT, "/api/%s/ky/a" % TENANT,
              "/api/%s/kz/a" % OTHER, "/api/%s/kc/a" % TENANT):
        wait_all(gw, p, [], 401, 5)
    return {"x": x, "y": y, "z": z, "c": c}


def test_api_scoped_key(gw, apis):
    k = create_key(gw, "alice", api=apis["x"])
    assert k["key"].startswith(k["prefix"])
    # a new key is usable everywhere within a second as well
    wait_all(gw, "/api/%s/kx/a" % TENANT, key_h(k["key"]), 200, 1.0)
    r = gw.get("/api/%s/kx/a" % TENANT, headers=key_h(k["key"]))
    assert r.status == 200, r
    assert consumer_of(r) == "alice"
    assert status_of(gw, "/api/%s/kx/b" % TENANT, key_h(k["key"])) == {200}
    # another API of the same tenant: known key, not subscribed
    r = gw.get("/api/%s/ky/a" % TENANT, headers=key_h(k["key"]))
    assert r.status == 403, r
    assert r.json()["message"] == "Error: Forbidden."
    # no key, a wrong key
    r = gw.get("/api/%s/kx/a" % TENANT)
    assert r.status == 401 and "ApiKey" in r.header("WWW-Authenticate"), r
    assert gw.get("/api/%s/kx/a" % TENANT,
                  headers=key_h(k["key"] + "x")).status == 401


def test_key_of_another_api_is_403(gw, apis):
    ky = create_key(gw, "bob", api=apis["y"])
    wait_all(gw, "/api/%s/ky/a" % TENANT, key_h(ky["key"]), 200, 1.0)
    assert status_of(gw, "/api/%s/kx/a" % TENANT, key_h(ky["key"])) == {403}


def test_tenant_scoped_key(gw, apis):
    k = create_key(gw, "carol")
    wait_all(gw, "/api/%s/kx/a" % TENANT, key_h(k["key"]), 200, 1.0)
    for base in ("kx", "ky"):
        assert status_of(gw, "/api/%s/%s/a" % (TENANT, base),
                         key_h(k["key"])) == {200}
    # never on another tenant's API
    assert status_of(gw, "/api/%s/kz/a" % OTHER, key_h(k["key"])) == {403}
    # and a key of the other tenant never here
    ko = create_key(gw, "dave", tenant=OTHER)
    wait_all(gw, "/api/%s/kz/a" % OTHER, key_h(ko["key"]), 200, 1.0)
    assert status_of(gw, "/api/%s/kx/a" % TENANT, key_h(ko["key"])) == {403}


def test_operation_scoped_key(gw, apis):
    k = create_key(gw, "erin", api=apis["x"], op="getA")
    wait_all(gw, "/api/%s/kx/a" % TENANT, key_h(k["key"]), 200, 1.0)
    assert status_of(gw, "/api/%s/kx/b" % TENANT, key_h(k["key"])) == {403}
    assert status_of(gw, "/api/%s/ky/a" % TENANT, key_h(k["key"])) == {403}


def test_revoke_and_delete_within_a_second(gw, apis):
    path = "/api/%s/kx/a" % TENANT
    k1 = create_key(gw, "frank", api=apis["x"])
    k2 = create_key(gw, "grace", api=apis["x"])
    wait_all(gw, path, key_h(k1["key"]), 200, 1.0)
    wait_all(gw, path, key_h(k2["key"]), 200, 1.0)

    r = gw.admin("POST", "/v2/%s/keys/%s/revoke" % (TENANT, k1["id"]))
    assert r.status == 200 and r.json()["revoked"] is True, r
    took = wait_all(gw, path, key_h(k1["key"]), 401, REVOKE_BOUND)
    print("\nrevoked key refused by every worker after %.0f ms"
          % (took * 1000))

    r = gw.admin("DELETE", "/v2/%s/keys/%s" % (TENANT, k2["id"]))
    assert r.status == 204, r
    took = wait_all(gw, path, key_h(k2["key"]), 401, REVOKE_BOUND)
    print("deleted key refused by every worker after %.0f ms"
          % (took * 1000))


def test_subscription_without_secret_is_an_api_key(gw, apis):
    path = "/api/%s/kx/a" % TENANT
    cid = "sub-plain-client"
    assert status_of(gw, path, key_h(cid)) == {401}
    subscribe(gw, cid, apis["x"])
    wait_all(gw, path, key_h(cid), 200, 1.0)
    r = gw.get(path, headers=key_h(cid))
    assert r.status == 200, r
    # the key's fingerprint, never the key
    assert consumer_of(r) == "key-" + hashlib.sha256(
        cid.encode()).hexdigest()[:16]
    assert status_of(gw, path, key_h(cid)) == {200}
    # only for that API
    assert status_of(gw, "/api/%s/ky/a" % TENANT, key_h(cid)) == {403}
    # subscribed to a second API too
    subscribe(gw, cid, apis["y"])
    wait_all(gw, "/api/%s/ky/a" % TENANT, key_h(cid), 200, 1.0)

    r = gw.admin("DELETE", "/v2/%s/subscriptions/%s?artifact_id=%s"
                 % (TENANT, cid, apis["x"]))
    assert r.status == 204, r
    wait_all(gw, path, key_h(cid), 403, REVOKE_BOUND)
    assert status_of(gw, "/api/%s/ky/a" % TENANT, key_h(cid)) == {200}

    r = gw.admin("DELETE", "/v2/%s/subscriptions/%s?artifact_id=%s"
                 % (TENANT, cid, apis["y"]))
    assert r.status == 204, r
    wait_all(gw, "/api/%s/ky/a" % TENANT, key_h(cid), 401, REVOKE_BOUND)


def test_subscription_with_secret(gw, apis, whisk):
    path = "/api/%s/kc/a" % TENANT
    cid, secret = "sub-secret-client", "s3cret-Value"
    r = gw.get(path, headers=client_h(cid, secret))
    assert r.status == 401 and "ClientSecret" in \
        r.header("WWW-Authenticate", ""), r
    subscribe(gw, cid, apis["c"], secret)
    wait_all(gw, path, client_h(cid, secret), 200, 1.0)
    r = gw.get(path, headers=client_h(cid, secret))
    assert r.status == 200, r
    assert consumer_of(r) == cid
    assert status_of(gw, path, client_h(cid, secret)) == {200}
    # a wrong secret, no secret, the id alone as an API key elsewhere
    assert status_of(gw, path, client_h(cid, secret + "x")) == {401}
    assert status_of(gw, path, [("X-Client-ID", cid)]) == {401}
    assert status_of(gw, "/api/%s/kx/a" % TENANT, key_h(cid)) == {401}
    # the secret is stored salted: never in clear in the store
    with open(gw.store_dir + "/store.json.journal") as f:
        assert secret not in f.read()

    # the same client on another clientSecret API with another secret
    other = create_api(gw, keyed_doc(whisk, "/kc2", scheme="client"))
    wait_all(gw, "/api/%s/kc2/a" % TENANT, [], 401, 5)
    subscribe(gw, cid, other, "another-secret")
    wait_all(gw, "/api/%s/kc2/a" % TENANT, client_h(cid, "another-secret"),
             200, 1.0)
    assert status_of(gw, "/api/%s/kc2/a" % TENANT,
                     client_h(cid, secret)) == {403}
    assert status_of(gw, path, client_h(cid, "another-secret")) == {403}

    r = gw.admin("DELETE", "/v2/%s/subscriptions/%s?artifact_id=%s"
                 % (TENANT, cid, apis["c"]))
    assert r.status == 204, r
    wait_all(gw, path, client_h(cid, secret), 401, REVOKE_BOUND)
    assert status_of(gw, "/api/%s/kc2/a" % TENANT,
                     client_h(cid, "another-secret")) == {200}


def test_consumer_rate_limit_separates_keys(gw, whisk):
    api = create_api(gw, keyed_doc(whisk, "/krl", rate=2))
    path = "/api/%s/krl/a" % TENANT
    wait_all(gw, path, [], 401, 5)
    k1 = create_key(gw, "rl-one", api=api)
    k2 = create_key(gw, "rl-two", api=api)
    # known to every worker before counting (a probe would count)
    time.sleep(0.5)             # > apigw_store_poll (100ms)
    # 2 per minute, burst 1: two at once, then refused, per consumer
    got1 = [gw.get(path, headers=key_h(k1["key"])).status for _ in range(3)]
    assert got1 == [200, 200, 429], got1
    got2 = [gw.get(path, headers=key_h(k2["key"])).status for _ in range(3)]
    assert got2 == [200, 200, 429], got2


def test_deleting_the_api_drops_its_subscriptions(gw, whisk):
    api = create_api(gw, keyed_doc(whisk, "/kdel"))
    path = "/api/%s/kdel/a" % TENANT
    wait_all(gw, path, [], 401, 5)
    subscribe(gw, "sub-of-deleted", api)
    wait_all(gw, path, key_h("sub-of-deleted"), 200, 1.0)
    r = gw.admin("DELETE", "/v2/%s/apis/%s" % (TENANT, api))
    assert r.status == 204, r
    wait_all(gw, path, key_h("sub-of-deleted"), 404, 5)


# ---- the Redis store: two nodes ----

@pytest.fixture
def redis():
    r = RedisServer().start()
    yield r
    r.cleanup()


def redis_node(factory, redis):
    g = Gateway(factory, new_store_dir(), workers=2, store=redis.url(),
                extra_http=EXTRA).start()

    def up():
        return all(g.admin("GET", "/health").json()["store_writable"]
                   for _ in range(6))
    assert wait_until(up, timeout=10)
    return g


def test_redis_two_nodes(nginx_factory, redis, whisk):
    a = redis_node(nginx_factory, redis)
    b = redis_node(nginx_factory, redis)
    time.sleep(0.3)             # both subscribed

    x = create_api(a, keyed_doc(whisk, "/rx"))
    y = create_api(a, keyed_doc(whisk, "/ry"))
    c = create_api(a, keyed_doc(whisk, "/rc", scheme="client"))
    for p in ("/api/%s/rx/a", "/api/%s/ry/a", "/api/%s/rc/a"):
        wait_all(b, p % TENANT, [], 401, 5)

    # a key created on node A works on node B
    k = create_key(a, "redis-alice", api=x)
    wait_all(b, "/api/%s/rx/a" % TENANT, key_h(k["key"]), 200, 5)
    r = b.get("/api/%s/rx/a" % TENANT, headers=key_h(k["key"]))
    assert consumer_of(r) == "redis-alice"
    assert status_of(b, "/api/%s/ry/a" % TENANT, key_h(k["key"])) == {403}
    assert status_of(a, "/api/%s/rx/a" % TENANT, key_h(k["key"])) == {200}

    # subscriptions with and without a secret, written on B, used on A
    subscribe(b, "redis-plain", y)
    subscribe(b, "redis-client", c, "redis-secret")
    wait_all(a, "/api/%s/ry/a" % TENANT, key_h("redis-plain"), 200, 5)
    wait_all(a, "/api/%s/rc/a" % TENANT,
             client_h("redis-client", "redis-secret"), 200, 5)
    assert status_of(a, "/api/%s/rc/a" % TENANT,
                     client_h("redis-client", "wrong")) == {401}

    # revoked on A: refused by B within a second
    r = a.admin("POST", "/v2/%s/keys/%s/revoke" % (TENANT, k["id"]))
    assert r.status == 200, r
    took = wait_all(b, "/api/%s/rx/a" % TENANT, key_h(k["key"]), 401,
                    REVOKE_BOUND)
    print("\nredis: key revoked on node A refused by node B after %.0f ms"
          % (took * 1000))

    # a subscription deleted on B: refused by A within a second
    r = b.admin("DELETE", "/v2/%s/subscriptions/redis-client?artifact_id=%s"
                % (TENANT, c))
    assert r.status == 204, r
    wait_all(a, "/api/%s/rc/a" % TENANT,
             client_h("redis-client", "redis-secret"), 401, REVOKE_BOUND)
