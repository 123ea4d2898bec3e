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
