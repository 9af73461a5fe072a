/*
 * What spoofguardd answers for a message (see disposition.h). Pure: the
 * same inputs give the same answer, and nothing here reads or writes
 * anything but its arguments.
 */
#include "disposition.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <spoofguard/addr.h>
#include <spoofguard/dmarc.h>

const char SG_REPLY_TOO_BIG[] = "552 5.3.4 Message too big to be checked";

/* printf into a new heap string (the POSIX asprintf is a GNU extension). */
static int fmt_alloc(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fmt_alloc(char **out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    *out = NULL;
    if (n < 0 || (*out = malloc((size_t)n + 1)) == NULL)
        return -1;
    va_start(ap, fmt);
    vsnprintf(*out, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return n;
}

/* A refusal: 1, or -1 when the reply could not be allocated. */
#define REFUSE(reply, ...) (fmt_alloc(reply, __VA_ARGS__) < 0 ? -1 : 1)

static int domain_listed(char *const *list, size_t n, const char *domain)
{
    for (size_t i = 0; i < n; i++)
        if (sg_domain_within(domain, list[i]))
            return 1;
    return 0;
}

static void init(sg_disposition *d, sg_action a, const char *log_action, const char *why)
{
    memset(d, 0, sizeof(*d));
    d->action = a;
    d->log_action = log_action;
    d->why = why;
}

/* The reason a DMARC aggregate report gives when the disposition applied
 * to a failing message is not the one its published policy (p=, sp= or
 * np=) asks: the rule that changed it, one reason per message. */
static void set_override(const sg_config *cfg, const sg_verdict_result *vr, sg_disposition *d)
{
    if (vr->dmarc.result != SG_DMARC_RESULT_FAIL)
        return;
    sg_dmarc_disposition applied = d->action == SG_ACT_REJECT ? SG_DMARC_DISP_REJECT
                                   : d->quarantine            ? SG_DMARC_DISP_QUARANTINE
                                                              : SG_DMARC_DISP_NONE;
    sg_dmarc_disposition published =
        vr->dmarc.policy == SG_DMARC_POLICY_REJECT       ? SG_DMARC_DISP_REJECT
        : vr->dmarc.policy == SG_DMARC_POLICY_QUARANTINE ? SG_DMARC_DISP_QUARANTINE
                                                         : SG_DMARC_DISP_NONE;
    if (applied == published)
        return;
    const char *type = "local_policy", *comment, *sealer = "";
    if (applied == SG_DMARC_DISP_REJECT)
        comment = vr->rule == SG_VERDICT_RULE_PROTECTED ? "protected_domain" : "one_author_address";
    else if (vr->policy_override != NULL) {
        type = vr->policy_override;
        comment = "arc_sealer=";
        sealer = vr->arc_trusted_sealer ? vr->arc_trusted_sealer : "";
    } else if (vr->dmarc.disposition != SG_DMARC_DISP_NONE && !cfg->dmarc_enforce)
        comment = "dmarc_enforce=no";
    else if (vr->dmarc.disposition == SG_DMARC_DISP_REJECT && d->quarantine)
        comment = "never_reject_domains";
    else if (vr->dmarc.testing) {
        type = "policy_test_mode";
        comment = "t=y";
    } else
        return;
    d->override_type = type;
    snprintf(d->override_comment, sizeof(d->override_comment), "%s%s", comment, sealer);
}

void sg_disposition_inbound(const sg_config *cfg, const sg_verdict_result *vr, sg_disposition *d)
{
    const char *from = vr->author.domain ? vr->author.domain : vr->dmarc.author_domain;

    if (vr->temporary) {
        /* a DNS failure may hide a pass: never a reject, never our A-R */
        if (cfg->failsafe != SG_FAILSAFE_ACCEPT) {
            init(d, SG_ACT_TEMPFAIL, "tempfail", vr->reason);
            d->reply = "451 4.7.1 Sender authentication is temporarily unavailable";
        } else {
            init(d, SG_ACT_CONTINUE, "accept", vr->reason);
            d->delete_forged = d->add_authres = 1;
        }
        d->failsafe = 1;
        d->cause = SG_MFS_DNS;
        return;
    }

    init(d, SG_ACT_CONTINUE, "accept", vr->reason);
    d->delete_forged = d->add_authres = 1;
    /* Local rules first (a forged protected domain, several From
     * addresses), then what the From domain's DMARC policy asks. */
    if (vr->rule == SG_VERDICT_RULE_PROTECTED && cfg->reject_protected_fail) {
        d->action = SG_ACT_REJECT;
        snprintf(d->replybuf, sizeof(d->replybuf),
                 "550 5.7.1 Message claims to be from %s but is not",
                 from ? from : "one of our domains");
    } else if (vr->rule == SG_VERDICT_RULE_MULTIPLE_FROM && cfg->dmarc_enforce) {
        d->action = SG_ACT_REJECT;
        snprintf(d->replybuf, sizeof(d->replybuf),
                 "550 5.7.1 Message must have exactly one author address");
    } else if (vr->dmarc.result == SG_DMARC_RESULT_FAIL && cfg->dmarc_enforce &&
               vr->dmarc.disposition == SG_DMARC_DISP_REJECT) {
        if (domain_listed(cfg->never_reject_domains, cfg->n_never_reject_domains, from)) {
            d->quarantine = 1;
            d->why = "DMARC reject downgraded to quarantine (never_reject_domains)";
        } else {
            d->action = SG_ACT_REJECT;
            snprintf(d->replybuf, sizeof(d->replybuf),
                     "550 5.7.1 DMARC policy of %s rejects this message",
                     from ? from : "the sender");
        }
    } else if (vr->dmarc.result == SG_DMARC_RESULT_FAIL && cfg->dmarc_enforce &&
               vr->dmarc.disposition == SG_DMARC_DISP_QUARANTINE) {
        d->quarantine = 1;
    }
    if (d->action == SG_ACT_REJECT) {
        d->log_action = "reject";
        d->reply = d->replybuf;
    } else if (d->quarantine)
        d->log_action = "quarantine";
    d->seal = d->action != SG_ACT_REJECT;
    set_override(cfg, vr, d);
}

void sg_disposition_failsafe(const sg_config *cfg, const char *why, sg_mfs cause, sg_disposition *d)
{
    if (cause == SG_MFS_OVERLOAD) {
        /* Anyone can open connections: were overload answered `accept`,
         * a forger could park sessions until his message went through
         * unchecked. Whatever `failsafe` says, the MTA retries. */
        init(d, SG_ACT_TEMPFAIL, "tempfail", why);
        d->reply = "451 4.3.2 Too busy to check the message now, try again later";
    } else if (cfg->failsafe == SG_FAILSAFE_ACCEPT) {
        init(d, SG_ACT_CONTINUE, "accept", why);
        d->delete_forged = 1;
    } else {
        init(d, SG_ACT_TEMPFAIL, "tempfail", why);
        d->reply = "451 4.7.1 Message cannot be checked now, try again later";
    }
    d->failsafe = 1;
    d->cause = cause;
}

void sg_disposition_reject(const char *reply, sg_disposition *d)
{
    init(d, SG_ACT_REJECT, "reject", reply);
    d->reply = reply;
}

const char *sg_disposition_header_reply(int rc)
{
    return rc == SG_ELIMIT    ? "552 5.6.0 Message header exceeds our limits"
           : rc == SG_ESYNTAX ? "550 5.6.0 Malformed message header"
                              : NULL;
}

/* ------------------------------------------------------------------------ */
/* outbound sender ownership                                                 */

/* A login where we sign but no sender_map says which addresses it owns:
 * signing what it sends would put our domains' signature on any From it
 * writes (adv21 F1). Refused, as a login the map does not list is. */
static int unmapped_login(const sg_maps *maps, const char *login, char **reply)
{
    if (!login[0] || !sg_maps_unmapped_logins(maps))
        return 0;
    return REFUSE(reply, "550 5.7.1 %s may not send here: no sender_map lists its addresses",
                  login);
}

int sg_sender_mail_from(const sg_maps *maps, sg_arena *arena, const char *login,
                        const char *mail_from, char **reply)
{
    *reply = NULL;
    int um = unmapped_login(maps, login, reply);
    if (um != 0)
        return um;
    if (!login[0] || !sg_maps_have_sender_map(maps) || !mail_from[0])
        return 0;
    sg_mailbox mb;
    if (sg_addr_parse_path(arena, mail_from, strlen(mail_from), &mb) != 0)
        return REFUSE(reply, "553 5.1.7 Malformed sender address");
    if (!sg_maps_sender_allowed(maps, login, mb.local_unquoted, mb.domain))
        return REFUSE(reply, "550 5.7.1 %s is not allowed to send as <%s>", login, mail_from);
    return 0;
}

/* A byte of an unquoted local part (RFC 5322 atext, '.', UTF-8). */
static int atext_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c >= 0x80 || (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~.", c) != NULL);
}

/* Is the shown address one of the field's own mailboxes (or, with no
 * local part shown, in one of their domains)? Its local part as shown is
 * that one's, or - a quoted local part shows only its last word - ends
 * it after a byte no unquoted local part has (rev17: any suffix was
 * taken, so it-support could show "support@"). Domains compare as
 * A-labels. */
static int own_mailbox(sg_arena *arena, const sg_addr_list *al, const sg_dmarc_shown *a)
{
    size_t sl = strlen(a->local);
    for (size_t k = 0; k < al->count; k++) {
        const sg_mailbox *m = &al->mailboxes[k];
        size_t ml = strlen(m->local_unquoted);
        char *d;
        if (sl > ml || (sl > 0 && strcasecmp(m->local_unquoted + ml - sl, a->local) != 0) ||
            (sl > 0 && sl < ml && atext_byte((unsigned char)m->local_unquoted[ml - sl - 1])))
            continue;
        if (sg_dmarc_domain_normalise(arena, m->domain, strlen(m->domain), &d) == 0 &&
            strcmp(d, a->domain) == 0)
            return 1;
    }
    return 0;
}

/* The addresses a person reads in one From or Sender field (adv15 F5:
 * `"bob@ourco.test" <alice@ourco.test>` showed bob's address, signed). */
#define MAX_SHOWN 32
static int shown_allowed(const sg_maps *maps, sg_arena *arena, const char *login,
                         const sg_header *h, const sg_addr_list *al, char **reply)
{
    sg_dmarc_shown shown[MAX_SHOWN];
    size_t count;
    int more;
    int rc =
        sg_dmarc_shown_addresses(arena, h->value, h->value_len, shown, MAX_SHOWN, &count, &more);
    if (rc != 0)
        return -1;
    if (more)
        return REFUSE(reply,
                      "550 5.7.1 The %.*s field cannot be read safely: too many addresses, or "
                      "text shown out of order",
                      (int)h->name_len, h->name);
    for (size_t k = 0; k < count; k++) {
        const sg_dmarc_shown *a = &shown[k];
        /* with no local part on screen ("@bank.example"), only the
         * field's own domain goes */
        if (own_mailbox(arena, al, a) ||
            (a->local[0] && sg_maps_sender_allowed(maps, login, a->local, a->domain)))
            continue;
        return REFUSE(reply, "550 5.7.1 %s is not allowed to show <%s@%s> in the %.*s field", login,
                      a->local, a->domain, (int)h->name_len, h->name);
    }
    return 0;
}

int sg_sender_headers(const sg_maps *maps, sg_arena *arena, const char *login, const sg_header *f,
                      size_t n, int names, const char **from_addr, char **reply)
{
    const sg_header *from = NULL;
    size_t nfrom = 0;

    *reply = NULL;
    *from_addr = NULL;
    for (size_t i = 0; i < n; i++)
        if (sg_header_is(&f[i], "From")) {
            from = &f[i];
            nfrom++;
        }
    if (nfrom != 1)
        return REFUSE(reply, "550 5.7.1 Message must have exactly one From field");
    sg_addr_list list;
    size_t errpos;
    if (sg_addr_parse_list(arena, from->value, from->value_len, &list, &errpos) != 0 ||
        list.count != 1)
        return REFUSE(reply, "550 5.7.1 From field must hold exactly one valid address");
    const sg_mailbox *mb = &list.mailboxes[0];
    size_t l = strlen(mb->local_unquoted) + strlen(mb->domain) + 2;
    char *a = sg_arena_alloc(arena, l);
    if (a == NULL)
        return -1;
    snprintf(a, l, "%s@%s", mb->local_unquoted, mb->domain);
    *from_addr = a;

    int um = unmapped_login(maps, login, reply);
    if (um != 0)
        return um;
    if (!login[0] || !sg_maps_have_sender_map(maps))
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!sg_header_is(&f[i], "From") && !sg_header_is(&f[i], "Sender"))
            continue;
        sg_addr_list al;
        if (sg_addr_parse_list(arena, f[i].value, f[i].value_len, &al, &errpos) != 0)
            return REFUSE(reply, "550 5.7.1 Unparsable %.*s field", (int)f[i].name_len, f[i].name);
        for (size_t k = 0; k < al.count; k++) {
            const sg_mailbox *m = &al.mailboxes[k];
            if (!sg_maps_sender_allowed(maps, login, m->local_unquoted, m->domain))
                return REFUSE(reply, "550 5.7.1 %s is not allowed to send as <%s@%s>", login,
                              m->local, m->domain);
        }
        int rc = names ? shown_allowed(maps, arena, login, &f[i], &al, reply) : 0;
        if (rc != 0)
            return rc;
    }
    return 0;
}
