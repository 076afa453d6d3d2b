/* cmd_plugin.c - `dmt plugin ls | show NAME`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/table.h"
#include "core/util.h"

#define USAGE_LS   "dmt plugin ls [--json]"
#define USAGE_SHOW "dmt plugin show NAME [--json]"
#define USAGE_ALL  "dmt plugin ls\n       dmt plugin show NAME"

static int plugin_ls(struct cli *cli, int argc, char **argv) {
    struct cli_args a = {0};
    struct dmt_err err;
    json_t *items = NULL;
    int rc = cli_parse(argc, argv, NULL, USAGE_LS, &a);
    if (rc != CLI_PARSED) goto out;
    if (a.npos != 0) {
        rc = cli_usage_error(USAGE_LS, "unexpected argument %s", a.pos[0]);
        goto out;
    }
    dmt_err_init(&err);
    if (client_get_list(cli->client, "/plugins", &items, &err) != DMT_OK) {
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
    struct table *t = table_new(4, "NAME", "VERSION", "KIND", "SUMMARY");
    size_t i;
    json_t *p;
    json_array_foreach(items, i, p) {
        const char *error = cli_str(p, "error", NULL);
        char *summary = NULL;
        if (error != NULL && *error != '\0') {
            if (asprintf(&summary, "FAILED TO LOAD: %s", error) < 0) abort();
        } else {
            summary = table_cell_text(cli_str(p, "summary", ""), 70);
        }
        table_add(t, cli_str(p, "name", "?"), cli_str(p, "version", "-"), cli_str(p, "kind", "-"),
                  summary);
        free(summary);
    }
    if (table_rows(t) == 0)
        printf("no plugins\n");
    else
        table_print(t, stdout);
    table_free(t);
out:
    json_decref(items);
    cli_args_cleanup(&a, NULL);
    return rc;
}

static int plugin_show(struct cli *cli, int argc, char **argv) {
    struct cli_args a = {0};
    struct dmt_err err;
    json_t *p = NULL;
    char *path = NULL;
    int rc = cli_parse(argc, argv, NULL, USAGE_SHOW, &a);
    if (rc != CLI_PARSED) goto out;
    if (a.npos != 1) {
        rc = cli_usage_error(USAGE_SHOW, a.npos == 0 ? "missing NAME" : "too many arguments");
        goto out;
    }
    path = client_path("plugins", a.pos[0], NULL);
    dmt_err_init(&err);
    if (client_request(cli->client, "GET", path, NULL, NULL, &p, &err) != DMT_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    rc = CLI_EXIT_OK;
    if (cli->json) {
        cli_print_json(p);
        goto out;
    }
    cli_field("name:", cli_str(p, "name", ""));
    cli_field("version:", cli_str(p, "version", "-"));
    cli_field("kind:", cli_str(p, "kind", "-"));
    cli_field("summary:", cli_str(p, "summary", ""));
    const char *error = cli_str(p, "error", NULL);
    if (error != NULL && *error != '\0') cli_field("error:", error);
    json_t *vars = json_object_get(p, "variables");
    if (!json_is_array(vars) || json_array_size(vars) == 0) {
        printf("\nno variables\n");
        goto out;
    }
    printf("\n");
    struct table *t =
        table_new(6, "VARIABLE", "TYPE", "REQUIRED", "SECRET", "DEFAULT", "DESCRIPTION");
    size_t i;
    json_t *v;
    json_array_foreach(vars, i, v) {
        char *def = cli_value_text(json_object_get(v, "default"), 30);
        char *desc = table_cell_text(cli_str(v, "description", ""), 60);
        char *type = NULL;
        json_t *values = json_object_get(v, "values");
        if (json_is_array(values) && json_array_size(values) > 0) {
            char *vals = json_dumps(values, JSON_COMPACT);
            if (vals == NULL) abort();
            if (asprintf(&type, "%s %s", cli_str(v, "type", "?"), vals) < 0) abort();
            free(vals);
        }
        table_add(t, cli_str(v, "name", "?"), type ? type : cli_str(v, "type", "?"),
                  cli_bool(v, "required"), cli_bool(v, "secret"), def, desc);
        free(type);
        free(def);
        free(desc);
    }
    table_print(t, stdout);
    table_free(t);
out:
    free(path);
    json_decref(p);
    cli_args_cleanup(&a, NULL);
    return rc;
}

int cmd_plugin(struct cli *cli, int argc, char **argv) {
    static const struct cli_sub subs[] = {
        {"ls|list", plugin_ls},
        {"show", plugin_show},
        {NULL, NULL},
    };
    return cli_dispatch(cli, argc, argv, "plugin", USAGE_ALL, subs);
}
