"""Helpers of the management-API tests: a gateway with a data-plane server
and an admin server on an embedded (file) store, and a small client."""

import json
import os
import tempfile
import time

import harness

TOKEN = "test-admin-token-0123456789"


def admin_conf(store_dir, aport, token_file=None, extra_http="",
               store=None, admin_extra="", public_url=None):
    store = store or "file:%s/store.json" % store_dir
    public_url = public_url or "http://127.0.0.1:{port}"
    # token_file False: open ("off"); None: closed, no token
    tok = ("apigw_admin_token_file %s;" % token_file if token_file
           else "apigw_admin_token_file off;" if token_file is False else "")
    return """
apigw_store %s;
apigw_public_url %s;
%s
server {
    listen 127.0.0.1:{port};
    location / {
        apigw;
    }
}
server {
    listen 127.0.0.1:%d;
    location / {
        apigw_admin;
        %s
        %s
    }
}
""" % (store, public_url, extra_http, aport, tok, admin_extra)


def new_store_dir():
    """A store directory the workers can write when nginx runs as root
    (pytest's tmp_path sits below a 0700 directory)."""
    d = tempfile.mkdtemp(prefix="apigw-store-")
    os.chmod(d, 0o777)
    return d


class Gateway:
    """An nginx with apigw's data plane on .port and the admin API on
    .aport; the store lives in store_dir (kept across restarts)."""

    def __init__(self, factory, store_dir, workers=1, token=True,
                 extra_http="", store=None, admin_extra="", public_url=None,
                 extra_main=""):
        self.store_dir = store_dir
        self.workers = workers
        os.chmod(store_dir, 0o777)   # the workers write (nginx as root)
        self.aport = harness.free_port()
        self.token_file = False if token is False else None
        if token:
            self.token_file = os.path.join(store_dir, "tokens")
            with open(self.token_file, "w") as f:
                f.write("# admin tokens\n%s\nsecond-token\n" % TOKEN)
        self.nginx = factory(admin_conf(store_dir, self.aport,
                                        self.token_file, extra_http, store,
                                        admin_extra, public_url),
                             workers=workers, extra_main=extra_main)
        self.port = self.nginx.port

    def start(self):
        self.nginx.start()
        assert harness.wait_port(self.aport)
        return self

    def admin(self, method, target, body=None, token=TOKEN, headers=None,
              raw=None, **kw):
        h = list(headers or [])
        if token is not None:
            h.append(("Authorization", "Bearer " + token))
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h.append(("Content-Type", "application/json"))
        return harness.request(self.aport, method, target, h, data, **kw)

    def get(self, target, **kw):
        return harness.request(self.port, "GET", target, **kw)

    def wait_status(self, method, target, status, timeout=15.0, **kw):
        """Poll the data plane until `target` answers `status` 8 times in a
        row and from every worker (a request id starts with its worker's
        16 hex digits): every worker has applied the change.  The generous
        timeout is for a loaded machine, not a bound; the last response."""
        deadline = time.time() + timeout
        ok = 0
        workers = set()
        while True:
            r = harness.request(self.port, method, target, **kw)
            if r.status == status:
                ok += 1
                workers.add((r.header("X-Request-ID") or "")[:16])
            else:
                ok = 0
            if (ok >= 8 and len(workers) >= self.workers) \
                    or time.time() > deadline:
                return r
            time.sleep(0.01 if ok else 0.02)


def wsk_swagger(whisk_url, base="/club", title="Book Club"):
    """What createApi starts from when the API does not exist (4.2 step 3)."""
    return {"swagger": "2.0",
            "info": {"title": title, "version": "1.0.0"},
            "basePath": base, "paths": {},
            "x-ibm-configuration": {"assembly": {},
                                    "cors": {"enabled": True}}}


def operation_id(verb, path):
    """apigw-utils.js: lower-case verb + capitalised words of the path."""
    words, cur = [], ""
    for ch in path:
        if ch.isalnum() or ch in "_-":
            cur += ch
        else:
            if cur:
                words.append(cur)
            cur = ""
    if cur:
        words.append(cur)
    return verb.lower() + "".join(w[:1].upper() + w[1:].lower()
                                  for w in words)


def wsk_add_endpoint(doc, whisk_url, path, verb, action, response="http",
                     secure_key=None):
    """Add one operation the way route management does (4.3)."""
    op_id = operation_id(verb, path)
    url = "%s/api/v1/web/guest/default/%s.%s" % (whisk_url, action, response)
    params = [{"name": p.strip("{}"), "in": "path", "required": True,
               "type": "string"}
              for p in path.split("/") if p.startswith("{")]
    op = {"operationId": op_id,
          "responses": {"default": {"description": "Default response"}},
          "x-openwhisk": {"url": url, "namespace": "guest", "package": "",
                          "action": action}}
    if params:
        op["parameters"] = params
    doc["paths"].setdefault(path, {})[verb.lower()] = op
    target = url + ("$(request.path)" if response == "http" else "")
    execute = [{"invoke": {"target-url": target, "verb": "keep"}}]
    if secure_key is not None:
        execute.append({"set-variable": {"actions": [
            {"set": "message.headers.X-Require-Whisk-Auth",
             "value": secure_key}]}})
    conf = doc.setdefault("x-ibm-configuration", {})
    assembly = conf.setdefault("assembly", {})
    ex = assembly.setdefault("execute", [])
    if not ex:
        ex.append({"operation-switch": {"case": []}})
    cases = ex[0]["operation-switch"]["case"]
    cases[:] = [c for c in cases if c["operations"][0] != op_id]
    cases.append({"operations": [op_id], "execute": execute})
    return op_id


def wsk_remove_endpoint(doc, path, verb):
    """deleteApi with a relpath and an operation (4.5)."""
    op_id = doc["paths"][path][verb.lower()]["operationId"]
    del doc["paths"][path][verb.lower()]
    if not doc["paths"][path]:
        del doc["paths"][path]
    ex = doc["x-ibm-configuration"]["assembly"]["execute"]
    cases = ex[0]["operation-switch"]["case"]
    cases[:] = [c for c in cases if c["operations"][0] != op_id]
