/*
 * status.h - the one status enum of dmt.
 *
 * Every fallible function returns an int status from this table and hands
 * results back through out-parameters. The table gives each code its name,
 * its HTTP status and its default message; numbers are never reused.
 */
#ifndef DMT_STATUS_H
#define DMT_STATUS_H

#include <jansson.h>
#include <stdarg.h>

/*     name             num http  message */
#define DMT_STATUS_MAP(X)                                                    \
    X(OK,               0,  200, "ok")                                       \
    X(ERR_NOMEM,        1,  500, "out of memory")                            \
    X(ERR_INTERNAL,     2,  500, "internal error")                           \
    X(ERR_BAD_JSON,     3,  400, "malformed JSON")                           \
    X(ERR_INVALID,      4,  422, "invalid request")                          \
    X(ERR_NOT_FOUND,    5,  404, "not found")                                \
    X(ERR_CONFLICT,     6,  409, "already exists")                           \
    X(ERR_METHOD,       7,  405, "method not allowed")                       \
    X(ERR_TOO_LARGE,    8,  413, "request body too large")                   \
    X(ERR_PRECONDITION, 9,  412, "precondition failed")                      \
    X(ERR_BUSY,         10, 503, "storage busy, try again")                  \
    X(ERR_STORE,        11, 500, "storage error")                            \
    X(ERR_UNAUTHORIZED, 12, 401, "authentication required")                  \
    X(ERR_FORBIDDEN,    13, 403, "forbidden")                                \
    X(ERR_IO,           14, 500, "input/output error")                       \
    X(ERR_USAGE,        15, 400, "usage error")                              \
    X(ERR_PREFLIGHT,    16, 422, "preflight failed")                         \
    X(ERR_UNSUPPORTED,  17, 415, "unsupported media type")                   \
    X(ERR_CONFIG,       18, 500, "configuration error")                      \
    X(ERR_HTTP,         19, 502, "unexpected answer from the server")       \
    X(ERR_LOCKED,       20, 429, "too many failed logins")                   \
    X(ERR_CRYPTO,       21, 500, "cannot decrypt a secret")

enum dmt_status {
#define X(name, num, http, msg) DMT_##name = num,
    DMT_STATUS_MAP(X)
#undef X
};

/*
 * The detail of one failure, carried from where it happened to where it is
 * shown. The first writer of the message wins, so the innermost cause is
 * what the user reads. `fields` collects validation errors
 * ([{"field", "message"}]); `extra` holds more members for the problem
 * document (e.g. preflight errors). Both are owned by the struct.
 */
struct dmt_err {
    int code;
    int sys_errno;
    char msg[512];
    json_t *fields;
    json_t *extra;
};

void dmt_err_init(struct dmt_err *e);
void dmt_err_cleanup(struct dmt_err *e);

/* Sets code and message (printf-style) unless a message is already set;
 * returns code so callers can write `return dmt_err_set(e, DMT_ERR_X, ...)`.
 * e may be NULL. */
int dmt_err_set(struct dmt_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Appends one {"field", "message"} to e->fields and sets e->code to
 * DMT_ERR_INVALID if it was DMT_OK. Returns DMT_ERR_INVALID. */
int dmt_err_field(struct dmt_err *e, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

const char *dmt_status_name(int code);    /* "ERR_NOT_FOUND" */
const char *dmt_status_message(int code); /* default message */
int dmt_status_http(int code);            /* 404 */

#endif
