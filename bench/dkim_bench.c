/*
 * bench/dkim_bench.c - DKIM verify and sign throughput: spoofguard against
 * libopendkim (C API, this process), dkimpy and Mail::DKIM (subprocesses,
 * timed inside the scripts), and the crypto floor.
 *
 * Corpus: messages of 2 KiB, 20 KiB, 200 KiB and 2 MiB generated
 * deterministically (plain text with some long lines, runs of blanks,
 * trailing whitespace and trailing empty lines, so canonicalisation has
 * work to do), signed once by spoofguard with RSA-2048 rsa-sha256
 * relaxed/relaxed, and the 2 KiB one also with Ed25519. Keys are made
 * fresh each run; every verifier gets the key records from memory:
 *   spoofguard   the zone resolver, key cache warm (parsed EVP_PKEY reused)
 *   libopendkim  dkim_set_key_lookup() returns the record text (it parses
 *                the key for every message: that is its design)
 *   dkimpy       dnsfunc= returns the record
 *   Mail::DKIM   Mail::DKIM::DNS::query replaced by a hash lookup
 * The floor is what no implementation can beat: SHA-256 over the message
 * bytes plus one verification (or signature) with a key object parsed
 * once, OpenSSL directly.
 *
 * Every implementation's verdict on our signatures is counted (a
 * correctness signal), and the signatures the peers make in the sign runs
 * are verified by spoofguard.
 *
 * Separate worker processes measure spoofguard's peak RSS while verifying
 * the 2 MiB message streamed from a file, and while signing and verifying a
 * 50 MiB message generated on the fly (never held in memory; RSS must
 * stay under 16 MiB).
 *
 * Rates are per CPU second of the measuring process.
 *
 * spoofguard, libopendkim and the floor are measured round-robin, R rounds
 * of S CPU seconds each, and the median kept. The peers' scripts measure
 * each case once for R*S seconds.
 *
 *   dkim_bench [--seconds S] [--rounds R] [--stream-mib N] [--no-peers] [--keep]
 *   dkim_bench --profile-verify FILE DIR N   (verify FILE N times; for perf)
 */
#include "bench_corpus.h"

#include <spoofguard/dkim.h>
#include <spoofguard/dns.h>
#include <spoofguard/msg.h>

#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <opendkim/dkim.h>

#define DOMAIN BENCH_CORPUS_DOMAIN
#define SEL_RSA "rsa"
#define SEL_ED "ed"
#define CHUNK 65536
#define DEFAULT_SECONDS 0.2
#define DEFAULT_ROUNDS 3
#define DEFAULT_STREAM_MIB 50
/* RSS limit from issue 4 for the 50 MiB streamed verification */
#define STREAM_RSS_LIMIT_KB (16 * 1024)

/* A message streamed in chunks (50 MiB test): the header, then lines until
 * the body reaches `size`. */
typedef struct {
    bench_rng r;
    char *hdr;
    size_t hdr_len, hdr_off;
    uint64_t size, emitted;
    int tail_done;
} msg_stream;

static void stream_init(msg_stream *s, uint64_t seed, uint64_t size)
{
    memset(s, 0, sizeof *s);
    bench_rng_seed(&s->r, seed);
    s->hdr = bench_gen_header(seed);
    s->hdr_len = strlen(s->hdr);
    s->size = size;
}

/* Fill buf (cap >= 2 * 1200) with the next bytes; 0 at the end. */
static size_t stream_next(msg_stream *s, char *buf, size_t cap)
{
    size_t n = 0;
    if (s->hdr_off < s->hdr_len) {
        n = s->hdr_len - s->hdr_off;
        if (n > cap)
            n = cap;
        memcpy(buf, s->hdr + s->hdr_off, n);
        s->hdr_off += n;
        return n;
    }
    while (s->emitted < s->size && n + 1200 <= cap) {
        size_t ll = bench_gen_line(&s->r, buf + n);
        n += ll;
        s->emitted += ll;
    }
    if (n == 0 && !s->tail_done) {
        memcpy(buf, "\r\n\r\n", 4);
        s->tail_done = 1;
        n = 4;
    }
    return n;
}

/* ---- keys -------------------------------------------------------------------- */

typedef struct {
    EVP_PKEY *rsa, *ed;           /* private keys */
    EVP_PKEY *rsa_pub, *ed_pub;   /* public-only, parsed once (floor) */
    char *rsa_pem;                /* PKCS#1 PEM */
    char *ed_pem;                 /* PKCS#8 PEM */
    char *ed_seed_b64;            /* base64 of the 32-byte seed (dkimpy) */
    char *rsa_record, *ed_record; /* "v=DKIM1; k=...; p=..." */
} keyset;

static char *pem_of(EVP_PKEY *k, int traditional)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data, *out;
    long n;
    int ok = traditional ? PEM_write_bio_PrivateKey_traditional(b, k, NULL, NULL, 0, NULL, NULL)
                         : PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
    if (!ok)
        bench_die("PEM_write_bio_PrivateKey");
    n = BIO_get_mem_data(b, &data);
    out = malloc((size_t)n + 1);
    memcpy(out, data, (size_t)n);
    out[n] = '\0';
    BIO_free(b);
    return out;
}

static char *b64(const unsigned char *in, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    return out;
}

static EVP_PKEY *public_only(EVP_PKEY *k, char **record, const char *ktype)
{
    unsigned char *der = NULL, *p;
    const unsigned char *cp;
    int n = i2d_PUBKEY(k, &der);
    EVP_PKEY *pub;
    if (n <= 0)
        bench_die("i2d_PUBKEY");
    cp = der;
    pub = d2i_PUBKEY(NULL, &cp, n);
    if (strcmp(ktype, "rsa") == 0) {
        char *p64 = b64(der, (size_t)n);
        *record = bench_strf("v=DKIM1; k=rsa; p=%s", p64);
        free(p64);
    } else {
        /* RFC 8463 3: p= is the raw 32-byte public key, not an SPKI */
        unsigned char raw[32];
        size_t rl = sizeof raw;
        char *p64;
        if (!EVP_PKEY_get_raw_public_key(k, raw, &rl))
            bench_die("EVP_PKEY_get_raw_public_key");
        p64 = b64(raw, rl);
        *record = bench_strf("v=DKIM1; k=ed25519; p=%s", p64);
        free(p64);
    }
    p = der;
    OPENSSL_free(p);
    return pub;
}

static void keys_generate(keyset *k)
{
    unsigned char seed[32];
    size_t sl = sizeof seed;
    memset(k, 0, sizeof *k);
    k->rsa = EVP_RSA_gen(2048);
    k->ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (k->rsa == NULL || k->ed == NULL)
        bench_die("key generation failed");
    k->rsa_pem = pem_of(k->rsa, 1);
    k->ed_pem = pem_of(k->ed, 0);
    if (!EVP_PKEY_get_raw_private_key(k->ed, seed, &sl))
        bench_die("EVP_PKEY_get_raw_private_key");
    k->ed_seed_b64 = b64(seed, sl);
    k->rsa_pub = public_only(k->rsa, &k->rsa_record, "rsa");
    k->ed_pub = public_only(k->ed, &k->ed_record, "ed25519");
}

static void keys_load(keyset *k, const char *dir)
{
    char *p = bench_strf("%s/rsa.pem", dir);
    memset(k, 0, sizeof *k);
    k->rsa_pem = bench_read_file(p, NULL);
    free(p);
    p = bench_strf("%s/rsa.record", dir);
    k->rsa_record = bench_read_file(p, NULL);
    free(p);
    p = bench_strf("%s/ed.record", dir);
    k->ed_record = bench_read_file(p, NULL);
    free(p);
    if (k->rsa_pem == NULL || k->rsa_record == NULL || k->ed_record == NULL)
        bench_die("cannot read keys in %s", dir);
}

/* A TXT record's data in master-file syntax: quoted strings of at most
 * 255 bytes (RFC 1035 3.3). */
static char *zone_txt(const char *rec)
{
    size_t n = strlen(rec), i, o = 0;
    char *out = malloc(n + 4 * (n / 255 + 1) + 1);
    for (i = 0; i < n; i += 255) {
        size_t k = n - i < 255 ? n - i : 255;
        if (o)
            out[o++] = ' ';
        out[o++] = '"';
        memcpy(out + o, rec + i, k);
        o += k;
        out[o++] = '"';
    }
    out[o] = '\0';
    return out;
}

/* ---- spoofguard ------------------------------------------------------------------ */

typedef struct {
    sg_zone *zone;
    sg_resolver *res;
    sg_dkim_keycache *cache;
    sg_dkim_verifier *v;
    sg_msg_parser *p;
    int err;
} sg_verify_ctx;

static int v_on_headers(const sg_header *f, size_t n, void *payload)
{
    sg_verify_ctx *c = payload;
    int rc = sg_dkim_verify_headers(c->v, f, n);
    if (rc != 0)
        c->err = rc;
    return 0;
}

static int v_on_body(const char *d, size_t n, void *payload)
{
    sg_verify_ctx *c = payload;
    int rc = sg_dkim_verify_body(c->v, d, n);
    if (rc != 0)
        c->err = rc;
    return 0;
}

static void sgv_init(sg_verify_ctx *c, const keyset *k)
{
    sg_msg_callbacks cbs = {v_on_headers, v_on_body, NULL};
    char *z;
    memset(c, 0, sizeof *c);
    if (sg_zone_new(&c->zone) != 0)
        bench_die("sg_zone_new");
    z = zone_txt(k->rsa_record);
    if (sg_zone_add(c->zone, SEL_RSA "._domainkey." DOMAIN, "TXT", z, 3600) != 0)
        bench_die("sg_zone_add rsa");
    free(z);
    z = zone_txt(k->ed_record);
    if (sg_zone_add(c->zone, SEL_ED "._domainkey." DOMAIN, "TXT", z, 3600) != 0)
        bench_die("sg_zone_add ed");
    free(z);
    if (sg_resolver_new_zone(&c->res, c->zone) != 0 || sg_dkim_keycache_new(&c->cache, 0) != 0 ||
        sg_dkim_verifier_new(&c->v, c->res, c->cache, NULL) != 0 ||
        sg_msg_parser_new(&c->p, NULL, &cbs, c) != 0)
        bench_die("spoofguard verifier set-up failed");
}

/* Verify one message fed in CHUNK pieces; returns 1 if the first
 * signature passes. reason (optional) gets the first result's reason. */
static int sgv_verify(sg_verify_ctx *c, const char *msg, size_t len, const char **reason)
{
    const sg_dkim_sig_result *res;
    size_t n, off;
    int rc;
    sg_dkim_verifier_reset(c->v);
    sg_msg_parser_reset(c->p);
    c->err = 0;
    for (off = 0; off < len; off += CHUNK) {
        size_t k = len - off < CHUNK ? len - off : CHUNK;
        if ((rc = sg_msg_feed(c->p, msg + off, k)) != 0)
            bench_die("sg_msg_feed: %s", sg_strerror(rc));
    }
    if ((rc = sg_msg_finish(c->p)) != 0)
        bench_die("sg_msg_finish: %s", sg_strerror(rc));
    if (c->err != 0)
        bench_die("spoofguard verify: %s", sg_strerror(c->err));
    if ((rc = sg_dkim_verify_wait(c->v)) < 0)
        bench_die("sg_dkim_verify_wait: %s", sg_strerror(rc));
    if ((rc = sg_dkim_verify_results(c->v, &res, &n)) != 0)
        bench_die("sg_dkim_verify_results: %s", sg_strerror(rc));
    if (reason != NULL)
        *reason = n ? res[0].reason : "no signature";
    return n >= 1 && res[0].result == SG_DKIM_PASS;
}

typedef struct {
    sg_dkim_signkey *key;
    sg_dkim_signer *s;
    sg_msg_parser *p;
    int err;
} sg_sign_ctx;

static int s_on_headers(const sg_header *f, size_t n, void *payload)
{
    sg_sign_ctx *c = payload;
    int rc = sg_dkim_sign_headers(c->s, f, n);
    if (rc != 0)
        c->err = rc;
    return 0;
}

static int s_on_body(const char *d, size_t n, void *payload)
{
    sg_sign_ctx *c = payload;
    int rc = sg_dkim_sign_body(c->s, d, n);
    if (rc != 0)
        c->err = rc;
    return 0;
}

static void sgs_init(sg_sign_ctx *c, const char *pem_or_seed, size_t len, const char *selector)
{
    sg_msg_callbacks cbs = {s_on_headers, s_on_body, NULL};
    sg_dkim_sign_opts o;
    int rc;
    memset(c, 0, sizeof *c);
    if ((rc = sg_dkim_signkey_from_mem(&c->key, pem_or_seed, len)) != 0)
        bench_die("sg_dkim_signkey_from_mem: %s", sg_strerror(rc));
    sg_dkim_sign_opts_init(&o);
    o.domain = DOMAIN;
    o.selector = selector;
    o.key = c->key;
    o.header_canon = SG_CANON_RELAXED;
    o.body_canon = SG_CANON_RELAXED;
    if ((rc = sg_dkim_signer_new(&c->s, &o, 1)) != 0)
        bench_die("sg_dkim_signer_new: %s", sg_strerror(rc));
    if (sg_msg_parser_new(&c->p, NULL, &cbs, c) != 0)
        bench_die("sg_msg_parser_new");
}

/* Sign one message (CHUNK pieces); returns the DKIM-Signature field(s). */
static const char *sgs_sign(sg_sign_ctx *c, const char *msg, size_t len, size_t *siglen)
{
    const char *sig;
    size_t off;
    int rc;
    sg_dkim_signer_reset(c->s);
    sg_msg_parser_reset(c->p);
    c->err = 0;
    for (off = 0; off < len; off += CHUNK) {
        size_t k = len - off < CHUNK ? len - off : CHUNK;
        if ((rc = sg_msg_feed(c->p, msg + off, k)) != 0)
            bench_die("sg_msg_feed: %s", sg_strerror(rc));
    }
    if ((rc = sg_msg_finish(c->p)) != 0)
        bench_die("sg_msg_finish: %s", sg_strerror(rc));
    if (c->err != 0)
        bench_die("spoofguard sign: %s", sg_strerror(c->err));
    if ((rc = sg_dkim_sign_finish(c->s, &sig, siglen)) != 0)
        bench_die("sg_dkim_sign_finish: %s", sg_strerror(rc));
    return sig;
}

/* ---- libopendkim --------------------------------------------------------------- */

/* The key lookup hook has no payload: the records live here. */
static const keyset *odkim_keys;

static DKIM_CBSTAT odkim_key_lookup(DKIM *dkim, DKIM_SIGINFO *sig, u_char *buf, size_t buflen)
{
    const char *sel = (const char *)dkim_sig_getselector(sig);
    const char *rec = NULL;
    (void)dkim;
    if (sel != NULL && strcmp(sel, SEL_RSA) == 0)
        rec = odkim_keys->rsa_record;
    else if (sel != NULL && strcmp(sel, SEL_ED) == 0)
        rec = odkim_keys->ed_record;
    if (rec == NULL)
        return DKIM_CBSTAT_NOTFOUND;
    if (strlen(rec) >= buflen)
        return DKIM_CBSTAT_ERROR;
    strcpy((char *)buf, rec);
    return DKIM_CBSTAT_CONTINUE;
}

static DKIM_LIB *odkim_init(const keyset *k)
{
    DKIM_LIB *lib = dkim_init(NULL, NULL);
    if (lib == NULL)
        bench_die("dkim_init");
    odkim_keys = k;
    dkim_set_key_lookup(lib, odkim_key_lookup);
    return lib;
}

static void odkim_feed(DKIM *d, const char *msg, size_t len)
{
    size_t off;
    for (off = 0; off < len; off += CHUNK) {
        size_t k = len - off < CHUNK ? len - off : CHUNK;
        dkim_chunk(d, (u_char *)(uintptr_t)(msg + off), k);
    }
    dkim_chunk(d, NULL, 0);
}

static int odkim_verify(DKIM_LIB *lib, const char *msg, size_t len)
{
    DKIM_STAT st;
    DKIM *d = dkim_verify(lib, (const u_char *)"bench", NULL, &st);
    int ok;
    if (d == NULL)
        bench_die("dkim_verify: %d", st);
    odkim_feed(d, msg, len);
    st = dkim_eom(d, NULL);
    ok = st == DKIM_STAT_OK;
    dkim_free(d);
    return ok;
}

/* Sign; copies "DKIM-Signature: ...\r\n" into out (cap bytes). Returns
 * its length, 0 on failure. */
static size_t odkim_sign(DKIM_LIB *lib, const char *key, const char *sel, int alg, const char *msg,
                         size_t len, char *out, size_t cap)
{
    DKIM_STAT st;
    DKIM *d = dkim_sign(lib, (const u_char *)"bench", NULL, (dkim_sigkey_t)(uintptr_t)key,
                        (const u_char *)sel, (const u_char *)DOMAIN, DKIM_CANON_RELAXED,
                        DKIM_CANON_RELAXED, alg, -1, &st);
    u_char *hdr = NULL;
    size_t hlen = 0, n = 0;
    if (d == NULL)
        return 0;
    odkim_feed(d, msg, len);
    st = dkim_eom(d, NULL);
    if (st == DKIM_STAT_OK &&
        dkim_getsighdr_d(d, strlen("DKIM-Signature: "), &hdr, &hlen) == DKIM_STAT_OK &&
        hlen + 20 < cap) {
        /* libopendkim folds with bare LF; a message uses CRLF */
        size_t i;
        n = (size_t)snprintf(out, cap, "DKIM-Signature: ");
        for (i = 0; i < hlen && n + 4 < cap; i++) {
            if (hdr[i] == '\n' && (i == 0 || hdr[i - 1] != '\r'))
                out[n++] = '\r';
            out[n++] = (char)hdr[i];
        }
        out[n++] = '\r';
        out[n++] = '\n';
        out[n] = '\0';
    }
    dkim_free(d);
    return n;
}

/* ---- crypto floor ------------------------------------------------------------------- */

typedef struct {
    EVP_PKEY *pub, *priv;
    int is_rsa;
    unsigned char sig[512];
    size_t siglen;
} floor_ctx;

static int floor_verify_digest(floor_ctx *f, const unsigned char *md)
{
    int ok;
    if (f->is_rsa) {
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(f->pub, NULL);
        ok = c != NULL && EVP_PKEY_verify_init(c) == 1 &&
             EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) == 1 &&
             EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()) == 1 &&
             EVP_PKEY_verify(c, f->sig, f->siglen, md, 32) == 1;
        EVP_PKEY_CTX_free(c);
    } else {
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        ok = m != NULL && EVP_DigestVerifyInit(m, NULL, NULL, NULL, f->pub) == 1 &&
             EVP_DigestVerify(m, f->sig, f->siglen, md, 32) == 1;
        EVP_MD_CTX_free(m);
    }
    return ok;
}

static size_t floor_sign_digest(floor_ctx *f, const unsigned char *md, unsigned char *sig)
{
    size_t sl = 512;
    int ok;
    if (f->is_rsa) {
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(f->priv, NULL);
        ok = c != NULL && EVP_PKEY_sign_init(c) == 1 &&
             EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) == 1 &&
             EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()) == 1 &&
             EVP_PKEY_sign(c, sig, &sl, md, 32) == 1;
        EVP_PKEY_CTX_free(c);
    } else {
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        ok = m != NULL && EVP_DigestSignInit(m, NULL, NULL, NULL, f->priv) == 1 &&
             EVP_DigestSign(m, sig, &sl, md, 32) == 1;
        EVP_MD_CTX_free(m);
    }
    return ok ? sl : 0;
}

static void floor_init(floor_ctx *f, EVP_PKEY *priv, EVP_PKEY *pub, int is_rsa)
{
    unsigned char md[32] = {0};
    memset(f, 0, sizeof *f);
    f->priv = priv;
    f->pub = pub;
    f->is_rsa = is_rsa;
    f->siglen = floor_sign_digest(f, md, f->sig);
    if (f->siglen == 0)
        bench_die("floor: signing failed");
}

/* Keeps the message digest live so the compiler cannot drop it. */
static volatile unsigned char floor_sink;

static int floor_verify(floor_ctx *f, const char *msg, size_t len)
{
    unsigned char md[32];
    /* the signature checked is over a fixed digest (its value does not
     * change the cost of the check) */
    unsigned char z[32] = {0};
    EVP_Digest(msg, len, md, NULL, EVP_sha256(), NULL);
    floor_sink = md[0];
    return floor_verify_digest(f, z);
}

static int floor_sign(floor_ctx *f, const char *msg, size_t len)
{
    unsigned char md[32], sig[512];
    EVP_Digest(msg, len, md, NULL, EVP_sha256(), NULL);
    return floor_sign_digest(f, md, sig) > 0;
}

/* ---- measurement -------------------------------------------------------------------- */

typedef struct {
    const char *name;  /* "rsa-2k" */
    const char *label; /* "rsa-sha256 2 KiB" */
    int ed;            /* Ed25519 */
    size_t size;
    uint64_t seed;
    char *plain; /* unsigned message */
    size_t plain_len;
    char *signed_msg; /* our signature + message */
    size_t signed_len;
} mcase;

enum { I_OURS, I_ODKIM, I_DKIMPY, I_MAILDKIM, I_FLOOR, N_IMPL };
static const char *const impl_names[N_IMPL] = {"spoofguard", "libopendkim", "dkimpy", "Mail::DKIM",
                                               "floor"};

typedef struct {
    double rate[N_IMPL]; /* msgs/s; 0: not measured */
    int ok[N_IMPL];      /* verify: passes in the correctness run; sign: peer sig verified */
    int tried[N_IMPL];
    const char *note[N_IMPL];
} result_row;

typedef int (*op_fn)(void *ctx, const char *msg, size_t len);

/* Messages per CPU second: one untimed call (its verdict is returned in
 * *first), then calls until `seconds` of CPU and at least 3 calls. */
static double measure(op_fn fn, void *ctx, const char *msg, size_t len, double seconds, int *first)
{
    double t0, t;
    size_t n = 0;
    *first = fn(ctx, msg, len);
    t0 = bench_cpu_now();
    do {
        (void)fn(ctx, msg, len);
        n++;
        t = bench_cpu_now() - t0;
    } while (t < seconds || n < 3);
    return (double)n / t;
}

#define MAX_ROUNDS 9

typedef struct {
    op_fn fn;
    void *ctx;
    double *rate; /* out: median over the rounds */
    int *ok;      /* out: verdict of the first call */
} mjob;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Round-robin over the jobs `rounds` times, `seconds` each, and keep each
 * job's median: a burst of load from another process then hits every
 * implementation alike instead of skewing one ratio. */
static void measure_interleaved(mjob *jobs, size_t njobs, const char *msg, size_t len,
                                double seconds, int rounds)
{
    double r[8][MAX_ROUNDS];
    size_t j;
    int k;
    for (k = 0; k < rounds; k++) {
        for (j = 0; j < njobs; j++) {
            int first;
            r[j][k] = measure(jobs[j].fn, jobs[j].ctx, msg, len, seconds, &first);
            if (k == 0)
                *jobs[j].ok = first;
        }
    }
    for (j = 0; j < njobs; j++) {
        qsort(r[j], (size_t)rounds, sizeof(double), cmp_double);
        *jobs[j].rate = r[j][rounds / 2];
    }
}

static int op_ours_verify(void *ctx, const char *m, size_t l)
{
    return sgv_verify(ctx, m, l, NULL);
}

static DKIM_LIB *g_odkim;
static int op_odkim_verify(void *ctx, const char *m, size_t l)
{
    (void)ctx;
    return odkim_verify(g_odkim, m, l);
}

static int op_floor_verify(void *ctx, const char *m, size_t l)
{
    return floor_verify(ctx, m, l);
}

static int op_ours_sign(void *ctx, const char *m, size_t l)
{
    size_t sl;
    return sgs_sign(ctx, m, l, &sl) != NULL && sl > 0;
}

typedef struct {
    const char *key;
    const char *sel;
    int alg;
    char out[8192];
    size_t outlen;
} odkim_sign_ctx;

static int op_odkim_sign(void *ctx, const char *m, size_t l)
{
    odkim_sign_ctx *c = ctx;
    c->outlen = odkim_sign(g_odkim, c->key, c->sel, c->alg, m, l, c->out, sizeof c->out);
    return c->outlen > 0;
}

static int op_floor_sign(void *ctx, const char *m, size_t l)
{
    return floor_sign(ctx, m, l);
}

/* ---- peers (subprocesses) -------------------------------------------------------------- */

/* Parse "op=verify case=rsa-2k n=.. cpu=.. ok=.." lines. */
static void read_peer(const char *path, int impl, result_row *vrows, result_row *srows,
                      const mcase *cases, size_t ncases, long *hwm)
{
    char *text = bench_read_file(path, NULL), *line, *save = NULL;
    if (text == NULL)
        return;
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char op[16], name[32];
        unsigned long n = 0;
        double cpu = 0;
        int ok = 0;
        size_t i;
        if (sscanf(line, "hwm=%ld", hwm) == 1)
            continue;
        if (sscanf(line, "op=%15s case=%31s n=%lu cpu=%lf ok=%d", op, name, &n, &cpu, &ok) != 5)
            continue;
        for (i = 0; i < ncases; i++) {
            result_row *r;
            if (strcmp(cases[i].name, name) != 0)
                continue;
            r = strcmp(op, "verify") == 0 ? &vrows[i] : &srows[i];
            r->tried[impl] = 1;
            r->ok[impl] = ok;
            if (cpu > 0)
                r->rate[impl] = (double)n / cpu;
        }
    }
    free(text);
}

static void run_peer(const char *interp, const char *script, const char *dir, double seconds,
                     const char *outname, long *rss_kb)
{
    char *sp = bench_strf("%s/%s", bench_script_dir(), script);
    char *out = bench_strf("%s/%s", dir, outname), *secs = bench_strf("%.3f", seconds);
    const char *argv[] = {interp, sp, dir, secs, NULL};
    bench_child ch;
    if (bench_run(argv, out, &ch) != 0 || ch.status != 0)
        fprintf(stderr, "dkim_bench: %s %s failed (status %d)\n", interp, script, ch.status);
    *rss_kb = ch.maxrss_kb;
    free(sp);
    free(out);
    free(secs);
}

/* ---- RSS workers ---------------------------------------------------------------------------- */

static void worker_init_sg(sg_verify_ctx *c, const char *dir)
{
    keyset k;
    keys_load(&k, dir);
    sgv_init(c, &k);
}

/* Verify a file streamed in CHUNK reads (the message is never held). */
static int worker_rss_file(const char *path, const char *dir)
{
    sg_verify_ctx c;
    const sg_dkim_sig_result *res;
    size_t n;
    char *buf = malloc(CHUNK);
    long rss0;
    int fd, rc;
    ssize_t got;
    worker_init_sg(&c, dir);
    rss0 = bench_hwm_kb();
    fd = open(path, O_RDONLY);
    if (fd < 0)
        bench_die("open %s", path);
    sg_dkim_verifier_reset(c.v);
    sg_msg_parser_reset(c.p);
    while ((got = read(fd, buf, CHUNK)) > 0)
        if ((rc = sg_msg_feed(c.p, buf, (size_t)got)) != 0)
            bench_die("sg_msg_feed: %s", sg_strerror(rc));
    close(fd);
    sg_msg_finish(c.p);
    sg_dkim_verify_wait(c.v);
    sg_dkim_verify_results(c.v, &res, &n);
    printf("rss0=%ld rss=%ld result=%s\n", rss0, bench_hwm_kb(),
           n ? sg_dkim_result_str(res[0].result) : "none");
    return 0;
}

static volatile unsigned char gen_sink;

/* Sign a generated message of `mib` MiB streamed in CHUNK pieces, then
 * verify it the same way (signature first). */
static int worker_rss_stream(unsigned mib, const char *dir)
{
    sg_verify_ctx c;
    sg_sign_ctx s;
    keyset k;
    msg_stream ms;
    char *buf = malloc(CHUNK), *sig;
    const char *sg;
    const sg_dkim_sig_result *res;
    size_t n, siglen, got;
    uint64_t total = 0;
    long rss0, rss_sign;
    double t0, tsign, tverify, tgen;
    int rc;

    keys_load(&k, dir);
    sgv_init(&c, &k);
    sgs_init(&s, k.rsa_pem, strlen(k.rsa_pem), SEL_RSA);
    rss0 = bench_hwm_kb();

    /* generation alone, to subtract it from the two passes below */
    t0 = bench_cpu_now();
    stream_init(&ms, 0x50505050, (uint64_t)mib << 20);
    while ((got = stream_next(&ms, buf, CHUNK)) > 0)
        gen_sink ^= (unsigned char)buf[got - 1];
    free(ms.hdr);
    tgen = bench_cpu_now() - t0;

    t0 = bench_cpu_now();
    stream_init(&ms, 0x50505050, (uint64_t)mib << 20);
    sg_dkim_signer_reset(s.s);
    sg_msg_parser_reset(s.p);
    while ((got = stream_next(&ms, buf, CHUNK)) > 0) {
        total += got;
        if ((rc = sg_msg_feed(s.p, buf, got)) != 0)
            bench_die("sg_msg_feed: %s", sg_strerror(rc));
    }
    sg_msg_finish(s.p);
    if (s.err != 0 || sg_dkim_sign_finish(s.s, &sg, &siglen) != 0)
        bench_die("streamed signing failed");
    sig = strndup(sg, siglen);
    tsign = bench_cpu_now() - t0;
    rss_sign = bench_hwm_kb();

    t0 = bench_cpu_now();
    stream_init(&ms, 0x50505050, (uint64_t)mib << 20);
    sg_dkim_verifier_reset(c.v);
    sg_msg_parser_reset(c.p);
    if (sg_msg_feed(c.p, sig, siglen) != 0)
        bench_die("sg_msg_feed sig");
    while ((got = stream_next(&ms, buf, CHUNK)) > 0)
        if ((rc = sg_msg_feed(c.p, buf, got)) != 0)
            bench_die("sg_msg_feed: %s", sg_strerror(rc));
    sg_msg_finish(c.p);
    sg_dkim_verify_wait(c.v);
    sg_dkim_verify_results(c.v, &res, &n);
    tverify = bench_cpu_now() - t0;
    /* the generation time is subtracted from both passes */
    printf("rss0=%ld rss_sign=%ld rss=%ld result=%s bytes=%llu sign_cpu=%.3f verify_cpu=%.3f\n",
           rss0, rss_sign, bench_hwm_kb(), n ? sg_dkim_result_str(res[0].result) : "none",
           (unsigned long long)total, tsign - tgen, tverify - tgen);
    return 0;
}

/* Verify one file N times from memory (for perf/callgrind: the profile
 * then shows spoofguard alone). */
static int worker_profile(const char *path, const char *dir, int n)
{
    sg_verify_ctx c;
    size_t len;
    char *msg = bench_read_file(path, &len);
    int i, pass = 0;
    double t0;
    if (msg == NULL)
        bench_die("cannot read %s", path);
    worker_init_sg(&c, dir);
    t0 = bench_cpu_now();
    for (i = 0; i < n; i++)
        pass += sgv_verify(&c, msg, len, NULL);
    t0 = bench_cpu_now() - t0;
    printf("%d verifications, %d pass, %.0f msg/s, %.0f MB/s\n", n, pass, n / t0,
           (double)len * n / 1e6 / t0);
    return 0;
}

/* ---- main ------------------------------------------------------------------------------------ */

static void usage(void)
{
    fprintf(
        stderr,
        "usage: dkim_bench [--seconds S] [--rounds R] [--stream-mib N] [--no-peers] [--keep]\n");
    exit(2);
}

static void write_corpus(const char *dir, const keyset *k, const mcase *cases, size_t ncases)
{
    char *p;
    FILE *f;
    size_t i;
#define WR(name, data, len)                                                                        \
    do {                                                                                           \
        char *wp_ = bench_strf("%s/%s", dir, name);                                                \
        if (bench_write_file(wp_, data, len) != 0)                                                 \
            bench_die("cannot write %s", wp_);                                                     \
        free(wp_);                                                                                 \
    } while (0)
    WR("rsa.pem", k->rsa_pem, strlen(k->rsa_pem));
    WR("ed.pem", k->ed_pem, strlen(k->ed_pem));
    WR("ed.seed", k->ed_seed_b64, strlen(k->ed_seed_b64));
    WR("rsa.record", k->rsa_record, strlen(k->rsa_record));
    WR("ed.record", k->ed_record, strlen(k->ed_record));
    p = bench_strf("%s/keys.tsv", dir);
    f = fopen(p, "w");
    fprintf(f, "%s._domainkey.%s\t%s\n", SEL_RSA, DOMAIN, k->rsa_record);
    fprintf(f, "%s._domainkey.%s\t%s\n", SEL_ED, DOMAIN, k->ed_record);
    fclose(f);
    free(p);
    p = bench_strf("%s/cases.tsv", dir);
    f = fopen(p, "w");
    for (i = 0; i < ncases; i++) {
        char *n1 = bench_strf("plain_%s.eml", cases[i].name);
        char *n2 = bench_strf("signed_%s.eml", cases[i].name);
        WR(n1, cases[i].plain, cases[i].plain_len);
        WR(n2, cases[i].signed_msg, cases[i].signed_len);
        /* name, algorithm, selector, unsigned file, signed file */
        fprintf(f, "%s\t%s\t%s\t%s\t%s\n", cases[i].name, cases[i].ed ? "ed25519" : "rsa",
                cases[i].ed ? SEL_ED : SEL_RSA, n1, n2);
        free(n1);
        free(n2);
    }
    fclose(f);
    free(p);
#undef WR
}

/* Verify a peer-made signature file (DIR/peer_<impl>_<case>.eml) with ours. */
static int check_peer_signed(sg_verify_ctx *c, const char *dir, const char *tag,
                             const char *casename, const char **reason)
{
    char *p = bench_strf("%s/peersig_%s_%s.eml", dir, tag, casename);
    size_t len;
    char *msg = bench_read_file(p, &len);
    int ok;
    free(p);
    if (msg == NULL)
        return -1;
    ok = sgv_verify(c, msg, len, reason);
    free(msg);
    return ok;
}

static const char *yn(const result_row *r, int i)
{
    if (!r->tried[i])
        return "-";
    return r->ok[i] ? "pass" : "FAIL";
}

int main(int argc, char **argv)
{
    double seconds = DEFAULT_SECONDS;
    unsigned stream_mib = DEFAULT_STREAM_MIB;
    int keep = 0, peers = 1, rounds = DEFAULT_ROUNDS;
    keyset keys;
    mcase cases[] = {
        {"rsa-2k", "rsa-sha256   2 KiB", 0, 2 << 10, 101, NULL, 0, NULL, 0},
        {"rsa-20k", "rsa-sha256  20 KiB", 0, 20 << 10, 102, NULL, 0, NULL, 0},
        {"rsa-200k", "rsa-sha256 200 KiB", 0, 200 << 10, 103, NULL, 0, NULL, 0},
        {"rsa-2m", "rsa-sha256   2 MiB", 0, 2 << 20, 104, NULL, 0, NULL, 0},
        {"ed-2k", "ed25519      2 KiB", 1, 2 << 10, 101, NULL, 0, NULL, 0},
    };
    const size_t ncases = sizeof cases / sizeof cases[0];
    result_row vrows[sizeof cases / sizeof cases[0]], srows[sizeof cases / sizeof cases[0]];
    sg_verify_ctx sgv;
    sg_sign_ctx sgs_rsa, sgs_ed;
    floor_ctx fl_rsa, fl_ed;
    const char *dir;
    long rss_py = 0, rss_pl = 0;
    size_t i;
    int j;
    char b1[32];

    if (argc >= 2 && strcmp(argv[1], "--rss-file") == 0 && argc == 4)
        return worker_rss_file(argv[2], argv[3]);
    if (argc >= 2 && strcmp(argv[1], "--profile-verify") == 0 && argc == 5)
        return worker_profile(argv[2], argv[3], atoi(argv[4]));
    if (argc >= 2 && strcmp(argv[1], "--rss-stream") == 0 && argc == 4)
        return worker_rss_stream((unsigned)atoi(argv[2]), argv[3]);
    for (i = 1; i < (size_t)argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < (size_t)argc)
            seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--stream-mib") == 0 && i + 1 < (size_t)argc)
            stream_mib = (unsigned)atoi(argv[++i]);
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < (size_t)argc)
            rounds = atoi(argv[++i]);
        else if (strcmp(argv[i], "--no-peers") == 0)
            peers = 0;
        else if (strcmp(argv[i], "--keep") == 0)
            keep = 1;
        else
            usage();
    }
    if (rounds < 1 || rounds > MAX_ROUNDS || seconds <= 0)
        usage();
    memset(vrows, 0, sizeof vrows);
    memset(srows, 0, sizeof srows);

    /* keys, corpus, our signatures */
    keys_generate(&keys);
    sgv_init(&sgv, &keys);
    sgs_init(&sgs_rsa, keys.rsa_pem, strlen(keys.rsa_pem), SEL_RSA);
    sgs_init(&sgs_ed, keys.ed_pem, strlen(keys.ed_pem), SEL_ED);
    for (i = 0; i < ncases; i++) {
        mcase *mc = &cases[i];
        const char *sig;
        size_t sl;
        mc->plain = bench_gen_message(mc->seed, mc->size, &mc->plain_len);
        sig = sgs_sign(mc->ed ? &sgs_ed : &sgs_rsa, mc->plain, mc->plain_len, &sl);
        mc->signed_len = sl + mc->plain_len;
        mc->signed_msg = malloc(mc->signed_len);
        memcpy(mc->signed_msg, sig, sl);
        memcpy(mc->signed_msg + sl, mc->plain, mc->plain_len);
    }
    dir = strdup(bench_tmpdir("sg-dkim-bench"));
    write_corpus(dir, &keys, cases, ncases);
    g_odkim = odkim_init(&keys);
    floor_init(&fl_rsa, keys.rsa, keys.rsa_pub, 1);
    floor_init(&fl_ed, keys.ed, keys.ed_pub, 0);

    printf("DKIM benchmark: relaxed/relaxed, fresh RSA-2048 and Ed25519 keys, median of %d rounds"
           " of %.2f CPU s, messages fed in %d KiB chunks\n",
           rounds, seconds, CHUNK / 1024);
    if (!dkim_libfeature(g_odkim, DKIM_FEATURE_ED25519))
        printf("note: this libopendkim has no Ed25519 support\n");

    /* peers first (they read the corpus files), while this process is idle */
    if (peers) {
        char *p;
        run_peer("/usr/bin/python3", "dkim_peers.py", dir, seconds * rounds, "out.dkimpy", &rss_py);
        run_peer("/usr/bin/perl", "dkim_peers.pl", dir, seconds * rounds, "out.maildkim", &rss_pl);
        p = bench_strf("%s/out.dkimpy", dir);
        read_peer(p, I_DKIMPY, vrows, srows, cases, ncases, &rss_py);
        free(p);
        p = bench_strf("%s/out.maildkim", dir);
        read_peer(p, I_MAILDKIM, vrows, srows, cases, ncases, &rss_pl);
        free(p);
    }

    /* verify */
    for (i = 0; i < ncases; i++) {
        mcase *mc = &cases[i];
        result_row *r = &vrows[i];
        floor_ctx *fl = mc->ed ? &fl_ed : &fl_rsa;
        const char *why = NULL;
        r->tried[I_OURS] = r->tried[I_ODKIM] = r->tried[I_FLOOR] = 1;
        if (!sgv_verify(&sgv, mc->signed_msg, mc->signed_len, &why))
            printf("spoofguard does not verify its own %s signature: %s\n", mc->name, why);
        {
            mjob jobs[] = {{op_ours_verify, &sgv, &r->rate[I_OURS], &r->ok[I_OURS]},
                           {op_odkim_verify, NULL, &r->rate[I_ODKIM], &r->ok[I_ODKIM]},
                           {op_floor_verify, fl, &r->rate[I_FLOOR], &r->ok[I_FLOOR]}};
            measure_interleaved(jobs, 3, mc->signed_msg, mc->signed_len, seconds, rounds);
        }
    }

    /* sign */
    for (i = 0; i < ncases; i++) {
        mcase *mc = &cases[i];
        result_row *r = &srows[i];
        floor_ctx *fl = mc->ed ? &fl_ed : &fl_rsa;
        odkim_sign_ctx *oc = calloc(1, sizeof *oc);
        r->tried[I_OURS] = r->tried[I_ODKIM] = r->tried[I_FLOOR] = 1;
        /* libopendkim takes PEM for both (it parses the key on every
         * dkim_sign(): that is its API) */
        oc->key = mc->ed ? keys.ed_pem : keys.rsa_pem;
        oc->sel = mc->ed ? SEL_ED : SEL_RSA;
        oc->alg = mc->ed ? DKIM_SIGN_ED25519SHA256 : DKIM_SIGN_RSASHA256;
        {
            mjob jobs[] = {
                {op_ours_sign, mc->ed ? &sgs_ed : &sgs_rsa, &r->rate[I_OURS], &r->ok[I_OURS]},
                {op_odkim_sign, oc, &r->rate[I_ODKIM], &r->ok[I_ODKIM]},
                {op_floor_sign, fl, &r->rate[I_FLOOR], &r->ok[I_FLOOR]}};
            measure_interleaved(jobs, 3, mc->plain, mc->plain_len, seconds, rounds);
        }
        if (r->ok[I_ODKIM]) {
            /* does spoofguard accept libopendkim's signature? */
            char *m = malloc(oc->outlen + mc->plain_len);
            const char *why = NULL;
            memcpy(m, oc->out, oc->outlen);
            memcpy(m + oc->outlen, mc->plain, mc->plain_len);
            r->ok[I_ODKIM] = sgv_verify(&sgv, m, oc->outlen + mc->plain_len, &why);
            if (!r->ok[I_ODKIM])
                r->note[I_ODKIM] = why;
            free(m);
        } else {
            r->rate[I_ODKIM] = 0;
            r->note[I_ODKIM] = "libopendkim could not sign";
        }
        free(oc);
        /* our own signature verified by ours (sanity) */
        r->ok[I_OURS] = sgv_verify(&sgv, mc->signed_msg, mc->signed_len, NULL);
        if (peers) {
            const char *why = NULL;
            int ok = check_peer_signed(&sgv, dir, "dkimpy", mc->name, &why);
            if (ok >= 0 && srows[i].tried[I_DKIMPY]) {
                r->ok[I_DKIMPY] = ok;
                if (!ok)
                    r->note[I_DKIMPY] = why;
            }
            ok = check_peer_signed(&sgv, dir, "maildkim", mc->name, &why);
            if (ok >= 0 && srows[i].tried[I_MAILDKIM]) {
                r->ok[I_MAILDKIM] = ok;
                if (!ok)
                    r->note[I_MAILDKIM] = why;
            }
        }
    }

    /* ---- report ---- */
    printf("\nVERIFY (messages/s; MB/s = 10^6 bytes of message per second)\n");
    printf("%-20s", "case");
    for (j = 0; j < N_IMPL; j++)
        printf(" %12s", impl_names[j]);
    printf("   %8s %8s\n", "ours/odk", "ours/flr");
    for (i = 0; i < ncases; i++) {
        result_row *r = &vrows[i];
        printf("%-20s", cases[i].label);
        for (j = 0; j < N_IMPL; j++)
            printf(" %12s", r->rate[j] > 0 ? bench_fmt_num(b1, r->rate[j]) : "-");
        printf("   %7.2fx %7.2f\n", r->rate[I_ODKIM] > 0 ? r->rate[I_OURS] / r->rate[I_ODKIM] : 0,
               r->rate[I_OURS] / r->rate[I_FLOOR]);
        printf("%-20s", "   MB/s");
        for (j = 0; j < N_IMPL; j++)
            printf(" %12s", r->rate[j] > 0
                                ? bench_fmt_num(b1, r->rate[j] * (double)cases[i].signed_len / 1e6)
                                : "-");
        printf("\n");
    }
    {
        uint64_t hits = 0, misses = 0;
        size_t entries = 0;
        sg_dkim_keycache_stats(sgv.cache, &hits, &misses, &entries);
        printf("spoofguard key cache: %llu hits, %llu misses, %zu entries\n",
               (unsigned long long)hits, (unsigned long long)misses, entries);
    }
    printf("\nverdicts on spoofguard's signatures (correctness run):\n");
    for (i = 0; i < ncases; i++) {
        printf("  %-20s", cases[i].label);
        for (j = 0; j < I_FLOOR; j++)
            printf(" %s=%s", impl_names[j], yn(&vrows[i], j));
        printf("\n");
    }
    printf("\nratios spoofguard/peer (verify):\n");
    for (i = 0; i < ncases; i++) {
        result_row *r = &vrows[i];
        printf("  %-20s", cases[i].label);
        for (j = 1; j < N_IMPL; j++)
            if (r->rate[j] > 0)
                printf(" /%s %.2fx", impl_names[j], r->rate[I_OURS] / r->rate[j]);
        printf("\n");
    }

    printf("\nSIGN (messages/s)\n");
    printf("%-20s", "case");
    for (j = 0; j < N_IMPL; j++)
        printf(" %12s", impl_names[j]);
    printf("   %8s %8s\n", "ours/odk", "ours/flr");
    for (i = 0; i < ncases; i++) {
        result_row *r = &srows[i];
        printf("%-20s", cases[i].label);
        for (j = 0; j < N_IMPL; j++)
            printf(" %12s", r->rate[j] > 0 ? bench_fmt_num(b1, r->rate[j]) : "-");
        printf("   %7.2fx %7.2f\n", r->rate[I_ODKIM] > 0 ? r->rate[I_OURS] / r->rate[I_ODKIM] : 0,
               r->rate[I_OURS] / r->rate[I_FLOOR]);
    }
    printf("\npeer signatures verified by spoofguard:\n");
    for (i = 0; i < ncases; i++) {
        printf("  %-20s", cases[i].label);
        for (j = 1; j < I_FLOOR; j++) {
            printf(" %s=%s", impl_names[j], yn(&srows[i], j));
            if (srows[i].tried[j] && !srows[i].ok[j] && srows[i].note[j])
                printf(" (%s)", srows[i].note[j]);
        }
        printf("\n");
    }
    printf("\nratios spoofguard/peer (sign):\n");
    for (i = 0; i < ncases; i++) {
        result_row *r = &srows[i];
        printf("  %-20s", cases[i].label);
        for (j = 1; j < N_IMPL; j++)
            if (r->rate[j] > 0)
                printf(" /%s %.2fx", impl_names[j], r->rate[I_OURS] / r->rate[j]);
        printf("\n");
    }
    if (peers)
        printf("\npeak RSS of the peer processes (interpreter included): dkimpy %.1f MiB,"
               " Mail::DKIM %.1f MiB\n",
               (double)rss_py / 1024.0, (double)rss_pl / 1024.0);

    /* ---- RSS workers ---- */
    long rss_2m = 0, rss = 0;
    {
        char *path = bench_strf("%s/signed_rsa-2m.eml", dir), *out = bench_strf("%s/out.rss", dir);
        char *mib = bench_strf("%u", stream_mib), *text;
        const char *argv1[] = {bench_self_exe(), "--rss-file", path, dir, NULL};
        const char *argv2[] = {bench_self_exe(), "--rss-stream", mib, dir, NULL};
        bench_child ch;
        long rss0 = 0, rss_sign = 0;
        char res[32] = "?";
        unsigned long long bytes = 0;
        double tsign = 0, tver = 0;

        if (bench_run(argv1, out, &ch) == 0 && (text = bench_read_file(out, NULL)) != NULL) {
            sscanf(text, "rss0=%ld rss=%ld result=%31s", &rss0, &rss_2m, res);
            printf(
                "\nspoofguard peak RSS verifying the 2 MiB message streamed from a file: %.1f MiB"
                " (%.1f MiB before the message; result %s)\n",
                (double)rss_2m / 1024.0, (double)rss0 / 1024.0, res);
            free(text);
        }
        if (bench_run(argv2, out, &ch) == 0 && (text = bench_read_file(out, NULL)) != NULL) {
            sscanf(text,
                   "rss0=%ld rss_sign=%ld rss=%ld result=%31s bytes=%llu sign_cpu=%lf "
                   "verify_cpu=%lf",
                   &rss0, &rss_sign, &rss, res, &bytes, &tsign, &tver);
            printf("spoofguard %u MiB streamed message: sign then verify, peak RSS %.1f MiB"
                   " (%.1f before, %.1f after signing); result %s; %.0f MB/s sign, %.0f MB/s"
                   " verify (message generation subtracted) -> RSS < 16 MiB: %s\n",
                   stream_mib, (double)rss / 1024.0, (double)rss0 / 1024.0,
                   (double)rss_sign / 1024.0, res, tsign > 0 ? (double)bytes / 1e6 / tsign : 0,
                   tver > 0 ? (double)bytes / 1e6 / tver : 0,
                   rss > 0 && rss < STREAM_RSS_LIMIT_KB ? "MET" : "NOT MET");
            free(text);
        }
        free(path);
        free(out);
        free(mib);
    }

    {
        double r2k =
            vrows[0].rate[I_ODKIM] > 0 ? vrows[0].rate[I_OURS] / vrows[0].rate[I_ODKIM] : 0;
        double r2m =
            vrows[3].rate[I_ODKIM] > 0 ? vrows[3].rate[I_OURS] / vrows[3].rate[I_ODKIM] : 0;
        printf("\ntargets: verify 2 KiB >= 4x libopendkim: %.2fx %s; verify 2 MiB >= 4x"
               " libopendkim: %.2fx %s\n",
               r2k, r2k >= 4 ? "MET" : "NOT MET", r2m, r2m >= 4 ? "MET" : "NOT MET");
        /* SUMMARY|what|spoofguard|peer|ratio|target|status (scripts/bench.sh) */
        printf("\nSUMMARY|DKIM verify 2 KiB msg/s vs libopendkim|%.0f|%.0f|%.2fx|>= 4x|%s\n",
               vrows[0].rate[I_OURS], vrows[0].rate[I_ODKIM], r2k, r2k >= 4 ? "MET" : "NOT MET");
        printf("SUMMARY|DKIM verify 2 MiB MB/s vs libopendkim|%.0f|%.0f|%.2fx|>= 4x|%s\n",
               vrows[3].rate[I_OURS] * (double)cases[3].signed_len / 1e6,
               vrows[3].rate[I_ODKIM] * (double)cases[3].signed_len / 1e6, r2m,
               r2m >= 4 ? "MET" : "NOT MET");
        for (i = 0; i < ncases; i++) {
            const char *peer[] = {"dkimpy", "Mail::DKIM"};
            int pj[] = {I_DKIMPY, I_MAILDKIM};
            size_t k;
            if (i != 0 && i != 3)
                continue;
            for (k = 0; k < 2; k++)
                if (vrows[i].rate[pj[k]] > 0)
                    printf("SUMMARY|DKIM verify %s msg/s vs %s|%.0f|%.1f|%.1fx||\n", cases[i].name,
                           peer[k], vrows[i].rate[I_OURS], vrows[i].rate[pj[k]],
                           vrows[i].rate[I_OURS] / vrows[i].rate[pj[k]]);
            printf("SUMMARY|DKIM verify %s msg/s vs crypto floor|%.0f|%.0f|%.2fx||\n",
                   cases[i].name, vrows[i].rate[I_OURS], vrows[i].rate[I_FLOOR],
                   vrows[i].rate[I_OURS] / vrows[i].rate[I_FLOOR]);
        }
        printf("SUMMARY|DKIM verify ed25519 2 KiB msg/s vs libopendkim|%.0f|%.0f|%.2fx||\n",
               vrows[4].rate[I_OURS], vrows[4].rate[I_ODKIM],
               vrows[4].rate[I_ODKIM] > 0 ? vrows[4].rate[I_OURS] / vrows[4].rate[I_ODKIM] : 0);
        for (i = 0; i < ncases; i++)
            if (i == 0 || i == 3 || i == 4)
                printf("SUMMARY|DKIM sign %s msg/s vs libopendkim|%.0f|%.0f|%.2fx||\n",
                       cases[i].name, srows[i].rate[I_OURS], srows[i].rate[I_ODKIM],
                       srows[i].rate[I_ODKIM] > 0 ? srows[i].rate[I_OURS] / srows[i].rate[I_ODKIM]
                                                  : 0);
        printf("SUMMARY|DKIM peak RSS MiB, 2 MiB verify|%.1f||||\n", (double)rss_2m / 1024.0);
        printf("SUMMARY|DKIM peak RSS MiB, %u MiB streamed verify|%.1f|||< 16 MiB|%s\n", stream_mib,
               (double)rss / 1024.0, rss > 0 && rss < STREAM_RSS_LIMIT_KB ? "MET" : "NOT MET");
    }
    if (keep)
        printf("data kept in %s\n", dir);
    else
        bench_rmdir(dir);
    return 0;
}
