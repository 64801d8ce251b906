/* ik_sem: counting semaphore on one futex word (units << 1 | SLEEPERS). A
 * post that may have sleepers adds and wakes in one kernel step
 * (FUTEX_WAKE_OP), so a poster killed at any instruction never leaves a
 * waiter asleep beside a free unit. A woken waiter killed before it takes
 * can (its wake-up is lost), so sleeps are still sliced. Undo mode
 * keeps a holder table (pid, start time, units) changed under a robust guard
 * with a roll-back intent record, so a process killed at any instruction
 * leaves no unit lost or counted twice. */
#include "sync_int.h"

#include <string.h>

static inline struct ik__sem *S(ik_sem *s)
{
    return (struct ik__sem *)(void *)s;
}

static bool sem_ok(const struct ik__sem *s)
{
    /* The version too: an in-place sem of another layout (same magic) must
     * not be read with this one. */
    return s != NULL && s->magic == IK__SEM_MAGIC && s->version == IK__SYNC_VERSION;
}

static uint32_t units(const struct ik__sem *s)
{
    return ik__sem_units(atomic_load(&s->word));
}

/* Undo mode, under the guard: set the units, keeping SLEEPERS (waiters set
 * it outside the guard). */
static void set_units(struct ik__sem *s, uint32_t v)
{
    uint32_t w = atomic_load(&s->word);
    while (!atomic_compare_exchange_weak(&s->word, &w, (v << 1) | (w & IK__SEM_SLEEPERS)))
        ;
}

/* After units were added in user space: wake up to n sleepers. Waking none
 * means SLEEPERS is stale (a waiter was killed, or one is just re-checking):
 * clear it together with a wake-up of everyone, who re-register. */
static void wake_sleepers(struct ik__sem *s, unsigned n)
{
    if (n == 0 || !(atomic_load(&s->word) & IK__SEM_SLEEPERS))
        return;
    if (ik__futex_wake((uint32_t *)&s->word, n > INT32_MAX ? INT32_MAX : (int)n, true) == 0)
        (void)ik__futex_clear_wake_all((uint32_t *)&s->word, IK__SEM_SLEEPERS, true);
}

static int sem_setup(struct ik__sem *s, unsigned initial, unsigned flags, const char *name)
{
    if (initial > IK_SEM_VALUE_MAX)
        return IK_EINVAL;
    memset(s, 0, sizeof(*s));
    s->version = IK__SYNC_VERSION;
    if (flags & IK_SEM_UNDO) {
        int rc = ik__guard_init(&s->guard);
        if (rc != 0)
            return rc;
        s->flags |= IK__SYNC_UNDO;
    }
    if (name != NULL) {
        s->flags |= IK__SYNC_NAMED;
        strncpy(s->name, name, IK_NAME_MAX);
    }
    atomic_store(&s->word, initial << 1);
    atomic_store(&s->spin_ns, IK__SPIN_INIT_NS);
    atomic_store_explicit((_Atomic uint32_t *)&s->magic, IK__SEM_MAGIC, memory_order_release);
    return 0;
}

int ik_sem_init(ik_sem *s, unsigned initial, unsigned flags)
{
    if (s == NULL || (flags & ~IK_SEM_UNDO))
        return IK_EINVAL;
    return sem_setup(S(s), initial, flags, NULL);
}

int ik_sem_destroy(ik_sem *s)
{
    if (!sem_ok(S(s)) || (S(s)->flags & IK__SYNC_NAMED))
        return IK_EINVAL;
    /* Sleepers are woken (they re-register) and counted. */
    if ((atomic_load(&S(s)->word) & IK__SEM_SLEEPERS) &&
        ik__futex_clear_wake_all((uint32_t *)&S(s)->word, IK__SEM_SLEEPERS, true) > 0)
        return IK_EBUSY;
    if (S(s)->flags & IK__SYNC_UNDO)
        pthread_mutex_destroy(&S(s)->guard);
    S(s)->magic = 0;
    return 0;
}

struct sem_arg {
    unsigned initial, flags;
    const char *name;
};

static int named_init(void *user, size_t size, void *arg)
{
    struct sem_arg *a = arg;
    return sem_setup(user, a->initial, a->flags, a->name);
}

static int named_check(void *obj)
{
    struct ik__sem *s = obj;
    if (s->magic != IK__SEM_MAGIC || s->version != IK__SYNC_VERSION ||
        !(s->flags & IK__SYNC_NAMED) || (s->flags & ~(IK__SYNC_NAMED | IK__SYNC_UNDO)) ||
        memchr(s->name, '\0', sizeof(s->name)) == NULL ||
        ((s->flags & IK__SYNC_UNDO) && !ik__pmutex_kind_ok(&s->guard, false)))
        return IK_EPROTO;
    return 0;
}

int ik_sem_open_ex(ik_sem **out, const char *name, unsigned initial, unsigned flags,
                   const ik_perm *perm)
{
    if (flags & ~(IK_CREATE | IK_EXCL | IK_SEM_UNDO))
        return IK_EINVAL;
    if (initial > IK_SEM_VALUE_MAX)
        return IK_EINVAL;
    struct sem_arg a = {initial, flags & IK_SEM_UNDO, name};
    return ik__sync_open((void **)out, name, IK__KIND_SEM, sizeof(ik_sem), flags, perm, named_init,
                         &a, named_check);
}

int ik_sem_open(ik_sem **out, const char *name, unsigned initial, unsigned flags)
{
    return ik_sem_open_ex(out, name, initial, flags, NULL);
}

void ik_sem_close(ik_sem *s)
{
    if (s != NULL && (S(s)->flags & IK__SYNC_NAMED))
        ik__sync_close(s, sizeof(ik_sem));
}

/* ---- undo mode: everything under the guard ---- */

static void intent_begin(struct ik__sem *s, int slot)
{
    s->intent.slot = slot;
    s->intent.old = s->h[slot];
    s->intent.old_value = units(s);
    __atomic_store_n(&s->intent.valid, 1, __ATOMIC_SEQ_CST);
}

static void intent_end(struct ik__sem *s)
{
    __atomic_store_n(&s->intent.valid, 0, __ATOMIC_SEQ_CST);
}

static int undo_lock(struct ik__sem *s, uint64_t deadline)
{
    int rc = ik__guard_lock_until(&s->guard, deadline);
    if (rc == 1) {
        /* The last owner died mid-update: roll its update back. */
        if (s->intent.valid && s->intent.slot >= 0 && s->intent.slot < IK_SEM_UNDO_HOLDERS) {
            s->h[s->intent.slot] = s->intent.old;
            set_units(s, s->intent.old_value);
        }
        intent_end(s);
        rc = 0;
    }
    return rc;
}

/* Give back the units of dead holders. Returns the units given back. */
static unsigned reap(struct ik__sem *s)
{
    unsigned back = 0;
    for (int i = 0; i < IK_SEM_UNDO_HOLDERS; i++) {
        struct ik__sem_holder *h = &s->h[i];
        if (h->pid == 0 || ik__proc_alive(h->pid, h->start))
            continue;
        intent_begin(s, i);
        uint64_t nv = (uint64_t)units(s) + h->units;
        set_units(s, nv > IK_SEM_VALUE_MAX ? IK_SEM_VALUE_MAX : (uint32_t)nv);
        back += h->units;
        memset(h, 0, sizeof(*h));
        intent_end(s);
    }
    return back;
}

static int find_slot(struct ik__sem *s, int pid, uint64_t start, bool alloc)
{
    for (int i = 0; i < IK_SEM_UNDO_HOLDERS; i++) {
        if (s->h[i].pid == pid && s->h[i].start == start)
            return i;
    }
    if (!alloc)
        return -1;
    for (int i = 0; i < IK_SEM_UNDO_HOLDERS; i++) {
        if (s->h[i].units == 0)
            return i;
    }
    return -1;
}

static int undo_take(struct ik__sem *s, uint64_t deadline)
{
    int rc = undo_lock(s, deadline);
    if (rc != 0)
        return rc;
    if (units(s) == 0) {
        pthread_mutex_unlock(&s->guard);
        return IK_EAGAIN;
    }
    int pid = ik__sync_pid();
    uint64_t start = ik__sync_start();
    int slot = find_slot(s, pid, start, true);
    if (slot < 0) {
        unsigned back = reap(s);
        slot = find_slot(s, pid, start, true);
        wake_sleepers(s, back);
    }
    if (slot < 0) {
        pthread_mutex_unlock(&s->guard);
        return IK_ENOSPC;
    }
    intent_begin(s, slot);
    atomic_fetch_sub(&s->word, IK__SEM_ONE);
    s->h[slot].pid = pid;
    s->h[slot].start = start;
    s->h[slot].units++;
    intent_end(s);
    pthread_mutex_unlock(&s->guard);
    return 0;
}

static int undo_post(struct ik__sem *s)
{
    int rc = undo_lock(s, UINT64_MAX);
    if (rc != 0)
        return rc;
    if (units(s) >= IK_SEM_VALUE_MAX) {
        pthread_mutex_unlock(&s->guard);
        return IK_EOVERFLOW;
    }
    int slot = find_slot(s, ik__sync_pid(), ik__sync_start(), false);
    if (slot >= 0 && s->h[slot].units > 0) {
        intent_begin(s, slot);
        s->h[slot].units--;
        atomic_fetch_add(&s->word, IK__SEM_ONE);
        intent_end(s);
    } else {
        atomic_fetch_add(&s->word, IK__SEM_ONE);
    }
    pthread_mutex_unlock(&s->guard);
    wake_sleepers(s, 1);
    return 0;
}

static void undo_reap(struct ik__sem *s, uint64_t deadline)
{
    if (undo_lock(s, deadline) != 0)
        return;
    unsigned back = reap(s);
    pthread_mutex_unlock(&s->guard);
    wake_sleepers(s, back);
}

/* ---- both modes ---- */

static inline int take(struct ik__sem *s, uint64_t deadline)
{
    if (s->flags & IK__SYNC_UNDO)
        return undo_take(s, deadline);
    uint32_t w = atomic_load_explicit(&s->word, memory_order_relaxed);
    while (ik__sem_units(w) > 0) {
        if (atomic_compare_exchange_weak_explicit(&s->word, &w, w - IK__SEM_ONE,
                                                  memory_order_acquire, memory_order_relaxed))
            return 0;
    }
    return IK_EAGAIN;
}

int ik_sem_post(ik_sem *ss)
{
    struct ik__sem *s = S(ss);
    if (!sem_ok(s))
        return IK_EINVAL;
    if (s->flags & IK__SYNC_UNDO)
        return undo_post(s);
    uint32_t w = atomic_load_explicit(&s->word, memory_order_relaxed);
    for (;;) {
        if (ik__sem_units(w) >= IK_SEM_VALUE_MAX)
            return IK_EOVERFLOW;
        /* Add + wake in one step, see top. The kernel's add is unchecked:
         * only where posters that saw room (at most one per thread, and a
         * task count stays below 2^22) cannot carry it past the maximum. */
        if ((w & IK__SEM_SLEEPERS) && ik__sem_units(w) < IK_SEM_VALUE_MAX - (1u << 22)) {
            int woken = ik__futex_add_wake((uint32_t *)&s->word, IK__SEM_ONE, 1, true);
            if (woken < 0)
                return woken;
            if (woken == 0) /* stale flag: clear it (waking any late sleeper) */
                (void)ik__futex_clear_wake_all((uint32_t *)&s->word, IK__SEM_SLEEPERS, true);
            return 0;
        }
        if (atomic_compare_exchange_weak_explicit(&s->word, &w, w + IK__SEM_ONE,
                                                  memory_order_seq_cst, memory_order_relaxed)) {
            if (w & IK__SEM_SLEEPERS) /* near the maximum: add, then wake */
                wake_sleepers(s, 1);
            return 0;
        }
    }
}

/* Single holder process of an empty semaphore, for the wait-for graph. */
static void sem_holder(void *obj, int *tid, int *pid)
{
    struct ik__sem *s = obj;
    *tid = 0;
    *pid = 0;
    if (units(s) != 0)
        return;
    int n = 0, who = 0;
    for (int i = 0; i < IK_SEM_UNDO_HOLDERS; i++) {
        if (s->h[i].units > 0) {
            n++;
            who = s->h[i].pid;
        }
    }
    if (n == 1)
        *pid = who;
}

static int sem_wait(struct ik__sem *s, uint64_t deadline)
{
    if (!sem_ok(s))
        return IK_EINVAL;
    int rc = take(s, deadline);
    if (__builtin_expect(rc != IK_EAGAIN, 1))
        return rc;
    bool undo = (s->flags & IK__SYNC_UNDO) != 0;
    bool detect = undo && (s->flags & IK__SYNC_NAMED);
    if (undo) { /* a dead holder's units may be all there is */
        undo_reap(s, deadline);
        if ((rc = take(s, deadline)) != IK_EAGAIN)
            return rc;
    }
    if (deadline == 0)
        return IK_EAGAIN;
    struct ik__spin sp;
    if (ik__spin_wait(&sp, &s->word, ~IK__SEM_SLEEPERS, &s->spin_ns) &&
        (rc = take(s, deadline)) != IK_EAGAIN)
        return rc;
    bool slept = false;
    struct ik__dl_wait w = IK__DL_WAIT_INIT;
    for (;;) {
        if (deadline != UINT64_MAX && ik__now_ns() >= deadline) {
            rc = IK_ETIMEDOUT;
            break;
        }
        /* Sliced in both modes. Undo: a dead holder's units come back only
         * when someone reaps them. Both: a post wakes one sleeper, and if
         * that one is killed before it takes the unit, no one else is woken
         * for it; the slice bounds how long a sleeper can lie beside it. */
        uint64_t until = ik__slice_end(deadline);
        uint32_t v = atomic_load(&s->word);
        if (ik__sem_units(v) == 0) {
            if (!(v & IK__SEM_SLEEPERS) &&
                !atomic_compare_exchange_strong(&s->word, &v, v | IK__SEM_SLEEPERS))
                continue;
            (void)ik__futex_wait((uint32_t *)&s->word, v | IK__SEM_SLEEPERS, until, true);
            slept = true;
        }
        if ((rc = take(s, deadline)) != IK_EAGAIN)
            break;
        if (undo && until < deadline && ik__now_ns() >= until) {
            undo_reap(s, deadline);
            if ((rc = take(s, deadline)) != IK_EAGAIN)
                break;
            if (detect && (rc = ik__dl_check(&w, IK__KIND_SEM, s->name, sem_holder, s)) != 0)
                return rc;
        }
    }
    if (rc == 0 && slept)
        ik__spin_learn(&sp, &s->spin_ns);
    ik__dl_end(&w);
    return rc;
}

int ik_sem_wait(ik_sem *s)
{
    return sem_wait(S(s), UINT64_MAX);
}

int ik_sem_trywait(ik_sem *s)
{
    return sem_wait(S(s), 0);
}

int ik_sem_timedwait(ik_sem *s, int timeout_ms)
{
    if (timeout_ms == 0) {
        int rc = sem_wait(S(s), 0);
        return rc == IK_EAGAIN ? IK_ETIMEDOUT : rc;
    }
    return sem_wait(S(s), ik__deadline(timeout_ms));
}

int ik_sem_value(ik_sem *ss)
{
    struct ik__sem *s = S(ss);
    if (!sem_ok(s))
        return IK_EINVAL;
    if (s->flags & IK__SYNC_UNDO)
        undo_reap(s, UINT64_MAX);
    return (int)units(s);
}
