/*
 * spoofguard/outbound.h - outbound abuse detection: the decision engine.
 *
 * Decides, for one outbound message of one sending account, whether to
 * let it go (allow), refuse it for now (throttle: a 4xx), keep it in the
 * MTA's hold queue (hold), or hold it and every later message of the
 * account until an administrator releases it (block). Nothing is lost:
 * throttled mail is retried by the client, held mail waits in the queue.
 *
 * The engine does no I/O and reads no clock: the caller passes the time
 * of each event (the daemon its wall clock, `accounts replay` the time
 * written in the events), so months of traffic replay in seconds through
 * the same code the daemon runs.
 *
 * State is one record per account (and one per sending domain), of
 * bounded size whatever the traffic, encoded to bytes so that any store
 * (memory, LMDB, Redis) keeps it without knowing its layout. A store
 * makes decide + charge atomic per record; the engine never sees it.
 *
 * Account keys: the SASL login as given, or "ip:" followed by the
 * client address for a client in internal_networks without a login.
 * Domain records use the key "@" followed by the lower-case domain.
 */
#ifndef SPOOFGUARD_OUTBOUND_H
#define SPOOFGUARD_OUTBOUND_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    SG_OB_ALLOW = 0,
    SG_OB_THROTTLE = 1, /* 4xx now; the client retries later */
    SG_OB_HOLD = 2,     /* accepted into the hold queue (milter quarantine) */
    SG_OB_BLOCK = 3,    /* hold, and the account stays blocked until released */
} sg_ob_action;

/* Reason codes, one bit each. Their names (sg_ob_reason_name) are a
 * contract: they appear in logs, metrics, JSON and `accounts replay`
 * output. Extend, never rename. */
typedef enum {
    SG_OBR_MSG_MINUTE = 1u << 0,       /* "messages_minute" */
    SG_OBR_MSG_HOUR = 1u << 1,         /* "messages_hour" */
    SG_OBR_MSG_DAY = 1u << 2,          /* "messages_day" */
    SG_OBR_RCPT_DAY = 1u << 3,         /* "recipients_day" */
    SG_OBR_RCPT_MESSAGE = 1u << 4,     /* "recipients_message" */
    SG_OBR_BASELINE = 1u << 5,         /* "baseline_volume" */
    SG_OBR_NEW_ACCOUNT = 1u << 6,      /* "new_account_ramp" */
    SG_OBR_NEW_RCPT = 1u << 7,         /* "new_recipients" */
    SG_OBR_EXTERNAL = 1u << 8,         /* "external_recipients" */
    SG_OBR_SAME_BODY = 1u << 9,        /* "same_body" */
    SG_OBR_OWNERSHIP = 1u << 10,       /* "ownership_refusals" */
    SG_OBR_NEW_NETWORK = 1u << 11,     /* "new_network" */
    SG_OBR_NETWORKS = 1u << 12,        /* "many_networks" */
    SG_OBR_BOUNCES = 1u << 13,         /* "bounce_rate" */
    SG_OBR_INTERNAL_FANOUT = 1u << 14, /* "internal_fanout" */
    SG_OBR_DOMAIN = 1u << 15,          /* "domain_volume" */
    SG_OBR_BLOCKED = 1u << 16,         /* "account_blocked" */
} sg_ob_reason;

/* Name of one reason bit, or NULL for a bit that is not a reason. */
SG_EXTERN const char *sg_ob_reason_name(uint32_t bit);
/* "allow", "throttle", "hold", "block". */
SG_EXTERN const char *sg_ob_action_name(sg_ob_action a);

/* ---- policy: limits, weights, classes, the organisation's domains ---- */

typedef struct sg_ob_policy sg_ob_policy;

/* The built-in defaults: the ones a fresh install gets. */
SG_EXTERN int sg_ob_policy_new(sg_ob_policy **out) SG_WARN_UNUSED;
SG_EXTERN void sg_ob_policy_free(sg_ob_policy *p);

/* Set one option of an account class ("default" or a name the caller
 * defines; a new name starts as a copy of "default"). Keys and their
 * meaning are listed in docs/outbound.md. SG_EINVAL for an unknown key,
 * SG_ESYNTAX for a value that does not parse or is out of range. */
SG_EXTERN int sg_ob_policy_set(sg_ob_policy *p, const char *cls, const char *key,
                               const char *value) SG_WARN_UNUSED;

/* Put an account (exact key) into a class. */
SG_EXTERN int sg_ob_policy_assign(sg_ob_policy *p, const char *account,
                                  const char *cls) SG_WARN_UNUSED;

/* A domain of the organisation: recipients there are internal. */
SG_EXTERN int sg_ob_policy_add_internal_domain(sg_ob_policy *p, const char *domain) SG_WARN_UNUSED;

/* One line of a configuration file, already split into its name and the
 * rest: "outbound_limit" with "KEY VALUE" or "CLASS.KEY VALUE",
 * "outbound_account" with "LOGIN CLASS", "outbound_internal_domain" with
 * "DOMAIN[, DOMAIN...]"; the name in any case, as spoofguardd.conf's option
 * names are. SG_ENOTFOUND for a name that is not one of these
 * (the caller's own option), SG_ESYNTAX or SG_EINVAL for a bad value, and
 * then the policy is unchanged. */
SG_EXTERN int sg_ob_policy_directive(sg_ob_policy *p, const char *name,
                                     const char *value) SG_WARN_UNUSED;

/* The policy as the configuration lines that make it from the built-in
 * defaults (what differs from them: a fresh policy gives ""), in an order
 * that reads back through sg_ob_policy_directive() to the same policy.
 * *out is malloc()ed. SG_EINVAL for an account key that no line can hold
 * (empty, whitespace, '#', 512 bytes or more; a configuration file never
 * makes one), SG_ENOMEM. */
SG_EXTERN int sg_ob_policy_lines(const sg_ob_policy *p, char **out) SG_WARN_UNUSED;

/* ---- per-account state ---- */

typedef struct sg_ob_account sg_ob_account;

SG_EXTERN int sg_ob_account_new(sg_ob_account **out) SG_WARN_UNUSED;
SG_EXTERN void sg_ob_account_free(sg_ob_account *a);

/* Encoded size is bounded by SG_OB_ACCOUNT_MAX bytes. Decoding refuses
 * (SG_ESYNTAX) anything it did not write itself: a wrong version, a wrong
 * length, a bad checksum; the caller then starts the account afresh and
 * says so, never trusting half a record. */
#define SG_OB_ACCOUNT_MAX 16384
SG_EXTERN int sg_ob_account_encode(const sg_ob_account *a, uint8_t *buf, size_t cap,
                                   size_t *len) SG_WARN_UNUSED;
SG_EXTERN int sg_ob_account_decode(sg_ob_account *a, const uint8_t *buf, size_t len) SG_WARN_UNUSED;

/* Administrative state, kept in the record so that a block and a release
 * go through the same atomic update as every decision. A release clears
 * the evidence that tripped the block, so the next message is judged
 * afresh rather than blocked again by the same counters. */
SG_EXTERN void sg_ob_account_block(sg_ob_account *a, int64_t t, uint32_t reasons);
SG_EXTERN void sg_ob_account_release(sg_ob_account *a, int64_t t);
SG_EXTERN int sg_ob_account_blocked(const sg_ob_account *a, int64_t *since, uint32_t *reasons);

/* The time (Unix seconds) of the latest event the record holds: a
 * decision, a refusal or report noted, a block or a release (to the hour
 * for what only the windows keep); 0 for a record that holds none. A
 * store expires records idle for long by it, as Redis does by the time of
 * its last write. */
SG_EXTERN int64_t sg_ob_account_last_active(const sg_ob_account *a);

/* What src counted, added to dst: two records of one account kept apart
 * for a while (a host that counted in memory while the shared store was
 * away) become one. Window buckets of the same time add up and buckets
 * dst lacks are taken; the recipients and networks known, and the recent
 * bodies, are joined; a block in src carries over unless dst was released
 * after it, and nothing from before dst's release comes back. dst keeps
 * its learned baseline (src's is taken only when dst has none; src's
 * count of its open hour adds up only when both are in the same hour, so
 * the baseline may learn a little less than was sent). */
SG_EXTERN int sg_ob_account_merge(sg_ob_account *dst, const sg_ob_account *src) SG_WARN_UNUSED;

/* ---- events ---- */

/* The latest time the engine accepts (its buckets count in 32 bits):
 * 2106-02-07. Earlier than 0 or later than this is SG_EINVAL. */
#define SG_OB_TIME_MAX INT64_C(4294967295)

typedef struct {
    int64_t t;                /* Unix seconds */
    const char *login;        /* account key (see above) */
    const char *client_ip;    /* textual IPv4 or IPv6 */
    const char *mail_from;    /* envelope sender; may be "" */
    const char *const *rcpts; /* envelope recipients */
    size_t nrcpts;
    uint64_t size;            /* bytes */
    const uint8_t *body_hash; /* optional content fingerprint */
    size_t body_hash_len;
} sg_ob_message;

typedef struct {
    sg_ob_action action;
    uint32_t reasons; /* SG_OBR_* */
    double score;
    int tripped; /* this decision blocked the account (notify once) */
} sg_ob_decision;

/* Judge one message. acct is the sending account's record; dom the
 * sending domain's record (NULL when the caller keeps none). Both are
 * updated: a message that is allowed or held is charged (held mail is
 * counted as not delivered), a throttled one is not; a trip blocks acct.
 * Never fails on what a sender controls: any count ends in a decision
 * (SG_EIO only when an account's first decision finds no randomness for
 * its history key). */
SG_EXTERN int sg_ob_decide(const sg_ob_policy *p, sg_ob_account *acct, sg_ob_account *dom,
                           const sg_ob_message *m, sg_ob_decision *out) SG_WARN_UNUSED;

/* A sender-ownership refusal for this account (a MAIL FROM or From the
 * login does not own). */
SG_EXTERN void sg_ob_note_refusal(const sg_ob_policy *p, sg_ob_account *acct, int64_t t);

/* A delivery-status report came back for one of the account's messages;
 * status is the enhanced status code ("5.1.1"). Only permanent failures
 * (5.x.x) count as hard bounces. The result may block the account (out
 * says so; out may be NULL). */
SG_EXTERN int sg_ob_note_dsn(const sg_ob_policy *p, sg_ob_account *acct, int64_t t,
                             const char *status, sg_ob_decision *out) SG_WARN_UNUSED;

/* The same for a report that came in from outside, where anyone can write
 * one: it counts only when one of the failed recipient's addresses (rcpts:
 * the report's Final-Recipient and Original-Recipient, NULL or "" entries
 * ignored) is one the account has sent to, by its recipient history. An
 * authenticated domain of the sender's choosing could otherwise raise any
 * account's bounce rate until it is blocked. The history is hashed under
 * a secret key of the account's record, so no one outside can make up
 * addresses that look sent to. One failed recipient counts once a day,
 * however many reports name it (its correspondent could otherwise repeat
 * one authentic report about his own address until the account is
 * blocked); the account remembers the last 64 such addresses. And one
 * reporter (the report's authenticated domain, its registrable domain by
 * the public suffix list best, so that subdomains are one reporter; NULL or
 * "": one unnamed
 * reporter) counts at most 2 failed recipients of the account a day: real
 * bounce storms come back from many domains. A failed recipient in one of
 * our own domains never counts (the policy's internal domains, or own: the
 * domain of the account's address the report came to, when it lists none):
 * mail between colleagues does not fail at another organisation's server,
 * and their addresses are anyone's to guess (rev21 R-1). Returns SG_OK when
 * the report was judged (counted or not: *counted says which; counted may
 * be NULL). */
SG_EXTERN int sg_ob_note_dsn_sent(const sg_ob_policy *p, sg_ob_account *acct, int64_t t,
                                  const char *status, const char *reporter, const char *own,
                                  const char *const *rcpts, size_t nrcpts, int *counted,
                                  sg_ob_decision *out) SG_WARN_UNUSED;

/* The account's state as one JSON object (counters per window, baseline,
 * recipient history fill, networks, bounces, block), for `accounts show`
 * and `accounts explain`. *json is malloc'd; the caller frees it. */
SG_EXTERN int sg_ob_account_json(const sg_ob_policy *p, const sg_ob_account *a, int64_t now,
                                 char **json) SG_WARN_UNUSED;

#ifdef __cplusplus
}
#endif
#endif
