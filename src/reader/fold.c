/*
 * fold.c - text as a reader sees it (see fold.h).
 */
#include "fold.h"

#include <stdint.h>

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include <unicode/utf8.h>

#include <spoofguard/common.h>

int sgr_fold_seen(sg_arena *a, const char *s, size_t n, const char **out)
{
    int32_t m = 0;
    UErrorCode err = U_ZERO_ERROR;
    const UNormalizer2 *nfkc = unorm2_getNFKCInstance(&err);
    *out = NULL;
    if (U_FAILURE(err) || n > INT32_MAX / 4)
        return SG_EINVAL;
    UChar *u = sg_arena_alloc(a, (n + 1) * sizeof(UChar));
    if (u == NULL)
        return SG_ENOMEM;
    for (int32_t i = 0; i < (int32_t)n;) {
        UChar32 c;
        U8_NEXT(s, i, (int32_t)n, c);
        if (c < 0 || u_isUWhiteSpace(c))
            c = ' ';
        else if (c == 0x2800 || u_hasBinaryProperty(c, UCHAR_DEFAULT_IGNORABLE_CODE_POINT))
            continue;
        else if (c == 0x3002 || c == 0xFF61)
            c = '.';
        U16_APPEND_UNSAFE(u, m, c); /* at most one unit per input byte */
    }
    /* NFKC can grow a string 18 times (U+FDFA): measured first, so that no
     * character can make the folding fail and leave the text unread */
    int32_t fl = unorm2_normalize(nfkc, u, m, NULL, 0, &err);
    if (err != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(err))
        return SG_EINVAL;
    err = U_ZERO_ERROR;
    UChar *f = sg_arena_alloc(a, ((size_t)fl + 1) * sizeof(UChar));
    char *o = sg_arena_alloc(a, (size_t)fl * 3 + 1);
    int32_t ol = 0;
    if (f == NULL || o == NULL)
        return SG_ENOMEM;
    fl = unorm2_normalize(nfkc, u, m, f, fl + 1, &err);
    if (U_SUCCESS(err))
        u_strToUTF8(o, fl * 3 + 1, &ol, f, fl, &err);
    if (U_FAILURE(err) || err == U_STRING_NOT_TERMINATED_WARNING)
        return SG_EINVAL;
    *out = o;
    return 0;
}

int sgr_fold_is_dot(int32_t cp)
{
    UChar d[4];
    UErrorCode err = U_ZERO_ERROR;
    if (cp == '.' || cp == 0x3002 || cp == 0xFF61)
        return 1;
    if (cp < 0x80)
        return 0;
    const UNormalizer2 *nfkc = unorm2_getNFKCInstance(&err);
    if (U_FAILURE(err))
        return 0;
    int32_t l = unorm2_getDecomposition(nfkc, cp, d, 4, &err);
    return U_SUCCESS(err) && l == 1 && d[0] == '.';
}
