/* cli.c - helpers shared by the CLI's verbs: options, errors, values. */
#include "cli/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli/client.h"
#include "cli/table.h"
#include "core/util.h"

#define STDIN_MAX (16u * 1024u * 1024u)

int cli_usage_error(const char *usage, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("dmt: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (usage != NULL) fprintf(stderr, "usage: %s\n", usage);
    return CLI_EXIT_USAGE;
}

static struct cli_opt *find_opt(struct cli_opt *opts, const char *name, size_t len) {
    for (struct cli_opt *o = opts; o != NULL && o->name != NULL; o++)
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0) return o;
    return NULL;
}

int cli_parse(int argc, char **argv, struct cli_opt *opts, const char *usage,
              struct cli_args *out) {
    out->npos = 0;
    out->pos = calloc((size_t)argc + 1, sizeof(char *));
    if (out->pos == NULL) abort();
    bool only_pos = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (only_pos || a[0] != '-' || a[1] == '\0') {
            out->pos[out->npos++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_pos = true;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            printf("usage: %s\n", usage);
            return CLI_EXIT_OK;
        }
        if (a[1] != '-') {
            /* "-5" is a value, not an option. */
            if (a[1] >= '0' && a[1] <= '9') {
                out->pos[out->npos++] = a;
                continue;
            }
            return cli_usage_error(usage, "unknown option %s", a);
        }
        const char *eq = strchr(a, '=');
        size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
        struct cli_opt *o = find_opt(opts, a, nlen);
        if (o == NULL) return cli_usage_error(usage, "unknown option %.*s", (int)nlen, a);
        if (o->kind == CLI_OPT_FLAG) {
            if (eq != NULL) return cli_usage_error(usage, "option %s takes no value", o->name);
            o->seen = true;
            continue;
        }
        const char *val;
        if (eq != NULL) {
            val = eq + 1;
        } else {
            if (i + 1 >= argc) return cli_usage_error(usage, "option %s needs a value", o->name);
            val = argv[++i];
        }
        o->seen = true;
        if (o->kind == CLI_OPT_VALUE) {
            o->value = val;
        } else {
            const char **l = realloc(o->list, (o->nlist + 1) * sizeof(char *));
            if (l == NULL) abort();
            o->list = l;
            o->list[o->nlist++] = val;
        }
    }
    return CLI_PARSED;
}

void cli_args_cleanup(struct cli_args *a, struct cli_opt *opts) {
    if (a != NULL) {
        free(a->pos);
        a->pos = NULL;
        a->npos = 0;
    }
    for (struct cli_opt *o = opts; o != NULL && o->name != NULL; o++) {
        free(o->list);
        o->list = NULL;
        o->nlist = 0;
    }
}

bool cli_parse_int(const char *s, int64_t min, int64_t max, int64_t *out) {
    int64_t v;
    if (s == NULL || !util_parse_i64(s, &v) || v < min || v > max) return false;
    *out = v;
    return true;
}

/* Appends one entry of a problem's `errors` to the error line. */
static void print_field_error(const json_t *fe) {
    const char *msg = cli_str(fe, "message", NULL);
    const char *field = cli_str(fe, "field", NULL);
    const char *task = cli_str(fe, "task", NULL);
    if (field != NULL) {
        fprintf(stderr, "; %s: %s", field, msg ? msg : "invalid");
    } else if (task != NULL) {
        const char *var = cli_str(fe, "variable", NULL);
        const char *envn = cli_str(fe, "environment", NULL);
        fprintf(stderr, "; task %s", task);
        if (var != NULL) fprintf(stderr, ", variable %s", var);
        if (envn != NULL) fprintf(stderr, ", environment %s", envn);
        fprintf(stderr, ": %s", msg ? msg : "invalid");
    } else if (msg != NULL) {
        fprintf(stderr, "; %s", msg);
    } else {
        char *s = json_dumps(fe, JSON_COMPACT | JSON_ENCODE_ANY);
        fprintf(stderr, "; %s", s ? s : "?");
        free(s);
    }
}

int cli_fail(struct dmt_err *err) {
    const char *msg = err->msg[0] ? err->msg : dmt_status_message(err->code);
    /* One line, so scripts can read it: the detail, then every field error. */
    fprintf(stderr, "dmt: %s", msg);
    size_t i;
    json_t *fe;
    if (json_is_array(err->fields)) json_array_foreach(err->fields, i, fe) print_field_error(fe);
    fputc('\n', stderr);
    /* A value the user typed that cannot be what the variable needs is a
     * usage error, found late. */
    int rc = err->code == DMT_ERR_USAGE ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
    dmt_err_cleanup(err);
    return rc;
}

void cli_print_json(const json_t *j) {
    if (j == NULL) return;
    json_dumpf(j, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY);
    fputc('\n', stdout);
}

void cli_field(const char *key, const char *value) {
    printf("%-12s %s\n", key, value ? value : "");
}

char *cli_join(const json_t *arr, const char *sep, const char *def) {
    if (!json_is_array(arr) || json_array_size(arr) == 0) return util_strdup(def);
    size_t len = 1, i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        const char *s = json_string_value(v);
        len += strlen(s ? s : "?") + strlen(sep);
    }
    char *out = malloc(len), *p = out;
    if (out == NULL) abort();
    json_array_foreach(arr, i, v) {
        const char *s = json_string_value(v);
        if (i > 0) p = stpcpy(p, sep);
        p = stpcpy(p, s ? s : "?");
    }
    *p = '\0';
    return out;
}

bool cli_value_is_secret(const json_t *v) {
    return json_is_object(v) && json_is_true(json_object_get(v, "secret"));
}

char *cli_value_text(const json_t *v, size_t max) {
    if (v == NULL || json_is_null(v)) return util_strdup("-");
    if (cli_value_is_secret(v))
        return util_strdup(json_is_true(json_object_get(v, "set")) ? "***" : "-");
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (*s == '\0') return util_strdup("\"\"");
        return table_cell_text(s, max);
    }
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s == NULL) abort();
    char *r = table_cell_text(s, max);
    free(s);
    return r;
}

const char *cli_str(const json_t *obj, const char *key, const char *def) {
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : def;
}

const char *cli_int(const json_t *obj, const char *key, char *buf, size_t len) {
    json_t *v = json_object_get(obj, key);
    if (json_is_integer(v))
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else
        snprintf(buf, len, "-");
    return buf;
}

const char *cli_bool(const json_t *obj, const char *key) {
    json_t *v = json_object_get(obj, key);
    if (!json_is_boolean(v)) return "-";
    return json_is_true(v) ? "yes" : "no";
}

int cli_value_parse(const char *name, const char *type, const char *text, json_t **out,
                    struct dmt_err *err) {
    *out = NULL;
    if (type == NULL) type = "string";
    if (strcmp(type, "int") == 0) {
        int64_t v;
        if (!util_parse_i64(text, &v))
            return dmt_err_set(err, DMT_ERR_USAGE,
                               "%s is an int variable: \"%s\" is not an integer", name, text);
        *out = json_integer(v);
    } else if (strcmp(type, "bool") == 0) {
        static const char *yes[] = {"true", "yes", "on", "1"};
        static const char *no[] = {"false", "no", "off", "0"};
        for (size_t i = 0; i < 4 && *out == NULL; i++) {
            if (strcasecmp(text, yes[i]) == 0) *out = json_true();
            if (strcasecmp(text, no[i]) == 0) *out = json_false();
        }
        if (*out == NULL)
            return dmt_err_set(err, DMT_ERR_USAGE,
                               "%s is a bool variable: \"%s\" is not one of true, false, yes, "
                               "no, 1, 0",
                               name, text);
    } else if (strcmp(type, "json") == 0) {
        json_error_t jerr;
        *out = json_loads(text, JSON_DECODE_ANY, &jerr);
        if (*out == NULL)
            return dmt_err_set(err, DMT_ERR_USAGE, "%s is a json variable: invalid JSON: %s", name,
                               jerr.text);
    } else {
        *out = json_string(text);
        if (*out == NULL)
            return dmt_err_set(err, DMT_ERR_USAGE, "the value of %s is not valid UTF-8", name);
    }
    if (*out == NULL) abort();
    return DMT_OK;
}

int cli_read_stdin(char **out, struct dmt_err *err) {
    *out = NULL;
    if (isatty(STDIN_FILENO))
        fputs("dmt: reading the value from stdin (end with Ctrl-D)\n", stderr);
    size_t len = 0, cap = 4096;
    char *b = malloc(cap);
    if (b == NULL) abort();
    for (;;) {
        if (len + 1 >= cap) {
            if (cap > STDIN_MAX) {
                free(b);
                return dmt_err_set(err, DMT_ERR_TOO_LARGE, "the value on stdin is over %u MiB",
                                   STDIN_MAX / (1024u * 1024u));
            }
            cap *= 2;
            char *nb = realloc(b, cap);
            if (nb == NULL) abort();
            b = nb;
        }
        size_t n = fread(b + len, 1, cap - 1 - len, stdin);
        len += n;
        if (n == 0) {
            if (ferror(stdin)) {
                int e = errno;
                free(b);
                return dmt_err_set(err, DMT_ERR_IO, "cannot read stdin: %s", strerror(e));
            }
            break;
        }
    }
    if (len > STDIN_MAX) {
        free(b);
        return dmt_err_set(err, DMT_ERR_TOO_LARGE, "the value on stdin is over %u MiB",
                           STDIN_MAX / (1024u * 1024u));
    }
    b[len] = '\0';
    if (memchr(b, '\0', len) != NULL) {
        free(b);
        return dmt_err_set(err, DMT_ERR_USAGE, "the value on stdin holds a NUL byte");
    }
    if (len > 0 && b[len - 1] == '\n') {
        b[--len] = '\0';
        if (len > 0 && b[len - 1] == '\r') b[--len] = '\0';
    }
    *out = b;
    return DMT_OK;
}

/* Whether name is one of the '|'-separated names. */
static bool sub_matches(const char *names, const char *name) {
    size_t n = strlen(name);
    for (const char *p = names; p != NULL; p = strchr(p, '|'), p = p ? p + 1 : NULL)
        if (strncmp(p, name, n) == 0 && (p[n] == '\0' || p[n] == '|')) return true;
    return false;
}

int cli_dispatch(struct cli *cli, int argc, char **argv, const char *group, const char *usage_all,
                 const struct cli_sub *subs) {
    if (argc < 2) return cli_usage_error(usage_all, "missing sub-command");
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
        printf("usage: %s\n", usage_all);
        return CLI_EXIT_OK;
    }
    for (const struct cli_sub *s = subs; s->names != NULL; s++)
        if (sub_matches(s->names, sub)) return s->fn(cli, argc - 2, argv + 2);
    return cli_usage_error(usage_all, "unknown sub-command %s %s", group, sub);
}

int cli_rm_named(struct cli *cli, int argc, char **argv, const char *usage, const char *collection,
                 const char *noun) {
    struct cli_args a = {0};
    struct dmt_err err;
    char *path = NULL;
    int rc = cli_parse(argc, argv, NULL, usage, &a);
    if (rc != CLI_PARSED) goto out;
    if (a.npos != 1) {
        rc = cli_usage_error(usage, a.npos == 0 ? "missing NAME" : "too many arguments");
        goto out;
    }
    path = client_path(collection, a.pos[0], NULL);
    dmt_err_init(&err);
    if (client_request(cli->client, "DELETE", path, NULL, NULL, NULL, &err) != DMT_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    rc = CLI_EXIT_OK;
    if (!cli->json) printf("deleted %s %s\n", noun, a.pos[0]);
out:
    free(path);
    cli_args_cleanup(&a, NULL);
    return rc;
}
