/* ik_rwlock: robust reader-writer lock. State (writer tid/pid/start, per
 * process reader counts) lives under a robust guard mutex; waiters sleep on a
 * futex sequence word in slices and reap dead holders between slices. */
#include "sync_int.h"

#include <string.h>

static inline struct ik__rwlock *L(ik_rwlock *l)
{
    return (struct ik__rwlock *)(void *)l;
}

static int rw_setup(struct ik__rwlock *l, unsigned flags)
{
    memset(l, 0, sizeof(*l));
    int rc = ik__guard_init(&l->guard);
    if (rc != 0)
        return rc;
    l->version = IK__SYNC_VERSION;
    l->flags = (uint16_t)flags;
    atomic_store_explicit((_Atomic uint32_t *)&l->magic, IK__RWLOCK_MAGIC, memory_order_release);
    return 0;
}

int ik_rwlock_init(ik_rwlock *l, unsigned flags)
{
    if (l == NULL || flags != 0)
        return IK_EINVAL;
    return rw_setup(L(l), 0);
}

static int named_init(void *user, size_t size, void *arg)
{
    return rw_setup(user, IK__SYNC_NAMED);
}

static int named_check(void *obj)
{
    struct ik__rwlock *l = obj;
    if (l->magic != IK__RWLOCK_MAGIC || l->version != IK__SYNC_VERSION ||
        l->flags != IK__SYNC_NAMED || l->state > RW_LOST || !ik__pmutex_kind_ok(&l->guard, false))
        return IK_EPROTO;
    return 0;
}

int ik_rwlock_open(ik_rwlock **out, const char *name, unsigned flags)
{
    if (flags & ~(IK_CREATE | IK_EXCL))
        return IK_EINVAL;
    return ik__sync_open((void **)out, name, IK__KIND_RWLOCK, sizeof(ik_rwlock), flags, NULL,
                         named_init, NULL, named_check);
}

void ik_rwlock_close(ik_rwlock *l)
{
    if (l != NULL && (L(l)->flags & IK__SYNC_NAMED))
        ik__sync_close(l, sizeof(ik_rwlock));
}

static int lock_guard(struct ik__rwlock *l)
{
    int rc = ik__guard_lock(&l->guard);
    return rc == 1 ? 0 : rc; /* guard sections keep the state valid at every store */
}

static void wake_all(struct ik__rwlock *l)
{
    atomic_fetch_add(&l->seq, 1);
    if (atomic_load(&l->waiters) != 0)
        ik__futex_wake((uint32_t *)&l->seq, INT32_MAX, true);
}

/* Under the guard: drop dead readers, flag a dead writer. */
static void reap(struct ik__rwlock *l)
{
    if (l->w_tid != 0 && !ik__proc_alive(l->w_pid, l->w_start)) {
        l->w_tid = 0;
        if (l->state == RW_OK || l->state == RW_REPAIR)
            l->state = RW_DEAD;
    }
    for (int i = 0; i < IK_RWLOCK_READERS; i++) {
        struct ik__rw_reader *r = &l->rd[i];
        if (r->pid != 0 && r->count > 0 && !ik__proc_alive(r->pid, r->start)) {
            r->count = 0;
            r->pid = 0;
        }
    }
    for (int i = 0; i < IK__RW_WRITERS_WAITING; i++) {
        struct ik__rw_reader *w = &l->ww[i];
        if (w->count > 0 && !ik__proc_alive(w->pid, w->start))
            memset(w, 0, sizeof(*w));
    }
}

static bool writers_waiting(const struct ik__rwlock *l)
{
    for (int i = 0; i < IK__RW_WRITERS_WAITING; i++) {
        if (l->ww[i].count > 0)
            return true;
    }
    return false;
}

/* Count (+1) or uncount (-1) a waiting writer of this process. A full table
 * only costs that writer its preference. */
static bool ww_update(struct ik__rwlock *l, int delta)
{
    int pid = ik__sync_pid(), free_slot = -1;
    uint64_t start = ik__sync_start();
    for (int i = 0; i < IK__RW_WRITERS_WAITING; i++) {
        struct ik__rw_reader *w = &l->ww[i];
        if (w->count > 0 && w->pid == pid && w->start == start) {
            if ((w->count += (uint32_t)delta) == 0)
                w->pid = 0;
            return true;
        }
        if (w->count == 0 && free_slot < 0)
            free_slot = i;
    }
    if (delta < 0 || free_slot < 0)
        return false;
    l->ww[free_slot].pid = pid;
    l->ww[free_slot].start = start;
    l->ww[free_slot].count = 1;
    return true;
}

static bool has_readers(const struct ik__rwlock *l)
{
    for (int i = 0; i < IK_RWLOCK_READERS; i++) {
        if (l->rd[i].count > 0)
            return true;
    }
    return false;
}

static int reader_slot(struct ik__rwlock *l, int pid, uint64_t start, bool alloc)
{
    int free_slot = -1;
    for (int i = 0; i < IK_RWLOCK_READERS; i++) {
        if (l->rd[i].count > 0 && l->rd[i].pid == pid && l->rd[i].start == start)
            return i;
        if (l->rd[i].count == 0 && free_slot < 0)
            free_slot = i;
    }
    return alloc ? free_slot : -1;
}

/* Under the guard: try to take it. 0, IK_EOWNERDEAD, IK_EBUSY, or an error. */
static int try_take(struct ik__rwlock *l, bool wr)
{
    if (l->state == RW_LOST)
        return IK_ENOTRECOVERABLE;
    bool dead = l->state == RW_DEAD;
    if (l->w_tid != 0 || l->state == RW_REPAIR)
        return IK_EBUSY;
    if (wr || dead) {
        if (has_readers(l))
            return IK_EBUSY;
        l->w_pid = ik__sync_pid();
        l->w_start = ik__sync_start();
        l->w_tid = ik__sync_tid();
        if (dead) {
            l->state = RW_REPAIR;
            return IK_EOWNERDEAD;
        }
        return 0;
    }
    if (writers_waiting(l))
        return IK_EBUSY; /* writers first */
    int pid = ik__sync_pid();
    uint64_t start = ik__sync_start();
    int s = reader_slot(l, pid, start, true);
    if (s < 0)
        return IK_EAGAIN;
    if (l->rd[s].count == 0) {
        l->rd[s].pid = pid;
        l->rd[s].start = start;
    }
    l->rd[s].count++;
    return 0;
}

/* The writer is this thread of this very process (a pid alone may be a
 * dead writer's, reused). */
static bool writer_is_me(const struct ik__rwlock *l)
{
    return l->w_tid == ik__sync_tid() && l->w_pid == ik__sync_pid() &&
           l->w_start == ik__sync_start();
}

static int rw_lock(ik_rwlock *ll, bool wr, uint64_t deadline)
{
    struct ik__rwlock *l = L(ll);
    if (l == NULL || l->magic != IK__RWLOCK_MAGIC)
        return IK_EINVAL;
    int rc = ik__guard_lock_until(&l->guard, deadline);
    if (rc < 0)
        return rc;
    if (wr && writer_is_me(l)) {
        pthread_mutex_unlock(&l->guard);
        return IK_EDEADLK;
    }
    bool counted = false, slice_over = deadline == 0;
    for (;;) {
        rc = try_take(l, wr);
        if (rc != IK_EBUSY)
            break;
        if (slice_over) { /* blocked a whole slice: a dead holder may be why */
            reap(l);
            if ((rc = try_take(l, wr)) != IK_EBUSY)
                break;
        }
        if (ik__now_ns() >= deadline) {
            rc = deadline == 0 ? IK_EBUSY : IK_ETIMEDOUT;
            break;
        }
        if (wr && !counted)
            counted = ww_update(l, +1);
        uint32_t seq = atomic_load(&l->seq);
        atomic_fetch_add(&l->waiters, 1);
        pthread_mutex_unlock(&l->guard);
        uint64_t until = ik__slice_end(deadline);
        (void)ik__futex_wait((uint32_t *)&l->seq, seq, until, true);
        atomic_fetch_sub(&l->waiters, 1);
        slice_over = ik__now_ns() >= until;
        /* Bounded by the deadline, except for a counted writer, which must
         * uncount itself under the guard (else readers wait for it). */
        if ((rc = ik__guard_lock_until(&l->guard, counted ? UINT64_MAX : deadline)) < 0)
            return rc;
    }
    if (counted) {
        (void)ww_update(l, -1);
        if (rc != 0 && rc != IK_EOWNERDEAD)
            wake_all(l); /* readers held back for us may go */
    }
    pthread_mutex_unlock(&l->guard);
    return rc;
}

int ik_rwlock_rdlock(ik_rwlock *l)
{
    return rw_lock(l, false, UINT64_MAX);
}

int ik_rwlock_tryrdlock(ik_rwlock *l)
{
    return rw_lock(l, false, 0);
}

int ik_rwlock_timedrdlock(ik_rwlock *l, int timeout_ms)
{
    int rc = rw_lock(l, false, timeout_ms == 0 ? 0 : ik__deadline(timeout_ms));
    return rc == IK_EBUSY ? IK_ETIMEDOUT : rc;
}

int ik_rwlock_wrlock(ik_rwlock *l)
{
    return rw_lock(l, true, UINT64_MAX);
}

int ik_rwlock_trywrlock(ik_rwlock *l)
{
    return rw_lock(l, true, 0);
}

int ik_rwlock_timedwrlock(ik_rwlock *l, int timeout_ms)
{
    int rc = rw_lock(l, true, timeout_ms == 0 ? 0 : ik__deadline(timeout_ms));
    return rc == IK_EBUSY ? IK_ETIMEDOUT : rc;
}

int ik_rwlock_unlock(ik_rwlock *ll)
{
    struct ik__rwlock *l = L(ll);
    if (l == NULL || l->magic != IK__RWLOCK_MAGIC)
        return IK_EINVAL;
    int rc = lock_guard(l);
    if (rc != 0)
        return rc;
    if (writer_is_me(l)) {
        if (l->state == RW_REPAIR)
            l->state = RW_LOST; /* unlocked without ik_rwlock_consistent */
        l->w_tid = 0;
        l->w_pid = 0;
    } else {
        int s = reader_slot(l, ik__sync_pid(), ik__sync_start(), false);
        if (s < 0) {
            pthread_mutex_unlock(&l->guard);
            return IK_EPERM;
        }
        l->rd[s].count--;
    }
    wake_all(l);
    pthread_mutex_unlock(&l->guard);
    return 0;
}

int ik_rwlock_consistent(ik_rwlock *ll)
{
    struct ik__rwlock *l = L(ll);
    if (l == NULL || l->magic != IK__RWLOCK_MAGIC)
        return IK_EINVAL;
    int rc = lock_guard(l);
    if (rc != 0)
        return rc;
    if (l->state == RW_REPAIR && writer_is_me(l))
        l->state = RW_OK;
    else
        rc = IK_EINVAL;
    pthread_mutex_unlock(&l->guard);
    return rc;
}
