#ifndef EDGE_SYS_H
#define EDGE_SYS_H

#include <signal.h>
#include <sys/types.h>

/* Kernel interfaces that Swift's Glibc module does not export, wrapped with the prefix. */

/// eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC).
int edge_eventfd(void);

/// signalfd for `mask`, non-blocking and close-on-exec.
int edge_signalfd(const sigset_t *mask);

/// Reads one signal from a signalfd: its number, 0 when none is pending, -1 on error.
int edge_signalfd_next(int fd);

/// pipe2(fds, O_CLOEXEC).
int edge_pipe_cloexec(int fds[2]);

/// The pid of a child that has ended, left unreaped (waitid with WNOWAIT), so that its pid and
/// process group cannot be reused while the caller cleans up after it: >0 a pid, 0 none, -1 error.
pid_t edge_wait_peek(void);

/// Makes this process the reaper of its orphaned descendants (PR_SET_CHILD_SUBREAPER).
int edge_set_child_subreaper(void);

/// 1 when `path` is on a cgroup filesystem (v1 or v2), 0 when not, -1 on error.
int edge_is_cgroupfs(const char *path);

/// prlimit(pid, RLIMIT_CPU, {soft, hard}): 0, or -1 with errno.
int edge_set_cpu_limit(pid_t pid, unsigned long long soft, unsigned long long hard);

/// epoll_ctl's operations (EPOLL_CTL_ADD, _DEL, _MOD; checked against <sys/epoll.h> in edge_sys.c).
#define EDGE_EPOLL_CTL_ADD 1
#define EDGE_EPOLL_CTL_DEL 2
#define EDGE_EPOLL_CTL_MOD 3

/// epoll_create1(EPOLL_CLOEXEC).
int edge_epoll_create(void);

/// epoll_ctl(epfd, op, fd) with `events` and `token` as the event's data: 0, or -1 with errno.
int edge_epoll_ctl(int epfd, int op, int fd, unsigned int events, unsigned long long token);

/// epoll_wait into two arrays (the kernel's struct is packed on x86_64, which Swift cannot
/// import): how many are ready, or -1 with errno.
int edge_epoll_wait(int epfd, unsigned long long *tokens, unsigned int *events, int capacity, int timeout_ms);

#endif
