/*
 * The session's own files and what they share: the session struct, and
 * the functions one file calls in another. Each file calls only those
 * below it (tests/scripts/import_graph.sh): session.c (the connection,
 * the milter protocol, the message's bytes) above session_in.c and
 * session_out.c (the inbound and the outbound message), above
 * session_answer.c (a decided disposition applied), above session_seal.c
 * (our ARC set), above session_reply.c (replies, log line, message reset,
 * writes, close). The functions kept the names they had as session.c's
 * statics; nothing else in src/daemon defines them.
 */
#ifndef SG_DAEMON_SESSION_PRIV_H
#define SG_DAEMON_SESSION_PRIV_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include <spoofguard/arena.h>
#include <spoofguard/dkim.h>
#include <spoofguard/msg.h>
#include <spoofguard/verdict.h>

#include "arcseal.h"
#include "disposition.h"
#include "milter_proto.h"
#include "outbound.h"
#include "session_env.h"
#include "signer_client.h"

#define MAX_SIGN_KEYS 8
_Static_assert(MAX_SIGN_KEYS <= SG_SP_MAX_ITEMS, "one signer request per message");
#define SMALL 256
/* How long an inbound message waits for the signer to seal our ARC set. */
#define SEAL_WAIT_MS 2000
/* While the answer to end of message waits (DNS, the signer, Redis), the
 * MTA hears SMFIR_PROGRESS this often: Sendmail waits only 10 s for each
 * reply by default (T=R:10s; adv20 F1: a sender's slow DNS made it drop
 * the filter and deliver unchecked); Postfix takes it at any stage. */
#define PROGRESS_MS 4000
/* A delivery-status report is read from its first bytes only. */
#define DSN_MAX_BYTES (256u * 1024)
/* Answers waiting for the peer to read them (session_reply.c flush):
 * past this it is not an MTA and is dropped. */
#define SESSION_MAX_QUEUED (256u * 1024)

/* Where the current message is. */
typedef enum {
    MSG_NONE,      /* no message (before MAIL, after the answer) */
    MSG_OPEN,      /* MAIL seen: header and body come in */
    MSG_WAITING,   /* EOM seen, the verdict is pending: the MTA waits for us */
    MSG_ANSWERING, /* inside the verdict's callback: the verdict must not be freed now */
} msg_state;

typedef struct session {
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe;
        uv_stream_t stream;
        uv_handle_t handle;
    } h;
    const sg_session_env *env;
    sg_policy *pol;
    unsigned pol_swaps; /* the slot's swaps before pol was taken */
    sg_milter_reader rd;
    sg_milter_out out;
    /* the bytes of out queued before this message's EOM: what follows is
     * the message's answer in the making (header changes first), dropped
     * if the MTA aborts the message while it waits (rev28 R28-1) */
    size_t eom_mark;
    uint32_t proto;   /* negotiated protocol flags */
    uint32_t actions; /* negotiated actions */
    int negotiated;
    int closing;
    int draining;   /* our last answer is out: reading what still comes, to EOF */
    int quit;       /* the MTA said QUIT: nothing more will be said either way */
    int overloaded; /* over max_connections: every message gets 451 4.3.2 */
    uv_timer_t timer;
    int timer_live;
    int counted;         /* in sessions_opened: count it closed too */
    int closing_handles; /* handles whose close callback is still due */

    char client_ip[INET6_ADDRSTRLEN];
    uint8_t client_bin[16]; /* client_ip as IPv6 (IPv4 mapped), when client_ip is set */
    char client_name[SMALL];
    char helo[SMALL];
    int internal; /* client in internal_networks */

    /* the current message */
    msg_state state;
    int outbound;
    const char *fail;  /* why this message gets the fail-safe answer */
    char *reject;      /* a 5xx reply decided early (sender ownership) */
    char *mail_from;   /* reverse-path without <> */
    char login[SMALL]; /* {auth_authen} */
    int login_long;    /* {auth_authen} did not fit: refused, never cut short */
    int mail_macros;   /* a MAIL-stage macro packet came since the last MAIL */
    char queue_id[64];
    uint64_t size;
    uint64_t t0;
    uint64_t deadline; /* uv_now by which a waiting answer is given (wait_answer) */
    sg_arena *arena;
    sg_verdict *verdict;    /* inbound */
    sg_arcseal *seal;       /* inbound, with arc_seal_key */
    sg_msg_parser *parser;  /* outbound */
    sg_dkim_signer *signer; /* outbound */
    uint32_t sign_req;      /* the signer's request, while waiting for it */
    /* inbound, while our ARC set waits for the signer: the answer decided
     * (given once the set is on, or without it if the signer fails) */
    sg_disposition pend;
    const sg_verdict_result *pend_vr;
    int sealing;
    int gave_up; /* the budget ended the wait: sg_verdict_give_up (on_timeout) */
    const sg_map_key *keys[MAX_SIGN_KEYS];
    size_t nkeys;
    size_t nsigned; /* DKIM-Signature fields put on the message */
    /* outbound: a line longer than the MTA passes on whole, which it
     * breaks after we signed: over RFC 5322's 998 octets for Postfix
     * (smtp_line_length_limit), over 990 for Sendmail (its SMTP mailers'
     * L=, SMTP_MAILER_LL) */
    size_t out_line;   /* octets of the body line so far */
    int silence_short; /* the silence timer runs its 10 s (watch_silence) */
    int long_line;
    int sm_rewrite;   /* outbound: what Sendmail will change in a signed field (session_out.c) */
    int mta_sendmail; /* the MTA's v macro is not Postfix's: Sendmail's rules */
    const char *from_addr;    /* header From (outbound), in the arena */
    const char *unsigned_why; /* why a message with a key is not signed, or NULL */
    /* outbound: the envelope recipients (in the arena) and the abuse
     * engine's decision while it waits for Redis */
    const char **rcpts;
    size_t nrcpts, cap_rcpts;
    sg_obd_job *ob_job;
    const char *ob_why; /* the accept's reason, for the log line after the decision */
    char why_buf[512];  /* a reason made for this message (outbound_accept) */
    /* inbound with a null sender: the message, kept (bounded) in case it
     * is a delivery-status report for one of our logins */
    int dsn_on;
    char *dsn;
    size_t dsn_len, dsn_cap;
    /* inbound with failure_reports: the header fields a failure report may
     * show (redacted later), bounded */
    char *fr_hdr;
    size_t fr_len;
    /* Authentication-Results fields claiming our authserv-id, by ordinal
     * among fields of that name: deleted on every path that accepts */
    uint32_t ar_seen;
    uint32_t *ar_ours;
    size_t n_ar_ours, cap_ar_ours;
} session;

/* session_reply.c */
void log_message(session *s, const char *act, const char *why, const sg_verdict_result *vr);
void reply(session *s, char cmd);
void answer(session *s, sg_action a, const char *smtp_reply);
void delete_forged_authres(session *s);
void give(session *s, const sg_disposition *d, const sg_verdict_result *vr);
void message_reset(session *s);
/* ABORT or QUIT_NC while the MTA waits for our EOM answer: the header
 * changes already queued for it are dropped with the message. */
void drop_unanswered(session *s);
void flush(session *s);
/* The connection's silence timer, after a read or an answer. */
void watch_silence(session *s);
/* 421 without memory (the MTA ends the SMTP session), then the session
 * closes. */
void answer_unbuilt(session *s);
void on_closed(uv_handle_t *h);
void session_close(session *s);

/* session_seal.c */
int seal_start(session *s, const sg_disposition *d, const sg_verdict_result *vr);
/* Our ARC set is left off this message: logged and counted. */
void seal_left_off(session *s, const char *why);

/* session_answer.c */
extern const char MSG_TIMEOUT[];
extern const char MSG_OVERLOAD[];
int apply(session *s, const sg_disposition *d, const sg_verdict_result *vr);
void failsafe_as(session *s, sg_mfs cause, const char *why);
void failsafe(session *s, const char *why);
void refuse(session *s, const char *smtp_reply);
void on_timeout(uv_timer_t *t);
void wait_answer(session *s, uint64_t ms);

/* session_out.c */
void outbound_start(session *s);
int outbound_eom(session *s);

/* session_in.c */
void inbound_start(session *s);
int inbound_eom(session *s);
void dsn_keep(session *s, const char *data, size_t len);

#endif
