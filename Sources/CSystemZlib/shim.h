// CSystemZlib: the system zlib (raw inflate and CRC-32 for zip archives). Nothing is wrapped:
// every function AlexConvZip calls imports into Swift as declared.
#ifndef ALEXCONV_CSYSTEMZLIB_SHIM_H
#define ALEXCONV_CSYSTEMZLIB_SHIM_H
#include <zlib.h>
#endif
