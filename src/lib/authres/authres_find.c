/*
 * Finding the Authentication-Results fields that claim our authserv-id
 * (RFC 8601 5: a border MTA MUST delete them before adding its own).
 *
 * Only the start of the value is read. A forger controls the rest and
 * can malform it on purpose: a strict parser would then refuse the
 * field, we would keep it, and a lax reader downstream (an MUA filter, a
 * regular expression in a spam filter) would still see "ours; dkim=pass".
 * So a field is ours if its authserv-id, read either the RFC way or the
 * lax way, is ours. See sg_authres_value_claims() in authres.h.
 */
#include "authres_int.h"

#include <string.h>

#include "util/charset.h"

static int lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

/* Case-insensitive ASCII comparison, whitespace trimmed and one trailing
 * dot ignored on both sides ("ours." names the same host as "ours"). */
static void trim(const char **s, size_t *n)
{
    while (*n > 0 && (**s == ' ' || **s == '\t'))
        (*s)++, (*n)--;
    while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
    if (*n > 1 && (*s)[*n - 1] == '.')
        (*n)--;
}

static int id_equal(const char *a, size_t an, const char *b, size_t bn)
{
    trim(&a, &an);
    trim(&b, &bn);
    if (an != bn || an == 0)
        return 0;
    for (size_t i = 0; i < an; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return 0;
    return 1;
}

/* Bytes of the space a reader would strip at v[i] (str.strip(), a
 * trim() that knows Unicode): ASCII controls of that kind and the UTF-8
 * of Unicode spaces and invisible format characters; 0 for none. */
static size_t space_at(const unsigned char *v, size_t n, size_t i)
{
    unsigned char c = v[i];
    if (c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f))
        return 1;
    if (c == 0xc2 && i + 1 < n && (v[i + 1] == 0xa0 || v[i + 1] == 0x85))
        return 2; /* NBSP, NEL */
    if (i + 2 >= n)
        return 0;
    unsigned cp3 = (unsigned)c << 16 | (unsigned)v[i + 1] << 8 | v[i + 2];
    if ((cp3 >= 0xe28080 && cp3 <= 0xe2808f) || cp3 == 0xe280a8 || cp3 == 0xe280a9 ||
        cp3 == 0xe280af || cp3 == 0xe2819f || cp3 == 0xe281a0 || cp3 == 0xe19a80 ||
        cp3 == 0xe38080 || cp3 == 0xefbbbf)
        return 3; /* U+2000-200F, 2028, 2029, 202F, 205F, 2060, 1680, 3000, FEFF */
    return 0;
}

static int hexval(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Decodes the RFC 2047 encoded-word at v[i] ("=?cs?Q|B?text?=") into out,
 * in UTF-8; the index past it, or 0 when there is none. The charset is
 * applied: UTF-16 writes even an ASCII id otherwise, and a reader showed
 * ours where we saw none (adv30 IN-5); *unread when it cannot be. */
static size_t encoded_word(const char *v, size_t n, size_t i, char *out, size_t cap, size_t *k,
                           int *unread)
{
    size_t j = i + 2, q1, q2, end, start = *k;
    if (i + 2 > n || v[i] != '=' || v[i + 1] != '?')
        return 0;
    for (q1 = j; q1 < n && v[q1] != '?'; q1++)
        ;
    if (q1 + 2 >= n || v[q1 + 2] != '?')
        return 0;
    char enc = (char)lower((unsigned char)v[q1 + 1]);
    if (enc != 'q' && enc != 'b')
        return 0;
    for (q2 = q1 + 3; q2 + 1 < n && !(v[q2] == '?' && v[q2 + 1] == '='); q2++)
        ;
    if (q2 + 1 >= n)
        return 0;
    end = q2 + 2;
    if (enc == 'q') {
        for (j = q1 + 3; j < q2 && *k < cap; j++) {
            if (v[j] == '_') {
                out[(*k)++] = ' ';
            } else if (v[j] == '=' && j + 2 < q2 && hexval(v[j + 1]) >= 0 &&
                       hexval(v[j + 2]) >= 0) {
                out[(*k)++] = (char)(hexval(v[j + 1]) << 4 | hexval(v[j + 2]));
                j += 2;
            } else {
                out[(*k)++] = v[j];
            }
        }
    } else {
        static const char b64[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        unsigned acc = 0, bits = 0;
        for (j = q1 + 3; j < q2 && *k < cap; j++) {
            const char *p = v[j] ? strchr(b64, v[j]) : NULL;
            if (p == NULL)
                continue; /* padding, junk */
            acc = acc << 6 | (unsigned)(p - b64);
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                out[(*k)++] = (char)(acc >> bits & 0xff);
            }
        }
    }
    if (sg_charset_recode(v + i + 2, q1 - i - 2, out, start, k, cap) != 0)
        *unread = 1;
    return end;
}

/* A reader's reading: what a mail library shows and a script then trims.
 * Leading space of every kind (space_at) and comments that end at the
 * first ")" are skipped, encoded-words are decoded (adjacent ones joined,
 * as RFC 2047 6.2 says), and the id runs to the next space, ";" or "(",
 * less its quotes and every trailing dot. */
static int reader_claims(const char *v, size_t n, const char *id, size_t idn, int depth)
{
    const unsigned char *u = (const unsigned char *)v;
    size_t i = 0, sp;
    for (;;) {
        if (i < n && (sp = space_at(u, n, i)) > 0) {
            i += sp;
        } else if (i < n && v[i] == '(') {
            const char *c = memchr(v + i, ')', n - i);
            if (c == NULL)
                return 0;
            i = (size_t)(c - v) + 1;
        } else {
            break;
        }
    }
    if (i + 1 < n && v[i] == '=' && v[i + 1] == '?' && depth == 0) {
        char buf[1024];
        size_t k = 0, e;
        int unread = 0;
        while ((e = encoded_word(v, n, i, buf, sizeof(buf), &k, &unread)) > 0) {
            i = e;
            size_t w = i; /* only space between two encoded-words vanishes */
            while (w < n && (sp = space_at(u, n, w)) > 0)
                w += sp;
            if (w + 1 < n && v[w] == '=' && v[w + 1] == '?')
                i = w;
            else
                break;
        }
        if (unread)
            return 1; /* it could say anything: ours, and deleted */
        if (k > 0) {
            size_t rest = n - i < sizeof(buf) - k ? n - i : sizeof(buf) - k;
            memcpy(buf + k, v + i, rest);
            return reader_claims(buf, k + rest, id, idn, depth + 1);
        }
    }
    size_t j = i;
    while (j < n && v[j] != ';' && v[j] != '(' && space_at(u, n, j) == 0)
        j++;
    while (j > i && (v[j - 1] == '"' || v[j - 1] == '\''))
        j--;
    while (j > i && (v[i] == '"' || v[i] == '\''))
        i++;
    while (j > i + 1 && v[j - 1] == '.')
        j--;
    return id_equal(v + i, j - i, id, idn);
}

/* The RFC reading (CFWS, then a token or a quoted-string): 1 ours, 0 not,
 * -1 no authserv-id that way (all CFWS, an unterminated comment); *at:
 * where the id starts. */
static int rfc_claims(const char *v, size_t n, const char *authserv_id, size_t idn, size_t *at)
{
    size_t i = 0;
    /* Leading CFWS. The value is normally unfolded already; a raw CRLF
     * is skipped like whitespace so a folded value works too. */
    while (i < n) {
        char c = v[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            i++;
        } else if (c == '(') {
            size_t depth = 0;
            while (i < n) {
                if (v[i] == '\\' && i + 1 < n) {
                    i += 2;
                    continue;
                }
                if (v[i] == '(')
                    depth++;
                else if (v[i] == ')' && --depth == 0)
                    break;
                i++;
            }
            if (i >= n) /* unterminated: no authserv-id the RFC way */
                return -1;
            i++;
        } else {
            break;
        }
    }
    *at = i;
    if (i >= n)
        return -1;
    /* RFC reading: token or quoted-string */
    if (v[i] == '"') {
        char buf[1024];
        size_t k = 0, j = i + 1;
        for (; j < n && v[j] != '"'; j++) {
            if (v[j] == '\\' && j + 1 < n)
                j++;
            if (v[j] == '\r' || v[j] == '\n')
                continue;
            if (k == sizeof(buf))
                break; /* longer than any id we could be configured with */
            buf[k++] = v[j];
        }
        return k < sizeof(buf) && id_equal(buf, k, authserv_id, idn);
    }
    size_t j = i;
    while (j < n && sg_authres_is_tokenchar((unsigned char)v[j]))
        j++;
    return id_equal(v + i, j - i, authserv_id, idn);
}

int sg_authres_value_is_ours(const char *v, size_t n, const char *authserv_id)
{
    size_t at;
    sg_arena *a = NULL;
    sg_authres ar;
    int ours = 0;
    if (v == NULL || authserv_id == NULL ||
        rfc_claims(v, n, authserv_id, strlen(authserv_id), &at) != 1)
        return 0;
    /* and the whole value is an RFC 8601 field: "ours/junk" and other
     * shapes only a lenient reading takes for ours are not trusted */
    if (sg_arena_new(&a, 0) == 0 && sg_authres_parse(&ar, a, v, n, NULL) == 0)
        ours = id_equal(ar.authserv_id, strlen(ar.authserv_id), authserv_id, strlen(authserv_id));
    sg_arena_free(a);
    return ours;
}

int sg_authres_value_claims(const char *v, size_t n, const char *authserv_id)
{
    if (v == NULL || authserv_id == NULL)
        return 0;
    size_t idn = strlen(authserv_id), i = 0;
    int rfc = rfc_claims(v, n, authserv_id, idn, &i);
    if (rfc == 1)
        return 1;
    if (rfc < 0)
        return reader_claims(v, n, authserv_id, idn, 0);
    /* Lax reading: up to whitespace, ";" or "(", without the quotes a
     * reader might strip (even an unbalanced one) */
    size_t j = i;
    while (j < n && v[j] != ' ' && v[j] != '\t' && v[j] != '\r' && v[j] != '\n' && v[j] != ';' &&
           v[j] != '(')
        j++;
    if (j > i && v[i] == '"')
        i++;
    if (j > i && v[j - 1] == '"')
        j--;
    if (id_equal(v + i, j - i, authserv_id, idn))
        return 1;
    return reader_claims(v, n, authserv_id, idn, 0);
}

static int name_is(const sg_header *h, const char *name)
{
    size_t n = strlen(name);
    if (h->name == NULL || h->name_len != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)h->name[i]) != lower((unsigned char)name[i]))
            return 0;
    return 1;
}

int sg_authres_find(sg_authres_match **out, size_t *count, sg_arena *arena, const sg_header *fields,
                    size_t nfields, const char *authserv_id)
{
    if (out == NULL || count == NULL || arena == NULL || authserv_id == NULL ||
        authserv_id[0] == '\0' || (fields == NULL && nfields > 0))
        return SG_EINVAL;
    size_t hits = 0;
    for (size_t i = 0; i < nfields; i++)
        if (name_is(&fields[i], "Authentication-Results") &&
            sg_authres_value_claims(fields[i].value, fields[i].value_len, authserv_id))
            hits++;
    *out = NULL;
    *count = 0;
    if (hits == 0)
        return SG_OK;
    sg_authres_match *m = sg_arena_calloc(arena, hits, sizeof(*m));
    if (m == NULL)
        return SG_ENOMEM;
    size_t ordinal = 0, k = 0;
    for (size_t i = 0; i < nfields; i++) {
        if (!name_is(&fields[i], "Authentication-Results"))
            continue;
        ordinal++; /* counts every field of the name, ours or not */
        if (sg_authres_value_claims(fields[i].value, fields[i].value_len, authserv_id)) {
            m[k].index = i;
            m[k].ordinal = ordinal;
            k++;
        }
    }
    *out = m;
    *count = k;
    return SG_OK;
}
