/* Synchronization internals: shared layouts, named-object helpers, the
 * deadlock registry. Not installed. See docs/sync.md. */
#ifndef IK_SYNC_INT_H
#define IK_SYNC_INT_H

#include "../core/internal.h"

#include <pthread.h>
#include <stdatomic.h>

#define IK__SYNC_VERSION 2
/* Objects' flags word (shared). */
#define IK__SYNC_NAMED   0x1u /* lives at offset 0 of a named segment */
#define IK__SYNC_UNDO    0x2u
#define IK__SYNC_MAN     0x4u

#define IK__COND_MAGIC    0x44434b49u /* "IKCD" */
#define IK__SEM_MAGIC     0x4d534b49u /* "IKSM" */
#define IK__EVENT_MAGIC   0x56454b49u /* "IKEV" */
#define IK__BARRIER_MAGIC 0x52424b49u /* "IKBR" */
#define IK__RWLOCK_MAGIC  0x57524b49u /* "IKRW" */

/* Blocked waiters wake up at least this often to re-check liveness, reap
 * dead holders and run deadlock detection. */
#define IK__SLICE_NS (20u * 1000000u)

/* Robust futex word bits (linux/futex.h) and glibc's __owner cookies
 * (nptl/pthreadP.h): ik_mutex reads them, `ipckit locks` shows them. */
#define IK__FUTEX_WAITERS     0x80000000u
#define IK__FUTEX_OWNER_DIED  0x40000000u
#define IK__FUTEX_TID_MASK    0x3fffffffu
#define IK__PM_INCONSISTENT   0x7fffffff /* held after EOWNERDEAD, not yet repaired */
#define IK__PM_NOTRECOVERABLE 0x7ffffffe

/* ---- shared layouts --------------------------------------------------- */

struct ik__mutex {
    pthread_mutex_t pm; /* robust, pshared, error-checking */
    uint32_t magic;
    uint16_t version;
    uint16_t flags;
    char name[IK_NAME_MAX + 1]; /* named mutexes: for the wait-for graph */
};
_Static_assert(sizeof(struct ik__mutex) <= IK_MUTEX_SIZE, "ik_mutex layout");
/* The inline fast paths in sync.h read this head: it is ABI. */
_Static_assert(offsetof(struct ik__mutex, pm) == offsetof(struct ik__mutex_head, pm) &&
                   offsetof(struct ik__mutex, magic) == offsetof(struct ik__mutex_head, magic) &&
                   offsetof(struct ik__mutex, flags) == offsetof(struct ik__mutex_head, flags) &&
                   IK__SYNC_NAMED == IK__MUTEX_FLAG_NAMED,
               "ik_mutex head layout");

struct ik__sem_holder {
    int32_t pid;
    uint32_t units;
    uint64_t start;
};

/* ik_sem futex word: value << 1 | SLEEPERS. SLEEPERS is set by a waiter
 * before it sleeps and only cleared together with a wake-up of everyone, so
 * while anyone sleeps it is set and every post wakes through the kernel. */
#define IK__SEM_SLEEPERS 1u
#define IK__SEM_ONE      2u
static inline uint32_t ik__sem_units(uint32_t word)
{
    return word >> 1;
}

struct ik__sem {
    _Atomic uint32_t word;    /* futex word, see above */
    _Atomic uint32_t spin_ns; /* adaptive spin budget (ik__spin_*) */
    uint32_t magic;
    uint16_t version;
    uint16_t flags;
    pthread_mutex_t guard; /* undo mode: guards value changes + holders */
    struct {               /* undo mode: roll-back record of the update in progress */
        uint32_t valid;
        int32_t slot;
        uint32_t old_value;
        uint32_t pad;
        struct ik__sem_holder old;
    } intent;
    char name[IK_NAME_MAX + 1];
    struct ik__sem_holder h[IK_SEM_UNDO_HOLDERS];
};
_Static_assert(sizeof(struct ik__sem) <= IK_SEM_SIZE, "ik_sem layout");

struct ik__barrier_part {
    int32_t pid;
    uint32_t arrived_gen; /* generation + 1 it arrived in, 0 none */
    uint64_t start;
};

struct ik__barrier {
    pthread_mutex_t guard;
    _Atomic uint32_t gen;    /* futex word: the round; never UINT32_MAX */
    _Atomic uint32_t broken; /* 0, or the broken round's gen + 1 */
    uint32_t magic;
    uint16_t version;
    uint16_t flags;
    uint32_t n;
    uint32_t arrived;
    struct ik__barrier_part part[IK_BARRIER_MAX];
};
_Static_assert(sizeof(struct ik__barrier) <= IK_BARRIER_SIZE, "ik_barrier layout");

#define IK__RW_WRITERS_WAITING 6

enum { RW_OK = 0, RW_DEAD = 1, RW_REPAIR = 2, RW_LOST = 3 };

struct ik__rw_reader {
    int32_t pid;
    uint32_t count;
    uint64_t start;
};

struct ik__rwlock {
    pthread_mutex_t guard;
    _Atomic uint32_t seq; /* futex word: bumped on every release */
    _Atomic uint32_t waiters;
    uint32_t magic;
    uint16_t version;
    uint16_t flags;
    uint32_t state; /* RW_* */
    uint32_t pad;
    int32_t w_tid; /* writer thread, 0 none */
    int32_t w_pid;
    uint64_t w_start;
    struct ik__rw_reader rd[IK_RWLOCK_READERS];
    /* Processes with writers waiting (writer preference). A table, not a
     * counter, so a writer killed while waiting is reaped, not counted
     * forever (which would block readers for good). */
    struct ik__rw_reader ww[IK__RW_WRITERS_WAITING];
};
_Static_assert(sizeof(struct ik__rwlock) <= IK_RWLOCK_SIZE, "ik_rwlock layout");

/* ---- process identity ------------------------------------------------- */

/* Cached pid / start time / tid of the caller (reset in fork children). */
int ik__sync_pid(void);
uint64_t ik__sync_start(void);
int ik__sync_tid(void);
/* Thread-group id of a thread (0 if gone). */
int ik__tid_pid(int tid);
/* Map a pthread error number to IK_E*. */
int ik__pt_err(int e);
/* Lock a robust guard mutex; a dead owner's lock is made consistent and
 * reported as 1 (the caller repairs), 0 otherwise, or a negative IK_E*. */
int ik__guard_lock(pthread_mutex_t *g);
int ik__guard_init(pthread_mutex_t *g);
/* Initialise a robust, process-shared pthread mutex (error-checking or not). */
int ik__pmutex_init(pthread_mutex_t *m, bool errorcheck);
/* Does a pthread mutex found in a named object carry the kind word our
 * initialiser writes? A foreign kind (garbage from a crash or a hostile
 * same-uid peer) could steer glibc into paths that crash (lock elision), so
 * such objects are refused with IK_EPROTO at open. */
bool ik__pmutex_kind_ok(const pthread_mutex_t *m, bool errorcheck);
/* As ik__guard_lock, giving up with IK_ETIMEDOUT at a deadline (0 and
 * UINT64_MAX: wait; guard sections are short), so a process stopped inside
 * a guard section cannot hold a timed wait past its deadline. */
int ik__guard_lock_until(pthread_mutex_t *g, uint64_t deadline);
/* pthread_mutex_clocklock in IK__SLICE_NS slices up to deadline (UINT64_MAX:
 * none): a woken waiter killed before it locks swallows the unlock's only
 * wake-up. Returns the pthread error number. */
int ik__robust_lock_sliced(pthread_mutex_t *m, uint64_t deadline);
/* min(deadline, now + IK__SLICE_NS). */
uint64_t ik__slice_end(uint64_t deadline);

/* ---- adaptive spinning (util.c) --------------------------------------- */

/* Before sleeping, a waiter polls the futex word for a while: a partner on
 * another CPU usually answers well before a sleep/wake-up round trip, and
 * one on the same CPU gets it through sched_yield. The budget (ns) lives in
 * the object and adapts: a wait that ended within IK__SPIN_MAX_NS sets it to
 * twice that wait, a longer one halves it, down to IK__SPIN_MIN_NS. */
#define IK__SPIN_MIN_NS  2000u
#define IK__SPIN_MAX_NS  60000u
#define IK__SPIN_INIT_NS 20000u

struct ik__spin {
    uint64_t t0;
};

/* Poll until (*word & mask) != 0 (true) or the budget runs out (false). */
bool ik__spin_wait(struct ik__spin *sp, const _Atomic uint32_t *word, uint32_t mask,
                   _Atomic uint32_t *budget_ns);
/* After a wait that slept and then succeeded: adapt the budget. */
void ik__spin_learn(const struct ik__spin *sp, _Atomic uint32_t *budget_ns);

/* ---- named objects (named.c) ------------------------------------------ */

typedef int (*ik__sync_check_fn)(void *obj);
/* Create (IK_CREATE/IK_EXCL) or open the named object of `kind` whose user
 * area is exactly `size` bytes; `check` validates an existing one. */
int ik__sync_open(void **out, const char *name, unsigned kind, size_t size, unsigned flags,
                  const ik_perm *perm, ik__seg_init_fn init, void *arg, ik__sync_check_fn check);
/* Unmap a named object (obj is at offset 64 of a page-aligned mapping). */
void ik__sync_close(void *obj, size_t size);

/* ---- deadlock detection (deadlock.c) ---------------------------------- */

/* Observes, under the registry lock, who holds the awaited lock: a thread
 * (*tid) or a single process (*pid); 0 for unknown / several. */
typedef void (*ik__dl_holder_fn)(void *obj, int *tid, int *pid);

struct ik__dl_wait {
    int slot; /* registry entry, -1 none */
    void *reg;
};

#define IK__DL_WAIT_INIT                                                                           \
    {                                                                                              \
        .slot = -1, .reg = NULL                                                                    \
    }

/* Record (or refresh) "this thread waits for `name`, held by ..." and look
 * for a confirmed cycle through it. Returns 0 (keep waiting) or IK_EDEADLK
 * (the entry is removed: this waiter is the one that backs off). */
int ik__dl_check(struct ik__dl_wait *w, unsigned kind, const char *name, ik__dl_holder_fn holder,
                 void *obj);
/* Remove the wait entry, if any. */
void ik__dl_end(struct ik__dl_wait *w);

/* Registry layout, shared with the CLI (`ipckit locks`). */
#define IK__SYNCREG_MAGIC  0x47524b49u /* "IKRG" */
#define IK__SYNCREG_SLOTS  256
#define IK__SYNCREG_PREFIX "_ik-syncreg-"

struct ik__dl_entry {
    int32_t used;
    int32_t pid;
    uint64_t start;
    int32_t tid;
    int32_t holder_tid;
    int32_t holder_pid;
    uint16_t kind;
    /* Holder process (holder_tid 0): its thread count, read before the
     * observation; 0 unknown (no edge), 65535 at least that many. */
    uint16_t holder_threads;
    uint64_t start_seq; /* registry seq when the wait began */
    uint64_t obs_seq;   /* registry seq of the last holder observation */
    char name[IK_NAME_MAX + 1];
};

struct ik__syncreg {
    uint32_t magic;
    uint16_t version;
    uint16_t nslots;
    uint64_t seq;
    pthread_mutex_t lock;
    struct ik__dl_entry e[IK__SYNCREG_SLOTS];
};

/* Registry name for the calling user. */
void ik__syncreg_name(char *buf, size_t cap);
/* Find the cycle through entry `start` in a snapshot (CLI use: no freshness
 * rule, liveness checked). Fills path[] with entry indexes, returns its
 * length, 0 if none. */
int ik__dl_find_cycle(const struct ik__syncreg *reg, int start, int *path, int cap,
                      bool require_fresh);

#endif
