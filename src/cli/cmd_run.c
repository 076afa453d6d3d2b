/*
 * cmd_run.c - `dmt run`, `dmt runs`, `dmt log`, `dmt cancel`, `dmt rerun`
 * (DESIGN.md §8).
 *
 * `--follow` streams the run's log (GET /runs/{id}/log?follow=1, plain
 * text) to stdout as it arrives, through a libcurl write callback, so the
 * CLI holds no more of the log than one piece; when the stream ends it
 * reads the run and exits 0 only if the run succeeded.
 *
 * A run just queued is read back once (GET /runs/{id}) to say where it
 * stands: the executor that took it ("worker") or, while it waits, why
 * (the server's "queued_reason": e.g. no online executor has the tags its
 * environment requires).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/curl_dl.h"
#include "cli/table.h"
#include "core/util.h"

#define USAGE_RUN    "dmt run JOB --env ENV [--follow] [--json]"
#define USAGE_RUNS   "dmt runs [--job J] [--env E] [--status S] [--limit N] [--json]"
#define USAGE_LOG    "dmt log RUN [--follow]"
#define USAGE_CANCEL "dmt cancel RUN [--json]"
#define USAGE_RERUN  "dmt rerun RUN [--follow] [--json]"

/* The largest problem document kept from a failed log request. */
#define PROBLEM_MAX (64u * 1024u)

/* --- streaming the log ------------------------------------------------------ */

struct stream {
    CURL *h;
    FILE *out;     /* where the log goes */
    long status;   /* the HTTP status, known at the first byte */
    char *problem; /* the body of a non-2xx answer, bounded */
    size_t plen;
    bool write_failed;
};

static size_t on_log_data(char *ptr, size_t size, size_t nmemb, void *userdata) {
    struct stream *s = userdata;
    size_t n = size * nmemb;
    if (s->status == 0) curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &s->status);
    if (s->status >= 200 && s->status <= 299) {
        if (fwrite(ptr, 1, n, s->out) != n) {
            s->write_failed = true;
            return 0;
        }
        /* Live output: show each piece as it comes. */
        fflush(s->out);
        return n;
    }
    size_t keep = n;
    if (s->plen + keep > PROBLEM_MAX) keep = PROBLEM_MAX - s->plen;
    if (keep > 0) {
        char *p = realloc(s->problem, s->plen + keep + 1);
        if (p == NULL) abort();
        s->problem = p;
        memcpy(p + s->plen, ptr, keep);
        s->plen += keep;
        p[s->plen] = '\0';
    }
    return n;
}

/* Streams the log of run id to out (from the start; following it live
 * when follow is set) until the server ends it. */
static int stream_log(struct cli *cli, int64_t id, bool follow, FILE *out, struct dmt_err *err) {
    char *url = NULL, *auth = NULL;
    struct curl_slist *headers = NULL;
    char curl_msg[CURL_ERROR_SIZE] = "";
    struct stream s = {.out = out};
    int rc = DMT_OK;
    if (asprintf(&url, "%s/api/v1/runs/%lld/log%s", client_base_url(cli->client), (long long)id,
                 follow ? "?follow=1" : "") < 0)
        abort();
    s.h = curl_easy_init();
    if (s.h == NULL) {
        rc = dmt_err_set(err, DMT_ERR_NOMEM, "cannot create an HTTP client");
        goto out;
    }
    headers = curl_slist_append(headers, "Accept: text/plain, application/problem+json");
    const char *token = getenv("DMT_TOKEN");
    if (token != NULL && *token != '\0') {
        if (asprintf(&auth, "Authorization: Bearer %s", token) < 0) abort();
        headers = curl_slist_append(headers, auth);
    }
    if (headers == NULL) abort();
    curl_easy_setopt(s.h, CURLOPT_URL, url);
    curl_easy_setopt(s.h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s.h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(s.h, CURLOPT_ERRORBUFFER, curl_msg);
    curl_easy_setopt(s.h, CURLOPT_USERAGENT, "dmt-cli");
    curl_easy_setopt(s.h, CURLOPT_PROTOCOLS_STR, "http,https");
    client_curl_tls(s.h);
    curl_easy_setopt(s.h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(s.h, CURLOPT_WRITEFUNCTION, on_log_data);
    curl_easy_setopt(s.h, CURLOPT_WRITEDATA, &s);
    /* A quiet task may print nothing for a long time: no overall timeout,
     * but TCP keep-alive notices a server that vanished. */
    curl_easy_setopt(s.h, CURLOPT_TCP_KEEPALIVE, 1L);
    CURLcode cc = curl_easy_perform(s.h);
    if (s.status == 0) curl_easy_getinfo(s.h, CURLINFO_RESPONSE_CODE, &s.status);
    if (s.write_failed) {
        rc = dmt_err_set(err, DMT_ERR_IO, "cannot write the log");
    } else if (cc != CURLE_OK) {
        rc = dmt_err_set(err, DMT_ERR_IO, "reading the log of run %lld from %s failed: %s",
                         (long long)id, client_base_url(cli->client),
                         curl_msg[0] ? curl_msg : curl_easy_strerror(cc));
    } else if (s.status < 200 || s.status > 299) {
        json_t *doc = s.problem ? json_loads(s.problem, 0, NULL) : NULL;
        const char *detail = json_string_value(json_object_get(doc, "detail"));
        int code = s.status == 404 ? DMT_ERR_NOT_FOUND : DMT_ERR_HTTP;
        if (detail != NULL && *detail != '\0')
            rc = dmt_err_set(err, code, "%s", detail);
        else
            rc = dmt_err_set(err, code, "cannot read the log of run %lld (HTTP %ld)", (long long)id,
                             s.status);
        json_decref(doc);
    }
out:
    if (s.h != NULL) curl_easy_cleanup(s.h);
    curl_slist_free_all(headers);
    if (auth != NULL) {
        memset(auth, 0, strlen(auth));
        free(auth);
    }
    free(s.problem);
    free(url);
    return rc;
}

/* --- shared pieces ------------------------------------------------------------ */

/* Parses a run number typed by the user ("12" or "#12"). */
static bool parse_run_id(const char *s, int64_t *id) {
    if (s[0] == '#') s++;
    return cli_parse_int(s, 1, INT64_MAX, id);
}

static int64_t run_id_of(const json_t *run) {
    json_t *v = json_object_get(run, "id");
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

/* Reads run id (GET /runs/{id}, which alone carries queued_reason).
 * Returns a new reference, or NULL when it cannot be read: the caller
 * then shows what it has. */
static json_t *get_run(struct cli *cli, int64_t id) {
    char path[64];
    snprintf(path, sizeof(path), "/runs/%lld", (long long)id);
    json_t *run = NULL;
    struct dmt_err err;
    dmt_err_init(&err);
    if (client_request(cli->client, "GET", path, NULL, NULL, &run, &err) != DMT_OK) run = NULL;
    dmt_err_cleanup(&err);
    return run;
}

/* Prints where run stands to f, under the "run #N queued" line: the
 * executor holding it, and for a queued run why it still waits. */
static void print_where(const json_t *run, FILE *f) {
    const char *status = cli_str(run, "status", "?");
    const char *worker = cli_str(run, "worker", NULL);
    const char *why = cli_str(run, "queued_reason", NULL);
    if (strcmp(status, "queued") != 0) fprintf(f, "%-12s %s\n", "status:", status);
    if (worker != NULL) fprintf(f, "%-12s %s\n", "worker:", worker);
    if (strcmp(status, "queued") == 0 && why != NULL) fprintf(f, "%-12s %s\n", "reason:", why);
}

/* Follows run id: streams its log (to stderr under --json, so stdout
 * keeps only the JSON), then reads the run. Exit 0 only if it succeeded. */
static int follow_run(struct cli *cli, int64_t id) {
    struct dmt_err err;
    dmt_err_init(&err);
    if (stream_log(cli, id, true, cli->json ? stderr : stdout, &err) != DMT_OK)
        return cli_fail(&err);
    char path[64];
    snprintf(path, sizeof(path), "/runs/%lld", (long long)id);
    json_t *run = NULL;
    if (client_request(cli->client, "GET", path, NULL, NULL, &run, &err) != DMT_OK)
        return cli_fail(&err);
    const char *status = cli_str(run, "status", "?");
    int rc = strcmp(status, "succeeded") == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
    if (cli->json) {
        cli_print_json(run);
    } else if (strcmp(status, "queued") == 0 || strcmp(status, "running") == 0) {
        const char *why = cli_str(run, "queued_reason", NULL);
        fprintf(stderr, "dmt: the log stream ended before run #%lld did (it is %s%s%s)\n",
                (long long)id, status, why != NULL ? ": " : "", why != NULL ? why : "");
    } else {
        const char *worker = cli_str(run, "worker", NULL);
        fflush(stdout);
        fprintf(stderr, "run #%lld %s%s%s\n", (long long)id, status, worker ? " on " : "",
                worker ? worker : "");
    }
    json_decref(run);
    return rc;
}

/* POSTs to path (body may be NULL) and hands back the run answered. */
static int post_run(struct cli *cli, const char *path, json_t *body, json_t **run) {
    struct dmt_err err;
    dmt_err_init(&err);
    if (client_request(cli->client, "POST", path, body, NULL, run, &err) != DMT_OK)
        return cli_fail(&err);
    return CLI_EXIT_OK;
}

/*
 * Shows a run just created (by POST, answered as posted) and follows it
 * when follow is set. headline is the first line ("run #12 queued"). The
 * run is read back first so the output says where it stands; when it still
 * waits for an executor that is said before the log is followed, since the
 * log stays silent until one takes it.
 */
static int show_new_run(struct cli *cli, const json_t *posted, const char *headline, bool follow) {
    int64_t id = run_id_of(posted);
    json_t *run = get_run(cli, id);
    const json_t *shown = run != NULL ? run : posted;
    int rc = CLI_EXIT_OK;
    if (!follow) {
        if (cli->json) {
            cli_print_json(shown);
        } else {
            printf("%s\n", headline);
            print_where(shown, stdout);
        }
        goto out;
    }
    if (!cli->json) {
        printf("%s\n", headline);
        fflush(stdout);
    }
    /* Status lines go to stderr while following: stdout is the log. */
    const char *why = cli_str(shown, "queued_reason", NULL);
    if (why != NULL && strcmp(cli_str(shown, "status", ""), "queued") == 0)
        fprintf(stderr, "run #%lld is queued: %s\n", (long long)id, why);
    rc = follow_run(cli, id);
out:
    json_decref(run);
    return rc;
}

/* --- dmt run ------------------------------------------------------------------------ */

int cmd_run(struct cli *cli, int argc, char **argv) {
    struct cli_opt opts[] = {
        {.name = "--env", .kind = CLI_OPT_VALUE}, {.name = "--follow", .kind = CLI_OPT_FLAG}, {0}};
    struct cli_args a = {0};
    json_t *body = NULL, *run = NULL;
    char *path = NULL;
    int rc = cli_parse(argc - 1, argv + 1, opts, USAGE_RUN, &a);
    if (rc != CLI_PARSED) goto out;
    if (a.npos != 1) {
        rc = cli_usage_error(USAGE_RUN, a.npos == 0 ? "missing JOB" : "too many arguments");
        goto out;
    }
    if (!opts[0].seen || opts[0].value[0] == '\0') {
        rc = cli_usage_error(USAGE_RUN, "missing --env ENV");
        goto out;
    }
    body = json_pack("{s:s}", "environment", opts[0].value);
    if (body == NULL) {
        rc = cli_usage_error(USAGE_RUN, "--env is not valid UTF-8");
        goto out;
    }
    path = client_path("jobs", a.pos[0], "runs", NULL);
    rc = post_run(cli, path, body, &run);
    if (rc != CLI_EXIT_OK) goto out;
    char headline[64];
    snprintf(headline, sizeof(headline), "run #%lld queued", (long long)run_id_of(run));
    rc = show_new_run(cli, run, headline, opts[1].seen);
out:
    free(path);
    json_decref(body);
    json_decref(run);
    cli_args_cleanup(&a, opts);
    return rc;
}

/* --- dmt runs -------------------------------------------------------------------------- */

/* Appends "&key=value" (escaped) to *q. */
static void add_query(char **q, const char *key, const char *value) {
    char *esc = client_escape(value), *n = NULL;
    if (asprintf(&n, "%s%s%s=%s", *q, **q ? "&" : "?", key, esc) < 0) abort();
    free(esc);
    free(*q);
    *q = n;
}

int cmd_runs(struct cli *cli, int argc, char **argv) {
    struct cli_opt opts[] = {{.name = "--job", .kind = CLI_OPT_VALUE},
                             {.name = "--env", .kind = CLI_OPT_VALUE},
                             {.name = "--status", .kind = CLI_OPT_VALUE},
                             {.name = "--limit", .kind = CLI_OPT_VALUE},
                             {0}};
    static const char *const keys[] = {"job", "environment", "status", "limit"};
    struct cli_args a = {0};
    struct dmt_err err;
    json_t *page = NULL;
    char *q = util_strdup(""), *path = NULL;
    int rc = cli_parse(argc - 1, argv + 1, opts, USAGE_RUNS, &a);
    if (rc != CLI_PARSED) goto out;
    if (a.npos != 0) {
        rc = cli_usage_error(USAGE_RUNS, "unexpected argument %s", a.pos[0]);
        goto out;
    }
    int64_t limit;
    if (opts[3].seen && !cli_parse_int(opts[3].value, 1, 500, &limit)) {
        rc = cli_usage_error(USAGE_RUNS, "--limit: not a number between 1 and 500: %s",
                             opts[3].value);
        goto out;
    }
    for (size_t i = 0; i < 4; i++)
        if (opts[i].seen) add_query(&q, keys[i], opts[i].value);
    if (asprintf(&path, "/runs%s", q) < 0) abort();
    dmt_err_init(&err);
    if (client_request(cli->client, "GET", path, NULL, NULL, &page, &err) != DMT_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    rc = CLI_EXIT_OK;
    if (cli->json) {
        cli_print_json(page);
        goto out;
    }
    json_t *items = json_object_get(page, "items");
    if (!json_is_array(items) || json_array_size(items) == 0) {
        printf("no runs\n");
        goto out;
    }
    struct table *t =
        table_new(7, "ID", "JOB", "ENVIRONMENT", "STATUS", "WORKER", "TRIGGERED_BY", "CREATED");
    size_t i;
    json_t *r;
    json_array_foreach(items, i, r) {
        char id[32];
        table_add(t, cli_int(r, "id", id, sizeof(id)), cli_str(r, "job", "?"),
                  cli_str(r, "environment", "?"), cli_str(r, "status", "?"),
                  cli_str(r, "worker", "-"), cli_str(r, "triggered_by", "-"),
                  cli_str(r, "created_at", "-"));
    }
    table_print(t, stdout);
    table_free(t);
    if (json_is_string(json_object_get(page, "next")))
        printf("(more: use --limit, or --json for the cursor)\n");
out:
    free(q);
    free(path);
    json_decref(page);
    cli_args_cleanup(&a, opts);
    return rc;
}

/* --- dmt log ---------------------------------------------------------------------------- */

int cmd_log(struct cli *cli, int argc, char **argv) {
    struct cli_opt opts[] = {{.name = "--follow", .kind = CLI_OPT_FLAG}, {0}};
    struct cli_args a = {0};
    int64_t id;
    int rc = cli_parse(argc - 1, argv + 1, opts, USAGE_LOG, &a);
    if (rc != CLI_PARSED) goto out;
    if (a.npos != 1) {
        rc = cli_usage_error(USAGE_LOG, a.npos == 0 ? "missing RUN" : "too many arguments");
        goto out;
    }
    if (!parse_run_id(a.pos[0], &id)) {
        rc = cli_usage_error(USAGE_LOG, "RUN must be a run number, not %s", a.pos[0]);
        goto out;
    }
    struct dmt_err err;
    dmt_err_init(&err);
    rc = stream_log(cli, id, opts[0].seen, stdout, &err) == DMT_OK ? CLI_EXIT_OK : cli_fail(&err);
out:
    cli_args_cleanup(&a, opts);
    return rc;
}

/* --- dmt cancel, dmt rerun ----------------------------------------------------------------- */

int cmd_cancel(struct cli *cli, int argc, char **argv) {
    struct cli_args a = {0};
    json_t *run = NULL;
    int64_t id;
    int rc = cli_parse(argc - 1, argv + 1, NULL, USAGE_CANCEL, &a);
    if (rc != CLI_PARSED) goto out;
    if (a.npos != 1) {
        rc = cli_usage_error(USAGE_CANCEL, a.npos == 0 ? "missing RUN" : "too many arguments");
        goto out;
    }
    if (!parse_run_id(a.pos[0], &id)) {
        rc = cli_usage_error(USAGE_CANCEL, "RUN must be a run number, not %s", a.pos[0]);
        goto out;
    }
    char path[64];
    snprintf(path, sizeof(path), "/runs/%lld/cancel", (long long)id);
    rc = post_run(cli, path, NULL, &run);
    if (rc != CLI_EXIT_OK) goto out;
    if (cli->json)
        cli_print_json(run);
    else if (strcmp(cli_str(run, "status", ""), "canceled") == 0)
        printf("run #%lld canceled\n", (long long)id);
    else
        printf("run #%lld: cancel requested\n", (long long)id);
out:
    json_decref(run);
    cli_args_cleanup(&a, NULL);
    return rc;
}

int cmd_rerun(struct cli *cli, int argc, char **argv) {
    struct cli_opt opts[] = {{.name = "--follow", .kind = CLI_OPT_FLAG}, {0}};
    struct cli_args a = {0};
    json_t *run = NULL;
    int64_t id;
    int rc = cli_parse(argc - 1, argv + 1, opts, USAGE_RERUN, &a);
    if (rc != CLI_PARSED) goto out;
    if (a.npos != 1) {
        rc = cli_usage_error(USAGE_RERUN, a.npos == 0 ? "missing RUN" : "too many arguments");
        goto out;
    }
    if (!parse_run_id(a.pos[0], &id)) {
        rc = cli_usage_error(USAGE_RERUN, "RUN must be a run number, not %s", a.pos[0]);
        goto out;
    }
    char path[64];
    snprintf(path, sizeof(path), "/runs/%lld/rerun", (long long)id);
    rc = post_run(cli, path, NULL, &run);
    if (rc != CLI_EXIT_OK) goto out;
    char headline[96];
    snprintf(headline, sizeof(headline), "run #%lld queued (re-run of #%lld)",
             (long long)run_id_of(run), (long long)id);
    rc = show_new_run(cli, run, headline, opts[0].seen);
out:
    json_decref(run);
    cli_args_cleanup(&a, opts);
    return rc;
}
