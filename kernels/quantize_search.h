#pragma once

// Internal: the per-sub-block scale searches of the K-quant and IQ4 quantizers (the algorithms
// of ggml's reference quantizers, so files we write have llama.cpp's rounding error). Each
// returns the scale of n values x and their codes L.

#include <cmath>
#include <cstdint>

namespace llama::kernels::detail {

// Round to nearest, ties to even (ggml's nearest_int).
inline int nearest_int(float v) { return static_cast<int>(std::nearbyint(v)); }

// The value of largest magnitude among v[0..n), with its sign (the first of equal magnitudes; 0
// when all are zero or NaN): what the quantizers map to their most negative code, and the scale
// of the largest sub-block scale.
inline float largest_magnitude(const float* v, int n) {
    float amax = 0.0f;
    float max = 0.0f;
    for (int i = 0; i < n; ++i) {
        if (std::fabs(v[i]) > amax) {
            amax = std::fabs(v[i]);
            max = v[i];
        }
    }
    return max;
}

// Asymmetric codes 0..nmax with value = scale * L - min (min >= 0 returned in *min): starts
// from the range [min(x, 0), max(x)] and tries nstep + 1 other inverse scales (nmax + rmin +
// rdelta * step) / range, each followed by the weighted least-squares scale and min of its codes,
// keeping the one of least weighted error (absolute with use_mad, else squared). ggml's
// make_qkx2_quants.
float search_scale_min(int n, int nmax, const float* x, const float* weights, uint8_t* L,
                       float* min, float rmin, float rdelta, int nstep, bool use_mad);

// Symmetric codes -nmax..nmax-1 stored as L + nmax, value = scale * (L - nmax): the largest
// magnitude maps to -nmax, then 18 nearby inverse scales are tried, keeping the one of least
// error weighted by x^2 (ggml's make_qx_quants with rmse_type 1, no importance weights).
float search_scale_symmetric(int n, int nmax, const float* x, int8_t* L);

// Symmetric codes as above, refined by moving single codes while that lowers the x^2-weighted
// error (ggml's make_q3_quants with do_rmse).
float search_scale_symmetric_refined(int n, int nmax, const float* x, int8_t* L);

// The index of the value in the ascending table values[0..n) nearest to v.
int nearest_table_index(int n, const int8_t* values, float v);

}  // namespace llama::kernels::detail
