/* Reading Maildirs (see maildir.h). */
#include "maildir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const sub_names[2] = {"new", "cur"};

void sgv_maildir_id(unsigned index, const char *unique, size_t len, char out[SGV_ID_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE], pre[4];
    unsigned mdlen = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    pre[0] = (unsigned char)(index >> 24);
    pre[1] = (unsigned char)(index >> 16);
    pre[2] = (unsigned char)(index >> 8);
    pre[3] = (unsigned char)index;
    memset(md, 0, sizeof(md));
    if (c == NULL || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(c, pre, sizeof(pre)) != 1 || EVP_DigestUpdate(c, unique, len) != 1 ||
        EVP_DigestFinal_ex(c, md, &mdlen) != 1) {
        /* cannot happen short of OOM; an ID that names nothing is safe */
        memset(md, 0, sizeof(md));
    }
    EVP_MD_CTX_free(c);
    for (size_t i = 0; i < SGV_ID_LEN / 2; i++) {
        out[2 * i] = "0123456789abcdef"[md[i] >> 4];
        out[2 * i + 1] = "0123456789abcdef"[md[i] & 15];
    }
    out[SGV_ID_LEN] = '\0';
}

/* The unique part of a Maildir file name: up to the ':' of ":2," (or
 * the whole name when it has no info part). */
static size_t unique_len(const char *name)
{
    const char *colon = strchr(name, ':');
    return colon ? (size_t)(colon - name) : strlen(name);
}

static long long ts_ns(const struct timespec *t)
{
    return (long long)t->tv_sec * 1000000000LL + t->tv_nsec;
}

void sgv_maildir_stamp(const char *root, sgv_mstamp *st)
{
    char path[4096];
    struct stat s;
    memset(st, 0, sizeof(*st));
    st->ok = 1;
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "%s/%s", root, sub_names[i]);
        if (stat(path, &s) != 0 || !S_ISDIR(s.st_mode)) {
            st->ok = 0;
            continue;
        }
        st->t[2 * i] = ts_ns(&s.st_mtim);
        st->t[2 * i + 1] = ts_ns(&s.st_ctim);
    }
}

int sgv_mstamp_equal(const sgv_mstamp *a, const sgv_mstamp *b)
{
    return a->ok == b->ok && !memcmp(a->t, b->t, sizeof(a->t));
}

void sgv_mlist_free(sgv_mlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].name);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static int id_cmp(const void *a, const void *b)
{
    const sgv_mentry *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    /* cur/ before new/: the one kept of a pair */
    return c ? c : y->sub - x->sub;
}

/* Opens root/sub as a folder without following a link there. */
static int open_sub(const char *root, int sub)
{
    int rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rfd < 0)
        return -1;
    int fd = openat(rfd, sub_names[sub], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    close(rfd);
    return fd;
}

static int scan_sub(const char *root, unsigned index, int sub, sgv_mlist *out)
{
    int fd = open_sub(root, sub);
    DIR *d;
    struct dirent *e;
    size_t seen = 0;
    if (fd < 0 || (d = fdopendir(fd)) == NULL) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    while ((e = readdir(d)) != NULL && seen++ < SGV_MAX_FILES_PER_DIR) {
        struct stat st;
        const char *name = e->d_name;
        /* dot files: "." "..", and what a deliverer hides */
        if (name[0] == '.' || unique_len(name) == 0)
            continue;
        if (e->d_type != DT_REG && e->d_type != DT_UNKNOWN)
            continue;
        if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (out->n == out->cap) {
            size_t cap = out->cap ? out->cap * 2 : 256;
            sgv_mentry *v = realloc(out->v, cap * sizeof(*v));
            if (v == NULL)
                break;
            out->v = v;
            out->cap = cap;
        }
        sgv_mentry *m = &out->v[out->n];
        if ((m->name = strdup(name)) == NULL)
            break;
        sgv_maildir_id(index, name, unique_len(name), m->id);
        m->sub = sub;
        m->size = (long long)st.st_size;
        m->mtime = ts_ns(&st.st_mtim);
        out->n++;
    }
    closedir(d);
    return 0;
}

int sgv_maildir_scan(const char *root, unsigned index, sgv_mlist *out)
{
    for (size_t i = 0; i < out->n; i++)
        free(out->v[i].name);
    out->n = 0;
    int a = scan_sub(root, index, SGV_SUB_NEW, out);
    int b = scan_sub(root, index, SGV_SUB_CUR, out);
    if (out->n > 1) /* qsort(NULL, 0) is undefined */
        qsort(out->v, out->n, sizeof(*out->v), id_cmp);
    /* one entry per ID */
    size_t w = 0;
    for (size_t r = 0; r < out->n; r++) {
        if (w > 0 && !strcmp(out->v[w - 1].id, out->v[r].id)) {
            free(out->v[r].name);
            continue;
        }
        out->v[w++] = out->v[r];
    }
    out->n = w;
    return a == 0 && b == 0 ? 0 : -1;
}

int sgv_maildir_read(const char *root, int sub, const char *name, char **data, size_t *len,
                     int *truncated)
{
    struct stat st;
    int dfd, fd;
    *data = NULL;
    *len = 0;
    *truncated = 0;
    if (name[0] == '.' || strchr(name, '/') != NULL || (dfd = open_sub(root, sub)) < 0)
        return -1;
    fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    close(dfd);
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -1;
    }
    size_t want = st.st_size > (off_t)SGV_MAX_MESSAGE ? SGV_MAX_MESSAGE : (size_t)st.st_size;
    char *buf = malloc(want + 1);
    size_t got = 0;
    if (buf == NULL) {
        close(fd);
        return -1;
    }
    while (got < want) {
        ssize_t n = read(fd, buf + got, want - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    *truncated = st.st_size > (off_t)SGV_MAX_MESSAGE;
    *data = buf;
    *len = got;
    return 0;
}
