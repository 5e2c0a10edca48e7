/*
 * Rate-limit policies: the model, and its parsing from x-apigw-rate-limit,
 * the compat x-gateway-rate-limit / x-ibm-rate-limit, the v1 management
 * API's rateLimit policy, and directive arguments.
 */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/sha.h>

#include "ratelimit.h"


typedef struct {
    apigw_problems_t  *probs;
    const char        *file;
    const char        *pointer;
    int                errors;
} rl_pctx_t;


static void
rl_problem(rl_pctx_t *p, const char *sub, const char *fmt, const char *a)
{
    char  ptr[512], msg[256];

    snprintf(ptr, sizeof(ptr), "%s%s", p->pointer, sub ? sub : "");
    snprintf(msg, sizeof(msg), fmt, a ? a : "");
    apigw_problem_add(p->probs, 0, p->file, ptr, "%s", msg);
    p->errors++;
}


void
apigw_rl_limit_clear(apigw_rl_limit_t *l)
{
    free(l->header);
    free(l->id);
    free(l->scope_id);
    memset(l, 0, sizeof(*l));
}


void
apigw_rl_set_free(apigw_rl_set_t *s)
{
    size_t  i;

    if (s == NULL) {
        return;
    }

    for (i = 0; i < s->n; i++) {
        apigw_rl_limit_clear(&s->items[i]);
    }

    free(s->items);
    free(s->policy);
    free(s);
}


static char *
rl_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}


int
apigw_rl_set_add(apigw_rl_set_t *s, const apigw_rl_limit_t *l)
{
    size_t             i;
    apigw_rl_limit_t  *items, *d;

    /*
     * The same limit twice would charge its counter twice: kept once.  One
     * id for two different limits would mix their counters: refused.
     */
    for (i = 0; i < s->n; i++) {
        d = &s->items[i];

        if (strcmp(d->id, l->id) != 0) {
            continue;
        }

        if (d->kind == l->kind && d->n == l->n && d->period == l->period
            && d->burst == l->burst && d->calendar == l->calendar
            && d->scope == l->scope && d->key == l->key
            && d->store == l->store && d->on_failure == l->on_failure
            && (d->header == NULL) == (l->header == NULL)
            && (d->header == NULL || strcmp(d->header, l->header) == 0))
        {
            return 0;
        }

        return -2;
    }

    if (s->n >= APIGW_RL_MAX_LIMITS) {
        return -1;
    }

    items = realloc(s->items, (s->n + 1) * sizeof(apigw_rl_limit_t));
    if (items == NULL) {
        return -1;
    }

    s->items = items;
    d = &items[s->n];
    *d = *l;
    d->header = rl_strdup(l->header);
    d->id = rl_strdup(l->id);
    d->scope_id = rl_strdup(l->scope_id);

    if ((l->header && d->header == NULL) || (l->id && d->id == NULL)
        || (l->scope_id && d->scope_id == NULL))
    {
        apigw_rl_limit_clear(d);
        return -1;
    }

    s->n++;

    return 0;
}


/* ---- shared pieces ---- */

static int
rl_header_name_ok(const char *s, size_t len)
{
    size_t  i;

    if (len == 0 || len > 64) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!(isalnum((unsigned char) s[i]) || s[i] == '-' || s[i] == '_')) {
            return 0;
        }
    }

    return 1;
}


/* "consumer" | "address" | "global" | "header:Name"; -1 when bad */
static int
rl_key_parse(const char *s, size_t len, apigw_rl_limit_t *l)
{
    size_t  i;

    if (len == 8 && strncmp(s, "consumer", 8) == 0) {
        l->key = APIGW_RL_KEY_CONSUMER;

    } else if (len == 7 && strncmp(s, "address", 7) == 0) {
        l->key = APIGW_RL_KEY_ADDRESS;

    } else if (len == 6 && strncmp(s, "global", 6) == 0) {
        l->key = APIGW_RL_KEY_GLOBAL;

    } else if (len > 7 && strncmp(s, "header:", 7) == 0
               && rl_header_name_ok(s + 7, len - 7))
    {
        l->key = APIGW_RL_KEY_HEADER;
        free(l->header);
        l->header = strndup(s + 7, len - 7);
        if (l->header == NULL) {
            return -2;
        }

        for (i = 0; l->header[i]; i++) {
            l->header[i] = (char) tolower((unsigned char) l->header[i]);
        }

    } else {
        return -1;
    }

    return 0;
}


static int
rl_word(const char *s, size_t len, const char *const *words)
{
    int  i;

    for (i = 0; words[i]; i++) {
        if (strlen(words[i]) == len && strncmp(s, words[i], len) == 0) {
            return i;
        }
    }

    return -1;
}


static const char *const  rl_scopes[] = {
    "tenant", "api", "operation", "resource", NULL
};
static const char *const  rl_stores[] = {
    "local", "redis", "hybrid", NULL
};
static const char *const  rl_failures[] = {
    "local", "open", "closed", NULL
};
static const char *const  rl_units[] = {
    "second", "minute", "hour", "day", NULL
};
static const int64_t  rl_unit_secs[] = { 1, 60, 3600, 86400 };


/* a compat unit in any case, singular or plural; -1 for none */
static int
rl_unit_word(const char *s)
{
    int     i;
    char    lc[8];
    size_t  n, len;

    len = strlen(s);
    if (len >= sizeof(lc)) {
        return -1;
    }

    for (n = 0; n < len; n++) {
        lc[n] = (char) tolower((unsigned char) s[n]);
    }

    if (len > 1 && lc[len - 1] == 's') {
        len--;
    }

    for (i = 0; rl_units[i]; i++) {
        if (strlen(rl_units[i]) == len && strncmp(lc, rl_units[i], len) == 0)
        {
            return i;
        }
    }

    return -1;
}

/* the fields of an x-apigw-rate-limit item; any other is a typo */
static const char *const  rl_fields[] = {
    "rate", "quota", "per", "burst", "key", "scope", "store",
    "on-redis-failure", "id", NULL
};


static int
rl_scope_from(int w)
{
    return w == 0 ? APIGW_RL_SCOPE_TENANT
         : w == 1 ? APIGW_RL_SCOPE_API
                  : APIGW_RL_SCOPE_OPERATION;    /* operation, resource */
}


static int
rl_id_ok(const char *s, size_t len)
{
    size_t  i;

    if (len == 0 || len > APIGW_RL_MAX_ID) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!(isalnum((unsigned char) s[i]) || s[i] == '-' || s[i] == '_'
              || s[i] == '.'))
        {
            return 0;
        }
    }

    return 1;
}


/*
 * GCRA's tolerance, T × (burst + 1), must stay well inside a Redis score
 * (2^53 µs from 1970): at most 10^15 µs, about 31 years.
 */
static int
rl_span_ok(int64_t n, int64_t period, int64_t burst)
{
    int64_t  t;

    if (n < 1 || period < 1) {
        return 1;                   /* reported elsewhere */
    }

    t = (period + n / 2) / n;
    if (t < 1) {
        t = 1;
    }

    return burst + 1 <= 1000000000000000LL / t;
}


int
apigw_rl_finish(apigw_rl_limit_t *l)
{
    char    buf[256];
    size_t  n;

    if (l->kind == APIGW_RL_RATE) {
        /* µs per emission, rounded to nearest (error < 0.5 µs each) */
        l->t = (l->period + l->n / 2) / l->n;
        if (l->t < 1) {
            l->t = 1;
        }
        l->dvt = l->t * (l->burst + 1);
    }

    if (l->id == NULL) {
        /*
         * Derived from what the limit is, so a reload (or every operation
         * sharing a root limit) finds the same counters.
         */
        if (l->kind == APIGW_RL_RATE) {
            snprintf(buf, sizeof(buf), "r%lld/%llds+%lld",
                     (long long) l->n,
                     (long long) (l->period / APIGW_RL_SECOND),
                     (long long) l->burst);
        } else {
            snprintf(buf, sizeof(buf), "q%lld/%s", (long long) l->n,
                     l->calendar == APIGW_RL_DAY ? "d" : "m");
        }

        n = strlen(buf);
        snprintf(buf + n, sizeof(buf) - n, ":k%ds%dr%df%d%s%s", l->key,
                 l->scope, l->store, l->on_failure, l->header ? ":" : "",
                 l->header ? l->header : "");

        l->id = strdup(buf);
        if (l->id == NULL) {
            return -1;
        }
    }

    return 0;
}


/* a count: a JSON integer, or a string of digits; -1 when not */
static int64_t
rl_count(const json_t *v)
{
    int64_t      n;
    const char  *s;

    if (json_is_integer(v)) {
        n = json_integer_value(v);
        return n >= 0 ? n : -1;
    }

    if (json_is_real(v)) {
        double  d = json_real_value(v);

        if (d >= 0 && d <= (double) APIGW_RL_MAX_N && d == (double) (int64_t) d)
        {
            return (int64_t) d;
        }

        return -1;
    }

    if (json_is_string(v)) {
        s = json_string_value(v);

        if (*s == '\0' || strlen(s) > 10) {
            return -1;
        }

        for (n = 0; *s; s++) {
            if (*s < '0' || *s > '9') {
                return -1;
            }
            n = n * 10 + (*s - '0');
        }

        return n;
    }

    return -1;
}


/* "second|minute|hour|day" or a number of seconds (60.0 is 60, as for
   the counts) */
static int64_t
rl_period(const json_t *v)
{
    int     w;
    double  d;

    if (json_is_string(v)) {
        w = rl_word(json_string_value(v), strlen(json_string_value(v)),
                    rl_units);
        if (w >= 0) {
            return rl_unit_secs[w] * APIGW_RL_SECOND;
        }
    }

    if (json_is_integer(v) && json_integer_value(v) >= 1
        && json_integer_value(v) <= 366 * 86400)
    {
        return json_integer_value(v) * APIGW_RL_SECOND;
    }

    if (json_is_real(v)) {
        d = json_real_value(v);

        if (d >= 1 && d <= 366 * 86400 && d == (double) (int64_t) d) {
            return (int64_t) d * APIGW_RL_SECOND;
        }
    }

    return -1;
}


static int
rl_string_field(rl_pctx_t *p, const json_t *obj, const char *name,
    const char **out)
{
    char           sub[64];
    const json_t  *v;

    *out = NULL;
    v = json_object_get(obj, name);

    if (v == NULL) {
        return 0;
    }

    if (!json_is_string(v)) {
        snprintf(sub, sizeof(sub), "/%s", name);
        rl_problem(p, sub, "must be a string", NULL);
        return -1;
    }

    *out = json_string_value(v);

    return 0;
}


/* "/" + a key as a JSON pointer token ("~" is "~0", "/" is "~1"), cut
   before an escape that does not fit */
static void
rl_ptr_key(char *buf, size_t size, const char *key)
{
    size_t  n;

    n = 0;
    buf[n++] = '/';

    for ( /* void */ ; *key && n + 3 <= size; key++) {
        if (*key == '~' || *key == '/') {
            buf[n++] = '~';
            buf[n++] = *key == '~' ? '0' : '1';

        } else {
            buf[n++] = *key;
        }
    }

    buf[n] = '\0';
}


/*
 * A field apigw does not know in its own extension is a typo ("brust",
 * "per_"), which would silently change the limit: an error.  Fields
 * starting with "x-" are left to their owners, as extensions are.
 */
static void
rl_unknown_fields(rl_pctx_t *p, const json_t *v)
{
    char         sub[128];
    void        *it;
    json_t      *obj;
    const char  *k;

    obj = (json_t *) v;

    for (it = json_object_iter(obj); it; it = json_object_iter_next(obj, it))
    {
        k = json_object_iter_key(it);

        if (rl_word(k, strlen(k), rl_fields) >= 0 || strncmp(k, "x-", 2) == 0)
        {
            continue;
        }

        rl_ptr_key(sub, sizeof(sub), k);
        rl_problem(p, sub, "unknown field \"%.64s\": a rate limit has rate "
                   "or quota, per, burst, key, scope, store, "
                   "on-redis-failure and id", k);
    }
}


/* one x-apigw-rate-limit item at p->pointer + sub */
static int
rl_parse_item(rl_pctx_t *pp, const json_t *v, int op_level,
    const char *sub, apigw_rl_set_t *out)
{
    int                w, before;
    char               ptr[512];
    int64_t            n;
    const char        *s;
    const json_t      *rate, *quota, *per, *burst;
    rl_pctx_t          p;
    apigw_rl_limit_t   l;

    snprintf(ptr, sizeof(ptr), "%s%s", pp->pointer, sub);
    p = *pp;
    p.pointer = ptr;
    p.errors = 0;

    if (!json_is_object(v)) {
        rl_problem(&p, "", "a rate limit must be an object", NULL);
        pp->errors++;
        return -1;
    }

    rl_unknown_fields(&p, v);

    memset(&l, 0, sizeof(l));
    l.scope = op_level ? APIGW_RL_SCOPE_OPERATION : APIGW_RL_SCOPE_API;
    l.key = APIGW_RL_KEY_CONSUMER;
    l.store = APIGW_RL_STORE_LOCAL;
    l.on_failure = APIGW_RL_FAIL_LOCAL;

    rate = json_object_get(v, "rate");
    quota = json_object_get(v, "quota");
    per = json_object_get(v, "per");
    burst = json_object_get(v, "burst");

    if (rate && quota) {
        /* which one was meant is anyone's guess */
        rl_problem(&p, "/quota", "a limit is a rate or a quota, not both: "
                   "give two limits for both", NULL);

    } else if (rate == NULL && quota == NULL) {
        rl_problem(&p, "", "a rate limit needs \"rate\" (with \"per\") or "
                   "\"quota\"", NULL);

    } else if (rate) {
        l.kind = APIGW_RL_RATE;
        n = rl_count(rate);
        if (n < 1 || n > APIGW_RL_MAX_N) {
            rl_problem(&p, "/rate", "must be a whole number from 1 to "
                       "1000000000", NULL);
        }
        l.n = n;

        if (per == NULL) {
            rl_problem(&p, "", "\"per\" is required: second, minute, hour, "
                       "day or a number of seconds", NULL);

        } else if ((l.period = rl_period(per)) < 0) {
            rl_problem(&p, "/per", "must be second, minute, hour, day or a "
                       "number of seconds from 1 to 31622400", NULL);
        }

        if (burst) {
            n = rl_count(burst);
            if (n < 0 || n > APIGW_RL_MAX_N) {
                rl_problem(&p, "/burst", "must be a whole number from 0 to "
                           "1000000000", NULL);
            }
            l.burst = n;

        } else if (l.n > 0) {
            /* "N per period" lets an idle client use the period's N */
            l.burst = l.n - 1;
        }

        if (p.errors == 0 && !rl_span_ok(l.n, l.period, l.burst)) {
            rl_problem(&p, "/burst", "burst × per / rate is over 31 years",
                       NULL);
        }

    } else {
        l.kind = APIGW_RL_QUOTA;
        n = rl_count(quota);
        if (n < 1 || n > APIGW_RL_MAX_N) {
            rl_problem(&p, "/quota", "must be a whole number from 1 to "
                       "1000000000", NULL);
        }
        l.n = n;

        if (per && json_is_string(per)
            && strcmp(json_string_value(per), "day") == 0)
        {
            l.calendar = APIGW_RL_DAY;

        } else if (per && json_is_string(per)
                   && strcmp(json_string_value(per), "month") == 0)
        {
            l.calendar = APIGW_RL_MONTH;

        } else {
            rl_problem(&p, per ? "/per" : "", "a quota is per \"day\" or "
                       "\"month\" (UTC)", NULL);
        }

        if (burst) {
            rl_problem(&p, "/burst", "a quota has no burst", NULL);
        }
    }

    before = p.errors;

    if (rl_string_field(&p, v, "scope", &s) == 0 && s) {
        w = rl_word(s, strlen(s), rl_scopes);
        if (w < 0) {
            rl_problem(&p, "/scope", "must be tenant, api or operation, not "
                       "\"%s\"", s);
        } else {
            l.scope = rl_scope_from(w);
        }
    }

    if (rl_string_field(&p, v, "key", &s) == 0 && s) {
        w = rl_key_parse(s, strlen(s), &l);
        if (w == -2) {
            apigw_rl_limit_clear(&l);
            return -1;
        }
        if (w < 0) {
            rl_problem(&p, "/key", "must be consumer, address, global or "
                       "header:<name>, not \"%s\"", s);
        }
    }

    if (rl_string_field(&p, v, "store", &s) == 0 && s) {
        w = rl_word(s, strlen(s), rl_stores);
        if (w < 0) {
            rl_problem(&p, "/store", "must be local, redis or hybrid, not "
                       "\"%s\"", s);
        } else {
            l.store = w + 1;            /* APIGW_RL_STORE_* in list order */
        }
    }

    if (rl_string_field(&p, v, "on-redis-failure", &s) == 0 && s) {
        w = rl_word(s, strlen(s), rl_failures);
        if (w < 0) {
            rl_problem(&p, "/on-redis-failure", "must be local, open or "
                       "closed, not \"%s\"", s);
        } else {
            l.on_failure = w + 1;
        }
    }

    if (rl_string_field(&p, v, "id", &s) == 0 && s) {
        if (!rl_id_ok(s, strlen(s))) {
            rl_problem(&p, "/id", "must be 1 to 64 of A-Z a-z 0-9 - _ .",
                       NULL);
        } else {
            l.id = strdup(s);
            if (l.id == NULL) {
                apigw_rl_limit_clear(&l);
                return -1;
            }
        }
    }

    (void) before;

    if (p.errors) {
        pp->errors += p.errors;
        apigw_rl_limit_clear(&l);
        return -1;
    }

    w = apigw_rl_finish(&l) != 0 ? -1 : apigw_rl_set_add(out, &l);

    if (w != 0) {
        if (w == -2) {
            rl_problem(&p, "/id", "\"%s\" names another limit too", l.id);
        } else {
            rl_problem(&p, "", out->n >= APIGW_RL_MAX_LIMITS
                               ? "more than 16 limits for one operation"
                               : "out of memory", NULL);
        }
        pp->errors++;
        apigw_rl_limit_clear(&l);
        return -1;
    }

    apigw_rl_limit_clear(&l);

    return 0;
}


int
apigw_rl_parse_apigw(const void *json, int op_level,
    apigw_problems_t *probs, const char *file, const char *pointer,
    apigw_rl_set_t *out)
{
    char           sub[32];
    size_t         i, n0;
    rl_pctx_t      p;
    const json_t  *v = json;

    p.probs = probs;
    p.file = file;
    p.pointer = pointer ? pointer : "";
    p.errors = 0;
    n0 = out->n;

    if (json_is_array(v)) {
        for (i = 0; i < json_array_size(v); i++) {
            snprintf(sub, sizeof(sub), "/%zu", i);
            (void) rl_parse_item(&p, json_array_get(v, i), op_level, sub,
                                 out);
        }

    } else if (json_is_object(v)) {
        (void) rl_parse_item(&p, v, op_level, "", out);

    } else {
        rl_problem(&p, "", "must be a rate limit object or an array of them",
                   NULL);
    }

    if (p.errors) {
        while (out->n > n0) {
            apigw_rl_limit_clear(&out->items[--out->n]);
        }
        return -1;
    }

    return 0;
}


/* a compat limit: rate per interval, an idle client may use all of it */
static int
rl_compat_limit(rl_pctx_t *p, int64_t rate, int64_t secs, int subscription,
    int scope, apigw_rl_set_t *out)
{
    apigw_rl_limit_t  l;

    memset(&l, 0, sizeof(l));
    l.kind = APIGW_RL_RATE;
    l.n = rate;
    l.period = secs * APIGW_RL_SECOND;
    l.burst = rate - 1;
    l.scope = scope;
    l.key = subscription ? APIGW_RL_KEY_CONSUMER : APIGW_RL_KEY_GLOBAL;
    l.store = APIGW_RL_STORE_LOCAL;
    l.on_failure = APIGW_RL_FAIL_LOCAL;

    if (apigw_rl_finish(&l) != 0 || apigw_rl_set_add(out, &l) != 0) {
        rl_problem(p, "", "too many limits, or out of memory", NULL);
        apigw_rl_limit_clear(&l);
        return -1;
    }

    apigw_rl_limit_clear(&l);

    return 0;
}


int
apigw_rl_parse_compat(const void *json, int op_level,
    apigw_problems_t *probs, const char *file, const char *pointer,
    apigw_rl_set_t *out)
{
    int            w;
    char           sub[64];
    size_t         i, n0;
    int64_t        rate, units;
    rl_pctx_t      p;
    const json_t  *v = json, *e, *f;

    p.probs = probs;
    p.file = file;
    p.pointer = pointer ? pointer : "";
    p.errors = 0;
    n0 = out->n;

    if (!json_is_array(v)) {
        rl_problem(&p, "", "must be an array of {rate, unit, units}", NULL);
        return -1;
    }

    for (i = 0; i < json_array_size(v); i++) {
        e = json_array_get(v, i);

        if (!json_is_object(e)) {
            snprintf(sub, sizeof(sub), "/%zu", i);
            rl_problem(&p, sub, "must be an object {rate, unit, units}",
                       NULL);
            continue;
        }

        rate = rl_count(json_object_get(e, "rate"));
        if (rate < 1 || rate > APIGW_RL_MAX_N) {
            snprintf(sub, sizeof(sub), "/%zu/rate", i);
            rl_problem(&p, sub, "must be a whole number from 1 to "
                       "1000000000", NULL);
            continue;
        }

        f = json_object_get(e, "units");
        units = f ? rl_count(f) : 1;
        if (units < 1 || units > 1000000) {
            snprintf(sub, sizeof(sub), "/%zu/units", i);
            rl_problem(&p, sub, "must be a whole number from 1 to 1000000",
                       NULL);
            continue;
        }

        f = json_object_get(e, "unit");
        w = 1;                                       /* minute */

        if (f) {
            /* as exported by other tools: "MINUTE", "minutes" */
            w = json_is_string(f) ? rl_unit_word(json_string_value(f))
                                  : -1;
            if (w < 0) {
                snprintf(sub, sizeof(sub), "/%zu/unit", i);
                rl_problem(&p, sub, "must be second, minute, hour or day",
                           NULL);
                continue;
            }
        }

        if (rl_unit_secs[w] * units > 366 * 86400) {
            snprintf(sub, sizeof(sub), "/%zu/units", i);
            rl_problem(&p, sub, "the interval is longer than 366 days",
                       NULL);
            continue;
        }

        (void) rl_compat_limit(&p, rate, rl_unit_secs[w] * units, 1,
                               op_level ? APIGW_RL_SCOPE_OPERATION
                                        : APIGW_RL_SCOPE_API, out);
    }

    if (p.errors) {
        while (out->n > n0) {
            apigw_rl_limit_clear(&out->items[--out->n]);
        }
        return -1;
    }

    return 0;
}


/*
 * A v1 number (interval, rate): a JSON integer from 1 to max, or an
 * integral number such as 60.0 (as rl_count() takes it), but not a string
 * of digits: the v1 API is JSON written by programs.  -1 when not, with
 * what it is instead in `what`.
 */
static int64_t
rl_v1_int(const json_t *v, int64_t max, char *what, size_t size)
{
    double   d;
    int64_t  n;

    if (json_is_integer(v)) {
        n = json_integer_value(v);
        if (n >= 1 && n <= max) {
            return n;
        }

        snprintf(what, size, "%lld", (long long) n);
        return -1;
    }

    if (json_is_real(v)) {
        d = json_real_value(v);
        if (d >= 1 && d <= (double) max && d == (double) (int64_t) d) {
            return (int64_t) d;
        }

        snprintf(what, size, "%.15g", d);
        return -1;
    }

    /* not the string itself: it may be long, or cut inside a character */
    snprintf(what, size, "%s", json_is_string(v) ? "a string"
                               : json_is_object(v) ? "an object"
                               : json_is_array(v) ? "an array"
                               : json_is_boolean(v) ? "a boolean" : "null");

    return -1;
}


int
apigw_rl_parse_v1(const void *json, apigw_problems_t *probs,
    const char *file, const char *pointer, apigw_rl_set_t *out)
{
    int            w, sub;
    char           what[32];
    int64_t        rate, interval;
    rl_pctx_t      p;
    const json_t  *v = json, *f;

    p.probs = probs;
    p.file = file;
    p.pointer = pointer ? pointer : "";
    p.errors = 0;

    if (!json_is_object(v)) {
        rl_problem(&p, "", "a rateLimit value must be an object {interval, "
                   "rate, scope, subscription}", NULL);
        return -1;
    }

    f = json_object_get(v, "interval");
    interval = f ? rl_v1_int(f, 366 * 86400, what, sizeof(what)) : -1;

    if (f == NULL) {
        rl_problem(&p, "/interval", "is required: a positive integer of "
                   "seconds (1 to 31622400)", NULL);

    } else if (interval < 0) {
        rl_problem(&p, "/interval", "must be a positive integer of seconds "
                   "(1 to 31622400), not %s", what);
    }

    f = json_object_get(v, "rate");
    rate = f ? rl_v1_int(f, APIGW_RL_MAX_N, what, sizeof(what)) : -1;

    if (f == NULL) {
        rl_problem(&p, "/rate", "is required: a positive integer (1 to "
                   "1000000000)", NULL);

    } else if (rate < 0) {
        rl_problem(&p, "/rate", "must be a positive integer (1 to "
                   "1000000000), not %s", what);
    }

    w = 1;
    f = json_object_get(v, "scope");
    if (f) {
        w = json_is_string(f) ? rl_word(json_string_value(f),
                                        strlen(json_string_value(f)),
                                        rl_scopes)
                              : -1;
        if (w < 0 || w == 2) {
            rl_problem(&p, "/scope", "must be tenant, api or resource", NULL);
        }
    }

    sub = 1;
    f = json_object_get(v, "subscription");
    if (f) {
        if (!json_is_boolean(f)) {
            rl_problem(&p, "/subscription", "must be true or false", NULL);
        }
        sub = json_is_true(f);
    }

    if (p.errors) {
        return -1;
    }

    return rl_compat_limit(&p, rate, interval, sub, rl_scope_from(w), out);
}


/* ---- directive arguments ---- */

static int64_t
rl_num(const char *s, size_t len, size_t *used)
{
    size_t   i;
    int64_t  n;

    for (i = 0, n = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        if (n > APIGW_RL_MAX_N) {
            return -1;
        }
        n = n * 10 + (s[i] - '0');
    }

    *used = i;

    return i ? n : -1;
}


/* the directive's parameters, in the order of apigw_rl_parse_args() */
static const char *const  rl_params[] = {
    "rate", "quota", "burst", "scope", "key", "store", "on_redis_failure",
    "id", NULL
};


int
apigw_rl_parse_args(int argc, const char **argv, apigw_rl_limit_t *out,
    char *err, size_t errlen)
{
    int          i, w, have_burst, p;
    size_t       len, u, k;
    int64_t      n, secs;
    unsigned     seen;
    const char  *a, *v;

    memset(out, 0, sizeof(*out));
    out->scope = APIGW_RL_SCOPE_API;
    out->key = APIGW_RL_KEY_CONSUMER;
    out->store = APIGW_RL_STORE_LOCAL;
    out->on_failure = APIGW_RL_FAIL_LOCAL;
    have_burst = 0;
    seen = 0;

    for (i = 0; i < argc; i++) {
        a = argv[i];
        v = strchr(a, '=');

        if (v == NULL) {
            snprintf(err, errlen, "invalid parameter \"%s\"", a);
            goto failed;
        }

        k = v - a;
        v++;
        len = strlen(v);

        /*
         * One limit per directive: a parameter given twice, or a rate and
         * a quota, would leave one of them silently unused.
         */
        p = rl_word(a, k, rl_params);

        if (p >= 0 && (seen & (1u << p))) {
            snprintf(err, errlen, "duplicate parameter \"%.*s\"", (int) k,
                     a);
            goto failed;
        }

        if (p >= 0) {
            seen |= 1u << p;
        }

        if ((seen & 3) == 3) {
            snprintf(err, errlen, "rate= and quota= together: a limit is a "
                     "rate or a quota, use one apigw_rate_limit for each");
            goto failed;
        }

        if (k == 4 && strncmp(a, "rate", 4) == 0) {
            /* 100r/s, 100r/m, 100r/h, 100r/d, 100r/10s */
            n = rl_num(v, len, &u);
            if (n < 1 || n > APIGW_RL_MAX_N || len < u + 3
                || v[u] != 'r' || v[u + 1] != '/')
            {
                snprintf(err, errlen, "invalid rate \"%s\"", v);
                goto failed;
            }

            v += u + 2;
            len -= u + 2;
            secs = 1;

            if (len > 1 && v[0] >= '0' && v[0] <= '9') {
                secs = rl_num(v, len, &u);
                if (secs < 1 || secs > 366 * 86400 || len != u + 1
                    || v[u] != 's')
                {
                    snprintf(err, errlen, "invalid rate period in \"%s\"", a);
                    goto failed;
                }

            } else if (len == 1 && strchr("smhd", v[0])) {
                secs = v[0] == 's' ? 1 : v[0] == 'm' ? 60
                                     : v[0] == 'h' ? 3600 : 86400;

            } else {
                snprintf(err, errlen, "invalid rate period in \"%s\"", a);
                goto failed;
            }

            out->kind = APIGW_RL_RATE;
            out->n = n;
            out->period = secs * APIGW_RL_SECOND;

        } else if (k == 5 && strncmp(a, "quota", 5) == 0) {
            n = rl_num(v, len, &u);
            if (n < 1 || n > APIGW_RL_MAX_N) {
                snprintf(err, errlen, "invalid quota \"%s\"", v);
                goto failed;
            }

            if (strcmp(v + u, "/day") == 0) {
                out->calendar = APIGW_RL_DAY;
            } else if (strcmp(v + u, "/month") == 0) {
                out->calendar = APIGW_RL_MONTH;
            } else {
                snprintf(err, errlen, "a quota is N/day or N/month, not "
                         "\"%s\"", v);
                goto failed;
            }

            out->kind = APIGW_RL_QUOTA;
            out->n = n;

        } else if (k == 5 && strncmp(a, "burst", 5) == 0) {
            n = rl_num(v, len, &u);
            if (n < 0 || n > APIGW_RL_MAX_N || u != len) {
                snprintf(err, errlen, "invalid burst \"%s\"", v);
                goto failed;
            }
            out->burst = n;
            have_burst = 1;

        } else if (k == 5 && strncmp(a, "scope", 5) == 0) {
            w = rl_word(v, len, rl_scopes);
            if (w < 0) {
                snprintf(err, errlen, "invalid scope \"%s\"", v);
                goto failed;
            }
            out->scope = rl_scope_from(w);

        } else if (k == 3 && strncmp(a, "key", 3) == 0) {
            w = rl_key_parse(v, len, out);
            if (w < 0) {
                snprintf(err, errlen, "invalid key \"%s\"", v);
                goto failed;
            }

        } else if (k == 5 && strncmp(a, "store", 5) == 0) {
            w = rl_word(v, len, rl_stores);
            if (w < 0) {
                snprintf(err, errlen, "invalid store \"%s\"", v);
                goto failed;
            }
            out->store = w + 1;

        } else if (k == 16 && strncmp(a, "on_redis_failure", 16) == 0) {
            w = rl_word(v, len, rl_failures);
            if (w < 0) {
                snprintf(err, errlen, "invalid on_redis_failure \"%s\"", v);
                goto failed;
            }
            out->on_failure = w + 1;

        } else if (k == 2 && strncmp(a, "id", 2) == 0) {
            if (!rl_id_ok(v, len)) {
                snprintf(err, errlen, "invalid id \"%s\"", v);
                goto failed;
            }
            free(out->id);
            out->id = strdup(v);
            if (out->id == NULL) {
                snprintf(err, errlen, "out of memory");
                goto failed;
            }

        } else {
            snprintf(err, errlen, "invalid parameter \"%s\"", a);
            goto failed;
        }
    }

    if (out->kind == 0) {
        snprintf(err, errlen, "rate= or quota= is required");
        goto failed;
    }

    if (out->kind == APIGW_RL_QUOTA && have_burst) {
        snprintf(err, errlen, "a quota has no burst");
        goto failed;
    }

    if (out->kind == APIGW_RL_RATE && !have_burst) {
        out->burst = out->n - 1;
    }

    if (out->kind == APIGW_RL_RATE
        && !rl_span_ok(out->n, out->period, out->burst))
    {
        snprintf(err, errlen, "burst × period / rate is over 31 years");
        goto failed;
    }

    if (apigw_rl_finish(out) != 0) {
        snprintf(err, errlen, "out of memory");
        goto failed;
    }

    return 0;

failed:

    apigw_rl_limit_clear(out);
    return -1;
}


/*
 * Which API: 16 hex digits of the SHA-256 of its file (a spec's path, a
 * stored API's id), so that two APIs with the same basePath (on two
 * servers, or of two tenants) never share a counter; "" without one.
 */
static void
rl_api_tag(const apigw_api_t *api, char tag[17])
{
    size_t               i;
    unsigned char        md[SHA256_DIGEST_LENGTH];
    static const char    hex[] = "0123456789abcdef";

    tag[0] = '\0';

    if (api == NULL || api->file == NULL) {
        return;
    }

    apigw_rl_sha256(api->file, strlen(api->file), md);

    for (i = 0; i < 8; i++) {
        tag[2 * i] = hex[md[i] >> 4];
        tag[2 * i + 1] = hex[md[i] & 0xf];
    }

    tag[16] = '\0';
}


/*
 * A scope id as it goes into counter names: "{", "}" and "%" escaped, so
 * that Redis Cluster's hash tag (apigw:rl:{identity}) is the whole
 * identity, not its part up to a path's "{param}"; and a long one (a long
 * base path) hashed, so that every identity fits APIGW_RL_MAX_KEY.
 */
#define RL_SCOPE_ID_MAX  160

static char *
rl_scope_id_finish(char *sid)
{
    char                *e, *p;
    size_t               i, n;
    unsigned char        md[SHA256_DIGEST_LENGTH];
    static const char    hex[] = "0123456789abcdef";

    for (n = 0, i = 0; sid[i]; i++) {
        n += (sid[i] == '{' || sid[i] == '}' || sid[i] == '%') ? 3 : 1;
    }

    if (n <= RL_SCOPE_ID_MAX) {
        if (n == i) {
            return sid;
        }

        e = malloc(n + 1);
        if (e == NULL) {
            free(sid);
            return NULL;
        }

        for (p = e, i = 0; sid[i]; i++) {
            if (sid[i] == '{' || sid[i] == '}' || sid[i] == '%') {
                *p++ = '%';
                *p++ = hex[(unsigned char) sid[i] >> 4];
                *p++ = hex[sid[i] & 0xf];

            } else {
                *p++ = sid[i];
            }
        }

        *p = '\0';
        free(sid);
        return e;
    }

    /* the kind letter and the API's tag stay readable: "o<tag>#<sha256>" */
    apigw_rl_sha256(sid, i, md);

    e = malloc(1 + 16 + 1 + 2 * SHA256_DIGEST_LENGTH + 1);
    if (e == NULL) {
        free(sid);
        return NULL;
    }

    n = 1;
    while (n < 17 && sid[n] && sid[n] != '/' && sid[n] != ' ') {
        n++;
    }

    memcpy(e, sid, n);
    p = e + n;
    *p++ = '#';

    for (i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        *p++ = hex[md[i] >> 4];
        *p++ = hex[md[i] & 0xf];
    }

    *p = '\0';
    free(sid);

    return e;
}


char *
apigw_rl_scope_id(int scope, const apigw_operation_t *op)
{
    char         *sid, tag[17];
    size_t        len;
    const char   *base, *m;

    base = op->api && op->api->base_path ? op->api->base_path : "";
    m = apigw_method_name(op->method);
    rl_api_tag(op->api, tag);

    switch (scope) {

    case APIGW_RL_SCOPE_TENANT:
        sid = strdup("t");
        break;

    case APIGW_RL_SCOPE_API:
        len = strlen(tag) + strlen(base) + 2;
        sid = malloc(len);
        if (sid) {
            snprintf(sid, len, "a%s%s", tag, base);
        }
        break;

    default:
        len = strlen(tag) + strlen(base) + strlen(m) + strlen(op->path) + 4;
        sid = malloc(len);
        if (sid) {
            snprintf(sid, len, "o%s%s %s %s", tag, base, m, op->path);
        }
        break;
    }

    return sid ? rl_scope_id_finish(sid) : NULL;
}


int
apigw_rl_attach(apigw_rl_set_t *s, const apigw_operation_t *op)
{
    size_t  i;

    for (i = 0; i < s->n; i++) {
        free(s->items[i].scope_id);
        s->items[i].scope_id = apigw_rl_scope_id(s->items[i].scope, op);

        if (s->items[i].scope_id == NULL) {
            return -1;
        }
    }

    return apigw_rl_set_policy(s);
}


/*
 * The RateLimit-Policy value, once; a set with a month quota has four, one
 * for each length of a month, as w is the window's length in seconds.
 */
int
apigw_rl_set_policy(apigw_rl_set_t *s)
{
    int     days, variants;
    size_t  i, len, n, stride;

    variants = 1;

    for (i = 0; i < s->n; i++) {
        if (s->items[i].kind == APIGW_RL_QUOTA
            && s->items[i].calendar != APIGW_RL_DAY)
        {
            variants = 4;
        }
    }

    stride = s->n * 100 + 1;

    free(s->policy);
    s->policy = malloc(stride * variants);
    s->policy_month = variants > 1 ? stride : 0;

    if (s->policy == NULL) {
        return -1;
    }

    for (days = 28; days < 28 + variants; days++) {
        char  *p = s->policy + (days - 28) * stride;

        len = 0;

        for (i = 0; i < s->n; i++) {
            if (i) {
                p[len++] = ',';
                p[len++] = ' ';
            }

            n = apigw_rl_policy_format(&s->items[i],
                                       variants > 1 ? days : 30, p + len, 98);
            len += n < 98 ? n : 97;
        }

        p[len] = '\0';
    }

    return 0;
}


const char *
apigw_rl_set_policy_at(const apigw_rl_set_t *s, int64_t now)
{
    int64_t   end, y;
    unsigned  m, d;

    if (s->policy == NULL) {
        return "";
    }

    if (s->policy_month == 0) {
        return s->policy;
    }

    (void) apigw_quota_window(APIGW_RL_MONTH, now, &end);
    /* the month's last day: its length */
    apigw_civil_from_days(end / (86400 * APIGW_RL_SECOND) - 1, &y, &m, &d);

    return s->policy + ((d >= 28 && d <= 31 ? d : 30) - 28)
                       * s->policy_month;
}


size_t
apigw_rl_policy_format(const apigw_rl_limit_t *l, int month_days,
    char *buf, size_t size)
{
    int  n;

    if (l->kind == APIGW_RL_RATE) {
        n = snprintf(buf, size, "%lld;w=%lld;burst=%lld", (long long) l->n,
                     (long long) (l->period / APIGW_RL_SECOND),
                     (long long) l->burst);
    } else {
        n = snprintf(buf, size, "%lld;w=%d;comment=\"%s\"", (long long) l->n,
                     l->calendar == APIGW_RL_DAY ? 86400 : month_days * 86400,
                     l->calendar == APIGW_RL_DAY ? "quota per day"
                                                 : "quota per month");
    }

    return n < 0 ? 0 : (size_t) n;
}
