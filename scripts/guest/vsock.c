/* vsock: a tiny static AF_VSOCK cat for Vessel's guest (tests and scripts/net-bench).
 *
 *   vsock connect CID PORT    connect to CID:PORT (2 is the host)
 *   vsock listen PORT         accept one connection on PORT
 *
 * Then stdin goes to the socket (its end shuts the sending side) while the socket goes to stdout, until both
 * directions have ended. Exit status 0 on success; errors on stderr. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

static char buffer[1 << 16];

static int copy(int from, int to)
{
    for (;;) {
        ssize_t n = read(from, buffer, sizeof buffer);
        if (n == 0) return 0;
        if (n < 0) { if (errno == EINTR) continue; perror("vsock: read"); return 1; }
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(to, buffer + done, n - done);
            if (w < 0) { if (errno == EINTR) continue; perror("vsock: write"); return 1; }
            done += w;
        }
    }
}

int main(int argc, char **argv)
{
    struct sockaddr_vm address = { .svm_family = AF_VSOCK };
    int s = socket(AF_VSOCK, SOCK_STREAM, 0);
    if (s < 0) { perror("vsock: socket"); return 1; }
    if (argc == 4 && strcmp(argv[1], "connect") == 0) {
        address.svm_cid = (unsigned)strtoul(argv[2], NULL, 10);
        address.svm_port = (unsigned)strtoul(argv[3], NULL, 10);
        if (connect(s, (struct sockaddr *)&address, sizeof address) != 0) { perror("vsock: connect"); return 1; }
    } else if (argc == 3 && strcmp(argv[1], "listen") == 0) {
        address.svm_cid = VMADDR_CID_ANY;
        address.svm_port = (unsigned)strtoul(argv[2], NULL, 10);
        if (bind(s, (struct sockaddr *)&address, sizeof address) != 0 || listen(s, 1) != 0) { perror("vsock: listen"); return 1; }
        int c = accept(s, NULL, NULL);
        if (c < 0) { perror("vsock: accept"); return 1; }
        close(s);
        s = c;
    } else {
        fprintf(stderr, "usage: vsock connect CID PORT | vsock listen PORT\n");
        return 2;
    }
    pid_t child = fork();
    if (child < 0) { perror("vsock: fork"); return 1; }
    if (child == 0)
        _exit(copy(s, 1));
    int status = copy(0, s);
    shutdown(s, SHUT_WR);
    int child_status = 0;
    waitpid(child, &child_status, 0);
    return status || !WIFEXITED(child_status) || WEXITSTATUS(child_status) != 0;
}
