/* ipckit: object registry — list, remove and garbage-collect named objects. */
#ifndef IPCKIT_REGISTRY_H
#define IPCKIT_REGISTRY_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Number of attached pids reported in ik_obj_info.pids. */
#define IK_OBJ_PIDS_MAX 8

/*
 * One named ipckit object, as seen by the registry at scan time. The
 * library owns it and its strings: they are valid only during the callback
 * that receives them. New fields are only ever appended.
 */
typedef struct ik_obj_info {
    const char *kind;   /* "shm", "mutex", "sem", ..., "fifo", "socket"; "?" if unknown */
    const char *name;   /* object name, without the kernel prefix */
    const char *path;   /* filesystem path of the kernel object */
    const char *status; /* "ok", "corrupt" (bad header), "creating", "noaccess" */
    uint64_t size;      /* usable bytes (segments; file size if corrupt), 0 otherwise */
    long uid;           /* owner */
    long gid;
    unsigned mode;        /* permission bits (07777) */
    int creator_pid;      /* creating process; -1 unknown */
    int creator_alive;    /* 1 alive (same pid and start time), 0 dead, -1 unknown */
    int attached;         /* live processes other than the caller that map or hold it open;
                             -1 when not scanned (IK_OBJ_NO_ATTACH) */
    int attached_unknown; /* 1: a live process that could use it was not inspectable */
    int self_attached;    /* 1: the calling process maps or holds it */
    int listening; /* sockets: a live socket is bound to it; fifo:// pairs: their listener lives (1
                      yes, 0 no, -1 unknown or n/a) */
    int npids;     /* pids[0..npids): the first attached pids */
    int pids[IK_OBJ_PIDS_MAX];
    int64_t created_ns; /* CLOCK_REALTIME creation time (segments), 0 unknown */
} ik_obj_info;

/* Flags for ik_obj_list / ik_obj_remove / ik_obj_gc. */
enum {
    IK_OBJ_ALL_USERS = 1u << 0, /* include other users' objects (root may remove them) */
    IK_OBJ_NO_ATTACH = 1u << 1, /* list only: skip the /proc attachment scan */
    IK_OBJ_DRY_RUN = 1u << 2,   /* gc only: report, remove nothing */
    IK_OBJ_CORRUPT = 1u << 3,   /* gc only: also remove unattached corrupt segments */
    IK_OBJ_EXACT = 1u << 4,     /* `prefix` must match the whole name */
};

/* Called once per object. Return 0 to go on; anything else stops the scan
 * and becomes the return value of ik_obj_list. */
typedef int (*ik_obj_list_fn)(const ik_obj_info *info, void *arg);

/*
 * List the named ipckit objects of every registered kind: segments
 * (/dev/shm/ik.*: shm, mutex, sem, ...) and FIFOs and sockets of the runtime
 * directory. Only the caller's own objects unless IK_OBJ_ALL_USERS. Objects
 * whose name starts with `prefix` (NULL: all; with IK_OBJ_EXACT: the name
 * equals it) are passed to fn in name order. Attachment is found in one scan
 * of /proc/<pid>/maps and /proc/<pid>/fd (zombies and the caller excluded).
 * Flags: IK_OBJ_ALL_USERS, IK_OBJ_NO_ATTACH, IK_OBJ_EXACT.
 * Returns the number of objects passed to fn, fn's non-zero return value, or
 * IK_EINVAL (fn NULL, unknown flags), IK_ENOMEM, or an error opening
 * /dev/shm or the runtime directory. Thread-safe; fn may call other ipckit
 * functions.
 */
IK_EXPORT IK_NODISCARD int ik_obj_list(const char *prefix, unsigned flags, ik_obj_list_fn fn,
                                       void *arg);

/*
 * Remove every object called `name` (of kind `kind` only, unless NULL),
 * whatever its state: this is `ipckit rm`, no liveness check. Processes that
 * have it mapped or open keep using it; new opens fail with IK_ENOENT.
 * The owner must be the caller (root: anyone, with IK_OBJ_ALL_USERS).
 * Flags: IK_OBJ_ALL_USERS. Returns the number removed (>= 1), or
 * IK_EBADNAME, IK_ENOENT (nothing by that name), IK_EPERM_OWNER (owned by
 * another user), IK_EINVAL (unknown flags), IK_EUNSAFE. Thread-safe.
 */
IK_EXPORT IK_NODISCARD int ik_obj_remove(const char *name, const char *kind, unsigned flags);

/* Called by ik_obj_gc for each object it acts on. result: 0 removed (or, with
 * IK_OBJ_DRY_RUN, would be removed); IK_EPROTO a corrupt segment kept;
 * IK_EBUSY it came into use during collection and was kept; another
 * negative IK_E* removal failed. */
typedef void (*ik_obj_gc_fn)(const ik_obj_info *info, int result, void *arg);

/*
 * Garbage-collect orphaned objects whose name starts with `prefix` (NULL:
 * all). An object is removed only if (1) its creator is dead (pid and start
 * time no longer match a live, non-zombie process; FIFOs and sockets have no
 * recorded creator), (2) no live process maps it or holds it open, the
 * caller included, and no process that could use it was uninspectable,
 * (3) sockets: no live socket is bound to it. Each candidate is first
 * renamed out of reach, then re-checked, then unlinked (or put back with
 * IK_EBUSY). Corrupt segments are reported (IK_EPROTO) and kept unless
 * IK_OBJ_CORRUPT and unattached. See docs/registry.md.
 * Flags: IK_OBJ_DRY_RUN, IK_OBJ_CORRUPT, IK_OBJ_ALL_USERS, IK_OBJ_EXACT.
 * fn may be NULL. Returns the number removed (would be removed), or
 * IK_EINVAL, IK_ENOMEM or a scan error. Thread-safe.
 */
IK_EXPORT IK_NODISCARD int ik_obj_gc(const char *prefix, unsigned flags, ik_obj_gc_fn fn,
                                     void *arg);

#ifdef __cplusplus
}
#endif
#endif
