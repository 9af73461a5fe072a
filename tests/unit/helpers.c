#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

const char *sg_test_conformance_dir(void)
{
    const char *d = getenv("SG_CONFORMANCE_DIR");
    if (d == NULL || *d == '\0')
        d = getenv("SG_CONFORMANCE_DEFAULT");
    /* run by hand, outside ctest: the tree's own copy */
    return d && *d ? d : SG_CONFORMANCE_BUILTIN;
}

const char *sg_test_data_dir(void)
{
    const char *d = getenv("SG_TEST_DATA");
    return d ? d : "tests/data";
}

const char *sg_test_path(const char *dir, const char *rel)
{
    static char buf[4096];
    snprintf(buf, sizeof(buf), "%s/%s", dir, rel);
    return buf;
}

char *sg_test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0, r;
    if (f == NULL)
        return NULL;
    for (;;) {
        if (n + 65536 + 1 > cap) {
            char *nb;
            cap = (n + 65536 + 1) * 2;
            nb = realloc(buf, cap);
            if (nb == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        r = fread(buf + n, 1, 65536, f);
        n += r;
        if (r == 0)
            break;
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

void sg_test_tmp_store(char *path)
{
    int fd = mkstemp(path);
    if (fd < 0) {
        perror(path);
        abort();
    }
    close(fd);
    unlink(path);
}

void sg_test_rm_store(const char *path)
{
    char aux[4096];
    unlink(path);
    snprintf(aux, sizeof aux, "%s-wal", path);
    unlink(aux);
    snprintf(aux, sizeof aux, "%s-shm", path);
    unlink(aux);
}
