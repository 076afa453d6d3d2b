/*
 * serve.c - `dmt serve`: opens the store (applying migrations), bootstraps
 * the admin, optionally creates the demo, starts the HTTP server and runs
 * until SIGINT or SIGTERM.
 */
#include <errno.h>
#include <sodium.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    "                 [--data-dir DIR] [--grace SECONDS] [--no-executor]\n"
    "                 [--key-file PATH]\n"
    "  --listen HOST:PORT  where to listen (default 127.0.0.1:8080; port 0 picks one)\n"
    "  --db URL            sqlite:PATH (default sqlite:./dmt.db)\n"
    "  --demo              on a new database, create a small demo workflow\n"
    "  --max-body BYTES    largest request body accepted (default 1048576)\n"
    "  --threads N         HTTP worker threads (default 2)\n"
    "  --plugin-dir DIR    also load plugins from DIR (repeatable; after DMT_PLUGIN_PATH)\n"
    "  --concurrency N     runs executed at once; more wait queued (default 16)\n"
    "  --data-dir DIR      where runs keep their working folders (default ./dmt-data)\n"
    "  --grace SECONDS     between SIGTERM and SIGKILL of a stopped task (default 10)\n"
    "  --no-executor       serve the API only; runs wait for an executor elsewhere\n"
    "  --key-file PATH     the master key sealing secrets (default: the database path\n"
    "                      plus .key, created with mode 0600 on first start)\n"
    "environment: DMT_MASTER_KEY (64 hex characters; instead of the key file),\n"
    "             DMT_ADMIN_PASSWORD, DMT_ADMIN_TOKEN (first start only),\n"
    "             DMT_PLUGIN_PATH (colon-separated plugin folders)\n";

static int serve_usage(const char *fmt, const char *arg) {
    fprintf(stderr, "dmt serve: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n%s", usage);
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

/* Parses the value of a numeric option into *out within [min, max]. */
static bool num_opt(const char *value, int64_t min, int64_t max, int64_t *out) {
    return util_parse_i64(value, out) && *out >= min && *out <= max;
}

int cmd_serve(int argc, char **argv) {
    const char *listen = "127.0.0.1:8080", *db = "sqlite:./dmt.db", *data_dir = "./dmt-data";
    bool demo = false, executor = true;
    const char *key_file = NULL;
    int64_t max_body = 1 << 20, threads = 2, concurrency = 16, grace = 10;
    const char *cli_dirs[argc > 0 ? argc : 1];
    size_t ncli_dirs = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
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
        } else if (strcmp(a, "--grace") == 0) {
            if (!num_opt(argv[++i], 0, 3600, &grace))
                return serve_usage("--grace: not a number of seconds up to 3600: %s", next);
        } else {
            return serve_usage("unknown option: %s", a);
        }
    }
    char host[256];
    unsigned port;
    if (!parse_listen(listen, host, sizeof(host), &port))
        return serve_usage("--listen: expected HOST:PORT, got %s", listen);
    char url[1024];
    snprintf(url, sizeof(url), "%s%s", strstr(db, ":") ? "" : "sqlite:", db);

    int status = CLI_EXIT_FAIL;
    struct dmt_err err;
    dmt_err_init(&err);
    struct store *st = NULL;
    struct http_server *srv = NULL;
    struct executor *ex = NULL;
    struct store_maintainer *maint = NULL;
    char *env_dirs = NULL;
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
    if (store_open(url, &st, &err) != DMT_OK) goto out;
    if (store_maintainer_start(url, 200, &maint, &err) != DMT_OK) goto out;
    {
        /* The master key first: a wrong one stops the start here. */
        char *hex = take_env("DMT_MASTER_KEY");
        char *pw = take_env("DMT_ADMIN_PASSWORD"), *tok = take_env("DMT_ADMIN_TOKEN");
        int boot = serve_load_master_key(st, url, key_file, hex, &err);
        if (boot == DMT_OK) boot = auth_bootstrap(st, pw, tok, &err);
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

    /* Block the signals before any thread starts, so only sigwait sees them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (executor) {
        /* Runs a dead server left running end `interrupted` before anything
         * new starts; then the executor claims what is queued. */
        int interrupted;
        if (executor_recover(st, &interrupted, &err) != DMT_OK) goto out;
        if (interrupted > 0) log_warn("%d run(s) were interrupted by the last stop", interrupted);
        char node[300], hostname[256] = "localhost";
        gethostname(hostname, sizeof(hostname) - 1);
        snprintf(node, sizeof(node), "%s:%d", hostname, (int)getpid());
        struct executor_opts eo = {url, (unsigned)concurrency, data_dir, (unsigned)grace, node};
        if (executor_start(&eo, &ex, &err) != DMT_OK) goto out;
    }
    struct http_opts opts = {host, port, url, (size_t)max_body, (unsigned)threads};
    if (http_server_start(&opts, &srv, &err) != DMT_OK) goto out;
    log_info("dmt listening on http://%s:%u (database %s)", host, http_server_port(srv), url);
    fflush(stderr);
    int sig = 0;
    sigwait(&set, &sig);
    log_info("received %s, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    status = CLI_EXIT_OK;
out:
    if (err.code != DMT_OK) fprintf(stderr, "dmt serve: %s\n", err.msg);
    /* Stop taking requests first, then stop the runs (grace period). */
    http_server_stop(srv);
    executor_stop(ex);
    store_maintainer_stop(maint);
    store_close(st);
    plugin_registry_cleanup();
    seal_key_set(NULL);
    dmt_err_cleanup(&err);
    return status;
}
