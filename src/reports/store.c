/*
 * The report store: one SQLite file in WAL mode (readers, such as the
 * viewer, never block the writer). Received reports (issue 16 item 3) are
 * written one transaction per report, so a report is in the store whole or
 * not at all; a report is the same as one stored before when its
 * (org_name, report_id) and the digest of its content are, so the same
 * report read twice is stored once, and a forger who sends first under a
 * real reporter's Report-ID cannot have the real one dropped. The tables of the sending side (item
 * 1: what the daemon saw, item 2: what was sent) are created here too, so both halves share one
 * schema and one version number.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <spoofguard/arena.h>
#include <spoofguard/dmarc.h>
#include <sqlite3.h>

#include "reports.h"

/* 1: the first; 2: collected gained `reason` (in its key); 3:
 * received_report gained `digest`, unique with (org_name, report_id) */
#define SCHEMA_VERSION 3
#define SG_STR_(x) #x
#define SG_STR(x) SG_STR_(x)

/* The store's column values (and `report parse --json`'s). Here rather
 * than beside the XML reader: spoofguardd writes the store and must not
 * pull the reader, and libxml2 with it, into its link. */
const char *sgrep_ns_name(sgrep_ns ns)
{
    return ns == SGREP_NS_RFC9990 ? "rfc9990" : ns == SGREP_NS_RFC7489 ? "rfc7489" : "none";
}

const char *sgrep_kind_name(sgrep_kind k)
{
    return k == SGREP_FAILURE ? "failure" : "aggregate";
}

/* `collected`'s columns, for the schema and for the migration from
 * version 1. reason has a default so that a daemon of version 1 still
 * running beside a migrated store keeps counting (without reasons). */
#define COLLECTED_TABLE                                                                            \
    "(day INTEGER NOT NULL, policy_domain TEXT NOT NULL, source_ip TEXT NOT NULL,"                 \
    " disposition TEXT NOT NULL, dkim_aligned TEXT NOT NULL, spf_aligned TEXT NOT NULL,"           \
    " header_from TEXT NOT NULL, envelope_from TEXT NOT NULL, envelope_to TEXT NOT NULL,"          \
    " dkim TEXT NOT NULL,"   /* domain/selector/result triples, as one canonical string */         \
    " spf TEXT NOT NULL,"    /* domain/scope/result */                                             \
    " policy TEXT NOT NULL," /* the published policy the evaluation used */                        \
    " reason TEXT NOT NULL DEFAULT ''," /* RFC 9990 reason: type/comment, or none */               \
    " count INTEGER NOT NULL,"                                                                     \
    " PRIMARY KEY(day, policy_domain, source_ip, disposition, dkim_aligned, spf_aligned,"          \
    "  header_from, envelope_from, envelope_to, dkim, spf, policy, reason)) WITHOUT ROWID"

#define COLLECTED_V1                                                                               \
    "day, policy_domain, source_ip, disposition, dkim_aligned, spf_aligned, header_from,"          \
    " envelope_from, envelope_to, dkim, spf, policy"
static const char migrate_v1[] =
    "CREATE TABLE collected_v2" COLLECTED_TABLE ";"
    "INSERT INTO collected_v2(" COLLECTED_V1 ", count) SELECT " COLLECTED_V1 ", count"
    " FROM collected;"
    "DROP TABLE collected;"
    "ALTER TABLE collected_v2 RENAME TO collected;";

/* Version 2 to 3: SQLite cannot drop a table's UNIQUE constraint, so
 * received_report is made again (SQLite's twelve steps, run with foreign
 * keys off so that dropping the old table does not cascade to the
 * records). An absent org_name or report_id becomes '' (NULL never equals
 * itself: such a report was stored again at every run). Old rows have no
 * digest: one of them still makes a report with its identity a duplicate,
 * as before. */
#define REPORT_V2_COLUMNS                                                                          \
    "id, kind, namespace, org_name, email, report_id, generator, policy_domain, begin, end,"       \
    " adkim, aspf, p, sp, np, pct, fo, testing, discovery_method, records, messages,"              \
    " dkim_aligned_pass, spf_aligned_pass, source, stored_at"
#define REPORT_TABLE_V3                                                                            \
    "(id INTEGER PRIMARY KEY,"                                                                     \
    " kind TEXT NOT NULL CHECK(kind IN ('aggregate','failure')),"                                  \
    " namespace TEXT, org_name TEXT, email TEXT, report_id TEXT, generator TEXT,"                  \
    " policy_domain TEXT, begin INTEGER, end INTEGER,"                                             \
    " adkim TEXT, aspf TEXT, p TEXT, sp TEXT, np TEXT, pct TEXT, fo TEXT, testing TEXT,"           \
    " discovery_method TEXT,"                                                                      \
    " records INTEGER, messages INTEGER, dkim_aligned_pass INTEGER, spf_aligned_pass INTEGER,"     \
    " source TEXT, stored_at INTEGER NOT NULL,"                                                    \
    " digest TEXT," /* SHA-256 of the content as stored; NULL: stored before version 3 */          \
    " UNIQUE(org_name, report_id, digest))"
static const char migrate_v2[] =
    "CREATE TABLE received_report_v3" REPORT_TABLE_V3 ";"
    "INSERT INTO received_report_v3(" REPORT_V2_COLUMNS ") SELECT " REPORT_V2_COLUMNS
    " FROM received_report;"
    "UPDATE received_report_v3 SET org_name=coalesce(trim(org_name), ''),"
    " report_id=coalesce(trim(report_id), '');"
    "DROP TABLE received_report;"
    "ALTER TABLE received_report_v3 RENAME TO received_report;";

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS received_report" REPORT_TABLE_V3 ";"
    "CREATE INDEX IF NOT EXISTS received_report_domain ON received_report(policy_domain, begin);"
    "CREATE TABLE IF NOT EXISTS received_record("
    " report INTEGER NOT NULL REFERENCES received_report(id) ON DELETE CASCADE,"
    " source_ip TEXT, count INTEGER NOT NULL, disposition TEXT, dkim TEXT, spf TEXT,"
    " reason_type TEXT, reason_comment TEXT,"
    " header_from TEXT, envelope_from TEXT, envelope_to TEXT);"
    "CREATE INDEX IF NOT EXISTS received_record_report ON received_record(report);"
    /* one row per DKIM or SPF result of a record (rowid of received_record) */
    "CREATE TABLE IF NOT EXISTS received_auth("
    " record INTEGER NOT NULL, method TEXT NOT NULL CHECK(method IN ('dkim','spf')),"
    " domain TEXT, selector TEXT, scope TEXT, result TEXT, human_result TEXT);"
    "CREATE INDEX IF NOT EXISTS received_auth_record ON received_auth(record);"
    "CREATE TABLE IF NOT EXISTS received_failure("
    " report INTEGER NOT NULL REFERENCES received_report(id) ON DELETE CASCADE,"
    " feedback_type TEXT, auth_failure TEXT, identity_alignment TEXT, source_ip TEXT,"
    " arrival INTEGER, original_mail_from TEXT, original_rcpt_to TEXT, reporting_mta TEXT,"
    " dkim_domain TEXT, dkim_selector TEXT, spf_dns TEXT, delivery_result TEXT);"
    /* The sending side (issue 16 items 1 and 2; written by spoofguardd and
     * `report send`): what inbound DMARC evaluations saw, grouped as RFC
     * 9990 asks, one counter per group and UTC day ... */
    "CREATE TABLE IF NOT EXISTS collected" COLLECTED_TABLE ";"
    /* ... and the reports made from them: marked sent only after the MTA
     * accepted them; the Report-ID is kept so a re-send uses it again. */
    "CREATE TABLE IF NOT EXISTS sent_report("
    " policy_domain TEXT NOT NULL, day INTEGER NOT NULL, report_id TEXT NOT NULL,"
    " rua TEXT NOT NULL, state TEXT NOT NULL CHECK(state IN ('pending','sent','failed')),"
    " tries INTEGER NOT NULL DEFAULT 0, next_try INTEGER, sent_at INTEGER,"
    " PRIMARY KEY(policy_domain, day, rua));";

enum {
    S_INSERT_REPORT,
    S_UPDATE_REPORT,
    S_INSERT_RECORD,
    S_INSERT_AUTH,
    S_INSERT_FAILURE,
    S_FIND,
    S_COUNT
};

static const char *const stmt_sql[S_COUNT] = {
    [S_INSERT_REPORT] = "INSERT INTO received_report(kind, source, stored_at) VALUES(?1, ?2, ?3)",
    [S_UPDATE_REPORT] =
        "UPDATE received_report SET kind=?2, namespace=?3, org_name=?4, email=?5, report_id=?6,"
        " generator=?7, policy_domain=?8, begin=?9, end=?10, adkim=?11, aspf=?12, p=?13, sp=?14,"
        " np=?15, pct=?16, fo=?17, testing=?18, discovery_method=?19, records=?20, messages=?21,"
        " dkim_aligned_pass=?22, spf_aligned_pass=?23, digest=?24 WHERE id=?1",
    [S_INSERT_RECORD] =
        "INSERT INTO received_record(report, source_ip, count, disposition, dkim, spf,"
        " reason_type, reason_comment, header_from, envelope_from, envelope_to)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [S_INSERT_AUTH] = "INSERT INTO received_auth(record, method, domain, selector, scope, result,"
                      " human_result) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [S_INSERT_FAILURE] =
        "INSERT INTO received_failure(report, feedback_type, auth_failure, identity_alignment,"
        " source_ip, arrival, original_mail_from, original_rcpt_to, reporting_mta, dkim_domain,"
        " dkim_selector, spf_dns, delivery_result)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    /* the same identity: a duplicate when the content is the same too (or
     * unknown: a row stored before digests) */
    [S_FIND] = "SELECT coalesce(digest IS NULL OR digest=?4, 0) FROM received_report"
               " WHERE org_name=?1 AND report_id=?2 AND id<>?3 ORDER BY 1 DESC LIMIT 1",
};

struct sgrep_store {
    sqlite3 *db;
    sqlite3_stmt *st[S_COUNT];
    const char *source;
    sqlite3_int64 report; /* the row of the report being written */
    int in_txn;
    int duplicate;
    int conflict;
    EVP_MD_CTX *md; /* the digest of the report being written */
    char err[256];
};

static int set_err(sgrep_store *s, const char *what)
{
    snprintf(s->err, sizeof s->err, "%s: %s", what, s->db ? sqlite3_errmsg(s->db) : "no store");
    return -1;
}

/* A store the sending side made first may not have every table yet. */
static int has_table(sqlite3 *db, const char *name)
{
    sqlite3_stmt *q;
    int found = 0;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?1", -1, &q,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
        found = sqlite3_step(q) == SQLITE_ROW;
        sqlite3_finalize(q);
    }
    return found;
}

sgrep_store *sgrep_store_open(const char *path, char *err, size_t errlen)
{
    sgrep_store *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, s->db ? sqlite3_errmsg(s->db) : "cannot open");
        sgrep_store_close(s);
        return NULL;
    }
    sqlite3_busy_timeout(s->db, 10000);
    char *msg = NULL;
    int version = -1;
    sqlite3_stmt *q;
    s->md = EVP_MD_CTX_new();
    if (!s->md) {
        snprintf(err, errlen, "out of memory");
        sgrep_store_close(s);
        return NULL;
    }
    /* foreign keys are turned on after the migration (which drops a table
     * the records refer to; they cannot change inside a transaction) */
    rc = sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL,
                      &msg);
    /* the version is read inside the write transaction: of two programs
     * opening an old store at once, one migrates it and the other then
     * sees the new version */
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, &msg);
    if (rc == SQLITE_OK &&
        (rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &q, NULL)) == SQLITE_OK) {
        if (sqlite3_step(q) == SQLITE_ROW)
            version = sqlite3_column_int(q, 0);
        sqlite3_finalize(q);
    }
    if (rc == SQLITE_OK && version > SCHEMA_VERSION) {
        snprintf(err, errlen, "%s: schema version %d is newer than this program's %d", path,
                 version, SCHEMA_VERSION);
        sgrep_store_close(s);
        return NULL;
    }
    if (rc == SQLITE_OK && version == 1)
        rc = sqlite3_exec(s->db, migrate_v1, NULL, NULL, &msg);
    if (rc == SQLITE_OK && (version == 1 || version == 2) && has_table(s->db, "received_report"))
        rc = sqlite3_exec(s->db, migrate_v2, NULL, NULL, &msg);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, schema, NULL, NULL, &msg);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db,
                          "PRAGMA user_version=" SG_STR(SCHEMA_VERSION) "; COMMIT;"
                                                                        " PRAGMA foreign_keys=ON;",
                          NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        sgrep_store_close(s);
        return NULL;
    }
    for (int i = 0; i < S_COUNT; i++)
        if (sqlite3_prepare_v2(s->db, stmt_sql[i], -1, &s->st[i], NULL) != SQLITE_OK) {
            snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(s->db));
            sgrep_store_close(s);
            return NULL;
        }
    return s;
}

sgrep_store *sgrep_store_open_ro(const char *path, char *err, size_t errlen)
{
    sgrep_store *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, s->db ? sqlite3_errmsg(s->db) : "cannot open");
        sgrep_store_close(s);
        return NULL;
    }
    sqlite3_busy_timeout(s->db, 2000);
    sqlite3_stmt *q;
    int version = -1;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &q, NULL) == SQLITE_OK) {
        if (sqlite3_step(q) == SQLITE_ROW)
            version = sqlite3_column_int(q, 0);
        sqlite3_finalize(q);
    }
    if (version < 1 || version > SCHEMA_VERSION) {
        snprintf(err, errlen, "%s: %s", path,
                 version < 0    ? sqlite3_errmsg(s->db)
                 : version == 0 ? "not a report store (schema version 0)"
                                : "schema newer than this program's");
        sgrep_store_close(s);
        return NULL;
    }
    return s;
}

void sgrep_store_close(sgrep_store *s)
{
    if (!s)
        return;
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    if (s->in_txn)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(s->db);
    EVP_MD_CTX_free(s->md);
    free(s);
}

const char *sgrep_store_error(const sgrep_store *s)
{
    return s->err;
}

int sgrep_store_last_duplicate(const sgrep_store *s)
{
    return s->duplicate;
}

int sgrep_store_last_conflict(const sgrep_store *s)
{
    return s->conflict;
}

/* The content digest: each value as stored, length first, so that no two
 * different contents give the same bytes. Containers and the XML's layout
 * do not change it: the same report gzip'd or zipped is a duplicate. */
static void dg_str(sgrep_store *s, const char *v)
{
    uint64_t n = v ? strlen(v) : 0;
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)(n >> (8 * i));
    EVP_DigestUpdate(s->md, len, sizeof len);
    if (n)
        EVP_DigestUpdate(s->md, v, (size_t)n);
}

static void dg_int(sgrep_store *s, int64_t v)
{
    char num[32];
    snprintf(num, sizeof num, "%lld", (long long)v);
    dg_str(s, num);
}

/* Binds the identity's text: absent is '' and blanks around it are
 * dropped, so that an empty org_name is one value (NULL never equals
 * NULL in SQL, and such a report was stored again at every run). */
static void bind_id(sqlite3_stmt *st, int i, const char *v)
{
    while (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n')
        v++;
    size_t n = strlen(v);
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r' || v[n - 1] == '\n'))
        n--;
    sqlite3_bind_text(st, i, v, (int)n, SQLITE_TRANSIENT);
}

/* Binds text; "" is stored as NULL (absent in the report). */
static void bt(sqlite3_stmt *st, int i, const char *v)
{
    if (v && *v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

static int step_done(sgrep_store *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : set_err(s, what);
}

static int st_begin(void *ctx)
{
    sgrep_store *s = ctx;
    s->duplicate = s->conflict = 0;
    if (EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) != 1) {
        snprintf(s->err, sizeof s->err, "digest: cannot start SHA-256");
        return -1;
    }
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return set_err(s, "begin");
    s->in_txn = 1;
    sqlite3_stmt *st = s->st[S_INSERT_REPORT];
    sqlite3_bind_text(st, 1, "aggregate", -1, SQLITE_STATIC);
    bt(st, 2, s->source);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)time(NULL));
    if (step_done(s, st, "insert report"))
        return -1;
    s->report = sqlite3_last_insert_rowid(s->db);
    return 0;
}

static int st_record(void *ctx, const sgrep_report *rep, const sgrep_record *rec)
{
    sgrep_store *s = ctx;
    sqlite3_stmt *st = s->st[S_INSERT_RECORD];
    sqlite3_bind_int64(st, 1, s->report);
    bt(st, 2, rec->source_ip);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)rec->count);
    bt(st, 4, rec->disposition);
    bt(st, 5, rec->dkim);
    bt(st, 6, rec->spf);
    bt(st, 7, rec->reason_type);
    bt(st, 8, rec->reason_comment);
    bt(st, 9, rec->header_from);
    bt(st, 10, rec->envelope_from);
    bt(st, 11, rec->envelope_to);
    if (step_done(s, st, "insert record"))
        return -1;
    dg_str(s, "record");
    dg_str(s, rec->source_ip);
    dg_int(s, (int64_t)rec->count);
    dg_str(s, rec->disposition);
    dg_str(s, rec->dkim);
    dg_str(s, rec->spf);
    dg_str(s, rec->reason_type);
    dg_str(s, rec->reason_comment);
    dg_str(s, rec->header_from);
    dg_str(s, rec->envelope_from);
    dg_str(s, rec->envelope_to);
    sqlite3_int64 row = sqlite3_last_insert_rowid(s->db);
    for (int m = 0; m < 2; m++) {
        const sgrep_auth *a = m ? rec->spf_auth : rec->dkim_auth;
        unsigned n = m ? rec->nspf : rec->ndkim;
        for (unsigned i = 0; i < n && i < SGREP_MAX_AUTH; i++) {
            st = s->st[S_INSERT_AUTH];
            sqlite3_bind_int64(st, 1, row);
            sqlite3_bind_text(st, 2, m ? "spf" : "dkim", -1, SQLITE_STATIC);
            bt(st, 3, a[i].domain);
            bt(st, 4, a[i].selector);
            bt(st, 5, a[i].scope);
            bt(st, 6, a[i].result);
            bt(st, 7, a[i].human_result);
            if (step_done(s, st, "insert auth result"))
                return -1;
            dg_str(s, m ? "spf" : "dkim");
            dg_str(s, a[i].domain);
            dg_str(s, a[i].selector);
            dg_str(s, a[i].scope);
            dg_str(s, a[i].result);
            dg_str(s, a[i].human_result);
        }
    }
    return 0;
}

static void st_abort(void *ctx)
{
    sgrep_store *s = ctx;
    if (s->in_txn)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    s->in_txn = 0;
}

static int st_end(void *ctx, const sgrep_report *r)
{
    sgrep_store *s = ctx;
    /* the metadata, and a failure report's fields, after the records */
    const char *meta[] = {sgrep_kind_name(r->kind),
                          sgrep_ns_name(r->ns),
                          r->org_name,
                          r->email,
                          r->report_id,
                          r->generator,
                          r->policy_domain,
                          r->adkim,
                          r->aspf,
                          r->p,
                          r->sp,
                          r->np,
                          r->pct,
                          r->fo,
                          r->testing,
                          r->discovery_method,
                          r->feedback_type,
                          r->auth_failure,
                          r->identity_alignment,
                          r->source_ip,
                          r->original_mail_from,
                          r->original_rcpt_to,
                          r->reporting_mta,
                          r->dkim_domain,
                          r->dkim_selector,
                          r->spf_dns,
                          r->delivery_result};
    dg_str(s, "report");
    for (size_t i = 0; i < sizeof meta / sizeof *meta; i++)
        dg_str(s, meta[i]);
    dg_int(s, r->begin);
    dg_int(s, r->end);
    dg_int(s, r->arrival);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1] = "";
    if (EVP_DigestFinal_ex(s->md, md, &mdlen) != 1) {
        snprintf(s->err, sizeof s->err, "digest: cannot finish SHA-256");
        st_abort(s);
        return -1;
    }
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    sqlite3_stmt *st = s->st[S_FIND];
    bind_id(st, 1, r->org_name);
    bind_id(st, 2, r->report_id);
    sqlite3_bind_int64(st, 3, s->report);
    sqlite3_bind_text(st, 4, hex, -1, SQLITE_STATIC);
    int same = -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        same = sqlite3_column_int(st, 0);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    s->conflict = same == 0;
    if (same == 1) { /* stored before: this copy is dropped whole */
        s->duplicate = 1;
        st_abort(s);
        return 0;
    }
    st = s->st[S_UPDATE_REPORT];
    sqlite3_bind_int64(st, 1, s->report);
    sqlite3_bind_text(st, 2, sgrep_kind_name(r->kind), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, sgrep_ns_name(r->ns), -1, SQLITE_STATIC);
    bind_id(st, 4, r->org_name);
    bt(st, 5, r->email);
    bind_id(st, 6, r->report_id);
    bt(st, 7, r->generator);
    bt(st, 8, r->policy_domain);
    sqlite3_bind_int64(st, 9, r->begin);
    sqlite3_bind_int64(st, 10, r->end);
    bt(st, 11, r->adkim);
    bt(st, 12, r->aspf);
    bt(st, 13, r->p);
    bt(st, 14, r->sp);
    bt(st, 15, r->np);
    bt(st, 16, r->pct);
    bt(st, 17, r->fo);
    bt(st, 18, r->testing);
    bt(st, 19, r->discovery_method);
    sqlite3_bind_int64(st, 20, (sqlite3_int64)r->records);
    sqlite3_bind_int64(st, 21, (sqlite3_int64)r->messages);
    sqlite3_bind_int64(st, 22, (sqlite3_int64)r->dkim_aligned_pass);
    sqlite3_bind_int64(st, 23, (sqlite3_int64)r->spf_aligned_pass);
    sqlite3_bind_text(st, 24, hex, -1, SQLITE_STATIC);
    if (step_done(s, st, "update report")) {
        st_abort(s);
        return -1;
    }
    if (r->kind == SGREP_FAILURE) {
        st = s->st[S_INSERT_FAILURE];
        sqlite3_bind_int64(st, 1, s->report);
        bt(st, 2, r->feedback_type);
        bt(st, 3, r->auth_failure);
        bt(st, 4, r->identity_alignment);
        bt(st, 5, r->source_ip);
        sqlite3_bind_int64(st, 6, r->arrival);
        bt(st, 7, r->original_mail_from);
        bt(st, 8, r->original_rcpt_to);
        bt(st, 9, r->reporting_mta);
        bt(st, 10, r->dkim_domain);
        bt(st, 11, r->dkim_selector);
        bt(st, 12, r->spf_dns);
        bt(st, 13, r->delivery_result);
        if (step_done(s, st, "insert failure report")) {
            st_abort(s);
            return -1;
        }
    }
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        set_err(s, "commit");
        st_abort(s);
        return -1;
    }
    s->in_txn = 0;
    return 0;
}

void sgrep_store_sink(sgrep_store *s, const char *source, sgrep_sink *out)
{
    s->source = source;
    out->ctx = s;
    out->begin = st_begin;
    out->record = st_record;
    out->end = st_end;
    out->abort = st_abort;
}

long long sgrep_store_prune(sgrep_store *s, int64_t before)
{
    sqlite3_stmt *st;
    /* received_auth has no foreign key (it hangs off record rowids). A
     * period is believed up to a day after the report was stored: one dated
     * in 2106 (stored before such dates were refused) still goes. */
#define PRUNE_WHERE "min(coalesce(end, 0), stored_at + 86400) < ?1 AND stored_at < ?1"
    static const char *const sql[] = {
        "DELETE FROM received_auth WHERE record IN (SELECT rowid FROM received_record WHERE "
        "report IN (SELECT id FROM received_report WHERE " PRUNE_WHERE "))",
        "DELETE FROM received_report WHERE " PRUNE_WHERE,
    };
#undef PRUNE_WHERE
    long long n = 0;
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return set_err(s, "begin");
    for (int i = 0; i < 2; i++) {
        if (sqlite3_prepare_v2(s->db, sql[i], -1, &st, NULL) != SQLITE_OK) {
            set_err(s, "prune");
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
        sqlite3_bind_int64(st, 1, before);
        int rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE) {
            set_err(s, "prune");
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
        n = sqlite3_changes(s->db);
    }
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        return set_err(s, "commit");
    return n;
}

void sgrep_tally_add(sgrep_tally *t, unsigned *nt, const char *name, uint64_t n)
{
    for (unsigned i = 0; i < *nt; i++)
        if (!strcmp(t[i].name, name)) {
            t[i].messages = sgrep_sat_add(t[i].messages, n);
            return;
        }
    unsigned i = *nt;
    if (i == SGREP_TALLY_NAMES) {
        /* "other" may be a name of its own already (an RFC 7489 type) */
        for (i = 0; i < SGREP_TALLY_NAMES - 1 && strcmp(t[i].name, "other"); i++)
            ;
        snprintf(t[i].name, sizeof t[i].name, "other");
        t[i].messages = sgrep_sat_add(t[i].messages, n);
        return;
    }
    snprintf(t[i].name, sizeof t[i].name, "%s", name);
    t[i].messages = n;
    (*nt)++;
}

/* The reason types of RFC 7489 (PolicyOverrideType) and RFC 9990. */
static const char *const known_reasons[] = {"forwarded",    "sampled_out",  "trusted_forwarder",
                                            "mailing_list", "local_policy", "policy_test_mode",
                                            "other"};

int sgrep_reason_known(const char *name)
{
    for (size_t i = 0; i < sizeof known_reasons / sizeof *known_reasons; i++)
        if (!strcmp(name, known_reasons[i]))
            return 1;
    return 0;
}

void sgrep_reason_tally_add(sgrep_tally *t, unsigned *nt, const char *name, uint64_t n)
{
    /* seven known names fit the eight places: none is ever pushed out */
    sgrep_tally_add(t, nt, sgrep_reason_known(name) ? name : "other", n);
}

/* A sum SQLite's total() gave (a double: it cannot overflow, as sum()
 * does past 2^63 and then fails the whole query) as a count. */
static uint64_t column_count(sqlite3_stmt *st, int i)
{
    double v = sqlite3_column_double(st, i);
    if (!(v > 0))
        return 0;
    return v >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)v;
}

int sgrep_day_text(int64_t day, char out[16])
{
    out[0] = '\0';
    if (day < 0 || day > 253402300799) /* 9999-12-31T23:59:59Z */
        return -1;
    time_t t = (time_t)day;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(out, 16, "%Y-%m-%d", &tm) != 10) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}

int sgrep_store_domains(sgrep_store *s, int (*fn)(void *ctx, const char *domain), void *ctx)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT DISTINCT coalesce(policy_domain, '') FROM received_report"
                           " WHERE kind='aggregate' ORDER BY 1",
                           -1, &st, NULL) != SQLITE_OK)
        return set_err(s, "domains");
    int rc, stopped = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *d = (const char *)sqlite3_column_text(st, 0);
        if (fn(ctx, d ? d : "")) {
            stopped = 1;
            break;
        }
    }
    sqlite3_finalize(st);
    return stopped || rc == SQLITE_DONE ? 0 : set_err(s, "domains");
}

/* Pass and fail per policy domain and UTC day, and per source address
 * when by_source (the summary) or not (the viewer's chart). A record's day
 * is its report's begin; DMARC pass is DKIM or SPF aligned pass as the
 * reporter evaluated it. SQLite groups by the reason too (one row per
 * reason type of a group); the rows of one group are merged here, which
 * keeps the reasons' cap in one place (sgrep_tally_add). */
static int store_rows(sgrep_store *s, int by_source, const char *domain, int64_t since,
                      int (*fn)(void *ctx, const sgrep_summary_row *row), void *ctx)
{
#define ROWS_SQL(src_col, src_group)                                                               \
    "SELECT r.policy_domain, (r.begin / 86400) * 86400 AS day,"                                    \
    " total(CASE WHEN c.dkim='pass' OR c.spf='pass' THEN c.count ELSE 0 END),"                     \
    " total(CASE WHEN c.dkim='pass' OR c.spf='pass' THEN 0 ELSE c.count END),"                     \
    " coalesce(c.reason_type, '') AS rt, total(c.count)" src_col                                   \
    " FROM received_record c JOIN received_report r ON r.id = c.report"                            \
    " WHERE r.kind='aggregate' AND (?1 IS NULL OR r.policy_domain = ?1)"                           \
    " AND (r.begin / 86400) * 86400 >= ?2"                                                         \
    " GROUP BY r.policy_domain, day" src_group ", rt ORDER BY r.policy_domain, day" src_group      \
    ", rt"
    static const char by_src[] = ROWS_SQL(", c.source_ip", ", c.source_ip");
    static const char by_day[] = ROWS_SQL("", "");
#undef ROWS_SQL
    const char *what = by_source ? "summary" : "daily";
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, by_source ? by_src : by_day, -1, &st, NULL) != SQLITE_OK)
        return set_err(s, what);
    bt(st, 1, domain);
    sqlite3_bind_int64(st, 2, since);
    /* SQLite's text is valid until the next step: the group's keys are
     * copied (a policy domain is a name, a source an address: both short,
     * and longer ones were cut when stored) */
    char dom[256], src[64];
    sgrep_summary_row row = {.policy_domain = dom, .source_ip = by_source ? src : NULL};
    int have = 0, stopped = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *d = (const char *)sqlite3_column_text(st, 0);
        const char *ip = by_source ? (const char *)sqlite3_column_text(st, 6) : NULL;
        int64_t day = sqlite3_column_int64(st, 1);
        d = d ? d : "";
        ip = ip ? ip : "";
        if (have && (day != row.day || strncmp(dom, d, sizeof dom - 1) ||
                     (by_source && strncmp(src, ip, sizeof src - 1)))) {
            if (fn(ctx, &row)) {
                stopped = 1;
                break;
            }
            have = 0;
        }
        if (!have) {
            snprintf(dom, sizeof dom, "%s", d);
            if (by_source)
                snprintf(src, sizeof src, "%s", ip);
            row.day = day;
            row.pass = row.fail = row.overridden = 0;
            row.nreason = 0;
            have = 1;
        }
        row.pass = sgrep_sat_add(row.pass, column_count(st, 2));
        row.fail = sgrep_sat_add(row.fail, column_count(st, 3));
        const char *rt = (const char *)sqlite3_column_text(st, 4);
        if (rt && *rt) {
            uint64_t n = column_count(st, 5);
            row.overridden = sgrep_sat_add(row.overridden, n);
            sgrep_reason_tally_add(row.reason, &row.nreason, rt, n);
        }
    }
    if (rc == SQLITE_DONE && have && !stopped && fn(ctx, &row))
        stopped = 1;
    sqlite3_finalize(st);
    return stopped || rc == SQLITE_DONE ? 0 : set_err(s, what);
}

int sgrep_store_summary(sgrep_store *s, const char *domain, int64_t since,
                        int (*fn)(void *ctx, const sgrep_summary_row *row), void *ctx)
{
    return store_rows(s, 1, domain, since, fn, ctx);
}

int sgrep_store_daily(sgrep_store *s, const char *domain, int64_t since,
                      int (*fn)(void *ctx, const sgrep_summary_row *row), void *ctx)
{
    return store_rows(s, 0, domain, since, fn, ctx);
}

int sgrep_domain_stored(const char *name, char *out, size_t cap)
{
    sg_arena *a = NULL;
    char *norm = NULL;
    int rc = sg_arena_new(&a, 0);
    if (rc == 0)
        rc = sg_dmarc_domain_normalise(a, name, strlen(name), &norm);
    if (rc == 0 && strlen(norm) >= cap)
        rc = SG_ESYNTAX;
    if (rc == 0)
        memcpy(out, norm, strlen(norm) + 1);
    sg_arena_free(a);
    return rc;
}
