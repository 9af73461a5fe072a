/*
 * Internal: the resolver backend interface. sg_resolver is a vtable plus
 * the backend's own state; the public functions in resolver.c dispatch.
 */
#ifndef SG_DNS_RESOLVER_INT_H
#define SG_DNS_RESOLVER_INT_H

#include <spoofguard/dns.h>

typedef struct sg_resolver_ops {
    const char *name; /* "zone", "net" */
    int (*query)(sg_resolver *r, const char *name, uint16_t type, sg_dns_cb cb, void *payload,
                 sg_dns_query **out);
    void (*cancel)(sg_resolver *r, sg_dns_query *q);
    int (*run)(sg_resolver *r, int timeout_ms);
    size_t (*pending)(const sg_resolver *r);
    int (*fds)(sg_resolver *r, int *fds, int *want_write, int nfds, int *timeout_ms);
    void (*process_fd)(sg_resolver *r, int read_fd, int write_fd);
    void (*destroy)(sg_resolver *r);
} sg_resolver_ops;

/* Every backend's struct starts with this. */
struct sg_resolver {
    const sg_resolver_ops *ops;
};

/* Validates length limits (253 octets, 63 per label), strips one trailing
 * dot into buf (size >= 256). Returns 0 or SG_EINVAL. */
int sg_dns_name_normalise(const char *name, char *buf, size_t bufsize);

#endif
