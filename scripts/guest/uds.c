/* uds: a tiny static Unix-socket client for the nested lane's L1, which has busybox only (no curl, and busybox nc
 * knows no AF_UNIX). Built by scripts/kvm-nested-lane.sh with gcc -static.
 *
 *   uds http SOCK METHOD PATH [BODY_FILE]   one HTTP/1.1 request (JSON body from BODY_FILE); prints the status
 *                                           line, then the body (chunked transfer decoded); exit 0 if answered
 *   uds connect SOCK [PORT]                 connect to SOCK; with PORT, Firecracker's vsock handshake first
 *                                           ("CONNECT PORT\n", the "OK ..." answer echoed on stderr)
 *   uds listen PATH                         accept one connection on a new socket at PATH (removed afterwards)
 *
 * connect and listen then copy stdin to the socket and the socket to stdout until both directions have ended. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static char buffer[1 << 16];

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) { if (errno == EINTR) continue; perror("uds: write"); return 1; }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int copy(int from, int to)
{
    for (;;) {
        ssize_t n = read(from, buffer, sizeof buffer);
        if (n == 0) return 0;
        if (n < 0) { if (errno == EINTR) continue; perror("uds: read"); return 1; }
        if (write_all(to, buffer, (size_t)n)) return 1;
    }
}

/* The sending side is shut only after the peer's bytes have all arrived: Firecracker's vsock convention, which
 * Vessel follows, carries an end of the host's stream as a full close (the guest may send no more). */
static int both_ways(int s)
{
    pid_t child = fork();
    if (child < 0) { perror("uds: fork"); return 1; }
    if (child == 0) _exit(copy(s, 1));
    int status = copy(0, s);
    int child_status = 0;
    waitpid(child, &child_status, 0);
    shutdown(s, SHUT_WR);
    return status || !WIFEXITED(child_status) || WEXITSTATUS(child_status) != 0;
}

static int unix_socket(const char *path, struct sockaddr_un *address)
{
    memset(address, 0, sizeof *address);
    address->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof address->sun_path) { fprintf(stderr, "uds: path too long: %s\n", path); return -1; }
    strcpy(address->sun_path, path);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s < 0) perror("uds: socket");
    return s;
}

static int connect_to(const char *path)
{
    struct sockaddr_un address;
    int s = unix_socket(path, &address);
    if (s >= 0 && connect(s, (struct sockaddr *)&address, sizeof address) != 0) {
        fprintf(stderr, "uds: connect %s: %s\n", path, strerror(errno));
        close(s);
        return -1;
    }
    return s;
}

/* Reads one line (up to '\n', which is dropped) byte by byte, so nothing after it is consumed. */
static int read_line(int s, char *line, size_t size)
{
    size_t n = 0;
    char c;
    while (n + 1 < size) {
        ssize_t r = read(s, &c, 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        if (c == '\n') { line[n] = 0; return 0; }
        line[n++] = c;
    }
    line[n] = 0;
    return -1;
}

static char *read_file(const char *path, size_t *length)
{
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); return NULL; }
    char *data = malloc(sizeof buffer);
    *length = data ? fread(data, 1, sizeof buffer, f) : 0;
    fclose(f);
    return data;
}

/* Prints a chunked body decoded: hex size line, data, CRLF, until the zero-size chunk. */
static void print_chunked(const char *p, const char *end)
{
    while (p < end) {
        char *after;
        unsigned long size = strtoul(p, &after, 16);
        const char *data = strstr(after, "\r\n");
        if (size == 0 || !data || data + 2 + size > end) return;
        fwrite(data + 2, 1, size, stdout);
        p = data + 2 + size + 2;
    }
}

static int http(const char *path, const char *method, const char *target, const char *body_file)
{
    size_t body_length = 0;
    char *body = NULL;
    if (body_file && !(body = read_file(body_file, &body_length))) return 1;
    int s = connect_to(path);
    if (s < 0) return 1;
    char head[512];
    int n = snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n"
        "Connection: close\r\n%sContent-Length: %zu\r\n\r\n", method, target,
        body ? "Content-Type: application/json\r\n" : "", body_length);
    if (write_all(s, head, (size_t)n) || (body && write_all(s, body, body_length))) return 1;
    free(body);
    size_t got = 0;
    for (;;) {
        ssize_t r = read(s, buffer + got, sizeof buffer - 1 - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(s);
    buffer[got] = 0;
    char *headers_end = strstr(buffer, "\r\n\r\n");
    char *status_end = strstr(buffer, "\r\n");
    if (!headers_end || !status_end) { fprintf(stderr, "uds: no HTTP response (%zu bytes)\n", got); return 1; }
    fwrite(buffer, 1, (size_t)(status_end - buffer), stdout);
    putchar('\n');
    *headers_end = 0;
    char *content = headers_end + 4;
    if (strcasestr(buffer, "transfer-encoding: chunked")) print_chunked(content, buffer + got);
    else fwrite(content, 1, (size_t)(buffer + got - content), stdout);
    putchar('\n');
    return 0;
}

static int vsock_connect(const char *path, const char *port)
{
    int s = connect_to(path);
    if (s < 0) return 1;
    if (port) {
        char line[128];
        int n = snprintf(line, sizeof line, "CONNECT %s\n", port);
        if (write_all(s, line, (size_t)n)) return 1;
        if (read_line(s, line, sizeof line) != 0 || strncmp(line, "OK ", 3) != 0) {
            fprintf(stderr, "uds: CONNECT %s answered '%s'\n", port, line);
            return 1;
        }
        fprintf(stderr, "%s\n", line);
    }
    return both_ways(s);
}

static int listen_once(const char *path)
{
    struct sockaddr_un address;
    int s = unix_socket(path, &address);
    if (s < 0) return 1;
    if (bind(s, (struct sockaddr *)&address, sizeof address) != 0 || listen(s, 1) != 0) { perror("uds: listen"); return 1; }
    int c = accept(s, NULL, NULL);
    close(s);
    unlink(path);
    if (c < 0) { perror("uds: accept"); return 1; }
    return both_ways(c);
}

int main(int argc, char **argv)
{
    if ((argc == 5 || argc == 6) && strcmp(argv[1], "http") == 0)
        return http(argv[2], argv[3], argv[4], argc == 6 ? argv[5] : NULL);
    if ((argc == 3 || argc == 4) && strcmp(argv[1], "connect") == 0)
        return vsock_connect(argv[2], argc == 4 ? argv[3] : NULL);
    if (argc == 3 && strcmp(argv[1], "listen") == 0)
        return listen_once(argv[2]);
    fprintf(stderr, "usage: uds http SOCK METHOD PATH [BODY_FILE] | uds connect SOCK [PORT] | uds listen PATH\n");
    return 2;
}
