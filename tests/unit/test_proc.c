/* test_proc.c - spawning, exec errors, process groups and reaping (proc.c). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exec/proc.h"

#define TIMEOUT_MS 5000

static char *const BASE_ENV[] = {"PATH=/usr/bin:/bin", NULL};

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Output of one run; out and err are NUL-terminated, truncated at the cap. */
struct result {
    char out[8192];
    size_t out_len; /* bytes read, even past the cap */
    char err[8192];
    size_t err_len;
    int code;
    int sig;
    bool core;
};

static void take(int *fd, char *buf, size_t cap, size_t *len) {
    char tmp[4096];
    for (;;) {
        ssize_t n = read(*fd, tmp, sizeof(tmp));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            cr_assert_eq(errno, EAGAIN, "read: %s", strerror(errno));
            return;
        }
        if (n == 0) {
            close(*fd);
            *fd = -1;
            return;
        }
        size_t room = *len < cap - 1 ? cap - 1 - *len : 0;
        memcpy(buf + *len, tmp, (size_t)n < room ? (size_t)n : room);
        *len += (size_t)n;
        buf[*len < cap - 1 ? *len : cap - 1] = '\0';
    }
}

/* Reads both pipes to EOF, then waits on the pidfd and reaps; all bounded. */
static void finish(struct proc *p, struct result *r) {
    long long deadline = now_ms() + TIMEOUT_MS;
    r->out[0] = r->err[0] = '\0';
    while (p->out_fd >= 0 || p->err_fd >= 0) {
        struct pollfd pf[2] = {{p->out_fd, POLLIN, 0}, {p->err_fd, POLLIN, 0}};
        int left = (int)(deadline - now_ms());
        cr_assert_gt(left, 0, "timed out reading the child's output");
        int n = poll(pf, 2, left);
        if (n < 0 && errno == EINTR) continue;
        cr_assert_geq(n, 0);
        if (pf[0].revents) take(&p->out_fd, r->out, sizeof(r->out), &r->out_len);
        if (pf[1].revents) take(&p->err_fd, r->err, sizeof(r->err), &r->err_len);
    }
    cr_assert_geq(p->pidfd, 0, "this kernel has pidfd");
    struct pollfd pf = {p->pidfd, POLLIN, 0};
    int n;
    do
        n = poll(&pf, 1, TIMEOUT_MS);
    while (n < 0 && errno == EINTR);
    cr_assert_eq(n, 1, "timed out waiting for the exit");
    cr_assert_eq(proc_reap(p, &r->code, &r->sig, &r->core), 1);
    cr_assert_eq(p->pidfd, -1, "pidfd closed once reaped");
    proc_close(p);
}

static void run_ok(const struct proc_opts *o, struct result *r) {
    struct proc p;
    struct dmt_err err;
    dmt_err_init(&err);
    int rc = proc_spawn(&p, o, &err);
    cr_assert_eq(rc, DMT_OK, "spawn %s: %s", o->file, err.msg);
    memset(r, 0, sizeof(*r));
    finish(&p, r);
    dmt_err_cleanup(&err);
}

/* Spawning must fail with DMT_ERR_IO and exactly this message. */
static void spawn_fails(const struct proc_opts *o, const char *msg) {
    struct proc p;
    struct dmt_err err;
    dmt_err_init(&err);
    cr_assert_eq(proc_spawn(&p, o, &err), DMT_ERR_IO);
    cr_assert_str_eq(err.msg, msg);
    cr_assert_neq(err.sys_errno, 0);
    cr_assert_eq(p.pidfd, -1);
    cr_assert_eq(p.out_fd, -1);
    cr_assert_eq(p.err_fd, -1);
    /* No zombie and no running child left behind. */
    errno = 0;
    cr_assert_eq(waitpid(-1, NULL, WNOHANG), -1);
    cr_assert_eq(errno, ECHILD);
    proc_close(&p);
    dmt_err_cleanup(&err);
}

/* True once pid has exited: gone, or a zombie of some other parent. */
static bool pid_dead(pid_t pid) {
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) return true;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *rp = strrchr(buf, ')');
    return rp == NULL || rp[1] == '\0' || rp[2] == 'Z' || rp[2] == 'X';
}

static bool wait_dead(pid_t pid) {
    for (long long end = now_ms() + TIMEOUT_MS; now_ms() < end; sleep_ms(10))
        if (pid_dead(pid)) return true;
    return false;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++)
        if (*s == '\n') n++;
    return n;
}

Test(proc, stdout_stderr_and_exit_code) {
    char *argv[] = {"sh", "-c", "echo out; echo err >&2; echo more; exit 3", NULL};
    struct proc_opts o = {.file = "/bin/sh", .argv = argv, .env = BASE_ENV};
    struct result r;
    run_ok(&o, &r);
    cr_assert_str_eq(r.out, "out\nmore\n");
    cr_assert_str_eq(r.err, "err\n");
    cr_assert_eq(r.code, 3);
    cr_assert_eq(r.sig, 0);
    cr_assert_not(r.core);
}

Test(proc, argv_is_passed_as_given) {
    char *argv[] = {"my-name", "-c", "printf '[%s]\\n' \"$0\" \"$@\"", "arg0", "a", "b c",
                    "",        NULL};
    struct proc_opts o = {.file = "/bin/sh", .argv = argv, .env = BASE_ENV};
    struct result r;
    run_ok(&o, &r);
    cr_assert_str_eq(r.out, "[arg0]\n[a]\n[b c]\n[]\n");
    cr_assert_eq(r.code, 0);
}

Test(proc, env_is_exactly_what_was_given) {
    setenv("DMT_TEST_SECRET", "leak", 1);
    char *env[] = {"A=1", "PATH=/usr/bin:/bin", NULL};
    char *argv[] = {"env", NULL};
    struct proc_opts o = {.file = "/usr/bin/env", .argv = argv, .env = env};
    struct result r;
    run_ok(&o, &r);
    cr_assert_str_eq(r.out, "A=1\nPATH=/usr/bin:/bin\n");
    cr_assert_eq(r.code, 0);
}

Test(proc, empty_env) {
    char *env[] = {NULL};
    char *argv[] = {"env", NULL};
    struct proc_opts o = {.file = "/usr/bin/env", .argv = argv, .env = env};
    struct result r;
    run_ok(&o, &r);
    cr_assert_str_eq(r.out, "");
    cr_assert_eq(r.code, 0);
}

Test(proc, path_is_searched_in_the_childs_env) {
    char *argv[] = {"env", NULL};
    struct proc_opts o = {.file = "env", .argv = argv, .env = BASE_ENV};
    struct result r;
    run_ok(&o, &r);
    cr_assert_str_eq(r.out, "PATH=/usr/bin:/bin\n");

    /* Our own PATH finds env; the child's must not. */
    char *env[] = {"PATH=/nonexistent:/also-not", NULL};
    o.env = env;
    spawn_fails(&o, "exec env: No such file or directory");
}

Test(proc, path_search_skips_non_executables) {
    char dir[] = "/tmp/dmt-proc-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char d1[128], d2[128], f1[160], f2[160], path[300];
    snprintf(d1, sizeof(d1), "%s/a", dir);
    snprintf(d2, sizeof(d2), "%s/b", dir);
    snprintf(f1, sizeof(f1), "%s/prog", d1);
    snprintf(f2, sizeof(f2), "%s/prog", d2);
    cr_assert_eq(mkdir(d1, 0755), 0);
    cr_assert_eq(mkdir(d2, 0755), 0);
    FILE *f = fopen(f1, "w");
    fputs("#!/bin/sh\necho one\n", f);
    fclose(f);
    chmod(f1, 0644);
    f = fopen(f2, "w");
    fputs("#!/bin/sh\necho two\n", f);
    fclose(f);
    chmod(f2, 0755);

    snprintf(path, sizeof(path), "PATH=%s:%s", d1, d2);
    char *env[] = {path, NULL};
    char *argv[] = {"prog", NULL};
    struct proc_opts o = {.file = "prog", .argv = argv, .env = env};
    struct result r;
    run_ok(&o, &r);
    cr_assert_str_eq(r.out, "two\n");

    snprintf(path, sizeof(path), "PATH=%s", d1);
    spawn_fails(&o, "exec prog: Permission denied");

    /* An absolute path is not searched, and not run by a shell. */
    o.file = f1;
    char msg[256];
    snprintf(msg, sizeof(msg), "exec %s: Permission denied", f1);
    spawn_fails(&o, msg);

    unlink(f1);
    unlink(f2);
    rmdir(d1);
    rmdir(d2);
    rmdir(dir);
}

Test(proc, stdin_from_file_or_dev_null) {
    char path[] = "/tmp/dmt-proc-in-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "{\"x\": 1}\n", 9), 9);
    close(fd);

    char *argv[] = {"cat", NULL};
    struct proc_opts o = {.file = "/bin/cat", .argv = argv, .env = BASE_ENV, .stdin_path = path};
    struct result r;
    run_ok(&o, &r);
    cr_assert_str_eq(r.out, "{\"x\": 1}\n");
    cr_assert_eq(r.code, 0);

    o.stdin_path = NULL;
    run_ok(&o, &r);
    cr_assert_str_eq(r.out, "");
    cr_assert_eq(r.code, 0);
    unlink(path);

    o.stdin_path = "/nope/input.json";
    spawn_fails(&o, "open /nope/input.json: No such file or directory");
}

Test(proc, cwd) {
    char *argv[] = {"sh", "-c", "pwd -P", NULL};
    struct proc_opts o = {.file = "/bin/sh", .argv = argv, .env = BASE_ENV, .cwd = "/"};
    struct result r;
    run_ok(&o, &r);
    cr_assert_str_eq(r.out, "/\n");

    char dir[] = "/tmp/dmt-proc-cwd-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char real[4096], want[4200];
    cr_assert_not_null(realpath(dir, real));
    snprintf(want, sizeof(want), "%s\n", real);
    o.cwd = dir;
    run_ok(&o, &r);
    cr_assert_str_eq(r.out, want);
    rmdir(dir);
}

Test(proc, bad_cwd_fails) {
    char *argv[] = {"sh", "-c", "exit 0", NULL};
    struct proc_opts o = {.file = "/bin/sh", .argv = argv, .env = BASE_ENV, .cwd = "/nope"};
    spawn_fails(&o, "chdir /nope: No such file or directory");
}

Test(proc, missing_program_fails_without_zombie) {
    char *argv[] = {"run", NULL};
    struct proc_opts o = {.file = "/x/run", .argv = argv, .env = BASE_ENV};
    spawn_fails(&o, "exec /x/run: No such file or directory");
    o.file = "";
    spawn_fails(&o, "exec : No such file or directory");
}

Test(proc, own_group_reap_and_kill) {
    char *argv[] = {"sleep", "100", NULL};
    struct proc_opts o = {.file = "/bin/sleep", .argv = argv, .env = BASE_ENV};
    struct proc p;
    struct dmt_err err;
    dmt_err_init(&err);
    cr_assert_eq(proc_spawn(&p, &o, &err), DMT_OK, "%s", err.msg);
    cr_assert_gt(p.pid, 1);
    cr_assert_eq(getpgid(p.pid), p.pid, "the task leads its own process group");

    int code = 99, sig = 99;
    bool core = true;
    cr_assert_eq(proc_reap(&p, &code, &sig, &core), 0, "still running");
    cr_assert_eq(code, 99, "untouched while running");
    cr_assert_geq(p.pidfd, 0);

    cr_assert_eq(proc_kill_group(&p, SIGKILL), 0);
    struct pollfd pf = {p.pidfd, POLLIN, 0};
    cr_assert_eq(poll(&pf, 1, TIMEOUT_MS), 1);
    cr_assert_eq(proc_reap(&p, &code, &sig, &core), 1);
    cr_assert_eq(code, -1);
    cr_assert_eq(sig, SIGKILL);
    cr_assert_not(core);
    cr_assert_eq(p.pidfd, -1);
    proc_close(&p);
    proc_close(&p); /* safe twice */
    cr_assert_eq(p.out_fd, -1);
    cr_assert_eq(p.err_fd, -1);
}

Test(proc, kill_group_reaches_grandchildren) {
    char *argv[] = {"sh", "-c", "sleep 100 & echo $!; wait", NULL};
    struct proc_opts o = {.file = "/bin/sh", .argv = argv, .env = BASE_ENV};
    struct proc p;
    struct dmt_err err;
    dmt_err_init(&err);
    cr_assert_eq(proc_spawn(&p, &o, &err), DMT_OK, "%s", err.msg);

    /* Read the grandchild's pid line. */
    char line[64] = "";
    size_t len = 0;
    for (long long end = now_ms() + TIMEOUT_MS; !strchr(line, '\n');) {
        int left = (int)(end - now_ms());
        cr_assert_gt(left, 0, "no pid from the script");
        struct pollfd pf = {p.out_fd, POLLIN, 0};
        if (poll(&pf, 1, left) <= 0) continue;
        ssize_t n = read(p.out_fd, line + len, sizeof(line) - 1 - len);
        cr_assert_gt(n, 0);
        len += (size_t)n;
        line[len] = '\0';
    }
    pid_t gc = (pid_t)atoi(line);
    cr_assert_gt(gc, 1);
    cr_assert_eq(getpgid(gc), p.pid, "the grandchild is in the task's group");
    cr_assert_not(pid_dead(gc));

    cr_assert_eq(proc_kill_group(&p, SIGKILL), 0);
    struct result r;
    finish(&p, &r);
    cr_assert_eq(r.sig, SIGKILL);
    cr_assert(wait_dead(gc), "grandchild %d survived the group kill", (int)gc);
    /* It was reparented, so it is not ours to reap. */
    errno = 0;
    cr_assert_eq(waitpid(-1, NULL, WNOHANG), -1);
    cr_assert_eq(errno, ECHILD);

    /* Nothing left in the group. */
    errno = 0;
    if (proc_kill_group(&p, 0) == 0) {
        /* A zombie grandchild still counts until its new parent reaps it. */
        cr_assert(pid_dead(gc));
    } else {
        cr_assert_eq(errno, ESRCH);
    }
}

Test(proc, no_fd_leaks_into_the_child) {
    /* A stray fd without close-on-exec, low and high. */
    int stray = open("/dev/null", O_RDONLY);
    cr_assert_geq(stray, 0);
    cr_assert_eq(dup2(stray, 100), 100);

    char *argv[] = {"sh", "-c", "ls /proc/self/fd", NULL};
    struct proc_opts o = {.file = "/bin/sh", .argv = argv, .env = BASE_ENV};
    struct result r;
    run_ok(&o, &r);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert_leq(count_lines(r.out), 4, "fds in the child:\n%s", r.out);
    cr_assert(strncmp(r.out, "0\n1\n2\n", 6) == 0, "fds in the child:\n%s", r.out);
    close(stray);
    close(100);
}

Test(proc, parent_fds_are_cloexec_and_nonblocking) {
    char *argv[] = {"sh", "-c", "exit 0", NULL};
    struct proc_opts o = {.file = "/bin/sh", .argv = argv, .env = BASE_ENV};
    struct proc p;
    struct dmt_err err;
    dmt_err_init(&err);
    cr_assert_eq(proc_spawn(&p, &o, &err), DMT_OK, "%s", err.msg);
    int fds[] = {p.out_fd, p.err_fd, p.pidfd};
    for (int i = 0; i < 3; i++) {
        cr_assert_geq(fds[i], 0);
        cr_assert(fcntl(fds[i], F_GETFD) & FD_CLOEXEC, "fd %d is close-on-exec", fds[i]);
    }
    cr_assert(fcntl(p.out_fd, F_GETFL) & O_NONBLOCK);
    cr_assert(fcntl(p.err_fd, F_GETFL) & O_NONBLOCK);
    struct result r;
    finish(&p, &r);
    cr_assert_eq(r.code, 0);
}

Test(proc, signals_are_reset_in_the_child) {
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    cr_assert_eq(sigprocmask(SIG_BLOCK, &set, NULL), 0);

    char *argv[] = {"grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status", NULL};
    struct proc_opts o = {.file = "/bin/grep", .argv = argv, .env = BASE_ENV};
    struct result r;
    run_ok(&o, &r);
    cr_assert_str_eq(r.out, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");

    /* Our own mask is restored after the spawn. */
    sigset_t now;
    sigprocmask(SIG_SETMASK, NULL, &now);
    cr_assert(sigismember(&now, SIGTERM));
    cr_assert_not(sigismember(&now, SIGUSR1));
}

Test(proc, large_output_does_not_block) {
    char *argv[] = {"sh", "-c", "head -c 1000000 /dev/zero; head -c 300000 /dev/zero >&2", NULL};
    struct proc_opts o = {.file = "/bin/sh", .argv = argv, .env = BASE_ENV};
    struct result r;
    run_ok(&o, &r);
    cr_assert_eq(r.out_len, 1000000);
    cr_assert_eq(r.err_len, 300000);
    cr_assert_eq(r.code, 0);
}

Test(proc, set_user) {
    if (geteuid() != 0) cr_skip_test("needs root");
    char *argv[] = {"sh", "-c", "id -u; id -g; id -G", NULL};
    struct proc_opts o = {.file = "/bin/sh",
                          .argv = argv,
                          .env = BASE_ENV,
                          .cwd = "/",
                          .set_user = true,
                          .uid = 65534,
                          .gid = 65534};
    struct result r;
    run_ok(&o, &r);
    cr_assert_str_eq(r.out, "65534\n65534\n65534\n");
}

Test(proc, dies_with_parent) {
    int pfd[2];
    cr_assert_eq(pipe(pfd), 0);
    pid_t mid = fork();
    cr_assert_geq(mid, 0);
    if (mid == 0) {
        char *argv[] = {"sleep", "100", NULL};
        struct proc_opts o = {
            .file = "/bin/sleep", .argv = argv, .env = BASE_ENV, .die_with_parent = true};
        struct proc p;
        pid_t pid = -1;
        if (proc_spawn(&p, &o, NULL) == DMT_OK) pid = p.pid;
        ssize_t n = write(pfd[1], &pid, sizeof(pid));
        _exit(n == sizeof(pid) ? 0 : 1);
    }
    close(pfd[1]);
    pid_t gc = -1;
    cr_assert_eq(read(pfd[0], &gc, sizeof(gc)), sizeof(gc));
    close(pfd[0]);
    cr_assert_gt(gc, 1, "spawn in the middle process failed");
    int st;
    cr_assert_eq(waitpid(mid, &st, 0), mid);
    cr_assert(wait_dead(gc), "task %d outlived its parent", (int)gc);
}

Test(proc, kill_group_without_a_process) {
    struct proc p = {.pid = 0, .pidfd = -1, .out_fd = -1, .err_fd = -1};
    errno = 0;
    cr_assert_eq(proc_kill_group(&p, 0), -1);
    cr_assert_eq(errno, ESRCH);
}
