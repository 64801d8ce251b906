/*
 * fifo://NAME: two FIFOs in the private runtime directory, <NAME>.up.fifo
 * (client to server) and <NAME>.down.fifo (server to client), or
 * <path>.up.fifo / <path>.down.fifo for fifo:///abs/path. One client at a
 * time. A live listener holds an OFD lock on <base>.fifo.lock next to the
 * FIFOs (core/fifolock.h: only the owner of the private runtime directory
 * can create it), so a second listener gets IK_EADDRINUSE and files left by
 * a dead one are reused. Handshake: the client opens down for reading, then
 * up for writing (flock LOCK_EX: one client), then writes one byte 'H'; the
 * server, having opened up for reading in ik_accept, reads it, opens down for
 * writing and answers 'A' (so the client never reads a writer-less FIFO as
 * EOF).
 */
#include "../chan_int.h"
#include "../../core/fifolock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define HELLO 'H'
#define ACK   'A'

static int fifo_paths(const struct ik__url *u, char *up, char *down, size_t cap)
{
    char base[PATH_MAX];
    /* ".down.fifo" and ".fifo.lock" are the longest names made of it */
    int rc = ik__url_fs_path(u, "", sizeof(IK__FIFO_DOWN_SUFFIX) - 1, base, sizeof(base));
    if (rc != 0)
        return rc;
    if ((size_t)snprintf(up, cap, "%s" IK__FIFO_UP_SUFFIX, base) >= cap ||
        (size_t)snprintf(down, cap, "%s" IK__FIFO_DOWN_SUFFIX, base) >= cap)
        return IK_ENAMETOOLONG;
    return 0;
}

/* Check an existing path is a FIFO we trust (never follow a symlink). */
static int fifo_check(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return ik__errno();
    if (!S_ISFIFO(st.st_mode))
        return IK_EUNSAFE;
    if ((st.st_mode & 0077) != 0)
        return IK_EUNSAFE;
    return ik__perm_check(&st, NULL);
}

/* open() a FIFO without following symlinks, then verify what was opened
 * (fstat: a FIFO, ours, mode 0600) so a swap after fifo_check cannot win.
 * Returns the fd or a negative IK_E* (-ENXIO: no reader yet, for the
 * dialer's retry). */
static int fifo_open(const char *path, int flags)
{
    int fd = open(path, flags | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ELOOP ? IK_EUNSAFE : -errno;
    struct stat st;
    int rc = fstat(fd, &st) != 0 ? ik__errno() : 0;
    if (rc == 0 && (!S_ISFIFO(st.st_mode) || (st.st_mode & 0077) != 0))
        rc = IK_EUNSAFE;
    if (rc == 0)
        rc = ik__perm_check(&st, NULL);
    if (rc != 0) {
        close(fd);
        return rc;
    }
    return fd;
}

/* One client at a time, on both sides. A channel the listener accepted holds
 * an exclusive flock on its write end of the down FIFO for as long as it
 * (or any process it was handed to) is open. While it does, another
 * ik_accept would read the live client's bytes from up, and a new dialer
 * would talk to the old channel: both ask first, with a shared test lock,
 * and get IK_EBUSY. 1 served, 0 free, or IK_E*. */
static int fifo_served(int fd)
{
    if (flock(fd, LOCK_SH | LOCK_NB) != 0)
        return errno == EWOULDBLOCK ? 1 : ik__errno();
    (void)flock(fd, LOCK_UN);
    return 0;
}

static int fifo_served_at(const char *down)
{
    int fd = fifo_open(down, O_RDONLY); /* never read: only for the lock */
    if (fd < 0)
        return fd;
    int rc = fifo_served(fd);
    close(fd);
    return rc;
}

static int fifo_make(const char *path)
{
    if (mkfifo(path, 0600) == 0)
        return 0;
    if (errno != EEXIST)
        return ik__errno();
    return fifo_check(path); /* left by a dead listener: reuse if ours */
}

/* "<base>" of the up FIFO path "<base>.up.fifo" into out. */
static void fifo_base(const char *up, char *out, size_t cap)
{
    size_t n = strlen(up), k = strlen(IK__FIFO_UP_SUFFIX);
    if (n >= k)
        n -= k;
    snprintf(out, cap, "%.*s", (int)n, up);
}

static int fifo_listen(struct ik_listener *l)
{
    int rc = fifo_paths(&l->url, l->path, l->path2, sizeof(l->path));
    if (rc != 0)
        return rc;
    char base[PATH_MAX];
    fifo_base(l->path, base, sizeof(base));
    int lk = ik__fifo_lock_take(base);
    if (lk < 0) {
        l->path[0] = l->path2[0] = '\0';
        return lk;
    }
    rc = fifo_make(l->path);
    if (rc == 0)
        rc = fifo_make(l->path2);
    if (rc != 0) {
        ik__fifo_lock_drop(base, lk);
        l->path[0] = l->path2[0] = '\0';
        return rc;
    }
    /* O_PATH holds show the FIFOs as in use by a live process (ipckit gc
     * leaves them alone) without keeping a pipe buffer alive. */
    int *holds = malloc(2 * sizeof(int));
    if (holds == NULL) {
        unlink(l->path);
        unlink(l->path2);
        ik__fifo_lock_drop(base, lk);
        l->path[0] = l->path2[0] = '\0';
        return IK_ENOMEM;
    }
    holds[0] = open(l->path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    holds[1] = open(l->path2, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    l->ctx = holds;
    l->aux = lk;
    l->fd = -1; /* nothing to poll: FIFOs have no "client arrived" event */
    snprintf(l->bound, sizeof(l->bound), "fifo://%s", l->url.name);
    return 0;
}

static int fifo_accept(struct ik_listener *l, struct ik__io *io, uint64_t deadline)
{
    int rc = fifo_check(l->path);
    if (rc != 0)
        return rc;
    if ((rc = fifo_served_at(l->path2)) != 0)
        return rc > 0 ? IK_EBUSY : rc; /* a channel it accepted is still open */
    int rfd = fifo_open(l->path, O_RDONLY);
    if (rfd < 0)
        return rfd;
    for (;;) {
        rc = ik__wait_fd(rfd, POLLIN, deadline);
        if (rc != 0)
            break;
        char c;
        ssize_t r = read(rfd, &c, 1);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r != 1 || c != HELLO) {
            rc = r == 0 ? IK_ECLOSED : IK_EPROTO;
            break;
        }
        int wfd = fifo_open(l->path2, O_WRONLY);
        if (wfd < 0) {
            rc = wfd == -ENXIO ? IK_ECLOSED : wfd;
            break;
        }
        /* Served from now on (waits out a dialer's momentary test lock). */
        while ((rc = flock(wfd, LOCK_EX)) != 0 && errno == EINTR)
            ;
        if (rc != 0) {
            rc = ik__errno();
            close(wfd);
            break;
        }
        /* Through the pipe layer: the client may have gone since wfd was
         * opened, and a plain write() would then raise SIGPIPE here. wfd is
         * O_NONBLOCK: one call that cannot wait. */
        ik__io_init(io, &ik__io_pipe_ops, rfd, wfd);
        char ack = ACK;
        struct iovec v = {&ack, 1};
        ssize_t w = io->ops->writev(io, &v, 1, NULL, 0, 1);
        rc = w == 1 ? ik__fd_nonblock(rfd, 0) : IK_ECLOSED;
        if (rc != 0)
            io->ops->close(io); /* rfd and wfd */
        return rc;
    }
    close(rfd);
    return rc;
}

static void fifo_lst_close(struct ik_listener *l)
{
    if (l->path[0] && fifo_check(l->path) == 0)
        unlink(l->path);
    if (l->path2[0] && fifo_check(l->path2) == 0)
        unlink(l->path2);
    if (l->aux >= 0) { /* after the FIFOs: a new listener may take over now */
        char base[PATH_MAX];
        fifo_base(l->path, base, sizeof(base));
        ik__fifo_lock_drop(base, l->aux);
    }
    int *holds = l->ctx;
    if (holds != NULL) {
        for (int i = 0; i < 2; i++)
            if (holds[i] >= 0)
                close(holds[i]);
        free(holds);
    }
}

static int fifo_dial(struct ik__io *io, const struct ik__url *u, const struct ik_chan_opts *o,
                     uint64_t deadline)
{
    IK__UNUSED(o);
    char up[PATH_MAX], down[PATH_MAX];
    int rc = fifo_paths(u, up, down, sizeof(up));
    if (rc != 0)
        return rc;
    if ((rc = fifo_check(up)) != 0 || (rc = fifo_check(down)) != 0)
        return rc;
    int rfd = fifo_open(down, O_RDONLY);
    if (rfd < 0)
        return rfd;
    if ((rc = fifo_served(rfd)) != 0) { /* the listener still serves a client */
        close(rfd);
        return rc > 0 ? IK_EBUSY : rc;
    }
    int wfd;
    for (;;) {
        wfd = fifo_open(up, O_WRONLY);
        if (wfd >= 0)
            break;
        if (wfd != -ENXIO) {
            close(rfd);
            return wfd;
        }
        /* No server in ik_accept yet: FIFOs have no event for that, so
         * retry every 2 ms until the deadline. */
        if (ik__ms_left(deadline) == 0) {
            close(rfd);
            return IK_ETIMEDOUT;
        }
        poll(NULL, 0, 2);
    }
    if (flock(wfd, LOCK_EX | LOCK_NB) != 0) {
        close(rfd);
        close(wfd);
        return IK_EBUSY;
    }
    ik__io_init(io, &ik__io_pipe_ops, rfd, wfd);
    char c = HELLO;
    struct iovec v = {&c, 1};
    ssize_t r;
    while ((r = io->ops->writev(io, &v, 1, NULL, 0, 0)) == IK_EAGAIN) {
        rc = ik__wait_fd(wfd, POLLOUT, deadline);
        if (rc != 0)
            break;
    }
    if (r != 1) {
        io->ops->close(io);
        return r < 0 && r != IK_EAGAIN ? (int)r : rc ? rc : IK_EIO;
    }
    for (;;) {
        rc = ik__wait_fd(rfd, POLLIN, deadline);
        if (rc != 0)
            break;
        char a;
        r = read(rfd, &a, 1);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        rc = r == 1 && a == ACK ? 0 : r == 0 ? IK_ECLOSED : IK_EPROTO;
        break;
    }
    if (rc == 0)
        rc = ik__fd_nonblock(rfd, 0);
    if (rc != 0)
        io->ops->close(io);
    return rc;
}

static int fifo_adopt(struct ik__io *io, int rfd, int wfd)
{
    return ik__tp_pipe.adopt(io, rfd, wfd);
}

const struct ik__transport ik__tp_fifo = {
    .scheme = "fifo",
    .flags = IK__TF_STREAM,
    .listen = fifo_listen,
    .accept = fifo_accept,
    .lst_close = fifo_lst_close,
    .dial = fifo_dial,
    .adopt = fifo_adopt,
};
