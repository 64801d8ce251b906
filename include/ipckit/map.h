/* ipckit: memory-mapped files. */
#ifndef IPCKIT_MAP_H
#define IPCKIT_MAP_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Opaque handle to a mapped file. */
typedef struct ik_map ik_map;

/* Flags for ik_map_open. */
enum {
    IK_MAP_RDONLY = 1u << 0, /* read-only view (the file is opened O_RDONLY) */
    IK_MAP_CREATE = 1u << 1, /* create the file if missing (mode from perm, default 0600) */
    IK_MAP_EXCL = 1u << 2,   /* with IK_MAP_CREATE: fail with IK_EEXIST if it exists */
};

/* Flags for ik_map_sync. */
enum {
    IK_SYNC = 1u << 0,  /* write back and wait */
    IK_ASYNC = 1u << 1, /* schedule write-back and return */
};

/*
 * Map the file at `path` shared. The last path component is opened with
 * O_NOFOLLOW (a symlink gives IK_EUNSAFE); it must be a regular file owned by
 * the caller (IK_EPERM_OWNER) unless perm trusts its owner. size 0 maps the
 * whole current file (IK_EINVAL if it is empty); a larger size than the file
 * extends it (read-write only). The mapping reserves address space so that
 * ik_map_grow can usually extend it in place.
 * IK_MAP_CREATE with IK_MAP_RDONLY, IK_MAP_EXCL without IK_MAP_CREATE, and
 * creating with size 0 are IK_EINVAL. A FIFO, directory or device gives
 * IK_EUNSAFE (without blocking). Another process must not shrink the file
 * while it is mapped (SIGBUS, as with any shared file mapping).
 * On success *out owns the fd and mapping; release with ik_map_close.
 * Errors: IK_EINVAL, IK_ENOENT, IK_EEXIST, IK_EACCES, IK_EUNSAFE,
 * IK_EPERM_OWNER, IK_ENOMEM, IK_ENOSPC, IK_EAGAIN (the name kept being
 * created and removed under us). Thread-safe.
 */
IK_EXPORT IK_NODISCARD int ik_map_open(ik_map **out, const char *path, size_t size, unsigned flags);
IK_EXPORT IK_NODISCARD int ik_map_open_ex(ik_map **out, const char *path, size_t size,
                                          unsigned flags, const ik_perm *perm);

/* Mapped bytes. ik_map_ptr stays valid until ik_map_close or an ik_map_grow
 * that returns 1 (moved). ik_map_fd is owned by the map (do not close it);
 * NULL gives NULL, 0 and IK_EINVAL. */
IK_EXPORT void *ik_map_ptr(const ik_map *map);
IK_EXPORT size_t ik_map_size(const ik_map *map);
IK_EXPORT int ik_map_fd(const ik_map *map);

/*
 * Grow the file and the mapping to new_size (never shrinks). Returns 0 if the
 * mapping stayed at the same address, 1 if it moved (re-read ik_map_ptr), or
 * IK_EINVAL (read-only map, size beyond 64 TiB), IK_ENOSPC, IK_ENOMEM,
 * IK_EOVERFLOW (the file grew past what this process can map). If
 * the file was grown by another process, ik_map_grow(map, 0) picks up the new
 * size (also on read-only maps). The file is grown with fallocate, which never
 * shrinks it, so concurrent growers cannot undo each other; it allocates
 * every hole below new_size (disk blocks, or RAM on tmpfs). Not concurrently
 * with other calls on the same map.
 */
IK_EXPORT IK_NODISCARD int ik_map_grow(ik_map *map, size_t new_size);

/* Write back [off, off+len) (len 0: to the end) with exactly one of IK_SYNC
 * or IK_ASYNC; off need not be page-aligned. Errors: IK_EINVAL (range beyond
 * the mapped size, bad flags), IK_EIO. Thread-safe. */
IK_EXPORT IK_NODISCARD int ik_map_sync(ik_map *map, size_t off, size_t len, unsigned flags);

/* Unmap, close and free. NULL is ignored. The file stays. */
IK_EXPORT void ik_map_close(ik_map *map);

#ifdef __cplusplus
}
#endif
#endif
