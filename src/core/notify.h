/*
 * notify.h - the in-process change notifier.
 *
 * Whoever commits something others may wait for (a run queued, a log chunk
 * stored, a run's status changed, any API change) calls notify_post() with
 * what it was. Each post increases a counter and calls every hook that
 * registered for one of those kinds (an executor's wake-up: only work for
 * it; the HTTP server's resumption of suspended streams: everything).
 * Hooks must be quick and must not call notify_post(). Thread-safe.
 *
 * Posts of other nodes come in through core/bus.c.
 */
#ifndef DMT_NOTIFY_H
#define DMT_NOTIFY_H

#include <stdint.h>

typedef void (*notify_hook_cb)(void *arg);

/* What a post says happened (a mask). */
#define NOTIFY_CHANGE 1u /* something changed: an event of the change feed */
#define NOTIFY_LOG    2u /* a run's log grew */
#define NOTIFY_WORK   4u /* a run to claim, or to cancel: executors look */
#define NOTIFY_ALL    7u

void notify_post(unsigned what);
uint64_t notify_counter(void);
/* Registers a hook for the kinds in mask; returns an id for
 * notify_remove_hook (-1 when every slot is taken). */
int notify_add_hook(notify_hook_cb fn, void *arg, unsigned mask);
void notify_remove_hook(int id);

#endif
