/* ipckit: synchronization between processes — robust mutex, condition
 * variable, semaphores with undo, events, barriers, rwlocks, and deadlock
 * detection for named locks. See docs/sync.md. */
#ifndef IPCKIT_SYNC_H
#define IPCKIT_SYNC_H

#include "common.h"

#include <pthread.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Every object here works between processes. It is either placed inside any
 * shared memory (ik_*_init on a fixed-size opaque struct, like
 * pthread_mutex_t), or named (ik_*_open): then it lives in its own ipckit
 * segment /dev/shm/ik.<name>, is created 0600 with O_EXCL and published fully
 * initialised, is opened only if its owner is trusted (IK_EPERM_OWNER) and its
 * layout validates (IK_EPROTO for a bad magic or version, IK_EKIND for an
 * object of another kind), shows in `ipckit ls` and is collected by
 * `ipckit gc`. A named object is used through the pointer ik_*_open returns
 * and released with ik_*_close (the object itself stays until
 * ik_sync_unlink).
 *
 * Timeouts: timeout_ms is relative, measured on CLOCK_MONOTONIC; -1 waits
 * forever and 0 only tries. IK_ETIMEDOUT is never returned before the
 * deadline. EINTR is handled inside.
 *
 * Thread-safety: every operation may be called from any thread of any process
 * that maps the object, except init/destroy/close, which must not race with
 * other use of the same object.
 */

/* Flags for ik_*_open (named objects). */
/* IK_CREATE and IK_EXCL: see common.h. */
/* ik_sem: units taken by a process that dies are given back. */
#define IK_SEM_UNDO     (1u << 8)
/* ik_event: stays set until ik_event_reset (default: auto-reset). */
#define IK_EVENT_MANUAL (1u << 9)

/* Sizes of the in-place objects (ABI: they never change within a major). */
#define IK_MUTEX_SIZE   128
#define IK_COND_SIZE    64
#define IK_SEM_SIZE     512
#define IK_EVENT_SIZE   64
#define IK_BARRIER_SIZE 512
#define IK_RWLOCK_SIZE  512

typedef struct ik_mutex {
    unsigned char opaque[IK_MUTEX_SIZE] __attribute__((aligned(16)));
} ik_mutex;
typedef struct ik_cond {
    unsigned char opaque[IK_COND_SIZE] __attribute__((aligned(16)));
} ik_cond;
typedef struct ik_sem {
    unsigned char opaque[IK_SEM_SIZE] __attribute__((aligned(16)));
} ik_sem;
typedef struct ik_event {
    unsigned char opaque[IK_EVENT_SIZE] __attribute__((aligned(16)));
} ik_event;
typedef struct ik_barrier {
    unsigned char opaque[IK_BARRIER_SIZE] __attribute__((aligned(16)));
} ik_barrier;
typedef struct ik_rwlock {
    unsigned char opaque[IK_RWLOCK_SIZE] __attribute__((aligned(16)));
} ik_rwlock;

/* Remove the named sync object `name` (any sync kind). Open handles stay
 * valid until closed. Errors: IK_EBADNAME, IK_ENOENT, IK_EPERM_OWNER,
 * IK_EKIND (not a sync object), IK_EPROTO. */
IK_EXPORT IK_NODISCARD int ik_sync_unlink(const char *name);

/* ---- ik_mutex ------------------------------------------------------------
 * Robust, process-shared, error-checking. When the owner dies holding it, the
 * next locker gets IK_EOWNERDEAD *and holds the lock*: it repairs the state
 * and calls ik_mutex_consistent() before unlocking. An unlock without that
 * call makes the mutex unrecoverable: every later lock returns
 * IK_ENOTRECOVERABLE. Relocking by the owning thread returns IK_EDEADLK.
 * Named mutexes take part in deadlock detection: a lock that would close a
 * cycle of waiting threads returns IK_EDEADLK (the lock is not held).
 */

/* Initialise *m in place (memory shared by the processes). flags: 0.
 * Errors: IK_EINVAL (unknown flags). Not thread-safe with other use of *m. */
IK_EXPORT IK_NODISCARD int ik_mutex_init(ik_mutex *m, unsigned flags);
/* Destroy an in-place mutex that no one holds. Errors: IK_EINVAL, IK_EBUSY. */
IK_EXPORT IK_NODISCARD int ik_mutex_destroy(ik_mutex *m);
/* Open (IK_CREATE: create if missing; IK_EXCL) the named mutex; *out points
 * into the mapping until ik_mutex_close. Errors: IK_EBADNAME, IK_EINVAL,
 * IK_ENOENT, IK_EEXIST, IK_EPERM_OWNER, IK_EPROTO, IK_EKIND, IK_ENOMEM. */
IK_EXPORT IK_NODISCARD int ik_mutex_open(ik_mutex **out, const char *name, unsigned flags);
/* As ik_mutex_open with explicit permissions (mode, trust); perm may be NULL. */
IK_EXPORT IK_NODISCARD int ik_mutex_open_ex(ik_mutex **out, const char *name, unsigned flags,
                                            const ik_perm *perm);
/* Unmap a named mutex (does not unlock it). NULL is ignored. */
IK_EXPORT void ik_mutex_close(ik_mutex *m);
/* Lock. Returns 0, IK_EOWNERDEAD (held; repair then ik_mutex_consistent),
 * IK_ENOTRECOVERABLE, IK_EDEADLK, IK_EINVAL (not a mutex). */
IK_EXPORT IK_NODISCARD int ik_mutex_lock(ik_mutex *m);
/* As ik_mutex_lock without waiting: IK_EBUSY if held by someone else. */
IK_EXPORT IK_NODISCARD int ik_mutex_trylock(ik_mutex *m);
/* As ik_mutex_lock, waiting at most timeout_ms: IK_ETIMEDOUT. */
IK_EXPORT IK_NODISCARD int ik_mutex_timedlock(ik_mutex *m, int timeout_ms);
/* Unlock. Errors: IK_EPERM (not the owner), IK_EINVAL. */
IK_EXPORT IK_NODISCARD int ik_mutex_unlock(ik_mutex *m);
/* Mark the state protected by a mutex obtained with IK_EOWNERDEAD as
 * repaired. Errors: IK_EINVAL (not in that state or not the owner). */
IK_EXPORT IK_NODISCARD int ik_mutex_consistent(ik_mutex *m);

/* Inline fast paths. ik_mutex_lock and ik_mutex_unlock are also macros that
 * take the uncontended path inline (a magic check, then a trylock or unlock
 * of the robust pthread mutex inside), so they cost what a bare
 * pthread_mutex_lock costs; contention (sliced sleeps), named
 * mutexes and every error go to the out-of-line functions. The symbols stay
 * for (ik_mutex_lock)(m), function pointers and other languages. Define
 * IK_NO_INLINE to use only the symbols. The head layout below is ABI for
 * this major version (the library static-asserts it). */
struct __attribute__((may_alias)) ik__mutex_head {
    pthread_mutex_t pm;
    uint32_t magic;
    uint16_t version;
    uint16_t flags;
};
#define IK__MUTEX_MAGIC      0x584d4b49u /* "IKMX" */
#define IK__MUTEX_FLAG_NAMED 0x1u

static inline int ik__mutex_err(int e)
{
    return e == EOWNERDEAD        ? IK_EOWNERDEAD
           : e == ENOTRECOVERABLE ? IK_ENOTRECOVERABLE
           : e == EDEADLK         ? IK_EDEADLK
                                  : -e;
}

#if !defined(IK_BUILDING) && !defined(IK_NO_INLINE)
IK_NODISCARD static inline int ik__mutex_lock_inline(ik_mutex *m)
{
    struct ik__mutex_head *h = (struct ik__mutex_head *)(void *)m;
    if (__builtin_expect(
            m == NULL || h->magic != IK__MUTEX_MAGIC || (h->flags & IK__MUTEX_FLAG_NAMED) != 0, 0))
        return (ik_mutex_lock)(m);
    /* A trylock: blocking (in slices) and the other errors are out of line;
     * an owner-dead acquire holds the lock already. */
    int e = pthread_mutex_trylock(&h->pm);
    if (__builtin_expect(e == 0, 1))
        return 0;
    return e == EOWNERDEAD ? IK_EOWNERDEAD : (ik_mutex_lock)(m);
}

IK_NODISCARD static inline int ik__mutex_unlock_inline(ik_mutex *m)
{
    struct ik__mutex_head *h = (struct ik__mutex_head *)(void *)m;
    if (__builtin_expect(m == NULL || h->magic != IK__MUTEX_MAGIC, 0))
        return (ik_mutex_unlock)(m);
    int e = pthread_mutex_unlock(&h->pm);
    return __builtin_expect(e == 0, 1) ? 0 : ik__mutex_err(e);
}
#define ik_mutex_lock(m)   ik__mutex_lock_inline(m)
#define ik_mutex_unlock(m) ik__mutex_unlock_inline(m)
#endif

/* ---- ik_cond --------------------------------------------------------------
 * Condition variable paired with an ik_mutex. Wakeups may be spurious: wait
 * in a loop on the predicate. wait/timedwait return with the mutex held,
 * also on IK_ETIMEDOUT and IK_EOWNERDEAD (the mutex owner died: repair as for
 * ik_mutex_lock); on IK_ENOTRECOVERABLE, IK_EDEADLK or IK_EINVAL it is not
 * held. */
/* Initialise *c in place. flags: 0. Errors: IK_EINVAL. */
IK_EXPORT IK_NODISCARD int ik_cond_init(ik_cond *c, unsigned flags);
/* Open or create (IK_CREATE, IK_EXCL) a named condition variable; *out is
 * valid until ik_cond_close. Errors as ik_mutex_open. */
IK_EXPORT IK_NODISCARD int ik_cond_open(ik_cond **out, const char *name, unsigned flags);
/* Unmap a named condition variable. NULL is ignored. */
IK_EXPORT void ik_cond_close(ik_cond *c);
/* Atomically unlock m (held by the caller) and wait for a signal, then
 * relock. Returns 0, IK_EOWNERDEAD (held), IK_EPERM (m not held: no wait),
 * IK_ENOTRECOVERABLE, IK_EDEADLK, IK_EINVAL. */
IK_EXPORT IK_NODISCARD int ik_cond_wait(ik_cond *c, ik_mutex *m);
/* As ik_cond_wait, up to timeout_ms: IK_ETIMEDOUT (with m held again). */
IK_EXPORT IK_NODISCARD int ik_cond_timedwait(ik_cond *c, ik_mutex *m, int timeout_ms);
/* Wake one / all waiters. Errors: IK_EINVAL. */
IK_EXPORT IK_NODISCARD int ik_cond_signal(ik_cond *c);
IK_EXPORT IK_NODISCARD int ik_cond_broadcast(ik_cond *c);

/* ---- ik_sem ---------------------------------------------------------------
 * Counting semaphore on a futex. With IK_SEM_UNDO each process's taken units
 * are recorded (pid, start time, units; up to IK_SEM_UNDO_HOLDERS processes
 * at once); the units of a process that died are given back before any
 * ik_sem_value answer and within one wait slice (about 20 ms) for blocked
 * waiters. A post by a process that holds units returns one of its own.
 * Named undo semaphores take part in deadlock detection (IK_EDEADLK). */
#define IK_SEM_UNDO_HOLDERS 20
#define IK_SEM_VALUE_MAX    0x3fffffffu
/* Initialise *s in place with `initial` units. flags: 0 or IK_SEM_UNDO.
 * Errors: IK_EINVAL (flags, initial > IK_SEM_VALUE_MAX). */
IK_EXPORT IK_NODISCARD int ik_sem_init(ik_sem *s, unsigned initial, unsigned flags);
/* Destroy an in-place semaphore nobody waits on. Errors: IK_EINVAL, IK_EBUSY. */
IK_EXPORT IK_NODISCARD int ik_sem_destroy(ik_sem *s);
/* Open or create the named semaphore. flags: IK_CREATE, IK_EXCL, IK_SEM_UNDO
 * (initial and IK_SEM_UNDO apply only when it is created). *out is valid
 * until ik_sem_close. Errors as ik_mutex_open. */
IK_EXPORT IK_NODISCARD int ik_sem_open(ik_sem **out, const char *name, unsigned initial,
                                       unsigned flags);
/* As ik_sem_open with explicit permissions; perm may be NULL. */
IK_EXPORT IK_NODISCARD int ik_sem_open_ex(ik_sem **out, const char *name, unsigned initial,
                                          unsigned flags, const ik_perm *perm);
/* Unmap a named semaphore (units held stay held). NULL is ignored. */
IK_EXPORT void ik_sem_close(ik_sem *s);
/* Add one unit. Errors: IK_EOVERFLOW, IK_EINVAL. */
IK_EXPORT IK_NODISCARD int ik_sem_post(ik_sem *s);
/* Take one unit, waiting while there is none. Errors: IK_EDEADLK, IK_ENOSPC
 * (undo table full), IK_EINVAL. */
IK_EXPORT IK_NODISCARD int ik_sem_wait(ik_sem *s);
/* Without waiting: IK_EAGAIN if none. */
IK_EXPORT IK_NODISCARD int ik_sem_trywait(ik_sem *s);
/* As ik_sem_wait, up to timeout_ms: IK_ETIMEDOUT. */
IK_EXPORT IK_NODISCARD int ik_sem_timedwait(ik_sem *s, int timeout_ms);
/* Current value (>= 0) after giving back units of dead holders. */
IK_EXPORT IK_NODISCARD int ik_sem_value(ik_sem *s);

/* ---- ik_event -------------------------------------------------------------
 * A cross-process notification. Auto-reset (default): ik_event_set releases
 * one waiter (or the next one to wait) and clears. IK_EVENT_MANUAL: stays set
 * and releases every waiter until ik_event_reset. */
/* Initialise *e (clear) in place. flags: 0 or IK_EVENT_MANUAL.
 * Errors: IK_EINVAL. */
IK_EXPORT IK_NODISCARD int ik_event_init(ik_event *e, unsigned flags);
/* Open or create (IK_CREATE, IK_EXCL; IK_EVENT_MANUAL at creation) a named
 * event; *out is valid until ik_event_close. Errors as ik_mutex_open. */
IK_EXPORT IK_NODISCARD int ik_event_open(ik_event **out, const char *name, unsigned flags);
/* Unmap a named event. NULL is ignored. */
IK_EXPORT void ik_event_close(ik_event *e);
/* Set the event and wake one (auto) or all (manual) waiters. IK_EINVAL. */
IK_EXPORT IK_NODISCARD int ik_event_set(ik_event *e);
/* Clear the event. IK_EINVAL. */
IK_EXPORT IK_NODISCARD int ik_event_reset(ik_event *e);
/* Wait until set (auto-reset: and clear it). IK_EINVAL. */
IK_EXPORT IK_NODISCARD int ik_event_wait(ik_event *e);
/* As ik_event_wait, up to timeout_ms: IK_ETIMEDOUT. */
IK_EXPORT IK_NODISCARD int ik_event_timedwait(ik_event *e, int timeout_ms);

/* ---- ik_barrier -----------------------------------------------------------
 * For n processes (up to IK_BARRIER_MAX). A process becomes a participant
 * when it opens a named barrier, calls ik_barrier_join, or first waits; it
 * stops being one at ik_barrier_close (named) or ik_barrier_leave. Returns 1
 * in exactly one process per round, 0 in the others. If a participant dies
 * before arriving, the barrier is broken: the waiters and every later wait
 * get IK_EPEERDEAD (within about 20 ms). */
#define IK_BARRIER_MAX 24
/* Initialise *b for n (1..IK_BARRIER_MAX) processes. flags: 0.
 * Errors: IK_EINVAL. */
IK_EXPORT IK_NODISCARD int ik_barrier_init(ik_barrier *b, unsigned n, unsigned flags);
/* Open or create (IK_CREATE, IK_EXCL; n used at creation) a named barrier;
 * *out is valid until ik_barrier_close. Errors as ik_mutex_open. */
IK_EXPORT IK_NODISCARD int ik_barrier_open(ik_barrier **out, const char *name, unsigned n,
                                           unsigned flags);
/* Leave (see ik_barrier_leave) and unmap a named barrier. NULL is ignored. */
IK_EXPORT void ik_barrier_close(ik_barrier *b);
/* Register the calling process as a participant before its first wait, so
 * that its death even before arriving breaks the barrier (named barriers do
 * this at open). Idempotent. Errors: IK_EINVAL, IK_ENOSPC (all
 * IK_BARRIER_MAX slots taken). */
IK_EXPORT IK_NODISCARD int ik_barrier_join(ik_barrier *b);
/* Stop being a participant (a clean exit is not a death). Errors: IK_EINVAL,
 * IK_ENOENT (not a participant), IK_EBUSY (a thread of this process is
 * waiting in the current round). */
IK_EXPORT IK_NODISCARD int ik_barrier_leave(ik_barrier *b);
/* Wait for the round. Returns 1 (one process per round) or 0, IK_EPEERDEAD,
 * IK_ENOSPC (more than IK_BARRIER_MAX participants), IK_EBUSY (another thread
 * of this process is waiting), IK_EINVAL. */
IK_EXPORT IK_NODISCARD int ik_barrier_wait(ik_barrier *b);
/* As ik_barrier_wait, up to timeout_ms: IK_ETIMEDOUT (arrival withdrawn). */
IK_EXPORT IK_NODISCARD int ik_barrier_timedwait(ik_barrier *b, int timeout_ms);

/* ---- ik_rwlock ------------------------------------------------------------
 * Robust reader-writer lock (writers preferred). A writer that dies holding it
 * is detected (within about 20 ms) by the next locker, which gets
 * IK_EOWNERDEAD and holds the lock EXCLUSIVELY (also from rdlock): it
 * repairs, calls ik_rwlock_consistent, then unlocks; unlocking without it
 * makes every later call IK_ENOTRECOVERABLE. Read holds of dead processes are
 * dropped. Up to IK_RWLOCK_READERS reading processes at once (IK_EAGAIN). */
#define IK_RWLOCK_READERS 20
/* Initialise *l in place. flags: 0. Errors: IK_EINVAL. */
IK_EXPORT IK_NODISCARD int ik_rwlock_init(ik_rwlock *l, unsigned flags);
/* Open or create (IK_CREATE, IK_EXCL) a named rwlock; *out is valid until
 * ik_rwlock_close. Errors as ik_mutex_open. */
IK_EXPORT IK_NODISCARD int ik_rwlock_open(ik_rwlock **out, const char *name, unsigned flags);
/* Unmap a named rwlock (holds stay). NULL is ignored. */
IK_EXPORT void ik_rwlock_close(ik_rwlock *l);
/* Shared lock. Returns 0, IK_EOWNERDEAD (held exclusively, see above),
 * IK_ENOTRECOVERABLE, IK_EAGAIN (reader table full), IK_EINVAL. */
IK_EXPORT IK_NODISCARD int ik_rwlock_rdlock(ik_rwlock *l);
/* As rdlock without waiting: IK_EBUSY. */
IK_EXPORT IK_NODISCARD int ik_rwlock_tryrdlock(ik_rwlock *l);
/* As rdlock, up to timeout_ms: IK_ETIMEDOUT. */
IK_EXPORT IK_NODISCARD int ik_rwlock_timedrdlock(ik_rwlock *l, int timeout_ms);
/* Exclusive lock. Returns 0, IK_EOWNERDEAD, IK_ENOTRECOVERABLE, IK_EDEADLK
 * (this thread already writes), IK_EINVAL. */
IK_EXPORT IK_NODISCARD int ik_rwlock_wrlock(ik_rwlock *l);
/* As wrlock without waiting: IK_EBUSY. */
IK_EXPORT IK_NODISCARD int ik_rwlock_trywrlock(ik_rwlock *l);
/* As wrlock, up to timeout_ms: IK_ETIMEDOUT. */
IK_EXPORT IK_NODISCARD int ik_rwlock_timedwrlock(ik_rwlock *l, int timeout_ms);
/* Release the write hold of the calling thread, else one read hold of the
 * calling process (IK_EPERM if neither). */
IK_EXPORT IK_NODISCARD int ik_rwlock_unlock(ik_rwlock *l);
/* Mark the state repaired after IK_EOWNERDEAD (IK_EINVAL otherwise). */
IK_EXPORT IK_NODISCARD int ik_rwlock_consistent(ik_rwlock *l);

#ifdef __cplusplus
}
#endif
#endif
