/* cache.c - the answer cache (see cache.h): a small open hash table. */
#include "http/cache.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 256

struct slot {
    char *key;
    int64_t seq;
    struct cache_entry e;
};

static struct slot slots[SLOTS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static size_t slot_of(const char *key) {
    /* FNV-1a; collisions simply replace each other. */
    uint64_t h = 1469598103934665603ull;
    for (; *key != '\0'; key++) h = (h ^ (unsigned char)*key) * 1099511628211ull;
    return (size_t)(h % SLOTS);
}

bool http_cache_get(const char *key, int64_t seq, struct cache_entry *out) {
    struct slot *s = &slots[slot_of(key)];
    bool hit = false;
    pthread_mutex_lock(&lock);
    if (s->key != NULL && s->seq == seq && strcmp(s->key, key) == 0) {
        out->body = malloc(s->e.len + 1);
        if (out->body != NULL) {
            memcpy(out->body, s->e.body, s->e.len + 1);
            out->len = s->e.len;
            out->status = s->e.status;
            memcpy(out->etag, s->e.etag, sizeof(out->etag));
            hit = true;
        }
    }
    pthread_mutex_unlock(&lock);
    return hit;
}

void http_cache_put(const char *key, int64_t seq, unsigned status, const char *body, size_t len,
                    const char *etag) {
    char *k = strdup(key), *b = malloc(len + 1);
    if (k == NULL || b == NULL) {
        free(k);
        free(b);
        return;
    }
    memcpy(b, body, len);
    b[len] = '\0';
    struct slot *s = &slots[slot_of(key)];
    pthread_mutex_lock(&lock);
    if (s->key != NULL && strcmp(s->key, key) == 0 && s->seq > seq) {
        /* A newer answer is already there. */
        pthread_mutex_unlock(&lock);
        free(k);
        free(b);
        return;
    }
    free(s->key);
    free(s->e.body);
    s->key = k;
    s->seq = seq;
    s->e.body = b;
    s->e.len = len;
    s->e.status = status;
    snprintf(s->e.etag, sizeof(s->e.etag), "%s", etag ? etag : "");
    pthread_mutex_unlock(&lock);
}

void http_cache_clear(void) {
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < SLOTS; i++) {
        free(slots[i].key);
        free(slots[i].e.body);
        memset(&slots[i], 0, sizeof(slots[i]));
    }
    pthread_mutex_unlock(&lock);
}
