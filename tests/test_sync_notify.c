/* ik_cond and ik_event across processes: handoffs, timeouts, owner death. */
#include "sync_shared.h"
#include "sync/sync_int.h"

#include <sched.h>
#include <sys/wait.h>

struct area {
    _Atomic uint32_t ready;
    _Atomic uint32_t go;
    _Atomic uint32_t woke;
    ik_mutex m;
    ik_cond c;
    uint32_t turn;
    uint64_t count;
};

ik_shm *g_child_shm; /* a child's area stays mapped until it exits */

static struct area *area_open(const char *name)
{
    if (ik_shm_open(&g_child_shm, name, 0) != 0)
        return NULL;
    return ik_shm_ptr(g_child_shm); /* mapped until exit */
}

/* argv: area, me (0/1), rounds. Alternate turns with the other process. */
static int child_pingpong(int argc, char **argv)
{
    struct area *a = area_open(argv[0]);
    if (a == NULL)
        return 10;
    uint32_t me = (uint32_t)atoi(argv[1]);
    long n = atol(argv[2]);
    for (long i = 0; i < n; i++) {
        if (ik_mutex_lock(&a->m) != 0)
            return 11;
        while (a->turn != me) {
            if (ik_cond_wait(&a->c, &a->m) != 0)
                return 12;
        }
        a->count++;
        a->turn = 1 - me;
        if (ik_cond_broadcast(&a->c) != 0 || ik_mutex_unlock(&a->m) != 0)
            return 13;
    }
    return 0;
}

/* argv: area. Lock, signal, die holding the mutex. */
static int child_signal_die(int argc, char **argv)
{
    struct area *a = area_open(argv[0]);
    if (a == NULL || ik_mutex_lock(&a->m) != 0)
        return 10;
    a->turn = 7;
    if (ik_cond_signal(&a->c) != 0)
        return 11;
    raise(SIGKILL);
    return 12;
}

/* argv: event name, area. Wait for the event, count it. */
static int child_event_wait(int argc, char **argv)
{
    ik_event *e;
    struct area *a = area_open(argv[1]);
    if (a == NULL || ik_event_open(&e, argv[0], 0) != 0)
        return 10;
    ikts_bump(&a->ready);
    if (ik_event_timedwait(e, 30000) != 0)
        return 11;
    ikts_bump(&a->woke);
    ik_event_close(e);
    return 0;
}

/* argv: kind (sem|event|cond), name(s). One untimed wait. */
static int child_sleeper(int argc, char **argv)
{
    if (strcmp(argv[0], "sem") == 0) {
        ik_sem *s;
        return ik_sem_open(&s, argv[1], 0, 0) != 0 ? 10 : ik_sem_wait(s) != 0 ? 11 : 0;
    }
    if (strcmp(argv[0], "event") == 0) {
        ik_event *e;
        return ik_event_open(&e, argv[1], 0) != 0 ? 10 : ik_event_wait(e) != 0 ? 11 : 0;
    }
    ik_cond *c;
    ik_mutex *m;
    if (ik_cond_open(&c, argv[1], 0) != 0 || ik_mutex_open(&m, argv[2], 0) != 0 ||
        ik_mutex_lock(m) != 0)
        return 10;
    if (ik_cond_wait(c, m) != 0 || ik_mutex_unlock(m) != 0)
        return 11;
    return 0;
}

static const struct ikt_child_role roles[] = {
    {"sleeper", child_sleeper},
    {"pingpong", child_pingpong},
    {"signal-die", child_signal_die},
    {"event-wait", child_event_wait},
    {NULL, NULL},
};

static struct area *area_new(const char **name, ik_shm **shm)
{
    *name = ikt_name("cv-area");
    assert_ok(ik_shm_create(shm, *name, sizeof(struct area), 0));
    struct area *a = ik_shm_ptr(*shm);
    assert_ok(ik_mutex_init(&a->m, 0));
    assert_ok(ik_cond_init(&a->c, 0));
    return a;
}

static void area_free(const char *name, ik_shm *shm)
{
    ik_shm_close(shm);
    assert_ok(ik_shm_unlink(name));
}

static void test_cond_pingpong(void **state)
{
    const char *name;
    ik_shm *shm;
    struct area *a = area_new(&name, &shm);
    pid_t p0 = ikt_spawn(-1, "pingpong", name, "0", "5000", NULL);
    pid_t p1 = ikt_spawn(-1, "pingpong", name, "1", "5000", NULL);
    assert_int_equal(ikt_wait(p0), 0);
    assert_int_equal(ikt_wait(p1), 0);
    assert_int_equal(a->count, 10000);
    area_free(name, shm);
}

static void test_cond_timeout_holds_mutex(void **state)
{
    const char *name;
    ik_shm *shm;
    struct area *a = area_new(&name, &shm);
    const int waits[] = {0, 1, 10, 40};
    for (size_t i = 0; i < IK__ARRAY_LEN(waits); i++) {
        assert_ok(ik_mutex_lock(&a->m));
        uint64_t t0 = ik__now_ns();
        assert_ik(IK_ETIMEDOUT, ik_cond_timedwait(&a->c, &a->m, waits[i]));
        if (ik__now_ns() - t0 < (uint64_t)waits[i] * 1000000u)
            fail_msg("cond timedwait(%d) returned early", waits[i]);
        assert_ok(ik_mutex_unlock(&a->m)); /* held again after the timeout */
    }
    assert_ik(IK_EPERM, ik_cond_wait(&a->c, &a->m)); /* not held */
    assert_ok(ik_cond_signal(&a->c));
    ik_cond bad;
    memset(&bad, 0, sizeof(bad));
    assert_ik(IK_EINVAL, ik_cond_signal(&bad));
    assert_ik(IK_EINVAL, ik_cond_init(&bad, 3));
    area_free(name, shm);
}

static void test_cond_waiter_sees_owner_death(void **state)
{
    const char *name;
    ik_shm *shm;
    struct area *a = area_new(&name, &shm);
    assert_ok(ik_mutex_lock(&a->m));
    pid_t pid = ikt_spawn(-1, "signal-die", name, NULL);
    int rc = 0;
    while (a->turn != 7 && rc == 0)
        rc = ik_cond_timedwait(&a->c, &a->m, 20000);
    assert_ik(IK_EOWNERDEAD, rc); /* woken, then the mutex owner died */
    assert_int_equal(ikt_wait(pid), 128 + SIGKILL);
    assert_ok(ik_mutex_consistent(&a->m));
    assert_ok(ik_mutex_unlock(&a->m));
    area_free(name, shm);
}

static void test_named_cond(void **state)
{
    const char *name = ikt_name("cv-named");
    ik_cond *c;
    assert_ok(ik_cond_open(&c, name, IK_CREATE | IK_EXCL));
    assert_ok(ik_cond_broadcast(c));
    ik_cond_close(c);
    assert_ok(ik_cond_open(&c, name, 0));
    ik_cond_close(c);
    ik_event *e;
    assert_ik(IK_EKIND, ik_event_open(&e, name, 0));
    assert_ok(ik_sync_unlink(name));
}

static void test_event_auto_reset(void **state)
{
    const char *aname;
    ik_shm *shm;
    struct area *a = area_new(&aname, &shm);
    const char *ename = ikt_name("ev-auto");
    ik_event *e;
    assert_ok(ik_event_open(&e, ename, IK_CREATE | IK_EXCL));
    /* Set before anyone waits: the next wait consumes it, then it is clear. */
    assert_ok(ik_event_set(e));
    assert_ok(ik_event_wait(e));
    uint64_t t0 = ik__now_ns();
    assert_ik(IK_ETIMEDOUT, ik_event_timedwait(e, 20));
    assert_true(ik__now_ns() - t0 >= 20000000u);
    /* Two waiting processes: each set releases one. */
    pid_t p[2];
    for (int i = 0; i < 2; i++)
        p[i] = ikt_spawn(-1, "event-wait", ename, aname, NULL);
    assert_int_equal(ikts_wait_ge(&a->ready, 2), 0);
    assert_ok(ik_event_set(e));
    assert_int_equal(ikts_wait_ge(&a->woke, 1), 0);
    assert_ok(ik_event_set(e));
    assert_int_equal(ikts_wait_ge(&a->woke, 2), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(ikt_wait(p[i]), 0);
    assert_ik(IK_ETIMEDOUT, ik_event_timedwait(e, 0)); /* both sets consumed */
    ik_event_close(e);
    assert_ok(ik_sync_unlink(ename));
    area_free(aname, shm);
}

static void test_event_manual_reset(void **state)
{
    const char *aname;
    ik_shm *shm;
    struct area *a = area_new(&aname, &shm);
    const char *ename = ikt_name("ev-man");
    ik_event *e;
    assert_ok(ik_event_open(&e, ename, IK_CREATE | IK_EXCL | IK_EVENT_MANUAL));
    pid_t p[3];
    for (int i = 0; i < 3; i++)
        p[i] = ikt_spawn(-1, "event-wait", ename, aname, NULL);
    assert_int_equal(ikts_wait_ge(&a->ready, 3), 0);
    assert_ok(ik_event_set(e)); /* one set releases everyone */
    for (int i = 0; i < 3; i++)
        assert_int_equal(ikt_wait(p[i]), 0);
    assert_ok(ik_event_wait(e));
    assert_ok(ik_event_timedwait(e, 0));
    assert_ok(ik_event_reset(e));
    uint64_t t0 = ik__now_ns();
    assert_ik(IK_ETIMEDOUT, ik_event_timedwait(e, 30));
    assert_true(ik__now_ns() - t0 >= 30000000u);
    ik_event_close(e);
    assert_ok(ik_sync_unlink(ename));
    ik_event in;
    assert_ik(IK_EINVAL, ik_event_init(&in, 1u << 3));
    assert_ok(ik_event_init(&in, 0));
    assert_ik(IK_EINVAL, ik_event_open(&e, ename, 1u << 4));
    area_free(aname, shm);
}

/* The waker is killed between its store (set, signal) and its futex wake:
 * simulated by making the store alone. The sleeper must notice by itself
 * (sliced sleeps), not sleep until some later wake. (ik_sem cannot get
 * there: a post that may have sleepers adds and wakes in one FUTEX_WAKE_OP,
 * see test_sem_sleeper_killed.) */
static void test_waker_killed_before_wake(void **state)
{
    static const char *const kinds[] = {"sem", "event", "cond"};
    for (int k = 1; k < 3; k++) {
        const char *name = ikt_name("lostwake");
        const char *mname = ikt_name("lostwake-mx");
        ik_sem *s = NULL;
        ik_event *e = NULL;
        ik_cond *c = NULL;
        ik_mutex *m = NULL;
        _Atomic uint32_t *word; /* [0] futex word, [1] waiter count */
        if (k == 0) {
            assert_ok(ik_sem_open(&s, name, 0, IK_CREATE | IK_EXCL));
            word = (_Atomic uint32_t *)(void *)s;
        } else if (k == 1) {
            assert_ok(ik_event_open(&e, name, IK_CREATE | IK_EXCL));
            word = (_Atomic uint32_t *)(void *)e;
        } else {
            assert_ok(ik_cond_open(&c, name, IK_CREATE | IK_EXCL));
            assert_ok(ik_mutex_open(&m, mname, IK_CREATE | IK_EXCL));
            word = (_Atomic uint32_t *)(void *)c;
        }
        pid_t pid = ikt_spawn(-1, "sleeper", kinds[k], name, mname, NULL);
        uint64_t t0 = ik__now_ns();
        while (atomic_load(&word[1]) == 0 || ikts_in_futex(pid) == 0) {
            if (ikts_ms_since(t0) > 20000)
                fail_msg("%s: sleeper never slept", kinds[k]);
            sched_yield();
        }
        if (k == 0 || k == 1)
            atomic_store(&word[0], 1); /* the unit / the set state, no wake */
        else
            atomic_fetch_add(&word[0], 1); /* the signal's bump, no wake */
        int st = -1;
        t0 = ik__now_ns();
        while (waitpid(pid, &st, WNOHANG) == 0) {
            if (ikts_ms_since(t0) > 20000) {
                /* Release it properly, then fail. */
                if (k == 0)
                    assert_ok(ik_sem_post(s));
                else if (k == 1)
                    assert_ok(ik_event_set(e));
                else
                    assert_ok(ik_cond_broadcast(c));
                (void)ikt_wait(pid);
                fail_msg("%s: sleeper missed a wake-up whose waker died", kinds[k]);
            }
            sched_yield();
        }
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        ik_sem_close(s);
        ik_event_close(e);
        ik_cond_close(c);
        ik_mutex_close(m);
        assert_ok(ik_sync_unlink(name));
        if (k == 2)
            assert_ok(ik_sync_unlink(mname));
    }
}

/* A sleeper on a semaphore is killed: the SLEEPERS flag it left is stale.
 * The next post finds no one to wake, clears it, and everything goes on:
 * later posts stay in user space, a new sleeper is woken, and an in-place
 * semaphore with a stale flag can be destroyed. */
static void test_sem_sleeper_killed(void **state)
{
    const char *name = ikt_name("semkill");
    ik_sem *s;
    assert_ok(ik_sem_open(&s, name, 0, IK_CREATE | IK_EXCL));
    _Atomic uint32_t *word = (_Atomic uint32_t *)(void *)s;
    for (int round = 0; round < 2; round++) {
        pid_t pid = ikt_spawn(-1, "sleeper", "sem", name, NULL);
        uint64_t t0 = ik__now_ns();
        while (!(atomic_load(word) & IK__SEM_SLEEPERS) || ikts_in_futex(pid) == 0) {
            if (ikts_ms_since(t0) > 20000)
                fail_msg("sleeper never slept");
            sched_yield();
        }
        if (round == 0) { /* killed asleep: the flag is left behind */
            kill(pid, SIGKILL);
            assert_int_equal(ikt_wait(pid), 128 + SIGKILL);
            assert_true(atomic_load(word) & IK__SEM_SLEEPERS);
            assert_ok(ik_sem_post(s));
            assert_int_equal(atomic_load(word), IK__SEM_ONE); /* one unit, flag gone */
            assert_ok(ik_sem_trywait(s));
        } else { /* a live sleeper is woken by the next post */
            assert_ok(ik_sem_post(s));
            assert_int_equal(ikt_wait(pid), 0);
            assert_int_equal(ik_sem_value(s), 0);
        }
    }
    ik_sem_close(s);
    assert_ok(ik_sync_unlink(name));

    ik_sem in;
    assert_ok(ik_sem_init(&in, 0, 0));
    atomic_fetch_or((_Atomic uint32_t *)(void *)&in, IK__SEM_SLEEPERS); /* as a killed sleeper */
    assert_ok(ik_sem_destroy(&in));
}

int main(int argc, char **argv)
{
    ikt_child_dispatch(argc, argv, roles);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cond_pingpong),
        cmocka_unit_test(test_cond_timeout_holds_mutex),
        cmocka_unit_test(test_cond_waiter_sees_owner_death),
        cmocka_unit_test(test_named_cond),
        cmocka_unit_test(test_event_auto_reset),
        cmocka_unit_test(test_event_manual_reset),
        cmocka_unit_test(test_waker_killed_before_wake),
        cmocka_unit_test(test_sem_sleeper_killed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
