/* ik_mutex: exact counts across processes, owner death (>= 500 kill -9),
 * consistent / not-recoverable paths, timeouts, named-object security. */
#include "sync_shared.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

struct area {
    _Atomic uint32_t ready;
    _Atomic uint32_t go;
    _Atomic uint32_t progress;
    uint64_t x, y; /* protected: y == x outside the critical section */
    uint64_t count;
};

static struct area *open_area(const char *name, ik_shm **shm)
{
    if (ik_shm_open(shm, name, 0) != 0)
        return NULL;
    return ik_shm_ptr(*shm);
}

/* ---- child roles (exec'd) ---- */

/* argv[0] the mutex, argv[1] the area: the area, or NULL. */
static struct area *open_mutex_and_area(char **argv, ik_mutex **m, ik_shm **shm)
{
    if (ik_mutex_open(m, argv[0], 0) != 0)
        return NULL;
    return open_area(argv[1], shm);
}

/* argv: mutex name, area name, iterations */
static int child_count(int argc, char **argv)
{
    ik_mutex *m;
    ik_shm *shm;
    struct area *a = open_mutex_and_area(argv, &m, &shm);
    if (a == NULL)
        return 10;
    long n = atol(argv[2]);
    ikts_bump(&a->ready);
    if (ikts_wait_ge(&a->go, 1) != 0)
        return 12;
    for (long i = 0; i < n; i++) {
        int rc = ik_mutex_lock(m);
        if (rc != 0)
            return 13;
        a->count++;
        if (ik_mutex_unlock(m) != 0)
            return 14;
    }
    ik_mutex_close(m);
    ik_shm_close(shm);
    return 0;
}

/* argv: mutex name, area name. Locks, updates x only, reports, waits to die. */
static int child_hold(int argc, char **argv)
{
    ik_mutex *m;
    ik_shm *shm;
    struct area *a = open_mutex_and_area(argv, &m, &shm);
    if (a == NULL)
        return 10;
    if (ik_mutex_lock(m) != 0)
        return 12;
    a->x++;
    ikts_bump(&a->ready);
    (void)ikts_wait_ge(&a->go, 1); /* killed here */
    return 0;
}

/* argv: mutex name. Expects IK_ENOTRECOVERABLE from every call. */
static int child_expect_notrec(int argc, char **argv)
{
    ik_mutex *m;
    if (ik_mutex_open(&m, argv[0], 0) != 0)
        return 10;
    if (ik_mutex_lock(m) != IK_ENOTRECOVERABLE || ik_mutex_trylock(m) != IK_ENOTRECOVERABLE ||
        ik_mutex_timedlock(m, 100) != IK_ENOTRECOVERABLE)
        return 11;
    ik_mutex_close(m);
    return 0;
}

/* argv: mutex name, area name. The mutex is held by a repairer after
 * IK_EOWNERDEAD (not yet consistent): a busy lock, not an unrecoverable
 * one. Then blocks until the repairer is done. */
static int child_expect_busy(int argc, char **argv)
{
    ik_mutex *m;
    ik_shm *shm;
    struct area *a = open_mutex_and_area(argv, &m, &shm);
    if (a == NULL)
        return 10;
    if (ik_mutex_trylock(m) != IK_EBUSY)
        return 12;
    if (ik_mutex_consistent(m) != IK_EINVAL) /* not ours to repair */
        return 17;
    if (ik_mutex_timedlock(m, 0) != IK_ETIMEDOUT || ik_mutex_timedlock(m, 30) != IK_ETIMEDOUT)
        return 13;
    ikts_bump(&a->progress);
    if (ik_mutex_lock(m) != 0)
        return 14;
    int bad = a->x != a->y;
    if (ik_mutex_unlock(m) != 0)
        return 15;
    ik_mutex_close(m);
    ik_shm_close(shm);
    return bad ? 16 : 0;
}

/* argv: mutex names A, B. Locks B then A, closes both handles while
 * holding them, and exits. */
static int child_close_held(int argc, char **argv)
{
    ik_mutex *a, *b;
    if (ik_mutex_open(&a, argv[0], 0) != 0 || ik_mutex_open(&b, argv[1], 0) != 0)
        return 10;
    if (ik_mutex_lock(b) != 0 || ik_mutex_lock(a) != 0)
        return 11;
    ik_mutex_close(a);
    ik_mutex_close(b);
    return 0;
}

static const struct ikt_child_role roles[] = {
    {"busy", child_expect_busy}, {"close_held", child_close_held}, {"count", child_count},
    {"hold", child_hold},        {"notrec", child_expect_notrec},  {NULL, NULL},
};

/* ---- tests ---- */

static void test_exact_count_4x100k(void **state)
{
    const char *mname = ikt_name("mx-count");
    const char *aname = ikt_name("mx-area");
    ik_mutex *m;
    ik_shm *shm;
    assert_ok(ik_mutex_open(&m, mname, IK_CREATE | IK_EXCL));
    assert_ok(ik_shm_create(&shm, aname, sizeof(struct area), 0));
    struct area *a = ik_shm_ptr(shm);
    pid_t pids[4];
    for (int i = 0; i < 4; i++)
        pids[i] = ikt_spawn(-1, "count", mname, aname, "100000", NULL);
    assert_int_equal(ikts_wait_ge(&a->ready, 4), 0);
    ikts_bump(&a->go);
    for (int i = 0; i < 4; i++)
        assert_int_equal(ikt_wait(pids[i]), 0);
    assert_int_equal(a->count, 400000);
    ik_mutex_close(m);
    ik_shm_close(shm);
    assert_ok(ik_sync_unlink(mname));
    assert_ok(ik_shm_unlink(aname));
}

/* Fork-only children hammer an in-place mutex; each is kill -9'ed at a random
 * point (often inside the critical section). */
static void test_owner_death_loop_500(void **state)
{
    struct shared {
        ik_mutex m;
        _Atomic uint32_t progress;
        uint64_t x, y;
    } *s = ikts_anon(sizeof(*s));
    assert_ok(ik_mutex_init(&s->m, 0));
    srand((unsigned)getpid());
    int owner_dead = 0, plain = 0;
    for (int k = 0; k < 500; k++) {
        uint32_t target = atomic_load(&s->progress) + 1 + (uint32_t)(rand() % 8);
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            for (;;) {
                int rc = ik_mutex_lock(&s->m);
                if (rc == IK_EOWNERDEAD) {
                    s->x = s->y;
                    if (ik_mutex_consistent(&s->m) != 0)
                        _exit(3);
                } else if (rc != 0) {
                    _exit(2);
                }
                s->x++;
                atomic_fetch_add(&s->progress, 1);
                for (volatile int spin = rand() % 2000; spin > 0; spin--)
                    ;
                s->y++;
                if (ik_mutex_unlock(&s->m) != 0)
                    _exit(4);
            }
        }
        /* Wait for progress (no sleeps), then kill at a random moment. */
        while (atomic_load(&s->progress) < target) {
            int st;
            if (waitpid(pid, &st, WNOHANG) == pid)
                fail_msg("hammer child exited early: %d", st);
        }
        for (volatile int spin = rand() % 3000; spin > 0; spin--)
            ;
        kill(pid, SIGKILL);
        assert_int_equal(ikt_wait(pid), 128 + SIGKILL);
        /* The next locker gets the lock or IK_EOWNERDEAD; never a hang. */
        int rc = ik_mutex_timedlock(&s->m, 20000);
        if (rc == IK_EOWNERDEAD) {
            owner_dead++;
            assert_true(s->x == s->y || s->x == s->y + 1); /* killed before/after x++ */
            s->x = s->y;                                   /* roll back the interrupted update */
            assert_ok(ik_mutex_consistent(&s->m));
        } else {
            assert_ok(rc);
            plain++;
        }
        assert_true(s->x == s->y);
        assert_ok(ik_mutex_unlock(&s->m));
    }
    print_message("500 kills: %d owner-dead, %d clean\n", owner_dead, plain);
    assert_true(owner_dead > 0);
    /* Still a working mutex with an exact count. */
    uint64_t before = s->y;
    pid_t p1 = fork();
    if (p1 == 0) {
        for (int i = 0; i < 20000; i++) {
            if (ik_mutex_lock(&s->m) != 0)
                _exit(1);
            s->x++;
            s->y++;
            if (ik_mutex_unlock(&s->m) != 0)
                _exit(2);
        }
        _exit(0);
    }
    for (int i = 0; i < 20000; i++) {
        assert_ok(ik_mutex_lock(&s->m));
        s->x++;
        s->y++;
        assert_ok(ik_mutex_unlock(&s->m));
    }
    assert_int_equal(ikt_wait(p1), 0);
    assert_int_equal(s->y, before + 40000);
    assert_int_equal(s->x, s->y);
    assert_ok(ik_mutex_destroy(&s->m));
    munmap(s, sizeof(*s));
}

/* Exec'd holder killed -9 inside the critical section of a named mutex. */
static void test_owner_death_exec_consistent(void **state)
{
    const char *mname = ikt_name("mx-dead");
    const char *aname = ikt_name("mx-area");
    ik_mutex *m;
    ik_shm *shm;
    assert_ok(ik_mutex_open(&m, mname, IK_CREATE | IK_EXCL));
    assert_ok(ik_shm_create(&shm, aname, sizeof(struct area), 0));
    struct area *a = ik_shm_ptr(shm);
    for (int round = 0; round < 5; round++) {
        pid_t pid = ikt_spawn(-1, "hold", mname, aname, NULL);
        assert_int_equal(ikts_wait_ge(&a->ready, (uint32_t)round + 1), 0);
        assert_ik(IK_EBUSY, ik_mutex_trylock(m));
        kill(pid, SIGKILL);
        assert_int_equal(ikt_wait(pid), 128 + SIGKILL);
        assert_ik(IK_EOWNERDEAD, ik_mutex_lock(m));
        assert_true(a->x == a->y + 1);
        /* While we repair, others see a busy lock (not an unrecoverable
         * one), and wait for it. */
        pid_t other = ikt_spawn(-1, "busy", mname, aname, NULL);
        assert_int_equal(ikts_wait_ge(&a->progress, (uint32_t)round + 1), 0);
        a->x = a->y;
        assert_ok(ik_mutex_consistent(m));
        assert_ok(ik_mutex_unlock(m));
        assert_int_equal(ikt_wait(other), 0);
        assert_ok(ik_mutex_trylock(m));
        assert_ok(ik_mutex_unlock(m));
    }
    /* Not consistent: every later call, in any process, is unrecoverable. */
    pid_t pid = ikt_spawn(-1, "hold", mname, aname, NULL);
    assert_int_equal(ikts_wait_ge(&a->ready, 6), 0);
    kill(pid, SIGKILL);
    assert_int_equal(ikt_wait(pid), 128 + SIGKILL);
    assert_ik(IK_EOWNERDEAD, ik_mutex_timedlock(m, 5000));
    assert_ok(ik_mutex_unlock(m));
    assert_ik(IK_ENOTRECOVERABLE, ik_mutex_lock(m));
    assert_ik(IK_ENOTRECOVERABLE, ik_mutex_trylock(m));
    assert_ik(IK_ENOTRECOVERABLE, ik_mutex_timedlock(m, 10));
    assert_int_equal(ikt_wait(ikt_spawn(-1, "notrec", mname, NULL)), 0);
    ik_mutex_close(m);
    ik_shm_close(shm);
    assert_ok(ik_sync_unlink(mname));
    assert_ok(ik_shm_unlink(aname));
}

/* A holder that closed its handles and then exited still leaves both
 * mutexes owner-dead (closing must not unmap what the kernel's robust list
 * walk needs at exit), so no later locker waits forever. */
static void test_close_while_held_then_exit(void **state)
{
    const char *na = ikt_name("mx-closeA");
    const char *nb = ikt_name("mx-closeB");
    ik_mutex *a, *b;
    assert_ok(ik_mutex_open(&a, na, IK_CREATE | IK_EXCL));
    assert_ok(ik_mutex_open(&b, nb, IK_CREATE | IK_EXCL));
    assert_int_equal(ikt_wait(ikt_spawn(-1, "close_held", na, nb, NULL)), 0);
    assert_ik(IK_EOWNERDEAD, ik_mutex_timedlock(a, 10000));
    assert_ik(IK_EOWNERDEAD, ik_mutex_timedlock(b, 10000));
    assert_ok(ik_mutex_consistent(a));
    assert_ok(ik_mutex_consistent(b));
    assert_ok(ik_mutex_unlock(a));
    assert_ok(ik_mutex_unlock(b));
    ik_mutex_close(a);
    ik_mutex_close(b);
    assert_ok(ik_sync_unlink(na));
    assert_ok(ik_sync_unlink(nb));
}

static void test_timeouts_not_early(void **state)
{
    const char *mname = ikt_name("mx-to");
    const char *aname = ikt_name("mx-area");
    ik_mutex *m;
    ik_shm *shm;
    assert_ok(ik_mutex_open(&m, mname, IK_CREATE | IK_EXCL));
    assert_ok(ik_shm_create(&shm, aname, sizeof(struct area), 0));
    struct area *a = ik_shm_ptr(shm);
    pid_t pid = ikt_spawn(-1, "hold", mname, aname, NULL);
    assert_int_equal(ikts_wait_ge(&a->ready, 1), 0);
    const int waits[] = {0, 1, 7, 30, 75};
    for (size_t i = 0; i < IK__ARRAY_LEN(waits); i++) {
        uint64_t t0 = ik__now_ns();
        assert_ik(IK_ETIMEDOUT, ik_mutex_timedlock(m, waits[i]));
        uint64_t el = ik__now_ns() - t0;
        if (el < (uint64_t)waits[i] * 1000000u)
            fail_msg("timedlock(%d ms) returned after %llu ns", waits[i], (unsigned long long)el);
    }
    assert_ik(IK_EBUSY, ik_mutex_trylock(m));
    kill(pid, SIGKILL);
    assert_int_equal(ikt_wait(pid), 128 + SIGKILL);
    assert_ik(IK_EOWNERDEAD, ik_mutex_timedlock(m, 1000));
    a->x = a->y;
    assert_ok(ik_mutex_consistent(m));
    assert_ok(ik_mutex_unlock(m));

    /* In-place too. */
    ik_mutex *im = ikts_anon(sizeof(ik_mutex));
    assert_ok(ik_mutex_init(im, 0));
    assert_ok(ik_mutex_lock(im));
    pid_t c = fork();
    if (c == 0) {
        uint64_t t0 = ik__now_ns();
        if (ik_mutex_timedlock(im, 40) != IK_ETIMEDOUT)
            _exit(1);
        _exit(ik__now_ns() - t0 >= 40000000u ? 0 : 2);
    }
    assert_int_equal(ikt_wait(c), 0);
    assert_ok(ik_mutex_unlock(im));
    assert_ok(ik_mutex_destroy(im));
    ik_mutex_close(m);
    ik_shm_close(shm);
    assert_ok(ik_sync_unlink(mname));
    assert_ok(ik_shm_unlink(aname));
}

static void test_errors_and_misuse(void **state)
{
    ik_mutex m;
    assert_ik(IK_EINVAL, ik_mutex_init(&m, 1));
    assert_ik(IK_EINVAL, ik_mutex_init(NULL, 0));
    memset(&m, 0x5a, sizeof(m));
    assert_ik(IK_EINVAL, ik_mutex_lock(&m)); /* not initialised */
    assert_ik(IK_EINVAL, ik_mutex_unlock(&m));
    assert_ik(IK_EINVAL, ik_mutex_lock(NULL));
    assert_ok(ik_mutex_init(&m, 0));
    assert_ik(IK_EPERM, ik_mutex_unlock(&m)); /* not the owner */
    assert_ok(ik_mutex_lock(&m));
    assert_ik(IK_EDEADLK, ik_mutex_lock(&m)); /* relock by the owner */
    assert_ik(IK_EBUSY, ik_mutex_destroy(&m));
    assert_ik(IK_EINVAL, ik_mutex_consistent(&m));
    assert_ok(ik_mutex_unlock(&m));
    assert_ok(ik_mutex_destroy(&m));
    ik_mutex *p;
    assert_ik(IK_EINVAL, ik_mutex_open(&p, "x", 1u << 20));
    assert_ik(IK_EINVAL, ik_mutex_open(&p, "x", IK_EXCL));
    assert_ik(IK_EBADNAME, ik_mutex_open(&p, "../x", IK_CREATE));
    assert_ik(IK_EBADNAME, ik_mutex_open(&p, ".hidden", IK_CREATE));
    assert_ik(IK_ENOENT, ik_mutex_open(&p, ikt_name("absent"), 0));
    assert_ik(IK_EINVAL, ik_mutex_open(NULL, "x", IK_CREATE));
    ik_mutex_close(NULL);
}

static void test_named_mode_excl_kind(void **state)
{
    const char *name = ikt_name("mx-named");
    umask(0);
    ik_mutex *m, *m2;
    assert_ok(ik_mutex_open(&m, name, IK_CREATE | IK_EXCL));
    char path[128];
    snprintf(path, sizeof(path), "/dev/shm/ik.%s", name);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    umask(022);
    assert_ik(IK_EEXIST, ik_mutex_open(&m2, name, IK_CREATE | IK_EXCL));
    assert_ok(ik_mutex_open(&m2, name, IK_CREATE)); /* open-or-create */
    assert_ok(ik_mutex_lock(m));
    assert_ik(IK_EDEADLK, ik_mutex_trylock(m2)); /* same object, same thread */
    assert_ok(ik_mutex_unlock(m2));
    ik_mutex_close(m2);
    /* Another kind under that name is refused. */
    ik_sem *s;
    assert_ik(IK_EKIND, ik_sem_open(&s, name, 0, 0));
    ik_shm *shm;
    assert_ik(IK_EKIND, ik_shm_open(&shm, name, 0));
    ik_mutex_close(m);
    assert_ok(ik_sync_unlink(name));
    assert_ik(IK_ENOENT, ik_sync_unlink(name));
    /* ik_sync_unlink refuses plain segments. */
    const char *sname = ikt_name("plain");
    assert_ok(ik_shm_create(&shm, sname, 64, 0));
    assert_ik(IK_EKIND, ik_sync_unlink(sname));
    assert_ik(IK_EKIND, ik_mutex_open(&m, sname, 0));
    ik_shm_close(shm);
    assert_ok(ik_shm_unlink(sname));
}

static int nobody_squat(void *arg)
{
    ik_mutex *m;
    ik_perm perm = IK_PERM_DEFAULT;
    perm.mode = 0666;
    return ik_mutex_open_ex(&m, (const char *)arg, IK_CREATE | IK_EXCL, &perm) == 0 ? 0 : 1;
}

static void test_squatting_refused(void **state)
{
    const char *name = ikt_name("mx-squat");
    int st = ikt_run_as_nobody(nobody_squat, (void *)name);
    if (st < 0)
        skip();
    assert_int_equal(st, 0);
    ik_mutex *m;
    assert_ik(IK_EPERM_OWNER, ik_mutex_open(&m, name, 0));
    assert_ik(IK_EPERM_OWNER, ik_mutex_open(&m, name, IK_CREATE));
    assert_ik(IK_EEXIST, ik_mutex_open(&m, name, IK_CREATE | IK_EXCL));
    ik_perm perm = IK_PERM_DEFAULT;
    perm.trust_uid = 65534;
    assert_ok(ik_mutex_open_ex(&m, name, 0, &perm));
    ik_mutex_close(m);
    char path[128];
    snprintf(path, sizeof(path), "/dev/shm/ik.%s", name);
    unlink(path);
}

static void test_corrupt_named_refused(void **state)
{
    struct {
        const char *what;
        off_t off;
        uint32_t val;
        size_t len;
    } cases[] = {
        {"bad magic", 64 + 40, 0xdeadbeef, 4},
        {"bad version", 64 + 44, 7, 2},
        {"bad flags", 64 + 46, 0xff, 2},
        {"unterminated name", 64 + 48, 0x41414141, 4},
        /* Valid magic, foreign pthread kind word (elision bits): glibc would
         * take a lock-elision path that crashes (found by fuzz_sync_named). */
        {"foreign pthread kind", 64 + offsetof(pthread_mutex_t, __data.__kind), 0x1f7, 4},
    };
    for (size_t i = 0; i < IK__ARRAY_LEN(cases); i++) {
        const char *name = ikt_name("mx-bad");
        ik_mutex *m;
        assert_ok(ik_mutex_open(&m, name, IK_CREATE | IK_EXCL));
        ik_mutex_close(m);
        char path[128];
        snprintf(path, sizeof(path), "/dev/shm/ik.%s", name);
        int fd = open(path, O_RDWR);
        assert_true(fd >= 0);
        if (i == 3) { /* fill the whole name field */
            char junk[IK_NAME_MAX + 1];
            memset(junk, 'A', sizeof(junk));
            assert_int_equal(pwrite(fd, junk, sizeof(junk), cases[i].off), (ssize_t)sizeof(junk));
        } else {
            assert_int_equal(pwrite(fd, &cases[i].val, cases[i].len, cases[i].off),
                             (ssize_t)cases[i].len);
        }
        close(fd);
        int rc = ik_mutex_open(&m, name, 0);
        if (rc != IK_EPROTO)
            fail_msg("%s: got %s", cases[i].what, ik_err_name(rc));
        assert_ik(IK_EPROTO, ik_mutex_open(&m, name, IK_CREATE));
        assert_ok(ik_sync_unlink(name));
    }
    /* Truncated object: header fine, user area too small. */
    const char *name = ikt_name("mx-trunc");
    ik_mutex *m;
    assert_ok(ik_mutex_open(&m, name, IK_CREATE | IK_EXCL));
    ik_mutex_close(m);
    char path[128];
    snprintf(path, sizeof(path), "/dev/shm/ik.%s", name);
    assert_int_equal(truncate(path, 100), 0);
    assert_true(ik_mutex_open(&m, name, 0) < 0);
    unlink(path);
}

/* Every named kind refuses a bad magic and a bad version, found by looking
 * for the kind's magic word in the object, so no layout is hard-coded. */
static int open_kind(int k, const char *name)
{
    void *p;
    int rc;
    switch (k) {
    case 0:
        rc = ik_mutex_open((ik_mutex **)&p, name, 0);
        if (rc == 0)
            ik_mutex_close(p);
        return rc;
    case 1:
        rc = ik_sem_open((ik_sem **)&p, name, 0, 0);
        if (rc == 0)
            ik_sem_close(p);
        return rc;
    case 2:
        rc = ik_cond_open((ik_cond **)&p, name, 0);
        if (rc == 0)
            ik_cond_close(p);
        return rc;
    case 3:
        rc = ik_event_open((ik_event **)&p, name, 0);
        if (rc == 0)
            ik_event_close(p);
        return rc;
    case 4:
        rc = ik_rwlock_open((ik_rwlock **)&p, name, 0);
        if (rc == 0)
            ik_rwlock_close(p);
        return rc;
    default:
        rc = ik_barrier_open((ik_barrier **)&p, name, 2, 0);
        if (rc == 0)
            ik_barrier_close(p);
        return rc;
    }
}

static void test_corrupt_every_kind(void **state)
{
    static const uint32_t magics[] = {0x584d4b49u, 0x4d534b49u, 0x44434b49u,
                                      0x56454b49u, 0x57524b49u, 0x52424b49u};
    for (int k = 0; k < 6; k++) {
        for (int what = 0; what < 3; what++) {
            const char *name = ikt_name("corrupt");
            void *p;
            switch (k) {
            case 0:
                assert_ok(ik_mutex_open((ik_mutex **)&p, name, IK_CREATE | IK_EXCL));
                ik_mutex_close(p);
                break;
            case 1:
                assert_ok(ik_sem_open((ik_sem **)&p, name, 1, IK_CREATE | IK_EXCL));
                ik_sem_close(p);
                break;
            case 2:
                assert_ok(ik_cond_open((ik_cond **)&p, name, IK_CREATE | IK_EXCL));
                ik_cond_close(p);
                break;
            case 3:
                assert_ok(ik_event_open((ik_event **)&p, name, IK_CREATE | IK_EXCL));
                ik_event_close(p);
                break;
            case 4:
                assert_ok(ik_rwlock_open((ik_rwlock **)&p, name, IK_CREATE | IK_EXCL));
                ik_rwlock_close(p);
                break;
            default:
                assert_ok(ik_barrier_open((ik_barrier **)&p, name, 2, IK_CREATE | IK_EXCL));
                ik_barrier_close(p);
                break;
            }
            assert_ok(open_kind(k, name));
            char path[128];
            snprintf(path, sizeof(path), "/dev/shm/ik.%s", name);
            int fd = open(path, O_RDWR);
            assert_true(fd >= 0);
            unsigned char buf[4096];
            ssize_t n = pread(fd, buf, sizeof(buf), 0);
            assert_true(n > 64);
            unsigned char *m = memmem(buf + 64, (size_t)n - 64, &magics[k], 4);
            assert_non_null(m);
            if (what == 0)
                m[0] ^= 0x20; /* bad magic */
            else if (what == 1)
                m[4] += 1; /* bad version */
            else
                memset(buf + 64, 0xa5, (size_t)n - 64); /* garbage object */
            assert_int_equal(pwrite(fd, buf, (size_t)n, 0), n);
            close(fd);
            int rc = open_kind(k, name);
            if (rc != IK_EPROTO)
                fail_msg("kind %d corruption %d: got %s", k, what, ik_err_name(rc));
            assert_ok(ik_sync_unlink(name));
        }
    }
}

int main(int argc, char **argv)
{
    ikt_child_dispatch(argc, argv, roles);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_count_4x100k),
        cmocka_unit_test(test_owner_death_loop_500),
        cmocka_unit_test(test_owner_death_exec_consistent),
        cmocka_unit_test(test_close_while_held_then_exit),
        cmocka_unit_test(test_timeouts_not_early),
        cmocka_unit_test(test_errors_and_misuse),
        cmocka_unit_test(test_named_mode_excl_kind),
        cmocka_unit_test(test_squatting_refused),
        cmocka_unit_test(test_corrupt_named_refused),
        cmocka_unit_test(test_corrupt_every_kind),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
