// nnfpga's own ap_fixed / ap_ufixed: everything lives in ap_int.h (as with Xilinx's headers, either file gives
// all four types). See ap_int.h for what is supported and the few deliberate differences from Xilinx's.
#ifndef NNFPGA_AP_FIXED_H
#define NNFPGA_AP_FIXED_H
#include "ap_int.h"
#endif
