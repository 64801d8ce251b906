/* On-disk / in-memory layout of an ik_log file. Not installed; tests and the
 * fuzzer include it to build hostile files. See docs/map.md. */
#ifndef IK_MAP_LOG_LAYOUT_H
#define IK_MAP_LOG_LAYOUT_H

#include <stdint.h>

#define IK__LOG_MAGIC      0x474c4b49u /* "IKLG" little-endian */
/* 2: slot start words carry a boot tag (below). Version 1 files (no tag)
 * are still opened and written the version 1 way, so older builds sharing
 * one keep judging its writers right; they refuse version 2 files. */
#define IK__LOG_VERSION    2
#define IK__LOG_VERSION_V1 1
#define IK__LOG_HDR_SIZE   8192u
#define IK__LOG_SLOTS      256u
#define IK__LOG_SLOT_OFF   1024u
#define IK__LOG_CAP_MIN    4096u
#define IK__LOG_CAP_MAX    ((uint64_t)1 << 40)
#define IK__LOG_CAP_DEF    ((uint64_t)64 << 20)
#define IK__LOG_ALIGN      8u
#define IK__LOG_REC_HDR    16u

/* Header page(s), at file offset 0. Immutable fields first (written once
 * before the file is published), then the shared atomics on their own cache
 * lines, then the writer slot table. */
struct ik__log_hdr {
    uint32_t magic;
    uint16_t version;
    uint16_t flags;
    uint32_t hdr_size;   /* IK__LOG_HDR_SIZE: offset of the data area */
    uint32_t slot_count; /* IK__LOG_SLOTS */
    uint64_t capacity;   /* data area bytes, multiple of 4096 */
    int32_t creator_pid;
    uint32_t creator_uid;
    uint64_t creator_start;
    uint64_t created_ns;
    uint8_t pad0[16];
    /* 64: next free data offset (a record boundary), only ever grows */
    uint64_t tail;
    uint8_t pad1[56];
    /* 128: file bytes known to be allocated (max of all growers) */
    uint64_t file_size;
    uint8_t pad2[56];
    /* 192: futex word; bit 31 = "someone sleeps", low bits count commits */
    uint32_t seq;
    uint8_t pad3[60];
};
_Static_assert(sizeof(struct ik__log_hdr) == 256, "log header is 256 bytes");

/* Writer slot, at IK__LOG_SLOT_OFF + 16 * i.
 * owner: bits 0..31 pid (0 = free), bits 32..59 generation, bit 63 SETTING
 * (owner word claimed, start not yet written). start: bits 0..39 the owner's
 * start time (clock ticks, never 0), bits 40..63 the boot it ran in
 * (ik__boot_tag; 0 = unknown): a writer of another boot is dead. */
struct ik__log_slot {
    uint64_t owner;
    uint64_t start;
};
#define IK__LOG_SLOT_SETTING ((uint64_t)1 << 63)
#define IK__LOG_GEN_MASK     0x0fffffffu
#define IK__LOG_START_TICKS  (((uint64_t)1 << 40) - 1)
#define IK__LOG_START_BOOT   40

/* Record, at data + off (off a multiple of 8):
 *   claim: bits 0..26 payload length, 27..34 writer slot, 35..62 slot
 *          generation, bit 63 CLAIMED. Set by one CAS from 0.
 *   state: 0 pending, COMMITTED, or ABANDONED (writer died).
 *   crc:   crc32c of the payload, seeded with the length.
 * Then the payload, padded to 8 bytes. */
struct ik__log_rec {
    uint64_t claim;
    uint32_t state;
    uint32_t crc;
};
_Static_assert(sizeof(struct ik__log_rec) == IK__LOG_REC_HDR, "record header is 16 bytes");

#define IK__LOG_CLAIMED      ((uint64_t)1 << 63)
#define IK__LOG_LEN_MASK     ((1u << 27) - 1)
#define IK__LOG_ST_COMMITTED 0x434f4d54u /* "TMOC" */
#define IK__LOG_ST_ABANDONED 0x44454144u /* "DAED" */

#endif
