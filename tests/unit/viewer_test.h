/* Viewer test helpers shared by test_viewer_auth.c and test_viewer_conns.c
 * (include after cmocka.h). */
#ifndef SG_TEST_VIEWER_TEST_H
#define SG_TEST_VIEWER_TEST_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "client.h"

/* The client key of a numeric address, the way http.c makes it from the
 * peer's sockaddr. */
static inline sgv_client_key viewer_test_key(const char *addr)
{
    struct sockaddr_storage ss;
    sgv_client_key k;
    memset(&ss, 0, sizeof(ss));
    if (strchr(addr, ':') != NULL) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
        a6->sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, addr, &a6->sin6_addr), 1);
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
        a4->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, addr, &a4->sin_addr), 1);
    }
    assert_int_equal(sgv_client_key_of((struct sockaddr *)&ss, &k), 0);
    return k;
}

#endif
