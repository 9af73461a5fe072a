/*
 * An outbound message (SMTP-authenticated, or from an internal network):
 * sender ownership at MAIL and in the header (disposition.h), the DKIM
 * signatures asked of the signer process at end of message, then the
 * abuse engine's decision (outbound.h) on a message we would accept; and
 * the answer of each. The milter protocol is session.c's.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <spoofguard/authres.h>
#include <spoofguard/dmarc.h>

#include "session_priv.h"

/* an account key: a login (SMALL), "login:" and one, or "ip:" and an address */
#define ACCT_MAX (SMALL + 8)
static const char *ob_account(session *s, char *buf, size_t cap);

/* ------------------------------------------------------------------------ */
/* outbound: sender ownership and signing                                    */

/* rc of an sg_sender_* rule: 1 refused (reply taken over), -1 no memory */
static void sender_rule(session *s, int rc, char *smtp_reply)
{
    if (rc > 0 && s->env->obd && s->pol->cfg.outbound) {
        char acct[ACCT_MAX];
        sg_obd_note(s->env->obd, s->pol, ob_account(s, acct, sizeof(acct)), NULL, NULL, NULL,
                    s->queue_id);
    }
    if (rc > 0)
        s->reject = smtp_reply;
    else if (rc < 0)
        s->fail = "out of memory";
}

/* The longest line the MTA relays whole, CRLF not counted: RFC 5322
 * 2.1.1's 998 octets (Postfix's smtp_line_length_limit breaks longer
 * ones), but 990 behind Sendmail, whose smtp, esmtp and smtp8 mailers
 * break lines at L=SMTP_MAILER_LL, 990 unless the site raised it (adv40
 * F2: a 995-octet line was signed, then broken, silently). */
static size_t line_max(const session *s)
{
    return s->mta_sendmail ? 990 : 998;
}

/* Runs through p[0..len), *run octets of a line already behind it (CRLF-
 * normalised text, so a line's CR is counted with it): whether a line
 * there, or the unfinished one at the end, is over max octets. */
static int over_long(size_t *run, const char *p, size_t len, size_t max)
{
    const char *end = p + len, *nl;
    int over = 0;
    while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        over |= *run + (size_t)(nl - p) > max + 1; /* + the CR */
        *run = 0;
        p = nl + 1;
    }
    *run += (size_t)(end - p);
    return over || *run > max + 1;
}

/* What the log line says of a signed message Sendmail will change: the
 * index is sendmail_rewrite()'s answer, the row whether a line is too
 * long too (rev25 F4: one warning hid the other). */
#define SM_LONG "a line over 990 octets: Sendmail's SMTP mailers break it (L=, SMTP_MAILER_LL)"
#define SM_QUOTE                                                                                   \
    "Sendmail puts a display name with '.' or an apostrophe in quotes after we signed "            \
    "(MustQuoteChars)"
#define SM_COMMA "Sendmail puts a space after each comma of an address list after we signed"
static const char *const sendmail_why[2][3] = {
    {"signed", "signed; " SM_QUOTE ", and the signature breaks",
     "signed; " SM_COMMA ", and the signature breaks"},
    {"signed; " SM_LONG " and the signature with it",
     "signed; " SM_LONG "; " SM_QUOTE "; either breaks the signature",
     "signed; " SM_LONG "; " SM_COMMA "; either breaks the signature"},
};

/* Sendmail rewrites address fields as it writes the message out, after
 * the milter signed (adv40 F1, Sendmail 8.17): a display name holding a
 * MustQuoteChars character ('.' and '\'' by default) is put in quotes,
 * and the addresses of a list are joined by ", ". The field changes and
 * the signature breaks at every receiver: say so in the log line, as for
 * long lines. Returns 1 (a name quoted), 2 (a list spaced) or 0. */
static int sendmail_rewrite(const sg_header *f, size_t n)
{
    static const char *const addr_fields[] = {
        "from",        "sender",    "reply-to",      "to",       "cc",
        "resent-from", "resent-to", "resent-sender", "resent-cc"};
    for (size_t i = 0; i < n; i++) {
        size_t k = 0, nf = sizeof(addr_fields) / sizeof(addr_fields[0]);
        while (k < nf && !sg_header_is(&f[i], addr_fields[k]))
            k++;
        if (k == nf)
            continue;
        const char *v = f[i].value, *end = v + f[i].value_len;
        int quote = 0, comment = 0, angle = 0, phrase_dot = 0;
        for (const char *p = v; p < end; p++) {
            if (quote || comment) {
                if (*p == '\\' && p + 1 < end)
                    p++;
                else if (quote && *p == '"')
                    quote = 0;
                else if (comment && *p == '(')
                    comment++;
                else if (comment && *p == ')')
                    comment--;
            } else if (*p == '"') {
                quote = 1;
            } else if (*p == '(') {
                comment = 1;
            } else if (*p == '<') {
                if (phrase_dot)
                    return 1;
                angle = 1;
            } else if (*p == '>') {
                angle = 0;
            } else if (angle) {
                continue;
            } else if (*p == ',' || *p == ';' || *p == ':') {
                if (*p == ',' && p + 1 < end && p[1] != ' ' && p[1] != '\t')
                    return 2;
                phrase_dot = 0;
            } else if (*p == '.' || *p == '\'') {
                phrase_dot = 1; /* a phrase's only if an angle address follows */
            }
        }
    }
    return 0;
}

/* Whether the display-name rule applies to this login (logins compare as
 * in the sender_map: in any case). */
static int display_names_checked(const sg_config *cfg, const char *login)
{
    if (!cfg->sender_display_names)
        return 0;
    for (size_t i = 0; i < cfg->n_sender_display_names_exempt; i++)
        if (strcasecmp(cfg->sender_display_names_exempt[i], login) == 0)
            return 0;
    return 1;
}

/* Does our own verdict on this message, written when it came in (only we
 * write one: the way in deletes every other), say its From domain failed
 * DMARC? Then it is inbound mail passed back through a listener with
 * milters (an after-queue filter's re-injection from 127.0.0.1), and
 * signing it would make a forgery pass at the next hop with our key
 * (adv42 F1: a forged From of a domain we sign for, p=none, signed and
 * passing at the receiver it was forwarded to). */
static int our_verdict_failed(session *s, const sg_header *f, size_t n)
{
    const char *at = s->from_addr ? strrchr(s->from_addr, '@') : NULL;
    char *from_dom = NULL;
    if (at == NULL)
        return 0;
    /* as hop 1 wrote header.from: the root dot gone, A-labels, lower
     * case (rev26 R26-3: "lax.test." matched no "lax.test"); a domain
     * that does not normalise: any failed dmarc= of ours counts (hop 1
     * then named none: rev27 R27-5) */
    if (sg_dmarc_domain_normalise(s->arena, at + 1, strlen(at + 1), &from_dom) != 0)
        from_dom = NULL;
    for (size_t i = 0; i < n; i++) {
        sg_authres ar;
        if (!sg_header_is(&f[i], "Authentication-Results") ||
            !sg_authres_value_is_ours(f[i].value, f[i].value_len, s->pol->authserv_id) ||
            sg_authres_parse(&ar, s->arena, f[i].value, f[i].value_len, NULL) != 0)
            continue;
        for (size_t k = 0; k < ar.count; k++) {
            const sg_authres_entry *e = &ar.entries[k];
            if (strcasecmp(e->method, "dmarc") != 0 || strcasecmp(e->result, "pass") == 0)
                continue;
            int named = 0; /* a dmarc= of ours that names no domain fails them all */
            for (size_t j = 0; j < e->nprops; j++)
                if (!strcasecmp(e->props[j].ptype, "header") &&
                    !strcasecmp(e->props[j].property, "from")) {
                    named = 1;
                    if (from_dom == NULL || !strcasecmp(e->props[j].value, from_dom))
                        return 1;
                }
            if (!named)
                return 1;
        }
    }
    return 0;
}

static int on_out_headers(const sg_header *f, size_t n, void *payload)
{
    session *s = payload;
    const sg_maps *maps = s->pol->maps;
    char *refusal;
    int rc =
        sg_sender_headers(maps, s->arena, s->login, f, n,
                          display_names_checked(&s->pol->cfg, s->login), &s->from_addr, &refusal);
    if (rc != 0) {
        sender_rule(s, rc, refusal);
        return 0;
    }

    s->nkeys = sg_maps_signing_keys(maps, s->from_addr, s->keys, MAX_SIGN_KEYS);
    if (s->nkeys == 0)
        return 0;
    if (!s->login[0] && s->n_ar_ours > 0 && our_verdict_failed(s, f, n)) {
        s->nkeys = 0;
        s->unsigned_why = "not signed: our own Authentication-Results on it say its From domain "
                          "failed DMARC when it came in; inbound mail passed back through a "
                          "listener with milters? (docs/spoofguardd.md, content filters)";
        return 0;
    }
    sg_dkim_sign_opts opts[MAX_SIGN_KEYS];
    for (size_t k = 0; k < s->nkeys; k++) {
        sg_dkim_sign_opts_init(&opts[k]);
        opts[k].domain = s->keys[k]->domain;
        opts[k].selector = s->keys[k]->selector;
        opts[k].alg = s->keys[k]->alg; /* the key itself is the signer process's */
    }
    if (sg_dkim_signer_new(&s->signer, opts, s->nkeys) != 0 ||
        sg_dkim_sign_headers(s->signer, f, n) != 0) {
        s->fail = "signing set-up failed";
        sg_dkim_signer_free(s->signer);
        s->signer = NULL;
    }
    for (size_t i = 0; i < n && !s->long_line; i++) {
        size_t run = 0;
        s->long_line = over_long(&run, f[i].raw, f[i].raw_len, line_max(s));
    }
    if (s->mta_sendmail)
        s->sm_rewrite = sendmail_rewrite(f, n);
    return 0;
}

static int on_out_body(const char *data, size_t len, void *payload)
{
    session *s = payload;
    if (s->signer && sg_dkim_sign_body(s->signer, data, len) != 0)
        s->fail = "signing failed";
    if (s->signer && !s->long_line)
        s->long_line = over_long(&s->out_line, data, len, line_max(s));
    return 0;
}

/* Insert each DKIM-Signature field of the signer's output on top. */
static int put_signatures(session *s, const char *sig, size_t len)
{
    /* The output is one or more "DKIM-Signature: value\r\n" fields;
     * continuation lines start with whitespace. */
    const char *end = sig + len, *p = sig;
    char *fields[MAX_SIGN_KEYS];
    size_t nf = 0;
    while (p < end && nf < MAX_SIGN_KEYS) {
        const char *q = p;
        for (;;) {
            const char *nl = memchr(q, '\n', (size_t)(end - q));
            if (nl == NULL) {
                q = end;
                break;
            }
            q = nl + 1;
            if (q >= end || (*q != ' ' && *q != '\t'))
                break;
        }
        const char *colon = memchr(p, ':', (size_t)(q - p));
        if (colon == NULL)
            goto fail;
        const char *v = colon + 1;
        while (v < q && (*v == ' ' || *v == '\t'))
            v++;
        size_t vl = (size_t)(q - v);
        while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
            vl--;
        /* Milter header values use bare LF between folded lines. */
        char *val = malloc(vl + 2), *o = val;
        if (val == NULL)
            goto fail;
        if (s->proto & SG_MP_HDR_LEADSPC)
            *o++ = ' ';
        for (size_t i = 0; i < vl; i++)
            if (v[i] != '\r')
                *o++ = v[i];
        *o = '\0';
        fields[nf++] = val;
        p = q;
    }
    /* Inserted at index 0 in reverse, so they end up in signer order. */
    for (size_t i = nf; i-- > 0;) {
        sg_milter_put_insheader(&s->out, 0, "DKIM-Signature", fields[i]);
        free(fields[i]);
    }
    s->nsigned = nf;
    return 0;
fail:
    while (nf > 0)
        free(fields[--nf]);
    return -1;
}

/* MAIL of an outbound message: the envelope sender's ownership, then the
 * parser that gives the header to the signer. */
void outbound_start(session *s)
{
    char *refusal;
    int rc = sg_sender_mail_from(s->pol->maps, s->arena, s->login, s->mail_from, &refusal);
    if (rc != 0) {
        sender_rule(s, rc, refusal);
        return;
    }
    sg_msg_callbacks cbs = {.on_headers = on_out_headers, .on_body = on_out_body};
    if (sg_msg_parser_new(&s->parser, NULL, &cbs, s) != 0)
        s->fail = "out of memory";
}

/* ------------------------------------------------------------------------ */
/* outbound: abuse detection, last, on a message we would accept             */

/* The account key: the login, or "ip:" and the address of an internal
 * client without one; "@domain" is a sending domain's record. A login
 * spelled like those ("ip:10.1.2.3", "@ourco.test") is put under
 * "login:", as is one that starts so itself, so that it can never count
 * into, or block, a host's or a domain's record (adv13 F7). */
static const char *ob_account(session *s, char *buf, size_t cap)
{
    if (s->login[0]) {
        if (s->login[0] != '@' && strncasecmp(s->login, "ip:", 3) != 0 &&
            strncasecmp(s->login, "login:", 6) != 0)
            return s->login;
        snprintf(buf, cap, "login:%s", s->login);
        return buf;
    }
    snprintf(buf, cap, "ip:%s", s->client_ip[0] ? s->client_ip : "local");
    return buf;
}

/* The account's name as it may appear in an SMTP reply: printable,
 * no characters a reply or a log reader would take for syntax. */
static void reply_safe(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    for (; *in && o + 1 < cap && o < 96; in++)
        out[o++] = (isalnum((unsigned char)*in) || strchr("@._+-:", *in)) ? *in : '?';
    out[o] = '\0';
}

static void ob_answer(session *s, const sg_obd_result *r, const char *why)
{
    char acct[ACCT_MAX], safe[128], text[768], reasons[512];
    size_t rp = 0;
    reply_safe(ob_account(s, acct, sizeof(acct)), safe, sizeof(safe));
    reasons[0] = '\0';
    for (unsigned i = 0; i < 32; i++) {
        const char *n = (r->d.reasons & (1u << i)) ? sg_ob_reason_name(1u << i) : NULL;
        if (n && rp + strlen(n) + 2 < sizeof(reasons))
            rp += (size_t)snprintf(reasons + rp, sizeof(reasons) - rp, "%s%s", rp ? "," : "", n);
    }
    if (r->failed) {
        failsafe(s, "outbound store failed");
        return;
    }
    int hold = r->d.action == SG_OB_HOLD || r->d.action == SG_OB_BLOCK;
    /* a block now, or a later message of a blocked account */
    int blocked = r->d.action == SG_OB_BLOCK || (r->d.reasons & SG_OBR_BLOCKED);
    if (r->d.action == SG_OB_ALLOW) {
        log_message(s, "accept", why, NULL);
        delete_forged_authres(s);
        answer(s, SG_ACT_ACCEPT, NULL);
    } else if (hold && (s->actions & SG_MF_QUARANTINE)) {
        /* accepted into the MTA's hold queue: nothing is lost, nothing
         * leaves until an administrator releases it (postsuper -H) */
        snprintf(text, sizeof(text), "spoofguard: %s for %s (%s)",
                 blocked ? "account blocked" : "held", safe, reasons);
        sg_milter_put_quarantine(&s->out, text);
        log_message(s, "quarantine", text, NULL);
        delete_forged_authres(s);
        answer(s, SG_ACT_ACCEPT, NULL);
    } else {
        /* throttle; or a hold the MTA cannot take: a 4xx keeps it with
         * the client, who retries */
        snprintf(text, sizeof(text), "451 4.7.1 %s for %s; try later",
                 r->d.action == SG_OB_THROTTLE ? "sending rate limit"
                 : blocked                     ? "sending blocked"
                                               : "sending held",
                 safe);
        log_message(s, "tempfail", text, NULL);
        answer(s, SG_ACT_TEMPFAIL, text);
    }
}

static void ob_decided(void *payload, const sg_obd_result *r)
{
    session *s = payload;
    s->ob_job = NULL;
    s->state = MSG_OPEN;
    if (s->timer_live)
        uv_timer_stop(&s->timer);
    ob_answer(s, r, s->ob_why);
    message_reset(s);
    flush(s);
}

/* The message would be accepted (why: the log's reason). With outbound
 * detection on, the engine decides first. Returns 1 when the decision
 * waits for Redis (ob_decided answers and resets). */
static int outbound_accept(session *s, const char *why)
{
    /* Mail without a login that carries our own verdict, which only we
     * write (every other is deleted on the way in): mail that came in and
     * is passed back through a listener with milters, an after-queue
     * content filter's re-injection from 127.0.0.1. It is taken for
     * outbound mail of an internal host: signed, its verdict removed
     * (adv42 F1). Said where the administrator looks. */
    if (!s->login[0] && s->n_ar_ours > 0 && s->unsigned_why == NULL) {
        snprintf(s->why_buf, sizeof(s->why_buf),
                 "%s; it carried our own Authentication-Results (removed): inbound mail passed "
                 "back through a listener with milters? (docs/spoofguardd.md, content filters)",
                 why);
        why = s->why_buf;
    }
    if (s->env->obd == NULL || !s->pol->cfg.outbound) {
        log_message(s, "accept", why, NULL);
        delete_forged_authres(s);
        answer(s, SG_ACT_ACCEPT, NULL);
        return 0;
    }
    char acct[ACCT_MAX];
    sg_obd_ask ask = {
        .cfg = &s->pol->cfg,
        .account = ob_account(s, acct, sizeof(acct)),
        .queue_id = s->queue_id[0] ? s->queue_id : NULL,
        .msg =
            {
                .t = (int64_t)time(NULL),
                .client_ip = s->client_ip,
                .mail_from = s->mail_from ? s->mail_from : "",
                .rcpts = s->rcpts,
                .nrcpts = s->nrcpts,
                .size = s->size,
            },
    };
    /* A signed message's body hash is its content fingerprint: one body
     * to many recipients across messages (unsigned mail goes without). */
    if (s->signer)
        (void)sg_dkim_sign_body_hash(s->signer, &ask.msg.body_hash, &ask.msg.body_hash_len);
    sg_obd_result r;
    if (sg_obd_decide(s->env->obd, &ask, ob_decided, s, &r, &s->ob_job) == 1) {
        s->ob_why = why;
        wait_answer(s, (uint64_t)s->pol->cfg.message_timeout_s * 1000);
        return 1;
    }
    ob_answer(s, &r, why);
    return 0;
}

/* The signer's answer (signer_client.h): the signatures complete the
 * fields, or the message gets the fail-safe answer. */
static void outbound_signed(int status, const uint8_t *const *sigs, const size_t *siglens, size_t n,
                            void *payload)
{
    session *s = payload;
    const char *sig;
    size_t len;
    s->sign_req = 0;
    s->state = MSG_OPEN;
    if (s->timer_live)
        uv_timer_stop(&s->timer);
    if (status != SG_SP_OK || n != s->nkeys) {
        failsafe_as(s, SG_MFS_SIGNER, sg_signer_status_str(status));
    } else if (sg_dkim_sign_complete(s->signer, sigs, siglens, n, &sig, &len) != 0 ||
               put_signatures(s, sig, len) != 0) {
        failsafe(s, "signing failed");
    } else {
        for (size_t k = 0; k < s->nkeys; k++)
            SG_MC_INC_AT(s->env->metrics->signatures, s->keys[k]->metric);
        /* the signature is right as the message stands; say so where an
         * administrator looks when a receiver reports it broken */
        const char *why = s->mta_sendmail ? sendmail_why[s->long_line][s->sm_rewrite]
                          : s->long_line  ? "signed; a line over 998 octets: a relay that breaks "
                                            "it (Postfix: smtp_line_length_limit) breaks the "
                                            "signature"
                                          : "signed";
        if (outbound_accept(s, why))
            return; /* ob_decided answers and resets */
    }
    message_reset(s);
    flush(s);
}

/* End of an outbound message. Returns 1 when the answer waits for the
 * signer process (outbound_signed gives it), as inbound mail waits for
 * its verdict. */
int outbound_eom(session *s)
{
    if (s->fail) {
        failsafe(s, s->fail);
        return 0;
    }
    if (s->reject) {
        refuse(s, s->reject);
        return 0;
    }
    if (s->out_line > line_max(s)) /* the last line, without a line end */
        s->long_line = 1;
    if (s->signer && !(s->actions & SG_MF_ADDHDRS)) {
        return outbound_accept(s, "unsigned: the MTA does not let us add header fields");
    } else if (s->signer) {
        uint8_t digests[MAX_SIGN_KEYS * 32];
        sg_sp_item items[MAX_SIGN_KEYS];
        if (sg_dkim_sign_digests(s->signer, digests, s->nkeys) != 0) {
            failsafe(s, "signing failed");
            return 0;
        }
        for (size_t k = 0; k < s->nkeys; k++) {
            items[k].alg = (uint8_t)s->keys[k]->alg;
            items[k].keyid = s->keys[k]->path;
            items[k].keyid_len = strlen(s->keys[k]->path);
            items[k].digest = digests + 32 * k;
        }
        s->sign_req = sg_signer_sign(s->env->signer, items, s->nkeys, outbound_signed, s);
        if (s->sign_req == 0) {
            failsafe_as(s, SG_MFS_SIGNER, sg_signer_status_str(SG_SIGNER_GONE));
            return 0;
        }
        wait_answer(s, (uint64_t)s->pol->cfg.message_timeout_s * 1000);
        return 1;
    }
    return outbound_accept(s, s->unsigned_why ? s->unsigned_why : "no signing key for this sender");
}
