/* The liveness token of a fifo:// listener (src/core/fifolock.c), shared by
 * the fifo transport and the registry. Not installed. */
#ifndef IK_CORE_FIFOLOCK_H
#define IK_CORE_FIFOLOCK_H

#include "internal.h"

/*
 * A live fifo:// listener on the pair <base>.up.fifo / <base>.down.fifo holds
 * an open-file-description write lock (F_OFD_SETLK) on the regular file
 * <base>.fifo.lock, created 0600 next to the FIFOs (for fifo://NAME inside
 * the private runtime directory, which only its owner can write: no other
 * uid can create, replace or lock it). The kernel drops the lock when the
 * listener dies. A gc removing the file holds a READ lock meanwhile, so a
 * listener can tell "gc at work" (retry) from "live listener" (busy).
 */
#define IK__FIFO_LOCK_SUFFIX ".fifo.lock"

/* Take the lock of base: the lock fd (keep it open while listening) or
 * IK_EADDRINUSE (a live listener holds it), IK_EUNSAFE (a symlink, not a
 * regular file, or group/other bits), IK_EPERM_OWNER, IK_ENAMETOOLONG or
 * another IK_E*. Never blocks for long (a concurrent gc: bounded retry). */
int ik__fifo_lock_take(const char *base);
/* Release: unlink <base>.fifo.lock if it is still the locked file, then
 * close fd. */
void ik__fifo_lock_drop(const char *base, int fd);
/* Is the lock of base held? 1 yes, 0 no (or no lock file), negative IK_E*
 * when it cannot be told. Works on another user's file when root. */
int ik__fifo_lock_held(const char *base);
/* gc: remove <base>.fifo.lock if owned by owner and no listener holds it
 * (under a read lock, so no listener can take it meanwhile). 0 (removed or
 * absent), IK_EBUSY, IK_EPERM_OWNER or IK_E*. */
int ik__fifo_lock_collect(const char *base, uid_t owner);

#endif
