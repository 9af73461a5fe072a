/*
 * The library's answers do not depend on the process's locale (adv44 F1):
 * run by tests/scripts/locale_independence.sh, which makes the locales.
 *
 *   locale_check ZONE NOW MESSAGE... -- LOCALE...
 *
 * Under "C" first, then under each LOCALE (setlocale(LC_ALL, LOCALE), as
 * an embedder that called setlocale(LC_ALL, "") on such a host): the
 * verdict of every MESSAGE from a client outside SPF (so DKIM decides),
 * a signature made over fields spelled in upper and lower case and the
 * verdict on that message with an unsigned MIME-VERSION added on top,
 * sg_header_is, sg_domain_within, an SPF record in upper case, and the
 * outbound engine's policy lines and account JSON (decimals). Each answer
 * must be the C locale's, byte for byte. Prints PASS/FAIL lines; exit 1
 * on a difference, 2 when a LOCALE is not there.
 */
#include <locale.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spoofguard/common.h>
#include <spoofguard/dkim.h>
#include <spoofguard/dns.h>
#include <spoofguard/msg.h>
#include <spoofguard/outbound.h>
#include <spoofguard/spf.h>
#include <spoofguard/verdict.h>

#define OUT_MAX 65536

typedef struct {
    char *s;
    size_t len;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->s + t->len, OUT_MAX - t->len, fmt, ap);
    va_end(ap);
    if (n < 0 || t->len + (size_t)n >= OUT_MAX)
        t->s[t->len] = '\0'; /* a line that does not fit is left out whole */
    else
        t->len += (size_t)n;
}

/* s, or "(null)": what a result leaves unset shows as such */
static const char *str(const char *s)
{
    return s ? s : "(null)";
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) ||
        (buf = malloc((size_t)n + 1)) == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "locale_check: cannot read %s\n", path);
        exit(2);
    }
    fclose(f);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

static void verdict(text *t, sg_zone *z, int64_t now, const char *m, size_t len)
{
    sg_resolver *res = NULL;
    sg_verdict *v = NULL;
    const sg_verdict_result *r = NULL;
    sg_verdict_opts o;
    sg_verdict_opts_init(&o);
    o.now = now;
    o.authserv_id = "mx.locale.test";
    sg_verdict_envelope env = {"203.0.113.66", "mail.outside.test", "x@outside.test"};
    if (sg_resolver_new_zone(&res, z) != 0 || sg_verdict_new(&v, res, &o) != 0 ||
        sg_verdict_envelope_set(v, &env) != 0 || sg_verdict_feed(v, m, len) != 0 ||
        sg_verdict_finish_sync(v, &r) != 0) {
        put(t, "verdict: error\n");
    } else {
        put(t, "verdict %s, unsigned fields %zu\n", sg_verdict_kind_str(r->verdict),
            r->nunsigned_fields);
        put(t, "reason %s\nA-R %s\n", str(r->reason), str(r->authres));
    }
    sg_verdict_free(v);
    sg_resolver_free(res);
}

/* Signs m with key, then judges it as it is and with an unsigned
 * MIME-VERSION added on top. */
static void sign_and_tamper(text *t, sg_zone *z, int64_t now, const sg_dkim_signkey *key,
                            const char *m)
{
    sg_dkim_sign_opts o;
    sg_dkim_signer *s = NULL;
    sg_msg_parser *p = NULL;
    const char *sig = NULL, *body = strstr(m, "\r\n\r\n");
    size_t siglen = 0, nh = 0;
    sg_dkim_sign_opts_init(&o);
    o.domain = "locale.test";
    o.selector = "sel";
    o.key = key;
    o.timestamp = now;
    if (body == NULL || sg_msg_parser_new(&p, NULL, NULL, NULL) != 0 ||
        sg_msg_feed(p, m, (size_t)(body + 4 - m)) != 0 || sg_dkim_signer_new(&s, &o, 1) != 0 ||
        sg_dkim_sign_headers(s, sg_msg_headers(p, &nh), nh) != 0 ||
        sg_dkim_sign_body(s, body + 4, strlen(body + 4)) != 0 ||
        sg_dkim_sign_finish(s, &sig, &siglen) != 0) {
        put(t, "sign: error\n");
    } else {
        size_t n = strlen(m);
        char *signed_m = malloc(siglen + n + 32), *tampered = malloc(siglen + n + 32);
        if (signed_m && tampered) {
            memcpy(signed_m, sig, siglen);
            memcpy(signed_m + siglen, m, n + 1);
            put(t, "signature %s", signed_m);
            verdict(t, z, now, signed_m, siglen + n);
            snprintf(tampered, siglen + n + 32, "MIME-VERSION: 1.0\r\n%s", signed_m);
            put(t, "tampered:\n");
            verdict(t, z, now, tampered, strlen(tampered));
        }
        free(signed_m);
        free(tampered);
    }
    sg_dkim_signer_free(s);
    sg_msg_parser_free(p);
}

static void helpers(text *t)
{
    sg_header h = {.name = "MIME-VERSION", .name_len = 12, .value = "1.0", .value_len = 3};
    sg_spf_record *rec = NULL;
    static const char spf[] = "v=spf1 IP4:192.0.2.1 INCLUDE:_spf.locale.test MX -ALL";
    int rc = sg_spf_record_parse(&rec, spf, sizeof(spf) - 1, NULL);
    sg_spf_record_free(rec);
    put(t, "header_is %d %d, within %d %d, spf %d\n", sg_header_is(&h, "mime-version"),
        sg_header_is(&h, "Mime-Version"),
        sg_domain_within("MAIL.BIGBANK.EXAMPLE", "bigbank.example"),
        sg_domain_within("info.example", "INFO.EXAMPLE"), rc);
}

static void outbound(text *t)
{
    sg_ob_policy *p = NULL;
    sg_ob_account *a = NULL;
    char *lines = NULL, *json = NULL;
    static const char *const rcpts[] = {"Bob@Partner.Example", "INFO@ISP.EXAMPLE"};
    if (sg_ob_policy_new(&p) != 0 || sg_ob_account_new(&a) != 0 ||
        sg_ob_policy_set(p, NULL, "score_onset", "0.45") != 0 ||
        sg_ob_policy_set(p, NULL, "bounce_warn", "0.075") != 0 ||
        sg_ob_policy_add_internal_domain(p, "ORG.EXAMPLE") != 0 ||
        sg_ob_policy_lines(p, &lines) != 0) {
        put(t, "outbound policy: error\n");
    } else {
        put(t, "policy\n%s", lines);
        int rc = 0;
        for (int i = 0; i < 40 && rc == 0; i++) {
            sg_ob_message m = {1767571200 + i * 7200,
                               "alice",
                               "192.0.2.10",
                               "Alice@Org.Example",
                               rcpts,
                               2,
                               1000,
                               NULL,
                               0};
            sg_ob_decision d;
            rc = sg_ob_decide(p, a, NULL, &m, &d);
        }
        if (rc == 0)
            rc = sg_ob_note_dsn(p, a, 1767571200 + 40 * 7200, "5.1.1", NULL);
        if (rc == 0 && sg_ob_account_json(p, a, 1767571200 + 40 * 7200, &json) == 0)
            put(t, "account %s\n", json);
        else
            put(t, "account: error\n");
    }
    free(lines);
    free(json);
    sg_ob_account_free(a);
    sg_ob_policy_free(p);
}

int main(int argc, char **argv)
{
    int dash = 0, bad = 0;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--"))
            dash = i;
    if (argc < 5 || dash < 4 || dash == argc - 1) {
        fprintf(stderr, "usage: locale_check ZONE NOW MESSAGE... -- LOCALE...\n");
        return 2;
    }
    size_t zlen;
    char *zone_text = slurp(argv[1], &zlen);
    int64_t now = strtoll(argv[2], NULL, 10);
    sg_zone *z = NULL;
    sg_dkim_signkey *key = NULL;
    char *record = NULL, *txt = NULL;
    const uint8_t seed[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                              17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
    if (sg_zone_new(&z) != 0 || sg_zone_load_text(z, zone_text, zlen, NULL, NULL) != 0 ||
        sg_dkim_signkey_from_ed25519_seed(&key, seed) != 0 ||
        sg_dkim_signkey_record(key, &record) != 0 || (txt = malloc(strlen(record) + 3)) == NULL) {
        fprintf(stderr, "locale_check: set-up failed\n");
        return 2;
    }
    sprintf(txt, "\"%s\"", record);
    if (sg_zone_add(z, "sel._domainkey.locale.test.", "TXT", txt, 300) != 0 ||
        sg_zone_add(z, "_dmarc.locale.test.", "TXT", "\"v=DMARC1; p=reject\"", 300) != 0) {
        fprintf(stderr, "locale_check: zone set-up failed\n");
        return 2;
    }
    static const char mine[] = "From: Alice <alice@locale.test>\r\nTo: bob@example.org\r\n"
                               "Subject: locale\r\nDate: Mon, 7 Dec 2026 10:00:00 +0000\r\n"
                               "MESSAGE-ID: <1@locale.test>\r\nmime-version: 1.0\r\n"
                               "Content-Type: text/plain\r\n\r\nhello\r\n";
    char *c_out = calloc(1, OUT_MAX), *l_out = calloc(1, OUT_MAX);
    if (c_out == NULL || l_out == NULL)
        return 2;
    for (int pass = 0; pass < argc - dash; pass++) {
        const char *loc = pass == 0 ? "C" : argv[dash + pass];
        if (setlocale(LC_ALL, loc) == NULL) {
            fprintf(stderr, "locale_check: no locale %s\n", loc);
            return 2;
        }
        text t = {pass == 0 ? c_out : l_out, 0};
        t.s[0] = '\0';
        for (int i = 3; i < dash; i++) {
            size_t len;
            char *m = slurp(argv[i], &len);
            put(&t, "== %s\n", argv[i]);
            verdict(&t, z, now, m, len);
            free(m);
        }
        sign_and_tamper(&t, z, now, key, mine);
        /* an encoded word whose charset is only a language: iconv's ""
         * is the locale's charset (rev26 R26-6) */
        static const char empty_cs[] = "From: =?*x?Q?ceo=40b=FDnk.test?=\r\nTo: a@b.test\r\n"
                                       "Subject: x\r\n\r\nx\r\n";
        put(&t, "== empty charset\n");
        verdict(&t, z, now, empty_cs, sizeof(empty_cs) - 1);
        /* "/" and "//TRANSLIT" are the locale's charset too (rev27 R27-3) */
        static const char slash_cs[] =
            "From: =?//TRANSLIT?Q?ceo=40b=FDnk.test?=\r\nTo: a@b.test\r\n"
            "Subject: x\r\n\r\nx\r\n";
        put(&t, "== slash charset\n");
        verdict(&t, z, now, slash_cs, sizeof(slash_cs) - 1);
        helpers(&t);
        outbound(&t);
        if (pass == 0) {
            /* the C locale's answers are the known ones: the tampered
             * message is not authentic, the helpers fold ASCII case */
            if (strstr(c_out, "tampered:\nverdict authentic") != NULL ||
                strstr(c_out, "header_is 1 1, within 1 1, spf 0") == NULL) {
                printf("FAIL the C locale's own answers are wrong:\n%s", c_out);
                return 1;
            }
            continue;
        }
        if (strcmp(c_out, l_out) == 0) {
            printf("PASS %s: every answer as in the C locale\n", loc);
            continue;
        }
        bad = 1;
        size_t k = 0;
        while (c_out[k] && c_out[k] == l_out[k])
            k++;
        size_t from = k > 200 ? k - 200 : 0;
        printf("FAIL %s: differs from the C locale at byte %zu:\n  C:  %.400s\n  %s: %.400s\n", loc,
               k, c_out + from, loc, l_out + from);
    }
    free(c_out);
    free(l_out);
    free(txt);
    free(record);
    sg_dkim_signkey_free(key);
    sg_zone_free(z);
    free(zone_text);
    return bad;
}
