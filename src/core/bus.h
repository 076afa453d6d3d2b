/*
 * bus.h - what one node tells the other nodes sharing its database.
 *
 * On one node, waiters are woken in-process: events_publish() fills the
 * change feed and notify_post() wakes executors and log followers. Nodes
 * sharing a PostgreSQL database must hear of each other's changes too (a
 * run queued on an API node, log chunks stored by a worker): bus_send()
 * hands a message to the transport attached with bus_attach()
 * (store/bus_pg.c: LISTEN/NOTIFY), which gives every other node's
 * messages to bus_receive(). Without a transport (SQLite: one process)
 * bus_send() does nothing.
 *
 * Messages are one kind byte and a body: BUS_EVENT carries the JSON body
 * of a change-feed event (see events.h), BUS_LOG says a run's log grew.
 * Thread-safe.
 */
#ifndef DMT_BUS_H
#define DMT_BUS_H

#define BUS_EVENT 'E'
#define BUS_LOG   'L'

/* Sends kind and body to the other nodes; must not block for long. */
typedef void (*bus_send_cb)(char kind, const char *body, void *arg);

/* Attaches the transport (NULL detaches it). */
void bus_attach(bus_send_cb fn, void *arg);

/* Hands one message to the transport, if one is attached. */
void bus_send(char kind, const char *body);

/*
 * One message from another node, as "KIND BODY" text: an event enters
 * this node's change feed (without being sent on), a log message wakes
 * the log followers. Anything else is ignored.
 */
void bus_receive(const char *payload);

/* Messages may have been lost (the transport reconnected): every event
 * stream is told to reload, every waiter is woken. */
void bus_lost(void);

#endif
