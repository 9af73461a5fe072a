/*
 * The outbound policy: one table of keys with their defaults and ranges,
 * classes of accounts that override them, the accounts' classes and the
 * organisation's domains. The defaults are the limits a mail
 * administrator already knows (Exchange Online: 30 messages a minute,
 * 10,000 recipients a day, 500 a message; Google Workspace: 2,000
 * messages and 3,000 external recipients a day, 500 a day on a trial
 * account; AWS SES: 5% hard bounces warn, 10% stop).
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ob.h"
#include "util/domain.h"
#include "util/text.h"
#include "util/ascii.h"

const ob_key sg_ob_keys[OBK_COUNT] = {
    [OBK_MSG_MINUTE] = {"messages_per_minute", 30, 0, 1e6, 1, "throttle above (0: off)"},
    [OBK_MSG_HOUR] = {"messages_per_hour", 600, 0, 1e7, 1, "throttle above (0: off)"},
    [OBK_MSG_DAY] = {"messages_per_day", 2000, 0, 1e8, 1, "score messages_day (0: off)"},
    [OBK_RCPT_DAY] = {"recipients_per_day", 10000, 0, 1e9, 1, "score recipients_day"},
    [OBK_RCPT_MESSAGE] = {"recipients_per_message", 500, 0, 1e6, 1, "score recipients_message"},
    [OBK_EXT_DAY] = {"external_recipients_per_day", 3000, 0, 1e9, 1, "score external_recipients"},
    [OBK_LEARNING_DAYS] = {"learning_days", 14, 0, 365, 1, "days on the new-account ramp"},
    [OBK_RAMP_RCPT_DAY] = {"new_account_recipients_per_day", 500, 0, 1e9, 1,
                           "recipients a day while learning"},
    [OBK_BASE_FLOOR] = {"baseline_floor", 40, 0, 1e7, 0, "recipients an hour always allowed"},
    [OBK_BASE_FACTOR] = {"baseline_factor", 3, 0, 1000, 0, "times the learned hourly volume"},
    [OBK_NEW_FLOOR] = {"new_recipients_floor", 15, 0, 1e7, 0,
                       "first-time recipients an hour always allowed"},
    [OBK_NEW_FACTOR] = {"new_recipients_factor", 2, 0, 1000, 0,
                        "times the learned first-time recipients an hour"},
    [OBK_NEW_SHARE] = {"new_recipients_share", 0.5, 0, 1, 0,
                       "share of first-time recipients before it counts"},
    [OBK_INT_FLOOR] = {"internal_fanout_floor", 15, 0, 1e7, 0,
                       "first-time internal recipients an hour always allowed"},
    [OBK_INT_FACTOR] = {"internal_fanout_factor", 2, 0, 1000, 0,
                        "times the learned first-time internal recipients an hour"},
    [OBK_BODY_RCPTS] = {"same_body_recipients", 40, 0, 1e9, 1,
                        "recipients of one body within an hour"},
    [OBK_REFUSALS_HOUR] = {"ownership_refusals_per_hour", 3, 0, 1e6, 1, "refusals an hour"},
    [OBK_NETWORKS_DAY] = {"networks_per_day", 10, 1, OB_NETS, 1, "networks in 24 hours"},
    [OBK_BOUNCE_SAMPLE] = {"bounce_min_sample", 50, 1, 1e6, 1,
                           "recipients in 24 h before a rate counts"},
    [OBK_BOUNCE_WARN] = {"bounce_warn", 0.05, 0, 1, 0, "hard-bounce rate that starts to count"},
    [OBK_BOUNCE_HOLD] = {"bounce_hold", 0.10, 0.001, 1, 0, "hard-bounce rate that blocks"},
    [OBK_DOM_MSG_DAY] = {"domain_messages_per_day", 50000, 0, 1e9, 1,
                         "per sending domain (0: off)"},
    [OBK_DOM_RCPT_DAY] = {"domain_recipients_per_day", 200000, 0, 1e10, 1,
                          "per sending domain (0: off)"},
    [OBK_HOLD_SCORE] = {"hold_score", 1, 0.01, 1000, 0, "score that holds the message"},
    [OBK_BLOCK_SCORE] = {"block_score", 2, 0.01, 1000, 0, "score that blocks the account"},
    [OBK_HOLDS_TO_BLOCK] = {"holds_to_block", 3, 1, 1000, 1, "holds in an hour that block"},
    [OBK_ONSET] = {"score_onset", 0.5, 0, 0.99, 0, "share of a limit where a signal starts"},
    [OBK_W_BASELINE] = {"weight_baseline_volume", 1, 0, 100, 0, NULL},
    [OBK_W_RAMP] = {"weight_new_account_ramp", 1, 0, 100, 0, NULL},
    [OBK_W_NEW] = {"weight_new_recipients", 1, 0, 100, 0, NULL},
    [OBK_W_EXT] = {"weight_external_recipients", 1, 0, 100, 0, NULL},
    [OBK_W_BODY] = {"weight_same_body", 1, 0, 100, 0, NULL},
    [OBK_W_REFUSALS] = {"weight_ownership_refusals", 1, 0, 100, 0, NULL},
    [OBK_W_NEW_NET] = {"weight_new_network", 0.25, 0, 100, 0, NULL},
    [OBK_W_NETWORKS] = {"weight_many_networks", 1, 0, 100, 0, NULL},
    [OBK_W_BOUNCES] = {"weight_bounce_rate", 1, 0, 100, 0, NULL},
    [OBK_W_INTERNAL] = {"weight_internal_fanout", 1, 0, 100, 0, NULL},
    [OBK_W_LIMITS] = {"weight_limits", 1, 0, 100, 0,
                      "messages_day, recipients_day, recipients_message"},
    [OBK_W_DOMAIN] = {"weight_domain_volume", 1, 0, 100, 0, NULL},
};

int sg_ob_policy_new(sg_ob_policy **out)
{
    sg_ob_policy *p;
    if (out == NULL)
        return SG_EINVAL;
    *out = NULL;
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return SG_ENOMEM;
    p->classes = calloc(1, sizeof(*p->classes));
    if (p->classes == NULL) {
        free(p);
        return SG_ENOMEM;
    }
    p->nclasses = 1;
    strcpy(p->classes[0].name, "default");
    for (size_t i = 0; i < OBK_COUNT; i++)
        p->classes[0].v[i] = sg_ob_keys[i].def;
    *out = p;
    return SG_OK;
}

void sg_ob_policy_free(sg_ob_policy *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->nassign; i++)
        free(p->assign[i].account);
    for (size_t i = 0; i < p->ninternal; i++)
        free(p->internal[i]);
    free(p->assign);
    free(p->internal);
    free(p->classes);
    free(p);
}

static int class_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= OB_CLASS_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!sg_ascii_isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
            return 0;
    return 1;
}

static int find_class(const sg_ob_policy *p, const char *name)
{
    for (size_t i = 0; i < p->nclasses; i++)
        if (!strcmp(p->classes[i].name, name))
            return (int)i;
    return -1;
}

/* The class, created as a copy of "default" when new; -1 on error. */
static int get_class(sg_ob_policy *p, const char *name, int *err)
{
    int i = find_class(p, name);
    ob_class *c;
    if (i >= 0)
        return i;
    if (!class_name_ok(name)) {
        *err = SG_ESYNTAX;
        return -1;
    }
    if (p->nclasses >= OB_MAX_CLASSES) {
        *err = SG_ELIMIT;
        return -1;
    }
    c = realloc(p->classes, (p->nclasses + 1) * sizeof(*c));
    if (c == NULL) {
        *err = SG_ENOMEM;
        return -1;
    }
    p->classes = c;
    c[p->nclasses] = c[0];
    strcpy(c[p->nclasses].name, name);
    return (int)p->nclasses++;
}

static int find_key(const char *key)
{
    for (int i = 0; i < OBK_COUNT; i++)
        if (!strcmp(sg_ob_keys[i].name, key))
            return i;
    return -1;
}

/* Powers of ten a double holds exactly (5^22 < 2^53). */
static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                             1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
#define P10_MAX 22
#define DEC_DIGITS 19 /* significant digits: the mantissa's uint64_t */

/* A non-negative decimal ("12", "0.5", ".25", "1e3", "2.5E-4") into *v,
 * *end past it; -1 if there is none, it has more than DEC_DIGITS
 * significant digits, or its exponent leaves what a double holds of a
 * decimal exactly. Not strtod, which follows LC_NUMERIC: in an embedder
 * that called setlocale(LC_ALL, "") in de_DE, "0.5" read as 0 (adv44).
 * Up to 15 digits and an exponent within 22, the exact mantissa scaled by
 * an exact power of ten is the double nearest the decimal, as strtod's;
 * longer mantissas may be one unit in the last place off. The forms a
 * configuration writes are read, as strtod read them (rev26 R26-7);
 * hexadecimal, and powers of ten past 22, are not. */
static int parse_decimal(const char *s, double *v, const char **end)
{
    uint64_t m = 0;
    int digits = 0, frac = 0, dot = 0, any = 0;
    for (;; s++) {
        if (sg_ascii_isdigit((unsigned char)*s)) {
            any = 1;
            if (m == 0 && *s == '0' && !dot)
                continue; /* a leading zero is not significant */
            if (++digits > DEC_DIGITS)
                return -1;
            m = m * 10 + (uint64_t)(*s - '0');
            frac += dot;
        } else if (*s == '.' && !dot) {
            dot = 1;
        } else {
            break;
        }
    }
    if (!any)
        return -1;
    int e = -frac;
    if ((*s == 'e' || *s == 'E') &&
        (sg_ascii_isdigit((unsigned char)s[1]) ||
         ((s[1] == '+' || s[1] == '-') && sg_ascii_isdigit((unsigned char)s[2])))) {
        int neg = s[1] == '-', x = 0;
        s += (s[1] == '+' || s[1] == '-') ? 2 : 1;
        for (; sg_ascii_isdigit((unsigned char)*s); s++)
            if ((x = x * 10 + (*s - '0')) > 1000)
                return -1;
        e += neg ? -x : x;
    }
    if (m == 0)
        e = 0;
    if (e > P10_MAX || e < -P10_MAX)
        return -1;
    *v = e >= 0 ? (double)m * p10[e] : (double)m / p10[-e];
    *end = s;
    return 0;
}

int sg_ob_policy_set(sg_ob_policy *p, const char *cls, const char *key, const char *value)
{
    int k, c, err = SG_OK;
    const char *end;
    double v;
    if (p == NULL || key == NULL || value == NULL)
        return SG_EINVAL;
    if (cls == NULL)
        cls = "default";
    k = find_key(key);
    if (k < 0)
        return SG_EINVAL;
    while (sg_ascii_isspace((unsigned char)*value))
        value++;
    if (*value == '\0' || (!sg_ascii_isdigit((unsigned char)*value) && *value != '.'))
        return SG_ESYNTAX;
    if (parse_decimal(value, &v, &end) != 0)
        return SG_ESYNTAX;
    while (sg_ascii_isspace((unsigned char)*end))
        end++;
    if (*end != '\0' || v < sg_ob_keys[k].min || v > sg_ob_keys[k].max)
        return SG_ESYNTAX;
    if (sg_ob_keys[k].integer && v != floor(v))
        return SG_ESYNTAX;
    c = get_class(p, cls, &err);
    if (c < 0)
        return err;
    p->classes[c].v[k] = v;
    /* a class is a copy of "default" taken when it is first named, so a
     * later change to "default" does not reach it (docs/outbound.md) */
    return SG_OK;
}

int sg_ob_policy_assign(sg_ob_policy *p, const char *account, const char *cls)
{
    int c, err = SG_OK;
    char *dup;
    if (p == NULL || account == NULL || cls == NULL || *account == '\0')
        return SG_EINVAL;
    c = get_class(p, cls, &err);
    if (c < 0)
        return err;
    for (size_t i = 0; i < p->nassign; i++)
        if (!strcmp(p->assign[i].account, account)) {
            p->assign[i].cls = c;
            return SG_OK;
        }
    if (p->nassign == p->assign_cap) {
        size_t cap = p->assign_cap ? 2 * p->assign_cap : 8;
        ob_assign *n = realloc(p->assign, cap * sizeof(*n));
        if (n == NULL)
            return SG_ENOMEM;
        p->assign = n;
        p->assign_cap = cap;
    }
    dup = strdup(account);
    if (dup == NULL)
        return SG_ENOMEM;
    p->assign[p->nassign].account = dup;
    p->assign[p->nassign].cls = c;
    p->nassign++;
    return SG_OK;
}

int sg_ob_policy_add_internal_domain(sg_ob_policy *p, const char *domain)
{
    size_t n;
    char *d;
    if (p == NULL || domain == NULL)
        return SG_EINVAL;
    /* The one domain syntax (util/domain.c): empty labels ("a..b", ".a",
     * "a..") were let through before, and the root dot taken off only once,
     * so "a.." became "a." when the configuration was printed and "a" when
     * that was read back (fuzz_config) */
    n = strlen(domain);
    if (!sg_domain_syntax_ok(domain, n, SG_DOMAIN_HOSTCHARS | SG_DOMAIN_ROOT_DOT))
        return SG_ESYNTAX;
    if (domain[n - 1] == '.')
        n--;
    for (size_t i = 0; i < p->ninternal; i++)
        if (strlen(p->internal[i]) == n && !sg_ascii_ncasecmp(p->internal[i], domain, n))
            return SG_OK;
    if (p->ninternal == p->internal_cap) {
        size_t cap = p->internal_cap ? 2 * p->internal_cap : 8;
        char **a = realloc(p->internal, cap * sizeof(*a));
        if (a == NULL)
            return SG_ENOMEM;
        p->internal = a;
        p->internal_cap = cap;
    }
    d = strndup(domain, n);
    if (d == NULL)
        return SG_ENOMEM;
    for (size_t i = 0; i < n; i++)
        d[i] = (char)sg_ascii_lower((unsigned char)d[i]);
    p->internal[p->ninternal++] = d;
    return SG_OK;
}

const ob_class *sg_ob_policy_class(const sg_ob_policy *p, const char *account)
{
    if (account != NULL)
        for (size_t i = 0; i < p->nassign; i++)
            if (!sg_ascii_casecmp(p->assign[i].account, account)) /* as the record key (obops.c) */
                return &p->classes[p->assign[i].cls];
    return &p->classes[0];
}

/* Is the local part [s, s + n) one that ends here: a dot-atom or a quoted
 * string, with no '@', '%' or '!' in it, quoted or not? MTAs relay the
 * others on: user%elsewhere@ourco.test (Postfix allow_percent_hack),
 * elsewhere!user@ourco.test (swap_bangpath), "user@elsewhere"@ourco.test
 * (resolve_dequoted_address: the resolver looks inside the quotes), a
 * source route @relay:user@ourco.test; all on by default. Anything this
 * does not recognise is external: the limits err towards counting it. */
static int local_plain(const char *s, size_t n)
{
    if (n == 0 || memchr(s, '@', n) || memchr(s, '%', n) || memchr(s, '!', n))
        return 0;
    if (s[0] == '"') {
        size_t i = 1;
        for (; i < n - 1; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c == '"' || c < 0x20 || c == 0x7f)
                return 0;
            if (c == '\\' && ++i >= n - 1)
                return 0;
        }
        return n >= 2 && i == n - 1 && s[n - 1] == '"';
    }
    /* a dot-atom, with any UTF-8 byte as atext (RFC 6531 3.3) */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.' ? i == 0 || i == n - 1 || s[i - 1] == '.'
                     : !(sg_text_is_atext(c) || c >= 0x80))
            return 0;
    }
    return 1;
}

int sg_ob_policy_internal(const sg_ob_policy *p, const char *addr, const char *fallback)
{
    const char *at = addr ? strrchr(addr, '@') : NULL;
    const char *dom;
    if (at == NULL || at[1] == '\0' || !local_plain(addr, (size_t)(at - addr)))
        return 0;
    dom = at + 1;
    if (p->ninternal == 0)
        return fallback != NULL && *fallback && sg_domain_within(dom, fallback);
    for (size_t i = 0; i < p->ninternal; i++)
        if (sg_domain_within(dom, p->internal[i]))
            return 1;
    return 0;
}

/* ---- configuration lines ---- */

/* Next whitespace-separated word of *s into buf; 0 if none or too long. */
static int word(const char **s, char *buf, size_t cap)
{
    const char *p = *s;
    size_t n = 0;
    while (sg_ascii_isspace((unsigned char)*p))
        p++;
    while (p[n] != '\0' && !sg_ascii_isspace((unsigned char)p[n]))
        n++;
    if (n == 0 || n >= cap)
        return 0;
    memcpy(buf, p, n);
    buf[n] = '\0';
    *s = p + n;
    return 1;
}

static int rest_empty(const char *s)
{
    while (sg_ascii_isspace((unsigned char)*s))
        s++;
    return *s == '\0';
}

int sg_ob_policy_directive(sg_ob_policy *p, const char *name, const char *value)
{
    char a[512], b[512];
    const char *s = value;
    if (p == NULL || name == NULL)
        return SG_EINVAL;
    if (value == NULL)
        s = value = "";
    if (!sg_ascii_casecmp(name, "outbound_limit")) {
        char *dot;
        const char *cls = "default", *key = a;
        if (!word(&s, a, sizeof(a)) || !word(&s, b, sizeof(b)) || !rest_empty(s))
            return SG_ESYNTAX;
        dot = strchr(a, '.');
        if (dot != NULL) {
            *dot = '\0';
            cls = a;
            key = dot + 1;
        }
        if (find_key(key) < 0)
            return SG_EINVAL;
        if (find_class(p, cls) < 0 && !class_name_ok(cls))
            return SG_ESYNTAX;
        return sg_ob_policy_set(p, cls, key, b);
    }
    if (!sg_ascii_casecmp(name, "outbound_account")) {
        if (!word(&s, a, sizeof(a)) || !word(&s, b, sizeof(b)) || !rest_empty(s))
            return SG_ESYNTAX;
        if (find_class(p, b) < 0 && !class_name_ok(b))
            return SG_ESYNTAX;
        return sg_ob_policy_assign(p, a, b);
    }
    if (!sg_ascii_casecmp(name, "outbound_internal_domain")) {
        /* all or nothing: check every name before adding any */
        size_t n = 0;
        for (int pass = 0; pass < 2; pass++) {
            const char *q = value;
            while (*q != '\0') {
                size_t len;
                while (sg_ascii_isspace((unsigned char)*q) || *q == ',')
                    q++;
                len = strcspn(q, ", \t\r\n");
                if (len == 0)
                    break;
                if (len >= sizeof(a))
                    return SG_ESYNTAX;
                memcpy(a, q, len);
                a[len] = '\0';
                q += len;
                if (pass == 0) {
                    sg_ob_policy *probe;
                    int rc = sg_ob_policy_new(&probe);
                    if (rc != SG_OK)
                        return rc;
                    rc = sg_ob_policy_add_internal_domain(probe, a);
                    sg_ob_policy_free(probe);
                    if (rc != SG_OK)
                        return rc;
                    n++;
                } else {
                    int rc = sg_ob_policy_add_internal_domain(p, a);
                    if (rc != SG_OK)
                        return rc;
                }
            }
            if (n == 0)
                return SG_ESYNTAX;
        }
        return SG_OK;
    }
    return SG_ENOTFOUND;
}

/* ---- the policy as configuration lines ---- */

/* The shortest "M" followed by K decimals, or "Me-K", that parse_decimal
 * reads back as the same double: it computes (double)M / 10^K in both
 * forms, so the K and M found here read back exactly. Every value it
 * took has one (it was made so), and so has every default. Written with
 * integers: printf's %g follows LC_NUMERIC too ("0,5"); and a value
 * smaller than 15 decimals hold is written with an exponent, not as 0
 * (rev27 R27-4: -t then printed what loaded as another value). */
#define PUT_DECIMALS 15
static void put_value(ob_buf *b, double v)
{
    for (int k = 0; k <= P10_MAX; k++) {
        double scaled = v * p10[k];
        if (scaled >= 1e19)
            break; /* past DEC_DIGITS */
        uint64_t m = (uint64_t)llround(scaled);
        if ((double)m / p10[k] != v)
            continue;
        if (k == 0) {
            sg_ob_printf(b, "%llu", (unsigned long long)m);
        } else if (k <= PUT_DECIMALS && m < 1000000000000000000ull) {
            uint64_t unit = (uint64_t)p10[k]; /* exact: 10^15 < 2^53 */
            sg_ob_printf(b, "%llu.%0*llu", (unsigned long long)(m / unit), k,
                         (unsigned long long)(m % unit));
        } else {
            sg_ob_printf(b, "%llue-%d", (unsigned long long)m, k);
        }
        return;
    }
    /* no such form (not a value parse_decimal made): the nearest integer */
    sg_ob_printf(b, "%llu", (unsigned long long)llround(v));
}

static void put_limits(ob_buf *b, const ob_class *c, const char *prefix)
{
    for (size_t k = 0; k < OBK_COUNT; k++)
        if (c->v[k] != sg_ob_keys[k].def) {
            sg_ob_printf(b, "outbound_limit %s%s ", prefix, sg_ob_keys[k].name);
            put_value(b, c->v[k]);
            sg_ob_printf(b, "\n");
        }
}

int sg_ob_policy_lines(const sg_ob_policy *p, char **out)
{
    ob_buf b = {0};
    if (out == NULL)
        return SG_EINVAL;
    *out = NULL;
    if (p == NULL)
        return SG_EINVAL;
    for (size_t i = 0; i < p->nassign; i++) {
        const char *a = p->assign[i].account;
        size_t n = strlen(a);
        if (n == 0 || n >= 512 || strchr(a, '#') != NULL)
            return SG_EINVAL;
        for (size_t j = 0; j < n; j++)
            if (sg_ascii_isspace((unsigned char)a[j]))
                return SG_EINVAL;
    }
    b.cap = 1024;
    b.s = malloc(b.cap);
    if (b.s == NULL)
        return SG_ENOMEM;
    b.s[0] = '\0';
    /* A class starts as a copy of "default" when it is first named, so the
     * classes and the accounts come before default's own changes: each
     * class then reads back as the built-in defaults plus its lines. */
    for (size_t i = 1; i < p->nclasses; i++) {
        char prefix[OB_CLASS_NAME_MAX + 1];
        snprintf(prefix, sizeof(prefix), "%s.", p->classes[i].name);
        put_limits(&b, &p->classes[i], prefix);
    }
    for (size_t i = 0; i < p->nassign; i++)
        sg_ob_printf(&b, "outbound_account %s %s\n", p->assign[i].account,
                     p->classes[p->assign[i].cls].name);
    put_limits(&b, &p->classes[0], "");
    for (size_t i = 0; i < p->ninternal; i++)
        sg_ob_printf(&b, "outbound_internal_domain %s\n", p->internal[i]);
    if (b.oom) {
        free(b.s);
        return SG_ENOMEM;
    }
    *out = b.s;
    return SG_OK;
}
