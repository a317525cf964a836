// A terminal progress bar with ETA and free-form metrics (loss, PSNR): redraws in place on a TTY,
// prints a line every few percent otherwise (CI logs stay short).
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace nerfedit {

class ProgressBar {
 public:
  // unit names what `total` counts ("steps", "s", "frames"); shown after the count.
  ProgressBar(std::string label, int64_t total, std::string unit = "");
  ~ProgressBar();
  void Update(int64_t done, const std::string& metrics = "");
  void Finish(const std::string& metrics = "");
  double ElapsedSeconds() const;

 private:
  void Draw(int64_t done, const std::string& metrics, bool final_line);

  std::string label_;
  std::string unit_;
  int64_t total_;
  bool tty_;
  bool finished_ = false;
  int last_percent_printed_ = -1;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace nerfedit
