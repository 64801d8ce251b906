/* fd-based I/O layers: stream sockets (TCP) and Unix sockets (+fds, creds).
 * Datagrams: io_udgram.c; pipes and FIFOs: io_pipe.c. */
#include "chan_int.h"

#include <pthread.h>
#include <sys/un.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void ik__io_init(struct ik__io *io, const struct ik__io_ops *ops, int rfd, int wfd)
{
    memset(io, 0, sizeof(*io));
    io->ops = ops;
    io->rfd = rfd;
    io->wfd = wfd;
}

int ik__sock_adopt(struct ik__io *io, int rfd, int wfd, int type, int family,
                   const struct ik__io_ops *ops)
{
    int t = 0;
    socklen_t sl = sizeof(t);
    if (rfd != wfd || getsockopt(rfd, SOL_SOCKET, SO_TYPE, &t, &sl) != 0 || t != type)
        return IK_EINVAL;
    if (family != AF_UNSPEC) {
        struct sockaddr_storage ss;
        socklen_t al = sizeof(ss);
        if (getsockname(rfd, (struct sockaddr *)&ss, &al) != 0 || ss.ss_family != family)
            return IK_EINVAL;
    }
    /* Never change its flags: the description may be shared with other
     * processes. An O_NONBLOCK socket makes a blocking read return EAGAIN,
     * and the channel layer then polls. Nor its SO_PASSRIGHTS: its creator
     * chose whether it accepts fds. */
    if (family == AF_UNIX)
        ik__unix_io_init(io, ops, rfd, -1);
    else
        ik__io_init(io, ops, rfd, rfd);
    return 0;
}

int ik__fd_nonblock(int fd, int on)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return ik__errno();
    int want = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
    if (want != fl && fcntl(fd, F_SETFL, want) != 0)
        return ik__errno();
    return 0;
}

void ik__io_fdq_clear(struct ik__io *io)
{
    for (int i = 0; i < io->nfdq; i++)
        close(io->fdq[i]);
    io->nfdq = 0;
}

void ik__io_fdq_push(struct ik__io *io, int fd)
{
    if (io->nfdq < IK__FDQ_MAX)
        io->fdq[io->nfdq++] = fd;
    else
        close(fd);
}

int ik__io_map_errno(int e)
{
    /* ETIMEDOUT / EHOSTUNREACH from the kernel (keepalive or retransmits
     * gave up) is a dead connection, not a caller's deadline passing. */
    if (e == EPIPE || e == ECONNRESET || e == ECONNREFUSED || e == ENOTCONN || e == ETIMEDOUT ||
        e == EHOSTUNREACH)
        return IK_ECLOSED;
    return e > 0 ? -e : IK_EIO;
}

/* A failed transfer: "would block" records what to poll for, else map e. */
ssize_t ik__io_fail(struct ik__io *io, int e, short want)
{
    if (e == EAGAIN || e == EWOULDBLOCK) {
        io->want = want;
        return IK_EAGAIN;
    }
    return ik__io_map_errno(e);
}

/* recv()/sendmsg() retried on EINTR; -1 with errno set on failure. */
ssize_t ik__io_recv_retry(int fd, void *buf, size_t n, int flags)
{
    ssize_t r;
    do
        r = recv(fd, buf, n, flags);
    while (r < 0 && errno == EINTR);
    return r;
}

/* One buffer and no control data go through send(2): the kernel then
 * copies no msghdr and imports no iovec (cheaper than sendmsg on this path,
 * see docs/bench.md). */
static ssize_t sendmsg_retry(int fd, const struct msghdr *m, int flags)
{
    ssize_t r;
    bool plain = m->msg_iovlen == 1 && m->msg_controllen == 0 && m->msg_name == NULL;
    do
        r = plain ? send(fd, m->msg_iov[0].iov_base, m->msg_iov[0].iov_len, flags)
                  : sendmsg(fd, m, flags);
    while (r < 0 && errno == EINTR);
    return r;
}

void ik__io_fd_close(struct ik__io *io)
{
    ik__io_fdq_clear(io);
    if (io->rfd >= 0)
        close(io->rfd);
    if (io->wfd >= 0 && io->wfd != io->rfd)
        close(io->wfd);
    io->rfd = io->wfd = -1;
}

/* ---- plain stream sockets (TCP) ---------------------------------------- */

static ssize_t sock_read(struct ik__io *io, void *buf, size_t n, int wait)
{
    ssize_t r = ik__io_recv_retry(io->rfd, buf, n, wait ? 0 : MSG_DONTWAIT);
    return r >= 0 ? r : ik__io_fail(io, errno, POLLIN);
}

static ssize_t sock_writev(struct ik__io *io, const struct iovec *iov, int n, const int *fds,
                           int nfds, int wait)
{
    if (nfds > 0 || fds != NULL)
        return IK_ENOTSUP;
    struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
    ssize_t r = sendmsg_retry(io->wfd, &m, MSG_NOSIGNAL | (wait ? 0 : MSG_DONTWAIT));
    return r >= 0 ? r : ik__io_fail(io, errno, POLLOUT);
}

/* TCP: close() with unread bytes in the receive queue sends an RST, which
 * throws away what still sits in our send queue: the last messages would
 * be lost although ik_send succeeded. Discard what the peer sent first
 * (bounded, never blocks) so close() is an orderly FIN and the kernel
 * keeps delivering our queued bytes. */
static void sock_close(struct ik__io *io)
{
    if (io->rfd >= 0) {
        char junk[4096];
        for (int i = 0; i < 64;) {
            ssize_t r = recv(io->rfd, junk, sizeof(junk), MSG_DONTWAIT);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            i++;
        }
    }
    ik__io_fd_close(io);
}

const struct ik__io_ops ik__io_sock_ops = {
    .read = sock_read,
    .writev = sock_writev,
    .close = sock_close,
};

/* ---- Unix sockets: fds and credentials --------------------------------- */

/*
 * Receiving fds is opt-in (fds=1). A socket that has not opted in refuses
 * them in the kernel (SO_PASSRIGHTS off, Linux 6.16+): a peer cannot push
 * fds into this process, and reads are a plain recv(2), which is cheaper
 * than recvmsg(2) (docs/chan.md). Where the kernel lacks the option, every
 * socket reads with recvmsg, and an end that did not opt in closes fds as
 * they arrive.
 */
static atomic_int no_passrights; /* test hook: act as an older kernel */

static bool passrights_usable(void)
{
#ifdef IK__SO_PASSRIGHTS
    return !atomic_load_explicit(&no_passrights, memory_order_relaxed);
#else
    return false;
#endif
}

void ik__unix_test_no_passrights(int on)
{
    atomic_store(&no_passrights, on);
}

void ik__unix_fds_policy(int fd, int accept_fds)
{
#ifdef IK__SO_PASSRIGHTS
    int off = 0;
    if (!accept_fds && passrights_usable()) /* the kernel may lack it */
        (void)setsockopt(fd, SOL_SOCKET, IK__SO_PASSRIGHTS, &off, sizeof(off));
#else
    IK__UNUSED(fd);
    IK__UNUSED(accept_fds);
#endif
}

void ik__unix_io_init(struct ik__io *io, const struct ik__io_ops *ops, int fd, int want_fds)
{
    ik__io_init(io, ops, fd, fd);
#ifdef IK__SO_PASSRIGHTS
    int on = 1;
    socklen_t sl = sizeof(on);
    if (passrights_usable() && getsockopt(fd, SOL_SOCKET, IK__SO_PASSRIGHTS, &on, &sl) == 0 &&
        on == 0)
        io->fds_refused = true;
#endif
    io->fds_drop = !io->fds_refused && want_fds == 0;
}

union ik__cmsg_fds {
    char buf[CMSG_SPACE(sizeof(int) * 253)];
    struct cmsghdr align;
};

/* Read on a socket that refuses fds: nothing can ride along. A packet
 * longer than n is reported (MSG_TRUNC gives its real length). */
static ssize_t unix_recv_plain(struct ik__io *io, void *buf, size_t n, int packet, int wait)
{
    ssize_t r =
        ik__io_recv_retry(io->rfd, buf, n, (wait ? 0 : MSG_DONTWAIT) | (packet ? MSG_TRUNC : 0));
    if (r < 0)
        return ik__io_fail(io, errno, POLLIN);
    if ((size_t)r > n) {
        snprintf(io->detail, sizeof(io->detail), "oversized packet");
        return IK_EPROTO;
    }
    return r;
}

static ssize_t unix_recv(struct ik__io *io, void *buf, size_t n, int packet, int wait)
{
    if (io->fds_refused)
        return unix_recv_plain(io, buf, n, packet, wait);
    union ik__cmsg_fds ctl;
    struct iovec iov = {.iov_base = buf, .iov_len = n};
    for (;;) {
        struct msghdr m = {.msg_iov = &iov,
                           .msg_iovlen = 1,
                           .msg_control = ctl.buf,
                           .msg_controllen = sizeof(ctl.buf)};
        ssize_t r = recvmsg(io->rfd, &m, (wait ? 0 : MSG_DONTWAIT) | MSG_CMSG_CLOEXEC);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return ik__io_fail(io, errno, POLLIN);
        }
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c != NULL; c = CMSG_NXTHDR(&m, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                continue;
            size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < k; i++) {
                int fd;
                memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                if (io->fds_drop)
                    close(fd); /* this end did not ask for fds */
                else
                    ik__io_fdq_push(io, fd);
            }
        }
        if (m.msg_flags & MSG_CTRUNC) {
            snprintf(io->detail, sizeof(io->detail), "control data truncated (fds lost)");
            return IK_EPROTO;
        }
        if (packet && (m.msg_flags & MSG_TRUNC)) {
            snprintf(io->detail, sizeof(io->detail), "oversized packet");
            return IK_EPROTO;
        }
        return r;
    }
}

ssize_t ik__io_unix_send(struct ik__io *io, const struct iovec *iov, int n, const int *fds,
                         int nfds, int wait)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * IK_FD_MAX)];
        struct cmsghdr align;
    } ctl;
    struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
    if (nfds > 0) {
        if (nfds > IK_FD_MAX)
            return IK_EINVAL;
        memset(&ctl, 0, sizeof(ctl));
        m.msg_control = ctl.buf;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    }
    ssize_t r = sendmsg_retry(io->wfd, &m, MSG_NOSIGNAL | (wait ? 0 : MSG_DONTWAIT));
    if (r >= 0)
        return r;
    if (errno == EMSGSIZE)
        return IK_EMSGSIZE;
    if (errno == EPERM && nfds > 0) {
        snprintf(io->detail, sizeof(io->detail),
                 "the peer refuses fds (its end was not opened with fds=1), or a security "
                 "policy denied them");
        return IK_EPERM;
    }
    return ik__io_fail(io, errno, POLLOUT);
}

static ssize_t unix_read(struct ik__io *io, void *buf, size_t n, int wait)
{
    return unix_recv(io, buf, n, 0, wait);
}

static ssize_t unix_writev(struct ik__io *io, const struct iovec *iov, int n, const int *fds,
                           int nfds, int wait)
{
    return ik__io_unix_send(io, iov, n, fds, nfds, wait);
}

int ik__io_unix_peer(const struct ik__io *io, uid_t *uid, gid_t *gid, pid_t *pid)
{
    struct ucred cr;
    socklen_t sl = sizeof(cr);
    if (getsockopt(io->rfd, SOL_SOCKET, SO_PEERCRED, &cr, &sl) != 0)
        return ik__errno();
    if (cr.pid == 0 && cr.uid == (uid_t)-1)
        return IK_ENOTSUP; /* datagram sockets: the kernel has no credentials */
    if (uid)
        *uid = cr.uid;
    if (gid)
        *gid = cr.gid;
    if (pid)
        *pid = cr.pid;
    return 0;
}

const struct ik__io_ops ik__io_unix_ops = {
    .read = unix_read,
    .writev = unix_writev,
    .peer = ik__io_unix_peer,
    .close = ik__io_fd_close,
};

/* Seqpacket: the channel layer caps each write at packet_max, so a packet
 * never spans two messages; the reader always offers >= packet_max bytes. */
static ssize_t upkt_read(struct ik__io *io, void *buf, size_t n, int wait)
{
    return unix_recv(io, buf, n, 1, wait);
}

const struct ik__io_ops ik__io_upkt_ops = {
    .read = upkt_read,
    .writev = unix_writev,
    .peer = ik__io_unix_peer,
    .close = ik__io_fd_close,
};
