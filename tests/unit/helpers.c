#include "helpers.h"

#include "dkim/dkim_int.h"

#include <spoofguard/msg.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *sg_test_conformance_dir(void)
{
    const char *d = getenv("SG_CONFORMANCE_DIR");
    if (d == NULL || *d == '\0')
        d = getenv("SG_CONFORMANCE_DEFAULT");
    /* run by hand, outside ctest: the tree's own copy */
    return d && *d ? d : SG_CONFORMANCE_BUILTIN;
}

const char *sg_test_data_dir(void)
{
    const char *d = getenv("SG_TEST_DATA");
    return d ? d : "tests/data";
}

const char *sg_test_path(const char *dir, const char *rel)
{
    static char buf[4096];
    snprintf(buf, sizeof(buf), "%s/%s", dir, rel);
    return buf;
}

char *sg_test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0, r;
    if (f == NULL)
        return NULL;
    for (;;) {
        if (n + 65536 + 1 > cap) {
            char *nb;
            cap = (n + 65536 + 1) * 2;
            nb = realloc(buf, cap);
            if (nb == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        r = fread(buf + n, 1, 65536, f);
        n += r;
        if (r == 0)
            break;
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

void sg_test_tmp_store(char *path)
{
    int fd = mkstemp(path);
    if (fd < 0) {
        perror(path);
        abort();
    }
    close(fd);
    unlink(path);
}

void sg_test_rm_store(const char *path)
{
    char aux[4096];
    unlink(path);
    snprintf(aux, sizeof aux, "%s-wal", path);
    unlink(aux);
    snprintf(aux, sizeof aux, "%s-shm", path);
    unlink(aux);
}

struct arc_sign_job {
    sg_dkim_kind kind;
    uint8_t digest[32];
    int found, failed;
};

static int arc_sign_headers(const sg_header *f, size_t n, void *p)
{
    struct arc_sign_job *j = p;
    const char *name = j->kind == SG_SIG_AMS ? "ARC-Message-Signature" : "ARC-Seal";
    sg_arena *a;
    if (sg_arena_new(&a, 0) != 0) {
        j->failed = 1;
        return 0;
    }
    for (size_t i = 0; i < n && !j->failed; i++) {
        sg_dkim_sig sig;
        const char *reason;
        unsigned char used[64];
        if (!sg_header_is(&f[i], name))
            continue;
        j->found++;
        if (n > sizeof(used) ||
            sg_dkim_sig_parse(a, j->kind, f[i].raw, f[i].raw_len, &sig, &reason) != 0) {
            j->failed = 1;
        } else if (j->kind == SG_SIG_AMS) {
            j->failed = sg_dkim_header_digest(a, EVP_sha256(), &sig, f, n, i, used, j->digest) != 0;
        } else {
            EVP_MD_CTX *md = EVP_MD_CTX_new();
            unsigned int dlen = 0;
            j->failed = md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1;
            for (size_t k = 0; k < n && !j->failed; k++)
                if (sg_header_is(&f[k], "ARC-Authentication-Results"))
                    sg_canon_header(SG_CANON_RELAXED, f[k].raw, f[k].raw_len, 0, sg_dkim_md_sink,
                                    md);
            for (size_t k = 0; k < n && !j->failed; k++)
                if (sg_header_is(&f[k], "ARC-Message-Signature"))
                    sg_canon_header(SG_CANON_RELAXED, f[k].raw, f[k].raw_len, 0, sg_dkim_md_sink,
                                    md);
            if (!j->failed)
                j->failed = sg_dkim_hash_blanked(a, md, SG_CANON_RELAXED, f[i].raw, f[i].raw_len,
                                                 &sig) != 0 ||
                            EVP_DigestFinal_ex(md, j->digest, &dlen) != 1;
            EVP_MD_CTX_free(md);
        }
    }
    sg_arena_free(a);
    return 0;
}

char *sg_test_arc_sign_field(char *msg, int ams, EVP_PKEY *key)
{
    struct arc_sign_job j = {.kind = ams ? SG_SIG_AMS : SG_SIG_AS};
    sg_msg_callbacks cbs = {arc_sign_headers, NULL, NULL};
    sg_msg_parser *p = NULL;
    uint8_t sig[512];
    size_t siglen = sizeof(sig);
    char b64[800], *out = NULL;
    const char *field = strstr(msg, ams ? "ARC-Message-Signature:" : "ARC-Seal:");
    const char *at = field ? strstr(field, "b=AAAA") : NULL;
    if (at != NULL && sg_msg_parser_new(&p, NULL, &cbs, &j) == 0) {
        if (sg_msg_feed(p, msg, strlen(msg)) == 0 && sg_msg_finish(p) == 0 && j.found == 1 &&
            !j.failed && sg_dkim_crypto_sign(key, j.digest, sig, &siglen) == 0) {
            sg_dkim_b64_encode(sig, siglen, b64);
            at += 2;
            out = malloc(strlen(msg) + strlen(b64) + 1);
            if (out != NULL)
                sprintf(out, "%.*s%s%s", (int)(at - msg), msg, b64, at + 4);
        }
        sg_msg_parser_free(p);
    }
    free(msg);
    return out;
}
