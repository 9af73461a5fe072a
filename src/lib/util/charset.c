/*
 * RFC 2047 encoded words' charsets: the text as UTF-8, for the readings
 * of a field a person sees (the author domain, an Authentication-Results
 * field's authserv-id).
 */
#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>

#include "util/charset.h"
#include "ascii.h"

static int as_is(const char *cs, size_t n)
{
    const char *star = memchr(cs, '*', n);
    if (star != NULL)
        n = (size_t)(star - cs);
    return (n == 5 && !sg_ascii_ncasecmp(cs, "utf-8", 5)) ||
           (n == 4 && !sg_ascii_ncasecmp(cs, "utf8", 4)) ||
           (n == 8 && !sg_ascii_ncasecmp(cs, "us-ascii", 8)) ||
           (n == 5 && !sg_ascii_ncasecmp(cs, "ascii", 5));
}

/* U+FFFD for what the charset lacks, as readers draw it: a domain around
 * it then names every domain it could be. */
static int to_utf8(const char *cs, size_t csn, const char *raw, size_t rn, char *out, size_t *o,
                   size_t cap)
{
    char name[64];
    const char *star = memchr(cs, '*', csn);
    if (star != NULL)
        csn = (size_t)(star - cs);
    /* "" is iconv's word for the locale's own charset: an encoded word
     * "=?*x?...?=" decoded one way in C and another in tr_TR.ISO-8859-9
     * (rev26 R26-6) */
    if (csn == 0 || csn >= sizeof(name))
        return -1;
    /* a registered charset name (RFC 2978 mime-charset) starts with a
     * letter or digit and holds no '/' or ',': glibc's iconv reads "/",
     * "//TRANSLIT" or "," as the locale's charset too (rev27 R27-3) */
    if (!sg_ascii_isalnum((unsigned char)cs[0]))
        return -1;
    for (size_t i = 0; i < csn; i++)
        if (cs[i] == '/' || cs[i] == ',' || (unsigned char)cs[i] <= ' ' ||
            (unsigned char)cs[i] >= 127)
            return -1;
    memcpy(name, cs, csn);
    name[csn] = '\0';
    iconv_t cd = iconv_open("UTF-8", name);
    if (cd == (iconv_t)-1)
        return -1;
    char *in = (char *)raw, *dst = out + *o;
    size_t inleft = rn, left = cap - *o;
    int rc = 0;
    while (inleft > 0 && rc == 0) {
        if (iconv(cd, &in, &inleft, &dst, &left) != (size_t)-1)
            break;
        if (errno == E2BIG || left < 3) {
            rc = -1;
        } else { /* EILSEQ, or EINVAL: a sequence cut at the word's end */
            memcpy(dst, "\xef\xbf\xbd", 3);
            dst += 3;
            left -= 3;
            in++;
            inleft--;
            (void)iconv(cd, NULL, NULL, NULL, NULL);
        }
    }
    if (rc == 0 && iconv(cd, NULL, NULL, &dst, &left) == (size_t)-1)
        rc = -1;
    iconv_close(cd);
    if (rc == 0)
        *o = (size_t)(dst - out);
    return rc;
}

int sg_charset_recode(const char *cs, size_t csn, char *out, size_t start, size_t *o, size_t cap)
{
    if (as_is(cs, csn))
        return 0;
    size_t rn = *o - start;
    char *raw = malloc(rn + 1);
    *o = start;
    int rc =
        raw == NULL ? -1 : (memcpy(raw, out + start, rn), to_utf8(cs, csn, raw, rn, out, o, cap));
    free(raw);
    if (rc != 0)
        *o = start;
    return rc;
}
