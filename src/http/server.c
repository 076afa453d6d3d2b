/*
 * server.c - libmicrohttpd glue: the route table, the request lifecycle,
 * authentication, and the reply helpers every resource uses.
 */
#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/metrics.h"
#include "core/notify.h"
#include "core/util.h"
#include "http/auth.h"
#include "http/cache.h"
#include "http/http.h"

struct http_server {
    struct MHD_Daemon *daemon;
    char *db_url;
    size_t max_body;
    unsigned port;
    /* Streams waiting for news (struct http_waiter), under wait_lock. */
    pthread_mutex_t wait_lock;
    pthread_cond_t wait_cond; /* a waiter left, or the ticker should stop */
    struct http_waiter *waiters;
    size_t nwaiters;
    bool stopping;
    int notify_hook; /* -1 if not registered */
    pthread_t ticker;
    bool ticker_started;
    /* Answers held back for a while (failed logins), under delay_lock. */
    pthread_mutex_t delay_lock;
    pthread_cond_t delay_cond;
    struct delayed *delayed;
    bool delay_stopping;
    pthread_t delayer;
    bool delayer_started;
    bool tls; /* served over TLS */
};

/* One suspended connection whose answer waits until `until`. */
struct delayed {
    struct MHD_Connection *conn;
    struct timespec until; /* CLOCK_MONOTONIC */
    struct delayed *next;
};

/* Each MHD thread opens its own store connection on first use; the key's
 * destructor closes it when the thread ends. */
static pthread_key_t store_key;
static pthread_once_t store_key_once = PTHREAD_ONCE_INIT;

static void store_key_free(void *p) { store_close(p); }
static void store_key_make(void) { pthread_key_create(&store_key, store_key_free); }

/* Each MHD thread keeps the last request it freed for its next one: a
 * struct req is larger than malloc's per-thread caches take, so a fresh
 * one per request costs a trip through the shared arena. The key's
 * destructor frees it when the thread ends. Under AddressSanitizer every
 * request gets fresh memory, so a use after the completion callback is
 * still caught. */
#if defined(__SANITIZE_ADDRESS__)
#define REQ_REUSE 0
#else
#define REQ_REUSE 1
#endif
static pthread_key_t spare_key;
static pthread_once_t spare_key_once = PTHREAD_ONCE_INIT;

static void spare_key_make(void) { pthread_key_create(&spare_key, free); }

/* --- the route table ---------------------------------------------------- */

enum { M_GET, M_POST, M_PUT, M_PATCH, M_DELETE, M_COUNT };
static const char *const method_names[M_COUNT] = {"GET", "POST", "PUT", "PATCH", "DELETE"};

struct route {
    const char *pattern; /* "*" matches one path segment */
    http_handler_fn fn[M_COUNT];
    bool nocache; /* its GET depends on more than path and data */
    /* The least role each method needs (DESIGN.md §7), one letter per
     * method in the order GET POST PUT PATCH DELETE: '-' anyone, 'v'
     * viewer, 'o' operator, 'e' editor, 'a' admin. NULL: GET viewer,
     * writes editor. Routes outside /api/v1 other than /metrics (/healthz,
     * the UI's static assets) need no login whatever this says. */
    const char *roles;
};

#define V "/api/v1"
#define VAR V "/jobs/*/tasks/*/variables/*"
/* R: a route; Q: a route whose GET also depends on its query string. */
#define R(pattern, ...) {pattern, {__VA_ARGS__}, false, NULL}
#define Q(pattern, ...) {pattern, {__VA_ARGS__}, true, NULL}
/* RA: a route with its roles spelled out (see struct route). */
#define RA(roles, pattern, ...) {pattern, {__VA_ARGS__}, false, roles}
#define QA(roles, pattern, ...) {pattern, {__VA_ARGS__}, true, roles}
static const struct route routes[] = {
    R("/healthz", [M_GET] = res_healthz),
    R(V "/openapi.json", [M_GET] = res_openapi),
    R(V "/plugins", [M_GET] = res_plugin_list),
    R(V "/plugins/*", [M_GET] = res_plugin_get),
    RA("vaaaa", V "/environments", [M_GET] = res_env_list, [M_POST] = res_env_create),
    RA("vaaaa", V "/environments/*", [M_GET] = res_env_get, [M_PATCH] = res_env_patch,
       [M_DELETE] = res_env_delete),
    R(V "/jobs", [M_GET] = res_job_list, [M_POST] = res_job_create),
    R(V "/jobs/*", [M_GET] = res_job_get, [M_PATCH] = res_job_patch, [M_DELETE] = res_job_delete),
    R(V "/jobs/*/workflow", [M_GET] = res_workflow_get),
    Q(V "/jobs/*/plan", [M_GET] = res_plan_get),
    R(V "/jobs/*/tasks", [M_GET] = res_task_list, [M_POST] = res_task_create),
    R(V "/jobs/*/tasks/*", [M_GET] = res_task_get, [M_PATCH] = res_task_patch, [M_DELETE] = res_task_delete),
    R(V "/jobs/*/tasks/*/variables", [M_GET] = res_var_list, [M_POST] = res_var_create),
    R(VAR, [M_GET] = res_var_get, [M_PATCH] = res_var_patch, [M_DELETE] = res_var_delete),
    R(VAR "/overrides/*", [M_GET] = res_override_get, [M_PUT] = res_override_put, [M_DELETE] = res_override_delete),
    RA("voooo", V "/jobs/*/runs", [M_POST] = res_run_create),
    Q(V "/runs", [M_GET] = res_run_list),
    Q(V "/runs/*", [M_GET] = res_run_get),
    RA("voooo", V "/runs/*/cancel", [M_POST] = res_run_cancel),
    RA("voooo", V "/runs/*/rerun", [M_POST] = res_run_rerun),
    Q(V "/runs/*/log", [M_GET] = res_run_log),
    Q("/metrics", [M_GET] = res_metrics),
    QA("v-vvv", V "/session", [M_GET] = res_session_get, [M_POST] = res_session_create,
       [M_DELETE] = res_session_delete),
    RA("aaaaa", V "/users", [M_GET] = res_user_list, [M_POST] = res_user_create),
    RA("aaaaa", V "/users/*", [M_GET] = res_user_get, [M_PATCH] = res_user_patch,
       [M_DELETE] = res_user_delete),
    RA("aaaaa", V "/tokens", [M_GET] = res_token_list, [M_POST] = res_token_create),
    RA("aaaaa", V "/tokens/*", [M_DELETE] = res_token_delete),
    QA("aaaaa", V "/audit", [M_GET] = res_audit_list),
    Q(V "/workers", [M_GET] = res_worker_list),
    Q(V "/events", [M_GET] = res_events),
    R("/", [M_GET] = res_ui),
    R("/assets/*", [M_GET] = res_ui),
    /* The UI's own pages (web/app.js routes): each is index.html. */
    R("/workflows", [M_GET] = res_ui), R("/workflows/*", [M_GET] = res_ui),
    R("/workflows/*/*", [M_GET] = res_ui), R("/jobs", [M_GET] = res_ui),
    R("/tasks", [M_GET] = res_ui), R("/variables", [M_GET] = res_ui),
    R("/environments", [M_GET] = res_ui), R("/runs", [M_GET] = res_ui),
    R("/runs/*", [M_GET] = res_ui), R("/plugins", [M_GET] = res_ui),
    R("/workers", [M_GET] = res_ui),
    R("/login", [M_GET] = res_ui),
};
#undef R
#undef Q
#undef RA
#undef QA
#undef VAR
#undef V

/* Matches path against pattern, filling params; false if it does not. */
static bool route_match(const char *pattern, const char *path, struct req *r) {
    int np = 0;
    char(*segs)[sizeof(r->segs[0])] = r->segs;
    while (*pattern != '\0' && *path != '\0') {
        if (*pattern == '*') {
            const char *end = strchr(path, '/');
            size_t len = end ? (size_t)(end - path) : strlen(path);
            if (len == 0 || len >= sizeof(r->segs[0]) || np >= HTTP_MAX_PARAMS) return false;
            memcpy(segs[np], path, len);
            segs[np][len] = '\0';
            r->params[np] = segs[np];
            np++;
            pattern++;
            path += len;
            continue;
        }
        if (*pattern != *path) return false;
        pattern++;
        path++;
    }
    return *pattern == '\0' && *path == '\0';
}

/* --- replies ------------------------------------------------------------ */

static void add_common_headers(struct MHD_Response *resp) {
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                            "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
                            "base-uri 'none'; form-action 'self'");
}

/* Queues a complete response that other requests may share: nothing is
 * added to it, and the caller keeps its reference (MHD takes its own). */
static int queue_shared(struct req *r, unsigned status, struct MHD_Response *resp) {
    r->status = (int)status;
    return MHD_queue_response(r->conn, status, resp) == MHD_YES ? DMT_OK : DMT_ERR_INTERNAL;
}

/* Queues resp (taking it over) with the common headers. */
static int queue(struct req *r, unsigned status, struct MHD_Response *resp) {
    if (resp == NULL) return dmt_err_set(&r->err, DMT_ERR_NOMEM, "cannot build a response");
    add_common_headers(resp);
    if (r->extra_header != NULL) MHD_add_response_header(resp, r->extra_header, r->extra_value);
    r->status = (int)status;
    enum MHD_Result ok = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    return ok == MHD_YES ? DMT_OK : DMT_ERR_INTERNAL;
}

int reply_text(struct req *r, unsigned status, const char *content_type, const char *text,
               size_t len) {
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
    if (resp != NULL && content_type != NULL)
        MHD_add_response_header(resp, "Content-Type", content_type);
    return queue(r, status, resp);
}

static int reply_json_typed(struct req *r, unsigned status, json_t *body, const char *etag,
                            const char *location, const char *type) {
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (text == NULL) return dmt_err_set(&r->err, DMT_ERR_NOMEM, "cannot encode JSON");
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(text);
        return dmt_err_set(&r->err, DMT_ERR_NOMEM, "cannot build a response");
    }
    MHD_add_response_header(resp, "Content-Type", type);
    if (etag != NULL) MHD_add_response_header(resp, "ETag", etag);
    if (location != NULL) MHD_add_response_header(resp, "Location", location);
    return queue(r, status, resp);
}

int reply_json(struct req *r, unsigned status, json_t *body, const char *etag) {
    return reply_json_typed(r, status, body, etag, NULL, "application/json");
}

int reply_created(struct req *r, json_t *body, const char *etag, const char *loc_fmt, ...) {
    char loc[1024];
    va_list ap;
    va_start(ap, loc_fmt);
    vsnprintf(loc, sizeof(loc), loc_fmt, ap);
    va_end(ap);
    return reply_json_typed(r, 201, body, etag, loc, "application/json");
}

int reply_response(struct req *r, unsigned status, struct MHD_Response *resp) {
    return queue(r, status, resp);
}

int reply_empty(struct req *r, unsigned status) {
    return queue(r, status, MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT));
}

int reply_stream(struct req *r, unsigned status, const char *content_type,
                 MHD_ContentReaderCallback reader, void *cls) {
    /* 32 KiB blocks: the reader fills at most that much per call. */
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, reader, cls, NULL);
    if (resp != NULL) {
        MHD_add_response_header(resp, "Content-Type", content_type);
        /* Proxies (nginx) must pass each piece on at once. */
        MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    }
    return queue(r, status, resp);
}

int reply_not_modified(struct req *r, const char *etag) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (resp != NULL) MHD_add_response_header(resp, "ETag", etag);
    return queue(r, 304, resp);
}

static const char *const problem_slugs[] = {
#define X(name, num, http, msg) #name,
    DMT_STATUS_MAP(X)
#undef X
};

int reply_problem(struct req *r, int code) {
    struct dmt_err *e = &r->err;
    if (e->code == DMT_OK) e->code = code;
    int http = dmt_status_http(e->code);
    if (http >= 500) log_error("%s %s: %s (%s)", r->method, r->url, e->msg,
                               dmt_status_name(e->code));
    char type[96];
    /* "urn:dmt:problem:not-found" from ERR_NOT_FOUND. */
    const char *slug = problem_slugs[e->code] + 4;
    size_t n = 0;
    n += (size_t)snprintf(type, sizeof(type), "urn:dmt:problem:");
    for (; *slug != '\0' && n + 1 < sizeof(type); slug++)
        type[n++] = *slug == '_' ? '-' : (char)(*slug | 0x20);
    type[n] = '\0';
    json_t *doc = json_pack("{s:s, s:s, s:i, s:s}", "type", type, "title",
                            dmt_status_message(e->code), "status", http, "detail",
                            e->msg[0] != '\0' ? e->msg : dmt_status_message(e->code));
    if (e->fields != NULL) json_object_set(doc, "errors", e->fields);
    if (e->extra != NULL) json_object_update(doc, e->extra);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    struct MHD_Response *resp =
        text ? MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE) : NULL;
    if (resp == NULL) {
        free(text);
        return DMT_ERR_NOMEM;
    }
    MHD_add_response_header(resp, "Content-Type", "application/problem+json");
    if (e->code == DMT_ERR_METHOD) MHD_add_response_header(resp, "Allow", r->allow);
    if (e->code == DMT_ERR_UNAUTHORIZED)
        MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"dmt\"");
    return queue(r, (unsigned)http, resp);
}

/* --- conditional requests ------------------------------------------------ */

/* True if the comma-separated list of entity tags in header holds etag or *. */
static bool etag_listed(const char *header, const char *etag) {
    size_t elen = strlen(etag);
    const char *p = header;
    while (*p != '\0') {
        while (*p == ' ' || *p == ',') p++;
        if (*p == '*') return true;
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len > 0 && p[len - 1] == ' ') len--;
        if (len == elen && memcmp(p, etag, elen) == 0) return true;
        if (end == NULL) break;
        p = end + 1;
    }
    return false;
}

bool req_etag_fresh(struct req *r, const char *etag) {
    const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "If-None-Match");
    return h != NULL && etag_listed(h, etag);
}

int req_if_match(struct req *r, const char *etag, struct dmt_err *err) {
    const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "If-Match");
    if (h == NULL || etag_listed(h, etag)) return DMT_OK;
    return dmt_err_set(err, DMT_ERR_PRECONDITION,
                       "the object has changed since you read it (its ETag is now %s); "
                       "read it again and retry",
                       etag);
}

int op_answer(struct op *op, unsigned status, json_t *body, const char *etag,
              const char *location, ...) {
    json_decref(op->body);
    op->status = status;
    op->body = body;
    op->etag[0] = op->location[0] = '\0';
    if (etag != NULL) snprintf(op->etag, sizeof(op->etag), "%s", etag);
    if (location != NULL) {
        va_list ap;
        va_start(ap, location);
        vsnprintf(op->location, sizeof(op->location), location, ap);
        va_end(ap);
    }
    return DMT_OK;
}

int req_seq(struct req *r, int64_t *out) {
    if (!r->have_seq) {
        int rc = r->store->ops->seq_get(r->store->ctx, &r->seq, &r->err);
        if (rc != DMT_OK) return rc;
        r->have_seq = true;
    }
    *out = r->seq;
    return DMT_OK;
}

/* The response of a serialized answer (text taken over) with its
 * Content-Type, ETag and Location; NULL (text freed) when out of memory. */
static struct MHD_Response *serialized_response(char *text, size_t len, const char *etag,
                                                const char *location) {
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(text);
        return NULL;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    if (etag != NULL) MHD_add_response_header(resp, "ETag", etag);
    if (location != NULL) MHD_add_response_header(resp, "Location", location);
    return resp;
}

/* Replies with a freshly built serialized answer. */
static int reply_serialized(struct req *r, unsigned status, char *text, size_t len,
                            const char *etag, const char *location) {
    if (etag != NULL && status == 200 && req_etag_fresh(r, etag)) {
        free(text);
        return reply_not_modified(r, etag);
    }
    struct MHD_Response *resp = serialized_response(text, len, etag, location);
    if (resp == NULL) return dmt_err_set(&r->err, DMT_ERR_NOMEM, "cannot build a response");
    return queue(r, status, resp);
}

/* Replies with a cached answer (the caller keeps its reference to e). */
static int reply_cached(struct req *r, const struct cache_entry *e) {
    const char *etag = e->etag[0] != '\0' ? e->etag : NULL;
    if (etag != NULL && e->status == 200 && req_etag_fresh(r, etag))
        return reply_not_modified(r, etag);
    return queue_shared(r, e->status, e->resp);
}

/* Caches a 200 answer built at seq (text taken over) and replies with it:
 * the response, common headers included, is built once and shared by
 * every request the cache answers while seq stays current. */
static int reply_and_cache(struct req *r, int64_t seq, char *text, size_t len, const char *etag) {
    struct MHD_Response *resp = serialized_response(text, len, etag, NULL);
    if (resp == NULL) return dmt_err_set(&r->err, DMT_ERR_NOMEM, "cannot build a response");
    add_common_headers(resp);
    int rc = DMT_OK;
    if (etag != NULL && req_etag_fresh(r, etag))
        rc = reply_not_modified(r, etag);
    else
        rc = queue_shared(r, 200, resp);
    /* Queued first: the cache may drop its entry at any time. */
    http_cache_put(r->url, seq, 200, resp, etag);
    return rc;
}

/* The tx function of a cacheable read: notes the sequence it reads at. */
static int cached_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct op *op = arg;
    int rc = s->ops->seq_get(s->ctx, &op->seq, err);
    return rc != DMT_OK ? rc : op->fn(s, op, err);
}

/* --- the audit log ----------------------------------------------------- */

bool req_is_tls(const struct req *r) { return r->srv->tls; }

struct actor req_actor(const struct req *r) {
    return (struct actor){r->user_id, r->user_name, r->role};
}

int audit_write(struct store *s, const struct req *r, const char *action, const char *kind,
                const char *name, json_t *detail, struct dmt_err *err) {
    struct audit_entry a = {0};
    a.user = (char *)(r->user_name[0] != '\0' ? r->user_name : "-");
    a.action = (char *)action;
    a.kind = (char *)kind;
    a.name = (char *)name;
    a.detail = detail;
    int rc = s->ops->audit_insert(s->ctx, &a, err);
    json_decref(detail);
    return rc;
}

/* The kind of object a route's write changes, from the last plural noun
 * of its pattern ("/jobs/ * /tasks/ *" -> "task"); *action is set for the
 * run verbs. */
static const char *audit_kind(const char *route, const char **action) {
    static const struct {
        const char *seg, *kind, *action;
    } map[] = {
        {"environments", "environment", NULL}, {"jobs", "job", NULL},
        {"tasks", "task", NULL},               {"variables", "variable", NULL},
        {"overrides", "override", NULL},       {"runs", "run", "start"},
        {"cancel", "run", "cancel"},           {"rerun", "run", "rerun"},
        {"users", "user", NULL},               {"tokens", "token", NULL},
        {"session", "session", NULL},
    };
    const char *kind = "object";
    const char *p = route != NULL ? route : "";
    while ((p = strchr(p, '/')) != NULL) {
        p++;
        size_t len = strcspn(p, "/");
        for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
            if (strlen(map[i].seg) == len && strncmp(p, map[i].seg, len) == 0) {
                kind = map[i].kind;
                *action = map[i].action;
                /* "runs" means a start only when it ends the path. */
                if (strcmp(map[i].seg, "runs") == 0 && p[len] != '\0') *action = NULL;
            }
    }
    return kind;
}

/* The tx function of a write: the change and its audit entry commit
 * together. The entry names the object by its path and lists the names
 * of the fields sent (never their values: they may be secrets). */
static int audited_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct op *op = arg;
    struct req *r = op->r;
    int rc = op->fn(s, op, err);
    if (rc != DMT_OK) return rc;
    const char *action = NULL;
    const char *kind = audit_kind(r->route, &action);
    if (action == NULL) {
        if (strcmp(r->method, "POST") == 0) action = "create";
        else if (strcmp(r->method, "PUT") == 0) action = "set";
        else if (strcmp(r->method, "PATCH") == 0) action = "update";
        else action = "delete";
    }
    const char *name = op->location[0] != '\0' ? op->location : r->url;
    if (strncmp(name, "/api/v1", 7) == 0) name += 7;
    json_t *detail = json_pack("{s:i}", "status", (int)op->status);
    if (json_is_object(r->json)) {
        json_t *fields = json_array(), *env;
        const char *key;
        json_t *val;
        json_object_foreach(r->json, key, val) json_array_append_new(fields, json_string(key));
        json_object_set_new(detail, "fields", fields);
        if (strcmp(kind, "run") == 0 && json_is_string(env = json_object_get(r->json, "environment")))
            json_object_set(detail, "environment", env);
    }
    return audit_write(s, r, action, kind, name, detail, err);
}

int op_run(struct req *r, bool write, store_tx_fn fn, void *arg) {
    struct op op = {.r = r, .arg = arg, .fn = fn};
    /* A cached response carries no per-request header. */
    bool cache = r->cacheable && !write && r->extra_header == NULL;
    if (cache) {
        /* Answer from the cache when nothing changed since it was built. */
        int64_t seq;
        int rc = req_seq(r, &seq);
        if (rc != DMT_OK) return rc;
        struct cache_entry *e = http_cache_get(r->url, seq);
        if (e != NULL) {
            rc = reply_cached(r, e);
            http_cache_release(e);
            return rc;
        }
    }
    int rc = store_tx(r->store, write, write ? audited_tx : cache ? cached_tx : fn, &op, &r->err);
    if (rc != DMT_OK) {
        json_decref(op.body);
        return rc;
    }
    if (write) http_events_publish_write(r, op.status, op.etag, op.location);
    if (op.status == 204) {
        json_decref(op.body);
        return reply_empty(r, 204);
    }
    if (cache && op.etag[0] == '\0')
        snprintf(op.etag, sizeof(op.etag), "\"s%lld\"", (long long)op.seq);
    char *text = json_dumps(op.body, JSON_COMPACT);
    json_decref(op.body);
    if (text == NULL) return dmt_err_set(&r->err, DMT_ERR_NOMEM, "cannot encode JSON");
    size_t len = strlen(text);
    if (cache && op.status == 200 && op.location[0] == '\0')
        return reply_and_cache(r, op.seq, text, len, op.etag[0] ? op.etag : NULL);
    return reply_serialized(r, op.status, text, len, op.etag[0] ? op.etag : NULL,
                            op.location[0] ? op.location : NULL);
}

const char *req_query(struct req *r, const char *key) {
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

/* --- the request lifecycle ------------------------------------------------ */

static struct store *thread_store(struct http_server *srv, struct dmt_err *err) {
    pthread_once(&store_key_once, store_key_make);
    struct store *s = pthread_getspecific(store_key);
    if (s != NULL) return s;
    if (store_open(srv->db_url, &s, err) != DMT_OK) return NULL;
    pthread_setspecific(store_key, s);
    return s;
}

struct store *req_thread_store(struct req *r, struct dmt_err *err) {
    return thread_store(r->srv, err);
}

/* --- streams that wait for news --------------------------------------------- */

void http_waiter_add(struct req *r, struct http_waiter *w) {
    struct http_server *srv = r->srv;
    w->conn = r->conn;
    w->suspended = false;
    pthread_mutex_lock(&srv->wait_lock);
    w->prev = NULL;
    w->next = srv->waiters;
    if (w->next != NULL) w->next->prev = w;
    srv->waiters = w;
    srv->nwaiters++;
    pthread_mutex_unlock(&srv->wait_lock);
}

void http_waiter_remove(struct req *r, struct http_waiter *w) {
    struct http_server *srv = r->srv;
    pthread_mutex_lock(&srv->wait_lock);
    /* MHD completes no suspended connection: shutdown resumes them first. */
    dmt_assert(!w->suspended);
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        srv->waiters = w->next;
    if (w->next != NULL) w->next->prev = w->prev;
    w->prev = w->next = NULL;
    srv->nwaiters--;
    pthread_cond_broadcast(&srv->wait_cond);
    pthread_mutex_unlock(&srv->wait_lock);
}

enum http_wait http_waiter_suspend(struct req *r, struct http_waiter *w, uint64_t seen) {
    struct http_server *srv = r->srv;
    enum http_wait res = HTTP_WAIT_SUSPENDED;
    pthread_mutex_lock(&srv->wait_lock);
    /* Checked under the lock the resumer takes: a post after this point
     * finds the waiter suspended and resumes it. */
    if (srv->stopping)
        res = HTTP_WAIT_STOPPING;
    else if (notify_counter() != seen)
        res = HTTP_WAIT_AGAIN;
    else {
        w->suspended = true;
        MHD_suspend_connection(w->conn);
    }
    pthread_mutex_unlock(&srv->wait_lock);
    return res;
}

/* Resumes every suspended waiter; the caller holds wait_lock. */
static void resume_all_locked(struct http_server *srv) {
    for (struct http_waiter *w = srv->waiters; w != NULL; w = w->next)
        if (w->suspended) {
            w->suspended = false;
            MHD_resume_connection(w->conn);
        }
}

/* The notify hook: something changed, every waiter looks again. */
static void on_notify(void *arg) {
    struct http_server *srv = arg;
    pthread_mutex_lock(&srv->wait_lock);
    resume_all_locked(srv);
    pthread_mutex_unlock(&srv->wait_lock);
}

/* Wakes the waiters every HTTP_WAIT_TICK_S seconds, so streams can send a
 * keep-alive (and learn that their client went away) while nothing
 * happens. */
static void *ticker_main(void *arg) {
    struct http_server *srv = arg;
    pthread_mutex_lock(&srv->wait_lock);
    while (!srv->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += HTTP_WAIT_TICK_S;
        int rc = 0;
        while (!srv->stopping && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&srv->wait_cond, &srv->wait_lock, &until);
        if (!srv->stopping) resume_all_locked(srv);
    }
    pthread_mutex_unlock(&srv->wait_lock);
    return NULL;
}

/* Whether a path needs a login at all: the API and /metrics do; /healthz
 * and the UI's static assets do not. */
static bool path_needs_login(const char *path) {
    return strncmp(path, "/api/v1/", 8) == 0 || strcmp(path, "/metrics") == 0;
}

/* The least enum role that method m of route rt needs. */
static int route_role(const struct route *rt, int m) {
    if (!path_needs_login(rt->pattern)) return ROLE_NONE;
    char c = rt->roles != NULL ? rt->roles[m] : (m == M_GET ? 'v' : 'e');
    switch (c) {
    case '-': return ROLE_NONE;
    case 'v': return ROLE_VIEWER;
    case 'o': return ROLE_OPERATOR;
    case 'e': return ROLE_EDITOR;
    default: return ROLE_ADMIN;
    }
}

/* --- answers held back ---------------------------------------------------- */

static void *delayer_main(void *arg) {
    struct http_server *srv = arg;
    pthread_mutex_lock(&srv->delay_lock);
    for (;;) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        /* Resume what is due (everything when stopping). */
        struct delayed **pp = &srv->delayed, *earliest = NULL;
        while (*pp != NULL) {
            struct delayed *d = *pp;
            bool due = srv->delay_stopping || d->until.tv_sec < now.tv_sec ||
                       (d->until.tv_sec == now.tv_sec && d->until.tv_nsec <= now.tv_nsec);
            if (due) {
                *pp = d->next;
                MHD_resume_connection(d->conn);
                free(d);
                continue;
            }
            if (earliest == NULL || d->until.tv_sec < earliest->until.tv_sec ||
                (d->until.tv_sec == earliest->until.tv_sec &&
                 d->until.tv_nsec < earliest->until.tv_nsec))
                earliest = d;
            pp = &d->next;
        }
        if (srv->delay_stopping) break;
        if (earliest == NULL) {
            pthread_cond_wait(&srv->delay_cond, &srv->delay_lock);
        } else {
            struct timespec until = earliest->until;
            pthread_cond_timedwait(&srv->delay_cond, &srv->delay_lock, &until);
        }
    }
    pthread_mutex_unlock(&srv->delay_lock);
    return NULL;
}

int reply_problem_later(struct req *r, int code, unsigned ms) {
    struct http_server *srv = r->srv;
    struct delayed *d = calloc(1, sizeof(*d));
    if (d == NULL || !srv->delayer_started) {
        free(d);
        return reply_problem(r, code);
    }
    clock_gettime(CLOCK_MONOTONIC, &d->until);
    d->until.tv_sec += ms / 1000;
    d->until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (d->until.tv_nsec >= 1000000000L) {
        d->until.tv_sec++;
        d->until.tv_nsec -= 1000000000L;
    }
    d->conn = r->conn;
    r->delayed = true;
    r->delayed_code = code;
    pthread_mutex_lock(&srv->delay_lock);
    if (srv->delay_stopping) {
        pthread_mutex_unlock(&srv->delay_lock);
        free(d);
        r->delayed = false;
        return reply_problem(r, code);
    }
    MHD_suspend_connection(r->conn);
    d->next = srv->delayed;
    srv->delayed = d;
    pthread_cond_signal(&srv->delay_cond);
    pthread_mutex_unlock(&srv->delay_lock);
    return DMT_OK;
}

/* Looks up the route and handler; fills r->params and *need (the least
 * role the route and method need). Returns DMT_OK, or DMT_ERR_NOT_FOUND /
 * DMT_ERR_METHOD with err set (and r->allow filled). */
static int dispatch_find(struct req *r, http_handler_fn *out, int *need) {
    char *allow = r->allow;
    size_t allow_len = sizeof(r->allow);
    int m = -1;
    for (int i = 0; i < M_COUNT; i++)
        if (strcmp(r->method, method_names[i]) == 0) m = i;
    if (strcmp(r->method, "HEAD") == 0) m = M_GET;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (!route_match(routes[i].pattern, r->url, r)) continue;
        r->route = routes[i].pattern;
        r->cacheable = m == M_GET && !routes[i].nocache;
        if (m >= 0 && routes[i].fn[m] != NULL) {
            *out = routes[i].fn[m];
            *need = route_role(&routes[i], m);
            return DMT_OK;
        }
        size_t n = 0;
        allow[0] = '\0';
        for (int j = 0; j < M_COUNT; j++)
            if (routes[i].fn[j] != NULL)
                n += (size_t)snprintf(allow + n, allow_len - n, "%s%s", n ? ", " : "",
                                      method_names[j]);
        return dmt_err_set(&r->err, DMT_ERR_METHOD, "%s is not allowed on %s (allowed: %s)",
                           r->method, r->url, allow);
    }
    return dmt_err_set(&r->err, DMT_ERR_NOT_FOUND, "no such resource: %s", r->url);
}

/* Runs one complete request. Returns DMT_OK once a response is queued
 * (a problem document included); anything else drops the connection. */
static int handle(struct req *r) {
    http_handler_fn fn = NULL;
    int need = path_needs_login(r->url) ? ROLE_VIEWER : ROLE_NONE;
    int rc = dispatch_find(r, &fn, &need);
    /* Who asks comes first: without a login, an API path answers 401
     * whether it exists or not. */
    if (need > ROLE_NONE) {
        /* A 404 or 405 of dispatch_find waits aside while auth runs (the
         * common case, a route found, has nothing to set aside). */
        struct dmt_err found;
        if (rc != DMT_OK) {
            found = r->err;
            dmt_err_init(&r->err);
        }
        r->store = thread_store(r->srv, &r->err);
        bool present = false;
        int arc = r->store != NULL ? auth_check(r, &present) : DMT_ERR_STORE;
        if (arc != DMT_OK) {
            if (rc != DMT_OK) dmt_err_cleanup(&found);
            return reply_problem(r, arc);
        }
        if (rc != DMT_OK || r->err.code != DMT_OK) dmt_err_cleanup(&r->err);
        if (rc != DMT_OK) r->err = found;
    }
    if (rc != DMT_OK) return reply_problem(r, rc);
    if (r->role < need) {
        dmt_err_set(&r->err, DMT_ERR_FORBIDDEN, "%s %s needs the role %s; you are %s (%s)",
                    r->method, r->route, role_name(need), r->user_name, role_name(r->role));
        return reply_problem(r, DMT_ERR_FORBIDDEN);
    }
    bool write = strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0;
    if (need > ROLE_NONE && write && r->via_cookie && !auth_csrf_ok(r)) {
        dmt_err_set(&r->err, DMT_ERR_FORBIDDEN,
                    "a change made with the session cookie needs the X-CSRF-Token header of "
                    "the session");
        return reply_problem(r, DMT_ERR_FORBIDDEN);
    }
    if (r->too_large) {
        dmt_err_set(&r->err, DMT_ERR_TOO_LARGE,
                    "the request body is larger than the limit of %zu bytes", r->srv->max_body);
        return reply_problem(r, DMT_ERR_TOO_LARGE);
    }
    if (r->body_len > 0) {
        json_error_t jerr;
        r->json = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &jerr);
        if (r->json == NULL) {
            dmt_err_set(&r->err, DMT_ERR_BAD_JSON, "malformed JSON at line %d, column %d: %s",
                        jerr.line, jerr.column, jerr.text);
            return reply_problem(r, DMT_ERR_BAD_JSON);
        }
    }
    if (fn != res_healthz && fn != res_ui && r->store == NULL) {
        r->store = thread_store(r->srv, &r->err);
        if (r->store == NULL) return reply_problem(r, DMT_ERR_STORE);
    }
    rc = fn(r);
    /* A handler must never leave a transaction open. */
    dmt_assert(r->store == NULL || !r->store->ops->in_tx(r->store->ctx));
    if (rc != DMT_OK) return reply_problem(r, rc);
    return DMT_OK;
}

/* A cleared request (segs excepted: see struct req), or NULL. */
static struct req *req_new(void) {
    struct req *r = NULL;
    if (REQ_REUSE) {
        pthread_once(&spare_key_once, spare_key_make);
        r = pthread_getspecific(spare_key);
        if (r != NULL) pthread_setspecific(spare_key, NULL);
    }
    if (r == NULL && (r = malloc(sizeof(*r))) == NULL) return NULL;
    memset(r, 0, offsetof(struct req, segs));
    return r;
}

/* Frees r, or keeps it as the thread's spare. */
static void req_free(struct req *r) {
    if (REQ_REUSE) {
        pthread_once(&spare_key_once, spare_key_make);
        if (pthread_getspecific(spare_key) == NULL && pthread_setspecific(spare_key, r) == 0)
            return;
    }
    free(r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    struct http_server *srv = cls;
    struct req *r = *con_cls;
    if (r == NULL) {
        r = req_new();
        if (r == NULL) return MHD_NO;
        r->srv = srv;
        r->conn = conn;
        r->method = method;
        r->url = url;
        dmt_err_init(&r->err);
        *con_cls = r;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (r->too_large || r->body_len + n > srv->max_body) {
            /* Keep reading (and dropping) so the client gets its 413. */
            r->too_large = true;
            free(r->body);
            r->body = NULL;
            r->body_len = r->body_cap = 0;
            return MHD_YES;
        }
        if (r->body_len + n > r->body_cap) {
            size_t cap = r->body_cap ? r->body_cap : 1024;
            while (cap < r->body_len + n) cap *= 2;
            char *b = realloc(r->body, cap);
            if (b == NULL) return MHD_NO;
            r->body = b;
            r->body_cap = cap;
        }
        memcpy(r->body + r->body_len, upload_data, n);
        r->body_len += n;
        return MHD_YES;
    }
    if (r->delayed) {
        /* Resumed after its delay: send the answer held back. */
        r->delayed = false;
        return reply_problem(r, r->delayed_code) == DMT_OK ? MHD_YES : MHD_NO;
    }
    /* The error path of `handle` has already queued the problem when the
     * queueing itself worked; only a failure to queue drops the connection. */
    return handle(r) == DMT_OK ? MHD_YES : MHD_NO;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    struct req *r = *con_cls;
    if (r == NULL) return;
    if (r->status != 0) metrics_http_request(r->route ? r->route : "unmatched", r->status);
    if (r->cleanup != NULL) r->cleanup(r->cleanup_arg);
    json_decref(r->json);
    free(r->body);
    dmt_err_cleanup(&r->err);
    req_free(r);
    *con_cls = NULL;
}

int http_server_start(const struct http_opts *opts, struct http_server **out,
                      struct dmt_err *err) {
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)opts->port);
    if (inet_pton(AF_INET, opts->host, &addr.sin_addr) != 1)
        return dmt_err_set(err, DMT_ERR_CONFIG, "--listen: '%s' is not an IPv4 address",
                           opts->host);
    if (opts->tls_cert_pem != NULL && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
        return dmt_err_set(err, DMT_ERR_CONFIG,
                           "--tls-cert: this libmicrohttpd was built without TLS support");
    struct http_server *srv = calloc(1, sizeof(*srv));
    if (srv == NULL) return dmt_err_set(err, DMT_ERR_NOMEM, "out of memory");
    srv->db_url = util_strdup(opts->db_url);
    srv->max_body = opts->max_body;
    srv->notify_hook = -1;
    pthread_mutex_init(&srv->wait_lock, NULL);
    pthread_cond_init(&srv->wait_cond, NULL);
    pthread_mutex_init(&srv->delay_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&srv->delay_cond, &ca);
    pthread_condattr_destroy(&ca);
    unsigned threads = opts->threads ? opts->threads : 2;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
                     MHD_ALLOW_SUSPEND_RESUME;
    /* The TLS options, when any, go in through MHD_OPTION_ARRAY. */
    struct MHD_OptionItem tls_opts[] = {{MHD_OPTION_END, 0, NULL},
                                        {MHD_OPTION_END, 0, NULL},
                                        {MHD_OPTION_END, 0, NULL}};
    if (opts->tls_cert_pem != NULL) {
        flags |= MHD_USE_TLS;
        srv->tls = true;
        tls_opts[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0,
                                              (void *)opts->tls_cert_pem};
        tls_opts[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0,
                                              (void *)opts->tls_key_pem};
    }
    srv->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL,
        on_request, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000,
        MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
    if (srv->daemon == NULL) {
        pthread_cond_destroy(&srv->wait_cond);
        pthread_mutex_destroy(&srv->wait_lock);
        free(srv->db_url);
        free(srv);
        return dmt_err_set(err, DMT_ERR_IO, "cannot listen on %s:%u (address in use?%s)",
                           opts->host, opts->port,
                           opts->tls_cert_pem != NULL ? " or a TLS certificate or key that "
                                                        "does not load or match"
                                                      : "");
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? info->port : opts->port;
    srv->notify_hook = notify_add_hook(on_notify, srv, NOTIFY_ALL);
    if (srv->notify_hook < 0) log_warn("no notify hook slot left: live logs wake up slowly");
    srv->ticker_started = pthread_create(&srv->ticker, NULL, ticker_main, srv) == 0;
    srv->delayer_started = pthread_create(&srv->delayer, NULL, delayer_main, srv) == 0;
    *out = srv;
    return DMT_OK;
}

unsigned http_server_port(const struct http_server *srv) { return srv->port; }

void http_server_stop(struct http_server *srv) {
    if (srv == NULL) return;
    /* MHD must not be stopped with suspended connections: wake every
     * stream, and let them end (they see `stopping`) for a moment. */
    notify_remove_hook(srv->notify_hook);
    pthread_mutex_lock(&srv->wait_lock);
    srv->stopping = true;
    resume_all_locked(srv);
    pthread_cond_broadcast(&srv->wait_cond);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 2;
    int rc = 0;
    while (srv->nwaiters > 0 && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&srv->wait_cond, &srv->wait_lock, &until);
    size_t left = srv->nwaiters;
    pthread_mutex_unlock(&srv->wait_lock);
    if (left > 0) log_warn("%zu live stream(s) still open at shutdown; closing them", left);
    if (srv->ticker_started) pthread_join(srv->ticker, NULL);
    pthread_mutex_lock(&srv->delay_lock);
    srv->delay_stopping = true;
    pthread_cond_signal(&srv->delay_cond);
    pthread_mutex_unlock(&srv->delay_lock);
    if (srv->delayer_started) pthread_join(srv->delayer, NULL);
    MHD_stop_daemon(srv->daemon);
    pthread_cond_destroy(&srv->delay_cond);
    pthread_mutex_destroy(&srv->delay_lock);
    pthread_cond_destroy(&srv->wait_cond);
    pthread_mutex_destroy(&srv->wait_lock);
    http_cache_clear();
    free(srv->db_url);
    free(srv);
}
