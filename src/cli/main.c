/*
 * main.c - the entry point of the dmt binary: dispatches the first word of
 * the command line to the server (`serve`) or to one client verb.
 */
#include "cli/curl_dl.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "plugin/plugin.h"

typedef int (*verb_fn)(struct cli *cli, int argc, char **argv);

static const struct {
    const char *name;
    verb_fn fn;
} verbs[] = {
    {"env", cmd_env},       {"job", cmd_job},           {"task", cmd_task},
    {"var", cmd_var},       {"workflow", cmd_workflow}, {"plan", cmd_plan},
    {"plugin", cmd_plugin}, {"run", cmd_run},           {"runs", cmd_runs},
    {"log", cmd_log},       {"cancel", cmd_cancel},     {"rerun", cmd_rerun},
    {"user", cmd_user},     {"token", cmd_token},       {"workers", cmd_workers},
};

static const char usage_text[] =
    "usage: dmt <command> [arguments] [--json]\n"
    "\n"
    "server:\n"
    "  dmt serve --listen HOST:PORT --db URL    start the server (API, web UI, executor)\n"
    "  dmt worker --db URL [--tags T,...]       an executor only, on a shared database\n"
    "\n"
    "client (talks to $DMT_URL, default http://127.0.0.1:8080, with $DMT_TOKEN):\n"
    "  dmt env ls | show NAME | rm NAME\n"
    "  dmt env add NAME [--description D] [--protected] [--position N] [--worker-tags T,...]\n"
    "  dmt env set NAME [--description D] [--protected true|false] [--worker-tags T,...|\"\"]\n"
    "  dmt job ls | add NAME [--description D] | show NAME | rm NAME\n"
    "  dmt task ls JOB\n"
    "  dmt task add JOB NAME --plugin P [--set VAR=VALUE]... [--position N]\n"
    "               [--on-failure stop|continue] [--timeout S] [--retries N] [--disabled]\n"
    "  dmt task show JOB TASK | mv JOB TASK POSITION | rm JOB TASK\n"
    "  dmt var ls JOB TASK\n"
    "  dmt var set JOB TASK VAR VALUE [--env ENV] [--secret]   (VALUE - reads stdin)\n"
    "  dmt var unset JOB TASK VAR --env ENV\n"
    "  dmt workflow JOB                  the tasks x variables x environments matrix\n"
    "  dmt plan JOB --env ENV            the dry run: resolved values and preflight errors\n"
    "  dmt plugin ls | show NAME\n"
    "  dmt run JOB --env ENV [--follow]  queue a run; --follow streams its log and exits 0\n"
    "                                    only if it succeeded\n"
    "  dmt runs [--job J] [--env E] [--status S] [--limit N]   newest first\n"
    "  dmt log RUN [--follow]            a run's log; --follow streams it until the run ends\n"
    "  dmt cancel RUN | rerun RUN [--follow]\n"
    "  dmt workers                       the executors: tags, load, runs held, last seen\n"
    "  dmt user ls | add NAME --role R [--password -] | show NAME | rm NAME\n"
    "  dmt user set NAME [--role R] [--password -]   (--password - reads stdin)\n"
    "  dmt token ls | add NAME [--user U] | rm ID    (add prints the token once)\n"
    "\n"
    "administration (on the database itself; stop the server first):\n"
    "  dmt admin rotate-key --db URL [--key-file F] --new-key-file F\n"
    "  dmt version | help [COMMAND]\n"
    "\n"
    "--json prints the server's JSON instead of tables. For an https:// DMT_URL,\n"
    "DMT_CACERT=FILE names the CA to trust (DMT_INSECURE=1 skips verification:\n"
    "for tests only). Exit status: 0 success,\n"
    "1 failure (server error, a plan with errors, a followed run that did not\n"
    "succeed), 2 usage error.\n";

static verb_fn find_verb(const char *name) {
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        if (strcmp(verbs[i].name, name) == 0) return verbs[i].fn;
    return NULL;
}

static int help(int argc, char **argv) {
    if (argc < 1) {
        fputs(usage_text, stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[0], "serve") == 0 || strcmp(argv[0], "worker") == 0) {
        char *hargv[] = {argv[0], "--help", NULL};
        return cmd_serve(2, hargv);
    }
    verb_fn fn = find_verb(argv[0]);
    if (fn == NULL) {
        fprintf(stderr, "dmt: unknown command %s\n", argv[0]);
        fputs(usage_text, stderr);
        return CLI_EXIT_USAGE;
    }
    struct cli cli = {0};
    char *hargv[] = {argv[0], "--help", NULL};
    return fn(&cli, 2, hargv);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fputs(usage_text, stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "serve") == 0 || strcmp(argv[1], "worker") == 0)
        return cmd_serve(argc - 1, argv + 1);
    /* Works on the database directly, not through the API. */
    if (strcmp(argv[1], "admin") == 0) return cmd_admin(argc - 1, argv + 1);
    /* The child side of shared-object plugins, started by the server. */
    if (strcmp(argv[1], "plugin-host") == 0) return plugin_host_main(argc - 1, argv + 1);

    /* --json may appear anywhere before a "--"; take it out of the way. */
    bool json = false;
    char **args = calloc((size_t)argc + 1, sizeof(char *));
    if (args == NULL) abort();
    int n = 0;
    bool rest = false;
    for (int i = 1; i < argc; i++) {
        if (!rest && strcmp(argv[i], "--json") == 0) {
            json = true;
            continue;
        }
        if (strcmp(argv[i], "--") == 0) rest = true;
        args[n++] = argv[i];
    }

    int rc;
    const char *why = "curl_global_init failed";
    if (n == 0) {
        fputs(usage_text, stderr);
        rc = CLI_EXIT_USAGE;
    } else if (strcmp(args[0], "help") == 0 || strcmp(args[0], "--help") == 0 ||
               strcmp(args[0], "-h") == 0) {
        rc = help(n - 1, args + 1);
    } else if (strcmp(args[0], "version") == 0 || strcmp(args[0], "--version") == 0) {
        if (json)
            printf("{\n  \"version\": \"%s\"\n}\n", DMT_VERSION);
        else
            printf("dmt %s\n", DMT_VERSION);
        rc = CLI_EXIT_OK;
    } else if (strcmp(args[0], "serve") == 0) {
        rc = cmd_serve(n, args);
    } else {
        verb_fn fn = find_verb(args[0]);
        if (fn == NULL) {
            fprintf(stderr, "dmt: unknown command %s (see dmt --help)\n", args[0]);
            rc = CLI_EXIT_USAGE;
        } else if (curl_dl_load(&why) != 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            fprintf(stderr, "dmt: cannot initialise libcurl: %s\n", why);
            rc = CLI_EXIT_FAIL;
        } else {
            struct cli cli = {.client = client_new(), .json = json};
            if (cli.client == NULL) {
                fprintf(stderr, "dmt: cannot create an HTTP client\n");
                rc = CLI_EXIT_FAIL;
            } else {
                rc = fn(&cli, n, args);
            }
            client_free(cli.client);
            curl_global_cleanup();
        }
    }
    free(args);
    if (fflush(stdout) != 0 && rc == CLI_EXIT_OK) {
        perror("dmt: cannot write the output");
        rc = CLI_EXIT_FAIL;
    }
    return rc;
}
