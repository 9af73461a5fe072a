/*
 * The replay event reader (see ob_event.h). Recursive descent over one
 * line, every string decoded into one scratch buffer no larger than the
 * line (a decoded JSON string is never longer than its literal), nesting
 * bounded by SGU_OB_DEPTH_MAX, the recipient list by SGU_OB_RCPTS_MAX.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ob_event.h"

typedef struct {
    const char *s, *end;
    char *out; /* next free byte of the scratch */
    sgu_ob_event *ev;
    char *err;
    size_t errcap;
    int oom;
} rd;

static int fail(rd *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(rd *r, const char *fmt, ...)
{
    va_list ap;
    if (r->err != NULL && r->errcap > 0 && r->err[0] == '\0') {
        va_start(ap, fmt);
        vsnprintf(r->err, r->errcap, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static void ws(rd *r)
{
    while (r->s < r->end && (*r->s == ' ' || *r->s == '\t' || *r->s == '\r' || *r->s == '\n'))
        r->s++;
}

static int hex4(const char *p, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        *v <<= 4;
        if (c >= '0' && c <= '9')
            *v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            *v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            *v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    return 0;
}

/* A string literal at r->s, decoded (NUL-terminated) into the scratch;
 * *out points at it. A \u0000 is refused: these strings become C strings. */
static int string(rd *r, const char **out)
{
    char *o = r->out;
    if (r->s >= r->end || *r->s != '"')
        return fail(r, "not JSON: a string expected");
    r->s++;
    for (;;) {
        unsigned char c;
        if (r->s >= r->end)
            return fail(r, "not JSON: unterminated string");
        c = (unsigned char)*r->s++;
        if (c == '"')
            break;
        if (c < 0x20)
            return fail(r, "not JSON: control character in a string");
        if (c != '\\') {
            *o++ = (char)c;
            continue;
        }
        if (r->s >= r->end)
            return fail(r, "not JSON: unterminated string");
        c = (unsigned char)*r->s++;
        switch (c) {
        case '"':
        case '\\':
        case '/':
            *o++ = (char)c;
            break;
        case 'b':
            *o++ = '\b';
            break;
        case 'f':
            *o++ = '\f';
            break;
        case 'n':
            *o++ = '\n';
            break;
        case 'r':
            *o++ = '\r';
            break;
        case 't':
            *o++ = '\t';
            break;
        case 'u': {
            unsigned cp, lo;
            if (r->end - r->s < 4 || hex4(r->s, &cp) != 0)
                return fail(r, "not JSON: bad \\u escape");
            r->s += 4;
            if (cp >= 0xd800 && cp < 0xdc00) {
                if (r->end - r->s < 6 || r->s[0] != '\\' || r->s[1] != 'u' ||
                    hex4(r->s + 2, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
                    return fail(r, "not JSON: unpaired surrogate");
                r->s += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xdc00 && cp < 0xe000)
                return fail(r, "not JSON: unpaired surrogate");
            if (cp == 0)
                return fail(r, "\\u0000 in a string");
            /* at most 4 bytes out for 6 or 12 in: the scratch holds it */
            if (cp < 0x80)
                *o++ = (char)cp;
            else if (cp < 0x800) {
                *o++ = (char)(0xc0 | cp >> 6);
                *o++ = (char)(0x80 | (cp & 0x3f));
            } else if (cp < 0x10000) {
                *o++ = (char)(0xe0 | cp >> 12);
                *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
                *o++ = (char)(0x80 | (cp & 0x3f));
            } else {
                *o++ = (char)(0xf0 | cp >> 18);
                *o++ = (char)(0x80 | ((cp >> 12) & 0x3f));
                *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
                *o++ = (char)(0x80 | (cp & 0x3f));
            }
            break;
        }
        default:
            return fail(r, "not JSON: bad escape");
        }
    }
    *o++ = '\0';
    if (out != NULL)
        *out = r->out;
    r->out = o;
    return 0;
}

/* A JSON number (RFC 8259 6). *isint says it was a plain non-negative
 * integer that fits; v gets it (saturated at 2^63). */
static int number(rd *r, uint64_t *v, int *isint)
{
    const char *p = r->s;
    uint64_t n = 0;
    int digits = 0, over = 0;
    *isint = 1;
    if (p < r->end && *p == '-') {
        *isint = 0;
        p++;
    }
    if (p < r->end && *p == '0') {
        p++;
        digits = 1;
    } else
        while (p < r->end && *p >= '0' && *p <= '9') {
            if (n > (UINT64_C(1) << 62) / 10)
                over = 1;
            n = n * 10 + (uint64_t)(*p - '0');
            p++;
            digits++;
        }
    if (digits == 0)
        return fail(r, "not JSON: bad number");
    if (p < r->end && *p == '.') {
        *isint = 0;
        p++;
        if (p >= r->end || *p < '0' || *p > '9')
            return fail(r, "not JSON: bad number");
        while (p < r->end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < r->end && (*p == 'e' || *p == 'E')) {
        *isint = 0;
        p++;
        if (p < r->end && (*p == '+' || *p == '-'))
            p++;
        if (p >= r->end || *p < '0' || *p > '9')
            return fail(r, "not JSON: bad number");
        while (p < r->end && *p >= '0' && *p <= '9')
            p++;
    }
    if (over)
        *isint = 0;
    *v = n;
    r->s = p;
    return 0;
}

static int literal(rd *r, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(r->end - r->s) < n || memcmp(r->s, word, n) != 0)
        return fail(r, "not JSON: unexpected character");
    r->s += n;
    return 0;
}

/* Any value, checked and thrown away (strings still go through the
 * scratch, which is large enough for the whole line). */
static int skip(rd *r, int depth)
{
    uint64_t v;
    int isint;
    char *mark = r->out;
    if (depth > SGU_OB_DEPTH_MAX)
        return fail(r, "nested too deeply");
    ws(r);
    if (r->s >= r->end)
        return fail(r, "not JSON: a value expected");
    switch (*r->s) {
    case '"':
        if (string(r, NULL) != 0)
            return -1;
        r->out = mark;
        return 0;
    case '{':
    case '[': {
        char close = *r->s == '{' ? '}' : ']';
        int obj = close == '}';
        r->s++;
        ws(r);
        if (r->s < r->end && *r->s == close) {
            r->s++;
            return 0;
        }
        for (;;) {
            ws(r);
            if (obj) {
                if (string(r, NULL) != 0)
                    return -1;
                r->out = mark;
                ws(r);
                if (r->s >= r->end || *r->s != ':')
                    return fail(r, "not JSON: ':' expected");
                r->s++;
            }
            if (skip(r, depth + 1) != 0)
                return -1;
            ws(r);
            if (r->s < r->end && *r->s == ',') {
                r->s++;
                continue;
            }
            if (r->s < r->end && *r->s == close) {
                r->s++;
                return 0;
            }
            return fail(r, "not JSON: ',' or '%c' expected", close);
        }
    }
    case 't':
        return literal(r, "true");
    case 'f':
        return literal(r, "false");
    case 'n':
        return literal(r, "null");
    default:
        return number(r, &v, &isint);
    }
}

static int rcpt_list(rd *r)
{
    sgu_ob_event *ev = r->ev;
    ev->nrcpts = 0;
    ws(r);
    if (r->s >= r->end || *r->s != '[')
        return fail(r, "\"rcpts\" must be a list of strings");
    r->s++;
    ws(r);
    if (r->s < r->end && *r->s == ']') {
        r->s++;
        return 0;
    }
    for (;;) {
        const char *a;
        ws(r);
        if (r->s >= r->end || *r->s != '"')
            return fail(r, "\"rcpts\" must be a list of strings");
        if (string(r, &a) != 0)
            return -1;
        if (ev->nrcpts >= SGU_OB_RCPTS_MAX)
            return fail(r, "more than %u recipients", SGU_OB_RCPTS_MAX);
        if (ev->nrcpts == ev->rcpts_cap) {
            size_t cap = ev->rcpts_cap ? 2 * ev->rcpts_cap : 64;
            const char **n = realloc(ev->rcpts, cap * sizeof(*n));
            if (n == NULL) {
                r->oom = 1;
                return -1;
            }
            ev->rcpts = n;
            ev->rcpts_cap = cap;
        }
        ev->rcpts[ev->nrcpts++] = a;
        ws(r);
        if (r->s < r->end && *r->s == ',') {
            r->s++;
            continue;
        }
        if (r->s < r->end && *r->s == ']') {
            r->s++;
            return 0;
        }
        return fail(r, "not JSON: ',' or ']' expected");
    }
}

enum { K_T, K_LOGIN, K_IP, K_FROM, K_RCPTS, K_SIZE, K_BODY, K_ID, K_DSN, K_STATUS, K_RCPT, K_N };
static const char *const key_names[K_N] = {"t",       "login",  "client_ip", "mail_from",
                                           "rcpts",   "size",   "body_hash", "id",
                                           "dsn_for", "status", "rcpt"};

int sgu_ob_event_parse(sgu_ob_event *ev, const char *line, size_t len, char *err, size_t errcap)
{
    rd r = {line, line + len, NULL, ev, err, errcap, 0};
    int seen[K_N] = {0};
    const char *str[K_N] = {0};
    uint64_t num[K_N] = {0};
    if (err != NULL && errcap > 0)
        err[0] = '\0';
    if (len > SGU_OB_LINE_MAX)
        return fail(&r, "line longer than %u bytes", SGU_OB_LINE_MAX);
    if (ev->scratch_cap < len + 1) {
        char *s = realloc(ev->scratch, len + 1);
        if (s == NULL)
            return -2;
        ev->scratch = s;
        ev->scratch_cap = len + 1;
    }
    r.out = ev->scratch;
    ev->nrcpts = 0;
    ws(&r);
    if (r.s >= r.end || *r.s != '{')
        return fail(&r, "not JSON: an object expected");
    r.s++;
    ws(&r);
    if (r.s < r.end && *r.s == '}')
        r.s++;
    else
        for (;;) {
            const char *key;
            char *mark = r.out;
            int k = -1;
            ws(&r);
            if (string(&r, &key) != 0)
                goto bad;
            for (int i = 0; i < K_N; i++)
                if (!strcmp(key, key_names[i]))
                    k = i;
            r.out = mark;
            ws(&r);
            if (r.s >= r.end || *r.s != ':') {
                fail(&r, "not JSON: ':' expected");
                goto bad;
            }
            r.s++;
            ws(&r);
            if (k >= 0 && seen[k]) {
                fail(&r, "field \"%s\" given twice", key_names[k]);
                goto bad;
            }
            if (k >= 0)
                seen[k] = 1;
            if (k == K_T || k == K_SIZE) {
                int isint;
                if (r.s >= r.end || (*r.s != '-' && (*r.s < '0' || *r.s > '9'))) {
                    fail(&r, "\"%s\" must be a number", key_names[k]);
                    goto bad;
                }
                if (number(&r, &num[k], &isint) != 0)
                    goto bad;
                if (!isint) {
                    fail(&r, "\"%s\" must be a whole number >= 0", key_names[k]);
                    goto bad;
                }
            } else if (k == K_RCPTS) {
                if (rcpt_list(&r) != 0)
                    goto bad;
            } else if (k >= 0) {
                if (r.s >= r.end || *r.s != '"') {
                    fail(&r, "\"%s\" must be a string", key_names[k]);
                    goto bad;
                }
                if (string(&r, &str[k]) != 0)
                    goto bad;
            } else if (skip(&r, 1) != 0)
                goto bad;
            ws(&r);
            if (r.s < r.end && *r.s == ',') {
                r.s++;
                continue;
            }
            if (r.s < r.end && *r.s == '}') {
                r.s++;
                break;
            }
            fail(&r, "not JSON: ',' or '}' expected");
            goto bad;
        }
    ws(&r);
    if (r.s != r.end) {
        fail(&r, "not JSON: text after the object");
        goto bad;
    }
    /* the fields each kind of event must have */
    ev->is_dsn = seen[K_DSN];
    {
        static const int msg_need[] = {K_T, K_LOGIN, K_IP, K_FROM, K_RCPTS, K_SIZE};
        static const int dsn_need[] = {K_T, K_DSN, K_STATUS};
        const int *need = ev->is_dsn ? dsn_need : msg_need;
        size_t n = ev->is_dsn ? 3 : 6;
        for (size_t i = 0; i < n; i++)
            if (!seen[need[i]]) {
                fail(&r, "missing field \"%s\"", key_names[need[i]]);
                goto bad;
            }
    }
    if (num[K_T] > 4294967295u) {
        fail(&r, "\"t\" out of range");
        goto bad;
    }
    ev->t = (int64_t)num[K_T];
    ev->size = num[K_SIZE];
    ev->login = ev->is_dsn ? str[K_DSN] : str[K_LOGIN];
    if (ev->login[0] == '\0') {
        fail(&r, "\"%s\" is empty", ev->is_dsn ? "dsn_for" : "login");
        goto bad;
    }
    ev->client_ip = str[K_IP];
    ev->mail_from = str[K_FROM];
    ev->body_hash = str[K_BODY];
    ev->id = str[K_ID];
    ev->status = str[K_STATUS];
    ev->rcpt = str[K_RCPT];
    return 0;
bad:
    return r.oom ? -2 : -1;
}

void sgu_ob_event_free(sgu_ob_event *ev)
{
    if (ev == NULL)
        return;
    free(ev->scratch);
    free(ev->rcpts);
    memset(ev, 0, sizeof(*ev));
}
