/*
 * Interop peer on libopendkim (OpenDKIM 2.11's C library), for
 * tests/scripts/dkim_interop.sh. Compiled by that script:
 *   cc -o opendkim_peer opendkim_peer.c $(pkg-config --cflags --libs opendkim)
 *
 *   opendkim_peer sign ALG CANON KEYFILE SELECTOR DOMAIN < MSG > SIGNED
 *       ALG rsa-sha256 | ed25519-sha256, CANON header/body
 *       writes "DKIM-Signature: ..." then the message
 *   opendkim_peer verify KEYS < MSG
 *       KEYS: lines "selector._domainkey.domain record" (DKIM_QUERY_FILE);
 *       prints pass, fail or the library's status text for the message
 *
 * Keys are looked up only in KEYS: no DNS. The message is read whole (the
 * test messages are small) and given to dkim_chunk(). Give it CRLF
 * input: libopendkim answers "Syntax error" for some LF-only messages
 * with folded header fields (seen with delivered Maildir files).
 */
#include <opendkim/dkim.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char *slurp(FILE *f, size_t *len)
{
    size_t cap = 1 << 16, n = 0, r;
    unsigned char *b = malloc(cap + 1);
    while (b && (r = fread(b + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            cap *= 2;
            b = realloc(b, cap + 1);
        }
    }
    if (b == NULL)
        exit(4);
    b[n] = '\0';
    *len = n;
    return b;
}

static dkim_canon_t canon(const char *s)
{
    return strncmp(s, "relaxed", 7) == 0 ? DKIM_CANON_RELAXED : DKIM_CANON_SIMPLE;
}

int main(int argc, char **argv)
{
    DKIM_LIB *lib;
    DKIM *d;
    DKIM_STAT st;
    size_t len;
    unsigned char *msg;
    dkim_query_t q = DKIM_QUERY_FILE;

    if (argc < 3)
        return 2;
    lib = dkim_init(NULL, NULL);
    if (lib == NULL)
        return 4;
    msg = slurp(stdin, &len);
    if (!strcmp(argv[1], "sign") && argc == 7) {
        FILE *kf = fopen(argv[4], "r");
        size_t klen;
        unsigned char *key, *hdr = NULL;
        size_t hlen = 0;
        const char *slash = strchr(argv[3], '/');
        dkim_alg_t alg =
            strcmp(argv[2], "ed25519-sha256") ? DKIM_SIGN_RSASHA256 : DKIM_SIGN_ED25519SHA256;
        if (kf == NULL)
            return 3;
        key = slurp(kf, &klen);
        fclose(kf);
        d = dkim_sign(lib, (const unsigned char *)"peer", NULL, (dkim_sigkey_t)key,
                      (const unsigned char *)argv[5], (const unsigned char *)argv[6],
                      canon(argv[3]), slash ? canon(slash + 1) : DKIM_CANON_SIMPLE, alg, -1L, &st);
        if (d == NULL || st != DKIM_STAT_OK) {
            fprintf(stderr, "dkim_sign: %s\n", dkim_getresultstr(st));
            return 4;
        }
        if ((st = dkim_chunk(d, msg, len)) != DKIM_STAT_OK ||
            (st = dkim_chunk(d, NULL, 0)) != DKIM_STAT_OK ||
            (st = dkim_eom(d, NULL)) != DKIM_STAT_OK ||
            (st = dkim_getsighdr_d(d, strlen(DKIM_SIGNHEADER ": "), &hdr, &hlen)) != DKIM_STAT_OK) {
            fprintf(stderr, "sign: %s (%s)\n", dkim_getresultstr(st), dkim_geterror(d));
            return 4;
        }
        printf("%s: %s\r\n", DKIM_SIGNHEADER, hdr);
        fwrite(msg, 1, len, stdout);
        dkim_free(d);
    } else if (!strcmp(argv[1], "verify") && argc == 3) {
        dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_QUERYMETHOD, &q, sizeof(q));
        dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_QUERYINFO, argv[2], strlen(argv[2]));
        d = dkim_verify(lib, (const unsigned char *)"peer", NULL, &st);
        if (d == NULL)
            return 4;
        st = dkim_chunk(d, msg, len);
        if (st == DKIM_STAT_OK)
            st = dkim_chunk(d, NULL, 0);
        if (st == DKIM_STAT_OK)
            st = dkim_eom(d, NULL);
        if (st == DKIM_STAT_OK)
            printf("pass\n");
        else if (st == DKIM_STAT_BADSIG)
            printf("fail\n");
        else
            printf("%s\n", dkim_getresultstr(st));
        dkim_free(d);
    } else {
        return 2;
    }
    dkim_close(lib);
    free(msg);
    return 0;
}
