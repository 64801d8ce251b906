/* Private runtime directory for socket and FIFO paths. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* $XDG_RUNTIME_DIR counts only if it is what the XDG spec promises: a
 * directory of ours that nobody else may enter. A stale one kept across
 * su, or a user's kept by sudo -E, falls back to /tmp/ipckit-<euid>, so
 * root never creates a root-owned directory inside a user's. */
static bool xdg_ok(const char *xdg)
{
    struct stat st;
    return xdg != NULL && xdg[0] == '/' && stat(xdg, &st) == 0 && S_ISDIR(st.st_mode) &&
           st.st_uid == geteuid() && (st.st_mode & 0077) == 0;
}

static int rundir_path(char *buf, size_t cap)
{
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    int n;
    if (xdg_ok(xdg))
        n = snprintf(buf, cap, "%s/ipckit", xdg);
    else
        n = snprintf(buf, cap, "/tmp/ipckit-%u", (unsigned)geteuid());
    if (n < 0 || (size_t)n >= cap)
        return IK_ENAMETOOLONG;
    return 0;
}

/* Verify an open directory: ours, and no access for group or others. */
static int rundir_verify(int dfd)
{
    struct stat st;
    if (fstat(dfd, &st) != 0)
        return ik__errno();
    if (!S_ISDIR(st.st_mode))
        return IK_EUNSAFE;
    if (st.st_uid != geteuid())
        return IK_EPERM_OWNER;
    if ((st.st_mode & 0077) != 0)
        return IK_EUNSAFE;
    return 0;
}

int ik__runtime_dir_open(char *buf, size_t cap, bool create)
{
    if (buf == NULL || cap == 0)
        return IK_EINVAL;
    int rc = rundir_path(buf, cap);
    if (rc != 0)
        return rc;
    if (create && mkdir(buf, 0700) != 0 && errno != EEXIST)
        return ik__errno();
    int dfd = open(buf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return (errno == ELOOP || errno == ENOTDIR) ? IK_EUNSAFE : ik__errno();
    rc = rundir_verify(dfd);
    if (rc != 0) {
        close(dfd);
        return rc;
    }
    return dfd;
}

int ik_runtime_dir(char *buf, size_t cap)
{
    int dfd = ik__runtime_dir_open(buf, cap, true);
    if (dfd < 0)
        return dfd;
    close(dfd);
    return 0;
}
