"""Custom-domain private keys at rest: with apigw_store_encryption_key the
store (snapshot, journal, Redis) holds them sealed (AES-256-GCM, bound to
their record), every node with the key serves them, and a node with another
key or none serves the default certificate and says why, never the key."""

import glob
import json
import os
import secrets

import pytest

from admin_redis import RedisServer
from domain_gw import DomainGateway
from domain_pki import Pki, fingerprint, read
from test_admin_redis import ready


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(str(tmp_path_factory.mktemp("sealed-pki")))


def key_file(path, text=None):
    with open(path, "w") as f:
        f.write(text if text is not None else secrets.token_hex(32) + "\n")
    os.chmod(path, 0o600)
    return path


def sealing(path):
    return "apigw_store_encryption_key %s;\n" % path


def key_lines(pki, key):
    """The base64 lines of a PEM key, as uploaded and as PKCS#8."""
    import subprocess
    out = pki.path(os.path.basename(key) + ".pk8")
    subprocess.run(["openssl", "pkey", "-in", key, "-out", out], check=True)
    return [ln for k in (key, out) for ln in read(k).splitlines()
            if ln and not ln.startswith("-----")]


def no_key_in(text, lines):
    assert "PRIVATE KEY" not in text
    for ln in lines:
        assert ln not in text


def test_sealed_in_the_embedded_store(nginx_factory, pki, whisk, tmp_path):
    kf = key_file(str(tmp_path / "store.key"))
    gw = DomainGateway(nginx_factory, pki, whisk,
                       http_extra=sealing(kf)).start()
    d = "sealed.example.test"
    assert gw.admin("PUT", "/v2/seal1/domains/%s" % d).status == 200
    chain, key = pki.issue(d, [d])
    lines = key_lines(pki, key)
    r = gw.upload("seal1", d, chain, key)
    assert r.status == 200, r
    # served by SNI, by the callback and by nginx's data: variables
    assert gw.wait_cert(d, fingerprint(chain)) == fingerprint(chain)

    # the snapshot and the journal hold it sealed only
    files = glob.glob(os.path.join(gw.store_dir, "store.json*"))
    assert files
    stored = "".join(open(f).read() for f in files)
    no_key_in(stored, lines)
    assert "apigw-sealed:1:" in stored
    no_key_in(gw.nginx.log(), lines)

    # restarted with the same key: served from the store as it is
    store_dir = gw.store_dir
    gw.nginx.stop()
    gw = DomainGateway(nginx_factory, pki, whisk, store_dir=store_dir,
                       http_extra=sealing(kf)).start()
    assert gw.wait_cert(d, fingerprint(chain)) == fingerprint(chain)
    gw.nginx.stop()

    # with another key, or none: the default certificate, and the reason
    default = None
    for extra, reason in (
            (sealing(key_file(str(tmp_path / "other.key"))),
             "was encrypted with another apigw_store_encryption_key"),
            ("", "is encrypted and apigw_store_encryption_key is not set")):
        gw = DomainGateway(nginx_factory, pki, whisk, store_dir=store_dir,
                           http_extra=extra).start()
        default = fingerprint(gw.default_cert)
        assert gw.wait_cert(d, default) == default
        # the certificate's metadata is still shown
        v = gw.admin("GET", "/v2/seal1/domains/%s/certificate" % d)
        assert v.status == 200
        assert v.json()["certificate"]["fingerprint_sha256"] == \
            fingerprint(chain)
        log = gw.nginx.log()
        assert 'the private key of "cert:%s" %s' % (d, reason) in log, log
        no_key_in(log, lines)
        # uploading it again on this node seals it with this node's key
        if extra:
            assert gw.upload("seal1", d, chain, key).status == 200
            assert gw.wait_cert(d, fingerprint(chain)) == fingerprint(chain)
        gw.nginx.stop()


def test_sealed_on_redis_and_bound_to_its_record(nginx_factory, pki, whisk,
                                                 tmp_path):
    redis = RedisServer().start()
    try:
        kf = key_file(str(tmp_path / "store.key"))
        a = DomainGateway(nginx_factory, pki, whisk, store=redis.url(),
                          http_extra=sealing(kf)).start()
        b = DomainGateway(nginx_factory, pki, whisk, store=redis.url(),
                          http_extra=sealing(kf)).start()
        ready(a)
        ready(b)
        names = ("one.sealed.test", "two.sealed.test")
        chains, lines = {}, []
        for d in names:
            assert a.admin("PUT", "/v2/seal2/domains/%s" % d).status == 200
            chain, key = pki.issue(d, [d])
            chains[d] = chain
            lines += key_lines(pki, key)
            assert a.upload("seal2", d, chain, key).status == 200
        # the other node opens them with the same key
        for d in names:
            assert b.wait_cert(d, fingerprint(chains[d])) == \
                fingerprint(chains[d])
        dump = json.dumps(redis.cmd("HGETALL", "apigw:records"))
        no_key_in(dump, lines)

        # a sealed key copied into another domain's record does not open
        one = json.loads(redis.cmd("HGET", "apigw:records",
                                   "cert:" + names[0]))
        two = json.loads(redis.cmd("HGET", "apigw:records",
                                   "cert:" + names[1]))
        assert one["key"].startswith("apigw-sealed:1:")
        two["key"] = one["key"]
        redis.cmd("HSET", "apigw:records", "cert:" + names[1],
                  json.dumps(two))
        # a write through the API makes every node read what changed
        redis.cmd("ZADD", "apigw:changes",
                  str(int(redis.cmd("GET", "apigw:version")) + 1),
                  "cert:" + names[1])
        assert a.admin("PUT", "/v2/seal2/domains/three.sealed.test").status \
            == 200
        default = fingerprint(b.default_cert)
        assert b.wait_cert(names[1], default) == default
        assert b.served(names[0]) == fingerprint(chains[names[0]])
        log = b.nginx.log()
        assert ('the private key of "cert:%s" does not decrypt: altered, or '
                "not this record's" % names[1]) in log, log
        no_key_in(log, lines)
    finally:
        redis.cleanup()


@pytest.mark.parametrize("text, message", [
    ("0123", "must hold 32 bytes as 64 hex digits (openssl rand -hex 32)"),
    ("zz" * 32, "must hold 32 bytes as 64 hex digits"),
    ("", "must hold 32 bytes as 64 hex digits"),
])
def test_bad_key_file_fails_nginx_t(nginx_factory, tmp_path, text, message):
    kf = key_file(str(tmp_path / "bad.key"), text)
    n = nginx_factory("apigw_store_encryption_key %s;\n"
                      "server { listen 127.0.0.1:{port}; }" % kf)
    rc, out = n.test()
    assert rc == 1, out
    assert message in out, out
    assert "[emerg]" in out


def test_key_file_open_to_everyone_is_warned(nginx_factory, tmp_path):
    kf = key_file(str(tmp_path / "open.key"))
    os.chmod(kf, 0o644)
    n = nginx_factory("apigw_store_encryption_key %s;\n"
                      "server { listen 127.0.0.1:{port}; }" % kf)
    rc, out = n.test()
    assert rc == 0, out
    assert "is readable by any user (chmod o-r it)" in out, out
    os.chmod(kf, 0o600)
    rc, out = n.test()
    assert rc == 0 and "readable by any user" not in out, out
    n2 = nginx_factory("apigw_store_encryption_key %s/none.key;\n"
                       "server { listen 127.0.0.1:{port}; }" % tmp_path)
    rc, out = n2.test()
    assert rc == 1 and "none.key" in out and "failed" in out, out
