/* store.c - opening a store by URL and the one transaction runner. */
#include "store/store.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/util.h"

#define TX_MAX_TRIES 20

int store_open(const char *url, struct store **out, struct dmt_err *err) {
    if (strncmp(url, "sqlite:", 7) == 0) return store_sqlite_open(url + 7, out, err);
    if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0)
        return dmt_err_set(err, DMT_ERR_CONFIG,
                           "this build has no PostgreSQL backend yet (--db %s)", url);
    if (strstr(url, "://") != NULL)
        return dmt_err_set(err, DMT_ERR_CONFIG, "unknown database URL scheme: %s", url);
    return store_sqlite_open(url, out, err);
}

void store_close(struct store *s) {
    if (s == NULL) return;
    s->ops->close(s->ctx);
}

int store_tx(struct store *s, bool write, store_tx_fn fn, void *arg, struct dmt_err *err) {
    int rc = DMT_ERR_BUSY;
    dmt_assert(!s->ops->in_tx(s->ctx));
    for (int attempt = 0; attempt < TX_MAX_TRIES; attempt++) {
        struct dmt_err local;
        dmt_err_init(&local);
        rc = s->ops->begin(s->ctx, write, &local);
        if (rc == DMT_OK) {
            rc = fn(s, arg, &local);
            if (rc == DMT_OK && write) rc = s->ops->seq_bump(s->ctx, &local);
            if (rc == DMT_OK)
                rc = s->ops->commit(s->ctx, &local);
            if (rc != DMT_OK && s->ops->in_tx(s->ctx))
                s->ops->rollback(s->ctx);
        }
        if (rc != DMT_ERR_BUSY) {
            /* Hand the detail of the last attempt to the caller. */
            if (rc != DMT_OK && err != NULL) {
                if (err->msg[0] == '\0') {
                    err->code = rc;
                    memcpy(err->msg, local.msg, sizeof(err->msg));
                    if (err->msg[0] == '\0')
                        snprintf(err->msg, sizeof(err->msg), "%s", dmt_status_message(rc));
                }
                if (err->fields == NULL) { err->fields = local.fields; local.fields = NULL; }
                if (err->extra == NULL) { err->extra = local.extra; local.extra = NULL; }
            }
            dmt_err_cleanup(&local);
            dmt_assert(!s->ops->in_tx(s->ctx));
            return rc;
        }
        dmt_err_cleanup(&local);
        struct timespec ts = {0, (long)(1 + attempt) * 2000000L};
        nanosleep(&ts, NULL);
    }
    return dmt_err_set(err, DMT_ERR_BUSY, "the database stayed busy; try again");
}
