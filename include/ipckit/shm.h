/* ipckit: shared memory segments, named and anonymous, and fd passing. */
#ifndef IPCKIT_SHM_H
#define IPCKIT_SHM_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Opaque handle to a mapped segment. */
typedef struct ik_shm ik_shm;

/* Flags for ik_shm_create / ik_shm_open / ik_shm_anon / ik_shm_from_fd. */
enum {
    IK_SHM_RDONLY = 1u << 0,        /* map read-only (open / from_fd) */
    IK_SHM_HUGE = 1u << 1,          /* try huge pages, fall back silently */
    IK_SHM_HUGE_REQUIRED = 1u << 2, /* huge pages or fail (IK_ENOTSUP/IK_ENOMEM) */
};

/*
 * Create the named segment `name` (see ik_name_check) with `size` usable
 * bytes. The kernel object is /dev/shm/ik.<name>, created O_EXCL, mode 0600,
 * and published fully initialized: no opener ever sees a half-written header.
 * On success *out owns the mapping; release it with ik_shm_close. The segment
 * persists until ik_shm_unlink (or `ipckit rm`/`gc`).
 * Errors: IK_EBADNAME, IK_EINVAL (size 0 or too large), IK_EEXIST, IK_ENOMEM,
 * IK_ENOSPC, IK_ENOTSUP (IK_SHM_HUGE_REQUIRED). Thread-safe.
 */
IK_EXPORT IK_NODISCARD int ik_shm_create(ik_shm **out, const char *name, size_t size,
                                         unsigned flags);

/* As ik_shm_create with explicit permissions (mode, trust); perm may be NULL.
 * Whoever may write a named segment (a mode with group or other write, or
 * the owner trusted by another user) can also shrink it, and every process
 * that maps it then dies of SIGBUS on its next access; named sync objects
 * are segments too. To share with less-trusted peers, pass an ik_shm_anon
 * segment's fd instead (sealed: it cannot shrink). */
IK_EXPORT IK_NODISCARD int ik_shm_create_ex(ik_shm **out, const char *name, size_t size,
                                            unsigned flags, const ik_perm *perm);

/*
 * Open an existing named segment, read-write or (IK_SHM_RDONLY) read-only.
 * The owner must be the caller's effective uid (IK_EPERM_OWNER otherwise) and
 * the header must validate (IK_EPROTO for bad magic, version or sizes;
 * IK_EKIND if it holds another kind of object, such as a named mutex).
 * Errors also: IK_EBADNAME, IK_ENOENT, IK_EACCES. Thread-safe.
 */
IK_EXPORT IK_NODISCARD int ik_shm_open(ik_shm **out, const char *name, unsigned flags);

/* As ik_shm_open, accepting the owners that perm trusts; perm may be NULL. */
IK_EXPORT IK_NODISCARD int ik_shm_open_ex(ik_shm **out, const char *name, unsigned flags,
                                          const ik_perm *perm);

/*
 * Create an anonymous segment backed by memfd_create. Its size is sealed
 * (F_SEAL_GROW|F_SEAL_SHRINK|F_SEAL_SEAL), so it can be handed to another
 * process (ik_shm_fd + ik_fd_send) and nothing is left in /dev/shm if a process
 * dies. Errors: IK_EINVAL, IK_ENOMEM, IK_ENOTSUP.
 */
IK_EXPORT IK_NODISCARD int ik_shm_anon(ik_shm **out, size_t size, unsigned flags);

/*
 * Map a segment fd received from another process. The fd must be a sealed
 * ipckit memfd (size seals present, IK_EUNSAFE otherwise), at least as large
 * as its header says (IK_EPROTO otherwise). On success the handle owns `fd`;
 * on failure the caller still owns it. The header is validated once and
 * copied: a sender that rewrites it later cannot change the mapped size.
 */
IK_EXPORT IK_NODISCARD int ik_shm_from_fd(ik_shm **out, int fd, unsigned flags);

/* Start of the user area (64-byte aligned). Valid until ik_shm_close. */
IK_EXPORT void *ik_shm_ptr(const ik_shm *shm);
/* Usable size in bytes. */
IK_EXPORT size_t ik_shm_size(const ik_shm *shm);
/* Underlying fd, owned by the handle (do not close). */
IK_EXPORT int ik_shm_fd(const ik_shm *shm);
/* 1 if the mapping is backed by huge pages, else 0. */
IK_EXPORT int ik_shm_is_huge(const ik_shm *shm);

/* Unmap and free the handle. The named object stays. NULL is ignored. */
IK_EXPORT void ik_shm_close(ik_shm *shm);

/* Remove the named segment. Mappings stay valid until closed.
 * Errors: IK_EBADNAME, IK_ENOENT, IK_EPERM_OWNER (not ours). */
IK_EXPORT IK_NODISCARD int ik_shm_unlink(const char *name);

/*
 * Send n (1..IK_FD_MAX) fds over a connected Unix socket with SCM_RIGHTS,
 * with one byte of payload. The caller keeps its fds. Never raises SIGPIPE.
 * Returns 0 or IK_EINVAL, IK_ECLOSED, a negative errno (IK_EPERM: the
 * receiving socket refuses fds, e.g. the peer of an ipckit channel opened
 * without fds=1; on a channel, use ik_send_fds).
 */
#define IK_FD_MAX 16
IK_EXPORT IK_NODISCARD int ik_fd_send(int sock, const int *fds, size_t n);

/*
 * Receive up to cap fds. Returns the count received (>= 0), with the fds
 * owned by the caller (close-on-exec set). Extra fds beyond cap are closed.
 * Blocks up to timeout_ms (-1: forever). Errors: IK_ECLOSED, IK_ETIMEDOUT,
 * IK_EPROTO (truncated control data).
 */
IK_EXPORT IK_NODISCARD int ik_fd_recv(int sock, int *fds, size_t cap, int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
