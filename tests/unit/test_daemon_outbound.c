/*
 * What the daemon's outbound protection tells the administrator: the
 * notification's "release" command is a JSON string, and pasted into a
 * shell it releases exactly the login, whatever the login holds (a SASL
 * login is the client's choice of bytes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/json.h"
#include "outbound.h"

/* A JSON string (as sgu_json_quote writes them) decoded; NULL if it is
 * not one string alone. ASCII escapes only. */
static char *json_string(const char *j)
{
    size_t n = strlen(j), o = 0;
    char *out = malloc(n + 1);
    assert_non_null(out);
    if (n < 2 || j[0] != '"' || j[n - 1] != '"')
        goto bad;
    for (size_t i = 1; i < n - 1; i++) {
        unsigned char c = (unsigned char)j[i];
        if (c < 0x20 || c == '"')
            goto bad;
        if (c != '\\') {
            out[o++] = (char)c;
            continue;
        }
        c = (unsigned char)j[++i];
        if (c == 'u' && i + 4 < n - 1) {
            unsigned v = 0;
            if (sscanf(j + i + 1, "%4x", &v) != 1 || v > 0x7f)
                goto bad;
            out[o++] = (char)v;
            i += 4;
        } else if (c == 'n' || c == 't' || c == '"' || c == '\\' || c == '/') {
            out[o++] = c == 'n' ? '\n' : c == 't' ? '\t' : (char)c;
        } else {
            goto bad;
        }
    }
    out[o] = '\0';
    return out;
bad:
    free(out);
    return NULL;
}

static void release_command(void **state)
{
    static const char *const logins[] = {
        "alice@ourco.test",         "Bob.Smith+x=y@our-co.test",
        "ev\"il$(id)@ourco.test",   "o'neil@ourco.test",
        "a;b `id` c\\d@ourco.test", "''@ourco.test",
        "line\nbreak@ourco.test",   NULL, /* 300 quotes (below): the longest command, whole */
    };
    char quotes[320];
    memset(quotes, '\'', 300);
    strcpy(quotes + 300, "@ourco.test");
    (void)state;
    for (size_t i = 0; i < sizeof(logins) / sizeof(logins[0]); i++) {
        const char *login = logins[i] ? logins[i] : quotes;
        char q[SGU_JSON_QUOTED_MAX(SGD_RELEASE_CMD_MAX)], *cmd, got[512] = "";
        sg_obd_release_json(login, q, sizeof(q));
        cmd = json_string(q);
        if (cmd == NULL)
            fail_msg("%s: not a JSON string: %s", login, q);
        assert_int_equal(strncmp(cmd, "spoofguard accounts release ", 28), 0);
        /* the shell reads the command's third word back as the login */
        char script[64], run[96];
        snprintf(script, sizeof(script), "/tmp/sg_release_%d.sh", (int)getpid());
        FILE *f = fopen(script, "w");
        assert_non_null(f);
        fprintf(f, "spoofguard() { printf '%%s|%%s' \"$3\" \"$#\"; }\n%s\n", cmd);
        fclose(f);
        snprintf(run, sizeof(run), "/bin/sh %s", script);
        FILE *p = popen(run, "r");
        assert_non_null(p);
        size_t n = fread(got, 1, sizeof(got) - 1, p);
        got[n] = '\0';
        pclose(p);
        remove(script);
        char want[600];
        snprintf(want, sizeof(want), "%s|3", login);
        if (strcmp(got, want) != 0)
            fail_msg("login %s: the shell read %s", login, got);
        free(cmd);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(release_command),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
