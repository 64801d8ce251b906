/* ik_mutex: a robust, process-shared, error-checking pthread mutex plus a
 * name for the wait-for graph. Fast path: one pthread trylock/unlock. */
#include "sync_int.h"

#include <string.h>
#include <time.h>

static inline struct ik__mutex *M(ik_mutex *m)
{
    return (struct ik__mutex *)(void *)m;
}

static int mutex_setup(struct ik__mutex *m, const char *name)
{
    memset(m, 0, sizeof(*m));
    int rc = ik__pmutex_init(&m->pm, true);
    if (rc != 0)
        return rc;
    m->version = IK__SYNC_VERSION;
    if (name != NULL) {
        m->flags = IK__SYNC_NAMED;
        strncpy(m->name, name, IK_NAME_MAX);
    }
    atomic_store_explicit((_Atomic uint32_t *)&m->magic, IK__MUTEX_MAGIC, memory_order_release);
    return 0;
}

int ik_mutex_init(ik_mutex *m, unsigned flags)
{
    if (m == NULL || flags != 0)
        return IK_EINVAL;
    return mutex_setup(M(m), NULL);
}

int ik_mutex_destroy(ik_mutex *m)
{
    if (m == NULL || M(m)->magic != IK__MUTEX_MAGIC)
        return IK_EINVAL;
    int e = pthread_mutex_trylock(&M(m)->pm);
    if (e == EBUSY || e == EDEADLK)
        return IK_EBUSY;
    if (e == 0 || e == EOWNERDEAD)
        (void)pthread_mutex_unlock(&M(m)->pm);
    pthread_mutex_destroy(&M(m)->pm);
    M(m)->magic = 0;
    return 0;
}

static int named_init(void *user, size_t size, void *arg)
{
    return mutex_setup(user, arg);
}

static int named_check(void *obj)
{
    struct ik__mutex *m = obj;
    if (m->magic != IK__MUTEX_MAGIC || m->version != IK__SYNC_VERSION ||
        m->flags != IK__SYNC_NAMED || memchr(m->name, '\0', sizeof(m->name)) == NULL ||
        !ik__pmutex_kind_ok(&m->pm, true))
        return IK_EPROTO;
    return 0;
}

int ik_mutex_open_ex(ik_mutex **out, const char *name, unsigned flags, const ik_perm *perm)
{
    if (flags & ~(IK_CREATE | IK_EXCL))
        return IK_EINVAL;
    return ik__sync_open((void **)out, name, IK__KIND_MUTEX, sizeof(ik_mutex), flags, perm,
                         named_init, (void *)name, named_check);
}

int ik_mutex_open(ik_mutex **out, const char *name, unsigned flags)
{
    return ik_mutex_open_ex(out, name, flags, NULL);
}

/* Is the mutex held by a thread of this process? */
static bool held_here(struct ik__mutex *m)
{
    unsigned w = __atomic_load_n((unsigned *)&m->pm.__data.__lock, __ATOMIC_ACQUIRE);
    int tid = (int)(w & IK__FUTEX_TID_MASK);
    return tid != 0 && (tid == ik__sync_tid() || ik__tid_pid(tid) == ik__sync_pid());
}

void ik_mutex_close(ik_mutex *m)
{
    if (m == NULL || !(M(m)->flags & IK__SYNC_NAMED))
        return;
    /* A held mutex stays on its owner thread's robust list, which the kernel
     * walks at exit through this mapping: unmapped, the walk stops there, and
     * that mutex (and every robust mutex locked before it) would never be
     * marked owner-dead, leaving their waiters blocked forever. Keep the
     * mapping (leaked) instead. */
    if (held_here(M(m)))
        return;
    ik__sync_close(m, sizeof(ik_mutex));
}

/* The holder's tid is the owner field of the robust futex word. */
static void mutex_holder(void *obj, int *tid, int *pid)
{
    struct ik__mutex *m = obj;
    unsigned w = __atomic_load_n((unsigned *)&m->pm.__data.__lock, __ATOMIC_ACQUIRE);
    *tid = (int)(w & IK__FUTEX_TID_MASK);
    *pid = 0;
}

static void ns_to_ts(uint64_t ns, struct timespec *ts)
{
    ts->tv_sec = (time_t)(ns / 1000000000u);
    ts->tv_nsec = (long)(ns % 1000000000u);
}

/* Contended: block in slices; named mutexes run deadlock detection between
 * slices (the first slice runs without touching the registry). */
static int mutex_slow(struct ik__mutex *m, uint64_t deadline)
{
    bool named = (m->flags & IK__SYNC_NAMED) != 0;
    if (!named)
        return ik__pt_err(ik__robust_lock_sliced(&m->pm, deadline));
    struct ik__dl_wait w = IK__DL_WAIT_INIT;
    int rc;
    for (;;) {
        /* Sliced: deadlock detection, and a woken waiter killed before it
         * locks (see ik__robust_lock_sliced). */
        uint64_t until = ik__slice_end(deadline);
        struct timespec ts;
        ns_to_ts(until, &ts);
        int e = pthread_mutex_clocklock(&m->pm, CLOCK_MONOTONIC, &ts);
        if (e != ETIMEDOUT) {
            rc = ik__pt_err(e);
            break;
        }
        if (ik__now_ns() >= deadline) {
            rc = IK_ETIMEDOUT;
            break;
        }
        if (named && (rc = ik__dl_check(&w, IK__KIND_MUTEX, m->name, mutex_holder, m)) != 0)
            return rc;
    }
    ik__dl_end(&w);
    return rc;
}

/* glibc (2.36) pthread_mutex_trylock on a not-recoverable robust mutex
 * returns ENOTRECOVERABLE but leaves the lock word set to our tid (it unlocks
 * only "if (oldval == id)"), so every later locker would block forever.
 * Release the word as pthread_mutex_lock does on that path. */
static int notrec_fixup(struct ik__mutex *m)
{
    unsigned *w = (unsigned *)&m->pm.__data.__lock;
    unsigned old = __atomic_load_n(w, __ATOMIC_ACQUIRE);
    if ((old & IK__FUTEX_TID_MASK) == (unsigned)ik__sync_tid()) {
        old = __atomic_exchange_n(w, 0, __ATOMIC_RELEASE);
        if (old & IK__FUTEX_WAITERS)
            ik__futex_wake(w, INT32_MAX, true);
    }
    return IK_ENOTRECOVERABLE;
}

/* Try first, then the sliced slow path (kept out of line so the fast
 * paths stay a check and a tail call). */
static __attribute__((noinline)) int mutex_lock(ik_mutex *mm, uint64_t deadline)
{
    struct ik__mutex *m = M(mm);
    if (m == NULL || m->magic != IK__MUTEX_MAGIC)
        return IK_EINVAL;
    /* Left behind by a failed trylock (the inline fast path's): see
     * notrec_fixup. */
    if (m->pm.__data.__owner == IK__PM_NOTRECOVERABLE)
        return notrec_fixup(m);
    int e = pthread_mutex_trylock(&m->pm);
    if (e == 0)
        return 0;
    if (e == ENOTRECOVERABLE)
        return notrec_fixup(m);
    if (e != EBUSY)
        return ik__pt_err(e);
    if (deadline == 0)
        return IK_EBUSY;
    return mutex_slow(m, deadline);
}

int ik_mutex_lock(ik_mutex *mm)
{
    /* Never an untimed pthread_mutex_lock: its waiters sleep until one is
     * woken, and a woken waiter killed before it locks would leave the
     * others asleep beside a free lock (sliced in mutex_slow). */
    return mutex_lock(mm, UINT64_MAX);
}

int ik_mutex_trylock(ik_mutex *m)
{
    return mutex_lock(m, 0);
}

int ik_mutex_timedlock(ik_mutex *m, int timeout_ms)
{
    if (timeout_ms == 0) {
        int rc = mutex_lock(m, 0);
        return rc == IK_EBUSY ? IK_ETIMEDOUT : rc;
    }
    return mutex_lock(m, ik__deadline(timeout_ms));
}

int ik_mutex_unlock(ik_mutex *m)
{
    if (__builtin_expect(m == NULL || M(m)->magic != IK__MUTEX_MAGIC, 0))
        return IK_EINVAL;
    int e = pthread_mutex_unlock(&M(m)->pm);
    return __builtin_expect(e == 0, 1) ? 0 : ik__pt_err(e);
}

int ik_mutex_consistent(ik_mutex *m)
{
    if (m == NULL || M(m)->magic != IK__MUTEX_MAGIC)
        return IK_EINVAL;
    /* glibc checks the state, not the caller: another thread's call would
     * mark the owner's repair done. */
    unsigned w = __atomic_load_n((unsigned *)&M(m)->pm.__data.__lock, __ATOMIC_ACQUIRE);
    if ((w & IK__FUTEX_TID_MASK) != (unsigned)ik__sync_tid())
        return IK_EINVAL;
    return ik__pt_err(pthread_mutex_consistent(&M(m)->pm));
}
