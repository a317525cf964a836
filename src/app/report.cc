// `nerfedit report`: one self-contained HTML page (images inlined as base64) with the training curve, held-out
// renders beside ground truth, depth maps, an orbit animation and the metrics of a run.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "app/cli_util.h"
#include "app/commands.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_reader.h"

namespace nerfedit {

namespace fs = std::filesystem;

namespace {

std::string Base64(const std::string& bytes) {
  static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    for (int k = 3; k >= 0; --k) out += table[(v >> (6 * k)) & 63];
  }
  if (i < bytes.size()) {
    uint32_t v = uint8_t(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= uint8_t(bytes[i + 1]) << 8;
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? table[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string ImageTag(const std::string& path, const std::string& title) {
  return "<img title=\"" + title + "\" src=\"data:image/png;base64," + Base64(ReadTextFile(path)) + "\">";
}

// Inlines the fragment's images: every src="FILE.png" that names a file relative to `dir` becomes a data URI, so the
// page stays self-contained.
std::string InlineImages(const std::string& html, const fs::path& dir) {
  std::string out;
  size_t pos = 0;
  const std::string key = "src=\"";
  for (size_t at; (at = html.find(key, pos)) != std::string::npos;) {
    const size_t begin = at + key.size(), end = html.find('"', begin);
    if (end == std::string::npos) break;
    const std::string src = html.substr(begin, end - begin);
    out += html.substr(pos, begin - pos);
    const fs::path file = dir / src;
    const bool local = src.size() > 4 && src.compare(src.size() - 4, 4, ".png") == 0 && src.find(':') == std::string::npos;
    out += local && fs::is_regular_file(file) ? "data:image/png;base64," + Base64(ReadTextFile(file.string())) : src;
    pos = end;
  }
  return out + html.substr(pos);
}

// PSNR over training time as an inline SVG line chart.
std::string CurveSvg(const nlohmann::json& curve) {
  if (curve.empty()) return "<p>no held-out evaluations were recorded during training</p>";
  double max_t = 1e-9, min_p = 1e9, max_p = -1e9;
  for (const auto& p : curve) {
    max_t = std::max(max_t, p.value("train_s", 0.0));
    min_p = std::min(min_p, p.value("psnr", 0.0));
    max_p = std::max(max_p, p.value("psnr", 0.0));
  }
  min_p = std::floor(min_p - 1);
  max_p = std::ceil(max_p + 1);
  const double w = 560, h = 260, left = 50, bottom = 30;
  auto x = [&](double t) { return left + (w - left - 10) * t / max_t; };
  auto y = [&](double p) { return (h - bottom) - (h - bottom - 10) * (p - min_p) / (max_p - min_p); };
  std::ostringstream svg;
  svg << "<svg width=\"" << w << "\" height=\"" << h << "\" style=\"background:#fff;border:1px solid #ccc\">";
  for (int i = 0; i <= 4; ++i) {
    const double p = min_p + (max_p - min_p) * i / 4;
    svg << "<line x1=\"" << left << "\" x2=\"" << w - 10 << "\" y1=\"" << y(p) << "\" y2=\"" << y(p)
        << "\" stroke=\"#eee\"/><text x=\"4\" y=\"" << y(p) + 4 << "\" font-size=\"11\">" << p << " dB</text>";
  }
  svg << "<text x=\"" << w / 2 << "\" y=\"" << h - 6 << "\" font-size=\"11\">training time (s), 0 – " << max_t
      << "</text><polyline fill=\"none\" stroke=\"#2a6fdb\" stroke-width=\"2\" points=\"";
  for (const auto& p : curve) svg << x(p.value("train_s", 0.0)) << "," << y(p.value("psnr", 0.0)) << " ";
  svg << "\"/>";
  for (const auto& p : curve) {
    svg << "<circle cx=\"" << x(p.value("train_s", 0.0)) << "\" cy=\"" << y(p.value("psnr", 0.0))
        << "\" r=\"3\" fill=\"#2a6fdb\"><title>step " << p.value("step", 0) << ": " << p.value("psnr", 0.0)
        << " dB</title></circle>";
  }
  svg << "</svg>";
  return svg.str();
}

std::vector<std::string> SortedFiles(const std::string& dir, const std::string& suffix) {
  std::vector<std::string> files;
  if (!fs::is_directory(dir)) return files;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      files.push_back(e.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

int RunReport(int argc, char** argv) {
  CLI::App app{"Write a self-contained HTML report of a run: metrics, PSNR-over-time curve, held-out renders beside "
               "ground truth, depth maps and an orbit animation."};
  app.name("nerfedit report");
  std::string run, out, orbit_dir, title = "nerfedit report";
  std::vector<std::string> extra_html;
  app.add_option("run", run, "run folder")->required();
  app.add_option("--out", out, "HTML file to write")->required();
  app.add_option("--orbit", orbit_dir, "folder of orbit_*.png frames (from `nerfedit render --orbit`)");
  app.add_option("--title", title, "page title");
  app.add_option("--extra", extra_html, "HTML fragment file to append (other pipelines' sections; repeatable); its "
                 "<img src=\"x.png\"> files, relative to it, are inlined");
  if (int code = ParseCommandLine(app, argc, argv); code >= 0) return code;
  NE_CHECK(fs::exists(run + "/run.json"), run, " is not a nerfedit run (no run.json)");
  const nlohmann::json info = ReadJsonFile(run + "/run.json");
  const nlohmann::json eval = fs::exists(run + "/eval.json") ? ReadJsonFile(run + "/eval.json") : nlohmann::json::object();
  const nlohmann::json curve = fs::exists(run + "/curve.json") ? ReadJsonFile(run + "/curve.json") : nlohmann::json::array();

  std::ostringstream html;
  html << "<!doctype html><html><head><meta charset=\"utf-8\"><title>" << title << "</title><style>"
       << "body{font-family:sans-serif;margin:24px;color:#222;max-width:1100px}"
       << "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}"
       << ".views{display:flex;flex-wrap:wrap;gap:14px}.view{text-align:center;font-size:12px}"
       << ".view img{width:160px;image-rendering:pixelated;display:block;margin:2px}"
       << ".pair{display:flex}#orbit{width:320px;image-rendering:pixelated}</style></head><body>";
  html << "<h1>" << title << "</h1>";
  const auto& config = info.at("config");
  html << "<p>data <code>" << config.value("data", "") << "</code> · field <b>" << config.value("field", "")
       << "</b> · sampler " << config.value("sampler", "") << "</p>";
  html << "<h2>Held-out metrics</h2><table><tr><th>views</th><th>PSNR (dB)</th><th>SSIM</th><th>depth MAE</th>"
       << "<th>steps</th><th>train time (s)</th></tr><tr><td>" << eval.value("num_views", 0) << "</td><td>"
       << eval.value("psnr", 0.0) << "</td><td>" << eval.value("ssim", 0.0) << "</td><td>"
       << (eval.contains("depth_mae") ? std::to_string(eval["depth_mae"].get<double>()) : "–") << "</td><td>"
       << (curve.empty() ? 0 : curve.back().value("step", 0)) << "</td><td>"
       << (curve.empty() ? 0.0 : curve.back().value("train_s", 0.0)) << "</td></tr></table>";
  html << "<h2>Training curve (held-out PSNR)</h2>" << CurveSvg(curve);
  html << "<h2>Held-out views: render · ground truth · depth</h2><div class=\"views\">";
  for (const auto& render : SortedFiles(run + "/eval", "_render.png")) {
    const std::string stem = render.substr(0, render.size() - std::string("_render.png").size());
    const std::string frame = fs::path(stem).filename().string();
    double psnr = 0;
    for (const auto& v : eval.value("views", nlohmann::json::array())) {
      if (std::to_string(v.value("frame_index", -1)) == frame) psnr = v.value("psnr", 0.0);
    }
    html << "<div class=\"view\"><div class=\"pair\">" << ImageTag(render, "render") << ImageTag(stem + "_gt.png", "ground truth");
    if (fs::exists(stem + "_depth.png")) html << ImageTag(stem + "_depth.png", "depth");
    html << "</div>frame " << frame << " · " << psnr << " dB</div>";
  }
  html << "</div>";
  const auto frames = SortedFiles(orbit_dir, ".png");
  if (!frames.empty()) {
    html << "<h2>Orbit</h2><img id=\"orbit\"><script>const frames=[";
    for (const auto& f : frames) {
      if (f.find("_depth") != std::string::npos || f.find("_opacity") != std::string::npos) continue;
      html << "\"data:image/png;base64," << Base64(ReadTextFile(f)) << "\",";
    }
    html << "];let i=0;const img=document.getElementById('orbit');"
         << "setInterval(()=>{img.src=frames[i];i=(i+1)%frames.length;},80);</script>";
  }
  for (const auto& extra : extra_html) html << InlineImages(ReadTextFile(extra), fs::path(extra).parent_path());
  html << "<h2>Configuration</h2><pre>" << config.dump(1) << "</pre></body></html>";
  WriteTextAtomically(out, html.str());
  std::printf("wrote %s\n", out.c_str());
  return 0;
}

}  // namespace nerfedit
