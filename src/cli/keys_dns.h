/*
 * The DNS that `spoofguard keys activate` needs and the library's resolver
 * does not give: questions sent to one given server with recursion off
 * (RD=0), the AA bit of the answer, and NS records. A plain stub over
 * UDP, retried over TCP when the answer is truncated (RFC 1035 4.2,
 * RFC 7766).
 */
#ifndef SG_CLI_KEYS_DNS_H
#define SG_CLI_KEYS_DNS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define KD_TYPE_A 1
#define KD_TYPE_NS 2
#define KD_TYPE_CNAME 5
#define KD_TYPE_TXT 16
#define KD_TYPE_AAAA 28

#define KD_MAX_RRS 32
#define KD_RDATA_MAX 4096

typedef struct {
    struct sockaddr_storage addr;
    socklen_t len;
    char label[300]; /* as the user or the NS set named it, with the address */
} kd_server;

typedef struct {
    int status; /* 0 answered; -1 no answer (timeout, network error, garbage) */
    int rcode;  /* RFC 1035 4.1.1 */
    int aa, tc; /* header bits */
    size_t n;   /* records of the asked type owned by the name (CNAMEs followed) */
    int over;   /* there were more than KD_MAX_RRS: kd_query fails the answer */
    uint32_t ttl[KD_MAX_RRS];
    size_t len[KD_MAX_RRS];
    char data[KD_MAX_RRS][KD_RDATA_MAX]; /* TXT: strings joined; NS: the name; A/AAAA: text */
    char why[128];                       /* when status is -1 */
} kd_answer;

/* "HOST[:PORT]" (IPv4 literal, [IPv6]:PORT, or a name resolved by the
 * system); port default 53. 0 or -1 with err. */
int kd_server_parse(kd_server *s, const char *spec, char *err, size_t errlen);
/* The first nameserver of /etc/resolv.conf (127.0.0.1 without one). */
int kd_server_system(kd_server *s);

/* Ask s for (name, type), recursion desired or not; timeout per try in
 * ms, 2 tries over UDP, then TCP when truncated. Fills *a; an answer with
 * more than KD_MAX_RRS records of the type is a failure (status -1), never
 * a set taken in part. */
void kd_query(const kd_server *s, const char *name, uint16_t type, int rd, int timeout_ms,
              kd_answer *a);

/* Parse a response packet for (name, type) into *a (exposed for tests and
 * fuzzing). 0 or -1 (a->why says why). */
int kd_parse(const uint8_t *pkt, size_t len, uint16_t id, const char *name, uint16_t type,
             kd_answer *a);

#endif
