#define _GNU_SOURCE
#include "edge_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Lowest descriptor used for the child's temporary copies, above the four it hands on. */
#define EDGE_SPAWN_HIGH_FD 64

struct edge_spawn_failure {
    int step;
    int error_number;
};

/* Child only: report a failed step to the parent and exit. Async-signal-safe. */
static void edge_spawn_fail(int report_fd, int step) {
    struct edge_spawn_failure failure = {step, errno};
    ssize_t ignored = write(report_fd, &failure, sizeof failure);
    (void)ignored;
    _exit(127);
}

/* Child only: close every descriptor from `first` up, but `keep`. */
static void edge_spawn_close_from(int first, int keep) {
    if (keep > first) {
        if (syscall(SYS_close_range, (unsigned)first, (unsigned)(keep - 1), 0) != 0) {
            for (int fd = first; fd < keep; fd++) close(fd);
        }
    }
    int from = keep >= first ? keep + 1 : first;
    if (syscall(SYS_close_range, (unsigned)from, ~0U, 0) != 0) {
        struct rlimit limit;
        long top = getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY ? (long)limit.rlim_cur : 65536;
        for (long fd = from; fd < top; fd++) close((int)fd);
    }
}

/* Child only: everything between fork and exec. Never returns. */
static void edge_spawn_child(const struct edge_spawn_request *request, int report_fd) {
    /* Move the report pipe out of the way of descriptors 0-3. */
    int report = fcntl(report_fd, F_DUPFD_CLOEXEC, EDGE_SPAWN_HIGH_FD);
    if (report < 0) edge_spawn_fail(report_fd, EDGE_SPAWN_STEP_FDS);

    sigset_t empty;
    sigemptyset(&empty);
    struct sigaction default_action;
    memset(&default_action, 0, sizeof default_action);
    default_action.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        (void)sigaction(sig, &default_action, NULL); /* EINVAL for the realtime signals libc reserves */
    }
    if (sigprocmask(SIG_SETMASK, &empty, NULL) != 0) edge_spawn_fail(report, EDGE_SPAWN_STEP_SIGNALS);

    if (setsid() < 0) edge_spawn_fail(report, EDGE_SPAWN_STEP_SETSID);

    /* Join the cgroups before anything is allocated or exec'd, so nothing escapes their limits. */
    for (int i = 0; i < request->cgroup_count && i < EDGE_SPAWN_MAX_CGROUPS; i++) {
        if (write(request->cgroup_procs_fds[i], "0", 1) != 1) edge_spawn_fail(report, EDGE_SPAWN_STEP_CGROUP);
    }

    /* Copy the sources high first, so that dup2 onto 0-3 cannot clobber one still needed. */
    int sources[4] = {request->stdin_fd, request->stdout_fd, request->stderr_fd, request->runtime_fd};
    int copies[4];
    for (int i = 0; i < 4; i++) {
        copies[i] = -1;
        if (sources[i] < 0) continue;
        copies[i] = fcntl(sources[i], F_DUPFD, EDGE_SPAWN_HIGH_FD);
        if (copies[i] < 0) edge_spawn_fail(report, EDGE_SPAWN_STEP_FDS);
    }
    for (int i = 0; i < 4; i++) {
        if (copies[i] < 0) continue;
        if (dup2(copies[i], i) < 0) edge_spawn_fail(report, EDGE_SPAWN_STEP_FDS);
    }
    edge_spawn_close_from(request->runtime_fd >= 0 ? 4 : 3, report);

    if (request->cwd != NULL && chdir(request->cwd) != 0) edge_spawn_fail(report, EDGE_SPAWN_STEP_CHDIR);

    /* rlimits after the descriptors are in place (a low RLIMIT_NOFILE would refuse the high copies),
       before the identity switch (an unprivileged process could not raise a hard limit) and exec. */
    for (int i = 0; i < request->rlimit_count && i < EDGE_SPAWN_MAX_RLIMITS; i++) {
        struct rlimit limit = {(rlim_t)request->rlimits[i].soft, (rlim_t)request->rlimits[i].hard};
        if (setrlimit(request->rlimits[i].resource, &limit) != 0) edge_spawn_fail(report, EDGE_SPAWN_STEP_RLIMIT);
    }

    if (request->set_ids) {
        gid_t groups[EDGE_SPAWN_MAX_GROUPS];
        int count = request->group_count > 0 && request->group_count <= EDGE_SPAWN_MAX_GROUPS ? request->group_count : 0;
        for (int i = 0; i < count; i++) groups[i] = (gid_t)request->groups[i];
        if (count == 0) {
            groups[0] = (gid_t)request->gid;
            count = 1;
        }
        if (setgroups((size_t)count, groups) != 0) edge_spawn_fail(report, EDGE_SPAWN_STEP_SETGROUPS);
        if (setresgid(request->gid, request->gid, request->gid) != 0) edge_spawn_fail(report, EDGE_SPAWN_STEP_SETGID);
        if (setresuid(request->uid, request->uid, request->uid) != 0) edge_spawn_fail(report, EDGE_SPAWN_STEP_SETUID);
    }
    if (request->set_umask) (void)umask((mode_t)(request->umask_bits & 0777));
    if (request->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        edge_spawn_fail(report, EDGE_SPAWN_STEP_NO_NEW_PRIVS);
    }
    if (request->parent_death_signal > 0) {
        if (prctl(PR_SET_PDEATHSIG, request->parent_death_signal, 0, 0, 0) != 0) edge_spawn_fail(report, EDGE_SPAWN_STEP_PDEATHSIG);
        /* The agent may have died before the signal was armed: then nobody would ever send it. */
        if (request->parent > 0 && getppid() != request->parent) _exit(127);
    }
    execve(request->path, request->argv, request->envp);
    edge_spawn_fail(report, EDGE_SPAWN_STEP_EXEC);
}

/* Forks; the child sets itself up and execs. Returns the read end of its report pipe
   (close-on-exec, blocking) with *pid set, or -1 with the failure. */
static int edge_spawn_fork(const struct edge_spawn_request *request, pid_t *pid, int *failed_step, int *error_number) {
    int report[2];
    *failed_step = EDGE_SPAWN_STEP_NONE;
    *error_number = 0;
    if (pipe2(report, O_CLOEXEC) != 0) {
        *failed_step = EDGE_SPAWN_STEP_FORK;
        *error_number = errno;
        return -1;
    }
    pid_t child = fork();
    if (child < 0) {
        *failed_step = EDGE_SPAWN_STEP_FORK;
        *error_number = errno;
        close(report[0]);
        close(report[1]);
        return -1;
    }
    if (child == 0) {
        close(report[0]);
        edge_spawn_child(request, report[1]);
    }
    close(report[1]);
    *pid = child;
    return report[0];
}

int edge_spawn(const struct edge_spawn_request *request, pid_t *pid, int *failed_step, int *error_number) {
    pid_t child;
    int report = edge_spawn_fork(request, &child, failed_step, error_number);
    if (report < 0) return -1;
    /* Blocking: the pipe reaches end of file at the exec, or carries the failure first. */
    int outcome = edge_spawn_outcome(report, failed_step, error_number);
    close(report);
    if (outcome < 0) {
        /* The child reported a failure and exits: reap it here so no zombie is left. */
        while (waitpid(child, NULL, 0) < 0 && errno == EINTR) {}
        return -1;
    }
    *pid = child;
    return 0;
}

int edge_spawn_start(const struct edge_spawn_request *request, pid_t *pid, int *report_fd, int *failed_step, int *error_number) {
    int report = edge_spawn_fork(request, pid, failed_step, error_number);
    if (report < 0) return -1;
    (void)fcntl(report, F_SETFL, fcntl(report, F_GETFL) | O_NONBLOCK);
    *report_fd = report;
    return 0;
}

int edge_spawn_outcome(int report_fd, int *failed_step, int *error_number) {
    struct edge_spawn_failure failure;
    ssize_t got;
    do {
        got = read(report_fd, &failure, sizeof failure);
    } while (got < 0 && errno == EINTR);
    if (got == 0) return 1;
    if (got < 0 && errno == EAGAIN) return 0;
    if (got < 0) {
        *failed_step = EDGE_SPAWN_STEP_EXEC;
        *error_number = errno;
        return -1;
    }
    if (got == (ssize_t)sizeof failure) {
        *failed_step = failure.step;
        *error_number = failure.error_number;
        return -1;
    }
    /* A partial record cannot happen for a pipe write this small; treat it as a failure. */
    *failed_step = EDGE_SPAWN_STEP_EXEC;
    *error_number = EIO;
    return -1;
}
