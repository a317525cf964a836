#include "util/progress_bar.h"

#include <unistd.h>

#include <cstdio>

namespace nerfedit {

namespace {
std::string FormatSeconds(double s) {
  char buf[32];
  int total = static_cast<int>(s + 0.5);
  if (total >= 3600) {
    std::snprintf(buf, sizeof(buf), "%d:%02d:%02d", total / 3600, (total / 60) % 60, total % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%02d:%02d", total / 60, total % 60);
  }
  return buf;
}
}  // namespace

ProgressBar::ProgressBar(std::string label, int64_t total, std::string unit)
    : label_(std::move(label)), unit_(unit.empty() ? "" : " " + unit), total_(total < 1 ? 1 : total), tty_(::isatty(STDERR_FILENO)) {
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

ProgressBar::~ProgressBar() {
  if (!finished_ && tty_) std::fprintf(stderr, "\n");
}

double ProgressBar::ElapsedSeconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void ProgressBar::Update(int64_t done, const std::string& metrics) {
  auto now = std::chrono::steady_clock::now();
  if (tty_) {
    if (std::chrono::duration<double>(now - last_draw_).count() < 0.1 && done < total_) return;
    last_draw_ = now;
    Draw(done, metrics, false);
  } else {
    int percent = static_cast<int>(100 * done / total_);
    if (percent / 10 > last_percent_printed_ / 10 || last_percent_printed_ < 0) {
      last_percent_printed_ = percent;
      Draw(done, metrics, true);
    }
  }
}

void ProgressBar::Finish(const std::string& metrics) {
  if (finished_) return;
  Draw(total_, metrics, true);
  finished_ = true;
}

void ProgressBar::Draw(int64_t done, const std::string& metrics, bool final_line) {
  const double elapsed = ElapsedSeconds();
  const double frac = static_cast<double>(done) / total_;
  const double eta = done > 0 ? elapsed * (1.0 - frac) / frac : 0.0;
  const int width = 24;
  int filled = static_cast<int>(frac * width);
  std::string bar(filled, '#');
  bar += std::string(width - filled, '-');
  std::fprintf(stderr, "%s%s [%s] %3d%% %lld/%lld%s %s<%s %s%s", tty_ ? "\r\033[K" : "", label_.c_str(), bar.c_str(),
               static_cast<int>(frac * 100), static_cast<long long>(done), static_cast<long long>(total_), unit_.c_str(),
               FormatSeconds(elapsed).c_str(), FormatSeconds(eta).c_str(), metrics.c_str(),
               final_line ? "\n" : "");
  std::fflush(stderr);
}

}  // namespace nerfedit
