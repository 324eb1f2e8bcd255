// nnfpga RTL simulation harness for Verilator (--cc --exe --prefix Vtop). Streams input vectors into the
// design, one per clock (optionally with idle cycles), and records every output with the cycle it appeared in.
//
// usage: harness IN OUT N IN_STRIDE OUT_STRIDE IDLE_SEED MAX_CYCLES DRAIN_CYCLES II
//   IN       N input vectors, IN_STRIDE bytes each: the in_data port's little-endian image
//   OUT      written: N int64 input cycles, N int64 output cycles, N output vectors of OUT_STRIDE bytes
//   IDLE_SEED  0: in_valid every cycle; else about 1 cycle in 8 idle (pseudo-random, this seed)
//   MAX_CYCLES give up (exit 3) when the outputs are not all there by then
//   DRAIN_CYCLES after the last output, check for this many cycles that out_valid stays low
//   II       at least this many cycles from one input vector to the next (the design's initiation interval)
// Reset: rst is held for the first 2 cycles; registers start random (--x-initial unique, randReset(2)).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "Vtop.h"
#include "verilated.h"

static const uint64_t RESET_CYCLES = 2;

int main(int argc, char **argv) {
    if (argc != 10) {
        std::fprintf(stderr, "usage: %s IN OUT N IN_STRIDE OUT_STRIDE IDLE_SEED MAX_CYCLES DRAIN_CYCLES II\n",
                     argv[0]);
        return 2;
    }
    const size_t n = std::strtoull(argv[3], nullptr, 10);
    const size_t in_stride = std::strtoull(argv[4], nullptr, 10);
    const size_t out_stride = std::strtoull(argv[5], nullptr, 10);
    uint64_t lcg = std::strtoull(argv[6], nullptr, 10);
    const bool idle = lcg != 0;
    const uint64_t max_cycles = std::strtoull(argv[7], nullptr, 10);
    const uint64_t drain = std::strtoull(argv[8], nullptr, 10);
    const uint64_t ii = std::strtoull(argv[9], nullptr, 10);

    std::vector<uint8_t> in(n * in_stride);
    FILE *f = std::fopen(argv[1], "rb");
    if (!f || std::fread(in.data(), 1, in.size(), f) != in.size()) {
        std::fprintf(stderr, "cannot read %zu bytes of input vectors from %s\n", in.size(), argv[1]);
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

    std::vector<int64_t> in_cycle(n), out_cycle(n);
    std::vector<uint8_t> out(n * out_stride);
    size_t fed = 0, got = 0;
    uint64_t cycle = 0, last = 0, next_feed = 0;
    for (;; cycle++) {
        if (got == n && cycle > last + drain) break;
        if (cycle > max_cycles) {
            std::fprintf(stderr, "timeout: %zu of %zu outputs after %llu cycles\n", got, n,
                         (unsigned long long)cycle);
            return 3;
        }
        const bool reset = cycle < RESET_CYCLES;
        bool feed = !reset && fed < n && cycle >= next_feed;
        if (feed && idle) {
            lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
            feed = (lcg >> 61) != 0;
        }
        top->clk = 0;
        top->rst = reset;
        top->in_valid = feed;
        if (feed) {
            std::memcpy(&top->in_data, &in[fed * in_stride], in_stride);
            in_cycle[fed++] = (int64_t)cycle;
            next_feed = cycle + ii;
        }
        top->eval();
        if (!reset && top->out_valid) {
            if (got == n) {
                std::fprintf(stderr, "spurious out_valid in cycle %llu: %zu inputs, more outputs\n",
                             (unsigned long long)cycle, n);
                return 4;
            }
            std::memcpy(&out[got * out_stride], &top->out_data, out_stride);
            out_cycle[got++] = (int64_t)cycle;
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
    std::fwrite(in_cycle.data(), sizeof(int64_t), n, f);
    std::fwrite(out_cycle.data(), sizeof(int64_t), n, f);
    std::fwrite(out.data(), 1, out.size(), f);
    std::fclose(f);
    std::printf("%zu vectors, %llu cycles\n", n, (unsigned long long)cycle);
    return 0;
}
