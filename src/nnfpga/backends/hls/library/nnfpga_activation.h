// nnfpga layer library: activations. Semantics of each: src/nnfpga/ops/activations.py, tables.py, softmax.py.
#ifndef NNFPGA_ACTIVATION_H_
#define NNFPGA_ACTIVATION_H_

#include "nnfpga_common.h"

namespace nnfpga {

template <class data_T, class res_T, class CONFIG_T>
void linear(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_in]) {
    for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
        NNFPGA_HLS(UNROLL)
        res[i] = (res_T)data[i];
    }
}

// max(x, 0), clipped at CONFIG_T::cap() when CONFIG_T::has_cap.
template <class data_T, class res_T, class CONFIG_T>
void relu(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_in]) {
    for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
        NNFPGA_HLS(UNROLL)
        data_T x = data[i];
        if (x < 0) x = 0;
        if (CONFIG_T::has_cap && x > CONFIG_T::cap()) x = CONFIG_T::cap();
        res[i] = (res_T)x;
    }
}

// x >= 0 ? x : alpha * x (product exact), then cast.
template <class data_T, class res_T, class CONFIG_T>
void leaky_relu(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_in]) {
    const typename CONFIG_T::param_t alpha = CONFIG_T::alpha();
    for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
        NNFPGA_HLS(UNROLL)
        const data_T x = data[i];
        if (x >= 0)
            res[i] = (res_T)x;
        else
            res[i] = (res_T)(x * alpha);
    }
}

// clip(slope * x + offset, 0, 1), computed exactly, then cast.
template <class data_T, class res_T, class CONFIG_T>
void hard_sigmoid(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_in]) {
    const typename CONFIG_T::param_t slope = CONFIG_T::slope(), offset = CONFIG_T::offset();
    for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
        NNFPGA_HLS(UNROLL)
        const data_T x = data[i];
        if (x * slope + offset < 0)
            res[i] = (res_T)0;
        else if (x * slope + offset > 1)
            res[i] = (res_T)1;
        else
            res[i] = (res_T)(x * slope + offset);
    }
}

// clip(x, -1, 1), exact, then cast.
template <class data_T, class res_T, class CONFIG_T>
void hard_tanh(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_in]) {
    for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
        NNFPGA_HLS(UNROLL)
        const data_T x = data[i];
        if (x < -1)
            res[i] = (res_T)(-1);
        else if (x > 1)
            res[i] = (res_T)1;
        else
            res[i] = (res_T)x;
    }
}

// Table lookup: idx = clamp(floor(x / 2^step_log2) - lo_steps, 0, size - 1), a shift of the mantissa.
template <class data_T, class CONFIG_T>
inline long long table_index(const data_T &x) {
    const long long m = mantissa<data_T, CONFIG_T::in_width, CONFIG_T::in_signed>(x);
    return clamp_index(shift_floor<CONFIG_T::index_shift>(m) - CONFIG_T::lo_steps, CONFIG_T::table_size);
}

// sigmoid, tanh: the table entry, cast to the result.
template <class data_T, class res_T, class CONFIG_T>
void table_activation(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_in],
                      const typename CONFIG_T::table_raw_t table[CONFIG_T::table_size]) {
    typedef typename CONFIG_T::table_t table_t;
    for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
        NNFPGA_HLS(UNROLL)
        res[i] = (res_T)from_raw<table_t, CONFIG_T::table_width>(table[table_index<data_T, CONFIG_T>(data[i])]);
    }
}

// ELU: x for x >= 0, else the table entry alpha * (exp(x) - 1).
template <class data_T, class res_T, class CONFIG_T>
void elu(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_in],
         const typename CONFIG_T::table_raw_t table[CONFIG_T::table_size]) {
    typedef typename CONFIG_T::table_t table_t;
    for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
        NNFPGA_HLS(UNROLL)
        const data_T x = data[i];
        if (x >= 0)
            res[i] = (res_T)x;
        else
            res[i] = (res_T)from_raw<table_t, CONFIG_T::table_width>(table[table_index<data_T, CONFIG_T>(x)]);
    }
}

// Softmax (stable form, two-table exponential) over the last axis: CONFIG_T::n_rows rows of CONFIG_T::n_in
// values each; see src/nnfpga/ops/softmax.py.
template <class data_T, class res_T, class CONFIG_T>
void softmax(const data_T data[CONFIG_T::n_rows * CONFIG_T::n_in], res_T res[CONFIG_T::n_rows * CONFIG_T::n_in],
             const typename CONFIG_T::exp_table_raw_t exp_coarse[CONFIG_T::table_size],
             const typename CONFIG_T::exp_table_raw_t exp_fine[CONFIG_T::fine_size],
             const typename CONFIG_T::inv_table_raw_t inv_table[CONFIG_T::table_size]) {
    typedef typename CONFIG_T::exp_table_t exp_t;
    typedef typename CONFIG_T::inv_table_t inv_t;
    for (unsigned r = 0; r < CONFIG_T::n_rows; r++) {
        NNFPGA_HLS(UNROLL)
        const unsigned base = r * CONFIG_T::n_in;
        long long m[CONFIG_T::n_in];
        NNFPGA_HLS(ARRAY_PARTITION variable=m complete)
        long long mx = 0;
        for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
            NNFPGA_HLS(UNROLL)
            m[i] = mantissa<data_T, CONFIG_T::in_width, CONFIG_T::in_signed>(data[base + i]);
            if (i == 0 || m[i] > mx) mx = m[i];
        }
        exp_t e[CONFIG_T::n_in];
        NNFPGA_HLS(ARRAY_PARTITION variable=e complete)
        typename CONFIG_T::sum_t sum = 0;
        for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
            NNFPGA_HLS(UNROLL)
            const long long neg_d = mx - m[i];
            long long j = shift_floor<CONFIG_T::coarse_shift>(neg_d);
            if (j > (long long)CONFIG_T::table_size - 1) j = CONFIG_T::table_size - 1;
            const long long k = shift_floor<CONFIG_T::fine_shift>(neg_d) & (long long)(CONFIG_T::fine_size - 1);
            e[i] = (exp_t)(from_raw<exp_t, CONFIG_T::exp_table_width>(exp_coarse[j]) *
                           from_raw<exp_t, CONFIG_T::exp_table_width>(exp_fine[k]));
            sum += e[i];
        }
        const long long s = mantissa<typename CONFIG_T::sum_t, CONFIG_T::sum_width, false>(sum);
        long long t = shift_floor<CONFIG_T::inv_shift>(s);
        if (t > (long long)CONFIG_T::table_size - 1) t = CONFIG_T::table_size - 1;
        const inv_t inv = from_raw<inv_t, CONFIG_T::inv_table_width>(inv_table[t]);
        for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
            NNFPGA_HLS(UNROLL)
            res[base + i] = (res_T)(e[i] * inv);
        }
    }
}

}  // namespace nnfpga

#endif
