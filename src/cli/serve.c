/*
 * serve.c - `dmt serve`: opens the store (applying migrations), bootstraps
 * the admin, optionally creates the demo, starts the HTTP server and runs
 * until SIGINT or SIGTERM.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/util.h"
#include "http/auth.h"
#include "http/server.h"
#include "model/demo.h"
#include "plugin/plugin.h"
#include "store/store.h"

static const char usage[] =
    "usage: dmt serve [--listen HOST:PORT] [--db URL] [--demo] [--max-body BYTES]\n"
    "                 [--threads N]\n"
    "  --listen HOST:PORT  where to listen (default 127.0.0.1:8080; port 0 picks one)\n"
    "  --db URL            sqlite:PATH (default sqlite:./dmt.db)\n"
    "  --demo              on a new database, create a small demo workflow\n"
    "  --max-body BYTES    largest request body accepted (default 1048576)\n"
    "  --threads N         HTTP worker threads (default 2)\n"
    "environment: DMT_ADMIN_PASSWORD, DMT_ADMIN_TOKEN (first start only)\n";

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

int cmd_serve(int argc, char **argv) {
    const char *listen = "127.0.0.1:8080", *db = "sqlite:./dmt.db";
    bool demo = false;
    int64_t max_body = 1 << 20, threads = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            return CLI_EXIT_OK;
        } else if (strcmp(a, "--demo") == 0) {
            demo = true;
        } else if (next == NULL) {
            return serve_usage("unknown option or missing value: %s", a);
        } else if (strcmp(a, "--listen") == 0) {
            listen = argv[++i];
        } else if (strcmp(a, "--db") == 0) {
            db = argv[++i];
        } else if (strcmp(a, "--max-body") == 0) {
            if (!util_parse_i64(next, &max_body) || max_body < 1024 || max_body > (1 << 30))
                return serve_usage("--max-body: not a size between 1024 and 1073741824: %s", next);
            i++;
        } else if (strcmp(a, "--threads") == 0) {
            if (!util_parse_i64(next, &threads) || threads < 1 || threads > 64)
                return serve_usage("--threads: not a number between 1 and 64: %s", next);
            i++;
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
    plugin_registry_init();
    if (store_open(url, &st, &err) != DMT_OK) goto out;
    if (auth_bootstrap(st, getenv("DMT_ADMIN_PASSWORD"), getenv("DMT_ADMIN_TOKEN"), &err) != DMT_OK)
        goto out;
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
    http_server_stop(srv);
    store_close(st);
    plugin_registry_cleanup();
    dmt_err_cleanup(&err);
    return status;
}
