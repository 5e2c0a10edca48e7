"""Helpers of the custom-domain tests: a gateway whose data-plane server
routes by custom domain over TLS (certificates by SNI) and plain HTTP, and
small OpenAPI documents."""

import re
import time

import harness
from admin_gw import Gateway, new_store_dir
from domain_pki import read, served_fingerprint


def settled(since):
    """A change is in every worker when the new answer has come for a few
    store poll intervals (100 ms) in a row: a worker that answered first
    may not be the one that is still behind."""
    return since is not None and time.time() - since >= 0.5


def doc(base, paths, extra=None):
    """An OpenAPI 3 document: paths = {path: (action, method)}."""
    d = {"openapi": "3.0.3", "info": {"title": base, "version": "1"},
         "servers": [{"url": base}], "paths": {}}
    for p, (action, method) in paths.items():
        d["paths"].setdefault(p, {})[method] = {
            "operationId": "%s%s" % (method, re.sub(r"\W", "_", p)),
            "x-openwhisk": {"namespace": "guest", "action": action,
                            "response-type": "http"},
            "responses": {"200": {"description": "ok"}}}
    d.update(extra or {})
    return d


def raw_doc(base, whisk, paths):
    """Operations proxied to the stand-in's raw echo backend."""
    d = {"openapi": "3.0.3", "info": {"title": base, "version": "1"},
         "servers": [{"url": base}], "paths": {}}
    for p, target in paths.items():
        d["paths"][p] = {"get": {
            "operationId": "get%s" % re.sub(r"\W", "_", p),
            "x-apigw-backend": {"url": whisk.url + target},
            "responses": {"200": {"description": "ok"}}}}
    return d


class DomainGateway(Gateway):
    """The admin gateway plus a server that routes by custom domain over
    TLS and plain HTTP, with $apigw_tenant shown: on .tls_port the
    certificates by SNI come from "apigw_ssl_domains on" (the default is
    the server's ssl_certificate, RSA), on .var_port from nginx's
    "ssl_certificate data:$apigw_ssl_certificate"."""

    def __init__(self, factory, pki, whisk, workers=2, keys_file=None,
                 store=None, store_dir=None, http_extra=""):
        self.tls_port = harness.free_port()
        self.var_port = harness.free_port()
        self.http_port = harness.free_port()
        default_cert, default_key = pki.issue("default.test",
                                              ["default.test"],
                                              key_type="rsa")
        self.default_cert = default_cert
        keys = "apigw_keys_file %s;" % keys_file if keys_file else ""
        extra = http_extra + """
apigw_store_openwhisk_url %s;
%s
server {
    listen 127.0.0.1:%d ssl;
    listen 127.0.0.1:%d;
    ssl_certificate     %s;
    ssl_certificate_key %s;
    apigw_ssl_domains   on;
    location / {
        apigw;
        add_header X-Tenant "$apigw_tenant" always;
    }
}
server {
    listen 127.0.0.1:%d ssl;
    ssl_certificate     data:$apigw_ssl_certificate;
    ssl_certificate_key data:$apigw_ssl_certificate_key;
    apigw_ssl_default_certificate     %s;
    apigw_ssl_default_certificate_key %s;
    location / {
        apigw;
        add_header X-Tenant "$apigw_tenant" always;
    }
}
""" % (whisk.url, keys, self.tls_port, self.http_port, default_cert,
            default_key, self.var_port, default_cert, default_key)
        super().__init__(factory, store_dir or new_store_dir(),
                         workers=workers, extra_http=extra, store=store)

    def on(self, host, target, method="GET", headers=None, **kw):
        h = [("Host", host)] + list(headers or [])
        return harness.request(self.http_port, method, target, h, **kw)

    def wait_on(self, host, target, status, timeout=10.0, **kw):
        """Poll until every worker has the change (answers `status`)."""
        deadline = time.time() + timeout
        since = None
        while True:
            r = self.on(host, target, **kw)
            since = (since or time.time()) if r.status == status else None
            if settled(since) or time.time() > deadline:
                return r
            time.sleep(0.02)

    def served(self, name, cafile=None):
        """The fingerprint served for SNI `name` by both TLS servers, or
        both answers when they differ."""
        a = served_fingerprint(self.tls_port, name, cafile)
        b = served_fingerprint(self.var_port, name, cafile)
        return a if a == b else (a, b)

    def wait_cert(self, name, fp, timeout=10.0):
        """Poll until every worker of both servers serves the certificate
        `fp` for SNI `name`; returns what was served last."""
        deadline = time.time() + timeout
        since = None
        while True:
            got = self.served(name)
            since = (since or time.time()) if got == fp else None
            if settled(since) or time.time() > deadline:
                return got
            time.sleep(0.02)

    def upload(self, tenant, domain, chain_path, key_path):
        return self.admin("PUT", "/v2/%s/domains/%s/certificate"
                          % (tenant, domain),
                          {"certificate": read(chain_path),
                           "private_key": read(key_path)})
