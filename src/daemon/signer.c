/*
 * The signer process (signer.h): start-up, confinement, and the request
 * loop. Nothing here reads network bytes: the only input is the daemon's
 * requests, decoded by signer_proto.c.
 */
#define _GNU_SOURCE
#include "signer.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/landlock.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spoofguard/dkim.h>

#include "maps.h"
#include "signer_proto.h"

/* How long spawn waits for the signer's first message. */
#define READY_TIMEOUT_MS 10000

typedef struct {
    char *path;
    sg_dkim_signkey *key;
} skey;

typedef struct {
    skey *v;
    size_t n, cap;
} ktable;

typedef struct {
    const sg_signer_spec *spec;
    char **dirs; /* the folders opened at start, and their descriptors */
    int *dirfds;
    size_t ndirs;
    /* the KeyTable: its folder's descriptor (-1: none configured at
     * start) and name there; listed: the keys it named at the last 'B',
     * the only paths an 'L' may load */
    int ktdir;
    char *ktname;
    sg_maps *listed;
    /* serving: the last committed table; previous: the one before, for
     * the sessions that began before a reload and still sign with it */
    ktable serving, previous, next;
    int building; /* 'B' seen, 'C' not yet (control thread only) */
    /* started as root: keys must be root's (the user it runs as, who may
     * be nobody, must not own one) */
    int root_keys;
    pthread_rwlock_t lock; /* serving and previous: signers read, 'C' writes */
} signer;

/* One thread per channel: a worker's requests never wait for another's. */
typedef struct {
    signer *g;
    int fd;
    int control;
    pthread_barrier_t *started; /* the filter waits for every thread's start */
} channel;

/* ---- key folders ------------------------------------------------------------ */

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

char **sg_signer_dirs(const char *const *paths, size_t n, size_t *ndirs)
{
    char **d = calloc(n ? n : 1, sizeof(*d));
    *ndirs = 0;
    if (d == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        char *x = dir_of(paths[i]);
        size_t k;
        if (x == NULL) {
            sg_signer_dirs_free(d, *ndirs);
            return NULL;
        }
        for (k = 0; k < *ndirs && strcmp(d[k], x) != 0; k++)
            ;
        if (k < *ndirs)
            free(x);
        else
            d[(*ndirs)++] = x;
    }
    return d;
}

void sg_signer_dirs_free(char **dirs, size_t n)
{
    for (size_t i = 0; dirs && i < n; i++)
        free(dirs[i]);
    free(dirs);
}

/* ---- key tables ----------------------------------------------------------------- */

static void ktable_clear(ktable *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i].path);
        sg_dkim_signkey_free(t->v[i].key);
    }
    free(t->v);
    memset(t, 0, sizeof(*t));
}

static const sg_dkim_signkey *ktable_find(const ktable *t, const char *id, size_t len)
{
    for (size_t i = 0; i < t->n; i++)
        if (strlen(t->v[i].path) == len && memcmp(t->v[i].path, id, len) == 0)
            return t->v[i].key;
    return NULL;
}

/* A reason for the log: printable ASCII, bounded. */
static size_t reason(char *out, size_t cap, const char *in)
{
    size_t n = 0;
    for (; in[n] && n + 1 < cap && n < SG_SP_MAX_REASON; n++)
        out[n] = (unsigned char)in[n] >= 0x20 && (unsigned char)in[n] <= 0x7e ? in[n] : '?';
    out[n] = '\0';
    return n;
}

/* Why the link base in the folder dirfd did not load, into out: the
 * target of the chain missing (named, printable, bounded), or a link the
 * signer cannot follow (SG_DKIM_KEY_BENEATH's rule: only to a name in the
 * same folder). */
static void link_hint(int dirfd, const char *base, char *out, size_t cap)
{
    char t[256], cur[256], shown[128];
    struct stat ts;
    int missing = 0, follows = 1;
    snprintf(cur, sizeof(cur), "%.255s", base);
    for (int hop = 0; hop < 8 && follows && !missing; hop++) {
        ssize_t n = readlinkat(dirfd, cur, t, sizeof(t) - 1);
        t[n > 0 ? n : 0] = '\0';
        follows = n > 0 && (size_t)n < sizeof(t) - 1 && strchr(t, '/') == NULL &&
                  strcmp(t, ".") != 0 && strcmp(t, "..") != 0;
        if (!follows)
            break;
        if (fstatat(dirfd, t, &ts, AT_SYMLINK_NOFOLLOW) != 0)
            missing = errno == ENOENT;
        else if (!S_ISLNK(ts.st_mode))
            break;
        memcpy(cur, t, sizeof(cur));
    }
    if (follows && missing) {
        size_t i = 0;
        for (; t[i] && i + 4 < sizeof(shown); i++)
            shown[i] = (unsigned char)t[i] >= 0x20 && (unsigned char)t[i] <= 0x7e ? t[i] : '?';
        if (t[i])
            shown[i++] = '.', shown[i++] = '.', shown[i++] = '.';
        shown[i] = '\0';
        snprintf(out, cap, " (a symbolic link to %s, which is missing in the key folder)", shown);
        return;
    }
    snprintf(out, cap,
             " (a symbolic link the signer cannot follow: only relative links to "
             "files in the same key folder work)");
}

/* Load path into the table being built: through the descriptor of its
 * folder, which must be one opened at start. */
static uint8_t load(signer *g, const char *path, char *why, size_t whylen, sg_dkim_alg *alg,
                    unsigned *bits)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t k, nl = 0;
    sg_map_key *listed = g->listed ? sg_maps_keys(g->listed, &nl) : NULL;
    for (k = 0; k < nl && strcmp(listed[k].path, path) != 0; k++)
        ;
    if (k == nl) {
        if (g->ktdir < 0)
            snprintf(why, whylen, "%.300s: no key_table when spoofguardd started: restart it",
                     path);
        else
            snprintf(why, whylen, "%.300s: not in %.300s as the signer reads it: refused", path,
                     g->spec->key_table);
        return SG_SP_ELOAD;
    }
    char *dir = dir_of(path);
    if (dir == NULL)
        return SG_SP_ENOMEM;
    for (k = 0; k < g->ndirs && strcmp(g->dirs[k], dir) != 0; k++)
        ;
    free(dir);
    if (k == g->ndirs) {
        snprintf(why, whylen,
                 "%.300s: its folder was not open when spoofguardd started: restart it", path);
        return SG_SP_EDIR;
    }
    if (*base == '\0' || !strcmp(base, ".") || !strcmp(base, "..")) {
        snprintf(why, whylen, "%.300s: not a key file name", path);
        return SG_SP_ELOAD;
    }
    if (g->next.n == g->next.cap) {
        size_t nc = g->next.cap ? g->next.cap * 2 : 16;
        skey *v = realloc(g->next.v, nc * sizeof(*v));
        if (v == NULL)
            return SG_SP_ENOMEM;
        g->next.v = v;
        g->next.cap = nc;
    }
    /* Whatever allow_group_readable_keys says, a key any local user can
     * read is no longer a secret, and one its group can write is not ours.
     * The library checks mode and owner on the descriptor it reads, so a
     * link (followed) is judged by the file it reaches. */
    sg_dkim_signkey *key = NULL;
    char kerr[512] = "";
    /* beneath the folder: a link out of it is refused even where
     * Landlock is not there to refuse it (a kernel without it, a system
     * call filter refusing it: adv36 F1) */
    unsigned flags = (g->spec->allow_group_readable ? SG_DKIM_KEY_ALLOW_GROUP_READABLE : 0) |
                     (g->root_keys ? SG_DKIM_KEY_OWNER_ROOT : 0) | SG_DKIM_KEY_BENEATH;
    int rc = sg_dkim_signkey_loadat(&key, g->dirfds[k], base, flags, kerr, sizeof(kerr));
    if (rc != 0) {
        /* a link the signer cannot follow (absolute, into a subfolder
         * or out of the folder: SG_DKIM_KEY_BENEATH, Landlock, its empty
         * root)
         * reads "No such file" or "Permission denied" otherwise, of a
         * file the administrator can see; a relative link in the folder
         * whose target is missing is only dangling, and blaming the link
         * sent the administrator the wrong way (adv33 R4) */
        char hint[320] = "";
        struct stat ls;
        if (rc == SG_EIO && fstatat(g->dirfds[k], base, &ls, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISLNK(ls.st_mode))
            link_hint(g->dirfds[k], base, hint, sizeof(hint));
        snprintf(why, whylen, "%.300s: %.300s%s", path, kerr[0] ? kerr : sg_strerror(rc), hint);
        return SG_SP_ELOAD;
    }
    char *p = strdup(path);
    if (p == NULL) {
        sg_dkim_signkey_free(key);
        return SG_SP_ENOMEM;
    }
    g->next.v[g->next.n].path = p;
    g->next.v[g->next.n].key = key;
    g->next.n++;
    *alg = sg_dkim_signkey_alg(key);
    *bits = sg_dkim_signkey_bits(key);
    return SG_SP_OK;
}

/* ---- the KeyTable ------------------------------------------------------------------ */

/* The KeyTable's folder, opened at start for the reads at each 'B'. The
 * file as it really is: a link to a table in another folder (shared with
 * OpenDKIM, placed by configuration management) was outside what Landlock
 * lets the signer read (rev22 F1); a link retargeted later is read where
 * it pointed at start. Landlock lets a compromised signer read every file
 * beneath that folder, with root's CAP_DAC_READ_SEARCH: `/` and `/etc`
 * (a relative key_table beside /etc/spoofguardd.conf) would open
 * /etc/shadow to it, and are refused (rev22 F5). */
static const char *owner_problem(const struct stat *st, int root_keys)
{
    if (st->st_uid != 0 && (root_keys || st->st_uid != geteuid()))
        return "owned by another user";
    return (st->st_mode & 022) != 0 ? "group- or world-writable" : NULL;
}

/* The folder dir on the way to the KeyTable, whose entry name is taken
 * next: NULL, or why whoever else can write it could swap that entry.
 * A sticky folder others can write (/tmp) is safe for an entry of root's
 * (or ours, when not started as root): only its owner may rename or
 * delete it. */
static const char *way_problem(const char *dir, const char *name, int root_keys)
{
    struct stat st, es;
    char e[PATH_MAX];
    if (stat(dir, &st) != 0)
        return NULL; /* realpath() in kt_open says why */
    const char *p = owner_problem(&st, root_keys);
    int dir_ours = st.st_uid == 0 || (!root_keys && st.st_uid == geteuid());
    if (p == NULL || !dir_ours || !(st.st_mode & S_ISVTX))
        return p;
    int w = snprintf(e, sizeof(e), "%s/%s", strcmp(dir, "/") ? dir : "", name);
    if (w >= 0 && (size_t)w < sizeof(e) && lstat(e, &es) == 0 &&
        (es.st_uid == 0 || (!root_keys && es.st_uid == geteuid())))
        return NULL;
    return "sticky, others may write it, and its entry is owned by another user";
}

/* Whoever can write a folder on the way to the table (a link's, or one
 * above it) re-points or swaps what comes next, and the next start reads
 * the table it names: every folder of the configured path, and of each
 * link's target joined to the rest of the path, is held to the table's
 * rule, taken lexically, a component at a time, restarting at each link
 * (rev23 R23-6; a directory link was followed unchecked: rev24 R24-3). */
static const char *kt_links_problem(const char *key_table, char *why, size_t whylen)
{
    char cur[PATH_MAX], next[PATH_MAX], dir[PATH_MAX], target[PATH_MAX];
    int root_keys = geteuid() == 0, w;
    if (key_table[0] == '/')
        w = snprintf(cur, sizeof(cur), "%s", key_table);
    else if (getcwd(dir, sizeof(dir)) != NULL)
        w = snprintf(cur, sizeof(cur), "%s/%s", dir, key_table);
    else
        return NULL; /* realpath() says why */
    if (w < 0 || (size_t)w >= sizeof(cur))
        return NULL;
    for (int hop = 0; hop < 40; hop++) {
        const char *c = cur;
        int link = 0;
        strcpy(dir, "/");
        while (!link) {
            while (*c == '/')
                c++;
            if (*c == '\0')
                return NULL; /* the table itself: kt_trusted judges it */
            size_t len = strcspn(c, "/");
            char name[NAME_MAX + 1];
            if (len > NAME_MAX)
                return NULL;
            memcpy(name, c, len);
            name[len] = '\0';
            c += len;
            const char *sep = strcmp(dir, "/") ? "/" : "";
            char entry[PATH_MAX];
            w = snprintf(entry, sizeof(entry), "%s%s%s", dir, sep, name);
            if (w < 0 || (size_t)w >= sizeof(entry))
                return NULL;
            struct stat st;
            /* "." and ".." name no entry another user could swap */
            int dots = !strcmp(name, ".") || !strcmp(name, "..");
            const char *p = dots ? NULL : way_problem(dir, name, root_keys);
            link = !dots && lstat(entry, &st) == 0 && S_ISLNK(st.st_mode);
            if (p != NULL) {
                if (link)
                    snprintf(why, whylen,
                             "the link %.200s is in a folder %s: whoever can write it chooses "
                             "the table, and with it the keys the signer loads",
                             entry, p);
                else
                    snprintf(why, whylen,
                             "the folder %.200s on the way to it is %s: whoever can write it "
                             "chooses the table, and with it the keys the signer loads",
                             dir, p);
                return why;
            }
            if (!link) {
                memcpy(dir, entry, (size_t)w + 1);
                continue;
            }
            ssize_t n = readlink(entry, target, sizeof(target) - 1);
            if (n < 0)
                return NULL;
            target[n] = '\0';
            w = target[0] == '/' ? snprintf(next, sizeof(next), "%s%s", target, c)
                                 : snprintf(next, sizeof(next), "%s%s%s%s", dir, sep, target, c);
            if (w < 0 || (size_t)w >= sizeof(next))
                return NULL;
        }
        memcpy(cur, next, sizeof(cur));
    }
    return NULL; /* a loop: realpath() says so */
}

static int kt_open(signer *g, char *err, size_t errlen)
{
    char *real = realpath(g->spec->key_table, NULL);
    char *kd = real ? dir_of(real) : NULL;
    char lwhy[512];
    const char *why = NULL;
    if (real == NULL)
        why = strerror(errno);
    else if (kd == NULL)
        why = "out of memory";
    else if (!strcmp(kd, "/") || !strcmp(kd, "/etc"))
        why = "the signer may read every file of its folder: put it in a folder of its own, "
              "such as /etc/spoofguard";
    else if ((g->ktdir = open(kd, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        why = strerror(errno);
    else if ((g->ktname = strdup(strrchr(real, '/') + 1)) == NULL)
        why = "out of memory";
    if (why == NULL)
        why = kt_links_problem(g->spec->key_table, lwhy, sizeof(lwhy));
    if (why != NULL)
        snprintf(err, errlen, "signer: key_table %s: %.400s", g->spec->key_table, why);
    free(kd);
    free(real);
    return why == NULL ? 0 : -1;
}

/* Whoever can change the KeyTable chooses the keys the signer loads: the
 * table and its folder are held to what a key is (root's, or ours when not
 * started as root; never group- or world-writable). A table the milter's
 * user could write let a compromised milter name a TLS key of a key folder
 * (rev22 F4). */
static int kt_trusted(const signer *g, char *why, size_t whylen)
{
    struct stat st;
    for (int f = 0; f < 2; f++) {
        int rc = f ? fstatat(g->ktdir, g->ktname, &st, 0) : fstat(g->ktdir, &st);
        const char *what = f ? "the KeyTable" : "the KeyTable's folder";
        if (rc != 0) {
            snprintf(why, whylen, "%.300s: %s", g->spec->key_table, strerror(errno));
            return -1;
        }
        const char *p = owner_problem(&st, g->root_keys);
        if (p != NULL) {
            snprintf(why, whylen,
                     "%.300s: %s is %s: whoever can change it chooses the keys the signer "
                     "loads (owned by %s, not group- or world-writable)",
                     g->spec->key_table, what, p,
                     g->root_keys ? "root" : "root or spoofguardd's user");
            return -1;
        }
    }
    return 0;
}

/* ---- requests ------------------------------------------------------------------- */

/* Answer one request datagram into out; returns the answer's length. */
static size_t handle(signer *g, int control, const uint8_t *in, size_t len, uint8_t *out,
                     size_t cap)
{
    uint8_t sigs[SG_SP_MAX_ITEMS][SG_SP_MAX_SIG];
    sg_sp_request rq;
    sg_sp_answer a;
    char why[SG_SP_MAX_REASON + 1] = "", path[SG_SP_MAX_KEYID + 1];
    memset(&a, 0, sizeof(a));
    /* key tables come from the control channel only, signing requests
     * from the workers' */
    if (sg_sp_decode_request(in, len, &rq) != 0 || (rq.type == SG_SP_SIGN) == control) {
        /* an id we cannot trust: the daemon matches none and fails safe */
        a.type = SG_SP_SIGNED;
        a.id = len >= 5
                   ? (uint32_t)in[1] << 24 | (uint32_t)in[2] << 16 | (uint32_t)in[3] << 8 | in[4]
                   : 0;
        a.status = SG_SP_EREQUEST;
        return sg_sp_encode_answer(out, cap, &a);
    }
    a.type = (uint8_t)(rq.type - 'A' + 'a');
    a.id = rq.id;
    switch (rq.type) {
    case SG_SP_SIGN:
        a.n = rq.n;
        pthread_rwlock_rdlock(&g->lock);
        for (size_t i = 0; i < rq.n && a.status == SG_SP_OK; i++) {
            const sg_sp_item *it = &rq.items[i];
            const sg_dkim_signkey *k = ktable_find(&g->serving, it->keyid, it->keyid_len);
            if (k == NULL)
                k = ktable_find(&g->previous, it->keyid, it->keyid_len);
            a.siglen[i] = sizeof(sigs[i]);
            a.sig[i] = sigs[i];
            if (k == NULL || (uint8_t)sg_dkim_signkey_alg(k) != it->alg)
                a.status = SG_SP_ENOKEY;
            else if (sg_dkim_signkey_sign_digest(k, it->digest, sigs[i], &a.siglen[i]) != 0)
                a.status = SG_SP_ECRYPTO;
        }
        pthread_rwlock_unlock(&g->lock);
        break;
    case SG_SP_BEGIN: {
        char full[1024] = "";
        ktable_clear(&g->next);
        sg_maps_free(g->listed);
        g->listed = NULL;
        g->building = 0;
        /* no key_table at start: an empty table, every 'L' refused */
        if (g->ktdir >= 0 &&
            (kt_trusted(g, full, sizeof(full)) != 0 ||
             sg_maps_load_key_table_at(&g->listed, g->ktdir, g->ktname, g->spec->key_table, full,
                                       sizeof(full)) != 0)) {
            a.status = SG_SP_ELOAD;
        } else {
            g->building = 1;
        }
        if (a.status != SG_SP_OK) {
            a.reason_len = reason(why, sizeof(why), full[0] ? full : "cannot read the KeyTable");
            a.reason = why;
        }
        break;
    }
    case SG_SP_LOAD: {
        sg_dkim_alg alg = SG_DKIM_ALG_UNKNOWN;
        if (!g->building) {
            a.status = SG_SP_ESTATE;
            break;
        }
        memcpy(path, rq.items[0].keyid, rq.items[0].keyid_len);
        path[rq.items[0].keyid_len] = '\0';
        char full[1024];
        a.status = load(g, path, full, sizeof(full), &alg, &a.bits);
        a.alg = (uint8_t)alg;
        if (a.status != SG_SP_OK) {
            a.reason_len = reason(why, sizeof(why), full[0] ? full : "cannot load the key");
            a.reason = why;
        }
        break;
    }
    case SG_SP_COMMIT:
        if (!g->building) {
            a.status = SG_SP_ESTATE;
            break;
        }
        pthread_rwlock_wrlock(&g->lock);
        ktable_clear(&g->previous);
        g->previous = g->serving;
        g->serving = g->next;
        pthread_rwlock_unlock(&g->lock);
        memset(&g->next, 0, sizeof(g->next));
        g->building = 0;
        break;
    }
    return sg_sp_encode_answer(out, cap, &a);
}

/* ---- confinement ---------------------------------------------------------------- */

/* From here on the signer may read and write its sockets, poll them,
 * allocate memory, and read a key file through a folder descriptor;
 * any other system call kills it. */
static int seccomp_on(char *err, size_t errlen)
{
#ifdef SG_NO_SIGNER_SECCOMP
    (void)err, (void)errlen;
    fprintf(stderr, "spoofguardd: signer: built without its seccomp filter (for valgrind only)\n");
    return 0;
#endif
    scmp_filter_ctx f = seccomp_init(SCMP_ACT_KILL_PROCESS);
    static const int allow[] = {
        /* its sockets */
        SCMP_SYS(read),
        SCMP_SYS(write),
        SCMP_SYS(recvfrom),
        SCMP_SYS(sendto),
        SCMP_SYS(recvmmsg),
        SCMP_SYS(sendmmsg),
        SCMP_SYS(poll),
        SCMP_SYS(ppoll),
        SCMP_SYS(close),
        /* memory, locks, randomness (OpenSSL), time */
        SCMP_SYS(brk),
        SCMP_SYS(munmap),
        SCMP_SYS(mremap),
        SCMP_SYS(madvise),
        SCMP_SYS(futex),
        SCMP_SYS(getrandom),
        SCMP_SYS(clock_gettime),
        SCMP_SYS(gettimeofday),
        SCMP_SYS(getpid),
        /* reading a key file through a folder descriptor */
        SCMP_SYS(fstat),
        SCMP_SYS(newfstatat),
        SCMP_SYS(lseek),
        /* a key link's target: followed when it is a name in the same
         * folder (SG_DKIM_KEY_BENEATH), named when it did not load */
        SCMP_SYS(readlinkat),
        /* whose key it is: ours or root's; no ACL on it
         * (sg_dkim_signkey_loadat) */
        SCMP_SYS(geteuid),
        SCMP_SYS(fgetxattr),
        /* ending a thread (a sanitizer's runtime drops its signal stack
         * there) or the process */
        SCMP_SYS(sigaltstack),
        SCMP_SYS(exit),
        SCMP_SYS(exit_group),
        SCMP_SYS(rt_sigreturn),
        SCMP_SYS(rt_sigprocmask),
    };
    int rc = f == NULL ? -ENOMEM : 0;
    /* every thread (they exist already), not only this one */
    if (rc == 0)
        rc = seccomp_attr_set(f, SCMP_FLTATR_CTL_TSYNC, 1);
    for (size_t i = 0; rc == 0 && i < sizeof(allow) / sizeof(*allow); i++)
        rc = seccomp_rule_add(f, SCMP_ACT_ALLOW, allow[i], 0);
    /* memory, never executable */
    if (rc == 0)
        rc = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
                              SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
    if (rc == 0)
        rc = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
                              SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
    /* fdopen (the KeyTable's lines) asks the descriptor's flags */
    if (rc == 0)
        rc = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1,
                              SCMP_A1(SCMP_CMP_EQ, F_GETFL, 0));
    /* key files: read-only, never created. No openat2: its flags are in
     * a struct, out of the filter's sight, so without Landlock it opened
     * for writing (rev24 R24-2); keys stay beneath their folder with
     * openat's O_NOFOLLOW and readlinkat (SG_DKIM_KEY_BENEATH) */
    if (rc == 0)
        rc = seccomp_rule_add(
            f, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
            SCMP_A2(SCMP_CMP_MASKED_EQ, O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND | O_TMPFILE, 0));
    if (rc == 0)
        rc = seccomp_load(f);
    if (f)
        seccomp_release(f);
    if (rc != 0)
        snprintf(err, errlen, "signer: seccomp: %s", strerror(-rc));
    return rc != 0 ? -1 : 0;
}

/* Keep only CAP_DAC_READ_SEARCH, to re-read the (root-only) keys of the
 * folders it holds on SIGHUP. */
static int keep_read_search(void)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof(d));
    d[0].effective = d[0].permitted = 1u << CAP_DAC_READ_SEARCH;
    return (int)syscall(SYS_capset, &h, d);
}

/* Root (when started as root) is an empty folder that no longer exists:
 * nothing can be created in it, nothing is reachable through it. */
static int confine_creds(signer *g, char *err, size_t errlen)
{
    if (geteuid() == 0) {
        g->root_keys = 1;
        struct passwd *pw = getpwnam(g->spec->user ? g->spec->user : "nobody");
        char tmpl[] = "/tmp/spoofguard-signer.XXXXXX";
        if (pw == NULL || pw->pw_uid == 0) {
            snprintf(err, errlen, "signer: no unprivileged user '%s'",
                     g->spec->user ? g->spec->user : "nobody");
            return -1;
        }
        if (mkdtemp(tmpl) == NULL || chdir(tmpl) != 0 || rmdir(tmpl) != 0 || chroot(".") != 0 ||
            chdir("/") != 0) {
            snprintf(err, errlen, "signer: empty root %s: %s", tmpl, strerror(errno));
            return -1;
        }
        if (prctl(PR_SET_KEEPCAPS, 1) != 0 || setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 ||
            setuid(pw->pw_uid) != 0 || keep_read_search() != 0 || prctl(PR_SET_KEEPCAPS, 0) != 0) {
            snprintf(err, errlen, "signer: cannot become '%s': %s", pw->pw_name, strerror(errno));
            return -1;
        }
        if (setuid(0) == 0) {
            snprintf(err, errlen, "signer: privileges not dropped");
            return -1;
        }
    }
    /* no ptrace, no /proc/PID/mem, no core file, even for its own uid */
    if (prctl(PR_SET_DUMPABLE, 0) != 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        snprintf(err, errlen, "signer: prctl: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* The descriptors of the key folders were opened outside the empty root,
 * so a compromised signer could walk up from them (openat(dir, "../..")),
 * and a key that is a symbolic link could lead anywhere. Landlock (Linux
 * 5.13) leaves it reading files beneath those folders and nothing else,
 * for this thread and those it starts. 1 applied; 0 not applied: the
 * kernel has none (the rest of the confinement stands), or it is refused
 * to us, said in warn; -1 an error. */
static int landlock_on(const signer *g, char *warn, size_t warnlen, char *err, size_t errlen)
{
    struct landlock_ruleset_attr attr = {
        .handled_access_fs = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |
                             LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR |
                             LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |
                             LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR |
                             LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK |
                             LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
                             LANDLOCK_ACCESS_FS_MAKE_SYM,
    };
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    /* only these two come from a kernel without Landlock (not built in,
     * or off at boot) */
    if (abi < 0 && (errno == ENOSYS || errno == EOPNOTSUPP))
        return 0;
    /* anything else is a system call filter answering for the kernel:
     * the packaged unit's did (EPERM), and the signer ran without Landlock
     * with nothing said (adv36 F1). It still starts, as on a kernel
     * without Landlock (the keys themselves are opened beneath their
     * folder either way); a host whose filter is the reason says so. */
    if (abi < 1) {
        snprintf(
            warn, warnlen,
            "signer: Landlock refused (%s: a system call filter?); without it a compromised "
            "signer could read any file through its key folders: allow landlock_create_ruleset, "
            "landlock_add_rule, landlock_restrict_self",
            abi < 0 ? strerror(errno) : "no ABI version");
        return 0;
    }
#ifdef LANDLOCK_ACCESS_FS_REFER
    if (abi >= 2)
        attr.handled_access_fs |= LANDLOCK_ACCESS_FS_REFER;
#endif
#ifdef LANDLOCK_ACCESS_FS_TRUNCATE
    if (abi >= 3)
        attr.handled_access_fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
#endif
    int rs = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
    if (rs < 0) {
        snprintf(err, errlen, "signer: landlock: %s", strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < g->ndirs; i++) {
        struct landlock_path_beneath_attr pb = {
            .allowed_access = LANDLOCK_ACCESS_FS_READ_FILE,
            .parent_fd = g->dirfds[i],
        };
        if (syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) != 0) {
            snprintf(err, errlen, "signer: landlock: %s: %s", g->dirs[i], strerror(errno));
            close(rs);
            return -1;
        }
    }
    /* the KeyTable's folder: read at each 'B' (files beneath it become
     * readable to a compromised signer: docs/spoofguardd.md advises a
     * folder of the configuration's own) */
    if (g->ktdir >= 0) {
        struct landlock_path_beneath_attr pb = {
            .allowed_access = LANDLOCK_ACCESS_FS_READ_FILE,
            .parent_fd = g->ktdir,
        };
        if (syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) != 0) {
            snprintf(err, errlen, "signer: landlock: %s: %s", g->spec->key_table, strerror(errno));
            close(rs);
            return -1;
        }
    }
    int rc = (int)syscall(SYS_landlock_restrict_self, rs, 0);
    close(rs);
    if (rc != 0) {
        snprintf(err, errlen, "signer: landlock: %s", strerror(errno));
        return -1;
    }
    return 1;
}

/* ---- the process ------------------------------------------------------------------ */

/* The first message: err, why the start failed; or NULL, ready, with warn
 * ("": none) for the daemon's log. */
static void send_ready(int fd, const char *err, const char *warn)
{
    uint8_t buf[512];
    char why[SG_SP_MAX_REASON + 1];
    sg_sp_answer a;
    memset(&a, 0, sizeof(a));
    a.type = SG_SP_READY;
    if (err)
        a.status = SG_SP_ELOAD;
    a.reason_len = reason(why, sizeof(why), err ? err : warn);
    a.reason = why;
    size_t n = sg_sp_encode_answer(buf, sizeof(buf), &a);
    if (n)
        (void)send(fd, buf, n, MSG_NOSIGNAL);
}

/* Close every descriptor but stdio and keep[] (the daemon's listening
 * socket, log and metrics socket stay out of the signer). */
static void close_others(const int *keep, size_t n)
{
    int lo = 3;
    for (;;) {
        int next = -1;
        for (size_t i = 0; i < n; i++)
            if (keep[i] >= lo && (next < 0 || keep[i] < next))
                next = keep[i];
        if (next < 0) {
            close_range((unsigned)lo, ~0u, 0);
            return;
        }
        if (next > lo)
            close_range((unsigned)lo, (unsigned)next - 1, 0);
        lo = next + 1;
    }
}

/* Datagrams per recvmmsg / sendmmsg: the requests a worker sent while
 * this thread was signing are read, signed and answered in one pass, so
 * the worker is woken once for them all. */
#define BATCH 16

typedef struct {
    struct mmsghdr in[BATCH], out[BATCH];
    struct iovec iin[BATCH], iout[BATCH];
    uint8_t inb[BATCH][SG_SP_MAX_MSG], outb[BATCH][SG_SP_MAX_MSG];
} batch;

/* Send the answers out[0..n) in order; -1 if the channel broke. */
static int send_all(int fd, batch *b, size_t n)
{
    size_t done = 0;
    while (done < n) {
        int w = sendmmsg(fd, b->out + done, (unsigned)(n - done), MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        done += (size_t)w;
    }
    return 0;
}

/* A channel's requests, a batch at a time (whatever has come, at least
 * one). A worker's channel closing ends its thread; the control channel
 * closing (the daemon is gone) ends the process. */
static void *serve(void *arg)
{
    channel *c = arg;
    batch *b = malloc(sizeof(*b));
    /* a new thread's own start-up calls (rseq, robust list, a sanitizer's
     * signal stack...) are done: the filter may come */
    if (!c->control)
        pthread_barrier_wait(c->started);
    while (b != NULL) {
        for (size_t i = 0; i < BATCH; i++) {
            b->iin[i] = (struct iovec){b->inb[i], sizeof(b->inb[i])};
            memset(&b->in[i], 0, sizeof(b->in[i]));
            b->in[i].msg_hdr.msg_iov = &b->iin[i];
            b->in[i].msg_hdr.msg_iovlen = 1;
        }
        int r = recvmmsg(c->fd, b->in, BATCH, MSG_WAITFORONE | MSG_TRUNC, NULL);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        size_t n = 0;
        int end = 0;
        for (int i = 0; i < r; i++) {
            size_t len = b->in[i].msg_len;
            if (len == 0) { /* end of file */
                end = 1;
                break;
            }
            if (len > sizeof(b->inb[i]) || (b->in[i].msg_hdr.msg_flags & MSG_TRUNC))
                len = 0; /* too long: answered as a bad request */
            size_t a = handle(c->g, c->control, b->inb[i], len, b->outb[n], sizeof(b->outb[n]));
            if (a == 0)
                continue;
            b->iout[n] = (struct iovec){b->outb[n], a};
            memset(&b->out[n], 0, sizeof(b->out[n]));
            b->out[n].msg_hdr.msg_iov = &b->iout[n];
            b->out[n].msg_hdr.msg_iovlen = 1;
            n++;
        }
        if (send_all(c->fd, b, n) != 0 || end)
            break;
    }
    free(b);
    if (c->control)
        _exit(0);
    return NULL;
}

static void child(const sg_signer_spec *spec, const int *fds, size_t nchan)
{
    signer g;
    char err[512], warn[SG_SP_MAX_REASON + 1] = "";
    memset(&g, 0, sizeof(g));
    g.spec = spec;
    /* the daemon's death ends us too; the signals meant for it (systemd
     * sends SIGTERM to the whole unit, a terminal SIGINT to the group) do
     * not: it drains its sessions, which may still need signatures, and
     * its exit closes the control channel, which ends us */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    signal(SIGHUP, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    /* the daemon forks us with its start-up mask (main.c): ignored here,
     * the signals need no blocking, and would only wait pending */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    close_others(fds, nchan);
    g.dirs = (char **)spec->dirs;
    g.ndirs = spec->ndirs;
    g.dirfds = calloc(g.ndirs ? g.ndirs : 1, sizeof(int));
    if (g.dirfds == NULL) {
        send_ready(fds[0], "signer: out of memory", NULL);
        _exit(1);
    }
    for (size_t i = 0; i < g.ndirs; i++)
        if ((g.dirfds[i] = open(g.dirs[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
            snprintf(err, sizeof(err), "signer: key folder %s: %s", g.dirs[i], strerror(errno));
            send_ready(fds[0], err, NULL);
            _exit(1);
        }
    g.ktdir = -1;
    if (spec->key_table != NULL && kt_open(&g, err, sizeof(err)) != 0) {
        send_ready(fds[0], err, NULL);
        _exit(1);
    }
    if (confine_creds(&g, err, sizeof(err)) != 0 ||
        landlock_on(&g, warn, sizeof(warn), err, sizeof(err)) < 0) {
        send_ready(fds[0], err, NULL);
        _exit(1);
    }
    /* the threads take the credentials set above; the filter, loaded
     * after them, covers them all */
    channel *ch = calloc(nchan, sizeof(*ch));
    pthread_barrier_t started;
    pthread_rwlock_init(&g.lock, NULL);
    pthread_barrier_init(&started, NULL, (unsigned)nchan);
    for (size_t i = 0; ch && i < nchan; i++)
        ch[i] = (channel){&g, fds[i], i == 0, &started};
    for (size_t i = 1; ch && i < nchan; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, serve, &ch[i]) != 0 || pthread_detach(t) != 0) {
            send_ready(fds[0], "signer: cannot start its threads", NULL);
            _exit(1);
        }
    }
    if (ch != NULL)
        pthread_barrier_wait(&started);
    if (ch == NULL || seccomp_on(err, sizeof(err)) != 0) {
        send_ready(fds[0], ch ? err : "signer: out of memory", NULL);
        _exit(1);
    }
    send_ready(fds[0], NULL, warn);
    serve(&ch[0]);
    _exit(0);
}

int sg_signer_spawn(const sg_signer_spec *spec, int *fds, size_t nchan, pid_t *pid, char *warn,
                    size_t warnlen, char *err, size_t errlen)
{
    int *theirs = calloc(nchan ? nchan : 1, sizeof(int));
    size_t made = 0;
    *pid = -1;
    if (warnlen)
        warn[0] = '\0';
    if (theirs == NULL || nchan == 0) {
        free(theirs);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (; made < nchan; made++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
            snprintf(err, errlen, "signer: socketpair: %s", strerror(errno));
            goto fail;
        }
        fds[made] = sv[0];
        theirs[made] = sv[1];
    }
    fflush(NULL);
    *pid = fork();
    if (*pid < 0) {
        snprintf(err, errlen, "signer: fork: %s", strerror(errno));
        goto fail;
    }
    if (*pid == 0) {
        for (size_t i = 0; i < nchan; i++)
            close(fds[i]);
        child(spec, theirs, nchan);
    }
    for (size_t i = 0; i < nchan; i++)
        close(theirs[i]);
    free(theirs);
    theirs = NULL;
    made = nchan;

    /* its first message: ready, or why not */
    struct pollfd p = {fds[0], POLLIN, 0};
    uint8_t buf[SG_SP_MAX_MSG];
    sg_sp_answer a;
    ssize_t r = poll(&p, 1, READY_TIMEOUT_MS) == 1 ? recv(fds[0], buf, sizeof(buf), 0) : -1;
    if (r <= 0 || sg_sp_decode_answer(buf, (size_t)r, &a) != 0 || a.type != SG_SP_READY) {
        snprintf(err, errlen, "signer: did not start");
        goto fail;
    }
    if (a.status != SG_SP_OK) {
        snprintf(err, errlen, "%.*s", (int)a.reason_len, a.reason);
        goto fail;
    }
    if (warnlen)
        snprintf(warn, warnlen, "%.*s", (int)a.reason_len, a.reason);
    return 0;
fail:
    if (*pid > 0) {
        kill(*pid, SIGKILL);
        waitpid(*pid, NULL, 0);
        *pid = -1;
    }
    for (size_t i = 0; i < made; i++) {
        close(fds[i]);
        fds[i] = -1;
        if (theirs)
            close(theirs[i]);
    }
    free(theirs);
    return -1;
}
