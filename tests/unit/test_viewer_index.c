/* spoofguard-view's index (src/viewer/index.c) over the viewer fixtures
 * (tests/data/viewer, whose manifest.tsv says what each message must
 * show): nothing is listed verified before it is proven, the headlines
 * after verification, --now, "seen before" by Date, and the
 * correspondents learned from verified mail only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <spoofguard/dns.h>

#include "helpers.h"
#include "index.h"

#define NOW 1796256000LL /* the fixtures' signatures are valid then */

typedef struct {
    char subject[128];
    char headline[32];
} expect;

static expect manifest[16];
static size_t nmanifest;
static char root[64];

static void load_manifest(void)
{
    char *m = sg_test_read_file(sg_test_path(sg_test_data_dir(), "viewer/manifest.tsv"), NULL);
    assert_non_null(m);
    nmanifest = 0;
    for (char *line = strtok(m, "\n"); line; line = strtok(NULL, "\n")) {
        char *f[10] = {0};
        size_t n = 0;
        if (line[0] == '#')
            continue;
        for (char *p = line; n < 10; n++) {
            f[n] = p;
            p = strchr(p, '\t');
            if (p == NULL) {
                n++;
                break;
            }
            *p++ = '\0';
        }
        assert_true(n >= 5 && nmanifest < 16);
        snprintf(manifest[nmanifest].subject, sizeof(manifest[0].subject), "%s", f[2]);
        snprintf(manifest[nmanifest].headline, sizeof(manifest[0].headline), "%s", f[4]);
        nmanifest++;
    }
    free(m);
}

static int setup(void **state)
{
    char cmd[1024];
    load_manifest();
    snprintf(root, sizeof(root), "/tmp/sgv-index-XXXXXX");
    assert_non_null(mkdtemp(root));
    snprintf(cmd, sizeof(cmd), "cp -r '%s/viewer/maildir/.' %s/ && mkdir -p %s/tmp %s/new %s/cur",
             sg_test_data_dir(), root, root, root, root);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    return system(cmd) == 0 ? 0 : -1;
}

typedef struct {
    sgv_config cfg;
    const char *maildirs[1];
    const char *protect[1];
    char operators[4096];
    sg_zone *zone;
    sg_resolver *res;
    sgv_index *ix;
} fixture;

static void open_index_capped(fixture *f, long long now, size_t correspondents_max)
{
    char err[256];
    size_t line = 0;
    memset(f, 0, sizeof(*f));
    f->maildirs[0] = root;
    f->protect[0] = "bank.example";
    f->cfg.maildirs = f->maildirs;
    f->cfg.nmaildirs = 1;
    f->cfg.listen = "127.0.0.1:1";
    f->cfg.authserv_id = "mx.home.example";
    f->cfg.protect = f->protect;
    f->cfg.nprotect = 1;
    /* the list the reader knows: the fixtures' third party */
    snprintf(f->operators, sizeof(f->operators), "%s",
             sg_test_path(sg_test_data_dir(), "viewer/operator-domains"));
    f->cfg.operator_domains = f->operators;
    f->cfg.now = now;
    f->cfg.correspondents_max = correspondents_max;
    assert_int_equal(sg_zone_new(&f->zone), 0);
    assert_int_equal(sg_zone_load_file(f->zone,
                                       sg_test_path(sg_test_data_dir(), "viewer/viewer.zone"), NULL,
                                       &line),
                     0);
    assert_int_equal(sg_resolver_new_zone(&f->res, f->zone), 0);
    assert_int_equal(sgv_index_new(&f->ix, &f->cfg, f->res, err, sizeof(err)), 0);
}

static void open_index(fixture *f, long long now)
{
    open_index_capped(f, now, 0);
}

static void close_index(fixture *f)
{
    sgv_index_free(f->ix);
    sg_resolver_free(f->res);
    sg_zone_free(f->zone);
}

typedef struct {
    size_t n, checking, verified;
    char subjects[16][128];
    char headlines[16][32];
    char ids[16][SGV_ID_LEN + 1];
    char addresses[16][128];
    char details[16][256];
} rows;

static int collect(const sgv_row *r, void *payload)
{
    rows *c = payload;
    if (c->n < 16) {
        snprintf(c->subjects[c->n], 128, "%s", r->subject);
        snprintf(c->headlines[c->n], 32, "%s", sgr_headline_name(r->headline));
        snprintf(c->ids[c->n], SGV_ID_LEN + 1, "%s", r->id);
        snprintf(c->addresses[c->n], 128, "%s", r->address);
        snprintf(c->details[c->n], 256, "%s", r->headline_detail);
    }
    c->n++;
    c->checking += r->checking != 0;
    c->verified +=
        r->headline == SGR_HEADLINE_VERIFIED || r->headline == SGR_HEADLINE_VERIFIED_THIRD_PARTY;
    return 0;
}

static const char *headline_of(const rows *c, const char *subject)
{
    for (size_t i = 0; i < c->n && i < 16; i++)
        if (!strcmp(c->subjects[i], subject))
            return c->headlines[i];
    return NULL;
}

static void never_verified_before_proven(void **state)
{
    fixture f;
    rows c;
    open_index(&f, NOW);
    /* scanned, not checked (no thread yet): listed, unverified, checking */
    sgv_index_refresh(f.ix);
    memset(&c, 0, sizeof(c));
    sgv_index_foreach(f.ix, collect, &c);
    assert_int_equal(c.n, nmanifest);
    assert_int_equal(c.checking, nmanifest);
    assert_int_equal(c.verified, 0);
    for (size_t i = 0; i < c.n; i++)
        assert_string_equal(c.headlines[i], "unverified");
    close_index(&f);
}

static void headlines_after_verification(void **state)
{
    fixture f;
    rows c;
    open_index(&f, NOW);
    assert_int_equal(sgv_index_start(f.ix), 0);
    assert_true(sgv_index_wait_idle(f.ix, 60000));
    assert_true(sgv_index_first_index_ns(f.ix) > 0);
    memset(&c, 0, sizeof(c));
    sgv_index_foreach(f.ix, collect, &c);
    assert_int_equal(c.n, nmanifest);
    assert_int_equal(c.checking, 0);
    for (size_t i = 0; i < nmanifest; i++) {
        const char *h = headline_of(&c, manifest[i].subject);
        assert_non_null(h);
        if (strcmp(h, manifest[i].headline))
            fail_msg("%s: %s, want %s", manifest[i].subject, h, manifest[i].headline);
    }
    /* newest first: the manifest lists them oldest first */
    assert_string_equal(c.subjects[0], manifest[nmanifest - 1].subject);
    assert_string_equal(c.subjects[nmanifest - 1], manifest[0].subject);

    /* the correspondents: learned from verified mail only */
    sgv_seen_ctx sc = {f.ix, NOW, 0, "ffffffffffffffffffffffff"};
    sgr_correspondents corr;
    sgv_index_correspondents(&sc, &corr);
    assert_int_equal(corr.seen(corr.payload, "support@bank.example"), 1);
    assert_int_equal(corr.seen(corr.payload, "SUPPORT@bank.example"), 1);
    assert_int_equal(corr.seen(corr.payload, "nobody@bank.example"), 0);
    /* nothing earlier than the oldest message */
    sgv_seen_ctx early = {f.ix, 1700000000LL, 0, "ffffffffffffffffffffffff"};
    sgv_index_correspondents(&early, &corr);
    assert_int_equal(corr.seen(corr.payload, "support@bank.example"), 0);
    sgv_index_correspondents(&sc, &corr);
    /* "Bank Example" is a verified correspondent's name (bank.example):
     * the same name from a look-alike domain is someone else */
    const char *owner =
        corr.name_owner(corr.payload, "Bank  example", "support@xn--bnk-6cd.example");
    assert_non_null(owner);
    assert_non_null(strstr(owner, "@bank.example"));
    /* ... but another address of the same organisation is not */
    assert_null(corr.name_owner(corr.payload, "Bank Example", "other@bank.example"));
    /* a name only unverified mail used teaches nothing */
    assert_null(corr.name_owner(corr.payload, "Harbor Deals", "x@elsewhere.example"));
    close_index(&f);
}

static void now_matters(void **state)
{
    fixture f;
    rows c;
    /* 60 days later every signature has expired: nothing is verified */
    open_index(&f, NOW + 60LL * 86400);
    assert_int_equal(sgv_index_start(f.ix), 0);
    assert_true(sgv_index_wait_idle(f.ix, 60000));
    memset(&c, 0, sizeof(c));
    sgv_index_foreach(f.ix, collect, &c);
    assert_int_equal(c.n, nmanifest);
    assert_int_equal(c.verified, 0);
    close_index(&f);
}

/* Writes a message our MTA says is verified for domain into root/new. */
static void put_verified(const char *file, const char *domain, const char *from,
                         const char *subject, const char *date)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/new/%s", root, file);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fprintf(fp,
            "Authentication-Results: mx.home.example; dkim=pass header.d=%s; dmarc=pass "
            "header.from=%s policy.dmarc=reject\n"
            "From: %s\nTo: reader@home.example\nSubject: %s\nDate: %s\n"
            "Content-Type: text/plain\n\nSign in at https://login.%s/ today.\n",
            domain, domain, from, subject, date, domain);
    assert_int_equal(fclose(fp), 0);
}

static const sgr_explanation *view_of(fixture *f, const rows *c, const char *subject, sgv_view **v)
{
    for (size_t i = 0; i < c->n && i < 16; i++)
        if (!strcmp(c->subjects[i], subject)) {
            assert_int_equal(sgv_index_open(f->ix, c->ids[i], v), 0);
            return (*v)->e;
        }
    fail_msg("no message %s", subject);
    return NULL;
}

static int has_kind(const sgr_explanation *e, const char *kind)
{
    for (size_t i = 0; i < e->nwarnings; i++)
        if (!strcmp(e->warnings[i].kind, kind))
            return 1;
    return 0;
}

/* Verified mail from the attacker's own lookalike of the protected
 * bank.example teaches nothing (adv29 RD-1): neither its domain, which
 * would then be known and lose its lookalike and idn warnings on every
 * page, nor its display name. Verified mail from an unrelated domain is
 * still learned. */
static void lookalike_not_learned(void **state)
{
    fixture f;
    rows c;
    (void)state;
    put_verified("1796300000.R1.rd1", "bank-example.com",
                 "Security Desk <security@bank-example.com>", "Account locked",
                 "Thu, 03 Dec 2026 09:00:00 +0000");
    put_verified("1796300001.R2.rd1", "bank-example.com",
                 "Security Desk <security@bank-example.com>", "Second notice",
                 "Thu, 03 Dec 2026 10:00:00 +0000");
    put_verified("1796300002.R3.rd1", "xn--bnk-6cd.example",
                 "Card Team <cards@xn--bnk-6cd.example>", "Homograph",
                 "Thu, 03 Dec 2026 11:00:00 +0000");
    put_verified("1796300003.R4.rd1", "friend.example", "Friendly Person <pal@friend.example>",
                 "Friend", "Thu, 03 Dec 2026 12:00:00 +0000");
    open_index(&f, NOW);
    assert_int_equal(sgv_index_start(f.ix), 0);
    /* idle: the checker rebuilt with what was learned (rev21 R-14) */
    assert_true(sgv_index_wait_idle(f.ix, 60000));
    memset(&c, 0, sizeof(c));
    sgv_index_foreach(f.ix, collect, &c);
    const char *subj[] = {"Account locked", "Second notice", "Homograph"};
    for (size_t i = 0; i < 3; i++) {
        sgv_view *v;
        const sgr_explanation *e = view_of(&f, &c, subj[i], &v);
        assert_int_equal(e->headline, SGR_HEADLINE_VERIFIED);
        if (!has_kind(e, "lookalike") || (i == 2 && !has_kind(e, "idn")))
            fail_msg("%s: the page lost its lookalike/idn warning", subj[i]);
        sgv_view_release(f.ix, v);
    }
    sgv_seen_ctx sc = {f.ix, NOW + 86400, 0, "ffffffffffffffffffffffff"};
    sgr_correspondents corr;
    sgv_index_correspondents(&sc, &corr);
    assert_null(corr.name_owner(corr.payload, "Security Desk", "x@elsewhere.example"));
    assert_null(corr.name_owner(corr.payload, "Card Team", "x@elsewhere.example"));
    const char *owner = corr.name_owner(corr.payload, "Friendly Person", "x@elsewhere.example");
    assert_non_null(owner);
    assert_string_equal(owner, "pal@friend.example");
    close_index(&f);
}

static void put_unverified(const char *file, const char *from, const char *subject)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/new/%s", root, file);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fprintf(fp,
            "From: %s\nTo: reader@home.example\nSubject: %s\n"
            "Date: Fri, 04 Dec 2026 09:00:00 +0000\nContent-Type: text/plain\n\nHello.\n",
            from, subject);
    assert_int_equal(fclose(fp), 0);
}

/* How many of the two lookalikes (of alpha-mailer.example and of
 * bravo-mailer.example) are warned of, with at most cap correspondents. */
static int lookalikes_warned(size_t cap)
{
    fixture f;
    rows c;
    int n = 0;
    char cmd[256];
    /* only these four messages: the fixtures' verified senders would take places */
    snprintf(cmd, sizeof(cmd), "rm -rf %s/cur/* %s/new/*", root, root);
    assert_int_equal(system(cmd), 0);
    put_verified("1796300010.C1.cap", "alpha-mailer.example", "Alpha <news@alpha-mailer.example>",
                 "Alpha news", "Thu, 03 Dec 2026 09:00:00 +0000");
    put_verified("1796300011.C2.cap", "bravo-mailer.example", "Bravo <news@bravo-mailer.example>",
                 "Bravo news", "Thu, 03 Dec 2026 10:00:00 +0000");
    put_unverified("1796300012.C3.cap", "Alpha <news@alpha-mai1er.example>", "Alpha fake");
    put_unverified("1796300013.C4.cap", "Bravo <news@bravo-mai1er.example>", "Bravo fake");
    open_index_capped(&f, NOW, cap);
    assert_int_equal(sgv_index_start(f.ix), 0);
    assert_true(sgv_index_wait_idle(f.ix, 60000));
    memset(&c, 0, sizeof(c));
    sgv_index_foreach(f.ix, collect, &c);
    const char *subj[] = {"Alpha fake", "Bravo fake"};
    for (size_t i = 0; i < 2; i++) {
        sgv_view *v;
        const sgr_explanation *e = view_of(&f, &c, subj[i], &v);
        n += has_kind(e, "lookalike");
        sgv_view_release(f.ix, v);
    }
    close_index(&f);
    return n;
}

/* The correspondents' domains are capped (their index costs up to 7 KB
 * each, and free names under a private suffix send verified mail): past
 * the cap a domain is no reference, before it every one is. */
static void correspondents_capped(void **state)
{
    (void)state;
    assert_int_equal(lookalikes_warned(0), 2);
    assert_int_equal(lookalikes_warned(1), 1);
}

/* The list names what was proven, the A-label, as the message page does:
 * "cards@bаnk.example" in a row reads as the bank's (adv29 RD-2). */
static void row_names_alabel(void **state)
{
    fixture f;
    rows c;
    (void)state;
    put_verified("1796300002.R3.rd1", "xn--bnk-6cd.example",
                 "Card Team <cards@b\xd0\xb0nk.example>", "Homograph",
                 "Thu, 03 Dec 2026 11:00:00 +0000");
    put_verified("1796300003.R4.rd1", "xn--mller-shop-9db.example",
                 "Shop <info@m\xc3\xbcller-shop.example>", "Umlaut",
                 "Thu, 03 Dec 2026 12:00:00 +0000");
    open_index(&f, NOW);
    assert_int_equal(sgv_index_start(f.ix), 0);
    assert_true(sgv_index_wait_idle(f.ix, 60000));
    memset(&c, 0, sizeof(c));
    sgv_index_foreach(f.ix, collect, &c);
    int seen = 0;
    for (size_t i = 0; i < c.n && i < 16; i++) {
        if (!strcmp(c.subjects[i], "Homograph")) {
            assert_string_equal(c.addresses[i], "cards@xn--bnk-6cd.example");
            assert_non_null(strstr(c.details[i], "xn--bnk-6cd.example is proven"));
            assert_null(strstr(c.details[i], "shown as"));
            seen++;
        } else if (!strcmp(c.subjects[i], "Umlaut")) {
            assert_string_equal(c.addresses[i], "info@xn--mller-shop-9db.example");
            assert_non_null(strstr(c.details[i], "xn--mller-shop-9db.example (shown as "
                                                 "m\xc3\xbcller-shop.example) is proven"));
            seen++;
        } else if (!strcmp(c.subjects[i], "Your December statement is ready")) {
            assert_string_equal(c.addresses[i], "support@bank.example"); /* ASCII: as it was */
            seen++;
        }
    }
    assert_int_equal(seen, 3);
    close_index(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(never_verified_before_proven, setup, teardown),
        cmocka_unit_test_setup_teardown(headlines_after_verification, setup, teardown),
        cmocka_unit_test_setup_teardown(now_matters, setup, teardown),
        cmocka_unit_test_setup_teardown(lookalike_not_learned, setup, teardown),
        cmocka_unit_test_setup_teardown(row_names_alabel, setup, teardown),
        cmocka_unit_test_setup_teardown(correspondents_capped, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
