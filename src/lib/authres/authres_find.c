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

int sg_authres_value_claims(const char *v, size_t n, const char *authserv_id)
{
    if (v == NULL || authserv_id == NULL)
        return 0;
    size_t idn = strlen(authserv_id);
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
            if (i >= n)
                return 0; /* unterminated comment: no authserv-id at all */
            i++;
        } else {
            break;
        }
    }
    if (i >= n)
        return 0;
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
        if (k < sizeof(buf) && id_equal(buf, k, authserv_id, idn))
            return 1;
    } else {
        size_t j = i;
        while (j < n && sg_authres_is_tokenchar((unsigned char)v[j]))
            j++;
        if (id_equal(v + i, j - i, authserv_id, idn))
            return 1;
    }
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
    return id_equal(v + i, j - i, authserv_id, idn);
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
