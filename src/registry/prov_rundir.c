/* Registry provider: FIFOs and Unix sockets in the private runtime
 * directory (<rundir>/<name>). Their creator is not recorded (-1); a socket
 * is live while a live socket is bound to its path, a FIFO while a live
 * process has it open (found by the /proc scan). Also a fifo:// listener
 * lock file with no FIFOs beside it (kind "fifo-lock": its listener died
 * between locking and making them), live while its lock is held. */
#include "reg.h"
#include "../core/fifolock.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define KIND_LOCK "fifo-lock"

/* "<base>" of "<base>.fifo.lock" into base; false for other names. */
static bool lock_base(const char *path, char *base, size_t cap)
{
    size_t n = strlen(path), k = strlen(IK__FIFO_LOCK_SUFFIX);
    if (n <= k || strcmp(path + n - k, IK__FIFO_LOCK_SUFFIX) != 0 || n - k >= cap)
        return false;
    memcpy(base, path, n - k);
    base[n - k] = '\0';
    return true;
}

/* A lock file whose listener never made its FIFOs (or whose FIFOs were
 * removed without it). With FIFOs present, it goes with them instead. */
static bool lone_lock(int dfd, const char *leaf)
{
    char base[NAME_MAX + 1], fifo[NAME_MAX + 16];
    struct stat st;
    if (!lock_base(leaf, base, sizeof(base)))
        return false;
    static const char *const sfx[] = {IK__FIFO_UP_SUFFIX, IK__FIFO_DOWN_SUFFIX};
    for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
        snprintf(fifo, sizeof(fifo), "%s%s", base, sfx[i]);
        if (fstatat(dfd, fifo, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT)
            return false;
    }
    return true;
}

static int scan_dir(struct ik__reg *reg, int dfd, const char *dir)
{
    DIR *d = fdopendir(dfd);
    if (d == NULL) {
        int rc = ik__errno();
        close(dfd);
        return rc;
    }
    int rc = 0;
    struct dirent *de;
    ik__reg_dir_recover_all(d);
    while ((de = readdir(d)) != NULL) {
        if (ik_name_check(de->d_name) != 0 || !ik__reg_match(reg, de->d_name))
            continue;
        struct stat st;
        if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        bool lock = S_ISREG(st.st_mode) && lone_lock(dfd, de->d_name);
        if (!(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || lock) ||
            !ik__reg_owner_ok(reg, st.st_uid))
            continue;
        struct ik__reg_obj *o =
            ik__reg_add(reg, &ik__reg_prov_rundir, dir, de->d_name, de->d_name, &st);
        if (o == NULL) {
            rc = IK_ENOMEM;
            break;
        }
        strcpy(o->kind, lock ? KIND_LOCK : S_ISFIFO(st.st_mode) ? "fifo" : "socket");
    }
    closedir(d);
    return rc;
}

/* Another user's runtime directory, for root with IK_OBJ_ALL_USERS: open it
 * only if it is a real directory (no symlink) owned by that uid and private
 * to it, as ik_runtime_dir makes them. Returns the fd or -1. */
static int other_dir_open(const char *dir, uid_t uid, dev_t self_dev, ino_t self_ino)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return -1;
    struct stat st;
    if (fstat(dfd, &st) != 0 || st.st_uid != uid || (st.st_mode & 0077) != 0 ||
        (st.st_dev == self_dev && st.st_ino == self_ino)) {
        close(dfd);
        return -1;
    }
    return dfd;
}

/* Root: the runtime directories of every user (/tmp/ipckit-<uid> and
 * /run/user/<uid>/ipckit, the defaults of ik_runtime_dir). */
static int scan_others(struct ik__reg *reg, dev_t self_dev, ino_t self_ino)
{
    static const struct {
        const char *parent, *prefix, *suffix;
    } roots[] = {{"/tmp", "ipckit-", ""}, {"/run/user", "", "/ipckit"}};
    for (size_t r = 0; r < sizeof(roots) / sizeof(roots[0]); r++) {
        DIR *d = opendir(roots[r].parent);
        if (d == NULL)
            continue;
        struct dirent *de;
        int rc = 0;
        size_t plen = strlen(roots[r].prefix);
        while (rc == 0 && (de = readdir(d)) != NULL) {
            if (strncmp(de->d_name, roots[r].prefix, plen) != 0)
                continue;
            char *end;
            const char *num = de->d_name + plen;
            unsigned long uid = strtoul(num, &end, 10);
            if (end == num || *end != '\0' || uid > 0xfffffffful)
                continue;
            char dir[PATH_MAX];
            int n =
                snprintf(dir, sizeof(dir), "%s/%s%s", roots[r].parent, de->d_name, roots[r].suffix);
            if (n < 0 || (size_t)n >= sizeof(dir))
                continue;
            int dfd = other_dir_open(dir, (uid_t)uid, self_dev, self_ino);
            if (dfd >= 0)
                rc = scan_dir(reg, dfd, dir);
        }
        closedir(d);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int rundir_scan(struct ik__reg *reg)
{
    char dir[PATH_MAX];
    bool all = reg->euid == 0 && (reg->flags & IK_OBJ_ALL_USERS);
    int dfd = ik__runtime_dir_open(dir, sizeof(dir), false); /* listing creates nothing */
    if (dfd < 0) {
        /* No runtime directory (yet), or no base: nothing there.
         * Root scanning everyone (e.g. sudo -E with a user's
         * XDG_RUNTIME_DIR) still scans the per-user directories. */
        if (all)
            return scan_others(reg, 0, 0);
        return dfd == IK_ENOENT ? 0 : dfd;
    }
    struct stat st;
    if (fstat(dfd, &st) != 0) {
        int rc = ik__errno();
        close(dfd);
        return rc;
    }
    int rc = scan_dir(reg, dfd, dir);
    if (rc == 0 && all)
        rc = scan_others(reg, st.st_dev, st.st_ino);
    return rc;
}

/* Does connecting to the socket file reach a live socket? Used when
 * /proc/net/unix does not show its path (other spelling, unreadable).
 * connect(2) follows symlinks, and the directory's owner may swap the entry
 * after the scan: connect through an O_PATH fd of the scanned socket inode
 * itself (/proc/self/fd/N), so root never reaches a socket it was pointed
 * at. 1 (also "cannot tell") or 0. */
static int obj_dir_open(const struct ik__reg_obj *o);
static int connect_probe(const struct ik__reg_obj *o)
{
    const char *leaf = o->qleaf != NULL ? o->qleaf : o->leaf;
    int dfd = obj_dir_open(o);
    if (dfd < 0)
        return 1;
    int pfd = openat(dfd, leaf, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    close(dfd);
    if (pfd < 0)
        return errno == ENOENT ? 0 : 1;
    struct stat st;
    int live = 1;
    if (fstat(pfd, &st) != 0 || !S_ISSOCK(st.st_mode) || st.st_dev != o->dev ||
        st.st_ino != o->ino) {
        close(pfd);
        return 1; /* not what was scanned: judge nothing */
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d", pfd);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s >= 0) {
        int r = connect(s, (struct sockaddr *)&sa, sizeof(sa));
        if (r != 0 && errno == ECONNREFUSED)
            live = 0;
        close(s);
    }
    close(pfd);
    return live;
}

/* The lock file name of a fifo:// pair member ("<base>.up.fifo" or
 * "<base>.down.fifo") or of a lone lock ("<base>.fifo.lock") into out;
 * false for other names. */
static bool lock_leaf_of(const char *leaf, char *out, size_t cap)
{
    static const char *const sfx[] = {IK__FIFO_UP_SUFFIX, IK__FIFO_DOWN_SUFFIX,
                                      IK__FIFO_LOCK_SUFFIX};
    size_t n = strlen(leaf);
    for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
        size_t k = strlen(sfx[i]);
        if (n > k && strcmp(leaf + n - k, sfx[i]) == 0) {
            int m = snprintf(out, cap, "%.*s%s", (int)(n - k), leaf, IK__FIFO_LOCK_SUFFIX);
            return m > 0 && (size_t)m < cap;
        }
    }
    return false;
}

/* o's directory, opened without following a symlink in its last component
 * (a user could swap their own directory entry): fd or IK_E*. */
static int obj_dir_open(const struct ik__reg_obj *o)
{
    int dfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    return dfd >= 0 ? dfd : ik__errno();
}

/* A fifo:// pair whose listener lock (<base>.fifo.lock, core/fifolock.h) is
 * not held belongs to a dead listener: nobody can be served through it, so
 * processes /proc hides cannot be using it either. Unlinking the name never
 * disturbs a process that has it open. The lock is an OFD lock on a file in
 * the private runtime directory: only its owner can create it, and root can
 * test it in another user's directory (F_OFD_GETLK takes nothing). A lone
 * lock file is judged the same way. */
static void lock_probe(struct ik__reg_obj *o)
{
    char lk[NAME_MAX + 1];
    if (!lock_leaf_of(o->leaf, lk, sizeof(lk)))
        return; /* not a fifo:// pair: the /proc scan alone decides */
    int dfd = obj_dir_open(o);
    int held = dfd < 0 ? dfd : ik__fifo_lock_held_at(dfd, lk);
    if (dfd >= 0)
        close(dfd);
    o->info.listening = held < 0 ? -1 : held;
    if (held == 0)
        o->info.attached_unknown = 0;
}

static void rundir_probe(struct ik__reg *reg, struct ik__reg_obj *o)
{
    if (strcmp(o->kind, "fifo") == 0 || strcmp(o->kind, KIND_LOCK) == 0) {
        lock_probe(o);
        return;
    }
    if (strcmp(o->kind, "socket") != 0)
        return;
    /* A socket file is never open()ed: only binding makes it live. */
    o->info.attached_unknown = 0;
    /* /proc/net/unix keeps the path a socket was bound to. */
    int bound = ik__reg_unix_bound(reg, o->path);
    o->info.listening = bound == 1 ? 1 : connect_probe(o);
}

/* A lock file is never renamed aside: the lock protocol guards its removal
 * (ik__fifo_lock_collect_at, under the gc byte lock, which gcs take in turn
 * and a starting listener waits out). Isolating it only checks it is still
 * the scanned file, still without FIFOs. */
static int rundir_isolate(struct ik__reg_obj *o)
{
    if (strcmp(o->kind, KIND_LOCK) != 0)
        return ik__reg_dir_isolate(o);
    int dfd = obj_dir_open(o);
    if (dfd < 0)
        return dfd;
    struct stat st;
    int rc = fstatat(dfd, o->leaf, &st, AT_SYMLINK_NOFOLLOW) != 0 || st.st_dev != o->dev ||
                     st.st_ino != o->ino || !lone_lock(dfd, o->leaf)
                 ? IK_ENOENT
                 : 0;
    close(dfd);
    return rc;
}

static int rundir_restore(struct ik__reg_obj *o)
{
    return strcmp(o->kind, KIND_LOCK) == 0 ? 0 : ik__reg_dir_restore(o);
}

static int rundir_remove(struct ik__reg_obj *o, unsigned flags)
{
    bool lone = strcmp(o->kind, KIND_LOCK) == 0;
    int rc = lone ? 0 : ik__reg_dir_remove(o, flags, 0);
    char lk[NAME_MAX + 1];
    if (rc != 0 || strcmp(o->kind, "socket") == 0 || !lock_leaf_of(o->leaf, lk, sizeof(lk)))
        return rc;
    /* The lone lock file; or a dead listener's, which goes with its FIFOs
     * (kept if a new listener holds it; best effort once a FIFO is gone). */
    bool any_owner = (flags & IK_OBJ_ALL_USERS) && geteuid() == 0;
    int dfd = obj_dir_open(o);
    int r = dfd < 0 ? dfd : ik__fifo_lock_collect_at(dfd, lk, any_owner);
    if (dfd >= 0)
        close(dfd);
    return lone ? r : rc;
}

const struct ik__reg_provider ik__reg_prov_rundir = {
    .name = "rundir",
    .scan = rundir_scan,
    .probe = rundir_probe,
    .isolate = rundir_isolate,
    .restore = rundir_restore,
    .remove = rundir_remove,
};
