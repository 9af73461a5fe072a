#include "common/conf_line.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spoofguard/common.h>

int sg_conf_line(char *line, char **name, char **value)
{
    char *hash = strchr(line, '#');
    if (hash)
        *hash = '\0';
    char *p = line;
    while (isspace((unsigned char)*p))
        p++;
    char *end = p + strlen(p);
    while (end > p && isspace((unsigned char)end[-1]))
        *--end = '\0';
    if (*p == '\0')
        return 0;
    *name = p;
    while (*p && !isspace((unsigned char)*p))
        p++;
    if (*p)
        *p++ = '\0';
    while (isspace((unsigned char)*p))
        p++;
    *value = p;
    return 1;
}

int sg_line_has_nul(const char *line, size_t len)
{
    return memchr(line, '\0', len) != NULL;
}

int sg_lines_open(sg_lines *r, const char *path, char *err, size_t errlen)
{
    return sg_lines_openat(r, AT_FDCWD, path, path, err, errlen);
}

int sg_lines_openat(sg_lines *r, int dirfd, const char *name, const char *path, char *err,
                    size_t errlen)
{
    struct stat st;
    memset(r, 0, sizeof(*r));
    r->path = path;
    /* O_NONBLOCK: a FIFO's open would wait for a writer before we could
     * see it is no file; a regular file's reads ignore the flag */
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        errno = e;
        return SG_LINES_EINPUT;
    }
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
        return SG_LINES_EINPUT;
    }
    struct stat null_st;
    /* /dev/null reads as the empty file it stands for ("sender_map
     * /dev/null": no entries) */
    int is_null = S_ISCHR(st.st_mode) && stat("/dev/null", &null_st) == 0 &&
                  S_ISCHR(null_st.st_mode) && null_st.st_rdev == st.st_rdev;
    if (!S_ISREG(st.st_mode) && !is_null) {
        snprintf(err, errlen, "%s: not a regular file%s", path,
                 S_ISDIR(st.st_mode) ? " (a folder)" : "");
        close(fd);
        errno = EINVAL;
        return SG_LINES_EINPUT;
    }
    if ((r->f = fdopen(fd, "r")) == NULL) {
        close(fd);
        snprintf(err, errlen, "%s: out of memory", path);
        return SG_LINES_ENOMEM;
    }
    return 0;
}

ssize_t sg_lines_next(sg_lines *r, char *err, size_t errlen)
{
    size_t n = 0;
    int ch;
    if (r->cap == 0) {
        if ((r->line = malloc(256)) == NULL) {
            snprintf(err, errlen, "%s: out of memory", r->path);
            return SG_LINES_ENOMEM;
        }
        r->cap = 256;
    }
    while ((ch = getc_unlocked(r->f)) != EOF) {
        if (ch != '\n' && n == SG_CONF_LINE_MAX) {
            snprintf(err, errlen, "%s:%zu: a line longer than %u bytes", r->path, r->lineno + 1,
                     SG_CONF_LINE_MAX);
            return SG_LINES_EINPUT;
        }
        if (n + 2 > r->cap) { /* ch and the NUL */
            char *nl = realloc(r->line, r->cap * 2);
            if (nl == NULL) {
                snprintf(err, errlen, "%s: out of memory", r->path);
                return SG_LINES_ENOMEM;
            }
            r->line = nl;
            r->cap *= 2;
        }
        r->line[n++] = (char)ch;
        if (ch == '\n')
            break;
    }
    if (ch == EOF && ferror(r->f)) {
        snprintf(err, errlen, "%s:%zu: read error: %s", r->path, r->lineno + 1, strerror(errno));
        return SG_LINES_EINPUT;
    }
    if (n == 0)
        return SG_LINES_END;
    r->line[n] = '\0';
    r->lineno++;
    if (sg_line_has_nul(r->line, n)) {
        snprintf(err, errlen, "%s:%zu: a NUL byte in the line", r->path, r->lineno);
        return SG_LINES_EINPUT;
    }
    return (ssize_t)n;
}

void sg_lines_close(sg_lines *r)
{
    if (r->f != NULL)
        fclose(r->f);
    free(r->line);
    r->f = NULL;
    r->line = NULL;
    r->cap = 0;
}

void sg_ob_directive_why(char *out, size_t cap, const char *name, const char *value, int rc)
{
    /* sg_ob_policy_directive: SG_EINVAL, for outbound_limit, is a KEY
     * (after any CLASS.) it does not know */
    if (rc == SG_EINVAL && !strcasecmp(name, "outbound_limit")) {
        size_t w = strcspn(value, " \t");
        const char *dot = memchr(value, '.', w);
        const char *key = dot ? dot + 1 : value;
        snprintf(out, cap,
                 "unknown key '%.*s' (the keys are listed in docs/outbound.md, \"Policy "
                 "keys\")",
                 (int)(w - (size_t)(key - value)), key);
    } else if (rc == SG_ESYNTAX) {
        snprintf(out, cap, "bad value");
    } else {
        snprintf(out, cap, "%s", sg_strerror(rc));
    }
}

void sg_folder_of(char *out, size_t cap, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(out, cap, ".");
    else if (slash == path)
        snprintf(out, cap, "/");
    else
        snprintf(out, cap, "%.*s", (int)(slash - path), path);
}

int sg_authserv_id_ok(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '.' && *s != '-' && *s != '_')
            return 0;
    return 1;
}
