/*
 * mhd_min.c - the ceiling of the API benchmark (DESIGN.md §10).
 *
 * A minimal libmicrohttpd server that answers every request with the same
 * 1 KB JSON body. It uses the threading dmt serve uses (an internal epoll
 * thread pool of 2) and one persistent response shared by every request, so
 * what it measures is libmicrohttpd plus the kernel on this machine: the
 * most any MHD-based server can answer here. bench/api.sh compares dmt's
 * GET /api/v1/jobs with it.
 *
 *   mhd_min [PORT]    listen on 127.0.0.1:PORT (default 0: any free port)
 *
 * Prints "port N" on stdout once it listens, then serves until SIGINT or
 * SIGTERM.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if MHD_VERSION >= 0x00097002
#define MHD_RESULT enum MHD_Result
#else
#define MHD_RESULT int
#endif

#define BODY_SIZE 1024

static char body[BODY_SIZE + 1];
static struct MHD_Response *response;

/* Fills body with a JSON list of job-like objects, padded to exactly
 * BODY_SIZE bytes, so the ceiling sends what an API sends. */
static void make_body(void) {
    const char *tail = "],\"next\":null,\"pad\":\"";
    size_t n = (size_t)snprintf(body, sizeof(body), "{\"items\":[");
    for (int i = 1;; i++) {
        char item[160];
        int len = snprintf(item, sizeof(item),
                           "%s{\"id\":%d,\"name\":\"job-%d\",\"description\":\"\","
                           "\"version\":1}",
                           i > 1 ? "," : "", i, i);
        /* Leave room for the tail, the closing "} and a little padding. */
        if (n + (size_t)len + strlen(tail) + 2 > BODY_SIZE) break;
        memcpy(body + n, item, (size_t)len);
        n += (size_t)len;
    }
    memcpy(body + n, tail, strlen(tail));
    n += strlen(tail);
    while (n < BODY_SIZE - 2) body[n++] = 'x';
    memcpy(body + n, "\"}", 2);
    body[BODY_SIZE] = '\0';
}

static MHD_RESULT answer(void *cls, struct MHD_Connection *conn, const char *url,
                         const char *method, const char *version,
                         const char *upload_data, size_t *upload_data_size,
                         void **req_cls) {
    static int seen;
    (void)cls, (void)url, (void)method, (void)version, (void)upload_data;
    /* The first call only announces the request: answering there counts as
     * an early answer, after which libmicrohttpd closes the connection. A
     * body, if any, is read and dropped; the answer is queued on the last
     * call (*upload_data_size == 0), as a real server does. */
    if (*req_cls == NULL) {
        *req_cls = &seen;
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    return MHD_queue_response(conn, MHD_HTTP_OK, response);
}

int main(int argc, char **argv) {
    unsigned long port = 0;
    if (argc > 2 || (argc == 2 && (port = strtoul(argv[1], NULL, 10)) > 65535)) {
        fprintf(stderr, "usage: mhd_min [PORT]\n");
        return 2;
    }

    /* Block the signals before MHD starts its threads, so that they inherit
     * the mask and only sigwait below receives them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    make_body();
    response = MHD_create_response_from_buffer(BODY_SIZE, body, MHD_RESPMEM_PERSISTENT);
    if (response == NULL ||
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                                "application/json") != MHD_YES) {
        fprintf(stderr, "mhd_min: cannot create the response\n");
        return 1;
    }

    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG,
        (uint16_t)port, NULL, NULL, answer, NULL,
        MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)2,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30,
        MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "mhd_min: cannot listen on 127.0.0.1:%lu\n", port);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("port %u\n", info != NULL ? (unsigned)info->port : (unsigned)port);
    fflush(stdout);

    int sig = 0;
    while (sigwait(&set, &sig) == 0 && sig == SIGPIPE) {
    }

    MHD_stop_daemon(d);
    MHD_destroy_response(response);
    return 0;
}
