/*
 * One line of an `spoofguard accounts replay` stream: a small bounded JSON
 * reader for exactly the event objects of the replay contract (issue 14,
 * "Deliver 5"). Shared with the fuzz harness; the daemon does not use it.
 *
 * A message:  {"t":N,"login":S,"client_ip":S,"mail_from":S,"rcpts":[S...],
 *              "size":N,"body_hash":S?,"id":S?}
 * A DSN:      {"t":N,"dsn_for":S,"status":S,"rcpt":S?,"id":S?}
 * Unknown keys are skipped (the contract grows by adding names).
 */
#ifndef SG_COMMON_OB_EVENT_H
#define SG_COMMON_OB_EVENT_H

#include <stddef.h>
#include <stdint.h>

#define SGU_OB_LINE_MAX (1u << 20) /* longest line read */
#define SGU_OB_RCPTS_MAX 100000    /* recipients in one event */
#define SGU_OB_DEPTH_MAX 32        /* nesting of skipped values */

typedef struct {
    int is_dsn;
    int64_t t;
    const char *login; /* the sender's login, or dsn_for */
    const char *client_ip, *mail_from, *body_hash, *id, *status, *rcpt;
    const char **rcpts;
    size_t nrcpts;
    uint64_t size;
    /* owned storage: decoded strings and the recipient list */
    char *scratch;
    size_t scratch_cap;
    size_t rcpts_cap;
} sgu_ob_event;

/* Parse line[0..len) into ev (reusing its storage). Returns 0, or -1 with
 * a message in err ("missing field \"rcpts\"", "not JSON: ..."), or -2 when
 * out of memory. */
int sgu_ob_event_parse(sgu_ob_event *ev, const char *line, size_t len, char *err, size_t errcap);
void sgu_ob_event_free(sgu_ob_event *ev);

#endif
