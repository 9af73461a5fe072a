/*
 * ARC sealing (RFC 8617 5.1):
 *   arc::seal::valimail     the ValiMail signing suite (17 cases): with the
 *                           suite's key, t= and h=, our AAR and AMS equal the
 *                           expected ones, the AMS b= included (RSA PKCS#1
 *                           v1.5 is deterministic: an equal b= is an equal
 *                           digest), and our AS carries the expected tags.
 *                           The expected AS b= values themselves verify with
 *                           no verifier (dkimpy 1.1.4 and ours: 0 of 16, over
 *                           the expected AAR and AMS), so they are not
 *                           compared; instead our seal must equal, byte for
 *                           byte, the valid seal of the same set that the
 *                           suite's own later messages carry (i1_base.eml's
 *                           set 1, i2_base.eml's set 2) where there is one,
 *                           and every sealed message must verify with our
 *                           verifier (and dkimpy, tests/scripts/
 *                           arc_seal_interop.sh)
 *   arc::seal::split        the digest/complete rounds with the key outside
 *                           the sealer give the same fields as in-process
 *   arc::seal::chain        three hops with a generated RSA key, each sealing
 *                           on top of the last: the verifier passes every
 *                           step and fails after tampering
 *   arc::seal::refusals     bad options, an Ed25519 key (RFC 8617: rsa-sha256 only), cv that does
 * not match the header, 50 sets, header injection through the results
 *
 * The cv given to the sealer always comes from our verifier (as the CLI
 * and the daemon do), never from the suite's expectation.
 */
#include "helpers.h"

#include "arc/arc_int.h"
#include "dns/zone.h"

#include "dkim/dkim_int.h"

#include <spoofguard/arc.h>
#include <spoofguard/dns.h>
#include <spoofguard/msg.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#define TEST_NOW 1767225600
#define SIGN_DIR "arc/flat/sign/"

/* ---- driving the verifier and the sealer over a message ------------------------------ */

static int v_headers(const sg_header *f, size_t n, void *p)
{
    return sg_arc_verify_headers(p, f, n);
}

static int v_body(const char *d, size_t n, void *p)
{
    return sg_arc_verify_body(p, d, n);
}

struct seal_ctx {
    sg_arc_sealer *s;
    const char *srv_id; /* take the results from these A-R fields (NULL: keep) */
    int rc;
};

/* The results of every Authentication-Results field of srv_id, merged
 * (what the suite's and dkimpy's sealers copy into the AAR). */
static void merged_results(const sg_header *f, size_t n, const char *srv_id, char *out, size_t size)
{
    size_t idl = strlen(srv_id), len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const char *v = f[i].value, *e = f[i].value + f[i].value_len;
        if (f[i].name_len != 22 || strncasecmp(f[i].name, "Authentication-Results", 22))
            continue;
        while (v < e && (*v == ' ' || *v == '\t'))
            v++;
        if ((size_t)(e - v) <= idl || strncasecmp(v, srv_id, idl) || v[idl] != ';')
            continue;
        for (v += idl + 1; v < e && (*v == ' ' || *v == '\t'); v++)
            ;
        while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        len += (size_t)snprintf(out + len, size - len, "%s%.*s", len ? "; " : "", (int)(e - v), v);
        assert_true(len < size);
    }
}

static int s_headers(const sg_header *f, size_t n, void *p)
{
    struct seal_ctx *c = p;
    if (c->srv_id != NULL) {
        char res[2048];
        merged_results(f, n, c->srv_id, res, sizeof(res));
        assert_int_equal(sg_arc_sealer_set_results(c->s, res), 0);
    }
    return c->rc = sg_arc_seal_headers(c->s, f, n);
}

static int s_body(const char *d, size_t n, void *p)
{
    struct seal_ctx *c = p;
    return sg_arc_seal_body(c->s, d, n);
}

static sg_resolver *zone_resolver(sg_zone **z, const char *scenario)
{
    sg_resolver *r = NULL;
    size_t err_line = 0;
    assert_int_equal(sg_zone_new(z), 0);
    assert_int_equal(sg_zone_load_tsv(*z,
                                      sg_test_path(sg_test_conformance_dir(), SIGN_DIR "zone.tsv"),
                                      scenario, &err_line),
                     0);
    assert_int_equal(sg_resolver_new_zone(&r, *z), 0);
    return r;
}

/* Validates msg up to the key lookups (in chunks of chunk octets, 0: at
 * once): the verifier, its keys asked. */
static sg_arc_verifier *verify_start(sg_resolver *r, const char *msg, size_t len, size_t chunk)
{
    sg_arc_verifier *v = NULL;
    sg_msg_parser *p = NULL;
    sg_msg_callbacks cbs = {v_headers, v_body, NULL};
    sg_arc_verify_opts opts;
    sg_arc_verify_opts_init(&opts);
    opts.now = TEST_NOW;
    assert_int_equal(sg_arc_verifier_new(&v, r, NULL, &opts), 0);
    assert_int_equal(sg_msg_parser_new(&p, NULL, &cbs, v), 0);
    if (chunk == 0)
        chunk = len;
    for (size_t off = 0; off < len; off += chunk)
        assert_int_equal(sg_msg_feed(p, msg + off, len - off < chunk ? len - off : chunk), 0);
    assert_int_equal(sg_msg_finish(p), 0);
    sg_msg_parser_free(p);
    return v;
}

/* Validate msg; *res stays valid until the verifier is freed. */
static sg_arc_verifier *verify(sg_resolver *r, const char *msg, size_t len, size_t chunk,
                               const sg_arc_result **res)
{
    sg_arc_verifier *v = verify_start(r, msg, len, chunk);
    assert_int_equal(sg_arc_verify_wait(v), 0);
    assert_int_equal(sg_arc_verify_result(v, res), 0);
    return v;
}

/* Feed msg to the sealer (headers, body in chunks); 0 or the headers'
 * error. */
static int feed_sealer(sg_arc_sealer *s, const char *srv_id, const char *msg, size_t len,
                       size_t chunk)
{
    struct seal_ctx c = {s, srv_id, 0};
    sg_msg_parser *p = NULL;
    sg_msg_callbacks cbs = {s_headers, s_body, NULL};
    int rc = 0;
    assert_int_equal(sg_msg_parser_new(&p, NULL, &cbs, &c), 0);
    if (chunk == 0)
        chunk = len;
    for (size_t off = 0; off < len && rc == 0; off += chunk)
        rc = sg_msg_feed(p, msg + off, len - off < chunk ? len - off : chunk);
    if (rc == 0)
        rc = sg_msg_finish(p);
    sg_msg_parser_free(p);
    return rc != 0 ? c.rc : 0;
}

/* fields + msg, malloc'd */
static char *prepend(const char *fields, size_t flen, const char *msg, size_t len, size_t *out_len)
{
    char *o = malloc(flen + len + 1);
    assert_non_null(o);
    memcpy(o, fields, flen);
    memcpy(o + flen, msg, len);
    o[flen + len] = '\0';
    *out_len = flen + len;
    return o;
}

/* ---- comparing with the suite --------------------------------------------------------- */

/* The value of field `name` in the fields text (unfolded), or "". */
static void field_value(const char *fields, const char *name, char *out, size_t size)
{
    size_t n = strlen(name), k = 0;
    const char *p = fields;
    out[0] = '\0';
    while (*p) {
        if (!strncasecmp(p, name, n) && p[n] == ':') {
            for (p += n + 1; *p && k + 1 < size; p++) {
                if (p[0] == '\r' && p[1] == '\n' && (p[2] == ' ' || p[2] == '\t')) {
                    p++;
                    continue;
                }
                if (p[0] == '\r' && p[1] == '\n')
                    break;
                out[k++] = *p;
            }
            out[k] = '\0';
            return;
        }
        p = strstr(p, "\r\n");
        if (p == NULL)
            return;
        p += 2;
    }
}

/* Whitespace runs to one space, trimmed (RFC 6376 3.4.2 relaxed). */
static void squeeze(const char *in, char *out, size_t size)
{
    size_t k = 0;
    int sp = 0;
    for (; *in && k + 2 < size; in++) {
        if (*in == ' ' || *in == '\t' || *in == '\r' || *in == '\n') {
            sp = k > 0;
            continue;
        }
        if (sp)
            out[k++] = ' ';
        sp = 0;
        out[k++] = *in;
    }
    out[k] = '\0';
}

/* Tag lists equal as sets of name=value, whitespace removed (b=, bh= and
 * h= fold anywhere); the order is checked by b= itself. */
static int tags_equal(const char *a, const char *b, char *why, size_t wsize)
{
    char x[4096], y[4096], *save = NULL;
    size_t na = 0, nb = 0, k = 0;
    for (const char *p = a; *p && k + 1 < sizeof(x); p++)
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
            x[k++] = *p;
    x[k] = '\0';
    k = 0;
    for (const char *p = b; *p && k + 3 < sizeof(y); p++)
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
            y[k++] = *p;
    y[k] = '\0';
    for (const char *p = y; *p; p++)
        nb += *p == ';';
    nb += k > 0 && y[k - 1] != ';';
    for (char *t = strtok_r(x, ";", &save); t != NULL; t = strtok_r(NULL, ";", &save)) {
        char probe[2048];
        size_t tl = strlen(t);
        int found = 0;
        na++;
        snprintf(probe, sizeof(probe), ";%s;", t);
        /* y framed by ';' so every tag is ";tag;" */
        {
            char framed[4100];
            snprintf(framed, sizeof(framed), ";%s%s", y, k > 0 && y[k - 1] == ';' ? "" : ";");
            found = strstr(framed, probe) != NULL;
        }
        if (!found) {
            snprintf(why, wsize, "tag %.*s differs", (int)(tl > 40 ? 40 : tl), t);
            return 0;
        }
    }
    if (na != nb) {
        snprintf(why, wsize, "%zu tags, expected %zu", nb, na);
        return 0;
    }
    return 1;
}

static char *read_rel(const char *rel, size_t *len);

/* The AS tags without b= (see the file comment on the suite's AS). */
static void strip_b(const char *in, char *out, size_t size)
{
    const char *p = in, *b = NULL;
    for (const char *q = in; *q; q++)
        if ((q == in || q[-1] == ';' || q[-1] == ' ' || q[-1] == '\n') && q[0] == 'b' &&
            q[1] == '=') {
            b = q;
            break;
        }
    if (b == NULL) {
        snprintf(out, size, "%s", in);
        return;
    }
    p = strchr(b, ';');
    snprintf(out, size, "%.*s%s", (int)(b - in), in, p ? p + 1 : "");
}

/* Is our seal's b= one of the seals in the suite's own messages (the
 * sets the next cases start from)? The b= there folds where ours does,
 * so its first line is a plain substring; an RSA signature equal in 60
 * characters is the same signature of the same digest. */
static int seal_in_suite(const char *as, const char *self)
{
    const char *b = strstr(as, "b=");
    char probe[61], man_line[1024];
    FILE *m;
    int found = 0;
    size_t k = 0;
    if (b == NULL)
        return 0;
    for (b += 2; *b && *b != ';' && k < 60; b++)
        if (*b != ' ')
            probe[k++] = *b;
    probe[k] = '\0';
    m = fopen(sg_test_path(sg_test_conformance_dir(), SIGN_DIR "manifest.tsv"), "r");
    assert_non_null(m);
    while (!found && fgets(man_line, sizeof(man_line), m)) {
        char *c1 = strchr(man_line, '\t'), *c2, *c3, *eml;
        size_t len;
        if (man_line[0] == '#' || c1 == NULL || (c2 = strchr(c1 + 1, '\t')) == NULL ||
            (c3 = strchr(c2 + 1, '\t')) == NULL)
            continue;
        *c3 = '\0';
        if (!strcmp(c2 + 1, self))
            continue; /* not the message we sealed */
        eml = read_rel(c2 + 1, &len);
        found = strstr(eml, probe) != NULL;
        free(eml);
    }
    fclose(m);
    return found;
}

static char *read_rel(const char *rel, size_t *len)
{
    char path[512];
    char *d;
    snprintf(path, sizeof(path), "%s/%s%s", sg_test_conformance_dir(), SIGN_DIR, rel);
    d = sg_test_read_file(path, len);
    assert_non_null(d);
    return d;
}

static sg_dkim_signkey *suite_key(const char *scenario)
{
    char rel[64];
    size_t len;
    char *pem;
    sg_dkim_signkey *k = NULL;
    snprintf(rel, sizeof(rel), "scenario%s.private.pem", scenario);
    pem = read_rel(rel, &len);
    assert_int_equal(sg_dkim_signkey_from_mem(&k, pem, len), 0);
    free(pem);
    return k;
}

/* Cases where our fields knowingly differ from the suite's (besides the
 * AS b=, see the file comment). Empty: none. */
static const struct {
    const char *test_id, *why;
} deviations[] = {{NULL, NULL}};

static const char *deviation(const char *id)
{
    for (size_t k = 0; deviations[k].test_id != NULL; k++)
        if (!strcmp(deviations[k].test_id, id))
            return deviations[k].why;
    return NULL;
}

#define SUITE_TOTAL 17
#define SUITE_EXPECTED 17
/* the 12 i=1 cases, whose set is set 1 of i1_base.eml, and i1_base,
 * whose set is set 2 of i2_base.eml */
#define SUITE_EMBEDDED 13

/* Seal one case; returns 1 when all three fields match. */
static int seal_case(char **col, int *n_verified, int *n_embedded)
{
    size_t mlen, len;
    char *msg = read_rel(col[2], &mlen), *want[3], why[200] = "";
    const char *out = NULL, *hnames[32];
    size_t outlen = 0, nh = 0;
    char hbuf[512], *save = NULL;
    sg_zone *z = NULL;
    sg_resolver *r = zone_resolver(&z, col[0]);
    sg_dkim_signkey *key = suite_key(col[0]);
    const sg_arc_result *res;
    sg_arc_verifier *v = verify(r, msg, mlen, 0, &res);
    sg_arc_cv cv = res->cv;
    sg_arc_seal_opts o;
    sg_arc_sealer *s = NULL;
    int ok;

    sg_arc_verifier_free(v);
    snprintf(hbuf, sizeof(hbuf), "%s", col[6]);
    for (char *t = strtok_r(hbuf, ":", &save); t && nh < 32; t = strtok_r(NULL, ":", &save))
        hnames[nh++] = t;
    sg_arc_seal_opts_init(&o);
    o.domain = col[3];
    o.selector = col[4];
    o.authserv_id = col[5];
    o.key = key;
    o.cv = cv;
    o.headers = hnames;
    o.nheaders = nh;
    o.timestamp = strtoll(col[7], NULL, 10);
    assert_int_equal(sg_arc_sealer_new(&s, &o), 0);
    assert_int_equal(feed_sealer(s, col[5], msg, mlen, 0), 0);
    assert_int_equal(sg_arc_seal_finish(s, &out, &outlen), 0);
    for (int k = 0; k < 3; k++)
        want[k] = read_rel(col[8 + k], &len);

    if (!strcmp(col[11], "empty")) {
        ok = outlen == 0 && sg_arc_seal_instance(s) == 0 && want[0][0] == '\0';
        if (!ok)
            snprintf(why, sizeof(why), "a set was added");
    } else {
        char got[4096], a[4096], b[4096];
        field_value(out, "ARC-Message-Signature", got, sizeof(got));
        ok = tags_equal(want[1], got, why, sizeof(why));
        field_value(out, "ARC-Seal", got, sizeof(got));
        strip_b(got, a, sizeof(a));
        strip_b(want[0], b, sizeof(b));
        ok = ok && tags_equal(b, a, why, sizeof(why));
        if (ok && seal_in_suite(got, col[2]))
            (*n_embedded)++;
        field_value(out, "ARC-Authentication-Results", got, sizeof(got));
        squeeze(got, a, sizeof(a));
        squeeze(want[2], b, sizeof(b));
        if (ok && strcmp(a, b)) {
            snprintf(why, sizeof(why), "AAR \"%.80s\" != \"%.80s\"", a, b);
            ok = 0;
        }
        /* our verifier on the sealed message, body in odd chunks */
        {
            char *sealed = prepend(out, outlen, msg, mlen, &len);
            const sg_arc_result *r2;
            sg_arc_verifier *v2 = verify(r, sealed, len, 13, &r2);
            unsigned i = sg_arc_seal_instance(s);
            assert_int_equal(r2->instance, i);
            if (cv == SG_ARC_FAIL) {
                /* a cv=fail seal ends the chain (5.1.2): fail is right */
                assert_int_equal(r2->cv, SG_ARC_FAIL);
                assert_string_equal(r2->reason, "the newest ARC-Seal says cv=fail");
            } else {
                if (r2->cv != SG_ARC_PASS)
                    print_message("  %s: verifier says %s (%s)\n", col[1], sg_arc_cv_str(r2->cv),
                                  r2->reason);
                assert_int_equal(r2->cv, SG_ARC_PASS);
                assert_int_equal(r2->sets[i - 1].as_cv, cv);
            }
            (*n_verified)++;
            sg_arc_verifier_free(v2);
            free(sealed);
        }
    }
    if (!ok)
        print_message("  %-24s differs: %s%s%s\n", col[1], why,
                      deviation(col[1]) ? " known: " : " UNEXPECTED",
                      deviation(col[1]) ? deviation(col[1]) : "");
    for (int k = 0; k < 3; k++)
        free(want[k]);
    sg_arc_sealer_free(s);
    sg_dkim_signkey_free(key);
    sg_resolver_free(r);
    sg_zone_free(z);
    free(msg);
    return ok;
}

static void valimail(void **state)
{
    size_t len = 0, ok = 0, total = 0;
    int verified = 0, embedded = 0;
    char *man = read_rel("manifest.tsv", &len), *line, *save = NULL;
    (void)state;
    for (line = strtok_r(man, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        char *col[13] = {0}, *c = line;
        size_t k = 0;
        if (line[0] == '#' || line[0] == '\0')
            continue;
        while (k < 13) {
            col[k++] = c;
            if ((c = strchr(c, '\t')) == NULL)
                break;
            *c++ = '\0';
        }
        assert_true(k >= 12);
        /* paths in the manifest are relative to arc/flat/sign/ */
        total++;
        if (seal_case(col, &verified, &embedded)) {
            ok++;
            assert_null(deviation(col[1]));
        }
    }
    print_message("arc signing suite: %zu/%d match (AAR, AMS with b=, AS tags but b=); %d sealed "
                  "messages verified; %d seals equal to one in the suite's own messages\n",
                  ok, SUITE_TOTAL, verified, embedded);
    assert_int_equal(total, SUITE_TOTAL);
    assert_int_equal(ok, SUITE_EXPECTED);
    assert_int_equal(verified, SUITE_TOTAL - 1); /* no_additional_sig adds nothing */
    assert_int_equal(embedded, SUITE_EMBEDDED);
    free(man);
}

/* ---- split signing ----------------------------------------------------------------------- */

static void split(void **state)
{
    size_t mlen, l1 = 0, l2 = 0;
    char *msg = read_rel("messages/i1_base.eml", &mlen);
    sg_dkim_signkey *key = suite_key("2");
    sg_arc_seal_opts o;
    sg_arc_sealer *a = NULL, *b = NULL;
    const char *out1, *out2;
    uint8_t d[32], sig[SG_DKIM_MAX_SIG_BYTES];
    size_t siglen;
    (void)state;
    sg_arc_seal_opts_init(&o);
    o.domain = "example.org";
    o.selector = "dummy";
    o.authserv_id = "lists.example.org";
    o.cv = SG_ARC_PASS;
    o.timestamp = 12346;
    o.key = key;
    assert_int_equal(sg_arc_sealer_new(&a, &o), 0);
    o.key = NULL;
    o.alg = SG_DKIM_RSA_SHA256;
    assert_int_equal(sg_arc_sealer_new(&b, &o), 0);
    assert_int_equal(feed_sealer(a, "lists.example.org", msg, mlen, 0), 0);
    assert_int_equal(feed_sealer(b, "lists.example.org", msg, mlen, 5), 0);
    assert_int_equal(sg_arc_seal_finish(a, &out1, &l1), 0);
    /* without a key: nothing until both digests are signed */
    assert_int_equal(sg_arc_seal_finish(b, &out2, &l2), SG_ESTATE);
    assert_int_equal(sg_arc_seal_complete(b, sig, 64), SG_ESTATE);
    for (int round = 0; round < 2; round++) {
        siglen = sizeof(sig);
        assert_int_equal(sg_arc_seal_digest(b, d), 0);
        assert_int_equal(sg_arc_seal_digest(b, d), SG_ESTATE); /* one at a time */
        /* the public one-call key step (what a signer process answers) */
        size_t small = 64;
        assert_int_equal(sg_dkim_signkey_sign_digest(key, d, sig, &small), SG_EINVAL);
        assert_int_equal(sg_dkim_signkey_sign_digest(key, d, sig, &siglen), 0);
        assert_int_equal(siglen, 128); /* the suite's RSA-1024 key */
        assert_int_equal(sg_arc_seal_complete(b, sig, siglen), 0);
    }
    assert_int_equal(sg_arc_seal_digest(b, d), SG_ESTATE);
    assert_int_equal(sg_arc_seal_finish(b, &out2, &l2), 0);
    assert_int_equal(l1, l2);
    assert_memory_equal(out1, out2, l1);
    /* reset: the same sealer seals again, identically */
    sg_arc_sealer_reset(a);
    assert_int_equal(feed_sealer(a, "lists.example.org", msg, mlen, 0), 0);
    assert_int_equal(sg_arc_seal_finish(a, &out1, &l1), 0);
    assert_memory_equal(out1, out2, l1);
    sg_arc_sealer_free(a);
    sg_arc_sealer_free(b);
    sg_dkim_signkey_free(key);
    free(msg);
}

/* ---- a chain of our own seals ------------------------------------------------ */

static void chain(void **state)
{
    const char *base = "From: a@example.com\r\nTo: b@example.net\r\nSubject: hop\r\n"
                       "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nbody  line \r\n\r\n\r\n";
    sg_dkim_signkey *key = NULL;
    char *rec = NULL, *msg = strdup(base);
    size_t len = strlen(base);
    sg_zone *z = NULL;
    sg_resolver *r = NULL;
    (void)state;
    assert_int_equal(sg_dkim_signkey_generate(&key, SG_DKIM_RSA_SHA256, 1024), 0);
    assert_int_equal(sg_dkim_signkey_record(key, &rec), 0);
    assert_int_equal(sg_zone_new(&z), 0);
    {
        char q[600]; /* one character-string: a 1024-bit record is < 255 bytes */
        assert_true(strlen(rec) < 255);
        snprintf(q, sizeof(q), "\"%s\"", rec);
        assert_int_equal(sg_zone_add(z, "rsa._domainkey.hop.example", "TXT", q, 300), 0);
    }
    assert_int_equal(sg_resolver_new_zone(&r, z), 0);
    for (unsigned hop = 1; hop <= 3; hop++) {
        const sg_arc_result *res;
        sg_arc_verifier *v = verify(r, msg, len, 0, &res);
        sg_arc_seal_opts o;
        sg_arc_sealer *s = NULL;
        const char *out;
        size_t olen, nlen;
        char *next;
        if (res->cv != (hop == 1 ? SG_ARC_NONE : SG_ARC_PASS))
            print_message("hop %u: %s (%s)\n%s", hop, sg_arc_cv_str(res->cv), res->reason, msg);
        assert_int_equal(res->cv, hop == 1 ? SG_ARC_NONE : SG_ARC_PASS);
        sg_arc_seal_opts_init(&o);
        o.domain = "hop.example";
        o.selector = "rsa";
        o.authserv_id = "mx.hop.example";
        o.results = "spf=pass smtp.mailfrom=example.com; dmarc=pass header.from=example.com";
        o.cv = res->cv;
        o.key = key;
        o.timestamp = TEST_NOW - 600 + hop; /* the verifier's clock is TEST_NOW */
        sg_arc_verifier_free(v);
        assert_int_equal(sg_arc_sealer_new(&s, &o), 0);
        assert_int_equal(feed_sealer(s, NULL, msg, len, 3), 0);
        assert_int_equal(sg_arc_seal_instance(s), hop);
        assert_int_equal(sg_arc_seal_finish(s, &out, &olen), 0);
        assert_non_null(strstr(out, "a=rsa-sha256"));
        next = prepend(out, olen, msg, len, &nlen);
        free(msg);
        msg = next;
        len = nlen;
        sg_arc_sealer_free(s);
    }
    {
        const sg_arc_result *res;
        sg_arc_verifier *v = verify(r, msg, len, 0, &res);
        assert_int_equal(res->cv, SG_ARC_PASS);
        assert_int_equal(res->instance, 3);
        /* arc= added by the sealer: the chain it saw, pass at hop 3 */
        assert_string_equal(res->sets[2].aar,
                            "mx.hop.example; arc=pass; spf=pass smtp.mailfrom=example.com; "
                            "dmarc=pass header.from=example.com");
        assert_non_null(strstr(res->sets[0].aar, "mx.hop.example; arc=none;"));
        sg_arc_verifier_free(v);
        /* our AMS signs each of the displayed fields once more than
         * present: one added on top fails the newest AMS, so a receiver
         * that trusts our seal is not shown it as ours (adv41 F1) */
        static const char *const added[] = {
            "Subject: New bank details\r\n", "Reply-To: ceo@attacker.example\r\n",
            "From: ceo@example.com\r\n", "Cc: c@example.net\r\n", "Sender: s@attacker.example\r\n"};
        for (size_t k = 0; k < sizeof(added) / sizeof(added[0]); k++) {
            size_t alen;
            char *more = prepend(added[k], strlen(added[k]), msg, len, &alen);
            v = verify(r, more, alen, 0, &res);
            if (res->cv != SG_ARC_FAIL)
                fail_msg("%.*s added on top: cv=%s", (int)strcspn(added[k], ":"), added[k],
                         sg_arc_cv_str(res->cv));
            sg_arc_verifier_free(v);
            free(more);
        }
        /* a field a later hop adds that is not displayed keeps the chain */
        {
            const char *rcv = "Received: from mx.hop.example by mbox.example.net\r\n";
            size_t alen;
            char *more = prepend(rcv, strlen(rcv), msg, len, &alen);
            v = verify(r, more, alen, 0, &res);
            assert_int_equal(res->cv, SG_ARC_PASS);
            sg_arc_verifier_free(v);
            free(more);
        }
        /* one body byte changed: the newest AMS fails */
        msg[len - 8] ^= 1;
        v = verify(r, msg, len, 0, &res);
        assert_int_equal(res->cv, SG_ARC_FAIL);
        sg_arc_verifier_free(v);
    }
    free(rec);
    free(msg);
    sg_dkim_signkey_free(key);
    sg_resolver_free(r);
    sg_zone_free(z);
}

/* A message sealed by hops 1..HOPS, hop h as (dom[h-1], "h<h>"), all with
 * key; returns it (free it), its length in *len. */
enum { HOPS = 12 };
static char *hop_chain(sg_dkim_signkey *key, const char *const dom[HOPS], size_t *len)
{
    const char *base = "From: a@example.com\r\nTo: b@example.net\r\nSubject: hop\r\n"
                       "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nbody\r\n";
    char *msg = strdup(base);
    *len = strlen(base);
    for (unsigned hop = 1; hop <= HOPS; hop++) {
        sg_arc_seal_opts o;
        sg_arc_sealer *s = NULL;
        const char *out;
        char sel[8];
        size_t olen, nlen;
        snprintf(sel, sizeof(sel), "h%u", hop);
        sg_arc_seal_opts_init(&o);
        o.domain = dom[hop - 1];
        o.selector = sel;
        o.authserv_id = "mx.hop.example";
        o.results = "dmarc=pass header.from=example.com";
        o.cv = hop == 1 ? SG_ARC_NONE : SG_ARC_PASS;
        o.key = key;
        o.timestamp = TEST_NOW - 600 + hop;
        assert_int_equal(sg_arc_sealer_new(&s, &o), 0);
        assert_int_equal(feed_sealer(s, NULL, msg, *len, 0), 0);
        assert_int_equal(sg_arc_seal_finish(s, &out, &olen), 0);
        char *next = prepend(out, olen, msg, *len, &nlen);
        free(msg);
        msg = next;
        *len = nlen;
        sg_arc_sealer_free(s);
    }
    return msg;
}

/* A chain's keys are asked at most 8 at a time, newest first: a forger's
 * 50 sets named 100 keys, all asked at once, on the resolver the host's
 * other mail shares (adv45 F1). 12 hops, each its own selector: 12 keys,
 * 8 out at first, and the chain still passes with all 12 asked. */
static void keys_in_flight(void **state)
{
    static const char *const hop_dom[HOPS] = {
        "hop.example", "hop.example", "hop.example", "hop.example", "hop.example", "hop.example",
        "hop.example", "hop.example", "hop.example", "hop.example", "hop.example", "hop.example"};
    static const char *const slow_dom[HOPS] = {
        "hop.example", "hop.example", "hop.example", "hop.example",  "hop.example", "hop.example",
        "hop.example", "hop.example", "hop.example", "slow.example", "hop.example", "hop.example"};
    sg_dkim_signkey *key = NULL;
    char *rec = NULL, q[600];
    size_t len;
    sg_zone *z = NULL;
    sg_resolver *r = NULL;
    const sg_arc_result *res;
    (void)state;
    assert_int_equal(sg_dkim_signkey_generate(&key, SG_DKIM_RSA_SHA256, 1024), 0);
    assert_int_equal(sg_dkim_signkey_record(key, &rec), 0);
    assert_int_equal(sg_zone_new(&z), 0);
    snprintf(q, sizeof(q), "\"%s\"", rec);
    for (unsigned hop = 1; hop <= HOPS; hop++) {
        char name[64];
        snprintf(name, sizeof(name), "h%u._domainkey.hop.example", hop);
        assert_int_equal(sg_zone_add(z, name, "TXT", q, 300), 0);
    }
    assert_int_equal(
        sg_zone_add_fault(z, "h10._domainkey.slow.example", SG_DNS_TXT, SG_DNS_TIMEOUT), 0);
    assert_int_equal(sg_resolver_new_zone(&r, z), 0);

    char *msg = hop_chain(key, hop_dom, &len);
    sg_arc_verifier *v = verify_start(r, msg, len, 0);
    assert_int_equal(sg_resolver_pending(r), 8);
    assert_int_equal(sg_arc_verify_pending(v), 8);
    assert_int_equal(sg_arc_verify_wait(v), 0);
    assert_int_equal(sg_arc_verify_result(v, &res), 0);
    assert_int_equal(res->cv, SG_ARC_PASS);
    assert_int_equal(res->instance, HOPS);
    for (unsigned j = 0; j < HOPS; j++)
        assert_int_equal(res->sets[j].as_result, SG_DKIM_PASS);
    sg_arc_verifier_free(v);

    /* the verdict's time budget ends before the last keys are asked: the
     * seals never asked are temporary, never a pass */
    v = verify_start(r, msg, len, 0);
    assert_true(sg_arc_verify_finish(v) > 0);
    sg_arc_verify_give_up(v);
    assert_int_equal(sg_arc_verify_result(v, &res), 0);
    assert_int_equal(res->cv, SG_ARC_FAIL);
    assert_int_equal(res->temporary, 1);
    assert_int_equal(res->sets[0].as_result, SG_DKIM_TEMPERROR);
    assert_string_equal(res->sets[0].as_reason,
                        "key not looked up (time allowed over, or the chain could no longer pass)");
    sg_arc_verifier_free(v);
    sg_resolver_run(r, 0); /* the cancelled queries' memory */
    free(msg);

    /* hop 10 sealed by a domain whose key gets no answer: the chain can
     * end temporary at best, and the keys after it are not asked, a
     * forger's DNS costing its timeouts 8 at a time (rev29 R29-6) */
    msg = hop_chain(key, slow_dom, &len);
    v = verify_start(r, msg, len, 0);
    assert_int_equal(sg_arc_verify_wait(v), 0);
    assert_int_equal(sg_arc_verify_result(v, &res), 0);
    assert_int_equal(res->cv, SG_ARC_FAIL);
    assert_int_equal(res->temporary, 1);
    assert_int_equal(res->sets[9].as_result, SG_DKIM_TEMPERROR);
    assert_int_equal(res->sets[11].as_result, SG_DKIM_PASS);
    assert_int_equal(res->sets[0].as_result, SG_DKIM_TEMPERROR);
    assert_string_equal(res->sets[0].as_reason,
                        "key not looked up (time allowed over, or the chain could no longer pass)");
    sg_arc_verifier_free(v);
    free(msg);

    /* the newest sealer's own key without an answer: every key is asked
     * (a trusted forwarder's slow DNS makes the answer temporary only) */
    static const char *const top_slow[HOPS] = {
        "hop.example", "hop.example", "hop.example", "hop.example", "hop.example", "hop.example",
        "hop.example", "hop.example", "hop.example", "hop.example", "hop.example", "hop.example"};
    assert_int_equal(sg_zone_add_fault(z, "h11._domainkey.hop.example", SG_DNS_TXT, SG_DNS_TIMEOUT),
                     0);
    msg = hop_chain(key, top_slow, &len);
    v = verify_start(r, msg, len, 0);
    assert_int_equal(sg_arc_verify_wait(v), 0);
    assert_int_equal(sg_arc_verify_result(v, &res), 0);
    assert_int_equal(res->cv, SG_ARC_FAIL);
    assert_int_equal(res->temporary, 1);
    assert_int_equal(res->sets[10].as_result, SG_DKIM_TEMPERROR);
    assert_int_equal(res->sets[0].as_result, SG_DKIM_PASS);
    sg_arc_verifier_free(v);
    free(msg);

    free(rec);
    sg_dkim_signkey_free(key);
    sg_resolver_free(r);
    sg_zone_free(z);
}

/* ---- refusals ----------------------------------------------------------------------------- */

static void refusals(void **state)
{
    sg_arc_seal_opts o;
    sg_arc_sealer *s = NULL;
    sg_dkim_signkey *key = suite_key("1");
    const char *bad_h[] = {"from", "Authentication-Results"}, *arc_h[] = {"ARC-Seal"};
    const char *plain = "From: a@example.com\r\nSubject: x\r\n\r\nhi\r\n";
    const char *out;
    size_t olen;
    char *big;
    size_t blen = 0;
    (void)state;
    sg_arc_seal_opts_init(&o);
    o.domain = "example.org";
    o.selector = "dummy";
    o.authserv_id = "mx.example.org";
    o.key = key;
    /* each required option, and malformed ones */
    {
        sg_arc_seal_opts b = o;
        b.domain = NULL;
        assert_int_equal(sg_arc_sealer_new(&s, &b), SG_EINVAL);
        b = o;
        b.authserv_id = "mx example";
        assert_int_equal(sg_arc_sealer_new(&s, &b), SG_EINVAL);
        b = o;
        b.selector = "a;b";
        assert_int_equal(sg_arc_sealer_new(&s, &b), SG_EINVAL);
        b = o;
        b.results = "spf=pass\r\nX-Injected: 1";
        assert_int_equal(sg_arc_sealer_new(&s, &b), SG_EINVAL);
        b = o;
        b.headers = bad_h;
        b.nheaders = 2;
        assert_int_equal(sg_arc_sealer_new(&s, &b), SG_EINVAL);
        b.headers = arc_h;
        b.nheaders = 1;
        assert_int_equal(sg_arc_sealer_new(&s, &b), SG_EINVAL);
        b = o;
        b.key = NULL;
        b.alg = SG_DKIM_RSA_SHA1;
        assert_int_equal(sg_arc_sealer_new(&s, &b), SG_EINVAL);
        b.alg = SG_DKIM_ED25519_SHA256;
        assert_int_equal(sg_arc_sealer_new(&s, &b), SG_EINVAL);
        {
            sg_dkim_signkey *ed = NULL;
            assert_int_equal(sg_dkim_signkey_generate(&ed, SG_DKIM_ED25519_SHA256, 0), 0);
            b.key = ed;
            assert_int_equal(sg_arc_sealer_new(&s, &b), SG_EINVAL);
            sg_dkim_signkey_free(ed);
            b.key = NULL;
        }
        b.alg = SG_DKIM_RSA_SHA256;
        b.version = 99;
        assert_int_equal(sg_arc_sealer_new(&s, &b), SG_EINVAL);
        assert_null(s);
    }
    assert_int_equal(sg_arc_sealer_new(&s, &o), 0);
    assert_int_equal(sg_arc_sealer_set_results(s, "a=b\nX: y"), SG_EINVAL);
    /* cv=pass on a message without ARC, cv=none on one with ARC */
    sg_arc_sealer_set_cv(s, SG_ARC_PASS);
    assert_int_equal(feed_sealer(s, NULL, plain, strlen(plain), 0), 0);
    assert_int_equal(sg_arc_seal_finish(s, &out, &olen), SG_EINVAL);
    sg_arc_sealer_reset(s);
    sg_arc_sealer_set_cv(s, SG_ARC_NONE);
    {
        const char *m = "ARC-Seal: i=1; cv=none; a=rsa-sha256; d=x; s=y; b=AA==\r\n"
                        "From: a@example.com\r\n\r\nhi\r\n";
        assert_int_equal(feed_sealer(s, NULL, m, strlen(m), 0), 0);
        assert_int_equal(sg_arc_seal_finish(s, &out, &olen), SG_EINVAL);
        sg_arc_sealer_reset(s);
        /* pass with an incomplete chain (no AMS/AAR for i=1) */
        sg_arc_sealer_set_cv(s, SG_ARC_PASS);
        assert_int_equal(feed_sealer(s, NULL, m, strlen(m), 0), 0);
        assert_int_equal(sg_arc_seal_finish(s, &out, &olen), SG_EINVAL);
        sg_arc_sealer_reset(s);
        /* fail, known only after the body (as when the verifier reads
         * the same pass): only our set, i=2, whatever the old one holds */
        sg_arc_sealer_reset(s);
        assert_int_equal(feed_sealer(s, NULL, m, strlen(m), 0), 0);
        sg_arc_sealer_set_cv(s, SG_ARC_FAIL);
        assert_int_equal(sg_arc_seal_instance(s), 2);
        assert_int_equal(sg_arc_seal_finish(s, &out, &olen), 0);
        assert_non_null(strstr(out, "cv=fail"));
        /* no results given: the record still says what the chain was */
        assert_non_null(
            strstr(out, "ARC-Authentication-Results: i=2; mx.example.org; arc=fail\r\n"));
    }
    /* no From */
    sg_arc_sealer_reset(s);
    sg_arc_sealer_set_cv(s, SG_ARC_NONE);
    assert_int_equal(feed_sealer(s, NULL, "To: b@x\r\n\r\nhi\r\n", 13, 0), SG_ENOTFOUND);
    /* a chain at i=50 (or a forger's i=999999999999): no set, as data */
    sg_arc_sealer_reset(s);
    sg_arc_sealer_set_cv(s, SG_ARC_FAIL);
    big = malloc(200);
    assert_non_null(big);
    blen = (size_t)snprintf(big, 200,
                            "ARC-Seal: i=50; cv=pass; a=rsa-sha256; d=x; s=y; b=AA==\r\n"
                            "From: a@example.com\r\n\r\nhi\r\n");
    assert_int_equal(feed_sealer(s, NULL, big, blen, 0), 0);
    assert_int_equal(sg_arc_seal_instance(s), 0);
    assert_non_null(strstr(sg_arc_seal_skip_reason(s), "50"));
    assert_int_equal(sg_arc_seal_finish(s, &out, &olen), 0);
    assert_int_equal(olen, 0);
    sg_arc_sealer_reset(s);
    blen = (size_t)snprintf(big, 200,
                            "ARC-Seal: i=999999999999; cv=pass; a=rsa-sha256; d=x; s=y; "
                            "b=AA==\r\nFrom: a@example.com\r\n\r\nhi\r\n");
    assert_int_equal(feed_sealer(s, NULL, big, blen, 0), 0);
    assert_int_equal(sg_arc_seal_instance(s), 0);
    /* the state machine */
    sg_arc_sealer_reset(s);
    assert_int_equal(sg_arc_seal_finish(s, &out, &olen), SG_ESTATE);
    assert_int_equal(sg_arc_seal_body(s, "x", 1), SG_ESTATE);
    free(big);
    sg_arc_sealer_free(s);
    sg_dkim_signkey_free(key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valimail),       cmocka_unit_test(split),    cmocka_unit_test(chain),
        cmocka_unit_test(keys_in_flight), cmocka_unit_test(refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
