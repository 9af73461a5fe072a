/*
 * The message index of spoofguard-view: what the list shows of every
 * message, and each message's explanation for its page.
 *
 * A background thread (the only user of the viewer's resolver) works
 * through the messages in two passes: first each one is explained as it
 * stands (From, Subject, Date; a trusted Authentication-Results field of
 * our own MTA decides here already), then each one is verified through the
 * library and explained again with the verdict. Until then a message is
 * listed as unverified with a "checking" note: nothing is shown verified
 * before it is proven. Pages never wait for DNS: a page asks the thread
 * and waits at most SGV_OPEN_WAIT_MS, then shows the message unverified.
 *
 * The mailbox teaches the warnings: correspondents are learned from
 * verified mail only (address -> display name, and their domains become
 * lookalike references next to --protect and --operator-domains), and a
 * message is a first contact unless an earlier one (by Date, then file
 * time) from the same address is in the mailbox.
 *
 * The Maildirs are rescanned (sgv_index_refresh) when a folder's mtime
 * changed, so new mail appears without a restart.
 */
#ifndef SG_VIEWER_INDEX_H
#define SG_VIEWER_INDEX_H

#include <stddef.h>

#include <spoofguard/dns.h>

#include "explain.h"
#include "maildir.h"
#include "viewer.h"

#define SGV_HOT_MAX 32                /* verdicts kept for message pages (LRU) */
#define SGV_HOT_MAX_BYTES (96u << 20) /* and the message bytes they hold, at most */
#define SGV_OPEN_WAIT_MS 2000         /* a page waits this long for a verification */
#define SGV_ROW_WARNINGS_MAX 8        /* warnings kept per message for the list */
/* New messages a list request finds: up to this many get their first
 * pass at once (no DNS), so they show with From and Subject. */
#define SGV_REFRESH_INLINE 32
/* Correspondents' registrable domains learned as lookalike references.
 * Each costs the checker 1.5 to 7 KB and its rebuild about 8 µs, and
 * anyone can send verified mail from free names under a private public
 * suffix: past this many, later ones are not learned (their names and
 * "seen before" still are). A reader's real correspondents are far fewer. */
#define SGV_CORRESPONDENTS_MAX 10000

typedef struct sgv_index sgv_index;

typedef struct {
    const char *kind;
    const char *detail;
} sgv_warn;

/* What the list shows of one message. Strings never NULL. */
typedef struct {
    const char *id;
    sgr_headline headline;
    int checking;   /* not verified yet (shown unverified) */
    int unreadable; /* the file could not be read */
    const char *display_name, *address, *subject, *date;
    long long date_unix;
    const char *headline_detail;
    const sgv_warn *warnings;
    size_t nwarnings;
} sgv_row;

/* resolver: borrowed (the index's thread is its only user until
 * sgv_index_free); may be NULL (nothing is verified: every message unverified, unless our
 * trusted A-R says otherwise). Returns 0 or -1 with err set (a --protect
 * or --operator-domains name that is not a domain, an unreadable file). */
int sgv_index_new(sgv_index **out, const sgv_config *cfg, sg_resolver *resolver, char *err,
                  size_t errlen);
/* Scans the Maildirs and starts the thread. Returns 0 or -1. */
int sgv_index_start(sgv_index *ix);
/* The --operator-domains names (set at start, never changed after). */
size_t sgv_index_operator_domains(const sgv_index *ix, char *const **out);
void sgv_index_free(sgv_index *ix);

/* Rescans every Maildir whose new/ or cur/ changed. */
void sgv_index_refresh(sgv_index *ix);

/* Calls cb for each message, newest first (Date, then file time), under
 * the index's lock (cb must not call back into the index); a non-zero
 * return stops. Returns the number of messages. */
typedef int (*sgv_row_cb)(const sgv_row *row, void *payload);
size_t sgv_index_foreach(sgv_index *ix, sgv_row_cb cb, void *payload);

/* Counts: messages, and those verified (or found unverifiable) by now. */
void sgv_index_progress(sgv_index *ix, size_t *total, size_t *done);
/* Waits until every message known is done and the lookalike checker has
 * the correspondents they taught, at most timeout_ms. 1 when idle, 0 on
 * timeout. */
int sgv_index_wait_idle(sgv_index *ix, long timeout_ms);

/* How long the first index (both passes over every message found at
 * start) took, in nanoseconds; 0 until it is done. */
long long sgv_index_first_index_ns(sgv_index *ix);

/* A message opened for its page, its body, links and parts. */
typedef struct sgv_view sgv_view;
struct sgv_view {
    char id[SGV_ID_LEN + 1];
    const sgr_explanation *e; /* with html */
    int checking;             /* verification not done yet: shown unverified */
    int images_allowed;       /* remote images allowed for this message */
    int unreadable;           /* e is NULL */
};

/* Opens message id. render: the explanation carries the sanitized body.
 * Returns 0 with *out (release with sgv_view_release), -1 when no such
 * message, -2 when out of memory. */
int sgv_index_open(sgv_index *ix, const char *id, sgv_view **out);
void sgv_view_release(sgv_index *ix, sgv_view *v);

/* The token a body link carries (/link/ID/N?k=TOKEN): an HMAC of ID and
 * N under a key drawn at start. A click in the sandboxed body comes from
 * an opaque origin, so the browser sends no SameSite=Strict cookie with
 * it; the token lets exactly that interstitial open. */
#define SGV_LINK_TOKEN_HEX 32
void sgv_index_link_token(const sgv_index *ix, const char *id, size_t n,
                          char out[SGV_LINK_TOKEN_HEX + 1]);
/* 1 if given is the token of (id, n), compared in constant time. */
int sgv_index_link_token_ok(const sgv_index *ix, const char *id, size_t n, const char *given);

/* Allows remote images for message id (in memory only). 0; -1 no such
 * message; -2 not verified (only verified mail may load them). */
int sgv_index_allow_images(sgv_index *ix, const char *id);

/* The correspondents' callbacks over this index, for a message dated
 * date_unix with file time mtime (ns) and this id: what explain asks. */
typedef struct {
    sgv_index *ix;
    long long date_unix, mtime;
    const char *id;
} sgv_seen_ctx;
void sgv_index_correspondents(sgv_seen_ctx *ctx, sgr_correspondents *out);

#endif
