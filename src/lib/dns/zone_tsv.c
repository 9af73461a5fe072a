/*
 * The conformance suites' flat zone.tsv (tests/conformance/SOURCES.md,
 * "The derived formats"): TAB-separated `[scenario] name type value`,
 * a '#' header naming the columns, '#' comment lines. Each row goes
 * through sg_zone_add(), which knows the special rows (NXDOMAIN, SERVFAIL,
 * TIMEOUT, EXISTS; `name TYPE TIMEOUT`) and parses the value as
 * master-file RDATA with names taken as absolute.
 */
#include "dns/zone.h"

#include <stdlib.h>
#include <string.h>

/* Four columns at most: [scenario] name type value. */
#define TSV_MAX_COLS 4

/* Split line (modified in place) at TABs; returns the field count, or
 * TSV_MAX_COLS + 1 when there are more. */
static size_t split(char *line, char **f)
{
    size_t n = 0;
    char *p = line;
    for (;;) {
        char *tab = strchr(p, '\t');
        if (n == TSV_MAX_COLS)
            return TSV_MAX_COLS + 1;
        f[n++] = p;
        if (tab == NULL)
            return n;
        *tab = '\0';
        p = tab + 1;
    }
}

int sg_zone_load_tsv(sg_zone *z, const char *path, const char *scenario, size_t *err_line)
{
    char *text, *p, *end;
    size_t len, lineno = 0;
    int rc, header_seen = 0;
    /* column indexes; -1: absent. Default without a header: decided by
     * the field count of each row (3 or 4). */
    int c_scen = -1, c_name = -1, c_type = -1, c_value = -1, ncols = 0;

    if (err_line != NULL)
        *err_line = 0;
    if (z == NULL || path == NULL)
        return SG_EINVAL;
    rc = sg_zone_read_file(path, &text, &len);
    if (rc != SG_OK)
        return rc;
    end = text + len;
    for (p = text; p < end && rc == SG_OK;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *line = p, *f[TSV_MAX_COLS + 1];
        size_t n, ll;
        const char *name, *type, *value;

        lineno++;
        if (nl == NULL)
            nl = end;
        *nl = '\0';
        p = nl + 1;
        ll = strlen(line);
        if (ll != (size_t)(nl - line)) { /* a NUL byte inside a line */
            rc = SG_ESYNTAX;
            break;
        }
        if (ll > 0 && line[ll - 1] == '\r')
            line[--ll] = '\0';
        if (line[0] == '#') {
            if (lineno == 1 && !header_seen) {
                /* The header names the columns: find name/type/value;
                 * the remaining one is the scenario ("scenario", "case"). */
                int i;
                header_seen = 1;
                n = split(line + 1, f);
                if (n < 3 || n > TSV_MAX_COLS) {
                    rc = SG_ESYNTAX;
                    break;
                }
                ncols = (int)n;
                for (i = 0; i < ncols; i++) {
                    if (strcmp(f[i], "name") == 0)
                        c_name = i;
                    else if (strcmp(f[i], "type") == 0)
                        c_type = i;
                    else if (strcmp(f[i], "value") == 0)
                        c_value = i;
                    else if (c_scen < 0)
                        c_scen = i;
                    else
                        rc = SG_ESYNTAX;
                }
                if (rc == SG_OK && (c_name < 0 || c_type < 0 || c_value < 0))
                    rc = SG_ESYNTAX;
            }
            continue; /* comment */
        }
        if (ll == 0)
            continue;
        n = split(line, f);
        if (header_seen) {
            if ((int)n != ncols) {
                rc = SG_ESYNTAX;
                break;
            }
            name = f[c_name];
            type = f[c_type];
            value = f[c_value];
            if (c_scen >= 0 && scenario != NULL && strcmp(f[c_scen], scenario) != 0)
                continue;
        } else if (n == 3) {
            name = f[0];
            type = f[1];
            value = f[2];
        } else if (n == 4) {
            name = f[1];
            type = f[2];
            value = f[3];
            if (scenario != NULL && strcmp(f[0], scenario) != 0)
                continue;
        } else {
            rc = SG_ESYNTAX;
            break;
        }
        rc = sg_zone_add(z, name, type, value, SG_ZONE_TSV_TTL);
    }
    if (rc != SG_OK && err_line != NULL)
        *err_line = lineno;
    free(text);
    return rc;
}
