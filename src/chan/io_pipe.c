/* Pipe and FIFO I/O layer: never SIGPIPE, never change the caller's fd
 * flags (non-blocking per call). */
#include "chan_int.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* ---- pipes and FIFOs ------------------------------------------------- */

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
        return ik__io_fail(io, errno, POLLIN);
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
        return r >= 0 ? r : ik__io_fail(io, e, POLLOUT);
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
    return r >= 0 ? r : ik__io_fail(io, e, POLLOUT);
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
    ik__io_fd_close(io);
}

const struct ik__io_ops ik__io_pipe_ops = {
    .read = pipe_read,
    .writev = pipe_writev,
    .close = pipe_close,
};
