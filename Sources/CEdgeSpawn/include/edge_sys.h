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

#endif
