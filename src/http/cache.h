/*
 * cache.h - answers of read-only GETs, valid for one value of the store's
 * change sequence.
 *
 * Every write transaction bumps the sequence (store_tx does it), so an
 * entry stored at sequence S is exactly what the handler would build again
 * while the sequence is still S, on this node and on every other node that
 * shares the database. An entry is a complete libmicrohttpd response
 * (body and every header), queued as is by every request it answers: a
 * hit copies nothing. Thread-safe.
 */
#ifndef DMT_CACHE_H
#define DMT_CACHE_H

#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One cached answer; immutable once stored, freed with its last reference. */
struct cache_entry {
    struct MHD_Response *resp; /* complete: queue it without adding headers */
    unsigned status;
    char etag[64]; /* "" when none */
    atomic_uint refs;
};

/* The entry of key at seq with a reference for the caller (drop it with
 * http_cache_release once the response is queued: the connection holds
 * its own), or NULL. */
struct cache_entry *http_cache_get(const char *key, int64_t seq);
/* Stores resp (taken over: destroyed when the entry goes) as the answer of
 * key at seq, replacing an older one; when a newer one is already there,
 * or memory runs out, resp is destroyed at once. The caller must have
 * queued resp before if it sends it: the entry may go at any time. */
void http_cache_put(const char *key, int64_t seq, unsigned status, struct MHD_Response *resp,
                    const char *etag);
/* Drops a reference from http_cache_get; NULL does nothing. */
void http_cache_release(struct cache_entry *e);
/* Drops every entry (at shutdown). */
void http_cache_clear(void);

#endif
