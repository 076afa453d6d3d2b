/* cmd_var.c - `dmt var ls | set | unset`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/table.h"
#include "core/util.h"

#define USAGE_LS    "dmt var ls JOB TASK [--json]"
#define USAGE_SET   "dmt var set JOB TASK VAR VALUE|- [--env ENV] [--secret] [--json]"
#define USAGE_UNSET "dmt var unset JOB TASK VAR --env ENV"
#define USAGE_ALL                                                                                  \
    "dmt var ls JOB TASK\n"                                                                        \
    "       dmt var set JOB TASK VAR VALUE|- [--env ENV] [--secret]\n"                             \
    "       dmt var unset JOB TASK VAR --env ENV"

/* Longest value shown in a table cell. */
#define CELL_MAX 40

/* A growing string for cells joined from parts. */
struct sbuf {
    char *s;
    size_t len, cap;
};

static void sbuf_add(struct sbuf *b, const char *s) {
    size_t n = strlen(s);
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->s, cap);
        if (p == NULL) abort();
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n + 1);
    b->len += n;
}

void cmd_var_print_table(const json_t *vars) {
    struct table *t = table_new(5, "NAME", "TYPE", "FLAGS", "DEFAULT", "OVERRIDES");
    size_t i;
    json_t *v;
    json_array_foreach(vars, i, v) {
        struct sbuf flags = {0}, ovr = {0};
        if (json_is_true(json_object_get(v, "required"))) sbuf_add(&flags, "required");
        if (json_is_true(json_object_get(v, "secret")))
            sbuf_add(&flags, flags.len ? ",secret" : "secret");
        if (json_is_true(json_object_get(v, "custom")))
            sbuf_add(&flags, flags.len ? ",custom" : "custom");
        const char *envn;
        json_t *ov;
        json_object_foreach(json_object_get(v, "overrides"), envn, ov) {
            char *txt = cli_value_text(ov, CELL_MAX);
            if (ovr.len) sbuf_add(&ovr, " ");
            sbuf_add(&ovr, envn);
            sbuf_add(&ovr, "=");
            sbuf_add(&ovr, txt);
            free(txt);
        }
        char *def = cli_value_text(json_object_get(v, "value"), CELL_MAX);
        const char *type = cli_str(v, "type", "?");
        char *typebuf = NULL;
        json_t *values = json_object_get(v, "values");
        if (json_is_array(values) && json_array_size(values) > 0) {
            /* enum(a|b|c) so the allowed values are at hand. */
            struct sbuf tb = {0};
            sbuf_add(&tb, type);
            sbuf_add(&tb, "(");
            size_t k;
            json_t *x;
            json_array_foreach(values, k, x) {
                char *s = cli_value_text(x, 0);
                if (k) sbuf_add(&tb, "|");
                sbuf_add(&tb, s);
                free(s);
            }
            sbuf_add(&tb, ")");
            typebuf = tb.s;
        }
        table_add(t, cli_str(v, "name", "?"), typebuf ? typebuf : type, flags.len ? flags.s : "-",
                  def, ovr.len ? ovr.s : "-");
        free(typebuf);
        free(def);
        free(flags.s);
        free(ovr.s);
    }
    table_print(t, stdout);
    table_free(t);
}

static int var_ls(struct cli *cli, int argc, char **argv) {
    struct cli_args a = {0};
    struct dmt_err err;
    json_t *items = NULL;
    char *path = NULL;
    int rc = cli_parse(argc, argv, NULL, USAGE_LS, &a);
    if (rc != CLI_PARSED) goto out;
    if (a.npos != 2) {
        rc = cli_usage_error(USAGE_LS, a.npos < 2 ? "missing JOB or TASK" : "too many arguments");
        goto out;
    }
    path = client_path("jobs", a.pos[0], "tasks", a.pos[1], "variables", NULL);
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
    } else if (json_array_size(items) == 0) {
        printf("task %s has no variables\n", a.pos[1]);
    } else {
        cmd_var_print_table(items);
    }
out:
    free(path);
    json_decref(items);
    cli_args_cleanup(&a, NULL);
    return rc;
}

static int var_set(struct cli *cli, int argc, char **argv) {
    enum { O_ENV, O_SECRET };
    struct cli_opt opts[] = {
        {.name = "--env", .kind = CLI_OPT_VALUE}, {.name = "--secret", .kind = CLI_OPT_FLAG}, {0}};
    struct cli_args a = {0};
    struct dmt_err err;
    json_t *var = NULL, *body = NULL, *resp = NULL, *val = NULL;
    char *var_path = NULL, *path = NULL, *stdin_value = NULL;
    long status = 0;
    dmt_err_init(&err);
    int rc = cli_parse(argc, argv, opts, USAGE_SET, &a);
    if (rc != CLI_PARSED) goto out;
    if (a.npos != 4) {
        rc = cli_usage_error(USAGE_SET,
                             a.npos < 4 ? "missing JOB, TASK, VAR or VALUE" : "too many arguments");
        goto out;
    }
    const char *job = a.pos[0], *task = a.pos[1], *name = a.pos[2], *text = a.pos[3];
    const char *envn = opts[O_ENV].seen ? opts[O_ENV].value : NULL;
    if (envn != NULL && *envn == '\0') {
        rc = cli_usage_error(USAGE_SET, "--env needs an environment name");
        goto out;
    }
    var_path = client_path("jobs", job, "tasks", task, "variables", name, NULL);
    int st = client_request(cli->client, "GET", var_path, NULL, NULL, &var, &err);
    bool create = false;
    if (st == DMT_ERR_NOT_FOUND && envn == NULL) {
        /* No such variable (or no such task: the POST will say so). */
        dmt_err_cleanup(&err);
        create = true;
    } else if (st != DMT_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    if (!create && opts[O_SECRET].seen && !json_is_true(json_object_get(var, "secret"))) {
        dmt_err_set(&err, DMT_ERR_USAGE,
                    "variable %s of task %s exists and is not secret; --secret only creates a "
                    "new secret custom variable",
                    name, task);
        rc = cli_fail(&err);
        goto out;
    }
    if (strcmp(text, "-") == 0) {
        if (cli_read_stdin(&stdin_value, &err) != DMT_OK) {
            rc = cli_fail(&err);
            goto out;
        }
        text = stdin_value;
    }
    const char *type = create ? "string" : cli_str(var, "type", "string");
    if (cli_value_parse(name, type, text, &val, &err) != DMT_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    const char *done;
    if (create) {
        path = client_path("jobs", job, "tasks", task, "variables", NULL);
        body = json_pack("{s:s, s:s, s:b, s:O}", "name", name, "type", "string", "secret",
                         opts[O_SECRET].seen, "value", val);
        if (body == NULL) {
            rc = cli_usage_error(USAGE_SET, "VAR is not valid UTF-8");
            goto out;
        }
        st = client_request(cli->client, "POST", path, body, &status, &resp, &err);
        done = opts[O_SECRET].seen ? "created secret variable" : "created variable";
    } else if (envn != NULL) {
        path = client_path("jobs", job, "tasks", task, "variables", name, "overrides", envn, NULL);
        body = json_pack("{s:O}", "value", val);
        st = client_request(cli->client, "PUT", path, body, &status, &resp, &err);
        done = "set override of";
    } else {
        body = json_pack("{s:O}", "value", val);
        st = client_request(cli->client, "PATCH", var_path, body, &status, &resp, &err);
        done = "set default of";
    }
    if (st != DMT_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    rc = CLI_EXIT_OK;
    if (cli->json) {
        cli_print_json(resp);
    } else if (envn != NULL) {
        printf("%s %s for %s (task %s)\n", done, name, envn, task);
    } else {
        printf("%s %s (task %s)\n", done, name, task);
    }
out:
    if (stdin_value != NULL) {
        /* Possibly a secret: do not leave it in freed memory. */
        memset(stdin_value, 0, strlen(stdin_value));
        free(stdin_value);
    }
    free(var_path);
    free(path);
    json_decref(var);
    json_decref(body);
    json_decref(resp);
    json_decref(val);
    dmt_err_cleanup(&err);
    cli_args_cleanup(&a, opts);
    return rc;
}

static int var_unset(struct cli *cli, int argc, char **argv) {
    struct cli_opt opts[] = {{.name = "--env", .kind = CLI_OPT_VALUE}, {0}};
    struct cli_args a = {0};
    struct dmt_err err;
    char *path = NULL;
    int rc = cli_parse(argc, argv, opts, USAGE_UNSET, &a);
    if (rc != CLI_PARSED) goto out;
    if (a.npos != 3) {
        rc = cli_usage_error(USAGE_UNSET,
                             a.npos < 3 ? "missing JOB, TASK or VAR" : "too many arguments");
        goto out;
    }
    if (!opts[0].seen || opts[0].value[0] == '\0') {
        rc = cli_usage_error(USAGE_UNSET, "missing --env ENV");
        goto out;
    }
    path = client_path("jobs", a.pos[0], "tasks", a.pos[1], "variables", a.pos[2], "overrides",
                       opts[0].value, NULL);
    dmt_err_init(&err);
    if (client_request(cli->client, "DELETE", path, NULL, NULL, NULL, &err) != DMT_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    rc = CLI_EXIT_OK;
    if (!cli->json)
        printf("removed override of %s for %s (task %s)\n", a.pos[2], opts[0].value, a.pos[1]);
out:
    free(path);
    cli_args_cleanup(&a, opts);
    return rc;
}

int cmd_var(struct cli *cli, int argc, char **argv) {
    static const struct cli_sub subs[] = {
        {"ls|list", var_ls},
        {"set", var_set},
        {"unset", var_unset},
        {NULL, NULL},
    };
    return cli_dispatch(cli, argc, argv, "var", USAGE_ALL, subs);
}
