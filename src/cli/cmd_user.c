/* cmd_user.c - `dmt user ls | add | show | set | rm` (admins, DESIGN.md §7). */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/table.h"

#define USAGE_LS   "dmt user ls [--json]"
#define USAGE_ADD  "dmt user add NAME --role R [--password -] [--json]"
#define USAGE_SHOW "dmt user show NAME [--json]"
#define USAGE_SET  "dmt user set NAME [--role R] [--password -] [--json]"
#define USAGE_RM   "dmt user rm NAME"
#define USAGE_ALL                                                                                  \
    "dmt user ls\n"                                                                                \
    "       dmt user add NAME --role viewer|operator|editor|admin [--password -]\n"                \
    "       dmt user show NAME\n"                                                                  \
    "       dmt user set NAME [--role R] [--password -]\n"                                         \
    "       dmt user rm NAME\n"                                                                    \
    "  --password - reads the password from stdin (never from the command line)"

static int user_ls(struct cli *cli, int argc, char **argv) {
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
    if (client_get_list(cli->client, "/users", &items, &err) != DMT_OK) {
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
    struct table *t = table_new(5, "NAME", "ROLE", "PASSWORD", "LOCKED", "CREATED");
    size_t i;
    json_t *u;
    json_array_foreach(items, i, u) {
        table_add(t, cli_str(u, "name", "?"), cli_str(u, "role", "?"),
                  json_is_true(json_object_get(u, "has_password")) ? "set" : "-",
                  cli_bool(u, "locked"), cli_str(u, "created_at", "-"));
    }
    if (table_rows(t) == 0)
        printf("no users\n");
    else
        table_print(t, stdout);
    table_free(t);
out:
    json_decref(items);
    cli_args_cleanup(&a, NULL);
    return rc;
}

/*
 * Adds "role" and "password" to body from the --role and --password
 * options (role_opt, pw_opt). A password is only ever read from stdin:
 * on argv it would show in `ps` and in the shell's history. Returns
 * CLI_PARSED, or the exit status after printing the error.
 */
static int role_and_password(json_t *body, const struct cli_opt *role_opt,
                             const struct cli_opt *pw_opt, const char *usage) {
    if (role_opt->seen) {
        json_t *r = json_string(role_opt->value);
        if (r == NULL) return cli_usage_error(usage, "--role is not valid UTF-8");
        json_object_set_new(body, "role", r);
    }
    if (!pw_opt->seen) return CLI_PARSED;
    if (strcmp(pw_opt->value, "-") != 0)
        return cli_usage_error(usage,
                               "--password takes only '-' (read the password from stdin): a "
                               "password on the command line is visible to other users in the "
                               "process list and stays in the shell's history");
    char *pw = NULL;
    struct dmt_err err;
    dmt_err_init(&err);
    if (cli_read_stdin(&pw, &err) != DMT_OK) return cli_fail(&err);
    json_t *p = json_string(pw);
    sodium_memzero(pw, strlen(pw));
    free(pw);
    if (p == NULL) return cli_usage_error(usage, "the password is not valid UTF-8");
    json_object_set_new(body, "password", p);
    return CLI_PARSED;
}

/* Prints the user document u as "key  value" lines. */
static void print_user(const json_t *u) {
    char buf[32];
    cli_field("name:", cli_str(u, "name", ""));
    cli_field("role:", cli_str(u, "role", ""));
    cli_field("password:", json_is_true(json_object_get(u, "has_password")) ? "set" : "-");
    cli_field("locked:", cli_bool(u, "locked"));
    cli_field("version:", cli_int(u, "version", buf, sizeof(buf)));
    cli_field("created:", cli_str(u, "created_at", "-"));
    cli_field("updated:", cli_str(u, "updated_at", "-"));
}

static int user_add(struct cli *cli, int argc, char **argv) {
    struct cli_opt opts[] = {{.name = "--role", .kind = CLI_OPT_VALUE},
                             {.name = "--password", .kind = CLI_OPT_VALUE},
                             {0}};
    struct cli_args a = {0};
    struct dmt_err err;
    json_t *body = NULL, *resp = NULL;
    int rc = cli_parse(argc, argv, opts, USAGE_ADD, &a);
    if (rc != CLI_PARSED) goto out;
    if (a.npos != 1) {
        rc = cli_usage_error(USAGE_ADD, a.npos == 0 ? "missing NAME" : "too many arguments");
        goto out;
    }
    if (!opts[0].seen) {
        rc = cli_usage_error(USAGE_ADD, "missing --role (viewer, operator, editor or admin)");
        goto out;
    }
    body = json_pack("{s:s}", "name", a.pos[0]);
    if (body == NULL) {
        rc = cli_usage_error(USAGE_ADD, "NAME is not valid UTF-8");
        goto out;
    }
    rc = role_and_password(body, &opts[0], &opts[1], USAGE_ADD);
    if (rc != CLI_PARSED) goto out;
    dmt_err_init(&err);
    if (client_request(cli->client, "POST", "/users", body, NULL, &resp, &err) != DMT_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    rc = CLI_EXIT_OK;
    if (cli->json)
        cli_print_json(resp);
    else
        printf("created user %s (%s)\n", cli_str(resp, "name", a.pos[0]),
               cli_str(resp, "role", "?"));
out:
    json_decref(body);
    json_decref(resp);
    cli_args_cleanup(&a, opts);
    return rc;
}

static int user_show(struct cli *cli, int argc, char **argv) {
    struct cli_args a = {0};
    struct dmt_err err;
    json_t *u = NULL;
    char *path = NULL;
    int rc = cli_parse(argc, argv, NULL, USAGE_SHOW, &a);
    if (rc != CLI_PARSED) goto out;
    if (a.npos != 1) {
        rc = cli_usage_error(USAGE_SHOW, a.npos == 0 ? "missing NAME" : "too many arguments");
        goto out;
    }
    path = client_path("users", a.pos[0], NULL);
    dmt_err_init(&err);
    if (client_request(cli->client, "GET", path, NULL, NULL, &u, &err) != DMT_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    rc = CLI_EXIT_OK;
    if (cli->json)
        cli_print_json(u);
    else
        print_user(u);
out:
    free(path);
    json_decref(u);
    cli_args_cleanup(&a, NULL);
    return rc;
}

static int user_set(struct cli *cli, int argc, char **argv) {
    struct cli_opt opts[] = {{.name = "--role", .kind = CLI_OPT_VALUE},
                             {.name = "--password", .kind = CLI_OPT_VALUE},
                             {0}};
    struct cli_args a = {0};
    struct dmt_err err;
    json_t *body = NULL, *resp = NULL;
    char *path = NULL;
    int rc = cli_parse(argc, argv, opts, USAGE_SET, &a);
    if (rc != CLI_PARSED) goto out;
    if (a.npos != 1) {
        rc = cli_usage_error(USAGE_SET, a.npos == 0 ? "missing NAME" : "too many arguments");
        goto out;
    }
    if (!opts[0].seen && !opts[1].seen) {
        rc = cli_usage_error(USAGE_SET, "nothing to change: give --role or --password -");
        goto out;
    }
    body = json_object();
    rc = role_and_password(body, &opts[0], &opts[1], USAGE_SET);
    if (rc != CLI_PARSED) goto out;
    path = client_path("users", a.pos[0], NULL);
    dmt_err_init(&err);
    if (client_request(cli->client, "PATCH", path, body, NULL, &resp, &err) != DMT_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    rc = CLI_EXIT_OK;
    if (cli->json)
        cli_print_json(resp);
    else
        printf("updated user %s (%s)\n", cli_str(resp, "name", a.pos[0]),
               cli_str(resp, "role", "?"));
out:
    free(path);
    json_decref(body);
    json_decref(resp);
    cli_args_cleanup(&a, opts);
    return rc;
}

static int user_rm(struct cli *cli, int argc, char **argv) {
    return cli_rm_named(cli, argc, argv, USAGE_RM, "users", "user");
}

int cmd_user(struct cli *cli, int argc, char **argv) {
    static const struct cli_sub subs[] = {
        {"ls|list", user_ls},
        {"add", user_add},
        {"show", user_show},
        {"set", user_set},
        {"rm", user_rm},
        {NULL, NULL},
    };
    return cli_dispatch(cli, argc, argv, "user", USAGE_ALL, subs);
}
