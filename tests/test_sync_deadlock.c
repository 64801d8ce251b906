/* Deadlock detection: AB-BA and 3-process cycles give exactly one
 * IK_EDEADLK per cycle; consistent-order contention never does; entries of
 * killed processes cause no false cycle. */
#include "sync_shared.h"
#include "sync/sync_int.h"

#include <pthread.h>
#include <sched.h>
#include <sys/wait.h>

struct area {
    _Atomic uint32_t ready;
    _Atomic uint32_t go;
    _Atomic uint32_t deadlk;
    uint64_t count;
    _Atomic int32_t owner[3]; /* ordered stress: who is inside lock k */
    _Atomic uint64_t total;
    uint64_t go_ns, detect_ns; /* CLOCK_MONOTONIC: cycle armed, IK_EDEADLK */
};

ik_shm *g_child_shm; /* a child's area stays mapped until it exits */

static struct area *open_area(const char *name, ik_shm **shm)
{
    if (ik_shm_open(shm, name, 0) != 0)
        return NULL;
    g_child_shm = *shm;
    return ik_shm_ptr(*shm);
}

/* argv: first, second, area, "sem"|"mutex". Hold first, then want second. */
static int child_cross(int argc, char **argv)
{
    ik_shm *shm;
    struct area *a = open_area(argv[2], &shm);
    if (a == NULL)
        return 10;
    bool sem = strcmp(argv[3], "sem") == 0;
    ik_mutex *m1 = NULL, *m2 = NULL;
    ik_sem *s1 = NULL, *s2 = NULL;
    if (sem) {
        if (ik_sem_open(&s1, argv[0], 0, 0) != 0 || ik_sem_open(&s2, argv[1], 0, 0) != 0)
            return 11;
        if (ik_sem_wait(s1) != 0)
            return 12;
    } else {
        if (ik_mutex_open(&m1, argv[0], 0) != 0 || ik_mutex_open(&m2, argv[1], 0) != 0)
            return 11;
        if (ik_mutex_lock(m1) != 0)
            return 12;
    }
    ikts_bump(&a->ready);
    if (ikts_wait_ge(&a->go, 1) != 0)
        return 13;
    int rc = sem ? ik_sem_wait(s2) : ik_mutex_lock(m2);
    if (rc == IK_EDEADLK) {
        a->detect_ns = ik__now_ns();
        atomic_fetch_add(&a->deadlk, 1);
        /* Back off: release what we hold so the others proceed. */
        if ((sem ? ik_sem_post(s1) : ik_mutex_unlock(m1)) != 0)
            return 14;
        return 1;
    }
    if (rc != 0)
        return 15;
    a->count++;
    if ((sem ? ik_sem_post(s2) : ik_mutex_unlock(m2)) != 0)
        return 16;
    if ((sem ? ik_sem_post(s1) : ik_mutex_unlock(m1)) != 0)
        return 17;
    return 0;
}

/* argv: A, B, C, area, iterations. Locks subsets in the order A < B < C. */
static int child_ordered(int argc, char **argv)
{
    ik_mutex *m[3];
    ik_shm *shm;
    for (int i = 0; i < 3; i++) {
        if (ik_mutex_open(&m[i], argv[i], 0) != 0)
            return 10;
    }
    struct area *a = open_area(argv[3], &shm);
    if (a == NULL)
        return 11;
    long n = atol(argv[4]);
    unsigned seed = (unsigned)getpid();
    ikts_bump(&a->ready);
    if (ikts_wait_ge(&a->go, 1) != 0)
        return 12;
    for (long i = 0; i < n; i++) {
        unsigned set = 1 + (unsigned)rand_r(&seed) % 7;
        for (int k = 0; k < 3; k++) {
            if (!(set & (1u << k)))
                continue;
            int rc = ik_mutex_lock(m[k]);
            if (rc == IK_EDEADLK)
                return 1;
            if (rc != 0)
                return 13;
            int32_t none = 0;
            if (!atomic_compare_exchange_strong(&a->owner[k], &none, (int32_t)getpid()))
                return 2; /* two holders at once */
        }
        atomic_fetch_add(&a->total, 1);
        if (i % 1000 == 999) { /* hold long enough that waiters enter the graph */
            uint64_t until = ik__now_ns() + 30000000u;
            while (ik__now_ns() < until)
                ;
        }
        for (int k = 2; k >= 0; k--) {
            if (!(set & (1u << k)))
                continue;
            atomic_store(&a->owner[k], 0);
            if (ik_mutex_unlock(m[k]) != 0)
                return 14;
        }
    }
    return 0;
}

/* argv: sem, mutex, area. Takes the undo sem, then blocks on the mutex. */
static int child_stale(int argc, char **argv)
{
    ik_sem *s;
    ik_mutex *m;
    ik_shm *shm;
    struct area *a = open_area(argv[2], &shm);
    if (a == NULL || ik_sem_open(&s, argv[0], 0, 0) != 0 || ik_mutex_open(&m, argv[1], 0) != 0)
        return 10;
    if (ik_sem_wait(s) != 0)
        return 11;
    ikts_bump(&a->ready);
    if (ik_mutex_lock(m) != 0) /* killed while waiting here */
        return 13;
    return 12;
}

/* argv: mutex, area. Waits for the mutex (up to 30 s), reports it. */
static int child_lock_bump(int argc, char **argv)
{
    ik_mutex *m;
    ik_shm *shm;
    struct area *a = open_area(argv[1], &shm);
    if (a == NULL || ik_mutex_open(&m, argv[0], 0) != 0)
        return 10;
    if (ik_mutex_timedlock(m, 30000) != 0)
        return 11;
    ikts_bump(&a->ready);
    return ik_mutex_unlock(m) == 0 ? 0 : 12;
}

/* argv: mutex, sem, area. Holds the mutex while it waits for the sem. */
static int child_mx_then_sem(int argc, char **argv)
{
    ik_sem *s;
    ik_mutex *m;
    ik_shm *shm;
    struct area *a = open_area(argv[2], &shm);
    if (a == NULL || ik_mutex_open(&m, argv[0], 0) != 0 || ik_sem_open(&s, argv[1], 0, 0) != 0)
        return 10;
    if (ik_mutex_lock(m) != 0)
        return 11;
    ikts_bump(&a->ready);
    int rc = ik_sem_wait(s);
    if (rc == IK_EDEADLK)
        return 20;
    if (rc != 0 || ik_sem_post(s) != 0 || ik_mutex_unlock(m) != 0)
        return 12;
    return 0;
}

static const struct ikt_child_role roles[] = {
    {"lockbump", child_lock_bump}, {"cross", child_cross},       {"ordered", child_ordered},
    {"stale", child_stale},        {"mxsem", child_mx_then_sem}, {NULL, NULL},
};

/* Run a cycle of n processes over n named locks; returns #EDEADLK. */
static void run_cycle(int n, bool sem)
{
    const char *names[3];
    char buf[3][IK_NAME_MAX + 1];
    for (int i = 0; i < n; i++) {
        snprintf(buf[i], sizeof(buf[i]), "%s", ikt_name(sem ? "dl-sem" : "dl-mx"));
        names[i] = buf[i];
        if (sem) {
            ik_sem *s;
            assert_ok(ik_sem_open(&s, names[i], 1, IK_CREATE | IK_EXCL | IK_SEM_UNDO));
            ik_sem_close(s);
        } else {
            ik_mutex *m;
            assert_ok(ik_mutex_open(&m, names[i], IK_CREATE | IK_EXCL));
            ik_mutex_close(m);
        }
    }
    const char *aname = ikt_name("dl-area");
    ik_shm *shm;
    assert_ok(ik_shm_create(&shm, aname, sizeof(struct area), 0));
    struct area *a = ik_shm_ptr(shm);
    pid_t pids[3];
    for (int i = 0; i < n; i++)
        pids[i] = ikt_spawn(-1, "cross", names[i], names[(i + 1) % n], aname, sem ? "sem" : "mutex",
                            NULL);
    assert_int_equal(ikts_wait_ge(&a->ready, (uint32_t)n), 0);
    a->go_ns = ik__now_ns();
    ikts_bump(&a->go);
    int backed_off = 0, proceeded = 0;
    for (int i = 0; i < n; i++) {
        int st = ikt_wait(pids[i]);
        if (st == 1)
            backed_off++;
        else if (st == 0)
            proceeded++;
        else
            fail_msg("cycle member exited with %d", st);
    }
    print_message("%d-cycle (%s): IK_EDEADLK %.1f ms after the cycle was armed\n", n,
                  sem ? "undo sem" : "mutex", (double)(a->detect_ns - a->go_ns) / 1e6);
    assert_int_equal(backed_off, 1);
    assert_int_equal(proceeded, n - 1);
    assert_int_equal(a->count, (uint64_t)(n - 1));
    ik_shm_close(shm);
    assert_ok(ik_shm_unlink(aname));
    for (int i = 0; i < n; i++)
        assert_ok(ik_sync_unlink(names[i]));
}

static void test_ab_ba_mutex(void **state)
{
    for (int i = 0; i < 5; i++)
        run_cycle(2, false);
}

static void test_three_cycle_mutex(void **state)
{
    for (int i = 0; i < 3; i++)
        run_cycle(3, false);
}

static void test_ab_ba_undo_sem(void **state)
{
    for (int i = 0; i < 3; i++)
        run_cycle(2, true);
}

static void test_three_cycle_undo_sem(void **state)
{
    run_cycle(3, true);
}

static void test_consistent_order_never_deadlk(void **state)
{
    const char *names[3];
    char buf[3][IK_NAME_MAX + 1];
    for (int i = 0; i < 3; i++) {
        snprintf(buf[i], sizeof(buf[i]), "%s", ikt_name("ord"));
        names[i] = buf[i];
        ik_mutex *m;
        assert_ok(ik_mutex_open(&m, names[i], IK_CREATE | IK_EXCL));
        ik_mutex_close(m);
    }
    const char *aname = ikt_name("ord-area");
    ik_shm *shm;
    assert_ok(ik_shm_create(&shm, aname, sizeof(struct area), 0));
    struct area *a = ik_shm_ptr(shm);
    pid_t pids[4];
    for (int i = 0; i < 4; i++)
        pids[i] = ikt_spawn(-1, "ordered", names[0], names[1], names[2], aname, "5000", NULL);
    assert_int_equal(ikts_wait_ge(&a->ready, 4), 0);
    ikts_bump(&a->go);
    for (int i = 0; i < 4; i++)
        assert_int_equal(ikt_wait(pids[i]), 0);
    assert_int_equal(atomic_load(&a->total), 20000);
    ik_shm_close(shm);
    assert_ok(ik_shm_unlink(aname));
    for (int i = 0; i < 3; i++)
        assert_ok(ik_sync_unlink(names[i]));
}

/* Is there a registry entry of pid? (read under the registry lock) */
static bool in_registry(int pid)
{
    char name[64];
    ik__syncreg_name(name, sizeof(name));
    struct ik__seg seg;
    if (ik__seg_open(&seg, name, IK__KIND_SYNCREG, 0, NULL) != 0)
        return false;
    struct ik__syncreg *r = seg.user;
    bool found = false;
    for (int i = 0; i < IK__SYNCREG_SLOTS; i++)
        found |= r->e[i].used && r->e[i].pid == pid;
    ik__seg_close(&seg);
    return found;
}

static void test_stale_entry_no_false_cycle(void **state)
{
    const char *sname = ikt_name("st-sem");
    const char *mname = ikt_name("st-mx");
    const char *aname = ikt_name("st-area");
    ik_sem *s;
    ik_mutex *m;
    ik_shm *shm;
    assert_ok(ik_sem_open(&s, sname, 1, IK_CREATE | IK_EXCL | IK_SEM_UNDO));
    assert_ok(ik_mutex_open(&m, mname, IK_CREATE | IK_EXCL));
    assert_ok(ik_shm_create(&shm, aname, sizeof(struct area), 0));
    struct area *a = ik_shm_ptr(shm);
    assert_ok(ik_mutex_lock(m));
    pid_t pid = ikt_spawn(-1, "stale", sname, mname, aname, NULL);
    assert_int_equal(ikts_wait_ge(&a->ready, 1), 0);
    /* Wait until the child has entered the wait-for graph. */
    uint64_t t0 = ik__now_ns();
    while (!in_registry(pid)) {
        if (ikts_ms_since(t0) > 20000)
            fail_msg("child never entered the registry");
        sched_yield();
    }
    kill(pid, SIGKILL);
    assert_int_equal(ikt_wait(pid), 128 + SIGKILL);
    /* Its stale entry says "waits for m, held by us"; it held s. Taking s
     * must give the unit back, not a false IK_EDEADLK. */
    assert_ok(ik_sem_timedwait(s, 5000));
    assert_ok(ik_sem_post(s));
    assert_int_equal(ik_sem_value(s), 1);
    assert_ok(ik_mutex_unlock(m));
    ik_sem_close(s);
    ik_mutex_close(m);
    ik_shm_close(shm);
    assert_ok(ik_shm_unlink(aname));
    assert_ok(ik_sync_unlink(sname));
    assert_ok(ik_sync_unlink(mname));
}

/* Undo units are per process. Our main thread holds the sem and runs; our
 * second thread waits for a mutex held by a child that waits for the sem.
 * Not a deadlock (the main thread can post), so no one may get IK_EDEADLK:
 * an edge to a process counts only when all its threads wait. */
struct waiter_thr {
    ik_mutex *m;
    _Atomic int rc, done;
};

static void *thr_lock(void *p)
{
    struct waiter_thr *t = p;
    int rc = ik_mutex_lock(t->m);
    if (rc == 0)
        rc = ik_mutex_unlock(t->m);
    atomic_store(&t->rc, rc);
    atomic_store(&t->done, 1);
    return NULL;
}

/* Has the registry entry of pid (tid: any when 0) been re-checked at least
 * `rounds` times since the entry of other_pid appeared? */
static bool seen_after(const struct ik__syncreg *r, int pid, int other_pid, uint64_t rounds)
{
    uint64_t obs = 0, other_start = UINT64_MAX;
    for (int i = 0; i < IK__SYNCREG_SLOTS; i++) {
        if (!r->e[i].used)
            continue;
        if (r->e[i].pid == pid)
            obs = r->e[i].obs_seq;
        if (r->e[i].pid == other_pid)
            other_start = r->e[i].start_seq;
    }
    return other_start != UINT64_MAX && obs > other_start + rounds;
}

static void test_sem_held_by_running_thread(void **state)
{
    const char *sname = ikt_name("rt-sem");
    const char *mname = ikt_name("rt-mx");
    const char *aname = ikt_name("rt-area");
    ik_sem *s;
    ik_mutex *m;
    ik_shm *shm;
    assert_ok(ik_sem_open(&s, sname, 1, IK_CREATE | IK_EXCL | IK_SEM_UNDO));
    assert_ok(ik_mutex_open(&m, mname, IK_CREATE | IK_EXCL));
    assert_ok(ik_shm_create(&shm, aname, sizeof(struct area), 0));
    struct area *a = ik_shm_ptr(shm);
    assert_ok(ik_sem_wait(s)); /* this (running) thread holds the unit */
    pid_t pid = ikt_spawn(-1, "mxsem", mname, sname, aname, NULL);
    assert_int_equal(ikts_wait_ge(&a->ready, 1), 0);
    struct waiter_thr t = {.m = m};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, thr_lock, &t), 0);

    char rname[64];
    ik__syncreg_name(rname, sizeof(rname));
    struct ik__seg seg;
    uint64_t t0 = ik__now_ns();
    while (ik__seg_open(&seg, rname, IK__KIND_SYNCREG, 0, NULL) != 0) {
        if (ikts_ms_since(t0) > 20000)
            fail_msg("no registry");
        sched_yield();
    }
    /* Both waits go through several detection rounds with both present. */
    const struct ik__syncreg *r = seg.user;
    while (!atomic_load(&t.done) && !(seen_after(r, (int)pid, (int)getpid(), 3) &&
                                      seen_after(r, (int)getpid(), (int)pid, 3))) {
        if (ikts_ms_since(t0) > 20000)
            fail_msg("waiters never met in the registry");
        sched_yield();
    }
    ik__seg_close(&seg);
    assert_false(atomic_load(&t.done)); /* still waiting: no IK_EDEADLK */
    assert_ok(ik_sem_post(s));
    assert_int_equal(ikt_wait(pid), 0); /* 20: the child got IK_EDEADLK */
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(atomic_load(&t.rc), 0);
    ik_sem_close(s);
    ik_mutex_close(m);
    ik_shm_close(shm);
    assert_ok(ik_shm_unlink(aname));
    assert_ok(ik_sync_unlink(sname));
    assert_ok(ik_sync_unlink(mname));
}

/* Threads of one process: nodes are threads, so AB-BA between two threads is
 * found (once) and a long hold by a sibling thread is not a cycle. */
struct thr {
    ik_mutex *first, *second;
    _Atomic uint32_t *ready;
    int rc;
};

static void *thr_cross(void *p)
{
    struct thr *t = p;
    if (ik_mutex_lock(t->first) != 0) {
        t->rc = -1;
        return NULL;
    }
    ikts_bump(t->ready);
    (void)ikts_wait_ge(t->ready, 2);
    t->rc = ik_mutex_lock(t->second);
    if (t->rc == 0 && ik_mutex_unlock(t->second) != 0)
        t->rc = -2;
    if (ik_mutex_unlock(t->first) != 0)
        t->rc = -3;
    return NULL;
}

static void test_threads_ab_ba(void **state)
{
    ik_mutex *a, *b;
    const char *an = ikt_name("thr-a");
    char bn[IK_NAME_MAX + 1];
    snprintf(bn, sizeof(bn), "%s", ikt_name("thr-b"));
    assert_ok(ik_mutex_open(&a, an, IK_CREATE | IK_EXCL));
    assert_ok(ik_mutex_open(&b, bn, IK_CREATE | IK_EXCL));
    _Atomic uint32_t *ready = ikts_anon(sizeof(*ready));
    struct thr t1 = {a, b, ready, 0}, t2 = {b, a, ready, 0};
    pthread_t h1, h2;
    assert_int_equal(pthread_create(&h1, NULL, thr_cross, &t1), 0);
    assert_int_equal(pthread_create(&h2, NULL, thr_cross, &t2), 0);
    pthread_join(h1, NULL);
    pthread_join(h2, NULL);
    assert_true((t1.rc == IK_EDEADLK && t2.rc == 0) || (t1.rc == 0 && t2.rc == IK_EDEADLK));
    /* A sibling thread holding for several slices is no deadlock. */
    assert_ok(ik_mutex_lock(a));
    atomic_store(ready, 0);
    struct thr t3 = {b, a, ready, 0};
    assert_int_equal(pthread_create(&h1, NULL, thr_cross, &t3), 0);
    assert_int_equal(ikts_wait_ge(ready, 1), 0);
    ikts_bump(ready);
    uint64_t until = ik__now_ns() + 100000000u; /* hold a while: t3 waits 5 slices */
    while (ik__now_ns() < until)
        sched_yield();
    assert_ok(ik_mutex_unlock(a));
    pthread_join(h1, NULL);
    assert_ok(t3.rc);
    munmap((void *)ready, sizeof(*ready));
    ik_mutex_close(a);
    ik_mutex_close(b);
    assert_ok(ik_sync_unlink(an));
    assert_ok(ik_sync_unlink(bn));
}

/* As uid 65534, whose registry name another user (root) squatted: the
 * registry is refused (owner check), detection is off, the locks work. */
static int nobody_squatted_registry(void *arg)
{
    ik_mutex *m;
    if (ik_mutex_open(&m, (const char *)arg, IK_CREATE | IK_EXCL) != 0)
        return 1;
    if (ik_mutex_lock(m) != 0)
        return 2;
    fflush(NULL);
    pid_t c = fork();
    if (c == 0) /* 100 ms = several slices, each would use the registry */
        _exit(ik_mutex_timedlock(m, 100) == IK_ETIMEDOUT ? 0 : 3);
    int st;
    if (waitpid(c, &st, 0) != c)
        return 4;
    if (ik_mutex_unlock(m) != 0)
        return 5;
    ik_mutex_close(m);
    if (ik_sync_unlink((const char *)arg) != 0)
        return 6;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 7;
}

static void test_squatted_registry_is_refused(void **state)
{
    if (!ikt_is_root())
        skip();
    char reg[64];
    snprintf(reg, sizeof(reg), IK__SYNCREG_PREFIX "%u", 65534u);
    ik_shm *shm;
    ik_perm perm = IK_PERM_DEFAULT;
    perm.mode = 0666; /* open to everyone, owned by root */
    int rc = ik_shm_create_ex(&shm, reg, sizeof(struct ik__syncreg), 0, &perm);
    if (rc == IK_EEXIST)
        skip(); /* a real registry of uid 65534 exists: leave it alone */
    assert_ok(rc);
    ik_shm_close(shm);
    int st = ikt_run_as_nobody(nobody_squatted_registry, (void *)ikt_name("sq-reg"));
    assert_ok(ik_shm_unlink(reg));
    assert_int_equal(st, 0);
}

/* The registry lock held for long by some process of this user (stopped,
 * traced, hostile): a waiter whose mutex is released still gets it (the
 * registry lock is only tried for a slice, and the wait entry is removed
 * without it). */
static void test_registry_lock_held_elsewhere(void **state)
{
    const char *mname = ikt_name("dl-reglk");
    const char *aname = ikt_name("dl-area");
    ik_mutex *m;
    ik_shm *shm;
    assert_ok(ik_mutex_open(&m, mname, IK_CREATE | IK_EXCL));
    assert_ok(ik_shm_create(&shm, aname, sizeof(struct area), 0));
    struct area *a = ik_shm_ptr(shm);
    /* A first contended wait makes sure the registry exists. */
    assert_ok(ik_mutex_lock(m));
    pid_t pid = ikt_spawn(-1, "lockbump", mname, aname, NULL);
    uint64_t t0 = ik__now_ns();
    while (!in_registry(pid)) {
        if (ikts_ms_since(t0) > 20000)
            fail_msg("waiter never entered the registry");
        sched_yield();
    }
    assert_ok(ik_mutex_unlock(m));
    assert_int_equal(ikt_wait(pid), 0);

    char name[64];
    ik__syncreg_name(name, sizeof(name));
    struct ik__seg seg;
    assert_ok(ik__seg_open(&seg, name, IK__KIND_SYNCREG, 0, NULL));
    struct ik__syncreg *r = seg.user;
    assert_ok(ik_mutex_lock(m));
    int e = pthread_mutex_lock(&r->lock);
    if (e == EOWNERDEAD)
        e = pthread_mutex_consistent(&r->lock);
    assert_int_equal(e, 0);
    pid = ikt_spawn(-1, "lockbump", mname, aname, NULL);
    /* The waiter is blocked on the registry lock once its waiters bit is set. */
    t0 = ik__now_ns();
    while (!(__atomic_load_n((unsigned *)&r->lock.__data.__lock, __ATOMIC_ACQUIRE) & 0x80000000u)) {
        if (ikts_ms_since(t0) > 20000)
            break;
        sched_yield();
    }
    assert_ok(ik_mutex_unlock(m));
    int got = ikts_wait_ge(&a->ready, 2);
    pthread_mutex_unlock(&r->lock);
    assert_int_equal(ikt_wait(pid), 0);
    if (got != 0)
        fail_msg("waiter stuck behind the registry lock after its mutex was released");
    ik__seg_close(&seg);
    ik_mutex_close(m);
    ik_shm_close(shm);
    assert_ok(ik_sync_unlink(mname));
    assert_ok(ik_shm_unlink(aname));
}

int main(int argc, char **argv)
{
    ikt_child_dispatch(argc, argv, roles);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ab_ba_mutex),
        cmocka_unit_test(test_three_cycle_mutex),
        cmocka_unit_test(test_ab_ba_undo_sem),
        cmocka_unit_test(test_three_cycle_undo_sem),
        cmocka_unit_test(test_consistent_order_never_deadlk),
        cmocka_unit_test(test_stale_entry_no_false_cycle),
        cmocka_unit_test(test_threads_ab_ba),
        cmocka_unit_test(test_sem_held_by_running_thread),
        cmocka_unit_test(test_squatted_registry_is_refused),
        cmocka_unit_test(test_registry_lock_held_elsewhere),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
