"""https backends: SNI and certificate verification against the configured
CA certificates."""

import os
import subprocess
import time

import pytest

import harness
from apigw_checks import assert_error


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True,
                   capture_output=True)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=apigw test %s" % name, "-keyout", name + "-key.pem",
            "-out", name + ".pem",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("pki"))
    make_ca(d, "ca")
    make_ca(d, "other-ca")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
            "-keyout", "server-key.pem", "-out", "server.csr", cwd=d)
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost\n"
                "extendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem",
            "-CAkey", "ca-key.pem", "-CAcreateserial", "-days", "2",
            "-extfile", "ext.cnf", "-out", "server.pem", cwd=d)
    return d


@pytest.fixture(scope="module")
def tls_backend(module_nginx_factory, pki):
    return module_nginx_factory("""
log_format conn '$connection|$request';
server {
    listen 127.0.0.1:{port} ssl;
    access_log %s/conn.log conn;
    ssl_certificate %s/server.pem;
    ssl_certificate_key %s/server-key.pem;
    location / {
        add_header X-TLS-SNI $ssl_server_name always;
        add_header X-TLS-URI $request_uri always;
        return 200 "tls-ok";
    }
}""" % (pki, pki, pki)).start()


@pytest.fixture(scope="module")
def gw(module_nginx_factory, tls_backend, pki, tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("tls"))
    locations = []
    for base, extra in [
            ("trusted", "apigw_backend_ssl_trusted_certificate %s/ca.pem;"
             % pki),
            ("default", ""),
            ("wrong", "apigw_backend_ssl_trusted_certificate %s/other-ca.pem;"
             % pki),
            ("noverify", "apigw_backend_ssl_trusted_certificate "
             "%s/other-ca.pem; apigw_backend_ssl_verify off;" % pki)]:
        d = os.path.join(tmp, base)
        os.makedirs(d)
        spec = harness.render_spec("tls.yaml", d, BASE=base,
                                   TLSPORT=tls_backend.port)
        locations.append("location /%s/ { apigw; apigw_spec %s; %s }"
                         % (base, spec, extra))
    return module_nginx_factory("server { listen 127.0.0.1:{port}; %s }"
                                % " ".join(locations)).start()


def test_verified_tls_backend(gw):
    r = gw.request("GET", "/trusted/hello/a%20b?x=1")
    assert r.status == 200, r
    assert r.body == b"tls-ok"
    assert r.header("X-TLS-SNI") == "localhost"
    assert r.header("X-TLS-URI") == "/tls/a%20b?x=1"


def test_default_trust_store_rejects_the_private_ca(gw):
    r = gw.request("GET", "/default/hello/1")
    assert_error(r, 502, "Error: Backend unavailable.")
    assert "upstream SSL certificate verify error" in gw.log()


def test_wrong_ca_rejected(gw):
    r = gw.request("GET", "/wrong/hello/1", [("X-Request-ID", "tls-wrong")])
    assert assert_error(r, 502, "Error: Backend unavailable.") == "tls-wrong"


def test_verification_off(gw):
    r = gw.request("GET", "/noverify/hello/2")
    assert r.status == 200 and r.body == b"tls-ok"


def backend_log(tls_backend, pki, at_least=0):
    """The backend's access log: [connection, request] per line (a line is
    written just after its response; wait for `at_least` lines)."""
    deadline = time.time() + 10
    while True:
        with open(os.path.join(pki, "conn.log")) as f:
            lines = [line.rstrip("\n").split("|") for line in f]
        if len(lines) >= at_least or time.time() > deadline:
            return lines
        time.sleep(0.02)


def test_backend_never_saw_unverified_requests(gw, tls_backend, pki):
    # only the verified and the unverified-on-purpose requests got through,
    # although a verified connection was cached when the others came
    assert [req for _, req in backend_log(tls_backend, pki, 2)] == [
        "GET /tls/a%20b?x=1 HTTP/1.1", "GET /tls/2 HTTP/1.1"]


def test_cached_connections_only_where_good_enough(gw, tls_backend, pki):
    before = len(backend_log(tls_backend, pki))
    for base, status in [("trusted", 200), ("default", 502),
                         ("noverify", 200), ("wrong", 502), ("trusted", 200),
                         ("default", 502), ("trusted", 200)]:
        r = gw.request("GET", "/%s/hello/x" % base)
        assert r.status == status, (base, r)
    assert len(backend_log(tls_backend, pki, before + 4)) == before + 4


def test_tls_connections_are_kept_alive(gw, tls_backend, pki):
    before = len(backend_log(tls_backend, pki))
    for i in range(6):
        r = gw.request("GET", "/trusted/hello/k%d" % i)
        assert r.status == 200 and r.body == b"tls-ok"
    lines = backend_log(tls_backend, pki, before + 6)[before:]
    assert [req for _, req in lines] == \
        ["GET /tls/k%d HTTP/1.1" % i for i in range(6)]
    assert len({conn for conn, _ in lines}) < 6
