#define _GNU_SOURCE
#include "edge_sys.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

int edge_eventfd(void) {
    return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

int edge_signalfd(const sigset_t *mask) {
    return signalfd(-1, mask, SFD_NONBLOCK | SFD_CLOEXEC);
}

int edge_signalfd_next(int fd) {
    struct signalfd_siginfo info;
    ssize_t got;
    do {
        got = read(fd, &info, sizeof info);
    } while (got < 0 && errno == EINTR);
    if (got == (ssize_t)sizeof info) return (int)info.ssi_signo;
    if (got < 0 && errno == EAGAIN) return 0;
    return -1;
}

int edge_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC);
}

pid_t edge_wait_peek(void) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    int result;
    do {
        result = waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT);
    } while (result < 0 && errno == EINTR);
    if (result < 0) return errno == ECHILD ? 0 : -1;
    return info.si_pid;
}

int edge_set_child_subreaper(void) {
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

int edge_is_cgroupfs(const char *path) {
    struct statfs info;
    if (statfs(path, &info) != 0) return -1;
    return info.f_type == 0x63677270 /* CGROUP2_SUPER_MAGIC */ || info.f_type == 0x27e0eb /* CGROUP_SUPER_MAGIC */;
}

int edge_set_cpu_limit(pid_t pid, unsigned long long soft, unsigned long long hard) {
    struct rlimit limit = {(rlim_t)soft, (rlim_t)hard};
    return prlimit(pid, RLIMIT_CPU, &limit, NULL);
}

_Static_assert(EDGE_EPOLL_CTL_ADD == EPOLL_CTL_ADD && EDGE_EPOLL_CTL_DEL == EPOLL_CTL_DEL && EDGE_EPOLL_CTL_MOD == EPOLL_CTL_MOD,
               "epoll_ctl operations");
_Static_assert(EPOLLIN == POLLIN && EPOLLOUT == POLLOUT && EPOLLERR == POLLERR && EPOLLHUP == POLLHUP && EPOLLPRI == POLLPRI,
               "epoll's event bits are poll's");

int edge_epoll_create(void) {
    return epoll_create1(EPOLL_CLOEXEC);
}

int edge_epoll_ctl(int epfd, int op, int fd, unsigned int events, unsigned long long token) {
    struct epoll_event event = {.events = events, .data.u64 = token};
    return epoll_ctl(epfd, op, fd, &event);
}

int edge_epoll_wait(int epfd, unsigned long long *tokens, unsigned int *events, int capacity, int timeout_ms) {
    struct epoll_event ready[64];
    if (capacity > 64)
        capacity = 64;
    int count = epoll_wait(epfd, ready, capacity, timeout_ms);
    for (int i = 0; i < count; i++) {
        tokens[i] = ready[i].data.u64;
        events[i] = ready[i].events;
    }
    return count;
}
