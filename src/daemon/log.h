/*
 * spoofguardd's log: one JSON object per line, each written with one
 * write() so lines from different threads never interleave.
 */
#ifndef SG_DAEMON_LOG_H
#define SG_DAEMON_LOG_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <spoofguard/verdict.h>

/* Lines the log could not take whole (a full disk, a file size limit),
 * and whether the last write stopped inside a line: read and set with
 * the write under one lock, or two threads could still glue two lines. */
typedef struct sg_logstats {
    pthread_mutex_t lock;
    _Atomic uint64_t lost; /* read by the metrics without the lock */
    int cut;
} sg_logstats;

int sg_logstats_init(sg_logstats *st);
void sg_logstats_destroy(sg_logstats *st);

typedef struct sg_logger {
    int fd;          /* stderr or log_file */
    sg_logstats *st; /* NULL: not counted */
} sg_logger;

/* Logging: one line, written atomically. */
void sg_log(const sg_logger *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A JSON log line built in a bounded buffer: an object of string keys and
 * values, cut (still valid JSON) when it does not fit. */
typedef struct sg_logline {
    char buf[4096];
    size_t pos;
} sg_logline;

void sg_logline_start(sg_logline *l);
/* "key":"value" (value NULL: null) */
void sg_logline_kv(sg_logline *l, const char *key, const char *val);
/* Closes the object and writes the line. */
void sg_logline_emit(sg_logline *l, const sg_logger *log);

/* What one message's log line tells: the session's facts, the verdict
 * (inbound, when there is one) and the answer given. */
typedef struct sg_log_msg {
    const char *queue_id; /* NULL: the MTA gave none */
    const char *client, *client_name, *helo, *mail_from;
    int outbound;
    const char *login; /* "" when none */
    const char *from;  /* outbound: the header From address */
    size_t signatures; /* outbound: DKIM signatures added */
    const sg_verdict_result *vr;
    const char *action, *why;
    double ms;
} sg_log_msg;

void sg_log_message(const sg_logger *log, const sg_log_msg *m);

#endif
