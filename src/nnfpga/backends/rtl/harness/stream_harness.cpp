// nnfpga streaming harness for Verilator (--cc --exe --prefix Vtop): a valid/ready source and sink around a
// design with ports clk, rst, in_valid, in_ready, in_data, out_valid, out_ready, out_data.
//
// usage: stream_harness IN OUT N_IN N_OUT IN_STRIDE OUT_STRIDE SEED MAX_CYCLES DRAIN_CYCLES
//   IN        N_IN input beats, IN_STRIDE bytes each: the in_data port's little-endian image
//   OUT       written: N_OUT output beats of OUT_STRIDE bytes, then the total cycle count (int64), then the
//             cycle each input beat was taken (N_IN int64) and each output beat was given (N_OUT int64)
//   SEED      0: source always valid, sink always ready; else each withholds about 1 cycle in 4
//             (pseudo-random, this seed): input stalls and output backpressure
//   MAX_CYCLES  give up (exit 3) when the outputs are not all there by then
//   DRAIN_CYCLES  after the last output, check for this many cycles that out_valid stays low
// The source holds in_valid and in_data until the beat is accepted (AXI-Stream rules). Reset: rst high for the
// first 2 cycles; registers start random (--x-initial unique, randReset(2)).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "Vtop.h"
#include "verilated.h"

static const uint64_t RESET_CYCLES = 2;

static bool coin(uint64_t &lcg) {  // true about 3 times in 4
    lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    return (lcg >> 62) != 0;
}

int main(int argc, char **argv) {
    if (argc != 10) {
        std::fprintf(stderr, "usage: %s IN OUT N_IN N_OUT IN_STRIDE OUT_STRIDE SEED MAX_CYCLES DRAIN_CYCLES\n",
                     argv[0]);
        return 2;
    }
    const size_t n_in = std::strtoull(argv[3], nullptr, 10);
    const size_t n_out = std::strtoull(argv[4], nullptr, 10);
    const size_t in_stride = std::strtoull(argv[5], nullptr, 10);
    const size_t out_stride = std::strtoull(argv[6], nullptr, 10);
    uint64_t lcg = std::strtoull(argv[7], nullptr, 10);
    const bool stalls = lcg != 0;
    const uint64_t max_cycles = std::strtoull(argv[8], nullptr, 10);
    const uint64_t drain = std::strtoull(argv[9], nullptr, 10);

    std::vector<uint8_t> in(n_in * in_stride);
    FILE *f = std::fopen(argv[1], "rb");
    if (!f || std::fread(in.data(), 1, in.size(), f) != in.size()) {
        std::fprintf(stderr, "cannot read %zu bytes of input beats from %s\n", in.size(), argv[1]);
        return 2;
    }
    std::fclose(f);

    std::unique_ptr<VerilatedContext> ctx(new VerilatedContext);
    ctx->randReset(2);
    std::unique_ptr<Vtop> top(new Vtop{ctx.get()});
    if (sizeof(top->in_data) != in_stride || sizeof(top->out_data) != out_stride) {
        std::fprintf(stderr, "port image sizes differ: in_data %zu (expected %zu), out_data %zu (expected %zu)\n",
                     sizeof(top->in_data), in_stride, sizeof(top->out_data), out_stride);
        return 2;
    }

    std::vector<uint8_t> out(n_out * out_stride);
    std::vector<int64_t> in_at(n_in), out_at(n_out);
    size_t fed = 0, got = 0;
    bool offering = false;
    uint64_t cycle = 0, last = 0;
    for (;; cycle++) {
        if (got == n_out && cycle > last + drain) break;
        if (cycle > max_cycles) {
            std::fprintf(stderr, "timeout: %zu of %zu outputs (%zu of %zu inputs taken) after %llu cycles\n", got,
                         n_out, fed, n_in, (unsigned long long)cycle);
            return 3;
        }
        const bool reset = cycle < RESET_CYCLES;
        if (!reset && !offering && fed < n_in) offering = !stalls || coin(lcg);
        const bool ready = !reset && (!stalls || coin(lcg));
        top->clk = 0;
        top->rst = reset;
        top->in_valid = offering;
        if (offering) std::memcpy(&top->in_data, &in[fed * in_stride], in_stride);
        top->out_ready = ready;
        top->eval();
        if (offering && top->in_ready) {
            in_at[fed] = (int64_t)cycle;
            fed++;
            offering = false;
        }
        if (!reset && top->out_valid && ready) {
            if (got == n_out) {
                std::fprintf(stderr, "spurious output beat in cycle %llu: %zu expected\n",
                             (unsigned long long)cycle, n_out);
                return 4;
            }
            std::memcpy(&out[got * out_stride], &top->out_data, out_stride);
            out_at[got] = (int64_t)cycle;
            got++;
            last = cycle;
        }
        top->clk = 1;
        top->eval();
    }
    top->final();

    f = std::fopen(argv[2], "wb");
    if (!f) {
        std::fprintf(stderr, "cannot write %s\n", argv[2]);
        return 2;
    }
    std::fwrite(out.data(), 1, out.size(), f);
    const int64_t cycles = (int64_t)cycle;
    std::fwrite(&cycles, sizeof(int64_t), 1, f);
    std::fwrite(in_at.data(), sizeof(int64_t), n_in, f);
    std::fwrite(out_at.data(), sizeof(int64_t), n_out, f);
    std::fclose(f);
    std::printf("%zu beats in, %zu out, %llu cycles\n", fed, got, (unsigned long long)cycle);
    return 0;
}
