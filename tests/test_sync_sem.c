/* ik_sem: exact counts, undo after kill -9 (also at random points), timeouts,
 * overflow, named-object checks. */
#include "sync_shared.h"
#include <sched.h>
#include "sync/sync_int.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

struct area {
    _Atomic uint32_t ready;
    _Atomic uint32_t go;
    uint64_t count;
};

/* argv: sem, area, iterations */
static int child_count(int argc, char **argv)
{
    ik_sem *s;
    ik_shm *shm;
    if (ik_sem_open(&s, argv[0], 0, 0) != 0 || ik_shm_open(&shm, argv[1], 0) != 0)
        return 10;
    struct area *a = ik_shm_ptr(shm);
    long n = atol(argv[2]);
    ikts_bump(&a->ready);
    if (ikts_wait_ge(&a->go, 1) != 0)
        return 11;
    for (long i = 0; i < n; i++) {
        if (ik_sem_wait(s) != 0)
            return 12;
        a->count++;
        if (ik_sem_post(s) != 0)
            return 13;
    }
    ik_sem_close(s);
    ik_shm_close(shm);
    return 0;
}

/* argv: sem, area, units. Takes units, reports, waits to be killed. */
static int child_take(int argc, char **argv)
{
    ik_sem *s;
    ik_shm *shm;
    if (ik_sem_open(&s, argv[0], 0, 0) != 0 || ik_shm_open(&shm, argv[1], 0) != 0)
        return 10;
    struct area *a = ik_shm_ptr(shm);
    for (int i = atoi(argv[2]); i > 0; i--) {
        if (ik_sem_wait(s) != 0)
            return 11;
    }
    ikts_bump(&a->ready);
    (void)ikts_wait_ge(&a->go, 1); /* killed here */
    return 0;
}

/* argv: undo sem. A 200 ms timed wait: IK_ETIMEDOUT, never early. */
static int child_guarded(int argc, char **argv)
{
    ik_sem *s;
    if (ik_sem_open(&s, argv[0], 0, 0) != 0)
        return 10;
    uint64_t t0 = ik__now_ns();
    int rc = ik_sem_timedwait(s, 200);
    if (rc != IK_ETIMEDOUT)
        return 11;
    return ik__now_ns() - t0 >= 200000000u ? 0 : 12;
}

static const struct ikt_child_role roles[] = {
    {"guarded", child_guarded},
    {"count", child_count},
    {"take", child_take},
    {NULL, NULL},
};

static void exact_count(unsigned flags, long per)
{
    const char *sname = ikt_name("sem-count");
    const char *aname = ikt_name("sem-area");
    ik_sem *s;
    ik_shm *shm;
    assert_ok(ik_sem_open(&s, sname, 1, IK_CREATE | IK_EXCL | flags));
    assert_ok(ik_shm_create(&shm, aname, sizeof(struct area), 0));
    struct area *a = ik_shm_ptr(shm);
    char nbuf[32];
    snprintf(nbuf, sizeof(nbuf), "%ld", per);
    pid_t pids[4];
    for (int i = 0; i < 4; i++)
        pids[i] = ikt_spawn(-1, "count", sname, aname, nbuf, NULL);
    assert_int_equal(ikts_wait_ge(&a->ready, 4), 0);
    ikts_bump(&a->go);
    for (int i = 0; i < 4; i++)
        assert_int_equal(ikt_wait(pids[i]), 0);
    assert_int_equal(a->count, (uint64_t)(4 * per));
    assert_int_equal(ik_sem_value(s), 1);
    ik_sem_close(s);
    ik_shm_close(shm);
    assert_ok(ik_sync_unlink(sname));
    assert_ok(ik_shm_unlink(aname));
}

static void test_binary_sem_exact_4x100k(void **state)
{
    exact_count(0, 100000);
}

static void test_undo_binary_sem_exact(void **state)
{
    exact_count(IK_SEM_UNDO, 25000);
}

static void test_undo_restores_after_kill(void **state)
{
    const char *sname = ikt_name("sem-undo");
    const char *aname = ikt_name("sem-area");
    ik_sem *s;
    ik_shm *shm;
    assert_ok(ik_sem_open(&s, sname, 5, IK_CREATE | IK_EXCL | IK_SEM_UNDO));
    assert_ok(ik_shm_create(&shm, aname, sizeof(struct area), 0));
    struct area *a = ik_shm_ptr(shm);
    pid_t pid = ikt_spawn(-1, "take", sname, aname, "3", NULL);
    assert_int_equal(ikts_wait_ge(&a->ready, 1), 0);
    assert_int_equal(ik_sem_value(s), 2);
    kill(pid, SIGKILL);
    assert_int_equal(ikt_wait(pid), 128 + SIGKILL);
    assert_int_equal(ik_sem_value(s), 5); /* given back, value as before */

    /* A blocked waiter gets the units of a holder killed later. */
    pid = ikt_spawn(-1, "take", sname, aname, "5", NULL);
    assert_int_equal(ikts_wait_ge(&a->ready, 2), 0);
    assert_int_equal(ik_sem_value(s), 0);
    pid_t w = fork();
    if (w == 0)
        _exit(ik_sem_timedwait(s, 20000) == 0 ? 0 : 1);
    kill(pid, SIGKILL);
    assert_int_equal(ikt_wait(pid), 128 + SIGKILL);
    assert_int_equal(ikt_wait(w), 0); /* its own unit is given back at its exit */
    assert_int_equal(ik_sem_value(s), 5);
    ik_sem_close(s);
    ik_shm_close(shm);
    assert_ok(ik_sync_unlink(sname));
    assert_ok(ik_shm_unlink(aname));
}

/* kill -9 at random points of wait/post loops: the value always returns to
 * its initial value (the roll-back intent covers a death mid-update). */
static void test_undo_kill_loop(void **state)
{
    struct sh {
        ik_sem s;
        _Atomic uint32_t progress;
    } *sh = ikts_anon(sizeof(*sh));
    assert_ok(ik_sem_init(&sh->s, 3, IK_SEM_UNDO));
    srand((unsigned)getpid() ^ 0x5e);
    for (int k = 0; k < 300; k++) {
        uint32_t target = atomic_load(&sh->progress) + 1 + (uint32_t)(rand() % 4);
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            for (;;) {
                if (ik_sem_wait(&sh->s) != 0)
                    _exit(2);
                if (ik_sem_wait(&sh->s) != 0)
                    _exit(2);
                atomic_fetch_add(&sh->progress, 1);
                if (ik_sem_post(&sh->s) != 0 || ik_sem_post(&sh->s) != 0)
                    _exit(3);
            }
        }
        while (atomic_load(&sh->progress) < target) {
            int st;
            if (waitpid(pid, &st, WNOHANG) == pid)
                fail_msg("child exited early: %d", st);
        }
        for (volatile int spin = rand() % 3000; spin > 0; spin--)
            ;
        kill(pid, SIGKILL);
        assert_int_equal(ikt_wait(pid), 128 + SIGKILL);
        int v = ik_sem_value(&sh->s);
        if (v != 3)
            fail_msg("kill %d: value %d after undo, want 3", k, v);
    }
    assert_ok(ik_sem_destroy(&sh->s));
    munmap(sh, sizeof(*sh));
}

static void test_timeouts_not_early(void **state)
{
    ik_sem *s = ikts_anon(sizeof(ik_sem));
    for (int undo = 0; undo < 2; undo++) {
        assert_ok(ik_sem_init(s, 0, undo ? IK_SEM_UNDO : 0));
        assert_ik(IK_EAGAIN, ik_sem_trywait(s));
        const int waits[] = {0, 1, 5, 25, 60};
        for (size_t i = 0; i < IK__ARRAY_LEN(waits); i++) {
            uint64_t t0 = ik__now_ns();
            assert_ik(IK_ETIMEDOUT, ik_sem_timedwait(s, waits[i]));
            uint64_t el = ik__now_ns() - t0;
            if (el < (uint64_t)waits[i] * 1000000u)
                fail_msg("timedwait(%d) after %llu ns", waits[i], (unsigned long long)el);
        }
        assert_ok(ik_sem_post(s));
        assert_ok(ik_sem_timedwait(s, 1000));
        assert_ok(ik_sem_destroy(s));
    }
    munmap(s, sizeof(ik_sem));
}

static void test_errors(void **state)
{
    ik_sem s;
    assert_ik(IK_EINVAL, ik_sem_init(&s, 0, 0x4));
    assert_ik(IK_EINVAL, ik_sem_init(&s, IK_SEM_VALUE_MAX + 1u, 0));
    memset(&s, 0, sizeof(s));
    assert_ik(IK_EINVAL, ik_sem_post(&s));
    assert_ik(IK_EINVAL, ik_sem_wait(&s));
    assert_ik(IK_EINVAL, ik_sem_value(NULL));
    assert_ok(ik_sem_init(&s, IK_SEM_VALUE_MAX, 0));
    assert_ik(IK_EOVERFLOW, ik_sem_post(&s));
    assert_int_equal(ik_sem_value(&s), (int)IK_SEM_VALUE_MAX);
    assert_ok(ik_sem_destroy(&s));
    ik_sem *p;
    assert_ik(IK_EINVAL, ik_sem_open(&p, "x", 0, IK_CREATE | 0x4));
    assert_ik(IK_EBADNAME, ik_sem_open(&p, "a/b", 0, IK_CREATE));
    assert_ik(IK_ENOENT, ik_sem_open(&p, ikt_name("nosem"), 0, 0));
}

static int nobody_squat(void *arg)
{
    ik_sem *s;
    ik_perm perm = IK_PERM_DEFAULT;
    perm.mode = 0666;
    return ik_sem_open_ex(&s, (const char *)arg, 1, IK_CREATE | IK_EXCL, &perm) == 0 ? 0 : 1;
}

static void test_named_security(void **state)
{
    const char *name = ikt_name("sem-sec");
    umask(0);
    ik_sem *s;
    assert_ok(ik_sem_open(&s, name, 2, IK_CREATE | IK_EXCL | IK_SEM_UNDO));
    umask(022);
    char path[128];
    snprintf(path, sizeof(path), "/dev/shm/ik.%s", name);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    ik_mutex *m;
    assert_ik(IK_EKIND, ik_mutex_open(&m, name, 0));
    ik_sem_close(s);
    /* Corrupt magic / version / value. */
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint32_t bad = 0x12345678;
    assert_int_equal(pwrite(fd, &bad, 4, 64 + 8), 4);
    assert_ik(IK_EPROTO, ik_sem_open(&s, name, 0, 0));
    uint32_t magic = 0x4d534b49u;
    assert_int_equal(pwrite(fd, &magic, 4, 64 + 8), 4);
    assert_ok(ik_sem_open(&s, name, 0, 0));
    ik_sem_close(s);
    uint16_t ver = 9;
    assert_int_equal(pwrite(fd, &ver, 2, 64 + 12), 2);
    assert_ik(IK_EPROTO, ik_sem_open(&s, name, 0, 0));
    close(fd);
    assert_ok(ik_sync_unlink(name));

    const char *sq = ikt_name("sem-squat");
    int rc = ikt_run_as_nobody(nobody_squat, (void *)sq);
    if (rc < 0)
        skip();
    assert_int_equal(rc, 0);
    assert_ik(IK_EPERM_OWNER, ik_sem_open(&s, sq, 0, 0));
    assert_ik(IK_EPERM_OWNER, ik_sem_open(&s, sq, 0, IK_CREATE));
    snprintf(path, sizeof(path), "/dev/shm/ik.%s", sq);
    unlink(path);
}

/* As uid 65534 with /proc mounted hidepid=2, root's holder has no /proc
 * entry. Running, its unit stays taken (an unverifiable process is alive);
 * exited but not reaped (a zombie), its unit is given back. */
struct hidden_check {
    const char *name;
    bool holder_runs;
};

static int hidden_holder_check(void *arg)
{
    const struct hidden_check *c = arg;
    /* "invisible" (Linux 5.8+, per-mount options) never touches the host /proc */
    if (ikt_private_proc("hidepid=invisible") != 0)
        return 77;
    int rc = ikt_become_nobody();
    if (rc != 0)
        return rc;
    ik_sem *s;
    ik_perm perm = IK_PERM_DEFAULT;
    perm.trust_uid = 0;
    if (ik_sem_open_ex(&s, c->name, 0, 0, &perm) != 0)
        return 10;
    if (c->holder_runs) {
        if (ik_sem_value(s) != 0)
            return 11;
        if (ik_sem_trywait(s) != IK_EAGAIN || ik_sem_timedwait(s, 60) != IK_ETIMEDOUT)
            return 12;
    } else if (ik_sem_timedwait(s, 20000) != 0 || ik_sem_post(s) != 0) {
        return 13;
    }
    ik_sem_close(s);
    return 0;
}

static void test_undo_holder_hidden_by_hidepid(void **state)
{
    if (!ikt_is_root())
        skip();
    const char *sname = ikt_name("sem-hide");
    const char *aname = ikt_name("sem-area");
    ik_sem *s;
    ik_shm *shm;
    ik_perm perm = IK_PERM_DEFAULT;
    perm.mode = 0666;
    assert_ok(ik_sem_open_ex(&s, sname, 1, IK_CREATE | IK_EXCL | IK_SEM_UNDO, &perm));
    assert_ok(ik_shm_create(&shm, aname, sizeof(struct area), 0));
    struct area *a = ik_shm_ptr(shm);
    pid_t holder = ikt_spawn(-1, "take", sname, aname, "1", NULL);
    assert_int_equal(ikts_wait_ge(&a->ready, 1), 0);
    struct hidden_check c = {sname, true};
    int runs = ikt_wait(ikt_fork(hidden_holder_check, &c));
    kill(holder, SIGKILL);
    siginfo_t si;
    assert_int_equal(waitid(P_PID, (id_t)holder, &si, WEXITED | WNOWAIT), 0); /* a zombie */
    c.holder_runs = false;
    int zombie = runs == 0 ? ikt_wait(ikt_fork(hidden_holder_check, &c)) : -1;
    assert_int_equal(ikt_wait(holder), 128 + SIGKILL);
    int value = ik_sem_value(s);
    ik_sem_close(s);
    ik_shm_close(shm);
    assert_ok(ik_sync_unlink(sname));
    assert_ok(ik_shm_unlink(aname));
    if (runs == 77)
        skip(); /* no mount namespace here */
    assert_int_equal(runs, 0);
    assert_int_equal(zombie, 0);
    assert_int_equal(value, 1);
}

/* A process stopped inside the undo guard section (simulated: we hold the
 * guard) cannot keep a timed wait past its deadline. */
static void test_timed_wait_guard_held(void **state)
{
    const char *name = ikt_name("sem-guard");
    ik_sem *s;
    assert_ok(ik_sem_open(&s, name, 0, IK_CREATE | IK_EXCL | IK_SEM_UNDO));
    struct ik__sem *is = (struct ik__sem *)(void *)s;
    ikts_expect_guarded_child_exits(&is->guard, name);
    ik_sem_close(s);
    assert_ok(ik_sync_unlink(name));
}

int main(int argc, char **argv)
{
    ikt_child_dispatch(argc, argv, roles);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binary_sem_exact_4x100k),
        cmocka_unit_test(test_undo_binary_sem_exact),
        cmocka_unit_test(test_undo_restores_after_kill),
        cmocka_unit_test(test_undo_kill_loop),
        cmocka_unit_test(test_undo_holder_hidden_by_hidepid),
        cmocka_unit_test(test_timeouts_not_early),
        cmocka_unit_test(test_timed_wait_guard_held),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_named_security),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
