/* store.c - opening a store by URL and the one transaction runner. */
#include "store/store.h"

#include <stdio.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/util.h"

#define TX_MAX_TRIES 20

static bool is_pg(const char *url);

int store_open(const char *url, struct store **out, struct dmt_err *err) {
    if (strncmp(url, "sqlite:", 7) == 0) return store_sqlite_open(url + 7, out, err);
    if (is_pg(url)) return store_pg_open(url, out, err);
    if (strstr(url, "://") != NULL)
        return dmt_err_set(err, DMT_ERR_CONFIG, "unknown database URL scheme: %s", url);
    return store_sqlite_open(url, out, err);
}

static bool is_pg(const char *url) {
    return strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0;
}

int store_bus_start(const char *url, struct store_bus **out, struct dmt_err *err) {
    *out = NULL;
    return is_pg(url) ? store_bus_pg_start(url, out, err) : DMT_OK;
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

struct store_maintainer {
    struct store *store;
    unsigned period_ms;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;
};

static void *maintainer_loop(void *arg) {
    struct store_maintainer *m = arg;
    pthread_mutex_lock(&m->lock);
    while (!m->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)(m->period_ms % 1000) * 1000000L;
        until.tv_sec += m->period_ms / 1000 + until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        while (!m->stop && pthread_cond_timedwait(&m->cond, &m->lock, &until) != ETIMEDOUT) {
        }
        if (m->stop) break;
        pthread_mutex_unlock(&m->lock);
        struct dmt_err err;
        dmt_err_init(&err);
        int rc = m->store->ops->maintain(m->store->ctx, &err);
        if (rc != DMT_OK && rc != DMT_ERR_BUSY) log_warn("store maintenance: %s", err.msg);
        dmt_err_cleanup(&err);
        pthread_mutex_lock(&m->lock);
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

int store_maintainer_start(const char *url, unsigned period_ms, struct store_maintainer **out,
                           struct dmt_err *err) {
    struct store_maintainer *m = calloc(1, sizeof(*m));
    if (m == NULL) return dmt_err_set(err, DMT_ERR_NOMEM, "out of memory");
    int rc = store_open(url, &m->store, err);
    if (rc != DMT_OK) {
        free(m);
        return rc;
    }
    m->period_ms = period_ms;
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->cond, NULL);
    if (pthread_create(&m->thread, NULL, maintainer_loop, m) != 0) {
        store_close(m->store);
        free(m);
        return dmt_err_set(err, DMT_ERR_IO, "cannot start the store maintainer");
    }
    *out = m;
    return DMT_OK;
}

void store_maintainer_stop(struct store_maintainer *m) {
    if (m == NULL) return;
    pthread_mutex_lock(&m->lock);
    m->stop = true;
    pthread_cond_signal(&m->cond);
    pthread_mutex_unlock(&m->lock);
    pthread_join(m->thread, NULL);
    store_close(m->store);
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->cond);
    free(m);
}
