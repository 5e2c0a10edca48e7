/*
 * Rate limits: GCRA and quota arithmetic with an injected clock, the
 * all-or-nothing store decision, policy parsing (x-apigw-rate-limit,
 * compat, v1, directive arguments), identities and the Redis commands.
 */

#include <stdlib.h>

#include <jansson.h>

#include "apigw.h"
#include "../../ratelimit/ratelimit.h"
#include "unit.h"


#define S    APIGW_RL_SECOND
#define MS   1000LL

/* 2026-11-26 12:00:00 UTC */
#define NOON ((int64_t) 1795694400 * S)


/* ---- an in-memory store ---- */

typedef struct {
    char               key[APIGW_RL_MAX_KEY];
    size_t             len;
    apigw_rl_state_t   st;
} mem_entry_t;

typedef struct {
    mem_entry_t  e[64];
    size_t       n;
    size_t       cap;
    int          locked;
} mem_store_t;


static void
mem_lock(void *d)
{
    ((mem_store_t *) d)->locked++;
}


static void
mem_unlock(void *d)
{
    ((mem_store_t *) d)->locked--;
}


static apigw_rl_state_t *
mem_lookup(void *d, const char *key, size_t len, int64_t now)
{
    size_t        i;
    mem_store_t  *m = d;

    (void) now;

    for (i = 0; i < m->n; i++) {
        if (m->e[i].len == len && memcmp(m->e[i].key, key, len) == 0) {
            return &m->e[i].st;
        }
    }

    if (m->n == m->cap) {
        return NULL;
    }

    memcpy(m->e[m->n].key, key, len);
    m->e[m->n].len = len;
    memset(&m->e[m->n].st, 0, sizeof(apigw_rl_state_t));

    return &m->e[m->n++].st;
}


static void
mem_init(mem_store_t *m, apigw_rl_store_t *st, size_t cap)
{
    memset(m, 0, sizeof(*m));
    memset(st, 0, sizeof(*st));
    m->cap = cap;
    st->data = m;
    st->lock = mem_lock;
    st->unlock = mem_unlock;
    st->lookup = mem_lookup;
}


static void
rate(apigw_rl_limit_t *l, int64_t n, int64_t period, int64_t burst)
{
    memset(l, 0, sizeof(*l));
    l->kind = APIGW_RL_RATE;
    l->n = n;
    l->period = period;
    l->burst = burst;
    l->scope = APIGW_RL_SCOPE_API;
    l->key = APIGW_RL_KEY_GLOBAL;
    apigw_rl_finish(l);
}


/* n per UTC day, one global counter */
static void
quota(apigw_rl_limit_t *l, int64_t n)
{
    memset(l, 0, sizeof(*l));
    l->kind = APIGW_RL_QUOTA;
    l->n = n;
    l->calendar = APIGW_RL_DAY;
    l->key = APIGW_RL_KEY_GLOBAL;
    apigw_rl_finish(l);
}


static int
check1(apigw_rl_store_t *st, const apigw_rl_limit_t *l, const char *key,
    int64_t now, apigw_rl_result_t *res)
{
    int          nomem;
    size_t       len = strlen(key);
    const char  *k = key;

    return apigw_rl_check(st, &l, &k, &len, 1, now, res, &nomem);
}


/* ---- GCRA ---- */

TEST(gcra_reference_example)
{
    int                i;
    apigw_rl_limit_t   l;
    apigw_rl_result_t  r;
    apigw_rl_store_t   st;
    mem_store_t        m;

    /* 120/min, burst 9: 10 at once (remaining 9 .. 0), then 500 ms */
    rate(&l, 120, 60 * S, 9);
    mem_init(&m, &st, 8);

    CHECK_INT(l.t, 500 * MS);
    CHECK_INT(l.dvt, 5000 * MS);

    for (i = 0; i < 10; i++) {
        CHECK_INT(check1(&st, &l, "k", NOON, &r), 1);
        CHECK_INT(r.remaining, 9 - i);
        CHECK_INT(r.limit, 10);
    }

    CHECK_INT(check1(&st, &l, "k", NOON, &r), 0);
    CHECK_INT(r.retry_after, 500 * MS);
    CHECK_INT(r.remaining, 0);
    CHECK_INT(r.reset, 5000 * MS);

    /* rejected requests do not consume: at +499 ms still no, +500 yes */
    CHECK_INT(check1(&st, &l, "k", NOON + 499 * MS, &r), 0);
    CHECK_INT(r.retry_after, 1 * MS);
    CHECK_INT(check1(&st, &l, "k", NOON + 500 * MS, &r), 1);
    CHECK_INT(r.remaining, 0);
    CHECK_INT(check1(&st, &l, "k", NOON + 500 * MS, &r), 0);

    /* idle for long: the whole burst again, not more */
    for (i = 0; i < 10; i++) {
        CHECK_INT(check1(&st, &l, "k", NOON + 3600 * S, &r), 1);
    }
    CHECK_INT(check1(&st, &l, "k", NOON + 3600 * S, &r), 0);
    CHECK_INT(m.locked, 0);
}


/* a limit loosened under the same id: the old TAT holds no one longer */
TEST(gcra_loosened_limit)
{
    int                i;
    apigw_rl_limit_t   l;
    apigw_rl_result_t  r;
    apigw_rl_store_t   st;
    mem_store_t        m;

    rate(&l, 5, 3600 * S, 0);
    mem_init(&m, &st, 8);
    for (i = 0; i < 2; i++) {
        check1(&st, &l, "k", NOON, &r);
    }
    CHECK_INT(r.allowed, 0);
    CHECK(r.retry_after > 700 * S);

    /*
     * 10/s with burst 9 now: the client counts as having used the new
     * allowance but one request, no more: then one every 100 ms, and the
     * burst back within a second
     */
    rate(&l, 10, S, 9);
    CHECK_INT(check1(&st, &l, "k", NOON + 1 * S, &r), 1);
    CHECK_INT(r.remaining, 0);
    CHECK(r.reset <= 1 * S);
    CHECK_INT(check1(&st, &l, "k", NOON + 1 * S, &r), 0);
    CHECK_INT(r.retry_after, 100 * MS);
    CHECK_INT(check1(&st, &l, "k", NOON + 1100 * MS, &r), 1);
    CHECK_INT(check1(&st, &l, "k", NOON + 1100 * MS, &r), 0);
    for (i = 0; i < 10; i++) {
        CHECK_INT(check1(&st, &l, "k", NOON + 3 * S, &r), 1);
    }
}


TEST(gcra_sustained_rate_is_exact)
{
    int64_t            t, admitted;
    apigw_rl_limit_t   l;
    apigw_rl_result_t  r;
    apigw_rl_store_t   st;
    mem_store_t        m;

    /* 7 per second, burst 2, hammered every ms for 10 s: 3 + 70 */
    rate(&l, 7, S, 2);
    mem_init(&m, &st, 8);
    admitted = 0;

    for (t = 0; t < 10 * S; t += MS) {
        admitted += check1(&st, &l, "k", NOON + t, &r);
    }

    CHECK_INT(admitted, 3 + 70 - 1);   /* the 70th emission is at 10 s */
}


TEST(gcra_keys_are_separate)
{
    apigw_rl_limit_t   l;
    apigw_rl_result_t  r;
    apigw_rl_store_t   st;
    mem_store_t        m;

    rate(&l, 1, 60 * S, 0);
    mem_init(&m, &st, 8);

    CHECK_INT(check1(&st, &l, "alice", NOON, &r), 1);
    CHECK_INT(check1(&st, &l, "alice", NOON, &r), 0);
    CHECK_INT(check1(&st, &l, "bob", NOON, &r), 1);
    CHECK_INT(check1(&st, &l, "bob", NOON, &r), 0);
}


TEST(all_or_nothing)
{
    int                 nomem;
    size_t              lens[2];
    const char         *keys[2];
    apigw_rl_limit_t    a, b;
    apigw_rl_result_t   r[2];
    apigw_rl_store_t    st;
    mem_store_t         m;
    const apigw_rl_limit_t  *ls[2];

    rate(&a, 100, S, 99);       /* roomy */
    rate(&b, 1, 60 * S, 1);     /* 2 at once */
    mem_init(&m, &st, 8);

    ls[0] = &a;
    ls[1] = &b;
    keys[0] = "a";
    keys[1] = "b";
    lens[0] = lens[1] = 1;

    CHECK_INT(apigw_rl_check(&st, ls, keys, lens, 2, NOON, r, &nomem), 1);
    CHECK_INT(apigw_rl_check(&st, ls, keys, lens, 2, NOON, r, &nomem), 1);
    CHECK_INT(r[0].remaining, 98);

    /* b rejects: a must not be charged */
    CHECK_INT(apigw_rl_check(&st, ls, keys, lens, 2, NOON, r, &nomem), 0);
    CHECK_INT(r[0].allowed, 1);
    CHECK_INT(r[1].allowed, 0);
    CHECK_INT(check1(&st, &a, "a", NOON, &r[0]), 1);
    CHECK_INT(r[0].remaining, 97);

    /* refund gives b's emission back */
    apigw_rl_refund(&st, ls + 1, keys + 1, lens + 1, 1, NOON);
    CHECK_INT(check1(&st, &b, "b", NOON, &r[1]), 1);
    CHECK_INT(nomem, 0);
}


TEST(store_full_lets_through)
{
    int                nomem;
    size_t             len = 1;
    const char        *k = "x";
    apigw_rl_limit_t   l;
    apigw_rl_result_t  r;
    apigw_rl_store_t   st;
    mem_store_t        m;
    const apigw_rl_limit_t  *lp = &l;

    rate(&l, 1, 60 * S, 0);
    mem_init(&m, &st, 0);

    CHECK_INT(apigw_rl_check(&st, &lp, &k, &len, 1, NOON, &r, &nomem), 1);
    CHECK_INT(nomem, 1);
    CHECK_INT(apigw_rl_check(&st, &lp, &k, &len, 1, NOON, &r, &nomem), 1);
}


/* ---- quotas ---- */

TEST(quota_day_boundary)
{
    int                i;
    int64_t            end, win;
    apigw_rl_limit_t   q;
    apigw_rl_result_t  r;
    apigw_rl_store_t   st;
    mem_store_t        m;
    int64_t            last = NOON + 12 * 3600 * S - S;    /* 23:59:59 */

    quota(&q, 3);
    mem_init(&m, &st, 8);

    win = apigw_quota_window(APIGW_RL_DAY, last, &end);
    CHECK_INT(end, last + S);
    CHECK_INT(apigw_quota_window(APIGW_RL_DAY, last + S, &end), win + 1);

    for (i = 0; i < 3; i++) {
        CHECK_INT(check1(&st, &q, "q", last, &r), 1);
        CHECK_INT(r.remaining, 2 - i);
        CHECK_INT(r.limit, 3);
        CHECK_INT(r.reset, S);
    }

    CHECK_INT(check1(&st, &q, "q", last, &r), 0);
    CHECK_INT(r.retry_after, S);
    CHECK_INT(check1(&st, &q, "q", last + S - 1, &r), 0);

    /* midnight UTC: a new day, the whole quota again */
    for (i = 0; i < 3; i++) {
        CHECK_INT(check1(&st, &q, "q", last + S, &r), 1);
    }
    CHECK_INT(check1(&st, &q, "q", last + S, &r), 0);
    CHECK_INT(r.retry_after, 86400 * S);
}


TEST(quota_month_windows)
{
    int64_t   end, y, w1, w2;
    unsigned  mo, d;

    /* 2024-02-29 23:00 -> ends 2024-03-01 00:00 */
    w1 = apigw_quota_window(APIGW_RL_MONTH,
                            (apigw_days_from_civil(2024, 2, 29) * 86400
                             + 23 * 3600) * S, &end);
    CHECK_INT(end, apigw_days_from_civil(2024, 3, 1) * 86400 * S);
    CHECK_INT(w1, 2024 * 12 + 1);

    /* December rolls into the next year */
    w2 = apigw_quota_window(APIGW_RL_MONTH,
                            apigw_days_from_civil(2026, 12, 31) * 86400 * S,
                            &end);
    CHECK_INT(end, apigw_days_from_civil(2027, 1, 1) * 86400 * S);
    CHECK_INT(w2, 2026 * 12 + 11);

    CHECK_INT(apigw_days_from_civil(1970, 1, 1), 0);
    CHECK_INT(apigw_days_from_civil(2000, 3, 1), 11017);
    apigw_civil_from_days(apigw_days_from_civil(2100, 2, 28) + 1, &y, &mo,
                          &d);
    CHECK_INT(y, 2100);
    CHECK_INT(mo, 3);           /* 2100 is no leap year */
    CHECK_INT(d, 1);
}


/* ---- parsing ---- */

static apigw_rl_set_t *
parse_apigw(const char *text, int op_level, apigw_problems_t *probs)
{
    json_t          *j;
    apigw_rl_set_t  *s;

    j = json_loads(text, JSON_DECODE_ANY, NULL);
    s = calloc(1, sizeof(*s));

    if (j == NULL || apigw_rl_parse_apigw(j, op_level, probs, "f", "/x", s)
                     != 0)
    {
        apigw_rl_set_free(s);
        s = NULL;
    }

    json_decref(j);

    return s;
}


TEST(parse_apigw_forms)
{
    apigw_rl_set_t    *s;
    apigw_problems_t   p;

    apigw_problems_init(&p);

    s = parse_apigw("{\"rate\": 100, \"per\": \"minute\"}", 0, &p);
    CHECK(s != NULL);
    if (s) {
        CHECK_INT(s->n, 1);
        CHECK_INT(s->items[0].burst, 99);        /* default: the period's */
        CHECK_INT(s->items[0].period, 60 * S);
        CHECK_INT(s->items[0].scope, APIGW_RL_SCOPE_API);
        CHECK_INT(s->items[0].key, APIGW_RL_KEY_CONSUMER);
        CHECK_INT(s->items[0].store, APIGW_RL_STORE_LOCAL);
        CHECK_INT(s->items[0].on_failure, APIGW_RL_FAIL_LOCAL);
        apigw_rl_set_free(s);
    }

    s = parse_apigw("[{\"rate\": \"5\", \"per\": 10, \"burst\": 0,"
                    " \"key\": \"header:X-Client\", \"store\": \"redis\","
                    " \"on-redis-failure\": \"closed\", \"id\": \"a.b\"},"
                    " {\"quota\": 1000, \"per\": \"month\","
                    "  \"scope\": \"tenant\", \"key\": \"address\"}]", 1, &p);
    CHECK(s != NULL);
    if (s) {
        CHECK_INT(s->n, 2);
        CHECK_INT(s->items[0].period, 10 * S);
        CHECK_INT(s->items[0].t, 2 * S);
        CHECK_INT(s->items[0].burst, 0);
        CHECK_INT(s->items[0].scope, APIGW_RL_SCOPE_OPERATION);
        CHECK_STR(s->items[0].header, "x-client");
        CHECK_INT(s->items[0].store, APIGW_RL_STORE_REDIS);
        CHECK_INT(s->items[0].on_failure, APIGW_RL_FAIL_CLOSED);
        CHECK_STR(s->items[0].id, "a.b");
        CHECK_INT(s->items[1].kind, APIGW_RL_QUOTA);
        CHECK_INT(s->items[1].calendar, APIGW_RL_MONTH);
        CHECK_INT(s->items[1].scope, APIGW_RL_SCOPE_TENANT);
        CHECK_INT(s->items[1].key, APIGW_RL_KEY_ADDRESS);
        apigw_rl_set_free(s);
    }

    /* whole numbers written 10.0 are whole numbers, "per" too */
    s = parse_apigw("{\"rate\": 5.0, \"per\": 10.0, \"burst\": 2.0}", 0,
                    &p);
    CHECK(s != NULL);
    if (s) {
        CHECK_INT(s->items[0].n, 5);
        CHECK_INT(s->items[0].period, 10 * S);
        CHECK_INT(s->items[0].burst, 2);
        apigw_rl_set_free(s);
    }

    CHECK(parse_apigw("{\"rate\": 5, \"per\": 10.5}", 0, &p) == NULL);
    CHECK_INT(p.nerrors, 1);
    CHECK_STR(p.items[0].pointer, "/x/per");

    apigw_problems_free(&p);
}


TEST(parse_apigw_errors)
{
    apigw_problems_t  p;

    apigw_problems_init(&p);

    CHECK(parse_apigw("[{\"rate\": 0, \"per\": \"week\", \"burst\": -1,"
                      " \"key\": \"cookie\", \"scope\": \"world\"}]",
                      0, &p) == NULL);
    CHECK_INT(p.nerrors, 5);
    CHECK_STR(p.items[0].pointer, "/x/0/rate");
    CHECK_STR(p.items[1].pointer, "/x/0/per");
    CHECK_STR(p.items[2].pointer, "/x/0/burst");

    apigw_problems_free(&p);
    apigw_problems_init(&p);

    CHECK(parse_apigw("{\"rate\": 1, \"quota\": 2, \"per\": \"day\"}", 0, &p)
          == NULL);
    CHECK(parse_apigw("{\"quota\": 2, \"per\": \"hour\"}", 0, &p) == NULL);
    CHECK(parse_apigw("{\"quota\": 2, \"per\": \"day\", \"burst\": 3}", 0, &p)
          == NULL);
    CHECK(parse_apigw("{\"rate\": 2}", 0, &p) == NULL);
    CHECK(parse_apigw("\"10/s\"", 0, &p) == NULL);
    CHECK(parse_apigw("[1]", 0, &p) == NULL);
    CHECK(parse_apigw("{\"rate\": 2, \"per\": \"day\", \"id\": \"a b\"}", 0,
                      &p) == NULL);
    CHECK_INT(p.nerrors, 7);

    /* one id, two limits: refused; the same limit twice: kept once */
    CHECK(parse_apigw("[{\"rate\": 1, \"per\": \"day\", \"id\": \"x\"},"
                      " {\"rate\": 2, \"per\": \"day\", \"id\": \"x\"}]",
                      0, &p) == NULL);
    CHECK_INT(p.nerrors, 8);
    CHECK_STR(p.items[7].pointer, "/x/1/id");

    apigw_problems_free(&p);
    apigw_problems_init(&p);

    {
        apigw_rl_set_t  *s;

        s = parse_apigw("[{\"rate\": 1, \"per\": \"day\"},"
                        " {\"rate\": 1, \"per\": \"day\"},"
                        " {\"rate\": 1, \"per\": \"day\", "
                        "\"key\": \"address\"}]", 0, &p);
        CHECK(s != NULL);
        if (s) {
            CHECK_INT(s->n, 2);
            apigw_rl_set_free(s);
        }
    }

    CHECK_INT(p.nerrors, 0);
    apigw_problems_free(&p);
}


TEST(parse_apigw_strict)
{
    apigw_rl_set_t    *s;
    apigw_problems_t   p;

    apigw_problems_init(&p);

    /* a typo is not ignored: it would change the limit silently */
    CHECK(parse_apigw("[{\"rate\": 10, \"per\": \"minute\", \"brust\": 5},"
                      " {\"quota\": 9, \"per_\": \"day\", \"per\": \"day\","
                      "  \"a/b~\": 1}]", 1, &p) == NULL);
    CHECK_INT(p.nerrors, 3);
    CHECK_STR(p.items[0].pointer, "/x/0/brust");
    CHECK(strstr(p.items[0].message, "unknown field \"brust\"") != NULL);
    CHECK(strstr(p.items[0].message, "burst") != NULL);
    CHECK_STR(p.items[1].pointer, "/x/1/per_");
    CHECK_STR(p.items[2].pointer, "/x/1/a~1b~0");

    apigw_problems_free(&p);
    apigw_problems_init(&p);

    /* the directive's spelling is a typo here too */
    CHECK(parse_apigw("{\"rate\": 1, \"per\": 1, \"on_redis_failure\": "
                      "\"open\"}", 0, &p) == NULL);
    CHECK_INT(p.nerrors, 1);
    CHECK_STR(p.items[0].pointer, "/x/on_redis_failure");

    apigw_problems_free(&p);
    apigw_problems_init(&p);

    /* both a rate and a quota: which one was meant? */
    CHECK(parse_apigw("{\"rate\": 1, \"quota\": 2, \"per\": \"day\"}", 0,
                      &p) == NULL);
    CHECK_INT(p.nerrors, 1);
    CHECK_STR(p.items[0].pointer, "/x/quota");
    CHECK_STR(p.items[0].message, "a limit is a rate or a quota, not both: "
              "give two limits for both");

    CHECK(parse_apigw("[{\"per\": \"day\"}]", 0, &p) == NULL);
    CHECK_INT(p.nerrors, 2);
    CHECK_STR(p.items[1].pointer, "/x/0");

    apigw_problems_free(&p);
    apigw_problems_init(&p);

    /* x- fields belong to their owners: ignored */
    s = parse_apigw("{\"rate\": 1, \"per\": 1, \"x-note\": {\"a\": 1}}", 0,
                    &p);
    CHECK(s != NULL);
    if (s) {
        CHECK_INT(s->n, 1);
        apigw_rl_set_free(s);
    }

    /* the compat forms come from other tools: their fields are theirs */
    {
        json_t          *j;
        apigw_rl_set_t   c;

        memset(&c, 0, sizeof(c));
        j = json_loads("[{\"rate\": 10, \"unit\": \"minute\", \"units\": 1,"
                       " \"scope\": \"api\", \"subscription\": true}]", 0,
                       NULL);
        CHECK_INT(apigw_rl_parse_compat(j, 0, &p, NULL, "/x", &c), 0);
        CHECK_INT(c.n, 1);
        json_decref(j);

        while (c.n) {
            apigw_rl_limit_clear(&c.items[--c.n]);
        }
        free(c.items);
    }

    CHECK_INT(p.n, 0);
    apigw_problems_free(&p);
}


TEST(parse_compat_and_v1)
{
    json_t            *j;
    apigw_rl_set_t     s;
    apigw_problems_t   p;
    char               v[64];

    apigw_problems_init(&p);
    memset(&s, 0, sizeof(s));

    /* 100 per 3 minutes: the openwhisk-apigateway reference example */
    j = json_loads("[{\"rate\": 100, \"unit\": \"minute\", \"units\": 3}]",
                   0, NULL);
    CHECK_INT(apigw_rl_parse_compat(j, 0, &p, NULL, "/x", &s), 0);
    json_decref(j);
    CHECK_INT(s.n, 1);
    CHECK_INT(s.items[0].period, 180 * S);
    CHECK_INT(s.items[0].burst, 99);            /* not one-request spacing */
    CHECK_INT(s.items[0].key, APIGW_RL_KEY_CONSUMER);

    CHECK_INT(s.items[0].scope, APIGW_RL_SCOPE_API);

    /* units missing: 1 (openwhisk-apigateway answered an HTML 500); on
       an operation: that operation's own counter */
    j = json_loads("[{\"rate\": 10, \"unit\": \"second\"}]", 0, NULL);
    CHECK_INT(apigw_rl_parse_compat(j, 1, &p, NULL, "/x", &s), 0);
    json_decref(j);
    CHECK_INT(s.n, 2);
    CHECK_INT(s.items[1].period, S);
    CHECK_INT(s.items[1].scope, APIGW_RL_SCOPE_OPERATION);

    j = json_loads("{\"interval\": 60, \"rate\": 10, \"scope\": \"resource\","
                   " \"subscription\": false}", 0, NULL);
    CHECK_INT(apigw_rl_parse_v1(j, &p, NULL, "/v", &s), 0);
    json_decref(j);
    CHECK_INT(s.n, 3);
    CHECK_INT(s.items[2].scope, APIGW_RL_SCOPE_OPERATION);
    CHECK_INT(s.items[2].key, APIGW_RL_KEY_GLOBAL);
    CHECK_INT(s.items[2].burst, 9);
    CHECK_INT(p.nerrors, 0);

    /* units as other tools write them: any case, plural */
    {
        int              k;
        apigw_rl_set_t  *u;
        static const char *units[] = { "MINUTE", "Hours", "days" };
        static const int64_t secs[] = { 60, 3600, 86400 };

        for (k = 0; k < 3; k++) {
            u = calloc(1, sizeof(apigw_rl_set_t));
            snprintf(v, sizeof(v), "[{\"rate\": 1, \"unit\": \"%s\"}]",
                     units[k]);
            j = json_loads(v, 0, NULL);
            CHECK_INT(apigw_rl_parse_compat(j, 0, &p, NULL, "/u", u), 0);
            json_decref(j);
            CHECK_INT(p.nerrors, 0);
            CHECK(u->n == 1 && u->items[0].period == secs[k] * S);
            apigw_rl_set_free(u);
        }
    }

    j = json_loads("[{\"rate\": 10, \"unit\": \"fortnight\"}, {}, 3]", 0,
                   NULL);
    CHECK_INT(apigw_rl_parse_compat(j, 0, &p, NULL, "/x", &s), -1);
    json_decref(j);
    CHECK_INT(p.nerrors, 3);
    CHECK_STR(p.items[0].pointer, "/x/0/unit");

    j = json_loads("{\"interval\": 0, \"rate\": 10, \"subscription\": 1}", 0,
                   NULL);
    CHECK_INT(apigw_rl_parse_v1(j, &p, NULL, "/v", &s), -1);
    json_decref(j);
    CHECK_INT(p.nerrors, 5);
    CHECK_INT(s.n, 3);

    /* v1 numbers are JSON numbers: not strings, not fractions */
    j = json_loads("{\"interval\": \"60\", \"rate\": 1.5}", 0, NULL);
    CHECK_INT(apigw_rl_parse_v1(j, &p, NULL, "/v", &s), -1);
    json_decref(j);
    CHECK_INT(p.nerrors, 7);
    CHECK_STR(p.items[5].pointer, "/v/interval");
    CHECK_STR(p.items[5].message, "must be a positive integer of seconds "
              "(1 to 31622400), not a string");
    CHECK_STR(p.items[6].pointer, "/v/rate");
    CHECK_STR(p.items[6].message, "must be a positive integer "
              "(1 to 1000000000), not 1.5");

    j = json_loads("{\"interval\": 60.0, \"rate\": 10.0}", 0, NULL);
    CHECK_INT(apigw_rl_parse_v1(j, &p, NULL, "/v", &s), 0);
    json_decref(j);
    CHECK_INT(p.nerrors, 7);
    CHECK_INT(s.n, 4);
    CHECK_INT(s.items[3].period, 60 * S);
    CHECK_INT(s.items[3].n, 10);

    while (s.n) {
        apigw_rl_limit_clear(&s.items[--s.n]);
    }
    free(s.items);
    apigw_problems_free(&p);
}


TEST(parse_args)
{
    char               err[128];
    apigw_rl_limit_t   l;
    const char        *a1[] = { "rate=100r/m", "burst=5", "key=address",
                                "store=redis", "on_redis_failure=open",
                                "scope=tenant" };
    const char        *a2[] = { "quota=500/day", "key=header:X-Team" };
    const char        *a3[] = { "rate=3r/10s" };
    const char        *bad1[] = { "rate=100" };
    const char        *bad2[] = { "quota=5/day", "burst=1" };
    const char        *bad3[] = { "burst=1" };
    const char        *bad4[] = { "rate=1r/m", "color=red" };
    const char        *bad5[] = { "rate=1r/d", "burst=1000000000" };
    const char        *bad6[] = { "rate=5r/m", "quota=100/day" };
    const char        *bad7[] = { "quota=100/day", "key=address",
                                  "rate=5r/m" };
    const char        *bad8[] = { "rate=5r/m", "burst=1", "burst=2" };
    const char        *bad9[] = { "rate=5r/m", "brust=3" };

    CHECK_INT(apigw_rl_parse_args(6, a1, &l, err, sizeof(err)), 0);
    CHECK_INT(l.n, 100);
    CHECK_INT(l.period, 60 * S);
    CHECK_INT(l.burst, 5);
    CHECK_INT(l.key, APIGW_RL_KEY_ADDRESS);
    CHECK_INT(l.store, APIGW_RL_STORE_REDIS);
    CHECK_INT(l.on_failure, APIGW_RL_FAIL_OPEN);
    CHECK_INT(l.scope, APIGW_RL_SCOPE_TENANT);
    apigw_rl_limit_clear(&l);

    CHECK_INT(apigw_rl_parse_args(2, a2, &l, err, sizeof(err)), 0);
    CHECK_INT(l.kind, APIGW_RL_QUOTA);
    CHECK_STR(l.header, "x-team");
    apigw_rl_limit_clear(&l);

    CHECK_INT(apigw_rl_parse_args(1, a3, &l, err, sizeof(err)), 0);
    CHECK_INT(l.period, 10 * S);
    CHECK_INT(l.burst, 2);
    apigw_rl_limit_clear(&l);

    CHECK_INT(apigw_rl_parse_args(1, bad1, &l, err, sizeof(err)), -1);
    CHECK_INT(apigw_rl_parse_args(2, bad2, &l, err, sizeof(err)), -1);
    CHECK_STR(err, "a quota has no burst");
    CHECK_INT(apigw_rl_parse_args(1, bad3, &l, err, sizeof(err)), -1);
    CHECK_INT(apigw_rl_parse_args(2, bad4, &l, err, sizeof(err)), -1);
    CHECK_STR(err, "invalid parameter \"color=red\"");
    CHECK_INT(apigw_rl_parse_args(2, bad5, &l, err, sizeof(err)), -1);
    CHECK_STR(err, "burst × period / rate is over 31 years");

    /* one limit per directive: nothing given is left unused */
    CHECK_INT(apigw_rl_parse_args(2, bad6, &l, err, sizeof(err)), -1);
    CHECK_STR(err, "rate= and quota= together: a limit is a rate or a "
              "quota, use one apigw_rate_limit for each");
    CHECK_INT(apigw_rl_parse_args(3, bad7, &l, err, sizeof(err)), -1);
    CHECK_STR(err, "rate= and quota= together: a limit is a rate or a "
              "quota, use one apigw_rate_limit for each");
    CHECK_INT(apigw_rl_parse_args(3, bad8, &l, err, sizeof(err)), -1);
    CHECK_STR(err, "duplicate parameter \"burst\"");
    CHECK_INT(apigw_rl_parse_args(2, bad9, &l, err, sizeof(err)), -1);
    CHECK_STR(err, "invalid parameter \"brust=3\"");
}


/* ---- identities and Redis ---- */

TEST(identity)
{
    char               buf[APIGW_RL_MAX_KEY];
    size_t             n;
    apigw_rl_limit_t   l;

    rate(&l, 1, S, 0);
    l.id = strdup("lim");
    l.scope_id = strdup("a/books");

    n = apigw_rl_identity(&l, "", 0, APIGW_RL_KEY_CONSUMER, "ali{ce}", 7, buf,
                          sizeof(buf));
    buf[n] = '\0';
    CHECK_STR(buf, "lim|a/books|cali%7bce%7d");

    /* a header value may be a secret: only its hash */
    n = apigw_rl_identity(&l, "", 0, APIGW_RL_KEY_HEADER, "s3cret", 6, buf,
                          sizeof(buf));
    buf[n] = '\0';
    CHECK(strstr(buf, "s3cret") == NULL);
    CHECK_INT(n, strlen("lim|a/books|h#") + 64);

    n = apigw_rl_identity(&l, "", 0, APIGW_RL_KEY_GLOBAL, NULL, 0, buf,
                          sizeof(buf));
    buf[n] = '\0';
    CHECK_STR(buf, "lim|a/books|g");

    l.scope = APIGW_RL_SCOPE_TENANT;
    n = apigw_rl_identity(&l, "acme", 4, APIGW_RL_KEY_GLOBAL, NULL, 0, buf,
                          sizeof(buf));
    buf[n] = '\0';
    CHECK_STR(buf, "lim|a/booksacme|g");

    CHECK_INT(apigw_rl_identity(&l, "", 0, APIGW_RL_KEY_ADDRESS, "1.2.3.4",
                                7, buf, 20), 0);

    apigw_rl_limit_clear(&l);
}


static const char *
argv_join(const apigw_rl_cmd_t *c)
{
    int          i;
    static char  out[512];

    out[0] = '\0';

    for (i = 0; i < c->argc; i++) {
        if (i) {
            strcat(out, " ");
        }
        strncat(out, c->argv[i], c->len[i]);
    }

    return out;
}


TEST(redis_commands)
{
    int                n;
    char               buf[APIGW_RL_REDIS_BUF + 64], v[32];
    apigw_rl_cmd_t     c[APIGW_RL_REDIS_CMDS];
    apigw_rl_limit_t   l, q;
    apigw_rl_result_t  r;

    rate(&l, 120, 60 * S, 9);

    n = apigw_rl_redis_decide(&l, "id|a|g", 6, NOON, NULL, buf, sizeof(buf),
                              c);
    CHECK_INT(n, 5);
    CHECK_STR(argv_join(&c[0]), "MULTI");
    CHECK_STR(argv_join(&c[1]),
              "ZADD apigw:rl:{id|a|g} GT 1795694400000000 t");
    CHECK_STR(argv_join(&c[2]), "ZINCRBY apigw:rl:{id|a|g} 500000 t");
    CHECK_STR(argv_join(&c[3]), "PEXPIRE apigw:rl:{id|a|g} 7500");
    CHECK_STR(argv_join(&c[4]), "EXEC");

    n = apigw_rl_redis_undo(&l, "id|a|g", 6, NOON, buf, sizeof(buf), c);
    CHECK_STR(argv_join(&c[0]), "ZINCRBY apigw:rl:{id|a|g} -500000 t");

    /* with a memo: the expiry once a second per key */
    {
        static apigw_rl_expiry_t  memo;
        char                      big[600];

        n = apigw_rl_redis_decide(&l, "m", 1, NOON, &memo, buf, sizeof(buf),
                                  c);
        CHECK_INT(n, 5);
        CHECK_STR(argv_join(&c[3]), "PEXPIRE apigw:rl:{m} 7500");
        n = apigw_rl_redis_decide(&l, "m", 1, NOON + 999 * MS, &memo, buf,
                                  sizeof(buf), c);
        CHECK_INT(n, 4);
        CHECK_STR(argv_join(&c[1]), "ZADD apigw:rl:{m} GT 1795694400999000 t");
        CHECK_STR(argv_join(&c[2]), "ZINCRBY apigw:rl:{m} 500000 t");
        CHECK_STR(argv_join(&c[3]), "EXEC");
        /* another key is its own; a second later the expiry is due */
        n = apigw_rl_redis_decide(&l, "n", 1, NOON + 999 * MS, &memo, buf,
                                  sizeof(buf), c);
        CHECK_INT(n, 5);
        n = apigw_rl_redis_decide(&l, "m", 1, NOON + 1000 * MS, &memo, buf,
                                  sizeof(buf), c);
        CHECK_INT(n, 5);
        /* a clock that went back: due */
        n = apigw_rl_redis_decide(&l, "m", 1, NOON, &memo, buf, sizeof(buf),
                                  c);
        CHECK_INT(n, 5);
        /* any length; a prefix is another key */
        memset(big, 'k', sizeof(big));
        CHECK_INT(apigw_rl_expiry_due(&memo, big, sizeof(big), NOON), 1);
        CHECK_INT(apigw_rl_expiry_due(&memo, big, sizeof(big), NOON), 0);
        CHECK_INT(apigw_rl_expiry_due(&memo, big, 10, NOON), 1);
        CHECK_INT(apigw_rl_expiry_due(&memo, big, 10, NOON), 0);
        CHECK_INT(apigw_rl_expiry_due(&memo, big, 11, NOON), 1);
        CHECK_INT(apigw_rl_expiry_due(NULL, big, 10, NOON), 1);
        /* quotas: PEXPIREAT likewise, per window */
        quota(&q, 2);
        n = apigw_rl_redis_decide(&q, "qm", 2, NOON, &memo, buf,
                                  sizeof(buf), c);
        CHECK_INT(n, 4);
        CHECK(strncmp(argv_join(&c[2]), "PEXPIREAT ", 10) == 0);
        n = apigw_rl_redis_decide(&q, "qm", 2, NOON + MS, &memo, buf,
                                  sizeof(buf), c);
        CHECK_INT(n, 3);
        CHECK_STR(argv_join(&c[2]), "EXEC");
    }

    /* a fresh key: TAT = now + T; remaining 9 */
    snprintf(v, sizeof(v), "%lld", (long long) (NOON + 500 * MS));
    CHECK_INT(apigw_rl_redis_eval(&l, NOON, v, strlen(v), &r), 1);
    CHECK_INT(r.remaining, 9);
    /* Redis may print a score as a double */
    CHECK_INT(apigw_rl_redis_eval(&l, NOON, "1.795694405e+15", 15, &r), 1);
    CHECK_INT(r.remaining, 0);
    snprintf(v, sizeof(v), "%lld", (long long) (NOON + 5500 * MS));
    CHECK_INT(apigw_rl_redis_eval(&l, NOON, v, strlen(v), &r), 0);
    CHECK_INT(r.retry_after, 500 * MS);
    CHECK_INT(apigw_rl_redis_eval(&l, NOON, "nan", 3, &r), -1);
    CHECK_INT(apigw_rl_redis_eval(&l, NOON, "", 0, &r), -1);

    quota(&q, 2);

    n = apigw_rl_redis_decide(&q, "q", 1, NOON, NULL, buf, sizeof(buf), c);
    CHECK_INT(n, 4);
    CHECK_STR(argv_join(&c[1]), "INCRBY apigw:q:{q}:d20783 1");
    CHECK_STR(argv_join(&c[2]), "PEXPIREAT apigw:q:{q}:d20783 1795737602000");
    CHECK_INT(apigw_rl_redis_eval(&q, NOON, "2", 1, &r), 1);
    CHECK_INT(r.remaining, 0);
    CHECK_INT(apigw_rl_redis_eval(&q, NOON, "3", 1, &r), 0);
    CHECK_INT(r.retry_after, 12 * 3600 * S);

    apigw_rl_redis_undo(&q, "q", 1, NOON, buf, sizeof(buf), c);
    CHECK_STR(argv_join(&c[0]), "DECRBY apigw:q:{q}:d20783 1");

    apigw_rl_limit_clear(&l);
    apigw_rl_limit_clear(&q);
}

/* ---- hybrid: a node decides on its view, pushes what it admitted ---- */

/* one Redis key, and the commands that touch it */
typedef struct {
    int64_t  score;         /* the sorted set's member "t" */
    int      has_score;
    int64_t  count;         /* a quota counter */
    int      has_count;
} fake_redis_t;


static int64_t
num_arg(const apigw_rl_cmd_t *c, int i)
{
    char  tmp[32];

    snprintf(tmp, sizeof(tmp), "%.*s", (int) c->len[i], c->argv[i]);

    return strtoll(tmp, NULL, 10);
}


#define IS(c, name)  ((c)->len[0] == strlen(name)                           \
                      && memcmp((c)->argv[0], name, strlen(name)) == 0)

/* runs the commands; returns the value the last one's reply carries */
static int64_t
fake_run(fake_redis_t *r, const apigw_rl_cmd_t *c, int n, int kind)
{
    int      i;
    int64_t  v, out, score;

    out = 0;
    score = 0;

    for (i = 0; i < n; i++) {
        if (IS(&c[i], "ZADD")) {
            CHECK(c[i].len[2] == 2 && memcmp(c[i].argv[2], "GT", 2) == 0);
            v = num_arg(&c[i], 3);
            if (!r->has_score || v > r->score) {
                r->score = v;
                r->has_score = 1;
            }

        } else if (IS(&c[i], "ZINCRBY")) {
            r->score = (r->has_score ? r->score : 0) + num_arg(&c[i], 2);
            r->has_score = 1;
            score = r->score;

        } else if (IS(&c[i], "ZSCORE")) {
            score = r->has_score ? r->score : 0;

        } else if (IS(&c[i], "INCRBY")) {
            r->count += num_arg(&c[i], 2);
            r->has_count = 1;

        } else if (IS(&c[i], "DECRBY")) {
            r->count -= num_arg(&c[i], 2);

        } else if (IS(&c[i], "GET")) {
            /* the count, below */

        } else {
            CHECK(IS(&c[i], "MULTI") || IS(&c[i], "EXEC")
                  || IS(&c[i], "PEXPIRE") || IS(&c[i], "PEXPIREAT"));
        }
    }

    if (kind == APIGW_RL_RATE) {
        out = score;
    } else {
        out = r->count;
    }

    return out;
}


/* a node: its store, and the sync of its one key with the fake Redis */
typedef struct {
    mem_store_t       m;
    apigw_rl_store_t  st;
} node_t;


static void
node_init(node_t *nd)
{
    mem_init(&nd->m, &nd->st, 8);
    nd->st.fresh = 300 * MS;
}


static void
node_sync(node_t *nd, fake_redis_t *r, const apigw_rl_limit_t *l,
    const char *key, int64_t now)
{
    int                n;
    char               buf[APIGW_RL_REDIS_BUF + 64];
    int64_t            v;
    apigw_rl_cmd_t     c[APIGW_RL_REDIS_CMDS];
    apigw_rl_state_t  *s;

    s = mem_lookup(&nd->m, key, strlen(key), now);
    CHECK_INT(apigw_rl_hybrid_take(s, now), 1);
    CHECK_INT(apigw_rl_hybrid_take(s, now), 0);     /* one in flight */

    n = apigw_rl_redis_sync(l, key, strlen(key), s, now, buf, sizeof(buf),
                            c);
    CHECK(n == 1 || n == 4 || n == 6);

    v = fake_run(r, c, n, l->kind);
    apigw_rl_hybrid_pulled(l, s, v, now, 1);
    CHECK_INT(s->flags, 0);
}


/* Redis decides (a view too old): the strict transaction, then the view */
static int
node_strict(node_t *nd, fake_redis_t *r, const apigw_rl_limit_t *l,
    const char *key, int64_t now, apigw_rl_result_t *res)
{
    int                n, ok;
    char               buf[APIGW_RL_REDIS_BUF + 64];
    int64_t            v;
    apigw_rl_cmd_t     c[APIGW_RL_REDIS_CMDS];
    apigw_rl_state_t  *s;

    n = apigw_rl_redis_decide(l, key, strlen(key), now, NULL, buf,
                              sizeof(buf), c);
    v = fake_run(r, c, n, l->kind);
    ok = l->kind == APIGW_RL_RATE ? apigw_gcra_eval(l, now, v, res)
                                  : apigw_quota_eval(l, now, v, res);
    if (!ok) {
        apigw_rl_redis_undo(l, key, strlen(key), now, buf, sizeof(buf), c);
        v = fake_run(r, c, 1, l->kind);
    }

    s = mem_lookup(&nd->m, key, strlen(key), now);
    apigw_rl_hybrid_pulled(l, s, v, now, 0);

    return ok;
}


static int
node_request(node_t *nd, fake_redis_t *r, const apigw_rl_limit_t *l,
    const char *key, int64_t now, int *strict)
{
    apigw_rl_result_t  res;

    if (!check1(&nd->st, l, key, now, &res)) {
        *strict = 0;
        return 0;
    }

    *strict = res.deferred;

    return res.deferred ? node_strict(nd, r, l, key, now, &res) : 1;
}


TEST(hybrid_one_node_is_exact)
{
    int                i, a, b, strict, nstrict;
    int64_t            t, next_sync;
    uint32_t           seed;
    node_t             nd;
    fake_redis_t       r;
    mem_store_t        ref;
    apigw_rl_store_t   rst;
    apigw_rl_limit_t   l, ll;
    apigw_rl_result_t  res;

    /*
     * One node on hybrid against the same limit kept locally: the same
     * decisions, request by request, and Redis ends with the local TAT,
     * whatever the arrival pattern (bursts, gaps, the view drained).
     */
    rate(&l, 10, S, 4);
    l.store = APIGW_RL_STORE_HYBRID;
    node_init(&nd);
    memset(&r, 0, sizeof(r));
    mem_init(&ref, &rst, 8);
    ll = l;
    ll.store = APIGW_RL_STORE_LOCAL;

    seed = 12345;
    t = NOON;
    next_sync = NOON + 100 * MS;
    nstrict = 0;

    for (i = 0; i < 3000; i++) {
        seed = seed * 1103515245 + 12345;
        t += (seed >> 16) % 4 == 0 ? (int64_t) ((seed >> 8) % 400) * MS
                                   : (int64_t) ((seed >> 8) % 40) * MS;

        while (next_sync <= t) {
            if (nd.m.n) {
                node_sync(&nd, &r, &l, "k", next_sync);
            }
            next_sync += 100 * MS;
        }

        a = node_request(&nd, &r, &l, "k", t, &strict);
        nstrict += strict;
        b = check1(&rst, &ll, "k", t, &res);
        CHECK_INT(a, b);
        if (a != b) {
            break;
        }
    }

    node_sync(&nd, &r, &l, "k", t);
    CHECK_INT(r.score, ref.e[0].st.a);
    CHECK_INT(nd.m.e[0].st.a, ref.e[0].st.a);
    /* the first request, and none after: the view stayed fresh */
    CHECK_INT(nstrict, 1);

    apigw_rl_limit_clear(&l);
}


TEST(hybrid_nodes_share_one_allowance)
{
    int                i, k, strict, admitted;
    int64_t            t;
    node_t             nd[3];
    fake_redis_t       r;
    apigw_rl_limit_t   l;

    /*
     * Three nodes, 100 per hour, burst 99, 40 requests a node per 100 ms
     * sync: a view misses what the others admitted since it was pulled
     * (up to two sync periods here), so the excess is at most (N - 1) x
     * what one node admits in that time (the README's bound); once Redis
     * has every push, every view is full.
     */
    rate(&l, 100, 3600 * S, 99);
    l.store = APIGW_RL_STORE_HYBRID;
    memset(&r, 0, sizeof(r));
    admitted = 0;
    t = NOON;

    for (k = 0; k < 3; k++) {
        node_init(&nd[k]);
    }

    for (i = 0; i < 30; i++) {
        for (k = 0; k < 120; k++) {
            t += MS * 100 / 120;
            admitted += node_request(&nd[k % 3], &r, &l, "k", t, &strict);
        }
        for (k = 0; k < 3; k++) {
            node_sync(&nd[k], &r, &l, "k", t);
        }
    }

    CHECK(admitted >= 100);
    CHECK(admitted <= 100 + 2 * 2 * 40);

    /* every push is in Redis: one TAT per admitted request */
    CHECK(r.score >= NOON + admitted * l.t
          && r.score <= NOON + admitted * l.t + 30 * 100 * MS);

    /* and now nobody admits */
    for (k = 0; k < 3; k++) {
        CHECK_INT(node_request(&nd[k], &r, &l, "k", t + MS, &strict), 0);
    }

    apigw_rl_limit_clear(&l);
}


TEST(hybrid_stale_offline_refund_failed)
{
    int                strict;
    node_t             nd;
    fake_redis_t       r;
    apigw_rl_limit_t   l;
    apigw_rl_result_t  res;
    apigw_rl_state_t  *s, before;

    rate(&l, 10, S, 4);
    l.store = APIGW_RL_STORE_HYBRID;
    node_init(&nd);
    memset(&r, 0, sizeof(r));

    /* never pulled: Redis decides, and the view is set */
    CHECK_INT(node_request(&nd, &r, &l, "k", NOON, &strict), 1);
    CHECK_INT(strict, 1);
    CHECK_INT(r.score, NOON + l.t);

    /* fresh: decided here, pending for the push */
    CHECK_INT(node_request(&nd, &r, &l, "k", NOON + MS, &strict), 1);
    CHECK_INT(strict, 0);
    s = &nd.m.e[0].st;
    CHECK_INT(s->pa, l.t);
    CHECK_INT(s->pb, NOON + MS + l.t);

    /* a push that fails is pending again, composed with what came since */
    CHECK_INT(apigw_rl_hybrid_take(s, NOON + 2 * MS), 1);
    CHECK_INT(node_request(&nd, &r, &l, "k", NOON + 2 * MS, &strict), 1);
    apigw_rl_hybrid_failed(s);
    CHECK_INT(s->flags, 0);
    CHECK_INT(s->pa, 2 * l.t);
    CHECK_INT(s->pb, NOON + MS + 2 * l.t);

    /* another stage refused the last one: given back, also to Redis */
    before = *s;
    apigw_rl_refund(&nd.st, (const apigw_rl_limit_t *[]) { &l },
                    (const char *[]) { "k" }, (size_t[]) { 1 }, 1,
                    NOON + 2 * MS);
    CHECK_INT(s->a, before.a - l.t);
    CHECK_INT(s->pa, l.t);

    node_sync(&nd, &r, &l, "k", NOON + 3 * MS);
    CHECK_INT(r.score, NOON + 2 * l.t);     /* two admitted, one refunded */
    CHECK_INT(s->a, r.score);

    /* too old a view: Redis decides again */
    CHECK_INT(check1(&nd.st, &l, "k", NOON + 400 * MS, &res), 1);
    CHECK_INT(res.deferred, 1);

    /* Redis away: this node alone, nothing recorded for Redis */
    nd.st.offline = 1;
    CHECK_INT(check1(&nd.st, &l, "k", NOON + 400 * MS, &res), 1);
    CHECK_INT(res.deferred, 0);
    CHECK_INT(s->pa, 0);
    CHECK_INT(s->pb, 0);

    apigw_rl_limit_clear(&l);
}


TEST(hybrid_quota)
{
    int                i, strict, n;
    char               buf[APIGW_RL_REDIS_BUF + 64];
    node_t             a, b;
    fake_redis_t       r;
    apigw_rl_cmd_t     c[APIGW_RL_REDIS_CMDS];
    apigw_rl_limit_t   q;

    quota(&q, 10);
    q.store = APIGW_RL_STORE_HYBRID;
    node_init(&a);
    node_init(&b);
    memset(&r, 0, sizeof(r));

    CHECK_INT(node_request(&a, &r, &q, "q", NOON, &strict), 1);
    CHECK_INT(strict, 1);
    for (i = 0; i < 6; i++) {
        CHECK_INT(node_request(&a, &r, &q, "q", NOON + MS, &strict), 1);
        CHECK_INT(strict, 0);
    }
    CHECK_INT(a.m.e[0].st.pa, 6);

    n = apigw_rl_redis_sync(&q, "q", 1, &a.m.e[0].st, NOON, buf,
                            sizeof(buf), c);
    CHECK_INT(n, 1);                        /* nothing taken: a read */
    CHECK_STR(argv_join(&c[0]), "GET apigw:q:{q}:d20783");

    node_sync(&a, &r, &q, "q", NOON + 2 * MS);
    CHECK_INT(r.count, 7);

    /* b: Redis decides its first, then it sees 8 of 10 */
    CHECK_INT(node_request(&b, &r, &q, "q", NOON + 3 * MS, &strict), 1);
    CHECK_INT(strict, 1);
    CHECK_INT(node_request(&b, &r, &q, "q", NOON + 4 * MS, &strict), 1);
    CHECK_INT(node_request(&b, &r, &q, "q", NOON + 5 * MS, &strict), 1);
    CHECK_INT(node_request(&b, &r, &q, "q", NOON + 6 * MS, &strict), 0);
    node_sync(&b, &r, &q, "q", NOON + 7 * MS);
    CHECK_INT(r.count, 10);
    node_sync(&a, &r, &q, "q", NOON + 8 * MS);
    CHECK_INT(node_request(&a, &r, &q, "q", NOON + 9 * MS, &strict), 0);

    apigw_rl_limit_clear(&q);
}


TEST(hybrid_sync_commands)
{
    int                n;
    char               buf[APIGW_RL_REDIS_BUF + 64];
    apigw_rl_cmd_t     c[APIGW_RL_REDIS_CMDS];
    apigw_rl_limit_t   l;
    apigw_rl_state_t   s;
    int64_t            v;

    rate(&l, 120, 60 * S, 9);
    memset(&s, 0, sizeof(s));
    s.pa = 3 * l.t;
    s.pb = NOON + 2 * l.t;
    s.a = NOON + 2 * l.t;
    CHECK_INT(apigw_rl_hybrid_take(&s, NOON), 1);
    /* unanswered for too long (its worker died): taken as lost */
    CHECK_INT(apigw_rl_hybrid_take(&s, NOON + APIGW_RL_LOST - 1), 0);
    CHECK_INT(apigw_rl_hybrid_take(&s, NOON + APIGW_RL_LOST), 1);
    CHECK_INT(s.fa, 3 * l.t);

    n = apigw_rl_redis_sync(&l, "id", 2, &s, NOON, buf, sizeof(buf), c);
    CHECK_INT(n, 6);
    CHECK_STR(argv_join(&c[0]), "MULTI");
    CHECK_STR(argv_join(&c[1]), "ZINCRBY apigw:rl:{id} 1500000 t");
    CHECK_STR(argv_join(&c[2]),
              "ZADD apigw:rl:{id} GT 1795694401000000 t");
    CHECK_STR(argv_join(&c[3]), "ZSCORE apigw:rl:{id} t");
    CHECK_STR(argv_join(&c[4]), "PEXPIRE apigw:rl:{id} 8500");
    CHECK_STR(argv_join(&c[5]), "EXEC");

    CHECK_INT(apigw_rl_redis_number("1.795694405e+15", 15, &v), 0);
    CHECK_INT(v, 1795694405000000LL);
    CHECK_INT(apigw_rl_redis_number("-42", 3, &v), 0);
    CHECK_INT(v, -42);
    CHECK_INT(apigw_rl_redis_number("99999999999999999999", 20, &v), -1);
    CHECK_INT(apigw_rl_redis_number("1x", 2, &v), -1);

    apigw_rl_limit_clear(&l);
}



/* ---- the importer attaches limits ---- */

/*
 * Requests for one counter that arrive together are decided in one
 * transaction: each gets the value it would have had one after the other,
 * the same ones are admitted, and after the refunds of the refused the
 * counter is where n separate decisions leave it.
 */
static void
batch_against_serial(const apigw_rl_limit_t *l, int64_t now, int before,
    int n)
{
    int                k, n_cmds, ok, refused, serial[APIGW_RL_BATCH_MAX];
    char               buf[APIGW_RL_REDIS_BUF + 64];
    int64_t            v, last;
    apigw_rl_cmd_t     c[APIGW_RL_REDIS_CMDS];
    fake_redis_t       one, all;
    apigw_rl_result_t  res;

    memset(&one, 0, sizeof(one));

    for (k = 0; k < before + n; k++) {
        n_cmds = apigw_rl_redis_decide(l, "b", 1, now, NULL, buf,
                                       sizeof(buf), c);
        v = fake_run(&one, c, n_cmds, l->kind);
        ok = l->kind == APIGW_RL_RATE ? apigw_gcra_eval(l, now, v, &res)
                                      : apigw_quota_eval(l, now, v, &res);
        if (!ok) {
            apigw_rl_redis_undo(l, "b", 1, now, buf, sizeof(buf), c);
            (void) fake_run(&one, c, 1, l->kind);
        }
        if (k >= before) {
            serial[k - before] = ok;
        }
    }

    memset(&all, 0, sizeof(all));

    for (k = 0; k < before; k++) {
        n_cmds = apigw_rl_redis_decide(l, "b", 1, now, NULL, buf,
                                       sizeof(buf), c);
        (void) fake_run(&all, c, n_cmds, l->kind);
    }

    n_cmds = apigw_rl_redis_decide_n(l, "b", 1, now, n, NULL, buf,
                                     sizeof(buf), c);
    CHECK(n_cmds > 0);
    last = fake_run(&all, c, n_cmds, l->kind);

    refused = 0;

    for (k = 0; k < n; k++) {
        v = apigw_rl_batch_value(l, last, n, k);
        ok = l->kind == APIGW_RL_RATE ? apigw_gcra_eval(l, now, v, &res)
                                      : apigw_quota_eval(l, now, v, &res);
        CHECK_INT(ok, serial[k]);
        refused += !ok;
    }

    /* the refused give theirs back together */
    if (refused) {
        CHECK_INT(apigw_rl_redis_undo_n(l, "b", 1, now, refused, buf,
                                        sizeof(buf), c), 1);
        (void) fake_run(&all, c, 1, l->kind);
    }

    CHECK(one.score == all.score && one.count == all.count);
}


TEST(batch_is_serial)
{
    int                n;
    char               buf[APIGW_RL_REDIS_BUF + 64];
    apigw_rl_cmd_t     c[APIGW_RL_REDIS_CMDS];
    apigw_rl_limit_t   l, q;

    rate(&l, 120, 60 * S, 9);
    quota(&q, 5);

    n = apigw_rl_redis_decide_n(&l, "id|a|g", 6, NOON, 7, NULL, buf,
                                sizeof(buf), c);
    CHECK_INT(n, 5);
    CHECK_STR(argv_join(&c[2]), "ZINCRBY apigw:rl:{id|a|g} 3500000 t");
    n = apigw_rl_redis_decide_n(&q, "q", 1, NOON, 3, NULL, buf, sizeof(buf),
                                c);
    CHECK_STR(argv_join(&c[1]), "INCRBY apigw:q:{q}:d20783 3");

    CHECK_INT(apigw_rl_redis_undo_n(&l, "id|a|g", 6, NOON, 7, buf,
                                    sizeof(buf), c), 1);
    CHECK_STR(argv_join(&c[0]), "ZINCRBY apigw:rl:{id|a|g} -3500000 t");
    CHECK_INT(apigw_rl_redis_undo_n(&q, "q", 1, NOON, 3, buf, sizeof(buf),
                                    c), 1);
    CHECK_STR(argv_join(&c[0]), "DECRBY apigw:q:{q}:d20783 3");
    CHECK_INT(apigw_rl_redis_undo_n(&q, "q", 1, NOON, 0, buf, sizeof(buf),
                                    c), -1);

    CHECK_INT(apigw_rl_redis_decide_n(&l, "x", 1, NOON, 0, NULL, buf,
                                      sizeof(buf), c), -1);
    CHECK_INT(apigw_rl_redis_decide_n(&l, "x", 1, NOON,
                                      APIGW_RL_BATCH_MAX + 1, NULL, buf,
                                      sizeof(buf), c), -1);

    /* an empty counter, one part used, one over: burst 9 is 10 at once */
    batch_against_serial(&l, NOON, 0, 1);
    batch_against_serial(&l, NOON, 0, 10);
    batch_against_serial(&l, NOON, 0, 25);
    batch_against_serial(&l, NOON, 4, 12);
    batch_against_serial(&l, NOON, 10, 3);
    batch_against_serial(&l, NOON, 0, APIGW_RL_BATCH_MAX);
    batch_against_serial(&q, NOON, 0, 8);
    batch_against_serial(&q, NOON, 3, 2);
    batch_against_serial(&q, NOON, 5, 4);

    apigw_rl_limit_clear(&l);
    apigw_rl_limit_clear(&q);
}


TEST(import_attaches_limits)
{
    char               big[400], buf[2048];
    apigw_api_t       *api;
    apigw_problems_t   p;
    const char        *doc =
        "{\"swagger\": \"2.0\", \"basePath\": \"/b\","
        " \"info\": {\"title\": \"t\", \"version\": \"1\"},"
        " \"x-apigw-backend\": {\"url\": \"http://127.0.0.1:1/x\"},"
        " \"x-gateway-rate-limit\": [{\"rate\": 10, \"unit\": \"second\"}],"
        " \"paths\": {\"/a\": {\"get\": {\"responses\": {},"
        "   \"x-apigw-rate-limit\": {\"quota\": 5, \"per\": \"day\"}},"
        "   \"post\": {\"responses\": {}}}}}";

    apigw_problems_init(&p);
    api = apigw_import_buffer(doc, strlen(doc), NULL, &p);
    CHECK(api != NULL);

    if (api) {
        CHECK_INT(api->nops, 2);
        CHECK(api->ops[0].limits != NULL && api->ops[1].limits != NULL);
        if (api->ops[0].limits && api->ops[1].limits) {
            CHECK_INT(api->ops[0].limits->n, 2);
            CHECK_INT(api->ops[1].limits->n, 1);
            CHECK_STR(api->ops[0].limits->items[0].scope_id, "a/b");
            CHECK_STR(api->ops[1].limits->items[0].scope_id, "a/b");
            CHECK_STR(api->ops[0].limits->items[0].id,
                      api->ops[1].limits->items[0].id);
            CHECK_STR(api->ops[0].limits->items[1].scope_id, "o/b GET /a");
            CHECK_STR(api->ops[0].limits->policy,
                      "10;w=1;burst=9, 5;w=86400;comment=\"quota per day\"");
            CHECK_STR(api->ops[1].limits->policy, "10;w=1;burst=9");
            CHECK_STR(apigw_rl_set_policy_at(api->ops[1].limits, 0),
                      "10;w=1;burst=9");
        }
    }

    apigw_api_free(api);
    apigw_problems_free(&p);

    /* a month quota's window is the calendar month now is in */
    {
        static const struct { int y, m, d; const char *w; } mq[] = {
            { 2026, 2, 10, "w=2419200" }, { 2028, 2, 29, "w=2505600" },
            { 2026, 11, 30, "w=2592000" }, { 2026, 12, 1, "w=2678400" },
            { 1970, 1, 1, "w=2678400" }
        };
        static const char  *mdoc =
            "{\"openapi\": \"3.0.0\", \"info\": {}, \"x-apigw-backend\":"
            " {\"url\": \"http://h\"}, \"paths\": {\"/a\": {\"get\": {"
            "\"responses\": {}, \"x-apigw-rate-limit\": [{\"quota\": 5,"
            " \"per\": \"month\"}, {\"rate\": 2, \"per\": \"second\"}]}}}}";
        int                  k;

        apigw_problems_init(&p);
        api = apigw_import_buffer(mdoc, strlen(mdoc), NULL, &p);
        CHECK(api != NULL && api->ops[0].limits != NULL);

        for (k = 0; api && k < (int) (sizeof(mq) / sizeof(mq[0])); k++) {
            int64_t      now;
            const char  *v;

            now = (apigw_days_from_civil(mq[k].y, mq[k].m, mq[k].d) * 86400
                   + 43200) * APIGW_RL_SECOND;
            v = apigw_rl_set_policy_at(api->ops[0].limits, now);
            CHECK(strstr(v, mq[k].w) != NULL);
            CHECK(strstr(v, "2;w=1;burst=1") != NULL);
        }

        apigw_api_free(api);
        apigw_problems_free(&p);
    }

    /*
     * a path parameter's braces are escaped (Redis Cluster takes the hash
     * tag up to the first "}"), a long base path hashed to a fixed length
     */
    apigw_problems_init(&p);
    memset(big, 'x', sizeof(big) - 1);
    big[0] = '/';
    big[sizeof(big) - 1] = '\0';
    snprintf(buf, sizeof(buf),
             "{\"swagger\": \"2.0\", \"basePath\": \"/b%%7B\","
             " \"info\": {\"title\": \"t\", \"version\": \"1\"},"
             " \"x-apigw-backend\": {\"url\": \"http://127.0.0.1:1/x\"},"
             " \"paths\": {\"/i/{id}\": {\"get\": {\"responses\": {},"
             " \"parameters\": [{\"name\": \"id\", \"in\": \"path\","
             " \"required\": true, \"type\": \"string\"}],"
             " \"x-apigw-rate-limit\": {\"rate\": 5, \"per\": \"minute\","
             " \"scope\": \"operation\"}}},"
             " \"%s\": {\"get\": {\"responses\": {},"
             " \"x-apigw-rate-limit\": {\"rate\": 5, \"per\": \"minute\","
             " \"scope\": \"operation\"}}}}}", big);
    api = apigw_import_buffer(buf, strlen(buf), NULL, &p);
    CHECK(api != NULL && api->nops == 2);

    if (api && api->nops == 2) {
        CHECK_STR(api->ops[0].limits->items[0].scope_id,
                  "o/b%257B GET /i/%7bid%7d");
        CHECK_INT(strlen(api->ops[1].limits->items[0].scope_id), 66);
        CHECK(strncmp(api->ops[1].limits->items[0].scope_id, "o#", 2) == 0);
    }

    apigw_api_free(api);
    apigw_problems_free(&p);

    apigw_problems_init(&p);
    doc = "{\"openapi\": \"3.0.0\", \"info\": {\"title\": \"t\","
          " \"version\": \"1\"}, \"paths\": {\"/a\": {\"get\": {"
          " \"responses\": {}, \"x-apigw-rate-limit\": {\"rate\": 0}}}}}";
    api = apigw_import_buffer(doc, strlen(doc), NULL, &p);
    CHECK(api == NULL);
    CHECK(p.nerrors >= 1);
    apigw_api_free(api);
    apigw_problems_free(&p);
}


int
main(void)
{
    RUN(gcra_reference_example);
    RUN(gcra_loosened_limit);
    RUN(gcra_sustained_rate_is_exact);
    RUN(gcra_keys_are_separate);
    RUN(all_or_nothing);
    RUN(store_full_lets_through);
    RUN(quota_day_boundary);
    RUN(quota_month_windows);
    RUN(parse_apigw_forms);
    RUN(parse_apigw_errors);
    RUN(parse_apigw_strict);
    RUN(parse_compat_and_v1);
    RUN(parse_args);
    RUN(identity);
    RUN(redis_commands);
    RUN(hybrid_one_node_is_exact);
    RUN(hybrid_nodes_share_one_allowance);
    RUN(hybrid_stale_offline_refund_failed);
    RUN(hybrid_quota);
    RUN(hybrid_sync_commands);
    RUN(batch_is_serial);
    RUN(import_attaches_limits);

    return UNIT_DONE();
}
