#include "common/conf_line.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

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
