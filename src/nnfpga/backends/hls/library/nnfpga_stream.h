// nnfpga layer library: io_stream. Every stream carries pixels: one element is one pixel's channel vector
// (a tensor (..., C) is a stream of prod(...) pixels of C values, row-major; a vector (n,) is one pixel of n).
//
// Convolution and pooling run on a line buffer: one input pixel accepted per step (II = reuse_factor), the padded
// input walked row by row (padding positions are steps that read nothing), the last ext_h - 1 rows of the padded
// width kept in line[] (line_rows = max(ext_h - 1, 1)), the window (ext_h x ext_w pixels, dilation included) held
// in shift registers win[]. After the pixel at padded (r, c) is shifted in, win[i][j] holds padded pixel
// (r - ext_h + 1 + i, c - ext_w + 1 + j): when that window's top-left corner is on the stride grid, one output
// pixel is computed exactly as io_parallel computes it (nnfpga_conv.h: Dense per group over the window's positions
// in row-major order, the channel last; padding is a zero input; nnfpga_pool.h: a fold over the window's real
// positions). 1D tensors are 2D tensors of one row.
//
// Zero padding, cropping and upsampling follow a step table computed from the op's own move of pixel numbers:
// each step reads at most one input pixel (into a ring of buf_pixels pixels) and writes at most one output pixel.
#ifndef NNFPGA_STREAM_H_
#define NNFPGA_STREAM_H_

#include "hls_stream.h"
#include "nnfpga_dense.h"

namespace nnfpga {

template <class T, unsigned N>
struct pixel {
    T data[N];
    T &operator[](unsigned i) { return data[i]; }
    const T &operator[](unsigned i) const { return data[i]; }
};

// A whole tensor of n values from (to) a stream of pixels of C values (a buffered stage's input and output).
template <class T, unsigned C, unsigned N>
void read_pixels(hls::stream<pixel<T, C> > &in, T data[N]) {
    for (unsigned p = 0; p < N / C; p++) {
        NNFPGA_HLS(PIPELINE)
        const pixel<T, C> px = in.read();
        for (unsigned c = 0; c < C; c++) {
            NNFPGA_HLS(UNROLL)
            data[p * C + c] = px[c];
        }
    }
}

template <class T, unsigned C, unsigned N>
void write_pixels(const T data[N], hls::stream<pixel<T, C> > &out) {
    for (unsigned p = 0; p < N / C; p++) {
        NNFPGA_HLS(PIPELINE)
        pixel<T, C> px;
        for (unsigned c = 0; c < C; c++) {
            NNFPGA_HLS(UNROLL)
            px[c] = data[p * C + c];
        }
        out.write(px);
    }
}

// The next padded pixel x at padded column c into the line buffer and the window's shift registers.
template <class data_T, class CONFIG_T>
void shift_in(const data_T x[CONFIG_T::n_chan], data_T line[CONFIG_T::line_rows][CONFIG_T::padded_w][CONFIG_T::n_chan],
              data_T win[CONFIG_T::ext_h][CONFIG_T::ext_w][CONFIG_T::n_chan], unsigned c) {
    for (unsigned ch = 0; ch < CONFIG_T::n_chan; ch++) {
        NNFPGA_HLS(UNROLL)
        data_T column[CONFIG_T::ext_h];  // padded rows r - ext_h + 1 .. r at column c
        column[CONFIG_T::ext_h - 1] = x[ch];
        for (unsigned k = 0; k + 1 < CONFIG_T::ext_h; k++) {
            NNFPGA_HLS(UNROLL)
            column[CONFIG_T::ext_h - 2 - k] = line[k][c][ch];  // line[k]: row r - 1 - k
        }
        for (unsigned k = CONFIG_T::ext_h - 1; k > 1; k--) {
            NNFPGA_HLS(UNROLL)
            line[k - 1][c][ch] = line[k - 2][c][ch];
        }
        if (CONFIG_T::ext_h > 1) line[0][c][ch] = x[ch];
        for (unsigned i = 0; i < CONFIG_T::ext_h; i++) {
            NNFPGA_HLS(UNROLL)
            for (unsigned j = 0; j + 1 < CONFIG_T::ext_w; j++) {
                NNFPGA_HLS(UNROLL)
                win[i][j][ch] = win[i][j + 1][ch];
            }
            win[i][CONFIG_T::ext_w - 1][ch] = column[i];
        }
    }
}

// Whether padded position (r, c) is an input pixel (not padding).
template <class CONFIG_T>
bool is_real(unsigned r, unsigned c) {
    return r >= CONFIG_T::pad_top && r < CONFIG_T::pad_top + CONFIG_T::in_h && c >= CONFIG_T::pad_left &&
           c < CONFIG_T::pad_left + CONFIG_T::in_w;
}

// Reads the pixel at padded (r, c) (zeros for padding) and shifts it in; true when the window now ending at (r, c)
// gives an output pixel (its top-left corner (r0, c0) is on the stride grid and inside the output).
template <class data_T, class CONFIG_T>
bool step_window(hls::stream<pixel<data_T, CONFIG_T::n_chan> > &in,
                 data_T line[CONFIG_T::line_rows][CONFIG_T::padded_w][CONFIG_T::n_chan],
                 data_T win[CONFIG_T::ext_h][CONFIG_T::ext_w][CONFIG_T::n_chan], unsigned r, unsigned c) {
    data_T x[CONFIG_T::n_chan];
    NNFPGA_HLS(ARRAY_PARTITION variable=x complete)
    if (is_real<CONFIG_T>(r, c)) {
        const pixel<data_T, CONFIG_T::n_chan> px = in.read();
        for (unsigned ch = 0; ch < CONFIG_T::n_chan; ch++) x[ch] = px[ch];
    } else {
        for (unsigned ch = 0; ch < CONFIG_T::n_chan; ch++) x[ch] = data_T(0);
    }
    shift_in<data_T, CONFIG_T>(x, line, win, c);
    if (r + 1 < CONFIG_T::ext_h || c + 1 < CONFIG_T::ext_w) return false;
    const unsigned r0 = r + 1 - CONFIG_T::ext_h, c0 = c + 1 - CONFIG_T::ext_w;
    return r0 % CONFIG_T::stride_h == 0 && c0 % CONFIG_T::stride_w == 0 && r0 / CONFIG_T::stride_h < CONFIG_T::out_h &&
           c0 / CONFIG_T::stride_w < CONFIG_T::out_w;
}

template <class data_T, class res_T, class CONFIG_T>
void conv_stream(hls::stream<pixel<data_T, CONFIG_T::n_chan> > &in, hls::stream<pixel<res_T, CONFIG_T::n_filt> > &out,
                 const typename CONFIG_T::weight_raw_t weights[CONFIG_T::n_groups * CONFIG_T::n_in * CONFIG_T::n_out],
                 const typename CONFIG_T::bias_raw_t biases[CONFIG_T::n_filt]) {
    const unsigned cg = CONFIG_T::n_chan / CONFIG_T::n_groups;
    data_T line[CONFIG_T::line_rows][CONFIG_T::padded_w][CONFIG_T::n_chan];
    NNFPGA_HLS(ARRAY_PARTITION variable=line complete dim=1)
    NNFPGA_HLS(ARRAY_PARTITION variable=line complete dim=3)
    data_T win[CONFIG_T::ext_h][CONFIG_T::ext_w][CONFIG_T::n_chan];
    NNFPGA_HLS(ARRAY_PARTITION variable=win complete dim=0)
    for (unsigned r = 0; r < CONFIG_T::padded_h; r++) {
        for (unsigned c = 0; c < CONFIG_T::padded_w; c++) {
            NNFPGA_HLS(PIPELINE II=CONFIG_T::reuse_factor)
            if (!step_window<data_T, CONFIG_T>(in, line, win, r, c)) continue;
            pixel<res_T, CONFIG_T::n_filt> y;
            for (unsigned g = 0; g < CONFIG_T::n_groups; g++) {
                NNFPGA_HLS(UNROLL)
                data_T window[CONFIG_T::n_in];
                NNFPGA_HLS(ARRAY_PARTITION variable=window complete)
                for (unsigned ki = 0; ki < CONFIG_T::k_h; ki++) {
                    NNFPGA_HLS(UNROLL)
                    for (unsigned kj = 0; kj < CONFIG_T::k_w; kj++) {
                        NNFPGA_HLS(UNROLL)
                        for (unsigned ch = 0; ch < cg; ch++) {
                            NNFPGA_HLS(UNROLL)
                            window[(ki * CONFIG_T::k_w + kj) * cg + ch] =
                                win[ki * CONFIG_T::dil_h][kj * CONFIG_T::dil_w][g * cg + ch];
                        }
                    }
                }
                res_T part[CONFIG_T::n_out];
                NNFPGA_HLS(ARRAY_PARTITION variable=part complete)
                dense<data_T, res_T, CONFIG_T>(window, part, weights + g * CONFIG_T::n_in * CONFIG_T::n_out,
                                               biases + g * CONFIG_T::n_out);
                for (unsigned j = 0; j < CONFIG_T::n_out; j++) {
                    NNFPGA_HLS(UNROLL)
                    y[g * CONFIG_T::n_out + j] = part[j];
                }
            }
            out.write(y);
        }
    }
}

// max_pool / avg_pool over the line buffer: the same folds as nnfpga_pool.h over the window's real positions.
template <class data_T, class res_T, class CONFIG_T>
void pool_stream(hls::stream<pixel<data_T, CONFIG_T::n_chan> > &in, hls::stream<pixel<res_T, CONFIG_T::n_chan> > &out) {
    typedef typename CONFIG_T::accum_t accum_t;
    data_T line[CONFIG_T::line_rows][CONFIG_T::padded_w][CONFIG_T::n_chan];
    NNFPGA_HLS(ARRAY_PARTITION variable=line complete dim=1)
    NNFPGA_HLS(ARRAY_PARTITION variable=line complete dim=3)
    data_T win[CONFIG_T::ext_h][CONFIG_T::ext_w][CONFIG_T::n_chan];
    NNFPGA_HLS(ARRAY_PARTITION variable=win complete dim=0)
    for (unsigned r = 0; r < CONFIG_T::padded_h; r++) {
        for (unsigned c = 0; c < CONFIG_T::padded_w; c++) {
            NNFPGA_HLS(PIPELINE II=CONFIG_T::reuse_factor)
            if (!step_window<data_T, CONFIG_T>(in, line, win, r, c)) continue;
            const unsigned r0 = r + 1 - CONFIG_T::ext_h, c0 = c + 1 - CONFIG_T::ext_w;
            pixel<res_T, CONFIG_T::n_chan> y;
            for (unsigned ch = 0; ch < CONFIG_T::n_chan; ch++) {
                NNFPGA_HLS(UNROLL)
                data_T best = 0;
                accum_t acc = 0;
                long long n = 0;
                for (unsigned ki = 0; ki < CONFIG_T::k_h; ki++) {
                    NNFPGA_HLS(UNROLL)
                    for (unsigned kj = 0; kj < CONFIG_T::k_w; kj++) {
                        NNFPGA_HLS(UNROLL)
                        if (!is_real<CONFIG_T>(r0 + ki * CONFIG_T::dil_h, c0 + kj * CONFIG_T::dil_w)) continue;
                        const data_T x = win[ki * CONFIG_T::dil_h][kj * CONFIG_T::dil_w][ch];
                        if (n == 0 || x > best) best = x;
                        acc = (accum_t)(acc + x);
                        n++;
                    }
                }
                if (CONFIG_T::is_max) {
                    y[ch] = (res_T)(accum_t)best;
                } else {
                    if (CONFIG_T::count_pad) n = CONFIG_T::k_h * CONFIG_T::k_w;
                    const long long m = mantissa<accum_t, CONFIG_T::accum_width, CONFIG_T::accum_signed>(acc);
                    set_mantissa<accum_t, CONFIG_T::accum_width>(acc, m / n);  // C division: toward zero
                    y[ch] = (res_T)acc;
                }
            }
            out.write(y);
        }
    }
}

// Global max / average pooling: one fold per channel over the pixels in stream order (the window's row-major
// order), one output pixel at the end.
template <class data_T, class res_T, class CONFIG_T>
void global_pool_stream(hls::stream<pixel<data_T, CONFIG_T::n_chan> > &in,
                        hls::stream<pixel<res_T, CONFIG_T::n_chan> > &out) {
    typedef typename CONFIG_T::accum_t accum_t;
    data_T best[CONFIG_T::n_chan];
    accum_t acc[CONFIG_T::n_chan];
    NNFPGA_HLS(ARRAY_PARTITION variable=best complete)
    NNFPGA_HLS(ARRAY_PARTITION variable=acc complete)
    for (unsigned p = 0; p < CONFIG_T::n_pixels_in; p++) {
        NNFPGA_HLS(PIPELINE II=CONFIG_T::reuse_factor)
        const pixel<data_T, CONFIG_T::n_chan> px = in.read();
        for (unsigned ch = 0; ch < CONFIG_T::n_chan; ch++) {
            NNFPGA_HLS(UNROLL)
            if (p == 0 || px[ch] > best[ch]) best[ch] = px[ch];
            acc[ch] = (accum_t)((p == 0 ? accum_t(0) : acc[ch]) + px[ch]);
        }
    }
    pixel<res_T, CONFIG_T::n_chan> y;
    for (unsigned ch = 0; ch < CONFIG_T::n_chan; ch++) {
        NNFPGA_HLS(UNROLL)
        if (CONFIG_T::is_max) {
            y[ch] = (res_T)(accum_t)best[ch];
        } else {
            accum_t a = acc[ch];
            const long long m = mantissa<accum_t, CONFIG_T::accum_width, CONFIG_T::accum_signed>(a);
            set_mantissa<accum_t, CONFIG_T::accum_width>(a, m / (long long)CONFIG_T::n_pixels_in);
            y[ch] = (res_T)a;
        }
    }
    out.write(y);
}

// Zero padding, cropping, upsampling. steps[t] = 2 * (slot + 2) + read: read = 1 takes the next input pixel into
// ring slot (number of pixels read so far) % buf_pixels; slot >= 0 writes the output pixel held in that ring slot,
// slot = -1 writes zeros, slot = -2 writes nothing.
template <class data_T, class res_T, class CONFIG_T>
void move_stream(hls::stream<pixel<data_T, CONFIG_T::n_chan> > &in, hls::stream<pixel<res_T, CONFIG_T::n_chan> > &out,
                 const int steps[CONFIG_T::n_steps]) {
    data_T buf[CONFIG_T::buf_pixels][CONFIG_T::n_chan];
    NNFPGA_HLS(ARRAY_PARTITION variable=buf complete dim=2)
    unsigned n_read = 0;
    for (unsigned t = 0; t < CONFIG_T::n_steps; t++) {
        NNFPGA_HLS(PIPELINE II=CONFIG_T::reuse_factor)
        const int step = steps[t];
        if (step & 1) {
            const pixel<data_T, CONFIG_T::n_chan> px = in.read();
            for (unsigned ch = 0; ch < CONFIG_T::n_chan; ch++) buf[n_read % CONFIG_T::buf_pixels][ch] = px[ch];
            n_read++;
        }
        const int slot = step / 2 - 2;
        if (slot == -2) continue;
        pixel<res_T, CONFIG_T::n_chan> y;
        for (unsigned ch = 0; ch < CONFIG_T::n_chan; ch++) {
            NNFPGA_HLS(UNROLL)
            y[ch] = slot < 0 ? res_T(0) : (res_T)buf[slot][ch];
        }
        out.write(y);
    }
}

}  // namespace nnfpga

#endif
