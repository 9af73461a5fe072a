/*
 * Who a client of spoofguard-view is, for every per-client limit (the
 * connection pool's share, conns.h; login throttling, auth.h): one key, so
 * the limits cannot disagree on who is one client.
 *
 * A client is an IPv4 address, or an IPv6 /64: one subscriber gets a whole
 * /64 (often a /56 or /48), so counting single IPv6 addresses limits
 * nothing. An IPv4-mapped IPv6 address (an IPv4 client on a dual-stack
 * socket) is its IPv4 address: its /64 would be every IPv4 client at once.
 */
#ifndef SG_VIEWER_CLIENT_H
#define SG_VIEWER_CLIENT_H

struct sockaddr;

/* The address family (4 or 6), then the IPv4 address or the IPv6 /64;
 * all zero for a client of another family. Compared with memcmp. */
typedef struct {
    unsigned char b[17];
} sgv_client_key;

/* The client of sa. Returns 0, or -1 for NULL or a family other than
 * IPv4/IPv6 (*k is then all zero: all such clients share one key). */
int sgv_client_key_of(const struct sockaddr *sa, sgv_client_key *k);

#endif
