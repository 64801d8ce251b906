/* Registry provider: ipckit segments, /dev/shm/ik.<name>. Segments of every
 * kind (shm, mutex, sem, ...) carry the 64-byte header, read here from a
 * pread copy and validated before any field is believed. */
#include "reg.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Fill o from its header. Returns false if the entry vanished or changed. */
static bool seg_read(struct ik__reg_obj *o, int dfd, const char *leaf)
{
    int fd = openat(dfd, leaf, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return false;
        strcpy(o->status, "noaccess");
        return true;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_dev != o->dev || st.st_ino != o->ino || !S_ISREG(st.st_mode)) {
        close(fd);
        return false;
    }
    struct ik__seg_hdr h;
    ssize_t n = pread(fd, &h, sizeof(h), 0);
    close(fd);
    int rc = IK_EPROTO;
    if (n == (ssize_t)sizeof(h)) {
        struct ik__seg_hdr c = h;
        bool creating = h.magic == 0 && h.version == IK__SEG_VERSION;
        if (creating) /* published without O_TMPFILE, magic not yet set */
            c.magic = IK__SEG_MAGIC;
        rc = ik__seg_hdr_check(&c, (uint64_t)st.st_size, 0);
        if (rc == 0 && c.creator_pid <= 0)
            rc = IK_EPROTO;
        if (rc == 0 && creating)
            strcpy(o->status, "creating");
        h = c;
    }
    if (rc != 0) {
        o->corrupt = true;
        strcpy(o->status, "corrupt");
        o->info.size = (uint64_t)st.st_size;
        return true;
    }
    snprintf(o->kind, sizeof(o->kind), "%s", ik__kind_name(h.kind));
    o->info.size = h.user_size;
    o->info.creator_pid = h.creator_pid;
    o->creator_start = h.creator_start;
    o->info.creator_alive = ik__proc_alive(h.creator_pid, h.creator_start) ? 1 : 0;
    o->info.created_ns = (int64_t)h.created_ns;
    return true;
}

static int seg_scan(struct ik__reg *reg)
{
    int dfd = open(IK__SHM_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return errno == ENOENT ? 0 : ik__errno();
    DIR *d = fdopendir(dfd);
    if (d == NULL) {
        int rc = ik__errno();
        close(dfd);
        return rc;
    }
    const size_t plen = sizeof(IK__SEG_PREFIX) - 1;
    int rc = 0;
    struct dirent *de;
    ik__reg_dir_recover_all(d);
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, IK__SEG_PREFIX, plen) != 0)
            continue;
        const char *name = de->d_name + plen;
        if (ik_name_check(name) != 0 || !ik__reg_match(reg, name))
            continue;
        struct stat st;
        if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
            !ik__reg_owner_ok(reg, st.st_uid))
            continue;
        struct ik__reg_obj *o =
            ik__reg_add(reg, &ik__reg_prov_seg, IK__SHM_DIR, de->d_name, name, &st);
        if (o == NULL) {
            rc = IK_ENOMEM;
            break;
        }
        if (!seg_read(o, dfd, de->d_name)) {
            /* vanished or replaced between readdir and open: drop it */
            ik__reg_drop_last(reg);
        }
    }
    closedir(d);
    return rc;
}

/* Is the segment open anywhere else, mappings included, whatever the
 * process? The kernel grants a write lease only when no other open file
 * description of the inode exists (check_conflicting_open), so this sees
 * processes that /proc does not show us. 1 busy, 0 free, -1 unknown (not the
 * owner, leases disabled). The lease lives for two system calls; should an
 * open race with it, the break signal is SIGWINCH (ignored by default)
 * rather than SIGIO (fatal by default). */
static int seg_busy(const struct ik__reg_obj *o)
{
    int dfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -1;
    const char *leaf = o->qleaf != NULL ? o->qleaf : o->leaf;
    int fd = openat(dfd, leaf, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    int err = errno;
    close(dfd);
    if (fd < 0)
        return err == EWOULDBLOCK ? 1 : -1; /* EWOULDBLOCK: someone else's lease */
    struct stat st;
    int r = -1;
    if (fstat(fd, &st) == 0 && st.st_dev == o->dev && st.st_ino == o->ino) {
        (void)fcntl(fd, F_SETSIG, SIGWINCH);
        if (fcntl(fd, F_SETLEASE, F_WRLCK) == 0) {
            r = 0;
            (void)fcntl(fd, F_SETLEASE, F_UNLCK);
        } else if (errno == EAGAIN) {
            r = 1;
        }
    }
    close(fd);
    return r;
}

static void seg_probe(struct ik__reg *reg, struct ik__reg_obj *o)
{
    if (o->info.self_attached || strcmp(o->status, "noaccess") == 0)
        return; /* our own open would make the lease fail: learn nothing */
    int busy = seg_busy(o);
    if (busy == 0)
        o->info.attached_unknown = 0; /* nobody at all: blind processes neither */
    else if (busy == 1 && o->info.attached == 0)
        o->info.attached_unknown = 1; /* open by someone /proc did not show */
}

static int seg_remove(struct ik__reg_obj *o, unsigned flags)
{
    return ik__reg_dir_remove(o, flags, S_IFREG);
}

const struct ik__reg_provider ik__reg_prov_seg = {
    .name = "segment",
    .scan = seg_scan,
    .probe = seg_probe,
    .isolate = ik__reg_dir_isolate,
    .restore = ik__reg_dir_restore,
    .remove = seg_remove,
};
