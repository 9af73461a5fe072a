/*
 * Lookalike domains and suspicious IDN labels, for the reader's view
 * (`spoofguard explain` and `spoofguard-view`; issue 13 item 4).
 *
 * A candidate domain (a From, Reply-To or Sender domain, a link host) is
 * compared with a reference set (our protected domains, an operator list,
 * the correspondents learned from the mailbox) and the answer says whether
 * it looks like one of them, which one, and why:
 *   skeleton       same UTS #39 confusable skeleton (ICU uspoof), different name
 *   other_suffix   the same (or a look-alike) name under another public suffix
 *   edit_distance  one insertion, deletion, substitution or transposition
 *                  on the registrable label (compared as skeletons)
 *   embedded       the reference name inside a longer one
 *                  (paypal-secure.example, paypal.com.evil.example,
 *                  bankexample.com for bank.example)
 *   idn            a label that fails UTS #39 Highly Restrictive: shown as
 *                  its A-label with the reason
 * Names are compared on registrable domains (libpsl). The reference itself
 * and every name under its registrable domain are "known", never lookalikes;
 * a correspondent's domain only as long as it resembles no protected or
 * operator name (a correspondent is learned from mail, which an attacker
 * can send from his own lookalike domain).
 * The thresholds that keep false hits rare are documented in
 * docs/lookalike.md.
 *
 * An internal static library (src/reader, target sg_lookalike), not part of
 * libspoofguard: the milter never loads ICU. Prefix sgr_ (reader).
 *
 * Threads: a builder is used by one thread. sgr_lookalike_build turns it
 * into an immutable checker that any number of threads may query at once;
 * to change the reference set, build a new one and swap the pointer.
 */
#ifndef SG_READER_LOOKALIKE_H
#define SG_READER_LOOKALIKE_H

#include <libpsl.h>
#include <stddef.h>

/* Return codes. A hostile candidate is never an error: it is an answer
 * (SGR_LOOKALIKE_INVALID). */
#define SGR_LOOKALIKE_OK 0
#define SGR_LOOKALIKE_ENOMEM (-1)
#define SGR_LOOKALIKE_EINVAL (-2) /* a reference that is not a domain name */
#define SGR_LOOKALIKE_EPSL (-3)   /* the public suffix list could not be loaded */
#define SGR_LOOKALIKE_EICU (-4)   /* ICU's spoof checker could not be opened */

/* Sizes of the result's fields, terminating NUL included. A-labels are at
 * most 253 octets (RFC 1035); a U-label form takes at most 4 bytes per
 * code point. */
#define SGR_LOOKALIKE_ASCII_MAX 256
#define SGR_LOOKALIKE_UNICODE_MAX 1024
#define SGR_LOOKALIKE_DETAIL_MAX 640
#define SGR_LOOKALIKE_MAX_HITS 8
/* Longest candidate accepted, in bytes (UTF-8). */
#define SGR_LOOKALIKE_INPUT_MAX 1024

/* Where a reference comes from. Protected and operator names are few and
 * chosen; correspondents are many and learned, so the short-name rules are
 * stricter for them (docs/lookalike.md). Lower value, higher priority:
 * hits come in this order. */
typedef enum {
    SGR_LOOKALIKE_PROTECTED = 0,     /* our own domains */
    SGR_LOOKALIKE_OPERATOR = 1,      /* the operator's list (brands, partners) */
    SGR_LOOKALIKE_CORRESPONDENT = 2, /* learned from verified mail */
} sgr_lookalike_source;

typedef enum {
    SGR_LOOKALIKE_SKELETON = 1,
    SGR_LOOKALIKE_OTHER_SUFFIX,
    SGR_LOOKALIKE_EDIT_DISTANCE,
    SGR_LOOKALIKE_EMBEDDED,
    SGR_LOOKALIKE_IDN,
} sgr_lookalike_kind;

typedef enum {
    SGR_LOOKALIKE_CLEAN = 0, /* a valid name that resembles no reference */
    SGR_LOOKALIKE_KNOWN,     /* a reference's registrable domain or below it (idn hits kept) */
    SGR_LOOKALIKE_SUSPECT,   /* at least one hit */
    SGR_LOOKALIKE_INVALID,   /* not a usable domain name: detail says why */
} sgr_lookalike_verdict;

typedef struct sgr_lookalike_hit {
    sgr_lookalike_kind kind;
    sgr_lookalike_source source;               /* of the reference; PROTECTED for idn (unused) */
    char reference[SGR_LOOKALIKE_UNICODE_MAX]; /* U-label form; "" for idn */
    char reference_ascii[SGR_LOOKALIKE_ASCII_MAX]; /* A-label form; "" for idn */
    char detail[SGR_LOOKALIKE_DETAIL_MAX];         /* one English sentence */
} sgr_lookalike_hit;

typedef struct sgr_lookalike_result {
    sgr_lookalike_verdict verdict;
    char ascii[SGR_LOOKALIKE_ASCII_MAX];       /* A-label form ("" if INVALID) */
    char unicode[SGR_LOOKALIKE_UNICODE_MAX];   /* U-label form ("" if INVALID) */
    char registrable[SGR_LOOKALIKE_ASCII_MAX]; /* registrable domain, A-label form */
    char registrable_unicode[SGR_LOOKALIKE_UNICODE_MAX];
    char known[SGR_LOOKALIKE_ASCII_MAX];   /* KNOWN: the matching reference */
    char detail[SGR_LOOKALIKE_DETAIL_MAX]; /* INVALID: why */
    size_t nhits;       /* hits[0..nhits): idn first, then by reference priority */
    size_t nhits_total; /* hits found, including those that did not fit */
    sgr_lookalike_hit hits[SGR_LOOKALIKE_MAX_HITS];
} sgr_lookalike_result;

typedef struct sgr_lookalike_builder sgr_lookalike_builder;
typedef struct sgr_lookalike sgr_lookalike;

/* A builder. psl_file: a public suffix list in the publicsuffix.org format
 * (tests pin tests/conformance/dmarc/psl/public_suffix_list.dat); NULL:
 * the newest list on the system (Debian's publicsuffix), else libpsl's
 * built-in one; "": libpsl's built-in list (no file read: fuzzing). */
int sgr_lookalike_builder_new(sgr_lookalike_builder **out, const char *psl_file);

/* Adds a reference name (U-label or A-label, any case, one trailing dot
 * allowed). References are kept per registrable domain: a second name in
 * the same one (mail.paypal.com after paypal.com) adds nothing but may
 * raise the source's priority. Returns
 * SGR_LOOKALIKE_EINVAL for a name that is not a valid IDNA2008 domain name
 * of at least two labels (nothing is added), ENOMEM. */
int sgr_lookalike_builder_add(sgr_lookalike_builder *b, const char *name, size_t len,
                              sgr_lookalike_source source);

/* The number of distinct references (registrable domains) so far. */
size_t sgr_lookalike_builder_count(const sgr_lookalike_builder *b);

/* Turns the builder into an immutable checker and frees the builder
 * (whatever the outcome). */
int sgr_lookalike_build(sgr_lookalike **out, sgr_lookalike_builder *b);

void sgr_lookalike_builder_free(sgr_lookalike_builder *b);
void sgr_lookalike_free(sgr_lookalike *lk);
/* The public suffix list the checker was built with (its builder's
 * psl_file): the reader's other checks use the same one. */
const psl_ctx_t *sgr_lookalike_psl(const sgr_lookalike *lk);

/* Checks one candidate (UTF-8 or A-label; any bytes: hostile input gives
 * verdict INVALID). Fills *res completely. Returns SGR_LOOKALIKE_OK, or
 * ENOMEM (res then says INVALID). Safe from several threads at once. */
int sgr_lookalike_check(const sgr_lookalike *lk, const char *name, size_t len,
                        sgr_lookalike_result *res);

/* How many times the checks so far compared a candidate with one
 * reference (rule by rule). Each check compares only the references an
 * index says could match, so this grows with the hits and the protected
 * names, not with the size of the reference set: for tests. */
size_t sgr_lookalike_compares(const sgr_lookalike *lk);

/* s (UTF-8, NUL-terminated) as every comparison here reads it: the UTS #39
 * skeleton, ASCII lower case, "vv" as "w" and "cl" as "d" ("Bаnk" with a
 * Cyrillic а reads "bank"; "m" reads "rn"). For the reader's rules that
 * compare other text with a domain the same way (a display name, explain.c).
 * out gets "" when the skeleton does not fit in cap bytes (or 4 KiB). */
void sgr_lookalike_skeleton(const sgr_lookalike *lk, const char *s, char *out, size_t cap);

/* "skeleton", "other_suffix", "edit_distance", "embedded", "idn": the
 * machine-readable names (JSON); never renamed. */
const char *sgr_lookalike_kind_name(sgr_lookalike_kind kind);
/* "protected", "operator", "correspondent". */
const char *sgr_lookalike_source_name(sgr_lookalike_source source);

#endif
