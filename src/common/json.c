/*
 * The one JSON string writer of the front ends (see json.h).
 */
#include "common/json.h"

#include <stdint.h>
#include <string.h>

size_t sgu_utf8_len(const unsigned char *s, size_t n)
{
    size_t len;
    uint32_t cp;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xe0) == 0xc0)
        len = 2, cp = s[0] & 0x1f;
    else if ((s[0] & 0xf0) == 0xe0)
        len = 3, cp = s[0] & 0x0f;
    else if ((s[0] & 0xf8) == 0xf0)
        len = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    /* no overlong forms, no surrogates, nothing past U+10FFFF */
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        return 0;
    return len;
}

int sgu_is_bidi_control(uint32_t cp)
{
    return (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

/* U+202A-U+202E are E2 80 AA-AE, U+2066-U+2069 E2 81 A6-A9 */
int sgu_bidi_control_at(const unsigned char *s, size_t n)
{
    return n >= 3 && s[0] == 0xe2 &&
           ((s[1] == 0x80 && s[2] >= 0xaa && s[2] <= 0xae) ||
            (s[1] == 0x81 && s[2] >= 0xa6 && s[2] <= 0xa9));
}

/* Printable ASCII other than the quote and the backslash: copied as is.
 * A table: this runs over every byte of every result line; 0x80 and up
 * are 0 (checked as UTF-8). */
static const unsigned char plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10 */
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x20 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x30 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x40 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* 0x50 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x60 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, /* 0x70 */
};

static int json_plain(unsigned char c)
{
    return plain[c];
}

size_t sgu_json_quote(char *out, size_t cap, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    if (s == NULL) {
        if (cap < 4)
            return 0;
        memcpy(out, "null", 4);
        return 4;
    }
    if (cap < 2)
        return 0;
    char *o = out;
    const char *lim = out + cap - 1; /* the closing quote always fits */
    *o++ = '"';
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        if (json_plain(c)) {
            size_t j = i + 1;
            while (j < len && json_plain((unsigned char)s[j]))
                j++;
            size_t n = j - i, room = (size_t)(lim - o);
            if (n > room)
                n = room;
            memcpy(o, s + i, n);
            o += n;
            if (i + n < j)
                break; /* cut: plain bytes are whole characters */
            i = j;
            continue;
        }
        char esc[6];
        const char *src = esc;
        size_t n = 2, in = 1;
        switch (c) {
        case '"':
        case '\\':
            esc[0] = '\\';
            esc[1] = (char)c;
            break;
        case '\n':
            src = "\\n";
            break;
        case '\r':
            src = "\\r";
            break;
        case '\t':
            src = "\\t";
            break;
        default:
            if (c < 0x80) { /* the other control characters, and DEL */
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                n = 6;
            } else if ((in = sgu_utf8_len((const unsigned char *)s + i, len - i)) == 0) {
                src = "\\ufffd";
                n = 6;
                in = 1;
            } else {
                src = s + i;
                n = in;
            }
        }
        if (n > (size_t)(lim - o))
            break;
        memcpy(o, src, n);
        o += n;
        i += in;
    }
    *o++ = '"';
    return (size_t)(o - out);
}
