/*
 * logwriter.h - the thread that stores run logs.
 *
 * The executor reads task output and hands it here, so that reading pipes
 * and writing the database overlap (bench/logs.sh). Chunks are stored in
 * the order they were put, several per transaction. Memory is bounded:
 * logwriter_put blocks while the queue holds more than its cap, which in
 * turn leaves the task's pipe full and the task waiting — backpressure
 * instead of growth.
 */
#ifndef DMT_LOGWRITER_H
#define DMT_LOGWRITER_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

struct logwriter;

/* Starts the thread with its own store connection on db_url. */
int logwriter_start(const char *db_url, struct logwriter **out, struct dmt_err *err);

/* Queues one chunk; takes over data (malloc'd, len bytes). The timestamp
 * is taken now. fence > 0: stored only while the run's fence is still that
 * (struct log_chunk); 0: always. */
void logwriter_put(struct logwriter *w, int64_t run_id, int64_t fence, int task_idx, int stream,
                   char *data, size_t len);

/* Returns once everything put before the call is stored. */
void logwriter_sync(struct logwriter *w);

/* Stores what is queued, stops the thread, frees w. NULL does nothing. */
void logwriter_stop(struct logwriter *w);

#endif
