/* The liveness token of a fifo:// listener: an OFD write lock on
 * <base>.fifo.lock (see fifolock.h). */
#include "fifolock.h"

#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <unistd.h>

static int lock_path(const char *base, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s" IK__FIFO_LOCK_SUFFIX, base);
    return (n < 0 || (size_t)n >= cap) ? IK_ENAMETOOLONG : 0;
}

/* Whole-file OFD lock request of type t. */
static struct flock whole(short t)
{
    struct flock fl = {.l_type = t, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0, .l_pid = 0};
    return fl;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* A conflicting lock found by F_OFD_GETLK: a listener's (a write lock, not
 * the gc byte), rather than a gc's. */
static bool is_listener(const struct flock *q)
{
    return q->l_type == F_WRLCK && !(q->l_start == IK__FIFO_LOCK_GC_BYTE && q->l_len == 1);
}

int ik__fifo_lock_take(const char *base)
{
    char path[PATH_MAX];
    int rc = lock_path(base, path, sizeof(path));
    if (rc != 0)
        return rc;
    /* A gc holds its byte for a few syscalls: retry for up to ~1 s. */
    for (int attempt = 0; attempt < 1000; attempt++) {
        struct stat st, now;
        int fd = ik__open_checked(path, O_RDWR | O_CREAT | O_NONBLOCK, NULL, &st);
        if (fd < 0)
            return fd;
        if ((st.st_mode & 0077) != 0) { /* ours, but opened up to others */
            close(fd);
            return IK_EUNSAFE;
        }
        struct flock fl = whole(F_WRLCK);
        if (fcntl(fd, F_OFD_SETLK, &fl) == 0) {
            /* Still the file at the path? A gc may have unlinked it between
             * our open and our lock: then take the new one. */
            if (lstat(path, &now) == 0 && same_file(&st, &now))
                return fd;
            close(fd);
            continue;
        }
        int e = errno;
        if (e != EAGAIN && e != EACCES && e != EINTR) {
            close(fd);
            return -e;
        }
        struct flock q = whole(F_WRLCK);
        bool live = fcntl(fd, F_OFD_GETLK, &q) == 0 && is_listener(&q);
        close(fd);
        if (live)
            return IK_EADDRINUSE;
        poll(NULL, 0, 1); /* a gc at work: gone in microseconds */
    }
    return IK_EADDRINUSE;
}

void ik__fifo_lock_drop(const char *base, int fd)
{
    if (fd < 0)
        return;
    char path[PATH_MAX];
    struct stat a, b;
    /* Unlink while still holding the lock: a listener that opened this
     * file meanwhile finds it unlinked after locking and starts over. */
    if (lock_path(base, path, sizeof(path)) == 0 && fstat(fd, &a) == 0 && lstat(path, &b) == 0 &&
        same_file(&a, &b))
        unlink(path);
    close(fd);
}

/* Open an existing lock file in dfd: fd, IK_ENOENT, IK_EUNSAFE (a symlink
 * or not a regular file) or IK_E*. st gets its fstat. */
static int lock_open_at(int dfd, const char *leaf, int acc, struct stat *st)
{
    int fd = openat(dfd, leaf, acc | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return errno == ELOOP ? IK_EUNSAFE : ik__errno();
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        return IK_EUNSAFE;
    }
    return fd;
}

int ik__fifo_lock_held_at(int dfd, const char *leaf)
{
    struct stat st;
    int fd = lock_open_at(dfd, leaf, O_RDONLY, &st);
    if (fd == IK_ENOENT || fd == IK_EUNSAFE)
        return 0; /* no lock file (or not one): no listener can hold it */
    if (fd < 0)
        return fd;
    /* F_OFD_GETLK tests without taking anything. */
    struct flock q = whole(F_RDLCK);
    int rc = fcntl(fd, F_OFD_GETLK, &q) != 0 ? ik__errno() : is_listener(&q);
    close(fd);
    return rc;
}

int ik__fifo_lock_collect_at(int dfd, const char *leaf, bool any_owner)
{
    struct stat st, now;
    int fd = lock_open_at(dfd, leaf, O_RDWR, &st);
    if (fd < 0)
        return fd;
    int rc = 0;
    struct flock fl = {
        .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = IK__FIFO_LOCK_GC_BYTE, .l_len = 1};
    if (st.st_uid != geteuid() && !any_owner)
        rc = IK_EPERM_OWNER;
    else if (fcntl(fd, F_OFD_SETLK, &fl) != 0)
        rc = (errno == EAGAIN || errno == EACCES) ? IK_EBUSY : ik__errno();
    /* Under the gc byte nobody else can unlink or replace it: a listener
     * unlinks only its own locked file, another gc waits for the byte. */
    else if (fstatat(dfd, leaf, &now, AT_SYMLINK_NOFOLLOW) != 0 || !same_file(&st, &now))
        rc = IK_ENOENT;
    else if (unlinkat(dfd, leaf, 0) != 0)
        rc = ik__errno();
    close(fd);
    return rc;
}
