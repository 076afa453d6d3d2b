/*
 * http.h - what the resource files of the HTTP layer share: the request
 * context, the reply helpers and the declarative body checks.
 *
 * A handler gets a parsed request (path parameters, JSON body, a store
 * handle of its thread) and either queues a response and returns DMT_OK, or
 * returns an error status with r->err filled in; the dispatcher then turns
 * that into problem+json. Handlers never answer 404 for routes, 405, 413
 * or malformed JSON themselves: the dispatcher does.
 */
#ifndef DMT_HTTP_H
#define DMT_HTTP_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"
#include "model/model.h"
#include "store/store.h"

#define HTTP_MAX_PARAMS 6

struct http_server;

/* One request, from its first byte to the completion callback that frees
 * it. Everything it points to lives as long as the request. */
struct req {
    struct http_server *srv;
    struct MHD_Connection *conn;
    const char *method;
    const char *url;
    const char *route; /* the route pattern, for metrics and logs */
    char *body;
    size_t body_len;
    size_t body_cap;
    bool too_large;
    const char *params[HTTP_MAX_PARAMS]; /* path parameters, in order */
    json_t *json;                        /* the parsed body, or NULL */
    struct store *store;                 /* this thread's store handle */
    struct dmt_err err;
    int64_t user_id; /* the authenticated user, 0 if anonymous */
    char user_name[72]; /* their name, "" if anonymous */
    int role;           /* their enum role; ROLE_NONE if anonymous */
    bool via_cookie;    /* authenticated by the session cookie (CSRF applies) */
    int64_t session_id; /* that session, 0 otherwise */
    char csrf_hash[65]; /* hex BLAKE2b of the session's CSRF token */
    bool delayed;       /* suspended until a delay ends; then answer err */
    int delayed_code;
    int status;      /* HTTP status answered, for the access log */
    char allow[64];  /* the Allow header of a 405 */
    /* One more header for whatever answer is queued (a lockout's
     * Retry-After, the Set-Cookie that ends a session), when name is set. */
    const char *extra_header;
    char extra_value[160];
    bool cacheable;  /* a GET whose answer depends only on path and data */
    bool have_seq;   /* seq holds the change sequence read for this request */
    int64_t seq;
    /* Set by a handler whose response outlives it (a streamed log): called
     * once from the completion callback, also when the client went away
     * mid-stream or the server is stopping, to free what it owns. */
    void (*cleanup)(void *arg);
    void *cleanup_arg;
    /* Storage of params. Last, and not cleared when a request starts:
     * only what route_match wrote is ever read. */
    char segs[HTTP_MAX_PARAMS][256];
};

typedef int (*http_handler_fn)(struct req *r);

/* Reply helpers: each queues the response and returns DMT_OK, or
 * DMT_ERR_INTERNAL if MHD refused it. `body` is taken over (decref'd). */
int reply_json(struct req *r, unsigned status, json_t *body, const char *etag);
/* 201 with Location (a printf format for the object's path) and body. */
int reply_created(struct req *r, json_t *body, const char *etag, const char *loc_fmt, ...)
    __attribute__((format(printf, 4, 5)));
int reply_empty(struct req *r, unsigned status);
/* Queues resp (taken over) with the common headers. */
int reply_response(struct req *r, unsigned status, struct MHD_Response *resp);
int reply_text(struct req *r, unsigned status, const char *content_type, const char *text,
               size_t len);
/* The problem+json for r->err (or for code with its default message). */
int reply_problem(struct req *r, int code);

/* Conditional requests. req_etag_fresh is true when If-None-Match matches
 * etag (answer 304 with reply_not_modified). req_if_match checks If-Match
 * against the current etag and fails with DMT_ERR_PRECONDITION in err. */
bool req_etag_fresh(struct req *r, const char *etag);
int reply_not_modified(struct req *r, const char *etag);
int req_if_match(struct req *r, const char *etag, struct dmt_err *err);

/*
 * One operation on the store and its answer. A handler fills in a tx
 * function that reads or changes the store and sets the answer with
 * op_answer(); op_run() runs it in one transaction (retried when busy) and
 * then queues the answer: a GET whose ETag matches If-None-Match gets 304,
 * 201 gets a Location, 204 no body.
 */
struct op {
    struct req *r;
    void *arg; /* the handler's own data */
    store_tx_fn fn;
    int64_t seq; /* the change sequence the answer was built at */
    unsigned status;
    json_t *body;
    char etag[64];
    char location[512];
};
int op_run(struct req *r, bool write, store_tx_fn fn, void *arg);
/* Sets the answer (taking over body, which may be NULL); etag may be NULL;
 * location is a printf format or NULL. Returns DMT_OK. */
int op_answer(struct op *op, unsigned status, json_t *body, const char *etag,
              const char *location, ...) __attribute__((format(printf, 5, 6)));

/* --- long-running responses (server.c) ------------------------------- */

/*
 * A response produced by a content reader (MHD_create_response_from_callback)
 * of unknown length, sent with chunked encoding; cls is borrowed (free it in
 * r->cleanup). The reader runs on the thread that owns the connection.
 */
int reply_stream(struct req *r, unsigned status, const char *content_type,
                 MHD_ContentReaderCallback reader, void *cls);

/* The store handle of the calling thread, for content readers: use it only
 * inside the reader call and leave no transaction open. NULL with err set
 * if it cannot be opened. */
struct store *req_thread_store(struct req *r, struct dmt_err *err);

/*
 * A streamed response that waits for news (log follow, later /events).
 * Register it with http_waiter_add when the stream starts and remove it in
 * r->cleanup. When its content reader has nothing to send it calls
 * http_waiter_suspend with the notify_counter() value read *before* it
 * looked at the store: if something was posted since, the answer is
 * HTTP_WAIT_AGAIN (look again: no wake-up is ever lost); if the server is
 * stopping, HTTP_WAIT_STOPPING (end the stream); otherwise the connection
 * is suspended and the reader must return 0. Every notify_post(), a
 * keep-alive tick (every HTTP_WAIT_TICK_S seconds) and the server's
 * shutdown resume it, and MHD calls the reader again.
 */
#define HTTP_WAIT_TICK_S 15
struct http_waiter {
    struct MHD_Connection *conn;
    bool suspended;
    struct http_waiter *prev, *next;
};
enum http_wait { HTTP_WAIT_SUSPENDED, HTTP_WAIT_AGAIN, HTTP_WAIT_STOPPING };
void http_waiter_add(struct req *r, struct http_waiter *w);
void http_waiter_remove(struct req *r, struct http_waiter *w);
enum http_wait http_waiter_suspend(struct req *r, struct http_waiter *w, uint64_t seen);

/* The change sequence now (read once per request, outside transactions). */
int req_seq(struct req *r, int64_t *out);

/* A query string argument, or NULL. Borrowed for the request. */
const char *req_query(struct req *r, const char *key);

/* --- declarative body checks (spec.c) ------------------------------- */

enum spec_type {
    SPEC_SLUG,      /* const char **: a name of §2 */
    SPEC_VARNAME,   /* const char **: a variable name */
    SPEC_STRING,    /* const char ** */
    SPEC_INT,       /* int64_t *, within [min, max] */
    SPEC_BOOL,      /* bool * */
    SPEC_ANY,       /* json_t ** (borrowed; may be JSON null) */
    SPEC_STR_ARRAY, /* json_t ** an array of strings */
    SPEC_TAGS,      /* json_t ** an array of at most 32 distinct slugs */
    SPEC_OBJECT,    /* json_t ** an object */
};

struct spec {
    const char *name;
    enum spec_type type;
    bool required;
    void *dst;
    bool *present; /* optional: set when the field was given */
    int64_t min, max;
};

/* Checks r->json against specs (ended by a NULL name): it must be an
 * object, every member must be known and of its type, every required one
 * present. Collects every field error in r->err and returns
 * DMT_ERR_INVALID, or fills the destinations and returns DMT_OK. A body
 * that is absent counts as {} . */
int spec_parse(struct req *r, const struct spec *specs);

/* --- resources: one file each ---------------------------------------- */
int res_healthz(struct req *r);
int res_openapi(struct req *r);
int res_plugin_list(struct req *r);
int res_plugin_get(struct req *r);
int res_env_list(struct req *r);
int res_env_create(struct req *r);
int res_env_get(struct req *r);
int res_env_patch(struct req *r);
int res_env_delete(struct req *r);
int res_job_list(struct req *r);
int res_job_create(struct req *r);
int res_job_get(struct req *r);
int res_job_patch(struct req *r);
int res_job_delete(struct req *r);
int res_task_list(struct req *r);
int res_task_create(struct req *r);
int res_task_get(struct req *r);
int res_task_patch(struct req *r);
int res_task_delete(struct req *r);
int res_var_list(struct req *r);
int res_var_create(struct req *r);
int res_var_get(struct req *r);
int res_var_patch(struct req *r);
int res_var_delete(struct req *r);
int res_override_get(struct req *r);
int res_override_put(struct req *r);
int res_override_delete(struct req *r);
int res_workflow_get(struct req *r);
int res_plan_get(struct req *r);
int res_run_create(struct req *r);
int res_run_list(struct req *r);
int res_run_get(struct req *r);
int res_run_cancel(struct req *r);
int res_run_rerun(struct req *r);
int res_run_log(struct req *r);
int res_metrics(struct req *r);
int res_session_get(struct req *r);
int res_session_create(struct req *r);
int res_session_delete(struct req *r);
int res_user_list(struct req *r);
int res_user_create(struct req *r);
int res_user_get(struct req *r);
int res_user_patch(struct req *r);
int res_user_delete(struct req *r);
int res_token_list(struct req *r);
int res_token_create(struct req *r);
int res_token_delete(struct req *r);
int res_audit_list(struct req *r);
int res_worker_list(struct req *r);

/* Suspends r and answers the problem for code (r->err) after ms
 * milliseconds without holding a server thread (a failed login is
 * answered slowly). Returns DMT_OK. */
int reply_problem_later(struct req *r, int code, unsigned ms);

/* Whether r came over TLS (cookies get Secure). */
bool req_is_tls(const struct req *r);

/* The actor of an authenticated request (borrowed from r). */
struct actor req_actor(const struct req *r);

/* Writes one audit entry inside the caller's write transaction: who is
 * r's user; detail (taken over, may be NULL) never holds a secret. */
int audit_write(struct store *s, const struct req *r, const char *action, const char *kind,
                const char *name, json_t *detail, struct dmt_err *err);
int res_events(struct req *r);
int res_ui(struct req *r);

/* Publishes the change a committed write made (res_events.c): its kind and
 * name from location (when given) or the request path, its version from
 * etag, its action from the method and status. Called by op_run. */
void http_events_publish_write(struct req *r, unsigned status, const char *etag,
                               const char *location);

/* --- representations (repr.c) ---------------------------------------- */
/* Each returns a new reference. Secret values are never included. */
json_t *repr_env(const struct env *e);
json_t *repr_job(const struct job *j, json_t *tasks);
json_t *repr_task(const struct task *t, json_t *variables);
/* envs: to name the overrides; overrides: those of this variable. */
json_t *repr_var(const struct var *v, const struct override_list *ovs, const struct env_list *envs);
json_t *repr_list(json_t *items); /* {"items": items, "next": null} */

/* --- views of a whole job (repr.c, res_job.c) --------------------------- */
#include "model/resolve.h"

/* A task with its variables and their overrides; new reference. */
json_t *repr_view_task(const struct job_view *v, const struct task *t);
/* A job with all its tasks; new reference. */
json_t *repr_view_job(const struct job_view *v);

/* Loads the view of the job in the path (params[0]) and, when the path
 * has them, points *task at params[1] and *var at params[2] inside it. */
int view_load(struct op *op, struct store *s, struct job_view *v, struct task **task,
              struct var **var, struct dmt_err *err);

#endif
