// CDNNL: oneDNN's C API (Debian's libdnnl-dev 2.6, which ships no pkg-config file, hence the link
// line in module.modulemap), plus the thread count of the OpenMP runtime Debian's libdnnl is built
// with, looked up at run time in the runtime libdnnl itself loaded (so nothing here links an
// OpenMP library of its own, and a TBB or sequential build simply has no such symbol).
#ifndef ALEXCONV_DNNL_SHIM_H
#define ALEXCONV_DNNL_SHIM_H

#include <dlfcn.h>
#include <stddef.h>
#include <oneapi/dnnl/dnnl.h>

/// omp_set_num_threads from the OpenMP runtime libdnnl loaded (libgomp on Debian), for the calling
/// thread (OpenMP's thread count is a per-thread setting). Returns 0 when there is no such runtime.
static inline int acx_omp_set_num_threads(int count) {
    void *self = dlopen(NULL, RTLD_LAZY);
    if (!self) return 0;
    void (*set)(int) = (void (*)(int))dlsym(self, "omp_set_num_threads");
    dlclose(self);
    if (!set) return 0;
    set(count);
    return 1;
}

/// omp_get_max_threads for the calling thread, or 0 when there is no OpenMP runtime.
static inline int acx_omp_get_max_threads(void) {
    void *self = dlopen(NULL, RTLD_LAZY);
    if (!self) return 0;
    int (*get)(void) = (int (*)(void))dlsym(self, "omp_get_max_threads");
    dlclose(self);
    return get ? get() : 0;
}

#endif
