/*
 * client.h - the CLI's HTTP client of the dmt REST API (libcurl + jansson).
 *
 * The server is found at $DMT_URL (default http://127.0.0.1:8080) and every
 * request carries `Authorization: Bearer $DMT_TOKEN` when that is set. Paths
 * given to the functions below are relative to /api/v1 ("/environments").
 * Bodies are JSON both ways; a problem document (RFC 9457) answered by the
 * server becomes a struct dmt_err whose message is the problem's `detail`
 * and whose `fields` are its `errors`.
 */
#ifndef DMT_CLI_CLIENT_H
#define DMT_CLI_CLIENT_H

#include <jansson.h>

#include "core/status.h"

/* The largest response body the client accepts. */
#define CLIENT_MAX_BODY (64u * 1024u * 1024u)

struct client;

/* Creates a client configured from the environment (DMT_URL, DMT_TOKEN).
 * curl_global_init must have been called. Returns NULL only when libcurl
 * cannot create a handle. The caller frees it with client_free. */
struct client *client_new(void);

/* Frees c; client_free(NULL) does nothing. */
void client_free(struct client *c);

/*
 * Applies the TLS settings of the environment to a libcurl easy handle
 * (a CURL *, given as void * so this header needs no curl): DMT_CACERT
 * names a PEM file of CA certificates to trust for an https:// DMT_URL;
 * DMT_INSECURE=1 turns certificate and host name verification off (for
 * tests only: anyone on the path can then read the token). Call it after
 * every curl_easy_reset.
 */
void client_curl_tls(void *curl);

/* The base URL in use (e.g. "http://127.0.0.1:8080"); borrowed from c. */
const char *client_base_url(const struct client *c);

/*
 * Performs one request: method ("GET", "POST", ...), path relative to
 * /api/v1 (already escaped, see client_path), body sent as JSON when not
 * NULL (borrowed). On a 2xx answer returns DMT_OK, stores the HTTP status in
 * *http_status (may be NULL) and the parsed body in *out (may be NULL; a new
 * reference the caller decrefs, NULL when the answer has no body). On any
 * other answer or failure returns the matching status code and fills err:
 * msg from the problem's detail (or title), fields from its `errors`, and
 * extra holding the whole problem document when there is one.
 */
int client_request(struct client *c, const char *method, const char *path, json_t *body,
                   long *http_status, json_t **out, struct dmt_err *err);

/* GET of a list: follows `next` cursors and hands back in *items (a new
 * reference the caller decrefs) every item of every page. */
int client_get_list(struct client *c, const char *path, json_t **items, struct dmt_err *err);

/*
 * Builds an API path from NULL-terminated segments, each URL-escaped:
 * client_path("jobs", job, "tasks", NULL) gives "/jobs/<job>/tasks".
 * The caller frees the result. Aborts when out of memory.
 */
char *client_path(const char *first, ...) __attribute__((sentinel));

/* Returns a copy of s with every byte outside [A-Za-z0-9._~-] percent-encoded,
 * usable as a path segment or a query value. The caller frees it. */
char *client_escape(const char *s);

#endif
