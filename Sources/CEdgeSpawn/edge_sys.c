#define _GNU_SOURCE
#include "edge_sys.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
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
