"""apigw's own outbound calls verify TLS: a JWKS over https from an
identity provider whose certificate chains to the configured CA and names
the host works; a wrong host name or an untrusted CA leaves the scheme
without keys (401), never with keys from an unverified server."""

import json
import subprocess
import time

import pytest

from apigw_checks import gateway
from idp import Idp


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True,
                   capture_output=True)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
            name + ".key", "-out", name + ".crt", "-days", "2", "-subj",
            "/CN=" + name, cwd=d)


def make_cert(d, ca, name, san):
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key",
            "-out", name + ".csr", "-subj", "/CN=" + name, cwd=d)
    with open("%s/%s.ext" % (d, name), "w") as f:
        f.write("subjectAltName=%s\n" % san)
    openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt",
            "-CAkey", ca + ".key", "-CAcreateserial", "-out", name + ".crt",
            "-days", "2", "-extfile", name + ".ext", cwd=d)
    return ("%s/%s.crt" % (d, name), "%s/%s.key" % (d, name))


@pytest.fixture(scope="module")
def env(module_nginx_factory, whisk, tmp_path_factory):
    d = str(tmp_path_factory.mktemp("tls"))
    make_ca(d, "ca")
    make_ca(d, "other-ca")
    good = Idp(tls=make_cert(d, "ca", "idp", "DNS:localhost"),
               host="localhost")
    rogue = Idp(tls=make_cert(d, "other-ca", "rogue", "DNS:localhost"),
                host="localhost")

    def scheme(url):
        return {"type": "http", "scheme": "bearer", "x-apigw-jwt": {
            "audiences": ["apigw-tests"], "jwks_uri": url + "/certs"}}

    def op(oid, sec):
        return {"get": {"operationId": oid, "security": [{sec: []}],
                        "responses": {"200": {"description": "ok"}}}}

    doc = {
        "openapi": "3.0.3", "info": {"title": "tls", "version": "1"},
        "servers": [{"url": "/t"}],
        "x-apigw-backend": {"url": whisk.url + "/raw/tls"},
        "components": {"securitySchemes": {
            "good": scheme(good.issuer),
            # the certificate names localhost, not the address
            "wronghost": scheme(good.issuer.replace("localhost",
                                                    "127.0.0.1")),
            "rogue": scheme(rogue.issuer),
        }},
        "paths": {"/good": op("good", "good"),
                  "/wronghost": op("wronghost", "wronghost"),
                  "/rogue": op("rogue", "rogue")},
    }
    s = "%s/tls.json" % d
    with open(s, "w") as f:
        json.dump(doc, f)
    n = module_nginx_factory(gateway(
        "apigw_spec %s;" % s,
        extra_http="apigw_auth_ssl_trusted_certificate %s/ca.crt;"
                   "apigw_jwks_refresh 300s 1s;" % d,
        extra_location="add_header X-T-Reason $apigw_reason always;"
    )).start()
    yield n, good, rogue
    good.stop()
    rogue.stop()


def bearer(tok):
    return [("Authorization", "Bearer " + tok)]


def test_verified_jwks_over_tls(env):
    n, good, rogue = env
    deadline = time.time() + 8
    while time.time() < deadline:
        if n.request("GET", "/t/good", bearer(good.token())).status == 200:
            break
        time.sleep(0.1)
    assert n.request("GET", "/t/good", bearer(good.token())).status == 200


def test_wrong_host_or_untrusted_ca_gives_no_keys(env):
    n, good, rogue = env
    time.sleep(1.5)      # several fetch attempts have been made by now
    for target, idp in (("/t/wronghost", good), ("/t/rogue", rogue)):
        r = n.request("GET", target, bearer(idp.token(iss=None)))
        assert r.status == 401, r
        assert r.header("X-T-Reason") == "token_no_keys"
    assert "certificate" in n.log()
