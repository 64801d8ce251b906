/* ik_rwlock (exact writer counts, dead writer / reader recovery, timeouts)
 * and ik_barrier (rounds, dead participant -> IK_EPEERDEAD). */
#include "sync_shared.h"
#include <sys/wait.h>
#include "sync/sync_int.h"

#include <sched.h>
#include <sys/prctl.h>

struct area {
    _Atomic uint32_t ready;
    _Atomic uint32_t go;
    _Atomic uint32_t serial;
    uint64_t x, y;
};

ik_shm *g_child_shm; /* a child's area stays mapped until it exits */

static struct area *area_open(const char *name)
{
    if (ik_shm_open(&g_child_shm, name, 0) != 0)
        return NULL;
    return ik_shm_ptr(g_child_shm);
}

/* argv: rwlock, area, iterations */
static int child_writer(int argc, char **argv)
{
    ik_rwlock *l;
    struct area *a = area_open(argv[1]);
    if (a == NULL || ik_rwlock_open(&l, argv[0], 0) != 0)
        return 10;
    long n = atol(argv[2]);
    ikts_bump(&a->ready);
    if (ikts_wait_ge(&a->go, 1) != 0)
        return 11;
    for (long i = 0; i < n; i++) {
        if (ik_rwlock_wrlock(l) != 0)
            return 12;
        a->x++;
        a->y++;
        if (ik_rwlock_unlock(l) != 0)
            return 13;
        if (i % 16 == 0) { /* readers too */
            if (ik_rwlock_rdlock(l) != 0)
                return 14;
            if (a->x != a->y)
                return 15;
            if (ik_rwlock_unlock(l) != 0)
                return 16;
        }
    }
    return 0;
}

/* argv: rwlock, area, "w"|"r". Take it, (writer: half an update), die. */
static int child_hold(int argc, char **argv)
{
    ik_rwlock *l;
    struct area *a = area_open(argv[1]);
    if (a == NULL || ik_rwlock_open(&l, argv[0], 0) != 0)
        return 10;
    if (argv[2][0] == 'w') {
        if (ik_rwlock_wrlock(l) != 0)
            return 11;
        a->x++;
    } else if (ik_rwlock_rdlock(l) != 0) {
        return 12;
    }
    ikts_bump(&a->ready);
    (void)ikts_wait_ge(&a->go, 1); /* killed here */
    return 0;
}

/* argv: rwlock. A second reader gets in; a writer does not. */
static int child_second_reader(int argc, char **argv)
{
    ik_rwlock *l;
    if (ik_rwlock_open(&l, argv[0], 0) != 0)
        return 10;
    if (ik_rwlock_tryrdlock(l) != 0)
        return 11;
    if (ik_rwlock_unlock(l) != 0)
        return 12;
    if (ik_rwlock_trywrlock(l) != IK_EBUSY)
        return 13;
    return 0;
}

/* argv: barrier, area, rounds, die_after ("-1": never). */
static int child_barrier(int argc, char **argv)
{
    ik_barrier *b;
    struct area *a = area_open(argv[1]);
    if (a == NULL || ik_barrier_open(&b, argv[0], 0, 0) != 0)
        return 10;
    long rounds = atol(argv[2]), die_after = atol(argv[3]);
    for (long i = 0; i < rounds; i++) {
        if (i == die_after) {
            ikts_bump(&a->ready);
            (void)ikts_wait_ge(&a->go, 1); /* killed here */
        }
        int rc = ik_barrier_wait(b);
        if (rc == IK_EPEERDEAD)
            return 1;
        if (rc == 1)
            atomic_fetch_add(&a->serial, 1);
        else if (rc != 0)
            return 11;
    }
    ik_barrier_close(b); /* a clean exit: leaves the barrier */
    return 0;
}

/* argv: rwlock. Blocks in wrlock (killed there). */
static int child_wait_write(int argc, char **argv)
{
    ik_rwlock *l;
    if (ik_rwlock_open(&l, argv[0], 0) != 0)
        return 10;
    return ik_rwlock_wrlock(l) == 0 ? 0 : 11;
}

/* argv: rwlock. A 200 ms timed read lock: IK_ETIMEDOUT, never early. */
static int child_guarded(int argc, char **argv)
{
    ik_rwlock *l;
    if (ik_rwlock_open(&l, argv[0], 0) != 0)
        return 10;
    uint64_t t0 = ik__now_ns();
    int rc = ik_rwlock_timedrdlock(l, 200);
    if (rc != IK_ETIMEDOUT)
        return 11;
    return ik__now_ns() - t0 >= 200000000u ? 0 : 12;
}

static const struct ikt_child_role roles[] = {
    {"guarded", child_guarded},
    {"wait-write", child_wait_write},
    {"writer", child_writer},
    {"hold", child_hold},
    {"reader2", child_second_reader},
    {"barrier", child_barrier},
    {NULL, NULL},
};

static struct area *area_new(const char **name, ik_shm **shm)
{
    *name = ikt_name("rw-area");
    assert_ok(ik_shm_create(shm, *name, sizeof(struct area), 0));
    return ik_shm_ptr(*shm);
}

static void area_free(const char *name, ik_shm *shm)
{
    ik_shm_close(shm);
    assert_ok(ik_shm_unlink(name));
}

static void test_writers_exact_4x100k(void **state)
{
    const char *aname, *lname = ikt_name("rw-count");
    ik_shm *shm;
    struct area *a = area_new(&aname, &shm);
    ik_rwlock *l;
    assert_ok(ik_rwlock_open(&l, lname, IK_CREATE | IK_EXCL));
    pid_t p[4];
    for (int i = 0; i < 4; i++)
        p[i] = ikt_spawn(-1, "writer", lname, aname, "100000", NULL);
    assert_int_equal(ikts_wait_ge(&a->ready, 4), 0);
    ikts_bump(&a->go);
    for (int i = 0; i < 4; i++)
        assert_int_equal(ikt_wait(p[i]), 0);
    assert_int_equal(a->x, 400000);
    assert_int_equal(a->y, 400000);
    ik_rwlock_close(l);
    assert_ok(ik_sync_unlink(lname));
    area_free(aname, shm);
}

static void test_readers_share(void **state)
{
    const char *lname = ikt_name("rw-share");
    ik_rwlock *l;
    assert_ok(ik_rwlock_open(&l, lname, IK_CREATE | IK_EXCL));
    assert_ok(ik_rwlock_rdlock(l));
    assert_int_equal(ikt_wait(ikt_spawn(-1, "reader2", lname, NULL)), 0);
    assert_ok(ik_rwlock_unlock(l));
    assert_ik(IK_EPERM, ik_rwlock_unlock(l));
    assert_ok(ik_rwlock_wrlock(l));
    assert_ik(IK_EDEADLK, ik_rwlock_wrlock(l));
    assert_ok(ik_rwlock_unlock(l));
    ik_rwlock_close(l);
    assert_ok(ik_sync_unlink(lname));
}

static void test_dead_writer_and_reader(void **state)
{
    const char *aname, *lname = ikt_name("rw-dead");
    ik_shm *shm;
    struct area *a = area_new(&aname, &shm);
    ik_rwlock *l;
    assert_ok(ik_rwlock_open(&l, lname, IK_CREATE | IK_EXCL));
    /* Dead writer: the next locker (a reader here) gets IK_EOWNERDEAD and
     * holds the lock exclusively; the consistent path recovers. */
    pid_t pid = ikt_spawn(-1, "hold", lname, aname, "w", NULL);
    assert_int_equal(ikts_wait_ge(&a->ready, 1), 0);
    assert_ik(IK_EBUSY, ik_rwlock_tryrdlock(l));
    kill(pid, SIGKILL);
    assert_int_equal(ikt_wait(pid), 128 + SIGKILL);
    assert_ik(IK_EOWNERDEAD, ik_rwlock_timedrdlock(l, 10000));
    assert_true(a->x == a->y + 1);
    a->x = a->y;
    assert_ok(ik_rwlock_consistent(l));
    assert_ok(ik_rwlock_unlock(l));
    assert_ok(ik_rwlock_wrlock(l));
    assert_ok(ik_rwlock_unlock(l));
    /* Dead reader: its hold is dropped, a writer gets in. */
    pid = ikt_spawn(-1, "hold", lname, aname, "r", NULL);
    assert_int_equal(ikts_wait_ge(&a->ready, 2), 0);
    assert_ik(IK_EBUSY, ik_rwlock_trywrlock(l));
    kill(pid, SIGKILL);
    assert_int_equal(ikt_wait(pid), 128 + SIGKILL);
    assert_ok(ik_rwlock_timedwrlock(l, 10000));
    assert_ok(ik_rwlock_unlock(l));
    /* Dead writer, no consistent: unrecoverable for everyone. */
    pid = ikt_spawn(-1, "hold", lname, aname, "w", NULL);
    assert_int_equal(ikts_wait_ge(&a->ready, 3), 0);
    kill(pid, SIGKILL);
    assert_int_equal(ikt_wait(pid), 128 + SIGKILL);
    assert_ik(IK_EOWNERDEAD, ik_rwlock_timedwrlock(l, 10000));
    assert_ok(ik_rwlock_unlock(l));
    assert_ik(IK_ENOTRECOVERABLE, ik_rwlock_wrlock(l));
    assert_ik(IK_ENOTRECOVERABLE, ik_rwlock_rdlock(l));
    assert_ik(IK_ENOTRECOVERABLE, ik_rwlock_tryrdlock(l));
    ik_rwlock_close(l);
    assert_ok(ik_sync_unlink(lname));
    area_free(aname, shm);
}

/* A writer killed while waiting must not hold readers back forever. */
static void test_dead_waiting_writer(void **state)
{
    const char *lname = ikt_name("rw-ww");
    ik_rwlock *l;
    assert_ok(ik_rwlock_open(&l, lname, IK_CREATE | IK_EXCL));
    assert_ok(ik_rwlock_rdlock(l));
    pid_t pid = ikt_spawn(-1, "wait-write", lname, NULL);
    struct ik__rwlock *in = (struct ik__rwlock *)(void *)l;
    uint64_t t0 = ik__now_ns();
    for (;;) {
        bool counted = false;
        for (int i = 0; i < IK__RW_WRITERS_WAITING; i++)
            counted |= __atomic_load_n(&in->ww[i].pid, __ATOMIC_ACQUIRE) == pid;
        if (counted)
            break;
        if (ikts_ms_since(t0) > 20000)
            fail_msg("writer never waited");
        sched_yield();
    }
    assert_ik(IK_EBUSY, ik_rwlock_tryrdlock(l)); /* writers first */
    kill(pid, SIGKILL);
    assert_int_equal(ikt_wait(pid), 128 + SIGKILL);
    assert_ok(ik_rwlock_timedrdlock(l, 10000)); /* second read hold */
    assert_ok(ik_rwlock_unlock(l));
    assert_ok(ik_rwlock_unlock(l));
    assert_ok(ik_rwlock_trywrlock(l));
    assert_ok(ik_rwlock_unlock(l));
    ik_rwlock_close(l);
    assert_ok(ik_sync_unlink(lname));
}

static void test_rwlock_timeouts(void **state)
{
    const char *aname, *lname = ikt_name("rw-to");
    ik_shm *shm;
    struct area *a = area_new(&aname, &shm);
    ik_rwlock *l;
    assert_ok(ik_rwlock_open(&l, lname, IK_CREATE | IK_EXCL));
    pid_t pid = ikt_spawn(-1, "hold", lname, aname, "w", NULL);
    assert_int_equal(ikts_wait_ge(&a->ready, 1), 0);
    const int waits[] = {0, 3, 30, 45};
    for (size_t i = 0; i < IK__ARRAY_LEN(waits); i++) {
        uint64_t t0 = ik__now_ns();
        assert_ik(IK_ETIMEDOUT, (i & 1) ? ik_rwlock_timedrdlock(l, waits[i])
                                        : ik_rwlock_timedwrlock(l, waits[i]));
        if (ik__now_ns() - t0 < (uint64_t)waits[i] * 1000000u)
            fail_msg("rwlock timed lock (%d ms) returned early", waits[i]);
    }
    ikts_bump(&a->go);
    assert_int_equal(ikt_wait(pid), 0); /* exits holding it: the writer is dead */
    assert_ik(IK_EOWNERDEAD, ik_rwlock_timedwrlock(l, 10000));
    assert_ok(ik_rwlock_consistent(l));
    assert_ok(ik_rwlock_unlock(l));
    ik_rwlock bad;
    memset(&bad, 0, sizeof(bad));
    assert_ik(IK_EINVAL, ik_rwlock_rdlock(&bad));
    assert_ik(IK_EINVAL, ik_rwlock_init(&bad, 1));
    ik_rwlock_close(l);
    assert_ok(ik_sync_unlink(lname));
    area_free(aname, shm);
}

/* A named barrier of n and a fresh area for a barrier test. */
static struct area *barrier_new(const char *bname, unsigned n, ik_barrier **b, const char **aname,
                                ik_shm **shm)
{
    assert_ok(ik_barrier_open(b, bname, n, IK_CREATE | IK_EXCL));
    return area_new(aname, shm);
}

/* A participant that opened (joined) and is killed -9 before its first
 * wait breaks the barrier for the waiter. */
static void expect_death_before_first_wait_breaks(ik_barrier *b, const char *bname,
                                                  const char *aname, struct area *a)
{
    pid_t dies = ikt_spawn(-1, "barrier", bname, aname, "1", "0", NULL);
    assert_int_equal(ikts_wait_ge(&a->ready, 1), 0);
    kill(dies, SIGKILL);
    assert_int_equal(ikt_wait(dies), 128 + SIGKILL);
    assert_ik(IK_EPEERDEAD, ik_barrier_timedwait(b, 20000));
}

static void test_barrier_rounds(void **state)
{
    const char *aname, *bname = ikt_name("bar");
    ik_shm *shm;
    ik_barrier *b;
    struct area *a = barrier_new(bname, 3, &b, &aname, &shm);
    pid_t p[3];
    for (int i = 0; i < 3; i++)
        p[i] = ikt_spawn(-1, "barrier", bname, aname, "2000", "-1", NULL);
    for (int i = 0; i < 3; i++)
        assert_int_equal(ikt_wait(p[i]), 0);
    assert_int_equal(atomic_load(&a->serial), 2000); /* one serial per round */
    ik_barrier_close(b);
    assert_ok(ik_sync_unlink(bname));
    area_free(aname, shm);
}

static void test_barrier_peer_death(void **state)
{
    const char *aname, *bname = ikt_name("bar-dead");
    ik_shm *shm;
    ik_barrier *b;
    struct area *a = barrier_new(bname, 3, &b, &aname, &shm);
    pid_t ok = ikt_spawn(-1, "barrier", bname, aname, "5", "-1", NULL);
    pid_t dies = ikt_spawn(-1, "barrier", bname, aname, "5", "2", NULL);
    assert_int_equal(ik_barrier_wait(b) >= 0, 1);
    assert_int_equal(ik_barrier_wait(b) >= 0, 1);
    assert_int_equal(ikts_wait_ge(&a->ready, 1), 0);
    kill(dies, SIGKILL);
    assert_int_equal(ikt_wait(dies), 128 + SIGKILL);
    assert_ik(IK_EPEERDEAD, ik_barrier_timedwait(b, 20000));
    assert_int_equal(ikt_wait(ok), 1); /* the other survivor saw it too */
    assert_ik(IK_EPEERDEAD, ik_barrier_wait(b));
    ik_barrier_close(b);
    assert_ok(ik_sync_unlink(bname));

    /* Timeout withdraws the arrival; the barrier still works afterwards. */
    ik_barrier *in = ikts_anon(sizeof(ik_barrier));
    assert_ik(IK_EINVAL, ik_barrier_init(in, 0, 0));
    assert_ik(IK_EINVAL, ik_barrier_init(in, IK_BARRIER_MAX + 1, 0));
    assert_ok(ik_barrier_init(in, 2, 0));
    uint64_t t0 = ik__now_ns();
    assert_ik(IK_ETIMEDOUT, ik_barrier_timedwait(in, 30));
    assert_true(ik__now_ns() - t0 >= 30000000u);
    pid_t c = fork();
    if (c == 0)
        _exit(ik_barrier_wait(in) >= 0 ? 0 : 1);
    assert_true(ik_barrier_wait(in) >= 0);
    assert_int_equal(ikt_wait(c), 0);
    area_free(aname, shm);
}

/* A participant that dies after opening but before its first wait breaks
 * the barrier too (opening is joining); one that closes cleanly does not. */
static void test_barrier_death_before_first_wait(void **state)
{
    const char *aname, *bname = ikt_name("bar-early");
    ik_shm *shm;
    ik_barrier *b;
    struct area *a = barrier_new(bname, 2, &b, &aname, &shm);
    /* A clean participant: opens, runs no round, closes, exits 0. */
    pid_t clean = ikt_spawn(-1, "barrier", bname, aname, "0", "-1", NULL);
    assert_int_equal(ikt_wait(clean), 0);
    pid_t peer = ikt_spawn(-1, "barrier", bname, aname, "1", "-1", NULL);
    assert_true(ik_barrier_timedwait(b, 20000) >= 0); /* not IK_EPEERDEAD */
    assert_int_equal(ikt_wait(peer), 0);
    /* Dies holding only its registration (die_after 0: before any wait). */
    expect_death_before_first_wait_breaks(b, bname, aname, a);
    ik_barrier_close(b);
    assert_ok(ik_sync_unlink(bname));

    /* In place: explicit join/leave. */
    ik_barrier *in = ikts_anon(sizeof(ik_barrier));
    assert_ok(ik_barrier_init(in, 2, 0));
    assert_ik(IK_ENOENT, ik_barrier_leave(in));
    assert_ok(ik_barrier_join(in));
    assert_ok(ik_barrier_join(in)); /* idempotent */
    assert_ok(ik_barrier_leave(in));
    assert_ik(IK_ENOENT, ik_barrier_leave(in));
    area_free(aname, shm);
}

/* pid 1 of a new pid namespace with its own /proc (a restarted container
 * sharing the memory): the first takes the write lock and is killed -9
 * holding it; the second, same pid and tid, must see a dead writer, not
 * itself. */
static int pid1_main(ik_rwlock *l, bool first, int ready_fd)
{
    if (ikt_private_proc(NULL) != 0)
        return 77;
    if (getpid() != 1)
        return 20;
    if (!first)
        return ik_rwlock_timedwrlock(l, 20000) == IK_EOWNERDEAD ? 0 : 21;
    if (ik_rwlock_wrlock(l) != 0 || write(ready_fd, "L", 1) != 1)
        return 22;
    for (;;)
        pause(); /* killed -9 by its parent */
}

static int run_as_pid1(ik_rwlock *l, bool first)
{
    pid_t c = fork();
    if (c != 0)
        return ikt_wait(c);
    if (unshare(CLONE_NEWPID) != 0)
        _exit(77);
    int p[2];
    if (pipe(p) != 0)
        _exit(23);
    pid_t g = fork();
    if (g == 0) {
        close(p[0]);
        (void)prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives the test */
        _exit(pid1_main(l, first, p[1]));
    }
    close(p[1]);
    char b;
    if (g > 0 && first && read(p[0], &b, 1) == 1)
        kill(g, SIGKILL);
    _exit(g < 0 ? 24 : ikt_wait(g));
}

static void test_writer_pid_reused(void **state)
{
    ik_rwlock *l = ikts_anon(sizeof(ik_rwlock));
    assert_ok(ik_rwlock_init(l, 0));
    int rc = run_as_pid1(l, true);
    if (rc == 77)
        skip(); /* no namespaces here (not root) */
    assert_int_equal(rc, 128 + SIGKILL);
    /* Start times count clock ticks (boot time): the new pid 1 must start in
     * a later tick than the dead one, or nothing can tell them apart. */
    const struct ik__rwlock *il = (const struct ik__rwlock *)(const void *)l;
    uint64_t tick_ns = 1000000000u / (uint64_t)sysconf(_SC_CLK_TCK);
    for (;;) {
        struct timespec ts;
        clock_gettime(CLOCK_BOOTTIME, &ts);
        if (((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) / tick_ns > il->w_start)
            break;
        sched_yield();
    }
    assert_int_equal(run_as_pid1(l, false), 0);
}

/* Rounds across the generation counter's wrap; a participant that joined
 * and died right after it still breaks the barrier. */
static void test_barrier_generation_wrap(void **state)
{
    const char *aname, *bname = ikt_name("bar-wrap");
    ik_shm *shm;
    ik_barrier *b;
    struct area *a = barrier_new(bname, 2, &b, &aname, &shm);
    struct ik__barrier *ib = (struct ik__barrier *)(void *)b;
    atomic_store(&ib->gen, UINT32_MAX - 3);
    pid_t peer = ikt_spawn(-1, "barrier", bname, aname, "3", "-1", NULL);
    for (int i = 0; i < 3; i++)
        assert_true(ik_barrier_timedwait(b, 20000) >= 0);
    assert_int_equal(ikt_wait(peer), 0);
    assert_int_equal(atomic_load(&ib->gen), 0); /* UINT32_MAX is skipped */
    expect_death_before_first_wait_breaks(b, bname, aname, a);
    ik_barrier_close(b);
    assert_ok(ik_sync_unlink(bname));
    area_free(aname, shm);
}

/* A process stopped inside the guard section (simulated: we hold the
 * guard) cannot keep a timed lock past its deadline. */
static void test_timed_wait_guard_held(void **state)
{
    const char *name = ikt_name("rw-guard");
    ik_rwlock *l;
    assert_ok(ik_rwlock_open(&l, name, IK_CREATE | IK_EXCL));
    struct ik__rwlock *il = (struct ik__rwlock *)(void *)l;
    ikts_expect_guarded_child_exits(&il->guard, name);
    ik_rwlock_close(l);
    assert_ok(ik_sync_unlink(name));
}

int main(int argc, char **argv)
{
    ikt_child_dispatch(argc, argv, roles);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writers_exact_4x100k),
        cmocka_unit_test(test_readers_share),
        cmocka_unit_test(test_dead_writer_and_reader),
        cmocka_unit_test(test_rwlock_timeouts),
        cmocka_unit_test(test_timed_wait_guard_held),
        cmocka_unit_test(test_dead_waiting_writer),
        cmocka_unit_test(test_barrier_rounds),
        cmocka_unit_test(test_barrier_peer_death),
        cmocka_unit_test(test_barrier_death_before_first_wait),
        cmocka_unit_test(test_barrier_generation_wrap),
        cmocka_unit_test(test_writer_pid_reused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
