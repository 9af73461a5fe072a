/*
 * The milter wire protocol (version 6, as Postfix 3.x and Sendmail 8.x
 * speak it): an incremental packet reader and the encoders for replies.
 * Pure code, no I/O: bytes in, decoded commands out; replies into a
 * caller buffer.
 *
 * A packet is a 4-byte big-endian length (counting the command byte),
 * one command byte, then data. A packet longer than the configured limit
 * or shorter than one byte is a protocol desync: fatal for that
 * connection only.
 */
#ifndef SG_DAEMON_MILTER_PROTO_H
#define SG_DAEMON_MILTER_PROTO_H

#include <stddef.h>
#include <stdint.h>

/* Commands from the MTA. */
enum {
    SG_MC_ABORT = 'A',
    SG_MC_BODY = 'B',
    SG_MC_CONNECT = 'C',
    SG_MC_MACRO = 'D',
    SG_MC_BODYEOB = 'E',
    SG_MC_HELO = 'H',
    SG_MC_QUIT_NC = 'K',
    SG_MC_HEADER = 'L',
    SG_MC_MAIL = 'M',
    SG_MC_EOH = 'N',
    SG_MC_OPTNEG = 'O',
    SG_MC_QUIT = 'Q',
    SG_MC_RCPT = 'R',
    SG_MC_DATA = 'T',
    SG_MC_UNKNOWN = 'U',
};

/* Replies and actions to the MTA. */
enum {
    SG_MR_ADDRCPT = '+',
    SG_MR_DELRCPT = '-',
    SG_MR_ACCEPT = 'a',
    SG_MR_REPLBODY = 'b',
    SG_MR_CONTINUE = 'c',
    SG_MR_DISCARD = 'd',
    SG_MR_CHGFROM = 'e',
    SG_MR_ADDHEADER = 'h',
    SG_MR_INSHEADER = 'i',
    SG_MR_CHGHEADER = 'm',
    SG_MR_PROGRESS = 'p',
    SG_MR_QUARANTINE = 'q',
    SG_MR_REJECT = 'r',
    SG_MR_SKIP = 's',
    SG_MR_TEMPFAIL = 't',
    SG_MR_REPLYCODE = 'y',
};

/* OPTNEG action flags (what the filter may do). */
#define SG_MF_ADDHDRS 0x001u
#define SG_MF_CHGBODY 0x002u
#define SG_MF_ADDRCPT 0x004u
#define SG_MF_DELRCPT 0x008u
#define SG_MF_CHGHDRS 0x010u
#define SG_MF_QUARANTINE 0x020u
#define SG_MF_CHGFROM 0x040u
#define SG_MF_SETSYMLIST 0x100u

/* OPTNEG protocol flags (what the MTA may leave out). */
#define SG_MP_NOCONNECT 0x000001u
#define SG_MP_NOHELO 0x000002u
#define SG_MP_NOMAIL 0x000004u
#define SG_MP_NORCPT 0x000008u
#define SG_MP_NOBODY 0x000010u
#define SG_MP_NOHDRS 0x000020u
#define SG_MP_NOEOH 0x000040u
#define SG_MP_NR_HDR 0x000080u
#define SG_MP_NOUNKNOWN 0x000100u
#define SG_MP_NODATA 0x000200u
#define SG_MP_SKIP 0x000400u
#define SG_MP_RCPT_REJ 0x000800u
#define SG_MP_NR_CONN 0x001000u
#define SG_MP_NR_HELO 0x002000u
#define SG_MP_NR_MAIL 0x004000u
#define SG_MP_NR_RCPT 0x008000u
#define SG_MP_NR_DATA 0x010000u
#define SG_MP_NR_UNKN 0x020000u
#define SG_MP_NR_EOH 0x040000u
#define SG_MP_NR_BODY 0x080000u
#define SG_MP_HDR_LEADSPC 0x100000u

/* Macro stages for SETSYMLIST. */
enum { SG_MS_CONNECT = 0, SG_MS_HELO, SG_MS_MAIL, SG_MS_RCPT, SG_MS_DATA, SG_MS_EOM, SG_MS_EOH };

#define SG_MILTER_VERSION 6

/* What spoofguardd negotiates (session.c; bench/milter_floor.c measures
 * the protocol's cost with the same). Protocol steps we want the MTA to
 * skip or not wait for: each avoided round trip is a wake-up less on both
 * sides, which is most of what a milter costs (PERFORMANCE.md). */
#define SG_MILTER_WANT_PROTOCOL                                                                    \
    (SG_MP_NOUNKNOWN | SG_MP_NODATA | SG_MP_NR_MAIL | SG_MP_NR_RCPT | SG_MP_NR_CONN |              \
     SG_MP_NR_HELO | SG_MP_NR_HDR | SG_MP_NR_EOH | SG_MP_NR_BODY | SG_MP_HDR_LEADSPC)
#define SG_MILTER_WANT_ACTIONS (SG_MF_ADDHDRS | SG_MF_CHGHDRS | SG_MF_QUARANTINE | SG_MF_SETSYMLIST)
/* The macro list we ask for at each stage (SETSYMLIST), indexed by SG_MS_*. */
extern const char *const sg_milter_want_symlists[7];
/* libmilter's own cap on one packet is 64 KiB of body plus framing, but
 * macros and headers can be longer; 1 MiB bounds memory per connection. */
#define SG_MILTER_MAX_PACKET (1024u * 1024u)
#define SG_MILTER_MAX_ARGS 64

/* One decoded command. All pointers point into the reader's buffer and
 * stay valid until the next sg_milter_next() call. */
typedef struct {
    char cmd;
    const char *data; /* raw packet data after the command byte */
    size_t len;
    union {
        struct {
            uint32_t version, actions, protocol;
        } optneg;
        struct {
            char stage; /* the command the macros belong to */
            size_t n;   /* pairs */
            const char *name[SG_MILTER_MAX_ARGS];
            const char *value[SG_MILTER_MAX_ARGS];
        } macro;
        struct {
            const char *hostname;
            char family; /* '4', '6', 'L' (unix), 'U' (unknown) */
            uint16_t port;
            const char *address; /* "" for unknown */
        } connect;
        struct {
            const char *name;
        } helo;
        struct {
            size_t n; /* argv[0] is the address, the rest ESMTP args */
            const char *argv[SG_MILTER_MAX_ARGS];
        } args; /* MAIL, RCPT */
        struct {
            const char *name;
            const char *value;
            size_t value_len;
        } header;
        struct {
            const char *data;
            size_t len;
        } body; /* BODY, BODYEOB (may be empty), UNKNOWN */
    } u;
} sg_milter_cmd;

typedef struct {
    unsigned char *buf;
    size_t len, cap;
    size_t consumed; /* bytes of buf already handed out as packets */
    size_t max_packet;
} sg_milter_reader;

typedef enum {
    SG_MILTER_OK = 0,        /* a command was decoded */
    SG_MILTER_NEED_MORE = 1, /* incomplete packet: feed more bytes */
    SG_MILTER_EPROTO = -1,   /* malformed packet: close the connection */
    SG_MILTER_ENOMEM = -2,
} sg_milter_status;

void sg_milter_reader_init(sg_milter_reader *r, size_t max_packet);
void sg_milter_reader_free(sg_milter_reader *r);
/* Append received bytes. */
sg_milter_status sg_milter_feed(sg_milter_reader *r, const void *data, size_t len);
/* Decode the next complete packet, if any. */
sg_milter_status sg_milter_next(sg_milter_reader *r, sg_milter_cmd *out);

/* --- encoders: append one packet to a growable output buffer --- */
typedef struct {
    unsigned char *buf;
    size_t len, cap;
    int oom; /* sticky: an append failed */
} sg_milter_out;

void sg_milter_out_free(sg_milter_out *o);
void sg_milter_put_simple(sg_milter_out *o, char cmd);
void sg_milter_put_optneg(sg_milter_out *o, uint32_t version, uint32_t actions, uint32_t protocol,
                          const char *const *symlists /* 7 entries indexed by SG_MS_*, or NULL */);
/* "550 5.7.1 text": code, then the text (multi-line not supported). */
void sg_milter_put_replycode(sg_milter_out *o, const char *smtp_reply);
void sg_milter_put_addheader(sg_milter_out *o, const char *name, const char *value);
void sg_milter_put_insheader(sg_milter_out *o, uint32_t index, const char *name, const char *value);
/* index: 1-based occurrence among fields of that name; value "" deletes. */
void sg_milter_put_chgheader(sg_milter_out *o, uint32_t index, const char *name, const char *value);
void sg_milter_put_quarantine(sg_milter_out *o, const char *reason);

#endif
