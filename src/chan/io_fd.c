/* fd-based I/O layers: stream sockets, Unix sockets (+fds, creds), pipes. */
#include "chan_int.h"

#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>

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
     * and the channel layer then polls. */
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

static int map_errno(int e)
{
    if (e == EPIPE || e == ECONNRESET || e == ECONNREFUSED || e == ENOTCONN)
        return IK_ECLOSED;
    return e > 0 ? -e : IK_EIO;
}

/* A failed transfer: "would block" records what to poll for, else map e. */
static ssize_t io_fail(struct ik__io *io, int e, short want)
{
    if (e == EAGAIN || e == EWOULDBLOCK) {
        io->want = want;
        return IK_EAGAIN;
    }
    return map_errno(e);
}

/* recv()/sendmsg() retried on EINTR; -1 with errno set on failure. */
static ssize_t recv_retry(int fd, void *buf, size_t n, int flags)
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

static void fd_close(struct ik__io *io)
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
    ssize_t r = recv_retry(io->rfd, buf, n, wait ? 0 : MSG_DONTWAIT);
    return r >= 0 ? r : io_fail(io, errno, POLLIN);
}

static ssize_t sock_writev(struct ik__io *io, const struct iovec *iov, int n, const int *fds,
                           int nfds, int wait)
{
    if (nfds > 0 || fds != NULL)
        return IK_ENOTSUP;
    struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
    ssize_t r = sendmsg_retry(io->wfd, &m, MSG_NOSIGNAL | (wait ? 0 : MSG_DONTWAIT));
    return r >= 0 ? r : io_fail(io, errno, POLLOUT);
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
    fd_close(io);
}

const struct ik__io_ops ik__io_sock_ops = {
    .read = sock_read,
    .writev = sock_writev,
    .close = sock_close,
};

/* ---- Unix sockets: fds and credentials --------------------------------- */

union ik__cmsg_fds {
    char buf[CMSG_SPACE(sizeof(int) * 253)];
    struct cmsghdr align;
};

static ssize_t unix_recv(struct ik__io *io, void *buf, size_t n, int packet, int wait)
{
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
            return io_fail(io, errno, POLLIN);
        }
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c != NULL; c = CMSG_NXTHDR(&m, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                continue;
            size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < k; i++) {
                int fd;
                memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
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

static ssize_t unix_send(struct ik__io *io, const struct iovec *iov, int n, const int *fds,
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
    return io_fail(io, errno, POLLOUT);
}

static ssize_t unix_read(struct ik__io *io, void *buf, size_t n, int wait)
{
    return unix_recv(io, buf, n, 0, wait);
}

static ssize_t unix_writev(struct ik__io *io, const struct iovec *iov, int n, const int *fds,
                           int nfds, int wait)
{
    return unix_send(io, iov, n, fds, nfds, wait);
}

static int unix_peer(const struct ik__io *io, uid_t *uid, gid_t *gid, pid_t *pid)
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
    .peer = unix_peer,
    .close = fd_close,
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
    .peer = unix_peer,
    .close = fd_close,
};

/*
 * Datagrams have no end-of-stream: a dead peer is seen only when sending.
 * So a wait on a connected datagram socket sleeps in slices of
 * IK__DGRAM_SLICE_MS and, when a slice passes with nothing to do, checks
 * that the peer still exists:
 *  1. sock_diag (NETLINK_SOCK_DIAG, UDIAG_SHOW_PEER) reports the inode of
 *     our socket's peer; the kernel reports 0 once that socket is released
 *     (every fd of it closed: the peer process died or closed it). This is
 *     the socket itself, so pid reuse cannot fool it and a peer socket
 *     handed on to a live child counts as alive.
 *  2. Without sock_diag (kernel without CONFIG_UNIX_DIAG, or no netlink in
 *     a sandbox): the peer's address probed with connect() from a fresh
 *     datagram socket. ECONNREFUSED means no socket is bound there any more:
 *     gone. A live peer answers EPERM (it is connected to us) and anything
 *     else counts as alive. A filesystem address is held by an O_PATH fd
 *     taken at connect time and probed as /proc/self/fd/N, so unlinking or
 *     replacing the name (a server that closed its listener but keeps the
 *     channel, a gc) changes nothing. An abstract address is probed as is
 *     (a reused name only ever looks alive). Not the peer's pid: a socket
 *     handed to a child outlives the process that connected it. Unknown
 *     peer address (pairs, adopted fds): wait as before.
 * Reads never block inside the layer (MSG_DONTWAIT): the channel layer
 * waits through udgram_wait.
 */
#define IK__DGRAM_SLICE_MS 100

struct udgram_priv {
    int watch;      /* connected at setup: check the peer while waiting */
    int opath;      /* fallback: O_PATH fd of the peer's socket file, or -1 */
    socklen_t alen; /* fallback: the peer's abstract address (alen > 0) */
    struct sockaddr_un addr;
};

static atomic_int dgram_no_diag;

void ik__udgram_test_no_diag(int on)
{
    atomic_store(&dgram_no_diag, on);
}

int ik__udgram_io_init(struct ik__io *io, int fd)
{
    struct udgram_priv *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return IK_ENOMEM;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    p->watch = getpeername(fd, (struct sockaddr *)&ss, &sl) == 0;
    p->opath = -1;
    ik__io_init(io, &ik__io_udgram_ops, fd, fd);
    io->ctx = p;
    return 0;
}

void ik__udgram_watch_addr(struct ik__io *io, const struct sockaddr_un *sa, socklen_t len,
                           const char *path)
{
    struct udgram_priv *p = io->ctx;
    const size_t off = offsetof(struct sockaddr_un, sun_path);
    if (p == NULL || p->opath >= 0 || p->alen > 0)
        return;
    char buf[sizeof(sa->sun_path) + 1];
    if (path == NULL && sa != NULL && len > off && sa->sun_path[0] != '\0') {
        size_t n = (size_t)len - off;
        if (n > sizeof(sa->sun_path))
            n = sizeof(sa->sun_path);
        memcpy(buf, sa->sun_path, n);
        buf[n] = '\0';
        path = buf;
    }
    if (path != NULL) {
        int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode))) {
            close(fd);
            fd = -1;
        }
        p->opath = fd; /* -1: nothing to watch, the fallback says "unknown" */
    } else if (sa != NULL && len > off + 1 && len <= sizeof(*sa)) {
        memcpy(&p->addr, sa, len);
        p->alen = len;
    }
}

/* Fallback: 0 if nothing is bound at the peer's address any more, else 1
 * (alive, or cannot tell). */
static int addr_peer_alive(const struct udgram_priv *p)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    socklen_t len;
    if (p->opath >= 0) {
        int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d", p->opath);
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)n + 1);
    } else if (p->alen > 0) {
        sa = p->addr;
        len = p->alen;
    } else {
        return 1;
    }
    int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return 1;
    int r;
    do
        r = connect(s, (struct sockaddr *)&sa, len);
    while (r != 0 && errno == EINTR);
    int e = errno;
    close(s);
    return r == 0 || e != ECONNREFUSED;
}

/* sock_diag: inode of fd's peer socket (0: released or none), or a
 * negative IK_E* when the kernel cannot tell. */
static int64_t diag_peer_ino(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return ik__errno();
    int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (nl < 0)
        return ik__errno();
    struct {
        struct nlmsghdr h;
        struct unix_diag_req r;
    } req = {
        .h = {.nlmsg_len = sizeof(req),
              .nlmsg_type = SOCK_DIAG_BY_FAMILY,
              .nlmsg_flags = NLM_F_REQUEST,
              .nlmsg_seq = 1},
        .r = {.sdiag_family = AF_UNIX,
              .udiag_states = ~0u,
              .udiag_ino = (uint32_t)st.st_ino,
              .udiag_show = UDIAG_SHOW_PEER,
              .udiag_cookie = {~0u, ~0u}},
    };
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    int64_t rc = IK_EIO;
    if (sendto(nl, &req, sizeof(req), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
        rc = ik__errno();
        close(nl);
        return rc;
    }
    union {
        char buf[1024];
        struct nlmsghdr align;
    } ans;
    ssize_t n;
    do /* answered inside sendto: never blocks */
        n = recv(nl, ans.buf, sizeof(ans.buf), MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    close(nl);
    if (n < 0)
        return ik__errno();
    struct nlmsghdr *h = &ans.align;
    if (!NLMSG_OK(h, (size_t)n) || h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
        h->nlmsg_len < NLMSG_LENGTH(sizeof(struct unix_diag_msg)))
        return IK_ENOTSUP; /* NLMSG_ERROR: no unix_diag in this kernel */
    size_t off = NLMSG_LENGTH(sizeof(struct unix_diag_msg));
    off = (off + 3) & ~(size_t)3;
    while (off + sizeof(struct nlattr) <= h->nlmsg_len) {
        struct nlattr a;
        memcpy(&a, (char *)h + off, sizeof(a));
        if (a.nla_len < sizeof(a) || off + a.nla_len > h->nlmsg_len)
            break;
        if (a.nla_type == UNIX_DIAG_PEER && a.nla_len >= sizeof(a) + sizeof(uint32_t)) {
            uint32_t ino;
            memcpy(&ino, (char *)h + off + sizeof(a), sizeof(ino));
            return ino;
        }
        off += ((size_t)a.nla_len + 3) & ~(size_t)3;
    }
    return IK_ENOTSUP;
}

/* 1 the peer lives (or cannot be checked), 0 it is gone. */
static int udgram_peer_alive(const struct ik__io *io)
{
    const struct udgram_priv *p = io->ctx;
    if (p == NULL || !p->watch)
        return 1;
    if (!atomic_load_explicit(&dgram_no_diag, memory_order_relaxed)) {
        int64_t ino = diag_peer_ino(io->rfd);
        if (ino >= 0)
            return ino != 0;
    }
    return addr_peer_alive(p);
}

static int udgram_wait(struct ik__io *io, uint64_t deadline)
{
    int fd = io->want == POLLOUT ? io->wfd : io->rfd;
    for (;;) {
        uint64_t slice = ik__deadline(IK__DGRAM_SLICE_MS);
        if (deadline <= slice)
            return ik__wait_fd(fd, io->want, deadline);
        int rc = ik__wait_fd(fd, io->want, slice);
        if (rc != IK_ETIMEDOUT)
            return rc;
        if (!udgram_peer_alive(io)) {
            snprintf(io->detail, sizeof(io->detail), "datagram peer is gone (socket released)");
            return IK_EPEERDEAD;
        }
    }
}

/* Datagrams: read returns the full datagram length (MSG_TRUNC) even if it
 * was larger than n. Never blocks: waits go through udgram_wait. */
static ssize_t udgram_read(struct ik__io *io, void *buf, size_t n, int wait)
{
    IK__UNUSED(wait);
    ssize_t r = recv_retry(io->rfd, buf, n, MSG_DONTWAIT | MSG_TRUNC);
    return r >= 0 ? r : io_fail(io, errno, POLLIN);
}

static ssize_t udgram_peek(struct ik__io *io)
{
    char c;
    ssize_t r = recv_retry(io->rfd, &c, 0, MSG_DONTWAIT | MSG_TRUNC | MSG_PEEK);
    return r >= 0 ? r : io_fail(io, errno, POLLIN);
}

/* The kernel builds a datagram in one linear buffer: beyond about 4 MiB the
 * allocation fails with ENOBUFS whatever the buffer sizes. Nothing was
 * sent, so it is IK_EMSGSIZE (the channel stays usable), not an I/O error. */
static ssize_t udgram_writev(struct ik__io *io, const struct iovec *iov, int n, const int *fds,
                             int nfds, int wait)
{
    ssize_t r = unix_send(io, iov, n, fds, nfds, wait);
    if (r == -ENOBUFS) {
        snprintf(io->detail, sizeof(io->detail),
                 "datagram too large for the kernel (no buffer space)");
        return IK_EMSGSIZE;
    }
    return r;
}

static void udgram_close(struct ik__io *io)
{
    struct udgram_priv *p = io->ctx;
    if (p != NULL && p->opath >= 0)
        close(p->opath);
    free(io->ctx);
    io->ctx = NULL;
    fd_close(io);
}

const struct ik__io_ops ik__io_udgram_ops = {
    .read = udgram_read,
    .writev = udgram_writev,
    .peek_len = udgram_peek,
    .wait = udgram_wait,
    .peer = unix_peer,
    .close = udgram_close,
};

/* ---- pipes and FIFOs: write with SIGPIPE blocked ----------------------- */

/*
 * The fds of a pipe channel may be the caller's (ik_chan_from_fd) and share
 * their open file description with other processes, so their status flags
 * are never changed. Non-blocking I/O is per call instead: preadv2/pwritev2
 * with RWF_NOWAIT. A kernel (or file: FIFOs refuse it) that refuses
 * RWF_NOWAIT gets private O_NONBLOCK open file descriptions of the same
 * pipe, opened through /proc/self/fd/N (which, for a pipe or FIFO, creates a
 * new description), on first need; they live in io->ctx. Where that reopening
 * is refused too (the inode no longer grants this process access: a FIFO
 * handed down from root to another uid, or chmod'ed after opening; no
 * /proc), a call polls the caller's fd with timeout 0 and, when ready, makes
 * one call that cannot wait: a read (a ready pipe returns what it has), or a
 * write of at most PIPE_BUF bytes (POLLOUT means a free slot of a page, so
 * such a write never waits and frames <= PIPE_BUF stay atomic). That last
 * mode assumes no other reader (writer) races on the same pipe between the
 * poll and the call. Blocking calls (wait=1) use the caller's fds as they
 * are: a blocking one blocks, an O_NONBLOCK one gives EAGAIN and the channel
 * layer polls.
 */
enum { NB_UNSET = -1, NB_POLL = -2 }; /* pipe_priv slots besides an fd */

struct pipe_priv {
    int rnb, wnb; /* private O_NONBLOCK descriptions, NB_UNSET or NB_POLL */
};

static atomic_int pipe_force_reopen;

void ik__pipe_test_force_reopen(int on)
{
    atomic_store(&pipe_force_reopen, on);
}

#ifndef RWF_NOSIGNAL
#define RWF_NOSIGNAL 0x00000100 /* Linux 6.18: EPIPE without SIGPIPE */
#endif

/* 1: pwritev2 takes RWF_NOSIGNAL (learnt once on a scratch pipe), -1: it
 * does not, 0: unknown. Tests force -1 to run the signal-mask path. */
static atomic_int pipe_nosignal;

void ik__pipe_test_no_nosignal(int on)
{
    atomic_store(&pipe_nosignal, on ? -1 : 0);
}

static bool nosignal_supported(void)
{
    int st = atomic_load_explicit(&pipe_nosignal, memory_order_relaxed);
    if (st != 0)
        return st > 0;
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return false; /* out of fds: ask again next time */
    struct iovec v = {(void *)"", 1};
    bool ok = pwritev2(p[1], &v, 1, -1, RWF_NOSIGNAL) == 1;
    close(p[0]);
    close(p[1]);
    int expect = 0;
    atomic_compare_exchange_strong(&pipe_nosignal, &expect, ok ? 1 : -1);
    return ok;
}

/* writev(2), with extra RWF_* flags (RWF_NOSIGNAL: never SIGPIPE). */
static ssize_t pipe_pwritev(int fd, const struct iovec *iov, int n, int flags)
{
    return flags ? pwritev2(fd, iov, n, -1, flags) : writev(fd, iov, n);
}

/* Reopen fd (a pipe or FIFO end) as a private description with acc|O_NONBLOCK
 * and check it is the same pipe: the fd or a negative IK_E*. */
static int pipe_reopen(int fd, int acc)
{
    char path[40];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    int nfd = open(path, acc | O_NONBLOCK | O_CLOEXEC);
    if (nfd < 0)
        return errno == ENXIO ? IK_ECLOSED : ik__errno();
    struct stat a, b;
    if (fstat(fd, &a) != 0 || fstat(nfd, &b) != 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino ||
        !S_ISFIFO(b.st_mode)) {
        close(nfd);
        return IK_EIO;
    }
    return nfd;
}

/* How a non-blocking call reaches the pipe for reading or writing: *out is
 * the private non-blocking fd (opened now if needed) or NB_POLL. 0, or
 * IK_ECLOSED (no reader: a write end cannot be opened) or IK_ENOMEM. */
static int pipe_nb_fd(struct ik__io *io, int writing, int *out)
{
    struct pipe_priv *p = io->ctx;
    if (p == NULL) {
        if ((p = malloc(sizeof(*p))) == NULL)
            return IK_ENOMEM;
        p->rnb = p->wnb = NB_UNSET;
        io->ctx = p;
    }
    int *slot = writing ? &p->wnb : &p->rnb;
    if (*slot == NB_UNSET) {
        int fd = pipe_reopen(writing ? io->wfd : io->rfd, writing ? O_WRONLY : O_RDONLY);
        if (fd == IK_ECLOSED)
            return fd;
        *slot = fd >= 0 ? fd : NB_POLL;
    }
    *out = *slot;
    return 0;
}

static int nowait_refused(int e)
{
    return e == EOPNOTSUPP || e == EINVAL || e == ENOSYS;
}

/* Is fd ready for events right now? 1, 0 (errno = EAGAIN) or -1 (errno). */
static int ready_now(int fd, short events)
{
    struct pollfd pfd = {.fd = fd, .events = events};
    int k = poll(&pfd, 1, 0);
    if (k == 0)
        errno = EAGAIN;
    return k;
}

/* NB_POLL reading: a ready pipe's read returns what it has (or EOF). */
static ssize_t poll_read(int fd, void *buf, size_t n)
{
    int k = ready_now(fd, POLLIN);
    return k <= 0 ? -1 : read(fd, buf, n);
}

/* NB_POLL writing: at most PIPE_BUF bytes, which a free slot always holds. */
static ssize_t poll_writev(int fd, const struct iovec *iov, int n, int flags)
{
    int k = ready_now(fd, POLLOUT);
    if (k <= 0)
        return -1;
    struct iovec lim[8];
    size_t budget = PIPE_BUF;
    int m = 0;
    for (int i = 0; i < n && m < (int)(sizeof(lim) / sizeof(lim[0])) && budget > 0; i++) {
        size_t take = iov[i].iov_len < budget ? iov[i].iov_len : budget;
        lim[m++] = (struct iovec){iov[i].iov_base, take};
        budget -= take;
    }
    return pipe_pwritev(fd, lim, m, flags);
}

static ssize_t pipe_read(struct ik__io *io, void *buf, size_t n, int wait)
{
    struct iovec v = {buf, n};
    for (;;) {
        ssize_t r;
        struct pipe_priv *p = io->ctx;
        if (wait) {
            r = read(io->rfd, buf, n);
        } else if ((p == NULL || p->rnb == NB_UNSET) &&
                   !atomic_load_explicit(&pipe_force_reopen, memory_order_relaxed) &&
                   ((r = preadv2(io->rfd, &v, 1, -1, RWF_NOWAIT)) >= 0 || !nowait_refused(errno))) {
            /* One call; it cannot block even if another reader of a shared
             * pipe takes the bytes that a poll() would have announced. */
        } else {
            int fd, rc = pipe_nb_fd(io, 0, &fd);
            if (rc != 0)
                return rc;
            r = fd >= 0 ? read(fd, buf, n) : poll_read(io->rfd, buf, n);
        }
        if (r >= 0)
            return r;
        if (errno == EINTR)
            continue;
        return io_fail(io, errno, POLLIN);
    }
}

/* One write attempt (EINTR retried): the count, or -1 with *e set (an errno
 * or, negated, an IK_E*). */
/* flags: 0 or RWF_NOSIGNAL, added to every write. */
static ssize_t pipe_write_once(struct ik__io *io, const struct iovec *iov, int n, int wait,
                               int flags, int *e)
{
    for (;;) {
        ssize_t r;
        struct pipe_priv *p = io->ctx;
        if (wait) {
            r = pipe_pwritev(io->wfd, iov, n, flags);
        } else if ((p == NULL || p->wnb == NB_UNSET) &&
                   !atomic_load_explicit(&pipe_force_reopen, memory_order_relaxed) &&
                   ((r = pwritev2(io->wfd, iov, n, -1, RWF_NOWAIT | flags)) >= 0 ||
                    !nowait_refused(errno))) {
            /* done: one call that cannot wait */
        } else {
            int fd, rc = pipe_nb_fd(io, 1, &fd);
            if (rc != 0) {
                *e = -rc;
                return -1;
            }
            r = fd >= 0 ? pipe_pwritev(fd, iov, n, flags) : poll_writev(io->wfd, iov, n, flags);
        }
        if (r >= 0)
            return r;
        if (errno != EINTR) {
            *e = errno;
            return -1;
        }
    }
}

static ssize_t pipe_writev(struct ik__io *io, const struct iovec *iov, int n, const int *fds,
                           int nfds, int wait)
{
    if (nfds > 0 || fds != NULL)
        return IK_ENOTSUP;
    ssize_t r;
    int e = 0;
    /* Linux 6.18+: pwritev2(RWF_NOSIGNAL) is the pipe MSG_NOSIGNAL, one call
     * like a raw write. */
    if (nosignal_supported()) {
        r = pipe_write_once(io, iov, n, wait, RWF_NOSIGNAL, &e);
        return r >= 0 ? r : io_fail(io, e, POLLOUT);
    }
    /*
     * Older kernels: two correct ways to write without risking SIGPIPE:
     * (a) the process ignores it (one sigaction query, fresh every time,
     * then a plain write), or (b) block it in this thread around the write
     * and swallow the one this write may raise (two sigprocmask calls, none
     * if the caller already blocks it). Syscalls cost about 1 us each on
     * some hosts, so a thread-local hint picks the path: after seeing
     * SIG_IGN take (a), else (b) without the query, re-checking the
     * disposition every 64 writes. The hint never skips a check that
     * safety depends on: (a) always queries first.
     */
    static _Thread_local unsigned hint_ign, since_check;
    struct sigaction sa;
    if (hint_ign || ++since_check >= 64) {
        since_check = 0;
        hint_ign = sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN;
        if (hint_ign) {
            r = pipe_write_once(io, iov, n, wait, 0, &e);
            goto done;
        }
    }
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    r = pipe_write_once(io, iov, n, wait, 0, &e);
    if (!sigismember(&old, SIGPIPE)) {
        if (r < 0 && e == EPIPE) {
            /* Consume the SIGPIPE this thread just got, before unblocking. */
            struct timespec zero = {0, 0};
            while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
                ;
        }
        pthread_sigmask(SIG_UNBLOCK, &pipe_set, NULL);
    }
done:
    return r >= 0 ? r : io_fail(io, e, POLLOUT);
}

static void pipe_close(struct ik__io *io)
{
    struct pipe_priv *p = io->ctx;
    if (p != NULL) {
        if (p->rnb >= 0)
            close(p->rnb);
        if (p->wnb >= 0)
            close(p->wnb);
        free(p);
        io->ctx = NULL;
    }
    fd_close(io);
}

const struct ik__io_ops ik__io_pipe_ops = {
    .read = pipe_read,
    .writev = pipe_writev,
    .close = pipe_close,
};
