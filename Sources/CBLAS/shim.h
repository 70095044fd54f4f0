// CBLAS: the system BLAS (OpenBLAS on Linux). Only cblas.h is needed; no macros to wrap.
#include <cblas.h>
