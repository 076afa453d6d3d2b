/* res_audit.c - GET /api/v1/audit: who did what when, newest first. */
#include <stdio.h>

#include "core/util.h"
#include "http/http.h"

#define LIST_DEFAULT 50
#define LIST_MAX     500

struct audit_args {
    int64_t before;
    int limit;
};

static int list_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct op *op = arg;
    const struct audit_args *a = op->arg;
    struct audit_entry_list l = {0};
    /* One more than asked tells whether there is a next page. */
    int rc = s->ops->audit_list(s->ctx, a->before, a->limit + 1, &l, err);
    if (rc == DMT_OK) {
        json_t *items = json_array(), *next = json_null();
        for (size_t i = 0; i < l.n && i < (size_t)a->limit; i++) {
            const struct audit_entry *e = &l.items[i];
            json_array_append_new(
                items, json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:O}", "id", (json_int_t)e->id,
                                 "ts", e->ts, "user", e->user, "action", e->action, "kind",
                                 e->kind, "name", e->name, "detail", e->detail));
        }
        if (l.n > (size_t)a->limit) {
            char cur[32];
            snprintf(cur, sizeof(cur), "%lld", (long long)l.items[a->limit - 1].id);
            json_decref(next);
            next = json_string(cur);
        }
        op_answer(op, 200, json_pack("{s:o, s:o}", "items", items, "next", next), NULL, NULL);
    }
    audit_entry_list_cleanup(&l);
    return rc;
}

int res_audit_list(struct req *r) {
    struct audit_args a = {0, LIST_DEFAULT};
    const char *limit = req_query(r, "limit"), *cursor = req_query(r, "cursor");
    int64_t n;
    if (limit != NULL) {
        if (!util_parse_i64(limit, &n) || n < 1 || n > LIST_MAX)
            dmt_err_field(&r->err, "limit", "must be an integer between 1 and %d", LIST_MAX);
        else
            a.limit = (int)n;
    }
    if (cursor != NULL) {
        if (!util_parse_i64(cursor, &n) || n < 1)
            dmt_err_field(&r->err, "cursor", "is not a cursor this server handed out");
        else
            a.before = n;
    }
    if (r->err.fields != NULL)
        return dmt_err_set(&r->err, DMT_ERR_INVALID, "the query has invalid parameters");
    return op_run(r, false, list_tx, &a);
}
