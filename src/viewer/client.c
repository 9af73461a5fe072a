/* Who a client is, for every per-client limit (see client.h). */
#include "client.h"

#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

int sgv_client_key_of(const struct sockaddr *sa, sgv_client_key *k)
{
    memset(k, 0, sizeof(*k));
    if (sa == NULL)
        return -1;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a4 = (const struct sockaddr_in *)sa;
        k->b[0] = 4;
        memcpy(k->b + 1, &a4->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)sa;
        const unsigned char *b = a6->sin6_addr.s6_addr;
        /* an IPv4 client on a dual-stack socket: its /64 would be every
         * IPv4 client at once */
        if (IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr)) {
            k->b[0] = 4;
            memcpy(k->b + 1, b + 12, 4);
            return 0;
        }
        k->b[0] = 6;
        memcpy(k->b + 1, b, 8);
        return 0;
    }
    return -1;
}
