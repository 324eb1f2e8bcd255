// nnfpga's own minimal hls::stream<T> for C simulation: an unbounded FIFO. Same file name and API subset as
// Xilinx's (write, read, read_nb, write_nb, empty, full, size, << and >>, optional name); shares no code with it.
// Unlike Xilinx's model, reading an empty stream is a hard error: it prints the stream's name and aborts (in C
// simulation that is always a bug, and the RTL would hang).
#ifndef NNFPGA_HLS_STREAM_H
#define NNFPGA_HLS_STREAM_H

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <string>

namespace hls {

template <class T> class stream {
 public:
  stream() : name_(default_name()) {}
  explicit stream(const char* name) : name_(name ? name : default_name()) {}
  explicit stream(const std::string& name) : name_(name) {}
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;
  ~stream() {
    if (!data_.empty())
      std::fprintf(stderr, "WARNING: hls::stream '%s' destroyed with %zu unread element(s)\n", name_.c_str(),
                   data_.size());
  }

  void write(const T& x) { data_.push_back(x); }
  bool write_nb(const T& x) {
    write(x);
    return true;
  }
  void operator<<(const T& x) { write(x); }

  T read() {
    if (data_.empty()) {
      std::fprintf(stderr, "ERROR: hls::stream '%s' read while empty (the hardware would stall here)\n",
                   name_.c_str());
      std::fflush(stderr);
      std::abort();
    }
    T x = data_.front();
    data_.pop_front();
    return x;
  }
  void read(T& x) { x = read(); }
  bool read_nb(T& x) {
    if (data_.empty()) return false;
    x = read();
    return true;
  }
  void operator>>(T& x) { x = read(); }

  bool empty() const { return data_.empty(); }
  bool full() const { return false; }
  std::size_t size() const { return data_.size(); }
  const std::string& name() const { return name_; }

 private:
  static std::string default_name() {
    static unsigned counter = 0;
    return "hls_stream." + std::to_string(++counter);
  }
  std::string name_;
  std::deque<T> data_;
};

}  // namespace hls

#endif  // NNFPGA_HLS_STREAM_H
