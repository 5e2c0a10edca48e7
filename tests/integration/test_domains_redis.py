"""Custom domains on the Redis store: a domain, an API and a certificate
written through node A are routed and served by SNI on node B, and a
replaced certificate reaches B without a reload."""

import pytest

from admin_redis import RedisServer, wait_until
from domain_gw import DomainGateway, doc
from domain_pki import Pki, fingerprint


@pytest.fixture
def redis():
    r = RedisServer().start()
    yield r
    r.cleanup()


def ready(g):
    def up():
        return all(g.admin("GET", "/health").json()["store_writable"]
                   for _ in range(10))
    assert wait_until(up, timeout=10)


def test_domain_and_certificate_reach_the_other_node(nginx_factory, redis,
                                                      whisk, tmp_path):
    pki = Pki(str(tmp_path))
    a = DomainGateway(nginx_factory, pki, whisk, store=redis.url()).start()
    b = DomainGateway(nginx_factory, pki, whisk, store=redis.url()).start()
    ready(a)
    ready(b)

    assert a.admin("POST", "/v2/rd/apis",
                   doc("/r", {"/hi": ("echo-http", "get")})).status == 200
    assert a.admin("PUT", "/v2/rd/domains/redis.example.test").status == 200
    r = b.wait_on("redis.example.test", "/r/hi", 200)
    assert r.status == 200 and r.header("X-Tenant") == "rd", r

    chain, key = pki.issue("redis.example.test", ["redis.example.test"])
    assert a.upload("rd", "redis.example.test", chain, key).status == 200
    assert b.wait_cert("redis.example.test", fingerprint(chain)) == \
        fingerprint(chain)

    chain2, key2 = pki.issue("redis.example.test", ["redis.example.test"],
                             key_type="rsa")
    assert a.upload("rd", "redis.example.test", chain2, key2).status == 200
    assert b.wait_cert("redis.example.test", fingerprint(chain2)) == \
        fingerprint(chain2)
    g = b.admin("GET", "/v2/rd/domains/redis.example.test/certificate")
    assert g.json()["certificate"]["fingerprint_sha256"] == \
        fingerprint(chain2)
    # the key is in Redis (the store), never in an answer
    assert "PRIVATE KEY" not in g.body.decode()
