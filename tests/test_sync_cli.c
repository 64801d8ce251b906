/* The CLI on sync objects: `ipckit locks` (holders, waiters, cycles),
 * `ipckit ls` lists named locks, `ipckit gc` collects them only after their
 * creator died and nobody maps them. */
#include "sync_shared.h"
#include "sync/sync_int.h"

#include <sched.h>

struct area {
    _Atomic uint32_t ready;
    _Atomic uint32_t go;
};

ik_shm *g_child_shm; /* a child's area stays mapped until it exits */

static struct area *area_open(const char *name)
{
    if (ik_shm_open(&g_child_shm, name, 0) != 0)
        return NULL;
    return ik_shm_ptr(g_child_shm);
}

/* argv: mutex. Blocks on it, then unlocks. */
static int child_lock(int argc, char **argv)
{
    ik_mutex *m;
    if (ik_mutex_open(&m, argv[0], 0) != 0)
        return 10;
    if (ik_mutex_lock(m) != 0)
        return 11;
    if (ik_mutex_unlock(m) != 0)
        return 12;
    ik_mutex_close(m);
    return 0;
}

/* argv: area. Waits for go (stays alive meanwhile). */
static int child_idle(int argc, char **argv)
{
    struct area *a = area_open(argv[0]);
    if (a == NULL)
        return 10;
    ikts_bump(&a->ready);
    return ikts_wait_ge(&a->go, 1) == 0 ? 0 : 11;
}

/* argv: mutex, area. Locks it, says ready, waits to be killed. */
static int child_hold(int argc, char **argv)
{
    ik_mutex *m;
    struct area *a = area_open(argv[1]);
    if (a == NULL || ik_mutex_open(&m, argv[0], 0) != 0)
        return 10;
    if (ik_mutex_lock(m) != 0)
        return 11;
    ikts_bump(&a->ready);
    (void)ikts_wait_ge(&a->go, 1);
    return 12;
}

/* argv: name. Creates a named mutex and a named sem, exits. */
static int child_create(int argc, char **argv)
{
    ik_mutex *m;
    ik_sem *s;
    char sname[IK_NAME_MAX + 1];
    snprintf(sname, sizeof(sname), "%s-s", argv[0]);
    if (ik_mutex_open(&m, argv[0], IK_CREATE | IK_EXCL) != 0 ||
        ik_sem_open(&s, sname, 1, IK_CREATE | IK_EXCL | IK_SEM_UNDO) != 0)
        return 10;
    ik_mutex_close(m);
    ik_sem_close(s);
    return 0;
}

static const struct ikt_child_role roles[] = {
    {"lock", child_lock}, {"idle", child_idle}, {"create", child_create},
    {"hold", child_hold}, {NULL, NULL},
};

static struct ik__syncreg *reg_map(struct ik__seg *seg)
{
    char name[64];
    ik__syncreg_name(name, sizeof(name));
    if (ik__seg_open(seg, name, IK__KIND_SYNCREG, 0, NULL) != 0)
        return NULL;
    return seg->user;
}

static bool in_registry(int pid)
{
    struct ik__seg seg;
    struct ik__syncreg *r = reg_map(&seg);
    if (r == NULL)
        return false;
    bool found = false;
    for (int i = 0; i < IK__SYNCREG_SLOTS; i++)
        found |= r->e[i].used && r->e[i].pid == pid;
    ik__seg_close(&seg);
    return found;
}

static void test_locks_shows_holder_and_waiter(void **state)
{
    const char *name = ikt_name("cli-mx");
    ik_mutex *m;
    assert_ok(ik_mutex_open(&m, name, IK_CREATE | IK_EXCL));
    assert_ok(ik_mutex_lock(m));
    pid_t pid = ikt_spawn(-1, "lock", name, NULL);
    uint64_t t0 = ik__now_ns();
    while (!in_registry(pid)) {
        if (ikts_ms_since(t0) > 20000)
            fail_msg("waiter never entered the registry");
        sched_yield();
    }
    char out[65536], want[256];
    assert_int_equal(ikt_run(out, sizeof(out), "%s/tools/ipckit locks", ikt_bindir()), 0);
    snprintf(want, sizeof(want), "%s", name);
    char *line = strstr(out, want);
    assert_non_null(line);
    *strchrnul(line, '\n') = '\0';
    snprintf(want, sizeof(want), "held by pid %d", (int)getpid());
    if (strstr(line, want) == NULL)
        fail_msg("no holder in: %s", line);
    snprintf(want, sizeof(want), "waiters: pid %d", (int)pid);
    if (strstr(line, want) == NULL)
        fail_msg("no waiter in: %s", line);
    assert_ok(ik_mutex_unlock(m));
    assert_int_equal(ikt_wait(pid), 0);
    ik_mutex_close(m);
    assert_ok(ik_sync_unlink(name));
}

/* `ipckit locks` line of a mutex, in buf. */
static const char *locks_line(char *buf, size_t cap, const char *name)
{
    assert_int_equal(ikt_run(buf, cap, "%s/tools/ipckit locks", ikt_bindir()), 0);
    char *line = strstr(buf, name);
    assert_non_null(line);
    *strchrnul(line, '\n') = '\0';
    return line;
}

/* A holder killed -9: OWNER DIED, then REPAIRING by the survivor, then free. */
static void test_locks_shows_owner_death(void **state)
{
    const char *name = ikt_name("cli-dead");
    const char *aname = ikt_name("cli-area");
    ik_mutex *m;
    ik_shm *shm;
    assert_ok(ik_mutex_open(&m, name, IK_CREATE | IK_EXCL));
    assert_ok(ik_shm_create(&shm, aname, sizeof(struct area), 0));
    struct area *a = ik_shm_ptr(shm);
    pid_t pid = ikt_spawn(-1, "hold", name, aname, NULL);
    assert_int_equal(ikts_wait_ge(&a->ready, 1), 0);
    kill(pid, SIGKILL);
    assert_int_equal(ikt_wait(pid), 128 + SIGKILL);
    char out[65536], want[64];
    const char *line = locks_line(out, sizeof(out), name);
    if (strstr(line, "OWNER DIED") == NULL)
        fail_msg("dead owner not shown: %s", line);
    assert_ik(IK_EOWNERDEAD, ik_mutex_lock(m));
    line = locks_line(out, sizeof(out), name);
    snprintf(want, sizeof(want), "REPAIRING by pid %d", (int)getpid());
    if (strstr(line, want) == NULL)
        fail_msg("repair not shown: %s", line);
    assert_ok(ik_mutex_consistent(m));
    assert_ok(ik_mutex_unlock(m));
    line = locks_line(out, sizeof(out), name);
    if (strstr(line, " free;") == NULL)
        fail_msg("not free: %s", line);
    ik_mutex_close(m);
    ik_shm_close(shm);
    assert_ok(ik_sync_unlink(name));
    assert_ok(ik_shm_unlink(aname));
}

/* A cycle between two live, idle processes, written into the registry as a
 * snapshot would show it: `ipckit locks` flags it. */
static void test_locks_flags_cycle(void **state)
{
    const char *aname = ikt_name("cli-area");
    ik_shm *shm;
    assert_ok(ik_shm_create(&shm, aname, sizeof(struct area), 0));
    struct area *a = ik_shm_ptr(shm);
    pid_t p[2];
    for (int i = 0; i < 2; i++)
        p[i] = ikt_spawn(-1, "idle", aname, NULL);
    assert_int_equal(ikts_wait_ge(&a->ready, 2), 0);
    /* Make sure the registry exists (a short contended wait creates it). */
    ik_mutex *m;
    const char *mname = ikt_name("cli-reg");
    assert_ok(ik_mutex_open(&m, mname, IK_CREATE | IK_EXCL));
    ik_mutex_close(m);
    struct ik__seg seg;
    struct ik__syncreg *r = reg_map(&seg);
    if (r == NULL) {
        /* Created on first slow path: provoke one. */
        assert_ok(ik_mutex_open(&m, mname, 0));
        assert_ok(ik_mutex_lock(m));
        pid_t w = ikt_spawn(-1, "lock", mname, NULL);
        while (!in_registry(w))
            sched_yield();
        assert_ok(ik_mutex_unlock(m));
        assert_int_equal(ikt_wait(w), 0);
        ik_mutex_close(m);
        r = reg_map(&seg);
    }
    assert_non_null(r);
    int slots[2] = {-1, -1};
    assert_true(pthread_mutex_lock(&r->lock) == 0);
    /* Two adjacent slots: the first one's name is left unterminated (the
     * registry is writable by any process of this user), so an unbounded
     * print would run on into the next entry's `used` word (a 0x01 byte). */
    for (int i = 0; i + 1 < IK__SYNCREG_SLOTS && slots[0] < 0; i++) {
        if (!r->e[i].used && !r->e[i + 1].used) {
            slots[0] = i;
            slots[1] = i + 1;
        }
    }
    assert_true(slots[0] >= 0);
    for (int k = 0; k < 2; k++) {
        struct ik__dl_entry *e = &r->e[slots[k]];
        memset(e, 0, sizeof(*e));
        e->pid = p[k];
        e->tid = p[k];
        assert_ok(ik__proc_start_time(p[k], &e->start));
        e->holder_tid = p[1 - k];
        e->kind = IK__KIND_MUTEX;
        snprintf(e->name, sizeof(e->name), "fake-%c", 'A' + k);
        e->start_seq = 1;
        e->obs_seq = 2;
        e->used = 1;
    }
    /* ... and so is the struct padding after it. */
    memset(r->e[slots[0]].name, 'x',
           sizeof(struct ik__dl_entry) - offsetof(struct ik__dl_entry, name));
    pthread_mutex_unlock(&r->lock);
    char out[65536];
    assert_int_equal(ikt_run(out, sizeof(out), "%s/tools/ipckit locks", ikt_bindir()), 0);
    char want[128];
    snprintf(want, sizeof(want), "pid %d tid %d waits for mutex ", (int)p[0], (int)p[0]);
    if (strstr(out, "DEADLOCK:") == NULL || strstr(out, want) == NULL)
        fail_msg("no cycle flagged in:\n%s", out);
    char longname[IK_NAME_MAX + 8];
    memset(longname, 'x', IK_NAME_MAX);
    snprintf(longname + IK_NAME_MAX, 8, " ->");
    if (strchr(out, '\x01') != NULL || strstr(out, longname) == NULL)
        fail_msg("unterminated registry name printed past its field:\n%s", out);
    assert_true(pthread_mutex_lock(&r->lock) == 0);
    r->e[slots[0]].used = 0;
    r->e[slots[1]].used = 0;
    pthread_mutex_unlock(&r->lock);
    ik__seg_close(&seg);
    ikts_bump(&a->go);
    for (int i = 0; i < 2; i++)
        assert_int_equal(ikt_wait(p[i]), 0);
    ik_shm_close(shm);
    assert_ok(ik_shm_unlink(aname));
    assert_ok(ik_sync_unlink(mname));
}

static void test_ls_and_gc(void **state)
{
    const char *name = ikt_name("cli-gc");
    char sname[IK_NAME_MAX + 1];
    snprintf(sname, sizeof(sname), "%s-s", name);
    assert_int_equal(ikt_wait(ikt_spawn(-1, "create", name, NULL)), 0);
    char out[65536];
    assert_int_equal(ikt_run(out, sizeof(out), "%s/tools/ipckit ls %s", ikt_bindir(), name), 0);
    if (strstr(out, "mutex") == NULL || strstr(out, "sem") == NULL)
        fail_msg("ls does not list them:\n%s", out);
    /* In use (mapped by us): gc keeps it although its creator is dead. */
    ik_mutex *m;
    assert_ok(ik_mutex_open(&m, name, 0));
    assert_int_equal(ikt_run(out, sizeof(out), "%s/tools/ipckit gc %s", ikt_bindir(), name), 0);
    assert_ok(ik_mutex_lock(m));
    assert_ok(ik_mutex_unlock(m));
    ik_mutex *again;
    assert_ok(ik_mutex_open(&again, name, 0));
    ik_mutex_close(again);
    ik_sem *s;
    assert_ik(IK_ENOENT, ik_sem_open(&s, sname, 0, 0)); /* unused: collected */
    ik_mutex_close(m);
    assert_int_equal(ikt_run(out, sizeof(out), "%s/tools/ipckit gc %s", ikt_bindir(), name), 0);
    assert_ik(IK_ENOENT, ik_mutex_open(&m, name, 0));
}

static void test_example_critical_section(void **state)
{
    char out[8192];
    int st = ikt_run(out, sizeof(out), "%s/examples/critical_section 3 20000", ikt_bindir());
    if (st != 0 || strstr(out, "repairing") == NULL || strstr(out, "record consistent") == NULL)
        fail_msg("critical_section exited %d:\n%s", st, out);
}

int main(int argc, char **argv)
{
    ikt_child_dispatch(argc, argv, roles);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_locks_shows_holder_and_waiter),
        cmocka_unit_test(test_locks_flags_cycle),
        cmocka_unit_test(test_locks_shows_owner_death),
        cmocka_unit_test(test_ls_and_gc),
        cmocka_unit_test(test_example_critical_section),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
