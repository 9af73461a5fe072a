/*
 * DKIM signing keys: loading (PEM PKCS#1 / PKCS#8, Ed25519 seeds),
 * generation, writing, and the public key record.
 *
 * A PEM private key costs ~380 us to load and an RSA signature ~270 us
 * (PERFORMANCE.md), so keys are loaded once and reused for every message.
 */
#define _GNU_SOURCE /* O_TMPFILE, linkat */
#include "dkim_int.h"
#include "util/domain.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

/* A PEM RSA-8192 private key is ~6.5 KiB; anything much bigger is not a
 * key file. */
#define SIGNKEY_MAX_FILE (64 * 1024)
/* RFC 8301 3.2: signers MUST use RSA keys of at least 1024 bits. */
#define SIGNKEY_MIN_RSA_BITS 1024

struct sg_dkim_signkey {
    EVP_PKEY *pkey;
    sg_dkim_alg alg;
    unsigned bits;
};

static int wrap(sg_dkim_signkey **out, EVP_PKEY *pk)
{
    sg_dkim_signkey *k;
    int id = EVP_PKEY_get_base_id(pk);
    if (id != EVP_PKEY_RSA && id != EVP_PKEY_ED25519) {
        EVP_PKEY_free(pk);
        return SG_EUNSUPPORTED;
    }
    if (id == EVP_PKEY_RSA && (EVP_PKEY_get_bits(pk) < SIGNKEY_MIN_RSA_BITS ||
                               EVP_PKEY_get_bits(pk) > SG_DKIM_MAX_RSA_BITS)) {
        EVP_PKEY_free(pk);
        return SG_EUNSUPPORTED;
    }
    k = calloc(1, sizeof(*k));
    if (k == NULL) {
        EVP_PKEY_free(pk);
        return SG_ENOMEM;
    }
    k->pkey = pk;
    k->alg = id == EVP_PKEY_RSA ? SG_DKIM_RSA_SHA256 : SG_DKIM_ED25519_SHA256;
    k->bits = (unsigned)EVP_PKEY_get_bits(pk);
    *out = k;
    return SG_OK;
}

int sg_dkim_signkey_from_ed25519_seed(sg_dkim_signkey **out, const uint8_t seed[32])
{
    EVP_PKEY *pk;
    if (out == NULL || seed == NULL)
        return SG_EINVAL;
    *out = NULL;
    pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
    if (pk == NULL) {
        ERR_clear_error();
        return SG_ECRYPTO;
    }
    return wrap(out, pk);
}

/* Is this PEM text a passphrase-encrypted key (PKCS#8 "ENCRYPTED PRIVATE
 * KEY", or the legacy "Proc-Type: 4,ENCRYPTED" header of a PKCS#1 key)?
 * It is a private key, only one we cannot read: said so, not "not a PEM
 * private key" (adv26 CLI-10.2). */
static int pem_encrypted(const char *s, size_t len)
{
    static const char *const marks[] = {"-----BEGIN ENCRYPTED PRIVATE KEY-----",
                                        "Proc-Type: 4,ENCRYPTED"};
    for (size_t m = 0; m < sizeof(marks) / sizeof(marks[0]); m++) {
        size_t ml = strlen(marks[m]);
        for (size_t i = 0; i + ml <= len; i++)
            if (!memcmp(s + i, marks[m], ml))
                return 1;
    }
    return 0;
}

/* How many PEM private key blocks ("-----BEGIN ... PRIVATE KEY-----")
 * the text holds. OpenSSL reads the first and ignores the others, so a
 * file of two keys signed with one of them, silently (adv33 R5). */
static size_t pem_private_blocks(const char *s, size_t len)
{
    static const char begin[] = "-----BEGIN ", tail[] = "PRIVATE KEY-----";
    size_t n = 0;
    for (size_t i = 0; i + sizeof(begin) - 1 <= len; i++) {
        if (memcmp(s + i, begin, sizeof(begin) - 1) != 0)
            continue;
        const char *eol = memchr(s + i, '\n', len - i);
        size_t ll = eol ? (size_t)(eol - (s + i)) : len - i;
        if (memmem(s + i, ll, tail, sizeof(tail) - 1) != NULL)
            n++;
    }
    return n;
}

/* Is a 32-byte input text rather than a raw seed: PEM ("-----") or a line
 * of printable characters? A PEM file cut to 32 bytes, or a 31-character
 * line, loaded as an Ed25519 seed (adv33 R5); a random seed is such a
 * line once in about 2^50. */
static int looks_like_text(const char *s, size_t len)
{
    if (len >= 5 && !memcmp(s, "-----", 5))
        return 1;
    if (len == 0 || s[len - 1] != '\n')
        return 0;
    for (size_t i = 0; i + 1 < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 || c > 0x7e) && c != '\t' && c != '\r')
            return 0;
    }
    return 1;
}

/* Never prompt for a passphrase: encrypted keys are refused. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

int sg_dkim_signkey_from_mem(sg_dkim_signkey **out, const void *data, size_t len)
{
    const char *s = data;
    if (out == NULL || data == NULL)
        return SG_EINVAL;
    *out = NULL;
    if (len > SIGNKEY_MAX_FILE)
        return SG_ELIMIT;
    if (len == 32 && !looks_like_text(s, len)) /* a raw Ed25519 seed */
        return sg_dkim_signkey_from_ed25519_seed(out, data);
    if (pem_private_blocks(s, len) > 1)
        return SG_ESYNTAX;
    for (size_t i = 0; i + 10 <= len; i++)
        if (!memcmp(s + i, "-----BEGIN", 10)) {
            BIO *b = BIO_new_mem_buf(s, (int)len);
            EVP_PKEY *pk;
            if (b == NULL)
                return SG_ENOMEM;
            pk = PEM_read_bio_PrivateKey(b, NULL, no_password, NULL);
            BIO_free(b);
            if (pk == NULL) {
                ERR_clear_error();
                return pem_encrypted(s, len) ? SG_EUNSUPPORTED : SG_ESYNTAX;
            }
            return wrap(out, pk);
        }
    {
        /* base64 text of a 32-byte Ed25519 seed (dkimpy's key format) */
        uint8_t *raw = NULL;
        size_t n = 0;
        int rc = sg_dkim_b64_decode(NULL, s, len, &raw, &n);
        if (rc != 0)
            return rc;
        if (n != 32) {
            OPENSSL_cleanse(raw, n);
            free(raw);
            return SG_ESYNTAX;
        }
        rc = sg_dkim_signkey_from_ed25519_seed(out, raw);
        OPENSSL_cleanse(raw, n);
        free(raw);
        return rc;
    }
}

/* Does the file on fd carry an extended POSIX ACL (entries beyond the
 * owner, group and other ones the mode shows)? A named user's read
 * shows in the mode as the mask, in the group bits: "user:nobody:r" made
 * a key others read pass for 0640 (adv33 R2). 1 yes, 0 no (no ACL, or a
 * file system without them), -1 it could not be read (errno). */
static int extended_acl(int fd)
{
    /* struct posix_acl_xattr_header (4 bytes), then 8 bytes an entry */
    ssize_t n = fgetxattr(fd, "system.posix_acl_access", NULL, 0);
    if (n < 0)
        return errno == ENODATA || errno == ENOTSUP || errno == EOPNOTSUPP ? 0 : -1;
    return n > 4 + 3 * 8;
}

/* Links followed beneath a folder (SG_DKIM_KEY_BENEATH): a rotation's
 * current -> 2026 is one, a chain of two is rare; a loop stops here. */
#define SIGNKEY_BENEATH_HOPS 8

/* The key file path in dirfd, opened to read; with beneath, only beneath
 * dirfd (SG_DKIM_KEY_BENEATH). -1 and errno. */
static int open_key(int dirfd, const char *path, int beneath)
{
    /* O_NONBLOCK: a FIFO in a key's place would block the open (and the
     * signer's control thread) until a writer came; it is refused
     * afterwards as not a regular file */
    int oflags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
    if (!beneath)
        return openat(dirfd, path, oflags);
    /* Resolved here, a name at a time, not by openat2's RESOLVE_BENEATH:
     * a seccomp filter cannot read openat2's flags, so allowing it let a
     * confined process open for writing (rev24 R24-2). A name in dirfd
     * (no '/', never "." or "..") is opened without following a link; a
     * link is followed only to another such name, in the same folder.
     * Anything else is EACCES, as Landlock refuses the same link, so one
     * message names it whichever stopped it. */
    char name[NAME_MAX + 2], target[NAME_MAX + 2];
    size_t len = strlen(path);
    if (len == 0 || len > NAME_MAX || strchr(path, '/') != NULL || !strcmp(path, ".") ||
        !strcmp(path, "..")) {
        errno = EACCES;
        return -1;
    }
    memcpy(name, path, len + 1);
    for (int hop = 0; hop <= SIGNKEY_BENEATH_HOPS; hop++) {
        int fd = openat(dirfd, name, oflags | O_NOFOLLOW);
        if (fd >= 0 || errno != ELOOP)
            return fd;
        ssize_t n = readlinkat(dirfd, name, target, sizeof(target) - 1);
        if (n < 0)
            return -1;
        target[n] = '\0';
        if (n == 0 || (size_t)n > NAME_MAX || strchr(target, '/') != NULL || !strcmp(target, ".") ||
            !strcmp(target, "..")) {
            errno = EACCES;
            return -1;
        }
        memcpy(name, target, (size_t)n + 1);
    }
    errno = ELOOP;
    return -1;
}

int sg_dkim_signkey_load(sg_dkim_signkey **out, const char *path, unsigned flags, char *errbuf,
                         size_t errlen)
{
    return sg_dkim_signkey_loadat(out, AT_FDCWD, path, flags, errbuf, errlen);
}

int sg_dkim_signkey_loadat(sg_dkim_signkey **out, int dirfd, const char *path, unsigned flags,
                           char *errbuf, size_t errlen)
{
    struct stat st;
    char *buf;
    ssize_t r;
    size_t n = 0;
    int fd, rc;
    if (out == NULL || path == NULL)
        return SG_EINVAL;
    *out = NULL;
    if (errbuf && errlen)
        errbuf[0] = '\0';
    fd = open_key(dirfd, path, (flags & SG_DKIM_KEY_BENEATH) != 0);
    if (fd < 0) {
        if (errbuf)
            snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
        return SG_EIO;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (errbuf)
            snprintf(errbuf, errlen, "%s: not a regular file", path);
        close(fd);
        return SG_EIO;
    }
    /* A private key others can read is a leaked key; one others can write
     * is a replaceable key. Refuse both unless told otherwise. */
    mode_t denied = (flags & SG_DKIM_KEY_ALLOW_READABLE) ? 0
                    : (flags & SG_DKIM_KEY_ALLOW_GROUP_READABLE)
                        ? (mode_t)(S_IWGRP | S_IROTH | S_IWOTH)
                        : (mode_t)(S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH);
    if (st.st_mode & denied) {
        if (errbuf)
            snprintf(errbuf, errlen,
                     "%s: private key file is accessible by %s (mode %04o); "
                     "fix with: chmod 600 %s",
                     path,
                     (st.st_mode & denied & (S_IRGRP | S_IWGRP)) ? "group or others" : "others",
                     (unsigned)(st.st_mode & 07777), path);
        close(fd);
        return SG_EPERM;
    }
    if (!(flags & SG_DKIM_KEY_ALLOW_READABLE)) {
        int acl = extended_acl(fd);
        if (acl != 0) {
            if (errbuf) {
                if (acl > 0)
                    snprintf(errbuf, errlen,
                             "%s: private key file carries a POSIX ACL (users or groups beyond "
                             "its mode may read it); fix with: setfacl -b %s",
                             path, path);
                else
                    snprintf(errbuf, errlen, "%s: cannot read its ACL: %s", path, strerror(errno));
            }
            close(fd);
            return SG_EPERM;
        }
    }
    /* The owner can rewrite the key whatever its mode: only ourselves and
     * root are trusted with that (a key a service user owns is a key that
     * service can swap). */
    if (!(flags & SG_DKIM_KEY_ALLOW_ANY_OWNER) && st.st_uid != 0 &&
        ((flags & SG_DKIM_KEY_OWNER_ROOT) || st.st_uid != geteuid())) {
        unsigned long me = (unsigned long)geteuid();
        if (errbuf) {
            if (flags & SG_DKIM_KEY_OWNER_ROOT)
                snprintf(
                    errbuf, errlen,
                    "%s: private key file is owned by uid %lu, not root; fix with: chown root %s",
                    path, (unsigned long)st.st_uid, path);
            else
                snprintf(errbuf, errlen,
                         "%s: private key file is owned by uid %lu, not by us (uid %lu) or root; "
                         "fix with: chown %lu %s",
                         path, (unsigned long)st.st_uid, (unsigned long)me, (unsigned long)me,
                         path);
        }
        close(fd);
        return SG_EPERM;
    }
    if (st.st_size > SIGNKEY_MAX_FILE) {
        if (errbuf)
            snprintf(errbuf, errlen, "%s: too large for a key file", path);
        close(fd);
        return SG_ELIMIT;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        close(fd);
        return SG_ENOMEM;
    }
    while (n < (size_t)st.st_size && (r = read(fd, buf + n, (size_t)st.st_size - n)) > 0)
        n += (size_t)r;
    close(fd);
    rc = sg_dkim_signkey_from_mem(out, buf, n);
    int encrypted = rc == SG_EUNSUPPORTED && pem_encrypted(buf, n);
    int several = rc != 0 && pem_private_blocks(buf, n) > 1;
    OPENSSL_cleanse(buf, n);
    free(buf);
    if (rc != 0 && errbuf) {
        if (several)
            snprintf(errbuf, errlen,
                     "%s: more than one private key in the file: one key a file, the one to sign "
                     "with",
                     path);
        else if (encrypted)
            snprintf(errbuf, errlen,
                     "%s: an encrypted (passphrase-protected) key: encrypted keys are not "
                     "supported; decrypt it first (openssl pkey)",
                     path);
        else if (rc == SG_EUNSUPPORTED)
            /* the bounds wrap() enforces, both named */
            snprintf(errbuf, errlen,
                     "%s: unsupported key type or size (RSA of %d to %d bits, or Ed25519)", path,
                     SIGNKEY_MIN_RSA_BITS, SG_DKIM_MAX_RSA_BITS);
        else
            snprintf(errbuf, errlen, "%s: not a PEM private key or Ed25519 seed", path);
    }
    return rc;
}

int sg_dkim_signkey_generate(sg_dkim_signkey **out, sg_dkim_alg alg, unsigned bits)
{
    EVP_PKEY *pk;
    if (out == NULL)
        return SG_EINVAL;
    *out = NULL;
    if (alg == SG_DKIM_RSA_SHA256) {
        if (bits == 0)
            bits = 2048;
        if (bits < SIGNKEY_MIN_RSA_BITS || bits > SG_DKIM_MAX_RSA_BITS)
            return SG_EINVAL;
        pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
    } else if (alg == SG_DKIM_ED25519_SHA256) {
        pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    } else {
        return SG_EINVAL;
    }
    if (pk == NULL) {
        ERR_clear_error();
        return SG_ECRYPTO;
    }
    return wrap(out, pk);
}

void sg_dkim_signkey_free(sg_dkim_signkey *k)
{
    if (k == NULL)
        return;
    EVP_PKEY_free(k->pkey);
    free(k);
}

sg_dkim_alg sg_dkim_signkey_alg(const sg_dkim_signkey *k)
{
    return k ? k->alg : SG_DKIM_ALG_UNKNOWN;
}

unsigned sg_dkim_signkey_bits(const sg_dkim_signkey *k)
{
    return k ? k->bits : 0;
}

EVP_PKEY *sg_dkim_signkey_pkey(const sg_dkim_signkey *k)
{
    return k ? k->pkey : NULL;
}

int sg_dkim_signkey_sign_digest(const sg_dkim_signkey *k, const uint8_t digest[32], uint8_t *sig,
                                size_t *siglen)
{
    if (k == NULL || k->pkey == NULL || digest == NULL || sig == NULL || siglen == NULL ||
        *siglen < (size_t)EVP_PKEY_get_size(k->pkey))
        return SG_EINVAL;
    return sg_dkim_crypto_sign(k->pkey, digest, sig, siglen);
}

/* The n bytes of pem at path, which must not exist: through an unnamed
 * file (unnamed), else a named temporary. SG_OK, SG_EEXIST, SG_EIO, or
 * SG_ENOTFOUND when the unnamed way is not available here. */
static int put_whole(const char *dir, const char *path, const char *pem, long n, int unnamed)
{
    char tmp[4096], proc[64];
    int fd, rc = SG_OK, err = 0;
    if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return SG_EIO;
    }
    fd = unnamed ? open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600) : mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return unnamed ? SG_ENOTFOUND : SG_EIO;
    /* 0600 whatever the umask (0277 made it 0400: rev18) */
    if (fchmod(fd, 0600) != 0)
        rc = SG_EIO, err = errno;
    for (const char *p = pem; rc == SG_OK && n > 0;) {
        ssize_t w = write(fd, p, (size_t)n);
        if (w <= 0)
            rc = SG_EIO, err = w < 0 ? errno : ENOSPC;
        else
            p += w, n -= w;
    }
    if (rc == SG_OK && fsync(fd) != 0)
        rc = SG_EIO, err = errno;
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    if (rc == SG_OK && (unnamed ? linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW)
                                : link(tmp, path)) != 0) {
        err = errno;
        rc = err == EEXIST ? SG_EEXIST : unnamed ? SG_ENOTFOUND : SG_EIO;
    }
    if (close(fd) != 0 && rc == SG_OK)
        rc = SG_EIO, err = errno;
    if (!unnamed)
        unlink(tmp);
    /* SG_EIO's cause for the caller, past the unlink of a temporary that
     * may be gone (ENOENT) */
    errno = err;
    return rc;
}

int sg_dkim_signkey_write(const sg_dkim_signkey *k, const char *path)
{
    BIO *b;
    char *pem;
    long n;
    int fd, rc = SG_OK;
    if (k == NULL || path == NULL)
        return SG_EINVAL;
    b = BIO_new(BIO_s_mem());
    if (b == NULL)
        return SG_ENOMEM;
    if (PEM_write_bio_PrivateKey(b, k->pkey, NULL, NULL, 0, NULL, NULL) != 1) {
        BIO_free(b);
        ERR_clear_error();
        return SG_ECRYPTO;
    }
    n = BIO_get_mem_data(b, &pem);
    /* Written whole into a file with no name (O_TMPFILE), then linked to
     * path: linking never replaces a file (a key at path may be the one in
     * DNS today), and a crash leaves path absent or a whole key, never a
     * cut one a re-run refuses to overwrite (adv19 F14), nor a whole key
     * under a name nothing looks at (rev17). Where there is no O_TMPFILE,
     * or no /proc to link it through (rev18: keygen failed), a named
     * temporary beside path does the same but for that last. */
    char dir[4096];
    const char *slash = strrchr(path, '/');
    snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) + (slash == path) : 1,
             slash ? path : ".");
    rc = put_whole(dir, path, pem, n, 1);
    if (rc == SG_ENOTFOUND)
        rc = put_whole(dir, path, pem, n, 0);
    int err = errno;
    if (rc == SG_OK) { /* the new name durable with the folder */
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) {
            (void)fsync(fd);
            close(fd);
        }
    }
    (void)BIO_set_close(b, BIO_CLOSE);
    OPENSSL_cleanse(pem, (size_t)n);
    BIO_free(b);
    errno = err; /* SG_EIO: see errno (common.h) */
    return rc;
}

int sg_dkim_signkey_record(const sg_dkim_signkey *k, char **out)
{
    unsigned char *der = NULL, raw[32];
    size_t dlen;
    char *rec;
    int len;
    if (k == NULL || out == NULL)
        return SG_EINVAL;
    *out = NULL;
    if (k->alg == SG_DKIM_ED25519_SHA256) {
        dlen = sizeof(raw);
        if (EVP_PKEY_get_raw_public_key(k->pkey, raw, &dlen) != 1)
            return SG_ECRYPTO;
        der = raw;
    } else {
        len = i2d_PUBKEY(k->pkey, &der); /* SubjectPublicKeyInfo (3.6.1) */
        if (len <= 0)
            return SG_ECRYPTO;
        dlen = (size_t)len;
    }
    rec = malloc(32 + 4 * ((dlen + 2) / 3) + 1);
    if (rec != NULL) {
        int off =
            sprintf(rec, "v=DKIM1; k=%s; p=", k->alg == SG_DKIM_ED25519_SHA256 ? "ed25519" : "rsa");
        sg_dkim_b64_encode(der, dlen, rec + off);
    }
    if (der != raw)
        OPENSSL_free(der);
    if (rec == NULL)
        return SG_ENOMEM;
    *out = rec;
    return SG_OK;
}

/* RFC 1035 3.3: a character-string is at most 255 octets. */
#define TXT_STRING_MAX 255

int sg_dkim_zone_txt(char **out, const char *domain, const char *selector, const char *record)
{
    size_t rl, dl, cap, off = 0;
    char *z;
    if (out == NULL || domain == NULL || selector == NULL || record == NULL)
        return SG_EINVAL;
    *out = NULL;
    /* the owner name goes into zone text as it is: a space, a quote or a
     * "../" would make another name or another record of it */
    dl = strlen(domain);
    if (dl > 0 && domain[dl - 1] == '.')
        dl--;
    if (!sg_dkim_name_ok(selector) || !sg_domain_syntax_ok(domain, dl, SG_DOMAIN_HOSTCHARS))
        return SG_EINVAL;
    rl = strlen(record);
    for (size_t i = 0; i < rl; i++)
        if (record[i] == '"' || record[i] == '\\' || (unsigned char)record[i] < 0x20)
            return SG_EINVAL; /* key records never need escaping */
    cap = strlen(domain) + strlen(selector) + rl + (rl / TXT_STRING_MAX + 1) * 8 + 64;
    z = malloc(cap);
    if (z == NULL)
        return SG_ENOMEM;
    off += (size_t)snprintf(z + off, cap - off, "%s._domainkey.%s%s\tIN\tTXT\t( ", selector, domain,
                            domain[0] && domain[strlen(domain) - 1] == '.' ? "" : ".");
    for (size_t i = 0; i < rl || i == 0; i += TXT_STRING_MAX) {
        size_t n = rl - i < TXT_STRING_MAX ? rl - i : TXT_STRING_MAX;
        off +=
            (size_t)snprintf(z + off, cap - off, "%s\"%.*s\"", i ? "\n\t" : "", (int)n, record + i);
        if (rl == 0)
            break;
    }
    snprintf(z + off, cap - off, " )\n");
    *out = z;
    return SG_OK;
}
