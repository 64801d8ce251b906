/* ipckit: common definitions — export macro, error codes, permissions. */
#ifndef IPCKIT_COMMON_H
#define IPCKIT_COMMON_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(IK_STATIC_DEFINE)
#define IK_EXPORT
#elif defined(IK_BUILDING)
#define IK_EXPORT __attribute__((visibility("default")))
#else
#define IK_EXPORT
#endif

/* Result of a call whose return value must be checked. */
#define IK_NODISCARD __attribute__((warn_unused_result))

#define IK_VERSION_MAJOR 0
#define IK_VERSION_MINOR 1
#define IK_VERSION_PATCH 0

/*
 * Error convention: every fallible call returns an int, 0 (or a count) on
 * success and a negative IK_E* code on failure. Codes equal -errno where an
 * errno fits; ipckit's own codes are below -4000.
 *
 * XX(name, value, message). One list generates the enum, ik_strerror() and
 * ik_err_name().
 */
#define IK_ERRNO_MAP(XX)                                                                           \
    XX(EPERM, -EPERM, "operation not permitted")                                                   \
    XX(ENOENT, -ENOENT, "no such object")                                                          \
    XX(EINTR, -EINTR, "interrupted system call")                                                   \
    XX(EIO, -EIO, "i/o error")                                                                     \
    XX(EBADF, -EBADF, "bad file descriptor")                                                       \
    XX(EAGAIN, -EAGAIN, "resource temporarily unavailable")                                        \
    XX(ENOMEM, -ENOMEM, "out of memory")                                                           \
    XX(EACCES, -EACCES, "permission denied")                                                       \
    XX(EFAULT, -EFAULT, "bad address")                                                             \
    XX(EBUSY, -EBUSY, "resource busy")                                                             \
    XX(EEXIST, -EEXIST, "object already exists")                                                   \
    XX(ENOTDIR, -ENOTDIR, "not a directory")                                                       \
    XX(EISDIR, -EISDIR, "is a directory")                                                          \
    XX(EINVAL, -EINVAL, "invalid argument")                                                        \
    XX(EMFILE, -EMFILE, "too many open files")                                                     \
    XX(EFBIG, -EFBIG, "file too large")                                                            \
    XX(ENOSPC, -ENOSPC, "no space left")                                                           \
    XX(EPIPE, -EPIPE, "broken pipe")                                                               \
    XX(ERANGE, -ERANGE, "result out of range")                                                     \
    XX(ENAMETOOLONG, -ENAMETOOLONG, "name too long")                                               \
    XX(ENOSYS, -ENOSYS, "function not implemented")                                                \
    XX(ELOOP, -ELOOP, "too many symbolic links")                                                   \
    XX(EOVERFLOW, -EOVERFLOW, "value too large")                                                   \
    XX(ENOTSUP, -ENOTSUP, "operation not supported")                                               \
    XX(EADDRINUSE, -EADDRINUSE, "address already in use")                                          \
    XX(EADDRNOTAVAIL, -EADDRNOTAVAIL, "address not available")                                     \
    XX(ENETUNREACH, -ENETUNREACH, "network unreachable")                                           \
    XX(ECONNABORTED, -ECONNABORTED, "connection aborted")                                          \
    XX(ECONNRESET, -ECONNRESET, "connection reset by peer")                                        \
    XX(ENOTCONN, -ENOTCONN, "not connected")                                                       \
    XX(ETIMEDOUT, -ETIMEDOUT, "timed out")                                                         \
    XX(ECONNREFUSED, -ECONNREFUSED, "connection refused")                                          \
    XX(EHOSTUNREACH, -EHOSTUNREACH, "host unreachable")                                            \
    XX(ESRCH, -ESRCH, "no such process")                                                           \
    XX(EOWNERDEAD, -4001, "previous owner died; state may be inconsistent")                        \
    XX(ENOTRECOVERABLE, -4002, "state not recoverable")                                            \
    XX(EPEERDEAD, -4003, "peer process died")                                                      \
    XX(EDEADLK, -4004, "deadlock detected")                                                        \
    XX(EMSGSIZE, -4005, "message too large")                                                       \
    XX(EPROTO, -4006, "protocol or layout error (bad magic, version or header)")                   \
    XX(EAUTH, -4007, "authentication failed")                                                      \
    XX(ECLOSED, -4008, "channel closed")                                                           \
    XX(EBADNAME, -4009, "invalid object name")                                                     \
    XX(EPERM_OWNER, -4010, "object owned by an untrusted user")                                    \
    XX(EUNSAFE, -4011, "unsafe path (symlink, wrong type or too permissive mode)")                 \
    XX(EKIND, -4012, "object is of another kind")

typedef enum {
#define IK__ERR_ENUM(name, value, msg) IK_##name = (value),
    IK_ERRNO_MAP(IK__ERR_ENUM)
#undef IK__ERR_ENUM
} ik_errno;

/* Text for an error code. Never NULL; unknown codes give "unknown error".
 * The string is static: do not free. Thread-safe. */
IK_EXPORT const char *ik_strerror(int err);

/* Symbolic name for an error code ("IK_EOWNERDEAD"). Never NULL; unknown
 * codes give "IK_UNKNOWN". Static string. Thread-safe. */
IK_EXPORT const char *ik_err_name(int err);

/* Library version as "MAJOR.MINOR.PATCH". Static string. */
IK_EXPORT const char *ik_version(void);

/*
 * Permissions for named objects (segments, semaphores, FIFOs, sockets ...).
 * mode:      creation mode; 0 means 0600 (owner only).
 * trust_uid: an existing object owned by this uid is accepted too (-1: none).
 * trust_gid: an existing object whose group is this gid is accepted too,
 *            provided its mode grants the group access (-1: none).
 * Without trust, an object not owned by the caller's effective uid is refused
 * with IK_EPERM_OWNER.
 */
typedef struct ik_perm {
    unsigned mode;
    long trust_uid;
    long trust_gid;
} ik_perm;

/* Flags shared by every ik_*_open of a named object. */
#define IK_CREATE (1u << 0) /* create the object if it does not exist */
#define IK_EXCL   (1u << 1) /* with IK_CREATE: fail with IK_EEXIST if it exists */

#define IK_PERM_DEFAULT ((ik_perm){.mode = 0, .trust_uid = -1, .trust_gid = -1})

/*
 * Check an object name: 1..IK_NAME_MAX characters from [A-Za-z0-9._-], not
 * starting with '.'. Returns 0 or IK_EBADNAME. Thread-safe.
 */
#define IK_NAME_MAX 64
IK_EXPORT IK_NODISCARD int ik_name_check(const char *name);

/*
 * Private runtime directory for socket and FIFO paths:
 * $XDG_RUNTIME_DIR/ipckit, else /tmp/ipckit-<uid>. Created 0700 on first
 * use; its owner and mode are verified and a symlink is refused
 * (IK_EUNSAFE, IK_EPERM_OWNER). Writes the path into buf (cap bytes,
 * IK_ENAMETOOLONG if it does not fit). Returns 0 or a negative IK_E*.
 */
IK_EXPORT IK_NODISCARD int ik_runtime_dir(char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
