/*
 * cache.h - serialized answers of read-only GETs, valid for one value of
 * the store's change sequence.
 *
 * Every write transaction bumps the sequence (store_tx does it), so an
 * entry stored at sequence S is exactly what the handler would build again
 * while the sequence is still S, on this node and on every other node that
 * shares the database. Thread-safe.
 */
#ifndef DMT_CACHE_H
#define DMT_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cache_entry {
    char *body; /* malloc'd copy, owned by the caller after cache_get */
    size_t len;
    char etag[64];
    unsigned status;
};

/* Copies the entry of key at seq into out and returns true, or false. */
bool http_cache_get(const char *key, int64_t seq, struct cache_entry *out);
/* Stores a copy of body for key at seq (replacing an older one). */
void http_cache_put(const char *key, int64_t seq, unsigned status, const char *body, size_t len,
                    const char *etag);
/* Drops every entry (at shutdown). */
void http_cache_clear(void);

#endif
