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

/* Scans a whole message (header and body, CRLF or LF lines) that may be a
 * delivery-status report. Returns how many failed recipients it found
 * (0: none, or not a report), their status codes ("5.1.1") in status[]. */
size_t sg_dsn_failed(const char *msg, size_t len, char status[][16], size_t max);

#endif
