/*
 * executor.c - claims queued runs and supervises their tasks (see
 * executor.h).
 *
 * One thread runs an epoll loop over: an eventfd that notify_post(NOTIFY_WORK)
 * writes (a run to claim or cancel, here or on another node), and for every task process its stdout
 * and stderr pipes and its pidfd. Timeouts, the grace period of a kill and
 * the periodic log flush are deadlines that bound the epoll wait. All store
 * access happens on this thread, with its own store handle.
 *
 * The life of a run here: claim (queued -> running) -> for each task of its
 * snapshot: resolve the values left for run time (secrets, outputs of
 * earlier tasks), spawn the plugin's process, stream its output into log
 * chunks (masked), reap it, record the result, retry or go on -> finish.
 */
#include "exec/executor.h"

#include <dirent.h>
#include <sodium.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/events.h"
#include "core/metrics.h"
#include "core/notify.h"
#include "core/util.h"
#include "exec/logwriter.h"
#include "exec/mask.h"
#include "exec/proc.h"
#include "model/resolve.h"
#include "model/run.h"
#include "model/secrets.h"
#include "plugin/plugin.h"

#define CHUNK_MAX (1024 * 1024) /* a stream's buffer is flushed at this size */
#define FLUSH_MS 100            /* ... or when its oldest byte is this old */
#define READ_BUDGET (1 << 20)   /* bytes read from one pipe per wake-up */
#define OUTPUTS_MAX (1 << 20)   /* the largest $DMT_OUTPUT file read */
#define TX_WRITE true
#define SWEEP_MAX_MS 5000 /* expired leases are looked for at least this often */
#define POLL_MS 500       /* the store is looked at this often without a wake-up */

static atomic_uint queue_depth, runs_active;

unsigned executor_queue_depth(void) { return atomic_load(&queue_depth); }
unsigned executor_runs_active(void) { return atomic_load(&runs_active); }

enum watch_kind { W_WAKE, W_OUT, W_ERR, W_PID };

struct active;

struct watch {
    struct active *a;
    int kind;
};

/* Output of one stream of the running task, not yet stored. */
struct stream {
    int fd; /* -1 once closed */
    char *data;
    size_t len;
    int64_t since; /* when the oldest pending byte arrived (ms) */
};

/* One run being executed. */
struct active {
    struct active *next;
    struct run run;
    struct task_result_list results;
    json_t *outputs; /* {"TASK": {"KEY": "value"}} of finished tasks */
    size_t cur;      /* the task being run */
    bool stop_failed;
    bool canceled;
    bool running; /* a process of the current task is alive or undrained */
    bool exited;
    struct proc proc;
    struct stream st[2];
    struct watch w[3];
    int exit_code, term_signal;
    bool core;
    int64_t deadline;        /* timeout of the attempt (ms), 0: none */
    int64_t kill_at;         /* SIGKILL after SIGTERM (ms), 0: none */
    const char *kill_reason; /* "timeout", "canceled", "shutdown" or NULL */
    int64_t attempt_start;
    char rundir[PATH_MAX - 64]; /* DATA/runs/ID, mode 0700 */
    char workdir[PATH_MAX];     /* RUNDIR/work: HOME and working directory of tasks */
    char taskdir[PATH_MAX];     /* RUNDIR/meta: the shell's script, the outputs file */
    char *exec_error; /* the attempt failed before its process ran */
    struct masker *mask;
    /* The lease: renewed until lease_ok (monotonic ms); once lost, the
     * run's tasks are stopped and nothing more of it is written. */
    int64_t lease_ok;
    bool lost;
};

struct executor {
    char *db_url, *data_dir, *node;
    unsigned concurrency, grace_s, lease_s;
    json_t *tags;          /* it claims only runs whose tags are all here */
    const char *kind;      /* "worker" or "serve", as GET /workers shows it */
    char started_at[32];
    int64_t next_renew, next_sweep, next_poll, next_beat;
    bool run_as; /* tasks run as uid:gid (--run-as) */
    uid_t uid;
    gid_t gid;
    pthread_t thread;
    int epfd, wakefd, hook;
    atomic_bool stopping;
    atomic_bool draining;   /* claims nothing more; its runs go on */
    atomic_bool drain_seen; /* the loop saw it: no claim is under way */
    bool stop_seen;
    struct store *store;
    struct logwriter *lw; /* stores the logs, on its own thread */
    struct active *list;
    unsigned nactive;
    int64_t last_seq;
    struct watch wake_watch;
};

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static json_t *snap_task(const struct active *a) {
    return json_array_get(json_object_get(a->run.snapshot, "tasks"), a->cur);
}

/* --- storing: every write is one short transaction ---------------------- */

static int save_run_tx(struct store *s, void *arg, struct dmt_err *err) {
    return s->ops->run_update(s->ctx, arg, err);
}

static int save_result_tx(struct store *s, void *arg, struct dmt_err *err) {
    return s->ops->result_update(s->ctx, arg, err);
}

/* Tells /api/v1/events (and, through notify_post, everyone) that a run or
 * one of its task results changed. */
static void publish_run(int64_t id, int64_t version, const char *action, const char *status) {
    char name[24], path[48];
    snprintf(name, sizeof(name), "%lld", (long long)id);
    snprintf(path, sizeof(path), "/api/v1/runs/%lld", (long long)id);
    events_publish("run", name, path, version, action, status);
}

/* Both writes are fenced: DMT_ERR_CONFLICT means the run was taken over. */
static int save_run(struct executor *ex, struct run *r) {
    struct dmt_err err;
    dmt_err_init(&err);
    int rc = store_tx(ex->store, TX_WRITE, save_run_tx, r, &err);
    if (rc != DMT_OK)
        log_error("run %lld: cannot save its state: %s", (long long)r->m.id, err.msg);
    dmt_err_cleanup(&err);
    if (rc == DMT_OK) publish_run(r->m.id, r->m.version, "updated", run_status_name(r->status));
    return rc;
}

static int save_result(struct executor *ex, struct task_result *t) {
    struct dmt_err err;
    dmt_err_init(&err);
    int rc = store_tx(ex->store, TX_WRITE, save_result_tx, t, &err);
    if (rc != DMT_OK)
        log_error("run %lld: cannot save the result of %s: %s", (long long)t->run_id, t->name,
                  err.msg);
    dmt_err_cleanup(&err);
    if (rc == DMT_OK) publish_run(t->run_id, 0, "task", result_status_name(t->status));
    return rc;
}

/* Stores one log chunk. Logs are appended outside transactions: they are
 * not "changes" (they do not move the change sequence). */
static void append_log(struct store *s, int64_t run_id, int task_idx, int stream, const char *data,
                       size_t len) {
    if (len == 0) return;
    struct log_chunk c = {.run_id = run_id, .task_idx = task_idx, .stream = stream,
                          .data = (char *)data, .len = len};
    util_now_rfc3339(c.ts, sizeof(c.ts));
    struct dmt_err err;
    dmt_err_init(&err);
    int rc = DMT_ERR_BUSY;
    for (int i = 0; i < 50 && rc == DMT_ERR_BUSY; i++) {
        dmt_err_cleanup(&err);
        rc = s->ops->log_append(s->ctx, &c, &err);
        if (rc == DMT_ERR_BUSY) usleep(2000);
    }
    if (rc != DMT_OK) log_error("run %lld: cannot store %zu log bytes: %s", (long long)run_id, len, err.msg);
    dmt_err_cleanup(&err);
    if (stream != LOG_SYSTEM) metrics_log_bytes(len);
}

/* A line of the run's own (system) log. */
static void sys_line(struct executor *ex, int64_t run_id, int task_idx, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void sys_line(struct executor *ex, int64_t run_id, int task_idx, const char *fmt, ...) {
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n > sizeof(line) - 2) n = sizeof(line) - 2;
    line[n++] = '\n';
    char *copy = malloc((size_t)n);
    if (copy == NULL) abort();
    memcpy(copy, line, (size_t)n);
    /* Unfenced: what a node says about what it did is kept, even about a
     * run it lost ("... lost its lease"). */
    logwriter_put(ex->lw, run_id, 0, task_idx, LOG_SYSTEM, copy, (size_t)n);
}

/* --- log streams ---------------------------------------------------------- */

/* Stores what stream i holds (masked); unless final, keeps a tail that may
 * be the start of a secret cut in two. */
static void flush_stream(struct executor *ex, struct active *a, int i, bool final) {
    struct stream *s = &a->st[i];
    if (s->len == 0) return;
    size_t out_len, consumed;
    char *out = masker_apply(a->mask, s->data, s->len, final, &out_len, &consumed);
    if (out_len > 0)
        logwriter_put(ex->lw, a->run.m.id, a->run.fence, (int)a->cur,
                      i == 0 ? LOG_STDOUT : LOG_STDERR, out, out_len);
    else
        free(out);
    memmove(s->data, s->data + consumed, s->len - consumed);
    s->len -= consumed;
    s->since = s->len ? now_ms() : 0;
}

/* Reads what the pipe of stream i has (bounded), flushing full buffers.
 * Closes it at EOF. */
static void read_stream(struct executor *ex, struct active *a, int i) {
    struct stream *s = &a->st[i];
    size_t budget = READ_BUDGET;
    while (s->fd >= 0 && budget > 0) {
        if (s->len >= CHUNK_MAX) flush_stream(ex, a, i, false);
        if (s->len >= CHUNK_MAX) break; /* a partial secret that long: store it */
        ssize_t n = read(s->fd, s->data + s->len, CHUNK_MAX - s->len);
        if (n > 0) {
            if (s->len == 0) s->since = now_ms();
            s->len += (size_t)n;
            budget -= (size_t)n < budget ? (size_t)n : budget;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        /* EOF or a hard error: this stream is done. */
        epoll_ctl(ex->epfd, EPOLL_CTL_DEL, s->fd, NULL);
        close(s->fd);
        s->fd = -1;
    }
}

/* --- values of a task when it starts -------------------------------------- */

struct secret_lookup {
    const char *job;
    int64_t env_id, task_id;
    json_t *values; /* out: the task's values with secrets */
};

static int lookup_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct secret_lookup *l = arg;
    struct job_view v;
    int rc = job_view_load(s, l->job, &v, err);
    const struct env *env = NULL;
    const struct task *task = NULL;
    for (size_t i = 0; rc == DMT_OK && i < v.envs.n; i++)
        if (v.envs.items[i].m.id == l->env_id) env = &v.envs.items[i];
    for (size_t i = 0; rc == DMT_OK && i < v.tasks.n; i++)
        if (v.tasks.items[i].m.id == l->task_id) task = &v.tasks.items[i];
    if (rc == DMT_OK && (env == NULL || task == NULL))
        rc = dmt_err_set(err, DMT_ERR_NOT_FOUND, "its task or environment no longer exists");
    /* The only place secrets are opened: for the task about to start. */
    if (rc == DMT_OK) rc = secrets_open_view(&v, err);
    if (rc == DMT_OK) {
        json_decref(l->values);
        l->values = resolve_task_values(&v, env, task, true);
    }
    job_view_cleanup(&v);
    return rc;
}

/* Adds a value's text to the run's masker. */
static void mask_value(struct active *a, const json_t *v) {
    if (json_is_string(v)) {
        masker_add(a->mask, json_string_value(v), json_string_length(v));
    } else if (v != NULL && !json_is_null(v)) {
        char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (t != NULL) masker_add(a->mask, t, strlen(t));
        free(t);
    }
}

/* The values the current task runs with (new reference), or NULL with the
 * reason in err. Secrets are looked up now; run-time references are filled. */
static json_t *task_values(struct executor *ex, struct active *a, struct dmt_err *err) {
    json_t *t = snap_task(a);
    json_t *values = json_deep_copy(json_object_get(t, "values"));
    struct secret_lookup l = {0};
    const char *name;
    json_t *v;
    json_object_foreach(values, name, v) {
        json_t *ref = json_object_get(v, "$secret");
        if (ref == NULL) continue;
        if (l.values == NULL) {
            l.job = json_string_value(json_object_get(a->run.snapshot, "job"));
            l.env_id = json_integer_value(json_object_get(ref, "env_id"));
            l.task_id = json_integer_value(json_object_get(ref, "task_id"));
            if (store_tx(ex->store, false, lookup_tx, &l, err) != DMT_OK) {
                dmt_err_set(err, DMT_ERR_NOT_FOUND, "cannot look up its secrets: %s", err->msg);
                goto fail;
            }
        }
        json_t *secret = json_object_get(l.values, name);
        if (secret == NULL || json_is_object(json_object_get(secret, "$secret"))) {
            dmt_err_set(err, DMT_ERR_NOT_FOUND, "the secret variable '%s' no longer exists", name);
            goto fail;
        }
        json_object_set(values, name, secret);
        /* The secret itself, not what a derived value made of it. */
        mask_value(a, secret);
    }
    json_object_foreach(values, name, v) {
        if (!json_is_string(v)) continue;
        char *s = resolve_runtime(json_string_value(v), a->run.m.id, a->outputs, err);
        if (s == NULL) goto fail;
        json_object_set_new(values, name, json_string(s));
        free(s);
    }
    /* Secrets named in values derived from them are masked through their
     * own entries; mask every value that came from a secret reference too. */
    json_object_foreach(json_object_get(t, "values"), name, v)
        if (json_object_get(v, "$secret") != NULL) mask_value(a, json_object_get(values, name));
    json_decref(l.values);
    return values;
fail:
    json_decref(l.values);
    json_decref(values);
    return NULL;
}

/* --- the child's environment (built from scratch) ---------------------------- */

struct envv {
    char **v;
    size_t n;
};

static void env_add(struct envv *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void env_add(struct envv *e, const char *fmt, ...) {
    char **v = realloc(e->v, (e->n + 2) * sizeof(*v));
    if (v == NULL) abort();
    e->v = v;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&v[e->n], fmt, ap) < 0) abort();
    va_end(ap);
    v[++e->n] = NULL;
}

static void env_free(struct envv *e) {
    for (size_t i = 0; i < e->n; i++) free(e->v[i]);
    free(e->v);
}

/* A value as an environment variable's text: strings as they are, other
 * JSON as compact JSON; NULL for null. Caller frees. */
static char *env_text(const json_t *v) {
    if (v == NULL || json_is_null(v)) return NULL;
    if (json_is_string(v)) return util_strdup(json_string_value(v));
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

static bool reserved_name(const char *name) {
    return strcmp(name, "PATH") == 0 || strcmp(name, "HOME") == 0 || strcmp(name, "LANG") == 0 ||
           strncmp(name, "DMT_", 4) == 0;
}

static bool in_schema(const struct plugin *p, const char *name) {
    for (size_t i = 0; i < p->nvars; i++)
        if (strcmp(p->vars[i].name, name) == 0) return true;
    return false;
}

static void build_env(struct envv *e, const struct active *a, const struct plugin *p,
                      const json_t *values, int attempt) {
    json_t *t = snap_task(a);
    env_add(e, "PATH=/usr/local/bin:/usr/bin:/bin");
    env_add(e, "HOME=%s", a->workdir);
    env_add(e, "LANG=C.UTF-8");
    env_add(e, "DMT_RUN_ID=%lld", (long long)a->run.m.id);
    env_add(e, "DMT_JOB=%s", a->run.job);
    env_add(e, "DMT_ENVIRONMENT=%s", a->run.environment);
    env_add(e, "DMT_TASK=%s", json_string_value(json_object_get(t, "name")));
    env_add(e, "DMT_ATTEMPT=%d", attempt);
    env_add(e, "DMT_OUTPUT=%s/outputs", a->taskdir);
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)values, name, v) {
        char *text = env_text(v);
        if (text == NULL) continue;
        env_add(e, "DMT_VAR_%s=%s", name, text);
        if (p->export_plain && !in_schema(p, name) && !reserved_name(name))
            env_add(e, "%s=%s", name, text);
        free(text);
    }
}

/* --- files of a run ----------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

static void rm_tree(const char *path) {
    if (path[0] != '\0') nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int write_all(int fd, const char *data, size_t len) {
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        off += (size_t)n;
    }
    return 0;
}

/* Reads KEY=value lines of the outputs file into a new object. */
static json_t *read_outputs(struct executor *ex, struct active *a) {
    json_t *out = json_object();
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/outputs", a->taskdir);
    FILE *f = fopen(path, "re");
    if (f == NULL) return out;
    char *line = NULL;
    size_t cap = 0, total = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        total += (size_t)n;
        if (total > OUTPUTS_MAX) {
            sys_line(ex, a->run.m.id, (int)a->cur, "outputs beyond %d bytes were ignored", OUTPUTS_MAX);
            break;
        }
        if (line[n - 1] == '\n') line[--n] = '\0';
        char *eq = strchr(line, '=');
        bool ok = eq != NULL && eq != line;
        for (char *p = line; ok && p < eq; p++)
            ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                 *p == '_' || *p == '-' || *p == '.';
        if (!ok) {
            if (n > 0) sys_line(ex, a->run.m.id, (int)a->cur, "an output line is not KEY=value and was ignored");
            continue;
        }
        *eq = '\0';
        json_t *val = json_string(eq + 1);
        if (val == NULL) val = json_string("(not UTF-8)");
        json_object_set_new(out, line, val);
    }
    free(line);
    fclose(f);
    return out;
}

/* Removes what an attempt left in the task folder (the outputs file, the
 * shell's script) so the next attempt starts clean. */
static void clear_taskdir(struct active *a) {
    static const char *const names[] = {"outputs", "script"};
    char path[PATH_MAX + 16];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", a->taskdir, names[i]);
        unlink(path);
    }
}

/* --- the life of a run ---------------------------------------------------------- */

static void start_next(struct executor *ex, struct active *a);
static void drop_run(struct executor *ex, struct active *a);
static void lose(struct executor *ex, struct active *a, const char *why);

static void finish_run(struct executor *ex, struct active *a, int status) {
    struct run *r = &a->run;
    /* The last line is stored before the status turns terminal, so a log
     * follower that stops at the terminal status has seen it. */
    sys_line(ex, r->m.id, -1, "run %s", run_status_name(status));
    logwriter_sync(ex->lw);
    r->status = status;
    util_now_rfc3339(r->finished_at, sizeof(r->finished_at));
    save_run(ex, r);
    metrics_run_finished(r->job, r->environment, run_status_name(status));
    drop_run(ex, a);
}

/* Forgets an active run (its folder too) without writing anything. */
static void drop_run(struct executor *ex, struct active *a) {
    rm_tree(a->rundir);
    /* Unlink and free. */
    for (struct active **p = &ex->list; *p != NULL; p = &(*p)->next)
        if (*p == a) {
            *p = a->next;
            break;
        }
    ex->nactive--;
    atomic_store(&runs_active, ex->nactive);
    ex->next_poll = 0; /* a slot is free: look for queued runs at once */
    run_cleanup(&a->run);
    task_result_list_cleanup(&a->results);
    json_decref(a->outputs);
    masker_free(a->mask);
    free(a->st[0].data);
    free(a->st[1].data);
    free(a->exec_error);
    free(a);
}

/* Ends every task not started yet with status st. */
static void close_pending(struct executor *ex, struct active *a, int st) {
    for (size_t i = a->cur; i < a->results.n; i++) {
        struct task_result *t = &a->results.items[i];
        if (t->status != RESULT_PENDING) continue;
        t->status = st;
        save_result(ex, t);
    }
}

/*
 * With --run-as, the task's user gets what it must use in the run's meta
 * folder, which stays root's (so the task cannot swap its entries for
 * links that the server would then follow): the shell's script, and an
 * empty outputs file it may append to.
 */
static int hand_over_taskdir(struct executor *ex, struct active *a, struct dmt_err *err) {
    int fd = -1, ok = -1;
    int dfd = open(a->taskdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0 &&
        (fchownat(dfd, "script", ex->uid, ex->gid, AT_SYMLINK_NOFOLLOW) == 0 || errno == ENOENT) &&
        (unlinkat(dfd, "outputs", 0) == 0 || errno == ENOENT)) {
        fd = openat(dfd, "outputs", O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0) ok = fchown(fd, ex->uid, ex->gid);
    }
    int e = errno;
    if (fd >= 0) close(fd);
    if (dfd >= 0) close(dfd);
    if (ok == 0) return DMT_OK;
    return dmt_err_set(err, DMT_ERR_IO, "cannot prepare %s for uid %u: %s", a->taskdir,
                       (unsigned)ex->uid, strerror(e));
}

/* Starts one attempt of the current task. */
static void start_attempt(struct executor *ex, struct active *a) {
    struct task_result *tr = &a->results.items[a->cur];
    json_t *t = snap_task(a);
    const char *pname = json_string_value(json_object_get(t, "plugin"));
    const struct plugin *p = plugin_find(pname ? pname : "");
    struct dmt_err err;
    dmt_err_init(&err);
    char **argv = NULL;
    json_t *values = NULL;
    struct envv env = {0};

    tr->attempts++;
    tr->status = RESULT_RUNNING;
    if (tr->started_at[0] == '\0') util_now_rfc3339(tr->started_at, sizeof(tr->started_at));
    if (save_result(ex, tr) == DMT_ERR_CONFLICT) {
        /* Another executor holds the run now: start nothing of it. */
        lose(ex, a, "its task could not be recorded");
        return;
    }
    a->attempt_start = now_ms();
    a->exited = false;
    a->exit_code = -1;
    a->term_signal = 0;
    a->core = false;
    a->kill_reason = NULL;
    a->kill_at = 0;
    a->deadline = 0;
    free(a->exec_error);
    a->exec_error = NULL;
    int input = -1;

    if (p == NULL) {
        dmt_err_set(&err, DMT_ERR_NOT_FOUND, "plugin '%s' is not loaded", pname ? pname : "?");
        goto failed;
    }
    values = task_values(ex, a, &err);
    if (values == NULL) goto failed;
    /* The values document goes to stdin from memory: no secret is ever
     * written to disk, and no file has to be made and removed per task. */
    input = memfd_create("dmt-input", MFD_CLOEXEC);
    char *doc = json_dumps(values, JSON_COMPACT);
    int wrc = doc != NULL && input >= 0 ? write_all(input, doc, strlen(doc)) : -1;
    if (doc != NULL) sodium_memzero(doc, strlen(doc));
    free(doc);
    if (wrc != 0 || lseek(input, 0, SEEK_SET) != 0) {
        dmt_err_set(&err, DMT_ERR_IO, "cannot prepare the task's input: %s", strerror(errno));
        goto failed;
    }
    if (plugin_command(p, values, a->taskdir, &argv, &err) != DMT_OK) goto failed;
    if (ex->run_as && hand_over_taskdir(ex, a, &err) != DMT_OK) goto failed;
    build_env(&env, a, p, values, tr->attempts);
    const json_t *wd = json_object_get(values, "workdir");
    const char *cwd = p->export_plain && json_is_string(wd) && json_string_length(wd) > 0
                          ? json_string_value(wd)
                          : a->workdir;
    struct proc_opts po = {.file = argv[0], .argv = argv, .env = env.v, .cwd = cwd,
                           .stdin_fd = input, .has_stdin_fd = true, .die_with_parent = true,
                           .uid = ex->uid, .gid = ex->gid, .set_user = ex->run_as};
    if (proc_spawn(&a->proc, &po, &err) != DMT_OK) goto failed;

    a->running = true;
    a->st[0].fd = a->proc.out_fd;
    a->st[1].fd = a->proc.err_fd;
    a->proc.out_fd = a->proc.err_fd = -1; /* the streams own them now */
    struct epoll_event ev = {.events = EPOLLIN};
    for (int i = 0; i < 2; i++) {
        a->w[i] = (struct watch){a, i == 0 ? W_OUT : W_ERR};
        ev.data.ptr = &a->w[i];
        epoll_ctl(ex->epfd, EPOLL_CTL_ADD, a->st[i].fd, &ev);
    }
    if (a->proc.pidfd >= 0) {
        a->w[2] = (struct watch){a, W_PID};
        ev.data.ptr = &a->w[2];
        epoll_ctl(ex->epfd, EPOLL_CTL_ADD, a->proc.pidfd, &ev);
    }
    json_int_t timeout = json_integer_value(json_object_get(t, "timeout_s"));
    if (timeout > 0) a->deadline = a->attempt_start + timeout * 1000;
    goto out;

failed:
    /* Nothing runs: the attempt failed at once, for this reason. */
    a->exec_error = util_strdup(err.msg);
    a->running = true;
    a->exited = true;
out:
    if (input >= 0) close(input);
    plugin_argv_free(argv);
    env_free(&env);
    json_decref(values);
    dmt_err_cleanup(&err);
}

/* The current attempt is over (process reaped, pipes drained): record it
 * and go on. */
static void finish_attempt(struct executor *ex, struct active *a) {
    struct task_result *tr = &a->results.items[a->cur];
    json_t *t = snap_task(a);
    flush_stream(ex, a, 0, true);
    flush_stream(ex, a, 1, true);
    for (int i = 0; i < 2; i++)
        if (a->st[i].fd >= 0) {
            epoll_ctl(ex->epfd, EPOLL_CTL_DEL, a->st[i].fd, NULL);
            close(a->st[i].fd);
            a->st[i].fd = -1;
        }
    proc_close(&a->proc);
    a->running = false;
    if (a->lost) {
        /* Whoever holds the run now records it; this executor may not. */
        clear_taskdir(a);
        drop_run(ex, a);
        return;
    }

    char error[512] = "";
    if (a->exec_error != NULL) snprintf(error, sizeof(error), "%s", a->exec_error);
    else if (a->kill_reason != NULL && strcmp(a->kill_reason, "timeout") == 0)
        snprintf(error, sizeof(error), "timeout after %llds",
                 (long long)json_integer_value(json_object_get(t, "timeout_s")));
    else if (a->kill_reason != NULL) snprintf(error, sizeof(error), "%s", a->kill_reason);
    else if (a->term_signal != 0)
        snprintf(error, sizeof(error), "signal %d%s", a->term_signal, a->core ? " (core dumped)" : "");
    else if (a->exit_code != 0)
        snprintf(error, sizeof(error), "exit status %d", a->exit_code);
    bool ok = error[0] == '\0';
    double secs = (double)(now_ms() - a->attempt_start) / 1000.0;
    metrics_task_duration(secs);
    json_t *outputs = a->exec_error ? json_object() : read_outputs(ex, a);
    clear_taskdir(a);

    const char *name = json_string_value(json_object_get(t, "name"));
    bool stopping = a->kill_reason != NULL && (strcmp(a->kill_reason, "canceled") == 0 ||
                                               strcmp(a->kill_reason, "shutdown") == 0);
    int retries = (int)json_integer_value(json_object_get(t, "retries"));
    if (!ok && !stopping && tr->attempts <= retries) {
        sys_line(ex, a->run.m.id, (int)a->cur, "task %s: attempt %d failed (%s); retrying", name,
                 tr->attempts, error);
        json_decref(outputs);
        start_attempt(ex, a);
        return;
    }
    tr->status = ok ? RESULT_SUCCEEDED : stopping && strcmp(a->kill_reason, "canceled") == 0
                                             ? RESULT_CANCELED
                                             : RESULT_FAILED;
    tr->exit_code = a->exit_code;
    free(tr->error);
    tr->error = ok ? NULL : util_strdup(error);
    util_now_rfc3339(tr->finished_at, sizeof(tr->finished_at));
    json_decref(tr->outputs);
    tr->outputs = json_incref(outputs);
    json_object_set_new(a->outputs, name, outputs);
    save_result(ex, tr);
    sys_line(ex, a->run.m.id, (int)a->cur, "task %s %s%s%s in %.2fs", name,
             result_status_name(tr->status), ok ? "" : ": ", error, secs);

    if (stopping) {
        bool cancel = strcmp(a->kill_reason, "canceled") == 0;
        a->cur++;
        close_pending(ex, a, RESULT_CANCELED);
        finish_run(ex, a, cancel ? RUN_CANCELED : RUN_INTERRUPTED);
        return;
    }
    if (!ok && strcmp(json_string_value(json_object_get(t, "on_failure")), "continue") != 0)
        a->stop_failed = true;
    a->cur++;
    start_next(ex, a);
}

/* Starts the next task to run, or finishes the run. */
static void start_next(struct executor *ex, struct active *a) {
    for (; a->cur < a->results.n; a->cur++) {
        struct task_result *tr = &a->results.items[a->cur];
        if (tr->status == RESULT_SKIPPED) continue; /* disabled */
        if (a->stop_failed) {
            tr->status = RESULT_SKIPPED;
            save_result(ex, tr);
            continue;
        }
        if (a->canceled) break;
        start_attempt(ex, a);
        return;
    }
    if (a->canceled) {
        close_pending(ex, a, RESULT_CANCELED);
        finish_run(ex, a, RUN_CANCELED);
        return;
    }
    finish_run(ex, a, a->stop_failed ? RUN_FAILED : RUN_SUCCEEDED);
}

/* Sends SIGTERM now and SIGKILL after the grace period. */
static void stop_task(struct executor *ex, struct active *a, const char *reason) {
    if (a->kill_reason == NULL) a->kill_reason = reason;
    if (a->exited || a->kill_at != 0) return;
    proc_kill_group(&a->proc, SIGTERM);
    a->kill_at = now_ms() + (int64_t)ex->grace_s * 1000;
}

/* --- leases (DESIGN.md §6) ------------------------------------------------------- */

/* The run is no longer this executor's (another may hold it): its task is
 * stopped, and nothing more of it is written (the store would refuse). */
static void lose(struct executor *ex, struct active *a, const char *why) {
    if (a->lost) return;
    a->lost = true;
    log_error("run %lld: %s lost its lease (%s); stopping its tasks", (long long)a->run.m.id,
              ex->node, why);
    sys_line(ex, a->run.m.id, -1,
             "%s lost its lease on this run (%s): its tasks are stopped here and it records "
             "nothing more of the run",
             ex->node, why);
    if (a->running)
        stop_task(ex, a, "lease lost");
    else
        drop_run(ex, a);
}

/* Renews the lease of every active run; a run whose lease was taken or
 * that could not be renewed in time is lost. Runs before anything else of
 * a wake-up, so that an executor that was paused past its leases stops
 * instead of going on with runs that are no longer its own. */
static void renew_leases(struct executor *ex, bool force) {
    int64_t now = now_ms();
    struct active *a = ex->list;
    while (a != NULL) {
        struct active *next = a->next;
        if (!a->lost && now >= a->lease_ok) {
            lose(ex, a, "it was not renewed in time");
        } else if (!a->lost && (force || now >= ex->next_renew)) {
            struct dmt_err err;
            dmt_err_init(&err);
            int rc = DMT_ERR_BUSY;
            for (int i = 0; i < 20 && rc == DMT_ERR_BUSY; i++) {
                dmt_err_cleanup(&err);
                rc = ex->store->ops->run_renew(ex->store->ctx, a->run.m.id, a->run.fence,
                                               (int)ex->lease_s, &err);
                if (rc == DMT_ERR_BUSY) usleep(2000);
            }
            if (rc == DMT_OK)
                a->lease_ok = now + (int64_t)ex->lease_s * 1000;
            else if (rc == DMT_ERR_CONFLICT)
                lose(ex, a, err.msg);
            else
                log_error("run %lld: cannot renew its lease: %s", (long long)a->run.m.id, err.msg);
            dmt_err_cleanup(&err);
        }
        a = next;
    }
    if (force || now >= ex->next_renew) ex->next_renew = now + (int64_t)ex->lease_s * 1000 / 3;
}

struct sweep {
    int64_t id;
    bool requeued, done;
};

/*
 * Takes back one run whose lease expired: queued again if none of its
 * tasks started, else interrupted (its running task failed, the rest
 * canceled). Revoking moves the fence first, so the holder that lost it
 * can no longer write. A lease renewed meanwhile leaves it alone.
 */
static int sweep_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct sweep *sw = arg;
    struct run r = {0};
    struct task_result_list l = {0};
    sw->done = sw->requeued = false;
    int64_t fence = 0;
    int rc = s->ops->run_get(s->ctx, sw->id, &r, err);
    if (rc != DMT_OK || r.status != RUN_RUNNING) goto out;
    rc = s->ops->run_revoke(s->ctx, r.m.id, r.fence, true, &fence, err);
    if (rc == DMT_ERR_CONFLICT) {
        rc = DMT_OK; /* renewed after all */
        goto out;
    }
    if (rc == DMT_OK) rc = s->ops->result_list(s->ctx, r.m.id, &l, err);
    if (rc != DMT_OK) goto out;
    r.fence = fence;
    /* Started: a task made an attempt or ended (a disabled task is skipped
     * from the start, which is not a start). */
    bool started = false;
    for (size_t j = 0; j < l.n; j++)
        if (l.items[j].attempts > 0 ||
            (l.items[j].status != RESULT_PENDING && l.items[j].status != RESULT_SKIPPED))
            started = true;
    if (!started) {
        r.status = RUN_QUEUED;
        r.started_at[0] = '\0';
        free(r.owner);
        r.owner = NULL;
        rc = s->ops->run_update(s->ctx, &r, err);
        sw->requeued = true;
    } else {
        r.status = RUN_INTERRUPTED;
        util_now_rfc3339(r.finished_at, sizeof(r.finished_at));
        rc = s->ops->run_update(s->ctx, &r, err);
        for (size_t j = 0; rc == DMT_OK && j < l.n; j++) {
            struct task_result *t = &l.items[j];
            t->fence = fence;
            if (t->status == RESULT_RUNNING) {
                t->status = RESULT_FAILED;
                free(t->error);
                t->error = util_strdup("interrupted: its executor stopped renewing the lease");
                util_now_rfc3339(t->finished_at, sizeof(t->finished_at));
            } else if (t->status == RESULT_PENDING) {
                t->status = RESULT_CANCELED;
            } else {
                continue;
            }
            rc = s->ops->result_update(s->ctx, t, err);
        }
    }
    sw->done = rc == DMT_OK;
out:
    run_cleanup(&r);
    task_result_list_cleanup(&l);
    return rc;
}

/* Takes back the runs whose lease expired, whoever held them. */
static void sweep(struct executor *ex) {
    int64_t ids[64];
    size_t n = 0;
    struct dmt_err err;
    dmt_err_init(&err);
    if (ex->store->ops->run_expired(ex->store->ctx, 64, ids, &n, &err) != DMT_OK)
        log_error("executor: cannot look for expired leases: %s", err.msg);
    for (size_t i = 0; i < n; i++) {
        struct sweep sw = {.id = ids[i]};
        dmt_err_cleanup(&err);
        if (store_tx(ex->store, TX_WRITE, sweep_tx, &sw, &err) != DMT_OK) {
            log_error("run %lld: cannot take it back: %s", (long long)ids[i], err.msg);
            continue;
        }
        if (!sw.done) continue;
        char line[256];
        int len = snprintf(line, sizeof(line),
                           sw.requeued ? "the executor that claimed the run stopped renewing its "
                                         "lease before any task started; queued again (noticed "
                                         "by %s)\n"
                                       : "run interrupted: the executor that ran it stopped "
                                         "renewing its lease; re-run it to repeat it (noticed "
                                         "by %s)\n",
                           ex->node);
        append_log(ex->store, ids[i], -1, LOG_SYSTEM, line, (size_t)len);
        log_info("run %lld: lease expired; %s", (long long)ids[i],
                 sw.requeued ? "queued again" : "interrupted");
        publish_run(ids[i], 0, "updated",
                    run_status_name(sw.requeued ? RUN_QUEUED : RUN_INTERRUPTED));
        if (sw.requeued) ex->last_seq = -1;
    }
    dmt_err_cleanup(&err);
}

/* --- claiming and scanning --------------------------------------------------------- */

struct claim {
    const char *node;
    const json_t *tags;
    int lease_s;
    struct run run;
    struct task_result_list results;
};

/* Takes the oldest queued run (with a lease) and reads it and its task
 * results under the new fence. */
static int claim_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct claim *c = arg;
    run_cleanup(&c->run);
    task_result_list_cleanup(&c->results);
    int64_t id = 0, fence = 0;
    int rc = s->ops->run_claim(s->ctx, c->node, c->tags, c->lease_s, &id, &fence, err);
    if (rc == DMT_OK) rc = s->ops->run_get(s->ctx, id, &c->run, err);
    if (rc == DMT_OK) rc = s->ops->result_list(s->ctx, id, &c->results, err);
    if (rc == DMT_OK) dmt_assert(c->run.fence == fence);
    return rc;
}

/* Claims one queued run and starts it; false when none could be had. */
static bool claim(struct executor *ex) {
    struct claim c = {.node = ex->node, .tags = ex->tags, .lease_s = (int)ex->lease_s};
    struct dmt_err err;
    dmt_err_init(&err);
    int64_t t0 = now_ms();
    int rc = store_tx(ex->store, TX_WRITE, claim_tx, &c, &err);
    if (rc != DMT_OK) {
        if (rc != DMT_ERR_NOT_FOUND) log_error("cannot claim a run: %s", err.msg);
        run_cleanup(&c.run);
        task_result_list_cleanup(&c.results);
        dmt_err_cleanup(&err);
        return false;
    }
    dmt_err_cleanup(&err);
    int64_t id = c.run.m.id;
    publish_run(c.run.m.id, c.run.m.version, "updated", run_status_name(c.run.status));
    struct active *a = calloc(1, sizeof(*a));
    if (a == NULL) abort();
    a->run = c.run;
    a->results = c.results;
    a->lease_ok = t0 + (int64_t)ex->lease_s * 1000;
    a->outputs = json_object();
    a->mask = masker_new();
    a->proc.pid = -1;
    a->proc.pidfd = a->proc.out_fd = a->proc.err_fd = -1;
    for (int i = 0; i < 2; i++) {
        a->st[i].fd = -1;
        a->st[i].data = malloc(CHUNK_MAX);
        if (a->st[i].data == NULL) abort();
    }
    snprintf(a->rundir, sizeof(a->rundir), "%s/runs/%lld", ex->data_dir, (long long)id);
    snprintf(a->workdir, sizeof(a->workdir), "%s/work", a->rundir);
    snprintf(a->taskdir, sizeof(a->taskdir), "%s/meta", a->rundir);
    a->next = ex->list;
    ex->list = a;
    ex->nactive++;
    atomic_store(&runs_active, ex->nactive);
    rm_tree(a->rundir); /* leftovers of an earlier life of this number */
    /* With --run-as, work/ is the task user's; the run folder and meta/ stay
     * root's, which the user may only pass through. */
    if (mkdir(a->rundir, 0700) != 0 || mkdir(a->workdir, 0700) != 0 || mkdir(a->taskdir, 0700) != 0 ||
        (ex->run_as && (chmod(a->rundir, 0711) != 0 || chmod(a->taskdir, 0711) != 0 ||
                        chown(a->workdir, ex->uid, ex->gid) != 0))) {
        sys_line(ex, id, -1, "cannot create the run folder %s: %s", a->rundir, strerror(errno));
        close_pending(ex, a, RESULT_CANCELED);
        finish_run(ex, a, RUN_FAILED);
        return true;
    }
    sys_line(ex, id, -1, "run %lld of job %s in %s started on %s", (long long)id, a->run.job,
             a->run.environment, ex->node);
    start_next(ex, a);
    return true;
}

/* Reacts to changes in the store: cancel requests, queued runs. */
static void scan(struct executor *ex) {
    int64_t seq;
    struct dmt_err err;
    dmt_err_init(&err);
    if (ex->store->ops->seq_get(ex->store->ctx, &seq, &err) != DMT_OK) {
        log_error("executor: %s", err.msg);
        dmt_err_cleanup(&err);
        return;
    }
    if (seq == ex->last_seq) return;
    ex->last_seq = seq;

    for (struct active *a = ex->list; a != NULL; a = a->next) {
        int status;
        bool cancel = false;
        if (a->canceled ||
            ex->store->ops->run_state(ex->store->ctx, a->run.m.id, &status, &cancel, &err) != DMT_OK ||
            !cancel)
            continue;
        a->canceled = true;
        a->run.cancel_requested = true;
        sys_line(ex, a->run.m.id, -1, "cancel requested");
        if (a->running) stop_task(ex, a, "canceled");
    }
    if (!atomic_load(&ex->stopping) && !atomic_load(&ex->draining) &&
        ex->nactive < ex->concurrency) {
        unsigned room = ex->concurrency - ex->nactive, want = room < 64 ? room : 64, got = 0;
        while (got < want && claim(ex)) got++;
        /* More may wait than one look takes: look again at the next wake. */
        if (got == want) ex->last_seq = -1;
    }
    if (!atomic_load(&ex->stopping)) {
        int64_t ids[512];
        size_t n = 0;
        if (ex->store->ops->run_ids(ex->store->ctx, RUN_QUEUED, 512, ids, &n, &err) == DMT_OK)
            atomic_store(&queue_depth, (unsigned)n);
    }
    if (err.code != DMT_OK) log_error("executor: %s", err.msg);
    dmt_err_cleanup(&err);
}

/* --- the loop ---------------------------------------------------------------------- */

static void on_exit_event(struct active *a) {
    if (a->exited) return;
    int rc = proc_reap(&a->proc, &a->exit_code, &a->term_signal, &a->core);
    if (rc != 1) return;
    a->exited = true;
    /* Whatever the task left behind in its group dies with it. */
    proc_kill_group(&a->proc, SIGKILL);
    if (a->term_signal != 0)
        log_info("run %lld: task process %d killed by signal %d%s", (long long)a->run.m.id,
                 (int)a->proc.pid, a->term_signal, a->core ? " (core dumped)" : "");
}

static int next_timeout(struct executor *ex, int64_t now) {
    int64_t next = now + 1000;
    if (ex->next_poll < next) next = ex->next_poll;
    if (ex->next_beat < next) next = ex->next_beat;
    if (ex->next_sweep < next) next = ex->next_sweep;
    if (ex->list != NULL && ex->next_renew < next) next = ex->next_renew;
    for (struct active *a = ex->list; a != NULL; a = a->next) {
        if (a->deadline && a->deadline < next) next = a->deadline;
        if (a->kill_at && a->kill_at < next) next = a->kill_at;
        for (int i = 0; i < 2; i++)
            if (a->st[i].len > 0 && a->st[i].since + FLUSH_MS < next) next = a->st[i].since + FLUSH_MS;
        if (a->running && a->exited) return 0; /* an attempt to finish now */
        if (a->running && a->proc.pidfd < 0 && !a->exited && now + 20 < next) next = now + 20;
    }
    return next <= now ? 0 : (int)(next - now);
}

/* Timers, flushes and finished attempts of every active run. */
static void tick(struct executor *ex) {
    renew_leases(ex, false);
    int64_t now = now_ms();
    struct active *a = ex->list;
    while (a != NULL) {
        struct active *next = a->next;
        if (a->running && !a->exited) {
            if (a->proc.pidfd < 0) on_exit_event(a);
            if (a->deadline && now >= a->deadline && a->kill_reason == NULL) {
                sys_line(ex, a->run.m.id, (int)a->cur, "timeout: stopping the task");
                stop_task(ex, a, "timeout");
            }
            if (a->kill_at && now >= a->kill_at) {
                proc_kill_group(&a->proc, SIGKILL);
                a->kill_at = 0;
            }
        }
        for (int i = 0; i < 2; i++)
            if (a->st[i].len > 0 && now - a->st[i].since >= FLUSH_MS) flush_stream(ex, a, i, false);
        if (a->running && a->exited) {
            /* Take what the pipes still hold, then close them: leftovers
             * of the group were killed, so this ends quickly. */
            for (int i = 0; i < 2; i++) read_stream(ex, a, i);
            finish_attempt(ex, a);
        }
        a = next;
    }
}

/* Tells the store this executor is alive (GET /workers): at start and
 * every third of its lease. */
static void beat(struct executor *ex) {
    struct worker w = {.name = ex->node, .kind = (char *)ex->kind, .tags = ex->tags,
                       .concurrency = (int)ex->concurrency, .active = (int)ex->nactive,
                       .lease_s = (int)ex->lease_s, .draining = atomic_load(&ex->draining)};
    memcpy(w.started_at, ex->started_at, sizeof(w.started_at));
    struct dmt_err err;
    dmt_err_init(&err);
    if (ex->store->ops->worker_beat(ex->store->ctx, &w, &err) != DMT_OK)
        log_warn("executor: cannot report itself alive: %s", err.msg);
    dmt_err_cleanup(&err);
    ex->next_beat = now_ms() + (int64_t)ex->lease_s * 1000 / 3;
}

static void wake_hook(void *arg) {
    struct executor *ex = arg;
    uint64_t one = 1;
    ssize_t n = write(ex->wakefd, &one, sizeof(one));
    (void)n;
}

static void *loop(void *arg) {
    struct executor *ex = arg;
    struct epoll_event evs[64];
    scan(ex);
    for (;;) {
        if (atomic_load(&ex->stopping) && !ex->stop_seen) {
            ex->stop_seen = true;
            for (struct active *a = ex->list; a != NULL; a = a->next) {
                if (a->running) {
                    sys_line(ex, a->run.m.id, (int)a->cur, "the server is shutting down");
                    stop_task(ex, a, "shutdown");
                }
            }
        }
        if (ex->stop_seen && ex->list == NULL) break;
        int n = epoll_wait(ex->epfd, evs, 64, next_timeout(ex, now_ms()));
        bool woke = false;
        for (int i = 0; i < n; i++) {
            struct watch *w = evs[i].data.ptr;
            if (w->kind == W_WAKE) {
                uint64_t v;
                ssize_t r = read(ex->wakefd, &v, sizeof(v));
                (void)r;
                woke = true;
            } else if (w->kind == W_PID) {
                /* Reaping closes the pidfd, which leaves the epoll set. */
                on_exit_event(w->a);
            } else {
                read_stream(ex, w->a, w->kind == W_OUT ? 0 : 1);
            }
        }
        tick(ex);
        int64_t now = now_ms();
        if (!ex->stop_seen && now >= ex->next_sweep) {
            sweep(ex);
            int64_t period = (int64_t)ex->lease_s * 1000 / 3;
            ex->next_sweep = now + (period < SWEEP_MAX_MS ? period : SWEEP_MAX_MS);
        }
        /* A drain shows in GET /workers at once. */
        if (!atomic_load(&ex->drain_seen) && atomic_load(&ex->draining)) {
            atomic_store(&ex->drain_seen, true);
            ex->next_beat = 0;
        }
        if (!ex->stop_seen && now >= ex->next_beat) beat(ex);
        /* Other nodes change the store without waking this loop: look
         * at it now and then too (a cheap read of the change sequence). */
        if (woke || now >= ex->next_poll) {
            scan(ex);
            ex->next_poll = now_ms() + POLL_MS;
        }
    }
    return NULL;
}

/* --- start, stop, recover -------------------------------------------------------------- */

/*
 * With --run-as, the task user must pass through every folder down to
 * DATA_DIR/runs: the two the executor owns become 0711 (pass, not list);
 * a folder above them that the user cannot pass stops the start with a
 * clear message instead of failing every task later.
 */
static int open_runs_to_user(struct executor *ex, const char *runs, struct dmt_err *err) {
    if (chmod(ex->data_dir, 0711) != 0 || chmod(runs, 0711) != 0)
        return dmt_err_set(err, DMT_ERR_IO, "cannot open %s to the task user: %s", runs,
                           strerror(errno));
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s", ex->data_dir);
    for (char *slash = path + strlen(path); slash != NULL; slash = strrchr(path, '/')) {
        *slash = '\0';
        struct stat st;
        const char *dir = path[0] != '\0' ? path : "/";
        if (stat(dir, &st) != 0)
            return dmt_err_set(err, DMT_ERR_IO, "cannot stat %s: %s", dir, strerror(errno));
        bool pass = (st.st_mode & S_IXOTH) || (st.st_uid == ex->uid && (st.st_mode & S_IXUSR)) ||
                    (st.st_gid == ex->gid && (st.st_mode & S_IXGRP));
        if (!pass)
            return dmt_err_set(err, DMT_ERR_CONFIG,
                               "--run-as: uid %u cannot pass through %s (mode %04o) to reach "
                               "the run folders in %s: chmod o+x it or choose another "
                               "--data-dir",
                               (unsigned)ex->uid, dir, (unsigned)(st.st_mode & 07777), runs);
        if (path[0] == '\0') break;
    }
    return DMT_OK;
}

int executor_start(const struct executor_opts *opts, struct executor **out, struct dmt_err *err) {
    struct executor *ex = calloc(1, sizeof(*ex));
    if (ex == NULL) return dmt_err_set(err, DMT_ERR_NOMEM, "out of memory");
    ex->db_url = util_strdup(opts->db_url);
    ex->data_dir = util_strdup(opts->data_dir);
    ex->node = util_strdup(opts->node);
    ex->concurrency = opts->concurrency ? opts->concurrency : 16;
    ex->grace_s = opts->grace_s;
    ex->lease_s = opts->lease_s ? opts->lease_s : 30;
    ex->run_as = opts->run_as;
    ex->tags = opts->tags != NULL ? json_deep_copy(opts->tags) : json_array();
    ex->kind = opts->kind != NULL ? opts->kind : "serve";
    util_now_rfc3339(ex->started_at, sizeof(ex->started_at));
    ex->uid = opts->uid;
    ex->gid = opts->gid;
    ex->last_seq = -1;
    ex->epfd = epoll_create1(EPOLL_CLOEXEC);
    ex->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    ex->hook = -1;
    char runs[PATH_MAX];
    snprintf(runs, sizeof(runs), "%s/runs", ex->data_dir);
    int rc = DMT_OK;
    if (ex->epfd < 0 || ex->wakefd < 0)
        rc = dmt_err_set(err, DMT_ERR_IO, "executor: %s", strerror(errno));
    else if ((mkdir(ex->data_dir, 0700) != 0 && errno != EEXIST) ||
             (mkdir(runs, 0700) != 0 && errno != EEXIST))
        rc = dmt_err_set(err, DMT_ERR_IO, "cannot create %s: %s", runs, strerror(errno));
    if (rc == DMT_OK) {
        /* Tasks run in their own folders: every path they get must be
         * absolute. */
        char *abs = realpath(ex->data_dir, NULL);
        if (abs == NULL)
            rc = dmt_err_set(err, DMT_ERR_IO, "cannot resolve %s: %s", ex->data_dir, strerror(errno));
        free(ex->data_dir);
        ex->data_dir = abs;
    }
    if (rc == DMT_OK && ex->run_as) rc = open_runs_to_user(ex, runs, err);
    if (rc == DMT_OK) rc = store_open(ex->db_url, &ex->store, err);
    if (rc == DMT_OK) rc = logwriter_start(ex->db_url, &ex->lw, err);
    if (rc == DMT_OK) beat(ex); /* listed before it claims anything */
    if (rc == DMT_OK) {
        ex->wake_watch = (struct watch){NULL, W_WAKE};
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &ex->wake_watch};
        epoll_ctl(ex->epfd, EPOLL_CTL_ADD, ex->wakefd, &ev);
        /* Only work wakes it (a run queued, a cancel): the changes it
         * makes itself, or other executors' progress, do not. */
        ex->hook = notify_add_hook(wake_hook, ex, NOTIFY_WORK);
        if (pthread_create(&ex->thread, NULL, loop, ex) != 0)
            rc = dmt_err_set(err, DMT_ERR_IO, "cannot start the executor thread");
    }
    if (rc != DMT_OK) {
        notify_remove_hook(ex->hook);
        logwriter_stop(ex->lw);
        store_close(ex->store);
        if (ex->epfd >= 0) close(ex->epfd);
        if (ex->wakefd >= 0) close(ex->wakefd);
        free(ex->db_url);
        free(ex->data_dir);
        free(ex->node);
        json_decref(ex->tags);
        free(ex);
        return rc;
    }
    *out = ex;
    return DMT_OK;
}

void executor_drain(struct executor *ex) {
    if (ex == NULL) return;
    atomic_store(&ex->draining, true);
    wake_hook(ex);
}

bool executor_drained(struct executor *ex) {
    return ex == NULL || (atomic_load(&ex->drain_seen) && atomic_load(&runs_active) == 0);
}

void executor_stop(struct executor *ex) {
    if (ex == NULL) return;
    atomic_store(&ex->stopping, true);
    wake_hook(ex);
    pthread_join(ex->thread, NULL);
    logwriter_stop(ex->lw);
    notify_remove_hook(ex->hook);
    struct dmt_err err;
    dmt_err_init(&err);
    if (ex->store->ops->worker_gone(ex->store->ctx, ex->node, &err) != DMT_OK)
        log_warn("executor: cannot remove itself from the workers: %s", err.msg);
    dmt_err_cleanup(&err);
    store_close(ex->store);
    json_decref(ex->tags);
    close(ex->epfd);
    close(ex->wakefd);
    free(ex->db_url);
    free(ex->data_dir);
    free(ex->node);
    free(ex);
}

struct recover {
    struct run_list runs;
};

static bool owner_alive(pid_t pid);

/* True if the owner ("host:pid") of a run is a process of this machine
 * that is gone (or is us: an earlier life with our pid). Runs of other
 * machines, or of live executors here, are not ours to judge: the lease
 * sweep takes them back when their leases expire. */
static bool owner_gone_here(const char *owner) {
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    const char *colon = owner ? strrchr(owner, ':') : NULL;
    int64_t pid;
    if (colon == NULL || (size_t)(colon - owner) != strlen(host) ||
        strncmp(owner, host, strlen(host)) != 0 || !util_parse_i64(colon + 1, &pid))
        return false;
    return !owner_alive((pid_t)pid);
}

/* True if pid is a live dmt process other than us. */
static bool owner_alive(pid_t pid) {
    if (pid == getpid() || pid <= 1 || kill((pid_t)pid, 0) != 0) return false;
    /* A reused pid of some other program is not an owner. */
    char path[64], theirs[PATH_MAX] = "", ours[PATH_MAX] = "";
    snprintf(path, sizeof(path), "/proc/%lld/exe", (long long)pid);
    ssize_t n = readlink(path, theirs, sizeof(theirs) - 1);
    ssize_t m = readlink("/proc/self/exe", ours, sizeof(ours) - 1);
    return n > 0 && m > 0 && n == m && memcmp(theirs, ours, (size_t)n) == 0;
}

static int recover_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct recover *rec = arg;
    run_list_cleanup(&rec->runs);
    struct run_list all = {0};
    int rc = s->ops->run_list_status(s->ctx, RUN_RUNNING, &all, err);
    /* Keep the runs of owners that are gone. */
    for (size_t i = 0; rc == DMT_OK && i < all.n; i++) {
        if (!owner_gone_here(all.items[i].owner)) continue;
        *run_list_push(&rec->runs) = all.items[i];
        memset(&all.items[i], 0, sizeof(all.items[i]));
    }
    run_list_cleanup(&all);
    for (size_t i = 0; rc == DMT_OK && i < rec->runs.n; i++) {
        struct run *r = &rec->runs.items[i];
        /* Move the fence first: nothing of its old holder is written after. */
        rc = s->ops->run_revoke(s->ctx, r->m.id, r->fence, false, &r->fence, err);
        r->status = RUN_INTERRUPTED;
        util_now_rfc3339(r->finished_at, sizeof(r->finished_at));
        if (rc == DMT_OK) rc = s->ops->run_update(s->ctx, r, err);
        struct task_result_list l = {0};
        if (rc == DMT_OK) rc = s->ops->result_list(s->ctx, r->m.id, &l, err);
        for (size_t j = 0; rc == DMT_OK && j < l.n; j++) {
            struct task_result *t = &l.items[j];
            t->fence = r->fence;
            if (t->status == RESULT_RUNNING) {
                t->status = RESULT_FAILED;
                free(t->error);
                t->error = util_strdup("interrupted: the server stopped while it ran");
                util_now_rfc3339(t->finished_at, sizeof(t->finished_at));
            } else if (t->status == RESULT_PENDING) {
                t->status = RESULT_CANCELED;
            } else {
                continue;
            }
            rc = s->ops->result_update(s->ctx, t, err);
        }
        task_result_list_cleanup(&l);
    }
    return rc;
}

/* True if process pid's environment holds DMT_RUN_ID=<id> for one of ids. */
static bool belongs_to(pid_t pid, const struct run_list *runs) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    char buf[65536];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) return false;
    buf[n] = '\0';
    for (char *p = buf; p < buf + n; p += strlen(p) + 1) {
        if (strncmp(p, "DMT_RUN_ID=", 11) != 0) continue;
        int64_t id;
        if (!util_parse_i64(p + 11, &id)) return false;
        for (size_t i = 0; i < runs->n; i++)
            if (runs->items[i].m.id == id) return true;
    }
    return false;
}

/* Kills every process left from the runs (their task groups). */
static int kill_leftovers(const struct run_list *runs) {
    int killed = 0;
    DIR *d = opendir("/proc");
    if (d == NULL) return 0;
    struct dirent *de;
    pid_t self = getpid();
    while ((de = readdir(d)) != NULL) {
        int64_t pid;
        if (!util_parse_i64(de->d_name, &pid) || pid == self || pid <= 1) continue;
        if (!belongs_to((pid_t)pid, runs)) continue;
        pid_t pgid = getpgid((pid_t)pid);
        if (pgid > 1 && pgid != getpgid(0)) kill(-pgid, SIGKILL);
        kill((pid_t)pid, SIGKILL);
        killed++;
    }
    closedir(d);
    return killed;
}

int executor_recover(struct store *s, int *count, struct dmt_err *err) {
    struct recover rec = {0};
    int rc = store_tx(s, TX_WRITE, recover_tx, &rec, err);
    *count = rc == DMT_OK ? (int)rec.runs.n : 0;
    if (rc == DMT_OK && rec.runs.n > 0) {
        int killed = kill_leftovers(&rec.runs);
        for (size_t i = 0; i < rec.runs.n; i++) {
            char line[256];
            int n = snprintf(line, sizeof(line),
                             "run interrupted: the server that ran it stopped; "
                             "%d leftover process(es) killed at restart; re-run it to repeat it\n",
                             killed);
            append_log(s, rec.runs.items[i].m.id, -1, LOG_SYSTEM, line, (size_t)n);
        }
    }
    run_list_cleanup(&rec.runs);
    return rc;
}
