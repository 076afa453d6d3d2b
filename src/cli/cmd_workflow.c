/* cmd_workflow.c - `dmt workflow JOB` (the tasks x variables x environments
 * matrix) and `dmt plan JOB --env ENV` (the dry run). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/table.h"
#include "core/util.h"

#define USAGE_WORKFLOW "dmt workflow JOB [--json]"
#define USAGE_PLAN     "dmt plan JOB --env ENV [--json]"

/* Longest value shown in a matrix cell. */
#define CELL_MAX 32

/* The string of v, or def when v is not a string. */
static const char *str_or(const json_t *v, const char *def) {
    const char *s = json_string_value(v);
    return s ? s : def;
}

/* The text of one effective cell {"value", "source"}: "-" when unset, the
 * value (or "***" for a set secret) followed by "*" when it comes from an
 * override. The caller frees it. */
static char *effective_text(const json_t *eff) {
    const char *source = cli_str(eff, "source", "unset");
    if (eff == NULL || strcmp(source, "unset") == 0) return util_strdup("-");
    /* A secret may be the placeholder itself or held in "value". */
    const json_t *v = cli_value_is_secret(eff) ? eff : json_object_get(eff, "value");
    char *txt = cli_value_text(v, CELL_MAX);
    if (strcmp(source, "override") != 0) return txt;
    /* "7*", but "*** *" so a secret override is not read as "****". */
    size_t n = strlen(txt);
    char *o = malloc(n + 3);
    if (o == NULL) abort();
    memcpy(o, txt, n);
    if (n > 0 && txt[n - 1] == '*') o[n++] = ' ';
    o[n] = '*';
    o[n + 1] = '\0';
    free(txt);
    return o;
}

static void print_task_matrix(const json_t *task, const json_t *envs) {
    char pos[32];
    printf("task %s (%s, position %s)%s\n", cli_str(task, "name", "?"),
           cli_str(task, "plugin", "?"), cli_int(task, "position", pos, sizeof(pos)),
           json_is_false(json_object_get(task, "enabled")) ? " disabled" : "");
    json_t *vars = json_object_get(task, "variables");
    if (!json_is_array(vars) || json_array_size(vars) == 0) {
        printf("  no variables\n");
        return;
    }
    size_t nenv = json_array_size(envs);
    size_t ncols = 2 + nenv;
    /* Headers: VARIABLE, DEFAULT, then the environments in order. */
    const char **cells = calloc(ncols, sizeof(char *));
    char **owned = calloc(ncols, sizeof(char *));
    if (cells == NULL || owned == NULL) abort();
    cells[0] = "VARIABLE";
    cells[1] = "DEFAULT";
    for (size_t e = 0; e < nenv; e++)
        cells[2 + e] = str_or(json_array_get(envs, e), "?");
    struct table *t = table_new_v(ncols, cells);
    size_t i;
    json_t *v;
    json_array_foreach(vars, i, v) {
        const char *name = cli_str(v, "name", "?");
        size_t nl = strlen(name);
        owned[0] = malloc(nl + 2);
        if (owned[0] == NULL) abort();
        memcpy(owned[0], name, nl + 1);
        /* "!" marks a required variable. */
        if (json_is_true(json_object_get(v, "required"))) {
            owned[0][nl] = '!';
            owned[0][nl + 1] = '\0';
        }
        owned[1] = cli_value_text(json_object_get(v, "value"), CELL_MAX);
        json_t *eff = json_object_get(v, "effective");
        for (size_t e = 0; e < nenv; e++) {
            const char *envn = json_string_value(json_array_get(envs, e));
            owned[2 + e] = effective_text(envn ? json_object_get(eff, envn) : NULL);
        }
        table_add_row(t, (const char *const *)owned);
        for (size_t c = 0; c < ncols; c++) {
            free(owned[c]);
            owned[c] = NULL;
        }
    }
    table_print_indent(t, stdout, 2);
    table_free(t);
    free(cells);
    free(owned);
}

int cmd_workflow(struct cli *cli, int argc, char **argv) {
    struct cli_args a = {0};
    struct dmt_err err;
    json_t *wf = NULL;
    char *path = NULL;
    int rc = cli_parse(argc - 1, argv + 1, NULL, USAGE_WORKFLOW, &a);
    if (rc != CLI_PARSED) goto out;
    if (a.npos != 1) {
        rc = cli_usage_error(USAGE_WORKFLOW, a.npos == 0 ? "missing JOB" : "too many arguments");
        goto out;
    }
    path = client_path("jobs", a.pos[0], "workflow", NULL);
    dmt_err_init(&err);
    if (client_request(cli->client, "GET", path, NULL, NULL, &wf, &err) != DMT_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    rc = CLI_EXIT_OK;
    if (cli->json) {
        cli_print_json(wf);
        goto out;
    }
    json_t *envs = json_object_get(wf, "environments");
    if (!json_is_array(envs)) envs = NULL;
    json_t *empty = json_array();
    if (envs == NULL) envs = empty;
    json_t *tasks = json_object_get(wf, "tasks");
    printf("workflow of job %s", cli_str(wf, "job", a.pos[0]));
    if (json_array_size(envs) == 0) {
        printf(" (no environments)\n");
    } else {
        printf(" (environments:");
        size_t i;
        json_t *e;
        json_array_foreach(envs, i, e) printf("%s %s", i ? "," : "", str_or(e, "?"));
        printf(")\n");
    }
    if (!json_is_array(tasks) || json_array_size(tasks) == 0) {
        printf("\njob %s has no tasks\n", a.pos[0]);
    } else {
        size_t i;
        json_t *task;
        json_array_foreach(tasks, i, task) {
            printf("\n");
            print_task_matrix(task, envs);
        }
        printf("\nlegend: value* = override for that environment, - = unset, "
               "*** = secret (set), NAME! = required\n");
    }
    json_decref(empty);
out:
    free(path);
    json_decref(wf);
    cli_args_cleanup(&a, NULL);
    return rc;
}

/* One line for one preflight error {"task", "variable", "environment",
 * "message"}. */
static void print_plan_error(const json_t *e) {
    const char *task = cli_str(e, "task", NULL);
    const char *var = cli_str(e, "variable", NULL);
    const char *envn = cli_str(e, "environment", NULL);
    printf("error:");
    if (task != NULL) printf(" task %s", task);
    if (var != NULL) printf("%s variable %s", task ? "," : "", var);
    if (envn != NULL) printf("%s environment %s", task || var ? "," : "", envn);
    printf("%s%s\n", task || var || envn ? ": " : " ", cli_str(e, "message", "invalid"));
}

int cmd_plan(struct cli *cli, int argc, char **argv) {
    struct cli_opt opts[] = {{.name = "--env", .kind = CLI_OPT_VALUE}, {0}};
    struct cli_args a = {0};
    struct dmt_err err;
    json_t *plan = NULL;
    char *path = NULL, *q = NULL, *url = NULL;
    int rc = cli_parse(argc - 1, argv + 1, opts, USAGE_PLAN, &a);
    if (rc != CLI_PARSED) goto out;
    if (a.npos != 1) {
        rc = cli_usage_error(USAGE_PLAN, a.npos == 0 ? "missing JOB" : "too many arguments");
        goto out;
    }
    if (!opts[0].seen || opts[0].value[0] == '\0') {
        rc = cli_usage_error(USAGE_PLAN, "missing --env ENV");
        goto out;
    }
    path = client_path("jobs", a.pos[0], "plan", NULL);
    q = client_escape(opts[0].value);
    if (asprintf(&url, "%s?environment=%s", path, q) < 0) abort();
    dmt_err_init(&err);
    if (client_request(cli->client, "GET", url, NULL, NULL, &plan, &err) != DMT_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    json_t *errors = json_object_get(plan, "errors");
    size_t nerr = json_is_array(errors) ? json_array_size(errors) : 0;
    rc = nerr > 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
    if (cli->json) {
        cli_print_json(plan);
        goto out;
    }
    printf("plan of job %s for environment %s\n", cli_str(plan, "job", a.pos[0]),
           cli_str(plan, "environment", opts[0].value));
    json_t *tasks = json_object_get(plan, "tasks");
    size_t i;
    json_t *task;
    if (!json_is_array(tasks) || json_array_size(tasks) == 0) printf("\nno tasks\n");
    json_array_foreach(tasks, i, task) {
        printf("\ntask %s (%s)%s\n", cli_str(task, "name", "?"), cli_str(task, "plugin", "?"),
               json_is_false(json_object_get(task, "enabled")) ? " disabled" : "");
        json_t *vars = json_object_get(task, "variables");
        if (!json_is_object(vars) || json_object_size(vars) == 0) {
            printf("  no variables\n");
            continue;
        }
        struct table *t = table_new(3, "VARIABLE", "VALUE", "SOURCE");
        const char *name;
        json_t *ent;
        json_object_foreach(vars, name, ent) {
            const json_t *v = cli_value_is_secret(ent) ? ent : json_object_get(ent, "value");
            const char *source = cli_str(ent, "source", "-");
            char *txt = strcmp(source, "unset") == 0 ? util_strdup("-") : cli_value_text(v, 60);
            table_add(t, name, txt, source);
            free(txt);
        }
        table_print_indent(t, stdout, 2);
        table_free(t);
    }
    if (nerr > 0) {
        printf("\n");
        json_array_foreach(errors, i, task) print_plan_error(task);
        fprintf(stderr, "dmt: the plan has %zu error%s\n", nerr, nerr == 1 ? "" : "s");
    } else {
        printf("\nno errors\n");
    }
out:
    free(path);
    free(q);
    free(url);
    json_decref(plan);
    cli_args_cleanup(&a, opts);
    return rc;
}
