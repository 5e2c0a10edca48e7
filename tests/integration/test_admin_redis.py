"""The Redis store: two nginx nodes on one redis-server (a write on one is
served by the other), the key schema, Redis stopped and started again while
traffic flows, and concurrent writers on two nodes."""

import json
import os
import signal
import threading
import time

import pytest

from admin_gw import Gateway, new_store_dir
from admin_redis import RedisServer, wait_until
from test_admin import err, simple_doc, whisk_at


@pytest.fixture
def redis():
    r = RedisServer().start()
    yield r
    r.cleanup()


def node(factory, redis, workers=2):
    return Gateway(factory, new_store_dir(), workers=workers,
                   store=redis.url()).start()


def ready(g):
    """The node's workers are connected (a write can go through): every
    worker answers some of 10 consecutive health checks."""
    def up():
        return all(g.admin("GET", "/health").json()["store_writable"]
                   for _ in range(10))
    assert wait_until(up, timeout=10)


def test_two_nodes_converge(nginx_factory, redis, whisk):
    a = node(nginx_factory, redis)
    b = node(nginx_factory, redis)
    ready(a)
    ready(b)
    time.sleep(0.3)           # both subscribed

    delays = []
    for i in range(5):
        doc = simple_doc(whisk, "/conv%d" % i, paths=("/x",))
        t0 = time.time()
        r = a.admin("POST", "/v2/rt/apis", doc)
        assert r.status == 200, r
        # served by the other node
        got = b.wait_status("GET", "/api/rt/conv%d/x" % i, 200, timeout=5)
        delays.append(time.time() - t0)
        assert got.status == 200, got
        assert got.json()["__ow_path"] == "/conv%d/x" % i
    print("\nredis: write on node A served by node B after %s ms"
          % ", ".join("%.0f" % (d * 1000) for d in delays))
    assert max(delays) < 3.0

    # reads on the other node see the same records
    lst = wait_until(lambda: len(b.admin("GET", "/v2/rt/apis").json()) == 5
                     and b.admin("GET", "/v2/rt/apis").json())
    assert sorted(x["open_api_doc"]["basePath"] for x in lst) == \
        ["/conv%d" % i for i in range(5)]

    # a delete on B disappears from A
    api = lst[0]["artifact_id"]
    base = lst[0]["open_api_doc"]["basePath"]
    assert b.admin("DELETE", "/v2/rt/apis/%s" % api).status == 204
    assert a.wait_status("GET", "/api/rt%s/x" % base, 404).status == 404

    # the key schema
    assert int(redis.cmd("GET", "apigw:version")) == 6
    assert redis.cmd("HEXISTS", "apigw:records", "api:%s" % api) == 0
    assert redis.cmd("ZSCORE", "apigw:deleted", "api:%s" % api) == "6"
    assert redis.cmd("ZSCORE", "apigw:changes", "api:%s" % api) is None
    assert redis.cmd("ZSCORE", "apigw:changes",
                     "api:%s" % lst[1]["artifact_id"]) is not None
    rec = json.loads(redis.cmd("HGET", "apigw:records",
                               "api:%s" % lst[1]["artifact_id"]))
    assert rec["tenant"] == "rt" and rec["doc"] == lst[1]["open_api_doc"]


def test_node_started_later_loads_everything(nginx_factory, redis, whisk):
    a = node(nginx_factory, redis)
    ready(a)
    ids = [a.admin("POST", "/v2/late/apis",
                   simple_doc(whisk, "/l%d" % i)).json()["artifact_id"]
           for i in range(3)]
    assert a.admin("DELETE", "/v2/late/apis/%s" % ids[0]).status == 204
    b = node(nginx_factory, redis)
    ready(b)
    r = b.wait_status("GET", "/api/late/l2/hello", 200)
    assert r.status == 200
    assert b.get("/api/late/l0/hello").status == 404
    lst = wait_until(lambda: b.admin("GET", "/v2/late/apis").json())
    assert sorted(x["artifact_id"] for x in lst) == sorted(ids[1:])


def frozen(g, on):
    """Stop (or continue) a node's master and workers: it hears nothing."""
    pids = [g.nginx.proc.pid] + [
        int(p) for p in open("/proc/%d/task/%d/children"
                             % (g.nginx.proc.pid, g.nginx.proc.pid)).read()
        .split()]
    for p in pids:
        os.kill(p, signal.SIGSTOP if on else signal.SIGCONT)


def test_node_behind_the_deletions_kept(nginx_factory, redis, whisk):
    """Deletions are kept for 1,000 versions.  A node that missed more
    writes than that cannot learn every deletion from them: it reads every
    record and drops what it holds beyond them."""
    a = node(nginx_factory, redis)
    b = node(nginx_factory, redis)
    ready(a)
    ready(b)
    time.sleep(0.3)
    gone, kept = [a.admin("POST", "/v2/away/apis",
                          simple_doc(whisk, base)).json()["artifact_id"]
                  for base in ("/gone", "/kept")]
    for base in ("/gone", "/kept"):
        assert b.wait_status("GET", "/api/away%s/hello" % base,
                             200).status == 200
    version = int(redis.cmd("GET", "apigw:version"))

    frozen(b, True)
    try:
        assert a.admin("DELETE", "/v2/away/apis/%s" % gone).status == 204
        assert redis.cmd("ZSCORE", "apigw:deleted", "api:" + gone) \
            == str(version + 1)
        for i in range(1000):
            r = a.admin("POST", "/v2/away/keys", {"consumer": "c%d" % i})
            assert r.status == 201, r
        # the deletion is no longer kept: a node that missed it must read
        # everything
        assert int(redis.cmd("GET", "apigw:pruned")) == version + 1
        assert redis.cmd("ZCARD", "apigw:deleted") == 0
        assert redis.cmd("HEXISTS", "apigw:records", "api:" + gone) == 0
    finally:
        frozen(b, False)

    assert b.wait_status("GET", "/api/away/gone/hello", 404).status == 404
    assert b.get("/api/away/kept/hello").status == 200
    lst = b.admin("GET", "/v2/away/apis").json()
    assert [x["artifact_id"] for x in lst] == [kept]
    assert "reading every record" in b.nginx.log()

    # a deletion within the kept ones reaches a node the usual way
    assert a.admin("DELETE", "/v2/away/apis/%s" % kept).status == 204
    assert b.wait_status("GET", "/api/away/kept/hello", 404).status == 404


def test_redis_back_without_its_data(nginx_factory, redis, whisk):
    """Redis comes back empty (flushed, no persistence): the node says so
    loudly, keeps serving what it has, and takes writes again."""
    a = node(nginx_factory, redis, workers=1)
    ready(a)
    assert a.admin("POST", "/v2/lost/apis",
                   simple_doc(whisk, "/kept")).status == 200
    assert a.wait_status("GET", "/api/lost/kept/hello", 200).status == 200

    redis.cmd("FLUSHALL")
    redis.stop()
    redis.start()
    assert wait_until(lambda: "Redis lost data" in a.nginx.log(),
                      timeout=10)
    assert "[crit]" in a.nginx.log()
    assert a.get("/api/lost/kept/hello").status == 200
    r = wait_until(lambda: (lambda x: x if x.status == 200 else None)(
        a.admin("POST", "/v2/lost/apis", simple_doc(whisk, "/new"))),
        timeout=15, step=0.2)
    assert r and r.status == 200, r
    assert a.wait_status("GET", "/api/lost/new/hello", 200).status == 200
    assert a.get("/api/lost/kept/hello").status == 200


def test_redis_flushed_while_connected(nginx_factory, redis, whisk):
    """FLUSHALL with the nodes connected: the versions start again below
    theirs; every worker of every node still reads the writes made since
    (an older version on apigw:events is not taken for one applied)."""
    a = node(nginx_factory, redis)
    b = node(nginx_factory, redis)
    ready(a)
    ready(b)
    time.sleep(0.3)
    for i in range(4):
        assert a.admin("POST", "/v2/fl/apis",
                       simple_doc(whisk, "/old%d" % i)).status == 200
    assert b.wait_status("GET", "/api/fl/old3/hello", 200).status == 200

    redis.cmd("FLUSHALL")
    made = []
    for g, base in ((a, "/new-a"), (b, "/new-b")):
        r = wait_until(lambda: (lambda x: x if x.status == 200 else None)(
            g.admin("POST", "/v2/fl/apis", simple_doc(whisk, base))),
            timeout=10, step=0.2)
        assert r and r.status == 200, r
        made.append(base)

    def everywhere(path):
        # every worker: several requests in a row all answer 200
        return all(g.get(path).status == 200
                   for g in (a, b) for _ in range(8))

    for base in made:
        assert wait_until(lambda: everywhere("/api/fl%s/hello" % base),
                          timeout=5), base
    # what the nodes held before keeps serving
    assert everywhere("/api/fl/old0/hello")
    assert "Redis lost data" in b.nginx.log()


def test_redis_flushed_while_a_node_was_away(nginx_factory, redis, whisk):
    """FLUSHALL, then more writes than the node had: when the node comes
    back Redis's version is past its own, yet it is another store (a new
    apigw:epoch), so the node reads all of it."""
    import subprocess
    a = node(nginx_factory, redis, workers=1)
    b = node(nginx_factory, redis, workers=1)
    ready(a)
    ready(b)
    time.sleep(0.3)
    for i in range(3):
        assert a.admin("POST", "/v2/ep/apis",
                       simple_doc(whisk, "/old%d" % i)).status == 200
    assert b.wait_status("GET", "/api/ep/old2/hello", 200).status == 200
    workers = [int(p) for p in subprocess.run(
        ["pgrep", "-P", str(b.nginx.proc.pid)], capture_output=True,
        text=True).stdout.split()]
    assert workers
    for p in workers:
        os.kill(p, signal.SIGSTOP)
    try:
        redis.cmd("FLUSHALL")
        for i in range(6):
            r = wait_until(lambda: (lambda x: x if x.status == 200 else None)(
                a.admin("POST", "/v2/ep/apis", simple_doc(whisk, "/n%d" % i))),
                timeout=10, step=0.2)
            assert r and r.status == 200, r
    finally:
        for p in workers:
            os.kill(p, signal.SIGCONT)
    for i in range(6):
        assert b.wait_status("GET", "/api/ep/n%d/hello" % i, 200).status \
            == 200, i
    assert "Redis lost data" in b.nginx.log()


def test_node_started_while_redis_is_down(nginx_factory, redis, whisk):
    """A node that has never read its store knows no API: 503, not a 404
    or an empty list, and /health is not "ok" (a load balancer keeps it out)
    until Redis is there."""
    a = node(nginx_factory, redis, workers=1)
    ready(a)
    assert a.admin("POST", "/v2/unread/apis",
                   simple_doc(whisk, "/api1")).status == 200
    redis.stop()
    b = node(nginx_factory, redis, workers=1)

    h = b.admin("GET", "/health")
    assert h.status == 503 and h.json()["status"] == "unavailable", h
    assert b.admin("GET", "/v2/unread/apis").status == 503
    r = b.get("/api/unread/api1/hello")
    assert r.status == 503, r
    assert r.header("Content-Type") == "application/json"

    redis.start()
    assert b.wait_status("GET", "/api/unread/api1/hello", 200).status == 200
    h = b.admin("GET", "/health")
    assert h.status == 200 and h.json()["status"] == "ok", h
    assert b.get("/api/unread/nothing/hello").status == 404


def test_redis_down_and_back(nginx_factory, redis, whisk):
    a = node(nginx_factory, redis)
    ready(a)
    r = a.admin("POST", "/v2/down/apis", simple_doc(whisk, "/up"))
    assert r.status == 200
    assert a.wait_status("GET", "/api/down/up/hello", 200).status == 200

    # traffic flows through the outage
    statuses, stop = [], threading.Event()

    def traffic():
        while not stop.is_set():
            statuses.append(a.get("/api/down/up/hello").status)
            time.sleep(0.005)

    t = threading.Thread(target=traffic)
    t.start()
    time.sleep(0.2)
    redis.stop()
    time.sleep(0.3)
    # writes are refused with 503 JSON
    r = a.admin("POST", "/v2/down/apis", simple_doc(whisk, "/while-down"))
    err(r, 503, "The store is unavailable.")
    # reads answer from the last configuration
    assert len(a.admin("GET", "/v2/down/apis").json()) == 1

    redis.start()
    # the connection comes back by itself; writes succeed again
    r = wait_until(lambda: (lambda x: x if x.status == 200 else None)(
        a.admin("POST", "/v2/down/apis", simple_doc(whisk, "/after"))),
        timeout=15, step=0.2)
    assert r and r.status == 200, r
    assert a.wait_status("GET", "/api/down/after/hello", 200).status == 200
    stop.set()
    t.join()
    # the data plane answered every request while Redis was away
    assert len(statuses) > 20 and set(statuses) == {200}, statuses
    assert a.get("/api/down/up/hello").status == 200


def test_concurrent_writers_two_nodes(nginx_factory, redis, whisk):

    a = node(nginx_factory, redis)
    b = node(nginx_factory, redis)
    ready(a)
    ready(b)
    api = a.admin("POST", "/v2/cw/apis",
                  simple_doc(whisk, "/cw", "v0")).json()["artifact_id"]
    wait_until(lambda: b.admin("GET", "/v2/cw/apis/%s" % api).status == 200)
    statuses = []

    def writer(g, n):
        for i in range(10):
            doc = simple_doc(whisk, "/cw", "w%d-%d" % (n, i),
                             paths=("/w%d" % n,))
            r = g.admin("PUT", "/v2/cw/apis/%s" % api, doc)
            statuses.append(r.status if r.status == 200 else r)
            r = g.admin("POST", "/v2/cw/apis",
                        simple_doc(whisk, "/n%d-%d" % (n, i)))
            statuses.append(r.status if r.status == 200 else r)

    ts = [threading.Thread(target=writer, args=(g, n))
          for n, g in enumerate([a, b, a, b])]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if statuses.count(200) != len(statuses):
        open("/tmp/cw-logs.txt", "w").write(a.nginx.log() + b.nginx.log())
    assert statuses.count(200) == len(statuses), \
        [s for s in statuses if s != 200]
    assert int(redis.cmd("GET", "apigw:version")) == 1 + 80
    # one writer's document, never a mix, and both nodes agree
    doc = json.loads(redis.cmd("HGET", "apigw:records", "api:%s" % api))
    n = doc["doc"]["info"]["title"].split("-")[0][1:]
    assert list(doc["doc"]["paths"]) == ["/w%s" % n]
    for g in (a, b):
        got = wait_until(lambda: g.admin("GET", "/v2/cw/apis/%s" % api)
                         .json()["open_api_doc"] == doc["doc"])
        assert got
        assert len(g.admin("GET", "/v2/cw/apis").json()) == 41


def test_password_and_db(nginx_factory, whisk):
    # "/", "?" and "@" must be percent-encoded in the URL
    r = RedisServer(password="s3cret-pw/?@x").start()
    try:
        g = Gateway(nginx_factory, new_store_dir(), workers=1,
                    store=r.url(db=3)).start()
        ready(g)
        assert g.admin("POST", "/v2/pw/apis",
                       simple_doc(whisk, "/pw")).status == 200
        assert g.wait_status("GET", "/api/pw/pw/hello", 200).status == 200
        assert r.cmd("GET", "apigw:version", db=3) == "1"
        assert r.cmd("EXISTS", "apigw:version") == 0    # db 0: untouched
        log = g.nginx.log()
        assert "s3cret-pw" not in log and "s3cret%2Dpw" not in log
    finally:
        r.cleanup()


def test_backend_host_name_on_the_redis_store(nginx_factory, redis, whisk):
    """A backend named by host name is looked up before the Redis commit;
    the addresses go into the record, so the other node serves it without
    a lookup of its own."""
    a = node(nginx_factory, redis)
    b = node(nginx_factory, redis)
    ready(a)
    ready(b)
    local = whisk_at(whisk, "localhost")
    r = a.admin("POST", "/v2/rt/apis", simple_doc(local, "/named"))
    assert r.status == 200, r
    got = b.wait_status("GET", "/api/rt/named/hello", 200, timeout=5)
    assert got.json()["__ow_method"] == "get"
    rec = json.loads(redis.cmd("HGET", "apigw:records", "api:%s"
                               % r.json()["artifact_id"]))
    assert "127.0.0.1" in sum(rec["resolved"].values(), [])
    gone = whisk_at(whisk, "no-such-host.invalid")
    err(a.admin("POST", "/v2/rt/apis", simple_doc(gone, "/gone")), 400)
