// CPU Winograd F(2x2, 3x3) for kernels/conv2d_winograd.h.
//
// Per block of tile rows (one tile row = one image n and one tile row i, its
// tiles_w tiles side by side):
//   1. the input transform, one input channel per iteration (split over the
//      threads): winograd_input_tile for all the row's tiles at once, each step
//      a vector loop over the tiles (input_transform_row below), writing their
//      16 values to V_0 .. V_15 at the tiles' columns;
//   2. the 16 products M_xi = U_xi V_xi (gemm_cpu, split over the threads);
//   3. the output transform, one output channel per iteration: the row's tiles'
//      16 values of M give their 2 x 2 outputs (winograd_output_tile, again all
//      tiles at once: output_transform_row), of which the part inside
//      Hout x Wout is stored (or added).
// The weights' transform (U) comes first, once per call. Each iteration of 1
// and 3 writes elements no other iteration writes, and a tile's values do not
// depend on the block it falls in: neither the threads nor the block size
// change a bit of the result (tested).
//
// The weight gradient (winograd_weight_gradient_cpu) runs the same blocks:
// 1. as above on x; 2. the output-gradient transform of dy, one output channel
// per iteration (output_gradient_transform_row); 3. the 16 products
// dU_xi += dM_xi V_xi^T, whose inner dimension is the block's tiles; and after
// the last block 4. dw = G^T dU G, filter by filter.
#include "kernels/conv2d_winograd.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/cpu/simd.h"
#include "kernels/gemm.h"

namespace skinmtl {

WinogradConv3x3 winograd_forward_problem(const Conv2dShape& sh) {
  WinogradConv3x3 p;
  p.N = sh.N;
  p.Cin = sh.C, p.Hin = sh.H, p.Win = sh.W;
  p.Cout = sh.K, p.Hout = sh.P, p.Wout = sh.Q;
  p.pad_h = sh.pad_h, p.pad_w = sh.pad_w;
  p.block_elems = conv2d_cpu_winograd().block_elems;
  return p;
}

WinogradConv3x3 winograd_data_gradient_problem(const Conv2dShape& sh) {
  WinogradConv3x3 p;
  p.N = sh.N;
  p.Cin = sh.K, p.Hin = sh.P, p.Win = sh.Q;
  p.Cout = sh.C, p.Hout = sh.H, p.Wout = sh.W;
  p.pad_h = 2 - sh.pad_h, p.pad_w = 2 - sh.pad_w;
  p.block_elems = conv2d_cpu_winograd().block_elems;
  return p;
}

int64_t winograd_block_tile_rows(const WinogradConv3x3& p) {
  const int64_t per_row = 16 * ((int64_t)p.Cin + p.Cout) * p.tiles_w();
  const int64_t all = (int64_t)p.N * p.tiles_h();
  return std::max<int64_t>(1, std::min(all, p.block_elems / std::max<int64_t>(per_row, 1)));
}

int64_t winograd_scratch_elems(const WinogradConv3x3& p) {
  return 16 * ((int64_t)p.Cin + p.Cout) * p.tiles_w() * winograd_block_tile_rows(p);
}

// winograd_filter_tile for every filter, in blocks of 16 output channels
// (rows of U_xi) by 64 input channels (columns), each step a vector loop over
// a row's columns: the 9 weights of each filter gathered into 9 rows, then
// G g (12 rows) and (G g) G^T (the block's entries of U_0 .. U_15). The same
// operations in the same order as winograd_filter_tile: the same bits. For the
// data gradient a row is an input channel c of w, whose filters lie in every
// w[k, c]: a block reads, k by k, the run of its 16 rows' consecutive filters
// rather than one filter from each of K places. The buffers (40 KB) live on
// the stack: a heap buffer of this size per call would be fresh pages, and
// each fault of one costs microseconds.
template <typename T>
void winograd_filter_transform_cpu(T* U, const T* w, int K, int C, bool data_gradient) {
  const int rows = data_gradient ? C : K;  // U_xi is (rows = Cout, cols = Cin)
  const int cols = data_gradient ? K : C;
  const int64_t plane = (int64_t)rows * cols;
  constexpr int kRows = 16, kCols = 64;  // one block
  const int row_blocks = (rows + kRows - 1) / kRows, col_blocks = (cols + kCols - 1) / kCols;
  const T half = T(0.5);
  SKINMTL_PARALLEL(plane * 16)
  for (int block = 0; block < row_blocks * col_blocks; ++block) {
    const int row0 = (block / col_blocks) * kRows, nrows = std::min(kRows, rows - row0);
    const int col0 = (block % col_blocks) * kCols, ncols = std::min(kCols, cols - col0);
    // g[r][i][c]: weight i of the filter of (row0 + r, col0 + c), turned by
    // 180 degrees for the data gradient (element i <- 8 - i).
    T g[kRows][9][kCols];
    if (data_gradient) {
      for (int c = 0; c < ncols; ++c) {
        const T* src = w + ((int64_t)(col0 + c) * C + row0) * 9;  // w[k, row0 .. row0 + nrows - 1]
        for (int r = 0; r < nrows; ++r)
          for (int i = 0; i < 9; ++i) g[r][i][c] = src[r * 9 + 8 - i];
      }
    } else {
      for (int r = 0; r < nrows; ++r) {
        const T* src = w + ((int64_t)(row0 + r) * C + col0) * 9;
        for (int c = 0; c < ncols; ++c)
          for (int i = 0; i < 9; ++i) g[r][i][c] = src[c * 9 + i];
      }
    }
    for (int r = 0; r < nrows; ++r) {
      T gg[4][3][kCols];  // G g
      for (int s = 0; s < 3; ++s) {
        const T* g0 = g[r][s];  // g[0][s], g[1][s], g[2][s]
        const T* g1 = g[r][3 + s];
        const T* g2 = g[r][6 + s];
        SKINMTL_SIMD
        for (int c = 0; c < ncols; ++c) {
          gg[0][s][c] = g0[c];
          gg[1][s][c] = half * (g0[c] + g1[c] + g2[c]);
          gg[2][s][c] = half * (g0[c] - g1[c] + g2[c]);
          gg[3][s][c] = g2[c];
        }
      }
      for (int a = 0; a < 4; ++a) {  // (G g) G^T
        const T* r0 = gg[a][0];
        const T* r1 = gg[a][1];
        const T* r2 = gg[a][2];
        T* u0 = U + (4 * a) * plane + (int64_t)(row0 + r) * cols + col0;
        T* u1 = u0 + plane;
        T* u2 = u1 + plane;
        T* u3 = u2 + plane;
        SKINMTL_SIMD
        for (int c = 0; c < ncols; ++c) {
          u0[c] = r0[c];
          u1[c] = half * (r0[c] + r1[c] + r2[c]);
          u2[c] = half * (r0[c] - r1[c] + r2[c]);
          u3[c] = r2[c];
        }
      }
    }
  }
}

namespace {

// 1. The input transform of one channel's tile row: V_xi[c][t0 + j] for the
// row's tiles j = 0 .. TW-1 (v: V_0's entry of tile j = 0; the 16 planes are
// `xi_step` apart). winograd_input_tile, computed for all tiles of the row at
// once: the four input rows 2i - pad_h + a are split into their even and odd
// padded columns (strip column 2j and 2j + 1 is input column 2j - pad_w and
// 2j + 1 - pad_w), so that tile j's four columns are even[j], odd[j],
// even[j + 1], odd[j + 1] and every step below is a vector loop over j.
// buf: 16 (TW + 1) elements.
template <typename T>
void input_transform_row(T* v, int64_t xi_step, const T* plane, int i, const WinogradConv3x3& p, T* buf) {
  const int TW = p.tiles_w(), L = TW + 1;
  T* even = buf;          // even[a * L + j], a = 0 .. 3
  T* odd = buf + 4 * L;   // odd[a * L + j]
  T* E = buf + 8 * L;     // B^T d for the even columns, E[a * L + j]
  T* O = buf + 12 * L;    // and for the odd ones
  for (int a = 0; a < 4; ++a) {
    T* ev = even + a * L;
    T* od = odd + a * L;
    const int h = 2 * i - p.pad_h + a;
    if (h < 0 || h >= p.Hin) {
      std::fill(ev, ev + L, T(0));
      std::fill(od, od + L, T(0));
      continue;
    }
    const T* in_row = plane + (int64_t)h * p.Win;
    for (int j = 0; j < L; ++j) {
      const int v0 = 2 * j - p.pad_w, v1 = v0 + 1;
      ev[j] = v0 >= 0 && v0 < p.Win ? in_row[v0] : T(0);
      od[j] = v1 >= 0 && v1 < p.Win ? in_row[v1] : T(0);
    }
  }
  // Rows: e0 = d0 - d2, e1 = d1 + d2, e2 = d2 - d1, e3 = d1 - d3.
  for (int half = 0; half < 2; ++half) {
    const T* d = half ? odd : even;
    T* e = half ? O : E;
    SKINMTL_SIMD
    for (int j = 0; j < L; ++j) {
      e[j] = d[j] - d[2 * L + j];
      e[L + j] = d[L + j] + d[2 * L + j];
      e[2 * L + j] = d[2 * L + j] - d[L + j];
      e[3 * L + j] = d[L + j] - d[3 * L + j];
    }
  }
  // Columns, the same four combinations of columns 2j .. 2j + 3.
  for (int a = 0; a < 4; ++a) {
    const T* ea = E + a * L;
    const T* oa = O + a * L;
    T* v0 = v + (4 * a) * xi_step;
    T* v1 = v0 + xi_step;
    T* v2 = v1 + xi_step;
    T* v3 = v2 + xi_step;
    SKINMTL_SIMD
    for (int j = 0; j < TW; ++j) {
      v0[j] = ea[j] - ea[j + 1];
      v1[j] = oa[j] + ea[j + 1];
      v2[j] = ea[j + 1] - oa[j];
      v3[j] = oa[j] - oa[j + 1];
    }
  }
}

// Calls f(channel, n, i, tr, buf) for every channel (0 .. channels - 1) and
// every tile row tr of the block that starts at tile row row0 of the batch
// (image n, its tile row i), the channels split over the threads, each thread
// with a buffer of buf_elems. `work`: the elements written, for the
// threading threshold.
template <typename T, typename F>
void for_channels_and_tile_rows(int channels, int64_t row0, int64_t rows, int TH, int64_t work, size_t buf_elems,
                                const F& f) {
  SKINMTL_PRAGMA(omp parallel if (work >= kParallelMinElements)) {
    std::vector<T> buf(buf_elems);
    SKINMTL_PRAGMA(omp for schedule(static))
    for (int c = 0; c < channels; ++c)
      for (int64_t tr = 0; tr < rows; ++tr) f(c, (row0 + tr) / TH, (int)((row0 + tr) % TH), tr, buf.data());
  }
}

// 1. for a block: V_xi[c][t] of the `rows` tile rows from row0 (t = (tile row
// - row0) * tiles_w + j), one input channel per iteration.
template <typename T>
void input_transform_block(T* V, const T* in, const WinogradConv3x3& p, int64_t row0, int64_t rows) {
  const int TW = p.tiles_w();
  const int64_t tiles = rows * TW, v_step = (int64_t)p.Cin * tiles, in_plane = (int64_t)p.Hin * p.Win;
  for_channels_and_tile_rows<T>(p.Cin, row0, rows, p.tiles_h(), 16 * v_step, 16 * (size_t)(TW + 1),
                                [&](int c, int64_t n, int i, int64_t tr, T* buf) {
                                  input_transform_row(V + (int64_t)c * tiles + tr * TW, v_step,
                                                      in + (n * p.Cin + c) * in_plane, i, p, buf);
                                });
}

// 3. The output transform of one output channel's tile row: M_xi[k][t0 + j]
// (m: M_0's entry of tile j = 0, the planes `xi_step` apart) into output rows
// 2i and 2i + 1 (those inside Hout; columns inside Wout). winograd_output_tile
// for all the row's tiles at once. buf: 12 TW elements.
template <typename T>
void output_transform_row(T* plane, const T* m, int64_t xi_step, int i, const WinogradConv3x3& p, bool accumulate,
                          T* buf) {
  const int TW = p.tiles_w();
  T* f = buf;             // A^T m: f[(r * 4 + s) * TW + j], r = 0, 1
  T* y = buf + 8 * TW;    // y[(r * 2 + b) * TW + j]: output (2i + r, 2j + b)
  for (int s = 0; s < 4; ++s) {
    const T* m0 = m + s * xi_step;
    const T* m1 = m0 + 4 * xi_step;
    const T* m2 = m1 + 4 * xi_step;
    const T* m3 = m2 + 4 * xi_step;
    T* f0 = f + s * TW;
    T* f1 = f + (4 + s) * TW;
    SKINMTL_SIMD
    for (int j = 0; j < TW; ++j) {
      f0[j] = m0[j] + m1[j] + m2[j];
      f1[j] = m1[j] - m2[j] - m3[j];
    }
  }
  for (int r = 0; r < 2; ++r) {
    const T* fr = f + r * 4 * TW;
    T* y0 = y + (2 * r) * TW;
    T* y1 = y0 + TW;
    SKINMTL_SIMD
    for (int j = 0; j < TW; ++j) {
      y0[j] = fr[j] + fr[TW + j] + fr[2 * TW + j];
      y1[j] = fr[TW + j] - fr[2 * TW + j] - fr[3 * TW + j];
    }
  }
  for (int r = 0; r < 2 && 2 * i + r < p.Hout; ++r) {
    T* dst = plane + (int64_t)(2 * i + r) * p.Wout;
    const T* y0 = y + (2 * r) * TW;
    const T* y1 = y0 + TW;
    const int pairs = p.Wout / 2;  // whole tiles; an odd Wout leaves column Wout - 1
    if (accumulate) {
      for (int j = 0; j < pairs; ++j) dst[2 * j] += y0[j], dst[2 * j + 1] += y1[j];
      if (p.Wout % 2) dst[p.Wout - 1] += y0[pairs];
    } else {
      for (int j = 0; j < pairs; ++j) dst[2 * j] = y0[j], dst[2 * j + 1] = y1[j];
      if (p.Wout % 2) dst[p.Wout - 1] = y0[pairs];
    }
  }
}

// The weight gradient's transform of one output channel's tile row of dy:
// dM_xi[k][t0 + j] = (A dy_j A^T)[xi] for the row's tiles j (m: dM_0's entry
// of tile 0, the planes `xi_step` apart), dy_j the 2 x 2 tile at rows 2i,
// 2i + 1 and columns 2j, 2j + 1, zero outside Hout x Wout.
// winograd_output_gradient_tile for all the row's tiles at once, split into
// the tiles' even and odd columns as in input_transform_row. buf: 12 TW elements.
template <typename T>
void output_gradient_transform_row(T* m, int64_t xi_step, const T* plane, int i, const WinogradConv3x3& p,
                                   T* buf) {
  const int TW = p.tiles_w();
  T* even = buf;          // even[r * TW + j] = dy[2i + r][2j], r = 0, 1
  T* odd = buf + 2 * TW;  // odd[r * TW + j] = dy[2i + r][2j + 1]
  T* F = buf + 4 * TW;    // A dy: F[(a * 2 + e) * TW + j], e = 0 the even, 1 the odd column
  for (int r = 0; r < 2; ++r) {
    T* ev = even + r * TW;
    T* od = odd + r * TW;
    const int h = 2 * i + r;
    if (h >= p.Hout) {
      std::fill(ev, ev + TW, T(0));
      std::fill(od, od + TW, T(0));
      continue;
    }
    const T* row = plane + (int64_t)h * p.Wout;
    for (int j = 0; j < TW; ++j) {
      ev[j] = row[2 * j];
      od[j] = 2 * j + 1 < p.Wout ? row[2 * j + 1] : T(0);
    }
  }
  // Rows: f0 = y0, f1 = y0 + y1, f2 = y0 - y1, f3 = -y1.
  for (int e = 0; e < 2; ++e) {
    const T* y0 = e ? odd : even;
    const T* y1 = y0 + TW;
    T* f0 = F + e * TW;
    T* f1 = f0 + 2 * TW;
    T* f2 = f1 + 2 * TW;
    T* f3 = f2 + 2 * TW;
    SKINMTL_SIMD
    for (int j = 0; j < TW; ++j) {
      f0[j] = y0[j];
      f1[j] = y0[j] + y1[j];
      f2[j] = y0[j] - y1[j];
      f3[j] = -y1[j];
    }
  }
  // Columns, the same combinations of the even and the odd column.
  for (int a = 0; a < 4; ++a) {
    const T* fe = F + (2 * a) * TW;
    const T* fo = fe + TW;
    T* m0 = m + (4 * a) * xi_step;
    T* m1 = m0 + xi_step;
    T* m2 = m1 + xi_step;
    T* m3 = m2 + xi_step;
    SKINMTL_SIMD
    for (int j = 0; j < TW; ++j) {
      m0[j] = fe[j];
      m1[j] = fe[j] + fo[j];
      m2[j] = fe[j] - fo[j];
      m3[j] = -fo[j];
    }
  }
}

// The last step of the weight gradient: dw[k, c] (=, or += with accumulate)
// G^T dU_kc G for every filter, dU (16, Cout = K, Cin = C). The operations of
// winograd_filter_gradient_tile in its order, each a vector loop over 64
// input channels of one output channel.
template <typename T>
void filter_gradient_transform(T* dw, const T* dU, int K, int C, bool accumulate) {
  const int64_t plane = (int64_t)K * C;
  constexpr int kCols = 64;
  const int col_blocks = (C + kCols - 1) / kCols;
  const T half = T(0.5);
  SKINMTL_PARALLEL(plane * 16)
  for (int block = 0; block < K * col_blocks; ++block) {
    const int k = block / col_blocks, c0 = (block % col_blocks) * kCols, n = std::min(kCols, C - c0);
    T f[3][4][kCols];  // G^T du
    T g[9][kCols];     // (G^T du) G
    for (int s = 0; s < 4; ++s) {
      const T* d0 = dU + (int64_t)s * plane + (int64_t)k * C + c0;  // du[0][s]
      const T* d1 = d0 + 4 * plane;
      const T* d2 = d1 + 4 * plane;
      const T* d3 = d2 + 4 * plane;
      SKINMTL_SIMD
      for (int c = 0; c < n; ++c) {
        f[0][s][c] = d0[c] + half * (d1[c] + d2[c]);
        f[1][s][c] = half * (d1[c] - d2[c]);
        f[2][s][c] = half * (d1[c] + d2[c]) + d3[c];
      }
    }
    for (int r = 0; r < 3; ++r) {
      SKINMTL_SIMD
      for (int c = 0; c < n; ++c) {
        g[3 * r + 0][c] = f[r][0][c] + half * (f[r][1][c] + f[r][2][c]);
        g[3 * r + 1][c] = half * (f[r][1][c] - f[r][2][c]);
        g[3 * r + 2][c] = half * (f[r][1][c] + f[r][2][c]) + f[r][3][c];
      }
    }
    T* dst = dw + ((int64_t)k * C + c0) * 9;
    for (int c = 0; c < n; ++c)
      for (int i = 0; i < 9; ++i) dst[c * 9 + i] = accumulate ? dst[c * 9 + i] + g[i][c] : g[i][c];
  }
}

}  // namespace

template <typename T>
void winograd_conv3x3_cpu(T* out, const T* in, const T* U, T* scratch, const WinogradConv3x3& p,
                          bool accumulate) {
  const int TH = p.tiles_h(), TW = p.tiles_w();
  const int64_t tile_rows = (int64_t)p.N * TH;
  const int64_t block = winograd_block_tile_rows(p);
  const int64_t out_plane = (int64_t)p.Hout * p.Wout;
  for (int64_t row0 = 0; row0 < tile_rows; row0 += block) {
    const int64_t rows = std::min(block, tile_rows - row0);
    const int64_t tiles = rows * TW;                 // columns of V_xi and M_xi
    T* V = scratch;                                  // (16, Cin, tiles)
    T* M = scratch + 16 * (int64_t)p.Cin * tiles;    // (16, Cout, tiles)
    const int64_t v_step = (int64_t)p.Cin * tiles, m_step = (int64_t)p.Cout * tiles;

    // 1. Input transform.
    input_transform_block(V, in, p, row0, rows);

    // 2. The 16 products: M_xi (Cout, tiles) = U_xi (Cout, Cin) * V_xi (Cin, tiles).
    for (int xi = 0; xi < 16; ++xi)
      gemm_cpu<T>(false, false, p.Cout, tiles, p.Cin, T(1), U + xi * (int64_t)p.Cout * p.Cin, p.Cin, V + xi * v_step,
                  tiles, T(0), M + xi * m_step, tiles);

    // 3. Output transform, one output channel per iteration.
    for_channels_and_tile_rows<T>(p.Cout, row0, rows, TH, 16 * m_step, 12 * (size_t)TW,
                                  [&](int k, int64_t n, int i, int64_t tr, T* buf) {
                                    output_transform_row(out + (n * p.Cout + k) * out_plane,
                                                         M + (int64_t)k * tiles + tr * TW, m_step, i, p, accumulate,
                                                         buf);
                                  });
  }
}

template <typename T>
void winograd_weight_gradient_cpu(T* dw, const T* x, const T* dy, T* scratch, const WinogradConv3x3& p,
                                  bool accumulate) {
  const int TH = p.tiles_h(), TW = p.tiles_w();
  const int64_t tile_rows = (int64_t)p.N * TH;
  const int64_t block = winograd_block_tile_rows(p);
  const int64_t out_plane = (int64_t)p.Hout * p.Wout;
  T* dU = scratch;  // (16, Cout, Cin), summed over the blocks
  T* work = scratch + winograd_filter_elems(p);
  if (tile_rows == 0) std::fill(dU, dU + winograd_filter_elems(p), T(0));  // an empty sum
  for (int64_t row0 = 0; row0 < tile_rows; row0 += block) {
    const int64_t rows = std::min(block, tile_rows - row0);
    const int64_t tiles = rows * TW;
    T* V = work;                                 // (16, Cin, tiles)
    T* dM = work + 16 * (int64_t)p.Cin * tiles;  // (16, Cout, tiles)
    const int64_t v_step = (int64_t)p.Cin * tiles, m_step = (int64_t)p.Cout * tiles;

    // 1. Input transform of x, as forward.
    input_transform_block(V, x, p, row0, rows);

    // 2. Output-gradient transform of dy, one output channel per iteration.
    for_channels_and_tile_rows<T>(p.Cout, row0, rows, TH, 16 * m_step, 12 * (size_t)TW,
                                  [&](int k, int64_t n, int i, int64_t tr, T* buf) {
                                    output_gradient_transform_row(dM + (int64_t)k * tiles + tr * TW, m_step,
                                                                  dy + (n * p.Cout + k) * out_plane, i, p, buf);
                                  });

    // 3. The 16 products over the block's tiles: dU_xi (Cout, Cin) (+)= dM_xi (Cout, tiles) * V_xi^T.
    const T beta = row0 == 0 ? T(0) : T(1);
    for (int xi = 0; xi < 16; ++xi)
      gemm_cpu<T>(false, true, p.Cout, p.Cin, tiles, T(1), dM + xi * m_step, tiles, V + xi * v_step, tiles, beta,
                  dU + xi * (int64_t)p.Cout * p.Cin, p.Cin);
  }
  // 4. dw = G^T dU G, filter by filter.
  filter_gradient_transform(dw, dU, p.Cout, p.Cin, accumulate);
}

#define SKINMTL_INSTANTIATE_WINOGRAD(T)                                                               \
  template void winograd_filter_transform_cpu<T>(T*, const T*, int, int, bool);                        \
  template void winograd_conv3x3_cpu<T>(T*, const T*, const T*, T*, const WinogradConv3x3&, bool);          \
  template void winograd_weight_gradient_cpu<T>(T*, const T*, const T*, T*, const WinogradConv3x3&, bool);
SKINMTL_INSTANTIATE_WINOGRAD(float)
SKINMTL_INSTANTIATE_WINOGRAD(double)
#undef SKINMTL_INSTANTIATE_WINOGRAD

}  // namespace skinmtl
