/*
 * res_run.c - /api/v1/jobs/{job}/runs, /api/v1/runs and a run's log
 * (DESIGN.md §3, §5).
 *
 * Creating, canceling and re-running a run commit to the store and then
 * call notify_post(): the executor's hook wakes its loop, which reads the
 * store. The log is streamed from the store by a content reader, in
 * bounded pieces; a follower that has seen everything suspends its
 * connection until the next notify_post() (see http_waiter_suspend).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/notify.h"
#include "core/util.h"
#include "http/http.h"
#include "model/runs.h"

#define RUN_PATH     "/api/v1/runs/%lld"
#define LIST_DEFAULT 50
#define LIST_MAX     500
/* The most log data read from the store at once: memory stays bounded
 * whatever the size of the log. */
#define LOG_READ_MAX (256u * 1024u)
/* A stream that sent nothing for this long sends an SSE comment. */
#define KEEPALIVE_S 10

/* --- representations ------------------------------------------------------- */

/* A time column: null while it has not happened. */
static json_t *time_or_null(const char *t) {
    return t != NULL && t[0] != '\0' ? json_string(t) : json_null();
}

static json_t *repr_result(const struct task_result *t) {
    json_t *o = json_pack("{s:s, s:s, s:i}", "name", t->name ? t->name : "", "status",
                          result_status_name(t->status), "attempts", t->attempts);
    json_object_set_new(o, "exit_code",
                        t->exit_code == -1 ? json_null() : json_integer(t->exit_code));
    json_object_set_new(o, "error", t->error != NULL ? json_string(t->error) : json_null());
    json_object_set_new(o, "started_at", time_or_null(t->started_at));
    json_object_set_new(o, "finished_at", time_or_null(t->finished_at));
    json_object_set_new(o, "outputs",
                        t->outputs != NULL ? json_deep_copy(t->outputs) : json_object());
    return o;
}

/* The run as the API shows it. The snapshot's resolved values stay out:
 * only the names and plugins of its tasks are shown. */
static json_t *repr_run(const struct run *r, const struct task_result_list *results) {
    json_t *o =
        json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:b, s:I}", "id", (json_int_t)r->m.id, "job",
                  r->job ? r->job : "", "environment", r->environment ? r->environment : "",
                  "status", run_status_name(r->status), "created_at", r->m.created_at,
                  "triggered_by", r->triggered_by ? r->triggered_by : "", "cancel_requested",
                  r->cancel_requested, "version", (json_int_t)r->m.version);
    json_object_set_new(o, "updated_at", json_string(r->m.updated_at));
    json_object_set_new(o, "started_at", time_or_null(r->started_at));
    json_object_set_new(o, "finished_at", time_or_null(r->finished_at));
    json_object_set_new(o, "rerun_of",
                        r->rerun_of != 0 ? json_integer((json_int_t)r->rerun_of) : json_null());
    /* Where it runs: the tags it needs, the executor holding it and until
     * when (the lease, while it runs). */
    json_object_set_new(o, "worker_tags", r->tags != NULL ? json_deep_copy(r->tags) : json_array());
    json_object_set_new(o, "worker", r->owner != NULL ? json_string(r->owner) : json_null());
    char until[40];
    util_ms_rfc3339(r->lease_until, until, sizeof(until));
    json_object_set_new(o, "lease_until", r->status == RUN_RUNNING && r->lease_until > 0
                                              ? json_string(until)
                                              : json_null());
    json_t *tasks = json_array();
    for (size_t i = 0; results != NULL && i < results->n; i++)
        json_array_append_new(tasks, repr_result(&results->items[i]));
    json_object_set_new(o, "tasks", tasks);
    json_t *snap = json_array(), *t;
    size_t i;
    json_array_foreach(json_object_get(r->snapshot, "tasks"), i, t) {
        json_t *name = json_object_get(t, "name"), *plugin = json_object_get(t, "plugin");
        json_array_append_new(snap, json_pack("{s:O, s:O}", "name", name ? name : json_null(),
                                              "plugin", plugin ? plugin : json_null()));
    }
    json_object_set_new(o, "snapshot", json_pack("{s:o}", "tasks", snap));
    return o;
}

/*
 * The ETag of a run: "run-ID-VERSION-H". The executor stores task results
 * without bumping the run's version, so H (FNV-1a of the results as shown)
 * keeps the tag from vouching for results that have changed since.
 */
static uint32_t fnv1a(const char *s) {
    uint32_t h = 2166136261u;
    for (const char *p = s != NULL ? s : ""; *p != '\0'; p++) h = (h ^ (unsigned char)*p) * 16777619u;
    return h;
}

static void run_etag(const struct run *run, const json_t *tasks, char *out, size_t len) {
    char *text = json_dumps(tasks, JSON_COMPACT | JSON_SORT_KEYS);
    uint32_t h = fnv1a(text);
    free(text);
    snprintf(out, len, "\"run-%lld-%lld-%08x\"", (long long)run->m.id, (long long)run->m.version,
             (unsigned)h);
}

/* Loads the results of run and its representation; new reference in *out. */
static int load_repr(struct store *s, const struct run *run, json_t **out, struct dmt_err *err) {
    struct task_result_list l = {0};
    int rc = s->ops->result_list(s->ctx, run->m.id, &l, err);
    if (rc == DMT_OK) *out = repr_run(run, &l);
    task_result_list_cleanup(&l);
    return rc;
}

/* Sets the answer of op to run: its representation and ETag, a Location
 * when status is 201. */
static int answer_run(struct op *op, struct store *s, unsigned status, const struct run *run,
                      struct dmt_err *err) {
    json_t *body = NULL;
    int rc = load_repr(s, run, &body, err);
    if (rc != DMT_OK) return rc;
    char etag[80];
    run_etag(run, json_object_get(body, "tasks"), etag, sizeof(etag));
    return op_answer(op, status, body, etag, status == 201 ? RUN_PATH : NULL, (long long)run->m.id);
}

/* The run id of the path; a path that cannot name a run is 404. */
static int path_run_id(struct req *r, int64_t *id) {
    if (!util_parse_i64(r->params[0], id) || *id <= 0)
        return dmt_err_set(&r->err, DMT_ERR_NOT_FOUND, "no run %s", r->params[0]);
    return DMT_OK;
}

/* Who asked, for triggered_by. */
static const char *who(const struct req *r) {
    return r->user_name[0] != '\0' ? r->user_name : "anonymous";
}

/* A protected environment is run against only by admins and its grants
 * (DESIGN.md §7). A missing environment is left to the model to report. */
static int check_env_grant(struct store *s, const struct req *r, const char *env,
                           struct dmt_err *err) {
    struct env e = {0};
    int rc = s->ops->env_get(s->ctx, env, &e, NULL);
    if (rc == DMT_ERR_NOT_FOUND) return DMT_OK;
    if (rc != DMT_OK) return dmt_err_set(err, rc, "cannot read environment '%s'", env);
    struct actor a = req_actor(r);
    rc = env_check_grant(&e, &a, err);
    env_cleanup(&e);
    return rc;
}

/* The same for a rerun of run: its environment is found by id (it may
 * have been renamed, and another may carry its old name); if it is gone,
 * by the name it had. */
static int check_run_env_grant(struct store *s, const struct req *r, const struct run *run,
                               struct dmt_err *err) {
    struct env_list l = {0};
    int rc = s->ops->env_list(s->ctx, &l, err);
    const struct env *e = NULL;
    for (size_t i = 0; rc == DMT_OK && i < l.n; i++)
        if (l.items[i].m.id == run->env_id) e = &l.items[i];
    if (rc == DMT_OK && e != NULL) {
        struct actor a = req_actor(r);
        rc = env_check_grant(e, &a, err);
    } else if (rc == DMT_OK) {
        rc = check_env_grant(s, r, run->environment, err);
    }
    env_list_cleanup(&l);
    return rc;
}

/* --- POST /jobs/{job}/runs -------------------------------------------------- */

struct create_args {
    const char *environment;
};

static int create_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct op *op = arg;
    const struct create_args *a = op->arg;
    struct run run = {0};
    int rc = check_env_grant(s, op->r, a->environment, err);
    if (rc == DMT_OK)
        rc = model_run_create(s, op->r->params[0], a->environment, who(op->r), &run, err);
    if (rc == DMT_OK) rc = answer_run(op, s, 201, &run, err);
    run_cleanup(&run);
    return rc;
}

int res_run_create(struct req *r) {
    struct create_args a = {0};
    const struct spec specs[] = {
        {"environment", SPEC_SLUG, true, &a.environment, NULL, 0, 0},
        {NULL, 0, false, NULL, NULL, 0, 0},
    };
    int rc = spec_parse(r, specs);
    if (rc != DMT_OK) return rc;
    rc = op_run(r, true, create_tx, &a);
    /* The executor reads the queue from the store when woken. */
    if (rc == DMT_OK) notify_post(NOTIFY_WORK);
    return rc;
}

/* --- GET /runs ------------------------------------------------------------------ */

static int list_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct op *op = arg;
    const struct run_filter *f = op->arg;
    struct run_list l = {0};
    json_t *items = json_array();
    int rc = s->ops->run_list(s->ctx, f, &l, err);
    for (size_t i = 0; rc == DMT_OK && i < l.n; i++) {
        json_t *o = NULL;
        rc = load_repr(s, &l.items[i], &o, err);
        if (rc == DMT_OK) json_array_append_new(items, o);
    }
    /* A full page has a next one only if an older run matches too. */
    json_t *next = json_null();
    if (rc == DMT_OK && l.n > 0 && l.n >= (size_t)f->limit) {
        struct run_filter probe = *f;
        struct run_list more = {0};
        probe.before_id = l.items[l.n - 1].m.id;
        probe.limit = 1;
        rc = s->ops->run_list(s->ctx, &probe, &more, err);
        if (rc == DMT_OK && more.n > 0) {
            char cur[32];
            snprintf(cur, sizeof(cur), "%lld", (long long)probe.before_id);
            next = json_string(cur);
        }
        run_list_cleanup(&more);
    }
    run_list_cleanup(&l);
    if (rc != DMT_OK) {
        json_decref(items);
        json_decref(next);
        return rc;
    }
    return op_answer(op, 200, json_pack("{s:o, s:o}", "items", items, "next", next), NULL, NULL);
}

int res_run_list(struct req *r) {
    struct run_filter f = {.status = -1, .limit = LIST_DEFAULT};
    const char *job = req_query(r, "job"), *env = req_query(r, "environment");
    const char *status = req_query(r, "status"), *limit = req_query(r, "limit");
    const char *cursor = req_query(r, "cursor");
    if (job != NULL && !name_is_slug(job))
        dmt_err_field(&r->err, "job", "'%s' is not a valid job name", job);
    if (env != NULL && !name_is_slug(env))
        dmt_err_field(&r->err, "environment", "'%s' is not a valid environment name", env);
    if (status != NULL && (f.status = run_status_parse(status)) < 0)
        dmt_err_field(&r->err, "status",
                      "'%s' is not a run status (queued, running, succeeded, failed, canceled, "
                      "interrupted)",
                      status);
    int64_t n;
    if (limit != NULL) {
        if (!util_parse_i64(limit, &n) || n < 1 || n > LIST_MAX)
            dmt_err_field(&r->err, "limit", "must be an integer between 1 and %d", LIST_MAX);
        else
            f.limit = (int)n;
    }
    if (cursor != NULL) {
        if (!util_parse_i64(cursor, &n) || n < 1)
            dmt_err_field(&r->err, "cursor", "is not a cursor this server handed out");
        else
            f.before_id = n;
    }
    if (r->err.fields != NULL)
        return dmt_err_set(&r->err, DMT_ERR_INVALID, "the query has %zu invalid parameter(s)",
                           json_array_size(r->err.fields));
    f.job = job;
    f.environment = env;
    return op_run(r, false, list_tx, &f);
}

/* --- GET /runs/{id}, cancel, rerun --------------------------------------------------- */

static int get_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct op *op = arg;
    struct run run = {0};
    int rc = s->ops->run_get(s->ctx, *(const int64_t *)op->arg, &run, err);
    if (rc == DMT_OK) rc = answer_run(op, s, 200, &run, err);
    if (rc == DMT_OK && run.status == RUN_QUEUED) {
        /* Why it waits: it depends on the executors alive now, so this
         * answer is never cached (route Q in server.c). */
        struct worker_list w = {0};
        rc = s->ops->worker_list(s->ctx, &w, err);
        char *why = rc == DMT_OK ? model_run_waiting(&run, &w) : NULL;
        if (why != NULL) {
            json_object_set_new(op->body, "queued_reason", json_string(why));
            /* The ETag vouches for the reason too. */
            size_t n = strlen(op->etag);
            if (n > 1 && n + 10 < sizeof(op->etag))
                snprintf(op->etag + n - 1, sizeof(op->etag) - n + 1, "-%08x\"",
                         (unsigned)fnv1a(why));
        }
        free(why);
        worker_list_cleanup(&w);
    }
    run_cleanup(&run);
    return rc;
}

int res_run_get(struct req *r) {
    int64_t id;
    int rc = path_run_id(r, &id);
    return rc != DMT_OK ? rc : op_run(r, false, get_tx, &id);
}

static int cancel_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct op *op = arg;
    struct run run = {0};
    int rc = model_run_cancel(s, *(const int64_t *)op->arg, &run, err);
    if (rc == DMT_OK) rc = answer_run(op, s, 202, &run, err);
    run_cleanup(&run);
    return rc;
}

int res_run_cancel(struct req *r) {
    int64_t id;
    int rc = path_run_id(r, &id);
    if (rc != DMT_OK) return rc;
    rc = op_run(r, true, cancel_tx, &id);
    if (rc == DMT_OK) notify_post(NOTIFY_WORK);
    return rc;
}

static int rerun_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct op *op = arg;
    struct run run = {0}, old = {0};
    int rc = s->ops->run_get(s->ctx, *(const int64_t *)op->arg, &old, err);
    if (rc == DMT_OK) rc = check_run_env_grant(s, op->r, &old, err);
    run_cleanup(&old);
    if (rc == DMT_OK) rc = model_run_rerun(s, *(const int64_t *)op->arg, who(op->r), &run, err);
    if (rc == DMT_OK) rc = answer_run(op, s, 201, &run, err);
    run_cleanup(&run);
    return rc;
}

int res_run_rerun(struct req *r) {
    int64_t id;
    int rc = path_run_id(r, &id);
    if (rc != DMT_OK) return rc;
    rc = op_run(r, true, rerun_tx, &id);
    if (rc == DMT_OK) notify_post(NOTIFY_WORK);
    return rc;
}

/* --- GET /runs/{id}/log ------------------------------------------------------------ */

static const char *const stream_names[] = {"stdout", "stderr", "system"};

/* One log response, from the handler to the completion callback. */
struct follower {
    struct req *r;
    struct http_waiter w;
    bool waiting; /* w is registered */
    int64_t run_id;
    int64_t last_seq; /* the last chunk sent (or skipped by ?after) */
    bool sse, follow;
    bool ended;                   /* nothing is left to read: end once out is sent */
    json_t *tasks;                /* the snapshot's tasks, for the names in SSE events */
    struct log_chunk_list chunks; /* read, not yet sent from chunks.items[next] */
    size_t next;
    const char *out; /* bytes being sent: into a chunk or into buf */
    size_t out_len, out_off;
    char *buf; /* the SSE frame being sent */
    size_t buf_cap;
    struct timespec last_write; /* CLOCK_MONOTONIC */
};

static void follower_free(void *arg) {
    struct follower *f = arg;
    if (f == NULL) return;
    if (f->waiting) http_waiter_remove(f->r, &f->w);
    log_chunk_list_cleanup(&f->chunks);
    json_decref(f->tasks);
    free(f->buf);
    free(f);
}

static void buf_reserve(struct follower *f, size_t need) {
    if (need <= f->buf_cap) return;
    size_t cap = f->buf_cap ? f->buf_cap : 1024;
    while (cap < need)
        cap *= 2;
    char *b = realloc(f->buf, cap);
    if (b == NULL) abort();
    f->buf = b;
    f->buf_cap = cap;
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if it is not one. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    size_t len;
    uint32_t cp;
    if (s[0] < 0x80) return 1;
    if ((s[0] & 0xE0) == 0xC0)
        len = 2, cp = s[0] & 0x1F;
    else if ((s[0] & 0xF0) == 0xE0)
        len = 3, cp = s[0] & 0x0F;
    else if ((s[0] & 0xF8) == 0xF0)
        len = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    /* Overlong forms, surrogates and values beyond Unicode are invalid. */
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
        return 0;
    return len;
}

/* Writes data as a quoted JSON string at f->buf + *pos (space for 6 bytes
 * per input byte plus 2 must be reserved): control characters escaped,
 * invalid UTF-8 replaced by U+FFFD, so the result is one valid line. */
static void put_json_string(struct follower *f, size_t *pos, const char *data, size_t len) {
    char *o = f->buf + *pos;
    const unsigned char *s = (const unsigned char *)data;
    *o++ = '"';
    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
            i++;
        } else if (c < 0x20 || c == 0x7F) {
            static const char hex[] = "0123456789abcdef";
            const char *short_esc = c == '\n'   ? "\\n"
                                    : c == '\r' ? "\\r"
                                    : c == '\t' ? "\\t"
                                                : NULL;
            if (short_esc != NULL) {
                memcpy(o, short_esc, 2);
                o += 2;
            } else {
                memcpy(o, "\\u00", 4);
                o[4] = hex[c >> 4];
                o[5] = hex[c & 15];
                o += 6;
            }
            i++;
        } else {
            size_t n = utf8_len(s + i, len - i);
            if (n == 0) {
                memcpy(o, "\xEF\xBF\xBD", 3); /* U+FFFD */
                o += 3;
                i++;
            } else {
                memcpy(o, s + i, n);
                o += n;
                i += n;
            }
        }
    }
    *o++ = '"';
    *pos = (size_t)(o - f->buf);
}

static void put_text(struct follower *f, size_t *pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void put_text(struct follower *f, size_t *pos, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    buf_reserve(f, *pos + (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(f->buf + *pos, (size_t)n + 1, fmt, ap);
    va_end(ap);
    *pos += (size_t)n;
}

/* Makes the next piece to send out of chunk c. */
static void emit_chunk(struct follower *f, const struct log_chunk *c) {
    f->last_seq = c->seq;
    if (!f->sse) {
        f->out = c->data;
        f->out_len = c->len;
        f->out_off = 0;
        return;
    }
    const char *task = NULL;
    if (c->task_idx >= 0)
        task = json_string_value(
            json_object_get(json_array_get(f->tasks, (size_t)c->task_idx), "name"));
    size_t tlen = task ? strlen(task) : 0;
    /* The fixed text, the escaped data and task name, and their quotes. */
    buf_reserve(f, 160 + strlen(c->ts) + 6 * (c->len + tlen) + 8);
    size_t pos = 0;
    put_text(f, &pos, "id: %lld\nevent: log\ndata: {\"seq\":%lld,\"task\":", (long long)c->seq,
             (long long)c->seq);
    if (task != NULL)
        put_json_string(f, &pos, task, tlen);
    else
        put_text(f, &pos, "null");
    put_text(f, &pos, ",\"stream\":\"%s\",\"ts\":",
             c->stream >= 0 && c->stream <= LOG_SYSTEM ? stream_names[c->stream] : "system");
    put_json_string(f, &pos, c->ts, strlen(c->ts));
    put_text(f, &pos, ",\"data\":");
    put_json_string(f, &pos, c->data ? c->data : "", c->data ? c->len : 0);
    put_text(f, &pos, "}\n\n");
    f->out = f->buf;
    f->out_len = pos;
    f->out_off = 0;
}

static void emit_text(struct follower *f, const char *fmt, const char *arg) {
    size_t pos = 0;
    put_text(f, &pos, fmt, arg);
    f->out = f->buf;
    f->out_len = pos;
    f->out_off = 0;
}

/* What one look at the store found. */
struct peek {
    struct follower *f;
    int status;
};

/* Reads the run's status and the chunks after last_seq in one snapshot:
 * a run seen ended with no chunk left has sent everything. */
static int peek_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct peek *p = arg;
    struct follower *f = p->f;
    bool cancel;
    log_chunk_list_cleanup(&f->chunks); /* a retried transaction starts over */
    f->next = 0;
    /* run_state, not run_get: a follower wakes at every change, and a big
     * job's snapshot is not worth parsing each time. */
    int rc = s->ops->run_state(s->ctx, f->run_id, &p->status, &cancel, err);
    if (rc == DMT_OK)
        rc = s->ops->log_read(s->ctx, f->run_id, f->last_seq, LOG_READ_MAX, &f->chunks, err);
    return rc;
}

static double since(const struct timespec *t) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

/* The content reader: sends what was read, reads on, and when a
 * follower has seen everything of a run that still runs, suspends. */
static ssize_t log_reader(void *cls, uint64_t pos, char *out, size_t max) {
    struct follower *f = cls;
    size_t n = 0;
    for (;;) {
        if (f->out_off < f->out_len) {
            size_t k = f->out_len - f->out_off;
            if (k > max - n) k = max - n;
            memcpy(out + n, f->out + f->out_off, k);
            f->out_off += k;
            n += k;
            if (n == max) break;
            continue;
        }
        if (f->next < f->chunks.n) {
            emit_chunk(f, &f->chunks.items[f->next++]);
            continue;
        }
        /* Send what there is before looking at the store again. */
        if (n > 0) break;
        if (f->ended) return MHD_CONTENT_READER_END_OF_STREAM;

        uint64_t seen = notify_counter();
        struct peek p = {.f = f, .status = RUN_QUEUED};
        struct dmt_err err;
        dmt_err_init(&err);
        struct store *s = req_thread_store(f->r, &err);
        int rc = s != NULL ? store_tx(s, false, peek_tx, &p, &err) : DMT_ERR_STORE;
        if (rc != DMT_OK) {
            log_error("log of run %lld: %s", (long long)f->run_id, err.msg);
            dmt_err_cleanup(&err);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        dmt_err_cleanup(&err);
        if (f->chunks.n > 0) continue;
        if (run_status_terminal(p.status) || !f->follow) {
            f->ended = true;
            if (f->sse)
                emit_text(f, "event: end\ndata: {\"status\":\"%s\"}\n\n",
                          run_status_name(p.status));
            continue;
        }
        if (f->sse && since(&f->last_write) >= KEEPALIVE_S) {
            emit_text(f, ": %s\n\n", "keep-alive");
            continue;
        }
        enum http_wait w = http_waiter_suspend(f->r, &f->w, seen);
        if (w == HTTP_WAIT_SUSPENDED) return 0;
        if (w == HTTP_WAIT_STOPPING) return MHD_CONTENT_READER_END_OF_STREAM;
        /* HTTP_WAIT_AGAIN: something was posted meanwhile; look again. */
    }
    clock_gettime(CLOCK_MONOTONIC, &f->last_write);
    return (ssize_t)n;
}

struct log_args {
    int64_t id;
    json_t *tasks; /* out: the snapshot's tasks */
};

static int log_check_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct op *op = arg;
    struct log_args *a = op->arg;
    struct run run = {0};
    int rc = s->ops->run_get(s->ctx, a->id, &run, err);
    if (rc == DMT_OK) {
        json_decref(a->tasks);
        a->tasks = json_incref(json_object_get(run.snapshot, "tasks"));
    }
    run_cleanup(&run);
    return rc;
}

/* A sequence number from a query or header: a whole number >= 0. */
static bool parse_seq(const char *s, int64_t *out) { return util_parse_i64(s, out) && *out >= 0; }

int res_run_log(struct req *r) {
    struct log_args a = {0};
    int rc = path_run_id(r, &a.id);
    if (rc != DMT_OK) return rc;
    const char *accept = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Accept");
    const char *after = req_query(r, "after"), *follow = req_query(r, "follow");
    const char *last_id = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Last-Event-ID");
    bool sse = accept != NULL && strstr(accept, "text/event-stream") != NULL;
    bool live = sse;
    int64_t from = 0;
    if (after != NULL && !parse_seq(after, &from))
        dmt_err_field(&r->err, "after", "must be a log sequence number (an integer >= 0)");
    if (follow != NULL) {
        if (strcmp(follow, "1") == 0 || strcasecmp(follow, "true") == 0)
            live = true;
        else if (!(strcmp(follow, "0") == 0 || strcasecmp(follow, "false") == 0))
            dmt_err_field(&r->err, "follow", "must be 1 or 0");
    }
    /* A reconnecting EventSource continues after the last event it got. */
    int64_t from_header = 0;
    if (sse && last_id != NULL && last_id[0] != '\0') {
        if (!parse_seq(last_id, &from_header))
            dmt_err_field(&r->err, "Last-Event-ID", "must be a log sequence number");
        else if (from_header > from)
            from = from_header;
    }
    if (r->err.fields != NULL)
        return dmt_err_set(&r->err, DMT_ERR_INVALID, "the request has %zu invalid parameter(s)",
                           json_array_size(r->err.fields));

    /* 404 for a run that does not exist, before any byte is streamed. */
    rc = store_tx(r->store, false, log_check_tx, &(struct op){.r = r, .arg = &a}, &r->err);
    if (rc != DMT_OK) {
        json_decref(a.tasks);
        return rc;
    }
    struct follower *f = calloc(1, sizeof(*f));
    if (f == NULL) {
        json_decref(a.tasks);
        return dmt_err_set(&r->err, DMT_ERR_NOMEM, "out of memory");
    }
    f->r = r;
    f->run_id = a.id;
    f->last_seq = from;
    f->sse = sse;
    f->follow = live;
    f->tasks = a.tasks ? a.tasks : json_array();
    clock_gettime(CLOCK_MONOTONIC, &f->last_write);
    /* Registered before the response exists, so any failure below still
     * frees it in the completion callback. */
    r->cleanup = follower_free;
    r->cleanup_arg = f;
    if (live) {
        http_waiter_add(r, &f->w);
        f->waiting = true;
    }
    return reply_stream(r, 200,
                        sse ? "text/event-stream; charset=utf-8" : "text/plain; charset=utf-8",
                        log_reader, f);
}
