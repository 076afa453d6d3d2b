/*
 * testdb.h - which database the store conformance tests run against.
 *
 * One test suite, built once, run once per backend (STYLE.md): with
 * DMT_TEST_DB unset each test gets a fresh SQLite file in its own
 * directory; with DMT_TEST_DB=postgres://... (see scripts/unit-pg.sh) each
 * test gets an empty schema in that database (its public schema is
 * DROPPED: point it at a throw-away cluster only). The raw helpers run SQL
 * behind the store's back, on whichever backend is in use, for the few
 * tests that look at the schema itself.
 */
#ifndef DMT_TESTDB_H
#define DMT_TESTDB_H

#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* True when the tests run against PostgreSQL. */
static bool tdb_pg;

/* Fills url with the store URL of this test: DMT_TEST_DB, or a SQLite
 * file dmt.db in dir. */
static inline void tdb_url(char *url, size_t len, const char *dir) {
    const char *db = getenv("DMT_TEST_DB");
    tdb_pg = db != NULL &&
             (strncmp(db, "postgres://", 11) == 0 || strncmp(db, "postgresql://", 13) == 0);
    if (tdb_pg)
        snprintf(url, len, "%s", db);
    else
        snprintf(url, len, "sqlite:%s/dmt.db", dir);
}

static inline PGconn *tdb_pg_connect(const char *url) {
    PGconn *c = PQconnectdb(url);
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "connect: %s", PQerrorMessage(c));
    PQclear(PQexec(c, "SET client_min_messages = warning"));
    return c;
}

/* Runs SQL text (several statements allowed) on the test database. */
static inline void tdb_exec(const char *url, const char *sql) {
    if (tdb_pg) {
        PGconn *c = tdb_pg_connect(url);
        PGresult *r = PQexec(c, sql);
        ExecStatusType st = PQresultStatus(r);
        cr_assert(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK, "%s: %s", sql,
                  PQerrorMessage(c));
        PQclear(r);
        PQfinish(c);
        return;
    }
    sqlite3 *db = NULL;
    char *msg = NULL;
    cr_assert_eq(sqlite3_open_v2(url + 7, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    cr_assert_eq(rc, SQLITE_OK, "%s: %s", sql, msg != NULL ? msg : "");
    sqlite3_free(msg);
    sqlite3_close(db);
}

/* The first column of the first row of a query as text (malloc'd), or
 * NULL when there is no row or the value is NULL. */
static inline char *tdb_text(const char *url, const char *sql) {
    char *out = NULL;
    if (tdb_pg) {
        PGconn *c = tdb_pg_connect(url);
        PGresult *r = PQexec(c, sql);
        cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(c));
        if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0)) out = strdup(PQgetvalue(r, 0, 0));
        PQclear(r);
        PQfinish(c);
        return out;
    }
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_open_v2(url + 7, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
        out = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

/* A query's first number (-1 when there is no row). */
static inline long long tdb_count(const char *url, const char *sql) {
    char *s = tdb_text(url, sql);
    long long n = s != NULL ? strtoll(s, NULL, 10) : -1;
    free(s);
    return n;
}

/* Empties the test database: on PostgreSQL the public schema is dropped
 * and made again (the store's migrations rebuild it); a SQLite file is new
 * in every test's directory anyway. */
static inline void tdb_reset(const char *url) {
    if (tdb_pg) tdb_exec(url, "DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public");
}

#endif
