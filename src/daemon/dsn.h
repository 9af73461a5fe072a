/*
 * Delivery-status reports (RFC 3464) coming back to our senders: the
 * failed recipients' status codes, for the outbound engine's bounce rate
 * (issue 14). A report is a multipart/report; report-type=delivery-status
 * message with a null MAIL FROM; its message/delivery-status part holds
 * one group of fields per recipient ("Action: failed", "Status: 5.1.1").
 */
#ifndef SG_DAEMON_DSN_H
#define SG_DAEMON_DSN_H

#include <stddef.h>

/* Most statuses taken from one report (a report of more is not ours to
 * count beyond that). */
#define SG_DSN_MAX 32

/* One failed recipient of a report. */
typedef struct {
    char status[16]; /* "5.1.1" */
    /* the addresses of its Final-Recipient and Original-Recipient fields
     * (rfc822 type, without the type and any <>), "" when absent or not
     * an address: the engine counts the failure only for a recipient the
     * account really sent to */
    char final_rcpt[256];
    char orig_rcpt[256];
} sg_dsn_failure;

/* Scans a whole message (header and body, CRLF or LF lines) that may be a
 * delivery-status report. Returns how many failed recipients it found
 * (0: none, or not a report), at most max, into out[]. */
size_t sg_dsn_failed(const char *msg, size_t len, sg_dsn_failure *out, size_t max);

#endif
