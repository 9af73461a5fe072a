/*
 * spoofguard/verdict.h - one verdict per message.
 *
 * Takes a message (streamed, in chunks of any size) plus the connection
 * facts (client IP, HELO, MAIL FROM) and runs every check: SPF for the
 * MAIL FROM and HELO identities, DKIM for every signature, DMARC for the
 * author domain. All DNS work is asynchronous and overlaps: SPF starts
 * with the envelope, DKIM key lookups and DMARC policy discovery start
 * at the end of the header, so by the end of the body most answers are
 * in. The outcome:
 *
 *   authentic   DMARC pass: the From domain is proven.
 *   unverified  no policy, or no aligned identity, but nothing failed
 *               hard (and the From domain is not one of ours). A DMARC
 *               fail under p=none is unverified: the owner says it is
 *               still monitoring, so failures are not evidence.
 *   forged      DMARC fail for a domain whose policy is quarantine or
 *               reject, or a From of a locally protected domain without
 *               an aligned pass, whatever that domain publishes.
 *
 * A DNS failure never turns into a pass: `temporary` is set and the
 * caller (the daemon) gives its fail-safe answer.
 */
#ifndef SPOOFGUARD_VERDICT_H
#define SPOOFGUARD_VERDICT_H

#include "arc.h"
#include "common.h"
#include "dkim.h"
#include "dmarc.h"
#include "dns.h"
#include "msg.h"
#include "spf.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    SG_VERDICT_AUTHENTIC = 0,
    SG_VERDICT_UNVERIFIED,
    SG_VERDICT_FORGED,
} sg_verdict_kind;

SG_EXTERN const char *sg_verdict_kind_str(sg_verdict_kind k); /* "authentic"... */

/* The verdict's reason for a DMARC result that is not pass: fail with
 * what was done (the disposition, t=y applying one level below, not what
 * is published), none, or permerror; NULL for the others. A reader that
 * rebuilds the verdict from our Authentication-Results says the same. */
SG_EXTERN const char *sg_verdict_dmarc_reason(sg_dmarc_result_code result,
                                              sg_dmarc_disposition disposition);

/* The header fields a reader shows of a message, in the order
 * unsigned_fields reports them: From, Sender, Reply-To, To, Cc, Subject,
 * Date, Message-ID (RFC 5322 3.6 allows each once), and MIME-Version,
 * Content-Type, Content-Transfer-Encoding, which decide how the signed
 * body is shown (an unsigned Content-Type: text/html turns signed HTML
 * source into a page). *count gets their number. */
SG_EXTERN const char *const *sg_verdict_displayed_fields(size_t *count);

/* Does this From field value name one of the domains (A-labels) anywhere:
 * after '@' or '.', or inside an address literal's brackets ("@[dom]",
 * spaces allowed), at a name boundary, control characters, a doubled dot
 * and a root dot read around as readers do ("ourco..test.")? Deliberately
 * lax: the verdict's protected-domain rule for a From that is not one
 * parsable address, which a reader of our
 * Authentication-Results decides again with this. */
SG_EXTERN int sg_verdict_value_names_domain(const char *value, size_t len,
                                            const char *const *domains, size_t n);

#define SG_VERDICT_OPTS_VERSION 1
typedef struct {
    unsigned version; /* SG_VERDICT_OPTS_VERSION */
    /* Our authserv-id (RFC 8601 2.5) for the Authentication-Results field;
     * NULL: "localhost". */
    const char *authserv_id;
    /* Domains we protect: a From in one of them (or a subdomain) that does
     * not pass DMARC alignment is forged, even if the published policy is
     * p=none or missing. U-labels are converted to A-labels (IDNA2008,
     * UTS #46); a name that is not a domain makes sg_verdict_new fail
     * with SG_EINVAL. */
    const char *const *protected_domains;
    size_t nprotected;
    sg_dkim_keycache *keycache;      /* optional, borrowed */
    sg_spf_cache *spf_cache;         /* optional, borrowed */
    const sg_dkim_verify_opts *dkim; /* NULL: sg_verdict_dkim_opts_init's */
    const sg_dmarc_opts *dmarc;      /* NULL: defaults (RFC 9989 tree walk) */
    const sg_msg_limits *limits;     /* NULL: defaults */
    int64_t now;                     /* 0: the clock */
    unsigned spf_budget_ms;          /* 0: SG_SPF_DEFAULT_BUDGET_MS */
    int skip_helo;                   /* 1: do not check the HELO identity separately */
    /* Trusted ARC sealers (local policy, RFC 8617 7.2; empty by default).
     * A DMARC fail whose policy asks quarantine or reject is overridden
     * (disposition none, policy_override "trusted_forwarder") when the
     * ARC chain passes, the newest set was sealed (ARC-Seal d=) by one of
     * these domains, and that set's ARC-Authentication-Results record
     * dmarc=pass for the same From domain. Never for a protected domain.
     * dmarc= stays fail. Names as for protected_domains; a name that is
     * not a domain makes sg_verdict_new fail with SG_EINVAL. */
    const char *const *trusted_arc_sealers;
    size_t ntrusted_arc_sealers;
} sg_verdict_opts;

/* The defaults every front end starts from (the CLI and the daemon alike):
 * set what differs, leave the rest. */
SG_EXTERN void sg_verdict_opts_init(sg_verdict_opts *opts);
/* The DKIM options a verdict uses when opts->dkim is NULL: the DKIM
 * defaults, and a signature whose l= leaves body content uncovered does not
 * pass (RFC 6376 8.2). A front end that must change a DKIM option starts
 * from these, never from sg_dkim_verify_opts_init(). */
SG_EXTERN void sg_verdict_dkim_opts_init(sg_dkim_verify_opts *opts);

typedef struct {
    const char *client_ip; /* required for SPF; NULL: SPF is "none" (not checked) */
    const char *helo;      /* may be NULL */
    const char *mail_from; /* reverse-path as given; "" or "<>" for the null sender */
} sg_verdict_envelope;

/* What decided the disposition. */
typedef enum {
    SG_VERDICT_RULE_NONE = 0,      /* nothing to enforce */
    SG_VERDICT_RULE_DMARC,         /* the From domain's published DMARC policy */
    SG_VERDICT_RULE_PROTECTED,     /* a From in one of our protected domains did not pass */
    SG_VERDICT_RULE_MULTIPLE_FROM, /* several From fields or domains (RFC 5322 3.6, RFC 9989 11.5)
                                    */
    SG_VERDICT_RULE_TRUSTED_ARC,   /* a DMARC fail overridden: trusted ARC sealer (opts) */
} sg_verdict_rule;

typedef struct {
    sg_verdict_kind verdict;
    sg_verdict_rule rule; /* what set `disposition` */
    const char *reason;   /* one sentence, never NULL */
    int temporary;        /* a temporary DNS failure kept us from deciding */
    int protected_domain; /* the From domain is one of ours */
    /* What to do: DMARC's requested disposition, or reject under a local
     * rule (see `rule`): a forged From of a protected domain, or several
     * From fields/domains, which mail readers show as one sender. */
    sg_dmarc_disposition disposition;

    int spf_checked;   /* 0 when no client IP was given */
    sg_spf_result spf; /* the MAIL FROM identity (HELO when MAIL FROM is null) */
    int spf_helo_checked;
    sg_spf_result spf_helo; /* the HELO identity, when checked separately */

    const sg_dkim_sig_result *dkim;
    size_t ndkim;

    sg_dmarc_author author;
    sg_dmarc_result dmarc;

    /* ARC chain (RFC 8617): reported; it overrides a DMARC fail only
     * under the caller's trusted_arc_sealers (local policy, off by
     * default). */
    const sg_arc_result *arc; /* NULL if it could not be evaluated */

    /* Authentication-Results field value (after "Authentication-Results:"),
     * folded with CRLF + TAB; and the same unfolded on one line. */
    const char *authres;
    const char *authres_line;

    /* DKIM signatures over the cap, reported but not evaluated (those
     * with `skipped` set in dkim[]). Signatures that could align with the
     * From domain are evaluated first. */
    size_t ndkim_skipped;

    /* Displayed header fields (sg_verdict_displayed_fields: From, Sender,
     * Reply-To, To, Cc, Subject, Date, Message-ID, MIME-Version,
     * Content-Type, Content-Transfer-Encoding) with an instance that no
     * passing DKIM signature aligned with the From domain covers: what a
     * reader shows there is not proven, whatever the verdict. Names as
     * spelled there, each once, in that order. A message whose pass rests
     * on DKIM alone and that carries a second, unsigned instance of one of
     * these fields (each is allowed once) is not authentic: readers show
     * the top one. */
    const char *const *unsigned_fields;
    size_t nunsigned_fields;
    /* A local policy changed DMARC's disposition to none (rule is
     * SG_VERDICT_RULE_TRUSTED_ARC): "trusted_forwarder", as DMARC
     * aggregate reports name it (PolicyOverrideType); NULL: none.
     * dmarc.result stays fail; dmarc.disposition becomes none. */
    const char *policy_override;
    const char *arc_trusted_sealer; /* the sealer (ARC-Seal d=) trusted, or NULL */
    sg_dmarc_disposition dmarc_disposition_evaluated; /* what DMARC asked before it */
} sg_verdict_result;

typedef struct sg_verdict sg_verdict;
typedef void (*sg_verdict_done_cb)(const sg_verdict_result *res, void *payload);

/* The verdict borrows the resolver and everything opts points to. */
SG_EXTERN int sg_verdict_new(sg_verdict **out, sg_resolver *resolver, const sg_verdict_opts *opts);
SG_EXTERN void sg_verdict_free(sg_verdict *v);
/* Ready v for another message with the same resolver and options, as if
 * just made by sg_verdict_new, but keeping its allocations (parser
 * buffers, verifiers, arena): for callers that check many messages in a
 * row. Results of the previous message become invalid. */
SG_EXTERN void sg_verdict_reset(sg_verdict *v);

/* The connection facts; starts the SPF checks. Call once, before finish:
 * SG_ESTATE otherwise (SG_EINVAL for a NULL argument). */
SG_EXTERN int sg_verdict_envelope_set(sg_verdict *v, const sg_verdict_envelope *env);
/* Message bytes (header and body, CRLF or LF), any chunking. Returns 0,
 * or the message parser's error (SG_ELIMIT, SG_ESYNTAX): the message is
 * then unusable and the caller should refuse it. */
SG_EXTERN int sg_verdict_feed(sg_verdict *v, const char *data, size_t len);
/* End of message. `cb` runs once every check has completed: from
 * sg_resolver_run() or the event loop driving the resolver, or before
 * this call returns when no lookup is outstanding. */
SG_EXTERN int sg_verdict_finish(sg_verdict *v, sg_verdict_done_cb cb, void *payload);
/* Stop waiting, after sg_verdict_finish: every lookup still out is
 * cancelled and counts as a temporary error, and the verdict is decided
 * with what is known; `cb` runs before this returns. A temporary error
 * makes the verdict temporary only where its identifier could have
 * aligned with the From domain (as any temperror does), so a sender whose
 * own DNS answers slowly, or never, gets the verdict his message earns
 * without it: the caller's time budget is never his to spend (adv23 F1).
 * 0, or SG_ESTATE before sg_verdict_finish; done already: 0, nothing
 * changes. */
SG_EXTERN int sg_verdict_give_up(sg_verdict *v);
/* The result once done, else NULL. Valid until sg_verdict_free. */
SG_EXTERN const sg_verdict_result *sg_verdict_result_get(const sg_verdict *v);
/* The header fields seen (for callers that edit the message). */
SG_EXTERN const sg_header *sg_verdict_headers(const sg_verdict *v, size_t *count);

/* Synchronous convenience: finish and drive the resolver until done. */
SG_EXTERN int sg_verdict_finish_sync(sg_verdict *v, const sg_verdict_result **out);

#ifdef __cplusplus
}
#endif
#endif
