// CHDF5: libhdf5 plus static inline wrappers for what Swift cannot import.
//
// HDF5 exposes many constants as macros that expand to casts or to `H5OPEN <global>_g`
// (the global is only valid after the library initialised itself). Swift imports neither
// kind, so each is wrapped here in a `static inline` function that runs the macro in C.
#ifndef ALEXCONV_CHDF5_SHIM_H
#define ALEXCONV_CHDF5_SHIM_H
#include <hdf5.h>

// MARK: - Property lists and selections: `(hid_t)0` casts Swift cannot import.
static inline hid_t chdf5_p_default(void) { return H5P_DEFAULT; }
static inline hid_t chdf5_s_all(void) { return H5S_ALL; }
static inline hid_t chdf5_e_default(void) { return H5E_DEFAULT; }
// Property list classes: `H5OPEN H5P_CLS_..._ID_g` (initialised at runtime).
static inline hid_t chdf5_p_link_create(void) { return H5P_LINK_CREATE; }
static inline hid_t chdf5_p_file_access(void) { return H5P_FILE_ACCESS; }

// MARK: - File access flags: `(H5CHECK H5OPEN 0x...u)` macros.
static inline unsigned chdf5_f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned chdf5_f_acc_trunc(void) { return H5F_ACC_TRUNC; }

// MARK: - Sizes and addresses: casts of -1.
/// `H5T_VARIABLE`: the size that makes a string type variable-length.
static inline size_t chdf5_t_variable(void) { return H5T_VARIABLE; }
/// `HADDR_UNDEF`: returned by H5Dget_offset when a dataset has no single contiguous extent.
static inline haddr_t chdf5_haddr_undef(void) { return HADDR_UNDEF; }

// MARK: - Predefined types: `H5OPEN H5T_..._g` globals, valid only after H5open().
static inline hid_t chdf5_t_c_s1(void) { return H5T_C_S1; }
static inline hid_t chdf5_t_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t chdf5_t_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t chdf5_t_native_int8(void) { return H5T_NATIVE_INT8; }
static inline hid_t chdf5_t_native_uint8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t chdf5_t_native_int16(void) { return H5T_NATIVE_INT16; }
static inline hid_t chdf5_t_native_uint16(void) { return H5T_NATIVE_UINT16; }
static inline hid_t chdf5_t_native_int32(void) { return H5T_NATIVE_INT32; }
static inline hid_t chdf5_t_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t chdf5_t_ieee_f32le(void) { return H5T_IEEE_F32LE; }
static inline hid_t chdf5_t_ieee_f64le(void) { return H5T_IEEE_F64LE; }

// MARK: - Object addresses
/// The file address (relative to the superblock's base address) of the header of `object`.
/// HDF5 1.12 replaced addresses by VOL tokens; the native connector's token is the address.
static inline herr_t chdf5_object_address(hid_t object, haddr_t *address) {
#if H5_VERSION_GE(1, 12, 0)
    H5O_info2_t info;
    if (H5Oget_info3(object, &info, H5O_INFO_BASIC) < 0) return -1;
    return H5VLnative_token_to_addr(object, info.token, address);
#else
    H5O_info_t info;
    if (H5Oget_info2(object, &info, H5O_INFO_BASIC) < 0) return -1;
    *address = info.addr;
    return 0;
#endif
}

// MARK: - Error reporting
/// Turns off HDF5's automatic printing of its error stack to stderr (errors are reported as Swift errors).
static inline herr_t chdf5_silence_errors(void) { return H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/// Collects the innermost (first, walking upward) and outermost (last) error descriptions into two
/// 512-byte halves of `data`. A C callback keeps Swift from passing a closure as an `H5E_walk2_t`.
static inline herr_t chdf5_error_walk(unsigned n, const H5E_error2_t *err, void *data) {
    char *buffer = (char *)data;
    if (err && err->desc) {
        snprintf(n == 0 ? buffer : buffer + 512, 512, "%s", err->desc);
    }
    return 0;
}
/// Fills `buffer` (at least 1024 bytes) with the innermost and outermost descriptions of the
/// default error stack (empty strings when none) and clears the stack.
static inline void chdf5_last_error(char *buffer, size_t size) {
    if (size < 1024) { if (size > 0) buffer[0] = 0; return; }
    buffer[0] = 0;
    buffer[512] = 0;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, chdf5_error_walk, buffer);
    H5Eclear2(H5E_DEFAULT);
}
#endif
