/* status.c - status table lookups and the error detail struct. */
#include "core/status.h"

#include <stdio.h>
#include <string.h>

struct status_row {
    int num;
    int http;
    const char *name;
    const char *msg;
};

static const struct status_row rows[] = {
#define X(name, num, http, msg) {num, http, #name, msg},
    DMT_STATUS_MAP(X)
#undef X
};

static const struct status_row *row(int code) {
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        if (rows[i].num == code) return &rows[i];
    return &rows[DMT_ERR_INTERNAL];
}

const char *dmt_status_name(int code) { return row(code)->name; }
const char *dmt_status_message(int code) { return row(code)->msg; }
int dmt_status_http(int code) { return row(code)->http; }

void dmt_err_init(struct dmt_err *e) { memset(e, 0, sizeof(*e)); }

void dmt_err_cleanup(struct dmt_err *e) {
    if (e == NULL) return;
    json_decref(e->fields);
    json_decref(e->extra);
    dmt_err_init(e);
}

int dmt_err_set(struct dmt_err *e, int code, const char *fmt, ...) {
    if (e == NULL || e->msg[0] != '\0') return code;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    return code;
}

int dmt_err_field(struct dmt_err *e, const char *field, const char *fmt, ...) {
    if (e == NULL) return DMT_ERR_INVALID;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (e->fields == NULL) e->fields = json_array();
    json_array_append_new(e->fields,
                          json_pack("{s:s, s:s}", "field", field, "message", msg));
    if (e->code == DMT_OK) e->code = DMT_ERR_INVALID;
    return DMT_ERR_INVALID;
}
