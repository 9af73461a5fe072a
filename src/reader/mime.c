/*
 * The reader's MIME walk (mime.h): GMime 3 parses, this file decides what
 * a reader is shown. Everything the view holds is copied out of GMime
 * before sgr_mime_parse returns, so a parsed message is plain memory:
 * several threads may read one (part_content, find_cid) at once.
 *
 * The walk, in order:
 *   0. give GMime a copy it cannot be made to choke on (prepare: the
 *      structure it would build is bounded, hostile address fields are
 *      renamed) and have it parse the copy as one MIME entity;
 *   1. collect the leaf parts depth-first (bounded by max_parts, and by
 *      max_depth for the multiparts followed);
 *   2. choose the body (choose_body: alternative -> the last html, else
 *      the last plain; related -> its root; anything else -> the first
 *      text part that is not an attachment);
 *   3. give each leaf its role and, for inline images and attachments,
 *      its risk (a table from extension and declared type to class);
 *   4. decode each leaf (Content-Transfer-Encoding) within max_decoded,
 *      the body first; a part that does not fit is left out;
 *   5. convert the body to UTF-8 within max_body.
 *
 * Charsets: the declared one through iconv; a label iconv does not know
 * (or none at all, or us-ascii) is read as UTF-8, because an unknown
 * label gives no better guess and UTF-8 never invents characters: bytes
 * that are not UTF-8 show as U+FFFD instead of as plausible but wrong
 * letters. iso-8859-1 is read as windows-1252, as browsers (WHATWG
 * Encoding) and mail readers do: mail labelled latin-1 with 0x80-0x9F
 * bytes is windows-1252 (smart quotes), never C1 controls. An html part
 * with no MIME charset whose bytes are not UTF-8 is read in the charset
 * its <meta> names, as a browser would read it.
 */
#include <errno.h>
#include <iconv.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gmime/gmime.h>

#include "common/json.h"
#include "mime.h"

void sgr_mime_limits_init(sgr_mime_limits *l)
{
    l->max_parts = SGR_MIME_MAX_PARTS;
    l->max_depth = SGR_MIME_MAX_DEPTH;
    l->max_body = SGR_MIME_MAX_BODY;
    l->max_decoded = SGR_MIME_MAX_DECODED;
}

/* GMime's charset tables and type registry are built once per process. */
static pthread_once_t gmime_once = PTHREAD_ONCE_INIT;
static void gmime_init_once(void)
{
    g_mime_init();
}

/* ---- growable byte buffer ------------------------------------------------ */

typedef struct {
    char *p;
    size_t n, cap;
    int oom;
} buf;

static int buf_reserve(buf *b, size_t more)
{
    if (b->oom)
        return -1;
    if (more > SIZE_MAX / 2 - b->n) {
        b->oom = 1;
        return -1;
    }
    if (b->n + more + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + more + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL) {
        b->oom = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    p[b->n] = '\0';
    return 0;
}

static void buf_add(buf *b, const void *s, size_t n)
{
    if (n == 0 || buf_reserve(b, n) < 0)
        return;
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static const char REPL[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* NUL-terminated result; NULL on ENOMEM. Always a string, even empty. */
static char *buf_finish(buf *b)
{
    if (b->oom) {
        free(b->p);
        return NULL;
    }
    if (b->p == NULL)
        return strdup("");
    return b->p;
}

/* ---- UTF-8 ----------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s[0..n) (Unicode 3.9 Table 3-7:
 * no overlongs, no surrogates, nothing above U+10FFFF), or 0 when it is
 * not one; *skip is then the length of the maximal subpart to replace by
 * one U+FFFD (Unicode's recommended practice, also Python's and WHATWG's),
 * so both readers show the same number of replacement characters. */
static size_t utf8_seq(const unsigned char *s, size_t n, size_t *skip, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    *skip = 1;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        *cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        *cp = c & 0x0F;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        *cp = c & 0x07;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    for (size_t k = 1; k < len; k++) {
        if (k >= n)
            return 0;
        unsigned char d = s[k];
        if (d < (k == 1 ? lo : 0x80) || d > (k == 1 ? hi : 0xBF))
            return 0;
        *skip = k + 1;
        *cp = (*cp << 6) | (d & 0x3F);
    }
    return len;
}

/* What scrub does with one code point beside keeping it. */
enum { KEEP, DROP, REPLACE };

/* The body: only NUL goes (a C string cannot hold it). */
static int policy_body(uint32_t cp)
{
    return cp == 0 ? REPLACE : KEEP;
}

/* Subject and Date: one line of text; a tab reads as a space elsewhere
 * (kept), every other control is removed. */
static int policy_line(uint32_t cp)
{
    if (cp == '\t')
        return KEEP;
    if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F))
        return DROP;
    return KEEP;
}

/* File names: controls and bidi controls become visible U+FFFD. */
static int policy_name(uint32_t cp)
{
    if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) || sgu_is_bidi_control(cp))
        return REPLACE;
    return KEEP;
}

/* Appends s[0..n) to b as valid UTF-8: invalid sequences become U+FFFD,
 * then each code point goes through policy. Returns how many code points
 * the policy replaced or dropped. */
static size_t scrub(buf *b, const char *s, size_t n, int (*policy)(uint32_t))
{
    const unsigned char *u = (const unsigned char *)s;
    size_t changed = 0, i = 0, run = 0;
    if (buf_reserve(b, n + n / 2) < 0)
        return 0;
    while (i < n) {
        /* fast path: a run of printable ASCII the policies all keep */
        if (u[i] >= 0x20 && u[i] < 0x7F) {
            i++;
            run++;
            continue;
        }
        if (run) {
            buf_add(b, u + i - run, run);
            run = 0;
        }
        size_t skip;
        uint32_t cp;
        size_t len = utf8_seq(u + i, n - i, &skip, &cp);
        if (len == 0) {
            buf_add(b, REPL, 3);
            i += skip;
            continue;
        }
        switch (policy(cp)) {
        case KEEP:
            buf_add(b, u + i, len);
            break;
        case REPLACE:
            buf_add(b, REPL, 3);
            changed++;
            break;
        default:
            changed++;
            break;
        }
        i += len;
    }
    if (run)
        buf_add(b, u + n - run, run);
    return changed;
}

static char *scrub_dup(const char *s, size_t n, int (*policy)(uint32_t))
{
    buf b = {0};
    scrub(&b, s, n, policy);
    return buf_finish(&b);
}

/* Strips leading and trailing white space in place (the line policies
 * keep tabs inside). */
static char *trim(char *s)
{
    if (s == NULL)
        return NULL;
    size_t a = 0, n = strlen(s);
    while (a < n && (s[a] == ' ' || s[a] == '\t'))
        a++;
    while (n > a && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    memmove(s, s + a, n - a);
    s[n - a] = '\0';
    return s;
}

/* ---- charset conversion ---------------------------------------------------- */

/* Labels read as UTF-8 rather than through iconv: UTF-8 itself, and
 * US-ASCII (of which UTF-8 is a superset; 8-bit bytes in mail labelled
 * us-ascii are nearly always UTF-8). */
static int reads_as_utf8(const char *cs)
{
    static const char *const utf8[] = {"utf-8",          "utf8", "us-ascii",  "ascii",
                                       "ansi_x3.4-1968", "us",   "iso646-us", NULL};
    if (cs == NULL || *cs == '\0')
        return 1;
    for (size_t i = 0; utf8[i]; i++)
        if (g_ascii_strcasecmp(cs, utf8[i]) == 0)
            return 1;
    return 0;
}

/* Labels browsers read as windows-1252 (WHATWG Encoding, "windows-1252"). */
static const char *whatwg_alias(const char *cs)
{
    static const char *const cp1252[] = {
        "iso-8859-1", "iso8859-1", "iso_8859-1",      "latin1",      "l1", "iso-ir-100",
        "cp819",      "ibm819",    "iso_8859-1:1987", "csisolatin1", NULL};
    for (size_t i = 0; cp1252[i]; i++)
        if (g_ascii_strcasecmp(cs, cp1252[i]) == 0)
            return "windows-1252";
    return cs;
}

/* Appends in[0..n) converted from charset cs to UTF-8 (unchecked: the
 * caller scrubs). Bytes iconv cannot convert become U+FFFD one at a time.
 * Returns -1 when iconv does not know cs. */
static int convert(buf *out, const char *cs, const char *in, size_t n)
{
    iconv_t cd = g_mime_iconv_open("UTF-8", whatwg_alias(cs));
    if (cd == (iconv_t)-1)
        return -1;
    char *ip = (char *)in;
    size_t il = n;
    if (buf_reserve(out, n * 2 + 16) < 0)
        goto done;
    for (;;) {
        char *op = out->p + out->n;
        size_t ol = out->cap - out->n - 1, before = ol;
        size_t r = il ? iconv(cd, &ip, &il, &op, &ol) : iconv(cd, NULL, NULL, &op, &ol);
        int err = errno;
        out->n += before - ol;
        out->p[out->n] = '\0';
        if (r != (size_t)-1) {
            if (il == 0 && ip != NULL) {
                ip = NULL; /* once more: flush a stateful encoding's shift */
                continue;
            }
            break;
        }
        if (err == E2BIG) {
            if (buf_reserve(out, out->cap) < 0)
                break;
            continue;
        }
        if (il == 0 || ip == NULL)
            break;
        /* EILSEQ: one bad byte; EINVAL: an incomplete sequence at the end */
        buf_add(out, REPL, 3);
        if (err == EINVAL)
            break;
        ip++;
        il--;
        if (out->oom)
            break;
    }
done:
    g_mime_iconv_close(cd);
    return 0;
}

static int valid_utf8(const char *s, size_t n)
{
    size_t skip;
    uint32_t cp;
    for (size_t i = 0; i < n;) {
        size_t len = utf8_seq((const unsigned char *)s + i, n - i, &skip, &cp);
        if (len == 0)
            return 0;
        i += len;
    }
    return 1;
}

/* An html part without a MIME charset that is not UTF-8: the charset its
 * <meta> names in the first 1024 bytes (the WHATWG prescan, simplified:
 * <meta charset=X> and <meta http-equiv content="...; charset=X">), as a
 * browser would read the part on its own. Copied into out; 0 if none. */
static int meta_charset(const char *s, size_t n, char *out, size_t cap)
{
    if (n > 1024)
        n = 1024;
    for (size_t i = 0; i + 5 < n; i++) {
        if (g_ascii_strncasecmp(s + i, "<meta", 5) != 0)
            continue;
        size_t end = i + 5;
        while (end < n && s[end] != '>')
            end++;
        for (size_t k = i + 5; k + 7 < end; k++) {
            if (g_ascii_strncasecmp(s + k, "charset", 7) != 0)
                continue;
            size_t v = k + 7;
            while (v < end && (s[v] == ' ' || s[v] == '\t' || s[v] == '\n'))
                v++;
            if (v >= end || s[v] != '=')
                continue;
            v++;
            while (v < end && (s[v] == ' ' || s[v] == '"' || s[v] == '\''))
                v++;
            size_t l = 0;
            while (v + l < end && l + 1 < cap &&
                   (g_ascii_isalnum(s[v + l]) || strchr("-_.:", s[v + l]) != NULL))
                l++;
            if (l == 0)
                continue;
            memcpy(out, s + v, l);
            out[l] = '\0';
            return 1;
        }
        i = end;
    }
    return 0;
}

/* The body's text: CRLF to LF, the charset to UTF-8, then scrubbed; at
 * most max bytes, cut at a character boundary (*cut set). */
static char *body_text(const char *cs, int html, const char *in, size_t n, size_t max, int *cut)
{
    /* no common charset needs more than 4 bytes in for 1 out (UTF-32):
     * what lies beyond cannot be shown, and need not be converted */
    if (max < SIZE_MAX / 4 && n > max * 4) {
        n = max * 4;
        *cut = 1;
    }
    char meta[64];
    if (cs == NULL && html && !valid_utf8(in, n) && meta_charset(in, n, meta, sizeof meta))
        cs = meta;
    buf lf = {0}, conv = {0}, out = {0};
    if (buf_reserve(&lf, n) < 0)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!(in[i] == '\r' && i + 1 < n && in[i + 1] == '\n'))
            lf.p[lf.n++] = in[i];
    lf.p[lf.n] = '\0';
    const char *src = lf.p;
    size_t srcn = lf.n;
    if (!reads_as_utf8(cs) && convert(&conv, cs, lf.p, lf.n) == 0) {
        if (conv.oom) {
            free(lf.p);
            free(conv.p);
            return NULL;
        }
        src = conv.p ? conv.p : "";
        srcn = conv.n;
    }
    scrub(&out, src, srcn, policy_body);
    free(lf.p);
    free(conv.p);
    char *s = buf_finish(&out);
    if (s != NULL && out.n > max) {
        size_t k = max;
        while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
            k--;
        s[k] = '\0';
        *cut = 1;
    }
    return s;
}

/* ---- attachment risk: tables, not if-chains -------------------------------- */

#define EXE SGR_RISK_EXECUTABLE
#define MAC SGR_RISK_MACRO
#define HTM SGR_RISK_HTML
#define ARC SGR_RISK_ARCHIVE

/* Extension -> class. Class 0 entries are the harmless names a sender
 * uses as a decoy ("invoice.pdf.exe") and whose declared type must agree
 * in class. Sorted for bsearch. */
static const struct ext_class {
    const char *ext;
    unsigned risk;
} ext_table[] = {
    {"7z", ARC},     {"ace", ARC},         {"ade", EXE},   {"adp", EXE},        {"apk", EXE},
    {"app", EXE},    {"application", EXE}, {"appx", EXE},  {"appxbundle", EXE}, {"arj", ARC},
    {"avi", 0},      {"bas", EXE},         {"bat", EXE},   {"bmp", 0},          {"bz2", ARC},
    {"cab", ARC},    {"chm", EXE},         {"cmd", EXE},   {"com", EXE},        {"cpl", EXE},
    {"csv", 0},      {"dll", EXE},         {"dmg", ARC},   {"doc", MAC},        {"docm", MAC},
    {"docx", 0},     {"dot", MAC},         {"dotm", MAC},  {"eml", 0},          {"exe", EXE},
    {"gadget", EXE}, {"gif", 0},           {"gz", ARC},    {"hta", EXE},        {"htm", HTM},
    {"html", HTM},   {"ics", 0},           {"img", ARC},   {"inf", EXE},        {"ins", EXE},
    {"iqy", EXE},    {"iso", ARC},         {"jar", EXE},   {"jpeg", 0},         {"jpg", 0},
    {"js", EXE},     {"jse", EXE},         {"json", 0},    {"lnk", EXE},        {"lzh", ARC},
    {"m4a", 0},      {"mht", HTM},         {"mhtml", HTM}, {"mov", 0},          {"mp3", 0},
    {"mp4", 0},      {"msc", EXE},         {"msi", EXE},   {"msix", EXE},       {"msp", EXE},
    {"mst", EXE},    {"ods", 0},           {"odt", 0},     {"one", EXE},        {"pdf", 0},
    {"pif", EXE},    {"png", 0},           {"pot", MAC},   {"potm", MAC},       {"ppam", MAC},
    {"pps", MAC},    {"ppsm", MAC},        {"ppt", MAC},   {"pptm", MAC},       {"pptx", 0},
    {"ps1", EXE},    {"psm1", EXE},        {"rar", ARC},   {"reg", EXE},        {"rtf", 0},
    {"scf", EXE},    {"scr", EXE},         {"sct", EXE},   {"sh", EXE},         {"shtml", HTM},
    {"sldm", MAC},   {"svg", HTM},         {"tar", ARC},   {"tgz", ARC},        {"tif", 0},
    {"tiff", 0},     {"txt", 0},           {"url", EXE},   {"vb", EXE},         {"vbe", EXE},
    {"vbs", EXE},    {"vhd", ARC},         {"vhdx", ARC},  {"wav", 0},          {"webp", 0},
    {"wsc", EXE},    {"wsf", EXE},         {"wsh", EXE},   {"xht", HTM},        {"xhtml", HTM},
    {"xla", MAC},    {"xlam", MAC},        {"xll", EXE},   {"xls", MAC},        {"xlsb", MAC},
    {"xlsm", MAC},   {"xlsx", 0},          {"xlt", MAC},   {"xltm", MAC},       {"xz", ARC},
    {"zip", ARC},
};

/* Declared type -> class; an entry ending in '.' matches as a prefix
 * (the macro-enabled Office types, "application/vnd.ms-excel.sheet.
 * macroEnabled.12" and its siblings). A type in no entry is class 0. */
static const struct type_class {
    const char *type;
    unsigned risk;
} type_table[] = {
    {"application/bat", EXE},
    {"application/ecmascript", EXE},
    {"application/hta", EXE},
    {"application/java-archive", EXE},
    {"application/javascript", EXE},
    {"application/vnd.microsoft.portable-executable", EXE},
    {"application/vnd.ms-htmlhelp", EXE},
    {"application/x-bat", EXE},
    {"application/x-dosexec", EXE},
    {"application/x-executable", EXE},
    {"application/x-java-archive", EXE},
    {"application/x-javascript", EXE},
    {"application/x-ms-installer", EXE},
    {"application/x-ms-shortcut", EXE},
    {"application/x-msdos-program", EXE},
    {"application/x-msdownload", EXE},
    {"application/x-msi", EXE},
    {"application/x-sh", EXE},
    {"application/x-shellscript", EXE},
    {"text/javascript", EXE},
    {"text/vbscript", EXE},
    {"application/msword", MAC},
    {"application/vnd.ms-excel", MAC},
    {"application/vnd.ms-excel.", MAC},
    {"application/vnd.ms-powerpoint", MAC},
    {"application/vnd.ms-powerpoint.", MAC},
    {"application/vnd.ms-word.", MAC},
    {"application/xhtml+xml", HTM},
    {"image/svg+xml", HTM},
    {"text/html", HTM},
    {"application/gzip", ARC},
    {"application/vnd.ms-cab-compressed", ARC},
    {"application/vnd.rar", ARC},
    {"application/x-7z-compressed", ARC},
    {"application/x-apple-diskimage", ARC},
    {"application/x-bzip2", ARC},
    {"application/x-cd-image", ARC},
    {"application/x-gzip", ARC},
    {"application/x-iso9660-image", ARC},
    {"application/x-rar", ARC},
    {"application/x-rar-compressed", ARC},
    {"application/x-tar", ARC},
    {"application/x-xz", ARC},
    {"application/x-zip", ARC},
    {"application/x-zip-compressed", ARC},
    {"application/zip", ARC},
};

/* Types that say nothing about the content: no mismatch is judged. */
static const char *const generic_types[] = {
    "application/octet-stream",   "application/x-download",
    "application/force-download", "application/download",
    "application/binary",         "application/unknown",
    "binary/octet-stream",        NULL,
};

static int ext_cmp(const void *k, const void *e)
{
    return strcmp(k, ((const struct ext_class *)e)->ext);
}

/* Class of an extension (lower-cased into a small buffer); -1 if unknown. */
static int ext_risk(const char *ext, size_t n)
{
    char low[16];
    if (n == 0 || n >= sizeof low)
        return -1;
    for (size_t i = 0; i < n; i++)
        low[i] = g_ascii_tolower(ext[i]);
    low[n] = '\0';
    const struct ext_class *e = bsearch(low, ext_table, sizeof ext_table / sizeof ext_table[0],
                                        sizeof ext_table[0], ext_cmp);
    return e ? (int)e->risk : -1;
}

static unsigned type_risk(const char *type)
{
    for (size_t i = 0; i < sizeof type_table / sizeof type_table[0]; i++) {
        const char *t = type_table[i].type;
        size_t n = strlen(t);
        if (t[n - 1] == '.' ? strncmp(type, t, n) == 0 : strcmp(type, t) == 0)
            return type_table[i].risk;
    }
    return 0;
}

static int is_generic_type(const char *type)
{
    for (size_t i = 0; generic_types[i]; i++)
        if (strcmp(type, generic_types[i]) == 0)
            return 1;
    return 0;
}

/* The last extension of name (after trailing dots and spaces, which
 * Windows drops: "x.exe." opens as "x.exe"), and the one before it, each
 * trimmed of spaces ("invoice.pdf      .exe"). */
static void name_exts(const char *name, const char **e1, size_t *n1, const char **e2, size_t *n2)
{
    size_t end = strlen(name);
    *e1 = *e2 = NULL;
    *n1 = *n2 = 0;
    while (end > 0 && (name[end - 1] == '.' || name[end - 1] == ' '))
        end--;
    const char *ext[2] = {NULL, NULL};
    size_t len[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        size_t dot = end;
        while (dot > 0 && name[dot - 1] != '.' && name[dot - 1] != '/' && name[dot - 1] != '\\')
            dot--;
        if (dot == 0 || name[dot - 1] != '.')
            break;
        size_t a = dot, b = end;
        while (a < b && name[a] == ' ')
            a++;
        while (b > a && name[b - 1] == ' ')
            b--;
        ext[k] = name + a;
        len[k] = b - a;
        end = dot - 1;
    }
    *e1 = ext[0];
    *n1 = len[0];
    *e2 = ext[1];
    *n2 = len[1];
}

/* The SGR_RISK_* bits of a non-body part. bidi: the name held a bidi
 * control (replaced by U+FFFD before we get here). */
static unsigned classify(const char *type, const char *name, int bidi)
{
    unsigned risk = type_risk(type);
    if (name != NULL) {
        const char *e1, *e2;
        size_t n1, n2;
        name_exts(name, &e1, &n1, &e2, &n2);
        int r1 = e1 ? ext_risk(e1, n1) : -1;
        int r2 = e2 ? ext_risk(e2, n2) : -1;
        if (r1 > 0)
            risk |= (unsigned)r1;
        /* a decoy extension of another class before a program or a page */
        if (r1 > 0 && r2 >= 0 && r2 != r1 && (r1 & (EXE | HTM)))
            risk |= SGR_RISK_DOUBLE_EXT;
        if (r1 >= 0 && !is_generic_type(type) && (unsigned)r1 != type_risk(type))
            risk |= SGR_RISK_TYPE_MISMATCH;
    }
    if (bidi)
        risk |= SGR_RISK_DOUBLE_EXT;
    return risk;
}

static const char *const risk_names[] = {"executable", "macro",      "html",
                                         "archive",    "double_ext", "type_mismatch"};

const char *sgr_mime_risk_name(unsigned risk_bit)
{
    for (unsigned i = 0; i < sizeof risk_names / sizeof risk_names[0]; i++)
        if (risk_bit == 1u << i)
            return risk_names[i];
    return NULL;
}

/* One sentence for the most serious bit. */
static char *risk_sentence(unsigned risk, int bidi, const char *type, const char *name)
{
    const char *e1 = NULL, *e2 = NULL;
    size_t n1 = 0, n2 = 0;
    if (name)
        name_exts(name, &e1, &n1, &e2, &n2);
    int l1 = (int)(n1 > 16 ? 16 : n1), l2 = (int)(n2 > 16 ? 16 : n2);
    if (e1 == NULL)
        e1 = "";
    if (e2 == NULL)
        e2 = "";
    if (bidi)
        return g_strdup_printf("The file name contains a right-to-left control that disguises its "
                               "real extension (.%.*s).",
                               l1, e1);
    if (risk & SGR_RISK_DOUBLE_EXT)
        return g_strdup_printf("The name ends in .%.*s after a decoy .%.*s: it only looks like a "
                               "harmless file.",
                               l1, e1, l2, e2);
    if (risk & SGR_RISK_TYPE_MISMATCH)
        return g_strdup_printf("It is declared as %s but its name ends in .%.*s.", type, l1, e1);
    if (risk & SGR_RISK_EXECUTABLE)
        return g_strdup("It is a program or script: opening it runs code on your computer.");
    if (risk & SGR_RISK_MACRO)
        return g_strdup("It is an Office document that can hold macros, which run code when "
                        "enabled.");
    if (risk & SGR_RISK_HTML)
        return g_strdup("It is a web page: opened from disk it can show a fake login form.");
    if (risk & SGR_RISK_ARCHIVE)
        return g_strdup("It is an archive or disk image, which can hide programs from mail "
                        "filters.");
    return NULL;
}

/* ---- the parsed message ------------------------------------------------------- */

struct sgr_mime {
    sgr_mime_view view;
    sgr_mime_part *parts;
    unsigned char **content; /* decoded bytes of parts[i] (NULL when size 0) */
    GPtrArray *strings;      /* g_free'd with the message */
};

/* Keeps a g_malloc'ed string until sgr_mime_free; returns it. */
static char *keep(sgr_mime *m, char *s)
{
    if (s != NULL)
        g_ptr_array_add(m->strings, s);
    return s;
}

static char *gdup_free(char *s)
{
    /* our scrubbers malloc; the pool frees with g_free, which is free */
    if (s == NULL)
        return NULL;
    char *g = g_strdup(s);
    free(s);
    return g;
}

/* A leaf found by the walk. */
typedef struct {
    GMimeObject *obj;
    int in_alternative; /* below a multipart/alternative */
    GByteArray *bytes;  /* decoded content, while parsing */
} leaf;

typedef struct {
    const sgr_mime_limits *lim;
    GArray *leaves; /* of leaf */
    int truncated;
} walk;

static int is_multipart_type(GMimeObject *o, const char *sub)
{
    GMimeContentType *ct = g_mime_object_get_content_type(o);
    return ct != NULL && g_mime_content_type_is_type(ct, "multipart", sub);
}

static void collect(walk *w, GMimeObject *o, unsigned depth, int in_alt)
{
    if (GMIME_IS_MULTIPART(o)) {
        if (depth >= w->lim->max_depth) {
            w->truncated = 1;
            return;
        }
        GMimeMultipart *mp = GMIME_MULTIPART(o);
        int alt = in_alt || is_multipart_type(o, "alternative");
        int n = g_mime_multipart_get_count(mp);
        for (int i = 0; i < n; i++)
            collect(w, g_mime_multipart_get_part(mp, i), depth + 1, alt);
        return;
    }
    if (w->leaves->len >= w->lim->max_parts) {
        w->truncated = 1;
        return;
    }
    leaf l = {o, in_alt, NULL};
    g_array_append_val(w->leaves, l);
}

static int leaf_index(const walk *w, GMimeObject *o)
{
    for (unsigned i = 0; i < w->leaves->len; i++)
        if (g_array_index(w->leaves, leaf, i).obj == o)
            return (int)i;
    return -1;
}

static int is_attachment(GMimeObject *o)
{
    GMimeContentDisposition *d = g_mime_object_get_content_disposition(o);
    return d != NULL && g_mime_content_disposition_is_attachment(d);
}

/* 2: text/html, 1: text/plain, 0: not a body we show. */
static int text_kind(GMimeObject *o)
{
    GMimeContentType *ct = g_mime_object_get_content_type(o);
    if (ct == NULL || !GMIME_IS_PART(o))
        return 0;
    if (g_mime_content_type_is_type(ct, "text", "html"))
        return 2;
    if (g_mime_content_type_is_type(ct, "text", "plain"))
        return 1;
    return 0;
}

typedef struct {
    int index; /* leaf index, -1 none */
    int html;
} choice;

/* RFC 2387: the root of multipart/related is the part whose Content-ID
 * the start parameter names, else the first. */
static GMimeObject *related_root(GMimeMultipart *mp)
{
    GMimeContentType *ct = g_mime_object_get_content_type(GMIME_OBJECT(mp));
    const char *start = ct ? g_mime_content_type_get_parameter(ct, "start") : NULL;
    int n = g_mime_multipart_get_count(mp);
    if (n == 0)
        return NULL;
    if (start != NULL) {
        char *want = g_strdup(start);
        g_strstrip(want);
        size_t wl = strlen(want);
        char *w = want;
        if (wl >= 2 && want[0] == '<' && want[wl - 1] == '>') {
            want[wl - 1] = '\0';
            w = want + 1;
        }
        for (int i = 0; i < n; i++) {
            GMimeObject *c = g_mime_multipart_get_part(mp, i);
            const char *cid = g_mime_object_get_content_id(c);
            if (cid != NULL && strcmp(cid, w) == 0) {
                g_free(want);
                return c;
            }
        }
        g_free(want);
    }
    return g_mime_multipart_get_part(mp, 0);
}

static choice choose_body(const walk *w, GMimeObject *o, unsigned depth)
{
    choice none = {-1, 0};
    if (!GMIME_IS_MULTIPART(o)) {
        int k = text_kind(o);
        if (k == 0 || is_attachment(o))
            return none;
        int idx = leaf_index(w, o);
        if (idx < 0)
            return none;
        return (choice){idx, k == 2};
    }
    if (depth >= w->lim->max_depth || is_attachment(o))
        return none;
    GMimeMultipart *mp = GMIME_MULTIPART(o);
    int n = g_mime_multipart_get_count(mp);
    if (is_multipart_type(o, "alternative")) {
        /* RFC 2046 5.1.4: the last is the richest; html before plain */
        choice html = none, plain = none;
        for (int i = 0; i < n; i++) {
            choice c = choose_body(w, g_mime_multipart_get_part(mp, i), depth + 1);
            if (c.index >= 0 && c.html)
                html = c;
            else if (c.index >= 0)
                plain = c;
        }
        return html.index >= 0 ? html : plain;
    }
    if (is_multipart_type(o, "related")) {
        GMimeObject *root = related_root(mp);
        return root ? choose_body(w, root, depth + 1) : none;
    }
    for (int i = 0; i < n; i++) {
        choice c = choose_body(w, g_mime_multipart_get_part(mp, i), depth + 1);
        if (c.index >= 0)
            return c;
    }
    return none;
}

/* "type/subtype" in lower case, only token characters (it goes into
 * HTTP headers and JSON), else application/octet-stream. */
static char *mime_type_of(GMimeObject *o)
{
    GMimeContentType *ct = g_mime_object_get_content_type(o);
    const char *t = ct ? g_mime_content_type_get_media_type(ct) : NULL;
    const char *s = ct ? g_mime_content_type_get_media_subtype(ct) : NULL;
    if (t == NULL || s == NULL || !*t || !*s)
        return g_strdup(ct ? "application/octet-stream" : "text/plain");
    char *r = g_strdup_printf("%s/%s", t, s);
    for (char *p = r; *p; p++) {
        *p = g_ascii_tolower(*p);
        if (!(g_ascii_isalnum(*p) || strchr("!#$&^_.+-/", *p) != NULL)) {
            g_free(r);
            return g_strdup("application/octet-stream");
        }
    }
    if (strchr(strchr(r, '/') + 1, '/') != NULL) {
        g_free(r);
        return g_strdup("application/octet-stream");
    }
    return r;
}

static char *charset_of(GMimeObject *o)
{
    GMimeContentType *ct = g_mime_object_get_content_type(o);
    const char *cs = ct ? g_mime_content_type_get_parameter(ct, "charset") : NULL;
    if (cs == NULL)
        return NULL;
    char *r = g_strdup(cs);
    g_strstrip(r);
    for (char *p = r; *p; p++) {
        *p = g_ascii_tolower(*p);
        if (!(g_ascii_isalnum(*p) || strchr("!#$%&'+-^_`{}~.:", *p) != NULL)) {
            g_free(r);
            return NULL;
        }
    }
    if (*r == '\0') {
        g_free(r);
        return NULL;
    }
    return r;
}

/* Decoded content of a leaf (a GMimePart through its transfer encoding;
 * an attached message as GMime writes it back). */
static GByteArray *decode_leaf(GMimeObject *o)
{
    GMimeStream *ms = g_mime_stream_mem_new();
    if (GMIME_IS_PART(o)) {
        GMimeDataWrapper *dw = g_mime_part_get_content(GMIME_PART(o));
        if (dw != NULL)
            g_mime_data_wrapper_write_to_stream(dw, ms);
    } else if (GMIME_IS_MESSAGE_PART(o)) {
        GMimeMessage *msg = g_mime_message_part_get_message(GMIME_MESSAGE_PART(o));
        if (msg != NULL)
            g_mime_object_write_to_stream(GMIME_OBJECT(msg), NULL, ms);
    }
    GMimeStreamMem *mem = GMIME_STREAM_MEM(ms);
    GByteArray *ba = g_mime_stream_mem_get_byte_array(mem);
    g_mime_stream_mem_set_owner(mem, FALSE);
    g_object_unref(ms);
    return ba;
}

/* Fills parts[i] (all but size and content) for leaf l. */
static void describe(sgr_mime *m, sgr_mime_part *p, const leaf *l, int is_body)
{
    GMimeObject *o = l->obj;
    p->content_type = keep(m, mime_type_of(o));
    p->charset = keep(m, charset_of(o));
    int bidi = 0;
    const char *fn = GMIME_IS_PART(o) ? g_mime_part_get_filename(GMIME_PART(o)) : NULL;
    if (fn == NULL)
        fn = g_mime_object_get_content_disposition_parameter(o, "filename");
    if (fn != NULL) {
        buf b = {0};
        const unsigned char *u = (const unsigned char *)fn;
        size_t fn_len = strlen(fn);
        for (size_t i = 0; i < fn_len; i++)
            bidi |= sgu_bidi_control_at(u + i, fn_len - i);
        scrub(&b, fn, strlen(fn), policy_name);
        p->filename = keep(m, gdup_free(buf_finish(&b)));
    }
    const char *cid = g_mime_object_get_content_id(o);
    if (cid != NULL) {
        char *c = trim(scrub_dup(cid, strlen(cid), policy_line));
        if (c != NULL && *c != '\0')
            p->content_id = keep(m, gdup_free(c));
        else
            free(c);
    }
    if (is_body) {
        p->role = SGR_PART_BODY;
        return;
    }
    /* text in an alternative, html or plain or one we cannot show */
    if (l->in_alternative && g_str_has_prefix(p->content_type, "text/") && !is_attachment(o)) {
        p->role = SGR_PART_ALTERNATIVE;
        return;
    }
    p->risk = classify(p->content_type, p->filename, bidi);
    if (p->risk != 0)
        p->risk_detail = keep(m, risk_sentence(p->risk, bidi, p->content_type, p->filename));
    if (p->risk == 0 && p->content_id != NULL && g_str_has_prefix(p->content_type, "image/") &&
        !is_attachment(o))
        p->role = SGR_PART_INLINE;
    else
        p->role = SGR_PART_ATTACHMENT;
}

/* ---- parse ---------------------------------------------------------------------- */

/* GMime builds an object for every part, header field and parameter it
 * meets (about 1 KB and 10 us each), whatever our max_parts: 1 MB of
 * "--b\n\n" is 200,000 parts, 3 s and 270 MB. So before GMime sees the
 * message we count what it would build, roughly: lines that start with
 * "--" (every boundary does), and field lines and their parameters (";")
 * in what looks like a header block (the top one, after such a line, and
 * one starting right after a header block: an attached message). Past
 * STRUCT_PER_PART per allowed part the input is cut at that line and the
 * view says truncated. Real mail has a few dozen per part (the bound is
 * 8,192 for the default 256 parts). */
#define STRUCT_PER_PART 32
#define STRUCT_MIN 1024

static int field_line(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && s[i] > 0x20 && s[i] < 0x7F && s[i] != ':')
        i++;
    return i > 0 && i < n && s[i] == ':';
}

/* Parameters (";") on a header line: GMime makes an object of each. */
static size_t params(const char *s, size_t n)
{
    size_t k = 0;
    for (const char *p = s; (p = memchr(p, ';', n - (size_t)(p - s))) != NULL; p++)
        k++;
    return k;
}

/* GMime parses the address fields of an attached message (From, To, Cc,
 * Bcc, Sender, Reply-To) and recurses into each group it opens: "To:
 * g:a@b,g:a@b,..." or "From: g:g:g:..." 100,000 deep overflows the stack.
 * No real address field opens more than a few groups (or holds more than a
 * few IPv6 literals), so a field with more than MAX_FIELD_COLONS colons is
 * renamed (its first letter becomes 'X') in the copy GMime parses: GMime
 * keeps it as an unknown field. Found anywhere a header could be, since
 * GMime's idea of where an attached message starts need not be ours. */
#define MAX_FIELD_COLONS 64

static int address_field(const char *l, size_t n)
{
    static const char *const names[] = {"from", "to", "cc", "bcc", "sender", "reply-to"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t k = strlen(names[i]);
        if (n <= k || g_ascii_strncasecmp(l, names[i], k) != 0)
            continue;
        while (k < n && (l[k] == ' ' || l[k] == '\t'))
            k++;
        if (k < n && l[k] == ':')
            return 1;
    }
    return 0;
}

static size_t colons(const char *s, size_t n)
{
    size_t k = 0;
    for (const char *p = s; (p = memchr(p, ':', n - (size_t)(p - s))) != NULL; p++)
        k++;
    return k;
}

/* What GMime is given: data[0..*given), with the offsets of the address
 * fields to rename in *renames (a GArray of size_t). */
static void prepare(const char *data, size_t len, size_t max_parts, size_t *given, GArray *renames)
{
    size_t limit = max_parts > SIZE_MAX / STRUCT_PER_PART ? SIZE_MAX : max_parts * STRUCT_PER_PART;
    if (limit < STRUCT_MIN)
        limit = STRUCT_MIN;
    enum { HEADER, AFTER_HEADER, BODY } st = HEADER;
    size_t count = 0, field_at = 0, field_colons = 0;
    int in_field = 0;
    *given = len;
    for (size_t at = 0; at < len;) {
        const char *nl = memchr(data + at, '\n', len - at);
        size_t n = nl ? (size_t)(nl - (data + at)) : len - at;
        const char *l = data + at;
        int blank = n == 0 || (n == 1 && l[0] == '\r');
        int cont = n > 0 && (l[0] == ' ' || l[0] == '\t');
        /* address fields, wherever they are */
        if (in_field && cont) {
            field_colons += colons(l, n);
        } else {
            if (in_field && field_colons > MAX_FIELD_COLONS)
                g_array_append_val(renames, field_at);
            in_field = address_field(l, n);
            field_at = at;
            field_colons = in_field ? colons(l, n) - 1 : 0;
        }
        /* the structure GMime will build */
        size_t counted = 0;
        if (n >= 2 && l[0] == '-' && l[1] == '-') {
            counted = 1;
            st = HEADER;
        } else if (st == BODY) {
            /* text */
        } else if (blank) {
            st = st == HEADER ? AFTER_HEADER : BODY;
        } else if (cont && st == HEADER) {
            counted = params(l, n); /* a continuation of the field */
        } else if (field_line(l, n)) {
            counted = 1 + params(l, n);
            st = HEADER;
        } else {
            st = BODY;
        }
        count += counted;
        if (count > limit) {
            *given = at;
            break;
        }
        at += n + 1;
    }
    if (in_field && field_colons > MAX_FIELD_COLONS && field_at < *given)
        g_array_append_val(renames, field_at);
}

/* The message as one MIME entity (its header and content), not as a
 * GMimeMessage: that would parse From, To, Cc... as address lists on the
 * way in (again over every earlier field of the name for each new one,
 * and recursively for nested groups: "From: g:g:g:...", 100,000 deep,
 * overflows the stack), and we read no address through GMime. */
static GMimeObject *gmime_parse(const char *data, size_t len, const GArray *renames)
{
    GByteArray *copy = g_byte_array_sized_new(len ? (guint)len : 1);
    g_byte_array_append(copy, (const guint8 *)data, (guint)len);
    for (guint i = 0; i < renames->len; i++)
        copy->data[g_array_index(renames, size_t, i)] = 'X';
    GMimeStream *s = g_mime_stream_mem_new_with_byte_array(copy); /* takes it */
    GMimeParser *p = g_mime_parser_new_with_stream(s);
    g_mime_parser_set_format(p, GMIME_FORMAT_MESSAGE); /* no mbox "From " lines */
    GMimeObject *msg = g_mime_parser_construct_part(p, NULL);
    g_object_unref(p);
    g_object_unref(s);
    return msg;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)g_ascii_tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* ---- RFC 2047 encoded words (Subject) -------------------------------------------
 *
 * Our own decoder rather than GMime's: GMime 3.2 joins adjacent base64
 * words before decoding, so a padded first word ("=?utf-8?B?w4Fydg==?=
 * =?utf-8?B?w616?=") loses the second, and it decodes a word that is not
 * base64 into noise. Here each word is decoded alone; the bytes of
 * adjacent words in one charset are joined before the charset is
 * converted (a character split over two words, RFC 2047 5 says it must
 * not be, is common); white space between two encoded words goes (6.2);
 * a word that does not decode is kept as written. Encoded words are found
 * inside words too, as every reader does. */

/* Decodes the encoded-text of one word; -1 when it is not valid. */
static int ew_decode(buf *out, char enc, const char *t, size_t n)
{
    if (enc == 'q' || enc == 'Q') {
        for (size_t i = 0; i < n; i++) {
            int h, l;
            if (t[i] == '_')
                buf_add(out, " ", 1);
            else if (t[i] == '=' && i + 2 < n && (h = hexval(t[i + 1])) >= 0 &&
                     (l = hexval(t[i + 2])) >= 0) {
                char c = (char)(h * 16 + l);
                buf_add(out, &c, 1);
                i += 2;
            } else
                buf_add(out, t + i, 1);
        }
        return 0;
    }
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t data = n;
    while (data > 0 && t[data - 1] == '=')
        data--;
    if (n - data > 2 || data % 4 == 1 || (n % 4 != 0 && n != data))
        return -1;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < data; i++) {
        const char *p = t[i] ? strchr(alphabet, t[i]) : NULL;
        if (p == NULL)
            return -1;
        acc = (acc << 6) | (unsigned)(p - alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            char c = (char)((acc >> bits) & 0xFF);
            buf_add(out, &c, 1);
        }
    }
    return 0;
}

/* If s starts an encoded word "=?charset?B|Q?text?=" that decodes, its
 * length; the charset (RFC 2231 language cut off) into cs, bytes into
 * out. 0 otherwise (out untouched). */
static size_t ew_parse(const char *s, char *cs, size_t cscap, buf *out)
{
    if (s[0] != '=' || s[1] != '?')
        return 0;
    size_t i = 2, c0 = 2;
    while (s[i] && s[i] != '?' && s[i] != ' ' && s[i] != '\t')
        i++;
    if (s[i] != '?' || i == c0 || i - c0 >= cscap)
        return 0;
    size_t cl = i - c0;
    char enc = s[i + 1];
    if (!(enc == 'B' || enc == 'b' || enc == 'Q' || enc == 'q') || s[i + 2] != '?')
        return 0;
    size_t t0 = i + 3, t = t0;
    while (s[t] && s[t] != '?' && s[t] != ' ' && s[t] != '\t')
        t++;
    if (s[t] != '?' || s[t + 1] != '=')
        return 0;
    size_t mark = out->n;
    if (ew_decode(out, enc, s + t0, t - t0) < 0) {
        out->n = mark;
        if (out->p)
            out->p[mark] = '\0';
        return 0;
    }
    memcpy(cs, s + c0, cl);
    cs[cl] = '\0';
    char *star = strchr(cs, '*');
    if (star)
        *star = '\0';
    return t + 2;
}

/* Appends the pending bytes of encoded words in charset cs as UTF-8. */
static void ew_flush(buf *out, buf *pend, const char *cs)
{
    if (pend->n == 0)
        return;
    if (reads_as_utf8(cs) || convert(out, cs, pend->p, pend->n) < 0)
        buf_add(out, pend->p, pend->n);
    pend->n = 0;
}

/* A header field's raw value, unfolded and decoded, scrubbed to one line
 * of valid UTF-8 (trimmed). */
static char *decode_unstructured(const char *raw)
{
    buf u = {0}, out = {0}, pend = {0}, tmp = {0};
    for (const char *p = raw; *p; p++)
        if (*p != '\r' && *p != '\n')
            buf_add(&u, p, 1);
    const char *s = u.p ? u.p : "";
    char cs[64] = "", cs2[64];
    size_t i = 0;
    while (s[i] && !out.oom && !pend.oom) {
        size_t n = ew_parse(s + i, cs2, sizeof cs2, &tmp);
        if (n == 0) {
            ew_flush(&out, &pend, cs);
            size_t k = i + 1;
            while (s[k] && !(s[k] == '=' && s[k + 1] == '?'))
                k++;
            buf_add(&out, s + i, k - i);
            i = k;
            continue;
        }
        if (pend.n && g_ascii_strcasecmp(cs, cs2) != 0)
            ew_flush(&out, &pend, cs);
        memcpy(cs, cs2, sizeof cs);
        buf_add(&pend, tmp.p, tmp.n);
        tmp.n = 0;
        i += n;
        /* white space up to another encoded word is not text (6.2) */
        size_t j = i;
        while (s[j] == ' ' || s[j] == '\t')
            j++;
        if (j > i && ew_parse(s + j, cs2, sizeof cs2, &tmp) > 0)
            i = j;
        tmp.n = 0;
    }
    ew_flush(&out, &pend, cs);
    char *r = NULL;
    if (!out.oom && !pend.oom && !u.oom)
        r = trim(scrub_dup(out.p ? out.p : "", out.n, policy_line));
    free(u.p);
    free(out.p);
    free(pend.p);
    free(tmp.p);
    return r;
}

static const char *raw_header(GMimeObject *o, const char *name)
{
    GMimeHeaderList *hl = g_mime_object_get_header_list(o);
    GMimeHeader *h = hl ? g_mime_header_list_get_header(hl, name) : NULL;
    return h ? g_mime_header_get_raw_value(h) : NULL;
}

static int header_fields(sgr_mime *m, GMimeObject *msg)
{
    sgr_mime_view *v = &m->view;
    const char *subj = msg ? raw_header(msg, "Subject") : NULL;
    char *s = decode_unstructured(subj ? subj : "");
    if (s == NULL)
        return -1;
    v->subject = keep(m, gdup_free(s));
    const char *date = msg ? raw_header(msg, "Date") : NULL;
    if (date != NULL) {
        char *d = trim(scrub_dup(date, strlen(date), policy_line));
        if (d == NULL)
            return -1;
        v->date = keep(m, gdup_free(d));
        GDateTime *dt = g_mime_utils_header_decode_date(v->date);
        if (dt != NULL) {
            v->date_unix = (long long)g_date_time_to_unix(dt);
            g_date_time_unref(dt);
        }
    }
    return 0;
}

int sgr_mime_parse(sgr_mime **out, const char *data, size_t len, const sgr_mime_limits *lim)
{
    sgr_mime_limits defl;
    if (out == NULL || (data == NULL && len > 0))
        return SGR_MIME_EINVAL;
    *out = NULL;
    if (lim == NULL) {
        sgr_mime_limits_init(&defl);
        lim = &defl;
    }
    pthread_once(&gmime_once, gmime_init_once);

    sgr_mime *m = calloc(1, sizeof *m);
    if (m == NULL)
        return SGR_MIME_ENOMEM;
    m->strings = g_ptr_array_new_with_free_func(g_free);
    sgr_mime_view *v = &m->view;
    v->body_part = -1;

    /* a message saved from an mbox starts with its "From " line, which is
     * no header field (RFC 4155); readers skip it */
    if (data != NULL && len >= 5 && memcmp(data, "From ", 5) == 0) {
        const char *nl = memchr(data, '\n', len);
        size_t skip = nl ? (size_t)(nl - data) + 1 : len;
        data += skip;
        len -= skip;
    }
    size_t given = 0;
    GArray *renames = g_array_new(FALSE, FALSE, sizeof(size_t));
    if (data != NULL)
        prepare(data, len > G_MAXINT ? G_MAXINT : len, lim->max_parts, &given, renames);
    GMimeObject *msg = gmime_parse(data ? data : "", given, renames);
    g_array_free(renames, TRUE);
    walk w = {lim, g_array_new(FALSE, TRUE, sizeof(leaf)), given < len};
    int rc = SGR_MIME_OK;
    if (header_fields(m, msg) < 0) {
        rc = SGR_MIME_ENOMEM;
        goto out;
    }

    GMimeObject *top = msg;
    if (top != NULL)
        collect(&w, top, 0, 0);
    choice body = top ? choose_body(&w, top, 0) : (choice){-1, 0};

    /* decode: the body first, then the rest in walk order, within the
     * budget; what does not fit is left out of the list */
    size_t budget = lim->max_decoded;
    unsigned nl = w.leaves->len;
    for (unsigned k = 0; k <= nl; k++) {
        int i = k == 0 ? body.index : (int)k - 1;
        if (i < 0 || (k > 0 && i == body.index))
            continue;
        leaf *l = &g_array_index(w.leaves, leaf, i);
        GByteArray *ba = decode_leaf(l->obj);
        if (ba->len > budget) {
            g_byte_array_free(ba, TRUE);
            w.truncated = 1;
            if (i == body.index)
                body.index = -1;
            continue;
        }
        budget -= ba->len;
        l->bytes = ba;
    }

    size_t np = 0;
    for (unsigned i = 0; i < nl; i++)
        np += g_array_index(w.leaves, leaf, i).bytes != NULL;
    m->parts = calloc(np ? np : 1, sizeof *m->parts);
    m->content = calloc(np ? np : 1, sizeof *m->content);
    if (m->parts == NULL || m->content == NULL) {
        rc = SGR_MIME_ENOMEM;
        goto out;
    }
    size_t j = 0;
    for (unsigned i = 0; i < nl; i++) {
        leaf *l = &g_array_index(w.leaves, leaf, i);
        if (l->bytes == NULL)
            continue;
        sgr_mime_part *p = &m->parts[j];
        p->index = (unsigned)j;
        describe(m, p, l, (int)i == body.index);
        p->size = l->bytes->len;
        m->content[j] = l->bytes->len ? g_byte_array_free(l->bytes, FALSE)
                                      : (g_byte_array_free(l->bytes, TRUE), NULL);
        l->bytes = NULL;
        v->nparts = j + 1; /* freed with m from here on */
        if ((int)i == body.index) {
            v->body_part = (int)j;
            v->body_is_html = body.html;
            int cut = 0;
            char *b = body_text(p->charset, body.html, (const char *)m->content[j], p->size,
                                lim->max_body, &cut);
            if (b == NULL) {
                rc = SGR_MIME_ENOMEM;
                goto out;
            }
            v->body = keep(m, gdup_free(b));
            w.truncated |= cut;
            v->body_cut = cut;
        }
        j++;
    }
    v->parts = m->parts;
    if (v->body == NULL && nl == 0) {
        int cut = 0;
        const char *text = NULL;
        size_t n = 0;
        if (msg == NULL) {
            text = data ? data : "";
            n = len;
        } else if (top != NULL && GMIME_IS_MULTIPART(top) &&
                   g_mime_multipart_get_count(GMIME_MULTIPART(top)) == 0) {
            text = g_mime_multipart_get_prologue(GMIME_MULTIPART(top));
            n = text ? strlen(text) : 0;
        }
        if (text != NULL) {
            char *b = body_text(NULL, 0, text, n, lim->max_body, &cut);
            if (b == NULL) {
                rc = SGR_MIME_ENOMEM;
                goto out;
            }
            v->body = keep(m, gdup_free(b));
            w.truncated |= cut;
            v->body_cut = cut;
        }
    }
    if (v->body == NULL)
        v->body = keep(m, g_strdup(""));
    v->body_len = strlen(v->body);
    v->truncated = w.truncated;
out:
    for (unsigned i = 0; i < w.leaves->len; i++) {
        leaf *l = &g_array_index(w.leaves, leaf, i);
        if (l->bytes)
            g_byte_array_free(l->bytes, TRUE);
    }
    g_array_free(w.leaves, TRUE);
    if (msg)
        g_object_unref(msg);
    if (rc != SGR_MIME_OK) {
        sgr_mime_free(m);
        return rc;
    }
    *out = m;
    return SGR_MIME_OK;
}

const sgr_mime_view *sgr_mime_get(const sgr_mime *m)
{
    return m ? &m->view : NULL;
}

int sgr_mime_part_content(const sgr_mime *m, unsigned index, unsigned char **out, size_t *len)
{
    if (m == NULL || out == NULL || len == NULL || index >= m->view.nparts)
        return SGR_MIME_EINVAL;
    size_t n = m->parts[index].size;
    unsigned char *p = malloc(n ? n : 1);
    if (p == NULL)
        return SGR_MIME_ENOMEM;
    if (n)
        memcpy(p, m->content[index], n);
    *out = p;
    *len = n;
    return SGR_MIME_OK;
}

/* ---- cid: (RFC 2392) --------------------------------------------------------- */

/* An addr-spec compared with its local part exact and its domain (after
 * the last '@') without regard to case, RFC 5321 2.4. */
static int cid_equal(const char *a, size_t an, const char *b)
{
    size_t bn = strlen(b);
    if (an != bn)
        return 0;
    size_t local = an;
    while (local > 0 && a[local - 1] != '@')
        local--;
    local = local ? local - 1 : an;
    if (memcmp(a, b, local) != 0)
        return 0;
    return g_ascii_strncasecmp(a + local, b + local, an - local) == 0;
}

int sgr_mime_find_cid(const sgr_mime *m, const char *cid, size_t cid_len)
{
    if (m == NULL || cid == NULL)
        return -1;
    /* some writers keep the brackets in the URL: cid:<x@y> */
    if (cid_len >= 2 && cid[0] == '<' && cid[cid_len - 1] == '>') {
        cid++;
        cid_len -= 2;
    }
    /* RFC 2392: the URL's value is the Content-ID, %hh-encoded. Exact
     * first (the caller may have decoded already), then decoded. */
    char *dec = malloc(cid_len + 1);
    if (dec == NULL)
        return -1;
    size_t dn = 0;
    for (size_t i = 0; i < cid_len; i++) {
        int h, l;
        if (cid[i] == '%' && i + 2 < cid_len && (h = hexval(cid[i + 1])) >= 0 &&
            (l = hexval(cid[i + 2])) >= 0) {
            dec[dn++] = (char)(h * 16 + l);
            i += 2;
        } else {
            dec[dn++] = cid[i];
        }
    }
    int found = -1;
    for (int pass = 0; pass < 2 && found < 0; pass++) {
        const char *want = pass ? dec : cid;
        size_t wn = pass ? dn : cid_len;
        for (size_t i = 0; i < m->view.nparts; i++)
            if (m->parts[i].content_id && cid_equal(want, wn, m->parts[i].content_id)) {
                found = (int)i;
                break;
            }
    }
    free(dec);
    return found;
}

void sgr_mime_free(sgr_mime *m)
{
    if (m == NULL)
        return;
    if (m->content)
        for (size_t i = 0; i < m->view.nparts; i++)
            g_free(m->content[i]);
    free(m->content);
    free(m->parts);
    if (m->strings)
        g_ptr_array_free(m->strings, TRUE);
    free(m);
}
