/* server.h - the HTTP server of `dmt serve` (libmicrohttpd). */
#ifndef DMT_SERVER_H
#define DMT_SERVER_H

#include <stddef.h>

#include "core/status.h"

struct http_opts {
    const char *host;   /* "127.0.0.1" */
    unsigned port;      /* 0 picks a free one */
    const char *db_url; /* each server thread opens its own store on it */
    size_t max_body;    /* bytes */
    unsigned threads;   /* MHD thread pool size */
    /* Both set: serve HTTPS with this certificate (chain) and key, PEM
     * text (borrowed until http_server_start returns); both NULL: HTTP. */
    const char *tls_cert_pem;
    const char *tls_key_pem;
};

struct http_server;

/* Starts listening and serving in background threads. *out is released by
 * http_server_stop(). */
int http_server_start(const struct http_opts *opts, struct http_server **out,
                      struct dmt_err *err);
/* The port actually bound (useful with port 0). */
unsigned http_server_port(const struct http_server *srv);
/* Stops accepting, finishes requests in flight, frees the server. */
void http_server_stop(struct http_server *srv);

#endif
