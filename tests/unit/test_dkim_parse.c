/*
 * DKIM parsers:
 *   dkim::parse::base64     alphabet, padding, whitespace
 *   dkim::parse::base64_peer  random data against OpenSSL's encoder, folded
 *                           at random places, and single-byte corruptions
 *   dkim::parse::taglist    RFC 6376 3.2 grammar, duplicates, FWS
 *   dkim::parse::signature  3.5 tags and 6.1.1 checks
 *   dkim::parse::keyrecord  3.6.1 tags, revoked keys, PKCS#1, Ed25519 length
 *   dkim::parse::keycache   eviction and expiry
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dkim/dkim_int.h"

#include <spoofguard/arc.h>
#include "helpers.h"

#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

static int b64(const char *s, const char *want)
{
    uint8_t *out;
    size_t n;
    int rc = sg_dkim_b64_decode(NULL, s, strlen(s), &out, &n);
    if (rc == 0) {
        assert_non_null(want);
        assert_int_equal(n, strlen(want));
        assert_memory_equal(out, want, n);
        free(out);
    }
    return rc;
}

static void base64(void **state)
{
    char enc[64];
    assert_int_equal(b64("", ""), 0);
    assert_int_equal(b64("Zm9v", "foo"), 0);
    assert_int_equal(b64("Zm9vYg==", "foob"), 0);
    assert_int_equal(b64("Zm9vYmE=", "fooba"), 0);
    assert_int_equal(b64(" Zm9v\r\n\tYmE = ", "fooba"), 0);
    assert_int_equal(b64("Zm9vYg", "foob"), 0);          /* missing padding tolerated */
    assert_int_equal(b64("Zm9vYg=", NULL), SG_ESYNTAX);  /* wrong padding */
    assert_int_equal(b64("Zm9vY===", NULL), SG_ESYNTAX); /* 1 leftover char */
    assert_int_equal(b64("Zm9v!", NULL), SG_ESYNTAX);    /* alphabet */
    assert_int_equal(b64("Zg==Zg==", NULL), SG_ESYNTAX); /* data after padding */
    assert_int_equal(b64("Zh==", NULL), SG_ESYNTAX);     /* non-zero fill bits */
    assert_int_equal(sg_dkim_b64_encode((const uint8_t *)"fooba", 5, enc), 8);
    assert_string_equal(enc, "Zm9vYmE=");
    assert_int_equal(sg_dkim_b64_encode((const uint8_t *)"f", 1, enc), 4);
    assert_string_equal(enc, "Zg==");
}

static int tl(const char *s, size_t *n, sg_dkim_tag *tags)
{
    const char *err = NULL;
    return sg_dkim_taglist_parse(s, strlen(s), tags, SG_DKIM_MAX_TAGS, n, &err);
}

static void taglist(void **state)
{
    sg_dkim_tag t[SG_DKIM_MAX_TAGS];
    size_t n;
    assert_int_equal(tl("a=1; b = 2 ;c=\r\n 3 4;", &n, t), 0);
    assert_int_equal(n, 3);
    assert_int_equal(t[1].name_len, 1);
    assert_memory_equal(t[1].value, "2", 1);
    assert_int_equal(t[2].value_len, 3); /* leading FWS is not part of the value */
    assert_memory_equal(t[2].value, "3 4", 3);
    assert_int_equal(tl("a=1 \r\n\t2", &n, t), 0); /* a fold inside is kept */
    assert_int_equal(t[0].value_len, 6);
    assert_int_equal(tl("", &n, t), 0);
    assert_int_equal(n, 0);
    assert_int_equal(tl("  v=DKIM1; p= ; ", &n, t), 0); /* trailing ';' + WSP */
    assert_int_equal(n, 2);
    assert_int_equal(t[1].value_len, 0);
    assert_int_equal(tl("x_1=a=b", &n, t), 0); /* '=' is a VALCHAR */
    assert_int_equal(t[0].value_len, 3);
    assert_int_equal(tl("a=1; a=2", &n, t), SG_ESYNTAX);   /* duplicate */
    assert_int_equal(tl("zz=1; zz=2", &n, t), SG_ESYNTAX); /* unknown tags too */
    assert_int_equal(tl("a=1; b", &n, t), SG_ESYNTAX);     /* no '=' */
    assert_int_equal(tl("a=1;; b=2", &n, t), SG_ESYNTAX);  /* empty spec */
    assert_int_equal(tl("1a=1", &n, t), SG_ESYNTAX);       /* tag-name starts ALPHA */
    assert_int_equal(tl("a=\x80", &n, t), SG_ESYNTAX);     /* VALCHAR */
    assert_int_equal(tl("a=1\r\nb=2", &n, t), SG_ESYNTAX); /* CRLF without WSP */
    assert_int_equal(tl("a=1\r2", &n, t), SG_ESYNTAX);     /* bare CR (fuzz) */
    assert_int_equal(tl("a=1 \r", &n, t), SG_ESYNTAX);
    {
        /* the reason names the fault: a '-' in a name is no missing '=' */
        const char *err = NULL;
        assert_int_equal(sg_dkim_taglist_parse("a=1; x-y=2", 10, t, SG_DKIM_MAX_TAGS, &n, &err),
                         SG_ESYNTAX);
        assert_string_equal(err, "bad character in a tag name");
        assert_int_equal(sg_dkim_taglist_parse("a=1; b", 6, t, SG_DKIM_MAX_TAGS, &n, &err),
                         SG_ESYNTAX);
        assert_string_equal(err, "tag without '='");
        assert_int_equal(sg_dkim_taglist_parse("a=1; b ;", 8, t, SG_DKIM_MAX_TAGS, &n, &err),
                         SG_ESYNTAX);
        assert_string_equal(err, "tag without '='");
    }
    {
        char many[1024] = "";
        for (int i = 0; i < SG_DKIM_MAX_TAGS + 1; i++)
            sprintf(many + strlen(many), "t%d=1;", i);
        assert_int_equal(tl(many, &n, t), SG_ESYNTAX);
    }
}

#define SIG_OK                                                                                     \
    "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/simple; d=example.com;\r\n"                      \
    " s=sel; t=100; x=200; h=From : To; bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"      \
    " b=AAAA\r\n BBBB ; z=x\r\n"

static int sig(sg_arena *a, const char *raw, sg_dkim_sig *s, const char **reason)
{
    *reason = NULL;
    return sg_dkim_sig_parse(a, SG_SIG_DKIM, raw, strlen(raw), s, reason);
}

static void sig_bad(sg_arena *a, const char *from, const char *to, const char *why)
{
    char buf[1024];
    const char *p = strstr(SIG_OK, from), *reason;
    sg_dkim_sig s;
    assert_non_null(p);
    snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(p - SIG_OK), SIG_OK, to, p + strlen(from));
    if (sig(a, buf, &s, &reason) != SG_ESYNTAX)
        fail_msg("accepted: %s", buf);
    if (strstr(reason, why) == NULL)
        fail_msg("reason '%s' lacks '%s' for %s", reason, why, buf);
}

static void signature(void **state)
{
    sg_arena *a;
    sg_dkim_sig s;
    const char *reason;
    assert_int_equal(sg_arena_new(&a, 0), 0);
    assert_int_equal(sig(a, SIG_OK, &s, &reason), 0);
    assert_int_equal(s.alg, SG_DKIM_RSA_SHA256);
    assert_int_equal(s.hcanon, SG_CANON_RELAXED);
    assert_int_equal(s.bcanon, SG_CANON_SIMPLE);
    assert_string_equal(s.d, "example.com");
    assert_string_equal(s.s, "sel");
    assert_string_equal(s.i, "@example.com");
    assert_int_equal(s.nh, 2);
    assert_string_equal(s.h[0], "From");
    assert_string_equal(s.h[1], "To");
    assert_int_equal(s.blen, 6);
    assert_int_equal(s.bhlen, 32);
    assert_int_equal(s.t, 100);
    assert_int_equal(s.x, 200);
    assert_string_equal(s.b_prefix, "AAAABBBB");
    /* the blanked region runs from after "b=" to the ';' */
    {
        const char *raw = SIG_OK;
        assert_memory_equal(raw + s.b_start - 2, "b=AAAA\r\n BBBB ;", 15);
        assert_int_equal(raw[s.b_end], ';');
    }

    sig_bad(a, "v=1", "v=2", "version");
    sig_bad(a, "v=1; ", "", "v=");
    sig_bad(a, "a=rsa-sha256", "a=rsa-md5", "algorithm");
    sig_bad(a, "c=relaxed/simple", "c=relaxed/fancy", "canonicalization");
    sig_bad(a, "h=From : To", "h=To", "From");
    sig_bad(a, "h=From : To", "h=From :: To", "empty");
    sig_bad(a, "d=example.com", "d=exa mple.com", "d=");
    sig_bad(a, "d=example.com;", "", "missing");
    sig_bad(a, "s=sel", "s=..", "selector");
    sig_bad(a, "x=200", "x=99", "x=");
    sig_bad(a, "t=100", "t=1234567890123", "t=");
    sig_bad(a, "b=AAAA", "b=AA!A", "base64");
    sig_bad(a, "bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=", "bh=AAAA", "bh=");
    sig_bad(a, "s=sel;", "s=sel; i=joe@example.org;", "i=");
    sig_bad(a, "s=sel;", "s=sel; i=joe@badexample.com;", "i=");
    /* a domain-name has no trailing dot, in i= as in d= (adv24 DK-4b) */
    sig_bad(a, "s=sel;", "s=sel; i=joe@example.com.;", "i=");
    sig_bad(a, "s=sel;", "s=sel; i=@sub.example.com.;", "i=");
    sig_bad(a, "s=sel;", "s=sel; i=joe@sub..example.com;", "i=");
    sig_bad(a, "s=sel;", "s=sel; q=http/x;", "query");
    sig_bad(a, "s=sel;", "s=sel; l=12x;", "l=");
    sig_bad(a, "s=sel;", "s=sel; s=sel2;", "duplicate");
    /* accepted variants */
    {
        const char *ok[] = {
            SIG_OK,
            "DKIM-Signature: v=1; a=ed25519-sha256; d=Example.COM; s=a.b; h=from; q=dns/x:dns/txt;"
            " i=joe=40x@sub.example.com; l=12; bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;"
            " b=AAAA; future=tag\r\n",
        };
        assert_int_equal(sig(a, ok[1], &s, &reason), 0);
        assert_string_equal(s.i, "joe@x@sub.example.com");
        assert_int_equal(s.has_l, 1);
        assert_int_equal(s.l, 12);
        assert_int_equal(s.hcanon, SG_CANON_SIMPLE); /* c= default */
    }
    /* rsa-sha1 parses (the verifier turns it into policy) with a 20-byte bh */
    assert_int_equal(sig(a,
                         "DKIM-Signature: v=1; a=rsa-sha1; d=e.com; s=s; h=from; "
                         "bh=AAAAAAAAAAAAAAAAAAAAAAAAAAA=;"
                         " b=AAAA\r\n",
                         &s, &reason),
                     0);
    assert_int_equal(s.alg, SG_DKIM_RSA_SHA1);
    /* RFC 8616 4: a U-label d= and a UTF-8 local part in i= (adv30 IN-2:
     * permerror, where dkimpy and Mail::DKIM pass); the key is looked up
     * and the domain aligned by the A-label */
    assert_int_equal(sig(a,
                         "DKIM-Signature: v=1; a=rsa-sha256; d=b\xc3\xbc"
                         "cher.example; s=s; "
                         "h=from; i=jos\xc3\xa9@B\xc3\x9c"
                         "CHER.example; "
                         "bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=AAAA\r\n",
                         &s, &reason),
                     0);
    assert_string_equal(s.d, "xn--bcher-kva.example");
    assert_string_equal(s.i, "jos\xc3\xa9@xn--bcher-kva.example");
    sig_bad(a, "s=sel;",
            "s=sel; i=joe@b\xc3\xbc"
            "cher.example;",
            "i="); /* not under d= */
    sig_bad(a, "d=example.com",
            "d=b\xe2\x81\x84"
            "cher.example",
            "d="); /* IDNA refuses */
    sig_bad(a, "d=example.com",
            "d=b\xfc"
            "cher.example",
            "invalid character"); /* not UTF-8 */
    sig_bad(a, "d=example.com",
            "d=b\xc0\xbc"
            "cher.example",
            "invalid character"); /* overlong */
    sg_arena_free(a);
}

#define BH32 "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8="
#define AMS_OK                                                                                     \
    "ARC-Message-Signature: i=2; a=rsa-sha256; d=example.com; s=sel;\r\n"                          \
    " h=from:to; bh=" BH32 "; b=AAAA\r\n"
#define AS_OK "ARC-Seal: i=2; a=rsa-sha256; cv=pass; d=example.com; s=sel; t=5; b=AAAA\r\n"

/* Parse raw as kind; 0 or the error, with *reason. */
static int sig_kind(sg_arena *a, sg_dkim_kind kind, const char *raw, sg_dkim_sig *s,
                    const char **reason)
{
    *reason = NULL;
    return sg_dkim_sig_parse(a, kind, raw, strlen(raw), s, reason);
}

/* The ARC kinds through the one parser (RFC 8617 4.1.2, 4.1.3), each rule
 * against the DKIM-Signature rule it departs from. */
static void signature_arc_kinds(void **state)
{
    static const struct {
        sg_dkim_kind kind;
        const char *raw;
        const char *why; /* NULL: accepted */
    } cases[] = {
        {SG_SIG_AMS, AMS_OK, NULL},
        {SG_SIG_AS, AS_OK, NULL},
        /* no v= in ARC: a v= is an unknown tag, ignored */
        {SG_SIG_AMS,
         "ARC-Message-Signature: v=9; i=1; a=rsa-sha256; d=e.com; s=s; h=from; bh=" BH32
         "; b=AAAA\r\n",
         NULL},
        /* i= is the instance: 1..50, no leading zero, required */
        {SG_SIG_AMS,
         "ARC-Message-Signature: i=51; a=rsa-sha256; d=e.com; s=s; h=from; bh=" BH32 "; b=AAAA\r\n",
         "i="},
        {SG_SIG_AMS,
         "ARC-Message-Signature: i=01; a=rsa-sha256; d=e.com; s=s; h=from; bh=" BH32 "; b=AAAA\r\n",
         "i="},
        {SG_SIG_AS, "ARC-Seal: a=rsa-sha256; cv=none; d=e.com; s=s; b=AAAA\r\n", "missing"},
        /* rsa-sha256 only */
        {SG_SIG_AMS,
         "ARC-Message-Signature: i=1; a=ed25519-sha256; d=e.com; s=s; h=from; bh=" BH32
         "; b=AAAA\r\n",
         "ed25519"},
        {SG_SIG_AS, "ARC-Seal: i=1; a=rsa-sha1; cv=none; d=e.com; s=s; b=AAAA\r\n", "rsa-sha256"},
        /* the AMS h= need not name From and may hold empty elements... */
        {SG_SIG_AMS,
         "ARC-Message-Signature: i=1; a=rsa-sha256; d=e.com; s=s; h=to::date; bh=" BH32
         "; b=AAAA\r\n",
         NULL},
        {SG_SIG_AMS,
         "ARC-Message-Signature: i=1; a=rsa-sha256; d=e.com; s=s; h=; bh=" BH32 "; b=AAAA\r\n",
         NULL},
        /* ...but must not name ARC-Seal; the AS has no h= at all */
        {SG_SIG_AMS,
         "ARC-Message-Signature: i=1; a=rsa-sha256; d=e.com; s=s; h=from:ARC-Seal; bh=" BH32
         "; b=AAAA\r\n",
         "ARC-Seal"},
        {SG_SIG_AS, "ARC-Seal: i=1; a=rsa-sha256; cv=none; d=e.com; s=s; h=from; b=AAAA\r\n", "h="},
        /* cv= on the seal: none, pass or fail, required */
        {SG_SIG_AS, "ARC-Seal: i=1; a=rsa-sha256; cv=maybe; d=e.com; s=s; b=AAAA\r\n", "cv="},
        {SG_SIG_AS, "ARC-Seal: i=1; a=rsa-sha256; d=e.com; s=s; b=AAAA\r\n", "missing"},
        /* bh= is required of the AMS; the seal signs no body (AS_OK has none) */
        {SG_SIG_AMS, "ARC-Message-Signature: i=1; a=rsa-sha256; d=e.com; s=s; h=from; b=AAAA\r\n",
         "missing"},
        /* the DKIM rules every kind shares */
        {SG_SIG_AS, "ARC-Seal: i=1; a=rsa-sha256; cv=none; d=e..com; s=s; b=AAAA\r\n", "d="},
        {SG_SIG_AS, "ARC-Seal: i=1; a=rsa-sha256; cv=none; d=e.com; s=s; b=AA!A\r\n", "base64"},
        {SG_SIG_AS, "ARC-Seal: i=1; a=rsa-sha256; cv=none; d=e.com; s=s; t=1x; b=AAAA\r\n", "t="},
    };
    sg_arena *a;
    sg_dkim_sig s;
    const char *reason;
    (void)state;
    assert_int_equal(sg_arena_new(&a, 0), 0);
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        int rc = sig_kind(a, cases[k].kind, cases[k].raw, &s, &reason);
        if (cases[k].why == NULL && rc != 0)
            fail_msg("case %zu refused (%s): %s", k, reason, cases[k].raw);
        if (cases[k].why != NULL && (rc != SG_ESYNTAX || strstr(reason, cases[k].why) == NULL))
            fail_msg("case %zu: rc %d reason '%s', want '%s'", k, rc, reason ? reason : "",
                     cases[k].why);
    }

    /* the defaults the kinds differ in */
    assert_int_equal(sig_kind(a, SG_SIG_AMS, AMS_OK, &s, &reason), 0);
    assert_int_equal(s.kind, SG_SIG_AMS);
    assert_int_equal(s.instance, 2);
    assert_int_equal(s.hcanon, SG_CANON_RELAXED); /* no c=: relaxed/relaxed */
    assert_int_equal(s.bcanon, SG_CANON_RELAXED);
    assert_null(s.i); /* no identity */
    assert_int_equal(s.nh, 2);
    {
        const char *raw = AMS_OK;
        assert_memory_equal(raw + s.b_start, "AAAA", 4);
    }
    assert_int_equal(sig_kind(a, SG_SIG_AS, AS_OK, &s, &reason), 0);
    assert_int_equal(s.instance, 2);
    assert_int_equal(s.cv, SG_ARC_PASS);
    assert_int_equal(s.hcanon, SG_CANON_RELAXED);
    assert_int_equal(s.nh, 0);
    assert_int_equal(s.t, 5);
    /* a broken field still names its instance, domain and selector */
    assert_int_equal(sig_kind(a, SG_SIG_AS,
                              "ARC-Seal: i=3; a=rsa-sha256; cv=pass; d=e.com; s=s; b=!!\r\n", &s,
                              &reason),
                     SG_ESYNTAX);
    assert_int_equal(s.instance, 3);
    assert_string_equal(s.d, "e.com");
    assert_string_equal(s.s, "s");
    sg_arena_free(a);
}

/* One l= rule for every kind: 1*76DIGIT, saturating (RFC 6376 3.5; the
 * AMS carries DKIM's l=, RFC 8617 4.1.2). The ARC copy read at most 18
 * digits, so an AMS with a 19- to 76-digit l= (a length beyond any body:
 * the whole body) made the chain fail where DKIM passed the same tag. */
static void length_tag_all_kinds(void **state)
{
    static const char *const l25 = "1234567890123456789012345";
    char raw[512];
    sg_arena *a;
    sg_dkim_sig s;
    const char *reason;
    (void)state;
    assert_int_equal(sg_arena_new(&a, 0), 0);
    snprintf(raw, sizeof(raw),
             "ARC-Message-Signature: i=1; a=rsa-sha256; d=e.com; s=s; h=from; l=%s; bh=" BH32
             "; b=AAAA\r\n",
             l25);
    assert_int_equal(sig_kind(a, SG_SIG_AMS, raw, &s, &reason), 0);
    assert_int_equal(s.has_l, 1);
    assert_true(s.l == UINT64_MAX);
    snprintf(raw, sizeof(raw),
             "DKIM-Signature: v=1; a=rsa-sha256; d=e.com; s=s; h=from; l=%s; bh=" BH32
             "; b=AAAA\r\n",
             l25);
    assert_int_equal(sig_kind(a, SG_SIG_DKIM, raw, &s, &reason), 0);
    assert_true(s.l == UINT64_MAX);
    /* 77 digits is beyond the ABNF for both */
    snprintf(raw, sizeof(raw),
             "ARC-Message-Signature: i=1; a=rsa-sha256; d=e.com; s=s; h=from; l=%077d; bh=" BH32
             "; b=AAAA\r\n",
             1);
    assert_int_equal(sig_kind(a, SG_SIG_AMS, raw, &s, &reason), SG_ESYNTAX);
    assert_non_null(strstr(reason, "l="));
    sg_arena_free(a);
}

#define RSA_P                                                                                      \
    "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/"   \
    "J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/"                                                     \
    "8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2"                                       \
    "EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB"
#define ED_P "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="

static int key(const char *txt, sg_dkim_key *k, const char **reason)
{
    *reason = NULL;
    return sg_dkim_key_parse(txt, strlen(txt), k, reason);
}

static void key_bad(const char *txt, const char *why)
{
    sg_dkim_key k;
    const char *reason;
    if (key(txt, &k, &reason) != SG_ESYNTAX)
        fail_msg("accepted: %s", txt);
    if (strstr(reason, why) == NULL)
        fail_msg("reason '%s' lacks '%s' for %s", reason, why, txt);
    assert_null(k.pkey);
}

static void keyrecord(void **state)
{
    sg_dkim_key k;
    const char *reason;
    assert_int_equal(key("v=DKIM1; k=rsa; p=" RSA_P, &k, &reason), 0);
    assert_int_equal(k.type, SG_DKIM_KEY_RSA);
    assert_int_equal(k.bits, 1024);
    assert_int_equal(k.hashes, SG_DKIM_HASH_SHA1 | SG_DKIM_HASH_SHA256);
    sg_dkim_key_clear(&k);
    /* k= defaults to rsa; v= optional; p= with whitespace (3.6.1) */
    assert_int_equal(
        key("p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQ KBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5q"
            "hdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+"
            "PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB;"
            " t=y:s:q; h=sha256:md5; s=email:web; n=notes here",
            &k, &reason),
        0);
    assert_int_equal(k.testing, 1);
    assert_int_equal(k.strict, 1);
    assert_int_equal(k.hashes, SG_DKIM_HASH_SHA256);
    sg_dkim_key_clear(&k);
    assert_int_equal(key("v=DKIM1; k=ed25519; p=" ED_P, &k, &reason), 0);
    assert_int_equal(k.type, SG_DKIM_KEY_ED25519);
    sg_dkim_key_clear(&k);
    /* bare PKCS#1 RSAPublicKey (stalwart 002) */
    assert_int_equal(
        key("v=DKIM1; "
            "p=MIGJAoGBALVI635dLK4cJJAH3Lx6upo3X/Lm1tQz3mezcWTA3BUBnyIsdnRf57aD5BtNmhPrYYDlW"
            "lzw3UgnKisIxktkk5+iMQMlFtAS10JB8L3YadXNJY+JBcbeSi5TgJe4WFzNgW95FWDAuSTRXSWZfA/"
            "8xjflbTLDx"
            "0euFZOM7C4T0GwLAgMBAAE=",
            &k, &reason),
        0);
    assert_int_equal(k.bits, 1024);
    sg_dkim_key_clear(&k);

    /* an RSA modulus of 0 decodes and has no size: the signer's record,
     * a permanent error, not OpenSSL's failure (rev20 R-1: temperror) */
    key_bad("v=DKIM1; k=rsa; p=MBwwDQYJKoZIhvcNAQEBBQADCwAwCAIBAAIDAQAB", "not a usable key");
    key_bad("v=DKIM1; k=rsa; p=", "revoked");
    key_bad("v=DKIM1; p=   ", "revoked");
    key_bad("k=rsa; v=DKIM1; p=" RSA_P, "v="); /* v= not first */
    key_bad("v=DKIM2; p=" RSA_P, "v=");
    key_bad("v=DKIM1: k=rsa; p=" RSA_P, "v="); /* dkimpy badversion.txt */
    key_bad("k=foo; p=" RSA_P, "k=");
    key_bad("k=ed25519-sha256; p=" RSA_P, "k="); /* dkimpy badk.txt */
    key_bad("s=tlsrpt; p=" RSA_P, "email");
    key_bad("k=rsa", "no p=");
    key_bad("", "no p=");
    key_bad("p=" RSA_P "; p=x", "syntax");    /* duplicate */
    key_bad("k=ed25519; p=" RSA_P, "usable"); /* an SPKI is not a raw key */
    key_bad("k=rsa; p=" ED_P, "usable");
    key_bad("k=rsa; p=AAA!", "base64");
    key_bad("k=rsa; p=" RSA_P "xx", "base64");
}

/* "v=DKIM1; p=..." of a new 1024-bit RSA key with public exponent e
 * (hex); malloc'd */
static char *rsa_record_e(const char *e_hex)
{
    BIGNUM *e = NULL;
    EVP_PKEY *pk = NULL;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    unsigned char *der = NULL;
    char *rec;
    int len;
    assert_non_null(c);
    assert_true(BN_hex2bn(&e, e_hex) > 0);
    assert_int_equal(EVP_PKEY_keygen_init(c), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_keygen_bits(c, 1024), 1);
    if (BN_is_odd(e) && BN_num_bits(e) >= 2) {
        assert_int_equal(EVP_PKEY_CTX_set1_rsa_keygen_pubexp(c, e), 1);
        assert_int_equal(EVP_PKEY_generate(c, &pk), 1);
    } else {
        /* no key pair has such an e: a public key is written with one,
         * over a real modulus, as a record could be */
        BIGNUM *n = NULL;
        EVP_PKEY *real = NULL;
        EVP_PKEY_CTX *fc = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
        OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
        assert_int_equal(EVP_PKEY_generate(c, &real), 1);
        assert_int_equal(EVP_PKEY_get_bn_param(real, OSSL_PKEY_PARAM_RSA_N, &n), 1);
        assert_int_equal(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n), 1);
        assert_int_equal(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e), 1);
        OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
        assert_non_null(params);
        assert_int_equal(EVP_PKEY_fromdata_init(fc), 1);
        assert_int_equal(EVP_PKEY_fromdata(fc, &pk, EVP_PKEY_PUBLIC_KEY, params), 1);
        OSSL_PARAM_free(params);
        OSSL_PARAM_BLD_free(bld);
        EVP_PKEY_CTX_free(fc);
        EVP_PKEY_free(real);
        BN_free(n);
    }
    len = i2d_PUBKEY(pk, &der);
    assert_true(len > 0);
    rec = malloc(20 + (size_t)len * 2);
    assert_non_null(rec);
    strcpy(rec, "v=DKIM1; p=");
    sg_dkim_b64_encode(der, (size_t)len, rec + strlen(rec));
    OPENSSL_free(der);
    EVP_PKEY_free(pk);
    EVP_PKEY_CTX_free(c);
    BN_free(e);
    return rec;
}

/* The public exponent is odd, at least 3, and bounded to 64 bits, as
 * OpenSSL bounds it above 3072-bit moduli: a verification costs one
 * squaring a bit of e, and a signer's key with a 3070-bit e cost 6 ms a
 * signature. */
static void key_exponent(void **state)
{
    static const struct {
        const char *e;
        int ok;
    } cases[] = {
        {"3", 1},
        {"10001", 1},
        /* e = 1: the padded digest is its own "signature", which anyone
         * writes; an even e has no private key (adv34 F4) */
        {"1", 0},
        {"2", 0},
        {"10000", 0},
        {"FFFFFFFFFFFFFFFE", 0},
        {"FFFFFFFFFFFFFFFF", 1},  /* 64 bits */
        {"10000000000000001", 0}, /* 65 */
        {"1000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "1",
         0}, /* 969 bits */
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *rec = rsa_record_e(cases[i].e);
        if (cases[i].ok) {
            sg_dkim_key k;
            const char *reason;
            if (key(rec, &k, &reason) != 0)
                fail_msg("e=%s refused: %s", cases[i].e, reason);
            sg_dkim_key_clear(&k);
        } else {
            key_bad(rec, "exponent");
        }
        free(rec);
    }
}

static void keycache(void **state)
{
    static const char rec[] = "v=DKIM1; k=ed25519; p=" ED_P;
    static const char rec2[] = "v=DKIM1; k=rsa; p=" RSA_P;
    sg_dkim_keycache *c;
    sg_dkim_key k;
    const char *reason;
    uint64_t hits, misses;
    size_t entries;
    assert_int_equal(sg_dkim_keycache_new(&c, 2), 0);
    assert_int_equal(sg_dkim_keycache_get(c, rec, strlen(rec), 3600, 1000, &k, &reason), 0);
    sg_dkim_key_clear(&k);
    assert_int_equal(sg_dkim_keycache_get(c, rec, strlen(rec), 3600, 2000, &k, &reason), 0);
    assert_non_null(k.pkey);
    sg_dkim_key_clear(&k);
    /* failures are cached with their reason */
    assert_int_equal(sg_dkim_keycache_get(c, "p=", 2, 3600, 1000, &k, &reason), SG_ESYNTAX);
    assert_int_equal(sg_dkim_keycache_get(c, "p=", 2, 3600, 1000, &k, &reason), SG_ESYNTAX);
    assert_non_null(strstr(reason, "revoked"));
    sg_dkim_keycache_stats(c, &hits, &misses, &entries);
    assert_int_equal(hits, 2);
    assert_int_equal(misses, 2);
    assert_int_equal(entries, 2);
    /* a third record evicts the least recently used (rec) */
    assert_int_equal(sg_dkim_keycache_get(c, rec2, strlen(rec2), 3600, 1000, &k, &reason), 0);
    sg_dkim_key_clear(&k);
    assert_int_equal(sg_dkim_keycache_get(c, rec, strlen(rec), 3600, 1000, &k, &reason), 0);
    sg_dkim_key_clear(&k);
    sg_dkim_keycache_stats(c, &hits, &misses, &entries);
    assert_int_equal(misses, 4);
    assert_int_equal(entries, 2);
    /* expiry: TTL 100 is raised to the 60 s floor... then past it, a miss */
    assert_int_equal(sg_dkim_keycache_get(c, rec, strlen(rec), 100, 1000 + 3601, &k, &reason), 0);
    sg_dkim_key_clear(&k);
    sg_dkim_keycache_stats(c, &hits, &misses, &entries);
    assert_int_equal(misses, 5);
    sg_dkim_keycache_free(c);
}

/* A key answer's TXT records: the first SG_DKIM_MAX_KEY_RECORDS are
 * tried, the rest ignored (RFC 6376 3.6.2.2 leaves it to the verifier): a
 * signer's DNS once answered 400 unusable records to each of an ARC
 * chain's 100 key queries, each parsed at ~90 us. */
static void key_answer_records(void **state)
{
    static const char good[] = "v=DKIM1; k=ed25519; p=" ED_P;
    static const char junk[] = "v=DKIM1; k=rsa; p=" ED_P;
    const struct {
        int good_at; /* index of the usable record among 400, -1: none */
        int rc;
    } cases[] = {{0, 0}, {1, 0}, {2, SG_ESYNTAX}, {399, SG_ESYNTAX}, {-1, SG_ESYNTAX}};
    sg_dns_rr *rrs = calloc(400, sizeof(*rrs));
    (void)state;
    assert_non_null(rrs);
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        sg_dkim_keycache *kc;
        sg_dkim_key k = {0};
        const char *reason = NULL;
        int temp = -1;
        uint64_t hits, misses;
        size_t entries;
        char junk_i[400][96];
        for (int i = 0; i < 400; i++) {
            /* distinct records, as the attack's were (the cache keys on the text) */
            snprintf(junk_i[i], sizeof(junk_i[i]), "%s; n=%d", junk, i);
            rrs[i].type = SG_DNS_TXT;
            rrs[i].ttl = 300;
            rrs[i].u.txt.data = i == cases[c].good_at ? good : junk_i[i];
            rrs[i].u.txt.len = strlen(rrs[i].u.txt.data);
        }
        sg_dns_answer ans = {SG_DNS_NOERROR, SG_DNS_TXT, "s._domainkey.x.test", 300, 400, rrs};
        assert_int_equal(sg_dkim_keycache_new(&kc, 4096), 0);
        assert_int_equal(sg_dkim_key_from_answer(kc, &ans, 1000, &k, &reason, &temp), cases[c].rc);
        assert_int_equal(temp, 0);
        assert_true(cases[c].rc != 0 || k.pkey != NULL);
        sg_dkim_keycache_stats(kc, &hits, &misses, &entries);
        assert_true(misses <= SG_DKIM_MAX_KEY_RECORDS);
        sg_dkim_key_clear(&k);
        sg_dkim_keycache_free(kc);
    }
    free(rrs);
}

/* OpenSSL encodes (the peer); ours decodes it back with FWS inserted at
 * random places, which must not change the bytes; a byte outside the
 * alphabet anywhere must be refused. Covers every quantum alignment of
 * the folds against the four-digit fast path. */
static void base64_peer(void **state)
{
    static const char *const fws[] = {" ", "\t", "\r\n\t", "\r\n ", "  \r\n\t "};
    uint32_t seed = 12345;
    (void)state;
    for (int iter = 0; iter < 3000; iter++) {
        unsigned char raw[300], enc[420], folded[2000];
        size_t n, el, fl = 0;
        uint8_t *out;
        size_t outlen;
        seed = seed * 1103515245u + 12345u;
        n = (seed >> 8) % sizeof(raw);
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            raw[i] = (unsigned char)(seed >> 16);
        }
        el = (size_t)EVP_EncodeBlock(enc, raw, (int)n);
        for (size_t i = 0; i < el; i++) {
            seed = seed * 1103515245u + 12345u;
            if ((seed >> 16) % 7 == 0) {
                const char *w = fws[(seed >> 20) % 5];
                memcpy(folded + fl, w, strlen(w));
                fl += strlen(w);
            }
            folded[fl++] = enc[i];
        }
        assert_int_equal(sg_dkim_b64_decode(NULL, (const char *)folded, fl, &out, &outlen), 0);
        assert_int_equal(outlen, n);
        assert_memory_equal(out, raw, n);
        free(out);
        if (fl == 0)
            continue;
        /* one byte replaced by something outside the alphabet and FWS */
        seed = seed * 1103515245u + 12345u;
        size_t at = (seed >> 8) % fl;
        static const char bad[] = "!*-.:@_~\x00\x80\xff\x0b";
        folded[at] = (unsigned char)bad[(seed >> 20) % (sizeof(bad) - 1)];
        assert_int_equal(sg_dkim_b64_decode(NULL, (const char *)folded, fl, &out, &outlen),
                         SG_ESYNTAX);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(base64),
        cmocka_unit_test(base64_peer),
        cmocka_unit_test(taglist),
        cmocka_unit_test(signature),
        cmocka_unit_test(signature_arc_kinds),
        cmocka_unit_test(length_tag_all_kinds),
        cmocka_unit_test(keyrecord),
        cmocka_unit_test(key_exponent),
        cmocka_unit_test(key_answer_records),
        cmocka_unit_test(keycache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
