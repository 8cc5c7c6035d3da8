#ifndef EDGE_SPAWN_H
#define EDGE_SPAWN_H

#include <sys/types.h>

#define EDGE_SPAWN_MAX_RLIMITS 8
#define EDGE_SPAWN_MAX_CGROUPS 8
#define EDGE_SPAWN_MAX_GROUPS 32

/// One resource limit to apply in the child before exec.
struct edge_spawn_rlimit {
    int resource;
    unsigned long long soft;
    unsigned long long hard;
};

/// Everything the child needs, prepared by the parent, so the child only makes
/// async-signal-safe calls between fork and exec.
struct edge_spawn_request {
    const char *path;               /* absolute path of the executable */
    char *const *argv;              /* NULL-terminated */
    char *const *envp;              /* NULL-terminated */
    const char *cwd;                /* working directory, or NULL */
    int stdin_fd;                   /* becomes fd 0 */
    int stdout_fd;                  /* becomes fd 1 */
    int stderr_fd;                  /* becomes fd 2 */
    int runtime_fd;                 /* becomes fd 3, or -1 */
    int cgroup_count;               /* how many of cgroup_procs_fds are set */
    int cgroup_procs_fds[EDGE_SPAWN_MAX_CGROUPS]; /* cgroup.procs files opened for writing (one per v1 hierarchy) */
    int rlimit_count;
    struct edge_spawn_rlimit rlimits[EDGE_SPAWN_MAX_RLIMITS];
    int set_ids;                    /* nonzero: setgroups/setgid/setuid to gid/uid */
    unsigned int uid;
    unsigned int gid;
    int group_count;                /* supplementary groups (0: the primary group only) */
    unsigned int groups[EDGE_SPAWN_MAX_GROUPS];
    int no_new_privs;               /* nonzero: PR_SET_NO_NEW_PRIVS */
    int set_umask;                  /* nonzero: umask(umask_bits) before exec */
    unsigned int umask_bits;
    int parent_death_signal;        /* a signal sent to the child if the agent dies, or 0 */
    pid_t parent;                   /* the agent's pid: a child whose parent is already gone exits */
};

/// Which step of the child's set-up failed, reported with its errno.
enum edge_spawn_step {
    EDGE_SPAWN_STEP_NONE = 0,
    EDGE_SPAWN_STEP_FORK,
    EDGE_SPAWN_STEP_SIGNALS,
    EDGE_SPAWN_STEP_SETSID,
    EDGE_SPAWN_STEP_CGROUP,
    EDGE_SPAWN_STEP_RLIMIT,
    EDGE_SPAWN_STEP_FDS,
    EDGE_SPAWN_STEP_CHDIR,
    EDGE_SPAWN_STEP_SETGROUPS,
    EDGE_SPAWN_STEP_SETGID,
    EDGE_SPAWN_STEP_SETUID,
    EDGE_SPAWN_STEP_NO_NEW_PRIVS,
    EDGE_SPAWN_STEP_PDEATHSIG,
    EDGE_SPAWN_STEP_EXEC,
};

/// Forks and execs `request`. Returns 0 and sets *pid when the exec succeeded; otherwise
/// returns -1 with *failed_step and *error_number saying what failed (the child, if any,
/// has been reaped). Blocks only until the child has exec'd or failed.
int edge_spawn(const struct edge_spawn_request *request, pid_t *pid, int *failed_step, int *error_number);

/// Forks `request` without waiting for the exec, so the caller's event loop is never held up by
/// the child's set-up (joining a cgroup can take the kernel 10-20 ms). Returns 0 with *pid and
/// *report_fd: the read end of the report pipe (non-blocking, close-on-exec), which reaches end of
/// file once the child has exec'd, or carries its failure (read it with edge_spawn_outcome; the
/// failed child exits with code 127 and is the caller's to reap). Returns -1 with *failed_step
/// and *error_number if the fork itself failed.
int edge_spawn_start(const struct edge_spawn_request *request, pid_t *pid, int *report_fd, int *failed_step, int *error_number);

/// The outcome on a report_fd from edge_spawn_start: 1 the child exec'd, 0 not known yet,
/// -1 it failed (*failed_step and *error_number say how).
int edge_spawn_outcome(int report_fd, int *failed_step, int *error_number);

#endif
