/*
 * Public suffix list (libpsl) for operators who want RFC 7489 3.2
 * Organizational Domains instead of the RFC 9989 4.10 DNS Tree Walk.
 */
#include <spoofguard/dmarc.h>

#include <libpsl.h>
#include <stdlib.h>
#include <string.h>

#include "dmarc_int.h"

struct sg_dmarc_psl {
    psl_ctx_t *ctx;
    int owned; /* psl_builtin() must not be freed */
};

int sg_dmarc_psl_builtin(sg_dmarc_psl **out)
{
    sg_dmarc_psl *p;
    const psl_ctx_t *b;
    if (out == NULL)
        return SG_EINVAL;
    *out = NULL;
    b = psl_builtin();
    if (b == NULL)
        return SG_EUNSUPPORTED;
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return SG_ENOMEM;
    p->ctx = (psl_ctx_t *)b;
    p->owned = 0;
    *out = p;
    return 0;
}

int sg_dmarc_psl_open(sg_dmarc_psl **out, const char *path)
{
    sg_dmarc_psl *p;
    if (path != NULL)
        return sg_dmarc_psl_load_file(out, path);
    if (out == NULL)
        return SG_EINVAL;
    *out = NULL;
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return SG_ENOMEM;
    /* libpsl's own choice: the distribution's file when it is newer than
     * the list compiled into libpsl (Debian updates publicsuffix apart
     * from libpsl), the built-in one otherwise or when none loads */
    p->ctx = psl_latest(NULL);
    if (p->ctx == NULL)
        p->ctx = (psl_ctx_t *)psl_builtin();
    if (p->ctx == NULL) {
        free(p);
        return SG_EUNSUPPORTED;
    }
    p->owned = p->ctx != psl_builtin();
    *out = p;
    return 0;
}

int sg_dmarc_psl_load_file(sg_dmarc_psl **out, const char *path)
{
    sg_dmarc_psl *p;
    if (out == NULL || path == NULL)
        return SG_EINVAL;
    *out = NULL;
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return SG_ENOMEM;
    p->ctx = psl_load_file(path);
    /* a file without one rule (empty, the wrong file) would make every
     * name its own registrable domain's child: refused, never a silent
     * list of nothing (a DAFSA file counts -1: unknown) */
    if (p->ctx == NULL || psl_suffix_count(p->ctx) == 0) {
        psl_free(p->ctx);
        free(p);
        return SG_EIO;
    }
    p->owned = 1;
    *out = p;
    return 0;
}

void sg_dmarc_psl_free(sg_dmarc_psl *psl)
{
    if (psl == NULL)
        return;
    if (psl->owned)
        psl_free(psl->ctx);
    free(psl);
}

int sg_dmarc_psl_registrable(sg_arena *arena, const sg_dmarc_psl *psl, const char *domain,
                             const char **out)
{
    char *lower = NULL;
    const char *r;
    if (arena == NULL || psl == NULL || domain == NULL || out == NULL)
        return SG_EINVAL;
    *out = NULL;
    /* libpsl matches lower-case UTF-8 or A-labels (RFC 7489 3.2 compares
     * case-insensitively); it does not lower-case by itself. */
    if (psl_str_to_utf8lower(domain, "utf-8", NULL, &lower) != PSL_SUCCESS || lower == NULL)
        return 0;
    r = psl_registrable_domain(psl->ctx, lower);
    if (r != NULL) {
        *out = sg_arena_strdup(arena, r);
        if (*out == NULL) {
            psl_free_string(lower);
            return SG_ENOMEM;
        }
    }
    psl_free_string(lower);
    return 0;
}

const void *sg_dmarc_psl_ctx(const sg_dmarc_psl *psl)
{
    return psl != NULL ? (const void *)psl->ctx : (const void *)psl_builtin();
}

const char *sg_dmarc_psl_reg(const void *ctx, const char *name)
{
    return ctx != NULL ? psl_registrable_domain(ctx, name) : NULL;
}

const char *sg_dmarc_common_ancestor(const char *a, const char *b)
{
    size_t i = strlen(a), j = strlen(b);
    const char *best = NULL;
    if (i && a[i - 1] == '.')
        i--;
    if (j && b[j - 1] == '.')
        j--;
    while (i > 0 && j > 0) {
        char x = a[i - 1], y = b[j - 1];
        if (x >= 'A' && x <= 'Z')
            x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (char)(y - 'A' + 'a');
        if (x != y)
            break;
        i--;
        j--;
        /* a label boundary in both names: what lies right of it is shared */
        if ((i == 0 || a[i - 1] == '.') && (j == 0 || b[j - 1] == '.') && x != '.')
            best = a + i;
    }
    return best;
}
