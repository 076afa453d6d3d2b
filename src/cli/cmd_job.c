/* cmd_job.c - `dmt job ls | add | show | rm`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/table.h"

#define USAGE_LS   "dmt job ls [--json]"
#define USAGE_ADD  "dmt job add NAME [--description D] [--json]"
#define USAGE_SHOW "dmt job show NAME [--json]"
#define USAGE_RM   "dmt job rm NAME"
#define USAGE_ALL                                                                                  \
    "dmt job ls\n"                                                                                 \
    "       dmt job add NAME [--description D]\n"                                                  \
    "       dmt job show NAME\n"                                                                   \
    "       dmt job rm NAME"

static int job_ls(struct cli *cli, int argc, char **argv) {
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
    if (client_get_list(cli->client, "/jobs", &items, &err) != DMT_OK) {
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
    struct table *t = table_new(3, "NAME", "TASKS", "DESCRIPTION");
    size_t i;
    json_t *j;
    json_array_foreach(items, i, j) {
        char n[32] = "-";
        json_t *tasks = json_object_get(j, "tasks");
        if (json_is_array(tasks)) snprintf(n, sizeof(n), "%zu", json_array_size(tasks));
        char *desc = table_cell_text(cli_str(j, "description", ""), 60);
        table_add(t, cli_str(j, "name", "?"), n, desc);
        free(desc);
    }
    if (table_rows(t) == 0)
        printf("no jobs\n");
    else
        table_print(t, stdout);
    table_free(t);
out:
    json_decref(items);
    cli_args_cleanup(&a, NULL);
    return rc;
}

static int job_add(struct cli *cli, int argc, char **argv) {
    struct cli_opt opts[] = {{.name = "--description", .kind = CLI_OPT_VALUE}, {0}};
    struct cli_args a = {0};
    struct dmt_err err;
    json_t *body = NULL, *resp = NULL;
    int rc = cli_parse(argc, argv, opts, USAGE_ADD, &a);
    if (rc != CLI_PARSED) goto out;
    if (a.npos != 1) {
        rc = cli_usage_error(USAGE_ADD, a.npos == 0 ? "missing NAME" : "too many arguments");
        goto out;
    }
    body = json_pack("{s:s}", "name", a.pos[0]);
    if (body == NULL) {
        rc = cli_usage_error(USAGE_ADD, "NAME is not valid UTF-8");
        goto out;
    }
    if (opts[0].seen) {
        json_t *d = json_string(opts[0].value);
        if (d == NULL) {
            rc = cli_usage_error(USAGE_ADD, "--description is not valid UTF-8");
            goto out;
        }
        json_object_set_new(body, "description", d);
    }
    dmt_err_init(&err);
    if (client_request(cli->client, "POST", "/jobs", body, NULL, &resp, &err) != DMT_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    rc = CLI_EXIT_OK;
    if (cli->json)
        cli_print_json(resp);
    else
        printf("created job %s\n", cli_str(resp, "name", a.pos[0]));
out:
    json_decref(body);
    json_decref(resp);
    cli_args_cleanup(&a, opts);
    return rc;
}

static int job_show(struct cli *cli, int argc, char **argv) {
    struct cli_args a = {0};
    struct dmt_err err;
    json_t *j = NULL;
    char *path = NULL;
    int rc = cli_parse(argc, argv, NULL, USAGE_SHOW, &a);
    if (rc != CLI_PARSED) goto out;
    if (a.npos != 1) {
        rc = cli_usage_error(USAGE_SHOW, a.npos == 0 ? "missing NAME" : "too many arguments");
        goto out;
    }
    path = client_path("jobs", a.pos[0], NULL);
    dmt_err_init(&err);
    if (client_request(cli->client, "GET", path, NULL, NULL, &j, &err) != DMT_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    rc = CLI_EXIT_OK;
    if (cli->json) {
        cli_print_json(j);
        goto out;
    }
    char buf[32];
    cli_field("name:", cli_str(j, "name", ""));
    cli_field("description:", cli_str(j, "description", ""));
    cli_field("version:", cli_int(j, "version", buf, sizeof(buf)));
    cli_field("created:", cli_str(j, "created_at", "-"));
    cli_field("updated:", cli_str(j, "updated_at", "-"));
    json_t *tasks = json_object_get(j, "tasks");
    if (!json_is_array(tasks) || json_array_size(tasks) == 0) {
        printf("\nno tasks\n");
        goto out;
    }
    printf("\n");
    struct table *t = table_new(5, "POSITION", "TASK", "PLUGIN", "ON_FAILURE", "ENABLED");
    size_t i;
    json_t *task;
    json_array_foreach(tasks, i, task) {
        table_add(t, cli_int(task, "position", buf, sizeof(buf)), cli_str(task, "name", "?"),
                  cli_str(task, "plugin", "?"), cli_str(task, "on_failure", "-"),
                  cli_bool(task, "enabled"));
    }
    table_print(t, stdout);
    table_free(t);
out:
    free(path);
    json_decref(j);
    cli_args_cleanup(&a, NULL);
    return rc;
}

static int job_rm(struct cli *cli, int argc, char **argv) {
    return cli_rm_named(cli, argc, argv, USAGE_RM, "jobs", "job");
}

int cmd_job(struct cli *cli, int argc, char **argv) {
    static const struct cli_sub subs[] = {
        {"ls|list", job_ls},
        {"add", job_add},
        {"show", job_show},
        {"rm", job_rm},
        {NULL, NULL},
    };
    return cli_dispatch(cli, argc, argv, "job", USAGE_ALL, subs);
}
