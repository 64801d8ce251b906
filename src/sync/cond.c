/* ik_cond: condition variable on a futex sequence word, paired with
 * ik_mutex. A waiter samples the sequence before unlocking, so a signal sent
 * after the unlock is never lost. */
#include "sync_int.h"

#include <string.h>

struct ik__cond {
    _Atomic uint32_t seq; /* futex word, bumped by signal/broadcast */
    _Atomic uint32_t waiters;
    uint32_t magic;
    uint16_t version;
    uint16_t flags;
};
_Static_assert(sizeof(struct ik__cond) <= IK_COND_SIZE, "ik_cond layout");

static inline struct ik__cond *C(ik_cond *c)
{
    return (struct ik__cond *)(void *)c;
}

static int cond_setup(struct ik__cond *c, unsigned flags)
{
    memset(c, 0, sizeof(*c));
    c->version = IK__SYNC_VERSION;
    c->flags = (uint16_t)flags;
    atomic_store_explicit((_Atomic uint32_t *)&c->magic, IK__COND_MAGIC, memory_order_release);
    return 0;
}

int ik_cond_init(ik_cond *c, unsigned flags)
{
    if (c == NULL || flags != 0)
        return IK_EINVAL;
    return cond_setup(C(c), 0);
}

static int named_init(void *user, size_t size, void *arg)
{
    return cond_setup(user, IK__SYNC_NAMED);
}

static int named_check(void *obj)
{
    struct ik__cond *c = obj;
    if (c->magic != IK__COND_MAGIC || c->version != IK__SYNC_VERSION || c->flags != IK__SYNC_NAMED)
        return IK_EPROTO;
    return 0;
}

int ik_cond_open(ik_cond **out, const char *name, unsigned flags)
{
    if (flags & ~(IK_CREATE | IK_EXCL))
        return IK_EINVAL;
    return ik__sync_open((void **)out, name, IK__KIND_COND, sizeof(ik_cond), flags, NULL,
                         named_init, NULL, named_check);
}

void ik_cond_close(ik_cond *c)
{
    if (c != NULL && (C(c)->flags & IK__SYNC_NAMED))
        ik__sync_close(c, sizeof(ik_cond));
}

static int cond_wait(ik_cond *cc, ik_mutex *m, uint64_t deadline)
{
    struct ik__cond *c = C(cc);
    if (c == NULL || c->magic != IK__COND_MAGIC)
        return IK_EINVAL;
    uint32_t seq = atomic_load(&c->seq);
    atomic_fetch_add(&c->waiters, 1);
    int rc = ik_mutex_unlock(m);
    if (rc != 0) {
        atomic_fetch_sub(&c->waiters, 1);
        return rc; /* not the owner: nothing to wait for */
    }
    /* Sliced: a signaller killed between its bump and its wake would
     * otherwise leave us asleep after the signal. */
    bool timed_out = false;
    while (atomic_load(&c->seq) == seq) {
        if (ik__now_ns() >= deadline) {
            timed_out = true;
            break;
        }
        (void)ik__futex_wait((uint32_t *)&c->seq, seq, ik__slice_end(deadline), true);
    }
    atomic_fetch_sub(&c->waiters, 1);
    rc = ik_mutex_lock(m);
    if (rc != 0)
        return rc; /* IK_EOWNERDEAD: held, repair; others: not held */
    return timed_out ? IK_ETIMEDOUT : 0;
}

int ik_cond_wait(ik_cond *c, ik_mutex *m)
{
    return cond_wait(c, m, UINT64_MAX);
}

int ik_cond_timedwait(ik_cond *c, ik_mutex *m, int timeout_ms)
{
    return cond_wait(c, m, ik__deadline(timeout_ms));
}

static int cond_wake(ik_cond *cc, int n)
{
    struct ik__cond *c = C(cc);
    if (c == NULL || c->magic != IK__COND_MAGIC)
        return IK_EINVAL;
    atomic_fetch_add(&c->seq, 1);
    if (atomic_load(&c->waiters) != 0)
        ik__futex_wake((uint32_t *)&c->seq, n, true);
    return 0;
}

int ik_cond_signal(ik_cond *c)
{
    return cond_wake(c, 1);
}

int ik_cond_broadcast(ik_cond *c)
{
    return cond_wake(c, INT32_MAX);
}
