/* Error strings and version. */
#include <spoofguard/common.h>

const char *sg_strerror(int err)
{
    switch (err) {
    case SG_OK:
        return "success";
    case SG_ENOMEM:
        return "out of memory";
    case SG_EINVAL:
        return "invalid argument";
    case SG_ESYNTAX:
        return "syntax error";
    case SG_ELIMIT:
        return "limit exceeded";
    case SG_EIO:
        return "I/O error";
    case SG_ENOTFOUND:
        return "not found";
    case SG_ESTATE:
        return "invalid state";
    case SG_ECRYPTO:
        return "cryptographic library error";
    case SG_EPERM:
        return "refused for safety";
    case SG_EEXIST:
        return "already exists";
    case SG_ETIMEOUT:
        return "timed out";
    case SG_EDNS:
        return "resolver error";
    case SG_EUNSUPPORTED:
        return "unsupported";
    }
    return "unknown error";
}

const char *sg_version(void)
{
    return SG_VERSION_STRING;
}
