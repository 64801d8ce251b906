/* Private runtime directory for socket and FIFO paths. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int rundir_path(char *buf, size_t cap)
{
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    int n;
    if (xdg != NULL && xdg[0] == '/')
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

int ik__runtime_dir_open(char *buf, size_t cap)
{
    if (buf == NULL || cap == 0)
        return IK_EINVAL;
    int rc = rundir_path(buf, cap);
    if (rc != 0)
        return rc;
    if (mkdir(buf, 0700) != 0 && errno != EEXIST)
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
    int dfd = ik__runtime_dir_open(buf, cap);
    if (dfd < 0)
        return dfd;
    close(dfd);
    return 0;
}
