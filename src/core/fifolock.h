/* The liveness token of a fifo:// listener (src/core/fifolock.c), shared by
 * the fifo transport and the registry. Not installed. */
#ifndef IK_CORE_FIFOLOCK_H
#define IK_CORE_FIFOLOCK_H

#include "internal.h"

/*
 * A live fifo:// listener on the pair <base>.up.fifo / <base>.down.fifo holds
 * an open-file-description write lock (F_OFD_SETLK) on the whole regular
 * file <base>.fifo.lock, created 0600 next to the FIFOs (for fifo://NAME
 * inside the private runtime directory, which only its owner can write: no
 * other uid can create, replace or lock it). The kernel drops the lock when
 * the listener dies. A gc removing the file first takes a write lock on one
 * byte only (IK__FIFO_LOCK_GC_BYTE): gcs take turns on a file, no listener
 * can lock it meanwhile, and a starting listener that finds that one-byte
 * lock knows a gc is at work (it retries) rather than a live listener.
 */
#define IK__FIFO_LOCK_SUFFIX  ".fifo.lock"
#define IK__FIFO_LOCK_GC_BYTE 1

/* Take the lock of base: the lock fd (keep it open while listening) or
 * IK_EADDRINUSE (a live listener holds it), IK_EUNSAFE (a symlink, not a
 * regular file, or group/other bits), IK_EPERM_OWNER, IK_ENAMETOOLONG or
 * another IK_E*. Never blocks for long (a concurrent gc: bounded retry). */
int ik__fifo_lock_take(const char *base);
/* Release: unlink <base>.fifo.lock if it is still the locked file, then
 * close fd. */
void ik__fifo_lock_drop(const char *base, int fd);
/* Registry side, relative to an open directory dfd (no path lookups a user
 * could redirect): leaf is "<base>.fifo.lock".
 * Is it held by a listener? 1 yes, 0 no (no file, not a regular file, or
 * only a gc at work), negative IK_E* when it cannot be told. Works on
 * another user's file when root. */
int ik__fifo_lock_held_at(int dfd, const char *leaf);
/* gc: unlink it unless a listener holds it, under the gc byte lock. Only a
 * file owned by this euid, or by anyone with any_owner. 0 removed,
 * IK_ENOENT (absent), IK_EBUSY (a listener or another gc has it),
 * IK_EPERM_OWNER, IK_EUNSAFE (not a regular file) or IK_E*. */
int ik__fifo_lock_collect_at(int dfd, const char *leaf, bool any_owner);

#endif
