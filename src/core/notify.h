/*
 * notify.h - the in-process change notifier.
 *
 * Whoever commits something others may wait for (a run queued, a log chunk
 * stored, a run's status changed, any API change) calls notify_post(). Each
 * post increases a counter and calls every registered hook (an executor's
 * wake-up, the HTTP server's resumption of suspended log followers). Hooks
 * must be quick and must not call notify_post(). Thread-safe.
 *
 * On PostgreSQL, LISTEN/NOTIFY will feed the same notifier from other nodes.
 */
#ifndef DMT_NOTIFY_H
#define DMT_NOTIFY_H

#include <stdint.h>

typedef void (*notify_hook_cb)(void *arg);

void notify_post(void);
uint64_t notify_counter(void);
/* Registers a hook; returns an id for notify_remove_hook. */
int notify_add_hook(notify_hook_cb fn, void *arg);
void notify_remove_hook(int id);

#endif
