// kernels/conv2d_winograd.h: the CPU's fast path for 3x3 convolutions with
// stride 1 and dilation 1, Winograd's minimal filtering F(2x2, 3x3)
// (S. Winograd, "Arithmetic Complexity of Computations", 1980; A. Lavin and
// S. Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016).
// kernels/conv2d.h stays the definition: this computes the same sums in
// another order, and the tests hold it to the plain loops.
//
// One output tile of 2 x 2 pixels needs a 4 x 4 tile d of the (zero-padded)
// input. For one input and one output channel, with g the 3 x 3 filter,
//
//   Y (2 x 2) = A^T [ (G g G^T) (.) (B^T d B) ] A        (.) = elementwise
//
//   B^T = [ 1  0 -1  0 ]      G = [  1     0     0  ]      A^T = [ 1  1  1  0 ]
//         [ 0  1  1  0 ]          [ 1/2   1/2   1/2 ]            [ 0  1 -1 -1 ]
//         [ 0 -1  1  0 ]          [ 1/2  -1/2   1/2 ]
//         [ 0  1  0 -1 ]          [  0     0     1  ]
//
// 16 multiplications per tile instead of the direct sum's 4 x 9 = 36: 2.25
// times fewer. Summed over the input channels, the elementwise products turn
// into 16 matrix products, one per position xi = 4 a + b of the transformed
// 4 x 4 tile:
//
//   U_xi[k, c] = (G g_kc G^T)[a, b]       the filter transform, once per call
//   V_xi[c, t] = (B^T d_ct B)[a, b]       the input transform of tile t
//   M_xi (Cout, T) = U_xi (Cout, Cin) * V_xi (Cin, T)      gemm_cpu (kernels/gemm.h)
//   Y_kt = A^T M_kt A                     the output transform, M_kt the 16 values of (k, t)
//
// The transforms only add, subtract and (in G) halve, so the result rounds
// like the direct sum plus a few additions per product. The products are the
// im2col path's own GEMM: the saving is the multiplications, and no im2col
// matrix (9 x the input) is written or read back.
//
// The problem solved, in the names used below:
//   out[n, k, p, q] (+)= sum_{c, r, s} u[k, c, r, s] * in[n, c, p - pad_h + r, q - pad_w + s]
// with in zero outside its Hin x Win, for the Hout x Wout outputs.
//  - Forward: in = x, u = w, out = y (Hout = P, Wout = Q).
//  - The data gradient of a stride-1 3 x 3 convolution is one too:
//      dx[n, c, h, v] = sum_{k, r, s} w[k, c, r, s] * dy[n, k, h + pad_h - r, v + pad_w - s]
//    i.e. in = dy padded by 2 - pad, u = w turned by 180 degrees with its
//    channel axes swapped, u[c, k, r, s] = w[k, c, 2 - r, 2 - s]
//    (winograd_filter_transform_cpu's `data_gradient`). Hence pad <= 2.
//  - The weight gradient of the forward problem follows from differentiating
//    Y = A^T [U (.) V] A: dM = A dY A^T, dU = dM (.) V, dg = G^T dU G, summed
//    over every tile of the batch:
//      dw[k, c] = G^T [ sum_t (A dy_kt A^T) (.) (B^T d_ct B) ] G
//    dy_kt the 2 x 2 tile of dy (zero where the last tile row or column is half
//    outside). Again 16 products, now with the tiles as the inner dimension:
//      dU_xi (Cout, Cin) += dM_xi (Cout, T) * V_xi (Cin, T)^T     gemm_cpu
//    with V the forward's input transform and dM_xi[k, t] = (A dy_kt A^T)[xi]
//    the output-gradient transform (winograd_output_gradient_tile); 16 instead
//    of 36 multiplications per tile and channel pair, as forward.
//
// Tiles: ceil(Hout / 2) x ceil(Wout / 2) per image. Where Hout or Wout is odd,
// the last tile row or column is half outside: computed, not written. The
// tile rows of the batch (one per image and tile row) go through in blocks,
// so that the scratch for V and M, 16 (Cin + Cout) elements per tile, stays
// near p.block_elems whatever the batch; the GEMMs of a block are
// (Cout x Cin) times (Cin x the block's tiles). The weight gradient's
// products (Cout x the block's tiles) times (the block's tiles x Cin) add
// up into dU block by block: its sums, alone of the three, depend on the
// block size (not on the threads), by rounding.
#pragma once

#include <cstdint>

#include "kernels/common.h"
#include "kernels/conv2d.h"

namespace skinmtl {

// The sizes of one problem (above).
struct WinogradConv3x3 {
  int N = 0, Cin = 0, Hin = 0, Win = 0;  // in (N, Cin, Hin, Win)
  int Cout = 0, Hout = 0, Wout = 0;      // out (N, Cout, Hout, Wout)
  int pad_h = 0, pad_w = 0;              // 0 .. 2
  int64_t block_elems = int64_t(1) << 22; // V and M of one block, at most (a tile row at least)
  int tiles_h() const { return (Hout + 1) / 2; }
  int tiles_w() const { return (Wout + 1) / 2; }
};

// The forward problem of a convolution (x -> y) and its data gradient's (dy -> dx),
// with the block size of the setting in force (kernels/conv2d.h, Conv2dCpuWinograd).
WinogradConv3x3 winograd_forward_problem(const Conv2dShape& sh);
WinogradConv3x3 winograd_data_gradient_problem(const Conv2dShape& sh);

// Tile rows per block, and the scratch winograd_conv3x3_cpu needs for V and M:
// 16 (Cin + Cout) tiles_w elements per tile row of the block.
int64_t winograd_block_tile_rows(const WinogradConv3x3& p);
int64_t winograd_scratch_elems(const WinogradConv3x3& p);
// U's elements: 16 Cout Cin.
inline int64_t winograd_filter_elems(const WinogradConv3x3& p) { return 16 * (int64_t)p.Cout * p.Cin; }
// The whole scratch of a convolution or a weight gradient by this path: U (or
// dU), then V and M (or dM) of one block.
inline int64_t winograd_total_scratch_elems(const WinogradConv3x3& p) {
  return winograd_filter_elems(p) + winograd_scratch_elems(p);
}

// ---- one tile's transforms (the matrices above, written out) ------------------------------

// u (4 x 4, row-major) = G g G^T for one 3 x 3 filter g (row-major).
template <typename T>
inline void winograd_filter_tile(T* u, const T* g) {
  const T half = T(0.5);
  T gg[4][3];  // G g
  for (int s = 0; s < 3; ++s) {
    gg[0][s] = g[s];
    gg[1][s] = half * (g[s] + g[3 + s] + g[6 + s]);
    gg[2][s] = half * (g[s] - g[3 + s] + g[6 + s]);
    gg[3][s] = g[6 + s];
  }
  for (int a = 0; a < 4; ++a) {  // (G g) G^T, row by row
    u[4 * a + 0] = gg[a][0];
    u[4 * a + 1] = half * (gg[a][0] + gg[a][1] + gg[a][2]);
    u[4 * a + 2] = half * (gg[a][0] - gg[a][1] + gg[a][2]);
    u[4 * a + 3] = gg[a][2];
  }
}

// v (4 x 4) = B^T d B for one 4 x 4 input tile d (both row-major).
template <typename T>
inline void winograd_input_tile(T* v, const T* d) {
  T e[4][4];  // B^T d: rows combined
  for (int s = 0; s < 4; ++s) {
    e[0][s] = d[s] - d[8 + s];
    e[1][s] = d[4 + s] + d[8 + s];
    e[2][s] = d[8 + s] - d[4 + s];
    e[3][s] = d[4 + s] - d[12 + s];
  }
  for (int a = 0; a < 4; ++a) {  // (B^T d) B: columns combined the same way
    v[4 * a + 0] = e[a][0] - e[a][2];
    v[4 * a + 1] = e[a][1] + e[a][2];
    v[4 * a + 2] = e[a][2] - e[a][1];
    v[4 * a + 3] = e[a][1] - e[a][3];
  }
}

// y (2 x 2) = A^T m A for one 4 x 4 tile m (both row-major).
template <typename T>
inline void winograd_output_tile(T* y, const T* m) {
  T f[2][4];  // A^T m
  for (int s = 0; s < 4; ++s) {
    f[0][s] = m[s] + m[4 + s] + m[8 + s];
    f[1][s] = m[4 + s] - m[8 + s] - m[12 + s];
  }
  for (int r = 0; r < 2; ++r) {  // (A^T m) A
    y[2 * r + 0] = f[r][0] + f[r][1] + f[r][2];
    y[2 * r + 1] = f[r][1] - f[r][2] - f[r][3];
  }
}

// m (4 x 4) = A dy A^T for one 2 x 2 tile dy of the output's gradient (both
// row-major): the transpose of winograd_output_tile, A = (A^T)^T.
template <typename T>
inline void winograd_output_gradient_tile(T* m, const T* dy) {
  T f[4][2];  // A dy
  for (int s = 0; s < 2; ++s) {
    f[0][s] = dy[s];
    f[1][s] = dy[s] + dy[2 + s];
    f[2][s] = dy[s] - dy[2 + s];
    f[3][s] = -dy[2 + s];
  }
  for (int a = 0; a < 4; ++a) {  // (A dy) A^T
    m[4 * a + 0] = f[a][0];
    m[4 * a + 1] = f[a][0] + f[a][1];
    m[4 * a + 2] = f[a][0] - f[a][1];
    m[4 * a + 3] = -f[a][1];
  }
}

// dg (3 x 3) = G^T du G for one 4 x 4 tile du of dU (both row-major): the
// transpose of winograd_filter_tile.
template <typename T>
inline void winograd_filter_gradient_tile(T* dg, const T* du) {
  const T half = T(0.5);
  T f[3][4];  // G^T du
  for (int s = 0; s < 4; ++s) {
    f[0][s] = du[s] + half * (du[4 + s] + du[8 + s]);
    f[1][s] = half * (du[4 + s] - du[8 + s]);
    f[2][s] = half * (du[4 + s] + du[8 + s]) + du[12 + s];
  }
  for (int r = 0; r < 3; ++r) {  // (G^T du) G
    dg[3 * r + 0] = f[r][0] + half * (f[r][1] + f[r][2]);
    dg[3 * r + 1] = half * (f[r][1] - f[r][2]);
    dg[3 * r + 2] = half * (f[r][1] + f[r][2]) + f[r][3];
  }
}

// ---- CPU (kernels/cpu/conv2d_winograd.cpp) ------------------------------------------------

// U (16, Cout, Cin), U[xi][k][c] = (G g_kc G^T)[xi], from w (K, C, 3, 3):
// forward, Cout = K and Cin = C, g_kc = w[k, c]; data_gradient, Cout = C and
// Cin = K, g_ck = w[k, c] turned by 180 degrees. Overwritten.
template <typename T>
void winograd_filter_transform_cpu(T* U, const T* w, int K, int C, bool data_gradient);

// out (N, Cout, Hout, Wout) = (or +=, with accumulate) the problem's sum over
// in (N, Cin, Hin, Win), with U from winograd_filter_transform_cpu.
// scratch: winograd_scratch_elems(p) elements.
template <typename T>
void winograd_conv3x3_cpu(T* out, const T* in, const T* U, T* scratch, const WinogradConv3x3& p,
                          bool accumulate);

// dw (K, C, 3, 3) = (or +=, with accumulate) the weight gradient of the
// forward problem p (in = x, out = dy): G^T [sum over the batch's tiles of
// (A dy A^T) (.) (B^T x B)] G. scratch: winograd_total_scratch_elems(p).
template <typename T>
void winograd_weight_gradient_cpu(T* dw, const T* x, const T* dy, T* scratch, const WinogradConv3x3& p,
                                  bool accumulate);

}  // namespace skinmtl
