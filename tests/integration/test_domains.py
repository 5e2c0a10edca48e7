"""Custom domains: domain and certificate management, routing by Host
(a tenant's APIs without /api/{tenant}), certificates served by SNI without
a reload, bad uploads, wildcards; and what browsers need passing through
(conditional requests, gzip)."""

import gzip
import json
import re
import subprocess
import time

import pytest

import harness
from apigw_checks import header_values, last_raw
from admin_gw import Gateway, new_store_dir
from domain_gw import DomainGateway, doc, raw_doc
from domain_pki import Pki, fingerprint, read


def err(r, status, fragment=None):
    assert r.status == status, r
    assert r.header("Content-Type") == "application/json", r
    body = r.json()
    assert body["status"] == status, r
    assert body["message"].startswith("Error: "), r
    if fragment is not None:
        assert fragment in body["message"], r
    return body


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(str(tmp_path_factory.mktemp("domain-pki")))


@pytest.fixture(scope="module")
def gw(module_nginx_factory, pki, whisk):
    return DomainGateway(module_nginx_factory, pki, whisk).start()


# ---- domain CRUD and conflicts ----

def test_domain_crud_and_conflicts(gw):
    r = gw.admin("PUT", "/v2/crud1/domains/API.Crud.test")
    assert r.status == 200, r
    assert r.json() == {"domain": "api.crud.test", "tenant": "crud1",
                        "certificate": None}
    # idempotent; the tenant record lists it
    assert gw.admin("PUT", "/v2/crud1/domains/api.crud.test").status == 200
    assert gw.admin("GET", "/v2/crud1").json()["domains"] == \
        ["api.crud.test"]
    assert gw.admin("PUT", "/v2/crud1/domains/www.crud.test").status == 200

    lst = gw.admin("GET", "/v2/crud1/domains").json()
    assert [d["domain"] for d in lst] == ["api.crud.test", "www.crud.test"]
    assert gw.admin("GET", "/v2/crud1/domains/www.crud.test").json() == \
        {"domain": "www.crud.test", "tenant": "crud1", "certificate": None}

    # one tenant per domain, whichever endpoint asks
    err(gw.admin("PUT", "/v2/crud2/domains/api.crud.test"), 409,
        "belongs to another tenant")
    err(gw.admin("PUT", "/v2/crud2", {"domains": ["www.crud.test"]}), 409)
    err(gw.admin("GET", "/v2/crud2/domains/api.crud.test"), 404)
    err(gw.admin("DELETE", "/v2/crud2/domains/api.crud.test"), 404)

    # bad names
    err(gw.admin("PUT", "/v2/crud1/domains/bad_name.test"), 400)
    err(gw.admin("PUT", "/v2/crud1/domains/a..b"), 400)
    err(gw.admin("PUT", "/v2/crud1/domains/x.*.test"), 400)
    err(gw.admin("GET", "/v2/nobody/domains"), 404)
    err(gw.admin("POST", "/v2/crud1/domains/api.crud.test"), 405)

    # remove: gone, and free for another tenant
    assert gw.admin("DELETE", "/v2/crud1/domains/api.crud.test").status \
        == 204
    err(gw.admin("GET", "/v2/crud1/domains/api.crud.test"), 404)
    assert [d["domain"] for d in gw.admin("GET", "/v2/crud1/domains").json()] \
        == ["www.crud.test"]
    assert gw.admin("PUT", "/v2/crud2/domains/api.crud.test").status == 200


# ---- routing by Host ----

def test_gateway_and_reserved_names_refused(gw):
    # the gateway's own host (apigw_public_url is http://127.0.0.1:port)
    for d, why in (("127.0.0.1", "an IP address"),
                   ("10.0.0.1", "an IP address"),
                   ("[::1]", "an IP address"),
                   ("localhost", "localhost names"),
                   ("api.localhost", "localhost names"),
                   ("com", "a single-label name"),
                   ("*.com", "a wildcard must cover"),
                   ("-a.example.test", "a label starts or ends"),
                   ("%s.example.test" % ("a" * 64), "a label is longer"),
                   (".".join(["a" * 63] * 4), "the name is longer")):
        err(gw.admin("PUT", "/v2/grab/domains/%s" % d), 400,
            "Invalid domain: " + why)
    err(gw.admin("PUT", "/v2/grab", {"domains": ["ok.grab.test", "com"]}),
        400, "Invalid domain at /domains/1: a single-label name")
    err(gw.admin("GET", "/v2/grab"), 404)


def test_vanity_domains_refused(nginx_factory, whisk):
    """A vanity domain, or a name below it, is the gateway's: no tenant
    may claim it (and then serve its certificate for every namespace)."""
    g = Gateway(nginx_factory, new_store_dir(),
                extra_http="apigw_store_openwhisk_url %s; server { listen "
                           "127.0.0.1:%d; location / { apigw; "
                           "apigw_openwhisk_url %s; "
                           "apigw_vanity_domain Example.NET; } }"
                           % (whisk.url, harness.free_port(), whisk.url))
    g.start()
    for d in ("example.net", "*.example.net", "guest.example.net",
              "a.b.example.net"):
        err(g.admin("PUT", "/v2/grab/domains/%s" % d), 409,
            "Domain %s is the gateway's own host." % d)
    err(g.admin("PUT", "/v2/grab", {"domains": ["x.example.net"]}), 409)
    assert g.admin("PUT", "/v2/grab/domains/myexample.net").status == 200
    assert g.admin("PUT", "/v2/grab/domains/example.network").status == 200


def test_public_host_refused(nginx_factory, whisk):
    g = Gateway(nginx_factory, new_store_dir(),
                public_url="http://GW.Public.test:{port}/",
                extra_http="apigw_store_openwhisk_url %s;" % whisk.url)
    g.start()
    r = g.admin("POST", "/v2/victim/apis",
                doc("/shop", {"/items": ("echo-http", "get")}))
    assert r.status == 200, r
    r = g.admin("POST", "/v2/thief/apis",
                doc("/api/victim/shop", {"/items": ("echo-http", "get")}))
    assert r.status == 200, r

    # the public host, in any case, a wildcard over it, in either call
    err(g.admin("PUT", "/v2/thief/domains/gw.public.test"), 409,
        "Domain gw.public.test is the gateway's own host.")
    err(g.admin("PUT", "/v2/thief/domains/GW.PUBLIC.TEST"), 409)
    err(g.admin("PUT", "/v2/thief/domains/*.public.test"), 409)
    err(g.admin("PUT", "/v2/thief", {"domains": ["gw.public.test"]}), 409)
    assert g.admin("GET", "/v2/thief").json()["domains"] == []

    # so the victim's managed URL stays the victim's on the public host
    h = [("Host", "gw.public.test:%d" % g.port)]
    deadline = time.time() + 10
    while True:
        r = harness.request(g.port, "GET", "/api/victim/shop/items", h)
        if r.status == 200 or time.time() > deadline:
            break
        time.sleep(0.05)
    assert r.status == 200, r
    v = harness.request(g.port, "GET", "/api/victim/shop/items")
    assert v.status == 200, v
    assert r.json()["__ow_path"] == v.json()["__ow_path"], (r, v)

    # a name next to it is the tenant's to take
    assert g.admin("PUT", "/v2/thief/domains/api.public.test").status == 200


def test_host_routes_by_base_path(gw, whisk):
    r = gw.admin("POST", "/v2/shop/apis",
                 doc("/store", {"/items/{id}": ("echo-http", "get")}))
    assert r.status == 200, r
    assert gw.admin("PUT", "/v2/shop/domains/shop.example.test").status \
        == 200

    r = gw.wait_on("shop.example.test", "/store/items/42?x=1", 200)
    assert r.status == 200, r
    body = r.json()
    assert body["__ow_method"] == "get" and body["x"] == "1"
    assert body.get("id") == "42" or "/items/42" in body.get("__ow_path", ""), body
    assert r.header("X-Tenant") == "shop"

    # case and port of the Host do not matter
    r = gw.on("SHOP.Example.test:%d" % gw.http_port, "/store/items/1")
    assert r.status == 200 and r.header("X-Tenant") == "shop", r

    # the managed URL keeps working, on any host
    r = gw.on("localhost", "/api/shop/store/items/7")
    assert r.status == 200 and r.header("X-Tenant") == "shop", r
    r = harness.request(gw.port, "GET", "/api/shop/store/items/7")
    assert r.status == 200, r

    # an unknown host falls through: no /store there
    r = gw.on("other.example.test", "/store/items/42")
    err(r, 404)
    assert r.header("X-Tenant") in (None, "")   # empty: not added
    # the tenant's domain serves only the tenant's paths
    err(gw.on("shop.example.test", "/nothing/here"), 404)
    err(gw.on("shop.example.test", "/store/items/1", method="DELETE"), 405)


def test_host_routing_follows_domain_changes(gw, whisk):
    assert gw.admin("POST", "/v2/mover1/apis",
                    doc("/m", {"/who": ("echo-http", "get")})).status == 200
    assert gw.admin("POST", "/v2/mover2/apis",
                    doc("/m", {"/who": ("echo-http", "get")})).status == 200
    assert gw.admin("PUT", "/v2/mover1/domains/move.example.test").status \
        == 200
    r = gw.wait_on("move.example.test", "/m/who", 200)
    assert r.header("X-Tenant") == "mover1", r

    # the domain moves to another tenant: requests follow, no reload
    assert gw.admin("DELETE", "/v2/mover1/domains/move.example.test") \
        .status == 204
    gw.wait_on("move.example.test", "/m/who", 404)
    assert gw.admin("PUT", "/v2/mover2/domains/move.example.test").status \
        == 200
    deadline = time.time() + 10
    while True:
        r = gw.on("move.example.test", "/m/who")
        if r.header("X-Tenant") == "mover2" or time.time() > deadline:
            break
        time.sleep(0.02)
    assert r.status == 200 and r.header("X-Tenant") == "mover2", r

    # the tenant goes: so do its domains
    assert gw.admin("DELETE", "/v2/mover2").status == 204
    err(gw.wait_on("move.example.test", "/m/who", 404), 404)


def test_wildcard_domain_matches_one_label(gw, whisk):
    assert gw.admin("POST", "/v2/wild/apis",
                    doc("/w", {"/ping": ("echo-http", "get")})).status == 200
    r = gw.admin("PUT", "/v2/wild/domains/*.wild.test")
    assert r.status == 200 and r.json()["domain"] == "*.wild.test", r
    # a wildcard is one domain: another tenant cannot take it
    err(gw.admin("PUT", "/v2/tame/domains/*.wild.test"), 409)

    r = gw.wait_on("a.wild.test", "/w/ping", 200)
    assert r.status == 200 and r.header("X-Tenant") == "wild", r
    assert gw.on("other-1.wild.test", "/w/ping").status == 200
    err(gw.on("a.b.wild.test", "/w/ping"), 404)
    err(gw.on("wild.test", "/w/ping"), 404)
    err(gw.on("awild.test", "/w/ping"), 404)

    # the names the wildcard covers are its tenant's: another tenant
    # taking one would take its traffic, and be served its certificate
    assert gw.admin("POST", "/v2/tame/apis",
                    doc("/w", {"/ping": ("echo-http", "get")})).status == 200
    err(gw.admin("PUT", "/v2/tame/domains/exact.wild.test"), 409)
    err(gw.admin("PUT", "/v2/tame", {"domains": ["www.wild.test"]}), 409)
    assert gw.on("exact.wild.test", "/w/ping").header("X-Tenant") == "wild"
    # ... nor a wildcard over another tenant's name
    assert gw.admin("PUT", "/v2/tame/domains/one.tame.test").status == 200
    err(gw.admin("PUT", "/v2/wild/domains/*.tame.test"), 409)
    # its own tenant may name one exactly (say, for its own certificate)
    assert gw.admin("PUT", "/v2/wild/domains/exact.wild.test").status == 200
    assert gw.on("b.wild.test", "/w/ping").header("X-Tenant") == "wild"


# ---- certificates by SNI ----

def test_certificate_served_by_sni_and_replaced_live(gw, pki):
    default_fp = fingerprint(gw.default_cert)
    assert gw.admin("PUT", "/v2/tls1/domains/secure.example.test").status \
        == 200
    # no certificate yet: the server's default
    assert gw.served("secure.example.test") == \
        default_fp

    chain, key = pki.issue("secure.example.test", ["secure.example.test"])
    r = gw.upload("tls1", "secure.example.test", chain, key)
    assert r.status == 200, r
    view = r.json()["certificate"]
    assert view["fingerprint_sha256"] == fingerprint(chain)
    assert view["subject"] == "CN=secure.example.test"
    assert view["issuer"] == "CN=apigw test ca"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",
                        view["not_after"]), view
    assert view["names"] == "secure.example.test"

    assert gw.wait_cert("secure.example.test", fingerprint(chain)) == \
        fingerprint(chain)
    # verified against the test CA, with the name checked
    assert gw.served("secure.example.test",
                              cafile=pki.path("ca.pem")) == fingerprint(chain)
    # other names: the default
    assert gw.served("unknown.example.test") == \
        default_fp

    # replaced while nginx runs: the next handshakes get the new one
    chain2, key2 = pki.issue("secure.example.test", ["secure.example.test"],
                             key_type="rsa")
    assert fingerprint(chain2) != fingerprint(chain)
    r = gw.upload("tls1", "secure.example.test", chain2, key2)
    assert r.status == 200, r
    assert gw.wait_cert("secure.example.test", fingerprint(chain2)) == \
        fingerprint(chain2)

    # GET shows what is served; removing it falls back to the default
    g = gw.admin("GET", "/v2/tls1/domains/secure.example.test/certificate")
    assert g.status == 200
    assert g.json()["certificate"]["fingerprint_sha256"] == \
        fingerprint(chain2)
    assert gw.admin("DELETE", "/v2/tls1/domains/secure.example.test/"
                    "certificate").status == 204
    err(gw.admin("GET", "/v2/tls1/domains/secure.example.test/certificate"),
        404)
    assert gw.wait_cert("secure.example.test", default_fp) == default_fp


def test_openssl_s_client_sees_the_domain_certificate(gw, pki):
    assert gw.admin("PUT", "/v2/tls2/domains/cli.example.test").status == 200
    chain, key = pki.issue("cli.example.test", ["cli.example.test"])
    assert gw.upload("tls2", "cli.example.test", chain, key).status == 200
    gw.wait_cert("cli.example.test", fingerprint(chain))
    p = subprocess.run(
        ["openssl", "s_client", "-connect", "127.0.0.1:%d" % gw.tls_port,
         "-servername", "cli.example.test", "-CAfile", pki.path("ca.pem"),
         "-verify_hostname", "cli.example.test", "-verify_return_error",
         "-brief"],
        input=b"", capture_output=True, timeout=30)
    out = (p.stdout + p.stderr).decode()
    assert p.returncode == 0, out
    assert "Verification: OK" in out, out
    assert "CN = cli.example.test" in out or "CN=cli.example.test" in out, out


def test_https_request_routed_by_host(gw, pki, whisk):
    import socket
    import ssl
    assert gw.admin("POST", "/v2/tls3/apis",
                    doc("/s", {"/hello": ("echo-http", "get")})).status == 200
    assert gw.admin("PUT", "/v2/tls3/domains/www.tls3.test").status == 200
    chain, key = pki.issue("www.tls3.test", ["www.tls3.test"])
    assert gw.upload("tls3", "www.tls3.test", chain, key).status == 200
    gw.wait_cert("www.tls3.test", fingerprint(chain))
    ctx = ssl.create_default_context(cafile=pki.path("ca.pem"))
    with socket.create_connection(("127.0.0.1", gw.tls_port)) as s:
        with ctx.wrap_socket(s, server_hostname="www.tls3.test") as t:
            t.sendall(b"GET /s/hello?a=b HTTP/1.1\r\nHost: www.tls3.test\r\n"
                      b"Connection: close\r\n\r\n")
            data = b""
            while True:
                piece = t.recv(65536)
                if not piece:
                    break
                data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), data
    assert b"X-Tenant: tls3" in head, head
    assert b'"a": "b"' in body or b'"a":"b"' in body, body


def test_wildcard_certificate(gw, pki):
    assert gw.admin("PUT", "/v2/tls4/domains/*.tls4.test").status == 200
    # a certificate for one name does not cover the wildcard domain
    one, one_key = pki.issue("a.tls4.test", ["a.tls4.test"])
    err(gw.upload("tls4", "*.tls4.test", one, one_key), 400, "does not cover")
    chain, key = pki.issue("*.tls4.test", ["*.tls4.test"])
    r = gw.upload("tls4", "*.tls4.test", chain, key)
    assert r.status == 200, r
    fp = fingerprint(chain)
    assert gw.wait_cert("x.tls4.test", fp) == fp
    assert gw.served("y.tls4.test",
                              cafile=pki.path("ca.pem")) == fp
    assert gw.served("a.b.tls4.test") == \
        fingerprint(gw.default_cert)
    # a name of the wildcard claimed on its own, without a certificate of
    # its own, is still served the wildcard's
    assert gw.admin("PUT", "/v2/tls4/domains/api.tls4.test").status == 200
    assert gw.wait_cert("api.tls4.test", fp) == fp
    # a client may send the SNI name with the root's trailing dot
    assert gw.served("z.tls4.test.") == fp


def test_bad_certificate_uploads(gw, pki):
    d = "bad.example.test"
    assert gw.admin("PUT", "/v2/tls5/domains/%s" % d).status == 200
    good, good_key = pki.issue(d, [d])
    other, other_key = pki.issue(d, [d])
    expired, expired_key = pki.issue(d, [d], expired=True)
    wrong, wrong_key = pki.issue("elsewhere.test", ["elsewhere.test"])
    url = "/v2/tls5/domains/%s/certificate" % d

    def put(cert, key):
        return gw.admin("PUT", url, {"certificate": cert,
                                     "private_key": key})

    err(put(read(good), read(other_key)), 400,
        "private key does not match the certificate")
    err(put(read(expired), read(expired_key)), 400, "has expired")
    err(put(read(wrong), read(wrong_key)), 400, "does not cover %s" % d)
    err(put("garbage", read(good_key)), 400, "does not parse")
    err(put(read(good), "-----BEGIN PRIVATE KEY-----\nAAAA\n"
            "-----END PRIVATE KEY-----\n"), 400, "private key does not parse")
    err(put(read(good)[:200], read(good_key)), 400, "does not parse")
    # the chain in the wrong order: the CA first
    err(put(read(pki.path("ca.pem")) + read(good), read(good_key)), 400,
        "certificate 2 of the chain is the private key's: the chain must "
        "start with it (leaf first, then each issuer)")
    # a chain whose second certificate did not issue the first
    err(put(read(good) + read(pki.path("rogue-ca.pem")), read(good_key)),
        400, "not the issuer")
    # an encrypted key cannot be used at handshake time
    enc = pki.path("enc-key.pem")
    subprocess.run(["openssl", "pkey", "-in", good_key, "-aes256",
                    "-passout", "pass:secret", "-out", enc], check=True)
    err(put(read(good), read(enc)), 400, "private key does not parse")
    err(gw.admin("PUT", url, {"certificate": read(good)}), 400,
        "\"private_key\"")
    err(gw.admin("PUT", url, raw=b"not json",
                 headers=[("Content-Type", "application/json")]), 400)
    # not this tenant's domain
    err(gw.admin("PUT", "/v2/tls6/domains/%s/certificate" % d,
                 {"certificate": read(good), "private_key": read(good_key)}),
        404)
    # nothing was stored; the CA with the leaf (leaf first) is fine
    err(gw.admin("GET", url), 404)
    r = put(read(good) + read(pki.path("ca.pem")), read(good_key))
    assert r.status == 200 and r.json()["certificate"]["chain_length"] == 2


def test_private_key_never_shown_or_logged(gw, pki):
    d = "secret.example.test"
    assert gw.admin("PUT", "/v2/tls7/domains/%s" % d).status == 200
    chain, key = pki.issue(d, [d])
    key_text = read(key)
    # the base64 lines of the key, however it is re-encoded
    key_lines = [ln for ln in key_text.splitlines()
                 if ln and not ln.startswith("-----")]
    subprocess.run(["openssl", "pkey", "-in", key, "-out",
                    pki.path("secret-pkcs8.pem")], check=True)
    key_lines += [ln for ln in read(pki.path("secret-pkcs8.pem")).splitlines()
                  if ln and not ln.startswith("-----")]

    responses = [gw.upload("tls7", d, chain, key)]
    assert responses[0].status == 200
    # a failing upload answers without echoing it either
    other, _ = pki.issue(d, [d])
    responses.append(gw.admin("PUT", "/v2/tls7/domains/%s/certificate" % d,
                              {"certificate": read(other),
                               "private_key": key_text}))
    assert responses[-1].status == 400
    gw.wait_cert(d, fingerprint(chain))
    for t in ("/v2/tls7", "/v2/tls7/domains", "/v2/tls7/domains/%s" % d,
              "/v2/tls7/domains/%s/certificate" % d, "/v2/tls7/apis",
              "/health"):
        responses.append(gw.admin("GET", t))
    for r in responses:
        text = r.body.decode()
        assert "PRIVATE KEY" not in text, r
        for ln in key_lines:
            assert ln not in text, r
    log = gw.nginx.log()
    assert "PRIVATE KEY" not in log
    for ln in key_lines:
        assert ln not in log


def test_config_default_certificate_pairs(nginx_factory, pki):
    n = nginx_factory("""
server {
    listen 127.0.0.1:{port} ssl;
    ssl_certificate     data:$apigw_ssl_certificate;
    ssl_certificate_key data:$apigw_ssl_certificate_key;
    apigw_ssl_default_certificate %s;
}""" % pki.path("ca.pem"))
    rc, out = n.test()
    assert rc != 0 and "go together" in out, out
    n2 = nginx_factory("""
server {
    listen 127.0.0.1:{port} ssl;
    ssl_certificate     data:$apigw_ssl_certificate;
    ssl_certificate_key data:$apigw_ssl_certificate_key;
    apigw_ssl_default_certificate %s/nonexistent.pem;
    apigw_ssl_default_certificate_key %s;
}""" % (pki.dir, pki.path("ca-key.pem")))
    rc, out = n2.test()
    assert rc != 0 and "nonexistent.pem" in out, out
    # a pair that would not load: refused by nginx -t, not at every
    # handshake (where nginx logs the key's text)
    a_chain, _ = pki.issue("a.pair.test", ["a.pair.test"])
    _, b_key = pki.issue("b.pair.test", ["b.pair.test"])
    for cert, key, why in ((a_chain, b_key, "does not match"),
                           (b_key, a_chain, "")):
        nx = nginx_factory("""
server {
    listen 127.0.0.1:{port} ssl;
    ssl_certificate     data:$apigw_ssl_certificate;
    ssl_certificate_key data:$apigw_ssl_certificate_key;
    apigw_ssl_default_certificate %s;
    apigw_ssl_default_certificate_key %s;
}""" % (cert, key))
        rc, out = nx.test()
        assert rc != 0 and "apigw_ssl_default_certificate" in out \
            and why in out and "PRIVATE KEY" not in out, out
    # the callback needs the server's own default certificate
    n3 = nginx_factory("""
server {
    listen 127.0.0.1:{port} ssl;
    ssl_certificate     data:$apigw_ssl_certificate;
    ssl_certificate_key data:$apigw_ssl_certificate_key;
    apigw_ssl_domains on;
}""")
    rc, out = n3.test()
    assert rc != 0 and "needs the server's default" in out, out
    # on for all of http{}: plain-http servers (a port 80 redirect) are
    # left alone, TLS ones get the callback
    chain, key = pki.issue("all.http.test", ["all.http.test"])
    n4 = nginx_factory("""
apigw_ssl_domains on;
server {
    listen 127.0.0.1:{port};
    return 301 https://$host$request_uri;
}
server {
    listen 127.0.0.1:%d ssl;
    ssl_certificate     %s;
    ssl_certificate_key %s;
}""" % (harness.free_port(), chain, key))
    rc, out = n4.test()
    assert rc == 0, out


def test_client_without_sni_gets_the_default(gw):
    import socket
    import ssl
    import hashlib
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    for port in (gw.tls_port, gw.var_port):
        with socket.create_connection(("127.0.0.1", port)) as s:
            with ctx.wrap_socket(s) as t:      # no server_hostname: no SNI
                der = t.getpeercert(binary_form=True)
        h = hashlib.sha256(der).hexdigest().upper()
        assert ":".join(h[i:i + 2] for i in range(0, 64, 2)) == \
            fingerprint(gw.default_cert)


# ---- what browsers need: conditional requests, gzip ----

@pytest.fixture(scope="module")
def browser_api(gw, whisk):
    assert gw.admin("POST", "/v2/web1/apis",
                    doc("/site", {"/etag": ("etag", "get"),
                                  "/cookies": ("cookies", "get"),
                                  "/image": ("image", "get")})).status == 200
    assert gw.admin("POST", "/v2/web1/apis",
                    raw_doc("/raw", whisk, {"/cached": "/raw/cached",
                                            "/gzip": "/raw/gzip"})) \
        .status == 200
    assert gw.admin("PUT", "/v2/web1/domains/web.example.test").status == 200
    gw.wait_on("web.example.test", "/site/etag", 200)
    gw.wait_on("web.example.test", "/raw/cached", 200)
    return "web.example.test"


def test_conditional_request_to_a_web_action(gw, browser_api):
    r = gw.on(browser_api, "/site/etag")
    assert r.status == 200 and r.json() == {"version": 1}, r
    etag = r.header("ETag")
    assert etag == '"v1-5d41402a"'
    r = gw.on(browser_api, "/site/etag", headers=[("If-None-Match", etag)])
    assert r.status == 304, r
    assert r.body == b"" and r.header("ETag") == etag
    r = gw.on(browser_api, "/site/etag",
              headers=[("If-None-Match", '"something-else"')])
    assert r.status == 200


def test_conditional_requests_to_a_backend(gw, whisk, browser_api):
    r = gw.on(browser_api, "/raw/cached")
    assert r.status == 200 and r.body == b"cached body", r
    etag, modified = r.header("ETag"), r.header("Last-Modified")
    assert etag and modified
    r = gw.on(browser_api, "/raw/cached", headers=[("If-None-Match", etag)])
    assert r.status == 304 and r.body == b"", r
    assert r.header("ETag") == etag
    # the condition reached the backend as sent
    assert header_values(last_raw(whisk), "If-None-Match") == [etag]
    r = gw.on(browser_api, "/raw/cached",
              headers=[("If-Modified-Since", modified)])
    assert r.status == 304, r
    r = gw.on(browser_api, "/raw/cached",
              headers=[("If-Modified-Since", "Mon, 01 Jan 2024 00:00:00 GMT")])
    assert r.status == 200 and r.body == b"cached body"


def test_gzip_from_the_backend_passes_untouched(gw, browser_api):
    r = gw.on(browser_api, "/raw/gzip",
              headers=[("Accept-Encoding", "gzip, deflate, br")])
    assert r.status == 200, r
    assert r.header("Content-Encoding") == "gzip"
    assert r.header("Vary") == "Accept-Encoding"
    assert r.body[:2] == b"\x1f\x8b"
    doc_ = json.loads(gzip.decompress(r.body))
    assert doc_["compressed"] is True
    assert int(r.header("Content-Length", len(r.body))) == len(r.body)


def test_browser_things_over_a_custom_domain(gw, browser_api):
    r = gw.on(browser_api, "/site/cookies")
    assert r.status == 200 and len(r.header_all("Set-Cookie")) == 2, r
    r = gw.on(browser_api, "/site/image")
    assert r.status == 200 and r.header("Content-Type") == "image/png"
    assert r.body.startswith(b"\x89PNG")
    h = gw.on(browser_api, "/site/image", method="HEAD")
    assert h.status == 200 and h.body == b""
    assert h.header("Content-Type") == "image/png"
