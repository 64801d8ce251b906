/* Directory-entry operations shared by directory-based registry providers:
 * quarantine rename, restore, checked unlink, recovery after a crashed gc. */
#include "reg.h"

#include <stdio.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define QPREFIX "ik-gc-q."

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

static int rename_noreplace(int dfd, const char *from, const char *to)
{
    if (syscall(SYS_renameat2, dfd, from, dfd, to, RENAME_NOREPLACE) == 0)
        return 0;
    return ik__errno();
}

static int open_dir(const char *dir)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    return dfd >= 0 ? dfd : ik__errno();
}

int ik__reg_dir_isolate(struct ik__reg_obj *o)
{
    char q[IK_NAME_MAX + 96];
    if (o->qleaf != NULL)
        return IK_EINVAL;
    /* The gc's pid and start time: a reused pid must not look like the gc
     * still working on it (recover). */
    int n = snprintf(q, sizeof(q), "." QPREFIX "%d-%llu.%s", (int)getpid(),
                     (unsigned long long)ik__self_start_time(), o->leaf);
    if (n < 0 || (size_t)n >= sizeof(q))
        return IK_ENAMETOOLONG;
    int dfd = open_dir(o->dir);
    if (dfd < 0)
        return dfd;
    struct stat st;
    int rc = 0;
    if (fstatat(dfd, o->leaf, &st, AT_SYMLINK_NOFOLLOW) != 0)
        rc = ik__errno();
    else if (st.st_dev != o->dev || st.st_ino != o->ino)
        rc = IK_ENOENT; /* replaced since the scan: not ours to judge */
    else if ((rc = rename_noreplace(dfd, o->leaf, q)) == 0 && (o->qleaf = strdup(q)) == NULL) {
        (void)rename_noreplace(dfd, q, o->leaf);
        rc = IK_ENOMEM;
    }
    close(dfd);
    return rc;
}

int ik__reg_dir_restore(struct ik__reg_obj *o)
{
    if (o->qleaf == NULL)
        return 0;
    int dfd = open_dir(o->dir);
    if (dfd < 0)
        return dfd;
    int rc = rename_noreplace(dfd, o->qleaf, o->leaf);
    close(dfd);
    if (rc == 0) {
        free(o->qleaf);
        o->qleaf = NULL;
    }
    return rc;
}

int ik__reg_dir_remove(struct ik__reg_obj *o, unsigned flags, mode_t want_type)
{
    const char *leaf = o->qleaf != NULL ? o->qleaf : o->leaf;
    int dfd = open_dir(o->dir);
    if (dfd < 0)
        return dfd;
    struct stat st;
    int rc = 0;
    if (fstatat(dfd, leaf, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        rc = ik__errno();
    } else if (st.st_dev != o->dev || st.st_ino != o->ino) {
        rc = IK_ENOENT; /* replaced since the scan */
    } else if (want_type != 0 ? (st.st_mode & S_IFMT) != want_type
                              : !(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) {
        rc = IK_EUNSAFE;
    } else if (st.st_uid != geteuid() && !((flags & IK_OBJ_ALL_USERS) && geteuid() == 0)) {
        rc = IK_EPERM_OWNER;
    } else if (unlinkat(dfd, leaf, 0) != 0) {
        rc = ik__errno();
    }
    close(dfd);
    if (rc == 0 && o->qleaf != NULL) {
        free(o->qleaf);
        o->qleaf = NULL;
    }
    return rc;
}

static bool recover(int dfd, const char *d_name)
{
    if (strncmp(d_name, "." QPREFIX, sizeof(QPREFIX)) != 0)
        return false;
    const char *p = d_name + sizeof(QPREFIX);
    char *end;
    long pid = strtol(p, &end, 10);
    unsigned long long start = 0; /* "<pid>.<entry>": before start times */
    if (end != p && *end == '-') {
        const char *sp = end + 1;
        start = strtoull(sp, &end, 10);
        if (end == sp)
            return true;
    }
    if (end == p || *end != '.' || pid <= 0 || pid > 0x7fffffffL)
        return true;
    const char *leaf = end + 1;
    if (pid == getpid() || ik__proc_alive((int)pid, start))
        return true; /* that gc is still working on it */
    struct stat st;
    if (fstatat(dfd, d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        (st.st_uid != geteuid() && geteuid() != 0))
        return true; /* only the owner (or root) puts it back */
    if (rename_noreplace(dfd, d_name, leaf) == IK_EEXIST)
        (void)unlinkat(dfd, d_name, 0); /* name reused: unreachable, users keep it */
    return true;
}

void ik__reg_dir_recover_all(DIR *d)
{
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        (void)recover(dirfd(d), de->d_name);
    rewinddir(d); /* the main pass sees the restored names */
}
