// kernels/cpu/sgemm_avx512.cpp: see sgemm_avx512.h for what and why.
//
// The functions marked AVX512 are compiled for AVX-512 (a target attribute,
// which GCC and Clang both take); the rest of the program is not, and calls
// them only after sgemm_avx512_supported() said yes. They instantiate no
// template from a header, so no shared inline function can end up holding
// AVX-512 instructions that a machine without them would then run.
#include "kernels/cpu/sgemm_avx512.h"

#include <immintrin.h>

#include <cstdlib>
#include <new>

namespace skinmtl {

bool sgemm_avx512_supported() {
  // GCC's check reads CPUID and XGETBV: AVX-512F present and its register
  // state enabled by the OS.
  static const bool supported = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;
  }();
  return supported;
}

namespace {

// The micro-tile: MR rows of C by NR columns (two 16-float registers), held in
// 2 * MR = 24 of the 32 vector registers while the sum over k runs.
constexpr int MR = 12;
constexpr int NR = 32;
// Blocks: a KC x NR panel of B (32 KiB) stays in the 48 KiB L1 while the
// micro-kernel walks down the MC rows; the MC x KC block of A (144 KiB) stays
// in L2; the KC x NC block of B (4 MiB) in L3.
constexpr int64_t KC = 256;
constexpr int64_t MC = 144;
constexpr int64_t NC = 4096;

// A 64-byte-aligned float buffer per thread, grown on demand, never shrunk:
// the steady state allocates nothing.
struct PackBuffer {
  float* data = nullptr;
  size_t capacity = 0;  // floats
  ~PackBuffer() { std::free(data); }
  float* get(size_t floats) {
    if (floats > capacity) {
      std::free(data);
      data = nullptr;
      capacity = 0;
      const size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
      data = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (!data) throw std::bad_alloc();
      capacity = bytes / sizeof(float);
    }
    return data;
  }
};

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
int64_t lesser(int64_t a, int64_t b) { return a < b ? a : b; }

// How the micro-kernel writes its tile into C.
enum class Write { Set, Scale, Add };  // alpha*AB;  alpha*AB + beta*C;  C + alpha*AB

}  // namespace

#define AVX512 __attribute__((target("avx512f,fma")))

// GCC 12's AVX-512 shuffle intrinsics start from _mm512_undefined_ps(), which
// -Wuninitialized reports as uninitialised (a known false positive).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace {

AVX512 __mmask16 first_lanes(int64_t n) {  // the lowest min(n, 16) lanes
  return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
}

// r[i] = row i of a 16 x 16 block -> r[j] = column j. Three rounds of
// shuffles: 32-bit elements within 128-bit lanes (unpack), 64-bit pairs
// (shuffle_ps), then 128-bit lanes (shuffle_f32x4, twice).
AVX512 void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int p = 0; p < 8; ++p) {
    t[2 * p] = _mm512_unpacklo_ps(r[2 * p], r[2 * p + 1]);
    t[2 * p + 1] = _mm512_unpackhi_ps(r[2 * p], r[2 * p + 1]);
  }
  for (int q = 0; q < 4; ++q) {
    r[4 * q + 0] = _mm512_shuffle_ps(t[4 * q + 0], t[4 * q + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * q + 1] = _mm512_shuffle_ps(t[4 * q + 0], t[4 * q + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[4 * q + 2] = _mm512_shuffle_ps(t[4 * q + 1], t[4 * q + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * q + 3] = _mm512_shuffle_ps(t[4 * q + 1], t[4 * q + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int h = 0; h < 2; ++h)
    for (int i = 0; i < 4; ++i) {
      t[8 * h + i] = _mm512_shuffle_f32x4(r[8 * h + i], r[8 * h + i + 4], 0x88);
      t[8 * h + i + 4] = _mm512_shuffle_f32x4(r[8 * h + i], r[8 * h + i + 4], 0xdd);
    }
  for (int i = 0; i < 8; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
  }
}

// Rows src[0..rows) (row stride ld), columns [0, cols) -> out[c * out_ld + r]
// for c < cols, r < 16 (rows past `rows` are zero; `store` masks the lanes
// written). The transposing copy of both packs, 16 columns at a time.
AVX512 void transpose_rows(const float* src, int64_t ld, int rows, int64_t cols, float* out,
                           int64_t out_ld, __mmask16 store) {
  __m512 r[16];
  for (int64_t c0 = 0; c0 < cols; c0 += 16) {
    const __mmask16 load = first_lanes(cols - c0);
    for (int i = 0; i < 16; ++i)
      r[i] = i < rows ? _mm512_maskz_loadu_ps(load, src + i * ld + c0) : _mm512_setzero_ps();
    transpose16(r);
    const int64_t n = cols - c0 < 16 ? cols - c0 : 16;
    for (int c = 0; c < n; ++c) _mm512_mask_storeu_ps(out + (c0 + c) * out_ld, store, r[c]);
  }
}

// op(A)[i0 : i0+mc, p0 : p0+kc] -> panels of MR rows; panel r holds, for each
// k in turn, the MR values of its rows at k (rows past mc are zero).
AVX512 void pack_a(bool trans, const float* A, int64_t lda, int64_t i0, int64_t mc, int64_t p0,
                   int64_t kc, float* dst) {
  const __mmask16 mr_lanes = first_lanes(MR);
  for (int64_t ir = 0; ir < mc; ir += MR, dst += kc * MR) {
    const int m = (int)lesser(MR, mc - ir);
    if (!trans) {  // op(A)[i][k] = A[i * lda + k]: m rows, each contiguous in k
      transpose_rows(A + (i0 + ir) * lda + p0, lda, m, kc, dst, MR, mr_lanes);
    } else {  // op(A)[i][k] = A[k * lda + i]: each k is m contiguous floats
      const __mmask16 load = first_lanes(m);
      for (int64_t k = 0; k < kc; ++k)
        _mm512_mask_storeu_ps(dst + k * MR, mr_lanes,
                              _mm512_maskz_loadu_ps(load, A + (p0 + k) * lda + i0 + ir));
    }
  }
}

// op(B)[p0 : p0+kc, j0 : j0+nc] -> panels of NR columns; panel j holds, for
// each k in turn, the NR values of its columns at k (columns past nc are zero).
AVX512 void pack_b(bool trans, const float* B, int64_t ldb, int64_t p0, int64_t kc, int64_t j0,
                   int64_t nc, float* dst) {
  for (int64_t jr = 0; jr < nc; jr += NR, dst += kc * NR) {
    const int n = (int)lesser(NR, nc - jr);
    if (!trans) {  // op(B)[k][j] = B[k * ldb + j]: each k is n contiguous floats
      const __mmask16 m0 = first_lanes(n), m1 = n <= 16 ? 0 : first_lanes(n - 16);
      const float* src = B + p0 * ldb + j0 + jr;
      for (int64_t k = 0; k < kc; ++k, src += ldb) {
        _mm512_store_ps(dst + k * NR, _mm512_maskz_loadu_ps(m0, src));
        _mm512_store_ps(dst + k * NR + 16, _mm512_maskz_loadu_ps(m1, src + 16));
      }
    } else {  // op(B)[k][j] = B[j * ldb + k]: n columns, each contiguous in k
      for (int h = 0; h < 2; ++h) {
        const int rows = n - 16 * h < 0 ? 0 : n - 16 * h;
        transpose_rows(B + (j0 + jr + 16 * h) * ldb + p0, ldb, rows < 16 ? rows : 16, kc,
                       dst + 16 * h, NR, 0xFFFF);
      }
    }
  }
}

// C[0:m, 0:n] (row stride ldc) gets the product of an MR-panel of A and an
// NR-panel of B over kc steps, written as `write` says.
AVX512 void micro_kernel(int64_t kc, const float* __restrict a, const float* __restrict b,
                         float* c, int64_t ldc, int m, int n, float alpha, float beta,
                         Write write) {
  __m512 c0[MR], c1[MR];
#pragma GCC unroll 12
  for (int i = 0; i < MR; ++i) c0[i] = c1[i] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k, a += MR, b += NR) {
    const __m512 b0 = _mm512_load_ps(b);
    const __m512 b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 12
    for (int i = 0; i < MR; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i]);
      c0[i] = _mm512_fmadd_ps(ai, b0, c0[i]);
      c1[i] = _mm512_fmadd_ps(ai, b1, c1[i]);
    }
  }
  const __mmask16 m0 = first_lanes(n), m1 = n <= 16 ? 0 : first_lanes(n - 16);
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 12
  for (int i = 0; i < MR; ++i) {
    if (i >= m) break;
    float* row = c + i * ldc;
    __m512 r0 = _mm512_mul_ps(va, c0[i]), r1 = _mm512_mul_ps(va, c1[i]);
    if (write == Write::Scale) {
      r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, row), r0);
      r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, row + 16), r1);
    } else if (write == Write::Add) {
      r0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, row), r0);
      r1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, row + 16), r1);
    }
    _mm512_mask_storeu_ps(row, m0, r0);
    _mm512_mask_storeu_ps(row + 16, m1, r1);
  }
}

AVX512 void sgemm_blocked(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                          float alpha, const float* A, int64_t lda, const float* B, int64_t ldb,
                          float beta, float* C, int64_t ldc, float* a_pack, float* b_pack) {
  for (int64_t jc = 0; jc < N; jc += NC) {
    const int64_t nc = lesser(NC, N - jc);
    for (int64_t pc = 0; pc < K; pc += KC) {
      const int64_t kc = lesser(KC, K - pc);
      pack_b(trans_b, B, ldb, pc, kc, jc, nc, b_pack);
      // The first K block applies beta; later ones add to what it wrote.
      const Write write = pc > 0 || beta == 1.0f ? Write::Add : beta == 0.0f ? Write::Set : Write::Scale;
      for (int64_t ic = 0; ic < M; ic += MC) {
        const int64_t mc = lesser(MC, M - ic);
        pack_a(trans_a, A, lda, ic, mc, pc, kc, a_pack);
        for (int64_t jr = 0; jr < nc; jr += NR)
          for (int64_t ir = 0; ir < mc; ir += MR)
            micro_kernel(kc, a_pack + ir * kc, b_pack + jr * kc, C + (ic + ir) * ldc + jc + jr, ldc,
                         (int)lesser(MR, mc - ir), (int)lesser(NR, nc - jr),
                         alpha, beta, write);
      }
    }
  }
}

// ---- the dot-product path: C = alpha * A * B^T + beta * C, both operands k-contiguous ----
//
// A (M, K) and B (N, K), rows contiguous along k: the dW products of the
// convolutions (dy times the im2col matrix transposed). The path above would
// transpose B into k-major panels, a pass as long as B that is worth it only
// when each packed element is then used by many rows of A; dW's A has as few
// rows as the layer has output channels (32 to 128 in Yang et al.'s decoder)
// and a long k (the batch's output pixels), so there the transposes took as
// long as the products or longer (bench_gemm). Here nothing is
// packed: a DM x DN tile of C holds one 16-lane partial sum per element
// (DM * DN = 24 registers), runs along k sixteen at a time reading the DM rows
// of A and the DN rows of B where they lie, and adds its lanes up at the end
// of each K block.
//
// Blocks: a K block of DKC steps and DNC rows of B: the block of B (384 KiB)
// stays in L2 while every tile of A's rows passes over it, and a tile's DM
// rows of A (32 KiB) stay there while it walks the block's rows of B. The sum of each element runs over k in a fixed order (lane by lane
// within a block, the lanes added in a fixed tree, blocks in order), so a
// shape gives the same bits on every run.
constexpr int DM = 4;
constexpr int DN = 6;
constexpr int64_t DKC = 2048;
constexpr int64_t DNC = 48;

// C[0:m, 0:n] gets A[0:m, 0:kc] * B[0:n, 0:kc]^T (rows lda and ldb apart),
// written as `write` says. Rows past m or n read row 0 and are not written.
AVX512 void dot_kernel(int64_t kc, const float* A, int64_t lda, const float* B, int64_t ldb, float* c,
                       int64_t ldc, int m, int n, float alpha, float beta, Write write) {
  const float* a[DM];
  const float* b[DN];
  for (int i = 0; i < DM; ++i) a[i] = A + (i < m ? i : 0) * lda;
  for (int j = 0; j < DN; ++j) b[j] = B + (j < n ? j : 0) * ldb;
  __m512 acc[DM][DN];
#pragma GCC unroll 4
  for (int i = 0; i < DM; ++i)
#pragma GCC unroll 6
    for (int j = 0; j < DN; ++j) acc[i][j] = _mm512_setzero_ps();
  // Sixteen steps of k at a time; the last, partial one with masked loads.
  // (The loops over i and j are unrolled, so acc lives in registers.)
  for (int64_t k = 0; k < kc; k += 16) {
    const __mmask16 lanes = kc - k >= 16 ? (__mmask16)0xFFFF : first_lanes(kc - k);
    __m512 bv[DN];
#pragma GCC unroll 6
    for (int j = 0; j < DN; ++j) bv[j] = _mm512_maskz_loadu_ps(lanes, b[j] + k);
#pragma GCC unroll 4
    for (int i = 0; i < DM; ++i) {
      const __m512 av = _mm512_maskz_loadu_ps(lanes, a[i] + k);
#pragma GCC unroll 6
      for (int j = 0; j < DN; ++j) acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);
    }
  }
  float sum[DM][DN];
#pragma GCC unroll 4
  for (int i = 0; i < DM; ++i)
#pragma GCC unroll 6
    for (int j = 0; j < DN; ++j) sum[i][j] = alpha * _mm512_reduce_add_ps(acc[i][j]);
  for (int i = 0; i < m; ++i) {
    float* row = c + i * ldc;
    for (int j = 0; j < n; ++j)
      row[j] = write == Write::Set ? sum[i][j] : write == Write::Add ? row[j] + sum[i][j] : sum[i][j] + beta * row[j];
  }
}

AVX512 void sgemm_dot_blocked(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                              const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  for (int64_t pc = 0; pc < K; pc += DKC) {
    const int64_t kc = lesser(DKC, K - pc);
    // The first K block applies beta; later ones add to what it wrote.
    const Write write = pc > 0 || beta == 1.0f ? Write::Add : beta == 0.0f ? Write::Set : Write::Scale;
    for (int64_t jc = 0; jc < N; jc += DNC) {
      const int64_t nc = lesser(DNC, N - jc);
      for (int64_t ir = 0; ir < M; ir += DM)
        for (int64_t jr = 0; jr < nc; jr += DN)
          dot_kernel(kc, A + ir * lda + pc, lda, B + (jc + jr) * ldb + pc, ldb, C + ir * ldc + jc + jr, ldc,
                     (int)lesser(DM, M - ir), (int)lesser(DN, nc - jr), alpha, beta, write);
    }
  }
}

// C = beta * C (beta == 0: zeros, C not read), for K == 0 or alpha == 0.
AVX512 void scale_c(int64_t M, int64_t N, float beta, float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    float* row = C + i * ldc;
    for (int64_t j = 0; j < N; ++j) row[j] = beta == 0.0f ? 0.0f : beta * row[j];
  }
}

}  // namespace

#pragma GCC diagnostic pop
#undef AVX512

void sgemm_avx512(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                  const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                  int64_t ldc) {
  if (sgemm_avx512_dot_pays(trans_a, trans_b, M, N, K))
    sgemm_avx512_dot(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  else
    sgemm_avx512_packed(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void sgemm_avx512_packed(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                         const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                         int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) {
    scale_c(M, N, beta, C, ldc);
    return;
  }
  thread_local PackBuffer a_buf, b_buf;
  float* a_pack = a_buf.get((size_t)(round_up(lesser(MC, M), MR) * lesser(KC, K)));
  float* b_pack = b_buf.get((size_t)(round_up(lesser(NC, N), NR) * lesser(KC, K)));
  sgemm_blocked(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, a_pack, b_pack);
}

void sgemm_avx512_dot(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B,
                      int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) {
    scale_c(M, N, beta, C, ldc);
    return;
  }
  sgemm_dot_blocked(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

bool sgemm_avx512_dot_pays(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K) {
  return !trans_a && trans_b && K >= kDotDepthPerRow * M && K >= kDotMinDepth;
}

}  // namespace skinmtl
