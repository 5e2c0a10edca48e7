/*
 * apigw rate limits and quotas: the policy model and its parsing, GCRA and
 * calendar-quota arithmetic over a small counter-store interface, and the
 * Redis command side of global limits.  Plain C: no nginx, no hiredis.
 *
 * Times are microseconds since the Unix epoch (UTC), passed in by the
 * caller, so tests inject their own clock.
 */

#ifndef APIGW_RATELIMIT_H
#define APIGW_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "apigw.h"


#define APIGW_RL_RATE             1   /* rate per period with a burst */
#define APIGW_RL_QUOTA            2   /* N per calendar day or month */

#define APIGW_RL_SCOPE_TENANT     1
#define APIGW_RL_SCOPE_API        2
#define APIGW_RL_SCOPE_OPERATION  3

#define APIGW_RL_KEY_CONSUMER     1   /* falls back to the address */
#define APIGW_RL_KEY_ADDRESS      2
#define APIGW_RL_KEY_HEADER       3   /* falls back to the address */
#define APIGW_RL_KEY_GLOBAL       4

#define APIGW_RL_STORE_LOCAL      1   /* this node's shared memory */
#define APIGW_RL_STORE_REDIS      2   /* every node, through Redis */
#define APIGW_RL_STORE_HYBRID     3   /* decided here, synced with Redis */

#define APIGW_RL_FAIL_LOCAL       1   /* Redis down: this node's limit */
#define APIGW_RL_FAIL_OPEN        2   /* Redis down: let it through */
#define APIGW_RL_FAIL_CLOSED      3   /* Redis down: 503 */

#define APIGW_RL_DAY              1
#define APIGW_RL_MONTH            2

#define APIGW_RL_SECOND  1000000LL
#define APIGW_RL_MAX_N   1000000000LL /* rates, bursts, quotas */
#define APIGW_RL_MAX_ID  64
#define APIGW_RL_MAX_LIMITS  16       /* per operation */
#define APIGW_RL_MAX_KEY 512          /* a counter's identity */


typedef struct {
    int        kind;          /* APIGW_RL_RATE or APIGW_RL_QUOTA */
    int64_t    n;             /* rate: requests per period; quota: N */
    int64_t    period;        /* rate: µs; quota: 0 */
    int64_t    burst;         /* rate: extra back-to-back requests */
    int        calendar;      /* quota: APIGW_RL_DAY or APIGW_RL_MONTH */
    int        scope;         /* APIGW_RL_SCOPE_* */
    int        key;           /* APIGW_RL_KEY_* */
    int        store;         /* APIGW_RL_STORE_* */
    int        on_failure;    /* APIGW_RL_FAIL_* */
    char      *header;        /* key: header: its name, lower-case */
    char      *id;            /* counter namespace: given, or derived */
    char      *scope_id;      /* "a/base", "o/base GET /x", "t"; set by
                                 apigw_rl_attach() */
    int64_t    t;             /* GCRA emission interval, µs (>= 1) */
    int64_t    dvt;           /* GCRA tolerance: t * (burst + 1) */
} apigw_rl_limit_t;

/* the limits of one operation (root ones copied in); all must pass */
typedef struct apigw_rl_set_s {
    apigw_rl_limit_t  *items;
    size_t             n;
    char              *policy;        /* RateLimit-Policy, by attach() */
    size_t             policy_month;  /* > 0: a month quota's w differs:
                                         4 values, 28 to 31 days, apart */
} apigw_rl_set_t;

void apigw_rl_set_free(apigw_rl_set_t *s);
/*
 * Appends a copy (strings duplicated); an identical limit is kept once.
 * -1 on OOM or too many, -2 when another limit has the same id.
 */
int apigw_rl_set_add(apigw_rl_set_t *s, const apigw_rl_limit_t *l);
void apigw_rl_limit_clear(apigw_rl_limit_t *l);


/* ---- parsing: every problem goes to `probs` with a JSON pointer ---- */

/*
 * The parsers take jansson values (the importer's tree) as `const void *`
 * so that this header needs no jansson.  `pointer` is the value's JSON
 * pointer; `op_level` chooses the default scope (operation or API).
 * Return 0, or -1 after adding problems (nothing appended then).
 */

/* x-apigw-rate-limit: an object or an array of objects */
int apigw_rl_parse_apigw(const void *json, int op_level,
    apigw_problems_t *probs, const char *file, const char *pointer,
    apigw_rl_set_t *out);

/* x-gateway-rate-limit / x-ibm-rate-limit: [{rate, unit, units}]; scope
   api at the root, operation on an operation */
int apigw_rl_parse_compat(const void *json, int op_level,
    apigw_problems_t *probs, const char *file, const char *pointer,
    apigw_rl_set_t *out);

/* the v1 management API's policy value {interval, rate, scope,
   subscription} (for the management API) */
int apigw_rl_parse_v1(const void *json, apigw_problems_t *probs,
    const char *file, const char *pointer, apigw_rl_set_t *out);

/*
 * Directive arguments: "rate=100r/m" (r/s r/m r/h r/d, or "r/10s") or
 * "quota=10000/day" ("/month"), then burst=N scope= key= store=
 * on_redis_failure= id=.  Returns 0, or -1 with a message in err.
 */
int apigw_rl_parse_args(int argc, const char **argv, apigw_rl_limit_t *out,
    char *err, size_t errlen);

/* finishes a limit (derived values, default id); 0 or -1 on OOM */
int apigw_rl_finish(apigw_rl_limit_t *l);

/*
 * Sets each limit's scope_id for operation `op` of its API, so that API
 * scoped limits of all its operations share counters.  0 or -1 (OOM).
 */
int apigw_rl_attach(apigw_rl_set_t *s, const apigw_operation_t *op);
/* a scope id of `op` (malloc'ed) or NULL on OOM */
char *apigw_rl_scope_id(int scope, const apigw_operation_t *op);
/* the set's RateLimit-Policy value, s->policy; 0 or -1 (OOM) */
int apigw_rl_set_policy(apigw_rl_set_t *s);
/* the RateLimit-Policy value at now (µs): a month quota's w is the length
   of the calendar month now is in */
const char *apigw_rl_set_policy_at(const apigw_rl_set_t *s, int64_t now);

/* "100;w=60;burst=99" or "10000;w=86400" (one RateLimit-Policy item); a
   month quota's w is month_days long */
size_t apigw_rl_policy_format(const apigw_rl_limit_t *l, int month_days,
    char *buf, size_t size);


/* ---- arithmetic ---- */

typedef struct {
    int        allowed;
    int64_t    limit;         /* RateLimit-Limit */
    int64_t    remaining;     /* RateLimit-Remaining */
    int64_t    reset;         /* µs until the limit is whole again */
    int64_t    retry_after;   /* µs, when not allowed */
    int        deferred;      /* hybrid: left to Redis (view too old) */
} apigw_rl_result_t;

/*
 * GCRA.  `tat` is the stored theoretical arrival time (0: none).  Returns
 * the decision; *new_tat is what to store when allowed.
 */
int apigw_gcra(const apigw_rl_limit_t *l, int64_t now, int64_t tat,
    int64_t *new_tat, apigw_rl_result_t *res);

/* the decision from a TAT already advanced by one emission (Redis) */
int apigw_gcra_eval(const apigw_rl_limit_t *l, int64_t now, int64_t new_tat,
    apigw_rl_result_t *res);

/* the calendar window holding `now`: its number and its end (µs) */
int64_t apigw_quota_window(int calendar, int64_t now, int64_t *end);

/* a quota decision from the count including this request */
int apigw_quota_eval(const apigw_rl_limit_t *l, int64_t now, int64_t count,
    apigw_rl_result_t *res);

/* days since 1970-01-01 of a civil date, and back */
int64_t apigw_days_from_civil(int64_t y, unsigned m, unsigned d);
void apigw_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);


/* ---- the counter store (local enforcement) ---- */

/*
 * store=hybrid keeps, besides the node's view (a, b) of the global state,
 * what this node admitted since its last push to Redis.  For a rate that
 * is a map of the TAT: each admission is x -> max(x, now) + T, and any
 * sequence of them composes into x -> max(x + pa, pb), so a push applies
 * exactly this node's sequence to whatever Redis holds.  For a quota pa
 * is a count.  fa/fb are the part in flight.
 */

#define APIGW_RL_F_INFLIGHT  1
#define APIGW_RL_LOST        (10 * APIGW_RL_SECOND)

typedef struct {
    int64_t    a;             /* GCRA: TAT; quota: window number */
    int64_t    b;             /* quota: count in the window */
    int64_t    expire;        /* µs after which the state equals none */
    int64_t    pa, pb;        /* hybrid: admitted since the last push */
    int64_t    fa, fb;        /* hybrid: pushed, not yet answered */
    int64_t    fsent;         /* hybrid: when that push left */
    int64_t    synced;        /* hybrid: µs of the last view from Redis */
    int        flags;         /* APIGW_RL_F_* */
} apigw_rl_state_t;

typedef struct {
    void              *data;
    void             (*lock)(void *data);
    void             (*unlock)(void *data);
    /* the state of key (zeroed when new); NULL: no memory.  Valid until
       unlock. */
    apigw_rl_state_t *(*lookup)(void *data, const char *key, size_t len,
                                int64_t now);
    /*
     * Hybrid limits.  A view older than `fresh` µs (or never pulled) is
     * not trusted: the limit is left to Redis (res.deferred).  `touch`
     * (may be NULL) queues a state decided here for the next push.  With
     * `offline` set (Redis is away) hybrid limits are plain local ones.
     */
    int64_t            fresh;
    int                offline;
    void             (*touch)(void *data, apigw_rl_state_t *s,
                              const apigw_rl_limit_t *l);
} apigw_rl_store_t;

/*
 * Decides n limits at once, under one lock: when all pass, all consume;
 * when one fails, none does.  keys[i] is limit i's counter identity.
 * res[i] gets each result; a limit whose state could not be stored is
 * allowed and flagged in *nomem.  Returns 1 allowed, 0 rejected.
 */
int apigw_rl_check(apigw_rl_store_t *st, const apigw_rl_limit_t **limits,
    const char **keys, const size_t *klens, size_t n, int64_t now,
    apigw_rl_result_t *res, int *nomem);

/* gives back what apigw_rl_check() took (another stage rejected) */
void apigw_rl_refund(apigw_rl_store_t *st, const apigw_rl_limit_t **limits,
    const char **keys, const size_t *klens, size_t n, int64_t now);

/*
 * Hybrid sync of one state (under the store's lock).  take(): moves what
 * is pending to in flight; 0 when a push is already in flight (one left
 * unanswered for APIGW_RL_LOST µs, by a worker that died, is taken as
 * lost and pending again).  pulled():
 * Redis answered `value` (its TAT or count after the push, 0 when it has
 * none): the view becomes it, with what was admitted here since applied
 * on top; `push` when it answers take()'s push (else a strict decision's
 * reply, which leaves a push in flight alone).  failed(): the push did
 * not happen; it is pending again.
 */
int apigw_rl_hybrid_take(apigw_rl_state_t *s, int64_t now);
void apigw_rl_hybrid_pulled(const apigw_rl_limit_t *l, apigw_rl_state_t *s,
    int64_t value, int64_t sent, int push);
void apigw_rl_hybrid_failed(apigw_rl_state_t *s);


/* ---- counter identities ---- */

void apigw_rl_sha256(const void *data, size_t len, unsigned char out[32]);

/*
 * "<id>|<scope_id>[<tenant>]|<key value>": consumer and address values as
 * they are (with "{", "}" and "%" escaped), header values as a SHA-256 (a
 * header may carry a secret).  Returns the length (<= APIGW_RL_MAX_KEY),
 * or 0 when it does not fit `size`.
 */
size_t apigw_rl_identity(const apigw_rl_limit_t *l, const char *tenant,
    size_t tlen, int key_kind, const char *key, size_t klen, char *buf,
    size_t size);


/* ---- the Redis command side (global limits) ---- */

#define APIGW_RL_REDIS_MAXARGS  6

typedef struct {
    int           argc;
    const char   *argv[APIGW_RL_REDIS_MAXARGS];
    size_t        len[APIGW_RL_REDIS_MAXARGS];
} apigw_rl_cmd_t;

/*
 * Which Redis keys had their expiry sent lately, so that a decision
 * leaves PEXPIRE out when one was sent for its key less than a second
 * ago (one command of five fewer for Redis to run, on the critical path of
 * every request).  The TTL carries 2 s of slack, so a key refreshed a
 * second ago still outlives any TAT set since.  Direct-mapped by the
 * SHA-256 of the key, which the slot holds: a collision of slots only
 * evicts (an extra PEXPIRE), and no identity can be chosen to pass for
 * another's and skip one that is due.  One per process, zeroed: no lock.
 */
#define APIGW_RL_EXPIRY_SLOTS  4096
#define APIGW_RL_EXPIRY_EVERY  1000000      /* µs */

typedef struct {
    int64_t        at;                      /* µs; 0: empty */
    unsigned char  sha[32];
} apigw_rl_expiry_slot_t;

typedef struct {
    apigw_rl_expiry_slot_t  slot[APIGW_RL_EXPIRY_SLOTS];
} apigw_rl_expiry_t;

/* 1: send the expiry of key now (and it is noted as sent); 0: not due */
int apigw_rl_expiry_due(apigw_rl_expiry_t *e, const char *key, size_t len,
    int64_t now);

/*
 * The decision of one limit as a transaction: MULTI, its commands, EXEC
 * (cmds[0 .. return-1]; EXEC is the last).  Strings are written to buf
 * (APIGW_RL_REDIS_BUF bytes + the identity).  Rate (GCRA):
 *
 *     MULTI
 *     ZADD   apigw:rl:{id} GT <now> t      max(TAT, now), atomically
 *     ZINCRBY apigw:rl:{id} <T> t          + T: the new TAT (the reply)
 *     PEXPIRE apigw:rl:{id} <DVT+T+slack>  garbage collection
 *     EXEC
 *
 * Quota: MULTI, INCRBY apigw:q:{id}:<window> 1, PEXPIREAT ..., EXEC.
 * With an expiry memo (else NULL), PEXPIRE / PEXPIREAT only when due.
 */
#define APIGW_RL_REDIS_BUF  160
#define APIGW_RL_REDIS_CMDS 6

int apigw_rl_redis_decide(const apigw_rl_limit_t *l, const char *ident,
    size_t ilen, int64_t now, apigw_rl_expiry_t *memo, char *buf,
    size_t size, apigw_rl_cmd_t *cmds);

/*
 * The decision of `count` requests (1 to APIGW_RL_BATCH_MAX) for the same
 * counter at once, in one transaction: ZINCRBY count * T (INCRBY count).
 * The reply's TAT (count) is the last one's; request k of the n (from 0)
 * has the value apigw_rl_batch_value() gives, so they are decided exactly
 * as n requests one after the other at `now` would be.  Returns as
 * apigw_rl_redis_decide() does, -1 for a count out of range.
 */
#define APIGW_RL_BATCH_MAX  64

int apigw_rl_redis_decide_n(const apigw_rl_limit_t *l, const char *ident,
    size_t ilen, int64_t now, int64_t count, apigw_rl_expiry_t *memo,
    char *buf, size_t size, apigw_rl_cmd_t *cmds);

/* what one request adds to a counter: T to a TAT, 1 to a count */
#define apigw_rl_step(l)  ((l)->kind == APIGW_RL_RATE ? (l)->t : 1)

/* request k's TAT (count) of a batch of n whose last one's is `last` */
#define apigw_rl_batch_value(l, last, n, k)                                  \
    ((last) - (int64_t) ((n) - 1 - (k)) * apigw_rl_step(l))

/*
 * A hybrid push of what take() moved in flight (s->fa, s->fb), as one
 * transaction, or a plain read when nothing was admitted here:
 *
 *     MULTI                                   (rate)
 *     ZINCRBY apigw:rl:{id} <fa> t            x + pa
 *     ZADD    apigw:rl:{id} GT <fb> t         max(x + pa, pb)
 *     ZSCORE  apigw:rl:{id} t                 the TAT after (the reply)
 *     PEXPIRE apigw:rl:{id} <ttl>
 *     EXEC                                    or: ZSCORE apigw:rl:{id} t
 *
 *     MULTI, INCRBY apigw:q:{id}:<window> <fa>, PEXPIREAT, EXEC (quota)
 *                                             or: GET apigw:q:{id}:<window>
 *
 * Returns the number of commands (the last one's reply carries the
 * value), -1 when the key does not fit.
 */
int apigw_rl_redis_sync(const apigw_rl_limit_t *l, const char *ident,
    size_t ilen, const apigw_rl_state_t *s, int64_t now, char *buf,
    size_t size, apigw_rl_cmd_t *cmds);

/* a reply's number: a score or an integer as text; 0 or -1 */
int apigw_rl_redis_number(const char *value, size_t len, int64_t *out);

/* gives the allowance back: ZINCRBY -T, or DECRBY 1 (same buffer rules) */
int apigw_rl_redis_undo(const apigw_rl_limit_t *l, const char *ident,
    size_t ilen, int64_t now, char *buf, size_t size, apigw_rl_cmd_t *cmd);

/*
 * ... of `count` requests at once (1 to APIGW_RL_REFUND_MAX): ZINCRBY
 * -count*T, or DECRBY count; -1 for a count out of range.
 */
#define APIGW_RL_REFUND_MAX  (1 << 20)

int apigw_rl_redis_undo_n(const apigw_rl_limit_t *l, const char *ident,
    size_t ilen, int64_t now, int64_t count, char *buf, size_t size,
    apigw_rl_cmd_t *cmd);

/*
 * The decision from EXEC's first element as text (a TAT for rates, a
 * count for quotas).  Returns 1 allowed, 0 rejected, -1 unreadable.
 */
int apigw_rl_redis_eval(const apigw_rl_limit_t *l, int64_t now,
    const char *value, size_t len, apigw_rl_result_t *res);

#endif /* APIGW_RATELIMIT_H */
