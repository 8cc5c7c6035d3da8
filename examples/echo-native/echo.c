/*
 * echo: a native edge-agent function that speaks the runtime protocol directly.
 *
 * Reads JSON lines from fd 3 and writes JSON lines to fd 3 (docs/runtime-protocol.md):
 *   -> {"type":"ready"} once at start
 *   <- invoke  -> {"type":"result","id":...,"result":{"echo":<event>}}
 *                 or, for an event {"fail": true}, an error of type "EchoFailure";
 *                 an event {"sleepMs": N} sleeps N ms first (to exercise timeouts)
 *   <- shutdown, or end of file -> exit 0
 * Other messages (init, config, publishError) are accepted and ignored.
 * Diagnostics go to stderr, which the agent writes to the function's log.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/uio.h>
#include <unistd.h>

#include <json.h>

#define CHANNEL_FD 3
#define MAX_LINE (4 * 1024 * 1024) /* the protocol's limit, newline included */
#define MAX_DEPTH 128              /* json-c's default of 32 is low for arbitrary events */

/* A growing buffer of bytes read from the channel but not yet consumed as lines. */
struct reader {
    char *data;
    size_t capacity;
    size_t start; /* first unconsumed byte */
    size_t end;   /* one past the last byte read */
};

/*
 * Returns the next line (without its newline, NUL-terminated in place) and its length, or
 * NULL at end of file. A line longer than MAX_LINE or a read error ends the process.
 */
static char *read_line(struct reader *r, size_t *length)
{
    size_t scanned = r->start;
    for (;;) {
        char *newline = memchr(r->data + scanned, '\n', r->end - scanned);
        if (newline != NULL) {
            char *line = r->data + r->start;
            *newline = '\0';
            *length = (size_t)(newline - line);
            r->start = (size_t)(newline - r->data) + 1;
            return line;
        }
        scanned = r->end;
        if (r->end - r->start >= MAX_LINE) {
            fprintf(stderr, "echo: a line from the agent is longer than 4 MiB\n");
            exit(1);
        }
        /* Make room: first drop consumed bytes, then grow (up to one maximal line). */
        if (r->start > 0) {
            memmove(r->data, r->data + r->start, r->end - r->start);
            r->end -= r->start;
            scanned -= r->start;
            r->start = 0;
        }
        if (r->end == r->capacity) {
            size_t capacity = r->capacity * 2;
            if (capacity > MAX_LINE + 1)
                capacity = MAX_LINE + 1;
            char *data = realloc(r->data, capacity);
            if (data == NULL) {
                fprintf(stderr, "echo: out of memory\n");
                exit(1);
            }
            r->data = data;
            r->capacity = capacity;
        }
        ssize_t got = read(CHANNEL_FD, r->data + r->end, r->capacity - r->end);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            perror("echo: read from fd 3");
            exit(1);
        }
        if (got == 0)
            return NULL; /* end of file (a partial last line is dropped) */
        r->end += (size_t)got;
    }
}

/*
 * Writes one message as one line, in one system call when the socket takes it all (the line and
 * its newline together, so the agent never wakes for half a line). Only this thread writes, so
 * no lock is needed.
 */
static void send_message(struct json_object *message)
{
    size_t length;
    /* PLAIN: no added whitespace, and json-c escapes newlines inside strings. */
    const char *text = json_object_to_json_string_length(message, JSON_C_TO_STRING_PLAIN, &length);
    struct iovec parts[2] = {{.iov_base = (void *)text, .iov_len = length}, {.iov_base = "\n", .iov_len = 1}};
    struct iovec *next = parts;
    int left = 2;
    while (left > 0) {
        ssize_t wrote = writev(CHANNEL_FD, next, left);
        if (wrote < 0 && errno == EINTR)
            continue;
        if (wrote < 0) {
            perror("echo: write to fd 3");
            exit(errno == EPIPE ? 0 : 1); /* EPIPE: the agent is gone */
        }
        /* Skip what was written; a part written in part is resumed where it stopped. */
        while (left > 0 && (size_t)wrote >= next->iov_len) {
            wrote -= (ssize_t)next->iov_len;
            next++;
            left--;
        }
        if (left > 0) {
            next->iov_base = (char *)next->iov_base + wrote;
            next->iov_len -= (size_t)wrote;
        }
    }
}

static void sleep_ms(int64_t ms)
{
    struct timespec left = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&left, &left) != 0 && errno == EINTR)
        ;
}

static void handle_invoke(struct json_object *message)
{
    struct json_object *id = NULL, *event = NULL, *field = NULL;
    json_object_object_get_ex(message, "id", &id);
    json_object_object_get_ex(message, "event", &event); /* stays NULL (JSON null) if absent */

    int fail = 0;
    if (json_object_is_type(event, json_type_object)) {
        if (json_object_object_get_ex(event, "sleepMs", &field) && json_object_is_type(field, json_type_int)) {
            int64_t ms = json_object_get_int64(field);
            if (ms > 0)
                sleep_ms(ms);
        }
        fail = json_object_object_get_ex(event, "fail", &field) && json_object_is_type(field, json_type_boolean)
               && json_object_get_boolean(field);
    }

    struct json_object *answer = json_object_new_object();
    /* json_object_get: the answer takes its own reference to parts of the request. */
    json_object_object_add(answer, "type", json_object_new_string(fail ? "error" : "result"));
    json_object_object_add(answer, "id", json_object_get(id));
    if (fail) {
        struct json_object *error = json_object_new_object();
        json_object_object_add(error, "type", json_object_new_string("EchoFailure"));
        json_object_object_add(error, "message", json_object_new_string("asked to fail"));
        json_object_object_add(answer, "error", error);
    } else {
        struct json_object *result = json_object_new_object();
        json_object_object_add(result, "echo", json_object_get(event));
        /* A non-JSON MQTT payload arrives as base64 with a null event; pass it back too. */
        if (json_object_object_get_ex(message, "payloadBase64", &field))
            json_object_object_add(result, "payloadBase64", json_object_get(field));
        json_object_object_add(answer, "result", result);
    }
    send_message(answer);
    json_object_put(answer);
}

int main(void)
{
    /* A write to a closed socket should fail with EPIPE, not kill us silently. */
    signal(SIGPIPE, SIG_IGN);

    struct reader reader = {.data = malloc(64 * 1024), .capacity = 64 * 1024};
    struct json_tokener *tokener = json_tokener_new_ex(MAX_DEPTH);
    if (reader.data == NULL || tokener == NULL) {
        fprintf(stderr, "echo: out of memory\n");
        return 1;
    }

    struct json_object *ready = json_object_new_object();
    json_object_object_add(ready, "type", json_object_new_string("ready"));
    send_message(ready);
    json_object_put(ready);

    size_t length;
    char *line;
    while ((line = read_line(&reader, &length)) != NULL) {
        json_tokener_reset(tokener);
        struct json_object *message = json_tokener_parse_ex(tokener, line, (int)length);
        struct json_object *type = NULL;
        if (message == NULL || !json_object_object_get_ex(message, "type", &type)
            || !json_object_is_type(type, json_type_string)) {
            fprintf(stderr, "echo: ignoring a line that is not a JSON object with a string type: %.200s\n", line);
            json_object_put(message);
            continue;
        }
        const char *kind = json_object_get_string(type);
        if (strcmp(kind, "invoke") == 0) {
            handle_invoke(message);
        } else if (strcmp(kind, "shutdown") == 0) {
            json_object_put(message);
            break;
        } else if (strcmp(kind, "publishError") == 0) {
            fprintf(stderr, "echo: publish refused: %s\n", json_object_to_json_string(message));
        }
        json_object_put(message);
    }

    json_tokener_free(tokener);
    free(reader.data);
    return 0;
}
