/* bus.c - messages between nodes (see bus.h). */
#include "core/bus.h"

#include <pthread.h>
#include <stddef.h>

#include "core/events.h"
#include "core/notify.h"

static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static bus_send_cb sender;
static void *sender_arg;

void bus_attach(bus_send_cb fn, void *arg) {
    pthread_rwlock_wrlock(&lock);
    sender = fn;
    sender_arg = arg;
    pthread_rwlock_unlock(&lock);
}

void bus_send(char kind, const char *body) {
    pthread_rwlock_rdlock(&lock);
    if (sender != NULL) sender(kind, body != NULL ? body : "", sender_arg);
    pthread_rwlock_unlock(&lock);
}

void bus_receive(const char *payload) {
    if (payload == NULL || payload[0] == '\0') return;
    if (payload[0] == BUS_EVENT && payload[1] == ' ')
        events_ingest(payload + 2);
    else if (payload[0] == BUS_LOG)
        notify_post(NOTIFY_LOG);
}

void bus_lost(void) {
    events_gap();
    notify_post(NOTIFY_ALL);
}
