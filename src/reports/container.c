/*
 * What holds a report: plain XML, gzip (RFC 1952; concatenated members and
 * trailing bytes, as real senders write them), zip (the local headers read
 * here and inflated with zlib: no archive library, one bounded code path)
 * or a mail (mail.c). Inflated bytes stream into the XML reader chunk by
 * chunk, so a bomb is stopped at the bound, never held in memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "reports.h"

#define CHUNK (64u << 10)

static const sgrep_limits *limits(const sgrep_limits *lim, sgrep_limits *buf)
{
    if (lim)
        return lim;
    sgrep_limits_init(buf);
    return buf;
}

static int xml_whole(const unsigned char *data, size_t len, const sgrep_limits *lim,
                     const sgrep_sink *sink, char *err, size_t errlen)
{
    if (len > lim->max_inflated) {
        snprintf(err, errlen, "XML larger than %zu bytes", lim->max_inflated);
        return SGREP_EREFUSED;
    }
    sgrep_xml *x = sgrep_xml_new(lim, sink);
    if (!x) {
        snprintf(err, errlen, "out of memory");
        return SGREP_ENOMEM;
    }
    sgrep_xml_feed(x, (const char *)data, len);
    int rc = sgrep_xml_finish(x, err, errlen);
    sgrep_xml_free(x);
    return rc;
}

/* The bounds every inflater checks after each chunk. */
static int inflate_bounds(size_t out, size_t in_len, const sgrep_limits *lim, char *err,
                          size_t errlen)
{
    if (out > lim->max_inflated) {
        snprintf(err, errlen, "inflates to more than %zu bytes", lim->max_inflated);
        return SGREP_EREFUSED;
    }
    if (out > lim->ratio_floor && out / (in_len ? in_len : 1) >= lim->max_ratio) {
        snprintf(err, errlen, "inflation ratio over %u (%zu bytes from %zu)", lim->max_ratio, out,
                 in_len);
        return SGREP_EREFUSED;
    }
    return SGREP_OK;
}

/* Inflates z's input into x; gzip: further members are read too, and what
 * follows the last one is ignored. *ended: the (last) stream ended cleanly. */
static int inflate_into(z_stream *z, int gzip, sgrep_xml *x, size_t in_len, const sgrep_limits *lim,
                        int *ended, char *err, size_t errlen)
{
    unsigned char *out = malloc(CHUNK);
    if (!out) {
        snprintf(err, errlen, "out of memory");
        return SGREP_ENOMEM;
    }
    int rc = SGREP_OK;
    *ended = 0;
    for (;;) {
        z->next_out = out;
        z->avail_out = CHUNK;
        int zr = inflate(z, Z_NO_FLUSH);
        size_t got = CHUNK - z->avail_out;
        if (got) {
            rc = inflate_bounds(z->total_out, in_len, lim, err, errlen);
            if (rc == SGREP_OK)
                rc = sgrep_xml_feed(x, (const char *)out, got);
            if (rc != SGREP_OK)
                break;
        }
        if (zr == Z_STREAM_END) {
            *ended = 1;
            if (gzip && z->avail_in >= 2 && z->next_in[0] == 0x1f && z->next_in[1] == 0x8b) {
                uLong total = z->total_out;
                inflateReset(z);
                z->total_out = total; /* the bound is on the whole file */
                *ended = 0;
                continue;
            }
            break;
        }
        if (zr == Z_BUF_ERROR && z->avail_in == 0)
            break; /* input ran out mid-stream: truncated */
        if (zr != Z_OK) {
            snprintf(err, errlen, "%s data corrupt: %s", gzip ? "gzip" : "zip",
                     z->msg ? z->msg : "inflate error");
            rc = SGREP_EREFUSED;
            break;
        }
    }
    free(out);
    return rc;
}

/* Finishes x after an inflater: a stream cut short is refused unless the
 * XML in it came to its end anyway (then only the checksum was lost). */
static int finish(sgrep_xml *x, int rc, int ended, const char *what, char *err, size_t errlen)
{
    if (rc != SGREP_OK) {
        char keep[256];
        snprintf(keep, sizeof keep, "%s", err);
        sgrep_xml_abort(x, keep);
        sgrep_xml_finish(x, NULL, 0); /* the sink's abort */
        snprintf(err, errlen, "%s", keep[0] ? keep : sgrep_xml_error(x));
        return rc;
    }
    rc = sgrep_xml_finish(x, err, errlen);
    if (rc == SGREP_EREFUSED && !ended) {
        char why[256];
        snprintf(why, sizeof why, "truncated %s (%s)", what, err);
        snprintf(err, errlen, "%s", why);
    }
    return rc;
}

int sgrep_parse_gzip(const unsigned char *data, size_t len, const sgrep_limits *lim_in,
                     const sgrep_sink *sink, char *err, size_t errlen)
{
    sgrep_limits lb;
    const sgrep_limits *lim = limits(lim_in, &lb);
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
        snprintf(err, errlen, "out of memory");
        return SGREP_ENOMEM;
    }
    sgrep_xml *x = sgrep_xml_new(lim, sink);
    if (!x) {
        inflateEnd(&z);
        snprintf(err, errlen, "out of memory");
        return SGREP_ENOMEM;
    }
    z.next_in = (unsigned char *)data;
    z.avail_in = (uInt)len;
    int ended;
    err[0] = 0;
    int rc = inflate_into(&z, 1, x, len, lim, &ended, err, errlen);
    inflateEnd(&z);
    rc = finish(x, rc, ended, "gzip", err, errlen);
    sgrep_xml_free(x);
    return rc;
}

static unsigned rd16(const unsigned char *p)
{
    return (unsigned)p[0] | (unsigned)p[1] << 8;
}
static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16;
}

/* The first file of the archive (a report zip holds one .xml). Directory
 * entries are passed over; encrypted entries, methods other than stored
 * and deflate, and a stored entry of unknown size are refused. */
int sgrep_parse_zip(const unsigned char *data, size_t len, const sgrep_limits *lim_in,
                    const sgrep_sink *sink, char *err, size_t errlen)
{
    sgrep_limits lb;
    const sgrep_limits *lim = limits(lim_in, &lb);
    size_t off = 0;
    for (unsigned entry = 0; entry < 64; entry++) {
        if (len - off < 30 || rd32(data + off) != 0x04034b50u) {
            snprintf(err, errlen, "zip: no file entry found");
            return SGREP_EREFUSED;
        }
        const unsigned char *h = data + off;
        unsigned flags = rd16(h + 6), method = rd16(h + 8), nlen = rd16(h + 26),
                 xlen = rd16(h + 28);
        uint32_t csize = rd32(h + 18);
        size_t start = off + 30 + nlen + xlen;
        if (start > len) {
            snprintf(err, errlen, "truncated zip (entry header)");
            return SGREP_EREFUSED;
        }
        int is_dir = nlen > 0 && h[30 + nlen - 1] == '/';
        if (is_dir) {
            if ((flags & 8) || csize > len - start) {
                snprintf(err, errlen, "zip: directory entry of unknown size");
                return SGREP_EREFUSED;
            }
            off = start + csize;
            continue;
        }
        if (flags & 1) {
            snprintf(err, errlen, "zip: encrypted entry");
            return SGREP_EREFUSED;
        }
        if (method == 0) {
            if ((flags & 8) && csize == 0) {
                snprintf(err, errlen, "zip: stored entry of unknown size");
                return SGREP_EREFUSED;
            }
            if (csize > len - start) {
                snprintf(err, errlen, "truncated zip (stored entry)");
                return SGREP_EREFUSED;
            }
            return xml_whole(data + start, csize, lim, sink, err, errlen);
        }
        if (method != 8) {
            snprintf(err, errlen, "zip: compression method %u not supported", method);
            return SGREP_EREFUSED;
        }
        z_stream z;
        memset(&z, 0, sizeof z);
        if (inflateInit2(&z, -MAX_WBITS) != Z_OK) {
            snprintf(err, errlen, "out of memory");
            return SGREP_ENOMEM;
        }
        sgrep_xml *x = sgrep_xml_new(lim, sink);
        if (!x) {
            inflateEnd(&z);
            snprintf(err, errlen, "out of memory");
            return SGREP_ENOMEM;
        }
        /* the deflate stream ends itself: sizes (perhaps in a data
         * descriptor, perhaps ZIP64) are not needed */
        z.next_in = (unsigned char *)data + start;
        z.avail_in = (uInt)(len - start);
        int ended;
        err[0] = 0;
        int rc = inflate_into(&z, 0, x, len, lim, &ended, err, errlen);
        inflateEnd(&z);
        rc = finish(x, rc, ended, "zip", err, errlen);
        sgrep_xml_free(x);
        return rc;
    }
    snprintf(err, errlen, "zip: more than 64 directory entries before a file");
    return SGREP_EREFUSED;
}

int sgrep_parse(const unsigned char *data, size_t len, const sgrep_limits *lim_in,
                const sgrep_sink *sink, char *err, size_t errlen)
{
    sgrep_limits lb;
    const sgrep_limits *lim = limits(lim_in, &lb);
    if (len > lim->max_input) {
        snprintf(err, errlen, "file larger than %zu bytes", lim->max_input);
        return SGREP_EREFUSED;
    }
    size_t i = 0;
    if (len >= 3 && data[0] == 0xef && data[1] == 0xbb && data[2] == 0xbf)
        i = 3;
    while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n'))
        i++;
    if (i == len) {
        snprintf(err, errlen, "empty file");
        return SGREP_EREFUSED;
    }
    if (data[i] == '<')
        return xml_whole(data, len, lim, sink, err, errlen);
    if (len >= 2 && data[0] == 0x1f && data[1] == 0x8b)
        return sgrep_parse_gzip(data, len, lim, sink, err, errlen);
    if (len >= 4 && !memcmp(data, "PK\3\4", 4))
        return sgrep_parse_zip(data, len, lim, sink, err, errlen);
    return sgrep_parse_mail(data, len, lim, sink, err, errlen);
}
