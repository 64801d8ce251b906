/* ipckit internals shared across areas. Not installed. */
#ifndef IK_CORE_INTERNAL_H
#define IK_CORE_INTERNAL_H

#include "ipckit.h"

#include <stdbool.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>

#define IK__UNUSED(x)      ((void)(x))
#define IK__ALIGN_UP(x, a) (((x) + ((a)-1)) & ~((__typeof__(x))(a)-1))
#define IK__ARRAY_LEN(a)   (sizeof(a) / sizeof((a)[0]))

/* -errno for the current errno (never 0: unknown becomes IK_EIO). */
static inline int ik__errno(void)
{
    return errno > 0 ? -errno : IK_EIO;
}

/* ---- time (platform) ---------------------------------------------------- */

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t ik__now_ns(void);
/* Deadline for timeout_ms (-1: UINT64_MAX, forever). */
uint64_t ik__deadline(int timeout_ms);
/* Milliseconds left until deadline, for poll(): -1 forever, 0 expired. */
int ik__ms_left(uint64_t deadline);

/* ---- processes (platform) ----------------------------------------------- */

/* Start time of pid in clock ticks since boot (/proc/<pid>/stat field 22).
 * Returns 0, IK_ESRCH (gone or zombie), or another IK_E* when /proc could not
 * be read (EMFILE ...): that says nothing about the process. */
int ik__proc_start_time(int pid, uint64_t *start);
/* A numeric field ("Tgid", "Threads", ...) of /proc/<id>/status (id: a pid
 * or a tid), 0 if unknown. */
long ik__proc_status_field(int id, const char *key);
/* Start time of the calling process, cached. */
uint64_t ik__self_start_time(void);
/* True if the process (pid, start) still runs: exists, not a zombie, and the
 * same start time (start 0: any). A zombie thread-group leader whose other
 * threads still run is alive. When /proc cannot be read it answers true:
 * a live process is never declared dead. */
bool ik__proc_alive(int pid, uint64_t start);
uint32_t ik__boot_tag(void);

/* ---- sock_diag (platform) ----------------------------------------------- */

/* Inode of the peer of Unix socket fd (0: released or none), or a negative
 * IK_E* (IK_ENOTSUP: the kernel has no unix_diag). */
int64_t ik__sockdiag_unix_peer_ino(int fd);

/* ---- cpu ---------------------------------------------------------------- */

/* Spin-loop hint: lets the sibling hyperthread run, saves power. */
static inline void ik__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#else
    __asm__ __volatile__("" ::: "memory");
#endif
}

/* ---- futex (platform) --------------------------------------------------- */

/* Wait while *addr == val, up to the absolute CLOCK_MONOTONIC deadline
 * (UINT64_MAX: forever). Returns 0 (woken or value changed), IK_ETIMEDOUT or
 * IK_EINTR. shared: the word lives in memory shared between processes. */
int ik__futex_wait(uint32_t *addr, uint32_t val, uint64_t deadline, bool shared);
/* Wake up to n waiters. Returns how many were woken (0 on error). */
int ik__futex_wake(uint32_t *addr, int n, bool shared);
/* In one kernel step (a process killed here either did all of it or none):
 * *addr += add, then wake up to n waiters. Returns how many were woken, or
 * an IK_E*. add: 0..2047. */
int ik__futex_add_wake(uint32_t *addr, unsigned add, int n, bool shared);
/* In one kernel step: *addr &= ~bits, then wake every waiter. Returns how
 * many were woken, or an IK_E*. bits: below 2048. */
int ik__futex_clear_wake_all(uint32_t *addr, unsigned bits, bool shared);

/* ---- permissions -------------------------------------------------------- */

/* Creation mode from perm (0600 when perm is NULL or mode is 0). */
mode_t ik__perm_mode(const ik_perm *perm);
/* 0 if st's owner is the caller or trusted by perm, else IK_EPERM_OWNER. */
int ik__perm_check(const struct stat *st, const ik_perm *perm);

/* ---- segments (src/shm/seg.c) ------------------------------------------- */

/*
 * Every ipckit segment starts with this 64-byte header; the user area follows
 * at hdr_size (64). Layout version IK__SEG_VERSION. See docs/design.md.
 */
#define IK__SEG_MAGIC    0x4753494bu /* "KISG" little-endian: 'K','I','S','G' */
#define IK__SEG_VERSION  1
#define IK__SEG_HDR_SIZE 64
#define IK__SEG_PREFIX   "ik."
#define IK__SHM_DIR      "/dev/shm"
#define IK__SEG_MAX_SIZE ((uint64_t)1 << 46) /* 64 TiB */

enum ik__kind {
    IK__KIND_SHM = 1,
    IK__KIND_MUTEX = 2,
    IK__KIND_SEM = 3,
    IK__KIND_COND = 4,
    IK__KIND_EVENT = 5,
    IK__KIND_RWLOCK = 6,
    IK__KIND_BARRIER = 7,
    IK__KIND_QUEUE = 8,
    IK__KIND_RING = 9,
    IK__KIND_SYNCREG = 10, /* deadlock-detection registry */
    IK__KIND_MAX = 32,
};

struct ik__seg_hdr {
    uint32_t magic;
    uint16_t version;
    uint16_t kind;
    uint32_t hdr_size;   /* offset of the user area */
    uint32_t flags;      /* IK__SEG_F_* */
    uint64_t user_size;  /* bytes in the user area */
    int32_t creator_pid; /* process that created it */
    uint32_t creator_uid;
    uint64_t creator_start; /* creator's start time (ticks since boot) */
    uint64_t created_ns;    /* CLOCK_REALTIME at creation */
    uint8_t reserved[16];
};
_Static_assert(sizeof(struct ik__seg_hdr) == IK__SEG_HDR_SIZE, "segment header is 64 bytes");

enum { IK__SEG_F_ANON = 1u << 0, IK__SEG_F_HUGE = 1u << 1 };

struct ik__seg {
    int fd;
    void *base;     /* mapping start (header) */
    size_t map_len; /* bytes mapped */
    void *user;     /* base + hdr_size */
    size_t user_size;
    struct ik__seg_hdr hdr; /* validated copy, never re-read from memory */
    bool rdonly;
    bool huge;
};

/* Called on the private, not yet published mapping (create only). */
typedef int (*ik__seg_init_fn)(void *user, size_t size, void *arg);

/* Create /dev/shm/ik.<name> of `kind`, run init on it, then publish it
 * atomically (O_TMPFILE + linkat, so openers never see it half-made). */
int ik__seg_create(struct ik__seg *seg, const char *name, unsigned kind, size_t user_size,
                   unsigned flags, const ik_perm *perm, ik__seg_init_fn init, void *arg);
/* Open and validate an existing segment of `kind` (0: any kind). */
int ik__seg_open(struct ik__seg *seg, const char *name, unsigned kind, unsigned flags,
                 const ik_perm *perm);
/* Anonymous sealed memfd segment. */
int ik__seg_anon(struct ik__seg *seg, unsigned kind, size_t user_size, unsigned flags);
/* Adopt a received fd (seals, size and header checked). */
int ik__seg_from_fd(struct ik__seg *seg, int fd, unsigned kind, unsigned flags);
void ik__seg_close(struct ik__seg *seg);
/* Unlink /dev/shm/ik.<name> after checking its owner. */
int ik__seg_unlink(const char *name, const ik_perm *perm);
/* Validate a header read from an untrusted source of file_size bytes.
 * kind 0 accepts any known kind. Returns 0, IK_EPROTO or IK_EKIND. */
int ik__seg_hdr_check(const struct ik__seg_hdr *hdr, uint64_t file_size, unsigned kind);
/* "shm", "mutex", ... ("?" for unknown). */
const char *ik__kind_name(unsigned kind);
/* Write IK__SHM_DIR "/ik.<name>" into buf after checking the name. */
int ik__seg_path(char *buf, size_t cap, const char *name);

/* ---- runtime directory (src/core/rundir.c) ----------------------------- */

/* Like ik_runtime_dir, and return an O_DIRECTORY fd of the verified directory
 * (the caller closes it), for *at() calls that cannot be redirected. Without
 * create, a missing directory is IK_ENOENT (listing never makes one). */
int ik__runtime_dir_open(char *buf, size_t cap, bool create);

/* ---- FIFO listener lock (src/core/fifolock.[ch]) ------------------------ */

/* A fifo:// pair is <base>.up.fifo / <base>.down.fifo; its live listener
 * holds an OFD lock on <base>.fifo.lock (see core/fifolock.h). */
#define IK__FIFO_UP_SUFFIX   ".up.fifo"
#define IK__FIFO_DOWN_SUFFIX ".down.fifo"

/* ---- files -------------------------------------------------------------- */

/* Open path with O_NOFOLLOW|O_CLOEXEC plus oflags; a symlink gives
 * IK_EUNSAFE. Then fstat and require a regular file with a trusted owner
 * (unless it was just created). Returns the fd or a negative IK_E*. */
int ik__open_checked(const char *path, int oflags, const ik_perm *perm, struct stat *st);

#endif
