/* Object registry internals: providers, the object table, the /proc scan. */
#ifndef IK_REGISTRY_REG_H
#define IK_REGISTRY_REG_H

#include "../core/internal.h"

#include <dirent.h>
#include <stddef.h>

struct ik__reg;
struct ik__reg_obj;

/*
 * A provider knows one family of kernel objects. Every member is a contract:
 * scan:     enumerate the objects matching reg's prefix and owner filter and
 *           add each with ik__reg_add(); returns 0 or IK_E* (a missing
 *           directory is not an error).
 * probe:    optional; after the /proc scan, add provider-specific liveness
 *           (sockets: is a live socket bound to it). Must not block.
 * isolate:  optional; make the object unreachable by name without destroying
 *           it (rename to a quarantine name), so that the gc re-check cannot
 *           race with a new opener. 0 or IK_E*.
 * restore:  undo isolate (the object was found in use). 0 or IK_E*.
 * remove:   destroy the object (its quarantine name if isolated) after
 *           checking that it is still the scanned inode and that the caller
 *           may remove it (flags: IK_OBJ_ALL_USERS). 0 or IK_E*.
 */
struct ik__reg_provider {
    const char *name;
    int (*scan)(struct ik__reg *reg);
    void (*probe)(struct ik__reg *reg, struct ik__reg_obj *o);
    int (*isolate)(struct ik__reg_obj *o);
    int (*restore)(struct ik__reg_obj *o);
    int (*remove)(struct ik__reg_obj *o, unsigned flags);
};

struct ik__reg_obj {
    ik_obj_info info; /* public view; its strings point at the fields below */
    const struct ik__reg_provider *prov;
    char name[IK_NAME_MAX + 1];
    char kind[16];
    char status[12];
    char *dir;   /* directory holding the object (malloc'd) */
    char *leaf;  /* entry name in dir (malloc'd) */
    char *path;  /* dir/leaf (malloc'd) */
    char *qleaf; /* quarantine entry name while isolated (malloc'd), else NULL */
    dev_t dev;
    ino_t ino;
    uint64_t creator_start;
    bool corrupt;
    int last_pid; /* attach scan: last pid counted, to count each process once */
};

/* A live process whose maps/fds could not be read. */
struct ik__reg_blind {
    int pid;
    uid_t ruid, euid;
};

struct ik__reg {
    const char *prefix; /* NULL: all */
    unsigned flags;
    uid_t euid;
    struct ik__reg_obj *objs;
    size_t n, cap;
    struct ik__reg_blind *blind;
    size_t nblind, blind_cap;
    char *unix_paths; /* bound unix socket paths from /proc/net/unix, NUL-separated */
    size_t unix_len;
    bool unix_ok; /* unix_paths is valid */
};

/* Registered providers, NULL-terminated. */
extern const struct ik__reg_provider *const ik__reg_providers[];
extern const struct ik__reg_provider ik__reg_prov_seg;
extern const struct ik__reg_provider ik__reg_prov_rundir;

/* True if name passes reg's prefix filter. */
bool ik__reg_match(const struct ik__reg *reg, const char *name);
/* True if an object owned by uid is in scope (own, or IK_OBJ_ALL_USERS). */
bool ik__reg_owner_ok(const struct ik__reg *reg, uid_t uid);
/* Append an object for dir/leaf with lstat data st; fills the identity, owner
 * and mode fields and defaults (creator unknown, status "ok"). Returns the
 * new object (valid until the next add) or NULL (IK_ENOMEM). */
struct ik__reg_obj *ik__reg_add(struct ik__reg *reg, const struct ik__reg_provider *prov,
                                const char *dir, const char *leaf, const char *name,
                                const struct stat *st);

/* Forget the object added last (it vanished while being read). */
void ik__reg_drop_last(struct ik__reg *reg);

/* One pass over /proc: for the n objects of objs (pointers), count the live
 * processes other than the caller that map or hold each one open; record
 * processes that could not be inspected in reg->blind. Then read the bound
 * unix socket paths. Returns 0 or IK_E* (/proc unreadable). */
int ik__reg_attach_scan(struct ik__reg *reg, struct ik__reg_obj **objs, size_t n);
/* Whether a blind (uninspectable) process could use o: same uid as its
 * owner, or o is accessible to group/other. */
bool ik__reg_blind_match(const struct ik__reg *reg, const struct ik__reg_obj *o);
/* Whether some live socket is bound to path (from /proc/net/unix); -1 when
 * /proc/net/unix was not readable. */
int ik__reg_unix_bound(const struct ik__reg *reg, const char *path);

/* Generic directory-entry operations shared by directory-based providers. */
int ik__reg_dir_isolate(struct ik__reg_obj *o);
int ik__reg_dir_restore(struct ik__reg_obj *o);
/* Unlink o (isolated or not) after identity, type (want_type: S_IFREG ...,
 * 0 any of FIFO/socket) and owner checks. */
int ik__reg_dir_remove(struct ik__reg_obj *o, unsigned flags, mode_t want_type);
/* Put quarantine entries (".ik-gc-q.<pid>.<leaf>") left by a gc that died
 * back under their names, then rewind d for the main pass. */
void ik__reg_dir_recover_all(DIR *d);

#endif
