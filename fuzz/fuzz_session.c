/* libFuzzer: a whole spoofguardd milter session (src/daemon/session*.c)
 * on any bytes, as an MTA, or anyone who reaches the milter socket, could
 * send them: the packet reader, the session's state machine, the verdict
 * with DNS answered from a zone, the Authentication-Results and the
 * replies, all on one libuv loop as a worker runs them. The input is the
 * byte stream of one connection, written into a socketpair while the loop
 * runs; the replies are read and thrown away.
 *
 * Outbound abuse detection is on, on the in-memory store, with a sender
 * map: an authenticated login (or a client in 10.0.0.0/8) is judged as
 * spoofguardd judges it, a From it does not own is refused and noted, and
 * an authentic delivery-status report from outside feeds the bounce
 * counts of the account that owns its recipient.
 *
 * Outbound mail of ours.test is DKIM-signed (an Ed25519 key made at
 * start, a KeyTable and SigningTable in a temporary folder): the signer
 * process is forked once, as spoofguardd forks it, and the session asks
 * it for signatures over its channel, so the signing path (the digests,
 * the signer's answers, the header fields inserted) runs on every input
 * that is outbound.
 *
 * DMARC report collection is on, with failure reports (src/daemon/
 * reportcollect.c): every inbound verdict is counted for the aggregate
 * reports, and a failing one at bank.test (ruf=, fo=1) queues a redacted
 * failure report made from the header fields the session kept, in an
 * SQLite store in a temporary folder, flushed by the collector's thread
 * every second while the inputs run.
 *
 * The input is written as an MTA writes it: up to the end of a message
 * (EOM), then nothing more until the answer to it (an accept, continue,
 * reject, tempfail, discard or reply code) is back, or 200 ms have passed;
 * a signed message's answer waits for the signer's.
 *
 * Invariants: no crash, no leak, no sanitizer report; the session ends
 * (the worker's `closed` callback runs once) after the peer's end of
 * stream. An input still running after 5 s has its stream ended for it,
 * and a session still open 10 s later is a hang: abort() (libFuzzer's
 * -timeout alone let one spin for minutes). Seeds: whole connections as
 * Postfix sends them (fuzz/seeds/make_session_seeds.py). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <uv.h>

#include <spoofguard/dkim.h>
#include <spoofguard/dns.h>
#include <spoofguard/spf.h>

#include "config.h"
#include "metrics.h"
#include "outbound.h"
#include "policy.h"
#include "reportcollect.h"
#include "session.h"
#include "session_env.h"
#include "signer_client.h"
#include "uvdns.h"
#include "verdict_pool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What the zone answers: a domain with p=reject, one with p=none, SPF for
 * both, and a protected domain. */
static const char zone_text[] =
    "$ORIGIN test.\n"
    "$TTL 300\n"
    "bank IN TXT \"v=spf1 ip4:192.0.2.0/24 -all\"\n"
    "_dmarc.bank IN TXT \"v=DMARC1; p=reject; rua=mailto:r@bank.test; ruf=mailto:f@bank.test; "
    "fo=1\"\n"
    "lax IN TXT \"v=spf1 ip4:198.51.100.0/24 ~all\"\n"
    "_dmarc.lax IN TXT \"v=DMARC1; p=none\"\n"
    "mx.ours IN A 192.0.2.1\n";

/* Who may send as what (sender_map): boss owns every address of ours.test,
 * so reports that come back to them are boss's. */
static const char sender_map_text[] = "boss @ours.test\n"
                                      "alice alice@ours.test\n";

static struct {
    int ready;
    uv_loop_t loop;
    sg_zone *zone;
    sg_resolver *resolver;
    sg_uvdns *uvdns;
    sg_dkim_keycache *keycache;
    sg_spf_cache *spf_cache;
    sg_vpool vpool;
    sg_metrics metrics;
    sg_logger log;
    sg_policy *pol;
    sg_obd_shared obsh;
    sg_obd obd;
    sg_rcollect *reports;
    int *signer_fds;
    pid_t signer_pid;
    sg_signer_client *signer;
    char dir[32]; /* the report store's folder, the key and its tables */
    sg_session_env env;
    char readbuf[64 * 1024];
    int closed;
} G;

static void on_closed(void *payload)
{
    (void)payload;
    G.closed++;
}

/* libFuzzer ends with exit(): the collector's last flush, then the
 * store's files and folder go */
static void teardown(void)
{
    char path[64];
    sg_rcollect_free(G.reports);
    G.reports = NULL;
    /* the control channel closed: the signer exits (the worker's channel
     * goes with the process) */
    sg_signer_stop(G.signer_fds, 0, G.signer_pid);
    G.signer_fds = NULL;
    if (getenv("FUZZ_SESSION_KEEP")) { /* to check what a seed collected */
        fprintf(stderr, "fuzz_session: the report store is kept in %s\n", G.dir);
        return;
    }
    static const char *const files[] = {
        "reports.db", "reports.db-journal", "reports.db-wal", "reports.db-shm",
        "fz.key",     "KeyTable",           "SigningTable"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", G.dir, files[i]);
        unlink(path);
    }
    rmdir(G.dir);
}

/* text into dir/name, mode 0600 */
static int write_file(const char *name, const char *text)
{
    char path[96];
    snprintf(path, sizeof(path), "%s/%s", G.dir, name);
    FILE *f = fopen(path, "wx");
    if (f == NULL)
        return -1;
    int bad = fchmod(fileno(f), 0600) != 0 || fputs(text, f) == EOF;
    return fclose(f) != 0 || bad ? -1 : 0;
}

/* An Ed25519 key (cheap to sign with on every input) and the tables that
 * sign every address of ours.test with it. */
static int signing_files(sg_config *cfg)
{
    char path[96], line[160];
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    snprintf(path, sizeof(path), "%s/fz.key", G.dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    int bad = k == NULL || f == NULL || !PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
    EVP_PKEY_free(k);
    if (f != NULL)
        bad |= fclose(f) != 0;
    else if (fd >= 0)
        close(fd);
    snprintf(line, sizeof(line), "fz ours.test:fz:%s\n", path);
    if (bad || write_file("KeyTable", line) != 0 ||
        write_file("SigningTable", "*@ours.test fz\n") != 0)
        return -1;
    snprintf(path, sizeof(path), "%s/KeyTable", G.dir);
    cfg->key_table = strdup(path);
    snprintf(path, sizeof(path), "%s/SigningTable", G.dir);
    cfg->signing_table = strdup(path);
    return cfg->key_table == NULL || cfg->signing_table == NULL ? -1 : 0;
}

static int setup(void)
{
    sg_config cfg;
    char err[512];
    snprintf(G.dir, sizeof(G.dir), "/tmp/fuzz_session.XXXXXX");
    if (mkdtemp(G.dir) == NULL)
        return -1;
    atexit(teardown);
    if (uv_loop_init(&G.loop) != 0 || sg_zone_new(&G.zone) != 0)
        return -1;
    size_t line = 0;
    if (sg_zone_load_text(G.zone, zone_text, sizeof(zone_text) - 1, "test.", &line) != 0 ||
        sg_resolver_new_zone(&G.resolver, G.zone) != 0 ||
        sg_uvdns_new(&G.uvdns, &G.loop, G.resolver) != 0 ||
        sg_dkim_keycache_new(&G.keycache, 0) != 0 || sg_spf_cache_new(&G.spf_cache, 64) != 0 ||
        sg_metrics_init(&G.metrics, 1, "fuzz", 0) != 0)
        return -1;
    sg_vpool_init(&G.vpool, &G.loop);
    if (sg_config_defaults(&cfg) != 0)
        return -1;
    free(cfg.authserv_id);
    cfg.authserv_id = strdup("mx.ours.test");
    cfg.protected_domains = calloc(1, sizeof(char *));
    if (cfg.protected_domains == NULL || cfg.authserv_id == NULL ||
        (cfg.protected_domains[0] = strdup("ours.test")) == NULL)
        return -1;
    cfg.n_protected_domains = 1;
    /* the sender map from memory, read through its /proc path as a file */
    int mfd = memfd_create("senders", MFD_CLOEXEC);
    char mpath[64];
    if (mfd < 0 || write(mfd, sender_map_text, sizeof(sender_map_text) - 1) !=
                       (ssize_t)(sizeof(sender_map_text) - 1))
        return -1;
    snprintf(mpath, sizeof(mpath), "/proc/self/fd/%d", mfd);
    free(cfg.outbound_store);
    cfg.outbound = 1;
    cfg.outbound_store = strdup("memory:");
    cfg.sender_map = strdup(mpath);
    free(cfg.internal_networks); /* the default's loopback */
    cfg.internal_networks = calloc(1, sizeof(sg_cidr));
    if (cfg.outbound_store == NULL || cfg.sender_map == NULL || cfg.internal_networks == NULL ||
        sg_cidr_parse("10.0.0.0/8", &cfg.internal_networks[0]) != 0)
        return -1;
    cfg.n_internal_networks = 1;
    cfg.failure_reports = 1;
    /* a wait for an answer that does not come ends within seconds, not
     * the default minute (the input's deadline below counts on it) */
    cfg.message_timeout_s = 2;
    if (signing_files(&cfg) != 0)
        return -1;
    if (sg_policy_build(&G.pol, &cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz_session: policy: %s\n", err);
        return -1;
    }
    close(mfd);
    char warn[512];
    if (sg_signer_start(&G.pol->cfg, G.pol->maps, 1, &G.signer_fds, &G.signer_pid, warn,
                        sizeof(warn), err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz_session: signer: %s\n", err);
        return -1;
    }
    if (sg_signer_client_new(&G.signer, &G.loop, G.signer_fds[1]) != 0)
        return -1;
    G.signer_fds[1] = -1; /* the client's now */
    /* the log lines, to check a seed: FUZZ_SESSION_DUMP */
    G.log.fd = getenv("FUZZ_SESSION_DUMP") ? 2 : open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (sg_obd_shared_init(&G.obsh, &G.pol->cfg, err, sizeof(err)) != 0 ||
        sg_obd_init(&G.obd, &G.obsh, &G.loop, &G.log, &G.metrics.shards[0], err, sizeof(err)) !=
            0) {
        fprintf(stderr, "fuzz_session: outbound: %s\n", err);
        return -1;
    }
    char db[64];
    snprintf(db, sizeof(db), "%s/reports.db", G.dir);
    if (sg_rcollect_new(&G.reports, db, 1, 256, 1, err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz_session: reports: %s\n", err);
        return -1;
    }
    sg_rcollect_failures_on(G.reports);
    /* libFuzzer's -timeout is a SIGALRM it ignores unless the fuzzing
     * thread takes it: the collector's thread must not (a hanging input
     * spun for minutes, unreported) */
    sigset_t alrm, old;
    sigemptyset(&alrm);
    sigaddset(&alrm, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &alrm, &old);
    int started = sg_rcollect_start(G.reports);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (started != 0)
        return -1;
    G.env = (sg_session_env){
        .loop = &G.loop,
        .is_unix = 1, /* a socketpair: the session opens it as a pipe */
        .log = &G.log,
        .metrics = &G.metrics.shards[0],
        .resolver = G.resolver,
        .keycache = G.keycache,
        .spf_cache = G.spf_cache,
        .vpool = &G.vpool,
        .signer = G.signer,
        .obd = &G.obd,
        .readbuf = G.readbuf,
        .readbuf_size = sizeof(G.readbuf),
        .closed = on_closed,
        .reports = G.reports,
    };
    return 0;
}

/* Where the next end-of-message packet from off ends, read with the
 * milter's framing (a 4-byte length, then the command): *eom 1; or size
 * (*eom 0) when there is none, or the framing breaks first. */
static size_t next_eom_end(const uint8_t *d, size_t size, size_t off, int *eom)
{
    *eom = 0;
    while (size - off >= 5) {
        size_t len =
            (size_t)d[off] << 24 | (size_t)d[off + 1] << 16 | (size_t)d[off + 2] << 8 | d[off + 3];
        if (len == 0 || len > size - off - 4)
            break;
        off += 4 + len;
        if (d[off - len] == 'E') {
            *eom = 1;
            return off;
        }
    }
    return size;
}

/* The replies' framing, across reads: the header bytes so far, then the
 * body bytes still to skip. */
typedef struct {
    uint8_t hdr[5];
    size_t have, skip;
} reply_reader;

/* How many final answers (SMFIR_ACCEPT, CONTINUE, REJECT, TEMPFAIL,
 * DISCARD, REPLYCODE) p[0..n) completes. */
static int count_finals(reply_reader *r, const char *p, size_t n)
{
    int finals = 0;
    for (size_t i = 0; i < n;) {
        if (r->skip) {
            size_t k = r->skip < n - i ? r->skip : n - i;
            r->skip -= k;
            i += k;
            continue;
        }
        r->hdr[r->have++] = (uint8_t)p[i++];
        if (r->have == 5) {
            size_t len = (size_t)r->hdr[0] << 24 | (size_t)r->hdr[1] << 16 |
                         (size_t)r->hdr[2] << 8 | r->hdr[3];
            finals += memchr("acrtdy", r->hdr[4], 6) != NULL;
            r->skip = len ? len - 1 : 0;
            r->have = 0;
        }
    }
    return finals;
}

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!G.ready) {
        if (setup() != 0)
            abort();
        G.ready = 1;
    }
    if (size > 1 << 20)
        return 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) != 0)
        return 0;
    /* each input from an empty outbound store: counts and blocks of one
     * input must not steer the next (a crash must replay from its input) */
    char err[256];
    sg_obd_shared_free(&G.obsh);
    if (sg_obd_shared_init(&G.obsh, &G.pol->cfg, err, sizeof(err)) != 0)
        abort();
    G.closed = 0;
    sg_session_accept(&G.env, sg_policy_ref(G.pol), 0, 1, sv[0]);
    int eom, waiting = 0;
    size_t off = 0, limit = next_eom_end(data, size, 0, &eom);
    int eof_sent = 0, settle = 0;
    long long since = 0, t0 = now_ms();
    reply_reader rr = {0};
    char sink[65536];
    /* feed, drain, turn the loop; a session that never ends is a hang
     * libFuzzer's -timeout reports */
    while (!G.closed) {
        if (off < limit) {
            ssize_t n = write(sv[1], data + off, limit - off);
            if (n > 0)
                off += (size_t)n;
            else if (n < 0 && errno != EAGAIN)
                off = limit = size, eom = 0; /* the session closed its end */
            if (off == limit && eom)
                waiting = 1, since = now_ms();
        }
        /* an MTA waits for the answer to end-of-message before it goes:
         * let the verdict's DNS (answered from the zone on the loop's
         * next turns) finish before the end of stream */
        if (off == size && !waiting && !eof_sent && ++settle > 64) {
            shutdown(sv[1], SHUT_WR);
            eof_sent = 1;
        }
        ssize_t got;
        while ((got = read(sv[1], sink, sizeof(sink))) > 0) {
            if (getenv("FUZZ_SESSION_DUMP")) /* the replies, to check a seed */
                fwrite(sink, 1, (size_t)got, stderr);
            if (count_finals(&rr, sink, (size_t)got) > 0)
                waiting = 0;
        }
        if (waiting && now_ms() - since > 200)
            waiting = 0;
        long long ran = now_ms() - t0;
        if (ran > 5000 && !eof_sent) {
            shutdown(sv[1], SHUT_WR);
            eof_sent = 1;
            off = limit = size;
            waiting = 0;
        }
        if (ran > 15000) {
            fprintf(stderr, "fuzz_session: the session is still open 10 s after its input "
                            "ended\n");
            abort();
        }
        if (!waiting && off == limit && limit < size)
            limit = next_eom_end(data, size, off, &eom);
        uv_run(&G.loop, UV_RUN_NOWAIT);
    }
    if (G.closed != 1)
        abort();
    close(sv[1]);
    return 0;
}
