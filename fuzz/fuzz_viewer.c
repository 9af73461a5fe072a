/*
 * libFuzzer harness for what spoofguard-view does with bytes it did not
 * write itself before any message is involved: the HTML escaping every
 * page goes through (src/viewer/pages.c), the form parser of every POST
 * and the --listen parser (src/viewer/http.c).
 *
 * Invariants checked: the escaped text and attribute are valid UTF-8,
 * hold no '<', '>', '"', '\'' or control character but TAB/LF (text), and
 * every '&' starts a numeric character reference; the attribute form has
 * no '=', '`', TAB or LF either. A form value found is NUL-free and fits.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/json.h"
#include "http.h"
#include "pages.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* assert() is compiled out in release builds: an invariant must hold there too */
#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

static void check_escaped(const sg_cli_buf *b, int attr)
{
    const unsigned char *p = (const unsigned char *)b->data;
    for (size_t i = 0; i < b->len;) {
        unsigned char c = p[i];
        if (c >= 0x80) {
            size_t l = sgu_utf8_len(p + i, b->len - i);
            CHECK(l > 0);
            i += l;
            continue;
        }
        CHECK(c != '<' && c != '>' && c != '"' && c != '\'' && c != 0x7f);
        CHECK(c >= 0x20 || (!attr && (c == '\t' || c == '\n')));
        if (attr)
            CHECK(c != '=' && c != '`');
        if (c == '&') {
            CHECK(i + 2 < b->len && p[i + 1] == '#');
            size_t k = i + 2;
            while (k < b->len && p[k] >= '0' && p[k] <= '9')
                k++;
            CHECK(k > i + 2 && k < b->len && p[k] == ';');
        }
        i++;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    char out[64];
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';

    for (int attr = 0; attr < 2; attr++) {
        sg_cli_buf b = {0};
        (attr ? sgv_html_attr : sgv_html_text)(&b, s);
        if (!b.oom)
            check_escaped(&b, attr);
        sg_cli_buf_free(&b);
    }

    static const char *const names[] = {"csrf", "user", "password", "k", ""};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        memset(out, 'x', sizeof(out));
        if (sgv_form_get((const char *)data, size, names[i], out, sizeof(out))) {
            size_t n = strnlen(out, sizeof(out));
            CHECK(n < sizeof(out));
        }
    }

    struct sockaddr_storage ss;
    unsigned sl;
    int lo;
    if (sgv_parse_listen(s, &ss, &sl, &lo) == 0)
        CHECK(ss.ss_family == AF_INET || ss.ss_family == AF_INET6);
    free(s);
    return 0;
}
