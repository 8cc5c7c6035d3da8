#define _GNU_SOURCE
#include "edge_sys.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <stdio.h>
#include <stdlib.h>
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

int edge_limit_cpu_from_now(pid_t pid, unsigned int seconds) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    char text[1024];
    ssize_t got = read(fd, text, sizeof text - 1);
    close(fd);
    if (got <= 0) return -1;
    text[got] = '\0';
    /* After the command name "(...)": state is field 3, utime 14, stime 15. */
    char *cursor = strrchr(text, ')');
    if (cursor == NULL) { errno = EINVAL; return -1; }
    cursor += 2;
    unsigned long long ticks = 0;
    for (int field = 3; field <= 15 && cursor != NULL && *cursor != '\0'; field++) {
        if (field == 14 || field == 15) ticks += strtoull(cursor, NULL, 10);
        cursor = strchr(cursor, ' ');
        if (cursor != NULL) cursor++;
    }
    long hz = sysconf(_SC_CLK_TCK);
    unsigned long long used = hz > 0 ? (ticks + (unsigned long long)hz - 1) / (unsigned long long)hz : 0;
    struct rlimit limit = {(rlim_t)(used + seconds), (rlim_t)(used + seconds + 1)};
    return prlimit(pid, RLIMIT_CPU, &limit, NULL);
}
