/* Shared memory: named and anonymous segments, fd passing, attacks. */
#include "helpers.h"
#include "core/internal.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static void shm_path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "/dev/shm/ik.%s", name);
}

/* ---- child roles (exec'd) ---- */

static int child_open_write(int argc, char **argv)
{
    ik_shm *shm;
    int rc = ik_shm_open(&shm, argv[0], 0);
    if (rc != 0)
        return 10;
    snprintf(ik_shm_ptr(shm), ik_shm_size(shm), "written by %d", (int)getpid());
    ik_shm_close(shm);
    return 0;
}

static int child_recv_anon(int argc, char **argv)
{
    int sock = atoi(argv[0]);
    int fd;
    int n = ik_fd_recv(sock, &fd, 1, 10000);
    if (n != 1)
        return 20;
    ik_shm *shm;
    if (ik_shm_from_fd(&shm, fd, 0) != 0)
        return 21;
    if (strcmp(ik_shm_ptr(shm), "from parent") != 0)
        return 22;
    strcpy(ik_shm_ptr(shm), "child was here");
    ik_shm_close(shm);
    return 0;
}

/* create-race NAME: 3000 rounds of create-or-open on one name shared with a
 * sibling. Creating gives 0 or IK_EEXIST, opening 0 or IK_ENOENT, and an
 * opened segment is always whole (never a half-made header: IK_EPROTO,
 * IK_EAGAIN). The creator unlinks its segment again, which nobody else may
 * have done. Exit 0, or the step that broke the rule. */
static int child_create_race(int argc, char **argv)
{
    const char *name = argv[0];
    for (int i = 0; i < 3000; i++) {
        ik_shm *shm;
        int rc = ik_shm_create(&shm, name, 1000, 0);
        if (rc == 0) {
            if (ik_shm_size(shm) != 1000)
                return 2;
            ik_shm_close(shm);
            if (ik_shm_unlink(name) != 0)
                return 3;
            continue;
        }
        if (rc != IK_EEXIST)
            return 4;
        rc = ik_shm_open(&shm, name, IK_SHM_RDONLY);
        if (rc == IK_ENOENT)
            continue;
        if (rc != 0) {
            fprintf(stderr, "create-race: open gave %s\n", ik_err_name(rc));
            return 5;
        }
        if (ik_shm_size(shm) != 1000)
            return 6;
        ik_shm_close(shm);
    }
    return 0;
}

/* lease-hold NAME READYFD: hold a read lease on the segment (as ipckit gc
 * does for a moment); release it when an opener breaks it. Exit 0, or 1
 * if it could not take the lease. */
static int child_lease_hold(int argc, char **argv)
{
    char path[128];
    shm_path(path, sizeof(path), argv[0]);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fcntl(fd, F_SETSIG, SIGUSR1) != 0 || fcntl(fd, F_SETLEASE, F_RDLCK) != 0)
        return 1;
    int ready = atoi(argv[1]);
    if (write(ready, "R", 1) != 1)
        return 2;
    close(ready);
    siginfo_t si;
    while (sigwaitinfo(&set, &si) < 0)
        ;
    return fcntl(fd, F_SETLEASE, F_UNLCK) == 0 ? 0 : 3;
}

static const struct ikt_child_role roles[] = {
    {"lease-hold", child_lease_hold},
    {"create-race", child_create_race},
    {"open-write", child_open_write},
    {"recv-anon", child_recv_anon},
    {NULL, NULL},
};

/* ---- tests ---- */

static void test_create_open_across_exec(void **state)
{
    const char *name = ikt_name("xproc");
    ik_shm *shm;
    assert_ok(ik_shm_create(&shm, name, 4096, 0));
    assert_int_equal(ik_shm_size(shm), 4096);
    assert_true(((uintptr_t)ik_shm_ptr(shm) % 64) == 0);
    memset(ik_shm_ptr(shm), 0, 4096);
    pid_t pid = ikt_spawn(-1, "open-write", name, NULL);
    assert_int_equal(ikt_wait(pid), 0);
    char want[64];
    snprintf(want, sizeof(want), "written by %d", (int)pid);
    assert_string_equal(ik_shm_ptr(shm), want);
    ik_shm_close(shm);
    assert_ok(ik_shm_unlink(name));
    assert_ik(IK_ENOENT, ik_shm_open(&shm, name, 0));
}

static void test_mode_is_0600_and_exclusive(void **state)
{
    const char *name = ikt_name("mode");
    umask(0);
    ik_shm *a, *b;
    assert_ok(ik_shm_create(&a, name, 100, 0));
    char path[128];
    shm_path(path, sizeof(path), name);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_ik(IK_EEXIST, ik_shm_create(&b, name, 100, 0));
    ik_shm_close(a);
    assert_ok(ik_shm_unlink(name));

    ik_perm perm = IK_PERM_DEFAULT;
    perm.mode = 0640;
    assert_ok(ik_shm_create_ex(&a, name, 100, 0, &perm));
    assert_int_equal(lstat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);
    ik_shm_close(a);
    assert_ok(ik_shm_unlink(name));
    umask(022);
}

static void test_bad_names_refused(void **state)
{
    ik_shm *shm;
    char long_name[IK_NAME_MAX + 2];
    memset(long_name, 'a', IK_NAME_MAX + 1);
    long_name[IK_NAME_MAX + 1] = '\0';
    const char *bad[] = {"a/b", "..", "../../etc/passwd", long_name, "", ".x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_ik(IK_EBADNAME, ik_shm_create(&shm, bad[i], 64, 0));
        assert_ik(IK_EBADNAME, ik_shm_open(&shm, bad[i], 0));
        assert_ik(IK_EBADNAME, ik_shm_unlink(bad[i]));
    }
}

static void test_bad_sizes_and_flags(void **state)
{
    ik_shm *shm;
    const char *name = ikt_name("size");
    assert_ik(IK_EINVAL, ik_shm_create(&shm, name, 0, 0));
    assert_ik(IK_EINVAL, ik_shm_create(&shm, name, SIZE_MAX, 0));
    assert_ik(IK_EINVAL, ik_shm_create(&shm, name, SIZE_MAX - 4095, 0));
    assert_ik(IK_EINVAL, ik_shm_create(&shm, name, 64, 1u << 30));
    assert_ik(IK_EINVAL, ik_shm_anon(&shm, 0, 0));
    assert_ik(IK_EINVAL, ik_shm_anon(&shm, SIZE_MAX, 0));
    assert_ik(IK_ENOENT, ik_shm_open(&shm, name, 0));
}

static void test_readonly_open(void **state)
{
    const char *name = ikt_name("ro");
    ik_shm *w, *r;
    assert_ok(ik_shm_create(&w, name, 64, 0));
    strcpy(ik_shm_ptr(w), "hello");
    assert_ok(ik_shm_open(&r, name, IK_SHM_RDONLY));
    assert_string_equal(ik_shm_ptr(r), "hello");
    /* The read-only mapping really is read-only. */
    assert_int_equal(mprotect((void *)((uintptr_t)ik_shm_ptr(r) & ~(uintptr_t)4095), 4096,
                              PROT_READ | PROT_WRITE),
                     -1);
    ik_shm_close(r);
    ik_shm_close(w);
    assert_ok(ik_shm_unlink(name));
}

static int nobody_create(void *arg)
{
    ik_shm *shm;
    ik_perm perm = IK_PERM_DEFAULT;
    perm.mode = 0666; /* readable and writable for everyone: still not trusted */
    return ik_shm_create_ex(&shm, (const char *)arg, 64, 0, &perm) == 0 ? 0 : 1;
}

static void test_squatted_segment_refused(void **state)
{
    const char *name = ikt_name("squat");
    int st = ikt_run_as_nobody(nobody_create, (void *)name);
    if (st < 0)
        skip();
    assert_int_equal(st, 0);
    ik_shm *shm;
    assert_ik(IK_EPERM_OWNER, ik_shm_open(&shm, name, 0));
    assert_ik(IK_EPERM_OWNER, ik_shm_open(&shm, name, IK_SHM_RDONLY));
    /* Explicit trust in that uid lets it through. */
    ik_perm perm = IK_PERM_DEFAULT;
    perm.trust_uid = 65534;
    assert_ok(ik_shm_open_ex(&shm, name, 0, &perm));
    ik_shm_close(shm);
    char path[128];
    shm_path(path, sizeof(path), name);
    unlink(path);
}

static void write_file(const char *path, const void *data, size_t len, off_t total)
{
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);
    assert_true(fd >= 0);
    if (len > 0)
        assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(ftruncate(fd, total), 0);
    close(fd);
}

static void test_corrupt_headers_refused(void **state)
{
    struct ik__seg_hdr good;
    const char *name = ikt_name("hdr");
    ik_shm *shm;
    assert_ok(ik_shm_create(&shm, name, 4000, 0));
    memcpy(&good, (char *)ik_shm_ptr(shm) - 64, sizeof(good));
    ik_shm_close(shm);
    assert_ok(ik_shm_unlink(name));

    struct {
        const char *what;
        void (*mutate)(struct ik__seg_hdr *);
        off_t size;
        int want;
    } cases[] = {
        {"bad magic", NULL, 4096, IK_EPROTO},      {"bad version", NULL, 4096, IK_EPROTO},
        {"huge user size", NULL, 4096, IK_EPROTO}, {"user size past EOF", NULL, 4096, IK_EPROTO},
        {"zero user size", NULL, 4096, IK_EPROTO}, {"bad hdr_size", NULL, 4096, IK_EPROTO},
        {"unknown kind", NULL, 4096, IK_EPROTO},   {"other kind", NULL, 4096, IK_EKIND},
        {"truncated file", NULL, 10, IK_EPROTO},   {"empty file", NULL, 0, IK_EPROTO},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ik__seg_hdr h = good;
        switch (i) {
        case 0:
            h.magic ^= 1;
            break;
        case 1:
            h.version = 99;
            break;
        case 2:
            h.user_size = UINT64_MAX;
            break;
        case 3:
            h.user_size = 8192;
            break;
        case 4:
            h.user_size = 0;
            break;
        case 5:
            h.hdr_size = 4096 * 1024;
            break;
        case 6:
            h.kind = 999;
            break;
        case 7:
            h.kind = IK__KIND_MUTEX;
            break;
        default:
            break;
        }
        const char *n = ikt_name("bad");
        char path[128];
        shm_path(path, sizeof(path), n);
        write_file(path, &h, cases[i].size < (off_t)sizeof(h) ? (size_t)cases[i].size : sizeof(h),
                   cases[i].size);
        int rc = ik_shm_open(&shm, n, 0);
        if (rc != cases[i].want)
            fail_msg("%s: got %s", cases[i].what, ik_err_name(rc));
        unlink(path);
    }
    /* Garbage of every size up to two pages never crashes. */
    for (int len = 0; len < 8192; len += 61) {
        const char *n = ikt_name("junk");
        char path[128], junk[8192];
        for (int j = 0; j < len; j++)
            junk[j] = (char)(j * 7 + len);
        shm_path(path, sizeof(path), n);
        write_file(path, junk, (size_t)len, len);
        assert_true(ik_shm_open(&shm, n, 0) < 0);
        unlink(path);
    }
}

static void test_symlink_and_nonregular_refused(void **state)
{
    const char *name = ikt_name("link");
    char path[128];
    shm_path(path, sizeof(path), name);
    assert_int_equal(symlink("/etc/passwd", path), 0);
    ik_shm *shm;
    assert_ik(IK_EUNSAFE, ik_shm_open(&shm, name, IK_SHM_RDONLY));
    assert_ik(IK_EUNSAFE, ik_shm_unlink(name));
    unlink(path);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_ik(IK_EUNSAFE, ik_shm_open(&shm, name, O_NONBLOCK & 0));
    /* Read-only: open(O_RDONLY) of a FIFO would wait for a writer forever. */
    assert_ik(IK_EUNSAFE, ik_shm_open(&shm, name, IK_SHM_RDONLY));
    unlink(path);
}

/* Two exec'd processes race create / open / unlink on one name: atomic
 * publication means an opener never sees a half-made segment. */
static void test_create_open_race(void **state)
{
    const char *name = ikt_name("race");
    pid_t a = ikt_spawn(-1, "create-race", name, NULL);
    pid_t b = ikt_spawn(-1, "create-race", name, NULL);
    assert_int_equal(ikt_wait(a), 0);
    assert_int_equal(ikt_wait(b), 0);
    ik_shm *shm;
    assert_ik(IK_ENOENT, ik_shm_open(&shm, name, 0));
}

/* An open that breaks a file lease (ipckit gc's momentary probe) waits for
 * the holder to let go instead of failing with IK_EAGAIN. */
static void test_open_breaks_lease(void **state)
{
    const char *name = ikt_name("lease");
    ik_shm *shm;
    assert_ok(ik_shm_create(&shm, name, 64, 0));
    ik_shm_close(shm);
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    char fdstr[16];
    snprintf(fdstr, sizeof(fdstr), "%d", p[1]);
    pid_t c = ikt_spawn(p[1], "lease-hold", name, fdstr, NULL);
    close(p[1]);
    char r;
    if (read(p[0], &r, 1) != 1)
        fail_msg("lease holder failed: %d", ikt_wait(c));
    close(p[0]);
    assert_ok(ik_shm_open(&shm, name, 0));
    ik_shm_close(shm);
    assert_int_equal(ikt_wait(c), 0);
    assert_ok(ik_shm_unlink(name));
}

/* Every refused open, create and unlink closes what it opened. */
static void test_error_paths_leak_no_fds(void **state)
{
    int before = ikt_count_fds();
    const char *name = ikt_name("leak");
    char path[128];
    shm_path(path, sizeof(path), name);
    ik_shm *shm;
    assert_ik(IK_ENOENT, ik_shm_open(&shm, name, 0));
    write_file(path, "junk", 4, 4096);
    assert_ik(IK_EPROTO, ik_shm_open(&shm, name, 0));
    assert_ik(IK_EPROTO, ik_shm_open(&shm, name, IK_SHM_RDONLY));
    assert_ik(IK_EEXIST, ik_shm_create(&shm, name, 64, 0));
    unlink(path);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_ik(IK_EUNSAFE, ik_shm_open(&shm, name, IK_SHM_RDONLY));
    assert_ik(IK_EUNSAFE, ik_shm_unlink(name));
    unlink(path);
    assert_int_equal(symlink("/etc/passwd", path), 0);
    assert_ik(IK_EUNSAFE, ik_shm_open(&shm, name, 0));
    assert_ik(IK_EEXIST, ik_shm_create(&shm, name, 64, 0));
    unlink(path);
    assert_ik(IK_EINVAL, ik_shm_create(&shm, name, 0, 0));
    assert_ik(IK_EINVAL, ik_shm_anon(&shm, 0, 0));
    assert_ik(IK_ENOTSUP, ik_shm_create(&shm, name, 64, IK_SHM_HUGE_REQUIRED));
    assert_int_equal(ikt_count_fds(), before);
}

static void test_anon_passed_over_socketpair(void **state)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ik_shm *shm;
    assert_ok(ik_shm_anon(&shm, 1 << 20, 0));
    strcpy(ik_shm_ptr(shm), "from parent");
    char fdstr[16];
    snprintf(fdstr, sizeof(fdstr), "%d", sv[1]);
    pid_t pid = ikt_spawn(sv[1], "recv-anon", fdstr, NULL);
    int fd = ik_shm_fd(shm);
    assert_ok(ik_fd_send(sv[0], &fd, 1));
    assert_int_equal(ikt_wait(pid), 0);
    assert_string_equal(ik_shm_ptr(shm), "child was here");
    /* Nothing in /dev/shm, and the size is sealed. */
    assert_int_equal(ftruncate(fd, 4096), -1);
    ik_shm_close(shm);
    close(sv[0]);
    close(sv[1]);
}

static void test_from_fd_attacks(void **state)
{
    ik_shm *shm;
    /* A memfd without seals: the sender could shrink it under us. */
    int fd = memfd_create("attack", MFD_ALLOW_SEALING);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 8192), 0);
    ik_shm *good;
    assert_ok(ik_shm_anon(&good, 4096, 0));
    assert_int_equal(pwrite(fd, (char *)ik_shm_ptr(good) - 64, 64, 0), 64);
    assert_ik(IK_EUNSAFE, ik_shm_from_fd(&shm, fd, 0));
    /* Sealed but smaller than its header claims. */
    int small = memfd_create("small", MFD_ALLOW_SEALING);
    struct ik__seg_hdr h;
    memcpy(&h, (char *)ik_shm_ptr(good) - 64, sizeof(h));
    h.user_size = 1 << 20;
    assert_int_equal(pwrite(small, &h, sizeof(h), 0), (ssize_t)sizeof(h));
    assert_int_equal(ftruncate(small, 4096), 0);
    assert_int_equal(fcntl(small, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK), 0);
    assert_ik(IK_EPROTO, ik_shm_from_fd(&shm, small, 0));
    /* Sealed, right size, garbage header. */
    int junk = memfd_create("junk", MFD_ALLOW_SEALING);
    assert_int_equal(ftruncate(junk, 4096), 0);
    assert_int_equal(fcntl(junk, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK), 0);
    assert_ik(IK_EPROTO, ik_shm_from_fd(&shm, junk, 0));
    /* Not a regular file. */
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_ik(IK_EUNSAFE, ik_shm_from_fd(&shm, p[0], 0));
    assert_ik(IK_EBADF, ik_shm_from_fd(&shm, -1, 0));
    /* The same two attacks arriving over a socket (as from a hostile peer). */
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    int pair[2] = {fd, small}, got[2];
    assert_ok(ik_fd_send(sv[0], pair, 2));
    assert_int_equal(ik_fd_recv(sv[1], got, 2, 5000), 2);
    assert_ik(IK_EUNSAFE, ik_shm_from_fd(&shm, got[0], 0));
    assert_ik(IK_EPROTO, ik_shm_from_fd(&shm, got[1], IK_SHM_RDONLY));
    close(got[0]);
    close(got[1]);
    close(sv[0]);
    close(sv[1]);
    /* The caller still owns the fds on failure. */
    assert_int_equal(close(fd), 0);
    assert_int_equal(close(small), 0);
    assert_int_equal(close(junk), 0);
    close(p[0]);
    close(p[1]);
    ik_shm_close(good);
}

static void test_fd_recv_closes_extra_fds(void **state)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    int fds[4];
    for (int i = 0; i < 4; i++)
        fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int before = ikt_count_fds();
    assert_ok(ik_fd_send(sv[0], fds, 4));
    int got[1];
    assert_int_equal(ik_fd_recv(sv[1], got, 1, 1000), 1);
    /* Exactly one new fd: the three extra were closed, not leaked. */
    assert_int_equal(ikt_count_fds(), before + 1);
    close(got[0]);
    for (int i = 0; i < 4; i++)
        close(fds[i]);
    assert_ik(IK_EINVAL, ik_fd_send(sv[0], fds, 0));
    assert_ik(IK_EINVAL, ik_fd_send(sv[0], fds, IK_FD_MAX + 1));
    assert_ik(IK_ETIMEDOUT, ik_fd_recv(sv[1], got, 1, 0));
    close(sv[0]);
    assert_ik(IK_ECLOSED, ik_fd_recv(sv[1], got, 1, 1000));
    assert_ik(IK_ECLOSED, ik_fd_send(sv[1], &sv[1], 1)); /* no SIGPIPE either */
    close(sv[1]);
}

/* Lines of /proc/self/maps that map inode ino. */
static int count_maps_of(ino_t ino)
{
    FILE *f = fopen("/proc/self/maps", "re");
    assert_non_null(f);
    char line[512];
    int n = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        unsigned long long i = 0;
        if (sscanf(line, "%*s %*s %*s %*s %llu", &i) == 1 && i == (unsigned long long)ino)
            n++;
    }
    fclose(f);
    return n;
}

static void test_huge_pages(void **state)
{
    ik_shm *shm;
    /* Fallback: always succeeds, huge or not. */
    assert_ok(ik_shm_anon(&shm, 1 << 21, IK_SHM_HUGE));
    memset(ik_shm_ptr(shm), 1, 1 << 21);
    ik_shm_close(shm);
    /* Required: huge pages or a clean error. */
    int rc = ik_shm_anon(&shm, 1 << 21, IK_SHM_HUGE_REQUIRED);
    if (rc == 0) {
        assert_int_equal(ik_shm_is_huge(shm), 1);
        /* A received huge memfd is mapped and, on close, fully unmapped
         * (munmap of hugetlb needs whole huge pages; it used to leak). */
        struct stat st;
        assert_int_equal(fstat(ik_shm_fd(shm), &st), 0);
        int before = count_maps_of(st.st_ino);
        for (int i = 0; i < 3; i++) {
            ik_shm *got;
            int fd = fcntl(ik_shm_fd(shm), F_DUPFD_CLOEXEC, 0);
            assert_ok(ik_shm_from_fd(&got, fd, 0));
            assert_int_equal(ik_shm_is_huge(got), 1);
            memset(ik_shm_ptr(got), 2, ik_shm_size(got));
            ik_shm_close(got);
        }
        assert_int_equal(count_maps_of(st.st_ino), before);
        ik_shm_close(shm);
    } else {
        assert_true(rc == IK_ENOTSUP || rc == IK_ENOMEM);
    }
    const char *name = ikt_name("huge");
    assert_ik(IK_ENOTSUP, ik_shm_create(&shm, name, 1 << 21, IK_SHM_HUGE_REQUIRED));
    assert_ok(ik_shm_create(&shm, name, 1 << 21, IK_SHM_HUGE));
    ik_shm_close(shm);
    assert_ok(ik_shm_unlink(name));
}

static void test_header_records_creator(void **state)
{
    const char *name = ikt_name("creator");
    ik_shm *shm;
    assert_ok(ik_shm_create(&shm, name, 64, 0));
    const struct ik__seg_hdr *h = (const void *)((char *)ik_shm_ptr(shm) - 64);
    assert_int_equal(h->magic, IK__SEG_MAGIC);
    assert_int_equal(h->kind, IK__KIND_SHM);
    assert_int_equal(h->creator_pid, getpid());
    assert_int_equal(h->creator_start, ik__self_start_time());
    assert_true(ik__proc_alive(h->creator_pid, h->creator_start));
    assert_false(ik__proc_alive(h->creator_pid, h->creator_start + 1));
    ik_shm_close(shm);
    assert_ok(ik_shm_unlink(name));
}

int main(int argc, char **argv)
{
    ikt_child_dispatch(argc, argv, roles);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_open_across_exec),
        cmocka_unit_test(test_mode_is_0600_and_exclusive),
        cmocka_unit_test(test_bad_names_refused),
        cmocka_unit_test(test_bad_sizes_and_flags),
        cmocka_unit_test(test_readonly_open),
        cmocka_unit_test(test_squatted_segment_refused),
        cmocka_unit_test(test_corrupt_headers_refused),
        cmocka_unit_test(test_symlink_and_nonregular_refused),
        cmocka_unit_test(test_error_paths_leak_no_fds),
        cmocka_unit_test(test_create_open_race),
        cmocka_unit_test(test_open_breaks_lease),
        cmocka_unit_test(test_anon_passed_over_socketpair),
        cmocka_unit_test(test_from_fd_attacks),
        cmocka_unit_test(test_fd_recv_closes_extra_fds),
        cmocka_unit_test(test_huge_pages),
        cmocka_unit_test(test_header_records_creator),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
