/* logwriter.c - the log storing thread (see logwriter.h). */
#include "exec/logwriter.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/bus.h"
#include "core/metrics.h"
#include "core/notify.h"
#include "core/util.h"
#include "model/run.h"
#include "store/store.h"

#define QUEUE_CAP (4u << 20) /* bytes queued before logwriter_put waits */
#define BATCH_MAX (4u << 20) /* bytes stored per transaction at most */

struct item {
    struct item *next;
    struct log_chunk c;
};

struct logwriter {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t more;  /* an item was queued, or stop */
    pthread_cond_t room;  /* the queue shrank */
    pthread_cond_t done;  /* stored advanced */
    struct item *head, *tail;
    size_t queued_bytes;
    uint64_t put_count, stored_count;
    bool stopping;
    struct store *store;
};

/* Stores a batch in one transaction, retrying while the database is busy.
 * Logs are not "changes": the change sequence is not bumped. */
static void store_batch(struct logwriter *w, struct item *batch) {
    struct store *s = w->store;
    struct dmt_err err;
    for (int attempt = 0; attempt < 100; attempt++) {
        dmt_err_init(&err);
        int rc = s->ops->begin(s->ctx, true, &err);
        for (struct item *it = batch; rc == DMT_OK && it != NULL; it = it->next) {
            rc = s->ops->log_append(s->ctx, &it->c, &err);
            /* Output of a run this executor lost: not stored, by design. */
            if (rc == DMT_ERR_CONFLICT) {
                dmt_err_cleanup(&err);
                dmt_err_init(&err);
                rc = DMT_OK;
            }
        }
        if (rc == DMT_OK) rc = s->ops->commit(s->ctx, &err);
        if (rc != DMT_OK && s->ops->in_tx(s->ctx)) s->ops->rollback(s->ctx);
        if (rc != DMT_ERR_BUSY) {
            if (rc != DMT_OK) log_error("cannot store log chunks: %s", err.msg);
            dmt_err_cleanup(&err);
            return;
        }
        dmt_err_cleanup(&err);
        usleep(2000);
    }
    log_error("cannot store log chunks: the database stayed busy");
}

static void *loop(void *arg) {
    struct logwriter *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (w->head == NULL && !w->stopping) pthread_cond_wait(&w->more, &w->lock);
        if (w->head == NULL && w->stopping) break;
        /* Take a batch off the queue. */
        struct item *batch = w->head, *last = batch;
        size_t bytes = last->c.len, n = 1;
        while (last->next != NULL && bytes + last->next->c.len <= BATCH_MAX) {
            last = last->next;
            bytes += last->c.len;
            n++;
        }
        w->head = last->next;
        if (w->head == NULL) w->tail = NULL;
        last->next = NULL;
        pthread_mutex_unlock(&w->lock);

        store_batch(w, batch);
        size_t logged = 0;
        while (batch != NULL) {
            struct item *next = batch->next;
            if (batch->c.stream != LOG_SYSTEM) logged += batch->c.len;
            free(batch->c.data);
            free(batch);
            batch = next;
        }
        metrics_log_bytes(logged);
        notify_post(NOTIFY_LOG);
        bus_send(BUS_LOG, ""); /* followers on other nodes */

        pthread_mutex_lock(&w->lock);
        w->queued_bytes -= bytes;
        w->stored_count += n;
        pthread_cond_broadcast(&w->room);
        pthread_cond_broadcast(&w->done);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

int logwriter_start(const char *db_url, struct logwriter **out, struct dmt_err *err) {
    struct logwriter *w = calloc(1, sizeof(*w));
    if (w == NULL) return dmt_err_set(err, DMT_ERR_NOMEM, "out of memory");
    int rc = store_open(db_url, &w->store, err);
    if (rc != DMT_OK) {
        free(w);
        return rc;
    }
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->more, NULL);
    pthread_cond_init(&w->room, NULL);
    pthread_cond_init(&w->done, NULL);
    if (pthread_create(&w->thread, NULL, loop, w) != 0) {
        store_close(w->store);
        free(w);
        return dmt_err_set(err, DMT_ERR_IO, "cannot start the log writer thread");
    }
    *out = w;
    return DMT_OK;
}

void logwriter_put(struct logwriter *w, int64_t run_id, int64_t fence, int task_idx, int stream,
                   char *data, size_t len) {
    struct item *it = calloc(1, sizeof(*it));
    if (it == NULL) abort();
    it->c.run_id = run_id;
    it->c.fence = fence;
    it->c.task_idx = task_idx;
    it->c.stream = stream;
    it->c.data = data;
    it->c.len = len;
    util_now_rfc3339(it->c.ts, sizeof(it->c.ts));
    pthread_mutex_lock(&w->lock);
    while (w->queued_bytes > QUEUE_CAP && !w->stopping) pthread_cond_wait(&w->room, &w->lock);
    if (w->tail != NULL) w->tail->next = it;
    else w->head = it;
    w->tail = it;
    w->queued_bytes += len;
    w->put_count++;
    pthread_cond_signal(&w->more);
    pthread_mutex_unlock(&w->lock);
}

void logwriter_sync(struct logwriter *w) {
    pthread_mutex_lock(&w->lock);
    uint64_t target = w->put_count;
    while (w->stored_count < target) pthread_cond_wait(&w->done, &w->lock);
    pthread_mutex_unlock(&w->lock);
}

void logwriter_stop(struct logwriter *w) {
    if (w == NULL) return;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_signal(&w->more);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    store_close(w->store);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->more);
    pthread_cond_destroy(&w->room);
    pthread_cond_destroy(&w->done);
    free(w);
}
