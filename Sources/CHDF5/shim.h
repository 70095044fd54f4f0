// CHDF5: libhdf5 plus static inline wrappers for the macros Swift cannot import.
#include <hdf5.h>
