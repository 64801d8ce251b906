/* Cross-process deadlock detection: a wait-for graph in one shared registry
 * segment per user. Only slow paths touch it. See docs/sync.md for the
 * freshness rule that keeps races from reporting false cycles. */
#include "sync_int.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ik__syncreg *g_reg;
static int g_fd = -1;
static int g_pid_opened;
static bool g_disabled;

void ik__syncreg_name(char *buf, size_t cap)
{
    snprintf(buf, cap, IK__SYNCREG_PREFIX "%u", (unsigned)geteuid());
}

static int reg_init(void *user, size_t size, void *arg)
{
    struct ik__syncreg *r = user;
    memset(r, 0, sizeof(*r));
    int rc = ik__guard_init(&r->lock);
    if (rc != 0)
        return rc;
    r->version = IK__SYNC_VERSION;
    r->nslots = IK__SYNCREG_SLOTS;
    r->magic = IK__SYNCREG_MAGIC;
    return 0;
}

/* The registry of this user, opened or created on first use. It is reopened
 * if someone removed it (st_nlink 0). NULL: detection unavailable (e.g. the
 * name is squatted by another user), the locks still work. */
static struct ik__syncreg *reg_get(void)
{
    pthread_mutex_lock(&g_mu);
    if (g_reg != NULL) {
        struct stat st;
        if (g_pid_opened == getpid() && fstat(g_fd, &st) == 0 && st.st_nlink > 0)
            goto out;
        /* Removed (or we are a fork child): drop it; the old mapping is
         * leaked on purpose, another thread may still use it. */
        close(g_fd);
        g_reg = NULL;
        g_fd = -1;
    }
    if (!g_disabled) {
        char name[64];
        ik__syncreg_name(name, sizeof(name));
        struct ik__seg seg;
        int rc = -1;
        for (int i = 0; i < 16 && rc != 0; i++) {
            rc = ik__seg_create(&seg, name, IK__KIND_SYNCREG, sizeof(struct ik__syncreg), 0, NULL,
                                reg_init, NULL);
            if (rc == IK_EEXIST) {
                rc = ik__seg_open(&seg, name, IK__KIND_SYNCREG, 0, NULL);
                if (rc == 0 &&
                    (seg.user_size != sizeof(struct ik__syncreg) ||
                     ((struct ik__syncreg *)seg.user)->magic != IK__SYNCREG_MAGIC ||
                     ((struct ik__syncreg *)seg.user)->nslots != IK__SYNCREG_SLOTS ||
                     !ik__pmutex_kind_ok(&((struct ik__syncreg *)seg.user)->lock, false))) {
                    ik__seg_close(&seg);
                    rc = IK_EPROTO;
                }
            }
            if (rc != 0 && rc != IK_ENOENT && rc != IK_EAGAIN && rc != IK_EEXIST)
                break;
        }
        if (rc == 0) {
            g_reg = seg.user;
            g_fd = seg.fd;
            g_pid_opened = getpid();
        } else if (rc == IK_EPERM_OWNER || rc == IK_EPROTO || rc == IK_EKIND || rc == IK_EUNSAFE ||
                   rc == IK_EACCES) {
            g_disabled = true; /* hostile or corrupt: run without detection */
        }
    }
out:;
    struct ik__syncreg *r = g_reg;
    pthread_mutex_unlock(&g_mu);
    return r;
}

/* Bounded: a process stopped (SIGSTOP, a debugger) or hostile while holding
 * the registry lock must not keep waiters from re-trying their own locks;
 * detection is skipped for that slice instead (IK_ETIMEDOUT). */
static int reg_lock(struct ik__syncreg *r)
{
    uint64_t until = ik__now_ns() + IK__SLICE_NS;
    struct timespec ts = {.tv_sec = (time_t)(until / 1000000000u),
                          .tv_nsec = (long)(until % 1000000000u)};
    int e = pthread_mutex_clocklock(&r->lock, CLOCK_MONOTONIC, &ts);
    if (e == EOWNERDEAD) {
        (void)pthread_mutex_consistent(&r->lock);
    } else if (e != 0) {
        return ik__pt_err(e);
    }
    if (e == EOWNERDEAD) {
        /* A process died inside: its half-written entry is reaped below by
         * liveness; make sure no torn entry survives with used set. */
        for (int i = 0; i < IK__SYNCREG_SLOTS; i++) {
            if (r->e[i].used && !ik__proc_alive(r->e[i].pid, r->e[i].start))
                r->e[i].used = 0;
        }
    }
    return 0;
}

/* Liveness cache for one check: 0 unknown, 1 alive, 2 dead. */
static bool alive_cached(const struct ik__syncreg *r, int i, uint8_t *cache)
{
    if (cache[i] == 0)
        cache[i] = ik__proc_alive(r->e[i].pid, r->e[i].start) ? 1 : 2;
    return cache[i] == 1;
}

/* One check's view of the graph: liveness cache and, computed on first
 * use, the set of entries whose waits can never end. */
struct dl_view {
    const struct ik__syncreg *r;
    bool fresh;
    bool have_stuck;
    uint8_t *alive;
    uint8_t stuck[IK__SYNCREG_SLOTS];
};

static bool live_entry(struct dl_view *v, int i)
{
    return v->r->e[i].used && alive_cached(v->r, i, v->alive);
}

/* Can entry x's wait never end, given that exactly the entries in
 * v->stuck never stop waiting? A thread holder must be one of them. A
 * semaphore held by a process comes back as soon as any thread of that
 * process posts (units are per process, not per thread), so every thread it
 * had when x looked (holder_threads, counted before the look) must have
 * waited since before that look, and be one of them: waiting in the
 * registry is not enough, as a wait that ends lets that thread post; and a
 * thread that has posted since and exited is no longer counted now. */
static bool blocked(struct dl_view *v, int x)
{
    const struct ik__syncreg *r = v->r;
    const struct ik__dl_entry *ex = &r->e[x];
    /* Freshness: x must have seen the holder hold the lock after the holder
     * began to wait, so it still holds it (a waiting thread releases
     * nothing). */
    if (ex->holder_tid != 0) {
        for (int j = 0; j < IK__SYNCREG_SLOTS; j++) {
            if (v->stuck[j] && r->e[j].tid == ex->holder_tid &&
                (!v->fresh || ex->obs_seq > r->e[j].start_seq))
                return true;
        }
        return false;
    }
    if (ex->holder_pid == 0 || ex->holder_threads == 0)
        return false;
    long n = 0;
    for (int j = 0; j < IK__SYNCREG_SLOTS; j++) {
        if (r->e[j].pid != ex->holder_pid || !live_entry(v, j))
            continue;
        if (!v->stuck[j])
            return false; /* that thread goes on: it may post */
        n += !v->fresh || ex->obs_seq > r->e[j].start_seq;
    }
    return n >= ex->holder_threads;
}

/* The entries that wait forever: the greatest set in which every entry is
 * blocked (above) by entries of the set. Start from every live entry and
 * drop those that are not, until nothing changes; whatever can end (a
 * holder that runs, a thread whose own wait ends) falls out. */
static void compute_stuck(struct dl_view *v)
{
    for (int i = 0; i < IK__SYNCREG_SLOTS; i++)
        v->stuck[i] = live_entry(v, i) ? 1 : 0;
    for (bool changed = true; changed;) {
        changed = false;
        for (int x = 0; x < IK__SYNCREG_SLOTS; x++) {
            if (v->stuck[x] && !blocked(v, x)) {
                v->stuck[x] = 0;
                changed = true;
            }
        }
    }
    v->have_stuck = true;
}

static bool edge(struct dl_view *v, int x, int y)
{
    const struct ik__dl_entry *ex = &v->r->e[x], *ey = &v->r->e[y];
    if (!ey->used)
        return false;
    bool match;
    if (ex->holder_tid != 0) {
        match = ey->tid == ex->holder_tid;
    } else {
        match = ex->holder_pid != 0 && ey->pid == ex->holder_pid;
        if (match && !v->have_stuck)
            compute_stuck(v);
        /* x stuck: every thread of the holder process waits forever. */
        match = match && v->stuck[x];
    }
    /* Freshness: x must have seen y holding the lock after y began to wait,
     * so y still holds it now (a waiting thread releases nothing). */
    return match && (!v->fresh || ex->obs_seq > ey->start_seq);
}

static int find_cycle(const struct ik__syncreg *r, int start, int *path, int cap, bool fresh,
                      uint8_t *alive)
{
    /* Iterative DFS over entries; path holds the current chain. */
    uint8_t visited[IK__SYNCREG_SLOTS] = {0};
    struct dl_view v = {.r = r, .fresh = fresh, .alive = alive};
    int next[IK__SYNCREG_SLOTS];
    int depth = 0;
    int stack[IK__SYNCREG_SLOTS];
    stack[depth] = start;
    next[depth] = 0;
    visited[start] = 1;
    depth = 1;
    while (depth > 0) {
        int x = stack[depth - 1];
        int j = next[depth - 1];
        int found = -1;
        for (; j < IK__SYNCREG_SLOTS; j++) {
            if (!edge(&v, x, j) || !alive_cached(r, j, alive))
                continue;
            if (j == start) {
                int n = depth < cap ? depth : cap;
                for (int k = 0; k < n; k++)
                    path[k] = stack[k];
                return n;
            }
            if (!visited[j]) {
                found = j;
                break;
            }
        }
        next[depth - 1] = j + 1;
        if (found < 0) {
            depth--;
            continue;
        }
        visited[found] = 1;
        stack[depth] = found;
        next[depth] = 0;
        depth++;
    }
    return 0;
}

int ik__dl_find_cycle(const struct ik__syncreg *reg, int start, int *path, int cap,
                      bool require_fresh)
{
    uint8_t alive[IK__SYNCREG_SLOTS] = {0};
    if (start < 0 || start >= IK__SYNCREG_SLOTS || !reg->e[start].used)
        return 0;
    return find_cycle(reg, start, path, cap, require_fresh, alive);
}

int ik__dl_check(struct ik__dl_wait *w, unsigned kind, const char *name, ik__dl_holder_fn holder,
                 void *obj)
{
    struct ik__syncreg *r = w->reg != NULL ? w->reg : reg_get();
    if (r == NULL || reg_lock(r) != 0)
        return 0;
    w->reg = r;
    uint64_t seq = ++r->seq;
    int htid = 0, hpid = 0;
    long threads = 0;
    holder(obj, &htid, &hpid);
    if (htid == 0 && hpid != 0 && hpid != ik__sync_pid()) {
        /* Count the holder process's threads first, then look again: every
         * thread it has at that second look was counted. */
        threads = ik__proc_status_field(hpid, "Threads");
        int t2 = 0, p2 = 0;
        holder(obj, &t2, &p2);
        if (t2 != 0 || p2 != hpid)
            threads = 0;
    }
    if (htid == ik__sync_tid() || hpid == ik__sync_pid()) {
        htid = 0; /* our own hold is not a wait-for edge */
        hpid = 0;
    }
    uint8_t alive[IK__SYNCREG_SLOTS] = {0};
    if (w->slot < 0 || !r->e[w->slot].used || r->e[w->slot].tid != ik__sync_tid()) {
        int free_slot = -1;
        for (int i = 0; i < IK__SYNCREG_SLOTS && free_slot < 0; i++) {
            if (!r->e[i].used)
                free_slot = i;
        }
        for (int i = 0; i < IK__SYNCREG_SLOTS && free_slot < 0; i++) {
            if (!alive_cached(r, i, alive)) {
                r->e[i].used = 0; /* reap a dead waiter */
                free_slot = i;
            }
        }
        if (free_slot < 0) { /* table full: wait without detection */
            pthread_mutex_unlock(&r->lock);
            return 0;
        }
        struct ik__dl_entry *e = &r->e[free_slot];
        memset(e, 0, sizeof(*e));
        e->pid = ik__sync_pid();
        e->start = ik__sync_start();
        e->tid = ik__sync_tid();
        e->kind = (uint16_t)kind;
        e->start_seq = seq;
        strncpy(e->name, name, IK_NAME_MAX);
        e->used = 1;
        w->slot = free_slot;
    }
    struct ik__dl_entry *e = &r->e[w->slot];
    e->holder_tid = htid;
    e->holder_pid = hpid;
    e->holder_threads = (uint16_t)(threads <= 0 ? 0 : threads > 65535 ? 65535 : threads);
    e->obs_seq = seq;
    alive[w->slot] = 1;
    int path[8];
    int rc = 0;
    if (find_cycle(r, w->slot, path, 8, true, alive) > 0) {
        e->used = 0; /* this waiter backs off; the others keep waiting */
        w->slot = -1;
        rc = IK_EDEADLK;
    }
    pthread_mutex_unlock(&r->lock);
    return rc;
}

void ik__dl_end(struct ik__dl_wait *w)
{
    struct ik__syncreg *r = w->reg;
    if (r == NULL || w->slot < 0)
        return;
    /* Without the registry lock (which may be held for long, see reg_lock):
     * a used entry of this live thread is changed by no one else, and a
     * stale one left behind could later close a false cycle. */
    struct ik__dl_entry *e = &r->e[w->slot];
    if (__atomic_load_n(&e->used, __ATOMIC_ACQUIRE) && e->tid == ik__sync_tid() &&
        e->pid == ik__sync_pid())
        __atomic_store_n(&e->used, 0, __ATOMIC_RELEASE);
    w->slot = -1;
}
