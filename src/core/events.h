/*
 * events.h - the change feed behind GET /api/v1/events.
 *
 * Every committed change (an API write, a run or task state change of the
 * executor) is published here as one event: an increasing id and a line
 * of JSON {"id", "kind", "name", "path", "version", "action", "status",
 * "ts"}, also sent to the other nodes sharing the database (bus.h), whose
 * events enter this feed in turn. The last EVENTS_KEEP events are kept in memory, so a client that
 * reconnects with Last-Event-ID gets what it missed; one that fell
 * further behind is told to reload everything. Publishing calls
 * notify_post(), which wakes the suspended event streams. Thread-safe.
 */
#ifndef DMT_EVENTS_H
#define DMT_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#define EVENTS_KEEP     1024
#define EVENTS_DATA_MAX 640 /* the longest JSON line of one event, NUL included */

/*
 * Publishes one event and wakes every waiter. kind is "environment",
 * "job", "task", "variable", "override" or "run"; name the object's name
 * (a run's id); path its API path or NULL; version its version or 0 when
 * unknown or deleted; action "created", "updated", "deleted" or a verb
 * ("cancel", "rerun"); status a run or task state or NULL. Strings are
 * copied (cut to fit); none may be NULL but path and status.
 */
void events_publish(const char *kind, const char *name, const char *path, int64_t version,
                    const char *action, const char *status);

/*
 * An event of another node (bus.h): body is its JSON without the id (the
 * members after "{"id":N,"). It gets an id of this node and is not sent on.
 * A body that is not one line of such JSON is ignored.
 */
void events_ingest(const char *body);

/* Events were lost (say, the link to the other nodes broke): every reader
 * gets a `reset` (reload everything) at its next read. */
void events_gap(void);

/* The id of the newest event (ids start at a random number, see
 * events.c). */
uint64_t events_last_id(void);

/*
 * Copies the JSON of the first event with an id greater than after into
 * out (size EVENTS_DATA_MAX) and its id into *id. Returns 1 if there was
 * one, 0 if after is the newest, -1 if events after `after` were dropped
 * from the ring, or never were in it (the reader must start over from
 * *id, then the newest id).
 */
int events_next(uint64_t after, uint64_t *id, char *out);

#endif
