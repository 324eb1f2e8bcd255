// Layer configurations (generated).
#ifndef NNFPGA_PARAMETERS_H_
#define NNFPGA_PARAMETERS_H_

#include "defines.h"
#include "nnfpga/nnfpga_common.h"
#include "nnfpga/nnfpga_dense.h"
#include "nnfpga/nnfpga_activation.h"
#include "weights/fc1.h"
#include "weights/fc2.h"
#include "weights/fc3.h"
#include "weights/output.h"
#include "weights/softmax.h"

struct config_fc1 {
    static const unsigned n_in = 16;
    static const unsigned n_out = 64;
    static const unsigned reuse_factor = 1;
    static const nnfpga::strategy_t strategy = nnfpga::STRATEGY_LATENCY;
    typedef fc1_weight_t weight_t;
    typedef fc1_bias_t bias_t;
    typedef fc1_accum_t accum_t;
    typedef short weight_raw_t;
    static const int weight_width = 16;
    typedef short bias_raw_t;
    static const int bias_width = 16;
};

struct config_fc1_relu {
    static const unsigned n_in = 64;
    static const bool has_cap = false;
    static fc1_result_t cap() { return fc1_result_t(0); }
};

struct config_fc2 {
    static const unsigned n_in = 64;
    static const unsigned n_out = 32;
    static const unsigned reuse_factor = 1;
    static const nnfpga::strategy_t strategy = nnfpga::STRATEGY_LATENCY;
    typedef fc2_weight_t weight_t;
    typedef fc2_bias_t bias_t;
    typedef fc2_accum_t accum_t;
    typedef short weight_raw_t;
    static const int weight_width = 16;
    typedef short bias_raw_t;
    static const int bias_width = 16;
};

struct config_fc2_relu {
    static const unsigned n_in = 32;
    static const bool has_cap = false;
    static fc2_result_t cap() { return fc2_result_t(0); }
};

struct config_fc3 {
    static const unsigned n_in = 32;
    static const unsigned n_out = 32;
    static const unsigned reuse_factor = 1;
    static const nnfpga::strategy_t strategy = nnfpga::STRATEGY_LATENCY;
    typedef fc3_weight_t weight_t;
    typedef fc3_bias_t bias_t;
    typedef fc3_accum_t accum_t;
    typedef short weight_raw_t;
    static const int weight_width = 16;
    typedef short bias_raw_t;
    static const int bias_width = 16;
};

struct config_fc3_relu {
    static const unsigned n_in = 32;
    static const bool has_cap = false;
    static fc3_result_t cap() { return fc3_result_t(0); }
};

struct config_output {
    static const unsigned n_in = 32;
    static const unsigned n_out = 5;
    static const unsigned reuse_factor = 1;
    static const nnfpga::strategy_t strategy = nnfpga::STRATEGY_LATENCY;
    typedef output_weight_t weight_t;
    typedef output_bias_t bias_t;
    typedef output_accum_t accum_t;
    typedef short weight_raw_t;
    static const int weight_width = 16;
    typedef short bias_raw_t;
    static const int bias_width = 16;
};

struct config_softmax {
    static const unsigned n_in = 5;
    static const unsigned n_rows = 1;
    typedef softmax_exp_table_t exp_table_t;
    typedef softmax_inv_table_t inv_table_t;
    typedef ap_ufixed<21,4> sum_t;
    static const int sum_width = 21;
    static const unsigned table_size = 1024;
    static const unsigned fine_size = 64;
    static const int in_width = 16;
    static const bool in_signed = true;
    static const int coarse_shift = 6;
    static const int fine_shift = 0;
    static const int inv_shift = 10;
    typedef unsigned int exp_table_raw_t;
    static const int exp_table_width = 18;
    typedef unsigned int inv_table_raw_t;
    static const int inv_table_width = 18;
};

#endif  // NNFPGA_PARAMETERS_H_
