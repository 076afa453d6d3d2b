/* cmd_task.c - `dmt task ls | add | show | mv | rm`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/table.h"
#include "model/model.h"

#define USAGE_LS "dmt task ls JOB [--json]"
#define USAGE_ADD                                                                                  \
    "dmt task add JOB NAME --plugin P [--set VAR=VALUE]... [--position N] "                        \
    "[--on-failure stop|continue] [--timeout S] [--retries N] [--disabled] [--json]"
#define USAGE_SHOW "dmt task show JOB TASK [--json]"
#define USAGE_MV   "dmt task mv JOB TASK POSITION [--json]"
#define USAGE_RM   "dmt task rm JOB TASK"
#define USAGE_ALL                                                                                  \
    "dmt task ls JOB\n"                                                                            \
    "       dmt task add JOB NAME --plugin P [--set VAR=VALUE]... [--position N]\n"                \
    "                [--on-failure stop|continue] [--timeout S] [--retries N] [--disabled]\n"      \
    "       dmt task show JOB TASK\n"                                                              \
    "       dmt task mv JOB TASK POSITION\n"                                                       \
    "       dmt task rm JOB TASK"

static const char *timeout_text(const json_t *task, char *buf, size_t len) {
    json_t *v = json_object_get(task, "timeout_s");
    if (json_is_integer(v) && json_integer_value(v) == 0) return "none";
    if (json_is_integer(v)) {
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT "s", json_integer_value(v));
        return buf;
    }
    return "-";
}

static int task_ls(struct cli *cli, int argc, char **argv) {
    struct cli_args a = {0};
    struct dmt_err err;
    json_t *items = NULL;
    char *path = NULL;
    int rc = cli_parse(argc, argv, NULL, USAGE_LS, &a);
    if (rc != CLI_PARSED) goto out;
    if (a.npos != 1) {
        rc = cli_usage_error(USAGE_LS, a.npos == 0 ? "missing JOB" : "too many arguments");
        goto out;
    }
    path = client_path("jobs", a.pos[0], "tasks", NULL);
    dmt_err_init(&err);
    if (client_get_list(cli->client, path, &items, &err) != DMT_OK) {
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
    struct table *t =
        table_new(7, "POSITION", "NAME", "PLUGIN", "ON_FAILURE", "TIMEOUT", "RETRIES", "ENABLED");
    size_t i;
    json_t *task;
    json_array_foreach(items, i, task) {
        char pos[32], to[32], re[32];
        table_add(t, cli_int(task, "position", pos, sizeof(pos)), cli_str(task, "name", "?"),
                  cli_str(task, "plugin", "?"), cli_str(task, "on_failure", "-"),
                  timeout_text(task, to, sizeof(to)), cli_int(task, "retries", re, sizeof(re)),
                  cli_bool(task, "enabled"));
    }
    if (table_rows(t) == 0)
        printf("job %s has no tasks\n", a.pos[0]);
    else
        table_print(t, stdout);
    table_free(t);
out:
    free(path);
    json_decref(items);
    cli_args_cleanup(&a, NULL);
    return rc;
}

/* The type of variable name in a plugin document, or NULL when the schema
 * has no such variable (a custom variable). Borrowed from plugin. */
static const char *schema_type(const json_t *plugin, const char *name) {
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(plugin, "variables"), i, v) {
        if (strcmp(cli_str(v, "name", ""), name) == 0) return cli_str(v, "type", "string");
    }
    return NULL;
}

/* Builds {"NAME": value} from the --set options, typed by the plugin's
 * schema, into body's "variables"; a name the schema does not have goes to
 * *custom instead (a new object the caller decrefs), as a string, to be
 * created as a custom variable once the task exists. Returns an exit status
 * or CLI_PARSED. */
static int build_variables(struct cli *cli, const char *plugin, const struct cli_opt *set,
                           json_t *body, json_t **custom) {
    struct dmt_err err;
    json_t *schema = NULL;
    json_t *vars = json_object();
    json_t *extra = json_object();
    char *path = client_path("plugins", plugin, NULL);
    char *stdin_value = NULL;
    int rc = CLI_PARSED;
    dmt_err_init(&err);
    if (client_request(cli->client, "GET", path, NULL, NULL, &schema, &err) != DMT_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    for (size_t i = 0; i < set->nlist; i++) {
        const char *s = set->list[i];
        const char *eq = strchr(s, '=');
        if (eq == NULL || eq == s) {
            rc = cli_usage_error(USAGE_ADD, "--set takes VAR=VALUE, not \"%s\"", s);
            goto out;
        }
        char *name = strndup(s, (size_t)(eq - s));
        if (name == NULL) abort();
        const char *text = eq + 1;
        if (strcmp(text, "-") == 0) {
            if (stdin_value != NULL) {
                free(name);
                rc = cli_usage_error(USAGE_ADD, "only one --set VAR=- can read stdin");
                goto out;
            }
            if (cli_read_stdin(&stdin_value, &err) != DMT_OK) {
                free(name);
                rc = cli_fail(&err);
                goto out;
            }
            text = stdin_value;
        }
        json_t *val = NULL;
        const char *type = schema_type(schema, name);
        /* Checked before the task exists, so a bad name creates nothing. */
        if (type == NULL && !name_is_var(name)) {
            rc = cli_usage_error(USAGE_ADD,
                                 "plugin %s has no variable %s, and it is not a valid name for "
                                 "a custom one (A-Z a-z 0-9 _, not starting with a digit)",
                                 plugin, name);
            free(name);
            goto out;
        }
        if (cli_value_parse(name, type, text, &val, &err) != DMT_OK) {
            free(name);
            rc = cli_fail(&err);
            goto out;
        }
        json_object_set_new(type != NULL ? vars : extra, name, val);
        free(name);
    }
    if (json_object_size(vars) > 0) json_object_set(body, "variables", vars);
    *custom = extra;
    extra = NULL;
out:
    free(path);
    if (stdin_value != NULL) {
        /* Possibly a secret: do not leave it in freed memory. */
        memset(stdin_value, 0, strlen(stdin_value));
        free(stdin_value);
    }
    json_decref(vars);
    json_decref(extra);
    json_decref(schema);
    return rc;
}

static int task_add(struct cli *cli, int argc, char **argv) {
    enum { O_PLUGIN, O_SET, O_POSITION, O_ONFAIL, O_TIMEOUT, O_RETRIES, O_DISABLED };
    struct cli_opt opts[] = {{.name = "--plugin", .kind = CLI_OPT_VALUE},
                             {.name = "--set", .kind = CLI_OPT_LIST},
                             {.name = "--position", .kind = CLI_OPT_VALUE},
                             {.name = "--on-failure", .kind = CLI_OPT_VALUE},
                             {.name = "--timeout", .kind = CLI_OPT_VALUE},
                             {.name = "--retries", .kind = CLI_OPT_VALUE},
                             {.name = "--disabled", .kind = CLI_OPT_FLAG},
                             {0}};
    struct cli_args a = {0};
    struct dmt_err err;
    json_t *body = NULL, *resp = NULL, *custom = NULL;
    char *path = NULL;
    int64_t n;
    int rc = cli_parse(argc, argv, opts, USAGE_ADD, &a);
    if (rc != CLI_PARSED) goto out;
    if (a.npos != 2) {
        rc = cli_usage_error(USAGE_ADD, a.npos < 2 ? "missing JOB or NAME" : "too many arguments");
        goto out;
    }
    if (!opts[O_PLUGIN].seen || opts[O_PLUGIN].value[0] == '\0') {
        rc = cli_usage_error(USAGE_ADD, "missing --plugin P");
        goto out;
    }
    body = json_pack("{s:s, s:s}", "name", a.pos[1], "plugin", opts[O_PLUGIN].value);
    if (body == NULL) {
        rc = cli_usage_error(USAGE_ADD, "NAME or plugin is not valid UTF-8");
        goto out;
    }
    if (opts[O_POSITION].seen) {
        if (!cli_parse_int(opts[O_POSITION].value, 1, 1000000000, &n)) {
            rc = cli_usage_error(USAGE_ADD, "--position must be a whole number from 1");
            goto out;
        }
        json_object_set_new(body, "position", json_integer(n));
    }
    if (opts[O_ONFAIL].seen) {
        const char *v = opts[O_ONFAIL].value;
        if (strcmp(v, "stop") != 0 && strcmp(v, "continue") != 0) {
            rc = cli_usage_error(USAGE_ADD, "--on-failure must be stop or continue");
            goto out;
        }
        json_object_set_new(body, "on_failure", json_string(v));
    }
    if (opts[O_TIMEOUT].seen) {
        if (!cli_parse_int(opts[O_TIMEOUT].value, 0, 2147483647, &n)) {
            rc =
                cli_usage_error(USAGE_ADD, "--timeout must be a whole number of seconds (0: none)");
            goto out;
        }
        json_object_set_new(body, "timeout_s", json_integer(n));
    }
    if (opts[O_RETRIES].seen) {
        if (!cli_parse_int(opts[O_RETRIES].value, 0, 2147483647, &n)) {
            rc = cli_usage_error(USAGE_ADD, "--retries must be a whole number from 0");
            goto out;
        }
        json_object_set_new(body, "retries", json_integer(n));
    }
    if (opts[O_DISABLED].seen) json_object_set_new(body, "enabled", json_false());
    if (opts[O_SET].nlist > 0) {
        rc = build_variables(cli, opts[O_PLUGIN].value, &opts[O_SET], body, &custom);
        if (rc != CLI_PARSED) goto out;
    }
    path = client_path("jobs", a.pos[0], "tasks", NULL);
    dmt_err_init(&err);
    if (client_request(cli->client, "POST", path, body, NULL, &resp, &err) != DMT_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    rc = CLI_EXIT_OK;
    if (!cli->json) {
        char pos[32];
        printf("created task %s in job %s at position %s\n", cli_str(resp, "name", a.pos[1]),
               a.pos[0], cli_int(resp, "position", pos, sizeof(pos)));
    }
    /* --set names the plugin does not declare become custom variables. */
    if (custom != NULL && json_object_size(custom) > 0) {
        char *tpath = client_path("jobs", a.pos[0], "tasks", a.pos[1], NULL);
        char *vpath = client_path("jobs", a.pos[0], "tasks", a.pos[1], "variables", NULL);
        const char *name;
        json_t *val;
        json_object_foreach(custom, name, val) {
            json_t *vb = json_pack("{s:s, s:s, s:O}", "name", name, "type", "string", "value", val);
            int st = client_request(cli->client, "POST", vpath, vb, NULL, NULL, &err);
            json_decref(vb);
            if (st != DMT_OK) {
                rc = cli_fail(&err);
                break;
            }
            if (!cli->json) printf("created variable %s (task %s)\n", name, a.pos[1]);
        }
        /* With --json, show the task as it now is, custom variables included. */
        if (rc == CLI_EXIT_OK && cli->json) {
            json_decref(resp);
            resp = NULL;
            if (client_request(cli->client, "GET", tpath, NULL, NULL, &resp, &err) != DMT_OK)
                rc = cli_fail(&err);
        }
        free(tpath);
        free(vpath);
    }
    if (rc == CLI_EXIT_OK && cli->json) cli_print_json(resp);
out:
    free(path);
    json_decref(body);
    json_decref(resp);
    json_decref(custom);
    cli_args_cleanup(&a, opts);
    return rc;
}

static int task_show(struct cli *cli, int argc, char **argv) {
    struct cli_args a = {0};
    struct dmt_err err;
    json_t *task = NULL;
    char *path = NULL;
    int rc = cli_parse(argc, argv, NULL, USAGE_SHOW, &a);
    if (rc != CLI_PARSED) goto out;
    if (a.npos != 2) {
        rc = cli_usage_error(USAGE_SHOW, a.npos < 2 ? "missing JOB or TASK" : "too many arguments");
        goto out;
    }
    path = client_path("jobs", a.pos[0], "tasks", a.pos[1], NULL);
    dmt_err_init(&err);
    if (client_request(cli->client, "GET", path, NULL, NULL, &task, &err) != DMT_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    rc = CLI_EXIT_OK;
    if (cli->json) {
        cli_print_json(task);
        goto out;
    }
    char buf[32];
    cli_field("name:", cli_str(task, "name", ""));
    cli_field("job:", a.pos[0]);
    cli_field("plugin:", cli_str(task, "plugin", "-"));
    cli_field("position:", cli_int(task, "position", buf, sizeof(buf)));
    cli_field("on_failure:", cli_str(task, "on_failure", "-"));
    cli_field("timeout:", timeout_text(task, buf, sizeof(buf)));
    cli_field("retries:", cli_int(task, "retries", buf, sizeof(buf)));
    cli_field("enabled:", cli_bool(task, "enabled"));
    cli_field("version:", cli_int(task, "version", buf, sizeof(buf)));
    cli_field("created:", cli_str(task, "created_at", "-"));
    cli_field("updated:", cli_str(task, "updated_at", "-"));
    json_t *vars = json_object_get(task, "variables");
    printf("\n");
    if (!json_is_array(vars) || json_array_size(vars) == 0)
        printf("no variables\n");
    else
        cmd_var_print_table(vars);
out:
    free(path);
    json_decref(task);
    cli_args_cleanup(&a, NULL);
    return rc;
}

static int task_mv(struct cli *cli, int argc, char **argv) {
    struct cli_args a = {0};
    struct dmt_err err;
    json_t *body = NULL, *resp = NULL;
    char *path = NULL;
    int64_t pos;
    int rc = cli_parse(argc, argv, NULL, USAGE_MV, &a);
    if (rc != CLI_PARSED) goto out;
    if (a.npos != 3) {
        rc = cli_usage_error(USAGE_MV,
                             a.npos < 3 ? "missing JOB, TASK or POSITION" : "too many arguments");
        goto out;
    }
    if (!cli_parse_int(a.pos[2], 1, 1000000000, &pos)) {
        rc = cli_usage_error(USAGE_MV, "POSITION must be a whole number from 1");
        goto out;
    }
    body = json_pack("{s:I}", "position", (json_int_t)pos);
    path = client_path("jobs", a.pos[0], "tasks", a.pos[1], NULL);
    dmt_err_init(&err);
    if (client_request(cli->client, "PATCH", path, body, NULL, &resp, &err) != DMT_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    rc = CLI_EXIT_OK;
    if (cli->json) {
        cli_print_json(resp);
    } else {
        char buf[32];
        const char *p = resp ? cli_int(resp, "position", buf, sizeof(buf)) : a.pos[2];
        printf("moved task %s to position %s\n", a.pos[1], p);
    }
out:
    free(path);
    json_decref(body);
    json_decref(resp);
    cli_args_cleanup(&a, NULL);
    return rc;
}

static int task_rm(struct cli *cli, int argc, char **argv) {
    struct cli_args a = {0};
    struct dmt_err err;
    char *path = NULL;
    int rc = cli_parse(argc, argv, NULL, USAGE_RM, &a);
    if (rc != CLI_PARSED) goto out;
    if (a.npos != 2) {
        rc = cli_usage_error(USAGE_RM, a.npos < 2 ? "missing JOB or TASK" : "too many arguments");
        goto out;
    }
    path = client_path("jobs", a.pos[0], "tasks", a.pos[1], NULL);
    dmt_err_init(&err);
    if (client_request(cli->client, "DELETE", path, NULL, NULL, NULL, &err) != DMT_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    rc = CLI_EXIT_OK;
    if (!cli->json) printf("deleted task %s from job %s\n", a.pos[1], a.pos[0]);
out:
    free(path);
    cli_args_cleanup(&a, NULL);
    return rc;
}

int cmd_task(struct cli *cli, int argc, char **argv) {
    static const struct cli_sub subs[] = {
        {"ls|list", task_ls},
        {"add", task_add},
        {"show", task_show},
        {"mv|move", task_mv},
        {"rm", task_rm},
        {NULL, NULL},
    };
    return cli_dispatch(cli, argc, argv, "task", USAGE_ALL, subs);
}
