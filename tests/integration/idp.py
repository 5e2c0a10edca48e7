"""A small identity provider for the credential tests: keys generated at
test time (python3-cryptography), JWTs signed with them, and an HTTP server
with an OIDC discovery document, a JWKS endpoint that counts its fetches and
can rotate keys, and an RFC 7662 introspection endpoint."""

import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature)


def b64u(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_bytes(n, size=None):
    size = size or (n.bit_length() + 7) // 8
    return n.to_bytes(size, "big")


_HASH = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_CURVE = {"ES256": (ec.SECP256R1, "P-256", 32),
          "ES384": (ec.SECP384R1, "P-384", 48),
          "ES512": (ec.SECP521R1, "P-521", 66)}


class Key:
    """One signing key: kind is RSA, ES256/384/512, EdDSA or HS."""

    def __init__(self, kind, kid, secret=None):
        self.kind = kind
        self.kid = kid
        if kind == "RSA":
            self.priv = rsa.generate_private_key(65537, 2048)
        elif kind in _CURVE:
            self.priv = ec.generate_private_key(_CURVE[kind][0]())
        elif kind == "EdDSA":
            self.priv = ed25519.Ed25519PrivateKey.generate()
        elif kind == "HS":
            self.priv = secret or hashlib.sha256(kid.encode()).digest()
        else:
            raise ValueError(kind)

    def jwk(self):
        if self.kind == "RSA":
            n = self.priv.public_key().public_numbers()
            d = {"kty": "RSA", "n": b64u(_int_bytes(n.n)),
                 "e": b64u(_int_bytes(n.e))}
        elif self.kind in _CURVE:
            n = self.priv.public_key().public_numbers()
            size = _CURVE[self.kind][2]
            d = {"kty": "EC", "crv": _CURVE[self.kind][1],
                 "x": b64u(_int_bytes(n.x, size)),
                 "y": b64u(_int_bytes(n.y, size))}
        elif self.kind == "EdDSA":
            from cryptography.hazmat.primitives.serialization import (
                Encoding, PublicFormat)
            raw = self.priv.public_key().public_bytes(Encoding.Raw,
                                                      PublicFormat.Raw)
            d = {"kty": "OKP", "crv": "Ed25519", "x": b64u(raw)}
        else:
            d = {"kty": "oct", "k": b64u(self.priv)}
        if self.kid is not None:         # None: a key without a name
            d["kid"] = self.kid
        d["use"] = "sig"
        return d

    def public_pem(self):
        from cryptography.hazmat.primitives.serialization import (
            Encoding, PublicFormat)
        return self.priv.public_key().public_bytes(
            Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)

    def sign(self, alg, data, der=False):
        if alg.startswith("HS"):
            key = self.priv if isinstance(self.priv, bytes) else self.public_pem()
            return hmac.new(key, data, getattr(hashlib, "sha" + alg[2:])
                            ).digest()
        if alg.startswith("RS"):
            return self.priv.sign(data, padding.PKCS1v15(),
                                  _HASH[alg[2:]]())
        if alg.startswith("PS"):
            h = _HASH[alg[2:]]()
            return self.priv.sign(data, padding.PSS(
                mgf=padding.MGF1(h), salt_length=h.digest_size), h)
        if alg.startswith("ES"):
            sig = self.priv.sign(data, ec.ECDSA(_HASH[alg[2:]]()))
            if der:
                return sig
            r, s = decode_dss_signature(sig)
            size = _CURVE[alg][2]
            return _int_bytes(r, size) + _int_bytes(s, size)
        if alg == "EdDSA":
            return self.priv.sign(data)
        raise ValueError(alg)


def make_token(key, claims, alg=None, header=None, kid=True, der=False,
               raw_header=None, raw_payload=None):
    alg = alg or {"RSA": "RS256", "EdDSA": "EdDSA", "HS": "HS256"}.get(
        key.kind, key.kind)
    h = {"alg": alg, "typ": "JWT"}
    if kid:
        h["kid"] = key.kid
    h.update(header or {})
    hs = raw_header if raw_header is not None else b64u(json.dumps(h))
    ps = raw_payload if raw_payload is not None else b64u(json.dumps(claims))
    signing = ("%s.%s" % (hs, ps)).encode()
    if alg == "none":
        return "%s.%s." % (hs, ps)
    return "%s.%s.%s" % (hs, ps, b64u(key.sign(alg, signing, der=der)))


class Idp:
    """Keys, tokens and the HTTP endpoints."""

    def __init__(self, issuer_path="/realms/test", tls=None, host=None):
        self.keys = [Key("RSA", "rsa-1"), Key("ES256", "ec-1"),
                     Key("EdDSA", "ed-1")]
        self.fetches = 0
        self.close_delimited = False   # bodies end with the connection
        self.introspections = 0
        self.userinfos = 0
        self.tokens = {}           # opaque token -> introspection answer
        self.last_auth = None
        self.last_form = None
        self.lock = threading.Lock()
        self.issuer_path = issuer_path
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = self.server.server_address[1]
        if tls:
            import ssl
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.server.socket = ctx.wrap_socket(self.server.socket,
                                                 server_side=True)
        self.url = "%s://%s:%d" % ("https" if tls else "http",
                                   host or "127.0.0.1", self.port)
        self.issuer = self.url + issuer_path
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def key(self, kid):
        return next(k for k in self.keys if k.kid == kid)

    def jwks(self):
        return {"keys": [k.jwk() for k in self.keys]}

    def rotate(self, kind="RSA", kid=None):
        """A new key replaces the keys of that kind."""
        k = Key(kind, kid or "%s-%d" % (kind.lower(), int(time.time() * 1e6)))
        with self.lock:
            self.keys = [x for x in self.keys if x.kind != kind] + [k]
        return k

    def claims(self, **kw):
        now = int(time.time())
        self.serial = getattr(self, "serial", 0) + 1
        c = {"iss": self.issuer, "aud": "apigw-tests", "sub": "alice",
             "iat": now, "exp": now + 300, "scope": "read write",
             "jti": "t-%d" % self.serial}
        c.update(kw)
        return {k: v for k, v in c.items() if v is not None}

    def token(self, kid="rsa-1", **kw):
        key = self.key(kid)
        alg = kw.pop("alg", None)
        return make_token(key, self.claims(**kw), alg=alg)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        idp = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, status, obj):
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if idp.close_delimited:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                else:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                p = self.path.split("?")[0]
                if p == idp.issuer_path + "/.well-known/openid-configuration":
                    self._send(200, {
                        "issuer": idp.issuer,
                        "jwks_uri": idp.issuer + "/certs",
                        "introspection_endpoint": idp.issuer + "/introspect"})
                elif p == idp.issuer_path + "/certs":
                    with idp.lock:
                        idp.fetches += 1
                        body = idp.jwks()
                    self._send(200, body)
                elif p == idp.issuer_path + "/userinfo":
                    # GitHub-style: the token in Authorization, 401 if bad
                    with idp.lock:
                        idp.userinfos += 1
                    auth = self.headers.get("Authorization") or ""
                    tok = auth[7:] if auth.startswith("Bearer ") else ""
                    ans = idp.tokens.get(tok, {})
                    if ans.get("active"):
                        self._send(200, {"id": ans.get("id", 583231),
                                         "login": "octocat"})
                    else:
                        self._send(401, {"message": "Bad credentials"})
                elif p == "/_idp/stats":
                    self._send(200, {"fetches": idp.fetches,
                                     "introspections": idp.introspections,
                                     "userinfos": idp.userinfos})
                else:
                    self._send(404, {"error": "not found"})

            def do_POST(self):
                p = self.path.split("?")[0]
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n).decode()
                if p == idp.issuer_path + "/introspect":
                    with idp.lock:
                        idp.introspections += 1
                        idp.last_auth = self.headers.get("Authorization")
                        idp.last_form = body
                    form = dict(x.split("=", 1) for x in body.split("&")
                                if "=" in x)
                    self._send(200, idp.tokens.get(form.get("token"),
                                                   {"active": False}))
                else:
                    self._send(404, {"error": "not found"})

        return H
