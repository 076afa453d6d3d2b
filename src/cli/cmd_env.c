/*
 * cmd_env.c - `dmt env ls | add | show | set | rm`.
 *
 * Worker tags are typed as one comma-separated word ("gpu,eu-west") and
 * sent as the JSON array worker_tags; the server alone judges them (slugs,
 * distinct, at most 32), so a bad one comes back as its 422 and nothing is
 * changed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/table.h"

#define USAGE_LS "dmt env ls [--json]"
#define USAGE_ADD                                                                                  \
    "dmt env add NAME [--description D] [--protected] [--position N] [--worker-tags T,...] "       \
    "[--json]"
#define USAGE_SHOW "dmt env show NAME [--json]"
#define USAGE_SET                                                                                  \
    "dmt env set NAME [--description D] [--protected true|false] [--worker-tags T,...|\"\"] "      \
    "[--json]"
#define USAGE_RM "dmt env rm NAME"
#define USAGE_ALL                                                                                  \
    "dmt env ls\n"                                                                                 \
    "       dmt env add NAME [--description D] [--protected] [--position N]\n"                     \
    "                        [--worker-tags T,...]\n"                                              \
    "       dmt env show NAME\n"                                                                   \
    "       dmt env set NAME [--description D] [--protected true|false]\n"                         \
    "                        [--worker-tags T,...|\"\"]\n"                                         \
    "       dmt env rm NAME\n"                                                                     \
    "  --worker-tags: runs in the environment go only to executors having every tag\n"             \
    "  (dmt serve/worker --tags); an empty value clears them"

/*
 * Turns the text of --worker-tags into the JSON array to send: "gpu,eu"
 * gives ["gpu", "eu"], blanks around each tag dropped; "" gives [] (no
 * tags). Anything else the server judges, so an empty piece ("a,,b") is
 * sent as "" for it to refuse. Returns a new reference, or NULL after
 * filling err when the text is not valid UTF-8.
 */
static json_t *tags_parse(const char *text, struct dmt_err *err) {
    json_t *tags = json_array();
    if (tags == NULL) abort();
    const char *p = text;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '\0') return tags;
    for (;;) {
        const char *end = strchr(p, ',');
        if (end == NULL) end = p + strlen(p);
        const char *b = p, *e = end;
        while (b < e && (*b == ' ' || *b == '\t'))
            b++;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        json_t *t = json_stringn(b, (size_t)(e - b));
        if (t == NULL) {
            json_decref(tags);
            dmt_err_set(err, DMT_ERR_USAGE, "--worker-tags is not valid UTF-8");
            return NULL;
        }
        json_array_append_new(tags, t);
        if (*end == '\0') break;
        p = end + 1;
    }
    return tags;
}

static int env_ls(struct cli *cli, int argc, char **argv) {
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
    if (client_get_list(cli->client, "/environments", &items, &err) != DMT_OK) {
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
    struct table *t = table_new(5, "POSITION", "NAME", "PROTECTED", "TAGS", "DESCRIPTION");
    size_t i;
    json_t *e;
    json_array_foreach(items, i, e) {
        char pos[32];
        char *desc = table_cell_text(cli_str(e, "description", ""), 60);
        char *tags = cli_join(json_object_get(e, "worker_tags"), ",", "-");
        table_add(t, cli_int(e, "position", pos, sizeof(pos)), cli_str(e, "name", "?"),
                  cli_bool(e, "protected"), tags, desc);
        free(tags);
        free(desc);
    }
    if (table_rows(t) == 0)
        printf("no environments\n");
    else
        table_print(t, stdout);
    table_free(t);
out:
    json_decref(items);
    cli_args_cleanup(&a, NULL);
    return rc;
}

static int env_add(struct cli *cli, int argc, char **argv) {
    struct cli_opt opts[] = {{.name = "--description", .kind = CLI_OPT_VALUE},
                             {.name = "--protected", .kind = CLI_OPT_FLAG},
                             {.name = "--position", .kind = CLI_OPT_VALUE},
                             {.name = "--worker-tags", .kind = CLI_OPT_VALUE},
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
    if (opts[1].seen) json_object_set_new(body, "protected", json_true());
    if (opts[2].seen) {
        int64_t pos;
        if (!cli_parse_int(opts[2].value, 1, 1000000, &pos)) {
            rc = cli_usage_error(USAGE_ADD, "--position must be a whole number from 1");
            goto out;
        }
        json_object_set_new(body, "position", json_integer(pos));
    }
    dmt_err_init(&err);
    if (opts[3].seen) {
        json_t *tags = tags_parse(opts[3].value, &err);
        if (tags == NULL) {
            rc = cli_fail(&err);
            goto out;
        }
        json_object_set_new(body, "worker_tags", tags);
    }
    if (client_request(cli->client, "POST", "/environments", body, NULL, &resp, &err) != DMT_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    rc = CLI_EXIT_OK;
    if (cli->json)
        cli_print_json(resp);
    else
        printf("created environment %s\n", cli_str(resp, "name", a.pos[0]));
out:
    json_decref(body);
    json_decref(resp);
    cli_args_cleanup(&a, opts);
    return rc;
}

static int env_show(struct cli *cli, int argc, char **argv) {
    struct cli_args a = {0};
    struct dmt_err err;
    json_t *e = NULL;
    char *path = NULL;
    int rc = cli_parse(argc, argv, NULL, USAGE_SHOW, &a);
    if (rc != CLI_PARSED) goto out;
    if (a.npos != 1) {
        rc = cli_usage_error(USAGE_SHOW, a.npos == 0 ? "missing NAME" : "too many arguments");
        goto out;
    }
    path = client_path("environments", a.pos[0], NULL);
    dmt_err_init(&err);
    if (client_request(cli->client, "GET", path, NULL, NULL, &e, &err) != DMT_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    rc = CLI_EXIT_OK;
    if (cli->json) {
        cli_print_json(e);
        goto out;
    }
    char buf[32];
    cli_field("name:", cli_str(e, "name", ""));
    cli_field("description:", cli_str(e, "description", ""));
    cli_field("position:", cli_int(e, "position", buf, sizeof(buf)));
    cli_field("protected:", cli_bool(e, "protected"));
    char *g = cli_join(json_object_get(e, "grants"), ", ", "-");
    cli_field("grants:", g);
    free(g);
    char *tags = cli_join(json_object_get(e, "worker_tags"), ", ", "-");
    cli_field("worker tags:", tags);
    free(tags);
    cli_field("version:", cli_int(e, "version", buf, sizeof(buf)));
    cli_field("created:", cli_str(e, "created_at", "-"));
    cli_field("updated:", cli_str(e, "updated_at", "-"));
out:
    free(path);
    json_decref(e);
    cli_args_cleanup(&a, NULL);
    return rc;
}

static int env_set(struct cli *cli, int argc, char **argv) {
    struct cli_opt opts[] = {{.name = "--description", .kind = CLI_OPT_VALUE},
                             {.name = "--protected", .kind = CLI_OPT_VALUE},
                             {.name = "--worker-tags", .kind = CLI_OPT_VALUE},
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
    if (!opts[0].seen && !opts[1].seen && !opts[2].seen) {
        rc = cli_usage_error(USAGE_SET,
                             "nothing to change: give --description, --protected or --worker-tags");
        goto out;
    }
    /* Every value is checked before anything is sent: one bad value and
     * nothing changes. */
    dmt_err_init(&err);
    body = json_object();
    if (body == NULL) abort();
    if (opts[0].seen) {
        json_t *d = json_string(opts[0].value);
        if (d == NULL) {
            dmt_err_set(&err, DMT_ERR_USAGE, "--description is not valid UTF-8");
            rc = cli_fail(&err);
            goto out;
        }
        json_object_set_new(body, "description", d);
    }
    if (opts[1].seen) {
        const char *v = opts[1].value;
        if (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0) {
            json_object_set_new(body, "protected", json_true());
        } else if (strcmp(v, "false") == 0 || strcmp(v, "no") == 0) {
            json_object_set_new(body, "protected", json_false());
        } else {
            dmt_err_set(&err, DMT_ERR_USAGE, "--protected takes true or false, not \"%s\"", v);
            rc = cli_fail(&err);
            goto out;
        }
    }
    if (opts[2].seen) {
        json_t *tags = tags_parse(opts[2].value, &err);
        if (tags == NULL) {
            rc = cli_fail(&err);
            goto out;
        }
        json_object_set_new(body, "worker_tags", tags);
    }
    path = client_path("environments", a.pos[0], NULL);
    if (client_request(cli->client, "PATCH", path, body, NULL, &resp, &err) != DMT_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    rc = CLI_EXIT_OK;
    if (cli->json)
        cli_print_json(resp);
    else
        printf("updated environment %s\n", cli_str(resp, "name", a.pos[0]));
out:
    free(path);
    json_decref(body);
    json_decref(resp);
    cli_args_cleanup(&a, opts);
    return rc;
}

static int env_rm(struct cli *cli, int argc, char **argv) {
    return cli_rm_named(cli, argc, argv, USAGE_RM, "environments", "environment");
}

int cmd_env(struct cli *cli, int argc, char **argv) {
    static const struct cli_sub subs[] = {
        {"ls|list", env_ls},
        {"add", env_add},
        {"show", env_show},
        {"set", env_set},
        {"rm", env_rm},
        {NULL, NULL},
    };
    return cli_dispatch(cli, argc, argv, "env", USAGE_ALL, subs);
}
