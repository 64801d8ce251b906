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
 * existing log; 0 selects 64 MiB). The file grows as records are appended.
 * Path rules as ik_map_open (O_NOFOLLOW, owner check). A hostile or corrupt
 * header gives IK_EPROTO. On success *out owns its resources; release with
 * ik_log_close. Each process may open the log any number of times.
 */
IK_EXPORT IK_NODISCARD int ik_log_open(ik_log **out, const char *path, size_t capacity,
                                       unsigned flags);

/*
 * Append one record of len bytes (0..IK_LOG_REC_MAX) atomically: readers see
 * it whole or not at all. Safe from any number of processes at once.
 * Errors: IK_EMSGSIZE, IK_ENOSPC (log full), IK_EINVAL (read-only handle),
 * IK_EPROTO (log corrupted). Thread-safe per handle.
 */
IK_EXPORT IK_NODISCARD int ik_log_append(ik_log *log, const void *buf, size_t len);

/*
 * Read the next committed record at *cursor (start with 0). Copies up to cap
 * bytes into buf, stores the record length in *len and advances *cursor.
 * Records whose writer died before committing are skipped. Waits up to
 * timeout_ms (-1 forever, 0 poll) for a record to appear.
 * Returns 0, IK_ETIMEDOUT (nothing yet), IK_EMSGSIZE (cap too small; *len
 * says how big and the cursor is not advanced), IK_EPROTO (corrupt record).
 */
IK_EXPORT IK_NODISCARD int ik_log_read(ik_log *log, uint64_t *cursor, void *buf, size_t cap,
                                       size_t *len, int timeout_ms);

/* Bytes reserved so far (the end cursor). */
IK_EXPORT uint64_t ik_log_end(const ik_log *log);

/* Close and free. NULL is ignored. */
IK_EXPORT void ik_log_close(ik_log *log);

#ifdef __cplusplus
}
#endif
#endif
