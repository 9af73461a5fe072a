/*
 * libFuzzer harness for the address parsers. Besides memory safety it
 * checks the contract the DMARC, policy and viewer code rely on:
 *   - every reported mailbox has a non-empty local part and domain;
 *   - group index is -1 or < ngroups, and every group has a name;
 *   - no output string holds a control character (the viewer shows them);
 *   - a failure leaves err_pos inside the input;
 *   - the result does not depend on bytes after len (we parse a copy
 *     without a terminator, so ASan catches any read past the end);
 *   - the path parser only gives empty local/domain for "<>";
 *   - the author domain (strict, or the reader's view when the strict
 *     parse gives none) is a normalised A-label name or absent, and
 *     normalising a normalised name gives it back;
 *   - the addresses a person reads in the field (sg_dmarc_shown_addresses)
 *     are at most the room given, each a local part without control
 *     characters and a normalised name of two labels or more.
 */
#include <spoofguard/addr.h>
#include <spoofguard/dmarc.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_string(const char *s, int may_be_empty)
{
    if (s == NULL || (!may_be_empty && s[0] == '\0'))
        abort();
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c < 0x20 && c != '\t') || c == 0x7F)
            abort();
    }
}

/* A name as sg_dmarc_domain_normalise gives it: LDH(+_) lower-case
 * labels of 1..63 octets, at most 253 octets, and a fixed point. */
static void check_norm(sg_arena *arena, const char *d)
{
    size_t n = strlen(d), label = 0;
    char *again;
    if (n == 0 || n > 253)
        abort();
    for (size_t i = 0; i <= n; i++) {
        char c = d[i];
        if (c == '.' || c == '\0') {
            if (label == 0 || label > 63)
                abort();
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_') {
            label++;
        } else {
            abort();
        }
    }
    if (sg_dmarc_domain_normalise(arena, d, n, &again) == 0 && strcmp(again, d) != 0)
        abort();
}

static void check_shown(sg_arena *arena, const char *v, size_t n)
{
    sg_dmarc_shown shown[4];
    size_t count = 99;
    int more = -1;
    int rc = sg_dmarc_shown_addresses(arena, v, n, shown, 4, &count, &more);
    if (rc == SG_ENOMEM)
        return;
    if (rc != 0 || count > 4 || (more != 0 && more != 1))
        abort();
    for (size_t k = 0; k < count; k++) {
        check_string(shown[k].local, 1);
        check_norm(arena, shown[k].domain);
        if (strchr(shown[k].domain, '.') == NULL)
            abort();
    }
}

static void check_author(sg_arena *arena, const char *v, size_t n)
{
    sg_dmarc_author au;
    char *norm;
    int rc = sg_dmarc_author_from_value(arena, v, n, &au);
    if (rc == SG_ENOMEM)
        return;
    if (rc != 0)
        abort();
    if ((au.status == SG_DMARC_AUTHOR_OK) != (au.domain != NULL))
        abort();
    if (au.domain)
        check_norm(arena, au.domain);
    if (au.lenient &&
        (au.strict_status == SG_DMARC_AUTHOR_OK ||
         au.strict_status == SG_DMARC_AUTHOR_MULTIPLE_DOMAINS ||
         (au.status != SG_DMARC_AUTHOR_OK && au.status != SG_DMARC_AUTHOR_MULTIPLE_DOMAINS)))
        abort();
    if (n <= 1024 && sg_dmarc_domain_normalise(arena, v, n, &norm) == 0)
        check_norm(arena, norm);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sg_arena *arena;
    sg_addr_list list;
    sg_mailbox mb;
    size_t err_pos = (size_t)-1, i;
    char *copy;
    int rc;

    if (sg_arena_new(&arena, 0) != SG_OK)
        return 0;
    /* exact-size heap copy: no NUL after the value */
    copy = malloc(size ? size : 1);
    if (copy == NULL) {
        sg_arena_free(arena);
        return 0;
    }
    if (size)
        memcpy(copy, data, size);

    rc = sg_addr_parse_list(arena, copy, size, &list, &err_pos);
    if (rc == SG_OK) {
        if (list.count > SG_ADDR_MAX_MAILBOXES || list.ngroups > SG_ADDR_MAX_GROUPS)
            abort();
        for (i = 0; i < list.ngroups; i++)
            check_string(list.group_names[i], 1);
        for (i = 0; i < list.count; i++) {
            const sg_mailbox *m = &list.mailboxes[i];
            check_string(m->local, 0);
            check_string(m->domain, 0);
            check_string(m->local_unquoted, 1);
            if (m->display != NULL) {
                check_string(m->display, 1);
                /* folded and trimmed: no leading/trailing/double space */
                size_t n = strlen(m->display);
                if (n && (m->display[0] == ' ' || m->display[n - 1] == ' '))
                    abort();
                if (strstr(m->display, "  ") != NULL || strchr(m->display, '\t') != NULL)
                    abort();
            }
            if (m->group < -1 || (m->group >= 0 && (size_t)m->group >= list.ngroups))
                abort();
            if (m->is_literal != (m->domain[0] == '['))
                abort();
            /* a dot-atom domain never starts or ends with a dot */
            if (!m->is_literal && (m->domain[0] == '.' || m->domain[strlen(m->domain) - 1] == '.'))
                abort();
        }
    } else if (rc == SG_ESYNTAX || rc == SG_ELIMIT) {
        if (err_pos > size && !(rc == SG_ELIMIT && size > SG_ADDR_MAX_INPUT))
            abort();
    } else if (rc != SG_ENOMEM) {
        abort();
    }

    check_author(arena, copy, size);
    check_shown(arena, copy, size);

    rc = sg_addr_parse_path(arena, copy, size, &mb);
    if (rc == SG_OK) {
        int null_path = size == 2 && copy[0] == '<' && copy[1] == '>';
        check_string(mb.local, null_path);
        check_string(mb.domain, null_path);
        check_string(mb.local_unquoted, 1);
        if (mb.display != NULL || mb.group != -1)
            abort();
        if (null_path && (mb.local[0] || mb.domain[0]))
            abort();
    } else if (rc != SG_ESYNTAX && rc != SG_ELIMIT && rc != SG_ENOMEM) {
        abort();
    }

    free(copy);
    sg_arena_free(arena);
    return 0;
}
