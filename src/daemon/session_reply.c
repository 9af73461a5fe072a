/*
 * What a session sends back and how a message or a connection ends: the
 * replies to the MTA, the metrics and the log line of each answer, the
 * report collection of an inbound one, the message reset, the writes and
 * the close. The ground of the session's files (session_priv.h): every
 * path that answers a message ends here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "reportcollect.h"
#include "session_priv.h"

/* ------------------------------------------------------------------------ */
/* metrics: one call per message, with its answer                            */

static void count_message(session *s, const char *act, const sg_verdict_result *vr,
                          uint64_t elapsed_ns)
{
    sg_metrics_shard *m = s->env->metrics;
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
    sg_mc_inc(&s->env->metrics->failsafe[cause], 1);
}

void log_message(session *s, const char *act, const char *why, const sg_verdict_result *vr)
{
    uint64_t elapsed = uv_hrtime() - s->t0;
    count_message(s, act, vr, elapsed);
    sg_log_msg m = {
        .queue_id = s->queue_id[0] ? s->queue_id : NULL,
        .client = s->client_ip,
        .client_name = s->client_name,
        .helo = s->helo,
        .mail_from = s->mail_from,
        .outbound = s->outbound,
        .login = s->login,
        .from = s->from_addr,
        /* what the message leaves with: the fields put on it, and only
         * when it is accepted (a 4xx or 5xx drops them; failsafe accept
         * lets it go unsigned) */
        .signatures = !strcmp(act, "accept") || !strcmp(act, "quarantine") ? s->nsigned : 0,
        .vr = vr,
        .action = act,
        .why = why,
        .ms = (double)elapsed / 1e6,
    };
    sg_log_message(s->env->log, &m);
}

/* ------------------------------------------------------------------------ */
/* replies                                                                   */

void reply(session *s, char cmd)
{
    sg_milter_put_simple(&s->out, cmd);
}

/* The final answer to a message (EOM, or earlier for MAIL).                 */
void answer(session *s, sg_action a, const char *smtp_reply)
{
    switch (a) {
    case SG_ACT_CONTINUE:
        reply(s, SG_MR_CONTINUE);
        break;
    case SG_ACT_ACCEPT:
        reply(s, SG_MR_ACCEPT);
        break;
    case SG_ACT_REJECT:
        if (smtp_reply)
            sg_milter_put_replycode(&s->out, smtp_reply);
        else
            reply(s, SG_MR_REJECT);
        break;
    case SG_ACT_TEMPFAIL:
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
void delete_forged_authres(session *s)
{
    if (!(s->actions & SG_MF_CHGHDRS)) {
        /* the MTA did not grant header changes: say so, since the
         * message leaves with fields that speak in our name */
        if (s->n_ar_ours > 0)
            sg_log(s->env->log,
                   "{\"event\":\"forged_authres_kept\",\"client\":\"%s\",\"queue_id\":\"%s\","
                   "\"fields\":%zu,\"why\":\"the MTA did not grant header changes (CHGHDRS)\"}",
                   s->client_ip, s->queue_id, s->n_ar_ours);
        return;
    }
    for (size_t i = s->n_ar_ours; i-- > 0;)
        sg_milter_put_chgheader(&s->out, s->ar_ours[i], "Authentication-Results", "");
}

/* The rest of the answer d decided: the metrics, the quarantine, the log
 * line and the reply. */
void give(session *s, const sg_disposition *d, const sg_verdict_result *vr)
{
    if (d->failsafe)
        count_failsafe(s, d->cause);
    if (d->quarantine && (s->actions & SG_MF_QUARANTINE))
        sg_milter_put_quarantine(&s->out, d->why);
    log_message(s, d->log_action, d->why, vr);
    /* a tempfailed message comes back and is counted then */
    if (vr && !s->outbound && s->env->reports && strcmp(d->log_action, "tempfail") != 0) {
        int64_t now = (int64_t)time(NULL);
        sg_rcollect_add(s->env->reports, s->env->worker_index, vr, s->client_ip, d->log_action,
                        d->override_type, d->override_comment, now);
        if (s->pol->cfg.failure_reports)
            sg_rcollect_failure(s->env->reports, s->env->worker_index, s->pol->psl, vr,
                                s->client_ip, s->mail_from, s->fr_hdr, s->fr_len, now);
    }
    answer(s, d->action, d->reply);
}

/* ------------------------------------------------------------------------ */
/* the connection's silence                                                  */

/* The MTA sends its option negotiation as it connects and every packet
 * whole: a connection silent that long, or stopped inside a packet, is
 * not an MTA's, and would hold one of max_connections for ever (adv16 F2).
 * Otherwise the MTA may be quiet while its SMTP client is: Postfix waits
 * up to smtpd_timeout (300 s) for each command, Sendmail up to
 * Timeout.command (1 h), and neither tells us. Longer than both, in or
 * between messages, then the connection is let go (while the MTA waits
 * for our answer, the message timer runs instead). At 600 s, Sendmail
 * found the filter gone after a client's pause and delivered unchecked
 * (adv20 F2). */
#define SILENT_MS 10000
#define IDLE_MS (65 * 60 * 1000)

static void on_silent(uv_timer_t *t)
{
    session *s = t->data;
    if (s->state == MSG_WAITING)
        return;
    sg_log(s->env->log, "{\"event\":\"milter_silent\",\"client\":\"%s\",\"why\":\"%s\"}",
           s->client_ip,
           !s->negotiated                ? "no option negotiation for 10 s"
           : s->rd.len != s->rd.consumed ? "inside a packet for 10 s"
                                         : "nothing for 65 minutes");
    session_close(s);
}

/* After each read, unless the MTA waits for our answer: 10 s until the
 * negotiation or while a packet is incomplete (not extended by a trickle
 * of bytes), else IDLE_MS from now. */
void watch_silence(session *s)
{
    if (!s->timer_live || s->state == MSG_WAITING)
        return;
    if (!s->negotiated || s->rd.len != s->rd.consumed) {
        if (!s->silence_short || !uv_is_active((uv_handle_t *)&s->timer))
            uv_timer_start(&s->timer, on_silent, SILENT_MS, 0);
        s->silence_short = 1;
    } else {
        uv_timer_start(&s->timer, on_silent, IDLE_MS, 0);
        s->silence_short = 0;
    }
}

/* ------------------------------------------------------------------------ */
/* message state                                                             */

void message_reset(session *s)
{
    sg_vpool_done(s->env->vpool, s->verdict, s->pol, s->state == MSG_ANSWERING);
    s->verdict = NULL;
    sg_msg_parser_free(s->parser);
    s->parser = NULL;
    sg_signer_cancel(s->env->signer, s->sign_req);
    s->sign_req = 0;
    if (s->ob_job)
        sg_obd_cancel(s->env->obd, s->ob_job);
    s->ob_job = NULL;
    s->rcpts = NULL; /* in the arena */
    s->nrcpts = s->cap_rcpts = 0;
    free(s->dsn);
    s->dsn = NULL;
    s->dsn_len = s->dsn_cap = 0;
    free(s->fr_hdr);
    s->fr_hdr = NULL;
    s->fr_len = 0;
    s->dsn_on = 0;
    sg_dkim_signer_free(s->signer);
    s->signer = NULL;
    sg_arcseal_free(s->seal);
    s->seal = NULL;
    s->sealing = 0;
    s->pend_vr = NULL;
    sg_arena_free(s->arena);
    s->arena = NULL;
    free(s->mail_from);
    s->mail_from = NULL;
    free(s->reject);
    s->reject = NULL;
    s->fail = NULL;
    s->state = MSG_NONE;
    s->outbound = 0;
    s->size = 0;
    s->nkeys = 0;
    s->nsigned = 0;
    s->out_line = 0;
    s->long_line = 0;
    s->sm_rewrite = 0;
    s->from_addr = NULL;
    s->unsigned_why = NULL;
    s->ar_seen = 0;
    s->n_ar_ours = 0;
    s->login[0] = '\0';
    s->login_long = 0;
    s->queue_id[0] = '\0';
    /* the message's timer ends; the connection's silence is watched again:
     * an answer given from a callback (DNS, the signer, Redis) has no read
     * after it to do that, and a peer silent from then on held its
     * connection for ever (rev28 R28-3) */
    if (s->timer_live && !s->closing && !s->draining) { /* draining: the drain timer */
        uv_timer_stop(&s->timer);
        watch_silence(s);
    }
}

void drop_unanswered(session *s)
{
    /* else they went out before the ABORT (with NR_EOH, DATA and BODY
     * there is nothing else to keep past the mark), and the next message's
     * answer began with this one's A-R and DKIM-Signature fields (rev28
     * R28-1) */
    if (s->state == MSG_WAITING && s->out.len > s->eom_mark)
        s->out.len = s->eom_mark;
}

/* ------------------------------------------------------------------------ */
/* I/O                                                                       */

static void on_write(uv_write_t *req, int status)
{
    free(req);
}

static void on_drained(uv_timer_t *t)
{
    session_close(t->data);
}

/* The session ends after an answer the MTA has still to read, and it may
 * still be writing: with NR_BODY Postfix sends the next body chunk and EOM
 * without waiting. Closed with its bytes unread, the socket answers them
 * with a reset; the MTA's next write fails (Postfix: "write error", its
 * milter_default_action decides) before it reads our answer. So our FIN
 * goes after the answer, and what still comes is read and dropped (into
 * the loop's read buffer: no memory is needed) until the MTA's EOF, for
 * at most DRAIN_MS. */
#define DRAIN_MS 5000
static void session_linger(session *s)
{
    uv_os_fd_t fd;
    if (s->closing || s->draining)
        return;
    if (!s->timer_live || uv_fileno(&s->h.handle, &fd) != 0 || shutdown(fd, SHUT_WR) != 0) {
        session_close(s);
        return;
    }
    if (s->state == MSG_WAITING)
        s->state = MSG_OPEN;
    message_reset(s);
    s->draining = 1;
    uv_timer_start(&s->timer, on_drained, DRAIN_MS, 0);
}

/* The answer could not be built or queued (an allocation failed): 421
 * from a packet that needs no memory, then the session ends. Closed
 * without a word, the message was the MTA's to decide (Postfix's
 * milter_default_action; "accept" there took a p=reject forgery, adv27
 * MEM-7). 421 rather than a tempfail: the MTA ends the SMTP session too
 * (Postfix, Sendmail's smfi_setreply), where with this connection gone the
 * session's later messages were again the default's (rev21 R-11). Even
 * under `failsafe accept`: the deletions of forged Authentication-Results
 * fields are part of what could not be built. Before the negotiation
 * there is nothing the MTA would read as an answer; after QUIT it reads
 * nothing. */
#define UNBUILT_REPLY "421 4.3.0 Message cannot be checked now, try again later"
void answer_unbuilt(session *s)
{
    static const char pkt[] = "\0\0\0\x3a"
                              "y" UNBUILT_REPLY;
    _Static_assert(sizeof(pkt) == 4 + 0x3a, "the packet's length is its reply's");
    if (s->negotiated && !s->quit && !s->closing && !s->draining &&
        s->h.stream.write_queue_size == 0) {
        uv_buf_t b = uv_buf_init((char *)pkt, sizeof(pkt));
        if (uv_try_write(&s->h.stream, &b, 1) == (int)sizeof(pkt)) {
            count_failsafe(s, SG_MFS_INTERNAL);
            sg_log(s->env->log,
                   "{\"event\":\"out_of_memory\",\"client\":\"%s\",\"queue_id\":\"%s\","
                   "\"action\":\"tempfail\",\"reply\":\"" UNBUILT_REPLY "\"}",
                   s->client_ip, s->queue_id);
            s->out.len = s->eom_mark = 0;
            session_linger(s);
            return;
        }
    }
    s->out.len = s->eom_mark = 0;
    session_close(s);
}

void flush(session *s)
{
    if (s->out.oom) {
        answer_unbuilt(s);
        return;
    }
    if (s->out.len == 0 || s->closing || s->draining)
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
        s->out.len = s->eom_mark = 0;
        return;
    }
    /* An MTA reads each answer before it goes on (it waits for them), so
     * little is ever queued; a peer that sends commands and never reads
     * would have its answers pile up here without bound. */
    if (s->h.stream.write_queue_size + (s->out.len - off) > SESSION_MAX_QUEUED) {
        sg_log(s->env->log,
               "{\"event\":\"protocol_error\",\"client\":\"%s\",\"why\":"
               "\"answers not read\"}",
               s->client_ip);
        session_close(s);
        return;
    }
    /* The write request and the bytes travel together in one block. */
    uv_write_t *req = malloc(sizeof(*req) + s->out.len - off);
    if (req == NULL) {
        if (off == 0)
            answer_unbuilt(s);
        else /* part of the answer is out: another would not be read as one */
            session_close(s);
        return;
    }
    char *data = (char *)(req + 1);
    memcpy(data, s->out.buf + off, s->out.len - off);
    uv_buf_t b = uv_buf_init(data, (unsigned)(s->out.len - off));
    s->out.len = s->eom_mark = 0;
    if (uv_write(req, &s->h.stream, &b, 1, on_write) != 0) {
        free(req);
        session_close(s);
    }
}

void on_closed(uv_handle_t *h)
{
    session *s = h->data;
    const sg_session_env *env = s->env;
    if (--s->closing_handles > 0)
        return; /* the last of the connection and its timer frees it */
    sg_milter_reader_free(&s->rd);
    sg_milter_out_free(&s->out);
    free(s->ar_ours);
    sg_policy_unref(s->pol);
    if (s->counted)
        sg_mc_inc(&env->metrics->sessions_closed, 1);
    free(s);
    env->closed(env->payload);
}

/* After the MTA's QUIT the conversation is over: the MTA sent it as its
 * last word and closes its end without reading. Over TCP, closing with a
 * reset rather than a FIN spares the MTA a TIME_WAIT socket for each
 * connection: Postfix opens one per SMTP session, and 60 s of TIME_WAIT at
 * 500 sessions a second would hold more than the 28,232 ephemeral ports
 * Linux has towards our one address and port. It also spares both kernels
 * the FIN and ACK exchange (~3 us of our CPU a message, bench/README.md).
 * Only after QUIT: on any other close the MTA may still be reading. */
static void reset_on_close(session *s)
{
    uv_os_fd_t fd;
    struct linger now = {.l_onoff = 1, .l_linger = 0};
    if (!s->env->is_unix && uv_fileno(&s->h.handle, &fd) == 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &now, sizeof(now));
}

void session_close(session *s)
{
    if (s->closing)
        return;
    s->closing = 1;
    if (s->state == MSG_WAITING)
        s->state = MSG_OPEN;
    message_reset(s);
    if (s->quit)
        reset_on_close(s);
    /* connection and timer close together: one loop turn, not two */
    s->closing_handles = 1;
    uv_close(&s->h.handle, on_closed);
    if (s->timer_live) {
        s->timer_live = 0;
        s->closing_handles++;
        uv_close((uv_handle_t *)&s->timer, on_closed);
    }
}
