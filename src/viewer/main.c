/*
 * spoofguard-view: the command line, start and stop (see viewer.h).
 *
 *   spoofguard-view --maildir DIR [--maildir DIR]... [--listen ADDR:PORT]
 *                   [--password-file FILE] [--tls-cert FILE --tls-key FILE]
 *                   [--authserv-id ID] [--protect DOMAIN]... [--operator-domains FILE]
 *                   [--zone FILE | --dns HOST[:PORT]] [--psl FILE] [--now UNIX]
 *                   [--reports-db PATH] [--request-timeout SECONDS]
 *   spoofguard-view --hash-password
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <spoofguard/common.h>

#include "auth.h"
#include "cli/cli.h"
#include "http.h"
#include "index.h"
#include "viewer.h"

enum {
    O_MAILDIR = 1,
    O_LISTEN,
    O_PASSWORD_FILE,
    O_TLS_CERT,
    O_TLS_KEY,
    O_AUTHSERV_ID,
    O_PROTECT,
    O_OPERATOR,
    O_ZONE,
    O_DNS,
    O_PSL,
    O_NOW,
    O_REPORTS_DB,
    O_REQUEST_TIMEOUT,
    O_HASH,
    O_HELP,
    O_VERSION,
};

static const struct {
    const char *name, *arg, *help;
    int id;
} options[] = {
    {"maildir", "DIR", "a Maildir to show (repeatable)", O_MAILDIR},
    {"listen", "ADDR:PORT", "where to serve (default 127.0.0.1:8025)", O_LISTEN},
    {"password-file", "FILE", "user:HASH lines (HASH from --hash-password)", O_PASSWORD_FILE},
    {"tls-cert", "FILE", "serve HTTPS with this certificate (PEM)", O_TLS_CERT},
    {"tls-key", "FILE", "the certificate's private key (PEM)", O_TLS_KEY},
    {"authserv-id", "ID", "our MTA's authserv-id: its topmost Authentication-Results counts",
     O_AUTHSERV_ID},
    {"protect", "DOMAIN", "our domain: lookalikes warned of, forged unless aligned (repeatable)",
     O_PROTECT},
    {"operator-domains", "FILE", "more names to warn of lookalikes of, one a line", O_OPERATOR},
    {"zone", "FILE", "answer DNS from a zone file (repeatable)", O_ZONE},
    {"dns", "HOST[:PORT]", "ask this DNS server (default: resolv.conf)", O_DNS},
    {"psl", "FILE", "the public suffix list (default: the system's)", O_PSL},
    {"now", "UNIX", "verify as of this time (Unix seconds)", O_NOW},
    {"reports-db", "PATH", "the DMARC report store shown at /reports and /reports.csv (read only)",
     O_REPORTS_DB},
    {"request-timeout", "SECONDS",
     "a client's time to send a request's head, and again its body (default 10)",
     O_REQUEST_TIMEOUT},
    {"hash-password", NULL, "read a password on stdin, print its yescrypt hash", O_HASH},
    {"help", NULL, "print this help and exit", O_HELP},
    {"version", NULL, "print the version and exit", O_VERSION},
};
#define NOPTIONS (sizeof(options) / sizeof(options[0]))

static void usage(FILE *f)
{
    fprintf(f, "usage: spoofguard-view --maildir DIR [OPTIONS]\n"
               "       spoofguard-view --hash-password\n\noptions:\n");
    for (size_t i = 0; i < NOPTIONS; i++) {
        char left[64];
        snprintf(left, sizeof(left), "--%s%s%s", options[i].name, options[i].arg ? " " : "",
                 options[i].arg ? options[i].arg : "");
        fprintf(f, "  %-26s %s\n", left, options[i].help);
    }
    fprintf(f, "\nA web mail viewer that shows who really sent each message. Without\n"
               "--password-file it serves loopback only, with no login; beyond loopback it\n"
               "needs --tls-cert, --tls-key and --password-file.\n");
}

static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "spoofguard-view: %s%s\n(spoofguard-view --help lists the options)\n", msg,
            arg ? arg : "");
    return SGV_EXIT_USAGE;
}

/* ---- --hash-password ------------------------------------------------------------ */

static int hash_password(void)
{
    char pw[1024], hash[512];
    struct termios t, old;
    int tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    if (tty) {
        fprintf(stderr, "Password: ");
        t = old;
        t.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSANOW, &t);
    }
    char *got = fgets(pw, sizeof(pw), stdin);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSANOW, &old);
        fprintf(stderr, "\n");
    }
    if (got == NULL) {
        fprintf(stderr, "spoofguard-view: no password on stdin\n");
        return SGV_EXIT_INPUT;
    }
    pw[strcspn(pw, "\r\n")] = '\0';
    if (pw[0] == '\0') {
        fprintf(stderr, "spoofguard-view: an empty password is not one\n");
        return SGV_EXIT_INPUT;
    }
    int rc = sgv_hash_password(pw, hash, sizeof(hash));
    explicit_bzero(pw, sizeof(pw));
    if (rc != 0) {
        fprintf(stderr, "spoofguard-view: crypt(3) cannot make a yescrypt hash\n");
        return SGV_EXIT_INTERNAL;
    }
    printf("%s\n", hash);
    return SGV_EXIT_OK;
}

/* ---- start --------------------------------------------------------------------------- */

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "re");
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    if (f == NULL)
        return NULL;
    for (;;) {
        if (cap - len < 4096) {
            if (cap > (1u << 20)) { /* no PEM file is that big */
                free(buf);
                fclose(f);
                return NULL;
            }
            char *nb = realloc(buf, cap = cap ? cap * 2 : 8192);
            if (nb == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        if ((n = fread(buf + len, 1, cap - len - 1, f)) == 0)
            break;
        len += n;
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

static int is_maildir(const char *p)
{
    char sub[4096];
    struct stat st;
    for (int i = 0; i < 2; i++) {
        snprintf(sub, sizeof(sub), "%s/%s", p, i ? "cur" : "new");
        if (stat(sub, &st) != 0 || !S_ISDIR(st.st_mode))
            return 0;
    }
    return 1;
}

typedef struct {
    sgv_config cfg;
    sg_cli_dns dns;
    int hash;
} args;

static int add_str(const char ***v, size_t *n, const char *s)
{
    const char **nv = realloc(*v, (*n + 1) * sizeof(*nv));
    if (nv == NULL)
        return -1;
    nv[(*n)++] = s;
    *v = nv;
    return 0;
}

/* Returns -1 to go on, or an exit status. */
static int parse(args *a, int argc, char **argv)
{
    struct option lo[NOPTIONS + 1];
    int c, idx;
    memset(lo, 0, sizeof(lo));
    for (size_t i = 0; i < NOPTIONS; i++) {
        lo[i].name = options[i].name;
        lo[i].has_arg = options[i].arg ? required_argument : no_argument;
        lo[i].val = options[i].id;
    }
    opterr = 0;
    a->cfg.listen = "127.0.0.1:8025";
    while ((c = getopt_long(argc, argv, ":h", lo, &idx)) != -1) {
        long long now;
        int oom = 0;
        switch (c) {
        case O_MAILDIR:
            oom = add_str(&a->cfg.maildirs, &a->cfg.nmaildirs, optarg);
            break;
        case O_LISTEN:
            a->cfg.listen = optarg;
            break;
        case O_PASSWORD_FILE:
            a->cfg.password_file = optarg;
            break;
        case O_TLS_CERT:
            a->cfg.tls_cert = optarg;
            break;
        case O_TLS_KEY:
            a->cfg.tls_key = optarg;
            break;
        case O_AUTHSERV_ID:
            a->cfg.authserv_id = optarg;
            break;
        case O_PROTECT:
            oom = add_str(&a->cfg.protect, &a->cfg.nprotect, optarg);
            break;
        case O_OPERATOR:
            a->cfg.operator_domains = optarg;
            break;
        case O_ZONE:
            oom = add_str(&a->dns.zone_files, &a->dns.nzones, optarg);
            break;
        case O_DNS:
            a->dns.dns = optarg;
            break;
        case O_PSL:
            a->cfg.psl = optarg;
            break;
        case O_REPORTS_DB:
            a->cfg.reports_db = optarg;
            break;
        case O_REQUEST_TIMEOUT: {
            long long s;
            if (sg_cli_parse_num(optarg, 1, 3600, &s) != 0)
                return usage_error("--request-timeout takes seconds from 1 to 3600, not ", optarg);
            a->cfg.request_timeout = s;
            break;
        }
        case O_NOW:
            if (sg_cli_parse_num(optarg, 1, 253402300799LL, &now) != 0)
                return usage_error("--now takes Unix seconds", NULL);
            a->cfg.now = now;
            break;
        case O_HASH:
            a->hash = 1;
            break;
        case 'h':
        case O_HELP:
            usage(stdout);
            return SGV_EXIT_OK;
        case O_VERSION:
            printf("spoofguard-view %s\n", sg_version());
            return SGV_EXIT_OK;
        case ':':
            return usage_error("a value is missing after ", argv[optind - 1]);
        default:
            return usage_error("unknown option ", argv[optind - 1]);
        }
        if (oom) {
            fprintf(stderr, "spoofguard-view: out of memory\n");
            return SGV_EXIT_INTERNAL;
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument ", argv[optind]);
    if (a->hash)
        return -1;
    if (a->cfg.nmaildirs == 0)
        return usage_error("at least one --maildir is needed", NULL);
    if ((a->cfg.tls_cert == NULL) != (a->cfg.tls_key == NULL))
        return usage_error("--tls-cert and --tls-key go together", NULL);
    if (a->dns.nzones > 0 && a->dns.dns != NULL)
        return usage_error("--zone and --dns exclude each other", NULL);
    return -1;
}

static int serve(args *a)
{
    struct sockaddr_storage ss;
    unsigned sslen;
    int loopback, rc;
    char err[512] = "";
    char *cert = NULL, *key = NULL;
    sgv_app app = {0};
    sgv_http *http = NULL;
    sigset_t sigs;

    if (sgv_parse_listen(a->cfg.listen, &ss, &sslen, &loopback) != 0)
        return usage_error("--listen takes ADDR:PORT, e.g. 127.0.0.1:8025, not ", a->cfg.listen);
    /* beyond loopback, the mail and the password travel the network */
    if (!loopback && (a->cfg.tls_cert == NULL || a->cfg.password_file == NULL)) {
        fprintf(stderr,
                "spoofguard-view: refusing to listen on %s beyond loopback without TLS and a "
                "password file (--tls-cert, --tls-key, --password-file)\n",
                a->cfg.listen);
        return SGV_EXIT_USAGE;
    }
    for (size_t i = 0; i < a->cfg.nmaildirs; i++)
        if (!is_maildir(a->cfg.maildirs[i])) {
            fprintf(stderr, "spoofguard-view: %s: not a Maildir (no cur/ and new/)\n",
                    a->cfg.maildirs[i]);
            return SGV_EXIT_INPUT;
        }
    if (a->cfg.tls_cert != NULL) {
        if ((cert = read_file(a->cfg.tls_cert)) == NULL ||
            (key = read_file(a->cfg.tls_key)) == NULL) {
            fprintf(stderr, "spoofguard-view: cannot read %s: %s\n",
                    cert ? a->cfg.tls_key : a->cfg.tls_cert, strerror(errno));
            free(cert);
            return SGV_EXIT_INPUT;
        }
        app.tls = 1;
    }
    if (sgv_auth_new(&app.auth, a->cfg.password_file, err, sizeof(err)) != 0) {
        fprintf(stderr, "spoofguard-view: %s\n", err);
        rc = SGV_EXIT_INPUT;
        goto out;
    }
    if ((rc = sg_cli_dns_open(&a->dns)) != 0)
        goto out;
    if (sgv_index_new(&app.index, &a->cfg, a->dns.resolver, err, sizeof(err)) != 0) {
        fprintf(stderr, "spoofguard-view: %s\n", err);
        rc = SGV_EXIT_USAGE;
        goto out;
    }
    app.cfg = &a->cfg;

    /* every thread inherits the mask: SIGINT/SIGTERM reach sigwait only */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (sgv_index_start(app.index) != 0) {
        fprintf(stderr, "spoofguard-view: cannot start the index thread\n");
        rc = SGV_EXIT_INTERNAL;
        goto out;
    }
    if (sgv_http_start(&http, &app, cert, key, err, sizeof(err)) != 0) {
        fprintf(stderr, "spoofguard-view: %s\n", err);
        rc = SGV_EXIT_INTERNAL;
        goto out;
    }
    if (!sgv_auth_enabled(app.auth))
        fprintf(stderr,
                "spoofguard-view: warning: no --password-file: anyone who can reach "
                "%s reads this mail without logging in (loopback only)\n",
                a->cfg.listen);
    fprintf(stderr, "spoofguard-view: serving %s://%s/ (%zu Maildir%s)\n", cert ? "https" : "http",
            a->cfg.listen, a->cfg.nmaildirs, a->cfg.nmaildirs == 1 ? "" : "s");
    int sig;
    sigwait(&sigs, &sig);
    fprintf(stderr, "spoofguard-view: stopping (signal %d)\n", sig);
    rc = SGV_EXIT_OK;
out:
    sgv_http_stop(http);
    sgv_index_free(app.index);
    sg_cli_dns_close(&a->dns);
    sgv_auth_free(app.auth);
    if (key != NULL)
        explicit_bzero(key, strlen(key));
    free(key);
    free(cert);
    return rc;
}

int main(int argc, char **argv)
{
    args a;
    int rc;
    memset(&a, 0, sizeof(a));
    if ((rc = parse(&a, argc, argv)) < 0 && !a.hash && sg_crypto_init() != SG_OK) {
        /* before the first message can meet OpenSSL's own set-up failing */
        fprintf(stderr, "spoofguard-view: OpenSSL does not work here (start-up check failed)\n");
        rc = 4;
    } else if (rc < 0) {
        rc = a.hash ? hash_password() : serve(&a);
    }
    free(a.cfg.maildirs);
    free(a.cfg.protect);
    free(a.dns.zone_files);
    return rc;
}
