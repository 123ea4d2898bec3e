// Shim for libhdf5: its type ids are macros that call H5open() first; Swift sees functions.
#pragma once
#include <hdf5.h>

static inline hid_t swift_H5P_DEFAULT(void) { return H5P_DEFAULT; }
static inline hid_t swift_H5S_ALL(void) { return H5S_ALL; }
static inline hid_t swift_H5F_ACC_RDONLY(void) { return H5F_ACC_RDONLY; }
static inline unsigned swift_H5F_ACC_TRUNC(void) { return H5F_ACC_TRUNC; }
static inline hid_t swift_H5T_NATIVE_FLOAT(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t swift_H5T_NATIVE_DOUBLE(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t swift_H5T_NATIVE_UINT8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t swift_H5T_NATIVE_INT32(void) { return H5T_NATIVE_INT32; }
static inline hid_t swift_H5T_NATIVE_INT64(void) { return H5T_NATIVE_INT64; }

// Used by Datasets (HDF5 reader/writer for A2D annotations and MATLAB v7.3 files).
static inline unsigned swift_H5F_ACC_RDONLY_flags(void) { return H5F_ACC_RDONLY; }
static inline hid_t swift_H5T_IEEE_F64LE(void) { return H5T_IEEE_F64LE; }
static inline hid_t swift_H5T_STD_U8LE(void) { return H5T_STD_U8LE; }
static inline hid_t swift_H5T_STD_I32LE(void) { return H5T_STD_I32LE; }
/// Stops libhdf5 printing its error stack to stderr; callers turn return codes into Swift errors.
static inline herr_t swift_H5E_silence(void) { return H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }
