// kernels/common.h: what every kernel shares, on top of base/check.h (the
// checks and SKINMTL_HD, which the layers above use too).
//
//  - cuda_stream_t: the CUDA stream type, declared without the CUDA headers so
//    plain C++ files can pass a stream along. It is the very type cudaStream_t
//    names (typedef struct CUstream_st* cudaStream_t).
#pragma once

#include "base/check.h"

struct CUstream_st;
using cuda_stream_t = CUstream_st*;
