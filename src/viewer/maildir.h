/*
 * Reading Maildirs (new/ and cur/; tmp/ is the deliverer's) for
 * spoofguard-view. The viewer never writes to them.
 *
 * A message's ID is the hex of a SHA-256 over the Maildir's index on the
 * command line and the file's unique name (the name before ":2,"), so it
 * stays the same when the file moves from new/ to cur/ or its flags
 * change. File names are whatever a deliverer wrote: names starting with
 * a dot are skipped, files are opened relative to their folder with
 * O_NOFOLLOW (a symbolic link is never followed, in or out of the
 * Maildir), anything but a regular file is skipped, and at most
 * SGV_MAX_MESSAGE bytes of a file are read.
 */
#ifndef SG_VIEWER_MAILDIR_H
#define SG_VIEWER_MAILDIR_H

#include <stddef.h>

#define SGV_ID_LEN 24                  /* hex characters (96 bits) */
#define SGV_MAX_MESSAGE (32u << 20)    /* bytes read from one file */
#define SGV_MAX_FILES_PER_DIR 1000000u /* entries of new/ or cur/ looked at */

enum { SGV_SUB_NEW = 0, SGV_SUB_CUR = 1 };

typedef struct {
    char id[SGV_ID_LEN + 1];
    char *name; /* the file name in its folder */
    int sub;    /* SGV_SUB_NEW or SGV_SUB_CUR */
    long long size;
    long long mtime; /* nanoseconds */
} sgv_mentry;

typedef struct {
    sgv_mentry *v;
    size_t n, cap;
} sgv_mlist;

/* The change stamps of new/ and cur/ (their mtimes and ctimes). */
typedef struct {
    long long t[4];
    int ok;
} sgv_mstamp;

/* The ID of unique[0..len) in Maildir number index. */
void sgv_maildir_id(unsigned index, const char *unique, size_t len, char out[SGV_ID_LEN + 1]);

/* The stamp of root now; st->ok is 0 when new/ or cur/ is missing. */
void sgv_maildir_stamp(const char *root, sgv_mstamp *st);
int sgv_mstamp_equal(const sgv_mstamp *a, const sgv_mstamp *b);

/* Every message file of root (Maildir number index) into out (emptied
 * first). A file in both new/ and cur/ (a move seen half done) is listed
 * once, from cur/. Returns 0, or -1 when new/ or cur/ cannot be read. */
int sgv_maildir_scan(const char *root, unsigned index, sgv_mlist *out);
void sgv_mlist_free(sgv_mlist *l);

/* Reads the file (at most SGV_MAX_MESSAGE bytes) into a malloc'ed
 * NUL-terminated buffer. *truncated is set when the file is longer.
 * Returns 0 or -1 (gone, not a regular file, a link, unreadable). */
int sgv_maildir_read(const char *root, int sub, const char *name, char **data, size_t *len,
                     int *truncated);

#endif
