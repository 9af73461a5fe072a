/*
 * One milter session: the protocol state machine for one MTA connection.
 *
 * Outbound mail (SMTP-authenticated, or from an internal network) is
 * checked for sender ownership and DKIM-signed. Inbound mail gets one
 * verdict (SPF, DKIM, DMARC), one Authentication-Results field (after every
 * earlier one carrying our authserv-id is deleted) and the disposition.
 *
 * Two tiers of failure (see OpenSMTPD): a malformed packet desyncs the
 * protocol, so that one connection is closed; anything that goes wrong
 * with a message (DNS timeout, a limit, out of memory) gives that message
 * the configured fail-safe answer, and the session lives on.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>

#include <spoofguard/addr.h>
#include <spoofguard/arena.h>
#include <spoofguard/authres.h>
#include <spoofguard/msg.h>
#include <spoofguard/verdict.h>

#include "milter_proto.h"
#include "worker.h"

#define MAX_SIGN_KEYS 8
/* fail-safe causes the metrics tell apart (compared by address) */
static const char MSG_TIMEOUT[] = "message time budget exhausted";
static const char MSG_OVERLOAD[] = "too many connections";
#define SMALL 256

/* Protocol steps we want the MTA to skip or not wait for. Each avoided
 * round trip is a wake-up less on both sides, which is most of what a
 * milter costs (PERFORMANCE.md). */
static const uint32_t WANT_PROTOCOL = SG_MP_NORCPT | SG_MP_NOUNKNOWN | SG_MP_NODATA |
                                      SG_MP_NR_MAIL | SG_MP_NR_CONN | SG_MP_NR_HELO | SG_MP_NR_HDR |
                                      SG_MP_NR_EOH | SG_MP_NR_BODY | SG_MP_HDR_LEADSPC;
/* a macro name no MTA defines (see SG_MC_OPTNEG) */
static const char NO_MACROS[] = "{spoofguard_none}";
static const uint32_t WANT_ACTIONS =
    SG_MF_ADDHDRS | SG_MF_CHGHDRS | SG_MF_QUARANTINE | SG_MF_SETSYMLIST;

typedef enum { ACT_CONTINUE, ACT_ACCEPT, ACT_REJECT, ACT_TEMPFAIL, ACT_QUARANTINE } action;

typedef struct session {
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe;
        uv_stream_t stream;
        uv_handle_t handle;
    } h;
    sg_worker *w;
    sg_policy *pol;
    sg_milter_reader rd;
    sg_milter_out out;
    uint32_t proto;   /* negotiated protocol flags */
    uint32_t actions; /* negotiated actions */
    int negotiated;
    int closing;
    int overloaded; /* over max_connections: every message gets the fail-safe answer */
    uv_timer_t timer;
    int timer_live;
    int counted;         /* in sessions_opened: count it closed too */
    int closing_handles; /* handles whose close callback is still due */

    char client_ip[INET6_ADDRSTRLEN];
    char client_name[SMALL];
    char helo[SMALL];
    int internal; /* client in internal_networks */

    /* the current message */
    int in_msg;
    int outbound;
    int waiting;       /* EOM seen, verdict pending */
    int in_verdict_cb; /* inside the verdict's callback: it must not be freed now */
    const char *fail;  /* why this message gets the fail-safe answer */
    char *reject;      /* a 5xx reply decided early (sender ownership) */
    char *mail_from;   /* reverse-path without <> */
    char login[SMALL]; /* {auth_authen} */
    char queue_id[64];
    uint64_t size;
    uint64_t t0;
    sg_arena *arena;
    sg_verdict *verdict;    /* inbound */
    sg_msg_parser *parser;  /* outbound */
    sg_dkim_signer *signer; /* outbound */
    const sg_map_key *keys[MAX_SIGN_KEYS];
    size_t nkeys;
    const char *from_addr; /* header From (outbound), in the arena */
    /* Authentication-Results fields claiming our authserv-id, by ordinal
     * among fields of that name: deleted on every path that accepts */
    uint32_t ar_seen;
    uint32_t *ar_ours;
    size_t n_ar_ours, cap_ar_ours;
} session;

static void session_close(session *s);

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
static void flush(session *s);
static void message_reset(session *s);

/* ------------------------------------------------------------------------ */
/* logging                                                                   */

/* JSON string escaping into a bounded buffer. */
static void jstr(char *buf, size_t size, size_t *pos, const char *s)
{
    if (*pos + 2 >= size)
        return;
    if (s == NULL) {
        *pos += (size_t)snprintf(buf + *pos, size - *pos, "null");
        if (*pos > size)
            *pos = size;
        return;
    }
    buf[(*pos)++] = '"';
    for (; *s && *pos + 8 < size; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[(*pos)++] = '\\';
            buf[(*pos)++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            *pos += (size_t)snprintf(buf + *pos, size - *pos, "\\u%04x", c);
        } else {
            buf[(*pos)++] = (char)c;
        }
    }
    buf[(*pos)++] = '"';
    buf[*pos] = '\0';
}

static void jkv(char *buf, size_t size, size_t *pos, const char *key, const char *val)
{
    if (*pos + 4 >= size)
        return;
    if (*pos > 1)
        buf[(*pos)++] = ',';
    jstr(buf, size, pos, key);
    if (*pos + 1 < size)
        buf[(*pos)++] = ':';
    jstr(buf, size, pos, val);
}

/* ------------------------------------------------------------------------ */
/* metrics: one call per message, with its answer                            */

static void count_message(session *s, const char *act, const sg_verdict_result *vr,
                          uint64_t elapsed_ns)
{
    sg_metrics_shard *m = s->w->metrics;
    sg_mdir dir = s->outbound ? SG_MDIR_OUTBOUND : SG_MDIR_INBOUND;
    /* act is one of our own four words */
    sg_mact a = act[0] == 'r'   ? SG_MACT_REJECT
                : act[0] == 'q' ? SG_MACT_QUARANTINE
                : act[0] == 't' ? SG_MACT_TEMPFAIL
                                : SG_MACT_ACCEPT;
    sg_mc_inc(&m->actions[dir][a], 1);
    sg_mhist_observe(&m->message_duration[dir], elapsed_ns / 1000);
    if (vr == NULL)
        return;
    SG_MC_INC_AT(m->verdicts, vr->verdict);
    SG_MC_INC_AT(m->spf, vr->spf_checked ? vr->spf.result : SG_SPF_NONE);
    if (vr->ndkim == 0)
        SG_MC_INC_AT(m->dkim, SG_DKIM_NONE);
    for (size_t i = 0; i < vr->ndkim; i++)
        SG_MC_INC_AT(m->dkim, vr->dkim[i].result);
    SG_MC_INC_AT(m->dmarc, vr->dmarc.result);
    if (vr->arc != NULL)
        SG_MC_INC_AT(m->arc, vr->arc->cv);
}

static void count_failsafe(session *s, sg_mfs cause)
{
    sg_mc_inc(&s->w->metrics->failsafe[cause], 1);
}

static void log_message(session *s, const char *act, const char *why, const sg_verdict_result *vr)
{
    char line[4096], tmp[64];
    size_t pos = 0;
    line[pos++] = '{';
    line[pos] = '\0';
    jkv(line, sizeof(line), &pos, "queue_id", s->queue_id[0] ? s->queue_id : NULL);
    jkv(line, sizeof(line), &pos, "client", s->client_ip);
    jkv(line, sizeof(line), &pos, "client_name", s->client_name);
    jkv(line, sizeof(line), &pos, "helo", s->helo);
    jkv(line, sizeof(line), &pos, "mail_from", s->mail_from ? s->mail_from : "");
    jkv(line, sizeof(line), &pos, "direction", s->outbound ? "outbound" : "inbound");
    if (s->login[0])
        jkv(line, sizeof(line), &pos, "login", s->login);
    if (s->outbound) {
        jkv(line, sizeof(line), &pos, "from", s->from_addr ? s->from_addr : "");
        snprintf(tmp, sizeof(tmp), "%zu", s->signer ? s->nkeys : (size_t)0);
        jkv(line, sizeof(line), &pos, "signatures", tmp);
    }
    if (vr != NULL) {
        jkv(line, sizeof(line), &pos, "verdict", sg_verdict_kind_str(vr->verdict));
        jkv(line, sizeof(line), &pos, "spf",
            vr->spf_checked ? sg_spf_result_str(vr->spf.result) : "none");
        jkv(line, sizeof(line), &pos, "dmarc", sg_dmarc_result_str(vr->dmarc.result));
        jkv(line, sizeof(line), &pos, "header_from", vr->dmarc.author_domain);
        jkv(line, sizeof(line), &pos, "authres", vr->authres_line);
    }
    jkv(line, sizeof(line), &pos, "action", act);
    jkv(line, sizeof(line), &pos, "why", why);
    uint64_t elapsed = uv_hrtime() - s->t0;
    count_message(s, act, vr, elapsed);
    snprintf(tmp, sizeof(tmp), "%.3f", (double)elapsed / 1e6);
    jkv(line, sizeof(line), &pos, "ms", tmp);
    if (pos + 2 < sizeof(line))
        line[pos++] = '}';
    line[pos] = '\0';
    sg_log(s->w->srv, "%s", line);
}

/* ------------------------------------------------------------------------ */
/* replies                                                                   */

static void reply(session *s, char cmd)
{
    sg_milter_put_simple(&s->out, cmd);
}

/* The final answer to a message (EOM, or earlier for MAIL). */
static void answer(session *s, action a, const char *smtp_reply)
{
    switch (a) {
    case ACT_CONTINUE:
        reply(s, SG_MR_CONTINUE);
        break;
    case ACT_ACCEPT:
        reply(s, SG_MR_ACCEPT);
        break;
    case ACT_QUARANTINE:
        reply(s, SG_MR_ACCEPT);
        break;
    case ACT_REJECT:
        if (smtp_reply)
            sg_milter_put_replycode(&s->out, smtp_reply);
        else
            reply(s, SG_MR_REJECT);
        break;
    case ACT_TEMPFAIL:
        if (smtp_reply)
            sg_milter_put_replycode(&s->out, smtp_reply);
        else
            reply(s, SG_MR_TEMPFAIL);
        break;
    }
}

/* Forged verdict headers are never trusted: delete every
 * Authentication-Results field claiming our authserv-id, last first so
 * the ordinals stay right. */
static void delete_forged_authres(session *s)
{
    if (!(s->actions & SG_MF_CHGHDRS))
        return;
    for (size_t i = s->n_ar_ours; i-- > 0;)
        sg_milter_put_chgheader(&s->out, s->ar_ours[i], "Authentication-Results", "");
}

static void failsafe(session *s, const char *why)
{
    int accept = s->pol->cfg.failsafe == SG_FAILSAFE_ACCEPT;
    count_failsafe(s, why == MSG_TIMEOUT    ? SG_MFS_TIMEOUT
                      : why == MSG_OVERLOAD ? SG_MFS_OVERLOAD
                                            : SG_MFS_INTERNAL);
    log_message(s, accept ? "accept" : "tempfail", why, NULL);
    if (accept)
        delete_forged_authres(s);
    answer(s, accept ? ACT_CONTINUE : ACT_TEMPFAIL,
           accept ? NULL : "451 4.7.1 Message cannot be checked now, try again later");
}

/* ------------------------------------------------------------------------ */
/* outbound: sender ownership and signing                                    */

static int on_out_headers(const sg_header *f, size_t n, void *payload)
{
    session *s = payload;
    const sg_maps *maps = s->pol->maps;
    const sg_header *from = NULL;
    size_t nfrom = 0;

    for (size_t i = 0; i < n; i++)
        if (sg_header_is(&f[i], "From")) {
            from = &f[i];
            nfrom++;
        }
    if (nfrom != 1) {
        if (fmt_alloc(&s->reject, "550 5.7.1 Message must have exactly one From field") < 0)
            s->reject = NULL, s->fail = "out of memory";
        return 0;
    }
    sg_addr_list list;
    size_t errpos;
    if (sg_addr_parse_list(s->arena, from->value, from->value_len, &list, &errpos) != 0 ||
        list.count != 1) {
        if (fmt_alloc(&s->reject, "550 5.7.1 From field must hold exactly one valid address") < 0)
            s->reject = NULL, s->fail = "out of memory";
        return 0;
    }
    s->from_addr = sg_arena_strdup(s->arena, "");
    {
        const sg_mailbox *mb = &list.mailboxes[0];
        size_t l = strlen(mb->local_unquoted) + strlen(mb->domain) + 2;
        char *a = sg_arena_alloc(s->arena, l);
        if (a == NULL) {
            s->fail = "out of memory";
            return 0;
        }
        snprintf(a, l, "%s@%s", mb->local_unquoted, mb->domain);
        s->from_addr = a;
    }

    /* Sender ownership: an authenticated login may use, in From and
     * Sender, only the addresses the sender map gives it. */
    if (s->login[0] && sg_maps_have_sender_map(maps)) {
        for (size_t i = 0; i < n; i++) {
            if (!sg_header_is(&f[i], "From") && !sg_header_is(&f[i], "Sender"))
                continue;
            sg_addr_list l;
            if (sg_addr_parse_list(s->arena, f[i].value, f[i].value_len, &l, &errpos) != 0) {
                if (fmt_alloc(&s->reject, "550 5.7.1 Unparsable %.*s field", (int)f[i].name_len,
                              f[i].name) < 0)
                    s->reject = NULL, s->fail = "out of memory";
                return 0;
            }
            for (size_t k = 0; k < l.count; k++) {
                const sg_mailbox *mb = &l.mailboxes[k];
                if (!sg_maps_sender_allowed(maps, s->login, mb->local_unquoted, mb->domain)) {
                    if (fmt_alloc(&s->reject, "550 5.7.1 %s is not allowed to send as <%s@%s>",
                                  s->login, mb->local, mb->domain) < 0)
                        s->reject = NULL, s->fail = "out of memory";
                    return 0;
                }
            }
        }
    }

    s->nkeys = sg_maps_signing_keys(maps, s->from_addr, s->keys, MAX_SIGN_KEYS);
    if (s->nkeys == 0)
        return 0;
    sg_dkim_sign_opts opts[MAX_SIGN_KEYS];
    for (size_t k = 0; k < s->nkeys; k++) {
        sg_dkim_sign_opts_init(&opts[k]);
        opts[k].domain = s->keys[k]->domain;
        opts[k].selector = s->keys[k]->selector;
        opts[k].key = s->keys[k]->key;
    }
    if (sg_dkim_signer_new(&s->signer, opts, s->nkeys) != 0 ||
        sg_dkim_sign_headers(s->signer, f, n) != 0) {
        s->fail = "signing set-up failed";
        sg_dkim_signer_free(s->signer);
        s->signer = NULL;
    }
    return 0;
}

static int on_out_body(const char *data, size_t len, void *payload)
{
    session *s = payload;
    if (s->signer && sg_dkim_sign_body(s->signer, data, len) != 0)
        s->fail = "signing failed";
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
    return 0;
fail:
    while (nf > 0)
        free(fields[--nf]);
    return -1;
}

static void outbound_eom(session *s)
{
    if (s->fail) {
        failsafe(s, s->fail);
        return;
    }
    if (s->reject) {
        log_message(s, "reject", s->reject, NULL);
        answer(s, ACT_REJECT, s->reject);
        return;
    }
    if (s->signer && !(s->actions & SG_MF_ADDHDRS)) {
        log_message(s, "accept", "unsigned: the MTA does not let us add header fields", NULL);
    } else if (s->signer) {
        const char *sig;
        size_t len;
        if (sg_dkim_sign_finish(s->signer, &sig, &len) != 0 || put_signatures(s, sig, len) != 0) {
            failsafe(s, "signing failed");
            return;
        }
        for (size_t k = 0; k < s->nkeys; k++)
            SG_MC_INC_AT(s->w->metrics->signatures, s->keys[k]->metric);
        log_message(s, "accept", "signed", NULL);
    } else {
        log_message(s, "accept", "no signing key for this sender", NULL);
    }
    delete_forged_authres(s);
    answer(s, ACT_ACCEPT, NULL);
}

/* ------------------------------------------------------------------------ */
/* inbound: verdict, Authentication-Results, disposition                     */

static int domain_listed(char *const *list, size_t n, const char *domain)
{
    for (size_t i = 0; i < n; i++)
        if (sg_domain_within(domain, list[i]))
            return 1;
    return 0;
}

static void inbound_done(const sg_verdict_result *vr, void *payload)
{
    session *s = payload;
    const sg_config *cfg = &s->pol->cfg;
    const char *from = vr->author.domain ? vr->author.domain : vr->dmarc.author_domain;
    s->waiting = 0;
    s->in_verdict_cb = 1;
    if (s->timer_live)
        uv_timer_stop(&s->timer);

    if (vr->temporary && cfg->failsafe != SG_FAILSAFE_ACCEPT) {
        count_failsafe(s, SG_MFS_DNS);
        log_message(s, "tempfail", vr->reason, vr);
        answer(s, ACT_TEMPFAIL, "451 4.7.1 Sender authentication is temporarily unavailable");
        goto out;
    }

    delete_forged_authres(s);
    if (vr->authres && (s->actions & SG_MF_ADDHDRS)) {
        size_t l = strlen(vr->authres);
        char *ar = malloc(l + 2);
        if (ar == NULL) {
            failsafe(s, "out of memory");
            goto out;
        }
        char *o = ar;
        if (s->proto & SG_MP_HDR_LEADSPC)
            *o++ = ' ';
        for (size_t i = 0; i < l; i++)
            if (vr->authres[i] != '\r')
                *o++ = vr->authres[i];
        *o = '\0';
        sg_milter_put_insheader(&s->out, 0, "Authentication-Results", ar);
        free(ar);
    }
    if (vr->temporary) {
        count_failsafe(s, SG_MFS_DNS);
        log_message(s, "accept", vr->reason, vr);
        answer(s, ACT_CONTINUE, NULL);
        goto out;
    }

    /* Local rules first (a forged protected domain, several From
     * addresses), then what the From domain's DMARC policy asks. */
    char msg[512];
    action a = ACT_CONTINUE;
    const char *why = vr->reason;
    if (vr->rule == SG_VERDICT_RULE_PROTECTED && cfg->reject_protected_fail) {
        a = ACT_REJECT;
        snprintf(msg, sizeof(msg), "550 5.7.1 Message claims to be from %s but is not",
                 from ? from : "one of our domains");
        why = vr->reason;
    } else if (vr->rule == SG_VERDICT_RULE_MULTIPLE_FROM && cfg->dmarc_enforce) {
        a = ACT_REJECT;
        snprintf(msg, sizeof(msg), "550 5.7.1 Message must have exactly one author address");
    } else if (vr->dmarc.result == SG_DMARC_RESULT_FAIL && cfg->dmarc_enforce &&
               vr->dmarc.disposition == SG_DMARC_DISP_REJECT) {
        if (domain_listed(cfg->never_reject_domains, cfg->n_never_reject_domains, from)) {
            a = ACT_QUARANTINE;
            why = "DMARC reject downgraded to quarantine (never_reject_domains)";
        } else {
            a = ACT_REJECT;
            snprintf(msg, sizeof(msg), "550 5.7.1 DMARC policy of %s rejects this message",
                     from ? from : "the sender");
        }
    } else if (vr->dmarc.result == SG_DMARC_RESULT_FAIL && cfg->dmarc_enforce &&
               vr->dmarc.disposition == SG_DMARC_DISP_QUARANTINE) {
        a = ACT_QUARANTINE;
    }
    if (a == ACT_QUARANTINE && (s->actions & SG_MF_QUARANTINE))
        sg_milter_put_quarantine(&s->out, why);
    log_message(s,
                a == ACT_REJECT       ? "reject"
                : a == ACT_QUARANTINE ? "quarantine"
                                      : "accept",
                why, vr);
    answer(s, a == ACT_QUARANTINE ? ACT_CONTINUE : a, a == ACT_REJECT ? msg : NULL);
out:
    message_reset(s);
    s->in_verdict_cb = 0;
    flush(s);
}

static void on_timeout(uv_timer_t *t)
{
    session *s = t->data;
    if (!s->waiting)
        return;
    s->waiting = 0;
    failsafe(s, MSG_TIMEOUT);
    message_reset(s);
    flush(s);
}

/* ------------------------------------------------------------------------ */
/* message state                                                             */

static void message_reset(session *s)
{
    sg_worker_verdict_done(s->w, s->verdict, s->pol, s->in_verdict_cb);
    s->verdict = NULL;
    sg_msg_parser_free(s->parser);
    s->parser = NULL;
    sg_dkim_signer_free(s->signer);
    s->signer = NULL;
    sg_arena_free(s->arena);
    s->arena = NULL;
    free(s->mail_from);
    s->mail_from = NULL;
    free(s->reject);
    s->reject = NULL;
    s->fail = NULL;
    s->in_msg = 0;
    s->outbound = 0;
    s->waiting = 0;
    s->size = 0;
    s->nkeys = 0;
    s->from_addr = NULL;
    s->ar_seen = 0;
    s->n_ar_ours = 0;
    s->login[0] = '\0';
    s->queue_id[0] = '\0';
    if (s->timer_live)
        uv_timer_stop(&s->timer);
}

static void message_start(session *s, const char *path)
{
    const sg_config *cfg = &s->pol->cfg;
    s->in_msg = 1;
    s->t0 = uv_hrtime();
    if (sg_arena_new(&s->arena, 8192) != 0) {
        s->fail = "out of memory";
        return;
    }
    /* reverse-path: strip <> */
    size_t l = strlen(path);
    if (l >= 2 && path[0] == '<' && path[l - 1] == '>') {
        path++;
        l -= 2;
    }
    s->mail_from = strndup(path, l);
    if (s->mail_from == NULL) {
        s->fail = "out of memory";
        return;
    }
    s->outbound = s->login[0] != '\0' || s->internal; /* also for an overload's log and metrics */
    if (s->overloaded) {
        s->fail = MSG_OVERLOAD;
        return;
    }
    if (s->timer_live)
        uv_timer_start(&s->timer, on_timeout, (uint64_t)cfg->message_timeout_s * 1000, 0);

    if (s->outbound) {
        if (s->login[0] && sg_maps_have_sender_map(s->pol->maps) && s->mail_from[0]) {
            sg_mailbox mb;
            if (sg_addr_parse_path(s->arena, s->mail_from, strlen(s->mail_from), &mb) != 0) {
                if (fmt_alloc(&s->reject, "553 5.1.7 Malformed sender address") < 0)
                    s->reject = NULL, s->fail = "out of memory";
                return;
            }
            if (!sg_maps_sender_allowed(s->pol->maps, s->login, mb.local_unquoted, mb.domain)) {
                if (fmt_alloc(&s->reject, "550 5.7.1 %s is not allowed to send as <%s>", s->login,
                              s->mail_from) < 0)
                    s->reject = NULL, s->fail = "out of memory";
                return;
            }
        }
        sg_msg_callbacks cbs = {.on_headers = on_out_headers, .on_body = on_out_body};
        if (sg_msg_parser_new(&s->parser, NULL, &cbs, s) != 0)
            s->fail = "out of memory";
        return;
    }

    sg_verdict_opts o;
    sg_verdict_opts_init(&o);
    o.authserv_id = s->pol->authserv_id;
    o.protected_domains = (const char *const *)cfg->protected_domains;
    o.nprotected = cfg->n_protected_domains;
    o.keycache = s->w->keycache;
    o.spf_cache = s->w->spf_cache;
    /* a verdict of an earlier message, reset, when the worker has one */
    if ((s->verdict = sg_worker_verdict_get(s->w, s->pol)) == NULL &&
        sg_verdict_new(&s->verdict, s->w->resolver, &o) != 0) {
        s->fail = "out of memory";
        return;
    }
    sg_verdict_envelope env = {
        .client_ip = s->client_ip[0] ? s->client_ip : NULL,
        .helo = s->helo[0] ? s->helo : NULL,
        .mail_from = s->mail_from,
    };
    if (sg_verdict_envelope_set(s->verdict, &env) != 0)
        s->fail = "SPF set-up failed";
}

/* Message bytes from the MTA (header lines rebuilt, body chunks). */
static void message_feed(session *s, const char *data, size_t len)
{
    int rc = 0;
    if (!s->in_msg || s->fail || s->reject)
        return;
    s->size += len;
    if (s->size > s->pol->cfg.max_message_size) {
        /* the sender controls this: a permanent answer, so no fail-safe
         * accept can be provoked this way */
        if (fmt_alloc(&s->reject, "552 5.3.4 Message too big to be checked") < 0)
            s->reject = NULL, s->fail = "out of memory";
        return;
    }
    if (s->outbound)
        rc = s->parser ? sg_msg_feed(s->parser, data, len) : 0;
    else if (s->verdict)
        rc = sg_verdict_feed(s->verdict, data, len);
    if (rc == SG_ELIMIT || rc == SG_ESYNTAX) {
        if (fmt_alloc(&s->reject, "%s",
                      rc == SG_ELIMIT ? "552 5.6.0 Message header exceeds our limits"
                                      : "550 5.6.0 Malformed message header") < 0)
            s->reject = NULL, s->fail = "out of memory";
    } else if (rc != 0) {
        s->fail = "message could not be processed";
    }
}

/* Does a milter header value hold a line end that is not a fold? The MTA
 * sends folded values with LF + WSP. A line end followed by anything else
 * means the MTA took as one field what the message parser - and a reader
 * of the stored message - takes as two: e.g. an Authentication-Results
 * field hidden inside another field, which our by-index deletion of
 * forged A-R fields would never reach. Such a message is refused like any
 * other malformed header (the one line-end rule: message.c; a bare CR or
 * NUL is refused by the parser itself). */
static int value_splits_field(const char *v, size_t n)
{
    const char *p = v, *end = v + n;
    while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        p++;
        if (p == end || (*p != ' ' && *p != '\t'))
            return 1;
    }
    return 0;
}

static void header_feed(session *s, const char *name, const char *value, size_t vlen)
{
    if (s->in_msg && !s->fail && !s->reject && value_splits_field(value, vlen)) {
        if (fmt_alloc(&s->reject, "550 5.6.0 Malformed message header") < 0)
            s->reject = NULL, s->fail = "out of memory";
        return;
    }
    if (s->in_msg && !strcasecmp(name, "Authentication-Results")) {
        s->ar_seen++;
        if (sg_authres_value_claims(value, vlen, s->pol->authserv_id)) {
            if (s->n_ar_ours == s->cap_ar_ours) {
                size_t cap = s->cap_ar_ours ? s->cap_ar_ours * 2 : 4;
                uint32_t *n = realloc(s->ar_ours, cap * sizeof(*n));
                if (n == NULL) {
                    s->fail = "out of memory";
                    return;
                }
                s->ar_ours = n;
                s->cap_ar_ours = cap;
            }
            s->ar_ours[s->n_ar_ours++] = s->ar_seen;
        }
    }
    char stack[1024], *buf = stack;
    size_t nl = strlen(name), need = nl + vlen + 4;
    int lead = (s->proto & SG_MP_HDR_LEADSPC) != 0;
    if (need > sizeof(stack) && (buf = malloc(need)) == NULL) {
        s->fail = "out of memory";
        return;
    }
    size_t p = 0;
    memcpy(buf, name, nl);
    p = nl;
    buf[p++] = ':';
    if (!lead)
        buf[p++] = ' '; /* Postfix strips the space after the colon unless asked not to */
    memcpy(buf + p, value, vlen);
    p += vlen;
    buf[p++] = '\r';
    buf[p++] = '\n';
    message_feed(s, buf, p);
    if (buf != stack)
        free(buf);
}

/* ------------------------------------------------------------------------ */
/* the protocol                                                              */

static void macros(session *s, const sg_milter_cmd *c)
{
    for (size_t i = 0; i < c->u.macro.n; i++) {
        const char *n = c->u.macro.name[i], *v = c->u.macro.value[i];
        if (!strcmp(n, "i"))
            snprintf(s->queue_id, sizeof(s->queue_id), "%s", v);
        else if (!strcmp(n, "{auth_authen}"))
            snprintf(s->login, sizeof(s->login), "%s", v);
    }
}

static int parse_ip(const char *text, uint8_t out[16])
{
    struct in_addr a4;
    memset(out, 0, 16);
    if (inet_pton(AF_INET, text, &a4) == 1) {
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &a4, 4);
        return 0;
    }
    return inet_pton(AF_INET6, text, out) == 1 ? 0 : -1;
}

/* Returns -1 to close the connection. */
static int handle(session *s, const sg_milter_cmd *c)
{
    if (s->waiting && c->cmd != SG_MC_ABORT && c->cmd != SG_MC_QUIT && c->cmd != SG_MC_QUIT_NC &&
        c->cmd != SG_MC_MACRO)
        return -1; /* the MTA must wait for our EOM answer */

    switch (c->cmd) {
    case SG_MC_OPTNEG: {
        if (c->u.optneg.version < 6)
            return -1;
        s->actions = c->u.optneg.actions & WANT_ACTIONS;
        s->proto = c->u.optneg.protocol & WANT_PROTOCOL;
        const char *sym[7] = {0};
        if (s->actions & SG_MF_SETSYMLIST) {
            /* Only what we read: fewer and smaller macro packets. The
             * client address comes in the CONNECT packet itself. Postfix
             * takes an empty list as "main.cf's list" (its default for
             * connect, RCPT, DATA and every header is not empty), so a
             * stage we want nothing from asks for a name it never
             * defines. */
            sym[SG_MS_CONNECT] = NO_MACROS;
            sym[SG_MS_HELO] = NO_MACROS;
            sym[SG_MS_MAIL] = "{auth_authen}";
            sym[SG_MS_RCPT] = NO_MACROS;
            sym[SG_MS_DATA] = NO_MACROS;
            sym[SG_MS_EOH] = NO_MACROS;
            sym[SG_MS_EOM] = "i";
        }
        sg_milter_put_optneg(&s->out, SG_MILTER_VERSION, s->actions, s->proto,
                             (s->actions & SG_MF_SETSYMLIST) ? sym : NULL);
        s->negotiated = 1;
        return 0;
    }
    case SG_MC_MACRO:
        macros(s, c);
        return 0;
    case SG_MC_CONNECT: {
        snprintf(s->client_name, sizeof(s->client_name), "%s", c->u.connect.hostname);
        s->client_ip[0] = '\0';
        s->helo[0] = '\0';
        s->internal = 0; /* nothing carries over from before a QUIT_NC */
        if (c->u.connect.family == '4' || c->u.connect.family == '6') {
            const char *a = c->u.connect.address;
            if (!strncasecmp(a, "IPv6:", 5))
                a += 5;
            uint8_t bin[16];
            if (parse_ip(a, bin) == 0) {
                snprintf(s->client_ip, sizeof(s->client_ip), "%s", a);
                s->internal = sg_cidr_match(s->pol->cfg.internal_networks,
                                            s->pol->cfg.n_internal_networks, bin);
            }
        } else if (c->u.connect.family == 'L') {
            s->internal = 1; /* a local socket: a program on this host */
        }
        if (!(s->proto & SG_MP_NR_CONN))
            reply(s, SG_MR_CONTINUE);
        return 0;
    }
    case SG_MC_HELO:
        snprintf(s->helo, sizeof(s->helo), "%s", c->u.helo.name);
        if (!(s->proto & SG_MP_NR_HELO))
            reply(s, SG_MR_CONTINUE);
        return 0;
    case SG_MC_MAIL:
        if (s->in_msg) {
            /* a new MAIL without ABORT: drop the old message, keep the
             * login this MAIL's macros just set */
            char login[SMALL];
            memcpy(login, s->login, sizeof(login));
            message_reset(s);
            memcpy(s->login, login, sizeof(login));
        }
        message_start(s, c->u.args.argv[0]);
        if (s->proto & SG_MP_NR_MAIL) {
            /* The MTA does not wait for us here (one round trip less per
             * message); a refusal decided now is given at end of data. */
            return 0;
        }
        if (s->reject) {
            /* refuse at MAIL already: nothing of the message is accepted */
            log_message(s, "reject", s->reject, NULL);
            answer(s, ACT_REJECT, s->reject);
            message_reset(s);
        } else {
            reply(s, SG_MR_CONTINUE);
        }
        return 0;
    case SG_MC_RCPT:
        reply(s, SG_MR_CONTINUE);
        return 0;
    case SG_MC_DATA:
    case SG_MC_UNKNOWN:
        reply(s, SG_MR_CONTINUE);
        return 0;
    case SG_MC_HEADER:
        header_feed(s, c->u.header.name, c->u.header.value, c->u.header.value_len);
        if (!(s->proto & SG_MP_NR_HDR))
            reply(s, SG_MR_CONTINUE);
        return 0;
    case SG_MC_EOH:
        message_feed(s, "\r\n", 2);
        if (!(s->proto & SG_MP_NR_EOH))
            reply(s, SG_MR_CONTINUE);
        return 0;
    case SG_MC_BODY:
        message_feed(s, c->u.body.data, c->u.body.len);
        if (!(s->proto & SG_MP_NR_BODY))
            reply(s, SG_MR_CONTINUE);
        return 0;
    case SG_MC_BODYEOB:
        if (c->u.body.len)
            message_feed(s, c->u.body.data, c->u.body.len);
        if (!s->in_msg) {
            /* MAIL was skipped or refused: nothing to judge */
            reply(s, SG_MR_CONTINUE);
            return 0;
        }
        if (s->outbound && !s->fail && !s->reject && s->parser && sg_msg_finish(s->parser) != 0 &&
            !s->reject)
            s->fail = "malformed message";
        if (s->reject) {
            log_message(s, "reject", s->reject, NULL);
            answer(s, ACT_REJECT, s->reject);
        } else if (s->fail) {
            failsafe(s, s->fail);
        } else if (s->outbound) {
            outbound_eom(s);
        } else {
            s->waiting = 1;
            if (s->timer_live)
                uv_timer_start(&s->timer, on_timeout,
                               (uint64_t)s->pol->cfg.message_timeout_s * 1000, 0);
            int frc = sg_verdict_finish(s->verdict, inbound_done, s);
            if ((frc == SG_ESYNTAX || frc == SG_ELIMIT) && s->waiting) {
                /* the sender's header, judged at its end: refused for good
                 * as at the feed, never the fail-safe answer */
                const char *why = frc == SG_ELIMIT ? "552 5.6.0 Message header exceeds our limits"
                                                   : "550 5.6.0 Malformed message header";
                s->waiting = 0;
                log_message(s, "reject", why, NULL);
                answer(s, ACT_REJECT, why);
            } else if (frc != 0 && s->waiting) {
                s->waiting = 0;
                failsafe(s, "verdict failed");
            } else {
                return 0; /* inbound_done answers and resets */
            }
        }
        message_reset(s);
        return 0;
    case SG_MC_ABORT:
        message_reset(s);
        return 0;
    case SG_MC_QUIT:
    case SG_MC_QUIT_NC:
        return c->cmd == SG_MC_QUIT ? -1 : (message_reset(s), 0);
    }
    return -1;
}

/* ------------------------------------------------------------------------ */
/* I/O                                                                       */

static void on_write(uv_write_t *req, int status)
{
    free(req);
}

static void flush(session *s)
{
    if (s->out.oom) {
        session_close(s);
        return;
    }
    if (s->out.len == 0 || s->closing)
        return;
    /* A reply is a few hundred bytes and the socket has room: written at
     * once, it needs no request, no completion callback and no change of
     * the poll set (uv_try_write refuses while an earlier write waits, so
     * the order holds). Only what does not fit is queued. */
    size_t off = 0;
    uv_buf_t now = uv_buf_init((char *)s->out.buf, (unsigned)s->out.len);
    int n = uv_try_write(&s->h.stream, &now, 1);
    if (n >= 0)
        off = (size_t)n;
    else if (n != UV_EAGAIN) {
        session_close(s);
        return;
    }
    if (off == s->out.len) {
        s->out.len = 0;
        return;
    }
    /* The write request and the bytes travel together in one block. */
    uv_write_t *req = malloc(sizeof(*req) + s->out.len - off);
    if (req == NULL) {
        session_close(s);
        return;
    }
    char *data = (char *)(req + 1);
    memcpy(data, s->out.buf + off, s->out.len - off);
    uv_buf_t b = uv_buf_init(data, (unsigned)(s->out.len - off));
    s->out.len = 0;
    if (uv_write(req, &s->h.stream, &b, 1, on_write) != 0) {
        free(req);
        session_close(s);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    session *s = h->data;
    *buf = uv_buf_init(s->w->readbuf, sizeof(s->w->readbuf));
}

/* Postfix does not set TCP_NODELAY on its milter socket, and we ask it
 * not to wait for most replies, so it sends packets back to back: its
 * Nagle holds each one until ours is ACKed, and a delayed ACK costs 40 ms
 * a message. When a read leaves us nothing to answer, acknowledge at once
 * (setting TCP_QUICKACK sends the ACK that is due; the flag does not
 * stick). An answer carries the ACK itself: no extra packet then. */
static void ack_now(session *s)
{
#ifdef TCP_QUICKACK
    uv_os_fd_t fd;
    int one = 1;
    if (!sg_server_is_unix(s->w->srv) && !s->closing && uv_fileno(&s->h.handle, &fd) == 0)
        setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
#else
    (void)s;
#endif
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    session *s = st->data;
    sg_milter_cmd c;
    sg_milter_status rc;
    if (n < 0) {
        session_close(s);
        return;
    }
    if (n == 0)
        return;
    if (sg_milter_feed(&s->rd, buf->base, (size_t)n) != SG_MILTER_OK) {
        session_close(s);
        return;
    }
    while ((rc = sg_milter_next(&s->rd, &c)) == SG_MILTER_OK) {
        if (handle(s, &c) != 0) {
            flush(s);
            session_close(s);
            return;
        }
    }
    if (rc != SG_MILTER_NEED_MORE) {
        sg_log(s->w->srv, "{\"event\":\"protocol_error\",\"client\":\"%s\"}", s->client_ip);
        session_close(s);
        return;
    }
    if (s->out.len == 0 && !s->waiting) /* the MTA sends nothing while it waits for us */
        ack_now(s);
    flush(s);
}

static void on_closed(uv_handle_t *h)
{
    session *s = h->data;
    sg_worker *w = s->w;
    if (--s->closing_handles > 0)
        return; /* the last of the connection and its timer frees it */
    sg_milter_reader_free(&s->rd);
    sg_milter_out_free(&s->out);
    free(s->ar_ours);
    sg_policy_unref(s->pol);
    if (s->counted)
        sg_mc_inc(&w->metrics->sessions_closed, 1);
    free(s);
    w->nsessions--;
    sg_server_conn_add(w->srv, -1);
    if (w->draining && w->nsessions == 0)
        uv_stop(&w->loop);
}

static void session_close(session *s)
{
    if (s->closing)
        return;
    s->closing = 1;
    if (s->waiting)
        s->waiting = 0;
    message_reset(s);
    /* connection and timer close together: one loop turn, not two */
    s->closing_handles = 1;
    uv_close(&s->h.handle, on_closed);
    if (s->timer_live) {
        s->timer_live = 0;
        s->closing_handles++;
        uv_close((uv_handle_t *)&s->timer, on_closed);
    }
}

/* The MTA speaks first (OPTNEG). Over TCP the listener wakes us only once
 * that packet is there (TCP_DEFER_ACCEPT, server.c): read it now, in the
 * accept's wake-up, not one wake-up (a context switch each side) later.
 * Over a unix socket the accept usually wins the race with the MTA's first
 * write (measured: the read found nothing nearly every time), so there the
 * loop waits as usual. */
static void read_now(session *s)
{
    uv_os_fd_t fd;
    if (s->closing || sg_server_is_unix(s->w->srv) || uv_fileno(&s->h.handle, &fd) != 0)
        return;
    ssize_t n;
    do
        n = read(fd, s->w->readbuf, sizeof(s->w->readbuf));
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    uv_buf_t buf = uv_buf_init(s->w->readbuf, sizeof(s->w->readbuf));
    on_read(&s->h.stream, n > 0 ? n : n == 0 ? UV_EOF : uv_translate_sys_error(errno), &buf);
}

void sg_session_accept(sg_worker *w, int fd)
{
    session *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        if (fd >= 0)
            close(fd); /* the MTA applies its milter_default_action */
        return;        /* the connection stays in the backlog; the MTA times out */
    }
    s->w = w;
    s->pol = sg_server_policy(w->srv);
    sg_milter_reader_init(&s->rd, SG_MILTER_MAX_PACKET);
    if (sg_server_is_unix(w->srv))
        uv_pipe_init(&w->loop, &s->h.pipe, 0);
    else
        uv_tcp_init(&w->loop, &s->h.tcp);
    s->h.handle.data = s;
    w->nsessions++;
    unsigned total = sg_server_conn_add(w->srv, 1);
    int rc = fd < 0                      ? uv_accept(&w->listener.stream, &s->h.stream)
             : sg_server_is_unix(w->srv) ? uv_pipe_open(&s->h.pipe, fd)
                                         : uv_tcp_open(&s->h.tcp, fd);
    if (rc != 0) {
        if (fd >= 0)
            close(fd);
        s->closing = 1;
        s->closing_handles = 1;
        uv_close(&s->h.handle, on_closed);
        return;
    }
    s->counted = 1;
    sg_mc_inc(&w->metrics->sessions_opened, 1);
    if (!sg_server_is_unix(w->srv))
        uv_tcp_nodelay(&s->h.tcp, 1); /* Nagle vs delayed ACK stalls ~40 ms a packet */
    if (uv_timer_init(&w->loop, &s->timer) == 0) {
        s->timer.data = s;
        s->timer_live = 1;
    }
    s->overloaded = total > s->pol->cfg.max_connections;
    uv_read_start(&s->h.stream, on_alloc, on_read);
    read_now(s);
}
