/* File descriptor passing over Unix sockets (SCM_RIGHTS). */
#include "internal.h"

#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int ik_fd_send(int sock, const int *fds, size_t n)
{
    if (sock < 0 || fds == NULL || n == 0 || n > IK_FD_MAX)
        return IK_EINVAL;
    union {
        char buf[CMSG_SPACE(sizeof(int) * IK_FD_MAX)];
        struct cmsghdr align;
    } ctl;
    memset(&ctl, 0, sizeof(ctl));
    char byte = 'F';
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = ctl.buf,
                         .msg_controllen = CMSG_SPACE(sizeof(int) * n)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * n);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
    for (;;) {
        ssize_t r = sendmsg(sock, &msg, MSG_NOSIGNAL);
        if (r == 1)
            return 0;
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EPIPE || errno == ECONNRESET))
            return IK_ECLOSED;
        return r < 0 ? ik__errno() : IK_EIO;
    }
}

int ik_fd_recv(int sock, int *fds, size_t cap, int timeout_ms)
{
    if (sock < 0 || (fds == NULL && cap > 0))
        return IK_EINVAL;
    union {
        char buf[CMSG_SPACE(sizeof(int) * 253)]; /* SCM_MAX_FD */
        struct cmsghdr align;
    } ctl;
    uint64_t deadline = ik__deadline(timeout_ms);
    for (;;) {
        struct pollfd p = {.fd = sock, .events = POLLIN};
        int pr = poll(&p, 1, ik__ms_left(deadline));
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr < 0)
            return ik__errno();
        if (pr == 0)
            return IK_ETIMEDOUT;
        char byte;
        struct iovec iov = {.iov_base = &byte, .iov_len = 1};
        struct msghdr msg = {.msg_iov = &iov,
                             .msg_iovlen = 1,
                             .msg_control = ctl.buf,
                             .msg_controllen = sizeof(ctl.buf)};
        ssize_t r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r < 0)
            return errno == ECONNRESET ? IK_ECLOSED : ik__errno();
        if (r == 0)
            return IK_ECLOSED;
        size_t got = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                continue;
            size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < nfd; i++) {
                int fd;
                memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                if (got < cap)
                    fds[got++] = fd;
                else
                    close(fd); /* more than asked for: never leak */
            }
        }
        if (msg.msg_flags & MSG_CTRUNC) {
            for (size_t i = 0; i < got; i++)
                close(fds[i]);
            return IK_EPROTO;
        }
        return (int)got;
    }
}
