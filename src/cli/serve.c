/*
 * serve.c - `dmt serve`: opens the store (applying migrations), bootstraps
 * the admin, optionally creates the demo, starts the HTTP server and runs
 * until SIGINT or SIGTERM. `dmt worker` is the same process without the
 * HTTP side: an executor only, claiming runs from a shared database.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <sodium.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/seal.h"
#include "core/util.h"
#include "exec/executor.h"
#include "http/auth.h"
#include "http/server.h"
#include "model/demo.h"
#include "model/secrets.h"
#include "plugin/plugin.h"
#include "store/store.h"

static const char usage[] =
    "usage: dmt serve [--listen HOST:PORT] [--db URL] [--demo] [--max-body BYTES]\n"
    "                 [--threads N] [--plugin-dir DIR]... [--concurrency N]\n"
    "                 [--data-dir DIR] [--grace SECONDS] [--lease SECONDS] [--no-executor]\n"
    "                 [--tags TAG,...]\n"
    "                 [--key-file PATH] [--tls-cert FILE --tls-key FILE] [--run-as USER]\n"
    "  --listen HOST:PORT  where to listen (default 127.0.0.1:8080; port 0 picks one)\n"
    "  --db URL            sqlite:PATH (default sqlite:./dmt.db)\n"
    "  --demo              on a new database, create a small demo workflow\n"
    "  --max-body BYTES    largest request body accepted (default 1048576)\n"
    "  --threads N         HTTP worker threads (default 2)\n"
    "  --plugin-dir DIR    also load plugins from DIR (repeatable; after DMT_PLUGIN_PATH)\n"
    "  --concurrency N     runs executed at once; more wait queued (default 16)\n"
    "  --data-dir DIR      where runs keep their working folders (default ./dmt-data)\n"
    "  --grace SECONDS     between SIGTERM and SIGKILL of a stopped task (default 10)\n"
    "  --lease SECONDS     lease of a claimed run, renewed every third of it; a run whose\n"
    "                      lease expires is taken back by any executor (default 30)\n"
    "  --no-executor       serve the API only; runs wait for an executor elsewhere\n"
    "  --tags TAG,...      the executor's worker tags: it runs the runs of environments\n"
    "                      whose worker_tags it has all of (default: none)\n"
    "  --key-file PATH     the master key sealing secrets (default: the database path\n"
    "                      plus .key, created with mode 0600 on first start)\n"
    "  --tls-cert FILE     serve HTTPS with this PEM certificate (chain); needs --tls-key\n"
    "  --tls-key FILE      the PEM private key of --tls-cert\n"
    "  --run-as USER       run tasks as this unprivileged user (the server runs as root)\n"
    "signals: SIGTERM/SIGINT stop (running tasks are stopped, their runs end\n"
    "         interrupted); SIGQUIT drains: no new runs, the running ones finish, then stop\n"
    "environment: DMT_MASTER_KEY (64 hex characters; instead of the key file),\n"
    "             DMT_ADMIN_PASSWORD, DMT_ADMIN_TOKEN (first start only),\n"
    "             DMT_PLUGIN_PATH (colon-separated plugin folders)\n";

static const char worker_usage[] =
    "usage: dmt worker --db URL [--tags TAG,...] [--concurrency N] [--data-dir DIR]\n"
    "                  [--grace SECONDS] [--lease SECONDS] [--plugin-dir DIR]...\n"
    "                  [--key-file PATH] [--run-as USER]\n"
    "  an executor without the API: claims queued runs from the database (usually\n"
    "  postgres://..., shared with `dmt serve --no-executor` nodes) and runs them.\n"
    "  The options mean what they mean for `dmt serve`; the master key must be the\n"
    "  API nodes' (DMT_MASTER_KEY or --key-file), or secret variables cannot be opened.\n"
    "  SIGTERM stops it (running tasks are stopped, their runs end interrupted);\n"
    "  SIGQUIT drains it: no new runs, the running ones finish, then it stops.\n";

static bool worker_mode;

static int serve_usage(const char *fmt, const char *arg) {
    fprintf(stderr, worker_mode ? "dmt worker: " : "dmt serve: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n%s", worker_mode ? worker_usage : usage);
    return CLI_EXIT_USAGE;
}

/* Splits "HOST:PORT" into host (copied into host) and port. */
static bool parse_listen(const char *s, char *host, size_t len, unsigned *port) {
    const char *colon = strrchr(s, ':');
    int64_t p;
    if (colon == NULL || colon == s || (size_t)(colon - s) >= len) return false;
    if (!util_parse_i64(colon + 1, &p) || p < 0 || p > 65535) return false;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    *port = (unsigned)p;
    return true;
}

/*
 * The plugin folders, in order: those of DMT_PLUGIN_PATH (empty parts
 * skipped), then cli_dirs. Returns a NULL-terminated array; the caller frees
 * it and *env_copy (which the first strings point into).
 */
static const char **plugin_dirs(const char *const *cli_dirs, size_t ncli, char **env_copy) {
    const char *env = getenv("DMT_PLUGIN_PATH");
    *env_copy = util_strdup(env ? env : "");
    size_t n = 1;
    for (const char *c = *env_copy; *c != '\0'; c++)
        n += *c == ':';
    const char **dirs = calloc(n + ncli + 1, sizeof(*dirs));
    if (dirs == NULL) abort();
    size_t k = 0;
    char *save = NULL;
    for (char *d = strtok_r(*env_copy, ":", &save); d != NULL; d = strtok_r(NULL, ":", &save))
        dirs[k++] = d;
    for (size_t i = 0; i < ncli; i++)
        dirs[k++] = cli_dirs[i];
    return dirs;
}

/* Reads and then wipes the environment variable name: the value stays
 * in this process only as long as it is needed, and not in
 * /proc/PID/environ. Returns a malloc'd copy or NULL. */
static char *take_env(const char *name) {
    char *v = getenv(name);
    if (v == NULL || *v == '\0') return NULL;
    char *copy = util_strdup(v);
    sodium_memzero(v, strlen(v));
    unsetenv(name);
    return copy;
}

static void free_secret(char *s) {
    if (s == NULL) return;
    sodium_memzero(s, strlen(s));
    free(s);
}

void serve_default_key_file(const char *url, char *out, size_t len) {
    const char *path = strncmp(url, "sqlite:", 7) == 0 ? url + 7 : "dmt.db";
    if (*path == '\0' || strcmp(path, ":memory:") == 0) path = "dmt.db";
    snprintf(out, len, "%s.key", path);
}

int serve_load_master_key(struct store *st, const char *url, const char *key_file,
                          const char *hex, struct dmt_err *err) {
    char def[1100];
    if (key_file == NULL) {
        serve_default_key_file(url, def, sizeof(def));
        key_file = def;
    }
    /* A database that already holds sealed secrets never gets a new key. */
    char *check = NULL;
    bool sealed_before = st->ops->kv_get(st->ctx, "master_key_check", &check, NULL) == DMT_OK;
    free(check);
    unsigned char key[SEAL_KEY_BYTES];
    bool created = false;
    int rc = seal_key_load(hex, key_file, !sealed_before, key, &created, err);
    if (rc != DMT_OK) return rc;
    if (created) log_info("created the master key file %s (mode 0600): back it up", key_file);
    rc = seal_key_set(key);
    if (rc == DMT_OK) rc = secrets_start(st, key, err);
    sodium_memzero(key, sizeof(key));
    return rc;
}

/* Reads the PEM file path (at most 1 MiB) into a new string in *out, which
 * the caller frees (wiping it: it may hold a private key). */
static int read_pem(const char *opt, const char *path, char **out, struct dmt_err *err) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return dmt_err_set(err, DMT_ERR_CONFIG, "%s: cannot open %s: %s", opt, path,
                           strerror(errno));
    size_t cap = 1u << 20, len = 0;
    char *buf = malloc(cap + 1);
    if (buf == NULL) abort();
    ssize_t n;
    while (len < cap && ((n = read(fd, buf + len, cap - len)) > 0 || (n < 0 && errno == EINTR)))
        if (n > 0) len += (size_t)n;
    int e = errno;
    bool bad = n < 0 || len == cap;
    close(fd);
    buf[len] = '\0';
    if (bad || len == 0 || strstr(buf, "-----BEGIN ") == NULL) {
        sodium_memzero(buf, len);
        free(buf);
        return dmt_err_set(err, DMT_ERR_CONFIG, "%s: %s is not a PEM file%s%s", opt, path,
                           n < 0 ? ": " : "", n < 0 ? strerror(e) : "");
    }
    *out = buf;
    return DMT_OK;
}

/* Looks up the user tasks run as (--run-as): it must exist, not be root,
 * and the server itself must be root to switch to it. */
static int run_as_user(const char *name, struct executor_opts *eo, struct dmt_err *err) {
    errno = 0;
    struct passwd *pw = getpwnam(name);
    if (pw == NULL)
        return dmt_err_set(err, DMT_ERR_CONFIG, "--run-as: no user named '%s'%s%s", name,
                           errno ? ": " : "", errno ? strerror(errno) : "");
    if (pw->pw_uid == 0)
        return dmt_err_set(err, DMT_ERR_CONFIG,
                           "--run-as: '%s' is root; name an unprivileged user", name);
    if (geteuid() != 0)
        return dmt_err_set(err, DMT_ERR_CONFIG, "--run-as: only a server running as root can run "
                                                "tasks as another user");
    eo->run_as = true;
    eo->uid = pw->pw_uid;
    eo->gid = pw->pw_gid;
    return DMT_OK;
}

/* With --run-as, tasks must not read the database: its files (and the
 * WAL and shared-memory files SQLite gives the same mode) are made
 * private to the server's user if an earlier start left them readable. */
/* The database URL as it may be logged: a password in it ("scheme://user:
 * PASSWORD@host" or "password=..." in the query) becomes "***". */
static void url_for_log(const char *url, char *out, size_t len) {
    snprintf(out, len, "%s", url);
    char *scheme = strstr(out, "://");
    if (scheme != NULL) {
        char *at = strchr(scheme + 3, '@'), *colon = strchr(scheme + 3, ':');
        if (at != NULL && colon != NULL && colon < at && strlen(out) + 4 < len) {
            memmove(colon + 4, at, strlen(at) + 1);
            memcpy(colon, ":***", 4);
        }
    }
    char *pw = strstr(out, "password=");
    if (pw != NULL) {
        char *end = strchr(pw, '&');
        snprintf(pw + 9, len - (size_t)(pw + 9 - out), "***%s", end ? end : "");
    }
}

static void private_db_files(const char *url) {
    if (strncmp(url, "sqlite:", 7) != 0 || strcmp(url + 7, ":memory:") == 0) return;
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        char path[1100];
        struct stat st;
        snprintf(path, sizeof(path), "%s%s", url + 7, suffixes[i]);
        if (stat(path, &st) != 0 || (st.st_mode & 077) == 0) continue;
        if (chmod(path, st.st_mode & 0700) == 0)
            log_warn("made %s private (mode %04o): tasks run as another user", path,
                     (unsigned)(st.st_mode & 0700));
        else
            log_warn("cannot make %s private: %s", path, strerror(errno));
    }
}

/* Parses "a,b,c" ("" for none) into a sorted array of at most 32
 * distinct slugs; NULL if one is not a slug or is empty. */
static json_t *parse_tags(const char *s) {
    json_t *tags = json_array();
    if (s[0] == '\0') return tags;
    char *copy = util_strdup(s), *t = copy;
    for (char *end = t; end != NULL; t = end + 1) {
        end = strchr(t, ',');
        if (end != NULL) *end = '\0';
        if (!name_is_slug(t) || json_array_size(tags) >= 32) {
            json_decref(tags);
            tags = NULL;
            break;
        }
        size_t i = 0;
        while (i < json_array_size(tags) && strcmp(json_string_value(json_array_get(tags, i)), t) < 0)
            i++;
        if (i == json_array_size(tags) || strcmp(json_string_value(json_array_get(tags, i)), t) != 0)
            json_array_insert_new(tags, i, json_string(t));
        if (end == NULL) break;
    }
    free(copy);
    return tags;
}

/* Parses the value of a numeric option into *out within [min, max]. */
static bool num_opt(const char *value, int64_t min, int64_t max, int64_t *out) {
    return util_parse_i64(value, out) && *out >= min && *out <= max;
}

int cmd_serve(int argc, char **argv) {
    const char *listen = "127.0.0.1:8080", *db = "sqlite:./dmt.db", *data_dir = "./dmt-data";
    bool demo = false, executor = true;
    const char *key_file = NULL, *tls_cert = NULL, *tls_key = NULL, *run_as = NULL;
    const char *tags_opt = "";
    int64_t max_body = 1 << 20, threads = 2, concurrency = 16, grace = 10, lease = 30;
    const char *cli_dirs[argc > 0 ? argc : 1];
    size_t ncli_dirs = 0;
    worker_mode = argc > 0 && strcmp(argv[0], "worker") == 0;
    /* What only the API side takes. */
    static const char *const api_only[] = {"--demo", "--no-executor", "--listen", "--max-body",
                                           "--threads", "--tls-cert", "--tls-key"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        for (size_t k = 0; worker_mode && k < sizeof(api_only) / sizeof(api_only[0]); k++)
            if (strcmp(a, api_only[k]) == 0)
                return serve_usage("%s: a worker serves no API", a);
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(worker_mode ? worker_usage : usage, stdout);
            return CLI_EXIT_OK;
        } else if (strcmp(a, "--demo") == 0) {
            demo = true;
        } else if (strcmp(a, "--no-executor") == 0) {
            executor = false;
        } else if (next == NULL) {
            return serve_usage("unknown option or missing value: %s", a);
        } else if (strcmp(a, "--listen") == 0) {
            listen = argv[++i];
        } else if (strcmp(a, "--db") == 0) {
            db = argv[++i];
        } else if (strcmp(a, "--plugin-dir") == 0) {
            cli_dirs[ncli_dirs++] = argv[++i];
        } else if (strcmp(a, "--key-file") == 0) {
            key_file = argv[++i];
        } else if (strcmp(a, "--tls-cert") == 0) {
            tls_cert = argv[++i];
        } else if (strcmp(a, "--tls-key") == 0) {
            tls_key = argv[++i];
        } else if (strcmp(a, "--run-as") == 0) {
            run_as = argv[++i];
        } else if (strcmp(a, "--tags") == 0) {
            tags_opt = argv[++i];
        } else if (strcmp(a, "--data-dir") == 0) {
            data_dir = argv[++i];
        } else if (strcmp(a, "--max-body") == 0) {
            if (!num_opt(argv[++i], 1024, 1 << 30, &max_body))
                return serve_usage("--max-body: not a size between 1024 and 1073741824: %s", next);
        } else if (strcmp(a, "--threads") == 0) {
            if (!num_opt(argv[++i], 1, 64, &threads))
                return serve_usage("--threads: not a number between 1 and 64: %s", next);
        } else if (strcmp(a, "--concurrency") == 0) {
            if (!num_opt(argv[++i], 1, 10000, &concurrency))
                return serve_usage("--concurrency: not a number between 1 and 10000: %s", next);
        } else if (strcmp(a, "--lease") == 0) {
            if (!num_opt(argv[++i], 2, 3600, &lease))
                return serve_usage("--lease: not a number of seconds between 2 and 3600: %s", next);
        } else if (strcmp(a, "--grace") == 0) {
            if (!num_opt(argv[++i], 0, 3600, &grace))
                return serve_usage("--grace: not a number of seconds up to 3600: %s", next);
        } else {
            return serve_usage("unknown option: %s", a);
        }
    }
    if ((tls_cert == NULL) != (tls_key == NULL))
        return serve_usage("%s: --tls-cert and --tls-key go together",
                           tls_cert ? "--tls-cert" : "--tls-key");
    json_t *tags = parse_tags(tags_opt);
    if (tags == NULL)
        return serve_usage("--tags: expected up to 32 names like prod,eu-west (a-z, 0-9, _ . -), "
                           "got %s",
                           tags_opt);
    char host[256];
    unsigned port;
    if (!parse_listen(listen, host, sizeof(host), &port))
        return serve_usage("--listen: expected HOST:PORT, got %s", listen);
    char url[1024];
    snprintf(url, sizeof(url), "%s%s", strstr(db, ":") ? "" : "sqlite:", db);

    /* Block the signals before any thread starts (the store maintainer, the
     * node link, the executor, the HTTP pool), so that only sigwait sees
     * them: a thread that left them unblocked would take a second SIGTERM
     * during shutdown with its default action. Task processes get a mask
     * of their own (proc.c). */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGQUIT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    int status = CLI_EXIT_FAIL;
    struct dmt_err err;
    dmt_err_init(&err);
    struct store *st = NULL;
    struct http_server *srv = NULL;
    struct executor *ex = NULL;
    struct store_maintainer *maint = NULL;
    struct store_bus *bus = NULL;
    char node[300] = ""; /* "host:pid", the executor's name */
    char *env_dirs = NULL, *cert_pem = NULL, *key_pem = NULL;
    struct executor_opts eo = {.db_url = url, .concurrency = (unsigned)concurrency,
                               .data_dir = data_dir, .grace_s = (unsigned)grace,
                               .lease_s = (unsigned)lease, .tags = tags,
                               .kind = worker_mode ? "worker" : "serve"};
    /* Configuration errors stop the start before anything is opened. */
    if (run_as != NULL && run_as_user(run_as, &eo, &err) != DMT_OK) goto out;
    if (tls_cert != NULL && (read_pem("--tls-cert", tls_cert, &cert_pem, &err) != DMT_OK ||
                             read_pem("--tls-key", tls_key, &key_pem, &err) != DMT_OK))
        goto out;
    const char **dirs = plugin_dirs(cli_dirs, ncli_dirs, &env_dirs);
    /* Shared-object plugins are described and run by this very binary. */
    char *self_exe = realpath("/proc/self/exe", NULL);
    if (self_exe == NULL)
        log_warn("cannot resolve /proc/self/exe (%s): shared-object plugins will not load",
                 strerror(errno));
    plugin_registry_init(dirs, self_exe);
    free(self_exe);
    free(dirs);
    free(env_dirs);
    /* A new database file (and so its WAL) is readable by the server only. */
    mode_t old_umask = umask(077);
    int orc = store_open(url, &st, &err);
    umask(old_umask);
    if (orc != DMT_OK) goto out;
    if (run_as != NULL) private_db_files(url);
    if (store_maintainer_start(url, 200, &maint, &err) != DMT_OK) goto out;
    /* Other nodes' changes wake this one (PostgreSQL), before anything
     * that waits for them starts. */
    if (store_bus_start(url, &bus, &err) != DMT_OK) goto out;
    {
        /* The master key first: a wrong one stops the start here. */
        char *hex = take_env("DMT_MASTER_KEY");
        char *pw = take_env("DMT_ADMIN_PASSWORD"), *tok = take_env("DMT_ADMIN_TOKEN");
        int boot = serve_load_master_key(st, url, key_file, hex, &err);
        /* The first admin is an API node's business. */
        if (boot == DMT_OK && !worker_mode) boot = auth_bootstrap(st, pw, tok, &err);
        free_secret(hex);
        free_secret(pw);
        free_secret(tok);
        if (boot != DMT_OK) goto out;
    }
    if (demo) {
        bool created;
        if (model_demo_create(st, &created, &err) != DMT_OK) goto out;
        if (created)
            log_info("created the demo: environments dev, staging, prod and the job 'hello'");
    }

    if (executor) {
        /* Runs a dead server left running end `interrupted` before anything
         * new starts; then the executor claims what is queued. */
        int interrupted;
        if (executor_recover(st, &interrupted, &err) != DMT_OK) goto out;
        if (interrupted > 0) log_warn("%d run(s) were interrupted by the last stop", interrupted);
        char hostname[256] = "localhost";
        gethostname(hostname, sizeof(hostname) - 1);
        snprintf(node, sizeof(node), "%s:%d", hostname, (int)getpid());
        eo.node = node;
        if (executor_start(&eo, &ex, &err) != DMT_OK) goto out;
    }
    char shown[1024];
    url_for_log(url, shown, sizeof(shown));
    if (worker_mode) {
        log_info("dmt worker %s running (database %s, concurrency %lld, lease %llds, tags %s)",
                 eo.node, shown, (long long)concurrency, (long long)lease,
                 tags_opt[0] != '\0' ? tags_opt : "none");
    } else {
        struct http_opts opts = {host, port, url, (size_t)max_body, (unsigned)threads, cert_pem,
                                 key_pem};
        int hrc = http_server_start(&opts, &srv, &err);
        free_secret(key_pem);
        key_pem = NULL;
        if (hrc != DMT_OK) goto out;
        log_info("dmt listening on %s://%s:%u (database %s)", cert_pem ? "https" : "http", host,
                 http_server_port(srv), shown);
    }
    if (run_as != NULL) log_info("tasks run as %s (uid %u)", run_as, (unsigned)eo.uid);
    fflush(stderr);
    int sig = 0;
    sigwait(&set, &sig);
    if (sig == SIGQUIT && ex != NULL) {
        /* A drain: no new runs; the running ones go on to their end, then
         * the process stops. SIGTERM or SIGINT cut it short. */
        log_info("received SIGQUIT: draining: no new run is claimed; %u running go on to "
                 "their end (SIGTERM stops them now)",
                 executor_runs_active());
        executor_drain(ex);
        const struct timespec tick = {0, 200 * 1000 * 1000};
        while (!executor_drained(ex)) {
            int s = sigtimedwait(&set, NULL, &tick);
            if (s == SIGINT || s == SIGTERM) {
                sig = s;
                break;
            }
        }
    }
    log_info("%s, shutting down", sig == SIGINT    ? "received SIGINT"
                                  : sig == SIGTERM ? "received SIGTERM"
                                  : ex == NULL     ? "received SIGQUIT (no executor to drain)"
                                                   : "drained");
    status = CLI_EXIT_OK;
out:
    if (err.code != DMT_OK)
        fprintf(stderr, "dmt %s: %s\n", worker_mode ? "worker" : "serve", err.msg);
    /* Stop taking requests first, then stop the runs (grace period). */
    http_server_stop(srv);
    executor_stop(ex);
    store_bus_stop(bus);
    store_maintainer_stop(maint);
    store_close(st);
    plugin_registry_cleanup();
    seal_key_set(NULL);
    free(cert_pem);
    free_secret(key_pem);
    json_decref(tags);
    dmt_err_cleanup(&err);
    return status;
}
