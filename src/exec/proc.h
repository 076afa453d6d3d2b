/*
 * proc.h - spawning supervised task processes (libuv's interface, nginx's
 * supervision).
 *
 * proc_spawn() starts a program in its own process group, with an
 * environment built from scratch, stdin from a file, stdout and stderr on
 * non-blocking pipes, and no other inherited file descriptor. It returns a
 * pidfd, so the caller's event loop learns of the exit without signals.
 * Failure to exec comes back through a close-on-exec pipe: if proc_spawn
 * fails, no process is left behind.
 */
#ifndef DMT_PROC_H
#define DMT_PROC_H

#include <stdbool.h>
#include <sys/types.h>

#include "core/status.h"

struct proc_opts {
    const char *file;         /* the program (absolute path, or searched in the child's PATH) */
    char *const *argv;        /* NULL-terminated; argv[0] is the program name */
    char *const *env;         /* NULL-terminated "K=V"; the whole environment */
    const char *cwd;          /* working directory, or NULL */
    const char *stdin_path;   /* file opened read-only as stdin, or NULL for /dev/null */
    int stdin_fd;             /* with has_stdin_fd: this fd (at its current offset) is stdin */
    bool has_stdin_fd;
    bool die_with_parent;     /* PR_SET_PDEATHSIG(SIGKILL): call from a long-lived thread */
    uid_t uid;                /* run as this user when set_user, else as ourselves */
    gid_t gid;
    bool set_user;
};

struct proc {
    pid_t pid;      /* also the process group id */
    int pidfd;      /* readable when the process has exited; -1 if the kernel lacks pidfd */
    int out_fd;     /* read end of stdout, non-blocking, close-on-exec */
    int err_fd;     /* read end of stderr, non-blocking, close-on-exec */
};

/*
 * Starts the process. On DMT_OK, p holds the pid, pidfd and pipe ends, all
 * owned by the caller (close them; reap with proc_reap). On failure (exec
 * failed, bad cwd, fork failed) nothing is left running, no fd is left
 * open, and err says why (e.g. "exec /x/run: No such file or directory").
 */
int proc_spawn(struct proc *p, const struct proc_opts *opts, struct dmt_err *err);

/* Sends sig to the whole process group of p (the task and its children).
 * Returns 0, or -1 with errno (ESRCH: nothing left). */
int proc_kill_group(const struct proc *p, int sig);

/*
 * Reaps p if it has exited: returns 1 and fills *exit_code (0..255, or -1)
 * and *term_signal (0 or the signal that killed it), and whether it dumped
 * core; returns 0 if it is still running (never blocks); -1 on error.
 * Retries on EINTR. Closes p->pidfd once reaped.
 */
int proc_reap(struct proc *p, int *exit_code, int *term_signal, bool *core_dumped);

/* Closes every fd p still holds (pipes, pidfd). Safe to call twice. */
void proc_close(struct proc *p);

#endif
