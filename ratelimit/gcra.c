/*
 * Rate-limit arithmetic: GCRA (the limit_req arithmetic in µs), calendar
 * quotas, all-or-nothing decisions over a counter store, counter
 * identities, and the Redis commands of global limits.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* SHA256_Init() and friends are deprecated in OpenSSL 3, as in nginx */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <openssl/sha.h>

#include "ratelimit.h"


#define RL_DAY_US  (86400LL * APIGW_RL_SECOND)
/* Redis keys outlive their state by this much (clock skew between nodes) */
#define RL_REDIS_SLACK_MS  2000


/* ---- GCRA ---- */

int
apigw_gcra_eval(const apigw_rl_limit_t *l, int64_t now, int64_t new_tat,
    apigw_rl_result_t *res)
{
    int64_t  allow_at;

    allow_at = new_tat - l->dvt;
    res->limit = l->burst + 1;

    if (now < allow_at) {
        /* not allowed: what would be left once this request is undone */
        res->allowed = 0;
        res->remaining = 0;
        res->retry_after = allow_at - now;
        res->reset = new_tat - l->t - now;
        if (res->reset < 0) {
            res->reset = 0;
        }
        return 0;
    }

    res->allowed = 1;
    res->remaining = (now - allow_at) / l->t;
    if (res->remaining > l->burst) {
        res->remaining = l->burst;
    }
    res->retry_after = 0;
    res->reset = new_tat - now;

    return 1;
}


int
apigw_gcra(const apigw_rl_limit_t *l, int64_t now, int64_t tat,
    int64_t *new_tat, apigw_rl_result_t *res)
{
    if (tat < now) {
        tat = now;
    }

    *new_tat = tat + l->t;

    return apigw_gcra_eval(l, now, *new_tat, res);
}


/* ---- calendar ---- */

/* H. Hinnant's days_from_civil / civil_from_days (proleptic Gregorian) */

int64_t
apigw_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t   era;
    unsigned  yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned) (y - era * 400);
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + (int64_t) doe - 719468;
}


void
apigw_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t   era;
    unsigned  doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned) (z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t) yoe + era * 400 + (*m <= 2);
}


int64_t
apigw_quota_window(int calendar, int64_t now, int64_t *end)
{
    int64_t   days, y;
    unsigned  m, d;

    days = now >= 0 ? now / RL_DAY_US : (now - RL_DAY_US + 1) / RL_DAY_US;

    if (calendar == APIGW_RL_DAY) {
        *end = (days + 1) * RL_DAY_US;
        return days;
    }

    apigw_civil_from_days(days, &y, &m, &d);

    *end = (m == 12 ? apigw_days_from_civil(y + 1, 1, 1)
                    : apigw_days_from_civil(y, m + 1, 1))
           * RL_DAY_US;

    return y * 12 + (m - 1);
}


int
apigw_quota_eval(const apigw_rl_limit_t *l, int64_t now, int64_t count,
    apigw_rl_result_t *res)
{
    int64_t  end;

    (void) apigw_quota_window(l->calendar, now, &end);

    res->limit = l->n;
    res->reset = end - now;

    if (count > l->n) {
        res->allowed = 0;
        res->remaining = 0;
        res->retry_after = end - now;
        return 0;
    }

    res->allowed = 1;
    res->remaining = l->n - count;
    res->retry_after = 0;

    return 1;
}


/* ---- the counter store ---- */

/* one limit's decision on its state, not applied */
static int
rl_decide(const apigw_rl_limit_t *l, const apigw_rl_state_t *st,
    int64_t now, int hybrid, apigw_rl_state_t *next, apigw_rl_result_t *res)
{
    int64_t  win, end, tat;

    *next = *st;

    if (l->kind == APIGW_RL_RATE) {
        tat = st->expire > now ? st->a : 0;

        /*
         * One node's limit never leaves a TAT beyond now + DVT (a refusal
         * is undone): one further ahead is an older limit's under the same
         * id, loosened by a reload, and must not hold clients for the old
         * period.  It counts as the new allowance used but for one
         * request, which is admitted and stores the TAT so capped.  Not in
         * hybrid mode, whose TAT has the other nodes' requests in it.
         */
        if (!hybrid && tat > now + l->dvt) {
            tat = now + l->dvt - l->t;
        }

        if (!apigw_gcra(l, now, tat, &next->a, res)) {
            return 0;
        }

        next->expire = next->a;

        if (hybrid) {
            /* compose x -> max(x, now) + T onto the pending map */
            next->pa = st->pa + l->t;
            next->pb = (st->pb > now ? st->pb : now) + l->t;
        }

        return 1;
    }

    win = apigw_quota_window(l->calendar, now, &end);

    if (st->expire <= now || st->a != win) {
        next->a = win;
        next->b = 0;
        next->pa = 0;       /* a past window's pending is not pushed */
    }

    next->b++;
    next->expire = end;

    if (hybrid) {
        next->pa++;
    }

    return apigw_quota_eval(l, now, next->b, res);
}


int
apigw_rl_check(apigw_rl_store_t *st, const apigw_rl_limit_t **limits,
    const char **keys, const size_t *klens, size_t n, int64_t now,
    apigw_rl_result_t *res, int *nomem)
{
    int                allowed, hybrid[APIGW_RL_MAX_LIMITS];
    size_t             i;
    apigw_rl_state_t  *s[APIGW_RL_MAX_LIMITS], next[APIGW_RL_MAX_LIMITS];

    if (n > APIGW_RL_MAX_LIMITS) {
        n = APIGW_RL_MAX_LIMITS;
    }

    *nomem = 0;
    allowed = 1;

    st->lock(st->data);

    for (i = 0; i < n; i++) {
        s[i] = st->lookup(st->data, keys[i], klens[i], now);
        hybrid[i] = limits[i]->store == APIGW_RL_STORE_HYBRID
                    && !st->offline;

        if (s[i] == NULL) {
            /* no memory even after eviction: this limit lets it through */
            *nomem = 1;
            memset(&res[i], 0, sizeof(apigw_rl_result_t));
            res[i].allowed = 1;
            res[i].limit = limits[i]->kind == APIGW_RL_RATE
                           ? limits[i]->burst + 1 : limits[i]->n;
            res[i].remaining = res[i].limit;
            continue;
        }

        if (hybrid[i]
            && (s[i]->synced == 0 || now - s[i]->synced > st->fresh))
        {
            /* this node's view is too old to decide on: Redis does */
            memset(&res[i], 0, sizeof(apigw_rl_result_t));
            res[i].allowed = 1;
            res[i].deferred = 1;
            s[i] = NULL;
            continue;
        }

        res[i].deferred = 0;

        if (!rl_decide(limits[i], s[i], now, hybrid[i], &next[i], &res[i])) {
            allowed = 0;
        }
    }

    for (i = 0; i < n; i++) {
        if (s[i] == NULL) {
            continue;
        }

        if (allowed) {
            *s[i] = next[i];
        }

        /* decided here: pushed (or, when refused, pulled) at the next sync */
        if (hybrid[i] && st->touch) {
            st->touch(st->data, s[i], limits[i]);
        }
    }

    st->unlock(st->data);

    return allowed;
}


void
apigw_rl_refund(apigw_rl_store_t *st, const apigw_rl_limit_t **limits,
    const char **keys, const size_t *klens, size_t n, int64_t now)
{
    int                hybrid;
    size_t             i;
    int64_t            win, end;
    apigw_rl_state_t  *s;

    st->lock(st->data);

    for (i = 0; i < n && i < APIGW_RL_MAX_LIMITS; i++) {
        s = st->lookup(st->data, keys[i], klens[i], now);
        if (s == NULL || s->expire <= now) {
            continue;
        }

        hybrid = limits[i]->store == APIGW_RL_STORE_HYBRID && !st->offline;

        if (limits[i]->kind == APIGW_RL_RATE) {
            s->a -= limits[i]->t;
            s->expire = s->a;

            if (hybrid) {
                /* x -> P(x) - T, pushed as a negative increment */
                s->pa -= limits[i]->t;
                s->pb -= limits[i]->t;
            }

            continue;
        }

        win = apigw_quota_window(limits[i]->calendar, now, &end);
        if (s->a == win && s->b > 0) {
            s->b--;

            if (hybrid) {
                s->pa--;
            }
        }
    }

    st->unlock(st->data);
}


/* ---- hybrid sync ---- */

int
apigw_rl_hybrid_take(apigw_rl_state_t *s, int64_t now)
{
    if (s->flags & APIGW_RL_F_INFLIGHT) {
        if (now - s->fsent < APIGW_RL_LOST) {
            return 0;
        }

        apigw_rl_hybrid_failed(s);
    }

    s->fa = s->pa;
    s->fb = s->pb;
    s->pa = 0;
    s->pb = 0;
    s->fsent = now;
    s->flags |= APIGW_RL_F_INFLIGHT;

    return 1;
}


void
apigw_rl_hybrid_pulled(const apigw_rl_limit_t *l, apigw_rl_state_t *s,
    int64_t value, int64_t sent, int push)
{
    int64_t  win, end, a;

    if (push) {
        s->flags &= ~APIGW_RL_F_INFLIGHT;
        s->fa = 0;
        s->fb = 0;
    }

    s->synced = sent;

    if (l->kind == APIGW_RL_RATE) {
        /* Redis' TAT (our push in it), then what was admitted since */
        a = value + s->pa;
        s->a = a > s->pb ? a : s->pb;
        s->expire = s->a;
        return;
    }

    win = apigw_quota_window(l->calendar, sent, &end);

    if (s->a == win && s->expire > sent) {
        s->b = value + s->pa;

    } else if (s->pa == 0) {
        s->a = win;
        s->b = value;
        s->expire = end;
    }
}


void
apigw_rl_hybrid_failed(apigw_rl_state_t *s)
{
    int64_t  b;

    if (!(s->flags & APIGW_RL_F_INFLIGHT)) {
        return;
    }

    /* P after F: x -> max(x + fa + pa, max(fb + pa, pb)) */
    b = s->fb + s->pa;
    s->pb = b > s->pb ? b : s->pb;
    s->pa += s->fa;
    s->fa = 0;
    s->fb = 0;
    s->flags &= ~APIGW_RL_F_INFLIGHT;
}


/* ---- identities ---- */

/*
 * OpenSSL 3's one-shot SHA256() fetches the digest from the provider on
 * every call: 500 ns against 125 ns here for a 60-byte counter key.
 */
void
apigw_rl_sha256(const void *data, size_t len, unsigned char out[32])
{
    SHA256_CTX  c;

    if (SHA256_Init(&c) != 1
        || SHA256_Update(&c, data, len) != 1
        || SHA256_Final(out, &c) != 1)
    {
        memset(out, 0, 32);
    }
}


size_t
apigw_rl_identity(const apigw_rl_limit_t *l, const char *tenant,
    size_t tlen, int key_kind, const char *key, size_t klen, char *buf,
    size_t size)
{
    char           *p, *last;
    size_t          i, need;
    unsigned char   md[SHA256_DIGEST_LENGTH];
    static const char  hex[] = "0123456789abcdef";

    need = strlen(l->id) + strlen(l->scope_id ? l->scope_id : "") + tlen + 4;

    if (size > APIGW_RL_MAX_KEY) {
        size = APIGW_RL_MAX_KEY;
    }

    if (need + 2 * SHA256_DIGEST_LENGTH > size) {
        return 0;
    }

    p = buf;
    last = buf + size;

    /* "id|scope": memcpy, sprintf() costs more than the rest together */
    i = strlen(l->id);
    memcpy(p, l->id, i);
    p += i;
    *p++ = '|';

    if (l->scope_id) {
        i = strlen(l->scope_id);
        memcpy(p, l->scope_id, i);
        p += i;
    }

    if (l->scope == APIGW_RL_SCOPE_TENANT) {
        memcpy(p, tenant, tlen);
        p += tlen;
    }

    *p++ = '|';
    *p++ = key_kind == APIGW_RL_KEY_CONSUMER ? 'c'
         : key_kind == APIGW_RL_KEY_ADDRESS ? 'a'
         : key_kind == APIGW_RL_KEY_HEADER ? 'h' : 'g';

    if (key_kind == APIGW_RL_KEY_GLOBAL) {
        return p - buf;
    }

    /* escaped, unless that does not fit or it may be a secret */

    if (key_kind != APIGW_RL_KEY_HEADER && klen * 3 <= (size_t) (last - p)) {
        for (i = 0; i < klen; i++) {
            if (key[i] == '{' || key[i] == '}' || key[i] == '%'
                || (unsigned char) key[i] < 0x21)
            {
                *p++ = '%';
                *p++ = hex[(unsigned char) key[i] >> 4];
                *p++ = hex[key[i] & 0xf];
            } else {
                *p++ = key[i];
            }
        }

        return p - buf;
    }

    apigw_rl_sha256(key, klen, md);

    *p++ = '#';
    for (i = 0; i < SHA256_DIGEST_LENGTH && p + 2 <= last; i++) {
        *p++ = hex[md[i] >> 4];
        *p++ = hex[md[i] & 0xf];
    }

    return p - buf;
}


/* ---- Redis ---- */

static void
rl_arg(apigw_rl_cmd_t *c, const char *s, size_t len)
{
    c->argv[c->argc] = s;
    c->len[c->argc] = len;
    c->argc++;
}


static void
rl_arg_s(apigw_rl_cmd_t *c, const char *s)
{
    rl_arg(c, s, strlen(s));
}


/* decimal, at most 20 bytes and a NUL; snprintf() is a tenth as fast */
static size_t
rl_itoa(char *buf, int64_t v)
{
    char  *p;

    p = buf;

    if (v < 0) {
        *p++ = '-';
    }

    p = apigw_utoa(p, v < 0 ? 0 - (uint64_t) v : (uint64_t) v);
    *p = '\0';

    return (size_t) (p - buf);
}


/* "apigw:rl:{ident}" or "apigw:q:{ident}:<window>" into buf */
static size_t
rl_redis_key(const apigw_rl_limit_t *l, const char *ident, size_t ilen,
    int64_t now, char *buf, size_t size)
{
    int      n;
    int64_t  end, win;

    if (l->kind == APIGW_RL_RATE) {
        if (ilen + 11 > size) {
            return 0;
        }
        memcpy(buf, "apigw:rl:{", 10);
        memcpy(buf + 10, ident, ilen);
        buf[10 + ilen] = '}';
        return ilen + 11;
    }

    win = apigw_quota_window(l->calendar, now, &end);

    if (ilen + 10 + 24 > size) {
        return 0;
    }

    memcpy(buf, "apigw:q:{", 9);
    memcpy(buf + 9, ident, ilen);
    n = snprintf(buf + 9 + ilen, size - 9 - ilen, "}:%c%lld",
                 l->calendar == APIGW_RL_DAY ? 'd' : 'm', (long long) win);

    return 9 + ilen + n;
}


/* after MULTI: INCRBY key n, PEXPIREAT key <window end> (if due), EXEC */
static int
rl_quota_add(apigw_rl_cmd_t *cmds, const char *key, size_t klen, char *num,
    int64_t n, int64_t end, int expire)
{
    int  k;

    rl_arg_s(&cmds[1], "INCRBY");
    rl_arg(&cmds[1], key, klen);
    rl_arg(&cmds[1], num, rl_itoa(num, n));
    num += cmds[1].len[2] + 1;

    k = 2;

    if (expire) {
        rl_arg_s(&cmds[k], "PEXPIREAT");
        rl_arg(&cmds[k], key, klen);
        rl_arg(&cmds[k], num, rl_itoa(num, end / 1000 + RL_REDIS_SLACK_MS));
        k++;
    }

    rl_arg_s(&cmds[k], "EXEC");

    return k + 1;
}


int
apigw_rl_expiry_due(apigw_rl_expiry_t *e, const char *key, size_t len,
    int64_t now)
{
    uint64_t                 h;
    unsigned char            sha[32];
    apigw_rl_expiry_slot_t  *sl;

    if (e == NULL) {
        return 1;
    }

    apigw_rl_sha256(key, len, sha);
    memcpy(&h, sha, sizeof(h));

    sl = &e->slot[h % APIGW_RL_EXPIRY_SLOTS];

    if (sl->at != 0 && memcmp(sl->sha, sha, 32) == 0
        && now >= sl->at && now - sl->at < APIGW_RL_EXPIRY_EVERY)
    {
        return 0;
    }

    sl->at = now ? now : 1;
    memcpy(sl->sha, sha, 32);

    return 1;
}


int
apigw_rl_redis_decide(const apigw_rl_limit_t *l, const char *ident,
    size_t ilen, int64_t now, apigw_rl_expiry_t *memo, char *buf,
    size_t size, apigw_rl_cmd_t *cmds)
{
    return apigw_rl_redis_decide_n(l, ident, ilen, now, 1, memo, buf, size,
                                   cmds);
}


int
apigw_rl_redis_decide_n(const apigw_rl_limit_t *l, const char *ident,
    size_t ilen, int64_t now, int64_t count, apigw_rl_expiry_t *memo,
    char *buf, size_t size, apigw_rl_cmd_t *cmds)
{
    int      i, expire;
    char    *key, *num;
    size_t   klen;
    int64_t  end;

    /* count * T must not overflow: T is at most a day of µs, 2^37 */
    if (count < 1 || count > APIGW_RL_BATCH_MAX) {
        return -1;
    }

    klen = rl_redis_key(l, ident, ilen, now, buf, size);
    if (klen == 0 || size - klen < 64) {
        return -1;
    }

    key = buf;
    num = buf + klen;
    expire = apigw_rl_expiry_due(memo, key, klen, now);

    for (i = 0; i < APIGW_RL_REDIS_CMDS; i++) {
        cmds[i].argc = 0;
    }

    rl_arg_s(&cmds[0], "MULTI");

    if (l->kind == APIGW_RL_RATE) {
        /* three numbers: now, T, ttl (ms) */
        rl_arg_s(&cmds[1], "ZADD");
        rl_arg(&cmds[1], key, klen);
        rl_arg_s(&cmds[1], "GT");
        rl_arg(&cmds[1], num, rl_itoa(num, now));
        rl_arg_s(&cmds[1], "t");
        num += cmds[1].len[3] + 1;

        rl_arg_s(&cmds[2], "ZINCRBY");
        rl_arg(&cmds[2], key, klen);
        rl_arg(&cmds[2], num, rl_itoa(num, count * l->t));
        rl_arg_s(&cmds[2], "t");
        num += cmds[2].len[2] + 1;

        if (!expire) {
            rl_arg_s(&cmds[3], "EXEC");
            return 4;
        }

        rl_arg_s(&cmds[3], "PEXPIRE");
        rl_arg(&cmds[3], key, klen);
        rl_arg(&cmds[3], num,
               rl_itoa(num, (l->dvt + l->t) / 1000 + RL_REDIS_SLACK_MS));

        rl_arg_s(&cmds[4], "EXEC");

        return 5;
    }

    (void) apigw_quota_window(l->calendar, now, &end);

    return rl_quota_add(cmds, key, klen, num, count, end, expire);
}


int
apigw_rl_redis_undo(const apigw_rl_limit_t *l, const char *ident,
    size_t ilen, int64_t now, char *buf, size_t size, apigw_rl_cmd_t *cmd)
{
    return apigw_rl_redis_undo_n(l, ident, ilen, now, 1, buf, size, cmd);
}


int
apigw_rl_redis_undo_n(const apigw_rl_limit_t *l, const char *ident,
    size_t ilen, int64_t now, int64_t count, char *buf, size_t size,
    apigw_rl_cmd_t *cmd)
{
    char    *num;
    size_t   klen;

    if (count < 1 || count > APIGW_RL_REFUND_MAX) {
        return -1;
    }

    klen = rl_redis_key(l, ident, ilen, now, buf, size);
    if (klen == 0 || size - klen < 24) {
        return -1;
    }

    num = buf + klen;
    cmd->argc = 0;

    if (l->kind == APIGW_RL_RATE) {
        rl_arg_s(cmd, "ZINCRBY");
        rl_arg(cmd, buf, klen);
        rl_arg(cmd, num, rl_itoa(num, -(count * l->t)));
        rl_arg_s(cmd, "t");
        return 1;
    }

    rl_arg_s(cmd, "DECRBY");
    rl_arg(cmd, buf, klen);
    rl_arg(cmd, num, rl_itoa(num, count));

    return 1;
}

int
apigw_rl_redis_sync(const apigw_rl_limit_t *l, const char *ident,
    size_t ilen, const apigw_rl_state_t *s, int64_t now, char *buf,
    size_t size, apigw_rl_cmd_t *cmds)
{
    int      i;
    char    *key, *num;
    size_t   klen;
    int64_t  end, win, ttl;

    klen = rl_redis_key(l, ident, ilen, now, buf, size);
    if (klen == 0 || size - klen < 96) {
        return -1;
    }

    key = buf;
    num = buf + klen;

    for (i = 0; i < APIGW_RL_REDIS_CMDS; i++) {
        cmds[i].argc = 0;
    }

    if (l->kind == APIGW_RL_RATE) {
        if (s->fa == 0 && s->fb == 0) {
            rl_arg_s(&cmds[0], "ZSCORE");
            rl_arg(&cmds[0], key, klen);
            rl_arg_s(&cmds[0], "t");
            return 1;
        }

        rl_arg_s(&cmds[0], "MULTI");

        rl_arg_s(&cmds[1], "ZINCRBY");
        rl_arg(&cmds[1], key, klen);
        rl_arg(&cmds[1], num, rl_itoa(num, s->fa));
        rl_arg_s(&cmds[1], "t");
        num += cmds[1].len[2] + 1;

        rl_arg_s(&cmds[2], "ZADD");
        rl_arg(&cmds[2], key, klen);
        rl_arg_s(&cmds[2], "GT");
        rl_arg(&cmds[2], num, rl_itoa(num, s->fb));
        rl_arg_s(&cmds[2], "t");
        num += cmds[2].len[3] + 1;

        rl_arg_s(&cmds[3], "ZSCORE");
        rl_arg(&cmds[3], key, klen);
        rl_arg_s(&cmds[3], "t");

        /* the TAT may be ahead of now by what other nodes pushed too */
        ttl = (s->a > s->fb ? s->a : s->fb) - now;
        if (ttl < 0) {
            ttl = 0;
        }

        rl_arg_s(&cmds[4], "PEXPIRE");
        rl_arg(&cmds[4], key, klen);
        rl_arg(&cmds[4], num, rl_itoa(num, (ttl + l->dvt + l->t) / 1000
                                           + RL_REDIS_SLACK_MS));

        rl_arg_s(&cmds[5], "EXEC");

        return 6;
    }

    win = apigw_quota_window(l->calendar, now, &end);

    if (s->fa == 0 || s->a != win) {
        /* nothing of this window to add: read it */
        rl_arg_s(&cmds[0], "GET");
        rl_arg(&cmds[0], key, klen);
        return 1;
    }

    rl_arg_s(&cmds[0], "MULTI");

    return rl_quota_add(cmds, key, klen, num, s->fa, end, 1);
}


int
apigw_rl_redis_number(const char *value, size_t len, int64_t *out)
{
    char       tmp[48], *end;
    double     d;
    long long  n;

    if (value == NULL || len == 0 || len >= sizeof(tmp)) {
        return -1;
    }

    memcpy(tmp, value, len);
    tmp[len] = '\0';

    n = strtoll(tmp, &end, 10);
    if (*end == '\0') {
        if (n <= -9007199254740992LL || n >= 9007199254740992LL) {
            return -1;
        }
        *out = n;
        return 0;
    }

    /* a sorted-set score: a double holding an integer below 2^53 */
    d = strtod(tmp, &end);
    if (*end != '\0' || !(d > -9007199254740992.0 && d < 9007199254740992.0))
    {
        return -1;
    }

    *out = (int64_t) d;

    return 0;
}



int
apigw_rl_redis_eval(const apigw_rl_limit_t *l, int64_t now,
    const char *value, size_t len, apigw_rl_result_t *res)
{
    int64_t  v;

    if (apigw_rl_redis_number(value, len, &v) != 0) {
        return -1;
    }

    if (l->kind == APIGW_RL_RATE) {
        return apigw_gcra_eval(l, now, v, res);
    }

    return apigw_quota_eval(l, now, v, res);
}
