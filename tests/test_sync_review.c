/* Regression tests from the review of the FUTEX_WAKE_OP semaphore and the
 * per-process deadlock edges: a woken sleeper killed before it takes its
 * unit, a process holding an undo sem whose waiting threads can still make
 * progress, and a kill -9 stress of semaphore waiters. */
#include "sync_shared.h"
#include "sync/sync_int.h"

#include <pthread.h>
#include <sched.h>
#include <sys/wait.h>

struct area {
    _Atomic uint32_t ready;
    _Atomic uint32_t go;
    _Atomic uint32_t deadlk;
    _Atomic uint32_t stop;
    _Atomic uint64_t consumed;
    _Atomic uint64_t posted;
};

static struct area *open_area(const char *name, ik_shm **shm)
{
    if (ik_shm_open(shm, name, 0) != 0)
        return NULL;
    return ik_shm_ptr(*shm);
}

static struct area *new_area(const char *name, ik_shm **shm)
{
    assert_ok(ik_shm_create(shm, name, sizeof(struct area), 0));
    return ik_shm_ptr(*shm);
}

static void free_area(const char *name, ik_shm *shm)
{
    ik_shm_close(shm);
    assert_ok(ik_shm_unlink(name));
}

static void wait_in_futex(pid_t pid)
{
    uint64_t t0 = ik__now_ns();
    while (ikts_in_futex(pid) != 1) {
        if (ikts_ms_since(t0) > 20000)
            fail_msg("pid %d never slept in futex(2)", (int)pid);
        sched_yield();
    }
}

/* waitpid with a 20 s bound that only turns a hang into a failure (-1). */
static int wait_bounded(pid_t pid)
{
    int st;
    uint64_t t0 = ik__now_ns();
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (r < 0 || ikts_ms_since(t0) > 20000)
            return -1;
        sched_yield();
    }
}

/* ---- a woken sleeper killed before it takes ---------------------------- */

/* argv: sem. Sleeps exactly as ik_sem_wait does (SLEEPERS, then futex wait
 * on the word) and is killed (-9) right after a post woke it, before it
 * takes the unit: the instant a kill -9 can hit any waiter. */
static int child_fake_sleeper(int argc, char **argv)
{
    ik_sem *s;
    if (ik_sem_open(&s, argv[0], 0, 0) != 0)
        return 10;
    _Atomic uint32_t *word = (_Atomic uint32_t *)(void *)s;
    uint32_t v = atomic_load(word);
    if (ik__sem_units(v) != 0)
        return 11;
    if (!(v & IK__SEM_SLEEPERS) && !atomic_compare_exchange_strong(word, &v, v | IK__SEM_SLEEPERS))
        return 12;
    if (ik__futex_wait((uint32_t *)word, v | IK__SEM_SLEEPERS, UINT64_MAX, true) != 0)
        return 13;
    raise(SIGKILL); /* (the other sleeper may have taken the unit already) */
    return 15;
}

/* argv: sem. One ik_sem_wait. */
static int child_sem_wait(int argc, char **argv)
{
    ik_sem *s;
    if (ik_sem_open(&s, argv[0], 0, 0) != 0)
        return 10;
    int rc = ik_sem_wait(s);
    ik_sem_close(s);
    return rc == 0 ? 0 : 11;
}

/* Two sleepers; the post wakes the first (futex queues are FIFO), which is
 * killed before it takes. The unit is free and the second sleeper must get
 * it by itself, not sleep beside it until some later post. */
static void test_woken_sleeper_killed(void **state)
{
    const char *name = ikt_name("rv-woken");
    ik_sem *s;
    assert_ok(ik_sem_open(&s, name, 0, IK_CREATE | IK_EXCL));
    pid_t w = ikt_spawn(-1, "fake-sleeper", name, NULL);
    wait_in_futex(w);
    pid_t x = ikt_spawn(-1, "sem-wait", name, NULL);
    wait_in_futex(x);
    assert_ok(ik_sem_post(s));
    assert_int_equal(ikt_wait(w), 128 + SIGKILL); /* woken, then killed */
    int st = wait_bounded(x);
    if (st < 0) {
        int prc = ik_sem_post(s); /* let it go, then fail */
        (void)prc;
        ikt_wait(x);
        fail_msg("a sleeper slept beside a free unit after the woken one was killed");
    }
    assert_int_equal(st, 0);
    assert_int_equal(ik_sem_value(s), 0);
    ik_sem_close(s);
    assert_ok(ik_sync_unlink(name));
}

/* ---- undo-sem edges: a holder process whose threads can still move ----- */

struct thr_post {
    ik_mutex *n;
    ik_sem *s;
    _Atomic int rc;
};

static void *thr_lock_post(void *p)
{
    struct thr_post *t = p;
    int rc = ik_mutex_lock(t->n);
    if (rc == 0) {
        rc = ik_sem_post(t->s);
        if (ik_mutex_unlock(t->n) != 0 && rc == 0)
            rc = -1;
    }
    atomic_store(&t->rc, rc);
    return NULL;
}

/* argv: sem S (undo), mutex M, mutex N, area. Takes S's unit; a second
 * thread waits for N (held by the running test) and then posts S; the main
 * thread waits for M (held by the "mx-sem" child, which waits for S). */
static int child_two_waits(int argc, char **argv)
{
    ik_sem *s;
    ik_mutex *m, *n;
    ik_shm *shm;
    struct area *a = open_area(argv[3], &shm);
    if (a == NULL || ik_sem_open(&s, argv[0], 0, 0) != 0 || ik_mutex_open(&m, argv[1], 0) != 0 ||
        ik_mutex_open(&n, argv[2], 0) != 0)
        return 10;
    if (ik_sem_wait(s) != 0)
        return 11;
    struct thr_post t = {.n = n, .s = s};
    pthread_t th;
    if (pthread_create(&th, NULL, thr_lock_post, &t) != 0)
        return 12;
    ikts_bump(&a->ready);
    if (ikts_wait_ge(&a->go, 1) != 0)
        return 13;
    int rc = ik_mutex_lock(m);
    if (rc == IK_EDEADLK)
        atomic_fetch_add(&a->deadlk, 1);
    else if (rc == 0 && ik_mutex_unlock(m) != 0)
        return 14;
    pthread_join(th, NULL);
    ik_sem_close(s);
    ik_mutex_close(m);
    ik_mutex_close(n);
    ik_shm_close(shm);
    if (rc == IK_EDEADLK || atomic_load(&t.rc) == IK_EDEADLK)
        return 20;
    return rc == 0 && atomic_load(&t.rc) == 0 ? 0 : 15;
}

/* argv: sem, mutex, area. Holds the mutex while it waits for the sem. */
static int child_mx_sem(int argc, char **argv)
{
    ik_sem *s;
    ik_mutex *m;
    ik_shm *shm;
    struct area *a = open_area(argv[2], &shm);
    if (a == NULL || ik_sem_open(&s, argv[0], 0, 0) != 0 || ik_mutex_open(&m, argv[1], 0) != 0)
        return 10;
    if (ik_mutex_lock(m) != 0)
        return 11;
    ikts_bump(&a->ready);
    int rc = ik_sem_wait(s), ret = 0;
    if (rc == IK_EDEADLK) {
        atomic_fetch_add(&a->deadlk, 1);
        ret = ik_mutex_unlock(m) == 0 ? 20 : 12;
    } else if (rc != 0 || ik_sem_post(s) != 0 || ik_mutex_unlock(m) != 0) {
        ret = 13;
    }
    ik_sem_close(s);
    ik_mutex_close(m);
    ik_shm_close(shm);
    return ret;
}

/* Entries of p (want_p of them) and q (want_q) are all in the registry and
 * each was re-checked `rounds` times after the last of them appeared. */
static bool all_checked(const struct ik__syncreg *r, int p, int want_p, int q, int want_q,
                        uint64_t rounds)
{
    int np = 0, nq = 0;
    uint64_t max_start = 0, min_obs = UINT64_MAX;
    for (int i = 0; i < IK__SYNCREG_SLOTS; i++) {
        const struct ik__dl_entry *e = &r->e[i];
        if (!__atomic_load_n(&e->used, __ATOMIC_ACQUIRE) || (e->pid != p && e->pid != q))
            continue;
        np += e->pid == p;
        nq += e->pid == q;
        max_start = e->start_seq > max_start ? e->start_seq : max_start;
        min_obs = e->obs_seq < min_obs ? e->obs_seq : min_obs;
    }
    return np == want_p && nq == want_q && min_obs > max_start + rounds;
}

/* Child P holds the undo sem; its main thread waits for M, held by child Q
 * that waits for the sem: a cycle through P's main thread. But P's other
 * thread waits for N, which the (running) test holds; once it is released
 * that thread posts the sem and everything proceeds. Every thread of P is
 * waiting, yet P is not stuck: no one may get IK_EDEADLK. */
static void test_undo_holder_thread_can_progress(void **state)
{
    const char *sname = ikt_name("rv-sem");
    const char *mname = ikt_name("rv-m");
    const char *nname = ikt_name("rv-n");
    const char *aname = ikt_name("rv-area");
    ik_sem *s;
    ik_mutex *m, *n;
    ik_shm *shm;
    assert_ok(ik_sem_open(&s, sname, 1, IK_CREATE | IK_EXCL | IK_SEM_UNDO));
    assert_ok(ik_mutex_open(&m, mname, IK_CREATE | IK_EXCL));
    assert_ok(ik_mutex_open(&n, nname, IK_CREATE | IK_EXCL));
    struct area *a = new_area(aname, &shm);
    assert_ok(ik_mutex_lock(n));
    pid_t p = ikt_spawn(-1, "two-waits", sname, mname, nname, aname, NULL);
    assert_int_equal(ikts_wait_ge(&a->ready, 1), 0);
    pid_t q = ikt_spawn(-1, "mx-sem", sname, mname, aname, NULL);
    assert_int_equal(ikts_wait_ge(&a->ready, 2), 0);
    ikts_bump(&a->go);

    char rname[64];
    ik__syncreg_name(rname, sizeof(rname));
    struct ik__seg seg;
    uint64_t t0 = ik__now_ns();
    while (ik__seg_open(&seg, rname, IK__KIND_SYNCREG, 0, NULL) != 0) {
        if (ikts_ms_since(t0) > 20000)
            fail_msg("no registry");
        sched_yield();
    }
    const struct ik__syncreg *r = seg.user;
    /* Every wait goes through several detection rounds with all present. */
    while (atomic_load(&a->deadlk) == 0 && !all_checked(r, (int)p, 2, (int)q, 1, 3)) {
        if (ikts_ms_since(t0) > 20000)
            fail_msg("waiters never met in the registry");
        sched_yield();
    }
    ik__seg_close(&seg);
    uint32_t deadlk = atomic_load(&a->deadlk);
    assert_ok(ik_mutex_unlock(n));
    int sp = ikt_wait(p), sq = ikt_wait(q);
    assert_int_equal(deadlk, 0);
    assert_int_equal(sp, 0); /* 20: a false IK_EDEADLK */
    assert_int_equal(sq, 0);
    assert_int_equal(ik_sem_value(s), 1);
    ik_sem_close(s);
    ik_mutex_close(m);
    ik_mutex_close(n);
    free_area(aname, shm);
    assert_ok(ik_sync_unlink(sname));
    assert_ok(ik_sync_unlink(mname));
    assert_ok(ik_sync_unlink(nname));
}

/* ---- stress: waiters killed at random --------------------------------- */

/* argv: sem, area, n. n waits, each counted. */
static int child_consumer(int argc, char **argv)
{
    ik_sem *s;
    ik_shm *shm;
    struct area *a = open_area(argv[1], &shm);
    if (a == NULL || ik_sem_open(&s, argv[0], 0, 0) != 0)
        return 10;
    long n = atol(argv[2]);
    ikts_bump(&a->ready);
    for (long i = 0; i < n; i++) {
        if (ik_sem_wait(s) != 0)
            return 11;
        atomic_fetch_add(&a->consumed, 1);
    }
    ik_sem_close(s);
    ik_shm_close(shm);
    return 0;
}

/* argv: sem, area, n, per. n posts, `per` at a time with a yield between. */
static int child_poster(int argc, char **argv)
{
    ik_sem *s;
    ik_shm *shm;
    struct area *a = open_area(argv[1], &shm);
    if (a == NULL || ik_sem_open(&s, argv[0], 0, 0) != 0)
        return 10;
    long n = atol(argv[2]), per = atol(argv[3]);
    if (ikts_wait_ge(&a->go, 1) != 0)
        return 11;
    for (long i = 0; i < n; i++) {
        if (ik_sem_post(s) != 0)
            return 12;
        atomic_fetch_add(&a->posted, 1);
        if (i % per == 0)
            sched_yield();
    }
    ik_sem_close(s);
    ik_shm_close(shm);
    return 0;
}

/* argv: sem. Takes a unit and gives it back, until killed. With an undo sem
 * the kill gives back what it held; with a plain one a kill between the
 * take and the post loses that unit (counted by the test as a top-up). */
static int child_victim(int argc, char **argv)
{
    ik_sem *s;
    if (ik_sem_open(&s, argv[0], 0, 0) != 0)
        return 10;
    for (;;) {
        if (ik_sem_wait(s) != 0 || ik_sem_post(s) != 0)
            return 11;
    }
}

#define ST_CONSUMERS 3
#define ST_VICTIMS   3
#define ST_PER       4000
#define ST_KILLS     150

static unsigned rnd(unsigned *x)
{
    *x = *x * 1103515245u + 12345u;
    return (*x >> 16) & 0x7fff;
}

/* Posters post exactly what the consumers need while victim waiters are
 * kill -9'd at random (and respawned). No consumer may hang: the only units
 * ever missing are those a victim took and was killed before giving back,
 * which the test hands back (at most one per kill) when every consumer
 * sleeps on an empty semaphore. A sleeper beside a free unit is a hang. */
static void stress(bool undo)
{
    const char *name = ikt_name("rv-stress");
    const char *aname = ikt_name("rv-stress-area");
    ik_sem *s;
    ik_shm *shm;
    assert_ok(ik_sem_open(&s, name, 0, IK_CREATE | IK_EXCL | (undo ? IK_SEM_UNDO : 0)));
    struct area *a = new_area(aname, &shm);
    char per[32];
    snprintf(per, sizeof(per), "%d", ST_PER);
    pid_t cons[ST_CONSUMERS], vict[ST_VICTIMS], post[2];
    for (int i = 0; i < ST_CONSUMERS; i++)
        cons[i] = ikt_spawn(-1, "consumer", name, aname, per, NULL);
    for (int i = 0; i < ST_VICTIMS; i++)
        vict[i] = ikt_spawn(-1, "victim", name, NULL);
    assert_int_equal(ikts_wait_ge(&a->ready, ST_CONSUMERS), 0);
    char npost[32];
    snprintf(npost, sizeof(npost), "%d", ST_CONSUMERS * ST_PER / 2);
    post[0] = ikt_spawn(-1, "poster", name, aname, npost, "7", NULL);
    post[1] = ikt_spawn(-1, "poster", name, aname, npost, "13", NULL);
    ikts_bump(&a->go);
    unsigned seed = (unsigned)getpid();
    int kills = 0;
    uint64_t topups = 0, spins = 0;
    bool done[ST_CONSUMERS] = {false};
    int ndone = 0;
    uint64_t t0 = ik__now_ns();
    while (ndone < ST_CONSUMERS) {
        if (kills < ST_KILLS) { /* kill a victim at a random point, respawn it */
            for (unsigned k = rnd(&seed) % 64; k > 0; k--)
                sched_yield();
            int v = (int)(rnd(&seed) % ST_VICTIMS);
            kill(vict[v], SIGKILL);
            assert_int_equal(ikt_wait(vict[v]), 128 + SIGKILL);
            kills++;
            vict[v] = kills < ST_KILLS ? ikt_spawn(-1, "victim", name, NULL) : -1;
        }
        for (int i = 0; i < ST_CONSUMERS; i++) {
            int st;
            if (!done[i] && waitpid(cons[i], &st, WNOHANG) == cons[i]) {
                assert_true(WIFEXITED(st));
                assert_int_equal(WEXITSTATUS(st), 0);
                done[i] = true;
                ndone++;
            }
        }
        if (kills < ST_KILLS || ndone == ST_CONSUMERS)
            continue;
        /* Kills over (victims all dead). Posts all made, every live
         * consumer asleep, nothing left: a killed victim's unit is missing
         * (undo mode: never, the kill gave it back). */
        bool asleep = atomic_load(&a->posted) == (uint64_t)ST_CONSUMERS * ST_PER;
        for (int i = 0; i < ST_CONSUMERS && asleep; i++)
            asleep = done[i] || ikts_in_futex(cons[i]) == 1;
        if (asleep && ik_sem_value(s) == 0 && (spins++ & 1)) {
            bool still = true; /* re-check after one more round */
            for (int i = 0; i < ST_CONSUMERS && still; i++)
                still = done[i] || ikts_in_futex(cons[i]) == 1;
            if (still && ik_sem_value(s) == 0) {
                assert_false(undo);
                assert_ok(ik_sem_post(s));
                topups++;
            }
        }
        if (ikts_ms_since(t0) > 40000) {
            for (int i = 0; i < ST_CONSUMERS; i++) {
                if (!done[i])
                    kill(cons[i], SIGKILL);
            }
            fail_msg("consumers hang: value %d, consumed %llu of %d, %llu top-ups", ik_sem_value(s),
                     (unsigned long long)atomic_load(&a->consumed), ST_CONSUMERS * ST_PER,
                     (unsigned long long)topups);
        }
        sched_yield();
    }
    for (int v = 0; v < ST_VICTIMS; v++) {
        if (vict[v] > 0) {
            kill(vict[v], SIGKILL);
            assert_int_equal(ikt_wait(vict[v]), 128 + SIGKILL);
        }
    }
    assert_int_equal(ikt_wait(post[0]), 0);
    assert_int_equal(ikt_wait(post[1]), 0);
    assert_int_equal(atomic_load(&a->consumed), (uint64_t)ST_CONSUMERS * ST_PER);
    assert_true(topups <= (uint64_t)kills);
    if (undo) /* exact: every unit the dead took (all of them) is back */
        assert_int_equal(ik_sem_value(s), ST_CONSUMERS * ST_PER);
    else /* posted + top-ups = consumed + value + lost with killed victims */
        assert_true((uint64_t)ik_sem_value(s) <= topups);
    print_message("%s: %d kills, %llu units lost with a killed victim\n", undo ? "undo" : "plain",
                  kills, (unsigned long long)topups);
    ik_sem_close(s);
    free_area(aname, shm);
    assert_ok(ik_sync_unlink(name));
}

static void test_stress_plain_kill_waiters(void **state)
{
    stress(false);
}

static void test_stress_undo_kill_waiters(void **state)
{
    stress(true);
}

/* ---- the unit count never passes IK_SEM_VALUE_MAX ---------------------- */

#define OV_THREADS 8

struct ov {
    ik_sem sem;
    _Atomic int arrived, go, ok, overflow, other;
};

static void *thr_post(void *p)
{
    struct ov *o = p;
    atomic_fetch_add(&o->arrived, 1);
    while (!atomic_load(&o->go))
        sched_yield();
    int rc = ik_sem_post(&o->sem);
    atomic_fetch_add(rc == 0 ? &o->ok : rc == IK_EOVERFLOW ? &o->overflow : &o->other, 1);
    return NULL;
}

/* One unit below the maximum, with a (stale) sleeper flag, so posts take
 * the add-and-wake path; several threads post at once: exactly one may
 * succeed. The kernel's add is unchecked: posters that all saw room used
 * to carry the count past IK_SEM_VALUE_MAX. */
static void test_post_never_passes_max(void **state)
{
    struct ov *o = ikts_anon(sizeof(*o));
    for (int round = 0; round < 300; round++) {
        assert_ok(ik_sem_init(&o->sem, IK_SEM_VALUE_MAX - 1, 0));
        atomic_fetch_or((_Atomic uint32_t *)(void *)&o->sem, IK__SEM_SLEEPERS);
        atomic_store(&o->arrived, 0);
        atomic_store(&o->go, 0);
        atomic_store(&o->ok, 0);
        atomic_store(&o->overflow, 0);
        atomic_store(&o->other, 0);
        pthread_t th[OV_THREADS];
        for (int i = 0; i < OV_THREADS; i++)
            assert_int_equal(pthread_create(&th[i], NULL, thr_post, o), 0);
        while (atomic_load(&o->arrived) < OV_THREADS)
            sched_yield();
        atomic_store(&o->go, 1);
        for (int i = 0; i < OV_THREADS; i++)
            assert_int_equal(pthread_join(th[i], NULL), 0);
        int v = ik_sem_value(&o->sem);
        if (v != (int)IK_SEM_VALUE_MAX || atomic_load(&o->ok) != 1)
            fail_msg("round %d: value %d (max %u), %d posts succeeded, %d overflowed", round, v,
                     IK_SEM_VALUE_MAX, atomic_load(&o->ok), atomic_load(&o->overflow));
        assert_int_equal(atomic_load(&o->other), 0);
        assert_ok(ik_sem_destroy(&o->sem));
    }
    munmap(o, sizeof(*o));
}

/* The word's layout changed with IK__SYNC_VERSION 2: an in-place sem
 * initialised by another version (same magic) must be refused, not read
 * with the wrong layout. */
static void test_foreign_version_in_place(void **state)
{
    ik_sem s;
    assert_ok(ik_sem_init(&s, 1, 0));
    struct ik__sem *is = (struct ik__sem *)(void *)&s;
    is->version = IK__SYNC_VERSION - 1;
    assert_ik(IK_EINVAL, ik_sem_post(&s));
    assert_ik(IK_EINVAL, ik_sem_trywait(&s));
    assert_ik(IK_EINVAL, ik_sem_value(&s));
    assert_ik(IK_EINVAL, ik_sem_destroy(&s));
    is->version = IK__SYNC_VERSION;
    assert_ok(ik_sem_destroy(&s));
}

/* ---- robust pthread locks: a woken waiter killed before it locks ------- */

#define FUTEX_WAITERS_BIT 0x80000000u

/* Sleep on a robust pthread mutex's lock word exactly as glibc's waiters do
 * (set FUTEX_WAITERS, FUTEX_WAIT on it), and be killed (-9) right after the
 * unlock's wake-up, before taking the lock. */
static int fake_robust_waiter(unsigned *word)
{
    unsigned v = __atomic_load_n(word, __ATOMIC_ACQUIRE);
    if ((v & 0x3fffffffu) == 0)
        return 21; /* not held: the test is set up wrong */
    if (!(v & FUTEX_WAITERS_BIT) &&
        !__atomic_compare_exchange_n(word, &v, v | FUTEX_WAITERS_BIT, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        return 22;
    if (ik__futex_wait(word, v | FUTEX_WAITERS_BIT, UINT64_MAX, true) != 0)
        return 23;
    raise(SIGKILL);
    return 24;
}

/* argv: undo sem. A waiter on its guard, killed when woken. */
static int child_fake_guard_waiter(int argc, char **argv)
{
    ik_sem *s;
    if (ik_sem_open(&s, argv[0], 0, 0) != 0)
        return 10;
    struct ik__sem *is = (struct ik__sem *)(void *)s;
    return fake_robust_waiter((unsigned *)&is->guard.__data.__lock);
}

/* argv: sem. One post. */
static int child_sem_post(int argc, char **argv)
{
    ik_sem *s;
    if (ik_sem_open(&s, argv[0], 0, 0) != 0)
        return 10;
    int rc = ik_sem_post(s);
    ik_sem_close(s);
    return rc == 0 ? 0 : 11;
}

struct mx_area {
    ik_mutex m;
};

/* argv: area holding an in-place ik_mutex. A waiter killed when woken. */
static int child_fake_mutex_waiter(int argc, char **argv)
{
    ik_shm *shm;
    if (ik_shm_open(&shm, argv[0], 0) != 0)
        return 10;
    struct mx_area *a = ik_shm_ptr(shm);
    return fake_robust_waiter((unsigned *)&((pthread_mutex_t *)(void *)&a->m)->__data.__lock);
}

/* argv: area. Lock (the inline fast path) and unlock the in-place mutex. */
static int child_mutex_lock(int argc, char **argv)
{
    ik_shm *shm;
    if (ik_shm_open(&shm, argv[0], 0) != 0)
        return 10;
    struct mx_area *a = ik_shm_ptr(shm);
    int rc = ik_mutex_lock(&a->m);
    if (rc == 0)
        rc = ik_mutex_unlock(&a->m);
    ik_shm_close(shm);
    return rc == 0 ? 0 : 11;
}

/* The lock is held here; `first` sleeps on it and is killed when the unlock
 * wakes it (futex queues are FIFO); `second` must then get the lock by
 * itself: glibc's waiters sleep untimed, and the unlock woke only one. */
static void expect_second_waiter_goes_on(pthread_mutex_t *lock, const char *first_role,
                                         const char *second_role, const char *arg)
{
    pid_t w = ikt_spawn(-1, first_role, arg, NULL);
    wait_in_futex(w);
    pid_t x = ikt_spawn(-1, second_role, arg, NULL);
    wait_in_futex(x);
    assert_int_equal(pthread_mutex_unlock(lock), 0);
    assert_int_equal(ikt_wait(w), 128 + SIGKILL);
    int st = wait_bounded(x);
    if (st < 0) {
        kill(x, SIGKILL);
        ikt_wait(x);
        fail_msg("%s slept beside a free lock after the woken waiter was killed", second_role);
    }
    assert_int_equal(st, 0);
}

static void test_guard_woken_waiter_killed(void **state)
{
    const char *name = ikt_name("rv-guard");
    ik_sem *s;
    assert_ok(ik_sem_open(&s, name, 0, IK_CREATE | IK_EXCL | IK_SEM_UNDO));
    struct ik__sem *is = (struct ik__sem *)(void *)s;
    assert_int_equal(pthread_mutex_lock(&is->guard), 0); /* as a poster inside */
    expect_second_waiter_goes_on(&is->guard, "fake-guard-waiter", "sem-post", name);
    assert_int_equal(ik_sem_value(s), 1);
    ik_sem_close(s);
    assert_ok(ik_sync_unlink(name));
}

static void test_mutex_woken_waiter_killed(void **state)
{
    const char *aname = ikt_name("rv-mxarea");
    ik_shm *shm;
    assert_ok(ik_shm_create(&shm, aname, sizeof(struct mx_area), 0));
    struct mx_area *a = ik_shm_ptr(shm);
    assert_ok(ik_mutex_init(&a->m, 0));
    assert_ok(ik_mutex_lock(&a->m));
    expect_second_waiter_goes_on((pthread_mutex_t *)(void *)&a->m, "fake-mutex-waiter",
                                 "mutex-lock", aname);
    assert_ok(ik_mutex_lock(&a->m));
    assert_ok(ik_mutex_unlock(&a->m));
    assert_ok(ik_mutex_destroy(&a->m));
    free_area(aname, shm);
}

static const struct ikt_child_role roles[] = {
    {"fake-sleeper", child_fake_sleeper},
    {"sem-wait", child_sem_wait},
    {"two-waits", child_two_waits},
    {"mx-sem", child_mx_sem},
    {"consumer", child_consumer},
    {"poster", child_poster},
    {"victim", child_victim},
    {"fake-guard-waiter", child_fake_guard_waiter},
    {"sem-post", child_sem_post},
    {"fake-mutex-waiter", child_fake_mutex_waiter},
    {"mutex-lock", child_mutex_lock},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    ikt_child_dispatch(argc, argv, roles);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_woken_sleeper_killed),
        cmocka_unit_test(test_guard_woken_waiter_killed),
        cmocka_unit_test(test_mutex_woken_waiter_killed),
        cmocka_unit_test(test_undo_holder_thread_can_progress),
        cmocka_unit_test(test_stress_plain_kill_waiters),
        cmocka_unit_test(test_stress_undo_kill_waiters),
        cmocka_unit_test(test_post_never_passes_max),
        cmocka_unit_test(test_foreign_version_in_place),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
