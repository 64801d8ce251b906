/* ik_event: a set/reset flag on a futex word, auto- or manual-reset. */
#include "sync_int.h"

#include <string.h>

struct ik__event {
    _Atomic uint32_t state; /* futex word: 1 set, 0 clear */
    _Atomic uint32_t waiters;
    uint32_t magic;
    uint16_t version;
    uint16_t flags; /* IK__SYNC_MAN, IK__SYNC_NAMED */
};
_Static_assert(sizeof(struct ik__event) <= IK_EVENT_SIZE, "ik_event layout");

static inline struct ik__event *E(ik_event *e)
{
    return (struct ik__event *)(void *)e;
}

static int event_setup(struct ik__event *e, unsigned flags)
{
    memset(e, 0, sizeof(*e));
    e->version = IK__SYNC_VERSION;
    e->flags = (uint16_t)flags;
    atomic_store_explicit((_Atomic uint32_t *)&e->magic, IK__EVENT_MAGIC, memory_order_release);
    return 0;
}

int ik_event_init(ik_event *e, unsigned flags)
{
    if (e == NULL || (flags & ~IK_EVENT_MANUAL))
        return IK_EINVAL;
    return event_setup(E(e), (flags & IK_EVENT_MANUAL) ? IK__SYNC_MAN : 0);
}

static int named_init(void *user, size_t size, void *arg)
{
    return event_setup(user, *(unsigned *)arg);
}

static int named_check(void *obj)
{
    struct ik__event *e = obj;
    if (e->magic != IK__EVENT_MAGIC || e->version != IK__SYNC_VERSION ||
        !(e->flags & IK__SYNC_NAMED) || (e->flags & ~(IK__SYNC_NAMED | IK__SYNC_MAN)) ||
        atomic_load(&e->state) > 1)
        return IK_EPROTO;
    return 0;
}

int ik_event_open(ik_event **out, const char *name, unsigned flags)
{
    if (flags & ~(IK_CREATE | IK_EXCL | IK_EVENT_MANUAL))
        return IK_EINVAL;
    unsigned f = IK__SYNC_NAMED | ((flags & IK_EVENT_MANUAL) ? IK__SYNC_MAN : 0);
    return ik__sync_open((void **)out, name, IK__KIND_EVENT, sizeof(ik_event),
                         flags & (IK_CREATE | IK_EXCL), NULL, named_init, &f, named_check);
}

void ik_event_close(ik_event *e)
{
    if (e != NULL && (E(e)->flags & IK__SYNC_NAMED))
        ik__sync_close(e, sizeof(ik_event));
}

int ik_event_set(ik_event *ee)
{
    struct ik__event *e = E(ee);
    if (e == NULL || e->magic != IK__EVENT_MAGIC)
        return IK_EINVAL;
    atomic_store(&e->state, 1);
    if (atomic_load(&e->waiters) != 0)
        ik__futex_wake((uint32_t *)&e->state, (e->flags & IK__SYNC_MAN) ? INT32_MAX : 1, true);
    return 0;
}

int ik_event_reset(ik_event *ee)
{
    struct ik__event *e = E(ee);
    if (e == NULL || e->magic != IK__EVENT_MAGIC)
        return IK_EINVAL;
    atomic_store(&e->state, 0);
    return 0;
}

static bool consume(struct ik__event *e)
{
    if (e->flags & IK__SYNC_MAN)
        return atomic_load(&e->state) == 1;
    uint32_t one = 1;
    return atomic_compare_exchange_strong(&e->state, &one, 0);
}

static int event_wait(ik_event *ee, uint64_t deadline)
{
    struct ik__event *e = E(ee);
    if (e == NULL || e->magic != IK__EVENT_MAGIC)
        return IK_EINVAL;
    for (;;) {
        if (consume(e))
            return 0;
        if (ik__now_ns() >= deadline)
            return IK_ETIMEDOUT;
        atomic_fetch_add(&e->waiters, 1);
        /* Sliced: a setter killed between its store and its wake would
         * otherwise leave us asleep on a set event. */
        (void)ik__futex_wait((uint32_t *)&e->state, 0, ik__slice_end(deadline), true);
        atomic_fetch_sub(&e->waiters, 1);
    }
}

int ik_event_wait(ik_event *e)
{
    return event_wait(e, UINT64_MAX);
}

int ik_event_timedwait(ik_event *e, int timeout_ms)
{
    return event_wait(e, ik__deadline(timeout_ms));
}
