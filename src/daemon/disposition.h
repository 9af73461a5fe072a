/*
 * What spoofguardd answers for a message: pure functions from the policy
 * (configuration, sender map), the verdict and the session's facts to the
 * answer (milter action, SMTP reply, quarantine, log action and reason).
 * No I/O and no state: session.c applies what these decide.
 */
#ifndef SG_DAEMON_DISPOSITION_H
#define SG_DAEMON_DISPOSITION_H

#include <spoofguard/arena.h>
#include <spoofguard/msg.h>
#include <spoofguard/verdict.h>

#include "config.h"
#include "maps.h"
#include "metrics.h"

/* The milter's answer to a message. CONTINUE lets it through (accepted or
 * quarantined inbound mail: later milters still see it); ACCEPT skips
 * the rest of the transaction (signed outbound mail). */
typedef enum { SG_ACT_CONTINUE, SG_ACT_ACCEPT, SG_ACT_REJECT, SG_ACT_TEMPFAIL } sg_action;

typedef struct sg_disposition {
    sg_action action;
    const char *log_action; /* "accept", "reject", "quarantine" or "tempfail" */
    const char *why;        /* the log's reason, and the quarantine reason; never NULL */
    const char *reply;      /* the SMTP reply of a reject or tempfail; NULL for none. Points
                             * into replybuf, or at sg_disposition_reject's argument */
    char replybuf[512];
    int quarantine;    /* ask the MTA to hold the message (reason: why) */
    int delete_forged; /* delete the A-R fields that claim our authserv-id */
    int add_authres;   /* insert our Authentication-Results field */
    int seal;          /* the message goes on with a definite verdict: an ARC sealer
                        * (arc_seal_key) adds its set */
    int failsafe;      /* the fail-safe answer, for the reason in cause */
    sg_mfs cause;
    /* Why the disposition applied to a DMARC fail differs from what the
     * published policy asks, as DMARC aggregate reports say it (RFC 9990
     * policy_evaluated/reason): an Override word ("local_policy",
     * "trusted_forwarder", "policy_test_mode") and a comment of one token
     * (no spaces); NULL and "" when the published policy was applied as
     * asked. The comment is an array, not a pointer into one, because the
     * session copies a disposition that waits for the ARC sealer. */
    const char *override_type;
    char override_comment[300];
} sg_disposition;

/* An inbound message with its verdict: a temporary DNS failure gets the
 * fail-safe answer; then the local rules (a forged protected domain,
 * several From addresses), then what the From domain's DMARC policy asks,
 * under dmarc_enforce and never_reject_domains. */
void sg_disposition_inbound(const sg_config *cfg, const sg_verdict_result *vr, sg_disposition *out);

/* A message that cannot be checked (why: the log's reason). */
void sg_disposition_failsafe(const sg_config *cfg, const char *why, sg_mfs cause,
                             sg_disposition *out);

/* A message refused with reply (a 5xx decided while it came in). */
void sg_disposition_reject(const char *reply, sg_disposition *out);

/* The reply refusing a message whose header the parser refused
 * (SG_ELIMIT or SG_ESYNTAX); NULL for any other code. The sender controls
 * both, so both are permanent: no fail-safe accept can be provoked. */
const char *sg_disposition_header_reply(int rc);
/* The reply refusing a message over max_message_size. */
extern const char SG_REPLY_TOO_BIG[];

/* Outbound sender ownership. An authenticated login may use, in MAIL FROM,
 * From and Sender, only the addresses the sender map gives it; every
 * outbound message needs exactly one From address (the signing key is
 * chosen by it). Each returns 0 (allowed), 1 (refused: *reply is the
 * SMTP reply, malloc'd) or -1 (out of memory). */
int sg_sender_mail_from(const sg_maps *maps, sg_arena *arena, const char *login,
                        const char *mail_from, char **reply);
/* f: the header fields. On 0 and on a refusal by the sender map,
 * *from_addr is the From address (local@domain, in arena). With `names`
 * (sender_display_names), every address a person could read in From and
 * Sender - in a display name or a comment, encoded or not - must be one
 * the login may send as, or the field's own address. */
int sg_sender_headers(const sg_maps *maps, sg_arena *arena, const char *login, const sg_header *f,
                      size_t n, int names, const char **from_addr, char **reply);

#endif
