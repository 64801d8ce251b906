/* Error codes: text and names from the one IK_ERRNO_MAP list. */
#include "internal.h"

const char *ik_strerror(int err)
{
    if (err >= 0)
        return "success";
    switch (err) {
#define IK__ERR_MSG(name, value, msg)                                                              \
    case (value):                                                                                  \
        return msg;
        IK_ERRNO_MAP(IK__ERR_MSG)
#undef IK__ERR_MSG
    }
    return "unknown error";
}

const char *ik_err_name(int err)
{
    if (err >= 0)
        return "IK_OK";
    switch (err) {
#define IK__ERR_NAME(name, value, msg)                                                             \
    case (value):                                                                                  \
        return "IK_" #name;
        IK_ERRNO_MAP(IK__ERR_NAME)
#undef IK__ERR_NAME
    }
    return "IK_UNKNOWN";
}

#define IK__STR2(x) #x
#define IK__STR(x)  IK__STR2(x)

const char *ik_version(void)
{
    return IK__STR(IK_VERSION_MAJOR) "." IK__STR(IK_VERSION_MINOR) "." IK__STR(IK_VERSION_PATCH);
}
