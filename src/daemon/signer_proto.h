/*
 * The signer's wire protocol: what spoofguardd's milter side and its
 * signer process (signer.c) say to each other over a SOCK_SEQPACKET
 * socketpair. One datagram is one message, so there is no framing to get
 * wrong; every message is at most SG_SP_MAX_MSG bytes. Pure code, no I/O:
 * the decoders check every length against the datagram and point into it.
 *
 * Every message starts with a type byte and a 32-bit big-endian id that
 * the answer repeats. Requests (milter -> signer):
 *   'S' sign:   n (1 byte, 1..SG_SP_MAX_ITEMS), then n times
 *               alg (1), key id length (2), key id, digest (32)
 *   'B' begin a key table: the next 'L's build a new one (the signer
 *               reads the KeyTable now: only paths it names load)
 *   'L' load:   key id length (2), key id (the key file's path)
 *   'C' commit: the table built since 'B' replaces the serving one
 * Answers (signer -> milter): the request's type in lower case, the id, a
 * status byte (SG_SP_OK or an error), then for a successful
 *   's': n (1), then n times signature length (2), signature
 *   'l': alg (1), bits (2)
 * and for a failed 'l' or 'b' a reason: length (2), text (printable ASCII).
 * 'r' (ready, id 0) is the signer's first message: its start-up status
 * and, always, a reason like 'l''s: why the start failed, or when ready a
 * warning for the log (length 0: none).
 */
#ifndef SG_DAEMON_SIGNER_PROTO_H
#define SG_DAEMON_SIGNER_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define SG_SP_MAX_MSG 16384
#define SG_SP_MAX_ITEMS 8    /* signatures per request (a message's keys) */
#define SG_SP_MAX_KEYID 1024 /* a key file's path */
#define SG_SP_MAX_SIG 1024   /* RSA-8192 */
#define SG_SP_MAX_REASON 256

enum {
    SG_SP_SIGN = 'S',
    SG_SP_BEGIN = 'B',
    SG_SP_LOAD = 'L',
    SG_SP_COMMIT = 'C',
    SG_SP_SIGNED = 's',
    SG_SP_BEGUN = 'b',
    SG_SP_LOADED = 'l',
    SG_SP_COMMITTED = 'c',
    SG_SP_READY = 'r',
};

/* Answer status. */
enum {
    SG_SP_OK = 0,
    SG_SP_ENOKEY = 1,  /* no key with that id (or not of that algorithm) */
    SG_SP_ECRYPTO = 2, /* the signing itself failed */
    SG_SP_ELOAD = 3,   /* the key file (or the KeyTable) cannot be read or parsed,
                        * or the KeyTable does not name it */
    SG_SP_EDIR = 4,    /* the key's folder was not open at start: restart */
    SG_SP_ESTATE = 5,  /* 'L' or 'C' without 'B' */
    SG_SP_ENOMEM = 6,
    SG_SP_EREQUEST = 7, /* a request the signer could not decode */
    SG_SP_NSTATUS
};

typedef struct {
    uint8_t alg; /* sg_dkim_alg */
    const char *keyid;
    size_t keyid_len;
    const uint8_t *digest; /* 32 bytes */
} sg_sp_item;

typedef struct {
    uint8_t type;
    uint32_t id;
    size_t n;                          /* 'S' */
    sg_sp_item items[SG_SP_MAX_ITEMS]; /* 'S'; 'L' uses items[0].keyid */
} sg_sp_request;

typedef struct {
    uint8_t type;
    uint32_t id;
    uint8_t status;
    size_t n; /* 's' */
    const uint8_t *sig[SG_SP_MAX_ITEMS];
    size_t siglen[SG_SP_MAX_ITEMS];
    uint8_t alg;        /* 'l' */
    unsigned bits;      /* 'l' */
    const char *reason; /* failed 'l' or 'b', 'r' (not terminated) */
    size_t reason_len;
} sg_sp_answer;

/* Encoders: the message's length, or 0 if r is not a valid message or
 * does not fit in cap. */
size_t sg_sp_encode_request(uint8_t *buf, size_t cap, const sg_sp_request *r);
size_t sg_sp_encode_answer(uint8_t *buf, size_t cap, const sg_sp_answer *a);
/* Decoders: 0 and *out pointing into buf, or -1 for anything but exactly
 * one valid message. */
int sg_sp_decode_request(const uint8_t *buf, size_t len, sg_sp_request *out);
int sg_sp_decode_answer(const uint8_t *buf, size_t len, sg_sp_answer *out);

#endif
