/* ik_barrier: n processes meet; a participant that died before arriving
 * breaks the barrier (IK_EPEERDEAD) instead of leaving the others waiting. */
#include "sync_int.h"

#include <string.h>

static inline struct ik__barrier *B(ik_barrier *b)
{
    return (struct ik__barrier *)(void *)b;
}

static int barrier_setup(struct ik__barrier *b, unsigned n, unsigned flags)
{
    if (n == 0 || n > IK_BARRIER_MAX)
        return IK_EINVAL;
    memset(b, 0, sizeof(*b));
    int rc = ik__guard_init(&b->guard);
    if (rc != 0)
        return rc;
    b->version = IK__SYNC_VERSION;
    b->flags = (uint16_t)flags;
    b->n = n;
    atomic_store_explicit((_Atomic uint32_t *)&b->magic, IK__BARRIER_MAGIC, memory_order_release);
    return 0;
}

int ik_barrier_init(ik_barrier *b, unsigned n, unsigned flags)
{
    if (b == NULL || flags != 0)
        return IK_EINVAL;
    return barrier_setup(B(b), n, 0);
}

static int named_init(void *user, size_t size, void *arg)
{
    return barrier_setup(user, *(unsigned *)arg, IK__SYNC_NAMED);
}

static int named_check(void *obj)
{
    struct ik__barrier *b = obj;
    if (b->magic != IK__BARRIER_MAGIC || b->version != IK__SYNC_VERSION ||
        b->flags != IK__SYNC_NAMED || b->n == 0 || b->n > IK_BARRIER_MAX || b->arrived > b->n ||
        !ik__pmutex_kind_ok(&b->guard, false))
        return IK_EPROTO;
    return 0;
}

int ik_barrier_open(ik_barrier **out, const char *name, unsigned n, unsigned flags)
{
    if ((flags & ~(IK_CREATE | IK_EXCL)) || ((flags & IK_CREATE) && (n == 0 || n > IK_BARRIER_MAX)))
        return IK_EINVAL;
    int rc = ik__sync_open((void **)out, name, IK__KIND_BARRIER, sizeof(ik_barrier), flags, NULL,
                           named_init, &n, named_check);
    if (rc != 0)
        return rc;
    /* Opening is joining: a process that dies before its first wait still
     * breaks the barrier instead of leaving the others waiting. */
    if ((rc = ik_barrier_join(*out)) != 0) {
        ik__sync_close(*out, sizeof(ik_barrier));
        *out = NULL;
    }
    return rc;
}

void ik_barrier_close(ik_barrier *b)
{
    if (b != NULL && (B(b)->flags & IK__SYNC_NAMED)) {
        int rc = ik_barrier_leave(b); /* a clean exit is not a death */
        (void)rc;                     /* IK_ENOENT/IK_EBUSY: nothing to undo */
        ik__sync_close(b, sizeof(ik_barrier));
    }
}

static int lock(struct ik__barrier *b, uint64_t deadline)
{
    int rc = ik__guard_lock_until(&b->guard, deadline);
    if (rc == 1) {
        /* A participant died inside: this round is broken (the first
         * break's mark stays). */
        uint32_t none = 0;
        atomic_compare_exchange_strong(&b->broken, &none, atomic_load(&b->gen) + 1);
        rc = 0;
    }
    return rc;
}

/* Under the guard: end round g. gen skips UINT32_MAX, so g + 1 (an
 * arrival or break mark) is never 0 ("none"). */
static void next_round(struct ik__barrier *b, uint32_t g)
{
    atomic_store(&b->gen, g + 1 == UINT32_MAX ? 0 : g + 1);
    ik__futex_wake((uint32_t *)&b->gen, INT32_MAX, true);
}

/* Under the guard: round g ends broken. broken is set first, so whoever
 * sees the new gen also sees why. */
static void break_it(struct ik__barrier *b, uint32_t g)
{
    atomic_store(&b->broken, g + 1);
    next_round(b, g);
}

/* Under the guard: is a registered participant dead without having arrived
 * in generation g? */
static bool someone_died(struct ik__barrier *b, uint32_t g)
{
    for (unsigned i = 0; i < IK_BARRIER_MAX; i++) {
        struct ik__barrier_part *p = &b->part[i];
        if (p->pid != 0 && p->arrived_gen != g + 1 && !ik__proc_alive(p->pid, p->start))
            return true;
    }
    return false;
}

/* Under the guard: the calling process's participant slot, taken if it has
 * none (IK_ENOSPC when all are taken). */
static int join_locked(struct ik__barrier *b)
{
    int pid = ik__sync_pid();
    uint64_t start = ik__sync_start();
    int free_slot = -1;
    for (int i = 0; i < IK_BARRIER_MAX; i++) {
        if (b->part[i].pid == pid && b->part[i].start == start)
            return i;
        if (b->part[i].pid == 0 && free_slot < 0)
            free_slot = i;
    }
    if (free_slot < 0)
        return IK_ENOSPC;
    b->part[free_slot].start = start;
    b->part[free_slot].arrived_gen = 0;
    b->part[free_slot].pid = pid;
    return free_slot;
}

static bool barrier_valid(const struct ik__barrier *b)
{
    return b != NULL && b->magic == IK__BARRIER_MAGIC && b->n != 0 && b->n <= IK_BARRIER_MAX;
}

int ik_barrier_join(ik_barrier *bb)
{
    struct ik__barrier *b = B(bb);
    if (!barrier_valid(b))
        return IK_EINVAL;
    int rc = lock(b, UINT64_MAX);
    if (rc != 0)
        return rc;
    rc = join_locked(b);
    pthread_mutex_unlock(&b->guard);
    return rc < 0 ? rc : 0;
}

int ik_barrier_leave(ik_barrier *bb)
{
    struct ik__barrier *b = B(bb);
    if (!barrier_valid(b))
        return IK_EINVAL;
    int rc = lock(b, UINT64_MAX);
    if (rc != 0)
        return rc;
    int pid = ik__sync_pid();
    uint64_t start = ik__sync_start();
    uint32_t g = atomic_load(&b->gen);
    rc = IK_ENOENT;
    for (int i = 0; i < IK_BARRIER_MAX; i++) {
        struct ik__barrier_part *p = &b->part[i];
        if (p->pid != pid || p->start != start)
            continue;
        if (p->arrived_gen == g + 1) {
            rc = IK_EBUSY; /* a thread of ours is waiting in this round */
        } else {
            p->pid = 0;
            rc = 0;
        }
        break;
    }
    pthread_mutex_unlock(&b->guard);
    return rc;
}

static int barrier_wait(ik_barrier *bb, uint64_t deadline)
{
    struct ik__barrier *b = B(bb);
    if (!barrier_valid(b))
        return IK_EINVAL;
    int rc = lock(b, deadline);
    if (rc != 0)
        return rc;
    if (atomic_load(&b->broken)) {
        pthread_mutex_unlock(&b->guard);
        return IK_EPEERDEAD;
    }
    int me = join_locked(b);
    if (me < 0) {
        pthread_mutex_unlock(&b->guard);
        return me;
    }
    uint32_t g = atomic_load(&b->gen);
    if (b->part[me].arrived_gen == g + 1) {
        pthread_mutex_unlock(&b->guard);
        return IK_EBUSY; /* another thread of this process is already waiting */
    }
    b->part[me].arrived_gen = g + 1;
    if (++b->arrived >= b->n) {
        b->arrived = 0;
        next_round(b, g);
        pthread_mutex_unlock(&b->guard);
        return 1;
    }
    pthread_mutex_unlock(&b->guard);
    for (;;) {
        uint64_t until = ik__slice_end(deadline);
        (void)ik__futex_wait((uint32_t *)&b->gen, g, until, true);
        /* gen first (see break_it). Any other mark than g + 1 is a later
         * round's break: ours completed, even if we read gen before. */
        bool ended = atomic_load(&b->gen) != g;
        uint32_t broken = atomic_load(&b->broken);
        if (broken == g + 1)
            return IK_EPEERDEAD;
        if (ended || broken != 0)
            return 0;
        if (ik__now_ns() < until)
            continue;                        /* spurious or EINTR */
        if ((rc = lock(b, UINT64_MAX)) != 0) /* arrived: must withdraw under it */
            return rc;
        if (atomic_load(&b->gen) != g || atomic_load(&b->broken)) {
            pthread_mutex_unlock(&b->guard);
            continue;
        }
        if (someone_died(b, g)) {
            break_it(b, g);
            pthread_mutex_unlock(&b->guard);
            return IK_EPEERDEAD;
        }
        if (ik__now_ns() >= deadline) { /* withdraw the arrival */
            b->part[me].arrived_gen = 0;
            b->arrived--;
            pthread_mutex_unlock(&b->guard);
            return IK_ETIMEDOUT;
        }
        pthread_mutex_unlock(&b->guard);
    }
}

int ik_barrier_wait(ik_barrier *b)
{
    return barrier_wait(b, UINT64_MAX);
}

int ik_barrier_timedwait(ik_barrier *b, int timeout_ms)
{
    return barrier_wait(b, ik__deadline(timeout_ms));
}
