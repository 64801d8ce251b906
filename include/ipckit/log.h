/* ipckit: append-only multi-process log over a memory-mapped file. */
#ifndef IPCKIT_LOG_H
#define IPCKIT_LOG_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Opaque handle to an open log. */
typedef struct ik_log ik_log;

/* Flags for ik_log_open. */
enum {
    IK_LOG_CREATE = 1u << 0, /* create the file if missing */
    IK_LOG_RDONLY = 1u << 1, /* reader only */
};

/* Largest record payload. */
#define IK_LOG_REC_MAX (64u * 1024 * 1024)

/*
 * Open (or with IK_LOG_CREATE create) the log file at `path`. `capacity` is
 * the maximum data size in bytes, fixed at creation (ignored when opening an
 * existing log; 0 selects 64 MiB; 4 KiB..1 TiB, rounded up to 4 KiB). The
 * file grows as records are appended. A new log is published fully
 * initialised (O_TMPFILE + link), mode 0600. Path rules as ik_map_open
 * (O_NOFOLLOW, regular file, owned by the caller). A hostile or corrupt
 * header gives IK_EPROTO. On success *out owns its resources; release with
 * ik_log_close. Each process may open the log any number of times; a
 * writable handle holds one of 256 writer slots until closed (slots of dead
 * processes are reclaimed). All processes must share one pid namespace.
 * Errors: IK_EINVAL, IK_ENOENT, IK_EUNSAFE, IK_EPERM_OWNER, IK_EPROTO,
 * IK_EBUSY (no free writer slot), IK_EIO (writable: this process's start
 * time is unreadable, see docs/map.md), IK_ENOMEM, IK_ENOSPC. Thread-safe.
 */
IK_EXPORT IK_NODISCARD int ik_log_open(ik_log **out, const char *path, size_t capacity,
                                       unsigned flags);

/*
 * Append one record of len bytes (0..IK_LOG_REC_MAX) atomically: readers see
 * it whole or not at all. Safe from any number of processes at once; never
 * blocks on other writers (a writer that died mid-append is stepped over).
 * A handle inherited through fork() takes a writer slot of its own.
 * Errors: IK_EMSGSIZE, IK_ENOSPC (log or file system full), IK_EINVAL
 * (read-only handle, NULL buf with len > 0), IK_EPROTO (log corrupted),
 * IK_EBUSY (no writer slot after fork), IK_EIO (as ik_log_open). Thread-safe.
 */
IK_EXPORT IK_NODISCARD int ik_log_append(ik_log *log, const void *buf, size_t len);

/*
 * Read the next committed record at *cursor (start with 0; only values this
 * function stored are valid). Copies it into buf (cap bytes), stores its
 * length in *len and advances *cursor. Records whose writer died before
 * committing are skipped without waiting for them (liveness: pid + process
 * start time + slot generation). Waits up to timeout_ms (-1 forever, 0 poll)
 * for a record to appear or a live writer to commit.
 * Returns 0, IK_ETIMEDOUT (nothing yet), IK_ENOSPC (the cursor is at the end
 * of a log too full for any further record: nothing will ever come, so it
 * does not wait), IK_EMSGSIZE (cap too small; *len
 * says how big and the cursor is not advanced), IK_EINVAL (bad arguments or
 * cursor), IK_EPROTO (corrupt log or record; a record that fails its
 * checksum is reported once and the cursor moves past it). Read-only handles
 * poll for new records every 10 ms (they cannot flag themselves as
 * sleepers); read-write handles are woken by the committing writer.
 * Thread-safe (each thread uses its own cursor).
 */
IK_EXPORT IK_NODISCARD int ik_log_read(ik_log *log, uint64_t *cursor, void *buf, size_t cap,
                                       size_t *len, int timeout_ms);

/* Bytes reserved so far (the end cursor); 0 for NULL. Thread-safe. */
IK_EXPORT uint64_t ik_log_end(const ik_log *log);

/* Release the writer slot, unmap, close and free. NULL is ignored. Not
 * concurrently with other calls on the same handle. */
IK_EXPORT void ik_log_close(ik_log *log);

#ifdef __cplusplus
}
#endif
#endif
