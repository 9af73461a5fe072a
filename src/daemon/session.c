/*
 * One milter session: the protocol state machine for one MTA connection,
 * its reads and the message's bytes as they come in. What a message then
 * needs lives below (session_priv.h): the inbound path (session_in.c),
 * the outbound path (session_out.c), the answer (session_answer.c), our
 * ARC set (session_seal.c), and the replies, message reset, writes and
 * close (session_reply.c).
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
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>

#include <spoofguard/arena.h>
#include <spoofguard/authres.h>
#include <spoofguard/msg.h>
#include <spoofguard/verdict.h>

#include "arcseal.h"
#include "disposition.h"
#include "milter_proto.h"
#include "session.h"
#include "reports/send.h"
#include "session_priv.h"

/* Recipients kept per outbound message for the abuse engine; Postfix's
 * smtpd_recipient_limit is 1000 by default. */
#define MAX_RCPTS 5000

/* ------------------------------------------------------------------------ */
/* message state                                                             */

/* A refusal decided now, given at MAIL or at end of data. */
static void set_reject(session *s, const char *smtp_reply)
{
    if ((s->reject = strdup(smtp_reply)) == NULL)
        s->fail = "out of memory";
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

/* Whether the client is one of internal_networks under the snapshot held
 * (a local socket, 'L', is internal whatever the networks). */
static void decide_internal(session *s)
{
    if (s->client_ip[0] != '\0')
        s->internal = sg_cidr_match(s->pol->cfg.internal_networks, s->pol->cfg.n_internal_networks,
                                    s->client_bin);
}

/* Each message is judged with the configuration current at its MAIL: a
 * login a reload took out of sender_map (or a key, a protected domain)
 * stops at the next message, not when the MTA's connection ends, and
 * Postfix keeps one for a whole SMTP session (adv36 F2). What the
 * connection decided from the configuration is decided again. Called
 * with no message open: nothing of the old snapshot is held then. */
static void policy_renew(session *s)
{
    if (s->env->policy != NULL && sg_policy_slot_renew(s->env->policy, &s->pol, &s->pol_swaps))
        decide_internal(s);
}

static void message_start(session *s, const char *path)
{
    s->state = MSG_OPEN;
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

    if (s->outbound && s->login_long) {
        /* two logins with one first 255 bytes would share one account's
         * counts and blocks (adv13 F7) */
        set_reject(s, "550 5.7.1 spoofguard: login name longer than 255 bytes");
        return;
    }
    if (s->outbound) {
        outbound_start(s);
        return;
    }

    inbound_start(s);
}

static void message_feed(session *s, const char *data, size_t len);

/* Message bytes from the MTA (header lines rebuilt, body chunks). */
static void message_feed(session *s, const char *data, size_t len)
{
    int rc = 0;
    if (s->state == MSG_NONE || s->fail || s->reject)
        return;
    s->size += len;
    if (s->size > s->pol->cfg.max_message_size) {
        /* the sender controls this: a permanent answer, so no fail-safe
         * accept can be provoked this way */
        set_reject(s, SG_REPLY_TOO_BIG);
        return;
    }
    if (s->dsn_on && s->dsn_len < DSN_MAX_BYTES)
        dsn_keep(s, data, len);
    if (s->outbound)
        rc = s->parser ? sg_msg_feed(s->parser, data, len) : 0;
    else if (s->verdict)
        rc = sg_verdict_feed(s->verdict, data, len);
    if (rc == 0 && s->seal)
        rc = sg_arcseal_feed(s->seal, data, len);
    if (sg_disposition_header_reply(rc) != NULL) {
        set_reject(s, sg_disposition_header_reply(rc));
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

/* The fields a failure report may show (reports/failure.c decides, and
 * redacts them), kept as they come; FR_HDR_MAX in all, whole fields only. */
#define FR_HDR_MAX 16384
static void keep_for_failure_report(session *s, const char *name, const char *field, size_t n)
{
    if (!sgrep_failure_field_kept(name, strlen(name)) || s->fr_len + n > FR_HDR_MAX)
        return;
    if (s->fr_hdr == NULL && (s->fr_hdr = malloc(FR_HDR_MAX)) == NULL)
        return; /* a report without the header, not a failed message */
    memcpy(s->fr_hdr + s->fr_len, field, n);
    s->fr_len += n;
}

static void header_feed(session *s, const char *name, const char *value, size_t vlen)
{
    if (s->state != MSG_NONE && !s->fail && !s->reject && value_splits_field(value, vlen)) {
        set_reject(s, sg_disposition_header_reply(SG_ESYNTAX));
        return;
    }
    if (s->state != MSG_NONE && !strcasecmp(name, "Authentication-Results")) {
        s->ar_seen++;
        if (sg_authres_value_claims(value, vlen, s->pol->authserv_id)) {
            if (s->n_ar_ours == s->cap_ar_ours) {
                size_t cap = s->cap_ar_ours ? s->cap_ar_ours * 2 : 4;
                uint32_t *n = realloc(s->ar_ours, cap * sizeof(*n));
                if (n == NULL) {
                    /* a forged field we cannot delete later: 421 now, as
                     * any answer that cannot be built; the fail-safe
                     * answer (accept, perhaps) would let it through
                     * (rev28 R28-4) */
                    s->out.oom = 1;
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
    if (s->state != MSG_NONE && !s->outbound && s->env->reports && s->pol->cfg.failure_reports)
        keep_for_failure_report(s, name, buf, p);
    message_feed(s, buf, p);
    if (buf != stack)
        free(buf);
}

/* ------------------------------------------------------------------------ */
/* the protocol                                                              */

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The login as the sender map names it. Sendmail hands {auth_authen}
 * over as RFC 3461 xtext ("anna+2Bwork" for anna+work: adv20 F4, such
 * logins were refused), Postfix as it is ("sales+ACME" is a login of its
 * own: rev18), so only Sendmail's is decoded (xtext). A "+XX" that would
 * give a control character stays as it is. 0, or -1 when it does not
 * fit: refused, never cut short. */
static int login_of(const char *v, int xtext, char *out, size_t cap)
{
    size_t o = 0;
    for (; *v; v++) {
        char c = *v;
        int hi = xtext && c == '+' ? hexval(v[1]) : -1, lo = hi >= 0 ? hexval(v[2]) : -1;
        if (lo >= 0 && hi * 16 + lo > 0x20 && hi * 16 + lo != 0x7f) {
            c = (char)(hi * 16 + lo);
            v += 2;
        }
        if (o + 1 >= cap)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

/* snprintf's "%s" cut, without its format machinery (four of these a
 * message, on the milter's hot path) */
static void copy_cut(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void macros(session *s, const sg_milter_cmd *c)
{
    const char *auth = NULL, *mta = NULL;
    if (s->state == MSG_WAITING)
        return; /* the message's facts are fixed once its EOM came: its
                 * answer is logged with its own login and queue id */
    if (c->u.macro.stage == SG_MC_MAIL) {
        s->login[0] = '\0';
        s->login_long = 0;
        s->mail_macros = 1;
    }
    for (size_t i = 0; i < c->u.macro.n; i++) {
        const char *n = c->u.macro.name[i], *v = c->u.macro.value[i];
        if (!strcmp(n, "i"))
            copy_cut(s->queue_id, sizeof(s->queue_id), v);
        else if (!strcmp(n, "{auth_authen}"))
            auth = v;
        else if (!strcmp(n, "v"))
            mta = v;
    }
    /* Sendmail's v is its version ("8.17.1.9"), Postfix's its mail_name
     * and version ("Postfix 3.7.11", whatever the site named it) */
    if (mta)
        s->mta_sendmail = *mta >= '0' && *mta <= '9';
    if (auth)
        s->login_long = login_of(auth, s->mta_sendmail, s->login, sizeof(s->login)) != 0;
}

/* An envelope recipient of an outbound message, for the abuse engine
 * (kept up to MAX_RCPTS; the MTA's own limit is lower). */
static void add_rcpt(session *s, const char *path)
{
    size_t l = strlen(path);
    if (l >= 2 && path[0] == '<' && path[l - 1] == '>') {
        path++;
        l -= 2;
    }
    if (s->nrcpts == s->cap_rcpts) {
        size_t cap = s->cap_rcpts ? s->cap_rcpts * 2 : 16;
        if (s->cap_rcpts == MAX_RCPTS)
            return;
        if (cap > MAX_RCPTS) /* doubling stopped at 4096 before: 5000 is documented */
            cap = MAX_RCPTS;
        const char **n = sg_arena_alloc(s->arena, cap * sizeof(*n));
        if (n == NULL)
            return;
        if (s->nrcpts)
            memcpy(n, s->rcpts, s->nrcpts * sizeof(*n));
        s->rcpts = n;
        s->cap_rcpts = cap;
    }
    const char *r = sg_arena_strndup(s->arena, path, l);
    if (r != NULL)
        s->rcpts[s->nrcpts++] = r;
}

/* Returns -1 to close the connection. */
static int handle(session *s, const sg_milter_cmd *c)
{
    if (s->state == MSG_WAITING && c->cmd != SG_MC_ABORT && c->cmd != SG_MC_QUIT &&
        c->cmd != SG_MC_QUIT_NC && c->cmd != SG_MC_MACRO)
        return -1; /* the MTA must wait for our EOM answer */
    if (!s->negotiated && c->cmd != SG_MC_OPTNEG)
        return -1; /* an MTA negotiates first (and the 10 s rule waits for it) */

    switch (c->cmd) {
    case SG_MC_OPTNEG: {
        /* once per connection: each answer is ~150 bytes, so a peer that
         * repeated a 17-byte OPTNEG without reading made us hold 9 bytes
         * for each it sent */
        if (c->u.optneg.version < 6 || s->negotiated)
            return -1;
        s->actions = c->u.optneg.actions & SG_MILTER_WANT_ACTIONS;
        s->proto = c->u.optneg.protocol & SG_MILTER_WANT_PROTOCOL;
        sg_milter_put_optneg(&s->out, SG_MILTER_VERSION, s->actions, s->proto,
                             (s->actions & SG_MF_SETSYMLIST) ? sg_milter_want_symlists : NULL);
        s->negotiated = !s->out.oom; /* else no answer is one the MTA would read */
        return 0;
    }
    case SG_MC_MACRO:
        macros(s, c);
        return 0;
    case SG_MC_CONNECT: {
        copy_cut(s->client_name, sizeof(s->client_name), c->u.connect.hostname);
        s->client_ip[0] = '\0';
        s->helo[0] = '\0';
        s->internal = 0; /* nothing carries over from before a QUIT_NC */
        s->mail_macros = 0;
        if (c->u.connect.family == '4' || c->u.connect.family == '6') {
            const char *a = c->u.connect.address;
            if (!strncasecmp(a, "IPv6:", 5))
                a += 5;
            if (parse_ip(a, s->client_bin) == 0) {
                copy_cut(s->client_ip, sizeof(s->client_ip), a);
                decide_internal(s);
            }
        } else if (c->u.connect.family == 'L') {
            s->internal = 1; /* a local socket: a program on this host */
        }
        /* No address at all ('U') is not "this host": Postfix says so of a
         * client behind a proxy that did not tell (PROXY UNKNOWN, XCLIENT
         * ADDR=[UNAVAILABLE]) as much as Sendmail of its -bs on standard
         * input (adv20 F5, left so: local programs submit over loopback) */
        if (!(s->proto & SG_MP_NR_CONN))
            reply(s, SG_MR_CONTINUE);
        return 0;
    }
    case SG_MC_HELO:
        copy_cut(s->helo, sizeof(s->helo), c->u.helo.name);
        if (!(s->proto & SG_MP_NR_HELO))
            reply(s, SG_MR_CONTINUE);
        return 0;
    case SG_MC_MAIL:
        if (s->state != MSG_NONE) {
            /* a new MAIL without ABORT: drop the old message, keep the
             * login this MAIL's macros just set */
            char login[SMALL];
            int login_long = s->login_long;
            memcpy(login, s->login, sizeof(login));
            message_reset(s);
            memcpy(s->login, login, sizeof(login));
            s->login_long = login_long;
        }
        /* a login is this MAIL's own, from its macro packet, or none: a
         * MAIL without ABORT and without {auth_authen} went out as the
         * previous message's user, signed (rev28 R28-2) */
        if (!s->mail_macros) {
            s->login[0] = '\0';
            s->login_long = 0;
        }
        s->mail_macros = 0;
        policy_renew(s);
        message_start(s, c->u.args.argv[0]);
        if (s->proto & SG_MP_NR_MAIL) {
            /* The MTA does not wait for us here (one round trip less per
             * message); a refusal decided now is given at end of data. */
            return 0;
        }
        if (s->reject) {
            /* refuse at MAIL already: nothing of the message is accepted */
            refuse(s, s->reject);
            message_reset(s);
        } else {
            reply(s, SG_MR_CONTINUE);
        }
        return 0;
    case SG_MC_RCPT:
        if (s->state == MSG_OPEN && (s->outbound || s->dsn_on) && s->arena && c->u.args.n > 0)
            add_rcpt(s, c->u.args.argv[0]);
        if (!(s->proto & SG_MP_NR_RCPT))
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
        s->eom_mark = s->out.len;
        if (c->u.body.len)
            message_feed(s, c->u.body.data, c->u.body.len);
        if (s->state == MSG_NONE) {
            /* MAIL was skipped or refused: nothing to judge */
            reply(s, SG_MR_CONTINUE);
            return 0;
        }
        if (s->outbound && !s->fail && !s->reject && s->parser && sg_msg_finish(s->parser) != 0 &&
            !s->reject)
            s->fail = "malformed message";
        if (s->reject) {
            refuse(s, s->reject);
        } else if (s->fail) {
            failsafe(s, s->fail);
        } else if (s->outbound) {
            if (outbound_eom(s))
                return 0; /* outbound_signed answers and resets */
        } else if (inbound_eom(s)) {
            return 0; /* inbound_done answers and resets */
        }
        message_reset(s);
        return 0;
    case SG_MC_ABORT:
        drop_unanswered(s);
        message_reset(s);
        return 0;
    case SG_MC_QUIT:
        s->quit = 1;
        return -1;
    case SG_MC_QUIT_NC:
        drop_unanswered(s);
        message_reset(s);
        return 0;
    }
    return -1;
}

/* ------------------------------------------------------------------------ */
/* I/O                                                                       */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    session *s = h->data;
    *buf = uv_buf_init(s->env->readbuf, s->env->readbuf_size);
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
    if (!s->env->is_unix && !s->closing && uv_fileno(&s->h.handle, &fd) == 0)
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
    if (n == 0 || s->draining)
        return;
    if (sg_milter_feed(&s->rd, buf->base, (size_t)n) != SG_MILTER_OK) {
        answer_unbuilt(s); /* the only failure: memory */
        return;
    }
    while ((rc = sg_milter_next(&s->rd, &c)) == SG_MILTER_OK) {
        if (handle(s, &c) != 0) {
            flush(s);
            session_close(s);
            return;
        }
        /* a last answer went (the static 421): what follows is dropped,
         * and the linger's timer is not to be moved (rev22 F6) */
        if (s->closing || s->draining)
            return;
    }
    if (rc != SG_MILTER_NEED_MORE) {
        sg_log(s->env->log, "{\"event\":\"protocol_error\",\"client\":\"%s\"}", s->client_ip);
        session_close(s);
        return;
    }
    watch_silence(s);
    if (s->out.len == 0 &&
        s->state != MSG_WAITING) /* the MTA sends nothing while it waits for us */
        ack_now(s);
    flush(s);
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
    if (s->closing || s->env->is_unix || uv_fileno(&s->h.handle, &fd) != 0)
        return;
    ssize_t n;
    do
        n = read(fd, s->env->readbuf, s->env->readbuf_size);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    uv_buf_t buf = uv_buf_init(s->env->readbuf, s->env->readbuf_size);
    on_read(&s->h.stream, n > 0 ? n : n == 0 ? UV_EOF : uv_translate_sys_error(errno), &buf);
}

void sg_session_accept(const sg_session_env *env, sg_policy *pol, unsigned pol_swaps,
                       unsigned conns, int fd)
{
    session *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        if (fd >= 0)
            close(fd); /* the MTA applies its milter_default_action */
        sg_policy_unref(pol);
        env->closed(env->payload);
        return; /* the connection stays in the backlog; the MTA times out */
    }
    s->env = env;
    s->pol = pol;
    s->pol_swaps = pol_swaps;
    sg_milter_reader_init(&s->rd, SG_MILTER_MAX_PACKET);
    if (env->is_unix)
        uv_pipe_init(env->loop, &s->h.pipe, 0);
    else
        uv_tcp_init(env->loop, &s->h.tcp);
    s->h.handle.data = s;
    int rc = fd < 0         ? uv_accept(env->listener, &s->h.stream)
             : env->is_unix ? uv_pipe_open(&s->h.pipe, fd)
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
    sg_mc_inc(&env->metrics->sessions_opened, 1);
    /* TCP_NODELAY: inherited from the listener (server.c) */
    if (uv_timer_init(env->loop, &s->timer) == 0) {
        s->timer.data = s;
        s->timer_live = 1;
        watch_silence(s); /* not negotiated yet: 10 s */
    }
    s->overloaded = conns > s->pol->cfg.max_connections;
    uv_read_start(&s->h.stream, on_alloc, on_read);
    read_now(s);
}
