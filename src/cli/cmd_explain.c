/*
 * spoofguard explain: what a reader should be told about a message (issue
 * 13 item 7): the headline, the identity panel, the warnings and the links,
 * as spoofguard-view shows them.
 *
 *   spoofguard explain [--zone FILE | --dns HOST] [--protect DOMAIN]...
 *                      [--authserv-id ID] [--ip IP] [--helo NAME]
 *                      [--mail-from ADDR] [--json] MSG...
 *
 * A message that carries our own Authentication-Results on top (the
 * --authserv-id given) is explained from it; any other is verified here,
 * with the defaults of `spoofguard verify` (sg_verdict_opts_init). --json:
 * one object per message, one per line (sgr_explain_json's object; with
 * several messages each starts with "file"). Exit status: 0 every message
 * was explained (whatever the headlines: they are in the output), 2 usage,
 * 3 a message or the --operator-domains file could not be read, 4 internal
 * error (cli.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spoofguard/arena.h>
#include <spoofguard/verdict.h>

#include "cli.h"
#include "common/conf_line.h"
#include "reader/explain.h"

/* Largest message read (the MIME walk's whole-message bound). */
#define EXPLAIN_MAX_MESSAGE (64u << 20)

typedef struct {
    sg_cli_dns dns;
    sg_cli_verdict v;
    const char *operator_file;
    int json;
    int many;
    sgr_lookalike *lookalike;
    sg_cli_buf out;
    int status;
} explain_ctx;

enum { O_JSON = 1, O_OPERATOR };

static const sg_cli_opt explain_opts[] = {
    SG_CLI_ENVELOPE_OPTS,
    {"authserv-id", "ID", SG_CLI_OPT_AUTHSERV_ID,
     "our MTA's authserv-id: its Authentication-Results on top is trusted (default: none is)"},
    {"protect", "DOMAIN", SG_CLI_OPT_PROTECT,
     "our domain: must pass DMARC alignment, and a reference for lookalikes (repeatable)"},
    {"operator-domains", "FILE", O_OPERATOR,
     "more lookalike references, one domain a line (# comments)"},
    SG_CLI_VERDICT_OPTS,
    {"json", NULL, O_JSON, "one JSON object per message, one per line"},
    SG_CLI_DNS_OPTS,
    {NULL, NULL, 0, NULL},
};

static const sg_cli_cmd explain_cmd = {
    "explain",
    "[OPTIONS] MSG...",
    "What a reader should be told about each message: the headline (verified, verified\n"
    "through a third party, unverified, forged), who sent it, warnings (lookalike domains,\n"
    "display-name tricks, Reply-To, unsigned fields, risky attachments) and every link with\n"
    "its real host. A message whose topmost Authentication-Results carries --authserv-id is\n"
    "explained from it; any other is verified now, as `spoofguard verify` does (the keys may\n"
    "have rotated since delivery). \"-\": stdin; a message over 64 MiB is refused. Links are\n"
    "listed, never followed.\n"
    "Exit status: 0 every message explained (whatever the headlines), 2 usage, 3 a message\n"
    "or the --operator-domains file could not be read, 4 internal error.\n",
    explain_opts,
};

/* ---- text output ---------------------------------------------------------- */

static void line(sg_cli_buf *o, const char *label, const char *v)
{
    if (v == NULL)
        return;
    sg_cli_buf_puts(o, label);
    sg_cli_buf_put_term(o, v);
    sg_cli_buf_putc(o, '\n');
}

static void warnings_text(sg_cli_buf *o, const char *indent, const sgr_warning *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sg_cli_buf_puts(o, indent);
        sg_cli_buf_putc(o, '[');
        sg_cli_buf_puts(o, w[i].kind);
        sg_cli_buf_puts(o, "] ");
        sg_cli_buf_put_term(o, w[i].detail);
        sg_cli_buf_putc(o, '\n');
    }
}

static void format_text(sg_cli_buf *o, const char *name, const sgr_explanation *e,
                        const char *authserv_id)
{
    const sgr_identity *id = &e->identity;
    o->len = 0;
    if (name) {
        sg_cli_buf_puts(o, "== ");
        sg_cli_buf_put_term(o, name);
        sg_cli_buf_putc(o, '\n');
    }
    sg_cli_buf_puts(o, sgr_headline_title(e->headline));
    sg_cli_buf_puts(o, ": ");
    sg_cli_buf_put_term(o, e->headline_detail);
    sg_cli_buf_putc(o, '\n');
    if (e->verified_by == SGR_FROM_AUTHRES) {
        sg_cli_buf_puts(o, "  checked by your mail server (");
        sg_cli_buf_put_term(o, authserv_id);
        sg_cli_buf_puts(o, ")\n");
    } else if (e->verified_by == SGR_FROM_VERIFIED) {
        sg_cli_buf_puts(o, "  verified now by spoofguard (keys may have rotated since delivery)\n");
    }
    sg_cli_buf_puts(o, "From:        ");
    if (id->display_name && id->display_name[0]) {
        sg_cli_buf_put_term(o, id->display_name);
        sg_cli_buf_puts(o, " ");
    }
    sg_cli_buf_putc(o, '<');
    sg_cli_buf_put_term(o, id->address ? id->address : "(no address)");
    sg_cli_buf_puts(o, ">\n");
    if (id->domain) {
        sg_cli_buf_puts(o, "Domain:      ");
        sg_cli_buf_put_term(o, id->domain);
        if (id->domain_unicode) {
            sg_cli_buf_puts(o, " (");
            sg_cli_buf_put_term(o, id->domain_unicode);
            sg_cli_buf_putc(o, ')');
        }
        sg_cli_buf_puts(o, ", registrable domain ");
        sg_cli_buf_put_term(o, id->registrable_domain ? id->registrable_domain : "(none)");
        sg_cli_buf_putc(o, '\n');
    }
    for (size_t i = 0; i < id->nsigned_by; i++) {
        const sgr_signed_by *s = &id->signed_by[i];
        char bits[32] = "";
        if (s->key_bits)
            snprintf(bits, sizeof(bits), ", %u-bit key", s->key_bits);
        sg_cli_buf_puts(o, "Signed by:   ");
        sg_cli_buf_put_term(o, s->domain);
        sg_cli_buf_puts(o, " (");
        if (s->selector) {
            sg_cli_buf_puts(o, "s=");
            sg_cli_buf_put_term(o, s->selector);
            sg_cli_buf_puts(o, ", ");
        }
        if (s->algorithm) {
            sg_cli_buf_put_term(o, s->algorithm);
        }
        sg_cli_buf_puts(o, bits);
        sg_cli_buf_puts(o, s->aligned ? ", aligned)\n" : ", not the sender's domain)\n");
    }
    line(o, "Mailed by:   ", id->mailed_by);
    line(o, "Via:         ", id->via);
    line(o, "Reply-To:    ", id->reply_to);
    line(o, "Sender:      ", id->sender);
    line(o, "List:        ", id->list_id);
    line(o, "ARC:         ", id->arc);
    if (e->mime) {
        line(o, "Subject:     ", e->mime->subject);
        line(o, "Date:        ", e->mime->date);
    }
    if (e->nwarnings) {
        sg_cli_buf_puts(o, "Warnings:\n");
        warnings_text(o, "  ", e->warnings, e->nwarnings);
    }
    if (e->nlinks) {
        sg_cli_buf_puts(o, "Links:\n");
        for (size_t i = 0; i < e->nlinks; i++) {
            const sgr_link_view *v = &e->links[i];
            sg_cli_buf_puts(o, "  ");
            sg_cli_buf_uint(o, i + 1);
            sg_cli_buf_puts(o, ". ");
            sg_cli_buf_put_term(o, v->link->target);
            sg_cli_buf_puts(o, v->inert ? "  [inert]\n" : "\n");
            if (v->link->host) {
                sg_cli_buf_puts(o, "     host ");
                sg_cli_buf_put_term(o, v->link->host);
                if (v->link->host_unicode) {
                    sg_cli_buf_puts(o, " (");
                    sg_cli_buf_put_term(o, v->link->host_unicode);
                    sg_cli_buf_putc(o, ')');
                }
                sg_cli_buf_puts(o, ", registrable domain ");
                sg_cli_buf_put_term(o, v->link->registrable_domain ? v->link->registrable_domain
                                                                   : "(none)");
                sg_cli_buf_putc(o, '\n');
            }
            if (v->link->text && v->link->text[0] && strcmp(v->link->text, v->link->target)) {
                sg_cli_buf_puts(o, "     text \"");
                sg_cli_buf_put_term(o, v->link->text);
                sg_cli_buf_puts(o, "\"\n");
            }
            warnings_text(o, "     ", v->warnings, v->nwarnings);
        }
        if (e->links_truncated)
            sg_cli_buf_puts(o, "  (more links not listed)\n");
    }
    for (size_t i = 0; e->mime && i < e->mime->nparts; i++) {
        const sgr_mime_part *p = &e->mime->parts[i];
        if (p->role != SGR_PART_ATTACHMENT)
            continue;
        sg_cli_buf_puts(o, "Attachment:  ");
        sg_cli_buf_put_term(o, p->filename ? p->filename : "(no name)");
        sg_cli_buf_puts(o, " (");
        sg_cli_buf_put_term(o, p->content_type);
        sg_cli_buf_puts(o, ", ");
        sg_cli_buf_uint(o, p->size);
        sg_cli_buf_puts(o, " bytes)\n");
    }
}

/* ---- one message ---------------------------------------------------------------- */

/* The whole message from fd into *out (malloc'ed); 0 or SG_EIO/SG_ELIMIT/
 * SG_ENOMEM. */
static int read_all(int fd, char **out, size_t *len)
{
    size_t cap = 65536, n = 0;
    char *b = malloc(cap);
    if (b == NULL)
        return SG_ENOMEM;
    for (;;) {
        if (n == cap) {
            if (cap >= EXPLAIN_MAX_MESSAGE) {
                free(b);
                return SG_ELIMIT;
            }
            char *nb = realloc(b, cap * 2);
            if (nb == NULL) {
                free(b);
                return SG_ENOMEM;
            }
            b = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, b + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            free(b);
            return SG_EIO;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    *out = b;
    *len = n;
    return 0;
}

/* The library's verdict of msg, or NULL when it cannot give one (a header
 * its parser refuses: explained from nothing, never trusted). */
static int verify_msg(explain_ctx *c, const char *msg, size_t len, const sg_verdict_result **r)
{
    sg_verdict *v;
    int rc;
    *r = NULL;
    if ((rc = sg_cli_verdict_next(&c->v, c->dns.resolver, &v)) != 0)
        return rc;
    rc = sg_verdict_feed(v, msg, len);
    if (rc == SG_ELIMIT || rc == SG_ESYNTAX)
        return 0;
    if (rc != 0)
        return rc;
    return sg_verdict_finish_sync(v, r);
}

static int explain_one(explain_ctx *c, const char *path)
{
    int stdin_ = !strcmp(path, "-");
    /* O_NONBLOCK: a FIFO, refused below, must not hold the open until a
     * writer comes (adv26 CLI-10.10); a regular file's reads ignore it */
    int fd = stdin_ ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    char *msg = NULL;
    size_t len = 0;
    int rc;
    struct stat st;
    if (fd < 0 || (!stdin_ && fstat(fd, &st) != 0)) {
        fprintf(stderr, "spoofguard: %s: cannot open: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return SG_EXIT_INPUT;
    }
    if (!stdin_ && !S_ISREG(st.st_mode)) {
        fprintf(stderr, "spoofguard: %s: cannot open: not a regular file\n", path);
        close(fd);
        return SG_EXIT_INPUT;
    }
    rc = read_all(fd, &msg, &len);
    if (!stdin_)
        close(fd);
    if (rc != 0) {
        if (rc == SG_ELIMIT)
            fprintf(stderr, "spoofguard: %s: message larger than %u MiB\n", path,
                    EXPLAIN_MAX_MESSAGE >> 20);
        else
            fprintf(stderr, "spoofguard: %s: %s\n", path, sg_strerror(rc));
        return rc == SG_ENOMEM ? SG_EXIT_INTERNAL : SG_EXIT_INPUT;
    }
    if (len == 0) {
        free(msg);
        return sg_cli_no_message(path);
    }
    const sg_verdict_result *r = NULL;
    if (!(c->v.opts.authserv_id && sgr_explain_trusts_authres(msg, len, c->v.opts.authserv_id)) &&
        (rc = verify_msg(c, msg, len, &r)) != 0) {
        fprintf(stderr, "spoofguard: %s: %s\n", path, sg_strerror(rc));
        free(msg);
        return SG_EXIT_INTERNAL;
    }
    sgr_explain_opts eo;
    sgr_explain_opts_init(&eo);
    eo.authserv_id = c->v.opts.authserv_id;
    eo.lookalike = c->lookalike;
    eo.protected_domains = c->v.protect;
    eo.nprotected = c->v.nprotect;
    sgr_explanation *e;
    if ((rc = sgr_explain(&e, msg, len, r, &eo)) != SGR_EXPLAIN_OK) {
        fprintf(stderr, "spoofguard: %s: %s\n", path,
                rc == SGR_EXPLAIN_ENOMEM ? "out of memory" : "cannot explain");
        free(msg);
        return SG_EXIT_INTERNAL;
    }
    if (c->json) {
        char *j;
        size_t jl;
        c->out.len = 0;
        if (sgr_explain_json(e, &j, &jl) != SGR_EXPLAIN_OK) {
            sgr_explain_free(e);
            free(msg);
            return SG_EXIT_INTERNAL;
        }
        if (c->many) {
            /* the file's name first, then the object's own keys */
            sg_cli_buf_puts(&c->out, "{\"file\":");
            sg_cli_buf_json_str(&c->out, path);
            sg_cli_buf_putc(&c->out, ',');
            sg_cli_buf_put(&c->out, j + 1, jl - 1);
        } else {
            sg_cli_buf_put(&c->out, j, jl);
        }
        sg_cli_buf_putc(&c->out, '\n');
        free(j);
    } else {
        format_text(&c->out, c->many ? path : NULL, e, c->v.opts.authserv_id);
        if (c->many)
            sg_cli_buf_putc(&c->out, '\n');
    }
    sgr_explain_free(e);
    free(msg);
    if (c->out.oom)
        return SG_EXIT_INTERNAL;
    fwrite(c->out.data, 1, c->out.len, stdout);
    return 0;
}

/* ---- options ------------------------------------------------------------------------ */

static int explain_option(int id, const char *val, void *payload)
{
    explain_ctx *c = payload;
    switch (id) {
    case O_JSON:
        c->json = 1;
        break;
    case O_OPERATOR:
        c->operator_file = val;
        break;
    default:
        return sg_cli_verdict_option(&c->v, &explain_cmd, id, val);
    }
    return SG_CLI_GO;
}

/* The lookalike references: --protect, then --operator-domains. */
static int build_lookalike(explain_ctx *c)
{
    sgr_lookalike_builder *b;
    int rc = sgr_lookalike_builder_new(&b, c->v.psl_file);
    if (rc != SGR_LOOKALIKE_OK) {
        fprintf(stderr, "spoofguard: %s\n",
                rc == SGR_LOOKALIKE_EPSL ? "cannot load the public suffix list"
                                         : "cannot start the lookalike checker");
        return rc == SGR_LOOKALIKE_EPSL ? SG_EXIT_USAGE : SG_EXIT_INTERNAL;
    }
    for (size_t i = 0; i < c->v.nprotect; i++)
        sgr_lookalike_builder_add(b, c->v.protect[i], strlen(c->v.protect[i]),
                                  SGR_LOOKALIKE_PROTECTED);
    if (c->operator_file) {
        sg_lines r;
        char err[600];
        ssize_t n;
        /* a list read in part (a folder, a read error) would check the
         * lookalikes against no reference and say nothing (adv26 CLI-2) */
        if ((rc = sg_lines_open(&r, c->operator_file, err, sizeof(err))) == 0) {
            while ((n = sg_lines_next(&r, err, sizeof(err))) >= 0) {
                char *s = r.line, *h = strchr(s, '#');
                if (h)
                    *h = '\0';
                while (*s == ' ' || *s == '\t')
                    s++;
                size_t l = strcspn(s, " \t\r\n");
                if (l == 0)
                    continue;
                if (sgr_lookalike_builder_add(b, s, l, SGR_LOOKALIKE_OPERATOR) ==
                    SGR_LOOKALIKE_EINVAL)
                    fprintf(stderr, "spoofguard: %s:%zu: not a domain name, ignored\n",
                            c->operator_file, r.lineno);
            }
            rc = n == SG_LINES_END ? 0 : (int)n;
            sg_lines_close(&r);
        }
        if (rc != 0) {
            fprintf(stderr, "spoofguard: --operator-domains %s\n", err);
            sgr_lookalike_builder_free(b);
            return rc == SG_LINES_ENOMEM ? SG_EXIT_INTERNAL : SG_EXIT_INPUT;
        }
    }
    rc = sgr_lookalike_build(&c->lookalike, b);
    if (rc != SGR_LOOKALIKE_OK) {
        fprintf(stderr, "spoofguard: cannot build the lookalike checker\n");
        return SG_EXIT_INTERNAL;
    }
    return 0;
}

static void cleanup(explain_ctx *c)
{
    sg_cli_verdict_close(&c->v);
    sgr_lookalike_free(c->lookalike);
    sg_cli_buf_free(&c->out);
    sg_cli_dns_close(&c->dns);
}

int cmd_explain(int argc, char **argv);
int cmd_explain(int argc, char **argv)
{
    explain_ctx c;
    int first, rc;
    memset(&c, 0, sizeof(c));
    sg_cli_verdict_init(&c.v);
    rc = sg_cli_parse(&explain_cmd, argc, argv, &c.dns, explain_option, &c, &first);
    if (rc == SG_CLI_GO && first == argc)
        rc = sg_cli_usage_error(&explain_cmd, "no message given");
    if (rc == SG_CLI_GO && (rc = sg_cli_verdict_open(&c.v)) == 0 &&
        (rc = build_lookalike(&c)) == 0 && (rc = sg_cli_dns_open(&c.dns)) == 0)
        rc = SG_CLI_GO;
    if (rc != SG_CLI_GO) {
        cleanup(&c);
        return rc;
    }
    c.many = argc - first > 1;
    for (int i = first; i < argc; i++) {
        rc = explain_one(&c, argv[i]);
        if (rc != 0 && c.status == 0)
            c.status = rc;
    }
    cleanup(&c);
    return c.status;
}
