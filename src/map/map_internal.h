/* Internals of the map area (memory-mapped files and the log). Not installed. */
#ifndef IK_MAP_INTERNAL_H
#define IK_MAP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* System page size, cached. */
size_t ik__page_size(void);

/* Grow fd to at least size bytes, never shrinking it (fallocate; ftruncate
 * upward only where fallocate is unsupported). Returns 0 or IK_E*. */
int ik__file_extend(int fd, uint64_t size);

#endif
