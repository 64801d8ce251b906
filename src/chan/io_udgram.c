/* Unix datagram I/O layer: whole datagrams, and a wait that notices a
 * dead peer (datagrams have no end-of-stream). */
#include "chan_int.h"

#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

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

/* 1 the peer lives (or cannot be checked), 0 it is gone. */
static int udgram_peer_alive(const struct ik__io *io)
{
    const struct udgram_priv *p = io->ctx;
    if (p == NULL || !p->watch)
        return 1;
    if (!atomic_load_explicit(&dgram_no_diag, memory_order_relaxed)) {
        int64_t ino = ik__sockdiag_unix_peer_ino(io->rfd);
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
    ssize_t r = ik__io_recv_retry(io->rfd, buf, n, MSG_DONTWAIT | MSG_TRUNC);
    return r >= 0 ? r : ik__io_fail(io, errno, POLLIN);
}

static ssize_t udgram_peek(struct ik__io *io)
{
    char c;
    ssize_t r = ik__io_recv_retry(io->rfd, &c, 0, MSG_DONTWAIT | MSG_TRUNC | MSG_PEEK);
    return r >= 0 ? r : ik__io_fail(io, errno, POLLIN);
}

/* The kernel builds a datagram in one linear buffer: beyond about 4 MiB the
 * allocation fails with ENOBUFS whatever the buffer sizes. Nothing was
 * sent, so it is IK_EMSGSIZE (the channel stays usable), not an I/O error. */
static ssize_t udgram_writev(struct ik__io *io, const struct iovec *iov, int n, const int *fds,
                             int nfds, int wait)
{
    ssize_t r = ik__io_unix_send(io, iov, n, fds, nfds, wait);
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
    ik__io_fd_close(io);
}

const struct ik__io_ops ik__io_udgram_ops = {
    .read = udgram_read,
    .writev = udgram_writev,
    .peek_len = udgram_peek,
    .wait = udgram_wait,
    .peer = ik__io_unix_peer,
    .close = udgram_close,
};
