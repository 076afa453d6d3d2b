/* cmd_token.c - `dmt token ls | add | rm`: API tokens (admins, DESIGN.md §7). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/table.h"

#define USAGE_LS  "dmt token ls [--json]"
#define USAGE_ADD "dmt token add NAME [--user U] [--json]"
#define USAGE_RM  "dmt token rm ID"
#define USAGE_ALL                                                                                  \
    "dmt token ls\n"                                                                               \
    "       dmt token add NAME [--user U]   (the token is printed once, never again)\n"            \
    "       dmt token rm ID"

static int token_ls(struct cli *cli, int argc, char **argv) {
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
    if (client_get_list(cli->client, "/tokens", &items, &err) != DMT_OK) {
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
    struct table *t = table_new(4, "ID", "NAME", "USER", "CREATED");
    size_t i;
    json_t *k;
    json_array_foreach(items, i, k) {
        char id[32];
        char *name = table_cell_text(cli_str(k, "name", ""), 60);
        table_add(t, cli_int(k, "id", id, sizeof(id)), name, cli_str(k, "user", "-"),
                  cli_str(k, "created_at", "-"));
        free(name);
    }
    if (table_rows(t) == 0)
        printf("no tokens\n");
    else
        table_print(t, stdout);
    table_free(t);
out:
    json_decref(items);
    cli_args_cleanup(&a, NULL);
    return rc;
}

static int token_add(struct cli *cli, int argc, char **argv) {
    struct cli_opt opts[] = {{.name = "--user", .kind = CLI_OPT_VALUE}, {0}};
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
        json_t *u = json_string(opts[0].value);
        if (u == NULL) {
            rc = cli_usage_error(USAGE_ADD, "--user is not valid UTF-8");
            goto out;
        }
        json_object_set_new(body, "user", u);
    }
    dmt_err_init(&err);
    if (client_request(cli->client, "POST", "/tokens", body, NULL, &resp, &err) != DMT_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    rc = CLI_EXIT_OK;
    if (cli->json) {
        cli_print_json(resp);
        goto out;
    }
    char id[32];
    printf("created token %s '%s' for user %s; it is shown only this once:\n%s\n",
           cli_int(resp, "id", id, sizeof(id)), cli_str(resp, "name", a.pos[0]),
           cli_str(resp, "user", "?"), cli_str(resp, "token", "?"));
out:
    json_decref(body);
    json_decref(resp);
    cli_args_cleanup(&a, opts);
    return rc;
}

static int token_rm(struct cli *cli, int argc, char **argv) {
    struct cli_args a = {0};
    struct dmt_err err;
    char *path = NULL;
    int rc = cli_parse(argc, argv, NULL, USAGE_RM, &a);
    if (rc != CLI_PARSED) goto out;
    if (a.npos != 1) {
        rc = cli_usage_error(USAGE_RM, a.npos == 0 ? "missing ID" : "too many arguments");
        goto out;
    }
    int64_t id;
    if (!cli_parse_int(a.pos[0], 1, INT64_MAX, &id)) {
        rc = cli_usage_error(USAGE_RM, "ID must be a token's number (see dmt token ls): %s",
                             a.pos[0]);
        goto out;
    }
    path = client_path("tokens", a.pos[0], NULL);
    dmt_err_init(&err);
    if (client_request(cli->client, "DELETE", path, NULL, NULL, NULL, &err) != DMT_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    rc = CLI_EXIT_OK;
    if (!cli->json) printf("revoked token %s\n", a.pos[0]);
out:
    free(path);
    cli_args_cleanup(&a, NULL);
    return rc;
}

int cmd_token(struct cli *cli, int argc, char **argv) {
    static const struct cli_sub subs[] = {
        {"ls|list", token_ls},
        {"add", token_add},
        {"rm", token_rm},
        {NULL, NULL},
    };
    return cli_dispatch(cli, argc, argv, "token", USAGE_ALL, subs);
}
