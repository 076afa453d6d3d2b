/*
 * cli.h - the dmt command-line tool (DESIGN.md §8).
 *
 * main.c dispatches the first word of the command line: `serve` goes to
 * cmd_serve (the server, in serve.c); every other verb is a client of the
 * REST API and goes to one cmd_* function per resource group, each in its
 * own cmd_<group>.c. The shared helpers below (option parsing, error and
 * value printing) live in cli.c.
 *
 * Exit statuses: 0 success, 1 failure (an error from the server, the
 * network, or a plan with errors), 2 usage error.
 */
#ifndef DMT_CLI_CLI_H
#define DMT_CLI_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#ifndef DMT_VERSION
#define DMT_VERSION "0.1.0"
#endif

enum { CLI_EXIT_OK = 0, CLI_EXIT_FAIL = 1, CLI_EXIT_USAGE = 2 };

/* Returned by cli_parse when the command line is fine and the command
 * should go on; any other value is the exit status to return at once. */
#define CLI_PARSED (-1)

struct client;

/* What every client verb gets: the API client (borrowed, lives as long as
 * the command) and whether --json was given anywhere on the command line. */
struct cli {
    struct client *client;
    bool json;
};

/*
 * `dmt serve ...`: runs the server until it is told to stop and returns the
 * exit status. argv[0] is "serve" and argv[1..argc-1] are its options, as
 * a getopt-style parser expects. Defined in serve.c.
 */
struct store;
int cmd_serve(int argc, char **argv);
/* `dmt admin rotate-key` (admin.c): re-seals every secret under a new key. */
int cmd_admin(int argc, char **argv);
/* The key file used when none is given: "<database path>.key". */
void serve_default_key_file(const char *url, char *out, size_t len);
/* Loads the master key for the store at url (creating the key file on a
 * database that has none yet), checks it against the database, makes it
 * the process key and seals secrets still in clear. */
int serve_load_master_key(struct store *st, const char *url, const char *key_file,
                          const char *hex, struct dmt_err *err);

/*
 * The client verbs. argv[0] is the group word ("env", "job", "task", "var",
 * "workflow", "plan", "plugin", "run", "runs", "log", "cancel", "rerun",
 * "user", "token", "workers"), the rest its arguments with --json already
 * removed. Each returns the exit status and prints its own errors.
 */
int cmd_env(struct cli *cli, int argc, char **argv);
int cmd_job(struct cli *cli, int argc, char **argv);
int cmd_task(struct cli *cli, int argc, char **argv);
int cmd_var(struct cli *cli, int argc, char **argv);
int cmd_workflow(struct cli *cli, int argc, char **argv);
int cmd_plan(struct cli *cli, int argc, char **argv);
int cmd_plugin(struct cli *cli, int argc, char **argv);
/* Runs (cmd_run.c): `run JOB --env E [--follow]`, `runs`, `log RUN
 * [--follow]`, `cancel RUN`, `rerun RUN [--follow]`. With --follow they
 * exit 0 only if the run succeeded. */
int cmd_run(struct cli *cli, int argc, char **argv);
int cmd_runs(struct cli *cli, int argc, char **argv);
int cmd_log(struct cli *cli, int argc, char **argv);
int cmd_cancel(struct cli *cli, int argc, char **argv);
int cmd_rerun(struct cli *cli, int argc, char **argv);
/* Users and API tokens (cmd_user.c, cmd_token.c; admins only on the
 * server): `user ls | add | show | set | rm`, `token ls | add | rm`. A
 * password is read from stdin only (`--password -`), never from argv. */
int cmd_user(struct cli *cli, int argc, char **argv);
int cmd_token(struct cli *cli, int argc, char **argv);
/* `workers` (cmd_worker.c): the executors sharing the database, with their
 * tags, load and the runs they hold (GET /workers). */
int cmd_workers(struct cli *cli, int argc, char **argv);

/* Prints a table of variables (an array of variable documents) on stdout:
 * NAME, TYPE, FLAGS, DEFAULT and OVERRIDES. Shared by `var ls` and
 * `task show`; defined in cmd_var.c. */
void cmd_var_print_table(const json_t *vars);

/* ---- option parsing (cli.c) ---- */

enum cli_opt_kind {
    CLI_OPT_FLAG,  /* --protected */
    CLI_OPT_VALUE, /* --description D or --description=D; the last one wins */
    CLI_OPT_LIST,  /* --set A=1 --set B=2: every value, in order */
};

/* One accepted option and, after cli_parse, what was given for it.
 * An array of them ends with an entry whose name is NULL. */
struct cli_opt {
    const char *name; /* with the dashes: "--plugin" */
    enum cli_opt_kind kind;
    bool seen;
    const char *value; /* CLI_OPT_VALUE: borrowed from argv */
    const char **list; /* CLI_OPT_LIST: array owned by the struct, strings from argv */
    size_t nlist;
};

/* The positional arguments: pointers into argv in an array owned here. */
struct cli_args {
    const char **pos;
    int npos;
};

/*
 * Parses argv[0..argc-1] (the arguments after the sub-command) against
 * opts. `--` ends the options; "-" alone is a positional argument.
 * `-h`/`--help` prints "usage: <usage>" on stdout and returns 0. A bad
 * option prints the error and the usage line on stderr and returns 2.
 * Otherwise returns CLI_PARSED. Call cli_args_cleanup in every case.
 */
int cli_parse(int argc, char **argv, struct cli_opt *opts, const char *usage, struct cli_args *out);
void cli_args_cleanup(struct cli_args *a, struct cli_opt *opts);

/* Prints "dmt: <message>" and "usage: <usage>" on stderr; returns 2. */
int cli_usage_error(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One sub-command of a verb group (`dmt env ls`): its names, "ls|list",
 * and the function that runs it with the arguments after it. */
struct cli_sub {
    const char *names;
    int (*fn)(struct cli *cli, int argc, char **argv);
};

/*
 * Runs the sub-command argv[1] of group (argv[0]) from subs (ended by
 * {NULL}): help for --help/-h/help, a usage error for a missing or unknown
 * one.
 */
int cli_dispatch(struct cli *cli, int argc, char **argv, const char *group, const char *usage_all,
                 const struct cli_sub *subs);

/* `GROUP rm NAME`: DELETE /api/v1/COLLECTION/NAME, then "deleted NOUN NAME". */
int cli_rm_named(struct cli *cli, int argc, char **argv, const char *usage, const char *collection,
                 const char *noun);

/* Parses a whole decimal integer within [min, max]. */
bool cli_parse_int(const char *s, int64_t min, int64_t max, int64_t *out);

/* ---- errors and output (cli.c) ---- */

/* Prints err on stderr as "dmt: <detail>" plus one indented line per field
 * or preflight error, cleans err up and returns the exit status: 2 when
 * err->code is DMT_ERR_USAGE (a bad value typed by the user), else 1. */
int cli_fail(struct dmt_err *err);

/* Prints j on stdout as pretty JSON (2-space indent) and a newline. */
void cli_print_json(const json_t *j);

/* Prints "key  value" lines for show commands, keys padded to one width. */
void cli_field(const char *key, const char *value);

/* Returns a one-line display of a variable value: "-" for none or null,
 * "***" for a set secret ({"secret": true, "set": true}), "-" for an
 * unset one, strings as they are ("" for an empty one), other JSON compact.
 * Cut to max characters when max > 0. The caller frees the result. */
char *cli_value_text(const json_t *v, size_t max);

/* Returns the strings of the array arr joined by sep ("gpu, eu-west"), or
 * def when arr is missing, not an array or empty; a member that is not a
 * string shows as "?". The caller frees the result. */
char *cli_join(const json_t *arr, const char *sep, const char *def);

/* True when v is a secret placeholder {"secret": true, ...}. */
bool cli_value_is_secret(const json_t *v);

/* Returns the string member key of obj, or def when missing or not a
 * string. Borrowed from obj. */
const char *cli_str(const json_t *obj, const char *key, const char *def);

/* Formats the integer member key of obj into buf (at least 24 bytes);
 * "-" when missing. Returns buf. */
const char *cli_int(const json_t *obj, const char *key, char *buf, size_t len);

/* "yes"/"no" for the boolean member key of obj ("-" when missing). */
const char *cli_bool(const json_t *obj, const char *key);

/* ---- values (cli.c) ---- */

/*
 * Converts the text given on the command line into a JSON value of the
 * variable type `type` ("int", "bool", "json", else a string): int must be
 * a whole integer, bool one of true/false/yes/no/on/off/1/0, json any JSON
 * text. `name` names the variable in error messages. On success *out is a
 * new reference the caller decrefs.
 */
int cli_value_parse(const char *name, const char *type, const char *text, json_t **out,
                    struct dmt_err *err);

/* Reads all of stdin into *out (the caller frees it) with one trailing
 * newline removed, so secrets never need to be on argv. Refuses input
 * over 16 MiB or holding a NUL byte. */
int cli_read_stdin(char **out, struct dmt_err *err);

#endif
