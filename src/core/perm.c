/* Ownership and mode rules for named objects. */
#include "internal.h"

#include <time.h>
#include <unistd.h>

mode_t ik__perm_mode(const ik_perm *perm)
{
    if (perm == NULL || perm->mode == 0)
        return 0600;
    return (mode_t)(perm->mode & 0777);
}

int ik__perm_check(const struct stat *st, const ik_perm *perm)
{
    if (st->st_uid == geteuid())
        return 0;
    if (perm != NULL) {
        if (perm->trust_uid >= 0 && (uid_t)perm->trust_uid == st->st_uid)
            return 0;
        if (perm->trust_gid >= 0 && (gid_t)perm->trust_gid == st->st_gid &&
            (st->st_mode & 0060) != 0)
            return 0;
    }
    return IK_EPERM_OWNER;
}

int ik__open_checked(const char *path, int oflags, const ik_perm *perm, struct stat *st)
{
    /* O_NONBLOCK: a FIFO planted under the name must be refused, not block
     * the open (O_RDONLY waits for a writer); cleared again below. */
    int fd;
    long wait_ns = 100000;
    for (uint64_t waited = 0;; waited += (uint64_t)wait_ns, wait_ns *= 2) {
        fd = open(path, oflags | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
                  ik__perm_mode(perm));
        /* EWOULDBLOCK: a non-blocking open that breaks a file lease (ipckit
         * gc probes segments with a momentary one). The break is under way:
         * retry for a while rather than block on a name that could be
         * swapped for a FIFO meanwhile. */
        if (fd >= 0 || errno != EWOULDBLOCK || waited >= 2000000000u)
            break;
        if (wait_ns > 50000000)
            wait_ns = 50000000;
        struct timespec ts = {0, wait_ns};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
    }
    if (fd < 0) {
        /* O_NOFOLLOW on a symlink fails with ELOOP. */
        return errno == ELOOP ? IK_EUNSAFE : ik__errno();
    }
    if (fstat(fd, st) != 0) {
        int rc = ik__errno();
        close(fd);
        return rc;
    }
    int rc = 0;
    if (!S_ISREG(st->st_mode))
        rc = IK_EUNSAFE;
    else
        rc = ik__perm_check(st, perm);
    if (rc == 0 && !(oflags & O_NONBLOCK)) {
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0)
            rc = ik__errno();
    }
    if (rc != 0) {
        close(fd);
        return rc;
    }
    return fd;
}
