/*
 * proc.c - spawning supervised task processes.
 *
 * The child side of proc_spawn() runs between vfork() and execve(), on the
 * memory of a possibly multi-threaded server (the calling thread waits
 * until the exec), so it calls only async-signal-safe functions (or raw
 * system calls), allocates nothing, writes no memory of the parent but its
 * own stack, never returns, and reports failure as a fixed-size record on a
 * close-on-exec pipe: EOF without a record means the exec succeeded.
 * vfork rather than fork: copying the server's page tables for every task
 * cost more than the task itself (bench/dispatch.sh).
 */
#include "exec/proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/util.h"

/* Used when the child's environment has no PATH (what execvp() does). */
#define DEFAULT_PATH "/usr/bin:/bin"

/* The step of the child that failed, sent with errno on the error pipe. */
enum step {
    STEP_SETPGID = 1,
    STEP_STDIN,
    STEP_DUP,
    STEP_CLOSE_FDS,
    STEP_CHDIR,
    STEP_SETGROUPS,
    STEP_SETGID,
    STEP_SETUID,
    STEP_PDEATHSIG,
    STEP_EXEC,
};

struct child_err {
    int step;
    int err;
};

/* Everything the child needs, prepared by the parent before fork(). */
struct child_args {
    const struct proc_opts *opts;
    const char *path; /* PATH of the child's environment, or NULL if file has a '/' */
    int out_w;
    int err_w;
    int ex_w;
    pid_t parent;
};

static void __attribute__((noreturn)) child_fail(int ex_w, int step, int err) {
    struct child_err ce = {step, err};
    ssize_t n;
    do
        n = write(ex_w, &ce, sizeof(ce));
    while (n < 0 && errno == EINTR);
    _exit(127);
}

/* Parses a /proc/self/fd entry name; -1 for "." and "..". */
static int parse_fd(const char *s) {
    int fd = 0;
    if (*s == '\0') return -1;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9' || fd > (INT_MAX - 9) / 10) return -1;
        fd = fd * 10 + (*s - '0');
    }
    return fd;
}

/* Closes every fd >= 3 except keep (which is >= 3). Async-signal-safe. */
static int close_others(int keep) {
#ifdef SYS_close_range
    int r = 0;
    if (keep > 3) r = (int)syscall(SYS_close_range, 3U, (unsigned)keep - 1, 0U);
    if (r == 0) r = (int)syscall(SYS_close_range, (unsigned)keep + 1, ~0U, 0U);
    if (r == 0) return 0;
    if (errno != ENOSYS) return -1;
#endif
    /* Older kernels: walk /proc/self/fd with getdents64 (opendir would
     * allocate), or close blindly up to the fd limit without /proc. */
    int dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        struct rlimit rl;
        long max = 65536;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
            max = (long)rl.rlim_cur;
        for (long fd = 3; fd < max; fd++)
            if (fd != keep) close((int)fd);
        return 0;
    }
    char buf[4096] __attribute__((aligned(8)));
    for (;;) {
        long n = syscall(SYS_getdents64, dfd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            close(dfd);
            return -1;
        }
        if (n == 0) break;
        for (long off = 0; off < n;) {
            struct dirent64 *d = (struct dirent64 *)(buf + off);
            int fd = parse_fd(d->d_name);
            if (fd >= 3 && fd != keep && fd != dfd) close(fd);
            off += d->d_reclen;
        }
    }
    close(dfd);
    return 0;
}

/* execvp() without the shell fallback and with the child's own PATH.
 * Returns the errno to report: EACCES if some candidate was not
 * executable, else ENOENT, or the first error that is not "not here". */
static int exec_search(const char *file, char *const argv[], char *const env[], const char *path) {
    char buf[PATH_MAX];
    size_t flen = strlen(file);
    bool eacces = false;
    if (flen == 0) return ENOENT;
    for (const char *p = path;;) {
        const char *end = strchrnul(p, ':');
        const char *dir = p;
        size_t dlen = (size_t)(end - p);
        if (dlen == 0) { /* an empty entry means the working directory */
            dir = ".";
            dlen = 1;
        }
        if (dlen + 1 + flen + 1 <= sizeof(buf)) {
            memcpy(buf, dir, dlen);
            buf[dlen] = '/';
            memcpy(buf + dlen + 1, file, flen + 1);
            execve(buf, argv, env);
            switch (errno) {
            case EACCES:
                eacces = true;
                break;
            case ENOENT:
            case ENOTDIR:
            case ESTALE:
            case ENODEV:
            case ETIMEDOUT:
            case ELOOP:
            case ENAMETOOLONG:
                break;
            default:
                return errno;
            }
        }
        if (*end == '\0') break;
        p = end + 1;
    }
    return eacces ? EACCES : ENOENT;
}

static void __attribute__((noreturn)) child(struct child_args *a) {
    const struct proc_opts *o = a->opts;

    /* The server's handlers, ignored SIGPIPE and blocked SIGINT/SIGTERM must
     * not reach the task. Every signal is blocked here (the parent blocked
     * them before fork), so no server handler runs in the child meanwhile.
     * glibc refuses to touch the signals it reserves (32, 33), but one of
     * them may arrive ignored from whoever started the server, and an
     * ignored disposition survives exec: reset those with the raw system
     * call. */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        if (sigaction(sig, &sa, NULL) != 0) {
            struct {
                void *handler;
                unsigned long flags;
                void *restorer;
                uint64_t mask;
            } ksa = {SIG_DFL, 0, NULL, 0};
            syscall(SYS_rt_sigaction, sig, &ksa, NULL, sizeof(ksa.mask));
        }
    }

    if (setpgid(0, 0) < 0) child_fail(a->ex_w, STEP_SETPGID, errno);

    int in = o->has_stdin_fd ? o->stdin_fd
                             : open(o->stdin_path != NULL ? o->stdin_path : "/dev/null",
                                    O_RDONLY | O_CLOEXEC);
    if (in < 0) child_fail(a->ex_w, STEP_STDIN, errno);

    /* Move every source above 2 first, so that a dup2() onto 0..2 cannot
     * clobber another source (possible when the server runs with 0..2
     * closed). The error pipe goes first and stays close-on-exec. */
    int *srcs[] = {&a->ex_w, &in, &a->out_w, &a->err_w};
    for (size_t i = 0; i < sizeof(srcs) / sizeof(srcs[0]); i++) {
        if (*srcs[i] > 2) continue;
        int fd = fcntl(*srcs[i], F_DUPFD_CLOEXEC, 3);
        if (fd < 0) child_fail(a->ex_w, STEP_DUP, errno);
        *srcs[i] = fd;
    }
    if (dup2(in, 0) < 0 || dup2(a->out_w, 1) < 0 || dup2(a->err_w, 2) < 0)
        child_fail(a->ex_w, STEP_DUP, errno);
    if (close_others(a->ex_w) < 0) child_fail(a->ex_w, STEP_CLOSE_FDS, errno);

    if (o->cwd != NULL && chdir(o->cwd) < 0) child_fail(a->ex_w, STEP_CHDIR, errno);

    if (o->set_user) {
        if (setgroups(0, NULL) < 0) child_fail(a->ex_w, STEP_SETGROUPS, errno);
        if (setgid(o->gid) < 0) child_fail(a->ex_w, STEP_SETGID, errno);
        if (setuid(o->uid) < 0) child_fail(a->ex_w, STEP_SETUID, errno);
    }

    /* After setuid(): a change of credentials clears the parent-death
     * signal. If the parent died before prctl(), nobody would send it. */
    if (o->die_with_parent) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) child_fail(a->ex_w, STEP_PDEATHSIG, errno);
        if (getppid() != a->parent) _exit(127);
    }

    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    int e;
    if (a->path == NULL) {
        execve(o->file, o->argv, o->env);
        e = errno;
    } else {
        e = exec_search(o->file, o->argv, o->env, a->path);
    }
    child_fail(a->ex_w, STEP_EXEC, e);
}

static void close_fd(int *fd) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

static void reap_blocking(pid_t pid) {
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
}

/* Sets err to DMT_ERR_IO with the message and errno, unless already set. */
static int __attribute__((format(printf, 3, 4)))
spawn_fail(struct dmt_err *err, int sys_errno, const char *fmt, ...) {
    if (err == NULL || err->msg[0] != '\0') return DMT_ERR_IO;
    char msg[sizeof(err->msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    err->sys_errno = sys_errno;
    return dmt_err_set(err, DMT_ERR_IO, "%s", msg);
}

static int child_error(struct dmt_err *err, const struct proc_opts *o, const struct child_err *ce) {
    const char *why = strerror(ce->err);
    switch (ce->step) {
    case STEP_SETPGID:
        return spawn_fail(err, ce->err, "setpgid: %s", why);
    case STEP_STDIN:
        return spawn_fail(err, ce->err, "open %s: %s",
                          o->stdin_path != NULL ? o->stdin_path : "/dev/null", why);
    case STEP_DUP:
        return spawn_fail(err, ce->err, "dup2: %s", why);
    case STEP_CLOSE_FDS:
        return spawn_fail(err, ce->err, "closing inherited fds: %s", why);
    case STEP_CHDIR:
        return spawn_fail(err, ce->err, "chdir %s: %s", o->cwd, why);
    case STEP_SETGROUPS:
        return spawn_fail(err, ce->err, "setgroups: %s", why);
    case STEP_SETGID:
        return spawn_fail(err, ce->err, "setgid %u: %s", (unsigned)o->gid, why);
    case STEP_SETUID:
        return spawn_fail(err, ce->err, "setuid %u: %s", (unsigned)o->uid, why);
    case STEP_PDEATHSIG:
        return spawn_fail(err, ce->err, "prctl(PR_SET_PDEATHSIG): %s", why);
    case STEP_EXEC:
        return spawn_fail(err, ce->err, "exec %s: %s", o->file, why);
    default:
        return spawn_fail(err, ce->err, "spawn %s: %s", o->file, why);
    }
}

/* The PATH the child searches: its own environment's, never ours. */
static const char *env_path(char *const *env) {
    for (; *env != NULL; env++)
        if (strncmp(*env, "PATH=", 5) == 0) return *env + 5;
    return DEFAULT_PATH;
}

int proc_spawn(struct proc *p, const struct proc_opts *opts, struct dmt_err *err) {
    dmt_assert(p != NULL && opts != NULL);
    dmt_assert(opts->file != NULL && opts->argv != NULL && opts->env != NULL);

    int out[2] = {-1, -1}, errp[2] = {-1, -1}, ex[2] = {-1, -1};
    int rc = DMT_OK;
    pid_t pid = -1;
    p->pid = 0;
    p->pidfd = p->out_fd = p->err_fd = -1;

    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 || pipe2(ex, O_CLOEXEC) < 0) {
        rc = spawn_fail(err, errno, "pipe: %s", strerror(errno));
        goto out;
    }
    /* O_NONBLOCK is per open file description: the read ends only, the
     * child's stdout and stderr stay blocking. */
    if (fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK) < 0 ||
        fcntl(errp[0], F_SETFL, fcntl(errp[0], F_GETFL) | O_NONBLOCK) < 0) {
        rc = spawn_fail(err, errno, "fcntl: %s", strerror(errno));
        goto out;
    }
    /* A larger stdout pipe lets a chatty task write on while the server is
     * storing the previous piece (fewer wake-ups and reads); best effort,
     * the default 64 KiB works too. */
    fcntl(out[0], F_SETPIPE_SZ, 1 << 20);

    struct child_args a = {
        .opts = opts,
        .path = strchr(opts->file, '/') != NULL ? NULL : env_path(opts->env),
        .out_w = out[1],
        .err_w = errp[1],
        .ex_w = ex[1],
        .parent = getpid(),
    };

    /* Block every signal across vfork() so that no server handler runs in
     * the child before it resets the dispositions. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid = vfork();
    int fork_errno = errno;
    if (pid == 0) child(&a);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        rc = spawn_fail(err, fork_errno, "vfork: %s", strerror(fork_errno));
        goto out;
    }
    /* Also set in the child; whichever runs first wins the race. EACCES
     * (the child already exec'd) and ESRCH (it already exited) are fine. */
    setpgid(pid, pid);

    close_fd(&out[1]);
    close_fd(&errp[1]);
    close_fd(&ex[1]);

    /* Blocks until the child execs or exits, which it does promptly. */
    struct child_err ce;
    size_t got = 0;
    for (;;) {
        ssize_t n = read(ex[0], (char *)&ce + got, sizeof(ce) - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
        if (got == sizeof(ce)) break;
    }
    if (got > 0) {
        if (got < sizeof(ce)) ce = (struct child_err){0, EIO};
        reap_blocking(pid);
        pid = -1;
        rc = child_error(err, opts, &ce);
        goto out;
    }

    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0U);
    if (pidfd < 0 && errno != ENOSYS) {
        int e = errno;
        kill(-pid, SIGKILL);
        reap_blocking(pid);
        pid = -1;
        rc = spawn_fail(err, e, "pidfd_open: %s", strerror(e));
        goto out;
    }

    p->pid = pid;
    p->pidfd = pidfd;
    p->out_fd = out[0];
    p->err_fd = errp[0];
    out[0] = errp[0] = -1;

out:
    close_fd(&out[0]);
    close_fd(&out[1]);
    close_fd(&errp[0]);
    close_fd(&errp[1]);
    close_fd(&ex[0]);
    close_fd(&ex[1]);
    return rc;
}

int proc_kill_group(const struct proc *p, int sig) {
    /* kill(0) or kill(-1) would signal our own group or every process. */
    if (p->pid <= 1) {
        errno = ESRCH;
        return -1;
    }
    return kill(-p->pid, sig);
}

int proc_reap(struct proc *p, int *exit_code, int *term_signal, bool *core_dumped) {
    siginfo_t si;
    int r;
    memset(&si, 0, sizeof(si));
    do {
        if (p->pidfd >= 0)
            r = waitid(P_PIDFD, (id_t)p->pidfd, &si, WEXITED | WNOHANG);
        else
            r = waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r < 0) return -1;
    if (si.si_pid == 0) return 0; /* WNOHANG: still running */

    int code = -1, sig = 0;
    bool core = false;
    switch (si.si_code) {
    case CLD_EXITED:
        code = si.si_status;
        break;
    case CLD_DUMPED:
        core = true;
        /* fall through */
    case CLD_KILLED:
        sig = si.si_status;
        break;
    }
    if (exit_code != NULL) *exit_code = code;
    if (term_signal != NULL) *term_signal = sig;
    if (core_dumped != NULL) *core_dumped = core;
    close_fd(&p->pidfd);
    return 1;
}

void proc_close(struct proc *p) {
    close_fd(&p->out_fd);
    close_fd(&p->err_fd);
    close_fd(&p->pidfd);
}
