/*
 * bus_pg.c - the link between nodes on PostgreSQL: LISTEN/NOTIFY on the
 * channel "dmt" (core/bus.h).
 *
 * One thread owns one connection of its own. It LISTENs, hands every
 * notification of another backend to bus_receive(), and sends what
 * bus_send() queued with pg_notify(), several per statement. Its own
 * notifications come back to it too (a listener hears its own channel);
 * they are told apart by the sending backend's pid.
 *
 * What is sent is a wake-up, never data: receivers read the store. A
 * notification is sent after the change it announces committed, so a
 * receiver reads the change. When the connection breaks, messages may be
 * lost both ways: after reconnecting, bus_lost() makes every event stream
 * of this node reload and wakes every waiter, and the first message sent
 * is a reset, which does the same on every other node (it may have missed
 * what this one could not send). Log messages are coalesced (one per
 * round), and a full queue is replaced by one reset message. TCP
 * keepalives and a ping after a quiet minute notice a connection that died
 * without a word (a NAT timeout, a failover without a reset).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/bus.h"
#include "core/util.h"
#include "store/pg_dl.h"
#include "store/store.h"

#define CHANNEL    "dmt"
#define QUEUE_MAX  1024 /* messages waiting to be sent; more: one reset */
#define BATCH_MAX  32   /* notifications per statement */
#define RETRY_MS   1000  /* between connection attempts */
#define PING_MS    60000 /* a quiet connection is checked this often */
#define BUS_RESET  'R'

struct store_bus {
    char *conninfo;
    pthread_t thread;
    bool started;
    int wakefd;
    atomic_bool stop;
    pthread_mutex_t lock; /* guards the queue and the flags */
    char *queue[QUEUE_MAX];
    size_t n;
    bool log_pending, overflow;
    PGconn *conn;
    int pid; /* the backend pid of conn */
};

static void wake(struct store_bus *b) {
    uint64_t one = 1;
    ssize_t w = write(b->wakefd, &one, sizeof(one));
    (void)w;
}

/* bus_send's transport: queue and wake the thread; never blocks on I/O. */
static void enqueue(char kind, const char *body, void *arg) {
    struct store_bus *b = arg;
    pthread_mutex_lock(&b->lock);
    if (kind == BUS_LOG) {
        b->log_pending = true;
    } else if (b->n < QUEUE_MAX) {
        size_t len = strlen(body);
        char *m = malloc(len + 3);
        if (m != NULL) {
            m[0] = kind;
            m[1] = ' ';
            memcpy(m + 2, body, len + 1);
            b->queue[b->n++] = m;
        } else {
            b->overflow = true;
        }
    } else {
        b->overflow = true;
    }
    pthread_mutex_unlock(&b->lock);
    wake(b);
}

/* A message of another node. A reset is handled here; the rest by
 * bus_receive. */
static void deliver(const char *payload) {
    if (payload[0] == BUS_RESET)
        bus_lost();
    else
        bus_receive(payload);
}

static void disconnect(struct store_bus *b, const char *why) {
    if (b->conn == NULL) return;
    if (why != NULL) /* libpq's messages run over several lines: the first */
        log_warn("node link: %.*s; reconnecting", (int)strcspn(why, "\n"), why);
    PQfinish(b->conn);
    b->conn = NULL;
}

static bool connect_listen(struct store_bus *b) {
    /* What conninfo says wins over these (expanded in place of dbname). */
    const char *const keys[] = {"connect_timeout",   "application_name",   "keepalives_idle",
                                "keepalives_interval", "keepalives_count", "tcp_user_timeout",
                                "dbname",            NULL};
    const char *const vals[] = {"10", "dmt-bus", "10", "5", "3", "30000", b->conninfo, NULL};
    b->conn = PQconnectdbParams(keys, vals, 1);
    if (b->conn == NULL) return false;
    if (PQstatus(b->conn) != CONNECTION_OK) {
        char msg[200];
        snprintf(msg, sizeof(msg), "%s", PQerrorMessage(b->conn));
        msg[strcspn(msg, "\n")] = '\0';
        disconnect(b, msg);
        return false;
    }
    PGresult *res = PQexec(b->conn, "LISTEN " CHANNEL);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (!ok) {
        disconnect(b, "LISTEN failed");
        return false;
    }
    b->pid = PQbackendPID(b->conn);
    return true;
}

/* Hands on every notification the connection has read. */
static void drain_notifies(struct store_bus *b) {
    PGnotify *n;
    while (b->conn != NULL && (n = PQnotifies(b->conn)) != NULL) {
        if (n->be_pid != b->pid && n->extra != NULL) deliver(n->extra);
        PQfreemem(n);
    }
}

/* Sends up to BATCH_MAX payloads in one statement. */
static bool notify_batch(struct store_bus *b, char **msgs, int count) {
    char sql[BATCH_MAX * 32 + 16];
    size_t pos = (size_t)snprintf(sql, sizeof(sql), "SELECT 1");
    for (int i = 0; i < count; i++)
        pos += (size_t)snprintf(sql + pos, sizeof(sql) - pos, ", pg_notify('" CHANNEL "', $%d)",
                                i + 1);
    PGresult *res =
        PQexecParams(b->conn, sql, count, NULL, (const char *const *)msgs, NULL, NULL, 0);
    bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    PQclear(res);
    return ok;
}

/* Sends what is queued. False when the connection failed (what was
 * taken is lost; the receivers get a reset after the reconnection). */
static bool flush(struct store_bus *b) {
    char *msgs[QUEUE_MAX + 2];
    int count = 0;
    pthread_mutex_lock(&b->lock);
    if (b->overflow) {
        /* Whatever was queued is superseded by a reset. */
        for (size_t i = 0; i < b->n; i++) free(b->queue[i]);
        b->n = 0;
        b->overflow = false;
        b->log_pending = false;
        msgs[count++] = util_strdup("R");
    }
    for (size_t i = 0; i < b->n; i++) msgs[count++] = b->queue[i];
    b->n = 0;
    if (b->log_pending) msgs[count++] = util_strdup("L");
    b->log_pending = false;
    pthread_mutex_unlock(&b->lock);

    bool ok = true;
    for (int i = 0; i < count && ok; i += BATCH_MAX)
        ok = notify_batch(b, msgs + i, count - i < BATCH_MAX ? count - i : BATCH_MAX);
    for (int i = 0; i < count; i++) free(msgs[i]);
    return ok;
}

static void *loop(void *arg) {
    struct store_bus *b = arg;
    int quiet_ms = 0;
    while (!atomic_load(&b->stop)) {
        if (b->conn == NULL) {
            if (!connect_listen(b)) {
                struct pollfd p = {.fd = b->wakefd, .events = POLLIN};
                poll(&p, 1, RETRY_MS);
                continue;
            }
            /* The first connection is made at start: this is a new one.
             * Messages may have been missed both ways. */
            log_info("node link: reconnected; open pages reload, here and on the other nodes");
            bus_lost();
            pthread_mutex_lock(&b->lock);
            b->overflow = true; /* a reset goes out first */
            pthread_mutex_unlock(&b->lock);
        }
        if (!flush(b)) {
            disconnect(b, PQerrorMessage(b->conn));
            struct pollfd p = {.fd = b->wakefd, .events = POLLIN};
            poll(&p, 1, RETRY_MS); /* not a tight loop if sending keeps failing */
            continue;
        }
        drain_notifies(b);
        struct pollfd p[2] = {{.fd = PQsocket(b->conn), .events = POLLIN},
                              {.fd = b->wakefd, .events = POLLIN}};
        int n = poll(p, 2, 1000);
        if (n < 0 && errno != EINTR) break;
        quiet_ms = n == 0 ? quiet_ms + 1000 : 0;
        if (quiet_ms >= PING_MS) {
            quiet_ms = 0;
            PGresult *res = PQexec(b->conn, "SELECT 1");
            bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;
            PQclear(res);
            if (!ok) {
                disconnect(b, PQerrorMessage(b->conn));
                continue;
            }
        }
        if (p[1].revents & POLLIN) {
            uint64_t v;
            ssize_t r = read(b->wakefd, &v, sizeof(v));
            (void)r;
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            if (PQconsumeInput(b->conn) == 0) {
                disconnect(b, PQerrorMessage(b->conn));
                continue;
            }
            drain_notifies(b);
        }
    }
    return NULL;
}

int store_bus_pg_start(const char *conninfo, struct store_bus **out, struct dmt_err *err) {
    const char *why = NULL;
    if (pg_dl_load(&why) != 0) return dmt_err_set(err, DMT_ERR_CONFIG, "%s", why);
    struct store_bus *b = calloc(1, sizeof(*b));
    if (b == NULL) return dmt_err_set(err, DMT_ERR_NOMEM, "out of memory");
    b->conninfo = util_strdup(conninfo);
    b->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    pthread_mutex_init(&b->lock, NULL);
    /* Connect now, so that a node that cannot reach the database says so
     * at start and nothing queued before the LISTEN is missed. */
    if (b->wakefd < 0 || !connect_listen(b)) {
        int rc = dmt_err_set(err, DMT_ERR_STORE, "cannot open the link to the other nodes");
        store_bus_stop(b);
        return rc;
    }
    b->started = pthread_create(&b->thread, NULL, loop, b) == 0;
    if (!b->started) {
        store_bus_stop(b);
        return dmt_err_set(err, DMT_ERR_IO, "cannot start the node link thread");
    }
    bus_attach(enqueue, b);
    *out = b;
    return DMT_OK;
}

void store_bus_stop(struct store_bus *b) {
    if (b == NULL) return;
    bus_attach(NULL, NULL);
    if (b->started) {
        atomic_store(&b->stop, true);
        wake(b);
        pthread_join(b->thread, NULL);
        /* What the last changes announced goes out before the link closes. */
        if (b->conn != NULL) flush(b);
    }
    disconnect(b, NULL);
    for (size_t i = 0; i < b->n; i++) free(b->queue[i]);
    if (b->wakefd >= 0) close(b->wakefd);
    pthread_mutex_destroy(&b->lock);
    free(b->conninfo);
    free(b);
}
