/* ipckit: inter-process communication for Linux. Umbrella header. */
#ifndef IPCKIT_H
#define IPCKIT_H

#include "ipckit/common.h"
#include "ipckit/shm.h"
#include "ipckit/sync.h"
#include "ipckit/map.h"
#include "ipckit/log.h"
#include "ipckit/chan.h"
#include "ipckit/registry.h"

#endif
