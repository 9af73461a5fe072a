/* Shared helpers of the CLI: DNS options, input files, JSON strings. */
#include "cli.h"

#include "common/json.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* option tables                                                             */

/* Options every command has, after its own. */
static const sg_cli_opt common_opts[] = {
    {"help", NULL, 'h', "print this help and exit"},
    {"version", NULL, 'V', "print the version and exit"},
    {NULL, NULL, 0, NULL},
};

static size_t count_opts(const sg_cli_opt *o)
{
    size_t n = 0;
    while (o[n].name != NULL)
        n++;
    return n;
}

static void usage_lines(FILE *f, const sg_cli_opt *o)
{
    for (; o->name != NULL; o++) {
        char left[64];
        snprintf(left, sizeof(left), "%s--%s%s%s", o->id == 'h' ? "-h, " : "    ", o->name,
                 o->arg ? " " : "", o->arg ? o->arg : "");
        if (strlen(left) > 26)
            fprintf(f, "  %s\n  %-26s %s\n", left, "", o->help);
        else
            fprintf(f, "  %-26s %s\n", left, o->help);
    }
}

void sg_cli_usage(const sg_cli_cmd *cmd, FILE *f)
{
    fprintf(f, "usage: spoofguard %s %s\n\noptions:\n", cmd->name, cmd->synopsis);
    usage_lines(f, cmd->opts);
    usage_lines(f, common_opts);
    if (cmd->about != NULL)
        fprintf(f, "\n%s", cmd->about);
}

int sg_cli_usage_error(const sg_cli_cmd *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "spoofguard %s: ", cmd->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(spoofguard %s --help lists the options)\n", cmd->name);
    return SG_EXIT_USAGE;
}

int sg_cli_parse_num(const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    long long v;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int dns_option(const sg_cli_cmd *cmd, sg_cli_dns *d, int id, const char *val)
{
    long long ms;
    if (id == SG_CLI_OPT_ZONE) {
        const char **z = realloc(d->zone_files, (d->nzones + 1) * sizeof(*z));
        if (z == NULL) {
            fprintf(stderr, "spoofguard: out of memory\n");
            return SG_EXIT_INTERNAL;
        }
        d->zone_files = z;
        d->zone_files[d->nzones++] = val;
    } else if (id == SG_CLI_OPT_DNS) {
        d->dns = val;
    } else {
        if (sg_cli_parse_num(val, 1, 600000, &ms) != 0)
            return sg_cli_usage_error(cmd, "--dns-timeout takes milliseconds (1..600000)");
        d->timeout_ms = (unsigned)ms;
    }
    return SG_CLI_GO;
}

int sg_cli_parse(const sg_cli_cmd *cmd, int argc, char **argv, sg_cli_dns *dns, sg_cli_opt_fn fn,
                 void *payload, int *first)
{
    size_t nown = count_opts(cmd->opts), ncommon = count_opts(common_opts);
    /* getopt_long returns the index in this array through longindex */
    struct option *lo = calloc(nown + ncommon + 1, sizeof(*lo));
    const sg_cli_opt **by_index = calloc(nown + ncommon + 1, sizeof(*by_index));
    int rc = SG_CLI_GO, c, idx;
    if (lo == NULL || by_index == NULL) {
        free(lo);
        free(by_index);
        fprintf(stderr, "spoofguard: out of memory\n");
        return SG_EXIT_INTERNAL;
    }
    for (size_t i = 0; i < nown + ncommon; i++) {
        const sg_cli_opt *o = i < nown ? &cmd->opts[i] : &common_opts[i - nown];
        lo[i].name = o->name;
        lo[i].has_arg = o->arg ? required_argument : no_argument;
        lo[i].val = 0;
        by_index[i] = o;
    }
    opterr = 0; /* our own messages, which name the command */
    optind = 1;
    while (rc == SG_CLI_GO && (c = getopt_long(argc, argv, ":h", lo, &idx)) != -1) {
        const sg_cli_opt *o;
        if (c == 'h') {
            sg_cli_usage(cmd, stdout);
            rc = SG_EXIT_OK;
            break;
        }
        if (c == ':') {
            rc = sg_cli_usage_error(cmd, "%s needs a value", argv[optind - 1]);
            break;
        }
        if (c == '?') {
            if (optopt)
                rc = sg_cli_usage_error(cmd, "unknown option -%c", optopt);
            else
                rc = sg_cli_usage_error(cmd, "unknown option %s", argv[optind - 1]);
            break;
        }
        o = by_index[idx];
        if (o->id == 'h') {
            sg_cli_usage(cmd, stdout);
            rc = SG_EXIT_OK;
        } else if (o->id == 'V') {
            printf("spoofguard %s\n", sg_version());
            rc = SG_EXIT_OK;
        } else if (o->id >= SG_CLI_OPT_ZONE && o->id <= SG_CLI_OPT_DNS_TIMEOUT && dns != NULL) {
            rc = dns_option(cmd, dns, o->id, optarg);
        } else {
            rc = fn(o->id, optarg, payload);
        }
    }
    free(lo);
    free(by_index);
    if (rc != SG_CLI_GO && dns != NULL)
        sg_cli_dns_close(dns);
    *first = optind;
    return rc;
}

int sg_cli_dns_open(sg_cli_dns *d)
{
    int rc;
    if (d->nzones > 0 && d->dns != NULL) {
        fprintf(stderr, "spoofguard: --zone and --dns exclude each other\n");
        sg_cli_dns_close(d);
        return SG_EXIT_USAGE;
    }
    if (d->nzones > 0) {
        if ((rc = sg_zone_new(&d->zone)) != 0) {
            fprintf(stderr, "spoofguard: %s\n", sg_strerror(rc));
            sg_cli_dns_close(d);
            return SG_EXIT_INTERNAL;
        }
        for (size_t i = 0; i < d->nzones; i++) {
            size_t line = 0;
            const char *p = d->zone_files[i];
            size_t n = strlen(p);
            if (n > 4 && !strcmp(p + n - 4, ".tsv"))
                rc = sg_zone_load_tsv(d->zone, p, NULL, &line);
            else
                rc = sg_zone_load_file(d->zone, p, NULL, &line);
            if (rc != 0) {
                if (line)
                    fprintf(stderr, "spoofguard: %s:%zu: %s\n", p, line, sg_strerror(rc));
                else /* SG_EIO: errno says why (ENOENT, EISDIR, EACCES) */
                    fprintf(stderr, "spoofguard: %s: %s\n", p,
                            rc == SG_EIO ? strerror(errno) : sg_strerror(rc));
                sg_cli_dns_close(d);
                return rc == SG_ENOMEM ? SG_EXIT_INTERNAL : SG_EXIT_INPUT;
            }
        }
        rc = sg_resolver_new_zone(&d->resolver, d->zone);
    } else {
        sg_resolver_opts o;
        sg_resolver_opts_init(&o);
        o.servers = d->dns;
        if (d->timeout_ms)
            o.timeout_ms = d->timeout_ms;
        rc = sg_resolver_new_net(&d->resolver, &o);
    }
    if (rc != 0) {
        sg_cli_dns_close(d);
        fprintf(stderr, "spoofguard: cannot set up DNS: %s\n", sg_strerror(rc));
        return rc == SG_EINVAL ? SG_EXIT_USAGE : SG_EXIT_INTERNAL;
    }
    return 0;
}

void sg_cli_dns_close(sg_cli_dns *d)
{
    sg_resolver_free(d->resolver);
    sg_zone_free(d->zone);
    free(d->zone_files);
    d->resolver = NULL;
    d->zone = NULL;
    d->zone_files = NULL;
    d->nzones = 0;
}

FILE *sg_cli_open_input(const char *path)
{
    if (path == NULL || !strcmp(path, "-"))
        return stdin;
    return fopen(path, "rb");
}

/* ---- output buffer ---------------------------------------------------------------- */

/* Room for n more bytes; 0 on failure (oom set). */
static int buf_reserve(sg_cli_buf *b, size_t n)
{
    if (b->oom)
        return 0;
    if (b->cap - b->len >= n)
        return 1;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < n) {
        if (cap > SIZE_MAX / 2) {
            b->oom = 1;
            return 0;
        }
        cap *= 2;
    }
    char *d = realloc(b->data, cap);
    if (d == NULL) {
        b->oom = 1;
        return 0;
    }
    b->data = d;
    b->cap = cap;
    return 1;
}

void sg_cli_buf_put(sg_cli_buf *b, const char *s, size_t n)
{
    if (n && buf_reserve(b, n)) {
        memcpy(b->data + b->len, s, n);
        b->len += n;
    }
}

void sg_cli_buf_putc(sg_cli_buf *b, char c)
{
    if (buf_reserve(b, 1))
        b->data[b->len++] = c;
}

void sg_cli_buf_uint(sg_cli_buf *b, unsigned long v)
{
    char tmp[24];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    sg_cli_buf_put(b, tmp + i, sizeof(tmp) - i);
}

void sg_cli_buf_free(sg_cli_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

/* ---- JSON strings -------------------------------------------------------------------- */

/* JSON must be valid UTF-8: bytes that are not become U+FFFD (the writer
 * the daemon shares, src/common/json.c). */
void sg_cli_buf_json_strn(sg_cli_buf *b, const char *s, size_t len)
{
    size_t need = s == NULL ? 4 : SGU_JSON_QUOTED_MAX(len);
    if ((s != NULL && len > (SIZE_MAX - 2) / 6) || !buf_reserve(b, need))
        return;
    b->len += sgu_json_quote(b->data + b->len, need, s, len);
}

void sg_cli_buf_json_str(sg_cli_buf *b, const char *s)
{
    sg_cli_buf_json_strn(b, s, s ? strlen(s) : 0);
}

/* A string the JSON writers could not write: the output is not what it
 * says, and sg_cli_end makes that the exit status (adv27 MEM-4: a field
 * was left out, "domain":, exit 0). The process's, as stdout is. */
static int output_lost;

void sg_cli_json_strn(FILE *f, const char *s, size_t len)
{
    sg_cli_buf b = {0};
    sg_cli_buf_json_strn(&b, s, len);
    if (!b.oom) {
        fwrite(b.data, 1, b.len, f);
    } else {
        fputs("null", f); /* the document stays JSON */
        output_lost = 1;
    }
    sg_cli_buf_free(&b);
}

void sg_cli_json_str(FILE *f, const char *s)
{
    sg_cli_json_strn(f, s, s ? strlen(s) : 0);
}

/* ---- a message read once, written again under new fields ---------------- */

#define MSG_CHUNK (64 * 1024)

int sg_cli_msg_read(sg_cli_msg *m, const char *path, sg_msg_parser *p, int *rc)
{
    struct stat st;
    size_t n;
    memset(m, 0, sizeof(*m));
    m->lf = -1;
    *rc = 0;
    if ((m->in = sg_cli_open_input(path)) == NULL) {
        int e = errno;
        fprintf(stderr, "spoofguard: %s: %s\n", path ? path : "stdin", strerror(e));
        return e == ENOMEM ? SG_EXIT_INTERNAL : SG_EXIT_INPUT;
    }
    if ((m->buf = malloc(MSG_CHUNK)) == NULL)
        return SG_EXIT_INTERNAL;
    /* not a regular file (a pipe): keep a copy on disk for the second pass */
    if ((fstat(fileno(m->in), &st) != 0 || !S_ISREG(st.st_mode)) &&
        (m->spool = tmpfile()) == NULL) {
        fprintf(stderr, "spoofguard: cannot create a temporary file: %s\n", strerror(errno));
        return SG_EXIT_INTERNAL;
    }
    if (m->spool == NULL) {
        m->before = st;
        if ((m->start = ftello(m->in)) < 0)
            m->start = 0;
    }
    while (*rc == 0 && (n = fread(m->buf, 1, MSG_CHUNK, m->in)) > 0) {
        m->total += n;
        if (m->lf < 0) {
            const char *nl = memchr(m->buf, '\n', n);
            if (nl != NULL)
                m->lf = !(nl > m->buf && nl[-1] == '\r');
        }
        if (m->spool && fwrite(m->buf, 1, n, m->spool) != n) {
            fprintf(stderr, "spoofguard: temporary file: %s\n", strerror(errno));
            return SG_EXIT_INTERNAL;
        }
        *rc = sg_msg_feed(p, m->buf, n);
    }
    if (*rc == 0 && ferror(m->in)) {
        fprintf(stderr, "spoofguard: %s: read error\n", path ? path : "stdin");
        return SG_EXIT_INPUT;
    }
    if (*rc == 0 && m->total == 0)
        return sg_cli_no_message(path);
    if (*rc == 0)
        *rc = sg_msg_finish(p);
    return SG_EXIT_OK;
}

int sg_cli_no_message(const char *name)
{
    fprintf(stderr, "spoofguard: %s: empty: no message\n", name ? name : "stdin");
    return SG_EXIT_INPUT;
}

/* A regular file other than it was at the first pass? */
static int changed(const sg_cli_msg *m)
{
    struct stat now;
    return fstat(fileno(m->in), &now) != 0 || now.st_size != m->before.st_size ||
           now.st_mtim.tv_sec != m->before.st_mtim.tv_sec ||
           now.st_mtim.tv_nsec != m->before.st_mtim.tv_nsec || now.st_ino != m->before.st_ino;
}

int sg_cli_msg_write(sg_cli_msg *m, const char *fields, size_t len)
{
    FILE *src = m->spool ? m->spool : m->in;
    uint64_t left = m->total;
    size_t n;
    if (m->spool == NULL && changed(m)) {
        fprintf(stderr, "spoofguard: the message changed while it was read; nothing written\n");
        return SG_EXIT_INTERNAL;
    }
    if (fseeko(src, m->spool ? 0 : m->start, SEEK_SET) != 0) {
        fprintf(stderr, "spoofguard: cannot re-read the message: %s\n", strerror(errno));
        return SG_EXIT_INTERNAL;
    }
    if (m->lf != 1) {
        fwrite(fields, 1, len, stdout);
    } else {
        for (size_t i = 0; i < len; i++)
            if (!(fields[i] == '\r' && i + 1 < len && fields[i + 1] == '\n'))
                fputc(fields[i], stdout);
    }
    while (left > 0 &&
           (n = fread(m->buf, 1, left < MSG_CHUNK ? (size_t)left : MSG_CHUNK, src)) > 0) {
        left -= n;
        if (fwrite(m->buf, 1, n, stdout) != n)
            break;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "spoofguard: write error: %s\n", strerror(errno));
        return SG_EXIT_INTERNAL;
    }
    /* what went out must be what was signed: all of it, unchanged */
    if (left > 0 || ferror(src) || (m->spool == NULL && changed(m))) {
        fprintf(stderr, "spoofguard: the message changed or could not be read again while it "
                        "was written: the output is not the message signed\n");
        return SG_EXIT_INTERNAL;
    }
    return SG_EXIT_OK;
}

void sg_cli_msg_close(sg_cli_msg *m)
{
    free(m->buf);
    if (m->spool)
        fclose(m->spool);
    if (m->in && m->in != stdin)
        fclose(m->in);
    memset(m, 0, sizeof(*m));
}

/* The next character of outside text as a terminal may see it, into out
 * (returns its 1..4 bytes): a control character (C0, DEL, C1 as UTF-8
 * C2 80..9F) is '?', and so is a byte that does not start a valid UTF-8
 * sequence (to an 8-bit terminal a lone 9B is CSI), so what is shown is
 * UTF-8 without controls. */
static size_t term_next(const unsigned char **p, const unsigned char *end, char out[4])
{
    const unsigned char *s = (*p)++;
    unsigned char c = s[0];
    size_t n;
    out[0] = '?';
    if (c < 0x80) {
        if (c >= 0x20 && c != 0x7f)
            out[0] = (char)c;
        return 1;
    }
    n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (n == 0 || (size_t)(end - s) < n)
        return 1;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 1;
    /* overlong forms, surrogates, beyond U+10FFFF (RFC 3629 4) */
    if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0) || (c == 0xf0 && s[1] < 0x90) ||
        (c == 0xf4 && s[1] >= 0x90))
        return 1;
    *p = s + n;
    if (c == 0xc2 && s[1] <= 0x9f)
        return 1;
    memcpy(out, s, n);
    return n;
}

void sg_cli_buf_put_termn(sg_cli_buf *b, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    char ch[4];
    while (p < end) {
        size_t k = term_next(&p, end, ch);
        sg_cli_buf_put(b, ch, k);
    }
}

void sg_cli_buf_put_term(sg_cli_buf *b, const char *s)
{
    s = s ? s : "";
    sg_cli_buf_put_termn(b, s, strlen(s));
}

const char *sg_cli_term(char *dst, size_t cap, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t n = 0;
    char ch[4];
    if (cap == 0)
        return dst;
    const unsigned char *end = p + strlen((const char *)p);
    while (p < end) {
        size_t k = term_next(&p, end, ch);
        if (n + k >= cap)
            break; /* cut between characters, never inside one */
        memcpy(dst + n, ch, k);
        n += k;
    }
    dst[n] = 0;
    return dst;
}

int sg_cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return 1;
    return 0;
}

int sg_cli_start(const char *prog)
{
    if (sg_crypto_init() != SG_OK) {
        fprintf(stderr, "%s: OpenSSL does not work here (start-up check failed)\n", prog);
        return SG_EXIT_INTERNAL;
    }
    return 0;
}

int sg_cli_end(const char *prog, int rc)
{
    if (output_lost && rc != SG_EXIT_INTERNAL) {
        fprintf(stderr, "%s: out of memory: the output is incomplete\n", prog);
        rc = SG_EXIT_INTERNAL;
    }
    /* sign, arc-seal and replay check their writes and say so themselves */
    if ((fflush(stdout) != 0 || ferror(stdout)) && rc != SG_EXIT_INTERNAL) {
        /* errno is fflush's, or the failed write's before it */
        int e = errno;
        fprintf(stderr, "%s: the output could not be written: %s\n", prog,
                e ? strerror(e) : "write error");
        return SG_EXIT_INTERNAL;
    }
    return rc;
}

const char *sg_cli_not_sqlite(const char *path)
{
    static const char magic[16] = "SQLite format 3";
    char head[16];
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    const char *why = NULL;
    if (fd < 0)
        return NULL; /* the opener says why */
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        why = "not a regular file";
    else if (st.st_size > 0 && (read(fd, head, sizeof(head)) != (ssize_t)sizeof(head) ||
                                memcmp(head, magic, sizeof(magic)) != 0))
        why = "not an SQLite database (not a report store)";
    close(fd);
    return why;
}
