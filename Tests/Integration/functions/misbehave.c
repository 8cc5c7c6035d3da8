/* misbehave: a native function that speaks the runtime protocol on fd 3 (docs/runtime-protocol.md)
 * and then misbehaves in the way argv[1] names, for the end-to-end tests of the agent's caps.
 *
 *   misbehave MODE [CEILING]
 *
 * Every mode reads `init`, answers `{"type":"ready"}`, and (unless it says otherwise) answers each
 * `invoke` with a `result` carrying the invocation's id, and exits 0 on `shutdown` or end of file.
 *
 *   ok          answers every invoke with {"echo": ID}
 *   memhog      allocates and touches memory in 1 MiB steps from the start, reporting every 16 MiB
 *               on stderr; answers invokes with {"allocatedMB": N} between steps. CEILING (MiB,
 *               default none) stops it there, so a missing cap cannot take the machine down
 *   forkbomb    forks children that each fork again and sleep, as fast as it can, counting EAGAIN;
 *               answers invokes with {"forks": N, "eagain": M} (N: live processes it started) and
 *               reports N on stderr. CEILING (default none) caps the forks it attempts to keep alive
 *   spin        a child process burns CPU forever; invokes are answered with {"spinner": PID,
 *               "spinnerCpuMs": T, "selfCpuMs": S} from /proc/PID/stat and /proc/self/stat
 *   fdleak      each invoke opens 8 more descriptors of /dev/null and keeps them: {"open": N}, or an
 *               `error` of type EMFILE once open(2) fails
 *   hang        reads invokes and never answers them
 *   ignoreterm  ignores SIGTERM, `shutdown` and end of file; answers invokes like `ok`
 *   grandchild  double-forks a daemon (setsid) that writes its pid to $GRANDCHILD_PIDFILE (0644) and
 *               sleeps forever; answers invokes with {"grandchild": PID}
 *   orphaner    like grandchild, but exits 0 once the daemon has written its pidfile: the daemon is
 *               left behind, outside the function's session
 *   garbage     writes a line that is not JSON to fd 3 on the first invoke
 *
 * The JSON handling is deliberately minimal: only the top-level "type" and "id" members of each
 * line are looked at, and the id (a JSON string) is echoed back token for token.
 * Build: cc -std=c11 -O2 -Wall -Wextra -o misbehave misbehave.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHANNEL 3
#define MAX_LINE (8u << 20) /* the agent sends at most 4 MiB per line */

enum mode { OK, MEMHOG, FORKBOMB, SPIN, FDLEAK, HANG, IGNORETERM, GRANDCHILD, ORPHANER, GARBAGE };

static const struct {
    const char *name;
    enum mode mode;
} modes[] = {
    {"ok", OK},         {"memhog", MEMHOG}, {"forkbomb", FORKBOMB},     {"spin", SPIN},
    {"fdleak", FDLEAK}, {"hang", HANG},     {"ignoreterm", IGNORETERM}, {"grandchild", GRANDCHILD}, {"orphaner", ORPHANER},
    {"garbage", GARBAGE},
};

static enum mode mode;
static long ceiling = -1; /* optional second argument: MiB for memhog, forks for forkbomb */

/* ---------------------------------------------------------------------------------------------
 * Writing lines to the agent */

static void die(const char *what) {
    fprintf(stderr, "misbehave: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void write_all(const char *data, size_t length) {
    while (length > 0) {
        ssize_t n = write(CHANNEL, data, length);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EPIPE)
                exit(0); /* the agent is gone */
            die("write to fd 3");
        }
        data += n;
        length -= (size_t)n;
    }
}

static void send_line(const char *format, ...) {
    char small[1024];
    va_list args;
    va_start(args, format);
    int n = vsnprintf(small, sizeof small, format, args);
    va_end(args);
    if (n < 0)
        die("format");
    if ((size_t)n < sizeof small) {
        write_all(small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (big == NULL)
        die("malloc");
    va_start(args, format);
    vsnprintf(big, (size_t)n + 1, format, args);
    va_end(args);
    write_all(big, (size_t)n);
    free(big);
}

/* ---------------------------------------------------------------------------------------------
 * Reading: the top-level "type" and "id" of one JSON object */

struct message {
    const char *type; /* the raw token, quotes included, or NULL */
    size_t type_length;
    const char *id;
    size_t id_length;
};

static const char *skip_space(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    return p;
}

/* p at '"': returns the position after the closing quote, or NULL. */
static const char *skip_string(const char *p, const char *end) {
    for (p++; p < end; p++) {
        if (*p == '\\') {
            if (++p >= end)
                return NULL;
        } else if (*p == '"') {
            return p + 1;
        }
    }
    return NULL;
}

static const char *skip_value(const char *p, const char *end) {
    if (p >= end)
        return NULL;
    if (*p == '"')
        return skip_string(p, end);
    if (*p == '{' || *p == '[') {
        int depth = 0;
        while (p < end) {
            if (*p == '"') {
                p = skip_string(p, end);
                if (p == NULL)
                    return NULL;
                continue;
            }
            if (*p == '{' || *p == '[')
                depth++;
            else if (*p == '}' || *p == ']') {
                if (--depth == 0)
                    return p + 1;
            }
            p++;
        }
        return NULL;
    }
    const char *start = p;
    while (p < end && !strchr(",}] \t\r\n", *p))
        p++;
    return p > start ? p : NULL;
}

static int parse_message(const char *p, const char *end, struct message *out) {
    memset(out, 0, sizeof *out);
    p = skip_space(p, end);
    if (p >= end || *p != '{')
        return -1;
    p = skip_space(p + 1, end);
    if (p < end && *p == '}')
        return 0;
    for (;;) {
        if (p >= end || *p != '"')
            return -1;
        const char *key = p + 1;
        const char *after_key = skip_string(p, end);
        if (after_key == NULL)
            return -1;
        size_t key_length = (size_t)(after_key - 1 - key);
        p = skip_space(after_key, end);
        if (p >= end || *p != ':')
            return -1;
        const char *value = skip_space(p + 1, end);
        const char *after_value = skip_value(value, end);
        if (after_value == NULL)
            return -1;
        if (*value == '"') {
            if (key_length == 4 && memcmp(key, "type", 4) == 0) {
                out->type = value;
                out->type_length = (size_t)(after_value - value);
            } else if (key_length == 2 && memcmp(key, "id", 2) == 0) {
                out->id = value;
                out->id_length = (size_t)(after_value - value);
            }
        }
        p = skip_space(after_value, end);
        if (p < end && *p == ',') {
            p = skip_space(p + 1, end);
            continue;
        }
        return (p < end && *p == '}') ? 0 : -1;
    }
}

static int is_type(const struct message *m, const char *name) {
    size_t n = strlen(name);
    return m->type != NULL && m->type_length == n + 2 && memcmp(m->type + 1, name, n) == 0;
}

/* The line buffer of fd 3. */
static char *buffer;
static size_t buffered, capacity;

/* Reads what is there (one read(2)); 0 at end of file. */
static int fill(void) {
    if (capacity - buffered < 65536) {
        size_t grown = capacity ? capacity * 2 : 131072;
        if (grown > MAX_LINE + 65536) {
            fprintf(stderr, "misbehave: a line longer than %u bytes on fd 3\n", MAX_LINE);
            exit(3);
        }
        buffer = realloc(buffer, grown);
        if (buffer == NULL)
            die("realloc");
        capacity = grown;
    }
    for (;;) {
        ssize_t n = read(CHANNEL, buffer + buffered, capacity - buffered);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("read from fd 3");
        buffered += (size_t)n;
        return n > 0;
    }
}

static void handle(const struct message *m);

/* Handles every complete line in the buffer. */
static void drain(void) {
    size_t start = 0;
    for (;;) {
        char *newline = memchr(buffer + start, '\n', buffered - start);
        if (newline == NULL)
            break;
        struct message m;
        if (parse_message(buffer + start, newline, &m) != 0) {
            fprintf(stderr, "misbehave: ignoring a line that is not a JSON object: %.*s\n",
                    (int)(newline - (buffer + start) > 200 ? 200 : newline - (buffer + start)), buffer + start);
        } else {
            handle(&m);
        }
        start = (size_t)(newline - buffer) + 1;
    }
    memmove(buffer, buffer + start, buffered - start);
    buffered -= start;
}

static void end_of_file(void) {
    if (mode == IGNORETERM) {
        fprintf(stderr, "misbehave: end of file on fd 3, ignored; waiting for SIGKILL\n");
        for (;;)
            pause();
    }
    exit(0);
}

/* Waits up to `timeout_ms` (-1: forever) for input on fd 3 and handles the lines that came. */
static void pump(int timeout_ms) {
    struct pollfd fd = {.fd = CHANNEL, .events = POLLIN};
    int n = poll(&fd, 1, timeout_ms);
    if (n < 0) {
        if (errno == EINTR)
            return;
        die("poll on fd 3");
    }
    if (n == 0)
        return;
    if (!fill())
        end_of_file();
    drain();
}

/* ---------------------------------------------------------------------------------------------
 * The modes */

static long allocated_mb;           /* memhog */
static long live_forks, eagain;     /* forkbomb */
static int bomb_pipe[2] = {-1, -1}; /* forkbomb: children report their own forks */
static pid_t spinner = -1;          /* spin */
static long open_fds;               /* fdleak */
static pid_t grandchild = -1;       /* grandchild */
static int garbage_sent;            /* garbage */

static long long cpu_ms_of(const char *stat_path) {
    char text[1024];
    FILE *file = fopen(stat_path, "r");
    if (file == NULL)
        return -1;
    size_t n = fread(text, 1, sizeof text - 1, file);
    fclose(file);
    text[n] = '\0';
    /* The command name is in parentheses and may hold anything: count fields after the last ')'. */
    char *p = strrchr(text, ')');
    if (p == NULL)
        return -1;
    unsigned long long utime = 0, stime = 0;
    /* Fields 3.. after the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt
     * cmajflt utime stime. */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
        return -1;
    long ticks = sysconf(_SC_CLK_TCK);
    return (long long)((utime + stime) * 1000ull / (unsigned long long)(ticks > 0 ? ticks : 100));
}

static void answer_invoke(const struct message *m) {
    int idl = (int)m->id_length;
    const char *id = m->id;
    switch (mode) {
    case OK:
    case IGNORETERM:
        send_line("{\"type\":\"result\",\"id\":%.*s,\"result\":{\"echo\":%.*s}}\n", idl, id, idl, id);
        break;
    case MEMHOG:
        send_line("{\"type\":\"result\",\"id\":%.*s,\"result\":{\"allocatedMB\":%ld}}\n", idl, id, allocated_mb);
        break;
    case FORKBOMB:
        send_line("{\"type\":\"result\",\"id\":%.*s,\"result\":{\"forks\":%ld,\"eagain\":%ld}}\n", idl, id,
                  live_forks, eagain);
        break;
    case SPIN: {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)spinner);
        send_line("{\"type\":\"result\",\"id\":%.*s,\"result\":{\"spinner\":%d,\"spinnerCpuMs\":%lld,"
                  "\"selfCpuMs\":%lld}}\n",
                  idl, id, (int)spinner, cpu_ms_of(path), cpu_ms_of("/proc/self/stat"));
        break;
    }
    case FDLEAK:
        for (int i = 0; i < 8; i++) {
            int fd = open("/dev/null", O_RDONLY);
            if (fd < 0) {
                int error = errno;
                send_line("{\"type\":\"error\",\"id\":%.*s,\"error\":{\"type\":\"%s\","
                          "\"message\":\"open failed after %ld descriptors: %s\"}}\n",
                          idl, id, error == EMFILE ? "EMFILE" : error == ENFILE ? "ENFILE" : "OSError", open_fds,
                          strerror(error));
                return;
            }
            open_fds++;
        }
        send_line("{\"type\":\"result\",\"id\":%.*s,\"result\":{\"open\":%ld}}\n", idl, id, open_fds);
        break;
    case HANG:
        fprintf(stderr, "misbehave: hang: not answering invocation %.*s\n", idl, id);
        break;
    case GRANDCHILD:
    case ORPHANER:
        send_line("{\"type\":\"result\",\"id\":%.*s,\"result\":{\"grandchild\":%d}}\n", idl, id, (int)grandchild);
        break;
    case GARBAGE:
        if (!garbage_sent) {
            garbage_sent = 1;
            write_all("this is not json\n", 17);
        } else {
            send_line("{\"type\":\"result\",\"id\":%.*s,\"result\":{\"echo\":%.*s}}\n", idl, id, idl, id);
        }
        break;
    }
}

static void handle(const struct message *m) {
    if (is_type(m, "invoke")) {
        if (m->id == NULL) {
            fprintf(stderr, "misbehave: an invoke without a string id\n");
            return;
        }
        answer_invoke(m);
    } else if (is_type(m, "shutdown")) {
        if (mode == IGNORETERM) {
            fprintf(stderr, "misbehave: shutdown ignored\n");
            return;
        }
        exit(0);
    }
    /* init (after the first), config, publishError: nothing to do */
}

static void memhog(void) {
    for (;;) {
        if (ceiling >= 0 && allocated_mb >= ceiling) {
            fprintf(stderr, "misbehave: memhog: ceiling of %ld MiB reached; holding it\n", ceiling);
            for (;;)
                pump(-1);
        }
        char *block = malloc(1u << 20);
        if (block == NULL) {
            fprintf(stderr, "misbehave: memhog: malloc failed after %ld MiB; holding it\n", allocated_mb);
            for (;;)
                pump(-1);
        }
        memset(block, 0xA5, 1u << 20); /* touched: resident, not just reserved */
        allocated_mb++;
        if (allocated_mb % 16 == 0)
            fprintf(stderr, "misbehave: memhog: %ld MiB allocated\n", allocated_mb);
        pump(0);
    }
}

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A child of the bomb: forks once more, reports how that went, and sleeps. */
static void bomb_child(void) {
    close(CHANNEL);
    close(bomb_pipe[0]);
    pid_t pid = fork();
    if (pid == 0) {
        close(bomb_pipe[1]);
        for (;;)
            pause();
    }
    char report = pid > 0 ? '+' : (errno == EAGAIN ? 'E' : '?');
    if (write(bomb_pipe[1], &report, 1) < 0) { /* the bomb is gone: sleep all the same */
    }
    close(bomb_pipe[1]);
    for (;;)
        pause();
}

static void forkbomb(void) {
    if (pipe2(bomb_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        die("pipe2");
    long reported = -1, reported_eagain = -1;
    double last_report = 0;
    for (;;) {
        int backoff = 0;
        if (ceiling < 0 || live_forks < ceiling) {
            pid_t pid = fork();
            if (pid == 0)
                bomb_child();
            if (pid > 0) {
                live_forks++;
            } else if (errno == EAGAIN) {
                eagain++;
                backoff = 1; /* at the cap: try again in 1 ms, answering invokes meanwhile */
            } else {
                fprintf(stderr, "misbehave: forkbomb: fork: %s\n", strerror(errno));
                backoff = 10;
            }
        } else {
            backoff = 100; /* the ceiling: hold what runs */
        }
        char reports[256];
        ssize_t n;
        while ((n = read(bomb_pipe[0], reports, sizeof reports)) > 0) {
            for (ssize_t i = 0; i < n; i++) {
                if (reports[i] == '+')
                    live_forks++;
                else if (reports[i] == 'E')
                    eagain++;
            }
        }
        int status;
        while (waitpid(-1, &status, WNOHANG) > 0)
            live_forks--; /* a child died (its own child, if any, is no longer ours to count) */
        double now = now_seconds();
        if ((live_forks != reported || eagain != reported_eagain) && now - last_report >= 0.25) {
            fprintf(stderr, "misbehave: forkbomb: %ld live forks, %ld EAGAIN\n", live_forks, eagain);
            reported = live_forks;
            reported_eagain = eagain;
            last_report = now;
        }
        pump(backoff);
    }
}

static void spin(void) {
    spinner = fork();
    if (spinner < 0)
        die("fork");
    if (spinner == 0) {
        close(CHANNEL);
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the function when run by hand */
        volatile unsigned long long counter = 0;
        for (;;)
            counter++;
    }
    fprintf(stderr, "misbehave: spin: spinner is pid %d\n", (int)spinner);
    for (;;)
        pump(-1);
}

static void daemonize_grandchild(void) {
    int report[2];
    if (pipe(report) != 0)
        die("pipe");
    pid_t child = fork();
    if (child < 0)
        die("fork");
    if (child == 0) {
        close(report[0]);
        pid_t pid = fork();
        if (pid == 0) {
            close(report[1]);
            close(CHANNEL);
            setsid();
            const char *path = getenv("GRANDCHILD_PIDFILE");
            if (path != NULL && *path != '\0') {
                char temporary[4096];
                snprintf(temporary, sizeof temporary, "%s.%d.tmp", path, (int)getpid());
                int fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                if (fd >= 0) {
                    char text[32];
                    int n = snprintf(text, sizeof text, "%d\n", (int)getpid());
                    fchmod(fd, 0644);
                    if (write(fd, text, (size_t)n) != n || close(fd) != 0 || rename(temporary, path) != 0)
                        fprintf(stderr, "misbehave: grandchild: cannot write %s: %s\n", path, strerror(errno));
                } else {
                    fprintf(stderr, "misbehave: grandchild: cannot create %s: %s\n", temporary, strerror(errno));
                }
            }
            int null = open("/dev/null", O_RDWR);
            if (null >= 0) {
                dup2(null, 0);
                dup2(null, 1);
                dup2(null, 2);
                if (null > 2)
                    close(null);
            }
            for (;;)
                pause();
        }
        int32_t value = pid;
        if (write(report[1], &value, sizeof value) != sizeof value)
            _exit(1);
        _exit(0);
    }
    close(report[1]);
    int32_t value = -1;
    ssize_t n;
    do
        n = read(report[0], &value, sizeof value);
    while (n < 0 && errno == EINTR);
    close(report[0]);
    waitpid(child, NULL, 0);
    grandchild = n == sizeof value ? (pid_t)value : -1;
    fprintf(stderr, "misbehave: grandchild: daemon is pid %d\n", (int)grandchild);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: misbehave MODE [CEILING]\n");
        return 2;
    }
    int found = 0;
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        if (strcmp(argv[1], modes[i].name) == 0) {
            mode = modes[i].mode;
            found = 1;
        }
    }
    if (!found) {
        fprintf(stderr, "misbehave: unknown mode %s\n", argv[1]);
        return 2;
    }
    if (argc > 2)
        ceiling = strtol(argv[2], NULL, 10);
    signal(SIGPIPE, SIG_IGN);
    if (mode == IGNORETERM)
        signal(SIGTERM, SIG_IGN);

    /* init first: everything before a complete init line is waited for. */
    for (;;) {
        char *newline = buffered ? memchr(buffer, '\n', buffered) : NULL;
        if (newline != NULL) {
            struct message m;
            if (parse_message(buffer, newline, &m) != 0 || !is_type(&m, "init")) {
                fprintf(stderr, "misbehave: the first message is not init\n");
                return 1;
            }
            size_t rest = buffered - (size_t)(newline + 1 - buffer);
            memmove(buffer, newline + 1, rest);
            buffered = rest;
            break;
        }
        if (!fill())
            return 0;
    }
    send_line("{\"type\":\"ready\"}\n");
    fprintf(stderr, "misbehave: %s ready (pid %d)\n", argv[1], (int)getpid());
    drain();

    switch (mode) {
    case MEMHOG:
        memhog();
        break;
    case FORKBOMB:
        forkbomb();
        break;
    case SPIN:
        spin();
        break;
    case GRANDCHILD:
        daemonize_grandchild();
        break;
    case ORPHANER: {
        daemonize_grandchild();
        /* Exit only once the daemon's pid is on disk (at most 5 s), so the test can find it. */
        const char *path = getenv("GRANDCHILD_PIDFILE");
        for (int i = 0; path != NULL && i < 500 && access(path, F_OK) != 0; i++) {
            struct timespec pause = {0, 10 * 1000 * 1000};
            nanosleep(&pause, NULL);
        }
        fprintf(stderr, "misbehave: orphaner exits, leaving pid %d\n", (int)grandchild);
        return 0;
    }
    default:
        break;
    }
    for (;;)
        pump(-1);
}
