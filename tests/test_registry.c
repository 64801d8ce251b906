/* Object registry: list, remove, gc with real processes (exec'd children,
 * kill -9, another uid). Every call is restricted to this test's own unique
 * names (IK_OBJ_EXACT), because other tests run concurrently in /dev/shm. */
#include "helpers.h"
#include "core/fifolock.h"
#include "core/internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* ---- child roles (exec'd) ---- */

static void signal_ready(const char *fdstr)
{
    int fd = atoi(fdstr);
    char c = 1;
    while (write(fd, &c, 1) < 0 && errno == EINTR)
        ;
    close(fd);
}

static _Noreturn int hang(void)
{
    for (;;)
        pause();
}

/* create NAME SIZE READYFD: create a segment, keep it, wait to be killed. */
static int child_create_hold(int argc, char **argv)
{
    ik_shm *shm;
    if (ik_shm_create(&shm, argv[0], (size_t)atol(argv[1]), 0) != 0)
        return 10;
    signal_ready(argv[2]);
    return hang();
}

/* create-many PREFIX COUNT READYFD: segments PREFIX-0.., closed (not
 * mapped), then wait to be killed. */
static int child_create_many(int argc, char **argv)
{
    for (long i = 0; i < atol(argv[1]); i++) {
        char name[IK_NAME_MAX + 1];
        ik_shm *shm;
        snprintf(name, sizeof(name), "%s-%ld", argv[0], i);
        if (ik_shm_create(&shm, name, 64, 0) != 0)
            return 10;
        ik_shm_close(shm);
    }
    signal_ready(argv[2]);
    return hang();
}

/* map NAME READYFD: map the segment, close its fd, wait to be killed. */
static int child_map_hold(int argc, char **argv)
{
    char path[128];
    snprintf(path, sizeof(path), "/dev/shm/ik.%s", argv[0]);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 11;
    void *p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return 12;
    signal_ready(argv[1]);
    return hang();
}

/* open PATH READYFD: hold PATH open (no mapping), wait to be killed. */
static int child_open_hold(int argc, char **argv)
{
    int fd = open(argv[0], O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return 13;
    signal_ready(argv[1]);
    return hang();
}

/* lock-hold PATH READYFD: take an OFD write lock on the whole of PATH (as
 * a fifo:// listener does on its lock file); gc-hold: on the gc byte only
 * (as a gc at work does). Say ready, wait to be killed. */
static int hold_lock(char **argv, off_t start, off_t len)
{
    int fd = open(argv[0], O_RDWR | O_CLOEXEC);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
    if (fd < 0 || fcntl(fd, F_OFD_SETLK, &fl) != 0)
        return 13;
    signal_ready(argv[1]);
    return hang();
}

static int child_lock_hold(int argc, char **argv)
{
    IK__UNUSED(argc);
    return hold_lock(argv, 0, 0);
}

static int child_gc_hold(int argc, char **argv)
{
    IK__UNUSED(argc);
    return hold_lock(argv, IK__FIFO_LOCK_GC_BYTE, 1);
}

/* race NAME GOFD READYFD CHECKFD JITTER_US: when GOFD is readable, spin for
 * JITTER_US (to land at varied points of the gc), then open and map the
 * segment (racing with the parent's gc), say so on READYFD, and once CHECKFD
 * is readable verify that the inode we hold is still linked.
 * Exit 0: held and still linked; 2: lost the race (already gone); 1: the
 * segment was unlinked while we held it (gc bug). */
static int child_race(int argc, char **argv)
{
    char c, path[128];
    snprintf(path, sizeof(path), "/dev/shm/ik.%s", argv[0]);
    if (read(atoi(argv[1]), &c, 1) != 1)
        return 10;
    uint64_t until = ik__now_ns() + (uint64_t)atol(argv[4]) * 1000u;
    while (ik__now_ns() < until)
        ; /* jitter only: correctness never depends on it */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int st = 2;
    if (fd >= 0) {
        void *p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
        st = p == MAP_FAILED ? 11 : 0;
    }
    if (write(atoi(argv[2]), &c, 1) != 1 || read(atoi(argv[3]), &c, 1) != 1)
        return 12;
    struct stat sb;
    if (st == 0 && (fstat(fd, &sb) != 0 || sb.st_nlink == 0))
        st = 1;
    return st;
}

static const struct ikt_child_role roles[] = {
    {"race", child_race},
    {"create-hold", child_create_hold},
    {"create-many", child_create_many},
    {"map-hold", child_map_hold},
    {"open-hold", child_open_hold},
    {"lock-hold", child_lock_hold},
    {"gc-hold", child_gc_hold},
    {NULL, NULL},
};

/* ---- helpers ---- */

/* Children still running, killed by the teardown if an assertion fails
 * (a hung child would keep ctest waiting on its output). */
static pid_t live_children[16];

static void track(pid_t pid, bool add)
{
    for (size_t i = 0; i < sizeof(live_children) / sizeof(live_children[0]); i++) {
        if (add ? live_children[i] == 0 : live_children[i] == pid) {
            live_children[i] = add ? pid : 0;
            return;
        }
    }
}

static int kill_children(void **state)
{
    for (size_t i = 0; i < sizeof(live_children) / sizeof(live_children[0]); i++) {
        if (live_children[i] > 0) {
            kill(live_children[i], SIGKILL);
            (void)ikt_wait(live_children[i]);
            live_children[i] = 0;
        }
    }
    return 0;
}

static pid_t spawn_ready(const char *role, const char *a, const char *b)
{
    ikt_gate g;
    ikt_gate_init(&g);
    char fdstr[16];
    snprintf(fdstr, sizeof(fdstr), "%d", g.fd[1]);
    pid_t pid = b != NULL ? ikt_spawn(g.fd[1], role, a, b, fdstr, NULL)
                          : ikt_spawn(g.fd[1], role, a, fdstr, NULL);
    close(g.fd[1]);
    g.fd[1] = -1;
    char c;
    ssize_t r;
    while ((r = read(g.fd[0], &c, 1)) < 0 && errno == EINTR)
        ;
    close(g.fd[0]);
    track(pid, true);
    if (r != 1)
        fail_msg("child %s exited with %d before it was ready", role, ikt_wait(pid));
    return pid;
}

static void kill9(pid_t pid)
{
    track(pid, false);
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(ikt_wait(pid), 128 + SIGKILL);
}

/* An orphan: created by an exec'd child that was then kill -9'ed. */
static pid_t make_orphan(const char *name, const char *size)
{
    pid_t c = spawn_ready("create-hold", name, size);
    kill9(c);
    return c;
}

struct found {
    int n;
    ik_obj_info info; /* last one (strings not kept) */
    char kind[16], status[16];
};

static int collect(const ik_obj_info *o, void *arg)
{
    struct found *f = arg;
    f->n++;
    f->info = *o;
    snprintf(f->kind, sizeof(f->kind), "%s", o->kind);
    snprintf(f->status, sizeof(f->status), "%s", o->status);
    f->info.kind = f->info.name = f->info.path = f->info.status = NULL;
    return 0;
}

static struct found lookup(const char *name, unsigned flags)
{
    struct found f = {0};
    int rc = ik_obj_list(name, IK_OBJ_EXACT | flags, collect, &f);
    if (rc < 0)
        fail_msg("ik_obj_list: %s", ik_err_name(rc));
    assert_int_equal(rc, f.n);
    return f;
}

struct gc_log {
    int removed, corrupt, busy, other;
};

static void gc_cb(const ik_obj_info *o, int result, void *arg)
{
    struct gc_log *l = arg;
    if (result == 0)
        l->removed++;
    else if (result == IK_EPROTO)
        l->corrupt++;
    else if (result == IK_EBUSY)
        l->busy++;
    else
        l->other++;
}

static int gc_one(const char *name, unsigned flags, struct gc_log *log)
{
    *log = (struct gc_log){0};
    return ik_obj_gc(name, IK_OBJ_EXACT | flags, gc_cb, log);
}

static bool seg_exists(const char *name)
{
    char path[128];
    struct stat st;
    snprintf(path, sizeof(path), "/dev/shm/ik.%s", name);
    return lstat(path, &st) == 0;
}

/* ---- tests ---- */

/* (a) The creator is kill -9'ed but another live process still maps it, or
 * only holds its fd: gc keeps it. Once those die too, gc removes it. */
static void test_gc_keeps_objects_in_use(void **state)
{
    const char *mapped = ikt_name("reg-mapped");
    const char *held = ikt_name("reg-held");
    char heldpath[128];
    snprintf(heldpath, sizeof(heldpath), "/dev/shm/ik.%s", held);

    pid_t c1 = spawn_ready("create-hold", mapped, "4096");
    pid_t mapper = spawn_ready("map-hold", mapped, NULL);
    kill9(c1);
    pid_t c2 = spawn_ready("create-hold", held, "4096");
    pid_t holder = spawn_ready("open-hold", heldpath, NULL);
    kill9(c2);

    struct gc_log log;
    assert_int_equal(gc_one(mapped, 0, &log), 0);
    assert_int_equal(gc_one(held, 0, &log), 0);
    assert_int_equal(gc_one(mapped, IK_OBJ_CORRUPT, &log), 0);
    assert_int_equal(log.removed + log.other, 0);
    assert_true(seg_exists(mapped));
    assert_true(seg_exists(held));

    struct found f = lookup(mapped, 0);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.info.creator_pid, c1);
    assert_int_equal(f.info.creator_alive, 0);
    assert_int_equal(f.info.attached, 1);
    assert_int_equal(f.info.pids[0], mapper);
    f = lookup(held, 0);
    assert_int_equal(f.info.attached, 1);
    assert_int_equal(f.info.pids[0], holder);

    /* The caller's own mapping keeps it too. */
    kill9(mapper);
    ik_shm *shm;
    assert_ok(ik_shm_open(&shm, mapped, IK_SHM_RDONLY));
    assert_int_equal(gc_one(mapped, 0, &log), 0);
    assert_true(seg_exists(mapped));
    ik_shm_close(shm);

    assert_int_equal(gc_one(mapped, 0, &log), 1);
    assert_int_equal(log.removed, 1);
    assert_false(seg_exists(mapped));
    kill9(holder);
    assert_int_equal(gc_one(held, 0, &log), 1);
    assert_false(seg_exists(held));
}

/* (b) A segment orphaned by a kill -9'ed creator, with no other user, is
 * removed; (c) a dry run before that removes nothing. */
static void test_gc_removes_orphan_dry_run_first(void **state)
{
    const char *name = ikt_name("reg-orphan");
    pid_t c = make_orphan(name, "100");
    struct gc_log log;
    assert_int_equal(gc_one(name, IK_OBJ_DRY_RUN, &log), 1);
    assert_int_equal(log.removed, 1);
    assert_true(seg_exists(name));
    struct found f = lookup(name, 0);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.info.creator_pid, c);
    assert_int_equal(f.info.creator_alive, 0);
    assert_int_equal(f.info.attached, 0);

    assert_int_equal(gc_one(name, 0, &log), 1);
    assert_int_equal(log.removed, 1);
    assert_false(seg_exists(name));
    assert_int_equal(lookup(name, 0).n, 0);
    /* Nothing left: a second gc is a no-op. */
    assert_int_equal(gc_one(name, 0, &log), 0);
}

/* A live creator's segment is never collected, even unattached. */
static void test_gc_keeps_live_creator(void **state)
{
    const char *name = ikt_name("reg-live");
    pid_t c = spawn_ready("create-hold", name, "64");
    struct gc_log log;
    assert_int_equal(gc_one(name, 0, &log), 0);
    assert_true(seg_exists(name));
    struct found f = lookup(name, 0);
    assert_int_equal(f.info.creator_alive, 1);
    kill9(c);
    assert_int_equal(gc_one(name, 0, &log), 1);
}

/* (d) ls reports kind, size, owner, mode, creator, liveness, attachment. */
static void test_list_reports_fields(void **state)
{
    const char *name = ikt_name("reg-ls");
    const char *mtx = ikt_name("reg-mtx");
    ik_shm *shm;
    assert_ok(ik_shm_create(&shm, name, 1000, 0));
    struct ik__seg seg;
    assert_ok(ik__seg_create(&seg, mtx, IK__KIND_MUTEX, 64, 0, NULL, NULL, NULL));

    struct found f = lookup(name, 0);
    assert_int_equal(f.n, 1);
    assert_string_equal(f.kind, "shm");
    assert_string_equal(f.status, "ok");
    assert_int_equal(f.info.size, 1000);
    assert_int_equal(f.info.uid, (long)geteuid());
    assert_int_equal(f.info.mode, 0600);
    assert_int_equal(f.info.creator_pid, getpid());
    assert_int_equal(f.info.creator_alive, 1);
    assert_int_equal(f.info.attached, 0);      /* the caller is not counted ... */
    assert_int_equal(f.info.self_attached, 1); /* ... but reported */
    assert_int_equal(f.info.listening, -1);
    assert_true(f.info.created_ns > 0);

    pid_t m = spawn_ready("map-hold", name, NULL);
    f = lookup(name, 0);
    assert_int_equal(f.info.attached, 1);
    assert_int_equal(f.info.npids, 1);
    assert_int_equal(f.info.pids[0], m);
    /* Without the /proc scan attachment is unknown. */
    f = lookup(name, IK_OBJ_NO_ATTACH);
    assert_int_equal(f.info.attached, -1);
    kill9(m);
    assert_int_equal(lookup(name, 0).info.attached, 0);

    f = lookup(mtx, 0);
    assert_string_equal(f.kind, "mutex");
    assert_int_equal(f.info.size, 64);

    /* Prefix listing finds both, in name order. */
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "reg-");
    struct found all = {0};
    assert_true(ik_obj_list(prefix, 0, collect, &all) >= 2);

    ik__seg_close(&seg);
    ik_shm_close(shm);
    assert_int_equal(ik_obj_remove(name, "shm", 0), 1);
    assert_ik(IK_ENOENT, ik_obj_remove(mtx, "shm", 0)); /* kind filter */
    assert_int_equal(ik_obj_remove(mtx, NULL, 0), 1);
    assert_int_equal(lookup(name, 0).n, 0);
}

static void write_junk(const char *name, size_t len)
{
    char path[128], buf[256];
    snprintf(path, sizeof(path), "/dev/shm/ik.%s", name);
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (char)(i * 13 + 7);
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, len), (ssize_t)len);
    close(fd);
}

/* (e) A corrupt header is listed as corrupt (no crash), kept by gc, and
 * removed only by gc --corrupt when unattached. */
static void test_corrupt_listed_not_collected(void **state)
{
    const size_t sizes[] = {0, 10, 64, 200};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        const char *name = ikt_name("reg-corrupt");
        write_junk(name, sizes[i]);
        struct found f = lookup(name, 0);
        assert_int_equal(f.n, 1);
        assert_string_equal(f.kind, "?");
        assert_string_equal(f.status, "corrupt");
        assert_int_equal(f.info.creator_pid, -1);
        assert_int_equal(f.info.size, sizes[i]);

        struct gc_log log;
        assert_int_equal(gc_one(name, 0, &log), 0);
        assert_int_equal(log.corrupt, 1);
        assert_true(seg_exists(name));
        assert_int_equal(gc_one(name, IK_OBJ_CORRUPT | IK_OBJ_DRY_RUN, &log), 1);
        assert_true(seg_exists(name));
        assert_int_equal(gc_one(name, IK_OBJ_CORRUPT, &log), 1);
        assert_false(seg_exists(name));
    }
    /* A valid header with a wrong size field is corrupt too. */
    const char *name = ikt_name("reg-badsize");
    pid_t c = make_orphan(name, "64");
    char path[128];
    snprintf(path, sizeof(path), "/dev/shm/ik.%s", name);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    uint64_t huge = UINT64_MAX;
    assert_int_equal(pwrite(fd, &huge, sizeof(huge), offsetof(struct ik__seg_hdr, user_size)), 8);
    /* Attached corrupt segments survive even gc --corrupt. */
    struct gc_log log;
    pid_t h = spawn_ready("open-hold", path, NULL);
    assert_int_equal(gc_one(name, IK_OBJ_CORRUPT, &log), 0);
    assert_int_equal(log.corrupt, 1);
    assert_true(seg_exists(name));
    kill9(h);
    close(fd);
    assert_string_equal(lookup(name, 0).status, "corrupt");
    assert_int_equal(ik_obj_remove(name, NULL, 0), 1);
    (void)c;
}

/* (f) Bad names and flags. */
static void test_bad_input(void **state)
{
    char long_name[IK_NAME_MAX + 2];
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    const char *bad[] = {"a/b", "..", "../../etc/passwd", long_name, "", ".x", "a b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_ik(IK_EBADNAME, ik_obj_remove(bad[i], NULL, 0));
    assert_ik(IK_EBADNAME, ik_obj_remove(NULL, NULL, 0));
    assert_ik(IK_ENOENT, ik_obj_remove(ikt_name("reg-missing"), NULL, 0));
    struct found f = {0};
    assert_ik(IK_EINVAL, ik_obj_list(NULL, 0, NULL, NULL));
    assert_ik(IK_EINVAL, ik_obj_list(NULL, 1u << 20, collect, &f));
    assert_ik(IK_EINVAL, ik_obj_list(NULL, IK_OBJ_DRY_RUN, collect, &f));
    assert_ik(IK_EINVAL, ik_obj_list(NULL, IK_OBJ_EXACT, collect, &f));
    assert_ik(IK_EBADNAME, ik_obj_list("a/b", IK_OBJ_EXACT, collect, &f));
    assert_ik(IK_EINVAL, ik_obj_gc(NULL, IK_OBJ_NO_ATTACH, NULL, NULL));
    assert_ik(IK_EINVAL, ik_obj_remove("x", NULL, IK_OBJ_DRY_RUN));
    assert_ik(IK_EBADNAME, ik_obj_gc(long_name, 0, NULL, NULL));
}

static int nobody_create_exit(void *arg)
{
    ik_shm *shm;
    return ik_shm_create(&shm, (const char *)arg, 64, 0) == 0 ? 0 : 1;
}

/* path of leaf in uid 65534's own runtime directory (/tmp/ipckit-65534):
 * 0, or -1 if it has none. */
static int nobody_path(const char *leaf, char *path, size_t cap)
{
    char dir[512];
    unsetenv("XDG_RUNTIME_DIR");
    if (ik_runtime_dir(dir, sizeof(dir)) != 0)
        return -1;
    snprintf(path, cap, "%s/%s", dir, leaf);
    return 0;
}

/* A FIFO there. */
static int nobody_mkfifo(void *arg)
{
    char path[600];
    if (nobody_path(arg, path, sizeof(path)) != 0)
        return 1;
    return mkfifo(path, 0600) == 0 ? 0 : 2;
}

/* A lone fifo:// lock file there (arg is its full name). */
static int nobody_mklock(void *arg)
{
    char path[600];
    if (nobody_path(arg, path, sizeof(path)) != 0)
        return 1;
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0)
        return 2;
    close(fd);
    return 0;
}

static int nobody_rm_gc(void *arg)
{
    const char *name = arg;
    if (ik_obj_remove(name, NULL, 0) != IK_EPERM_OWNER)
        return 1;
    if (ik_obj_remove(name, NULL, IK_OBJ_ALL_USERS) != IK_EPERM_OWNER)
        return 2;
    if (ik_obj_gc(name, IK_OBJ_EXACT, NULL, NULL) != 0)
        return 3;
    if (ik_obj_gc(name, IK_OBJ_EXACT | IK_OBJ_ALL_USERS, NULL, NULL) != 0)
        return 4;
    return seg_exists(name) ? 0 : 5;
}

/* Listing never creates the runtime directory (root's ls under sudo -E
 * would otherwise plant a root-owned one in the user's). */
static void test_list_creates_no_runtime_dir(void **state)
{
    char saved[PATH_MAX];
    snprintf(saved, sizeof(saved), "%s", getenv("XDG_RUNTIME_DIR"));
    const char *base = ikt_tmpdir();
    setenv("XDG_RUNTIME_DIR", base, 1);
    struct found f = {0};
    assert_true(ik_obj_list(NULL, 0, collect, &f) >= 0);
    struct gc_log log = {0};
    assert_true(ik_obj_gc(ikt_name("reg-none"), 0, gc_cb, &log) >= 0);
    char inside[PATH_MAX];
    snprintf(inside, sizeof(inside), "%s/ipckit", base);
    struct stat st;
    int made = lstat(inside, &st) == 0;
    setenv("XDG_RUNTIME_DIR", saved, 1);
    assert_false(made);
}

/* `ipckit gc | head -1`: the CLI's output pipe closes early, and its
 * SIGPIPE (or a Ctrl-C) takes effect only after gc put back or removed
 * everything it had renamed aside. */
static void test_gc_cli_closed_pipe(void **state)
{
    const char *prefix = ikt_name("reg-pipe");
    kill9(spawn_ready("create-many", prefix, "300"));
    char out[4096];
    (void)ikt_run(out, sizeof(out), "%s/tools/ipckit gc %s | head -1", ikt_bindir(), prefix);
    struct found f = {0};
    assert_true(ik_obj_list(prefix, 0, collect, &f) >= 0);
    assert_int_equal(f.n, 0); /* all collected */
    DIR *d = opendir("/dev/shm");
    assert_non_null(d);
    struct dirent *e;
    int isolated = 0;
    while ((e = readdir(d)) != NULL)
        isolated += strstr(e->d_name, prefix) != NULL;
    closedir(d);
    assert_int_equal(isolated, 0); /* nothing left renamed aside */
}

/* uid 65534 keeps swapping a stale socket in its runtime directory with a
 * symlink to root's private socket. */
struct swapper {
    char leaf[64];
    int ready[2], stop[2];
};

static int nobody_swap(void *arg)
{
    struct swapper *w = arg;
    char sock[600], link[620];
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (nobody_path(w->leaf, sock, sizeof(sock)) != 0 || strlen(sock) >= sizeof(sa.sun_path))
        return 1;
    snprintf(link, sizeof(link), "%s.tmp", sock);
    memcpy(sa.sun_path, sock, strlen(sock) + 1);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        return 2;
    close(s); /* stale: bound once, nobody listens */
    char target[600];
    snprintf(target, sizeof(target), "%s/secret.sock", getenv("IKT_SECRET_DIR"));
    if (symlink(target, link) != 0 || write(w->ready[1], "R", 1) != 1)
        return 4;
    struct pollfd p = {.fd = w->stop[0], .events = POLLIN};
    while (poll(&p, 1, 0) == 0)
        (void)renameat2(AT_FDCWD, sock, AT_FDCWD, link, RENAME_EXCHANGE);
    unlink(sock);
    unlink(link);
    return 0;
}

static int nobody_run_swap(void *arg)
{
    struct swapper *w = arg;
    close(w->ready[0]);
    close(w->stop[1]);
    int rc = ikt_become_nobody();
    return rc != 0 ? rc : nobody_swap(arg);
}

/* A probe of a stale socket in another user's directory connects to the
 * scanned inode, never through a name that user swapped for a symlink:
 * root's ls must not reach root's private socket. */
static void test_socket_probe_ignores_swapped_symlink(void **state)
{
    if (!ikt_is_root())
        skip();
    const char *secret_dir = ikt_tmpdir();
    setenv("IKT_SECRET_DIR", secret_dir, 1);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/secret.sock", secret_dir);
    int lst = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(lst >= 0);
    assert_int_equal(bind(lst, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(lst, 64), 0);
    struct swapper w;
    snprintf(w.leaf, sizeof(w.leaf), "%s.sock", ikt_name("reg-swap"));
    assert_int_equal(pipe(w.ready), 0);
    assert_int_equal(pipe(w.stop), 0);
    char xdg[600];
    snprintf(xdg, sizeof(xdg), "%s", getenv("XDG_RUNTIME_DIR"));
    pid_t pid = ikt_fork(nobody_run_swap, &w);
    close(w.ready[1]);
    close(w.stop[0]);
    char c;
    int ok = read(w.ready[0], &c, 1) == 1;
    for (int i = 0; ok && i < 60; i++) {
        struct found f = {0};
        assert_true(ik_obj_list(NULL, IK_OBJ_ALL_USERS, collect, &f) >= 0);
    }
    close(w.stop[1]);
    int rc = ikt_wait(pid);
    setenv("XDG_RUNTIME_DIR", xdg, 1);
    assert_true(ok);
    assert_int_equal(rc, 0);
    int got = accept4(lst, NULL, NULL, SOCK_CLOEXEC);
    assert_int_equal(got, -1); /* nobody ever connected */
    assert_int_equal(errno, EAGAIN);
    close(lst);
    close(w.ready[0]);
}

/* (g) Another uid's objects: never removed by a non-root caller; root sees
 * the owner and removes them only when asked (IK_OBJ_ALL_USERS). */
static void test_other_uid(void **state)
{
    if (!ikt_is_root())
        skip();
    /* A root-owned orphan: uid 65534 can neither rm nor gc it. */
    const char *mine = ikt_name("reg-rootorphan");
    make_orphan(mine, "64");
    assert_int_equal(ikt_run_as_nobody(nobody_rm_gc, (void *)mine), 0);
    assert_true(seg_exists(mine));
    struct gc_log log;
    assert_int_equal(gc_one(mine, 0, &log), 1);

    /* A segment of uid 65534 whose creator exited. */
    const char *theirs = ikt_name("reg-nobody");
    assert_int_equal(ikt_run_as_nobody(nobody_create_exit, (void *)theirs), 0);
    assert_int_equal(lookup(theirs, 0).n, 0); /* not ours: not listed */
    struct found f = lookup(theirs, IK_OBJ_ALL_USERS);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.info.uid, 65534);
    assert_int_equal(f.info.creator_alive, 0);
    assert_int_equal(gc_one(theirs, 0, &log), 0);
    assert_true(seg_exists(theirs));
    assert_ik(IK_EPERM_OWNER, ik_obj_remove(theirs, NULL, 0));
    assert_true(seg_exists(theirs));
    assert_int_equal(gc_one(theirs, IK_OBJ_ALL_USERS | IK_OBJ_DRY_RUN, &log), 1);
    assert_int_equal(ik_obj_remove(theirs, NULL, IK_OBJ_ALL_USERS), 1);
    assert_false(seg_exists(theirs));

    /* Root also sees the FIFOs of other users' runtime directories. */
    const char *fifo = ikt_name("reg-nobodyfifo");
    assert_int_equal(ikt_run_as_nobody(nobody_mkfifo, (void *)fifo), 0);
    assert_int_equal(lookup(fifo, 0).n, 0);
    f = lookup(fifo, IK_OBJ_ALL_USERS);
    assert_int_equal(f.n, 1);
    assert_string_equal(f.kind, "fifo");
    assert_int_equal(f.info.uid, 65534);
    assert_ik(IK_EPERM_OWNER, ik_obj_remove(fifo, NULL, 0));
    assert_int_equal(ik_obj_remove(fifo, NULL, IK_OBJ_ALL_USERS), 1);
    assert_int_equal(lookup(fifo, IK_OBJ_ALL_USERS).n, 0);

    /* ... and their lone fifo:// lock files, under the same rule. */
    char lock[128];
    snprintf(lock, sizeof(lock), "%s.fifo.lock", ikt_name("reg-nobodylk"));
    assert_int_equal(ikt_run_as_nobody(nobody_mklock, (void *)lock), 0);
    f = lookup(lock, IK_OBJ_ALL_USERS);
    assert_int_equal(f.n, 1);
    assert_string_equal(f.kind, "fifo-lock");
    assert_int_equal(f.info.uid, 65534);
    assert_ik(IK_EPERM_OWNER, ik_obj_remove(lock, NULL, 0));
    assert_int_equal(lookup(lock, IK_OBJ_ALL_USERS).n, 1);
    assert_int_equal(ik_obj_remove(lock, NULL, IK_OBJ_ALL_USERS), 1);
    assert_int_equal(lookup(lock, IK_OBJ_ALL_USERS).n, 0);
}

/* FIFOs and sockets of the runtime directory. */
/* A fifo:// listener killed between taking its lock and making its FIFOs
 * leaves <name>.fifo.lock alone: it is listed as "fifo-lock", kept while a
 * process holds the lock, collected once that process is killed. Next to
 * its FIFOs the lock file is not listed (it goes with them). */
static void test_lone_fifo_lock(void **state)
{
    IK__UNUSED(state);
    ikt_private_runtime();
    char dir[512], leaf[128], path[700], fifo[700];
    assert_ok(ik_runtime_dir(dir, sizeof(dir)));
    const char *base = ikt_name("reg-lk");
    snprintf(leaf, sizeof(leaf), "%s.fifo.lock", base);
    snprintf(path, sizeof(path), "%s/%s", dir, leaf);
    int fd = open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    close(fd);
    struct found f = lookup(leaf, 0);
    assert_int_equal(f.n, 1);
    assert_string_equal(f.kind, "fifo-lock");
    assert_int_equal(f.info.listening, 0);
    /* Another gc at work on it (the gc byte): not a listener, but this gc
     * waits its turn instead of unlinking beside it. */
    pid_t g = spawn_ready("gc-hold", path, NULL);
    assert_int_equal(lookup(leaf, 0).info.listening, 0);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(dfd >= 0);
    assert_ik(IK_EBUSY, ik__fifo_lock_collect_at(dfd, leaf, false));
    close(dfd);
    kill9(g);
    pid_t h = spawn_ready("lock-hold", path, NULL);
    assert_int_equal(lookup(leaf, 0).info.listening, 1);
    struct gc_log log;
    assert_int_equal(gc_one(leaf, 0, &log), 0);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    kill9(h);
    assert_int_equal(gc_one(leaf, 0, &log), 1);
    assert_int_equal(lstat(path, &st), -1);
    /* with its FIFOs: not a lone lock */
    fd = open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    close(fd);
    snprintf(fifo, sizeof(fifo), "%s/%s.up.fifo", dir, base);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(lookup(leaf, 0).n, 0);
    unlink(fifo);
    unlink(path);
}

static void test_fifo_and_socket(void **state)
{
    ikt_private_runtime();
    char dir[512], path[600];
    assert_ok(ik_runtime_dir(dir, sizeof(dir)));

    const char *fifo = ikt_name("reg-fifo");
    snprintf(path, sizeof(path), "%s/%s", dir, fifo);
    assert_int_equal(mkfifo(path, 0600), 0);
    struct found f = lookup(fifo, 0);
    assert_int_equal(f.n, 1);
    assert_string_equal(f.kind, "fifo");
    assert_int_equal(f.info.creator_pid, -1);
    assert_int_equal(f.info.creator_alive, -1);
    pid_t h = spawn_ready("open-hold", path, NULL);
    struct gc_log log;
    assert_int_equal(gc_one(fifo, 0, &log), 0);
    assert_int_equal(lookup(fifo, 0).info.attached, 1);
    kill9(h);
    f = lookup(fifo, 0);
    assert_int_equal(f.info.attached, 0);
    if (f.info.attached_unknown) {
        /* A process of this uid could not be inspected (non-dumpable, or a
         * more privileged init in a sandbox): FIFOs then stay. */
        assert_int_equal(gc_one(fifo, 0, &log), 0);
        assert_int_equal(ik_obj_remove(fifo, "fifo", 0), 1);
    } else {
        assert_int_equal(gc_one(fifo, 0, &log), 1);
    }
    assert_int_equal(lookup(fifo, 0).n, 0);

    const char *sock = ikt_name("reg-sock");
    snprintf(path, sizeof(path), "%s/%s", dir, sock);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    assert_true(strlen(path) < sizeof(sa.sun_path));
    strcpy(sa.sun_path, path);
    assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    /* Bound but not yet listening is in use too. */
    f = lookup(sock, 0);
    assert_string_equal(f.kind, "socket");
    assert_int_equal(f.info.listening, 1);
    assert_int_equal(gc_one(sock, 0, &log), 0);
    assert_int_equal(listen(s, 4), 0);
    assert_int_equal(gc_one(sock, 0, &log), 0);
    close(s);
    f = lookup(sock, 0);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.info.listening, 0);
    assert_int_equal(gc_one(sock, IK_OBJ_DRY_RUN, &log), 1);
    assert_int_equal(gc_one(sock, 0, &log), 1);
    assert_int_equal(lookup(sock, 0).n, 0);

    /* rm works on both kinds, and on a live socket. */
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(ik_obj_remove(sock, "fifo", 0), 1);
}

/* Race: a process opens an orphan while gc is collecting it. Either its open
 * fails (the orphan was already out of reach) or gc must keep the segment: an
 * object held by a live process is never unlinked. */
static void test_gc_races_with_opener(void **state)
{
    int held = 0, lost = 0, rechecked = 0;
    for (int i = 0; i < 100; i++) {
        const char *name = ikt_name("reg-race");
        make_orphan(name, "64");
        int go[2], ready[2], check[2];
        assert_int_equal(pipe(go), 0);
        assert_int_equal(pipe(ready), 0);
        assert_int_equal(pipe(check), 0);
        char a[16], b[16], c[16], j[16];
        snprintf(j, sizeof(j), "%d", (i * 37) % 3000);
        snprintf(a, sizeof(a), "%d", go[0]);
        snprintf(b, sizeof(b), "%d", ready[1]);
        snprintf(c, sizeof(c), "%d", check[0]);
        /* All three fds stay open in the child (pipe() is not O_CLOEXEC). */
        pid_t child = ikt_spawn(-1, "race", name, a, b, c, j, NULL);
        track(child, true);
        close(go[0]);
        close(ready[1]);
        close(check[0]);
        assert_int_equal(write(go[1], "x", 1), 1);
        struct gc_log log;
        int removed = gc_one(name, 0, &log);
        assert_true(removed == 0 || removed == 1);
        rechecked += log.busy; /* isolated, then found in use and put back */
        char x;
        assert_int_equal(read(ready[0], &x, 1), 1);
        /* A gc after the child reported: it holds it or it is gone. */
        assert_int_equal(gc_one(name, 0, &log), 0);
        assert_int_equal(write(check[1], "x", 1), 1);
        track(child, false);
        int st = ikt_wait(child);
        if (st == 1)
            fail_msg("iteration %d: segment unlinked while a live process held it", i);
        assert_true(st == 0 || st == 2);
        if (st == 0) {
            held++;
            assert_int_equal(removed, 0);
            assert_int_equal(ik_obj_remove(name, NULL, 0), 1);
        } else {
            lost++;
            assert_false(seg_exists(name));
        }
        close(go[1]);
        close(ready[0]);
        close(check[1]);
    }
    print_message("race: opener held it %d times (%d caught by the re-check), lost %d times\n",
                  held, rechecked, lost);
}

/* A gc that died after renaming an object out of reach: the next scan puts
 * it back under its name. */
static void test_quarantine_recovered(void **state)
{
    const char *name = ikt_name("reg-quar");
    pid_t dead = make_orphan(name, "64");
    char from[128], to[160];
    snprintf(from, sizeof(from), "/dev/shm/ik.%s", name);
    snprintf(to, sizeof(to), "/dev/shm/.ik-gc-q.%d.ik.%s", (int)dead, name);
    assert_int_equal(rename(from, to), 0);
    assert_false(seg_exists(name));
    struct found f = lookup(name, 0);
    assert_int_equal(f.n, 1);
    assert_true(seg_exists(name));
    struct gc_log log;
    assert_int_equal(gc_one(name, 0, &log), 1);

    /* Its name was reused meanwhile: the stale entry is unreachable, dropped. */
    make_orphan(name, "64");
    assert_int_equal(rename(from, to), 0);
    ik_shm *shm;
    assert_ok(ik_shm_create(&shm, name, 64, 0));
    f = lookup(name, 0);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.info.creator_pid, getpid());
    struct stat st;
    assert_int_equal(lstat(to, &st), -1);
    ik_shm_close(shm);
    assert_int_equal(ik_obj_remove(name, NULL, 0), 1);

    /* The dead gc's pid now runs another process (pid 1, another start
     * time): still dead, put back. */
    make_orphan(name, "64");
    snprintf(to, sizeof(to), "/dev/shm/.ik-gc-q.1-%llu.ik.%s", 999999999999ull, name);
    assert_int_equal(rename(from, to), 0);
    assert_int_equal(lookup(name, 0).n, 1);
    assert_true(seg_exists(name));
    assert_int_equal(gc_one(name, 0, &log), 1);
}

/* gc under fd exhaustion: a /proc entry it cannot open must not count as
 * "nobody holds it". A FIFO (no lease probe backs up the /proc scan) held
 * open by a live process survives gc run with every possible RLIMIT_NOFILE
 * that lets the scan start. */
struct fdlim_arg {
    const char *name;
    int limit;
};

static int gc_with_fd_limit(void *p)
{
    const struct fdlim_arg *a = p;
    for (int fd = 3; fd < 1024; fd++)
        (void)close(fd); /* exactly limit - 3 fds free */
    struct rlimit rl = {.rlim_cur = (rlim_t)a->limit, .rlim_max = (rlim_t)a->limit};
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 3;
    return ik_obj_gc(a->name, IK_OBJ_EXACT, NULL, NULL) > 0 ? 1 : 0;
}

static void test_gc_fd_exhaustion_keeps_in_use(void **state)
{
    ikt_private_runtime();
    char dir[512], path[600];
    assert_ok(ik_runtime_dir(dir, sizeof(dir)));
    const char *fifo = ikt_name("reg-fdlim");
    snprintf(path, sizeof(path), "%s/%s", dir, fifo);
    assert_int_equal(mkfifo(path, 0600), 0);
    pid_t h = spawn_ready("open-hold", path, NULL);
    for (int limit = 4; limit <= 28; limit++) {
        struct fdlim_arg a = {fifo, limit};
        int st = ikt_wait(ikt_fork(gc_with_fd_limit, &a));
        struct stat sb;
        if (lstat(path, &sb) != 0)
            fail_msg("gc with RLIMIT_NOFILE %d removed a FIFO held open (exit %d)", a.limit, st);
        assert_int_equal(st, 0);
    }
    kill9(h);
    assert_int_equal(ik_obj_remove(fifo, "fifo", 0), 1);
}

/* A process whose main thread exited (pthread_exit) still holds its files
 * through its other threads: /proc/<pid>/fd and maps of the zombie leader
 * are empty, so the scan must look at a live thread. */
struct zl_arg {
    const char *path;
    int rfd, wfd, ready;
};

static void *zl_thread(void *p)
{
    const struct zl_arg *a = p;
    char c;
    while (read(a->rfd, &c, 1) < 0 && errno == EINTR)
        ;
    _exit(0);
}

static int zl_hold(void *p)
{
    static struct zl_arg a;
    a = *(struct zl_arg *)p;
    close(a.wfd);
    if (open(a.path, O_RDWR | O_NONBLOCK | O_CLOEXEC) < 0)
        return 1;
    pthread_t t;
    if (pthread_create(&t, NULL, zl_thread, &a) != 0)
        return 2;
    if (write(a.ready, "R", 1) != 1)
        return 3;
    pthread_exit(NULL);
}

static void test_gc_keeps_fifo_of_zombie_leader(void **state)
{
    ikt_private_runtime();
    char dir[512], path[600];
    assert_ok(ik_runtime_dir(dir, sizeof(dir)));
    const char *fifo = ikt_name("reg-zl");
    snprintf(path, sizeof(path), "%s/%s", dir, fifo);
    assert_int_equal(mkfifo(path, 0600), 0);
    int rel[2], rdy[2];
    assert_int_equal(pipe2(rel, O_CLOEXEC), 0);
    assert_int_equal(pipe2(rdy, O_CLOEXEC), 0);
    struct zl_arg a = {path, rel[0], rel[1], rdy[1]};
    pid_t pid = ikt_fork(zl_hold, &a);
    track(pid, true);
    close(rel[0]);
    close(rdy[1]);
    char c;
    if (read(rdy[0], &c, 1) != 1)
        fail_msg("holder failed: %d", ikt_wait(pid));
    close(rdy[0]);
    uint64_t t0 = ik__now_ns();
    while (ikt_proc_state(pid) != 'Z') { /* its main thread is exiting */
        if (ik__now_ns() - t0 > 30ull * 1000000000u)
            fail_msg("leader of %d never exited", (int)pid);
        sched_yield();
    }
    struct gc_log log;
    assert_int_equal(gc_one(fifo, 0, &log), 0);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_int_equal(lookup(fifo, 0).info.attached, 1);
    close(rel[1]); /* releases the holder */
    track(pid, false);
    assert_int_equal(ikt_wait(pid), 0);
    assert_int_equal(ik_obj_remove(fifo, "fifo", 0), 1);
}

int main(int argc, char **argv)
{
    ikt_child_dispatch(argc, argv, roles);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_gc_keeps_objects_in_use, kill_children),
        cmocka_unit_test_teardown(test_gc_removes_orphan_dry_run_first, kill_children),
        cmocka_unit_test_teardown(test_gc_keeps_live_creator, kill_children),
        cmocka_unit_test_teardown(test_list_reports_fields, kill_children),
        cmocka_unit_test_teardown(test_corrupt_listed_not_collected, kill_children),
        cmocka_unit_test_teardown(test_bad_input, kill_children),
        cmocka_unit_test_teardown(test_other_uid, kill_children),
        cmocka_unit_test_teardown(test_fifo_and_socket, kill_children),
        cmocka_unit_test_teardown(test_lone_fifo_lock, kill_children),
        cmocka_unit_test_teardown(test_quarantine_recovered, kill_children),
        cmocka_unit_test_teardown(test_gc_races_with_opener, kill_children),
        cmocka_unit_test_teardown(test_gc_fd_exhaustion_keeps_in_use, kill_children),
        cmocka_unit_test_teardown(test_gc_keeps_fifo_of_zombie_leader, kill_children),
        cmocka_unit_test_teardown(test_socket_probe_ignores_swapped_symlink, kill_children),
        cmocka_unit_test_teardown(test_gc_cli_closed_pipe, kill_children),
        cmocka_unit_test(test_list_creates_no_runtime_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
