/* Memory-mapped files: create/open/read-only/grow/sync across real processes,
 * and the path attacks (symlink, FIFO, foreign owner). */
#include "helpers.h"
#include "core/internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *tmp_path(const char *leaf)
{
    static char buf[8][256];
    static unsigned n;
    char *b = buf[n++ % 8];
    snprintf(b, sizeof(buf[0]), "%s/%s", ikt_tmpdir(), leaf);
    return b;
}

/* One byte over a socketpair end, both directions (exec'd children). */
static void sig_send(int fd)
{
    char c = 1;
    while (write(fd, &c, 1) < 0 && errno == EINTR)
        ;
}

static int sig_wait(int fd)
{
    char c;
    ssize_t r;
    while ((r = read(fd, &c, 1)) < 0 && errno == EINTR)
        ;
    return r == 1 ? 0 : -1;
}

/* ---- child roles (exec'd) ---- */

/* argv: path expected-text. Open read-only, check, then write via RW open. */
static int child_read_then_write(int argc, char **argv)
{
    ik_map *m;
    if (argc < 2 || ik_map_open(&m, argv[0], 0, IK_MAP_RDONLY) != 0)
        return 10;
    if (strcmp(ik_map_ptr(m), argv[1]) != 0)
        return 11;
    ik_map_close(m);
    if (ik_map_open(&m, argv[0], 0, 0) != 0)
        return 12;
    snprintf((char *)ik_map_ptr(m) + 100, 64, "child %d", (int)getpid());
    if (ik_map_sync(m, 100, 64, IK_SYNC) != 0)
        return 13;
    ik_map_close(m);
    return 0;
}

/* argv: path fd. Map, report, wait, pick up the parent's growth, check the
 * new tail, then grow further itself and write there. */
static int child_grow_peer(int argc, char **argv)
{
    if (argc < 2)
        return 20;
    int fd = atoi(argv[1]);
    ik_map *m;
    if (ik_map_open(&m, argv[0], 0, 0) != 0)
        return 21;
    size_t before = ik_map_size(m);
    char *p0 = ik_map_ptr(m);
    sig_send(fd);
    if (sig_wait(fd) != 0)
        return 22;
    int rc = ik_map_grow(m, 0);
    if (rc < 0)
        return 23;
    if (ik_map_size(m) <= before)
        return 24;
    char *p = ik_map_ptr(m);
    if (rc == 0 && p != p0)
        return 25;
    if (strcmp(p + ik_map_size(m) - 64, "grown by parent") != 0)
        return 26;
    size_t size = ik_map_size(m) * 2;
    if (ik_map_grow(m, size) < 0)
        return 27;
    p = ik_map_ptr(m);
    strcpy(p + size - 64, "grown by child");
    ik_map_close(m);
    sig_send(fd);
    return 0;
}

static const struct ikt_child_role roles[] = {
    {"read-then-write", child_read_then_write},
    {"grow-peer", child_grow_peer},
    {NULL, NULL},
};

/* ---- tests ---- */

static void test_create_open_persist(void **state)
{
    const char *path = tmp_path("a.map");
    umask(0);
    ik_map *m;
    int fds = ikt_count_fds();
    assert_ok(ik_map_open(&m, path, 10000, IK_MAP_CREATE | IK_MAP_EXCL));
    assert_int_equal(ik_map_size(m), 10000);
    assert_true(ik_map_fd(m) >= 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 10000);
    memset(ik_map_ptr(m), 'x', 10000);
    strcpy(ik_map_ptr(m), "hello");
    ik_map_close(m);
    assert_int_equal(ikt_count_fds(), fds);

    ik_map *e;
    assert_ik(IK_EEXIST, ik_map_open(&e, path, 10000, IK_MAP_CREATE | IK_MAP_EXCL));
    /* CREATE without EXCL opens the existing file. */
    assert_ok(ik_map_open(&m, path, 0, IK_MAP_CREATE));
    assert_int_equal(ik_map_size(m), 10000);
    assert_string_equal(ik_map_ptr(m), "hello");
    ik_map_close(m);
    /* A smaller size maps a prefix; a larger one extends the file. */
    assert_ok(ik_map_open(&m, path, 100, 0));
    assert_int_equal(ik_map_size(m), 100);
    ik_map_close(m);
    assert_ok(ik_map_open(&m, path, 20000, 0));
    assert_int_equal(ik_map_size(m), 20000);
    assert_int_equal(((char *)ik_map_ptr(m))[19999], 0);
    assert_int_equal(((char *)ik_map_ptr(m))[9999], 'x');
    ik_map_close(m);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 20000);
    assert_ik(IK_ENOENT, ik_map_open(&m, tmp_path("missing"), 0, 0));

    /* An explicit mode is honoured exactly, despite the umask. */
    umask(022);
    ik_perm perm = IK_PERM_DEFAULT;
    perm.mode = 0640;
    const char *p2 = tmp_path("b.map");
    assert_ok(ik_map_open_ex(&m, p2, 4096, IK_MAP_CREATE | IK_MAP_EXCL, &perm));
    ik_map_close(m);
    assert_int_equal(stat(p2, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
}

static void test_child_sees_writes_and_writes_back(void **state)
{
    const char *path = tmp_path("x.map");
    ik_map *m;
    assert_ok(ik_map_open(&m, path, 4096, IK_MAP_CREATE | IK_MAP_EXCL));
    strcpy(ik_map_ptr(m), "from parent");
    pid_t pid = ikt_spawn(-1, "read-then-write", path, "from parent", NULL);
    assert_int_equal(ikt_wait(pid), 0);
    char want[64];
    snprintf(want, sizeof(want), "child %d", (int)pid);
    assert_string_equal((char *)ik_map_ptr(m) + 100, want);
    ik_map_close(m);
}

static void test_readonly(void **state)
{
    const char *path = tmp_path("ro.map");
    ik_map *m, *r;
    assert_ok(ik_map_open(&m, path, 8192, IK_MAP_CREATE | IK_MAP_EXCL));
    strcpy(ik_map_ptr(m), "data");
    assert_ok(ik_map_open(&r, path, 0, IK_MAP_RDONLY));
    assert_int_equal(ik_map_size(r), 8192);
    assert_string_equal(ik_map_ptr(r), "data");
    assert_ik(IK_EINVAL, ik_map_grow(r, 16384));
    assert_ok(ik_map_sync(r, 0, 0, IK_ASYNC));
    /* The read-only view picks up growth by the writer. */
    assert_true(ik_map_grow(m, 3 * 4096 + 5) >= 0);
    strcpy((char *)ik_map_ptr(m) + 3 * 4096, "tail");
    assert_true(ik_map_grow(r, 0) >= 0);
    assert_int_equal(ik_map_size(r), 3 * 4096 + 5);
    assert_string_equal((char *)ik_map_ptr(r) + 3 * 4096, "tail");
    ik_map_close(r);
    /* Read-only cannot extend or create. */
    assert_ik(IK_EINVAL, ik_map_open(&r, path, 1 << 20, IK_MAP_RDONLY));
    assert_ik(IK_EINVAL, ik_map_open(&r, tmp_path("ro2"), 4096, IK_MAP_RDONLY | IK_MAP_CREATE));
    ik_map_close(m);
}

static void test_grow_in_place_and_moved(void **state)
{
    const char *path = tmp_path("g.map");
    ik_map *m;
    assert_ok(ik_map_open(&m, path, 4096, IK_MAP_CREATE | IK_MAP_EXCL));
    char *p = ik_map_ptr(m);
    memset(p, 0xab, 4096);
    assert_ik(0, ik_map_grow(m, 1 << 20));
    assert_ptr_equal(ik_map_ptr(m), p);
    assert_int_equal(ik_map_size(m), 1 << 20);
    assert_int_equal((unsigned char)p[4095], 0xab);
    assert_int_equal(p[(1 << 20) - 1], 0);
    p[(1 << 20) - 1] = 7;               /* new pages are writable */
    assert_ik(0, ik_map_grow(m, 1000)); /* never shrinks */
    assert_int_equal(ik_map_size(m), 1 << 20);
    assert_ik(0, ik_map_grow(m, 0)); /* nothing new */
    struct stat st;
    assert_int_equal(fstat(ik_map_fd(m), &st), 0);
    assert_int_equal(st.st_size, 1 << 20);
    assert_int_equal(fcntl(ik_map_fd(m), F_GETFL) & O_NONBLOCK, 0); /* a plain blocking fd */

    /* Growth past the reservation moves the mapping. Use a sparse file
     * (ftruncate by "another process" = the raw fd) so no blocks are used. */
    int fd = open(path, O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    off_t big = (off_t)3 << 30;
    assert_int_equal(ftruncate(fd, big), 0);
    close(fd);
    int rc = ik_map_grow(m, 0);
    assert_true(rc == 0 || rc == 1);
    assert_int_equal(ik_map_size(m), (size_t)big);
    p = ik_map_ptr(m);
    assert_int_equal((unsigned char)p[4095], 0xab);
    assert_int_equal(p[(1 << 20) - 1], 7);
    p[big - 1] = 1;
    ik_map_close(m);
}

static void test_grow_while_peer_mapped(void **state)
{
    const char *path = tmp_path("peer.map");
    ik_map *m;
    assert_ok(ik_map_open(&m, path, 4096, IK_MAP_CREATE | IK_MAP_EXCL));
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    char fdarg[16];
    snprintf(fdarg, sizeof(fdarg), "%d", sv[1]);
    pid_t pid = ikt_spawn(sv[1], "grow-peer", path, fdarg, NULL);
    close(sv[1]);
    assert_int_equal(sig_wait(sv[0]), 0); /* child has it mapped */
    char *p = ik_map_ptr(m);
    size_t size = 64 * 1024;
    assert_ik(0, ik_map_grow(m, size));
    assert_ptr_equal(ik_map_ptr(m), p);
    strcpy(p + size - 64, "grown by parent");
    sig_send(sv[0]);
    assert_int_equal(sig_wait(sv[0]), 0); /* child grew it to 2*size */
    assert_int_equal(ikt_wait(pid), 0);
    assert_true(ik_map_grow(m, 0) >= 0);
    assert_int_equal(ik_map_size(m), 2 * size);
    assert_string_equal((char *)ik_map_ptr(m) + 2 * size - 64, "grown by child");
    close(sv[0]);
    ik_map_close(m);
}

static void test_sync(void **state)
{
    const char *path = tmp_path("s.map");
    ik_map *m;
    assert_ok(ik_map_open(&m, path, 10000, IK_MAP_CREATE | IK_MAP_EXCL));
    strcpy((char *)ik_map_ptr(m) + 5000, "synced");
    assert_ok(ik_map_sync(m, 0, 0, IK_SYNC));
    assert_ok(ik_map_sync(m, 5000, 7, IK_SYNC));  /* unaligned start */
    assert_ok(ik_map_sync(m, 4097, 0, IK_ASYNC)); /* to the end */
    assert_ok(ik_map_sync(m, 10000, 0, IK_SYNC)); /* empty range */
    assert_ik(IK_EINVAL, ik_map_sync(m, 10001, 0, IK_SYNC));
    assert_ik(IK_EINVAL, ik_map_sync(m, 9000, 1001, IK_SYNC));
    assert_ik(IK_EINVAL, ik_map_sync(m, 1, SIZE_MAX, IK_SYNC));
    assert_ik(IK_EINVAL, ik_map_sync(m, 0, 0, 0));
    assert_ik(IK_EINVAL, ik_map_sync(m, 0, 0, IK_SYNC | IK_ASYNC));
    assert_ik(IK_EINVAL, ik_map_sync(m, 0, 0, 1u << 7));
    char buf[8] = {0};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_int_equal(pread(fd, buf, 7, 5000), 7);
    assert_string_equal(buf, "synced");
    close(fd);
    ik_map_close(m);
}

static void test_symlink_fifo_dir_refused(void **state)
{
    const char *target = tmp_path("target.map");
    const char *link = tmp_path("link.map");
    ik_map *m;
    assert_ok(ik_map_open(&m, target, 4096, IK_MAP_CREATE | IK_MAP_EXCL));
    ik_map_close(m);
    assert_int_equal(symlink(target, link), 0);
    assert_ik(IK_EUNSAFE, ik_map_open(&m, link, 0, 0));
    assert_ik(IK_EUNSAFE, ik_map_open(&m, link, 0, IK_MAP_RDONLY));
    assert_ik(IK_EUNSAFE, ik_map_open(&m, link, 4096, IK_MAP_CREATE));
    assert_ik(IK_EEXIST, ik_map_open(&m, link, 4096, IK_MAP_CREATE | IK_MAP_EXCL));
    /* A dangling symlink is not followed to create its target either. */
    const char *dangling = tmp_path("dangling.map");
    const char *nowhere = tmp_path("nowhere");
    assert_int_equal(symlink(nowhere, dangling), 0);
    assert_ik(IK_EUNSAFE, ik_map_open(&m, dangling, 4096, IK_MAP_CREATE));
    assert_int_equal(access(nowhere, F_OK), -1);
    /* A FIFO is refused without blocking, a directory too. */
    const char *fifo = tmp_path("fifo");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_ik(IK_EUNSAFE, ik_map_open(&m, fifo, 0, IK_MAP_RDONLY));
    assert_ik(IK_EUNSAFE, ik_map_open(&m, fifo, 0, 0));
    const char *dir = ikt_tmpdir();
    assert_ik(IK_EUNSAFE, ik_map_open(&m, dir, 0, IK_MAP_RDONLY));
    assert_true(ik_map_open(&m, dir, 0, 0) < 0);
}

static char nobody_path[256];

static int nobody_create(void *arg)
{
    int fd = open(nobody_path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0666);
    if (fd < 0)
        return 1;
    if (write(fd, "planted by nobody", 18) != 18)
        return 2;
    fchmod(fd, 0666);
    close(fd);
    return 0;
}

static void test_foreign_owner_refused(void **state)
{
    const char *dir = ikt_tmpdir();
    char parent[256];
    snprintf(parent, sizeof(parent), "%s", dir);
    *strrchr(parent, '/') = '\0';
    assert_int_equal(chmod(parent, 0711), 0); /* let nobody reach dir */
    assert_int_equal(chmod(dir, 01777), 0);
    snprintf(nobody_path, sizeof(nobody_path), "%s/planted.map", dir);
    int st = ikt_run_as_nobody(nobody_create, NULL);
    if (st < 0)
        skip();
    assert_int_equal(st, 0);
    ik_map *m;
    assert_ik(IK_EPERM_OWNER, ik_map_open(&m, nobody_path, 0, 0));
    assert_ik(IK_EPERM_OWNER, ik_map_open(&m, nobody_path, 0, IK_MAP_RDONLY));
    assert_ik(IK_EPERM_OWNER, ik_map_open(&m, nobody_path, 4096, IK_MAP_CREATE));
    ik_perm perm = IK_PERM_DEFAULT;
    perm.trust_uid = 65534;
    assert_ok(ik_map_open_ex(&m, nobody_path, 0, IK_MAP_RDONLY, &perm));
    assert_string_equal(ik_map_ptr(m), "planted by nobody");
    ik_map_close(m);
}

static void test_bad_args(void **state)
{
    const char *path = tmp_path("bad.map");
    ik_map *m;
    assert_ik(IK_EINVAL, ik_map_open(NULL, path, 4096, IK_MAP_CREATE));
    assert_ik(IK_EINVAL, ik_map_open(&m, NULL, 4096, IK_MAP_CREATE));
    assert_ik(IK_EINVAL, ik_map_open(&m, "", 4096, IK_MAP_CREATE));
    assert_ik(IK_EINVAL, ik_map_open(&m, path, 4096, IK_MAP_CREATE | (1u << 9)));
    assert_ik(IK_EINVAL, ik_map_open(&m, path, 4096, IK_MAP_EXCL));
    assert_ik(IK_EINVAL, ik_map_open(&m, path, 0, IK_MAP_CREATE | IK_MAP_EXCL));
    assert_ik(IK_EINVAL, ik_map_open(&m, path, SIZE_MAX, IK_MAP_CREATE));
    /* Creating with size 0 would map nothing: refused, and nothing is left. */
    assert_ik(IK_EINVAL, ik_map_open(&m, path, 0, IK_MAP_CREATE));
    assert_int_equal(access(path, F_OK), -1);
    /* An empty existing file with size 0. */
    int fd = open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    close(fd);
    assert_ik(IK_EINVAL, ik_map_open(&m, path, 0, 0));
    assert_ok(ik_map_open(&m, path, 4096, 0));
    assert_ik(IK_EINVAL, ik_map_grow(NULL, 1));
    assert_ik(IK_EINVAL, ik_map_grow(m, SIZE_MAX));
    assert_ik(IK_EINVAL, ik_map_sync(NULL, 0, 0, IK_SYNC));
    ik_map_close(m);
    ik_map_close(NULL);
    assert_null(ik_map_ptr(NULL));
    assert_int_equal(ik_map_size(NULL), 0);
    assert_ik(IK_EINVAL, ik_map_fd(NULL));
}

int main(int argc, char **argv)
{
    ikt_child_dispatch(argc, argv, roles);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_open_persist),
        cmocka_unit_test(test_child_sees_writes_and_writes_back),
        cmocka_unit_test(test_readonly),
        cmocka_unit_test(test_grow_in_place_and_moved),
        cmocka_unit_test(test_grow_while_peer_mapped),
        cmocka_unit_test(test_sync),
        cmocka_unit_test(test_symlink_fifo_dir_refused),
        cmocka_unit_test(test_foreign_owner_refused),
        cmocka_unit_test(test_bad_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
