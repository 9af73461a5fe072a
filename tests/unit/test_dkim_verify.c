/*
 * DKIM verification against published vectors and corpora:
 *   dkim::verify::rfc8463        RFC 8463 A.3, both signatures pass
 *   dkim::verify::tamper         one body byte / one signed header -> fail
 *   dkim::verify::time           t= in the future, x= expired -> policy
 *   dkim::verify::stalwart       stalwart-mail-auth 001-006 (now=1667843664)
 *   dkim::verify::dkimpy         dkimpy manifest (dkim-verify rows)
 *   dkim::verify::mail_dkim      Mail::DKIM corpus, RFC 8301 rules, with
 *                                every deviation from the manifest named
 *   dkim::verify::dns_errors     TIMEOUT/SERVFAIL -> temperror, NXDOMAIN -> permerror
 *   dkim::verify::cap            signatures over the cap are not evaluated
 *   dkim::verify::keycache       keys are parsed once
 *   dkim::verify::length_tag     l= verified, reported, optionally refused
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dkim/dkim_int.h"
#include "helpers.h"
#include "test_dkim_util.h"

#include <spoofguard/canon.h>

static char *conf_path(const char *rel)
{
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s/dkim/%s", sg_test_conformance_dir(), rel);
    return strdup(buf);
}

static char *read_conf(const char *rel, size_t *len)
{
    char *p = conf_path(rel);
    char *d = sg_test_read_file(p, len);
    if (d == NULL)
        fprintf(stderr, "cannot read %s\n", p);
    assert_non_null(d);
    free(p);
    return d;
}

typedef struct {
    sg_zone *zone;
    sg_resolver *res;
} zres;

static void zres_open(zres *z, const char *rel, const char *scenario)
{
    char *p = conf_path(rel);
    size_t line = 0;
    assert_int_equal(sg_zone_new(&z->zone), 0);
    int rc = sg_zone_load_tsv(z->zone, p, scenario, &line);
    if (rc != 0)
        fprintf(stderr, "%s:%zu: %s\n", p, line, sg_strerror(rc));
    assert_int_equal(rc, 0);
    assert_int_equal(sg_resolver_new_zone(&z->res, z->zone), 0);
    free(p);
}

static void zres_close(zres *z)
{
    sg_resolver_free(z->res);
    sg_zone_free(z->zone);
}

static void opts_at(sg_dkim_verify_opts *o, int64_t now)
{
    sg_dkim_verify_opts_init(o);
    o->now = now;
}

static void expect(const char *what, char *got, const char *want, char **rsp)
{
    char *reasons = *rsp;
    if (strcmp(got, want) != 0)
        fprintf(stderr, "%s: got %s (%s), want %s\n", what, got, reasons ? reasons : "", want);
    assert_string_equal(got, want);
    free(got);
    free(reasons);
}

/* RFC 8463 signs at 1528637909; verify shortly after. */
#define RFC8463_NOW 1528637909

static void rfc8463(void **state)
{
    zres z;
    sg_dkim_verify_opts o;
    size_t len;
    char *msg = read_conf("rfc8463/signed.eml", &len), *rs;
    zres_open(&z, "rfc8463/zone.tsv", NULL);
    opts_at(&o, RFC8463_NOW);
    /* whole, and in 1-byte and 7-byte chunks (streaming paths) */
    expect("rfc8463", tdk_verify(z.res, NULL, &o, msg, len, 0, &rs), "pass,pass", &rs);
    expect("rfc8463/1", tdk_verify(z.res, NULL, &o, msg, len, 1, &rs), "pass,pass", &rs);
    expect("rfc8463/7", tdk_verify(z.res, NULL, &o, msg, len, 7, &rs), "pass,pass", &rs);
    /* bare LF input is normalised to CRLF by the parser */
    {
        char *lf = malloc(len + 1);
        size_t n = 0;
        for (size_t i = 0; i < len; i++)
            if (!(msg[i] == '\r' && i + 1 < len && msg[i + 1] == '\n'))
                lf[n++] = msg[i];
        expect("rfc8463/lf", tdk_verify(z.res, NULL, &o, lf, n, 5, &rs), "pass,pass", &rs);
        free(lf);
    }
    zres_close(&z);
    free(msg);
}

static char *replace_once(const char *msg, size_t len, const char *from, const char *to,
                          size_t *outlen)
{
    const char *p = strstr(msg, from);
    size_t fl = strlen(from), tl = strlen(to);
    char *o;
    assert_non_null(p);
    o = malloc(len - fl + tl + 1);
    memcpy(o, msg, (size_t)(p - msg));
    memcpy(o + (p - msg), to, tl);
    memcpy(o + (p - msg) + tl, p + fl, len - (size_t)(p - msg) - fl);
    *outlen = len - fl + tl;
    o[*outlen] = '\0';
    return o;
}

static void tamper(void **state)
{
    zres z;
    sg_dkim_verify_opts o;
    size_t len, n;
    char *msg = read_conf("rfc8463/signed.eml", &len), *t, *rs;
    zres_open(&z, "rfc8463/zone.tsv", NULL);
    opts_at(&o, RFC8463_NOW);
    /* one body byte */
    t = replace_once(msg, len, "We lost the game", "We lost the gamE", &n);
    expect("body byte", tdk_verify(z.res, NULL, &o, t, n, 0, &rs), "fail,fail", &rs);
    free(t);
    /* one signed header byte */
    t = replace_once(msg, len, "Subject: Is dinner ready?", "Subject: Is dinner ready!", &n);
    expect("header byte", tdk_verify(z.res, NULL, &o, t, n, 0, &rs), "fail,fail", &rs);
    free(t);
    /* an added instance of an oversigned field (Subject is listed twice) */
    t = replace_once(msg, len, "Date: Fri", "Subject: Free money\r\nDate: Fri", &n);
    expect("added subject", tdk_verify(z.res, NULL, &o, t, n, 0, &rs), "fail,fail", &rs);
    free(t);
    /* relaxed canonicalisation: whitespace changes are fine */
    t = replace_once(msg, len, "Subject: Is dinner", "Subject:   Is \t dinner", &n);
    expect("relaxed ws", tdk_verify(z.res, NULL, &o, t, n, 0, &rs), "pass,pass", &rs);
    free(t);
    /* an unsigned field may be added */
    t = replace_once(msg, len, "Date: Fri", "X-Added: yes\r\nDate: Fri", &n);
    expect("unsigned add", tdk_verify(z.res, NULL, &o, t, n, 0, &rs), "pass,pass", &rs);
    free(t);
    /* a changed b= */
    t = replace_once(msg, len, "b=/gCrinpcQOo", "b=/gCrinpcQOp", &n);
    expect("b changed", tdk_verify(z.res, NULL, &o, t, n, 0, &rs), "fail,pass", &rs);
    free(t);
    /* a signature that drops From from h= is unusable (RFC 6376 6.1.1) */
    {
        char *t1 = replace_once(msg, len, "h=from : to :\r\n subject", "h=to :\r\n subject", &n);
        t = replace_once(t1, n, ": from : subject", ": subject", &n);
        free(t1);
    }
    expect("no from", tdk_verify(z.res, NULL, &o, t, n, 0, &rs), "permerror,pass", &rs);
    free(t);
    zres_close(&z);
    free(msg);
}

static void time_checks(void **state)
{
    zres z;
    sg_dkim_verify_opts o;
    size_t len;
    char *msg = read_conf("rfc8463/signed.eml", &len), *rs;
    zres_open(&z, "rfc8463/zone.tsv", NULL);
    /* t= more than the skew (300 s) in the future */
    opts_at(&o, RFC8463_NOW - 301);
    expect("future", tdk_verify(z.res, NULL, &o, msg, len, 0, &rs), "policy,policy", &rs);
    /* within the skew */
    opts_at(&o, RFC8463_NOW - 299);
    expect("skew", tdk_verify(z.res, NULL, &o, msg, len, 0, &rs), "pass,pass", &rs);
    zres_close(&z);
    free(msg);

    /* stalwart 005 carries x=1667930064 */
    msg = read_conf("stalwart-mail-auth/messages/005.eml", &len);
    zres_open(&z, "stalwart-mail-auth/zone.tsv", "005");
    opts_at(&o, 1667930064 + 300);
    expect("x within skew", tdk_verify(z.res, NULL, &o, msg, len, 0, &rs), "pass", &rs);
    opts_at(&o, 1667930064 + 301);
    expect("expired", tdk_verify(z.res, NULL, &o, msg, len, 0, &rs), "policy", &rs);
    zres_close(&z);
    free(msg);
}

static void stalwart(void **state)
{
    static const struct {
        const char *id, *want;
        int64_t now;
    } cases[] = {
        /* manifest: "last signature = pass"; crosscheck: every one passes */
        {"001", "pass,pass", 1667843664},
        {"002", "pass", 1667843664},
        {"003", "pass,pass", 1667843664},
        /* Deviation: 004 has t=1667862801, 5.3 hours after the manifest's
         * verify_time, so at that time its timestamp is in the future and
         * we refuse it (RFC 6376 6.1.1 allows it: policy). The source
         * does not check t=. At the signature's own time it passes. */
        {"004", "policy", 1667843664},
        {"004", "pass", 1667862801 + 60},
        {"005", "pass", 1667843664},
        {"006", "pass", 1667843664},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        zres z;
        sg_dkim_verify_opts o;
        size_t len;
        char rel[128], *msg, *rs;
        snprintf(rel, sizeof(rel), "stalwart-mail-auth/messages/%s.eml", cases[i].id);
        msg = read_conf(rel, &len);
        zres_open(&z, "stalwart-mail-auth/zone.tsv", cases[i].id);
        opts_at(&o, cases[i].now);
        expect(rel, tdk_verify(z.res, NULL, &o, msg, len, 4096, &rs), cases[i].want, &rs);
        zres_close(&z);
        free(msg);
    }
}

static void dkimpy(void **state)
{
    static const struct {
        const char *file, *want;
    } cases[] = {
        {"dkimpy/data/rfc6376.signed.msg", "pass,pass"},
        {"dkimpy/data/ed25519test2.msg", "pass"},
        {"dkimpy/data/test2.message", "pass"},
    };
    zres z;
    zres_open(&z, "dkimpy/zone.tsv", NULL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sg_dkim_verify_opts o;
        size_t len;
        char *msg = read_conf(cases[i].file, &len), *rs;
        opts_at(&o, 0); /* no t=/x= in these */
        expect(cases[i].file, tdk_verify(z.res, NULL, &o, msg, len, 100, &rs), cases[i].want, &rs);
        free(msg);
    }
    zres_close(&z);
}

/* ---- Mail::DKIM corpus ------------------------------------------------------
 *
 * The manifest gives Mail::DKIM's (legacy, RFC 4871-era) verdict. Mapped
 * to RFC 8601: pass -> pass, fail -> fail, invalid -> permerror
 * (temperror for the DNS timeout/SERVFAIL cases). Where RFC 6376 + RFC
 * 8301 give another answer, the row names the reason; a row without a
 * reason must agree with the manifest. */

#define N_NOV "no v= tag (pre-RFC 6376 draft); RFC 6376 6.1.1 requires v=1: permerror"
#define N_V05 "v=0.5 (draft version); RFC 6376 6.1.1 requires v=1: permerror"
#define N_SHA1 "rsa-sha1: RFC 8301 3.1 forbids accepting it: policy, decided before key lookup"
#define N_DK "DomainKeys (RFC 4870, historic) is not DKIM: no DKIM-Signature, so no result"
#define N_EXP "rsa-sha1 (RFC 8301 policy) is decided before the x= expiry check"

static const struct {
    const char *file;
    const char *want; /* per signature, top first; "" = no DKIM result */
    const char *deviation;
} mail_dkim[] = {
    {"bad_1.txt", "permerror", N_NOV},
    {"bad_1878954.txt", "policy", N_SHA1},
    {"bad_dk_1.txt", "", N_DK},
    {"bad_dk_2.txt", "", N_DK},
    {"bad_dk_4.txt", "", N_DK},
    {"bad_dk_5.txt", "", N_DK},
    {"bad_ietf01_1.txt", "permerror", N_NOV},
    {"bad_ietf01_2.txt", "permerror", N_NOV},
    {"bad_ietf01_3.txt", "permerror", N_NOV},
    {"badkey1_ed25519.txt", "permerror", NULL},
    {"badkey2_ed25519.txt", "fail", NULL},
    {"badkey3_ed25519.txt", "fail", NULL},
    {"badkey4_ed25519.txt", "permerror", NULL},
    {"badkey5_ed25519.txt", "permerror", NULL},
    {"badkey_1.txt", "permerror", NULL},
    {"badkey_10.txt", "policy", N_SHA1},
    {"badkey_11.txt", "permerror", NULL},
    {"badkey_12.txt", "policy", N_SHA1},
    {"badkey_13.txt", "policy", N_SHA1},
    {"badkey_14.txt", "policy",
     N_SHA1 " (the DNS timeout is never reached; "
            "dns_errors covers it with rsa-sha256)"},
    {"badkey_15.txt", "policy",
     N_SHA1 " (the SERVFAIL is never reached; "
            "dns_errors covers it with rsa-sha256)"},
    {"badkey_2.txt", "permerror", NULL},
    {"badkey_3.txt", "permerror", NULL},
    {"badkey_4.txt", "permerror", NULL},
    {"badkey_5.txt", "permerror", NULL},
    {"badkey_6.txt", "permerror", NULL},
    {"badkey_7.txt", "permerror", NULL},
    {"badkey_8.txt", "policy", N_SHA1},
    {"badkey_9.txt", "policy", N_SHA1},
    {"dk_headers_1.txt", "", N_DK},
    {"dk_headers_2.txt", "", N_DK},
    {"dk_multiple_1.txt", "", N_DK},
    {"good_1878523.txt", "policy", N_SHA1},
    {"good_83176.txt", "policy", N_SHA1},
    {"good_dk_1.txt", "", N_DK},
    {"good_dk_2.txt", "", N_DK},
    {"good_dk_3.txt", "", N_DK},
    {"good_dk_4.txt", "", N_DK},
    {"good_dk_5.txt", "", N_DK},
    {"good_dk_6.txt", "", N_DK},
    {"good_dk_7.txt", "", N_DK},
    {"good_dk_gmail.txt", "", N_DK},
    {"good_dk_yahoo.txt", "", N_DK},
    {"good_ietf01_1.txt", "permerror", N_NOV},
    {"good_ietf01_2.txt", "permerror", N_NOV},
    {"good_qp_1.txt", "policy", N_SHA1},
    {"good_qp_2.txt", "policy", N_SHA1},
    {"good_qp_3.txt", "policy", N_SHA1},
    {"good_rfc4871_3.txt", "policy", N_SHA1},
    {"good_rfc4871_4.txt", "policy", N_SHA1},
    {"goodkey_1.txt", "policy", N_SHA1},
    {"goodkey_2.txt", "policy", N_SHA1},
    {"goodkey_3.txt", "policy", N_SHA1},
    {"goodkey_4.txt", "policy", N_SHA1},
    {"goodkey_ed25519.txt", "pass", NULL},
    {"ignore_1.txt", "permerror", NULL},
    {"ignore_2.txt", "permerror", NULL},
    {"ignore_3.txt", "permerror", NULL},
    {"ignore_4.txt", "permerror", NULL},
    {"ignore_5.txt", "permerror", NULL},
    {"ignore_6.txt", "permerror", NULL},
    {"ignore_7.txt", "policy", N_EXP},
    {"ignore_8.txt", "permerror", NULL},
    {"mine_ietf01_1.txt", "permerror", N_NOV},
    {"mine_ietf01_2.txt", "permerror", N_NOV},
    {"mine_ietf01_3.txt", "permerror", N_NOV},
    {"mine_ietf01_4.txt", "permerror", N_NOV},
    {"mine_ietf05_1.txt", "permerror", N_V05},
    {"multiple_1.txt", "permerror,permerror,permerror,permerror", N_NOV},
    {"multiple_2.txt", "permerror,policy,policy,permerror",
     "sig 1 c=foobar permerror as expected; 2 and 3 " N_SHA1 "; 4 unparseable: permerror"},
    {"no_body_1.txt", "permerror", N_V05},
    {"no_body_2.txt", "permerror", N_V05},
    {"no_body_3.txt", "permerror", N_V05},
};

/* Message-level verdict from per-signature results, to compare with the
 * manifest's overall one. */
static const char *overall(const char *list)
{
    static const char *order[] = {"pass", "fail", "temperror", "permerror", "policy"};
    if (*list == '\0')
        return "none";
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
        if (strstr(list, order[i]))
            return order[i];
    return "none";
}

static void mail_dkim_corpus(void **state)
{
    size_t mlen, checked = 0, deviations = 0, skipped = 0;
    char *manifest = read_conf("mail-dkim/manifest.tsv", &mlen);
    zres z;
    zres_open(&z, "mail-dkim/zone.tsv", NULL);
    for (char *line = strtok(manifest, "\n"); line; line = strtok(NULL, "\n")) {
        char *cols[12] = {0}, *p = line, rel[256], *msg, *rs, *got;
        size_t n = 0, len, k;
        const char *mapped;
        sg_dkim_verify_opts o;
        if (line[0] == '#')
            continue;
        while (n < 12) {
            cols[n++] = p;
            p = strchr(p, '\t');
            if (p == NULL)
                break;
            *p++ = '\0';
        }
        if (cols[5] && cols[5][0]) {
            skipped++; /* pre-standard drafts the source skips too */
            continue;
        }
        for (k = 0; k < sizeof(mail_dkim) / sizeof(mail_dkim[0]); k++)
            if (!strcmp(cols[0] + strlen("corpus/"), mail_dkim[k].file))
                break;
        if (k == sizeof(mail_dkim) / sizeof(mail_dkim[0]))
            fprintf(stderr, "no table row for %s\n", cols[0]);
        assert_true(k < sizeof(mail_dkim) / sizeof(mail_dkim[0]));
        mapped = !strcmp(cols[2], "invalid")
                     ? (strstr(cols[0], "badkey_14") || strstr(cols[0], "badkey_15") ? "temperror"
                                                                                     : "permerror")
                     : cols[2];
        /* a row that disagrees with the manifest must say why */
        if (strcmp(overall(mail_dkim[k].want), mapped) != 0) {
            if (mail_dkim[k].deviation == NULL)
                fprintf(stderr, "%s: %s vs manifest %s without a reason\n", cols[0],
                        mail_dkim[k].want, mapped);
            assert_non_null(mail_dkim[k].deviation);
            deviations++;
        }
        snprintf(rel, sizeof(rel), "mail-dkim/%s", cols[0]);
        msg = read_conf(rel, &len);
        /* no fixed clock in the source: ignore_7's x= (2007) must expire */
        opts_at(&o, 0);
        got = tdk_verify(z.res, NULL, &o, msg, len, 333, &rs);
        if (getenv("SG_DKIM_DUMP"))
            fprintf(stderr, "%-28s %-40s %s\n", cols[0], got, rs);
        expect(rel, got, mail_dkim[k].want, &rs);
        free(msg);
        checked++;
    }
    fprintf(stderr, "mail-dkim: %zu checked, %zu deviations documented, %zu skipped\n", checked,
            deviations, skipped);
    assert_int_equal(checked, sizeof(mail_dkim) / sizeof(mail_dkim[0]));
    zres_close(&z);
    free(manifest);
}

/* ---- made-up zones --------------------------------------------------------------- */

static const char *const rfc8463_rsa_rec =
    "\"v=DKIM1; k=rsa; "
    "p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/"
    "J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2"
    "EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB\"";

static void dns_errors(void **state)
{
    sg_zone *zone;
    sg_resolver *r;
    sg_dkim_verify_opts o;
    size_t len;
    char *msg = read_conf("rfc8463/signed.eml", &len), *rs;
    opts_at(&o, RFC8463_NOW);
    assert_int_equal(sg_zone_new(&zone), 0);
    /* ed25519 key: TIMEOUT; rsa key: present */
    assert_int_equal(
        sg_zone_add(zone, "brisbane._domainkey.football.example.com", "TIMEOUT", "TXT", 300), 0);
    assert_int_equal(
        sg_zone_add(zone, "test._domainkey.football.example.com", "TXT", rfc8463_rsa_rec, 300), 0);
    assert_int_equal(sg_resolver_new_zone(&r, zone), 0);
    expect("timeout", tdk_verify(r, NULL, &o, msg, len, 0, &rs), "temperror,pass", &rs);
    sg_resolver_free(r);
    sg_zone_free(zone);

    assert_int_equal(sg_zone_new(&zone), 0);
    assert_int_equal(
        sg_zone_add(zone, "brisbane._domainkey.football.example.com", "SERVFAIL", "TXT", 300), 0);
    /* rsa key name: NXDOMAIN (absent) */
    assert_int_equal(sg_resolver_new_zone(&r, zone), 0);
    expect("servfail", tdk_verify(r, NULL, &o, msg, len, 0, &rs), "temperror,permerror", &rs);
    sg_resolver_free(r);
    sg_zone_free(zone);

    /* revoked key, and a key of the wrong type */
    assert_int_equal(sg_zone_new(&zone), 0);
    assert_int_equal(sg_zone_add(zone, "brisbane._domainkey.football.example.com", "TXT",
                                 "\"v=DKIM1; k=ed25519; p=\"", 300),
                     0);
    assert_int_equal(
        sg_zone_add(zone, "test._domainkey.football.example.com", "TXT",
                    "\"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"", 300),
        0);
    assert_int_equal(sg_resolver_new_zone(&r, zone), 0);
    {
        char *got = tdk_verify(r, NULL, &o, msg, len, 0, &rs);
        assert_string_equal(got, "permerror,permerror");
        assert_non_null(strstr(rs, "revoked"));
        assert_non_null(strstr(rs, "key type"));
        free(got);
        free(rs);
    }
    sg_resolver_free(r);
    sg_zone_free(zone);
    free(msg);
}

static void no_signature(void **state)
{
    zres z;
    sg_dkim_verify_opts o;
    size_t len;
    char *msg = read_conf("rfc8463/unsigned.eml", &len), *rs;
    zres_open(&z, "rfc8463/zone.tsv", NULL);
    opts_at(&o, RFC8463_NOW);
    expect("unsigned", tdk_verify(z.res, NULL, &o, msg, len, 0, &rs), "", &rs);
    zres_close(&z);
    free(msg);
}

static void cap(void **state)
{
    zres z;
    sg_dkim_verify_opts o;
    size_t len, sl, n = 0;
    char *msg = read_conf("rfc8463/signed.eml", &len), *big, *rs, *got;
    const char *body = strstr(msg, "From: ");
    sl = (size_t)(body - msg); /* both signature fields */
    big = malloc(len + 6 * sl);
    for (int i = 0; i < 6; i++) {
        memcpy(big + n, msg, sl);
        n += sl;
    }
    memcpy(big + n, msg, len);
    n += len;
    zres_open(&z, "rfc8463/zone.tsv", NULL);
    opts_at(&o, RFC8463_NOW);
    got = tdk_verify(z.res, NULL, &o, big, n, 0, &rs);
    assert_string_equal(got, "pass,pass,pass,pass,pass,pass,pass,pass,pass,pass,policy,policy,"
                             "policy,policy");
    assert_non_null(strstr(rs, "too many signatures"));
    free(got);
    free(rs);
    o.max_signatures = 3;
    expect("cap3", tdk_verify(z.res, NULL, &o, big, n, 0, &rs),
           "pass,pass,pass,policy,policy,policy,policy,policy,policy,policy,policy,policy,policy,"
           "policy",
           &rs);
    zres_close(&z);
    free(big);
    free(msg);
}

static void keycache(void **state)
{
    zres z;
    sg_dkim_verify_opts o;
    sg_dkim_keycache *c;
    uint64_t hits, misses;
    size_t len, entries;
    char *msg = read_conf("rfc8463/signed.eml", &len), *rs;
    zres_open(&z, "rfc8463/zone.tsv", NULL);
    opts_at(&o, RFC8463_NOW);
    assert_int_equal(sg_dkim_keycache_new(&c, 0), 0);
    for (int i = 0; i < 3; i++)
        expect("cached", tdk_verify(z.res, c, &o, msg, len, 0, &rs), "pass,pass", &rs);
    sg_dkim_keycache_stats(c, &hits, &misses, &entries);
    assert_int_equal(misses, 2);
    assert_int_equal(hits, 4);
    assert_int_equal(entries, 2);
    sg_dkim_keycache_free(c);

    /* a cache of one entry: both keys still verify, by evicting */
    assert_int_equal(sg_dkim_keycache_new(&c, 1), 0);
    expect("cache1", tdk_verify(z.res, c, &o, msg, len, 0, &rs), "pass,pass", &rs);
    sg_dkim_keycache_stats(c, &hits, &misses, &entries);
    assert_int_equal(entries, 1);
    sg_dkim_keycache_free(c);
    zres_close(&z);
    free(msg);
}

/* Build a signature with l= by hand (our signer never writes l=): RFC 8463
 * message, Ed25519 key, relaxed/relaxed, l= covering "Hi.\r\n\r\n". */
static void length_tag(void **state)
{
    static const char prefix[] = "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"
                                 " d=football.example.com; s=brisbane; l=7; h=from:subject;\r\n";
    zres z;
    sg_dkim_verify_opts o;
    size_t len, seedlen, n;
    char *msg = read_conf("rfc8463/unsigned.eml", &len), *seedtxt, *rs;
    const char *body = strstr(msg, "\r\n\r\n") + 4;
    sg_dkim_signkey *k;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    sg_canon_body cb;
    uint8_t bh[32], digest[32], sig[64];
    size_t siglen = sizeof(sig);
    unsigned int dl;
    char bh64[64], b64[128], field[1024], *full;
    sg_msg_parser *p;
    const sg_header *hf;
    size_t nh;
    unsigned char used[64];

    seedtxt = read_conf("rfc8463/keys/ed25519.seed.b64", &seedlen);
    assert_int_equal(sg_dkim_signkey_from_mem(&k, seedtxt, seedlen), 0);
    /* body hash over the first 7 canonical bytes */
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    sg_canon_body_init(&cb, SG_CANON_RELAXED, 7, sg_dkim_md_sink, md);
    sg_canon_body_update(&cb, body, len - (size_t)(body - msg));
    sg_canon_body_final(&cb);
    EVP_DigestFinal_ex(md, bh, &dl);
    sg_dkim_b64_encode(bh, 32, bh64);
    snprintf(field, sizeof(field), "%s bh=%s;\r\n b=\r\n", prefix, bh64);
    /* header hash: from, subject, then this field without CRLF */
    assert_int_equal(sg_msg_parser_new(&p, NULL, NULL, NULL), 0);
    assert_int_equal(sg_msg_feed(p, msg, len), 0);
    assert_int_equal(sg_msg_finish(p), 0);
    hf = sg_msg_headers(p, &nh);
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    {
        const char *h[] = {"from", "subject"};
        sg_dkim_hash_headers(md, SG_CANON_RELAXED, hf, nh, h, 2, SIZE_MAX, used);
    }
    sg_canon_header(SG_CANON_RELAXED, field, strlen(field), 1, sg_dkim_md_sink, md);
    EVP_DigestFinal_ex(md, digest, &dl);
    assert_int_equal(sg_dkim_crypto_sign(sg_dkim_signkey_pkey(k), digest, sig, &siglen), 0);
    sg_dkim_b64_encode(sig, siglen, b64);
    snprintf(field, sizeof(field), "%s bh=%s;\r\n b=%s\r\n", prefix, bh64, b64);
    n = strlen(field) + len;
    full = malloc(n + 64);
    memcpy(full, field, strlen(field));
    memcpy(full + strlen(field), msg, len);

    zres_open(&z, "rfc8463/zone.tsv", NULL);
    opts_at(&o, RFC8463_NOW);
    {
        char *got = tdk_verify(z.res, NULL, &o, full, n, 0, &rs);
        assert_string_equal(got, "pass");
        assert_non_null(strstr(rs, "part of the body"));
        free(got);
        free(rs);
    }
    o.fail_on_partial_body = 1;
    expect("partial refused", tdk_verify(z.res, NULL, &o, full, n, 0, &rs), "policy", &rs);
    o.fail_on_partial_body = 0;
    /* bytes after l= may change; bytes before may not */
    {
        size_t tl;
        char *t = replace_once(full, n, "Joe.", "Eve.", &tl);
        expect("after l=", tdk_verify(z.res, NULL, &o, t, tl, 0, &rs), "pass", &rs);
        free(t);
        t = replace_once(full, n, "Hi.", "Ho.", &tl);
        expect("before l=", tdk_verify(z.res, NULL, &o, t, tl, 0, &rs), "fail", &rs);
        free(t);
    }
    zres_close(&z);
    sg_msg_parser_free(p);
    sg_dkim_signkey_free(k);
    EVP_MD_CTX_free(md);
    free(full);
    free(seedtxt);
    free(msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc8463),     cmocka_unit_test(tamper),
        cmocka_unit_test(time_checks), cmocka_unit_test(stalwart),
        cmocka_unit_test(dkimpy),      cmocka_unit_test(mail_dkim_corpus),
        cmocka_unit_test(dns_errors),  cmocka_unit_test(no_signature),
        cmocka_unit_test(cap),         cmocka_unit_test(keycache),
        cmocka_unit_test(length_tag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
