/* ik_log: an append-only, multi-writer, multi-reader log over a mapped file.
 *
 * Writers reserve space with a CAS on the record's own header word (so the
 * record length is known the instant the space is claimed, even if the
 * writer dies right after), then move the shared tail past it (anyone may
 * help), write the payload and commit with a CAS on the record's state.
 * Readers skip records whose writer is dead (pid + start time + slot
 * generation) and never wait on a dead writer. Layout and rules: see
 * log_layout.h and docs/map.md. */
#include "../core/internal.h"
#include "log_layout.h"
#include "map_internal.h"

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define SEQ_WAITERS  0x80000000u
#define GROW_CHUNK   ((uint64_t)1 << 20)
#define IDLE_SLICE   (100 * 1000000ull) /* re-check an idle tail (writer died pre-notify) */
#define PEND_SLICE   (10 * 1000000ull)  /* re-check a pending record's writer */
#define RDONLY_SLICE (10 * 1000000ull)  /* read-only handles cannot flag themselves */
#define SPIN_CHECKS  128

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#if defined(__x86_64__) || defined(__i386__)
#define CPU_RELAX() __builtin_ia32_pause()
#else
#define CPU_RELAX() __asm__ __volatile__("" ::: "memory")
#endif

struct ik_log {
    int fd;
    uint8_t *base;
    size_t map_len; /* header + capacity */
    struct ik__log_hdr *hdr;
    struct ik__log_slot *slots;
    uint8_t *data;
    uint64_t cap;
    uint64_t fsize_ok; /* atomic: file bytes verified by fstat (capped at map_len) */
    bool rdonly;
    int lock_pid;     /* atomic: slot (re)acquisition lock, see slot_lock */
    uint16_t version; /* the file's layout version, from the checked header */
    int slot;         /* writer slot, -1 none */
    uint32_t gen;
    int pid;           /* process the slot belongs to */
    unsigned fork_gen; /* atomic: fork_gen when the slot was taken */
};

/* Bumped in every child after fork (pthread_atfork), so that appends can
 * detect an inherited handle without a getpid() system call each time. */
static unsigned fork_gen;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void on_fork_child(void)
{
    __atomic_add_fetch(&fork_gen, 1, __ATOMIC_RELAXED);
}

static void atfork_init(void)
{
    (void)pthread_atfork(NULL, NULL, on_fork_child);
}

/* Serialise slot (re)acquisition between the threads of one process. The
 * lock word holds the holder's pid, not a pthread mutex: a child forked
 * while a parent thread held it finds another pid there (a holder that
 * does not exist in the child) and takes it over instead of deadlocking.
 * Waiters sleep on the word (a yield spin would starve a lower-priority
 * holder under SCHED_FIFO). */
static void slot_lock(struct ik_log *l)
{
    int me = getpid();
    for (;;) {
        int cur = __atomic_load_n(&l->lock_pid, __ATOMIC_RELAXED);
        if (cur != me) {
            if (__atomic_compare_exchange_n(&l->lock_pid, &cur, me, false, __ATOMIC_ACQUIRE,
                                            __ATOMIC_RELAXED))
                return;
            continue;
        }
        (void)ik__futex_wait((uint32_t *)&l->lock_pid, (uint32_t)cur, ik__now_ns() + 10000000u,
                             false);
    }
}

static void slot_unlock(struct ik_log *l)
{
    __atomic_store_n(&l->lock_pid, 0, __ATOMIC_RELEASE);
    ik__futex_wake((uint32_t *)&l->lock_pid, 1, false);
}

/* ---- atomics on shared words ------------------------------------------- */

#define LOAD_ACQ(p)     __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define LOAD_RLX(p)     __atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE_REL(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define CAS(p, expp, des)                                                                          \
    __atomic_compare_exchange_n((p), (expp), (des), false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)

/* ---- crc32c ------------------------------------------------------------ */

static uint32_t crc_table[256];
static bool crc_hw_ok;
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1)));
        crc_table[i] = c;
    }
#if defined(__x86_64__)
    __builtin_cpu_init();
    crc_hw_ok = __builtin_cpu_supports("sse4.2");
#endif
}

static uint32_t crc_sw(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    while (n--)
        crc = (crc >> 8) ^ crc_table[(crc ^ *p++) & 0xff];
    return ~crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const uint8_t *p, size_t n)
{
    uint64_t c = ~crc;
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
    }
    uint32_t c32 = (uint32_t)c;
    while (n--)
        c32 = __builtin_ia32_crc32qi(c32, *p++);
    return ~c32;
}
#endif

/* crc32c (Castagnoli) of p, continuing from crc (0 to start). */
static uint32_t crc32c(uint32_t crc, const void *p, size_t n)
{
    pthread_once(&crc_once, crc_init);
#if defined(__x86_64__)
    if (crc_hw_ok)
        return crc_hw(crc, p, n);
#endif
    return crc_sw(crc, p, n);
}

static uint32_t rec_crc(const void *p, size_t n)
{
    uint32_t len32 = (uint32_t)n;
    return crc32c(crc32c(0, &len32, sizeof(len32)), p, n);
}

/* ---- file size --------------------------------------------------------- */

static uint64_t rec_total(uint64_t len)
{
    return IK__LOG_REC_HDR + IK__ALIGN_UP(len, (uint64_t)IK__LOG_ALIGN);
}

static void atomic_max(uint64_t *p, uint64_t v)
{
    uint64_t cur = LOAD_RLX(p);
    while (cur < v && !CAS(p, &cur, v))
        ;
}

/* True if the file covers data offsets [0, end): fstat is the truth (the
 * header's file_size could lie), cached per handle. Files never shrink. */
static bool covered(struct ik_log *l, uint64_t end)
{
    uint64_t need = IK__LOG_HDR_SIZE + end;
    if (need <= LOAD_RLX(&l->fsize_ok))
        return true;
    struct stat st;
    if (fstat(l->fd, &st) != 0)
        return false;
    uint64_t ok = (uint64_t)st.st_size < l->map_len ? (uint64_t)st.st_size : l->map_len;
    atomic_max(&l->fsize_ok, ok);
    return need <= ok;
}

/* Make the file cover data offsets [0, end) before anyone may touch them. */
static int ensure_file(struct ik_log *l, uint64_t end)
{
    if (covered(l, end))
        return 0;
    uint64_t target = IK__ALIGN_UP(IK__LOG_HDR_SIZE + end, GROW_CHUNK);
    if (target > l->map_len)
        target = l->map_len;
    int r;
    while ((r = fallocate(l->fd, 0, 0, (off_t)target)) != 0 && errno == EINTR)
        ;
    if (r != 0) {
        if (errno != EOPNOTSUPP && errno != ENOSYS)
            return errno == EFBIG ? IK_ENOSPC : ik__errno();
        /* No fallocate: every grower truncates to the same final size, so
         * racing ftruncates can never shrink the file. */
        target = l->map_len;
        int rc = ik__file_extend(l->fd, target);
        if (rc != 0)
            return rc;
    }
    atomic_max(&l->hdr->file_size, target);
    uint64_t from = LOAD_RLX(&l->fsize_ok);
    atomic_max(&l->fsize_ok, target);
    /* Fault the new chunk in now, in one call, rather than page by page in
     * the middle of appends (best effort; Linux >= 5.14). */
    if (from < target)
        (void)madvise(l->base + (from & ~(uint64_t)(ik__page_size() - 1)),
                      (size_t)(target - (from & ~(uint64_t)(ik__page_size() - 1))),
                      MADV_POPULATE_WRITE);
    return 0;
}

/* ---- waiting ----------------------------------------------------------- */

/* Count a commit (or an abandonment) and wake sleepers if any flagged. */
static void notify(struct ik_log *l)
{
    uint32_t *seq = &l->hdr->seq;
    uint32_t s = __atomic_load_n(seq, __ATOMIC_SEQ_CST);
    while (!CAS(seq, &s, (s + 1) & ~SEQ_WAITERS))
        ;
    if (s & SEQ_WAITERS)
        ik__futex_wake(seq, INT_MAX, true);
}

/* Sleep until the seq word moves away from snap (taken before the caller
 * checked its condition), a slice passes, or the deadline. Returns 0 (check
 * again) or IK_ETIMEDOUT. */
static int wait_seq(struct ik_log *l, uint32_t snap, uint64_t deadline, uint64_t slice)
{
    uint64_t now = ik__now_ns();
    if (deadline != UINT64_MAX && now >= deadline)
        return IK_ETIMEDOUT;
    if (l->rdonly)
        slice = RDONLY_SLICE;
    uint64_t until = now + slice < deadline ? now + slice : deadline;
    uint32_t *seq = &l->hdr->seq;
    if (!l->rdonly && !(snap & SEQ_WAITERS)) {
        /* Flag a sleeper. If seq moved since the snapshot, re-check instead. */
        if (!CAS(seq, &snap, snap | SEQ_WAITERS))
            return 0;
        snap |= SEQ_WAITERS;
    }
    int rc = ik__futex_wait(seq, snap, until, true);
    if (rc != 0 && rc != IK_ETIMEDOUT && rc != IK_EINTR) {
        /* futex unusable here (should not happen): sleep the slice instead of
         * spinning. */
        struct timespec ts = {.tv_sec = (time_t)(until / 1000000000u),
                              .tv_nsec = (long)(until % 1000000000u)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
            ;
    }
    return 0;
}

/* ---- writer slots ------------------------------------------------------ */

/* A slot's start word names a live process: a start time that is there,
 * of this boot (when both boots are known), still running. */
static bool start_alive(int pid, uint64_t start)
{
    uint64_t ticks = start & IK__LOG_START_TICKS;
    uint32_t boot = (uint32_t)(start >> IK__LOG_START_BOOT), now = ik__boot_tag();
    if (ticks == 0 || (boot != 0 && now != 0 && boot != now))
        return false;
    return ik__proc_alive(pid, ticks);
}

static bool slot_owner_alive(struct ik__log_slot *s, uint64_t o)
{
    int pid = (int)(uint32_t)o;
    if (pid <= 0)
        return false;
    if (o & IK__LOG_SLOT_SETTING)
        return ik__proc_alive(pid, 0); /* start not yet written */
    return start_alive(pid, LOAD_ACQ(&s->start));
}

static int slot_take(struct ik_log *l)
{
    int pid = getpid();
    uint64_t ticks = ik__self_start_time();
    if (ticks == 0 || ticks > IK__LOG_START_TICKS)
        return IK_EIO; /* no start time (/proc unreadable): no slot readers could judge */
    uint64_t start = ticks;
    if (l->version != IK__LOG_VERSION_V1)
        start |= (uint64_t)ik__boot_tag() << IK__LOG_START_BOOT;
    /* Pass 0 takes free slots, pass 1 reclaims those of dead writers. */
    for (int pass = 0; pass < 2; pass++) {
        for (unsigned i = 0; i < IK__LOG_SLOTS; i++) {
            struct ik__log_slot *s = &l->slots[i];
            uint64_t o = LOAD_ACQ(&s->owner);
            if ((uint32_t)o != 0 && (pass == 0 || slot_owner_alive(s, o)))
                continue;
            uint32_t gen = ((uint32_t)(o >> 32) + 1) & IK__LOG_GEN_MASK;
            uint64_t n = ((uint64_t)gen << 32) | (uint32_t)pid;
            if (!CAS(&s->owner, &o, n | IK__LOG_SLOT_SETTING))
                continue;
            STORE_REL(&s->start, start);
            STORE_REL(&s->owner, n);
            l->slot = (int)i;
            l->gen = gen;
            l->pid = pid;
            __atomic_store_n(&l->fork_gen, __atomic_load_n(&fork_gen, __ATOMIC_RELAXED),
                             __ATOMIC_RELEASE);
            return 0;
        }
    }
    return IK_EBUSY;
}

static void slot_release(struct ik_log *l)
{
    if (l->slot < 0 || l->pid != getpid())
        return;
    struct ik__log_slot *s = &l->slots[l->slot];
    uint64_t o = ((uint64_t)l->gen << 32) | (uint32_t)l->pid;
    (void)CAS(&s->owner, &o, (uint64_t)l->gen << 32); /* keep the generation */
    l->slot = -1;
}

/* Is the writer of a pending record with claim word w gone? */
static bool writer_dead(struct ik_log *l, uint64_t w)
{
    unsigned slot = (unsigned)(w >> 27) & 0xff;
    uint32_t gen = (uint32_t)(w >> 35) & IK__LOG_GEN_MASK;
    struct ik__log_slot *s = &l->slots[slot];
    uint64_t o = LOAD_ACQ(&s->owner);
    if ((o & IK__LOG_SLOT_SETTING) || (((uint32_t)(o >> 32)) & IK__LOG_GEN_MASK) != gen)
        return true; /* slot released or taken over since the claim */
    int pid = (int)(uint32_t)o;
    if (pid <= 0)
        return true;
    uint64_t start = LOAD_ACQ(&s->start);
    if (LOAD_ACQ(&s->owner) != o)
        return true;
    return !start_alive(pid, start);
}

/* ---- open / create ----------------------------------------------------- */

static int hdr_check(const struct ik__log_hdr *h, uint64_t file_size)
{
    if (h->magic != IK__LOG_MAGIC ||
        (h->version != IK__LOG_VERSION && h->version != IK__LOG_VERSION_V1) ||
        h->hdr_size != IK__LOG_HDR_SIZE || h->slot_count != IK__LOG_SLOTS)
        return IK_EPROTO;
    if (h->capacity < IK__LOG_CAP_MIN || h->capacity > IK__LOG_CAP_MAX ||
        h->capacity % IK__LOG_CAP_MIN != 0)
        return IK_EPROTO;
    if (file_size < IK__LOG_HDR_SIZE || h->tail > h->capacity || h->tail % IK__LOG_ALIGN != 0)
        return IK_EPROTO;
    return 0;
}

/* Build a fully initialised log file unnamed (O_TMPFILE) and link it in, so
 * an opener never sees a half-written header. Returns 0, IK_EEXIST (someone
 * else's file is there: open it) or an error. */
static int log_create(const char *path, uint64_t cap)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    const char *leaf = slash != NULL ? slash + 1 : path;
    if (leaf[0] == '\0')
        return IK_EINVAL;
    if (slash == NULL) {
        strcpy(dir, ".");
    } else {
        size_t n = slash == path ? 1 : (size_t)(slash - path);
        if (n >= sizeof(dir))
            return IK_ENAMETOOLONG;
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return ik__errno();
    bool tmpfile = true;
    int fd = openat(dfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
        tmpfile = false;
        fd = openat(dfd, leaf, O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0600);
    }
    int rc = 0;
    if (fd < 0) {
        rc = ik__errno();
        close(dfd);
        return rc;
    }
    uint64_t init = IK__LOG_HDR_SIZE + (cap < GROW_CHUNK ? cap : GROW_CHUNK);
    struct ik__log_hdr h;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    memset(&h, 0, sizeof(h));
    h.version = IK__LOG_VERSION;
    h.hdr_size = IK__LOG_HDR_SIZE;
    h.slot_count = IK__LOG_SLOTS;
    h.capacity = cap;
    h.creator_pid = getpid();
    h.creator_uid = geteuid();
    h.creator_start = ik__self_start_time();
    h.created_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    h.file_size = init;
    uint32_t magic = IK__LOG_MAGIC;
    if (fchmod(fd, 0600) != 0 || (rc = ik__file_extend(fd, init)) != 0) {
        rc = rc != 0 ? rc : ik__errno();
        goto fail;
    }
    /* Magic last: without O_TMPFILE, openers treat magic 0 as "being made". */
    if (pwrite(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
        pwrite(fd, &magic, sizeof(magic), 0) != (ssize_t)sizeof(magic)) {
        rc = errno == ENOSPC ? IK_ENOSPC : IK_EIO;
        goto fail;
    }
    if (tmpfile) {
        char proc[64];
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        if (linkat(AT_FDCWD, proc, dfd, leaf, AT_SYMLINK_FOLLOW) != 0) {
            rc = ik__errno();
            goto fail;
        }
    }
    close(fd);
    close(dfd);
    return 0;
fail:
    if (!tmpfile)
        unlinkat(dfd, leaf, 0);
    close(fd);
    close(dfd);
    return rc;
}

static int log_map(struct ik_log *l, const char *path)
{
    int acc = l->rdonly ? O_RDONLY : O_RDWR; /* ik__open_checked: a FIFO never blocks */
    struct stat st;
    struct ik__log_hdr h;
    uint64_t give_up = ik__now_ns() + 1000000000u; /* a slow creator (NFS fallocate) */
    for (;;) {
        int fd = ik__open_checked(path, acc, NULL, &st);
        if (fd < 0)
            return fd;
        ssize_t n = (uint64_t)st.st_size >= sizeof(h) ? pread(fd, &h, sizeof(h), 0) : 0;
        if (n == (ssize_t)sizeof(h) && h.magic != 0) {
            l->fd = fd;
            break;
        }
        close(fd);
        if (n < 0)
            return ik__errno();
        /* Empty or magic 0: a creator without O_TMPFILE may still be busy.
         * It sizes the file before writing the header, so a short file or
         * a foreign version is never one in the making: refuse it now. */
        if ((st.st_size != 0 && (uint64_t)st.st_size < IK__LOG_HDR_SIZE) ||
            (n == (ssize_t)sizeof(h) && h.version != 0 && h.version != IK__LOG_VERSION &&
             h.version != IK__LOG_VERSION_V1))
            return IK_EPROTO;
        if (ik__now_ns() >= give_up)
            return IK_EPROTO; /* a creator that died before its header */
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
    int rc = hdr_check(&h, (uint64_t)st.st_size);
    if (rc != 0)
        return rc;
    l->version = h.version;
    l->cap = h.capacity;
    l->map_len = IK__LOG_HDR_SIZE + (size_t)h.capacity;
    /* Map header + full capacity once; pages past EOF are never touched
     * (see covered()), so the mapping never moves and never faults. */
    void *p =
        mmap(NULL, l->map_len, PROT_READ | (l->rdonly ? 0 : PROT_WRITE), MAP_SHARED, l->fd, 0);
    if (p == MAP_FAILED)
        return ik__errno();
    l->base = p;
    l->hdr = p;
    l->slots = (struct ik__log_slot *)(l->base + IK__LOG_SLOT_OFF);
    l->data = l->base + IK__LOG_HDR_SIZE;
    l->fsize_ok = (uint64_t)st.st_size < l->map_len ? (uint64_t)st.st_size : l->map_len;
    return 0;
}

int ik_log_open(ik_log **out, const char *path, size_t capacity, unsigned flags)
{
    if (out == NULL || path == NULL || path[0] == '\0' ||
        (flags & ~(unsigned)(IK_LOG_CREATE | IK_LOG_RDONLY)))
        return IK_EINVAL;
    if ((flags & IK_LOG_CREATE) && (flags & IK_LOG_RDONLY))
        return IK_EINVAL;
    uint64_t cap = capacity == 0 ? IK__LOG_CAP_DEF : (uint64_t)capacity;
    if ((flags & IK_LOG_CREATE) && (cap < IK__LOG_CAP_MIN || cap > IK__LOG_CAP_MAX))
        return IK_EINVAL;
    cap = IK__ALIGN_UP(cap, (uint64_t)IK__LOG_CAP_MIN);

    struct ik_log *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return IK_ENOMEM;
    l->fd = -1;
    l->slot = -1;
    l->rdonly = (flags & IK_LOG_RDONLY) != 0;
    pthread_once(&atfork_once, atfork_init);
    int rc = 0;
    if (flags & IK_LOG_CREATE) {
        rc = log_create(path, cap);
        if (rc == IK_EEXIST)
            rc = 0; /* open the existing one (its owner and header are checked) */
    }
    if (rc == 0)
        rc = log_map(l, path);
    if (rc == 0 && !l->rdonly)
        rc = slot_take(l);
    if (rc != 0) {
        if (l->base != NULL)
            munmap(l->base, l->map_len);
        if (l->fd >= 0)
            close(l->fd);
        free(l);
        return rc;
    }
    *out = l;
    return 0;
}

void ik_log_close(ik_log *log)
{
    if (log == NULL)
        return;
    slot_release(log);
    munmap(log->base, log->map_len);
    close(log->fd);
    free(log);
}

uint64_t ik_log_end(const ik_log *log)
{
    if (log == NULL)
        return 0;
    uint64_t t = LOAD_ACQ(&log->hdr->tail);
    return t < log->cap ? t : log->cap;
}

/* ---- append ------------------------------------------------------------ */

/* Validate a claim word found at data offset off; give the record's length
 * and total size. */
static int claim_decode(const struct ik_log *l, uint64_t off, uint64_t w, uint64_t *len,
                        uint64_t *total)
{
    if (!(w & IK__LOG_CLAIMED))
        return IK_EPROTO;
    *len = w & IK__LOG_LEN_MASK;
    if (*len > IK_LOG_REC_MAX || ((w >> 27) & 0xff) >= IK__LOG_SLOTS)
        return IK_EPROTO;
    *total = rec_total(*len);
    if (*total > l->cap - off)
        return IK_EPROTO;
    return 0;
}

/* The writer's slot belongs to the calling process (re-take after fork). */
static int own_slot(struct ik_log *l, unsigned *slot, uint32_t *gen)
{
    if (__atomic_load_n(&l->fork_gen, __ATOMIC_ACQUIRE) ==
        __atomic_load_n(&fork_gen, __ATOMIC_RELAXED)) {
        *slot = (unsigned)l->slot;
        *gen = l->gen;
        return 0;
    }
    int pid = getpid();
    slot_lock(l);
    int rc = 0;
    if (l->pid != pid) {
        l->slot = -1; /* the parent's slot stays the parent's */
        rc = slot_take(l);
    } else {
        __atomic_store_n(&l->fork_gen, __atomic_load_n(&fork_gen, __ATOMIC_RELAXED),
                         __ATOMIC_RELEASE);
    }
    *slot = (unsigned)l->slot;
    *gen = l->gen;
    slot_unlock(l);
    return rc;
}

/* After an abandoned record: if our slot was taken over, take a new one. */
static int recheck_slot(struct ik_log *l, unsigned *slot, uint32_t *gen)
{
    slot_lock(l);
    int rc = 0;
    uint64_t mine = ((uint64_t)l->gen << 32) | (uint32_t)l->pid;
    if (l->slot < 0 || LOAD_ACQ(&l->slots[l->slot].owner) != mine)
        rc = slot_take(l);
    *slot = (unsigned)l->slot;
    *gen = l->gen;
    slot_unlock(l);
    return rc;
}

int ik_log_append(ik_log *log, const void *buf, size_t len)
{
    if (log == NULL || (buf == NULL && len > 0) || log->rdonly)
        return IK_EINVAL;
    if (len > IK_LOG_REC_MAX)
        return IK_EMSGSIZE;
    unsigned slot;
    uint32_t gen;
    int rc = own_slot(log, &slot, &gen);
    if (rc != 0)
        return rc;
    uint64_t total = rec_total(len);
    uint64_t claim =
        IK__LOG_CLAIMED | ((uint64_t)gen << 35) | ((uint64_t)slot << 27) | (uint64_t)len;
    uint32_t crc = rec_crc(buf, len);
    int retries = 0;
    for (;;) {
        uint64_t t = LOAD_ACQ(&log->hdr->tail);
        if (t > log->cap || t % IK__LOG_ALIGN != 0)
            return IK_EPROTO;
        if (total > log->cap - t)
            return IK_ENOSPC;
        if ((rc = ensure_file(log, t + total)) != 0)
            return rc;
        struct ik__log_rec *rec = (struct ik__log_rec *)(log->data + t);
        uint64_t seen = 0;
        if (!CAS(&rec->claim, &seen, claim)) {
            /* Someone claimed t first: help move the tail past them. */
            uint64_t their_len, their_total;
            if ((rc = claim_decode(log, t, seen, &their_len, &their_total)) != 0)
                return rc;
            (void)CAS(&log->hdr->tail, &t, t + their_total);
            continue;
        }
        (void)CAS(&log->hdr->tail, &t, t + total); /* may have been helped already */
        rec->crc = crc;
        if (len > 0)
            memcpy(rec + 1, buf, len);
        uint32_t st = 0;
        if (__atomic_compare_exchange_n(&rec->state, &st, IK__LOG_ST_COMMITTED, false,
                                        __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
            notify(log);
            return 0;
        }
        /* A reader judged us dead and abandoned the record (our slot may
         * have been taken over if a liveness check failed spuriously):
         * make sure the slot is still ours, then append anew. */
        if (st != IK__LOG_ST_ABANDONED)
            return IK_EPROTO;
        if (++retries > 16)
            return IK_EAGAIN;
        if ((rc = recheck_slot(log, &slot, &gen)) != 0)
            return rc;
        claim = IK__LOG_CLAIMED | ((uint64_t)gen << 35) | ((uint64_t)slot << 27) | (uint64_t)len;
    }
}

/* ---- read -------------------------------------------------------------- */

int ik_log_read(ik_log *log, uint64_t *cursor, void *buf, size_t cap, size_t *len, int timeout_ms)
{
    if (log == NULL || cursor == NULL || len == NULL || (buf == NULL && cap > 0))
        return IK_EINVAL;
    uint64_t c = *cursor;
    if (c % IK__LOG_ALIGN != 0 || c > log->cap)
        return IK_EINVAL;
    uint64_t deadline = 0; /* computed when first needed (0: not yet) */
    for (;;) {
        uint32_t snap = __atomic_load_n(&log->hdr->seq, __ATOMIC_SEQ_CST);
        uint64_t t = __atomic_load_n(&log->hdr->tail, __ATOMIC_SEQ_CST);
        if (t > log->cap)
            return IK_EPROTO;
        struct ik__log_rec *rec = (struct ik__log_rec *)(log->data + c);
        uint64_t w = 0;
        if (log->cap - c >= IK__LOG_REC_HDR) {
            if (covered(log, c + IK__LOG_REC_HDR))
                w = __atomic_load_n(&rec->claim, __ATOMIC_SEQ_CST);
            else if (c < t)
                return IK_EPROTO; /* the tail points past the end of the file */
        }
        if (w == 0) {
            if (c < t)
                return IK_EPROTO; /* tail passed an unclaimed offset */
            if (log->cap - c < IK__LOG_REC_HDR)
                return IK_ENOSPC; /* full: no record can ever start here */
            if (deadline == 0)
                deadline = ik__deadline(timeout_ms);
            int rc = wait_seq(log, snap, deadline, IDLE_SLICE);
            if (rc != 0)
                return rc;
            continue;
        }
        uint64_t rlen, total;
        int rc = claim_decode(log, c, w, &rlen, &total);
        if (rc != 0)
            return rc;
        if (c == t && !log->rdonly)
            (void)CAS(&log->hdr->tail, &t, c + total); /* its writer may have died */
        if (!covered(log, c + total))
            return IK_EPROTO;
        uint32_t st = LOAD_ACQ(&rec->state);
        for (int i = 0; st == 0 && i < SPIN_CHECKS; i++) {
            CPU_RELAX();
            st = LOAD_ACQ(&rec->state);
        }
        if (st == IK__LOG_ST_COMMITTED) {
            *len = (size_t)rlen;
            if (rlen > cap)
                return IK_EMSGSIZE;
            uint32_t want = LOAD_RLX(&rec->crc);
            if (rlen > 0)
                memcpy(buf, rec + 1, (size_t)rlen);
            *cursor = c + total; /* a corrupt record is reported once, then passed */
            if (rec_crc(buf, (size_t)rlen) != want)
                return IK_EPROTO;
            return 0;
        }
        if (st == 0 && writer_dead(log, w)) {
            /* The writer may have committed (and then exited or been
             * killed) after we loaded st: only a state still 0 now that
             * its death is seen is final. */
            if (!log->rdonly) {
                uint32_t z = 0;
                if (!__atomic_compare_exchange_n(&rec->state, &z, IK__LOG_ST_ABANDONED, false,
                                                 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
                    continue; /* it changed under us: look again */
                notify(log);
            } else if (__atomic_load_n(&rec->state, __ATOMIC_SEQ_CST) != 0) {
                continue;
            }
            st = IK__LOG_ST_ABANDONED;
        }
        if (st == IK__LOG_ST_ABANDONED) {
            c += total;
            *cursor = c;
            continue;
        }
        if (st != 0) {
            *cursor = c + total; /* unknown state: report once, then pass it */
            return IK_EPROTO;
        }
        /* Pending, writer alive: its commit wakes us; re-check it regularly. */
        if (deadline == 0)
            deadline = ik__deadline(timeout_ms);
        if ((rc = wait_seq(log, snap, deadline, PEND_SLICE)) != 0)
            return rc;
    }
}
