/*
 * pg_dl.h - libpq, loaded with dlopen() when a postgres:// database is
 * first opened.
 *
 * Linking libpq maps it and its dependencies (OpenSSL, Kerberos, LDAP)
 * into every dmt process, several megabytes of resident memory that a
 * server on SQLite never uses (DESIGN.md §10: idle server under 10 MB).
 * store_pg.c includes this header instead of <libpq-fe.h>: the PQ* names
 * below become calls through the loaded table.
 */
#ifndef DMT_PG_DL_H
#define DMT_PG_DL_H

#include <libpq-fe.h>

#define PG_DL_FUNCS(X)                                                       \
    X(PQclear) X(PQgetvalue) X(PQntuples) X(PQresultStatus) X(PQstatus)      \
    X(PQunescapeBytea) X(PQtransactionStatus) X(PQresultErrorField)         \
    X(PQprepare) X(PQgetisnull) X(PQfreemem) X(PQexecPrepared) X(PQexec)    \
    X(PQerrorMessage) X(PQcmdTuples) X(PQsetNoticeProcessor) X(PQreset)     \
    X(PQnfields) X(PQfname) X(PQfinish) X(PQconnectdbParams) X(PQcmdStatus)   \
    X(PQsocket) X(PQconsumeInput) X(PQnotifies) X(PQbackendPID) X(PQexecParams)

struct pg_dl {
#define X(name) __typeof__(&name) name##_;
    PG_DL_FUNCS(X)
#undef X
};

extern struct pg_dl pg_dl;

/* Loads libpq (once; thread-safe). Returns 0, or -1 with a reason in *why. */
int pg_dl_load(const char **why);

#ifndef PG_DL_IMPLEMENTATION
#define PQclear (*pg_dl.PQclear_)
#define PQgetvalue (*pg_dl.PQgetvalue_)
#define PQntuples (*pg_dl.PQntuples_)
#define PQresultStatus (*pg_dl.PQresultStatus_)
#define PQstatus (*pg_dl.PQstatus_)
#define PQunescapeBytea (*pg_dl.PQunescapeBytea_)
#define PQtransactionStatus (*pg_dl.PQtransactionStatus_)
#define PQresultErrorField (*pg_dl.PQresultErrorField_)
#define PQprepare (*pg_dl.PQprepare_)
#define PQgetisnull (*pg_dl.PQgetisnull_)
#define PQfreemem (*pg_dl.PQfreemem_)
#define PQexecPrepared (*pg_dl.PQexecPrepared_)
#define PQexec (*pg_dl.PQexec_)
#define PQerrorMessage (*pg_dl.PQerrorMessage_)
#define PQcmdTuples (*pg_dl.PQcmdTuples_)
#define PQsetNoticeProcessor (*pg_dl.PQsetNoticeProcessor_)
#define PQreset (*pg_dl.PQreset_)
#define PQnfields (*pg_dl.PQnfields_)
#define PQfname (*pg_dl.PQfname_)
#define PQfinish (*pg_dl.PQfinish_)
#define PQconnectdbParams (*pg_dl.PQconnectdbParams_)
#define PQcmdStatus (*pg_dl.PQcmdStatus_)
#define PQsocket (*pg_dl.PQsocket_)
#define PQconsumeInput (*pg_dl.PQconsumeInput_)
#define PQnotifies (*pg_dl.PQnotifies_)
#define PQbackendPID (*pg_dl.PQbackendPID_)
#define PQexecParams (*pg_dl.PQexecParams_)
#endif

#endif
