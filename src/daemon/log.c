/*
 * spoofguardd's log lines: the line writer and the one line per message.
 */
#include "log.h"

#include "common/json.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

int sg_logstats_init(sg_logstats *st)
{
    atomic_init(&st->lost, 0);
    st->cut = 0;
    return pthread_mutex_init(&st->lock, NULL) == 0 ? 0 : -1;
}

void sg_logstats_destroy(sg_logstats *st)
{
    pthread_mutex_destroy(&st->lock);
}

/* One line, in one write: lines from different threads never
 * interleave. A line the log could not take whole is counted; when a
 * write stopped inside a line, the next starts with a newline of its own,
 * or a full disk that frees up would glue two records into one. */
static void log_write(const sg_logger *l, const char *line, size_t n)
{
    sg_logstats *st = l->st;
    if (st == NULL) {
        ssize_t w = write(l->fd, line, n);
        (void)w;
        return;
    }
    pthread_mutex_lock(&st->lock);
    int cut = st->cut;
    struct iovec iov[2] = {{(void *)"\n", 1}, {(void *)line, n}};
    ssize_t w = writev(l->fd, iov + !cut, 1 + cut);
    if (w != (ssize_t)n + cut) {
        atomic_fetch_add(&st->lost, 1);
        /* the last byte that reached the file: a newline ends the cut */
        if (w > 0)
            cut = (cut && w == 1 ? '\n' : line[w - 1 - cut]) != '\n';
    } else {
        cut = 0;
    }
    st->cut = cut;
    pthread_mutex_unlock(&st->lock);
}

void sg_log(const sg_logger *l, const char *fmt, ...)
{
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof(buf) - 2)
        n = (int)sizeof(buf) - 2;
    buf[n++] = '\n';
    log_write(l, buf, (size_t)n);
}

/* A JSON string (or null) at *pos, cut to fit with room for the NUL. */
static void jstr(char *buf, size_t size, size_t *pos, const char *s)
{
    if (*pos + 2 >= size)
        return;
    *pos += sgu_json_quote(buf + *pos, size - *pos - 1, s, s ? strlen(s) : 0);
    buf[*pos] = '\0';
}

static void jkv(char *buf, size_t size, size_t *pos, const char *key, const char *val)
{
    if (*pos + 4 >= size)
        return;
    if (*pos > 1)
        buf[(*pos)++] = ',';
    jstr(buf, size, pos, key);
    if (*pos + 1 < size)
        buf[(*pos)++] = ':';
    jstr(buf, size, pos, val);
}

void sg_logline_start(sg_logline *l)
{
    l->pos = 0;
    l->buf[l->pos++] = '{';
    l->buf[l->pos] = '\0';
}

/* The last two bytes of the buffer are kept for the closing "}\n". */
void sg_logline_kv(sg_logline *l, const char *key, const char *val)
{
    jkv(l->buf, sizeof(l->buf) - 2, &l->pos, key, val);
}

/* Written as built: a line a message is the daemon's busiest output, and
 * going through sg_log's format would copy it once more. */
void sg_logline_emit(sg_logline *l, const sg_logger *log)
{
    l->buf[l->pos++] = '}';
    l->buf[l->pos++] = '\n';
    log_write(log, l->buf, l->pos);
}

/* ms with three decimals, as "%.3f" gives it, without the float formatter. */
static void fmt_ms(char *out, size_t size, double ms)
{
    if (!(ms >= 0 && ms < 1e12)) {
        snprintf(out, size, "%.3f", ms);
        return;
    }
    unsigned long long us = (unsigned long long)(ms * 1000.0 + 0.5);
    char rev[24];
    size_t n = 0, o = 0;
    do { /* at least "0.000": four digits */
        rev[n++] = (char)('0' + us % 10);
        us /= 10;
    } while (us > 0 || n < 4);
    if (n + 2 > size)
        n = 0; /* cannot happen with the callers' buffers: leave it empty */
    while (n > 0) {
        out[o++] = rev[--n];
        if (n == 3)
            out[o++] = '.';
    }
    out[o] = '\0';
}

void sg_log_message(const sg_logger *log, const sg_log_msg *m)
{
    sg_logline l;
    char tmp[64];
    const sg_verdict_result *vr = m->vr;
    sg_logline_start(&l);
    sg_logline_kv(&l, "queue_id", m->queue_id);
    sg_logline_kv(&l, "client", m->client);
    sg_logline_kv(&l, "client_name", m->client_name);
    sg_logline_kv(&l, "helo", m->helo);
    sg_logline_kv(&l, "mail_from", m->mail_from ? m->mail_from : "");
    sg_logline_kv(&l, "direction", m->outbound ? "outbound" : "inbound");
    if (m->login && m->login[0])
        sg_logline_kv(&l, "login", m->login);
    if (m->outbound) {
        sg_logline_kv(&l, "from", m->from ? m->from : "");
        snprintf(tmp, sizeof(tmp), "%zu", m->signatures);
        sg_logline_kv(&l, "signatures", tmp);
    }
    if (vr != NULL) {
        sg_logline_kv(&l, "verdict", sg_verdict_kind_str(vr->verdict));
        sg_logline_kv(&l, "spf", vr->spf_checked ? sg_spf_result_str(vr->spf.result) : "none");
        sg_logline_kv(&l, "dmarc", sg_dmarc_result_str(vr->dmarc.result));
        sg_logline_kv(&l, "header_from", vr->dmarc.author_domain);
        if (vr->policy_override) { /* a DMARC fail accepted by local policy */
            sg_logline_kv(&l, "policy_override", vr->policy_override);
            sg_logline_kv(&l, "arc_trusted_sealer", vr->arc_trusted_sealer);
        }
        sg_logline_kv(&l, "authres", vr->authres_line);
    }
    sg_logline_kv(&l, "action", m->action);
    sg_logline_kv(&l, "why", m->why);
    fmt_ms(tmp, sizeof(tmp), m->ms);
    sg_logline_kv(&l, "ms", tmp);
    sg_logline_emit(&l, log);
}
