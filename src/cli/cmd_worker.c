/*
 * cmd_worker.c - `dmt workers`: the executors sharing the server's database
 * (GET /api/v1/workers, DESIGN.md §3, §6): each `dmt serve` with an
 * executor and each `dmt worker`, with its tags, how many runs it holds of
 * how many it may, when it was last heard of, and which runs it holds.
 *
 * Not to be confused with `dmt worker` (serve.c), which *is* an executor.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/table.h"

#define USAGE "dmt workers [--json]"

/* "1/16" and, when it holds runs, their numbers: "1/16 (#12)". The caller
 * frees the result. */
static char *runs_text(const json_t *w) {
    char active[32], conc[32];
    cli_int(w, "active", active, sizeof(active));
    cli_int(w, "concurrency", conc, sizeof(conc));
    json_t *runs = json_object_get(w, "runs");
    size_t len = strlen(active) + strlen(conc) + 8, i;
    json_t *r;
    json_array_foreach(runs, i, r) len += 24;
    char *out = malloc(len), *p = out;
    if (out == NULL) abort();
    p += sprintf(p, "%s/%s", active, conc);
    json_array_foreach(runs, i, r) {
        json_t *id = json_object_get(r, "id");
        p += sprintf(p, "%s#%" JSON_INTEGER_FORMAT, i == 0 ? " (" : ", ",
                     json_is_integer(id) ? json_integer_value(id) : 0);
    }
    if (json_array_size(runs) > 0) strcpy(p, ")");
    return out;
}

int cmd_workers(struct cli *cli, int argc, char **argv) {
    struct cli_args a = {0};
    struct dmt_err err;
    json_t *items = NULL;
    int rc = cli_parse(argc - 1, argv + 1, NULL, USAGE, &a);
    if (rc != CLI_PARSED) goto out;
    if (a.npos != 0) {
        rc = cli_usage_error(USAGE, "unexpected argument %s", a.pos[0]);
        goto out;
    }
    dmt_err_init(&err);
    if (client_get_list(cli->client, "/workers", &items, &err) != DMT_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    rc = CLI_EXIT_OK;
    if (cli->json) {
        json_t *doc = json_pack("{s:O, s:n}", "items", items, "next");
        cli_print_json(doc);
        json_decref(doc);
        goto out;
    }
    if (json_array_size(items) == 0) {
        printf("no workers\n");
        goto out;
    }
    struct table *t = table_new(6, "NAME", "KIND", "STATUS", "TAGS", "RUNS", "LAST_SEEN");
    size_t i;
    json_t *w;
    json_array_foreach(items, i, w) {
        char *tags = cli_join(json_object_get(w, "tags"), ",", "-");
        char *runs = runs_text(w);
        table_add(t, cli_str(w, "name", "?"), cli_str(w, "kind", "?"), cli_str(w, "status", "?"),
                  tags, runs, cli_str(w, "last_seen_at", "-"));
        free(runs);
        free(tags);
    }
    table_print(t, stdout);
    table_free(t);
out:
    json_decref(items);
    cli_args_cleanup(&a, NULL);
    return rc;
}
