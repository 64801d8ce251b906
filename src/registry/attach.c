/* Attachment scan: which live processes map or hold open each registry
 * object, found in ONE pass over /proc/<pid>/fd and /proc/<pid>/maps. */
#include "reg.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static int cmp_devino(const void *a, const void *b)
{
    const struct ik__reg_obj *x = *(const struct ik__reg_obj *const *)a;
    const struct ik__reg_obj *y = *(const struct ik__reg_obj *const *)b;
    if (x->dev != y->dev)
        return x->dev < y->dev ? -1 : 1;
    if (x->ino != y->ino)
        return x->ino < y->ino ? -1 : 1;
    return 0;
}

struct scan {
    struct ik__reg_obj **sorted;
    size_t n;
    int pid;
    bool self;
};

static void hit(struct scan *s, dev_t dev, ino_t ino)
{
    struct ik__reg_obj key = {.dev = dev, .ino = ino}, *kp = &key;
    struct ik__reg_obj **f = bsearch(&kp, s->sorted, s->n, sizeof(*s->sorted), cmp_devino);
    if (f == NULL)
        return;
    /* Several objects can share an inode only if scanned twice; mark all. */
    while (f > s->sorted && cmp_devino(f - 1, &kp) == 0)
        f--;
    for (; f < s->sorted + s->n && cmp_devino(f, &kp) == 0; f++) {
        struct ik__reg_obj *o = *f;
        if (s->self) {
            o->info.self_attached = 1;
            continue;
        }
        if (o->last_pid == s->pid)
            continue; /* each process counts once */
        o->last_pid = s->pid;
        if (o->info.npids < IK_OBJ_PIDS_MAX)
            o->info.pids[o->info.npids++] = s->pid;
        o->info.attached++;
    }
}

/* Open fds first, then mappings: a process that opens, maps, then closes is
 * seen in at least one of them whatever the interleaving. */
static int scan_fds(struct scan *s, int pfd)
{
    int fdd = openat(pfd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fdd < 0)
        return ik__errno();
    DIR *d = fdopendir(fdd);
    if (d == NULL) {
        int rc = ik__errno();
        close(fdd);
        return rc;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        if (de->d_name[0] == '.')
            continue;
        /* stat() through the magic link: the object itself, not the link. */
        if (fstatat(fdd, de->d_name, &st, 0) == 0)
            hit(s, st.st_dev, st.st_ino);
    }
    closedir(d);
    return 0;
}

static int scan_maps(struct scan *s, int pfd)
{
    int mfd = openat(pfd, "maps", O_RDONLY | O_CLOEXEC);
    if (mfd < 0)
        return ik__errno();
    FILE *f = fdopen(mfd, "r");
    if (f == NULL) {
        int rc = ik__errno();
        close(mfd);
        return rc;
    }
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;
    /* "start-end perms offset maj:min inode path" */
    while (getline(&line, &cap, f) > 0) {
        unsigned maj, min;
        unsigned long long ino;
        if (sscanf(line, "%*s %*s %*s %x:%x %llu", &maj, &min, &ino) == 3 && ino != 0)
            hit(s, makedev(maj, min), (ino_t)ino);
    }
    if (ferror(f))
        rc = IK_EIO;
    free(line);
    fclose(f);
    return rc;
}

static void read_uids(int pfd, uid_t *ruid, uid_t *euid)
{
    *ruid = *euid = (uid_t)-1;
    int fd = openat(pfd, "status", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    FILE *f = fdopen(fd, "r");
    if (f == NULL) {
        close(fd);
        return;
    }
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        unsigned long r, e;
        if (sscanf(line, "Uid: %lu %lu", &r, &e) == 2) {
            *ruid = (uid_t)r;
            *euid = (uid_t)e;
            break;
        }
    }
    free(line);
    fclose(f);
}

static int add_blind(struct ik__reg *reg, int pid, int pfd)
{
    if (reg->nblind == reg->blind_cap) {
        size_t cap = reg->blind_cap ? reg->blind_cap * 2 : 16;
        void *p = realloc(reg->blind, cap * sizeof(*reg->blind));
        if (p == NULL)
            return IK_ENOMEM;
        reg->blind = p;
        reg->blind_cap = cap;
    }
    struct ik__reg_blind *b = &reg->blind[reg->nblind++];
    b->pid = pid;
    read_uids(pfd, &b->ruid, &b->euid);
    return 0;
}

/* Paths (and "@abstract" names) of bound unix sockets, from /proc/net/unix ("Num RefCount Protocol
 * Flags Type St Inode [Path]"). */
static void read_unix(struct ik__reg *reg)
{
    free(reg->unix_paths);
    reg->unix_paths = NULL;
    reg->unix_len = 0;
    reg->unix_ok = false;
    FILE *f = fopen("/proc/net/unix", "re");
    if (f == NULL)
        return;
    char *line = NULL, *buf = NULL;
    size_t cap = 0, len = 0, bcap = 0;
    bool ok = true;
    while (getline(&line, &cap, f) > 0) {
        int off = -1;
        if (sscanf(line, "%*s %*s %*s %*s %*s %*s %*s %n", &off) < 0 || off <= 0)
            continue;
        char *p = line + off;
        size_t pl = strcspn(p, "\n");
        if (pl == 0 || (p[0] != '/' && p[0] != '@'))
            continue; /* unbound ('@' marks an abstract name) */
        if (len + pl + 1 > bcap) {
            size_t nc = (bcap ? bcap * 2 : 4096) + pl + 1;
            char *nb = realloc(buf, nc);
            if (nb == NULL) {
                ok = false;
                break;
            }
            buf = nb;
            bcap = nc;
        }
        memcpy(buf + len, p, pl);
        buf[len + pl] = '\0';
        len += pl + 1;
    }
    free(line);
    fclose(f);
    if (!ok) {
        free(buf);
        return;
    }
    reg->unix_paths = buf;
    reg->unix_len = len;
    reg->unix_ok = true;
}

int ik__reg_unix_bound(const struct ik__reg *reg, const char *path)
{
    if (!reg->unix_ok)
        return -1;
    for (size_t i = 0; i < reg->unix_len; i += strlen(reg->unix_paths + i) + 1) {
        if (strcmp(reg->unix_paths + i, path) == 0)
            return 1;
    }
    return 0;
}

bool ik__reg_blind_match(const struct ik__reg *reg, const struct ik__reg_obj *o)
{
    if (reg->nblind == 0)
        return false;
    if ((o->info.mode & 0077) != 0)
        return true; /* group or others may use it: any blind process could */
    for (size_t i = 0; i < reg->nblind; i++) {
        const struct ik__reg_blind *b = &reg->blind[i];
        if ((long)b->ruid == o->info.uid || (long)b->euid == o->info.uid)
            return true;
    }
    return false;
}

/* State letter of the task whose /proc directory is dfd ('?' unknown). */
static char task_state(int dfd)
{
    char buf[1024];
    int fd = openat(dfd, "stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return '?';
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return '?';
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    return p != NULL && p[1] == ' ' ? p[2] : '?';
}

/* The leader of a live process may be a zombie (its main thread called
 * pthread_exit): its fd/ and maps are then empty, and the process's files
 * and mappings are seen through a live thread. Returns a directory fd of
 * task/<tid> for such a thread, or -1 (scan pfd itself). */
static int live_task_dir(int pfd)
{
    if (task_state(pfd) != 'Z')
        return -1;
    int tfd = openat(pfd, "task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (tfd < 0)
        return -1;
    DIR *d = fdopendir(tfd);
    if (d == NULL) {
        close(tfd);
        return -1;
    }
    int found = -1;
    struct dirent *de;
    while (found < 0 && (de = readdir(d)) != NULL) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        int dfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
            continue;
        if (task_state(dfd) != 'Z')
            found = dfd;
        else
            close(dfd);
    }
    closedir(d);
    return found;
}

int ik__reg_attach_scan(struct ik__reg *reg, struct ik__reg_obj **objs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct ik__reg_obj *o = objs[i];
        o->info.attached = 0;
        o->info.npids = 0;
        o->info.self_attached = 0;
        o->info.attached_unknown = 0;
        o->last_pid = 0;
    }
    reg->nblind = 0;
    read_unix(reg);
    if (n == 0)
        return 0;

    struct scan s = {.n = n};
    s.sorted = malloc(n * sizeof(*s.sorted));
    if (s.sorted == NULL)
        return IK_ENOMEM;
    memcpy(s.sorted, objs, n * sizeof(*s.sorted));
    qsort(s.sorted, n, sizeof(*s.sorted), cmp_devino);

    DIR *proc = opendir("/proc");
    if (proc == NULL) {
        int rc = ik__errno();
        free(s.sorted);
        return rc;
    }
    int rc = 0;
    int self = getpid();
    struct dirent *de;
    while ((de = readdir(proc)) != NULL) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end != '\0' || pid <= 0 || pid > 0x7fffffffL)
            continue;
        uint64_t start = 0;
        if (ik__proc_start_time((int)pid, &start) == IK_ESRCH)
            continue; /* gone or zombie: holds nothing (unreadable: scan anyway) */
        int pfd = openat(dirfd(proc), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pfd < 0) {
            /* Gone, or hidden from us (hidepid): nothing to learn. Anything
             * else (EMFILE ...) must not pass for "holds nothing". */
            if (errno == ENOENT || errno == ESRCH || errno == EACCES || errno == EPERM)
                continue;
            rc = ik__errno();
            break;
        }
        s.pid = (int)pid;
        s.self = pid == self;
        int tdir = live_task_dir(pfd);
        int r1 = scan_fds(&s, tdir >= 0 ? tdir : pfd);
        int r2 = scan_maps(&s, tdir >= 0 ? tdir : pfd);
        if (tdir >= 0)
            close(tdir);
        bool blind = r1 == IK_EACCES || r1 == IK_EPERM || r2 == IK_EACCES || r2 == IK_EPERM;
        int other = 0;
        if (!blind) /* another failure (EMFILE, ENOMEM ...) */
            other = r1 != 0 && r1 != IK_ENOENT && r1 != IK_ESRCH   ? r1
                    : r2 != 0 && r2 != IK_ENOENT && r2 != IK_ESRCH ? r2
                                                                   : 0;
        if ((blind || other != 0) && ik__proc_alive((int)pid, start))
            rc = blind ? add_blind(reg, (int)pid, pfd) : other;
        close(pfd);
        if (rc != 0)
            break;
    }
    closedir(proc);
    free(s.sorted);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < n; i++)
        objs[i]->info.attached_unknown = ik__reg_blind_match(reg, objs[i]);
    return 0;
}
