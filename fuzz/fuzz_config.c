/* libFuzzer: spoofguardd's configuration file (src/daemon/config.c) and
 * its tables (src/daemon/maps.c: sender map, SigningTable, KeyTable) on
 * any bytes. An administrator writes these, not a sender, but a daemon that
 * crashes on a typo loses mail, and `spoofguardd --check` must say what is
 * wrong instead.
 *
 * Input: up to four parts split by NUL bytes: the configuration, then the
 * sender map, the SigningTable and the KeyTable. Each part is a file in
 * memory (memfd), read through its /proc/self/fd path as the daemon reads
 * a path.
 *
 * Invariants:
 *  - a configuration either loads or fails with a message;
 *  - a loaded one prints (sg_config_print, what `--print-config` shows),
 *    and what it prints loads again and prints the same: the printed form
 *    is a configuration file, with nothing lost or changed;
 *  - the tables either load or fail with a message naming FILE:LINE, and
 *    a loaded set answers lookups with names taken from the input. */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "maps.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A memfd holding data[0..len); its path into path. -1 on failure. */
static int mem_file(const char *name, const void *data, size_t len, char *path, size_t cap)
{
    int fd = memfd_create(name, MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    if (len && write(fd, data, len) != (ssize_t)len) {
        close(fd);
        return -1;
    }
    snprintf(path, cap, "/proc/self/fd/%d", fd);
    return fd;
}

/* What sg_config_print writes, malloc'd and NUL-terminated. */
static char *print_config(const sg_config *c, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (f == NULL)
        abort();
    if (sg_config_print(c, f) != 0)
        abort();
    if (fclose(f) != 0)
        abort();
    return buf;
}

static void check_config(const uint8_t *data, size_t size)
{
    char path[64], err[1024] = "";
    sg_config c;
    int fd = mem_file("conf", data, size, path, sizeof(path));
    if (fd < 0)
        return;
    int rc = sg_config_load(&c, path, err, sizeof(err));
    close(fd);
    if (rc != 0) {
        if (err[0] == '\0')
            abort(); /* a refusal must say why */
        return;
    }
    size_t len1, len2;
    char *p1 = print_config(&c, &len1);
    sg_config_free(&c);
    char path2[64], err2[1024] = "";
    sg_config c2;
    fd = mem_file("conf2", p1, len1, path2, sizeof(path2));
    if (fd < 0) {
        free(p1);
        return;
    }
    if (sg_config_load(&c2, path2, err2, sizeof(err2)) != 0) {
        fprintf(stderr, "printed configuration does not load: %s\n%s", err2, p1);
        abort();
    }
    close(fd);
    char *p2 = print_config(&c2, &len2);
    sg_config_free(&c2);
    if (len1 != len2 || memcmp(p1, p2, len1) != 0) {
        fprintf(stderr, "printed twice, differs:\n%s\n----\n%s", p1, p2);
        abort();
    }
    free(p1);
    free(p2);
}

/* The first word of s (up to 63 bytes), for lookups. */
static void first_word(const uint8_t *s, size_t n, char *out, size_t cap)
{
    size_t i = 0, k = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n'))
        i++;
    while (i < n && k + 1 < cap && s[i] > ' ' && s[i] != ',')
        out[k++] = (char)s[i++];
    out[k] = '\0';
}

static void check_maps(const uint8_t *const part[3], const size_t len[3])
{
    static const char *const names[3] = {"sender_map", "signing_table", "key_table"};
    char paths[3][64], err[1024] = "";
    int fds[3];
    sg_config c;
    if (sg_config_defaults(&c) != 0)
        return;
    for (int i = 0; i < 3; i++) {
        fds[i] = mem_file(names[i], part[i], len[i], paths[i], sizeof(paths[i]));
        if (fds[i] < 0) {
            for (int j = 0; j < i; j++)
                close(fds[j]);
            sg_config_free(&c);
            return;
        }
    }
    c.sender_map = strdup(paths[0]);
    c.signing_table = strdup(paths[1]);
    c.key_table = strdup(paths[2]);
    sg_maps *m = NULL;
    if (c.sender_map && c.signing_table && c.key_table) {
        if (sg_maps_load(&m, &c, err, sizeof(err)) != 0) {
            if (err[0] == '\0' || strstr(err, "/proc/self/fd/") == NULL)
                abort(); /* FILE:LINE: problem */
        } else {
            char login[64], addr[64];
            first_word(part[0], len[0], login, sizeof(login));
            first_word(part[1], len[1], addr, sizeof(addr));
            const char *at = strrchr(addr, '@');
            if (at) {
                char local[64];
                memcpy(local, addr, (size_t)(at - addr));
                local[at - addr] = '\0';
                (void)sg_maps_sender_allowed(m, login, local, at + 1);
            }
            (void)sg_maps_login_of(m, addr);
            const sg_map_key *keys[8];
            size_t nk = sg_maps_signing_keys(m, addr, keys, 8);
            if (nk > 8)
                abort();
            for (size_t i = 0; i < nk; i++)
                if (keys[i] == NULL || sg_maps_key_named(m, keys[i]->name) != keys[i])
                    abort();
            sg_maps_free(m);
        }
    }
    for (int i = 0; i < 3; i++)
        close(fds[i]);
    sg_config_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *part[4] = {data, NULL, NULL, NULL};
    size_t len[4] = {size, 0, 0, 0};
    const uint8_t *p = data, *end = data + size;
    for (int i = 1; i < 4; i++) {
        const uint8_t *nul = memchr(p, 0, (size_t)(end - p));
        if (nul == NULL)
            break;
        len[i - 1] = (size_t)(nul - part[i - 1]);
        part[i] = nul + 1;
        len[i] = (size_t)(end - part[i]);
        p = nul + 1;
    }
    check_config(part[0], len[0]);
    if (part[1]) {
        static const uint8_t none[1] = {0};
        const uint8_t *t[3] = {part[1], part[2] ? part[2] : none, part[3] ? part[3] : none};
        size_t tl[3] = {len[1], part[2] ? len[2] : 0, part[3] ? len[3] : 0};
        check_maps(t, tl);
    }
    return 0;
}
