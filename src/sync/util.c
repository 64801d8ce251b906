/* Sync helpers: cached process identity, pthread error mapping, robust guard
 * mutexes, wait slices. */
#include "sync_int.h"

#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static _Atomic int g_pid;
static _Atomic uint64_t g_start;
static __thread int t_tid;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void atfork_child(void)
{
    atomic_store_explicit(&g_pid, 0, memory_order_relaxed);
    atomic_store_explicit(&g_start, 0, memory_order_relaxed);
    t_tid = 0; /* the child's only thread is the one that forked */
}

static void register_atfork(void)
{
    (void)pthread_atfork(NULL, NULL, atfork_child);
}

int ik__sync_pid(void)
{
    /* acquire/release: whoever sees g_pid sees g_start */
    int pid = atomic_load_explicit(&g_pid, memory_order_acquire);
    if (__builtin_expect(pid == 0, 0)) {
        pthread_once(&g_once, register_atfork);
        pid = getpid();
        atomic_store_explicit(&g_start, ik__self_start_time(), memory_order_relaxed);
        atomic_store_explicit(&g_pid, pid, memory_order_release);
    }
    return pid;
}

uint64_t ik__sync_start(void)
{
    (void)ik__sync_pid();
    return atomic_load_explicit(&g_start, memory_order_relaxed);
}

int ik__sync_tid(void)
{
    if (__builtin_expect(t_tid == 0, 0)) {
        pthread_once(&g_once, register_atfork);
        t_tid = (int)syscall(SYS_gettid);
    }
    return t_tid;
}

int ik__tid_pid(int tid)
{
    return (int)ik__proc_status_field(tid, "Tgid");
}

int ik__pt_err(int e)
{
    return ik__mutex_err(e);
}

int ik__pmutex_init(pthread_mutex_t *m, bool errorcheck)
{
    pthread_mutexattr_t a;
    int e = pthread_mutexattr_init(&a);
    if (e == 0)
        e = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    if (e == 0)
        e = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    if (e == 0 && errorcheck)
        e = pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
    if (e == 0)
        e = pthread_mutex_init(m, &a);
    pthread_mutexattr_destroy(&a);
    return -e;
}

int ik__guard_init(pthread_mutex_t *g)
{
    return ik__pmutex_init(g, false);
}

static int g_kind[2] = {-1, -1};
static pthread_once_t g_kind_once = PTHREAD_ONCE_INIT;

static void learn_kinds(void)
{
    for (int i = 0; i < 2; i++) {
        pthread_mutex_t scratch;
        if (ik__pmutex_init(&scratch, i == 1) == 0) {
            g_kind[i] = scratch.__data.__kind;
            pthread_mutex_destroy(&scratch);
        }
    }
}

bool ik__pmutex_kind_ok(const pthread_mutex_t *m, bool errorcheck)
{
    pthread_once(&g_kind_once, learn_kinds);
    int kind = __atomic_load_n(&m->__data.__kind, __ATOMIC_RELAXED);
    return g_kind[errorcheck] != -1 && kind == g_kind[errorcheck];
}

int ik__guard_lock(pthread_mutex_t *g)
{
    return ik__guard_lock_until(g, UINT64_MAX);
}

int ik__robust_lock_sliced(pthread_mutex_t *m, uint64_t deadline)
{
    /* Never one untimed sleep: an unlock wakes one waiter, and if that one
     * is killed before it takes the lock, no one else is woken (the kernel
     * repairs the death of an owner, not of a woken waiter); the others
     * would sleep beside a free lock forever. Each slice re-tries it. */
    for (;;) {
        uint64_t until = ik__slice_end(deadline);
        struct timespec ts = {.tv_sec = (time_t)(until / 1000000000u),
                              .tv_nsec = (long)(until % 1000000000u)};
        int e = pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &ts);
        if (e != ETIMEDOUT || until >= deadline)
            return e;
    }
}

int ik__guard_lock_until(pthread_mutex_t *g, uint64_t deadline)
{
    int e = pthread_mutex_trylock(g);
    if (e == EBUSY)
        e = ik__robust_lock_sliced(g, deadline == 0 ? UINT64_MAX : deadline);
    if (e == 0)
        return 0;
    if (e == EOWNERDEAD) {
        (void)pthread_mutex_consistent(g);
        return 1;
    }
    return ik__pt_err(e);
}

uint64_t ik__slice_end(uint64_t deadline)
{
    uint64_t now = ik__now_ns();
    if (deadline > now && deadline - now > IK__SLICE_NS)
        return now + IK__SLICE_NS;
    return deadline;
}

static uint32_t spin_clamp(uint64_t ns)
{
    return ns < IK__SPIN_MIN_NS   ? IK__SPIN_MIN_NS
           : ns > IK__SPIN_MAX_NS ? IK__SPIN_MAX_NS
                                  : (uint32_t)ns;
}

static void spin_set(_Atomic uint32_t *budget_ns, uint32_t old, uint32_t now)
{
    if (now != old) /* shared line: write only on change */
        atomic_store_explicit(budget_ns, now, memory_order_relaxed);
}

bool ik__spin_wait(struct ik__spin *sp, const _Atomic uint32_t *word, uint32_t mask,
                   _Atomic uint32_t *budget_ns)
{
    uint32_t b = atomic_load_explicit(budget_ns, memory_order_relaxed);
    uint32_t budget = b == 0 ? IK__SPIN_INIT_NS : spin_clamp(b);
    sp->t0 = ik__now_ns();
    for (unsigned i = 1;; i++) {
        if (atomic_load_explicit(word, memory_order_relaxed) & mask) {
            uint64_t took = ik__now_ns() - sp->t0;
            if (2 * took > budget) /* a slow success: allow as much next time */
                spin_set(budget_ns, b, spin_clamp(2 * took));
            return true;
        }
        /* pause first; then also yield, so a partner queued on this CPU
         * can run and answer */
        if (i < 16 || (i & 3) != 0)
            ik__cpu_relax();
        else
            sched_yield();
        if ((i & 15) == 0 && ik__now_ns() - sp->t0 >= budget)
            return false;
    }
}

void ik__spin_learn(const struct ik__spin *sp, _Atomic uint32_t *budget_ns)
{
    uint32_t b = atomic_load_explicit(budget_ns, memory_order_relaxed);
    uint32_t budget = b == 0 ? IK__SPIN_INIT_NS : spin_clamp(b);
    uint64_t took = ik__now_ns() - sp->t0;
    spin_set(budget_ns, b, took <= IK__SPIN_MAX_NS ? spin_clamp(2 * took) : spin_clamp(budget / 2));
}
